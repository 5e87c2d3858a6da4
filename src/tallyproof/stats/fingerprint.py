"""Distribution screens: the turnout × winner's-share fingerprint and turnout spikes.

Like the other screens (:mod:`tallyproof.stats.screens` has the :class:`~tallyproof.stats.screens.Screen`,
threshold and input checks they share), each screen states its null model and returns a p-value and
``flagged``; a flag is a screen, not proof. Inputs are per-table arrays: ``registered`` ``(n,)``, ``votes`` ``(n, k)`` valid
votes per candidate, ``null`` ``(n,)`` null votes. Turnout is ballots cast (valid + null) over registered
voters; tables with no registered voters or a turnout above 100% are left out and counted.

* :func:`fingerprint`: the 2-D histogram of tables by turnout and the winner's share of valid votes
  (Klimek, Yegorov, Hanel & Thurner 2012, "Statistical detection of systematic election irregularities",
  *PNAS* 109(41):16469–16473), and the mass in its high-turnout, high-share corner against a fitted null.
  :func:`tallyproof.report.fingerprint_chart.fingerprint_svg` draws it as a standalone SVG.
* :func:`turnout_spikes`: single turnout values (at one decimal of a percent) held by more tables than
  their neighbourhood and the arithmetic of the tables' sizes allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from tallyproof.errors import InputError
from tallyproof.stats.screens import THRESHOLD, Screen, check_tables, leader, mad, screen_fields

__all__ = ["Fingerprint", "TurnoutSpikes", "fingerprint", "turnout_spikes"]

_MOST_BINS = 200


# --- The turnout × share fingerprint (Klimek et al. 2012) ----------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Fingerprint(Screen):
    counts: np.ndarray
    """Tables per cell, int64 of shape ``(bins, bins)``: ``counts[i, j]`` has turnout in bin ``i`` and the
    winner's share in bin ``j`` (both bins of ``edges``; the last bin includes 100%)."""
    edges: np.ndarray
    """Bin edges shared by both axes, ``bins + 1`` values from 0 to 1."""
    candidate: int
    corner: tuple[float, float]
    """Turnout and share above which a table is in the corner."""
    tables: int
    excluded: int
    observed: int
    expected: float
    clusters: int
    """Clusters the null was fitted to: the groups with at least ``min_group`` tables, plus one for the rest."""


def fingerprint(
    registered: np.ndarray,
    votes: np.ndarray,
    *,
    null: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    candidate: int | None = None,
    bins: int = 50,
    corner: tuple[float, float] = (0.8, 0.8),
    min_group: int = 50,
) -> Fingerprint:
    """The turnout × share histogram of the tables and a test of its high-turnout, high-share corner.

    Klimek et al. (2012) show that ballot stuffing moves tables towards 100% turnout and 100% for the
    winner, a smear or a second cluster in that corner of the histogram. Statistic: tables with turnout
    above ``corner[0]`` and the winner's (``candidate``, default the leader's) share above ``corner[1]``.

    Null model: the fraud-free part of their model, in which turnout and share vary between tables
    around a centre with Gaussian spread, here one centre per group (``groups``: ``(n,)`` region of each
    table, e.g. its state; groups under ``min_group`` tables are pooled; None: one cluster). Each cluster
    is fitted in logit space, where proportions near 0 or 1 behave, robustly so that a stuffed minority
    does not widen it: medians, scales ``1.4826·MAD`` and the Gnanadesikan–Kettenring correlation
    ``(MAD(a+b)² − MAD(a−b)²)/(MAD(a+b)² + MAD(a−b)²)`` of the standardised logits ``a, b`` (proportions
    ``(x + ½)/(n + 1)``). The fitted spread is split into the spread between tables and each table's own
    binomial noise (``1/(n·p(1 − p))`` in logit space, at the cluster's median), so a small table gets a
    wider normal than a large one. Each table's chance ``π_i`` of the corner is the orthant probability of
    its normal (Owen's T function); ``E = Σ π_i`` and p = P(Binomial(N, E/N) ≥ observed), which overstates
    the variance of the sum, so p errs high. Assumption: within a group honest tables form one cluster
    with Gaussian tails. Differences between the regions of a group make heavier tails: one cluster for a
    whole country of distinct regions fires on honest data, so pass the regions. A heavy tail of turnout
    alone (say, small rural tables) also fills the corner; the histogram shows which it is.
    """
    reg, v, nul = check_tables(registered, votes, null)
    lead = leader(v, candidate)
    labels = _groups(groups, v.shape[0])
    _check_shape(bins, corner)
    valid = v.sum(axis=1)
    cast = valid + nul
    keep = (reg > 0) & (valid > 0) & (cast <= reg)
    reg, cast, valid, won, labels = reg[keep], cast[keep], valid[keep], v[keep, lead], labels[keep]
    turnout, share = cast / np.maximum(reg, 1), won / np.maximum(valid, 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.histogram2d(turnout, share, bins=[edges, edges])[0].astype(np.int64)
    points = _logit((cast + 0.5) / (reg + 1)), _logit((won + 0.5) / (valid + 1)), reg, valid
    expected, clusters = _expected_corner(points, labels, corner, min_group)
    observed = int(((turnout > corner[0]) & (share > corner[1])).sum())
    n = int(turnout.size)
    p = float(stats.binom.sf(observed - 1, n, expected / n)) if observed else 1.0
    summary = (
        f"{observed:,} of {n:,} tables have turnout above {corner[0]:.0%} and the winner's share above "
        f"{corner[1]:.0%}, against {expected:,.1f} expected from a robust fit of {clusters} cluster(s); p = {p:.2g}."
    )
    null_text = (
        "Per group, logit turnout and logit share bivariate normal, fitted robustly (medians, MAD scales, "
        "Gnanadesikan–Kettenring correlation); tables in the corner ~ Binomial(tables, expected/tables) "
        "(after Klimek et al. 2012)."
    )
    common = screen_fields("turnout-share-fingerprint", observed, null_text, p, summary)
    return Fingerprint(
        **common,
        counts=counts,
        edges=edges,
        candidate=lead,
        corner=(float(corner[0]), float(corner[1])),
        tables=n,
        excluded=int((~keep).sum()),
        observed=observed,
        expected=expected,
        clusters=clusters,
    )


def _check_shape(bins: int, corner: tuple[float, float]) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= _MOST_BINS:
        raise InputError(f"needs a whole number of bins from 2 to {_MOST_BINS}, got {bins!r}", where="bins")
    if len(corner) != 2 or not all(0 < c < 1 for c in corner):
        raise InputError(f"needs a turnout and a share strictly between 0 and 1, got {corner!r}", where="corner")


def _logit(p: np.ndarray | float) -> np.ndarray:
    q = np.asarray(p, dtype=np.float64)
    out: np.ndarray = np.log(q / (1 - q))
    return out


def _groups(groups: np.ndarray | None, n: int) -> np.ndarray:
    """Group labels as integers ``0..g−1`` (all 0 without groups)."""
    if groups is None:
        return np.zeros(n, np.int64)
    ids = np.asarray(groups)
    if ids.shape != (n,):
        raise InputError(f"needs shape ({n},), one group per table, got {ids.shape}", where="groups")
    out: np.ndarray = np.unique(ids, return_inverse=True)[1].astype(np.int64)
    return out


def _expected_corner(
    points: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    labels: np.ndarray,
    corner: tuple[float, float],
    min_group: int,
) -> tuple[float, int]:
    """Tables expected in the corner, summed over the fitted clusters, and the number of clusters.

    ``points``: logit turnout, logit share, registered voters, valid votes of each table."""
    sizes = np.bincount(labels)
    big = sizes >= max(min_group, 2)
    cluster = np.where(big[labels], labels, -1)  # small groups pooled as one cluster
    expected, clusters = 0.0, 0
    for c in np.unique(cluster).tolist():
        inside = cluster == c
        a, b, reg, valid = (x[inside] for x in points)
        expected += float(_cluster_corner(a, b, reg, valid, corner).sum())
        clusters += 1
    return expected, clusters


def _cluster_corner(
    a: np.ndarray, b: np.ndarray, reg: np.ndarray, valid: np.ndarray, corner: tuple[float, float]
) -> np.ndarray:
    """Each table's chance of the corner: a robust bivariate normal fit of the cluster's logits, split
    into the spread between tables and each table's own binomial noise (variance ``1/(n·p(1 − p))`` in logit
    space, larger for small tables), then the orthant beyond the corner for each table."""
    ma, sa, mb, sb, r = _robust_fit(a, b)
    noise_a = 1 / (reg * _expit(ma) * (1 - _expit(ma)))
    noise_b = 1 / (np.maximum(valid, 1) * _expit(mb) * (1 - _expit(mb)))
    between_a = max(sa**2 - float(np.median(noise_a)), sa**2 / 4)
    between_b = max(sb**2 - float(np.median(noise_b)), sb**2 / 4)
    sd_a, sd_b = np.sqrt(between_a + noise_a), np.sqrt(between_b + noise_b)
    h = (float(_logit(corner[0])) - ma) / sd_a
    k = (float(_logit(corner[1])) - mb) / sd_b
    rho = np.clip(r * sa * sb / (sd_a * sd_b), -0.99, 0.99)
    return _upper_orthant(h, k, rho)


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _robust_fit(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float, float]:
    """Medians, MAD scales and Gnanadesikan–Kettenring correlation of two samples."""
    if a.size == 0:
        return 0.0, 1.0, 0.0, 1.0, 0.0
    ma, mb = float(np.median(a)), float(np.median(b))
    sa, sb = max(mad(a), 1e-6), max(mad(b), 1e-6)
    za, zb = (a - ma) / sa, (b - mb) / sb
    plus, minus = mad(za + zb) ** 2, mad(za - zb) ** 2
    r = (plus - minus) / (plus + minus) if plus + minus > 0 else 0.0
    return ma, sa, mb, sb, float(np.clip(r, -0.99, 0.99))


def _upper_orthant(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(X > h, Y > k) for standard bivariate normals with correlation ``rho``, elementwise, by Owen's T
    function (Owen 1956, "Tables for computing bivariate normal probabilities", *Ann. Math. Stat.* 27(4)):
    ``Φ₂(x, y; ρ) = ½Φ(x) + ½Φ(y) − T(x, a_x) − T(y, a_y) − δ`` at ``x = −h, y = −k``."""
    x, y = -np.asarray(h, float), -np.asarray(k, float)
    x = np.where(x == 0, 1e-12, x)
    y = np.where(y == 0, 1e-12, y)
    root = np.sqrt(1 - rho * rho)
    t_x = special.owens_t(x, (y - rho * x) / (x * root))
    t_y = special.owens_t(y, (x - rho * y) / (y * root))
    delta = np.where(x * y > 0, 0.0, 0.5)
    out: np.ndarray = np.clip(0.5 * special.ndtr(x) + 0.5 * special.ndtr(y) - t_x - t_y - delta, 0.0, 1.0)
    return out


# --- Turnout spikes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class TurnoutSpikes(Screen):
    values: np.ndarray
    """Turnout at the centre of each bin, as a fraction: ``0, 1/M, …, 1`` with ``M = 10^(decimals+2)``."""
    counts: np.ndarray
    """Tables whose turnout rounds to each value."""
    expected: np.ndarray
    """Tables expected there under the null."""
    spikes: tuple[float, ...]
    """Turnout values held by significantly more tables than expected, most unusual first."""
    tables: int
    excluded: int
    decimals: int


def turnout_spikes(
    registered: np.ndarray,
    votes: np.ndarray,
    *,
    null: np.ndarray | None = None,
    decimals: int = 1,
    reach: int = 20,
    gap: int = 1,
) -> TurnoutSpikes:
    """Turnout values (percent with ``decimals`` decimals) held by more tables than their neighbours allow.

    Each table's turnout is rounded to a bin of width ``1/M``, ``M = 10^(decimals+2)`` (0.1 point). Honest
    turnouts have a smooth density ``g``, but a table of ``n`` voters can only reach the values ``k/n``:
    a bin holding ``ℓ`` of them gets about ``ℓ·g/n`` of the table's chance. So the expectation in bin
    ``b`` is ``E_b = Λ_b·ĝ_b``, with the lattice weight ``Λ_b = Σ_tables ℓ_b/n`` (from the tables' sizes
    alone: 50% gets more from even-sized tables, a value between two of a small table's steps gets
    nothing) and the local density ``ĝ_b = (O_N + 1)/Λ_N`` from the tables and weights of the bins within
    ``reach`` bins of ``b`` but more than ``gap`` away (``+1``: an empty neighbourhood still allows one
    table). This is a kernel smoother made aware of the arithmetic (the same that the Monte Carlo of
    Kobak et al. 2016 accounts for) and blind to the bin itself.

    Null model: bin counts are Poisson(``E_b``); each bin's p-value is ``P(Poisson(E_b) ≥ O_b)`` and the
    screen's p-value is the smallest times the bins tested (Bonferroni). Bins whose corrected p-value is
    below :data:`THRESHOLD` are the spikes. Broad excesses spread over many bins (a stuffed tail) are
    the fingerprint's to find, not this screen's.
    """
    reg, v, nul = check_tables(registered, votes, null)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 2:
        raise InputError(f"needs 0, 1 or 2 decimals, got {decimals!r}", where="decimals")
    if not 0 <= gap < reach:
        raise InputError(f"needs 0 <= gap < reach, got gap {gap!r} and reach {reach!r}", where="reach")
    scale = 10 ** (decimals + 2)
    cast = v.sum(axis=1) + nul
    keep = (reg > 0) & (cast <= reg)
    reg, cast = reg[keep], cast[keep]
    counts = np.bincount((2 * cast * scale + reg) // (2 * np.maximum(reg, 1)), minlength=scale + 1)
    weight = _lattice(reg, scale)
    expected = _smoothed(counts, weight, reach, gap)
    tested = np.flatnonzero(weight > 0)
    p_each = np.ones(scale + 1)
    p_each[tested] = stats.poisson.sf(counts[tested] - 1, expected[tested])
    p = float(min(1.0, tested.size * p_each.min())) if tested.size else 1.0
    hit = np.flatnonzero(p_each * max(tested.size, 1) < THRESHOLD)
    hit = hit[np.argsort(p_each[hit], kind="stable")]
    values = np.arange(scale + 1) / scale
    worst = int(np.argmin(p_each))
    summary = (
        f"{hit.size} of {tested.size:,} turnout values are spikes; the most unusual, {values[worst]:.{decimals}%}, "
        f"is held by {int(counts[worst]):,} of {reg.size:,} tables against {expected[worst]:,.1f} expected; "
        f"Bonferroni p = {p:.2g}."
    )
    null_text = (
        "Tables per turnout value ~ Poisson(lattice weight × density of the neighbouring values); one-sided, "
        "Bonferroni over the values tested."
    )
    common = screen_fields("turnout-spikes", float(counts[worst]), null_text, p, summary)
    spikes = tuple(float(x) for x in values[hit])
    excluded = int((~keep).sum())
    return TurnoutSpikes(
        **common,
        values=values,
        counts=counts,
        expected=expected,
        spikes=spikes,
        tables=int(reg.size),
        excluded=excluded,
        decimals=decimals,
    )


def _lattice(registered: np.ndarray, scale: int) -> np.ndarray:
    """``Λ_b``: over the tables, the number of turnouts ``k/n`` that round to bin ``b``, each over ``n``."""
    weight = np.zeros(scale + 1)
    sizes, how_many = np.unique(registered, return_counts=True)
    for n, m in zip(sizes.tolist(), how_many.tolist(), strict=True):
        k = np.arange(n + 1, dtype=np.int64)
        weight += np.bincount((2 * k * scale + n) // (2 * n), minlength=scale + 1) * (m / n)
    return weight


def _smoothed(counts: np.ndarray, weight: np.ndarray, reach: int, gap: int) -> np.ndarray:
    """``E_b = Λ_b (O_N + 1)/Λ_N`` over the neighbourhood ``gap < |b' − b| ≤ reach``."""
    near_o = _band(counts.astype(np.float64), reach) - _band(counts.astype(np.float64), gap)
    near_w = _band(weight, reach) - _band(weight, gap)
    density = (near_o + 1) / np.where(near_w > 0, near_w, np.maximum(weight, 1e-300))
    out: np.ndarray = weight * density
    return out


def _band(x: np.ndarray, half: int) -> np.ndarray:
    """Sum of ``x`` over ``[b − half, b + half]`` (clipped to the ends) for every ``b``."""
    total = np.concatenate([[0.0], np.cumsum(x)])
    index = np.arange(x.size)
    low, high = np.clip(index - half, 0, x.size), np.clip(index + half + 1, 0, x.size)
    out: np.ndarray = total[high] - total[low]
    return out
