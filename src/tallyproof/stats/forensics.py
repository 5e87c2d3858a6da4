"""Forensic screens over published counts, and :func:`screens_for`, which runs them all on a store's copies.

Every screen returns a frozen :class:`~tallyproof.stats.screens.Screen` (or a subclass with its details):
the statistic, a sentence naming its null distribution, a p-value, and ``flagged`` when the p-value is
below :data:`~tallyproof.stats.screens.THRESHOLD` after any correction for the number of things tried.
A flag is **a screen, not proof**: it says the numbers are unusual under a stated model of honest
counting, never why. Honest elections break these models too (a register sorted by age, a centre of one
party's supporters), so a flag is a reason to look at the tally sheets, not a verdict on its own.

* :func:`round_percentages`: announced totals made from round percentages (an exact lattice count).
* :func:`integer_percentages`: too many tables whose turnout or leader's share is a whole percentage
  (Kobak, Shpilkin & Pshenichnikov 2016, *Ann. Appl. Stat.* 10(1):54–73).
* :func:`~tallyproof.stats.digits.last_digits`, :func:`~tallyproof.stats.digits.second_digits`: digits
  unlike honest counting (after Beber & Scacco 2012 and Mebane 2006), in :mod:`tallyproof.stats.digits`.
* :func:`~tallyproof.stats.fingerprint.fingerprint`, :func:`~tallyproof.stats.fingerprint.turnout_spikes`:
  the turnout × share histogram (Klimek et al. 2012) and single turnout values held by too many tables.
* :func:`~tallyproof.stats.centres.centre_outliers`: a table voting unlike the rest of its centre.

Inputs are plain NumPy arrays, one row per table: ``registered`` ``(n,)``, ``votes`` ``(n, k)`` valid
votes per candidate, ``null`` ``(n,)`` null votes; :func:`~tallyproof.stats.screens.check_tables`
validates them and raises :class:`~tallyproof.errors.InputError`. :func:`screens_for` builds them from
copies (:class:`~tallyproof.tabulate.SheetColumns`). Every Monte Carlo draw comes from
``numpy.random.default_rng(seed)``, so results are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import signal, stats

from tallyproof.election import Election
from tallyproof.errors import InputError, UnknownError
from tallyproof.stats.centres import centre_outliers
from tallyproof.stats.digits import last_digits, second_digits
from tallyproof.stats.fingerprint import Fingerprint, fingerprint, turnout_spikes
from tallyproof.stats.screens import Screen, check_tables, leader, screen_fields, whole_counts
from tallyproof.tabulate import Registry, SheetColumns, choose_copies

__all__ = [
    "WITNESS_SOURCES",
    "Forensics",
    "IntegerPercentages",
    "RoundPercentages",
    "integer_percentages",
    "round_percentages",
    "screens_for",
]

WITNESS_SOURCES = ("witness", "observer", "import")
"""The copies :func:`screens_for` screens when no official sheet is published."""
_MOST_DECIMALS = 3
_CHUNK = 2_000_000


# --- 1. Round percentages in an announced bulletin -----------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundPercentages(Screen):
    total: int
    counts: tuple[int, ...]
    decimals: int
    """The precision (decimals of the percentage) that gave the smallest chance."""
    is_round: tuple[bool, ...]
    """Which counts are the nearest whole number to a percentage with ``decimals`` decimals of ``total``."""
    percentages: tuple[float, ...]
    """The nearest percentage with ``decimals`` decimals to each count."""
    probability: float
    """The chance under the null at ``decimals`` before correcting for the precisions tried."""


def round_percentages(total: int, counts: Sequence[int], *, decimals: Sequence[int] = (0, 1, 2)) -> RoundPercentages:
    """Are the announced counts the nearest whole votes to round percentages of ``total``?

    A count ``c`` is *round at d decimals* when ``|c − T·j/L| ≤ ½`` for an integer ``j``, ``L = 10^(d+2)``
    (e.g. 5,150,092 is the nearest integer to 51.2% of 10,058,774). The statistic is the number of round
    counts at the precision that makes them least likely; the p-value is that chance times the number of
    precisions tried (Bonferroni).

    Null model: each count falls anywhere, with no preference for a lattice point ``T·j/L``. One count
    is round with chance ``π = (L + 1)/(T + 1)``, about ``L/T`` (one integer per lattice spacing ``T/L``).
    When the counts add up to ``T`` the last one is not free: given that the other ``m − 1`` are round,
    it is round exactly when their rounding offsets ``e_i`` (spread evenly over the lattice offsets of
    ``T`` and ``L``) add up to at most ½ in size, chance ``q`` computed exactly by convolution (¾ for two
    continuous offsets). So all ``m`` are round with chance ``π^(m−1)·q``: for the bulletin of 29 July 2024
    (three counts, 10,058,774 votes, one decimal) about ``(1000/T)²·¾ ≈ 7·10⁻⁹``.
    """
    total, counts_t, tried = _check_bulletin(total, counts, decimals)
    options = [_round_at(total, counts_t, d) for d in tried]
    d, flags, pct, chance = min(options, key=lambda o: (o[3], o[0]))
    p = min(1.0, chance * len(tried))  # Bonferroni, capped: a p-value is a probability
    shown = ", ".join(f"{x:.{d}f}%" for x, f in zip(pct, flags, strict=True) if f)
    decimals_text = f"{d} decimal{'' if d == 1 else 's'}"
    odds = f"about 1 in {_one_in(chance)}" if chance < 0.5 else f"{chance:.0%}"
    summary = (
        f"{sum(flags)} of {len(counts_t)} counts are the nearest whole votes to percentages with {decimals_text} of "
        f"{total:,}{f' ({shown})' if shown else ''}; chance under the null {odds} "
        f"(p = {p:.2g} for {len(tried)} precisions tried)."
    )
    null = (
        "Counts fall anywhere, without preference for round percentages of the total; a count is round with "
        f"chance about 10^(d+2)/total, the last count of a bulletin that adds up to the total being fixed by the "
        f"others. p = chance of at least this many round counts × {len(tried)} precisions."
    )
    common = screen_fields("round-percentages", sum(flags), null, p, summary)
    return RoundPercentages(
        **common, total=total, counts=counts_t, decimals=d, is_round=flags, percentages=pct, probability=chance
    )


def _one_in(chance: float) -> str:
    return f"{1 / chance:,.0f}" if chance > 0 else "infinity"


def _check_bulletin(
    total: int, counts: Sequence[int], decimals: Sequence[int]
) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    if isinstance(total, bool) or not isinstance(total, int | np.integer) or total < 1:
        raise InputError(f"needs a whole number of votes, at least 1, got {total!r}", where="total")
    values = tuple(int(c) for c in whole_counts(list(counts), "counts").ravel())
    if not values:
        raise InputError("needs at least one count", where="counts")
    if sum(values) > total:
        raise InputError(f"the counts add up to {sum(values):,}, more than the total {int(total):,}", where="counts")
    tried = tuple(int(d) for d in decimals)
    if not tried or any(not 0 <= d <= _MOST_DECIMALS for d in tried):
        raise InputError(
            f"needs one or more decimals between 0 and {_MOST_DECIMALS}, got {decimals!r}", where="decimals"
        )
    return int(total), values, tried


def _round_at(total: int, counts: tuple[int, ...], d: int) -> tuple[int, tuple[bool, ...], tuple[float, ...], float]:
    """At ``d`` decimals: which counts are round, their nearest percentages, and the chance of as many."""
    lattice = 10 ** (d + 2)
    nearest = [(2 * c * lattice + total) // (2 * total) for c in counts]  # j = round(c·L/T), exact
    flags = tuple(2 * abs(c * lattice - total * j) <= lattice for c, j in zip(counts, nearest, strict=True))
    pct = tuple(j / 10**d for j in nearest)
    fixed = sum(counts) == total and len(counts) > 1
    return d, flags, pct, _chance_at_least(sum(flags), len(counts), total, lattice, fixed)


def _chance_at_least(r: int, m: int, total: int, lattice: int, fixed: bool) -> float:
    """P(at least ``r`` of ``m`` counts are round) under the null of :func:`round_percentages`."""
    if r == 0:
        return 1.0
    pi = min(1.0, (lattice + 1) / (total + 1))
    free = m - 1 if fixed else m
    last = _last_round(total, lattice, free) if fixed else 0.0
    chance = 0.0
    for b in range(free + 1):
        pb = float(stats.binom.pmf(b, free, pi))
        if b >= r:
            chance += pb
        elif fixed and b + 1 == r:
            chance += pb * (last if b == free else pi)
    return min(1.0, chance)


def _last_round(total: int, lattice: int, free: int) -> float:
    """P(|e_1 + … + e_free| ≤ ½): the rounding offsets ``e = round(T·j/L) − T·j/L`` of ``free`` round counts,
    ``j`` uniform over a period of ``L``; then the count that makes up the total is round too."""
    j = np.arange(lattice, dtype=np.int64)
    scaled = lattice * ((2 * total * j + lattice) // (2 * lattice)) - total * j  # L·e, in [−L/2, L/2)
    pmf = np.bincount(scaled + lattice // 2, minlength=lattice + 1) / lattice
    conv = pmf
    for _ in range(free - 1):
        conv = np.clip(signal.fftconvolve(conv, pmf), 0.0, None)
    sums = np.arange(conv.size) - free * (lattice // 2)
    return float(min(1.0, conv[2 * np.abs(sums) <= lattice].sum()))


# --- 2. Integer percentages at table level (Kobak et al. 2016) ------------------------------------


@dataclass(frozen=True, slots=True)
class IntegerPercentages(Screen):
    tables: int
    """Tables screened (at least ``min_registered`` voters, some valid votes, turnout at most 100%)."""
    candidate: int
    turnout_integer: int
    share_integer: int
    expected: float
    """Mean number of tables with an integer turnout or share over the simulations."""
    expected_turnout: float
    expected_share: float
    simulations: int
    seed: int


def integer_percentages(
    registered: np.ndarray,
    votes: np.ndarray,
    *,
    null: np.ndarray | None = None,
    candidate: int | None = None,
    min_registered: int = 100,
    window: float = 0.05,
    simulations: int = 2_000,
    seed: int = 0,
) -> IntegerPercentages:
    """Too many tables whose turnout or leader's share is a whole percentage?

    After Kobak, Shpilkin & Pshenichnikov (2016), "Integer percentages as electoral falsification
    fingerprints", *Ann. Appl. Stat.* 10(1): a table counts when its turnout (ballots cast = valid + null,
    over ``registered``) or the leader's share of its valid votes is within ``window`` percentage points
    of a whole number (0.05: it shows ``x.0%`` at one decimal). Tables with fewer than ``min_registered``
    voters are left out: on a small table many counts give whole percentages (every count, at 100
    voters), which the null allows for but which drowns the signal.
    The leader's share is of the valid votes, the percentage Venezuela's CNE publishes (the paper, on
    Russian protocols, uses all ballots).

    Null model (the paper's Monte Carlo): every table keeps its registered voters and valid votes; its
    ballots cast are redrawn as Binomial(registered, observed turnout) and the leader's votes as
    Binomial(valid, observed share). This keeps the arithmetic of each table (how many of its possible
    counts give whole percentages) and removes any preference for them. p = (1 + simulations with at
    least the observed count) / (1 + ``simulations``), seeded with ``seed``.
    """
    reg, v, nul = check_tables(registered, votes, null)
    lead = leader(v, candidate)
    valid = v.sum(axis=1)
    cast = valid + nul
    keep = (reg >= min_registered) & (valid > 0) & (cast <= reg)
    reg, cast, valid, lead_votes = reg[keep], cast[keep], valid[keep], v[keep, lead]
    if simulations < 1:
        raise InputError(f"needs at least one simulation, got {simulations}", where="simulations")
    turnout, share = _integer(cast, reg, window), _integer(lead_votes, valid, window)
    observed = int((turnout | share).sum())
    sims = _integer_simulations((reg, cast, valid, lead_votes), window, simulations, seed)
    p = (1 + int((sims[:, 0] >= observed).sum())) / (1 + simulations)
    expected = float(sims[:, 0].mean())
    summary = (
        f"{observed:,} of {reg.size:,} tables have a whole-percentage turnout or leader's share "
        f"({int(turnout.sum()):,} turnout, {int(share.sum()):,} share), against {expected:,.1f} expected "
        f"({sims[:, 1].mean():,.1f}, {sims[:, 2].mean():,.1f}); Monte Carlo p = {p:.2g}."
    )
    null_text = (
        "Each table's ballots cast ~ Binomial(registered, observed turnout) and leader's votes ~ Binomial(valid, "
        f"observed share), {simulations:,} seeded simulations (Kobak, Shpilkin & Pshenichnikov 2016)."
    )
    common = screen_fields("integer-percentages", observed, null_text, p, summary)
    return IntegerPercentages(
        **common,
        tables=int(reg.size),
        candidate=lead,
        turnout_integer=int(turnout.sum()),
        share_integer=int(share.sum()),
        expected=expected,
        expected_turnout=float(sims[:, 1].mean()),
        expected_share=float(sims[:, 2].mean()),
        simulations=simulations,
        seed=seed,
    )


def _integer(part: np.ndarray, whole: np.ndarray, window: float) -> np.ndarray:
    """Whether ``100·part/whole`` is within ``window`` of a whole number (a tiny tolerance for rounding)."""
    pct = 100.0 * part / np.maximum(whole, 1)
    out: np.ndarray = np.abs(pct - np.rint(pct)) <= window + 1e-9
    return out


def _integer_simulations(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], window: float, simulations: int, seed: int
) -> np.ndarray:
    """Per simulation: tables with an integer turnout or share, with an integer turnout, with an integer share."""
    reg, cast, valid, lead = arrays
    rng = np.random.default_rng(seed)
    out = np.zeros((simulations, 3), np.int64)
    chunk = max(1, _CHUNK // max(reg.size, 1))
    for start in range(0, simulations, chunk):
        size = min(chunk, simulations - start)
        turnout = _integer(rng.binomial(reg, cast / reg, size=(size, reg.size)), reg, window)
        share = _integer(rng.binomial(valid, lead / valid, size=(size, reg.size)), valid, window)
        out[start : start + size] = np.column_stack([(turnout | share).sum(1), turnout.sum(1), share.sum(1)])
    return out


# --- Every screen on the copies of a store --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forensics:
    """Every screen run on one counted copy per table from ``sources``."""

    sources: tuple[str, ...]
    tables: int
    """Tables screened (tables whose copies of the chosen source conflict are left out)."""
    screens: tuple[Screen, ...]
    outliers: tuple[str, ...]
    """The tables the centre-outlier screen lists, by id, most unusual first."""

    @property
    def fingerprint(self) -> Fingerprint | None:
        return next((s for s in self.screens if isinstance(s, Fingerprint)), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "tables": self.tables,
            "outliers": list(self.outliers),
            "screens": [s.to_json() for s in self.screens],
        }


class Announced(Protocol):
    """What the screens read of an announcement (:class:`tallyproof.independent.announcement.Announcement`
    has it): the candidates' announced counts and the valid votes they are shares of."""

    @property
    def candidates(self) -> dict[str, int]: ...

    @property
    def votes(self) -> int | None: ...

    @property
    def valid(self) -> int: ...


def screens_for(
    cols: SheetColumns,
    registry: Registry,
    election: Election,
    announcement: Announced | None = None,
    *,
    sources: Sequence[str] | None = None,
) -> Forensics:
    """Every screen on the counted copy of each table from ``sources`` (in order of preference; None:
    the official sheets if any is published, else :data:`WITNESS_SOURCES`), with defaults.

    Per table: the candidates' votes, ``null`` = null plus blank ballots (where the copy says), and the
    registered voters from the registry, else from the copy, else unknown (0: left out of the screens
    of turnout). The fingerprint's groups are the top level (Venezuela's states); centres are the level
    above the tables. With an ``announcement``, its candidates' counts are screened for round
    percentages of its valid votes (``votes``, else their sum). Raises
    :class:`~tallyproof.errors.UnknownError` when no table has a copy from the sources.
    """
    chosen = tuple(sources) if sources else _default_sources(cols)
    rows, conflict = choose_copies(cols, chosen)
    rows = rows[~conflict]
    if rows.size == 0:
        raise UnknownError(f"no copy from {', '.join(chosen)} to screen", where="sources")
    tables, votes = cols.tables[rows], cols.candidates[rows].astype(np.int64)
    null = np.maximum(cols.null[rows], 0) + np.maximum(cols.blank[rows], 0)
    registered = _registered(registry, tables, cols.registered[rows])
    geography = election.geography
    found: list[Screen] = []
    if announcement is not None:
        counts = list(announcement.candidates.values())
        found.append(round_percentages(announcement.votes or announcement.valid, counts))
    found += [
        integer_percentages(registered, votes, null=null),
        last_digits(votes),
        second_digits(votes),
        fingerprint(registered, votes, null=null, groups=geography.unit_keys(tables, geography.levels[0])),
        turnout_spikes(registered, votes, null=null),
    ]
    outliers: tuple[str, ...] = ()
    if len(geography.levels) > 1:
        centres = centre_outliers(votes, geography.unit_keys(tables, geography.levels[-2]))
        found.append(centres)
        outliers = tuple(str(t) for t in tables[list(centres.tables)].tolist())
    return Forensics(chosen, int(rows.size), tuple(found), outliers)


def _default_sources(cols: SheetColumns) -> tuple[str, ...]:
    text = cols.sources.astype(str) if cols.sources.dtype.kind == "S" else cols.sources
    return ("official",) if bool(np.any(text == "official")) else WITNESS_SOURCES


def _registered(registry: Registry, tables: np.ndarray, on_copy: np.ndarray) -> np.ndarray:
    """Registered voters of each table: the registry's figure, else the copy's, else 0 (unknown)."""
    reg = registry.sorted()
    listed = np.full(tables.size, -1, np.int64)
    if reg.tables.size:
        at = np.minimum(np.searchsorted(reg.tables, tables), reg.tables.size - 1)
        listed = np.where(reg.tables[at] == tables, reg.registered[at], -1)
    out: np.ndarray = np.maximum(np.where(listed >= 0, listed, on_copy), 0).astype(np.int64)
    return out
