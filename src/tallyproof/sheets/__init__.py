"""Tally sheets (actas) and the codecs that read and write them."""
