"""Tables that vote unlike the rest of their centre: a hypergeometric split plus a between-table spread, Bonferroni.

A voting centre's tables share a building and a neighbourhood; its voters are split among them by
register number. A table whose votes differ from the rest of its centre beyond what that split (and the
spread real registers add) gives is worth a look at its tally sheet. A screen, not proof
(:mod:`tallyproof.stats.screens`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from tallyproof.errors import InputError
from tallyproof.stats.screens import THRESHOLD, Screen, check_tables, leader, screen_fields

__all__ = ["BINS", "PER_BIN", "CentreOutliers", "centre_outliers"]

BINS, PER_BIN = 5, 2_000
"""The spread is estimated in up to ``BINS`` bins of centre lean ``|p − ½|``, each of at least ``PER_BIN``
tables (one bin under 2 × ``PER_BIN`` tables)."""
_CHI2_MEDIAN = float(stats.chi2.ppf(0.5, 1))
"""The median of ``z²`` for a standard normal ``z`` (0.455)."""


@dataclass(frozen=True, slots=True)
class CentreOutliers(Screen):
    candidate: int
    tested: int
    """Tables with at least one other table (with valid votes) in their centre."""
    tables: tuple[int, ...]
    """Row indices of the flagged tables, largest ``|z|`` first."""
    z_scores: tuple[float, ...]
    """Their z-scores (positive: more votes for ``candidate`` than the rest of the centre)."""
    z_threshold: float
    """``|z|`` above which a table is flagged: the two-sided Bonferroni bound for ``tested`` tables."""
    expected: float
    """Tables expected to be flagged by chance alone under the null (= :data:`THRESHOLD`)."""
    lean_edges: tuple[float, ...]
    """Edges of the bins of centre lean ``|p − ½|`` (``p``: the candidate's share of the centre's valid
    votes) in which the spread is estimated, lowest first: one more than ``spread``; empty when no table
    could inform it."""
    spread: tuple[float, ...]
    """``τ`` in each bin: the standard deviation of a table's share about its centre's beyond binomial
    noise, the same at every share."""
    logit_spread: tuple[float, ...]
    """``σ`` in each bin: the same on the logit scale (a table's share spreads ``σ·pq`` at centre share ``p``)."""


def centre_outliers(votes: np.ndarray, centres: np.ndarray, *, candidate: int | None = None) -> CentreOutliers:
    """Tables whose votes for ``candidate`` (default: the leader) differ from the rest of their centre.

    Table ``i`` has ``n_i`` valid votes, ``y_i`` for the candidate, share ``p̂_i = y_i/n_i``; the other
    tables of its centre pooled have ``N_i`` votes, ``Y_i`` for the candidate, share ``p̂_rest``; ``p`` is
    the centre's pooled share and ``q = 1 − p``.

    Null model: each table's own share is its centre's share plus an independent deviation of variance
    ``s²``, and its votes are binomial given its own share. Registers split a centre by identity-card
    number, hence by age, so tables differ more than a random split of the centre's voters would make
    them. The deviation's size is estimated, not assumed, under two shapes: ``s = τ`` (the same on the
    share scale at every share) and ``s = σ·pq`` (the same, ``σ``, on the logit scale, to first order;
    it shrinks towards shares of 0 and 1). Each table is held to the larger, ``s_i² = max(τ², σ²p²q²)``,
    so the screen stays valid under either shape and those between. Then

        ``Var(p̂_i − p̂_rest) = V_i + s_i²·(1 + Σ_j (n_j/N_i)²)``,

    the sum over the centre's other tables ``j``, where ``V_i = pq(1/n_i + 1/N_i)·M/(M − 1)``
    (``M = n_i + N_i``) is the variance under a random split of the centre's votes: ``y_i`` hypergeometric,
    ``n_i`` draws from ``M`` votes of which ``y_i + Y_i`` are the candidate's. The spread adds to the
    binomial noise on the share scale, so it weighs most on large tables (one overdispersion factor for
    every table would under-scale them).

    ``τ`` and ``σ`` are estimated robustly, in bins of the centre's lean ``|p − ½|`` (up to :data:`BINS`
    bins of equal counts of at least :data:`PER_BIN` tables each): each is the value ``≥ 0`` at which the
    median of ``z²`` over the bin is the median of ``χ²₁`` (0.455), with ``z`` the mid-p normal score of
    the hypergeometric test scaled as below (mid-p: unbiased in the middle of a discrete distribution,
    where the two-sided score is not). A median is untouched by a few odd tables.

    The test: the hypergeometric two-sided p-value (twice the smaller tail, exact where few votes go one
    way) as a signed normal score ``u_i``, scaled to the null's variance, ``z_i = u_i·√(V_i / Var(p̂_i −
    p̂_rest))``, taken as standard normal. Multiplicity: a table is flagged when its two-sided p-value is
    below ``THRESHOLD / tested`` (Bonferroni), so fewer than :data:`THRESHOLD` tables are expected to be
    flagged in all by chance; the screen's p-value is ``min(1, tested × smallest p)``. In a centre of two
    tables both are flagged together: either may be the odd one. A table whose centre voted all or none
    for the candidate is tested (``z = 0``) but cannot inform the spread.
    """
    _, v, _ = check_tables(None, votes)
    ids = np.asarray(centres)
    if ids.shape != (v.shape[0],):
        raise InputError(f"needs shape ({v.shape[0]},), one centre per table, got {ids.shape}", where="centres")
    lead = leader(v, candidate)
    split = _split(v.sum(axis=1), v[:, lead], ids)
    rows = np.flatnonzero(split.tested)
    spread = _spread(split, rows)
    z = split.exact[rows] / np.sqrt(spread.widen)
    p_each = 2 * stats.norm.sf(np.abs(z))
    bound = THRESHOLD / max(rows.size, 1)
    hit = np.flatnonzero(p_each < bound)
    hit = hit[np.argsort(-np.abs(z[hit]), kind="stable")]
    p = float(min(1.0, rows.size * p_each.min())) if rows.size else 1.0
    z_star = float(stats.norm.isf(bound / 2))
    summary = (
        f"{hit.size:,} of {rows.size:,} tables vote unlike the rest of their centre (|z| > {z_star:.2f}; "
        f"{spread.text()}); chance alone flags {THRESHOLD:g} tables on average; Bonferroni p = {p:.2g}. "
        "Where one table of a centre was tampered with, its honest neighbours look unlike it too: read the "
        "centre's sheets together."
    )
    null = (
        "Each table's share is its centre's plus an independent deviation (sd tau on the share scale or sigma "
        "on the logit scale, estimated robustly per bin of centre lean, the larger used), its votes binomial "
        "given its share: hypergeometric two-sided p-values as normal scores, scaled to that variance; "
        "Bonferroni over the tables tested."
    )
    common = screen_fields("centre-outliers", hit.size, null, p, summary)
    found = tuple(rows[hit].tolist()), tuple(float(x) for x in z[hit])
    return CentreOutliers(
        **common,
        candidate=lead,
        tested=int(rows.size),
        tables=found[0],
        z_scores=found[1],
        z_threshold=z_star,
        expected=THRESHOLD,
        lean_edges=tuple(float(x) for x in spread.edges),
        spread=tuple(float(x) for x in spread.share_sd),
        logit_spread=tuple(float(x) for x in spread.logit_sd),
    )


@dataclass(frozen=True, slots=True)
class _Split:
    """Per table, against the rest of its centre (zeros where not ``tested``)."""

    tested: np.ndarray
    exact: np.ndarray
    """Signed normal score of the two-sided hypergeometric p-value (the test)."""
    mid: np.ndarray
    """Signed normal score of the one-sided mid-p value (near N(0, 1) in the middle: estimates the spread)."""
    share: np.ndarray
    """The centre's pooled share ``p``."""
    binomial: np.ndarray
    """``V_i``: the variance of ``p̂_i − p̂_rest`` under a random split of the centre's votes."""
    weight: np.ndarray
    """``1 + Σ_j (n_j/N_i)²``: how many times ``s²`` the difference carries."""


def _split(valid: np.ndarray, chosen: np.ndarray, ids: np.ndarray) -> _Split:
    _, centre = np.unique(ids, return_inverse=True)
    rest_n = np.bincount(centre, valid).astype(np.int64)[centre] - valid
    rest_y = np.bincount(centre, chosen).astype(np.int64)[centre] - chosen
    squares = valid.astype(float) ** 2
    rest_sq = np.bincount(centre, squares)[centre] - squares
    tested = (valid > 0) & (rest_n > 0)
    pool, ones = valid + rest_n, chosen + rest_y
    upper = stats.hypergeom.sf(chosen - 1, pool, ones, valid)
    lower = stats.hypergeom.cdf(chosen, pool, ones, valid)
    smaller = np.minimum(upper, lower)
    point = upper + lower - 1  # P(y_i = y): imprecise only far in a tail, where ``mid`` need only be large
    above = chosen * np.maximum(rest_n, 1) > rest_y * valid
    sign = np.where(above, 1.0, -1.0)
    exact = sign * stats.norm.isf(np.clip(smaller, 1e-300, 0.5))
    mid = sign * stats.norm.isf(np.clip(smaller - point / 2, 1e-300, 0.5))
    n, rest, m = np.maximum(valid, 1), np.maximum(rest_n, 1).astype(float), np.maximum(pool, 2)
    share = ones / np.maximum(pool, 1)
    binomial = share * (1 - share) * m * m / (n * rest * (m - 1))
    weight = 1 + rest_sq / rest**2
    zero = ~tested
    return _Split(
        tested,
        *(np.where(zero, 0.0, x) for x in (exact, mid, share, binomial, weight)),
    )


@dataclass(frozen=True, slots=True)
class _Spread:
    edges: np.ndarray
    share_sd: np.ndarray
    """``τ`` per bin."""
    logit_sd: np.ndarray
    """``σ`` per bin."""
    widen: np.ndarray
    """Per tested table, ``Var(p̂_i − p̂_rest) / V_i`` (1 where nothing informs the spread)."""

    def text(self) -> str:
        """``spread beyond the binomial 0.7–1.1 points of share or 0.04–0.06 in logit, 5 bins of centre lean``."""
        if self.share_sd.size == 0:
            return "no table to estimate the spread beyond the binomial"
        bins = "1 bin" if self.share_sd.size == 1 else f"{self.share_sd.size} bins"
        return (
            f"spread beyond the binomial {_span(100 * self.share_sd, 1)} points of share or "
            f"{_span(self.logit_sd, 2)} in logit, {bins} of centre lean"
        )


def _span(values: np.ndarray, digits: int) -> str:
    low, high = f"{float(values.min()):.{digits}f}", f"{float(values.max()):.{digits}f}"
    return low if low == high else f"{low}–{high}"


def _spread(split: _Split, rows: np.ndarray) -> _Spread:
    """``τ`` and ``σ`` per bin of centre lean, and each tested table's variance factor."""
    widen = np.ones(rows.size)
    binomial, share = split.binomial[rows], split.share[rows]
    useful = np.flatnonzero(binomial > 0)
    if useful.size == 0:
        return _Spread(np.zeros(0), np.zeros(0), np.zeros(0), widen)
    lean = np.abs(share - 0.5)
    bins = max(1, min(BINS, useful.size // PER_BIN))
    edges = np.quantile(lean[useful], np.linspace(0, 1, bins + 1))
    where = np.clip(np.searchsorted(edges, lean[useful], side="right") - 1, 0, bins - 1)
    on_share = split.weight[rows][useful] / binomial[useful]
    on_logit = on_share * (share[useful] * (1 - share[useful])) ** 2
    mid = split.mid[rows][useful]
    tau2, sigma2 = np.zeros(bins), np.zeros(bins)
    for b in range(bins):
        inside = where == b
        tau2[b] = _fit(mid[inside], on_share[inside])
        sigma2[b] = _fit(mid[inside], on_logit[inside])
    widen[useful] = 1 + np.maximum(tau2[where] * on_share, sigma2[where] * on_logit)
    return _Spread(edges, np.sqrt(tau2), np.sqrt(sigma2), widen)


def _fit(u: np.ndarray, ratio: np.ndarray) -> float:
    """The ``s² ≥ 0`` at which ``median(u² / (1 + s²·ratio))`` is the median of ``χ²₁`` (it falls as ``s²``
    grows), by bisection to a relative precision of 10⁻⁶."""
    squares = u * u
    if squares.size == 0 or float(np.median(squares)) <= _CHI2_MEDIAN:
        return 0.0
    hi = 1e-6
    while float(np.median(squares / (1 + hi * ratio))) > _CHI2_MEDIAN:
        hi *= 2
    lo = 0.0
    while hi - lo > 1e-6 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(np.median(squares / (1 + mid * ratio))) > _CHI2_MEDIAN else (lo, mid)
    return (lo + hi) / 2
