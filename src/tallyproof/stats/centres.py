"""Tables that vote unlike the rest of their centre: a hypergeometric split, robustly scaled, Bonferroni.

A voting centre's tables share a building and a neighbourhood; its voters are split among them by
register number. A table whose votes differ from the rest of its centre beyond what that split (and the
spread real registers add) gives is worth a look at its tally sheet. A screen, not proof
(:mod:`tallyproof.stats.screens`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tallyproof.errors import InputError
from tallyproof.stats.screens import THRESHOLD, Screen, check_tables, leader, mad, screen_fields

__all__ = ["CentreOutliers", "centre_outliers"]


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
    overdispersion: float
    """``φ``: the robust variance of the tables' scores (at least 1), by whose root they are divided."""


def centre_outliers(votes: np.ndarray, centres: np.ndarray, *, candidate: int | None = None) -> CentreOutliers:
    """Tables whose votes for ``candidate`` (default: the leader) differ from the rest of their centre.

    Table ``i`` has ``n_i`` valid votes, ``y_i`` for the candidate; the other tables of its centre pooled
    have ``N_i`` and ``Y_i``. If the centre's voters were split among its tables at random, ``y_i`` would
    be hypergeometric: ``n_i`` draws from ``n_i + N_i`` votes of which ``y_i + Y_i`` are the candidate's
    (the conditional, exact form of the two-proportion test; exact in the tails where few votes go one
    way). Its two-sided p-value (twice the smaller tail) becomes a signed normal score ``u_i``.

    Null model: ``u_i`` is normal with variance ``φ ≥ 1``. ``φ`` (the overdispersion) is estimated robustly
    as ``(1.4826·MAD(u))²``: real registers split a centre by identity-card number, hence by age, and
    tables differ more than a random split. ``z = u/√φ``. Multiplicity: a table is flagged when its
    two-sided p-value is below ``THRESHOLD / tested`` (Bonferroni), so fewer than :data:`THRESHOLD`
    tables are expected to be flagged in all by chance; the screen's p-value is
    ``min(1, tested × smallest p)``. In a centre of two tables both are flagged together: either may be
    the odd one.
    """
    _, v, _ = check_tables(None, votes)
    ids = np.asarray(centres)
    if ids.shape != (v.shape[0],):
        raise InputError(f"needs shape ({v.shape[0]},), one centre per table, got {ids.shape}", where="centres")
    lead = leader(v, candidate)
    u, tested = _split_scores(v.sum(axis=1), v[:, lead], ids)
    rows = np.flatnonzero(tested)
    phi = max(1.0, mad(u[rows]) ** 2)
    z = u[rows] / math.sqrt(phi)
    p_each = 2 * stats.norm.sf(np.abs(z))
    bound = THRESHOLD / max(rows.size, 1)
    hit = np.flatnonzero(p_each < bound)
    hit = hit[np.argsort(-np.abs(z[hit]), kind="stable")]
    p = float(min(1.0, rows.size * p_each.min())) if rows.size else 1.0
    z_star = float(stats.norm.isf(bound / 2))
    summary = (
        f"{hit.size:,} of {rows.size:,} tables vote unlike the rest of their centre (|z| > {z_star:.2f}, "
        f"overdispersion {phi:.2f}); chance alone flags {THRESHOLD:g} tables on average; Bonferroni p = {p:.2g}."
    )
    null = (
        "A centre's voters split among its tables at random: hypergeometric two-sided p-values as normal scores, "
        "variance estimated robustly (at least 1); Bonferroni over the tables tested."
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
        overdispersion=phi,
    )


def _split_scores(valid: np.ndarray, chosen: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed normal score of each table's hypergeometric two-sided p-value against the rest of its centre,
    and which tables have a rest to compare with."""
    _, centre = np.unique(ids, return_inverse=True)
    rest_n = np.bincount(centre, valid).astype(np.int64)[centre] - valid
    rest_y = np.bincount(centre, chosen).astype(np.int64)[centre] - chosen
    tested = (valid > 0) & (rest_n > 0)
    pool, ones = valid + rest_n, chosen + rest_y
    upper = stats.hypergeom.sf(chosen - 1, pool, ones, valid)
    lower = stats.hypergeom.cdf(chosen, pool, ones, valid)
    two_sided = np.clip(2 * np.minimum(upper, lower), 1e-300, 1.0)
    above = chosen * np.maximum(rest_n, 1) > rest_y * valid
    u = np.where(above, 1.0, -1.0) * stats.norm.isf(two_sided / 2)
    return np.where(tested, u, 0.0), tested
