"""Official sheets against witness copies, table by table.

Each table that has an official sheet or a copy gets one status:

* ``match``: every copy gives the official sheet's votes (per candidate, per card where both give cards
  and they were read, null votes where both say);
* ``mismatch``: at least one copy differs from the official sheet (which candidates or cards, by how much);
* ``official-missing``: copies exist but no official sheet was published;
* ``no-copy``: an official sheet with no copy to check it against.

Copies are compared with the official sheet one by one, never averaged: a table where two copies
disagree with each other and one matches the official sheet is still a mismatch, listed with both.
A table with several different official sheets (a conflict in the log) is compared with the newest.
The work is column-wise NumPy: a million tables with two copies each take seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tallyproof.election import Election
from tallyproof.geography import Geography
from tallyproof.sheets.sheet import TallySheet
from tallyproof.tabulate import SheetColumns, choose_copies

__all__ = ["STATUSES", "Discrepancy", "Reconciliation", "reconcile", "sheet_differences"]

STATUSES = ("match", "mismatch", "official-missing", "no-copy")
MATCH, MISMATCH, OFFICIAL_MISSING, NO_COPY = range(4)


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One copy that differs from its table's official sheet."""

    table: str
    copy_id: int
    official_id: int
    source: str
    candidates: tuple[int, ...]
    """Copy minus official, per candidate."""
    null: int | None
    """Copy minus official null votes (``None`` when either does not say)."""
    cards: tuple[int, ...] | None
    """Copy minus official, per card, when both give cards."""

    @property
    def size(self) -> int:
        """Votes that differ: the absolute differences added up over candidates."""
        return sum(abs(d) for d in self.candidates)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    tables: np.ndarray
    """Every table with an official sheet or a copy, sorted."""
    status: np.ndarray
    """Per table, an index into :data:`STATUSES`."""
    copies: np.ndarray
    """Copies per table."""
    discrepancies: tuple[Discrepancy, ...]
    """Every differing copy, worst first (most votes differing, then table id)."""
    official_source: str
    copy_sources: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.status, minlength=len(STATUSES))
        return {name: int(n) for name, n in zip(STATUSES, found, strict=True)}

    def by_unit(self, geography: Geography, level: str) -> dict[str, dict[str, int]]:
        """Statuses summed by the units of ``level`` (keyed by unit key)."""
        units, unit = np.unique(geography.unit_keys(self.tables, level), return_inverse=True)
        grid = np.zeros((units.size, len(STATUSES)), np.int64)
        np.add.at(grid, (unit, self.status), 1)
        return {str(u): dict(zip(STATUSES, map(int, row), strict=True)) for u, row in zip(units, grid, strict=True)}

    def votes_differing(self) -> np.ndarray:
        """Per differing copy, the votes that differ (for a distribution)."""
        return np.asarray([d.size for d in self.discrepancies], dtype=np.int64)


def reconcile(
    cols: SheetColumns, *, official: str = "official", copies: Sequence[str] = ("witness", "observer", "import")
) -> Reconciliation:
    """Compare every copy of ``copies`` with its table's ``official`` sheet (see the module docstring)."""
    chosen, _ = choose_copies(cols, [official])
    copy_rows = np.flatnonzero(np.isin(cols.sources, _like(cols.sources, copies)))
    tables, unit = np.unique(_keys(cols.tables[np.concatenate([chosen, copy_rows])]), return_inverse=True)
    off_at = np.full(tables.size, -1, np.int64)
    off_at[unit[: chosen.size]] = chosen
    where = unit[chosen.size :]
    n_copies = np.bincount(where, minlength=tables.size)
    paired = copy_rows[off_at[where] >= 0]
    against = off_at[where][off_at[where] >= 0]
    diff = cols.candidates[paired] - cols.candidates[against]
    nulls = (cols.null[paired], cols.null[against])
    null_diff = np.where((nulls[0] >= 0) & (nulls[1] >= 0), nulls[0] - nulls[1], 0)
    differs = np.any(diff != 0, axis=1) | (null_diff != 0)
    if cols.cards.shape[1]:  # votes moved between two cards of one candidate are a difference too
        both = cols.has_cards[paired] & cols.has_cards[against]
        differs |= both & np.any(cols.cards[paired] != cols.cards[against], axis=1)
    status = np.where(off_at < 0, OFFICIAL_MISSING, np.where(n_copies == 0, NO_COPY, MATCH))
    status[where[off_at[where] >= 0][differs]] = MISMATCH
    found = _discrepancies(cols, paired[differs], against[differs], diff[differs], null_diff[differs])
    return Reconciliation(tables.astype(str), status, n_copies, found, official, tuple(copies))


def _discrepancies(
    cols: SheetColumns,
    rows: np.ndarray,
    against: np.ndarray,
    diff: np.ndarray,
    null_diff: np.ndarray,
) -> tuple[Discrepancy, ...]:
    if rows.size == 0:
        return ()
    size = np.abs(diff).sum(axis=1)
    order = np.lexsort((cols.tables[rows], -size))
    both_cards = cols.has_cards[rows] & cols.has_cards[against] & (cols.cards.shape[1] > 0)
    sources = _text(cols.sources[rows])
    out = []
    for i in order.tolist():
        r, o = int(rows[i]), int(against[i])
        known = bool(cols.null[r] >= 0 and cols.null[o] >= 0)
        cards = tuple((cols.cards[r] - cols.cards[o]).tolist()) if both_cards[i] else None
        out.append(
            Discrepancy(
                str(cols.tables[r]),
                int(cols.ids[r]),
                int(cols.ids[o]),
                str(sources[i]),
                tuple(diff[i].tolist()),
                int(null_diff[i]) if known else None,
                cards,
            )
        )
    return tuple(out)


def _text(sources: np.ndarray) -> np.ndarray:
    return sources.astype(str) if sources.dtype.kind == "S" else sources


def _like(column: np.ndarray, values: Sequence[str]) -> list[str] | list[bytes]:
    """``values`` in the column's kind of string (``S`` columns hold ASCII bytes)."""
    return [v.encode() for v in values] if column.dtype.kind == "S" else list(values)


def _keys(tables: np.ndarray) -> np.ndarray:
    """Table ids as bytes when they are ASCII (sorting bytes is about twice as fast as sorting str)."""
    try:
        return tables.astype("S") if tables.dtype.kind == "U" else tables
    except UnicodeEncodeError:
        return tables


def sheet_differences(copy: TallySheet, official: TallySheet, election: Election) -> list[tuple[str, int, int]]:
    """Where one copy and one official sheet differ: ``(field, copy, official)`` for each card (when both
    give cards, else each candidate), then null and blank votes where both say. Empty: they match."""
    if copy.cards is not None and official.cards is not None:
        pairs = zip((f"card {c.id} ({c.candidate})" for c in election.cards), copy.cards, official.cards, strict=True)
    else:
        pairs = zip((c.name for c in election.candidates), copy.candidates, official.candidates, strict=True)
    out = [(name, a, b) for name, a, b in pairs if a != b]
    for name in ("null", "blank"):
        a, b = getattr(copy, name), getattr(official, name)
        if a is not None and b is not None and a != b:
            out.append((f"{name} votes", a, b))
    return out
