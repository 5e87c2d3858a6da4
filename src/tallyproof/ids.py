"""Identifier types. Distinct ``NewType``s so that mypy keeps them apart."""

from __future__ import annotations

from typing import NewType

__all__ = ["CandidateId", "CardId", "Digest", "ElectionId", "TableId", "UnitKey"]

ElectionId = NewType("ElectionId", str)
CandidateId = NewType("CandidateId", str)
CardId = NewType("CardId", str)
TableId = NewType("TableId", str)
"""A voting table (mesa), e.g. ``010111043.01`` in Venezuela: centre code + table number."""
UnitKey = NewType("UnitKey", str)
"""A geography unit at some level: the prefix of a table id (``01`` state, ``0101`` municipality…)."""
Digest = NewType("Digest", str)
"""A lowercase hex SHA-256."""
