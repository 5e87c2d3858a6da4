"""Alarms: the independent side's checks, turned into a short list of findings for an observer.

:func:`alarms` runs six screens over the copies in hand and returns an :class:`Alarm` for each one that
finds something, alarms before notices:

=======================  ==============================================  ===================================
code                     what it catches                                 fires when
=======================  ==============================================  ===================================
``not-derived``          an announcement no set of the official sheets   a count outside what any
                         it claims to count can give                     ``tables_counted`` sheets give
``not-achievable``       an announcement the witness copies rule out     the same, on the copies (verdict)
``altered-sheets``       official sheets that differ from the copies     any copy differs
``unregistered-tables``  official sheets of tables not in the registry   any such sheet
``turnout-outliers``     ballot stuffing: tables far above their centre  more flagged tables than chance
``coverage-bias``        witnesses kept away where one side is strong    rank-sum p < 0.01
=======================  ==============================================  ===================================

Each screen's docstring gives its null model, its threshold and why it stays silent on an honest
election. The thresholds were checked on honest simulations (:mod:`tallyproof.simulation.election` with the
``honest`` scenario of :mod:`tallyproof.simulation.scenarios`); ``scripts/detection_rates.py`` measures how often
each scenario is detected and writes ``docs/detection.md``. Anomalies are findings, never exceptions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tallyproof.election import Election
from tallyproof.geography import Geography
from tallyproof.independent.announcement import Announcement
from tallyproof.independent.reconcile import reconcile
from tallyproof.independent.verdict import Assessment, assess
from tallyproof.tabulate import Registry, SheetColumns, choose_copies

__all__ = ["Alarm", "alarms"]

MOST_TABLES = 50
"""Tables listed in one alarm, at most."""
OUTLIER_Z = 5.0
"""``turnout-outliers``: robust z-score above which a table's turnout stands out from its centre."""
OUTLIER_EXCESS = 0.20
"""``turnout-outliers``: and its turnout must be at least this far (20 points) above the rest of its centre."""
OUTLIER_TABLES_PER_CHANCE = 10_000
"""``turnout-outliers``: one flagged table in this many is put down to chance (none at 2,000 tables)."""
COVERAGE_LOW = 0.5
"""``coverage-bias``: a unit whose coverage is below this share of the median coverage is low."""
COVERAGE_P = 0.01
"""``coverage-bias``: p-value below which low coverage is tied to one candidate's strength."""
_EXACT_UNITS = 100
"""Up to this many units the rank-sum p-value is exact, beyond it a normal approximation."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """One finding for an observer: what was seen, with the numbers, and the tables concerned."""

    code: str
    severity: str
    """``alarm`` (the screen's threshold is crossed) or ``notice`` (worth a look, within chance)."""
    title: str
    detail: str
    """One or two sentences with the numbers."""
    tables: tuple[str, ...]
    """The tables concerned, worst first, at most :data:`MOST_TABLES`."""
    value: float
    """The statistic."""
    threshold: float
    """What the statistic is compared with: counts and votes fire above it, p-values below it."""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "tables": list(self.tables)}


def alarms(
    election: Election,
    cols: SheetColumns,
    registry: Registry,
    announcement: Announcement | None,
    *,
    copies: Sequence[str] = ("witness", "observer"),
    official: str = "official",
) -> list[Alarm]:
    """Every screen of the module docstring over the ``official`` sheets and the ``copies``, alarms first."""
    copies = tuple(copies)
    found: list[Alarm | None] = []
    if announcement is not None:
        found.append(_not_derived(election, cols, registry, announcement, official))
        found.append(_not_achievable(election, cols, registry, announcement, copies))
    found.append(_altered_sheets(election, cols, official, copies))
    found.append(_unregistered_tables(election, cols, registry, official))
    found.append(_turnout_outliers(election, cols, registry, (official, *copies)))
    found.append(_coverage_bias(election, cols, registry, official, copies))
    return sorted((a for a in found if a is not None), key=lambda a: a.severity != "alarm")


# --- The announcement ---------------------------------------------------------------------------


def _not_derived(
    election: Election, cols: SheetColumns, registry: Registry, announcement: Announcement, official: str
) -> Alarm | None:
    """``not-derived``: no ``tables_counted`` official sheets add up to the announcement.

    Null model: an honest announcement adds up the official sheets of the ``tables_counted`` tables it
    says were counted, without saying which. Each announced count must then lie between the fewest and
    the most votes any that many official sheets give, and the winner it names must be able to finish
    first on them (:func:`tallyproof.independent.verdict.assess` with the official sheets as the copies). These are
    exact necessary conditions, so an honest announcement never fails them (threshold 0 votes); being
    unequal to the sum of *all* official sheets is no evidence, as an announcement made before the
    count is complete covers only some of them.
    """
    if not _has(cols, [official]):
        return None
    a = assess(election, cols, registry, announcement, sources=[official])
    title = "The announcement is not the sum of the official sheets"
    return _unreachable(a, "not-derived", title, f"the {a.evidence.copies:,} official sheets")


def _not_achievable(
    election: Election, cols: SheetColumns, registry: Registry, announcement: Announcement, copies: Sequence[str]
) -> Alarm | None:
    """``not-achievable``: the copies rule the announcement out (:mod:`tallyproof.independent.verdict`).

    Null model: a table without a copy could hold anything from no vote to all its registered voters
    voting for one candidate, so an announcement derived from true counts always lies inside the
    ranges the copies allow and its winner can always finish first (threshold 0 votes). It fires on an
    honest announcement only if copies are false or the registry misses voters.
    """
    if not _has(cols, copies):
        return None
    a = assess(election, cols, registry, announcement, sources=list(copies))
    title = "The copies kept at the tables rule the announcement out"
    return _unreachable(a, "not-achievable", title, f"the {a.evidence.copies:,} copies from {', '.join(copies)}")


def _unreachable(a: Assessment, code: str, title: str, basis: str) -> Alarm | None:
    """The alarm for an assessment that rules the announcement out; value: the votes it misses by."""
    f, announced = a.final, list(a.announcement.candidates.values())
    if not a.impossible and f.achievable:
        return None
    gaps = [max(r.low - n, n - r.high, 0) for n, r in zip(announced, a.ranges, strict=True)]
    lacking = 0 if f.achievable else f.shortfall + 1  # votes the winner lacks to finish strictly first
    parts = []
    if lacking:
        missing = (
            f"more than the {f.missing_voters:,} registered voters of the tables without one"
            if f.missing_voters
            else "and every table has one"
        )
        parts.append(
            f"{a.names[f.winner]}, announced the winner, trails {a.names[f.rival]} by {f.margin:,} votes, {missing}"
        )
    parts += [
        f"{a.names[i]}'s {announced[i]:,} is outside the {a.ranges[i].low:,} to {a.ranges[i].high:,} "
        f"that any {a.tables_counted:,} tables give"
        for i in sorted(a.impossible, key=lambda i: -gaps[i])[:2]
    ]
    detail = f"On {basis}: " + "; ".join(parts) + "."
    return Alarm(code, "alarm", title, detail, (), float(max(*gaps, lacking)), 0.0)


# --- The sheets ---------------------------------------------------------------------------------


def _altered_sheets(election: Election, cols: SheetColumns, official: str, copies: Sequence[str]) -> Alarm | None:
    """``altered-sheets``: copies that differ from their table's official sheet (:mod:`tallyproof.independent.reconcile`).

    Null model: a copy kept at the table and the official sheet of that table record the same count,
    so an honest election has no difference (threshold 0 tables). The detail says whether the
    differences lean one way: a sign test of the tables where the official sheet gives the candidate
    it favours most more votes than the copy against those where it gives fewer, under the null that
    honest mistakes go either way with probability 1/2 (one-sided binomial p, times the number of
    candidates whose votes differ anywhere, since the candidate is picked after looking).
    """
    found = reconcile(cols, official=official, copies=copies).discrepancies
    if not found:
        return None
    _, rows = np.unique([d.table for d in found], return_index=True)  # one copy per table: its worst
    rows = np.sort(rows)
    gain = -np.asarray([found[i].candidates for i in rows.tolist()], dtype=np.int64)  # official minus copy
    net = gain.sum(axis=0)
    top = int(np.argmax(net))
    up, down = int((gain[:, top] > 0).sum()), int((gain[:, top] < 0).sum())
    changed = int(np.any(gain != 0, axis=0).sum())  # candidates the test could have picked
    p = min(1.0, _sign_test(up, up + down) * max(changed, 1))
    moved = max(int(gain[gain > 0].sum()), int(-gain[gain < 0].sum()))
    names = [c.name for c in election.candidates]
    effect = ", ".join(f"{names[i]} {int(n):+,}" for i, n in enumerate(net.tolist()) if n)
    detail = (
        f"At {rows.size:,} tables a copy differs from the official sheet, by {moved:,} votes moved; net effect of "
        f"the official sheets: {effect or 'none'}. {up:,} of the {up + down:,} tables that change "
        f"{names[top]}'s votes give {names[top]} more (sign test p = {p:.2g})."
    )
    worst = tuple(found[i].table for i in rows[:MOST_TABLES].tolist())
    return Alarm("altered-sheets", "alarm", "Official sheets differ from the copies", detail, worst, rows.size, 0.0)


def _unregistered_tables(election: Election, cols: SheetColumns, registry: Registry, official: str) -> Alarm | None:
    """``unregistered-tables``: official sheets of tables the registry does not list.

    Null model: every official sheet belongs to a table of the registry (threshold 0 sheets). Screened
    only when a registry is known: without one no table is outside it.
    """
    if registry.tables.size == 0:
        return None
    chosen, _ = choose_copies(cols, [official])
    outside = np.isin(cols.tables[chosen], registry.tables, invert=True)
    rows = chosen[outside]
    if rows.size == 0:
        return None
    votes, inside = cols.candidates[rows], cols.candidates[chosen[~outside]]
    top = int(np.argmax(votes.sum(axis=0)))
    name = election.candidates[top].name
    detail = (
        f"{rows.size:,} official sheets are for tables not among the registry's {registry.tables.size:,}; they add "
        f"{int(votes.sum()):,} valid votes, {_share(votes, top):.0%} for {name} "
        f"({_share(inside, top):.0%} on the other official sheets)."
    )
    worst = cols.tables[rows[np.argsort(-votes.sum(axis=1), kind="stable")]][:MOST_TABLES]
    title = "Official sheets for tables that are not in the registry"
    return Alarm("unregistered-tables", "alarm", title, detail, tuple(worst.tolist()), rows.size, 0.0)


# --- Ballot stuffing ----------------------------------------------------------------------------


def _turnout_outliers(
    election: Election, cols: SheetColumns, registry: Registry, sources: Sequence[str]
) -> Alarm | None:
    """``turnout-outliers``: tables whose turnout stands far above the rest of their centre.

    Each table (official sheet, else a copy; registered voters from the registry, else the sheet) is
    compared with the rest of its centre, or with the rest of its parish when it is alone in its centre
    (:func:`_outlier_scores`). Null model: within a centre, tables differ by binomial noise and by what
    the robust spread of all tables adds; a table is flagged when it is more than :data:`OUTLIER_Z`
    robust standard deviations and :data:`OUTLIER_EXCESS` (20 points) above its reference.
    One flagged table per :data:`OUTLIER_TABLES_PER_CHANCE` is put down to chance (a notice); more is
    an alarm. Calibration: no table was flagged in 200 honest simulated elections of 2,000 tables
    (seeds 1 to 200) nor in 20 of 30,000, so the 99th percentile of the honest count is 0; over seeds
    1 to 2,200 of 2,000 tables one election had one flagged table (a false alarm rate near 1 in 2,000).
    Stuffed tables (95-100% turnout) score a median z near 10. Tables outside a known registry are left
    to ``unregistered-tables``.
    """
    rows, cast, reg = _turnout_rows(cols, registry, sources)
    if rows.size < 2:
        return None
    tables = cols.tables[rows]
    z, excess, reference = _outlier_scores(election.geography, tables, cast, reg)
    flagged = np.flatnonzero((z > OUTLIER_Z) & (excess >= OUTLIER_EXCESS))
    if flagged.size == 0:
        return None
    flagged = flagged[np.argsort(-z[flagged], kind="stable")]
    allowed = rows.size // OUTLIER_TABLES_PER_CHANCE
    w = int(flagged[0])
    votes = cols.candidates[rows]
    top = int(np.argmax(votes[flagged].sum(axis=0)))
    rest = np.delete(votes, flagged, axis=0)
    detail = (
        f"{flagged.size:,} tables have a turnout {OUTLIER_EXCESS * 100:.0f} points or more above the rest of their "
        f"centre (their parish, if alone in it) and over {OUTLIER_Z:g} robust standard deviations out (such as "
        f"{tables[w]}: {cast[w] / reg[w]:.0%} against {reference[w]:.0%}); chance allows {allowed:,} among "
        f"{rows.size:,} tables. {election.candidates[top].name} has {_share(votes[flagged], top):.0%} of their "
        f"valid votes ({_share(rest, top):.0%} elsewhere)."
    )
    severity = "alarm" if flagged.size > allowed else "notice"
    title = "Tables with a turnout far above the rest of their centre"
    listed = tuple(tables[flagged[:MOST_TABLES]].tolist())
    return Alarm("turnout-outliers", severity, title, detail, listed, flagged.size, allowed)


def _turnout_rows(
    cols: SheetColumns, registry: Registry, sources: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the counted copies with known registered voters, their votes cast and registered voters."""
    chosen, conflict = choose_copies(cols, sources)
    rows = chosen[~conflict]
    listed = _listed(registry, cols.tables[rows])
    reg = np.where(listed >= 0, listed, cols.registered[rows])
    keep = reg > 0
    if registry.tables.size:
        keep &= listed != -2
    rows, reg = rows[keep], reg[keep]
    cast = cols.candidates[rows].sum(axis=1) + np.maximum(cols.null[rows], 0) + np.maximum(cols.blank[rows], 0)
    return rows, cast.astype(np.int64), reg.astype(np.int64)


def _listed(registry: Registry, tables: np.ndarray) -> np.ndarray:
    """Registered voters of each table in the registry: -1 where unknown, -2 where the table is not listed."""
    reg = registry.sorted()
    if reg.tables.size == 0:
        return np.full(tables.size, -2, np.int64)
    pos = np.minimum(np.searchsorted(reg.tables, tables), reg.tables.size - 1)
    return np.where(reg.tables[pos] == tables, reg.registered[pos], -2).astype(np.int64)


def _outlier_scores(
    geography: Geography, tables: np.ndarray, cast: np.ndarray, reg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per table: robust z-score of its turnout, its excess over its reference, and the reference turnout.

    The reference is the rest of the table's centre (the level above the tables), else the rest of its
    parish. ``u`` is the excess over its binomial standard error (both turnouts estimated); ``z`` is
    ``u`` less its median, over 1.4826 times its median absolute deviation (at least 1, the binomial
    noise alone), separately for tables compared with their centre and with their parish, since a
    parish adds the spread between centres.
    """
    rest_cast, rest_reg, by_centre = _rest(geography, tables, cast, reg)
    known = rest_reg > 0
    reference = np.divide(rest_cast, rest_reg, out=np.zeros(tables.size), where=known)
    excess = np.where(known, cast / reg - reference, 0.0)
    p = np.clip(reference, 0.01, 0.99)
    u = excess / np.sqrt(p * (1 - p) * (1 / reg + 1 / np.maximum(rest_reg, 1)))
    z = np.zeros(tables.size)
    for group in (known & by_centre, known & ~by_centre):
        if group.any():
            middle = np.median(u[group])
            spread = max(1.4826 * float(np.median(np.abs(u[group] - middle))), 1.0)
            z[group] = (u[group] - middle) / spread
    return z, excess, reference


def _rest(
    geography: Geography, tables: np.ndarray, cast: np.ndarray, reg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Votes cast and registered voters of the rest of each table's centre, else of its parish; and which."""
    rest_cast, rest_reg = np.zeros(tables.size, np.int64), np.zeros(tables.size, np.int64)
    by_centre = np.zeros(tables.size, bool)
    for depth, level in enumerate(reversed(geography.levels[-3:-1])):  # the centre, then the parish
        _, unit = np.unique(geography.unit_keys(tables, level), return_inverse=True)
        others_cast = np.bincount(unit, cast).astype(np.int64)[unit] - cast
        others_reg = np.bincount(unit, reg).astype(np.int64)[unit] - reg
        take = (rest_reg == 0) & (others_reg > 0)
        rest_cast[take], rest_reg[take] = others_cast[take], others_reg[take]
        if depth == 0:
            by_centre = take
    return rest_cast, rest_reg, by_centre


# --- Witness coverage ---------------------------------------------------------------------------


def _coverage_bias(
    election: Election, cols: SheetColumns, registry: Registry, official: str, copies: Sequence[str]
) -> Alarm | None:
    """``coverage-bias``: witness copies are scarce in the top-level units where one candidate is strong.

    Coverage per top-level unit (state) is its tables with a copy over its tables (the registry's, else
    the official sheets'). Units below :data:`COVERAGE_LOW` of the median coverage are *low*. Null
    model: which units are low is independent of the vote; the test is the one-sided Wilcoxon rank-sum
    test of whether the low units are those where a leading candidate's share (official sheets, else
    copies) is highest, for each of the two leading candidates, times 2. An alarm below
    :data:`COVERAGE_P`; low units not tied to the vote are a notice. Honest witnesses are independent
    of the vote and their coverage rarely halves in a unit (in 2 of 2,200 honest simulated elections
    of 2,000 tables, each time one unit: a notice), and one low unit among 24 cannot give p < 0.01
    (at best 2/24).
    """
    geography = election.geography
    universe = registry.tables if registry.tables.size else np.unique(cols.tables[choose_copies(cols, [official])[0]])
    if len(geography.levels) < 2 or universe.size == 0:
        return None
    keys, unit = np.unique(geography.unit_keys(universe, geography.levels[0]), return_inverse=True)
    covered = np.isin(universe, cols.tables[_rows_of(cols, copies)])
    coverage = np.bincount(unit, covered) / np.bincount(unit)
    low = coverage < COVERAGE_LOW * np.median(coverage)
    if keys.size < 3 or not low.any():
        return None
    shares, leading = _unit_shares(election, cols, keys, (official, *copies))
    known = ~np.isnan(shares[0])
    tests = [_rank_sum_p(s[known], low[known]) for s in shares]
    best = int(np.argmin(tests))
    p = min(1.0, tests[best] * len(tests))
    worst = np.flatnonzero(low)[np.argsort(coverage[low], kind="stable")]
    missing = np.concatenate([universe[(unit == k) & ~covered] for k in worst.tolist()])
    detail = _coverage_detail(election, keys, worst, coverage, shares[best], leading[best], p)
    severity = "alarm" if p < COVERAGE_P else "notice"
    title = "Witness copies are scarce where one candidate is strong"
    return Alarm("coverage-bias", severity, title, detail, tuple(missing[:MOST_TABLES].tolist()), p, COVERAGE_P)


def _coverage_detail(
    election: Election, keys: np.ndarray, worst: np.ndarray, coverage: np.ndarray, share: np.ndarray, who: int, p: float
) -> str:
    """The low units with their coverage and ``who``'s share there, and what it means for the verdict."""
    level = election.geography.levels[0]
    units = ", ".join(
        f"{election.geography.name(level, str(keys[i])) or keys[i]} ({coverage[i]:.0%}, {share[i]:.0%})"
        for i in worst.tolist()
    )
    name = election.candidates[who].name
    return (
        f"Copies cover less than half the median coverage ({np.median(coverage):.0%}) in {worst.size} of "
        f"{keys.size} units at {level} level (coverage, {name}'s share): {units}, against a median share of "
        f"{np.nanmedian(share):.0%}; rank-sum test that these are where a leading candidate is strongest, "
        f"p = {p:.2g}. The feasibility verdict stays sound (tables without a copy are taken at their most "
        "extreme), but an estimate from the copies alone would be biased."
    )


def _unit_shares(
    election: Election, cols: SheetColumns, keys: np.ndarray, sources: Sequence[str]
) -> tuple[list[np.ndarray], list[int]]:
    """The two leading candidates' share of the valid votes in each unit (NaN: no votes), and who they are."""
    geography = election.geography
    chosen, conflict = choose_copies(cols, sources)
    rows = chosen[~conflict]
    row_keys = geography.unit_keys(cols.tables[rows], geography.levels[0])
    at = np.minimum(np.searchsorted(keys, row_keys), keys.size - 1)
    inside = keys[at] == row_keys
    votes = np.zeros((keys.size, cols.candidates.shape[1]))
    np.add.at(votes, at[inside], cols.candidates[rows[inside]])  # a unit outside the registry is left out
    leading = np.argsort(-votes.sum(axis=0), kind="stable")[:2].tolist()
    valid = votes.sum(axis=1)
    shares = [np.divide(votes[:, c], valid, out=np.full(keys.size, np.nan), where=valid > 0) for c in leading]
    return shares, leading


# --- Tests and helpers --------------------------------------------------------------------------


def _rank_sum_p(values: np.ndarray, chosen: np.ndarray) -> float:
    """One-sided Wilcoxon rank-sum (Mann–Whitney) p-value: the chance that ``chosen.sum()`` units drawn at
    random have ranks of ``values`` adding up to at least those of the ``chosen`` ones.

    Exact up to :data:`_EXACT_UNITS` units, else the normal approximation with a continuity correction.
    Ties rank the chosen units lowest, which can only raise p.
    """
    n, k = values.size, int(chosen.sum())
    if k in (0, n):
        return 1.0
    ranks = np.empty(n, np.int64)
    ranks[np.lexsort((~chosen, values))] = np.arange(1, n + 1)
    observed = int(ranks[chosen].sum())
    if n > _EXACT_UNITS:
        mean, var = k * (n + 1) / 2, k * (n - k) * (n + 1) / 12
        return 0.5 * math.erfc((observed - 0.5 - mean) / math.sqrt(2 * var))
    ways = _subset_sums(n, k)
    return float(ways[observed:].sum() / ways.sum())


def _subset_sums(n: int, k: int) -> np.ndarray:
    """``ways[s]``: how many ``k``-subsets of the ranks ``1..n`` add up to ``s`` (a 0/1 knapsack count)."""
    total = n * (n + 1) // 2
    ways = np.zeros((k + 1, total + 1))
    ways[0, 0] = 1.0
    for r in range(1, n + 1):
        ways[1:, r:] = ways[1:, r:] + ways[:-1, : total + 1 - r]
    out: np.ndarray = ways[k]
    return out


def _sign_test(k: int, n: int) -> float:
    """``P(Binomial(n, 1/2) >= k)``: exact up to 1,000 trials, else normal with a continuity correction."""
    if n == 0:
        return 1.0
    if n > 1_000:
        return 0.5 * math.erfc((k - 0.5 - n / 2) / math.sqrt(n / 2))
    return sum(math.comb(n, i) for i in range(k, n + 1)) / (1 << n)


def _share(votes: np.ndarray, candidate: int) -> float:
    total = int(votes.sum())
    return int(votes[:, candidate].sum()) / total if total else 0.0


def _text(sources: np.ndarray) -> np.ndarray:
    return sources.astype(str) if sources.dtype.kind == "S" else sources


def _rows_of(cols: SheetColumns, sources: Sequence[str]) -> np.ndarray:
    return np.flatnonzero(np.isin(_text(cols.sources), list(sources)))


def _has(cols: SheetColumns, sources: Sequence[str]) -> bool:
    return _rows_of(cols, sources).size > 0
