"""Ballot-level comparison audits: the Kaplan–Markov bound and ALPHA on overstatement assorters.

A comparison audit draws ballots uniformly and compares each paper ballot with the machine's record
of it. For a winner ``w`` and a loser ``ℓ`` the discrepancy of a ballot, in votes, is

    e = (reported vote for w − reported vote for ℓ) − (audited vote for w − audited vote for ℓ)

in ``{−2, −1, 0, 1, 2}``: ``o1``/``o2`` count 1- and 2-vote overstatements (``e = 1, 2``), ``u1``/``u2``
understatements (``e = −1, −2``). The diluted margin is ``μ = (V_w − V_ℓ) / N`` over all ``N`` ballots.

**Kaplan–Markov** (Stark 2009, "Risk-limiting post-election audits: P-values from common probability
inequalities"; Stark 2010, "Super-simple simultaneous single-ballot risk-limiting audits"). A ballot
overstates the margin ``V = V_w − V_ℓ`` by at most 2 votes, ``2/V`` in units of the margin; that bound
is inflated to ``2γ/V`` (``γ ≥ 1`` buys robustness to understatements; ``γ = 1.03905`` is the value of
the Colorado RLA tool and Arlo), so the total error bound is ``U = N · 2γ/V = 2γ/μ`` and the taint of a
ballot is ``(e/V) / (2γ/V) = e/(2γ)``. The P-value after
``n`` ballots is the product ``∏ (1 − 1/U) / (1 − t_i)``::

    P = (1 − μ/(2γ))^n · (1 − 1/(2γ))^(−o1) · (1 − 1/γ)^(−o2) · (1 + 1/(2γ))^(−u1) · (1 + 1/γ)^(−u2)

and the sample size without discrepancies is the smallest ``n`` with ``(1 − μ/(2γ))^n ≤ α``:
``n = ⌈ln α / ln(1 − μ/(2γ))⌉`` — 91 at α = 10%, μ = 5%, γ = 1 and 95 at γ = 1.03905. (The linear
approximation ``−2γ ln α / μ`` of the super-simple paper gives 93 and 96.)

**ALPHA** (Stark 2023, "ALPHA: Audit that Learns from Previously Hand-Audited Ballots") on the
SHANGRLA overstatement assorter (Stark 2020): for the plurality assorter ``A`` (1 for ``w``, 0 for
``ℓ``, 1/2 otherwise; upper bound ``u_A = 1``) the overstatement of a ballot is ``ω = e/2`` and

    B = (1 − ω/u_A) / (2 − v/u_A),   v = μ (the reported assorter margin),   0 ≤ B ≤ 2/(2 − v)

The reported outcome is right if the mean of ``B`` over all ballots exceeds 1/2; :func:`alpha_p_values`
tests the null "mean ≤ 1/2" with the ALPHA martingale and the truncated shrinkage estimator of ``η``.

Assumptions: ballots are drawn uniformly at random (with replacement for Kaplan–Markov; with or
without replacement for ALPHA), **the discrepancies are given in draw order** for ALPHA, and a ballot
that cannot be found counts as a 2-vote overstatement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tallyproof.errors import InputError
from tallyproof.stats.risk import check_risk_limit

__all__ = [
    "COMPARISON_D",
    "GAMMA",
    "Discrepancies",
    "DiscrepancyRates",
    "alpha_comparison_p_value",
    "alpha_log_statistic",
    "alpha_p_values",
    "alpha_sample_size",
    "alpha_sample_size_no_errors",
    "comparison_eta0",
    "kaplan_markov_p_value",
    "kaplan_markov_sample_size",
    "overstatement_assorter",
]

GAMMA = 1.03905
"""The error inflation factor γ of the Colorado RLA tool and Arlo's super-simple audits."""


@dataclass(frozen=True, slots=True)
class Discrepancies:
    """Ballots in the sample with a 1- or 2-vote overstatement (``o1``, ``o2``) or understatement (``u1``, ``u2``)."""

    o1: int = 0
    o2: int = 0
    u1: int = 0
    u2: int = 0

    @classmethod
    def count(cls, errors: Sequence[int]) -> Discrepancies:
        """Tally a sequence of per-ballot discrepancies ``e`` in votes (each in −2..2)."""
        if any(e not in (-2, -1, 0, 1, 2) for e in errors):
            raise InputError("a ballot's discrepancy is a whole number of votes from −2 to 2", where="errors")
        return cls(errors.count(1), errors.count(2), errors.count(-1), errors.count(-2))


@dataclass(frozen=True, slots=True)
class DiscrepancyRates:
    """Expected fraction of sampled ballots with each kind of discrepancy, for planning."""

    o1: float = 0.0
    o2: float = 0.0
    u1: float = 0.0
    u2: float = 0.0


def _check_margin(diluted_margin: float) -> None:
    if not 0 < diluted_margin <= 1:
        raise InputError(f"the diluted margin must lie in (0, 1], not {diluted_margin}", where="diluted_margin")


def _log_factors(gamma: float) -> tuple[float, float, float, float]:
    """``ln`` of the per-ballot factors for o1, o2, u1, u2 (``−inf`` for o2 when ``γ = 1``)."""
    if gamma < 1:
        raise InputError(f"gamma must be at least 1, not {gamma}", where="gamma")
    o2 = math.log(1 - 1 / gamma) if gamma > 1 else -math.inf
    return math.log(1 - 1 / (2 * gamma)), o2, math.log(1 + 1 / (2 * gamma)), math.log(1 + 1 / gamma)


def _log_p(n: int, diluted_margin: float, found: Discrepancies, gamma: float) -> float:
    """``ln P`` of Kaplan–Markov; a 2-vote overstatement at ``γ = 1`` makes ``P = 1``."""
    factors = zip((found.o1, found.o2, found.u1, found.u2), _log_factors(gamma), strict=True)
    if found.o2 and gamma == 1:
        return 0.0
    return n * math.log(1 - diluted_margin / (2 * gamma)) - sum(k * f for k, f in factors if k)


def kaplan_markov_p_value(
    *, sample_size: int, diluted_margin: float, found: Discrepancies = Discrepancies(), gamma: float = GAMMA
) -> float:
    """The Kaplan–Markov P-value after ``sample_size`` ballots with the discrepancies ``found``, capped at 1."""
    _check_margin(diluted_margin)
    if sample_size < found.o1 + found.o2 + found.u1 + found.u2 or min(found.o1, found.o2, found.u1, found.u2) < 0:
        raise InputError(f"{sample_size} ballots cannot hold the discrepancies {found}", where="found")
    return min(1.0, math.exp(min(0.0, _log_p(sample_size, diluted_margin, found, gamma))))


def kaplan_markov_sample_size(
    *,
    risk_limit: float,
    diluted_margin: float,
    gamma: float = GAMMA,
    rates: DiscrepancyRates = DiscrepancyRates(),
    ballots: int | None = None,
) -> int:
    """Ballots to audit so the Kaplan–Markov P-value reaches ``α`` if discrepancies occur at the expected ``rates``.

    A sample of ``n`` is taken to hold ``r·n`` discrepancies of each kind (expected counts, not rounded),
    so ``ln P`` is linear in ``n`` and::

        n = ⌈ ln α / ( ln(1 − μ/(2γ)) − r_o1 ln(1 − 1/(2γ)) − r_o2 ln(1 − 1/γ)
                       − r_u1 ln(1 + 1/(2γ)) − r_u2 ln(1 + 1/γ) ) ⌉

    With no discrepancies this is ``⌈ln α / ln(1 − μ/(2γ))⌉``: 91 ballots at α = 10%, μ = 5%, γ = 1, and
    95 at γ = 1.03905. The answer is capped at ``ballots`` (a full hand count) when given; if the
    expected overstatements outweigh the margin it is ``ballots``, or an
    :class:`~tallyproof.errors.InputError` when ``ballots`` is not given.
    """
    check_risk_limit(risk_limit)
    _check_margin(diluted_margin)
    logs = _log_factors(gamma)
    rate_terms = zip((rates.o1, rates.o2, rates.u1, rates.u2), logs, strict=True)
    slope = math.log(1 - diluted_margin / (2 * gamma)) - sum(r * f for r, f in rate_terms if r)
    if slope >= 0:
        if ballots is None:
            raise InputError(f"expected discrepancies {rates} leave no margin to confirm", where="rates")
        return ballots
    n = math.ceil(math.log(risk_limit) / slope)
    return n if ballots is None else min(n, ballots)


def overstatement_assorter(errors: ArrayLike, *, diluted_margin: float) -> NDArray[np.float64]:
    """``B = (1 − e/2) / (2 − v)`` for per-ballot discrepancies ``e`` in votes (plurality assorter, ``u_A = 1``)."""
    _check_margin(diluted_margin)
    e = np.asarray(errors, dtype=np.float64)
    if ((e < -2) | (e > 2)).any():
        raise InputError("a ballot's discrepancy lies between −2 and 2 votes", where="errors")
    out: NDArray[np.float64] = (1 - e / 2) / (2 - diluted_margin)
    return out


def _mu(
    s: NDArray[np.float64], j: NDArray[np.float64], null_mean: float, population: int | None
) -> NDArray[np.float64]:
    """``μ_j``: the mean of the ballots not yet drawn if the null mean ``t`` were exactly true."""
    if population is None:
        return np.full_like(s, null_mean)
    out: NDArray[np.float64] = (population * null_mean - s) / (population - j + 1)
    return out


def alpha_log_statistic(
    x: ArrayLike,
    *,
    upper: float,
    null_mean: float = 0.5,
    population: int | None = None,
    eta0: float,
    d: float = 100.0,
    c: float | None = None,
) -> NDArray[np.float64]:
    """``ln T_j`` of the ALPHA martingale for each prefix of the draws ``x`` (a row per simulated audit).

    With ``S_j = x_1 + … + x_{j−1}``, ``μ_j`` the null mean of the undrawn ballots (``t`` with
    replacement, ``(N t − S_j)/(N − j + 1)`` without) and ALPHA's truncated shrinkage estimator (SHANGRLA's
    ``NonnegMean.shrink_trunc`` with ``f = 0``)::

        η_j = min( max( (d η_0 + S_j)/(d + j − 1),  μ_j + c/√(d + j − 1) ),  u (1 − ε) )
        T_j = T_{j−1} · ( x_j η_j/μ_j + (u − x_j)(u − η_j)/(u − μ_j) ) / u

    ``c`` defaults to ``(η_0 − t)/2`` and ``d`` to 100, SHANGRLA's defaults. Once ``μ_j < 0``, or
    ``μ_j = 0`` and a positive ``x_j`` is drawn, the null is impossible (``+inf`` from there on); at
    ``μ_j = 0`` with ``x_j = 0`` the factor is 1; once ``μ_j ≥ u`` the null is certain (``−inf``).
    """
    xs = np.atleast_2d(np.asarray(x, dtype=np.float64))
    _check_alpha(xs, upper, null_mean, population, eta0)
    c = (eta0 - null_mean) / 2 if c is None else c
    j = np.arange(1, xs.shape[1] + 1, dtype=np.float64)
    s = np.cumsum(xs, axis=1) - xs
    mu = _mu(s, j, null_mean, population)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.minimum(np.maximum((d * eta0 + s) / (d + j - 1), mu + c / np.sqrt(d + j - 1)), upper * (1 - 1e-15))
        term = (xs * eta / mu + (upper - xs) * (upper - eta) / (upper - mu)) / upper
        log_t = np.cumsum(np.log(np.where((mu > 0) & (mu < upper), term, 1.0)), axis=1)
    log_t = np.where(np.maximum.accumulate(mu >= upper, axis=1), -np.inf, log_t)
    impossible = (mu < 0) | ((mu == 0) & (xs > 0))  # at μ_j = 0 only zeros remain under the null
    out: NDArray[np.float64] = np.where(np.maximum.accumulate(impossible, axis=1), np.inf, log_t)
    return out


def _check_alpha(xs: NDArray[np.float64], upper: float, null_mean: float, population: int | None, eta0: float) -> None:
    if not 0 < null_mean < upper:
        raise InputError(
            f"the null mean {null_mean} must lie strictly between 0 and the upper bound {upper}", where="null_mean"
        )
    if not null_mean < eta0 <= upper:
        raise InputError(f"eta0 = {eta0} must lie in (t, u] = ({null_mean}, {upper}]", where="eta0")
    if xs.size and (xs.min() < 0 or xs.max() > upper):
        raise InputError(f"draws must lie in [0, {upper}]", where="x")
    if population is not None and xs.shape[1] > population:
        raise InputError(f"{xs.shape[1]} draws without replacement from {population} ballots", where="population")


def alpha_p_values(
    x: ArrayLike,
    *,
    upper: float,
    null_mean: float = 0.5,
    population: int | None = None,
    eta0: float,
    d: float = 100.0,
    c: float | None = None,
) -> NDArray[np.float64]:
    """The sequentially valid P-value after each draw, ``min(1, 1 / max_{k≤j} T_k)`` (one audit: 1-D in, 1-D out)."""
    log_t = alpha_log_statistic(x, upper=upper, null_mean=null_mean, population=population, eta0=eta0, d=d, c=c)[0]
    best = np.maximum.accumulate(np.maximum(log_t, 0.0)) if log_t.size else log_t
    out: NDArray[np.float64] = np.exp(-best)
    return out


def comparison_eta0(diluted_margin: float, two_vote_rate: float = 1e-4) -> float:
    """``η_0`` for comparison audits: the log-optimal (Kelly) bet if a fraction ``p₂`` of ballots overstate by 2 votes.

    With ``u = 2/(2 − v)``, clean ballots give ``B = u/2`` and 2-vote overstatements ``B = 0``; maximising
    the expected log-growth of ``1 + λ(B − 1/2)`` gives ``λ = 2(1 − p₂) − 2p₂/(u − 1)``, that is
    ``η = 1/2 + λ(u − 1/2)/2`` — the same value as SHANGRLA's ``NonnegMean.optimal_comparison``.
    """
    _check_margin(diluted_margin)
    u = 2 / (2 - diluted_margin)
    lam = 2 * (1 - two_vote_rate) - 2 * two_vote_rate / (u - 1)
    eta = 0.5 + lam * (u - 0.5) / 2
    if not 0.5 < eta <= u:
        raise InputError(
            f"a 2-vote overstatement rate of {two_vote_rate} leaves nothing to bet on", where="two_vote_rate"
        )
    return eta


COMPARISON_D = 1000.0
"""Default ``d`` for comparison audits. Even with perfect CVRs the mean of ``B`` is ``1/(2 − v)``, barely
above 1/2, while the best bet sits near the upper bound ``u``; shrinking ``η`` toward the sample mean at
SHANGRLA's polling default ``d = 100`` would weaken the bet within a few hundred draws."""


def alpha_comparison_p_value(
    errors: Sequence[int],
    *,
    diluted_margin: float,
    population: int | None = None,
    eta0: float | None = None,
    d: float = COMPARISON_D,
) -> float:
    """The ALPHA P-value of a comparison audit after the per-ballot discrepancies ``errors`` (votes, draw order)."""
    if not errors:
        return 1.0
    x = overstatement_assorter(list(errors), diluted_margin=diluted_margin)
    eta = comparison_eta0(diluted_margin) if eta0 is None else eta0
    upper = 2 / (2 - diluted_margin)
    return float(alpha_p_values(x, upper=upper, population=population, eta0=eta, d=d)[-1])


def _first_confirmation(log_t: NDArray[np.float64], risk_limit: float) -> NDArray[np.float64]:
    """Per row, the 1-based draw at which ``T ≥ 1/α`` first holds (``inf`` if never)."""
    hit = log_t >= math.log(1 / risk_limit)
    out: NDArray[np.float64] = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1.0, np.inf)
    return out


def alpha_sample_size_no_errors(
    *,
    risk_limit: float,
    diluted_margin: float,
    ballots: int,
    population: int | None = None,
    eta0: float | None = None,
    d: float = COMPARISON_D,
) -> int:
    """Draws after which ALPHA confirms if every sampled ballot matches its CVR (``B = 1/(2 − v)`` each time).

    Deterministic: the martingale is run on the constant sequence. Capped at ``ballots`` (a full hand
    count). ``population`` switches to sampling without replacement from that many ballots.
    """
    check_risk_limit(risk_limit)
    eta = comparison_eta0(diluted_margin) if eta0 is None else eta0
    cap = ballots if population is None else min(ballots, population)
    n = min(256, cap)
    while True:
        x = np.full(n, 1 / (2 - diluted_margin))
        log_t = alpha_log_statistic(x, upper=2 / (2 - diluted_margin), population=population, eta0=eta, d=d)
        first = _first_confirmation(log_t, risk_limit)[0]
        if math.isfinite(first):
            return int(first)
        if n >= cap:
            return ballots
        n = min(4 * n, cap)


def alpha_sample_size(
    *,
    risk_limit: float,
    diluted_margin: float,
    rates: DiscrepancyRates,
    ballots: int,
    max_draws: int,
    quantile: float = 0.9,
    trials: int = 1000,
    eta0: float | None = None,
    d: float = COMPARISON_D,
    seed: int,
) -> int:
    """Draws that let ALPHA confirm with probability ``quantile`` when discrepancies occur at ``rates``.

    Each simulated ballot, drawn with replacement, overstates by 1 or 2 votes or understates by 1 or 2
    with the given probabilities (``numpy.random.default_rng(seed)``). Audits not confirmed within
    ``max_draws`` count as a full hand count of ``ballots``.
    """
    check_risk_limit(risk_limit)
    probs = np.array([rates.o1, rates.o2, rates.u1, rates.u2])
    if (probs < 0).any() or probs.sum() > 1:
        raise InputError(f"discrepancy rates must be non-negative and sum to at most 1: {rates}", where="rates")
    rng = np.random.default_rng(seed)
    cut = np.cumsum(probs)
    kind = np.searchsorted(cut, rng.random((trials, max_draws)), side="right")
    errors = np.array([1, 2, -1, -2, 0])[kind]
    x = overstatement_assorter(errors, diluted_margin=diluted_margin)
    eta = comparison_eta0(diluted_margin) if eta0 is None else eta0
    log_t = alpha_log_statistic(x, upper=2 / (2 - diluted_margin), eta0=eta, d=d)
    stops = np.minimum(_first_confirmation(log_t, risk_limit), ballots)
    return int(np.quantile(stops, quantile, method="inverted_cdf"))
