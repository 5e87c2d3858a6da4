"""Strict reading of TOML tables: every key known, every value of the expected type.

A misspelt key in an election definition or an announcement must not be silently ignored, and a
wrong type must be named with its key. The error class is the caller's (an election definition
raises :class:`~tallyproof.errors.ElectionDefinitionError`, an announcement :class:`InputError`).
"""

from __future__ import annotations

from typing import Any

from tallyproof.errors import InputError

__all__ = ["get", "only"]


def get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, *, error: type[InputError]) -> Any:
    """``table[key]``, which must exist and be of ``kind`` (a bool is never a number); ``where`` prefixes the key."""
    if key not in table:
        raise error("missing key", where=f"{where}{key}")
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise error(f"expected {expected}, got {type(value).__name__} {value!r}", where=f"{where}{key}")
    return value


def only(table: dict[str, Any], allowed: set[str], where: str, *, error: type[InputError]) -> None:
    """Refuse keys the format does not have."""
    strange = sorted(set(table) - allowed)
    if strange:
        raise error(f"unknown key {strange[0]!r}; allowed: {', '.join(sorted(allowed))}", where=f"{where}{strange[0]}")
