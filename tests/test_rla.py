"""Risk-limiting audits: published values, the risk limit under wrong outcomes, and the front door."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import binom

from tallyproof.errors import InputError
from tallyproof.stats import batch, bravo, comparison
from tallyproof.stats.audit import (
    AuditSpec,
    BatchSample,
    ComparisonSample,
    PollingSample,
    ReportedContest,
    assess,
    initial_sample_size,
)
from tallyproof.stats.comparison import Discrepancies, DiscrepancyRates

# --- BRAVO (Lindeman, Stark & Yates 2012) -------------------------------------------------------


@pytest.mark.parametrize(("winner_share", "expected"), [(70, 31), (60, 119), (55, 470)])
def test_bravo_asn_reproduces_published_values_at_risk_limit_10_percent(winner_share: int, expected: int) -> None:
    assert bravo.asn(0.1, winner_share, 100 - winner_share) == expected


def test_bravo_p_value_after_72_winner_and_47_loser_ballots_reported_60_40_is_0_0714037() -> None:
    assert bravo.p_value(60, 40, 72, 47) == pytest.approx(0.0714037, abs=5e-8)
    assert bravo.p_value(60, 40, 72, 47) == pytest.approx(1 / (1.2**72 * 0.8**47), rel=1e-12)


def test_bravo_ignores_ballots_for_neither_candidate_of_the_pair() -> None:
    reported = {"A": 6000, "B": 4000}
    assert bravo.contest_p_value(reported, "A", {"A": 72, "B": 47, "blank": 500}) == bravo.p_value(6000, 4000, 72, 47)
    assert bravo.contest_p_value(reported | {"C": 2000}, "A", {"A": 72, "B": 47}) == bravo.p_value(6000, 4000, 72, 47)


def test_bravo_contest_risk_is_the_largest_pairwise_p_value() -> None:
    reported = {"A": 6000, "B": 4000, "C": 1000}
    sample = {"A": 72, "B": 47, "C": 3}
    expected = max(bravo.p_value(6000, 4000, 72, 47), bravo.p_value(6000, 1000, 72, 3))
    assert bravo.contest_p_value(reported, "A", sample) == expected


def test_bravo_p_value_is_capped_at_one_and_a_ballot_for_a_zero_vote_loser_refutes_it() -> None:
    assert bravo.p_value(60, 40, 0, 50) == 1.0
    assert bravo.p_value(10, 0, 100, 1) == 1.0
    assert bravo.p_value(10, 0, 4, 0) == pytest.approx(1 / 16)


def test_bravo_asn_counts_ballots_for_no_candidate() -> None:
    # Shares of all ballots: with 20% of ballots for neither, a 60/40 split needs 119 / 0.8 ≈ 149.
    assert bravo.asn(0.1, 480, 320, ballots=1000) == math.ceil(118.88178890322517 / 0.8)


def test_bravo_simulated_mean_stopping_time_is_close_to_the_asn() -> None:
    stops = bravo.simulate_stopping_times(
        risk_limit=0.1, reported={"W": 60, "L": 40}, winner="W", ballots=100, trials=2000, max_draws=5000, seed=11
    )
    assert np.isfinite(stops).all()
    assert stops.mean() == pytest.approx(bravo.asn(0.1, 60, 40), rel=0.05)


def test_bravo_sample_size_quantile_grows_with_the_quantile_and_stays_within_the_ballots() -> None:
    reported = {"W": 5500, "L": 4500}
    median = bravo.sample_size(0.1, reported, "W", ballots=10_000, quantile=0.5, seed=5)
    high = bravo.sample_size(0.1, reported, "W", ballots=10_000, quantile=0.9, seed=5)
    assert 200 < median < 470 < high <= 10_000


RISK_TRIALS = 1000
TIE_ALLOWANCE = int(binom.ppf(0.999, RISK_TRIALS, 0.1))
"""At an exact tie the risk of these audits is the risk limit itself, less only the overshoot (BRAVO ≈ 0.100,
ALPHA ≈ 0.100, batch ≈ 0.090 in 20,000 or more simulated audits each), so the count of confirmations among
1,000 is Binomial(1000, ≤ 0.1): we allow its 99.9th percentile, 130, rather than hunt for a seed that
happens to land under 100."""


def _bravo_confirmations(truth: dict[str, float]) -> int:
    stops = bravo.simulate_stopping_times(
        risk_limit=0.1,
        reported={"W": 55, "L": 45},
        winner="W",
        ballots=100,
        true_shares=truth,
        trials=RISK_TRIALS,
        max_draws=10_000,
        seed=20240728,
    )
    return int(np.isfinite(stops).sum())


def test_bravo_confirms_a_reversed_55_45_outcome_in_at_most_10_percent_of_1000_audits() -> None:
    assert _bravo_confirmations({"W": 0.45, "L": 0.55}) <= 0.10 * RISK_TRIALS


def test_bravo_confirms_a_55_45_outcome_that_was_a_tie_no_more_often_than_the_risk_limit_allows() -> None:
    assert _bravo_confirmations({"W": 0.5, "L": 0.5}) <= TIE_ALLOWANCE


def test_bravo_confirms_a_right_55_45_outcome_in_nearly_every_simulated_audit() -> None:
    # The counterpart of the risk test: the simulation does confirm when the outcome is right.
    stops = bravo.simulate_stopping_times(
        risk_limit=0.1, reported={"W": 55, "L": 45}, winner="W", ballots=100, trials=1000, max_draws=3000, seed=7
    )
    assert np.isfinite(stops).mean() >= 0.99


def test_bravo_rejects_a_reported_winner_who_does_not_lead() -> None:
    with pytest.raises(InputError) as err:
        bravo.asn(0.1, 50, 50)
    assert err.value.where == "reported"


# --- Ballot-level comparison: Kaplan–Markov -----------------------------------------------------


@pytest.mark.parametrize(("gamma", "expected"), [(1.0, 91), (1.03905, 95)])
def test_kaplan_markov_sample_size_without_discrepancies_at_margin_5_percent(gamma: float, expected: int) -> None:
    # n = ⌈ln α / ln(1 − μ/(2γ))⌉; the linear approximation −2γ ln α / μ would give 93 and 96 instead.
    n = comparison.kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=0.05, gamma=gamma)
    assert n == expected
    assert comparison.kaplan_markov_p_value(sample_size=n, diluted_margin=0.05, gamma=gamma) <= 0.1
    assert comparison.kaplan_markov_p_value(sample_size=n - 1, diluted_margin=0.05, gamma=gamma) > 0.1


def test_kaplan_markov_each_discrepancy_multiplies_the_p_value_by_its_factor() -> None:
    g = comparison.GAMMA
    clean = comparison.kaplan_markov_p_value(sample_size=200, diluted_margin=0.05)
    found = Discrepancies(o1=1, o2=1, u1=1, u2=1)
    factor = 1 / ((1 - 1 / (2 * g)) * (1 - 1 / g) * (1 + 1 / (2 * g)) * (1 + 1 / g))
    assert comparison.kaplan_markov_p_value(sample_size=200, diluted_margin=0.05, found=found) == pytest.approx(
        clean * factor
    )


def test_kaplan_markov_understatements_lower_and_overstatements_raise_the_p_value() -> None:
    def p(found: Discrepancies) -> float:
        return comparison.kaplan_markov_p_value(sample_size=150, diluted_margin=0.05, found=found)

    assert p(Discrepancies(u1=2)) < p(Discrepancies()) < p(Discrepancies(o1=1)) < p(Discrepancies(o2=1))


def test_kaplan_markov_with_gamma_1_cannot_survive_a_two_vote_overstatement() -> None:
    found = Discrepancies(o2=1)
    assert comparison.kaplan_markov_p_value(sample_size=10_000, diluted_margin=0.05, found=found, gamma=1.0) == 1.0


def test_kaplan_markov_planning_with_expected_discrepancies_needs_a_larger_sample() -> None:
    rates = DiscrepancyRates(o1=0.01, o2=0.001)
    n = comparison.kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=0.05, rates=rates)
    g = comparison.GAMMA
    slope = math.log(1 - 0.05 / (2 * g)) - 0.01 * math.log(1 - 1 / (2 * g)) - 0.001 * math.log(1 - 1 / g)
    assert n == math.ceil(math.log(0.1) / slope) > 95


def test_kaplan_markov_planning_returns_a_full_count_when_errors_outweigh_the_margin() -> None:
    rates = DiscrepancyRates(o2=0.05)
    assert comparison.kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=0.05, rates=rates, ballots=5000) == 5000
    with pytest.raises(InputError):
        comparison.kaplan_markov_sample_size(risk_limit=0.1, diluted_margin=0.05, rates=rates)


# --- Ballot-level comparison: ALPHA on the overstatement assorter --------------------------------


def test_overstatement_assorter_takes_its_five_values() -> None:
    b = comparison.overstatement_assorter([2, 1, 0, -1, -2], diluted_margin=0.05)
    assert b == pytest.approx(np.array([0, 0.5, 1, 1.5, 2]) / 1.95)


def test_alpha_betting_at_the_upper_bound_equals_kaplan_markov_with_gamma_1() -> None:
    # With η_j ≡ u the ALPHA factor is B/μ = (1 − e/2)/(1 − v/2), the inverse of Kaplan–Markov's at γ = 1.
    errors = [0] * 60 + [1] + [0] * 40 + [-1] + [0] * 20
    x = comparison.overstatement_assorter(errors, diluted_margin=0.05)
    p = comparison.alpha_p_values(x, upper=2 / 1.95, eta0=2 / 1.95, d=1e15, c=1e-12)
    found = Discrepancies.count(errors)
    km = comparison.kaplan_markov_p_value(sample_size=len(errors), diluted_margin=0.05, found=found, gamma=1.0)
    assert p[-1] == pytest.approx(min(km, 1.0), rel=1e-6)


def test_alpha_no_error_sample_size_is_close_to_kaplan_markov_and_smaller_without_replacement() -> None:
    with_replacement = comparison.alpha_sample_size_no_errors(risk_limit=0.1, diluted_margin=0.05, ballots=10**6)
    without = comparison.alpha_sample_size_no_errors(
        risk_limit=0.1, diluted_margin=0.05, ballots=10**6, population=1000
    )
    assert 91 <= with_replacement <= 110
    assert without < with_replacement


def test_alpha_running_p_value_never_increases_and_a_two_vote_overstatement_lowers_t() -> None:
    x = comparison.overstatement_assorter([0] * 50 + [2] + [0] * 50, diluted_margin=0.05)
    p = comparison.alpha_p_values(x, upper=2 / 1.95, eta0=comparison.comparison_eta0(0.05), d=1000)
    log_t = comparison.alpha_log_statistic(x, upper=2 / 1.95, eta0=comparison.comparison_eta0(0.05), d=1000)[0]
    assert (np.diff(p) <= 0).all()
    assert log_t[50] < log_t[49]


def test_alpha_without_replacement_confirms_once_the_null_becomes_impossible() -> None:
    # In a population of 10 the null allows a total of N·t = 5; six 2-vote understatements (B = 2/1.95 each)
    # pass it after the fifth draw, so the mean cannot be 1/2 any more.
    x = comparison.overstatement_assorter([-2] * 6, diluted_margin=0.05)
    p = comparison.alpha_p_values(x, upper=2 / 1.95, population=10, eta0=1.0)
    assert p[-1] == 0.0


def _alpha_confirmations(two_vote_rate: float) -> int:
    """Audits, of 1000, that confirm a reported 5% diluted margin when ``two_vote_rate`` of ballots overstate by 2."""
    rng = np.random.default_rng(20240728)
    errors = np.where(rng.random((RISK_TRIALS, 2000)) < two_vote_rate, 2, 0)
    x = comparison.overstatement_assorter(errors, diluted_margin=0.05)
    log_t = comparison.alpha_log_statistic(x, upper=2 / 1.95, eta0=comparison.comparison_eta0(0.05), d=1000)
    return int((log_t >= math.log(10)).any(axis=1).sum())


def test_alpha_confirms_a_reversed_outcome_in_at_most_10_percent_of_1000_audits() -> None:
    # 3% of ballots overstate by 2 votes: the true margin is 5% − 2·3% = −1%, the mean of B is 0.97/1.95 < 1/2.
    assert _alpha_confirmations(0.03) <= 0.10 * RISK_TRIALS


def test_alpha_confirms_a_tied_outcome_no_more_often_than_the_risk_limit_allows() -> None:
    # 2.5% of ballots overstate by 2 votes: the true margin is 0 and the mean of B exactly 1/2.
    assert _alpha_confirmations(0.025) <= TIE_ALLOWANCE


def test_alpha_simulated_sample_size_grows_with_the_overstatement_rate() -> None:
    def n(o1: float) -> int:
        return comparison.alpha_sample_size(
            risk_limit=0.1, diluted_margin=0.05, rates=DiscrepancyRates(o1=o1), ballots=10**6, max_draws=3000, seed=3
        )

    assert n(0.0) == comparison.alpha_sample_size_no_errors(risk_limit=0.1, diluted_margin=0.05, ballots=10**6)
    assert n(0.0) < n(0.005) < n(0.02)


# --- Batch-level comparison (MACRO, PPEB, Kaplan–Markov) -----------------------------------------

PRESIDENT = {"P": batch.ContestResult(votes={"W": 1100, "L": 1000, "X": 50}, winners=frozenset({"W"}))}


def test_batch_error_bound_overstatement_and_taint_by_hand() -> None:
    box = batch.Batch("T1", ballots=100, votes={"P": {"W": 60, "L": 30, "X": 5}})
    audited = {"P": {"W": 50, "L": 40, "X": 5}}
    # Pairs W–L (margin 100) and W–X (margin 1050); W–L dominates both.
    assert batch.error_bound(box, PRESIDENT) == Fraction(60 - 30 + 100, 100)
    assert batch.overstatement(box, audited, PRESIDENT) == Fraction((60 - 30) - (50 - 40), 100)
    assert batch.taint(box, audited, PRESIDENT) == Fraction(20, 130)


def test_batch_taint_is_the_maximum_across_contests() -> None:
    contests = {
        **PRESIDENT,
        "Q": batch.ContestResult(votes={"Y": 700, "N": 600}, winners=frozenset({"Y"})),
    }
    box = batch.Batch("T1", ballots=100, votes={"P": {"W": 60, "L": 30}, "Q": {"Y": 50, "N": 40}})
    audited = {"P": {"W": 60, "L": 30}, "Q": {"Y": 40, "N": 50}}  # only contest Q is overstated
    assert batch.overstatement(box, audited, contests) == Fraction(20, 100)
    assert batch.error_bound(box, contests) == max(Fraction(130, 100), Fraction(110, 100))


def test_batch_kaplan_markov_p_value_and_sample_size() -> None:
    assert batch.sample_size(20, 0.1) == math.ceil(math.log(0.1) / math.log(0.95)) == 45
    assert batch.kaplan_markov_p_value(20, [0.0] * 45) == pytest.approx(0.95**45)
    assert batch.kaplan_markov_p_value(20, [0.0] * 44 + [0.5]) == pytest.approx(0.95**45 / 0.5)
    assert batch.kaplan_markov_p_value(20, [1.0]) == 1.0


def test_batch_selection_is_ppeb_from_the_seed() -> None:
    boxes = [batch.Batch(f"T{i}", ballots=100, votes={"P": {"W": 60, "L": 30}}) for i in range(3)]
    boxes.append(batch.Batch("BIG", ballots=1000, votes={"P": {"W": 600, "L": 300}}))
    drawn = batch.select_batches("seed", boxes, PRESIDENT, 4000)
    assert drawn[:10] == batch.select_batches("seed", boxes, PRESIDENT, 10)
    # u_p: 1.3 for each small box, 13 for the big one, so the big box is drawn 13/16.9 of the time.
    assert drawn.count("BIG") / 4000 == pytest.approx(13 / 16.9, abs=0.03)


def _simulated_batch_audits(*, bad: int, trials: int, max_draws: int, seed: int) -> float:
    """Fraction of PPEB batch audits that confirm: 200 boxes reported 110–90, ``bad`` of them really 10–190."""
    contest = {"P": batch.ContestResult(votes={"W": 200 * 110, "L": 200 * 90}, winners=frozenset({"W"}))}
    boxes = [batch.Batch(f"T{i:03d}", ballots=200, votes={"P": {"W": 110, "L": 90}}) for i in range(200)]
    truth = [{"P": {"W": 10, "L": 190}} if i < bad else {"P": {"W": 110, "L": 90}} for i in range(200)]
    taints = np.array([float(batch.taint(b, a, contest)) for b, a in zip(boxes, truth, strict=True)])
    bounds = np.array([float(batch.error_bound(b, contest)) for b in boxes])
    total = bounds.sum()
    drawn = np.random.default_rng(seed).choice(200, size=(trials, max_draws), p=bounds / total)
    log_p = np.cumsum(np.log1p(-1 / total) - np.log1p(-taints[drawn]), axis=1)
    return float((log_p <= math.log(0.1)).any(axis=1).mean())


def test_batch_audit_confirms_a_reversed_outcome_in_at_most_10_percent_of_1000_audits() -> None:
    # 25 boxes flipped from 110–90 to 10–190: the reported loser won by 1,000 votes.
    assert _simulated_batch_audits(bad=25, trials=RISK_TRIALS, max_draws=500, seed=20240728) <= 0.10


def test_batch_audit_confirms_a_tied_outcome_no_more_often_than_the_risk_limit_allows() -> None:
    # 20 boxes flipped: the true result is an exact tie (Σ e_p = 1), the boundary of the null.
    assert _simulated_batch_audits(bad=20, trials=RISK_TRIALS, max_draws=500, seed=20240728) <= TIE_ALLOWANCE / 1000


def test_batch_audit_confirms_a_right_outcome_in_every_simulated_audit() -> None:
    assert _simulated_batch_audits(bad=0, trials=200, max_draws=500, seed=1) == 1.0


# --- The front door ----------------------------------------------------------------------------

CONTEST = ReportedContest(reported={"A": 5250, "B": 4750}, winner="A", ballots=10_000)


def test_front_door_plans_kaplan_markov_95_ballots_at_margin_5_percent() -> None:
    assert CONTEST.diluted_margin == pytest.approx(0.05)
    assert initial_sample_size("kaplan-markov", risk_limit=0.1, contest=CONTEST) == 95


@pytest.mark.parametrize(
    ("errors", "planned", "decision"),
    [
        ((0,) * 95, 95, "confirm"),
        ((0,) * 50, 95, "continue"),
        ((0,) * 94 + (2,), 95, "full hand count"),
    ],
)
def test_front_door_decides_confirm_continue_or_full_hand_count(
    errors: tuple[int, ...], planned: int, decision: str
) -> None:
    spec = AuditSpec(method="kaplan-markov", risk_limit=0.1, contest=CONTEST, planned=planned)
    status = assess(spec, ComparisonSample(errors))
    assert status.decision == decision
    assert status.examined == len(errors)
    assert (status.risk <= 0.1) == (decision == "confirm")


def test_front_door_bravo_reports_the_published_p_value() -> None:
    contest = ReportedContest(reported={"A": 6000, "B": 4000}, winner="A", ballots=10_000)
    spec = AuditSpec(method="bravo", risk_limit=0.1, contest=contest, planned=119)
    status = assess(spec, PollingSample(votes={"A": 72, "B": 47}, drawn=119))
    assert status.risk == pytest.approx(0.0714037, abs=5e-8)
    assert status.decision == "confirm"


def test_front_door_alpha_and_batch_use_their_modules() -> None:
    alpha = AuditSpec(method="alpha", risk_limit=0.1, contest=CONTEST, planned=500)
    assert assess(alpha, ComparisonSample((0,) * 120)).decision == "confirm"
    batches = AuditSpec(method="batch", risk_limit=0.1, contest=CONTEST, planned=45)
    assert assess(batches, BatchSample((0.0,) * 45, total_error_bound=20)).decision == "confirm"
    assert assess(batches, BatchSample((0.0,) * 44, total_error_bound=20)).decision == "continue"


def test_front_door_rejects_a_sample_of_the_wrong_kind() -> None:
    spec = AuditSpec(method="bravo", risk_limit=0.1, contest=CONTEST, planned=100)
    with pytest.raises(InputError) as err:
        assess(spec, ComparisonSample((0,)))
    assert err.value.where == "sample"


def test_a_missing_ballot_counts_for_the_loser_in_every_pair() -> None:
    """Reported A 5000, B 2600, C 2400; drawn 40 A, 0 B, 12 C and 10 not found. Given to the runner-up alone,
    the missing ballots would leave the A–C pair's risk at its sample value and confirm at 5%; counted
    against A in every pair, the A–C risk is 0.080 (a statistician's review)."""
    from tallyproof.stats import bravo

    reported, sample = {"A": 5000, "B": 2600, "C": 2400}, {"A": 40, "B": 0, "C": 12}
    assert bravo.contest_p_value(reported, "A", sample, missing=10) == pytest.approx(0.080, abs=0.001)
    assert bravo.contest_p_value(reported, "A", {**sample, "B": 10}) < 0.002  # the old rule confirmed


def test_alpha_at_a_null_mean_of_zero_only_a_positive_draw_refutes_the_null() -> None:
    """With 4 ballots, t = 1/2 and two draws of 1, the two undrawn ballots must be 0 under the null:
    drawing a 0 is consistent with it (the P-value stays), drawing a 1 refutes it."""
    from tallyproof.stats.comparison import alpha_p_values

    consistent = alpha_p_values([1, 1, 0], upper=2, population=4, eta0=1.5)
    refuted = alpha_p_values([1, 1, 1], upper=2, population=4, eta0=1.5)
    assert consistent[-1] == consistent[-2] > 0 and refuted[-1] == 0
