"""Where tables sit: a chain of levels (state › municipality › parish › centre › table).

A definition gives the levels, outermost first, and one regular expression with a
named group per level that every table id must match. The key of the unit that
holds a table at some level is the prefix of the table id up to the end of that
level's group: for ``010111043.01`` the state is ``01``, the municipality
``0101``, the parish ``010111``, the centre ``010111043`` and the table the whole id.
Keys are therefore unique nationwide without any lookup table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tallyproof.errors import CodecError, ElectionDefinitionError, UnknownError
from tallyproof.ids import TableId, UnitKey

__all__ = ["Geography"]


@dataclass(frozen=True, slots=True)
class Geography:
    levels: tuple[str, ...]
    pattern: re.Pattern[str]
    names: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)
    """Known unit names per level (``names["state"]["01"] == "Distrito Capital"``)."""
    prefix_lengths: dict[str, int] | None = field(default=None, compare=False)
    example: str | None = field(default=None, compare=False)
    """A valid table id, shown in error messages (``geography.example`` in the TOML)."""
    """Length of each level's key when every part of the id before it has a fixed width, else None."""

    @classmethod
    def from_table(cls, table: dict[str, Any], *, where: str) -> Geography:
        levels = table.get("levels")
        if not isinstance(levels, list) or not levels or not all(isinstance(x, str) for x in levels):
            raise ElectionDefinitionError("expected a non-empty list of level names", where=f"{where}.levels")
        source = table.get("table_id")
        if not isinstance(source, str):
            raise ElectionDefinitionError("expected a regular expression", where=f"{where}.table_id")
        try:
            pattern = re.compile(source, re.ASCII)
        except re.error as exc:
            raise ElectionDefinitionError(f"not a valid regular expression: {exc}", where=f"{where}.table_id") from exc
        strange = sorted(set(table) - {"levels", "table_id", "names", "example"})
        if strange:
            raise ElectionDefinitionError(
                f"unknown key {strange[0]!r}; allowed: example, levels, names, table_id", where=f"{where}.{strange[0]}"
            )
        if len(set(levels)) != len(levels):
            raise ElectionDefinitionError("a level is listed twice", where=f"{where}.levels")
        missing = [lv for lv in levels if lv not in pattern.groupindex]
        if missing:
            raise ElectionDefinitionError(
                f"no named group for level(s) {', '.join(missing)}", where=f"{where}.table_id"
            )
        if [pattern.groupindex[lv] for lv in levels] != sorted(pattern.groupindex[lv] for lv in levels):
            raise ElectionDefinitionError(
                "the named groups must come in the order of the levels, outermost first", where=f"{where}.table_id"
            )
        names = _names(table.get("names", {}), levels, where)
        example = table.get("example")
        if example is not None and (not isinstance(example, str) or not pattern.fullmatch(example)):
            raise ElectionDefinitionError(f"{example!r} does not match table_id", where=f"{where}.example")
        return cls(tuple(levels), pattern, names, _fixed_prefixes(pattern, levels), example)

    @property
    def table_level(self) -> str:
        return self.levels[-1]

    def check_level(self, level: str) -> str:
        if level not in self.levels:
            raise UnknownError(f"unknown level {level!r}; levels are {', '.join(self.levels)}", where="--by")
        return level

    def table_id(self, text: str, *, where: str = "table id") -> TableId:
        """Validate a table id against the definition."""
        if not self.pattern.fullmatch(text):
            raise CodecError(self.mismatch(text), where=where)
        return TableId(text)

    def mismatch(self, text: str) -> str:
        """Why ``text`` is not a table id, with an example of one when the definition gives it."""
        if self.example:
            return f"{text!r} does not match the table ids of this election (such as {self.example})"
        return f"{text!r} does not match {self.pattern.pattern}"

    def unit_key(self, table: str, level: str) -> UnitKey:
        m = self.pattern.fullmatch(table)
        if m is None:
            raise CodecError(self.mismatch(table), where="table id")
        end = m.end(self.check_level(level))
        if end < 0:
            raise CodecError(f"{table!r} has no {level} part", where="table id")
        return UnitKey(table[:end])

    def unit_keys(self, tables: Sequence[str] | np.ndarray, level: str) -> np.ndarray:
        """The unit key of every table at ``level``, as a NumPy string array.

        Fast path: when every part of the id up to this level has a fixed width
        (as in Venezuela's codes), each key is a prefix of known length, which
        NumPy cuts off all at once.
        """
        self.check_level(level)
        arr = tables if isinstance(tables, np.ndarray) else np.asarray(tables, dtype=str)
        if arr.size == 0:
            return arr
        if self.prefix_lengths is not None and level in self.prefix_lengths:
            return arr.astype(f"<U{max(self.prefix_lengths[level], 1)}")
        return np.asarray([self.unit_key(str(t), level) for t in arr.tolist()], dtype=str)

    def name(self, level: str, key: str) -> str | None:
        return self.names.get(level, {}).get(key)


def _fixed_prefixes(pattern: re.Pattern[str], levels: list[str]) -> dict[str, int] | None:
    """The fixed length of each level's key, from the parsed pattern; None if any part varies in width."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # pragma: no cover - a private module: fall back to matching each id
        return None
    out: dict[str, int] = {}
    offset = 0
    for op, arg in parsed:
        low, high = _parser.SubPattern(parsed.state, [(op, arg)]).getwidth()
        if low != high:
            return out or None
        offset += low
        if op is _parser.SUBPATTERN and arg[0] is not None:
            name = next((n for n, g in pattern.groupindex.items() if g == arg[0]), None)
            if name in levels:
                out[name] = offset
    return out


def _names(names: Any, levels: list[str], where: str) -> dict[str, dict[str, str]]:
    """``[geography.names.<level>]`` tables: unit key → name, for known levels only."""
    if not isinstance(names, dict):
        raise ElectionDefinitionError("expected a table of level names", where=f"{where}.names")
    for level, table in names.items():
        if level not in levels:
            raise ElectionDefinitionError(f"unknown level {level!r}", where=f"{where}.names.{level}")
        if not isinstance(table, dict):
            raise ElectionDefinitionError("expected a table of unit names", where=f"{where}.names.{level}")
        for key, name in table.items():
            if not isinstance(name, str):
                raise ElectionDefinitionError(f"expected a name, got {name!r}", where=f"{where}.names.{level}.{key}")
    return {k: dict(v) for k, v in names.items()}
