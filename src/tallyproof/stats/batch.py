"""Batch-level comparison audits: MACRO taints, PPEB sampling and the Kaplan–Markov P-value.

A batch is one table's box of receipts: the reported tally sheet gives its votes, a hand count of the
box gives the audited votes. Following Stark (2008, "A sharper discrepancy measure for post-election
audits") and Stark (2009, "Risk-limiting post-election audits: P-values from common probability
inequalities"), for every contest ``c``, reported winner ``w`` and reported loser ``ℓ`` with reported
contest-wide margin ``V_wℓ = V_w − V_ℓ > 0``, batch ``p`` with ``b_p`` ballots has

* error bound ``u_p = max_{c,w,ℓ} (v_pw − v_pℓ + b_p) / V_wℓ`` — the most the batch could overstate
  any margin, as a fraction of that margin;
* MACRO, the maximum across-contest relative overstatement,
  ``e_p = max_{c,w,ℓ} ((v_pw − v_pℓ) − (a_pw − a_pℓ)) / V_wℓ`` (``v`` reported, ``a`` audited);
* taint ``t_p = e_p / u_p ≤ 1``.

The outcome of every contest is right if ``Σ_p e_p < 1``. Batches are drawn with replacement with
probability ``u_p / U``, ``U = Σ_p u_p`` (PPEB, "probability proportional to error bound"); then
``E t = Σ e_p / U`` and a wrong outcome means ``E t ≥ 1/U``. The Kaplan–Markov P-value after drawing
taints ``t_1..t_n`` is

    P = ∏_j (1 − 1/U) / (1 − t_j)         (capped at 1)

``1/P`` is a non-negative supermartingale under the null, so ``P`` is valid at any stopping time.
Without taints, ``n = ⌈ln α / ln(1 − 1/U)⌉`` batches suffice.

Assumptions: ``b_p`` bounds the ballots in the box (use the registered electors of a table when the
number of voters is in doubt; a larger ``b_p`` is conservative); the reported winners lead every
reported loser; batches are drawn with :func:`select_batches` from a public seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from tallyproof.errors import InputError
from tallyproof.stats.risk import check_risk_limit
from tallyproof.stats.sampling import draw_weighted

__all__ = [
    "Batch",
    "ContestResult",
    "error_bound",
    "kaplan_markov_p_value",
    "overstatement",
    "sample_size",
    "select_batches",
    "taint",
    "total_error_bound",
]

Votes = Mapping[str, int]
"""Votes per candidate."""


@dataclass(frozen=True, slots=True)
class ContestResult:
    """A contest's reported result over all batches: votes per candidate and the reported winners."""

    votes: Votes
    winners: frozenset[str]


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch (a table's box): an upper bound on its ballots and its reported votes per contest."""

    id: str
    ballots: int
    votes: Mapping[str, Votes]


def _pairs(contests: Mapping[str, ContestResult]) -> Iterator[tuple[str, str, str, int]]:
    """``(contest, winner, loser, V_wℓ)`` for every reported winner–loser pair."""
    for cid, contest in contests.items():
        if not contest.winners or not contest.winners <= set(contest.votes):
            raise InputError(f"winners {sorted(contest.winners)} must be candidates of the contest", where=cid)
        for w in sorted(contest.winners):
            for loser in sorted(set(contest.votes) - contest.winners):
                margin = contest.votes[w] - contest.votes[loser]
                if margin <= 0:
                    raise InputError(f"reported winner {w!r} does not lead {loser!r}", where=cid)
                yield cid, w, loser, margin


def _diff(votes: Mapping[str, Votes], contest: str, w: str, loser: str) -> int:
    counts = votes.get(contest, {})
    return counts.get(w, 0) - counts.get(loser, 0)


def error_bound(batch: Batch, contests: Mapping[str, ContestResult]) -> Fraction:
    """``u_p = max (v_pw − v_pℓ + b_p) / V_wℓ`` over contests and winner–loser pairs."""
    if batch.ballots < 0:
        raise InputError(f"a batch cannot hold {batch.ballots} ballots", where=batch.id)
    return max(Fraction(_diff(batch.votes, c, w, lo) + batch.ballots, m) for c, w, lo, m in _pairs(contests))


def overstatement(batch: Batch, audited: Mapping[str, Votes], contests: Mapping[str, ContestResult]) -> Fraction:
    """MACRO ``e_p = max ((v_pw − v_pℓ) − (a_pw − a_pℓ)) / V_wℓ``; negative if every margin was understated."""
    return max(Fraction(_diff(batch.votes, c, w, lo) - _diff(audited, c, w, lo), m) for c, w, lo, m in _pairs(contests))


def taint(batch: Batch, audited: Mapping[str, Votes], contests: Mapping[str, ContestResult]) -> Fraction:
    """``t_p = e_p / u_p``: at most 1 when the audited box holds no more than ``b_p`` ballots."""
    bound = error_bound(batch, contests)
    if bound <= 0:
        raise InputError("a batch whose error bound is zero cannot be drawn", where=batch.id)
    out = overstatement(batch, audited, contests) / bound
    if out > 1:
        raise InputError(f"the audited votes exceed the {batch.ballots} ballots the batch may hold", where=batch.id)
    return out


def total_error_bound(batches: Sequence[Batch], contests: Mapping[str, ContestResult]) -> Fraction:
    """``U = Σ_p u_p`` over every batch of the election (not only the sampled ones)."""
    return sum((error_bound(b, contests) for b in batches), Fraction(0))


def _log_step(total: float | Fraction) -> float:
    """``ln(1 − 1/U)``; ``−inf`` when ``U ≤ 1``, where no set of batches can overturn the outcome but by
    every batch at its bound, so any batch with taint below 1 refutes the null."""
    if total <= 0:
        raise InputError(f"the total error bound must be positive, not {float(total)}", where="total")
    return math.log1p(-1 / float(total)) if total > 1 else -math.inf


def kaplan_markov_p_value(total: float | Fraction, taints: Sequence[float | Fraction]) -> float:
    """``min(1, ∏_j (1 − 1/U) / (1 − t_j))`` for the taints of the drawn batches, in any order."""
    step, log_p = _log_step(total), 0.0
    for t in taints:
        if t > 1:
            raise InputError(f"a taint cannot exceed 1, got {float(t)}", where="taints")
        if t == 1:
            return 1.0
        log_p += step - math.log1p(-float(t))
    return 1.0 if log_p >= 0 else math.exp(log_p)


def sample_size(total: float | Fraction, risk_limit: float, *, expected_taint: float = 0.0) -> int:
    """Batches to draw so ``P ≤ α`` if each shows ``expected_taint``: ``⌈ln α / (ln(1 − 1/U) − ln(1 − t))⌉``.

    Raises :class:`~tallyproof.errors.InputError` if that taint leaves nothing to confirm (``t ≥ 1/U``).
    """
    check_risk_limit(risk_limit)
    if expected_taint >= 1:
        raise InputError(f"an expected taint of {expected_taint} leaves nothing to confirm", where="expected_taint")
    slope = _log_step(total) - math.log1p(-expected_taint)
    if slope >= 0:
        raise InputError(f"an expected taint of {expected_taint} leaves nothing to confirm", where="expected_taint")
    return max(0, math.ceil(math.log(risk_limit) / slope))


def select_batches(seed: str, batches: Sequence[Batch], contests: Mapping[str, ContestResult], k: int) -> list[str]:
    """``k`` batch ids drawn with replacement, PPEB (probability ``u_p / U``), from the public seed.

    Uses :func:`tallyproof.stats.sampling.draw_weighted` with the exact error bounds as weights, so anyone
    can re-derive the draw from the seed, the reported votes and the ballot counts.
    """
    if len({b.id for b in batches}) != len(batches):
        raise InputError("batch ids must be distinct", where="batches")
    return draw_weighted(seed, {b.id: error_bound(b, contests) for b in batches}, k)
