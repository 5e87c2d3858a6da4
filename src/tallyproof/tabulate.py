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
    candidates: np.ndarray
    cards: np.ndarray
    has_cards: np.ndarray
    null: np.ndarray
    """-1 where the copy does not say (likewise ``blank`` and ``registered``)."""
    blank: np.ndarray
    registered: np.ndarray

    def take(self, index: np.ndarray) -> SheetColumns:
        return SheetColumns(*(getattr(self, f)[index] for f in self.__slots__))  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Registry:
    """All tables of the election with their registered voters (-1 where unknown)."""

    tables: np.ndarray
    registered: np.ndarray

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
            "cards": {c.id: v for c, v in zip(e.cards, u.cards, strict=True)},
        }


def choose_copies(cols: SheetColumns, preference: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Index of the counted copy of each table, and whether that table has conflicting copies.

    Sources not in ``preference`` are ignored. Within the best source, the newest copy
    (highest id) is counted; the table is a conflict if another copy of that source
    gives different candidate or null votes.
    """
    rank = np.full(len(cols.ids), len(preference), dtype=np.int64)
    for i, source in enumerate(preference):
        rank[cols.sources == source] = i
    keep = np.flatnonzero(rank < len(preference))
    order = keep[np.lexsort((-cols.ids[keep], rank[keep], cols.tables[keep]))]
    if order.size == 0:
        return order, np.zeros(0, dtype=bool)
    tables, ranks = cols.tables[order], rank[order]
    starts = np.flatnonzero(np.r_[True, tables[1:] != tables[:-1]])
    group = np.cumsum(np.r_[True, tables[1:] != tables[:-1]]) - 1
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
) -> Tabulation:
    """Totals and coverage for every unit at ``level`` (see the module docstring)."""
    geo = election.geography
    geo.check_level(level)
    names = names if names is not None else geo.names
    chosen, conflict = choose_copies(cols, preference)
    counted = cols.take(chosen)
    keep_c, keep_r = _filter(election, counted.tables, where, names), _filter(election, registry.tables, where, names)
    if where and not keep_c.any() and not keep_r.any():
        raise UnknownError(f"no table matches {' and '.join(f'{lv}={v}' for lv, v in where)}", where="--where")
    counted, conflict = counted.take(np.flatnonzero(keep_c)), conflict[keep_c]
    reg = Registry(registry.tables[keep_r], registry.registered[keep_r])
    known = registry.tables.size > 0
    per_table_reg = _registered_of(counted, reg)
    columns = _Columns(
        counted,
        conflict,
        per_table_reg,
        np.isin(counted.tables, reg.tables) if known else np.ones(len(counted.tables), bool),
    )
    keys_c, keys_r = geo.unit_keys(counted.tables.tolist(), level), geo.unit_keys(reg.tables.tolist(), level)
    all_keys, inverse = np.unique(np.concatenate([keys_c, keys_r]), return_inverse=True)
    inv_c, inv_r = inverse[: keys_c.size], inverse[keys_c.size :]
    units = _units(all_keys, names.get(level, {}), columns, inv_c, reg, inv_r, known)
    zeros_c, zeros_r = np.zeros(inv_c.size, np.int64), np.zeros(inv_r.size, np.int64)
    total = _units(np.asarray(["total"]), {"total": election.name}, columns, zeros_c, reg, zeros_r, known)[0]
    return Tabulation(
        election,
        level,
        tuple(preference),
        tuple(where),
        tuple(units),
        total,
        int(registry.tables.size),
        election.declared,
    )


def _filter(
    election: Election, tables: np.ndarray, where: Sequence[tuple[str, str]], names: Mapping[str, Mapping[str, str]]
) -> np.ndarray:
    keep = np.ones(tables.size, dtype=bool)
    for level, value in where:
        geo = election.geography
        if level not in geo.levels:
            raise InputError(f"unknown level {level!r}; levels are {', '.join(geo.levels)}", where="--where")
        keys = geo.unit_keys(tables.tolist(), level)
        wanted = {value} | {k for k, n in names.get(level, {}).items() if n.casefold() == value.casefold()}
        keep &= np.isin(keys, list(wanted))
    return keep


def _registered_of(counted: SheetColumns, reg: Registry) -> np.ndarray:
    """Registered voters of each counted table: the registry's figure, else the copy's, else -1."""
    out = counted.registered.copy()
    if reg.tables.size:
        order = np.argsort(reg.tables)
        pos = np.searchsorted(reg.tables, counted.tables, sorter=order)
        pos = np.minimum(pos, reg.tables.size - 1)
        hit = reg.tables[order[pos]] == counted.tables
        from_reg = reg.registered[order[pos]]
        use = hit & (from_reg >= 0)
        out[use] = from_reg[use]
    return out


@dataclass(frozen=True, slots=True)
class _Columns:
    c: SheetColumns
    conflict: np.ndarray
    registered: np.ndarray
    in_registry: np.ndarray


def _units(
    keys: np.ndarray,
    names: Mapping[str, str],
    cols: _Columns,
    inv_c: np.ndarray,
    reg: Registry,
    inv_r: np.ndarray,
    known: bool,
) -> list[UnitTotals]:
    """Totals of every unit at once: one ``bincount`` per column over the unit index of each row."""
    n, c = keys.size, cols.c

    def total(values: np.ndarray, inv: np.ndarray, weights_mask: np.ndarray | None = None) -> np.ndarray:
        w = values if weights_mask is None else np.where(weights_mask, values, 0)
        return np.bincount(inv, weights=w, minlength=n).round().astype(np.int64)

    null, blank = np.clip(c.null, 0, None), np.clip(c.blank, 0, None)
    cast_each = c.candidates.sum(axis=1) + null + blank
    has_reg = cols.registered >= 0
    cand = np.stack([total(c.candidates[:, j], inv_c) for j in range(c.candidates.shape[1])], axis=1)
    cards = np.stack([total(c.cards[:, j], inv_c, c.has_cards) for j in range(c.cards.shape[1])], axis=1)
    ones_c, ones_r = np.ones(inv_c.size, np.int64), np.ones(inv_r.size, np.int64)
    counted, card_tables = total(ones_c, inv_c), total(ones_c, inv_c, c.has_cards)
    outside = total(ones_c, inv_c, ~cols.in_registry)
    known_t, known_reg = total(ones_r, inv_r), total(reg.registered, inv_r, reg.registered >= 0)
    reg_counted, cast_reg = total(cols.registered, inv_c, has_reg), total(cast_each, inv_c, has_reg)
    nulls, blanks, confl = total(null, inv_c), total(blank, inv_c), total(cols.conflict.astype(np.int64), inv_c)
    return [
        UnitTotals(
            key=str(k),
            name=names.get(str(k)),
            tables_counted=int(counted[i]),
            tables_known=int(known_t[i]) if known else None,
            tables_outside_registry=int(outside[i]) if known else 0,
            registered_known=int(known_reg[i]) if known else None,
            registered_counted=int(reg_counted[i]),
            cast_with_registered=int(cast_reg[i]),
            candidates=tuple(cand[i].tolist()),
            cards=tuple(cards[i].tolist()),
            card_tables=int(card_tables[i]),
            null=int(nulls[i]),
            blank=int(blanks[i]),
            conflicts=int(confl[i]),
        )
        for i, k in enumerate(keys.tolist())
    ]
