"""BRAVO ballot-polling risk-limiting audits (Lindeman, Stark & Yates 2012).

BRAVO is Wald's sequential probability ratio test, run for every pair of a reported winner ``w`` and a
reported loser ``ℓ``. With ``s_w = V_w / (V_w + V_ℓ)`` the winner's reported share of the votes for the
two, each ballot drawn (uniformly, **with replacement**) multiplies the statistic ``T_wℓ``, starting at 1:

* by ``s_w / (1/2)`` if it shows a vote for ``w``;
* by ``(1 − s_w) / (1/2)`` if it shows a vote for ``ℓ``;
* by 1 otherwise — ballots for neither candidate are ignored.

The pair is confirmed once ``T_wℓ ≥ 1/α``; the contest once every pair is. Under the null hypothesis
that ``ℓ`` got at least as many votes as ``w``, ``1/T_wℓ`` is a valid P-value at any stopping time
(Ville's inequality), so :func:`p_value` is ``min(1, 1/T)``.

Assumptions: ballots are drawn independently and uniformly with replacement from all cast ballots; the
reported winner has strictly more votes than each loser. The expected sample size, :func:`asn`, is
equation (5) of the paper (see its docstring); :func:`sample_size` simulates audits instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from tallyproof.errors import InputError
from tallyproof.stats.risk import check_risk_limit

__all__ = [
    "asn",
    "contest_asn",
    "contest_p_value",
    "log_statistic",
    "p_value",
    "sample_size",
    "simulate_stopping_times",
]

_CHUNK = 1024
"""Draws simulated at once per trial; bounds memory at ``trials × _CHUNK`` floats."""


def _winner_share(winner_votes: int, loser_votes: int) -> float:
    """``s_w = V_w / (V_w + V_ℓ)``; the reported winner must lead."""
    if loser_votes < 0 or winner_votes <= loser_votes:
        raise InputError(
            f"the reported winner must have more votes than the loser ({winner_votes} vs {loser_votes})",
            where="reported",
        )
    return winner_votes / (winner_votes + loser_votes)


def log_statistic(winner_votes: int, loser_votes: int, sample_winner: int, sample_loser: int) -> float:
    """``ln T_wℓ = n_w ln(2 s_w) + n_ℓ ln(2 − 2 s_w)`` after ``n_w`` ballots for ``w`` and ``n_ℓ`` for ``ℓ``.

    ``winner_votes`` and ``loser_votes`` are the reported totals, which fix ``s_w``.
    """
    if sample_winner < 0 or sample_loser < 0:
        raise InputError("sampled ballot counts cannot be negative", where="sample")
    s_w = _winner_share(winner_votes, loser_votes)
    up = sample_winner * math.log(2 * s_w)
    if sample_loser == 0:
        return up
    if s_w == 1:  # the loser was reported with no votes: one ballot for the loser refutes that
        return -math.inf
    return up + sample_loser * math.log(2 - 2 * s_w)


def p_value(winner_votes: int, loser_votes: int, sample_winner: int, sample_loser: int) -> float:
    """``min(1, 1/T_wℓ)``: the BRAVO P-value for one winner–loser pair.

    Only the counts are known, not their order, so this is the P-value at the current draw; it is never
    smaller than the running minimum an audit stopping as soon as ``T ≥ 1/α`` would use.
    """
    log_t = log_statistic(winner_votes, loser_votes, sample_winner, sample_loser)
    return 1.0 if log_t <= 0 else math.exp(-log_t)


def contest_p_value(reported: Mapping[str, int], winner: str, sample: Mapping[str, int], *, missing: int = 0) -> float:
    """The largest pairwise P-value between ``winner`` and every other candidate (the contest's risk).

    ``reported`` holds every candidate's reported votes; ``sample`` the ballots for each candidate among
    those drawn (missing candidates count zero; ballots for no candidate need not be listed). ``missing``
    ballots (drawn but not found) count for the loser in *every* pair, the conservative rule (Bañuelos &
    Stark 2012): giving them to one loser alone would leave the other pairs' risk understated.
    """
    _check_candidates(reported, winner)
    if missing < 0:
        raise InputError(f"missing ballots cannot be {missing}", where="missing")
    return max(
        p_value(reported[winner], reported[loser], sample.get(winner, 0), sample.get(loser, 0) + missing)
        for loser in reported
        if loser != winner
    )


def _check_candidates(reported: Mapping[str, int], winner: str) -> None:
    if winner not in reported or len(reported) < 2:
        raise InputError(f"the reported results must list {winner!r} and at least one loser", where="reported")


def asn(risk_limit: float, winner_votes: int, loser_votes: int, ballots: int | None = None) -> int:
    """Average sample number of BRAVO for one pair, equation (5) of the paper, rounded up::

        ASN ≈ (ln(1/α) + z_w / 2) / (p_w z_w + p_ℓ z_ℓ),   z_w = ln(2 s_w),   z_ℓ = ln(2 − 2 s_w)

    where ``p_w = V_w / B`` and ``p_ℓ = V_ℓ / B`` are shares of all ``B`` ballots (``ballots``, by default
    ``V_w + V_ℓ``). It assumes the reported shares are exact. At α = 10% with two candidates it gives
    31, 119 and 470 ballots for winner shares 70%, 60% and 55%.
    """
    check_risk_limit(risk_limit)
    s_w = _winner_share(winner_votes, loser_votes)
    total = winner_votes + loser_votes if ballots is None else ballots
    if total < winner_votes + loser_votes:
        raise InputError(f"{total} ballots cannot hold {winner_votes + loser_votes} votes", where="ballots")
    z_w = math.log(2 * s_w)
    z_l = math.log(2 - 2 * s_w) if s_w < 1 else 0.0
    drift = (winner_votes * z_w + loser_votes * z_l) / total
    return math.ceil((math.log(1 / risk_limit) + z_w / 2) / drift)


def contest_asn(risk_limit: float, reported: Mapping[str, int], winner: str, ballots: int | None = None) -> int:
    """The largest pairwise :func:`asn`: the closest loser sets the expected work."""
    _check_candidates(reported, winner)
    total = sum(reported.values()) if ballots is None else ballots
    return max(asn(risk_limit, reported[winner], reported[loser], total) for loser in reported if loser != winner)


def _increments(reported: Mapping[str, int], winner: str) -> list[tuple[int, float, float]]:
    """Per loser (as a column of the drawn categories): ``(column, ln 2s_w, ln(2 − 2s_w))``."""
    names = list(reported)
    out = []
    for loser in names:
        if loser == winner:
            continue
        s_w = _winner_share(reported[winner], reported[loser])
        out.append((names.index(loser), math.log(2 * s_w), math.log(2 - 2 * s_w) if s_w < 1 else -math.inf))
    return out


def _true_shares(
    reported: Mapping[str, int], true_shares: Mapping[str, float] | None, ballots: int
) -> NDArray[np.float64]:
    if sum(reported.values()) > ballots or min(reported.values()) < 0:
        raise InputError(f"{ballots} ballots cannot hold the reported votes {dict(reported)}", where="ballots")
    shares = {c: v / ballots for c, v in reported.items()} if true_shares is None else true_shares
    p = np.array([shares.get(c, 0.0) for c in reported], dtype=np.float64)
    if (p < 0).any() or p.sum() > 1 + 1e-12 or set(shares) - set(reported):
        raise InputError(
            "true shares must be non-negative, sum to at most 1 and name reported candidates", where="true_shares"
        )
    return p


def _advance(
    for_w: NDArray[np.bool_],
    for_l: NDArray[np.bool_],
    steps: tuple[float, float],
    log_t: NDArray[np.float64],
    first: NDArray[np.float64],
    start: int,
    threshold: float,
) -> None:
    """Walk one pair's ``ln T`` (one row per trial) through a chunk of draws; note first crossings, in place."""
    with np.errstate(invalid="ignore"):
        path = log_t[:, None] + np.cumsum(np.where(for_w, steps[0], 0.0) + np.where(for_l, steps[1], 0.0), axis=1)
    hit = path >= threshold
    crossed = hit.any(axis=1) & np.isinf(first)
    first[crossed] = start + 1 + hit[crossed].argmax(axis=1)
    log_t[:] = path[:, -1]


def simulate_stopping_times(
    *,
    risk_limit: float,
    reported: Mapping[str, int],
    winner: str,
    ballots: int,
    true_shares: Mapping[str, float] | None = None,
    trials: int,
    max_draws: int,
    seed: int,
) -> NDArray[np.float64]:
    """The number of draws after which each of ``trials`` simulated BRAVO audits confirms the contest.

    Ballots are drawn with replacement; a ballot shows candidate ``c`` with probability ``true_shares[c]``
    (default: the reported share ``reported[c] / ballots``) and no candidate with the remaining
    probability. An audit that has not confirmed after ``max_draws`` draws gets ``inf``. The draws come
    from ``numpy.random.default_rng(seed)``, so the result is reproducible.
    """
    check_risk_limit(risk_limit)
    _check_candidates(reported, winner)
    p = _true_shares(reported, true_shares, ballots)
    pairs, threshold = _increments(reported, winner), math.log(1 / risk_limit)
    rng = np.random.default_rng(seed)
    log_t = np.zeros((len(pairs), trials))
    first = np.full((len(pairs), trials), np.inf)
    cut = np.cumsum(p)
    w = list(reported).index(winner)
    for start in range(0, max_draws, _CHUNK):
        width = min(_CHUNK, max_draws - start)
        cat = np.searchsorted(cut, rng.random((trials, width)), side="right")
        for k, pair in enumerate(pairs):
            _advance(cat == w, cat == pair[0], pair[1:], log_t[k], first[k], start, threshold)
        if np.isfinite(first).all():
            break
    stops: NDArray[np.float64] = first.max(axis=0)
    return stops


def sample_size(
    risk_limit: float,
    reported: Mapping[str, int],
    winner: str,
    *,
    ballots: int,
    quantile: float = 0.9,
    trials: int = 1000,
    seed: int,
) -> int:
    """Draws that let a BRAVO audit confirm with probability ``quantile`` if the reported shares are exact.

    Simulated with :func:`simulate_stopping_times`; audits not confirmed within ``ballots`` draws count as
    a full hand count of ``ballots``, so the answer never exceeds ``ballots``.
    """
    if not 0 < quantile <= 1:
        raise InputError(f"the quantile must lie in (0, 1], not {quantile}", where="quantile")
    stops = simulate_stopping_times(
        risk_limit=risk_limit,
        reported=reported,
        winner=winner,
        ballots=ballots,
        trials=trials,
        max_draws=ballots,
        seed=seed,
    )
    q = float(np.quantile(np.minimum(stops, ballots), quantile, method="inverted_cdf"))
    return int(q)
