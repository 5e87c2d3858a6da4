"""The front door of the risk-limiting audits: plan a sample, then measure the risk of the sample so far.

::

    contest = ReportedContest(reported={"A": 6_000, "B": 4_000}, winner="A", ballots=10_200)
    planned = initial_sample_size("bravo", risk_limit=0.1, contest=contest)      # 122
    spec = AuditSpec(method="bravo", risk_limit=0.1, contest=contest, planned=planned)
    assess(spec, PollingSample(votes={"A": 72, "B": 47}, drawn=121)).decision     # "confirm"

Methods (one module each): ``"bravo"`` — ballot polling, :mod:`tallyproof.stats.bravo`;
``"kaplan-markov"`` and ``"alpha"`` — ballot-level comparison, :mod:`tallyproof.stats.comparison`;
``"batch"`` — batch-level comparison of tables' boxes, :mod:`tallyproof.stats.batch`.

The decision is ``"confirm"`` once the P-value is at most the risk limit; otherwise ``"continue"`` while
fewer than ``planned`` ballots (or batches) have been examined, and ``"full hand count"`` after: the
audit could not confirm the outcome within its plan, so the recourse is to count every ballot by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tallyproof.errors import InputError
from tallyproof.stats import batch, bravo, comparison
from tallyproof.stats.risk import check_risk_limit

__all__ = [
    "AuditSpec",
    "AuditStatus",
    "BatchSample",
    "ComparisonSample",
    "PollingSample",
    "ReportedContest",
    "assess",
    "initial_sample_size",
]

Method = Literal["bravo", "kaplan-markov", "alpha", "batch"]
Decision = Literal["confirm", "continue", "full hand count"]


@dataclass(frozen=True, slots=True)
class ReportedContest:
    """A contest as reported: votes per candidate, the reported winner and the ballots cast (``N``)."""

    reported: Mapping[str, int]
    winner: str
    ballots: int

    @property
    def diluted_margin(self) -> float:
        """``min_ℓ (V_w − V_ℓ) / N``: the smallest margin over the reported losers, per ballot cast."""
        losers = [v for c, v in self.reported.items() if c != self.winner]
        if self.winner not in self.reported or not losers or self.ballots <= 0:
            raise InputError(f"the contest must list {self.winner!r}, a loser and ballots cast", where="contest")
        return (self.reported[self.winner] - max(losers)) / self.ballots


@dataclass(frozen=True, slots=True)
class PollingSample:
    """Ballot polling: the ballots drawn so far and, among them, the ballots showing each candidate."""

    votes: Mapping[str, int]
    drawn: int
    missing: int = 0
    """Ballots drawn but not found: a vote for the loser in every pair."""


@dataclass(frozen=True, slots=True)
class ComparisonSample:
    """Ballot-level comparison: each drawn ballot's discrepancy in votes, in draw order.

    A discrepancy is the largest overstatement of any winner–loser margin on that ballot (2 for a ballot
    that cannot be found). ``with_replacement=False`` lets ALPHA use the finite population.
    """

    errors: tuple[int, ...]
    with_replacement: bool = True


@dataclass(frozen=True, slots=True)
class BatchSample:
    """Batch-level comparison: the taints of the batches drawn (PPEB) and the total error bound ``U``."""

    taints: tuple[float, ...]
    total_error_bound: float


Sample = PollingSample | ComparisonSample | BatchSample


@dataclass(frozen=True, slots=True)
class AuditSpec:
    """What is audited and how: the method, the risk limit, the contest, the planned sample size."""

    method: Method
    risk_limit: float
    contest: ReportedContest
    planned: int


@dataclass(frozen=True, slots=True)
class AuditStatus:
    """The measured risk (a P-value) after ``examined`` ballots or batches, and what to do next."""

    method: Method
    risk: float
    risk_limit: float
    examined: int
    planned: int
    decision: Decision


def initial_sample_size(
    method: Method, *, risk_limit: float, contest: ReportedContest, total_error_bound: float | None = None
) -> int:
    """The sample to plan for if the reported results are exact.

    BRAVO: equation (5) of the paper for the closest loser; Kaplan–Markov: ``⌈ln α / ln(1 − μ/(2γ))⌉``;
    ALPHA: the deterministic no-error run; batch: ``⌈ln α / ln(1 − 1/U)⌉`` (needs ``total_error_bound``).
    """
    if method == "bravo":
        return bravo.contest_asn(risk_limit, contest.reported, contest.winner, contest.ballots)
    if method == "kaplan-markov":
        return comparison.kaplan_markov_sample_size(
            risk_limit=risk_limit, diluted_margin=contest.diluted_margin, ballots=contest.ballots
        )
    if method == "alpha":
        return comparison.alpha_sample_size_no_errors(
            risk_limit=risk_limit, diluted_margin=contest.diluted_margin, ballots=contest.ballots
        )
    if total_error_bound is None:
        raise InputError("a batch audit needs the total error bound U", where="total_error_bound")
    return batch.sample_size(total_error_bound, risk_limit)


def _risk(spec: AuditSpec, sample: Sample) -> tuple[float, int]:
    """``(P-value, ballots or batches examined)``; the sample's kind must match the method."""
    contest = spec.contest
    if spec.method == "bravo" and isinstance(sample, PollingSample):
        if sample.drawn < sum(sample.votes.values()) + sample.missing:
            raise InputError(
                f"{sample.drawn} ballots drawn cannot show {sum(sample.votes.values())} votes", where="sample"
            )
        p = bravo.contest_p_value(contest.reported, contest.winner, sample.votes, missing=sample.missing)
        return p, sample.drawn
    if spec.method == "kaplan-markov" and isinstance(sample, ComparisonSample):
        found = comparison.Discrepancies.count(list(sample.errors))
        n = len(sample.errors)
        return comparison.kaplan_markov_p_value(sample_size=n, diluted_margin=contest.diluted_margin, found=found), n
    if spec.method == "alpha" and isinstance(sample, ComparisonSample):
        population = None if sample.with_replacement else contest.ballots
        p = comparison.alpha_comparison_p_value(
            list(sample.errors), diluted_margin=contest.diluted_margin, population=population
        )
        return p, len(sample.errors)
    if spec.method == "batch" and isinstance(sample, BatchSample):
        return batch.kaplan_markov_p_value(sample.total_error_bound, sample.taints), len(sample.taints)
    raise InputError(f"a {type(sample).__name__} cannot be assessed by the {spec.method!r} method", where="sample")


def assess(spec: AuditSpec, sample: Sample) -> AuditStatus:
    """The running risk of the audit and its decision: confirm, continue, or a full hand count."""
    check_risk_limit(spec.risk_limit)
    if spec.planned < 0:
        raise InputError(f"the planned sample cannot be {spec.planned}", where="planned")
    risk, examined = _risk(spec, sample)
    decision: Decision
    if risk <= spec.risk_limit:
        decision = "confirm"
    elif examined < spec.planned:
        decision = "continue"
    else:
        decision = "full hand count"
    return AuditStatus(spec.method, risk, spec.risk_limit, examined, spec.planned, decision)
