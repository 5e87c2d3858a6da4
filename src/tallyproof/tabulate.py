"""Tabulation: totals per candidate and per card at any geography level, with coverage.

Pure NumPy over columns of copies (:class:`SheetColumns`); the store only supplies
the columns. One copy per table is counted: the copy from the most preferred
source (``preference``, e.g. official before witness); among several copies of
that source the most recent is counted, and the table is reported as a
*conflict* if they give different votes — copies are never averaged.

Coverage at every unit: tables with a counted copy / tables in the registry,
registered voters of counted tables, and turnout = votes cast / registered voters
over the counted tables whose registered voters are known. Where the unit has no
registry, the denominators are reported as unknown, never guessed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tallyproof.election import DeclaredTotals, Election
from tallyproof.errors import InputError, UnknownError

__all__ = ["Registry", "SheetColumns", "Tabulation", "UnitTotals", "choose_copies", "tabulate"]


@dataclass(frozen=True, slots=True)
class SheetColumns:
    """Accepted copies as columns, one row per copy."""

    ids: np.ndarray
    tables: np.ndarray
    sources: np.ndarray
    """Source of each copy, as str or ASCII bytes."""
    candidates: np.ndarray
    cards: np.ndarray
    """Per-card counts (zeros where a copy has none); zero columns when not loaded."""
    has_cards: np.ndarray
    null: np.ndarray
    """-1 where the copy does not say (likewise ``blank`` and ``registered``)."""
    blank: np.ndarray
    registered: np.ndarray

    def take(self, index: np.ndarray) -> SheetColumns:
        return SheetColumns(*(getattr(self, f)[index] for f in self.__slots__))


@dataclass(frozen=True, slots=True)
class Registry:
    """All tables of the election with their registered voters (-1 where unknown)."""

    tables: np.ndarray
    registered: np.ndarray

    def sorted(self) -> Registry:
        """The same registry, ordered by table id (a no-op when it already is)."""
        if self.tables.size < 2 or bool(np.all(self.tables[1:] >= self.tables[:-1])):
            return self
        order = np.argsort(self.tables, kind="stable")
        return Registry(self.tables[order], self.registered[order])

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, int | None]) -> Registry:
        tables = np.asarray(list(mapping), dtype=str)
        regs = np.fromiter((-1 if v is None else v for v in mapping.values()), dtype=np.int64, count=len(mapping))
        return cls(tables, regs)


@dataclass(frozen=True, slots=True)
class UnitTotals:
    key: str
    name: str | None
    tables_counted: int
    tables_known: int | None
    """Tables of the unit in the registry; None when the registry is unknown."""
    tables_outside_registry: int
    registered_known: int | None
    registered_counted: int
    """Registered voters of the counted tables whose figure is known (registry, else the copy)."""
    cast_with_registered: int
    """Votes cast at those same tables (the numerator of turnout)."""
    candidates: tuple[int, ...]
    cards: tuple[int, ...]
    """Empty when the tabulation was made without per-card counts."""
    card_tables: int
    """Counted tables whose copy has per-card counts (``cards`` sums only those)."""
    null: int
    blank: int
    conflicts: int

    @property
    def valid(self) -> int:
        return sum(self.candidates)

    @property
    def cast(self) -> int:
        return self.valid + self.null + self.blank

    @property
    def coverage(self) -> float | None:
        """Share of the registry's tables that have a counted copy."""
        if not self.tables_known:
            return None
        return (self.tables_counted - self.tables_outside_registry) / self.tables_known

    @property
    def turnout(self) -> float | None:
        return self.cast_with_registered / self.registered_counted if self.registered_counted else None

    def shares(self) -> tuple[float, ...]:
        valid = self.valid
        return tuple(v / valid if valid else 0.0 for v in self.candidates)


@dataclass(frozen=True, slots=True)
class Tabulation:
    election: Election
    level: str
    sources: tuple[str, ...]
    where: tuple[tuple[str, str], ...]
    units: tuple[UnitTotals, ...]
    total: UnitTotals
    registry_size: int
    declared: DeclaredTotals | None

    def to_json(self) -> dict[str, Any]:
        return {
            "election": self.election.id,
            "level": self.level,
            "sources": list(self.sources),
            "where": dict(self.where),
            "registry_tables": self.registry_size,
            "declared": None
            if self.declared is None
            else {
                "tables": self.declared.tables,
                "registered": self.declared.registered,
                "source": self.declared.source,
            },
            "total": self.unit_json(self.total),
            "units": [self.unit_json(u) for u in self.units],
        }

    def unit_json(self, u: UnitTotals) -> dict[str, Any]:
        e = self.election
        return {
            "key": u.key,
            "name": u.name,
            "tables_counted": u.tables_counted,
            "tables_known": u.tables_known,
            "tables_outside_registry": u.tables_outside_registry,
            "coverage": u.coverage,
            "registered_known": u.registered_known,
            "registered_counted": u.registered_counted,
            "turnout": u.turnout,
            "valid": u.valid,
            "null": u.null,
            "blank": u.blank,
            "conflicts": u.conflicts,
            "candidates": {c.id: v for c, v in zip(e.candidates, u.candidates, strict=True)},
            "card_tables": u.card_tables,
            "cards": {c.id: v for c, v in zip(e.cards, u.cards, strict=True)} if u.cards else None,
        }


def _table_groups(tables: np.ndarray) -> np.ndarray:
    """An integer per table id that sorts like the ids (cheap when they already come sorted)."""
    if tables.size < 2 or bool(np.all(tables[1:] >= tables[:-1])):
        return np.cumsum(np.r_[True, tables[1:] != tables[:-1]])
    return np.unique(tables, return_inverse=True)[1]


def choose_copies(cols: SheetColumns, preference: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Index of the counted copy of each table, and whether that table has conflicting copies.

    Sources not in ``preference`` are ignored. Within the best source, the newest copy
    (highest id) is counted; the table is a conflict if another copy of that source
    gives different candidate or null votes.
    """
    rank = np.full(len(cols.ids), len(preference), dtype=np.int64)
    as_bytes = cols.sources.dtype.kind == "S"
    for i, source in enumerate(preference):
        rank[cols.sources == (source.encode() if as_bytes else source)] = i
    keep = np.flatnonzero(rank < len(preference))
    if keep.size == 0:
        return keep, np.zeros(0, dtype=bool)
    order = keep[np.lexsort((-cols.ids[keep], rank[keep], _table_groups(cols.tables[keep])))]
    tables, ranks = cols.tables[order], rank[order]
    new = np.r_[True, tables[1:] != tables[:-1]]
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    head = order[starts][group]
    same_rank = ranks == rank[head]
    differs = np.any(cols.candidates[order] != cols.candidates[head], axis=1)
    nulls = cols.null[order], cols.null[head]
    differs |= (nulls[0] >= 0) & (nulls[1] >= 0) & (nulls[0] != nulls[1])
    conflict = np.zeros(starts.size, dtype=bool)
    np.logical_or.at(conflict, group, same_rank & differs)
    return order[starts], conflict


def tabulate(
    election: Election,
    cols: SheetColumns,
    registry: Registry,
    *,
    level: str,
    preference: Sequence[str],
    where: Sequence[tuple[str, str]] = (),
    names: Mapping[str, Mapping[str, str]] | None = None,
    aliases: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> Tabulation:
    """Totals and coverage for every unit at ``level`` (see the module docstring)."""
    geo = election.geography
    geo.check_level(level)
    names = names if names is not None else geo.names
    chosen, conflict = choose_copies(cols, preference)
    counted = cols if np.array_equal(chosen, np.arange(len(cols.ids))) else cols.take(chosen)
    reg = registry.sorted()
    if where:
        known_names: Mapping[str, Mapping[str, str | Sequence[str]]] = aliases if aliases is not None else names
        keep_c = _filter(election, counted.tables, where, known_names)
        keep_r = _filter(election, reg.tables, where, known_names)
        if not keep_c.any() and not keep_r.any():
            raise UnknownError(f"no table matches {' and '.join(f'{lv}={v}' for lv, v in where)}", where="--where")
        counted, conflict = counted.take(np.flatnonzero(keep_c)), conflict[keep_c]
        reg = Registry(reg.tables[keep_r], reg.registered[keep_r])
    known = registry.tables.size > 0
    rows = _row_measures(counted, conflict, reg, known)
    keys_c = geo.unit_keys(counted.tables, level)
    keys_r = geo.unit_keys(reg.tables, level)
    units = _units(keys_c, keys_r, names.get(level, {}), counted, rows, reg, known)
    total = _units(
        np.full(keys_c.size, "total"),
        np.full(keys_r.size, "total"),
        {"total": election.name},
        counted,
        rows,
        reg,
        known,
    )
    return Tabulation(
        election,
        level,
        tuple(preference),
        tuple(where),
        tuple(units),
        total[0] if total else _nothing(election, known),
        int(registry.tables.size),
        election.declared,
    )


def _filter(
    election: Election,
    tables: np.ndarray,
    where: Sequence[tuple[str, str]],
    names: Mapping[str, Mapping[str, str | Sequence[str]]],
) -> np.ndarray:
    """Which of ``tables`` lie in every unit of ``where`` (each given by key or by name)."""
    keep = np.ones(tables.size, dtype=bool)
    for level, value in where:
        geo = election.geography
        if level not in geo.levels:
            raise InputError(f"unknown level {level!r}; levels are {', '.join(geo.levels)}", where="--where")
        keys = geo.unit_keys(tables, level)
        keep &= keys == _unit_named(level, value, names, keys)
    return keep


def _plain(name: str) -> str:
    """A name for matching: case, accents and repeated spaces do not count (``Táchira`` = ``TACHIRA``)."""
    letters = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(ch for ch in letters if not unicodedata.combining(ch)).split())


def _unit_named(
    level: str, value: str, names: Mapping[str, Mapping[str, str | Sequence[str]]], keys: np.ndarray
) -> str:
    """The key of the unit ``value`` names: a key itself, or a name that belongs to exactly one unit."""
    if value in set(np.unique(keys).tolist()) or value in names.get(level, {}):
        return value
    wanted = _plain(value)
    hits = sorted(
        key
        for key, known in names.get(level, {}).items()
        if wanted in {_plain(n) for n in ([known] if isinstance(known, str) else known)}
    )
    if len(hits) > 1:
        raise InputError(
            f"{level} {value!r} names {len(hits)} units ({', '.join(hits[:10])}); give its key", where="--where"
        )
    return hits[0] if hits else value


def _in_registry(counted: SheetColumns, reg: Registry) -> tuple[np.ndarray, np.ndarray]:
    """For each counted table: is it in the registry, and its registered voters there (-1 if unknown)."""
    n = len(counted.tables)
    if reg.tables.size == 0:
        return np.zeros(n, bool), np.full(n, -1, np.int64)
    if np.array_equal(counted.tables, reg.tables):  # the usual case: a copy of every table
        return np.ones(n, bool), reg.registered
    pos = np.minimum(np.searchsorted(reg.tables, counted.tables), reg.tables.size - 1)
    hit = reg.tables[pos] == counted.tables
    return hit, np.where(hit, reg.registered[pos], -1)


# Columns of the per-row measures summed for every unit.
_COUNTED, _CARD_TABLES, _OUTSIDE, _REG_COUNTED, _CAST_REG, _NULL, _BLANK, _CONFLICT = range(8)


def _row_measures(c: SheetColumns, conflict: np.ndarray, reg: Registry, known: bool) -> np.ndarray:
    """An (n, 8) int64 matrix of what each counted table adds to its unit's totals."""
    n = len(c.tables)
    in_registry, listed = _in_registry(c, reg)
    registered = np.where(listed >= 0, listed, c.registered)  # the registry's figure, else the copy's
    has_reg = registered >= 0
    null, blank = np.clip(c.null, 0, None), np.clip(c.blank, 0, None)
    cast = c.candidates.sum(axis=1) + null + blank
    out = np.zeros((n, 8), dtype=np.int64)
    out[:, _COUNTED] = 1
    out[:, _CARD_TABLES] = c.has_cards
    out[:, _OUTSIDE] = ~in_registry if known else 0
    out[:, _REG_COUNTED] = np.where(has_reg, registered, 0)
    out[:, _CAST_REG] = np.where(has_reg, cast, 0)
    out[:, _NULL], out[:, _BLANK], out[:, _CONFLICT] = null, blank, conflict
    return out


def _nothing(election: Election, known: bool) -> UnitTotals:
    """The total of a tabulation with no table at all."""
    k = len(election.candidates)
    return UnitTotals(
        "total", election.name, 0, 0 if known else None, 0, 0 if known else None, 0, 0, (0,) * k, (), 0, 0, 0, 0
    )


def _group(keys: np.ndarray, *matrices: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sum the rows of each matrix over runs of equal, sorted keys."""
    if keys.size == 0:
        return keys, [np.zeros((0, *m.shape[1:]), np.int64) for m in matrices]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], [np.add.reduceat(m, starts, axis=0, dtype=np.int64) for m in matrices]


def _units(
    keys_c: np.ndarray,
    keys_r: np.ndarray,
    names: Mapping[str, str],
    c: SheetColumns,
    rows: np.ndarray,
    reg: Registry,
    known: bool,
) -> list[UnitTotals]:
    """Totals of every unit. Rows come sorted by table id, and a unit's key is a prefix of
    its tables' ids, so each unit's rows are one contiguous run: one ``reduceat`` per matrix."""
    uc, (measures, cand, cards) = _group(keys_c, rows, c.candidates, c.cards)
    ur, (listed,) = _group(
        keys_r, np.stack([np.ones(keys_r.size, np.int64), np.where(reg.registered >= 0, reg.registered, 0)], axis=1)
    )
    keys = np.union1d(uc, ur)
    ic, ir = np.searchsorted(uc, keys), np.searchsorted(ur, keys)
    has_c = (ic < uc.size) & (uc[np.minimum(ic, max(uc.size - 1, 0))] == keys) if uc.size else np.zeros(keys.size, bool)
    has_r = (ir < ur.size) & (ur[np.minimum(ir, max(ur.size - 1, 0))] == keys) if ur.size else np.zeros(keys.size, bool)
    zero_m, zero_c, zero_k = (
        np.zeros(8, np.int64),
        np.zeros(c.candidates.shape[1], np.int64),
        np.zeros(c.cards.shape[1], np.int64),
    )
    out = []
    for i, key in enumerate(keys.tolist()):
        m = measures[ic[i]] if has_c[i] else zero_m
        lr = listed[ir[i]] if has_r[i] else (0, 0)
        out.append(
            UnitTotals(
                key=str(key),
                name=names.get(str(key)),
                tables_counted=int(m[_COUNTED]),
                tables_known=int(lr[0]) if known else None,
                tables_outside_registry=int(m[_OUTSIDE]),
                registered_known=int(lr[1]) if known else None,
                registered_counted=int(m[_REG_COUNTED]),
                cast_with_registered=int(m[_CAST_REG]),
                candidates=tuple((cand[ic[i]] if has_c[i] else zero_c).tolist()),
                cards=tuple((cards[ic[i]] if has_c[i] else zero_k).tolist()),
                card_tables=int(m[_CARD_TABLES]),
                null=int(m[_NULL]),
                blank=int(m[_BLANK]),
                conflicts=int(m[_CONFLICT]),
            )
        )
    return out
