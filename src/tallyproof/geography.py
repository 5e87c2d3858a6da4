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

    @classmethod
    def from_table(cls, table: dict[str, Any], *, where: str) -> Geography:
        levels = table.get("levels")
        if not isinstance(levels, list) or not levels or not all(isinstance(x, str) for x in levels):
            raise ElectionDefinitionError("expected a non-empty list of level names", where=f"{where}.levels")
        source = table.get("table_id")
        if not isinstance(source, str):
            raise ElectionDefinitionError("expected a regular expression", where=f"{where}.table_id")
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise ElectionDefinitionError(f"not a valid regular expression: {exc}", where=f"{where}.table_id") from exc
        missing = [lv for lv in levels if lv not in pattern.groupindex]
        if missing:
            raise ElectionDefinitionError(
                f"no named group for level(s) {', '.join(missing)}", where=f"{where}.table_id"
            )
        names = table.get("names", {})
        if not isinstance(names, dict):
            raise ElectionDefinitionError("expected a table of level names", where=f"{where}.names")
        for level in names:
            if level not in levels:
                raise ElectionDefinitionError(f"unknown level {level!r}", where=f"{where}.names.{level}")
            if not isinstance(names[level], dict):
                raise ElectionDefinitionError("expected a table of unit names", where=f"{where}.names.{level}")
        return cls(tuple(levels), pattern, {k: dict(v) for k, v in names.items()})

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
            raise CodecError(f"{text!r} does not match {self.pattern.pattern}", where=where)
        return TableId(text)

    def unit_key(self, table: str, level: str) -> UnitKey:
        m = self.pattern.fullmatch(table)
        if m is None:
            raise CodecError(f"{table!r} does not match {self.pattern.pattern}", where="table id")
        return UnitKey(table[: m.end(self.check_level(level))])

    def unit_keys(self, tables: Sequence[str], level: str) -> np.ndarray:
        """The unit key of every table at ``level``, as a NumPy string array.

        Fast path: when all ids have the same length (fixed-width codes, as in
        Venezuela) the prefix length is the same for all and NumPy truncates them.
        """
        self.check_level(level)
        arr = np.asarray(tables, dtype=str)
        if arr.size == 0:
            return arr
        lengths = np.char.str_len(arr)
        if int(lengths.min()) == int(lengths.max()):
            end = len(self.unit_key(str(arr[0]), level))
            return arr.astype(f"<U{max(end, 1)}")
        return np.asarray([self.unit_key(t, level) for t in arr.tolist()], dtype=str)

    def name(self, level: str, key: str) -> str | None:
        return self.names.get(level, {}).get(key)
