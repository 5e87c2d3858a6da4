"""Building blocks of the offline verification report: SVG charts and the map of Venezuela's states.

Pure functions from numbers to SVG text (:mod:`tallyproof.report.charts`); nothing here reads the store.
"""
