"""Several copies of one table: which tables have them, and which disagree."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tallyproof.tabulate import SheetColumns

__all__ = ["CopyComparison", "compare_copies"]


@dataclass(frozen=True, slots=True)
class CopyComparison:
    tables_with_copies: int
    tables_with_several: int
    identical: int
    differing: tuple[tuple[str, int, int], ...]
    """(table, number of copies, candidate votes between the lowest and highest copy, summed over candidates)."""


def compare_copies(cols: SheetColumns) -> CopyComparison:
    """Group copies by table; a table *differs* when two copies give different candidate or null votes.

    Fields a copy lacks (null votes in a file that has none) are not compared.
    Differing tables are ordered worst first, by the spread of their candidate votes.
    """
    if cols.ids.size == 0:
        return CopyComparison(0, 0, 0, ())
    order = np.argsort(cols.tables, kind="stable")
    tables = cols.tables[order]
    new = np.r_[True, tables[1:] != tables[:-1]]
    group = np.cumsum(new) - 1
    sizes = np.bincount(group)
    cand = cols.candidates[order]
    spread = np.zeros((sizes.size, cand.shape[1]), dtype=np.int64)
    low = np.full_like(spread, np.iinfo(np.int64).max)
    np.maximum.at(spread, group, cand)
    np.minimum.at(low, group, cand)
    spread = (spread - low).sum(axis=1)
    nulls = cols.null[order]
    known = nulls >= 0
    hi, lo = np.full(sizes.size, -1), np.full(sizes.size, np.iinfo(np.int64).max)
    np.maximum.at(hi, group[known], nulls[known])
    np.minimum.at(lo, group[known], nulls[known])
    null_differs = (hi >= 0) & (hi != lo)
    several = sizes > 1
    differs = several & ((spread > 0) | null_differs)
    heads = tables[new]
    worst = np.flatnonzero(differs)[np.argsort(-spread[differs], kind="stable")]
    rows = tuple((str(heads[i]), int(sizes[i]), int(spread[i])) for i in worst)
    return CopyComparison(int(sizes.size), int(several.sum()), int((several & ~differs).sum()), rows)
