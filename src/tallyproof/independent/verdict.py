"""An announcement checked against the copies in hand: derived from the sheets? achievable at all?

:func:`assess` answers the three questions of an observer mission, each with the numbers behind it:

(a) **Derived?** Does the announcement equal the sum of the published official sheets?
(b) **Feasible?** Given the copies and the registry, could the announced counts (with the share of
    tables the announcement says were counted) and the announced winner (once every table is
    counted) be true, whatever the tables without a copy contain? (:mod:`tallyproof.independent.feasibility`.)
(c) **On what does it rest?** The registry's source, whether the copies are authenticated, and what the
    verdict would be if those assumptions were relaxed: how many copies would have to be false, how
    many more voters the missing tables would need, and the shortfall at the turnout the copies show.

Tables whose copies conflict are treated as tables without a copy: neither copy is believed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.independent.announcement import OTHERS, Announcement
from tallyproof.independent.feasibility import Evidence, Outcome, Range, outcome, vote_ranges
from tallyproof.tabulate import Registry, SheetColumns, choose_copies

__all__ = ["Assessment", "assess", "findings"]


@dataclass(frozen=True, slots=True)
class Assessment:
    announcement: Announcement
    groups: tuple[str, ...]
    """Candidate ids as the announcement groups them (:data:`~tallyproof.independent.announcement.OTHERS` last)."""
    names: tuple[str, ...]
    sources: tuple[str, ...]
    """Sources of the copies used, in order of preference."""
    copies_total: tuple[int, ...]
    """Votes per group in the copies."""
    tables: int
    tables_counted: int
    """Tables the announcement covers."""
    registered: int
    registry_basis: str
    """Where the missing tables' voters come from (the registry, or a declared total minus the copies)."""
    conflicts: int
    evidence: Evidence
    ranges: tuple[Range, ...]
    """Per group, the votes any ``tables_counted`` tables could give (b)."""
    final: Outcome
    """Whether the announced winner can finish first (b)."""
    official: tuple[int, ...] | None
    """Per group, the sum of the published official sheets, if any were published (a)."""
    official_tables: int
    official_ranges: tuple[Range, ...] | None
    """Per group, the votes any ``tables_counted`` of the published official sheets could give (when the
    announcement counts fewer tables than were published, it does not say which)."""
    authenticated: int
    """Copies used that are official sheets (source ``official``)."""

    @property
    def impossible(self) -> list[int]:
        """Groups whose announced count no set of ``tables_counted`` tables can give."""
        announced = list(self.announcement.candidates.values())
        return [i for i, (a, r) in enumerate(zip(announced, self.ranges, strict=True)) if a not in r]

    @property
    def derived(self) -> str:
        """(a): ``none-published``; ``equal`` (to the sum of every published sheet); ``consistent`` (some
        ``tables_counted`` of them could add up to it); ``differs`` (it counts every sheet but does not equal
        their sum); or ``impossible`` (no ``tables_counted`` published sheets give those counts)."""
        if self.official is None:
            return "none-published"
        announced = list(self.announcement.candidates.values())
        if self.official_ranges is None:
            return "equal" if list(self.official) == announced else "differs"
        inside = all(a in r for a, r in zip(announced, self.official_ranges, strict=True))
        return "consistent" if inside else "impossible"

    @property
    def achievable(self) -> bool:
        """Neither the announced counts nor the announced winner are shown impossible."""
        return not self.impossible and self.final.achievable

    def to_json(self) -> dict[str, Any]:
        a, f = self.announcement, self.final
        return {
            "announcement": {"file": a.where, "date": a.date, "source": a.source, "candidates": a.candidates},
            "sources": list(self.sources),
            "tables": self.tables,
            "tables_with_copies": self.evidence.copies,
            "tables_counted_in_announcement": self.tables_counted,
            "conflicting_tables_set_aside": self.conflicts,
            "registered": self.registered,
            "registry_basis": self.registry_basis,
            "copies_total": dict(zip(self.groups, self.copies_total, strict=True)),
            "ranges": {g: [r.low, r.high] for g, r in zip(self.groups, self.ranges, strict=True)},
            "impossible": [self.groups[i] for i in self.impossible],
            "derived_from_official": self.derived,
            "names": dict(zip(self.groups, self.names, strict=True)),
            "official_total": None if self.official is None else dict(zip(self.groups, self.official, strict=True)),
            "official_tables": self.official_tables,
            "winner": self.groups[f.winner],
            "rival": self.groups[f.rival],
            "margin_in_copies": f.margin,
            "missing_tables": f.missing_tables,
            "missing_voters": f.missing_voters,
            "winner_achievable": f.achievable,
            "shortfall": f.shortfall,
            "copies_to_overturn": f.copies_to_overturn,
            "registry_slack": f.registry_slack,
            "turnout_in_copies": f.turnout,
            "authenticated_copies": self.authenticated,
            "achievable": self.achievable,
        }


def assess(
    election: Election,
    cols: SheetColumns,
    registry: Registry,
    announcement: Announcement,
    *,
    sources: Sequence[str],
) -> Assessment:
    """Check ``announcement`` against the copies of ``sources`` (in order of preference) and the registry."""
    groups, columns = _groups(election, announcement)
    chosen, conflict = choose_copies(cols, sources)
    usable = chosen[~conflict]
    tables, registered, basis = _totals(election, registry, announcement, cols, usable)
    ev = _evidence(cols, usable, columns, registry, tables, registered)
    if int(ev.registered.sum()) > registered:
        basis += (
            f" — yet the tables with copies alone have {int(ev.registered.sum()):,}: that total or those copies are "
            "wrong, and the tables without a copy are given no voters"
        )
    counted = announcement.tables(tables)
    official, official_tables, official_votes = _official(cols, columns)
    official_ranges = None
    if official_votes is not None and counted < official_tables:
        sheets = Evidence(
            official_votes, np.zeros(official_tables, np.int64), official_votes.sum(axis=1), np.zeros(0, np.int64), 0
        )
        official_ranges = tuple(vote_ranges(sheets, counted))
    authenticated = int(np.count_nonzero(_is(cols.sources[usable], "official")))
    names = tuple("others" if g == OTHERS else election.candidates[election.candidate_index(g)].name for g in groups)
    return Assessment(
        announcement,
        groups,
        names,
        tuple(sources),
        tuple(int(x) for x in ev.totals()),
        tables,
        counted,
        registered,
        basis,
        int(conflict.sum()),
        ev,
        tuple(vote_ranges(ev, counted)),
        outcome(ev, groups.index(announcement.winner())),
        official,
        official_tables,
        official_ranges,
        authenticated,
    )


def _groups(election: Election, announcement: Announcement) -> tuple[tuple[str, ...], list[list[int]]]:
    """The announcement's candidate groups, as lists of the election's candidate indices."""
    ids: list[str] = [c.id for c in election.candidates]
    named = [g for g in announcement.candidates if g != OTHERS]
    columns = [[ids.index(g)] for g in named]
    if OTHERS in announcement.candidates:
        columns.append([i for i, c in enumerate(ids) if c not in named])
    return tuple(announcement.candidates), columns


def _grouped(votes: np.ndarray, columns: list[list[int]]) -> np.ndarray:
    return np.stack([votes[:, c].sum(axis=1) for c in columns], axis=1).astype(np.int64)


def _is(sources: np.ndarray, source: str) -> np.ndarray:
    found: np.ndarray = sources == (source.encode() if sources.dtype.kind == "S" else source)
    return found


def _totals(
    election: Election, registry: Registry, announcement: Announcement, cols: SheetColumns, usable: np.ndarray
) -> tuple[int, int, str]:
    """Tables and registered voters of the whole election, and where the figure comes from."""
    declared = election.declared
    complete = registry.tables.size > 0 and bool(np.all(registry.registered >= 0))
    tables = (
        announcement.tables_total
        or (declared.tables if declared and declared.tables else None)
        or int(registry.tables.size)
        or usable.size
    )
    if tables < usable.size:
        raise InputError(
            f"says the election has {tables:,} tables, but {usable.size:,} tables have copies",
            where=f"{announcement.where}: announcement.tables (or tables_counted / share_counted)",
        )
    if announcement.tables(tables) > tables:
        raise InputError(
            f"{announcement.tables(tables):,} tables counted, more than the election's {tables:,}",
            where=f"{announcement.where}: announcement.tables_counted",
        )
    if announcement.registered is not None:
        return tables, announcement.registered, f"the announcement's {announcement.registered:,} registered voters"
    if declared is not None and declared.registered:
        return tables, declared.registered, f"{declared.registered:,} registered voters declared by {declared.source}"
    if complete:
        return tables, int(registry.registered.sum()), "the registry"
    return tables, int(np.maximum(cols.registered[usable], 0).sum()), "the copies' own registered voters only"


def _evidence(
    cols: SheetColumns, usable: np.ndarray, columns: list[list[int]], registry: Registry, tables: int, registered: int
) -> Evidence:
    reg = registry.sorted()
    copy_tables = cols.tables[usable]
    listed = _lookup(reg, copy_tables)
    own = cols.registered[usable]
    cast = cols.candidates[usable].sum(axis=1) + np.maximum(cols.null[usable], 0) + np.maximum(cols.blank[usable], 0)
    at_copies = np.where(listed >= 0, listed, np.where(own >= 0, own, cast))  # unknown: at least the votes cast
    missing = max(0, tables - usable.size)
    others = reg.registered[~np.isin(reg.tables, copy_tables)] if reg.tables.size else np.zeros(0, np.int64)
    voters = max(0, registered - int(at_copies.sum()), int(np.maximum(others, 0).sum()))
    exact = others.size == missing and bool(np.all(others >= 0)) and int(others.sum()) >= voters
    # Unless the registry lists every copy-less table, one of them may hold all their voters: no cap is sound.
    capacity = others.astype(np.int64) if exact else np.full(missing, voters, np.int64)
    return Evidence(_grouped(cols.candidates[usable], columns), at_copies.astype(np.int64), cast, capacity, voters)


def _lookup(reg: Registry, tables: np.ndarray) -> np.ndarray:
    """Registered voters of each table in the registry (-1 where it is not listed or not known)."""
    if reg.tables.size == 0:
        return np.full(tables.size, -1, np.int64)
    pos = np.minimum(np.searchsorted(reg.tables, tables), reg.tables.size - 1)
    return np.where(reg.tables[pos] == tables, reg.registered[pos], -1)


def _official(cols: SheetColumns, columns: list[list[int]]) -> tuple[tuple[int, ...] | None, int, np.ndarray | None]:
    """Per group, the sum of the official sheets (the newest of a table that has several), their number,
    and each sheet's votes per group."""
    chosen, _ = choose_copies(cols, ["official"])
    if chosen.size == 0:
        return None, 0, None
    votes = _grouped(cols.candidates[chosen], columns)
    return tuple(int(x) for x in votes.sum(axis=0)), int(chosen.size), votes


def _pct(x: float) -> str:
    return f"{x:.1%}"


def findings(a: Assessment) -> list[tuple[str, str]]:
    """The assessment in sentences, keyed ``copies``, ``derived``, ``counts``, ``winner``, ``verdict``,
    ``basis`` and ``relaxed``: the same words in the terminal, the Markdown and the HTML report."""
    f, ev, names = a.final, a.evidence, a.names
    out = [
        (
            "copies",
            f"Copies of {ev.copies:,} of {a.tables:,} tables ({_pct(ev.copies / a.tables)}) from "
            f"{', '.join(a.sources)}; {a.conflicts:,} tables with conflicting copies set aside.",
        ),
        ("derived", _derived(a)),
    ]
    impossible = [f"{names[i]}'s {list(a.announcement.candidates.values())[i]:,}" for i in a.impossible]
    out.append(
        (
            "counts",
            (
                f"With {a.tables_counted:,} tables counted, as announced: "
                if a.announcement.share_counted is not None or a.announcement.tables_counted is not None
                else f"With every table counted ({a.tables_counted:,}; the announcement does not say otherwise): "
            )
            + (
                f"{'; '.join(impossible)} cannot be the count of any {a.tables_counted:,} tables."
                if impossible
                else "every announced count is within what some set of that many tables could give."
            ),
        )
    )
    lead = names[f.rival] if f.margin > 0 else names[f.winner]
    out.append(
        (
            "winner",
            f"{names[f.winner]} is announced the winner. "
            + (f"In the copies {lead} leads by {abs(f.margin):,} votes; " if f.margin else "In the copies they tie; ")
            + (
                f"the {f.missing_tables:,} tables without a copy have {f.missing_voters:,} registered voters."
                if f.missing_tables
                else "every table has a copy."
            )
            + (
                f" Even if every one of them voted for {names[f.winner]}, the shortfall would be {f.shortfall:,} votes."
                if not f.achievable and f.missing_tables
                else ""
            ),
        )
    )
    out.append(("verdict", _verdict(a)))
    out.append(
        (
            "basis",
            f"This rests on {a.registry_basis} (the missing tables' voters are the election's voters less those of "
            f"the tables with copies), on {ev.copies:,} copies ({a.authenticated:,} of them official sheets, whose "
            "signatures `verify-log` checks when they come from the log; the others witnesses' and observers' "
            "copies, unauthenticated), and on any copy-less table holding from none to all of their voters, "
            "at up to 100% turnout.",
        )
    )
    out.append(("relaxed", _relaxed(a)))
    return out


def _derived(a: Assessment) -> str:
    n, k = a.official_tables, a.tables_counted
    status = a.derived
    if status == "none-published":
        return "No official sheet is published: the announcement cannot be traced to any table."
    if status == "equal":
        return f"The announcement equals the sum of the {n:,} published official sheets."
    if status == "consistent":
        return (
            f"The announcement could be the sum of {k:,} of the {n:,} published official sheets (it does not say "
            "which; publishing the list would make it checkable)."
        )
    if status == "impossible":
        announced = list(a.announcement.candidates.values())
        bad = [
            f"{name}'s {v:,} (any {k:,} sheets give {r.low:,} to {r.high:,})"
            for name, v, r in zip(a.names, announced, a.official_ranges or (), strict=True)
            if v not in r
        ]
        return f"The announcement is NOT derived from the published sheets: {'; '.join(bad)}."
    diffs = [
        f"{name} {ann - off:+,}"
        for name, ann, off in zip(a.names, a.announcement.candidates.values(), a.official or (), strict=True)
        if ann != off
    ]
    return f"The announcement is NOT the sum of the {n:,} published official sheets (announced minus sheets: {', '.join(diffs)})."


def _verdict(a: Assessment) -> str:
    winner = a.names[a.final.winner]
    if a.evidence.copies == 0:
        return "Nothing can be concluded: no usable copy is in hand."
    if not a.final.achievable:
        return f"NOT ACHIEVABLE: {winner} cannot finish first, whatever the tables without a copy contain."
    if a.impossible:
        return "NOT ACHIEVABLE: the announced counts cannot come from the share of tables it says was counted."
    return f"Achievable: the copies in hand do not rule out the announcement or {winner}'s win."


def _relaxed(a: Assessment) -> str:
    f = a.final
    if f.achievable and a.impossible:
        announced = list(a.announcement.candidates.values())
        low = any(announced[i] < a.ranges[i].low for i in a.impossible)
        return (
            "Relaxed: an announced count below the fewest any such set of tables can give is ruled out by the copies "
            "alone, whatever the registry says; only false copies could change that."
            if low
            else "Relaxed: an announced count above the most any such set of tables can give is ruled out only as long "
            "as the tables without a copy hold no more voters than counted here."
        )
    if f.achievable:
        return "Nothing to relax: the copies do not rule out the announcement."
    parts = [f"the verdict stands unless at least {f.copies_to_overturn:,} of the copies are false"]
    if f.registry_slack is not None:
        parts.append(f"or the missing tables hold {_pct(f.registry_slack)} more voters than counted here")
    if f.turnout is not None and f.missing_tables:
        parts.append(
            f"at the copies' own turnout ({_pct(f.turnout)}) in the missing tables, all for "
            f"{a.names[f.winner]}, the shortfall would be {f.shortfall_at(f.turnout):,.0f} votes"
        )
    return "Relaxed: " + "; ".join(parts) + "."
