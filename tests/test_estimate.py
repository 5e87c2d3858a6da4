"""Estimates from partial coverage: exact small cases, coverage on synthetic and real data, from copies.

Hand-computed values are written out as fractions; every random draw has a fixed seed.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from tallyproof.election import load_election
from tallyproof.errors import InputError
from tallyproof.simulation.election import simulate
from tallyproof.stats.estimate import LARGE_SAMPLE, Coverage, Sampled, coverage_of, estimate
from tallyproof.stats.quickcount import allocate
from tallyproof.tabulate import Registry, SheetColumns

FIXTURES = Path(__file__).parent / "fixtures"
V1 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024" / "RESULTADOS_2024_CSV_V1.csv"
OTHERS = ("LM", "JABE", "JOBR", "AE", "CF", "DC", "EM", "BERA")

# Three strata. A: 4 tables, 2 in hand; B: 3 tables, 2 in hand; C: 2 tables, both in hand.
# Two candidates; valid votes also hold a third, unlisted candidate's votes at A's second table.
HAND_STRATA = np.array(["A"] * 4 + ["B"] * 3 + ["C"] * 2)
HAND_REGISTERED = np.array([100, 100, 200, 200, 100, 100, 100, 50, 150])
HAND_IN_HAND = np.array([0, 2, 4, 5, 7, 8])
HAND_VOTES = np.array([[30, 20], [50, 50], [10, 40], [20, 30], [5, 15], [30, 60]])
HAND_VALID = np.array([50, 120, 50, 50, 20, 90])


def hand() -> Coverage:
    return Coverage.of(HAND_STRATA, HAND_REGISTERED, HAND_IN_HAND, HAND_VOTES, HAND_VALID)


def close(value: float, exact: Fraction | float) -> bool:
    return math.isclose(value, float(exact), rel_tol=1e-12, abs_tol=1e-12)


def test_separate_estimator_on_three_strata_by_hand() -> None:
    e = estimate(hand())
    # Totals r_h X_h: A 80/300·600 = 160, B 30/200·300 = 45, C exact 35; valid 340 + 150 + 110 = 600.
    assert close(e.totals[0].estimate, 240) and close(e.totals[1].estimate, 320) and close(e.valid.estimate, 600)
    # v(Ŷ_1): A residuals ±10/3, s² = 200/9, N²(1-f)/n = 16·½/2 = 4 → 800/9; B ±5, s² = 50, 9·⅓/2 = 1.5 → 75.
    assert close(e.totals[0].se ** 2, Fraction(800, 9) + 75)
    assert close(e.valid.se**2, Fraction(3200, 9))  # A: 50 − 170/3, 120 − 340/3 = ∓20/3; B: residuals 0
    # p̂_1 = 2/5; d = y_1 − (2/5) v: A [10, 2], r_d = 1/25, e = ±6, s² = 72 → 288; B [−10, 0] → e = ±5 → 75.
    assert close(e.shares[0].estimate, Fraction(2, 5)) and close(e.shares[1].estimate, Fraction(8, 15))
    assert close(e.shares[0].se ** 2, Fraction(288 + 75, 600**2))
    # Margin: candidate 1 leads by 2/15; A residuals ±52/9 → 4·5408/81, B ±10 → 300.
    assert (e.margin.leader, e.margin.runner_up) == (1, 0)
    assert close(e.margin.share.estimate, Fraction(2, 15))
    assert close(e.margin.share.se**2, (Fraction(4 * 5408, 81) + 300) / 600**2)
    assert close(e.margin.votes.estimate, 80) and close(e.margin.votes.se**2, Fraction(3200, 9) + 300)
    assert close(e.margin.share.low, e.margin.share.estimate - 1.959963984540054 * e.margin.share.se)
    assert close(e.margin.lead_probability, NormalDist().cdf(e.margin.share.estimate / e.margin.share.se))
    # Stratum A alone: p = 80/170, d = ±110/17, v = 4·2·(110/17)² over V̂_A² = 340².
    a = e.strata[0]
    assert (a.label, a.tables, a.in_hand, a.group) == ("A", 4, 2, ("A",))
    assert close(a.shares[0].estimate, Fraction(8, 17))
    assert close(a.shares[0].se ** 2, Fraction(8 * 110**2, 17**2) / 340**2)
    assert e.strata[2].shares[0].se == 0 and close(e.strata[2].totals[0].estimate, 35)


def test_combined_estimator_on_three_strata_by_hand() -> None:
    e = estimate(hand(), method="combined")
    # Σ N_h ȳ_h = 4·40 + 3·15 + 35 = 240 over Σ N_h x̄_h = 600 + 300 + 200 = X: the same totals here.
    assert close(e.totals[0].estimate, 240) and close(e.shares[0].estimate, Fraction(2, 5))
    # One national R̂ = 240/1100: A residuals 90/11, 70/11 (s² = 200/121) → 800/121; B −130/11, −20/11 → 75.
    assert close(e.totals[0].se ** 2, Fraction(800, 121) + 75)
    # Shares: residual d itself about its stratum mean: A [10, 2] (s² = 32) → 128; B [−10, 0] → 75.
    assert close(e.shares[0].se ** 2, Fraction(128 + 75, 600**2))


@pytest.mark.parametrize("method", ["separate", "combined"])
def test_every_table_in_hand_gives_the_true_totals_with_zero_variance(method: str) -> None:
    sim = simulate(load_election("ve2024"), tables=300, seed=3)
    votes = sim.candidate_votes()
    strata = np.array([t[:2] for t in sim.tables])
    cov = Coverage.of(strata, sim.registered, np.arange(300), votes, votes.sum(axis=1))
    e = estimate(cov, method=method)  # type: ignore[arg-type]
    assert [t.estimate for t in e.totals] == pytest.approx(votes.sum(axis=0), rel=1e-12)
    assert [s.estimate for s in e.shares] == pytest.approx(votes.sum(axis=0) / votes.sum(), rel=1e-12)
    assert all(i.se == 0 for i in (*e.totals, *e.shares, e.margin.share, e.margin.votes))
    assert e.margin.lead_probability == 1.0 and e.margin.decided and not e.empty and not e.collapsed


def test_regional_totals_add_up_to_the_national_ones() -> None:
    sim = simulate(load_election("ve2024"), tables=600, seed=5)
    votes = sim.candidate_votes()
    strata = np.array([t[:2] for t in sim.tables])
    idx = np.sort(np.random.default_rng(1).choice(600, 150, replace=False))
    e = estimate(Coverage.of(strata, sim.registered, idx, votes[idx], votes[idx].sum(axis=1)))
    for k in range(votes.shape[1]):
        assert sum(s.totals[k].estimate for s in e.strata) == pytest.approx(e.totals[k].estimate, rel=1e-12)


def test_a_stratum_without_copies_is_collapsed_with_the_next_and_reported() -> None:
    strata = np.array(["01"] * 3 + ["02"] * 2 + ["03"] * 3)
    registered = np.array([100, 200, 300, 150, 150, 100, 100, 200])
    in_hand = np.array([0, 1, 2, 5, 7])
    votes = np.array([[10, 20], [30, 40], [50, 60], [20, 30], [40, 80]])
    e = estimate(Coverage.of(strata, registered, in_hand, votes, votes.sum(axis=1)))
    assert e.empty == ("02",) and e.collapsed == (("02", "03"),)
    s02, s03 = e.strata[1], e.strata[2]
    assert s02.group == s03.group == ("02", "03") and s02.in_hand == 0
    assert s02.shares == s03.shares
    # The group's ratio (60 + 120) / (100 + 200) per registered voter, times each stratum's 300 and 400.
    assert close(s02.totals[0].estimate, 60 / 300 * 300) and close(s03.totals[0].estimate, 60 / 300 * 400)


def test_a_short_stratum_at_the_end_joins_the_previous_group() -> None:
    strata = np.array(["a", "a", "b", "b", "c", "c"])
    votes = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 9]])
    e = estimate(Coverage.of(strata, np.full(6, 20), np.array([0, 1, 2, 3, 4]), votes, votes.sum(axis=1)))
    assert e.collapsed == (("b", "c"),) and e.empty == ()


def test_empty_strata_at_the_end_never_join_a_single_copy_alone() -> None:
    """Strata a (10 tables, 4 in hand), b (1 table, in hand), c (5 tables, none): c cannot join b alone,
    which would estimate 6 tables from 1 with no variance at all; the three form one group."""
    strata = np.array(["a"] * 10 + ["b"] + ["c"] * 5)
    in_hand = np.array([0, 1, 2, 3, 10])
    votes = np.array([[10, 5], [12, 3], [8, 9], [11, 6], [4, 2]])
    e = estimate(Coverage.of(strata, np.full(16, 20), in_hand, votes, votes.sum(axis=1)))
    assert e.collapsed == (("a", "b", "c"),) and e.empty == ("c",)
    assert all(s.shares[0].se > 0 for s in e.strata)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"registered": np.array([10, -1, 10])}, "registered"),
        ({"registered": np.array([10, 10])}, "registered"),
        ({"in_hand": np.array([0, 3])}, "in_hand"),
        ({"in_hand": np.array([1, 1])}, "in_hand"),
        ({"votes": np.array([[1, 2, 3]])}, "votes"),
        ({"votes": np.array([[1], [2]])}, "votes"),
        ({"votes": np.array([[1, -2], [2, 2]])}, "votes"),
        ({"valid": np.array([2, 4])}, "valid"),
    ],
)
def test_unusable_inputs_are_rejected_by_name(change: dict[str, np.ndarray], where: str) -> None:
    args = {
        "strata": np.array(["x", "x", "x"]),
        "registered": np.array([10, 10, 10]),
        "in_hand": np.array([0, 1]),
        "votes": np.array([[1, 2], [2, 2]]),
        "valid": np.array([3, 4]),
    }
    with pytest.raises(InputError) as err:
        Coverage.of(**{**args, **change})
    assert err.value.where == where


def test_unusable_options_are_rejected_by_name() -> None:
    with pytest.raises(InputError, match="between 0 and 1") as err:
        estimate(hand(), confidence=1.0)
    assert err.value.where == "confidence"
    with pytest.raises(InputError) as err:
        estimate(hand(), min_in_hand=1)
    assert err.value.where == "min_in_hand"
    with pytest.raises(InputError) as err:
        estimate(hand(), method="mean")  # type: ignore[arg-type]
    assert err.value.where == "method"
    with pytest.raises(InputError, match="at least 3 tables in hand") as err:
        estimate(
            Coverage.of(HAND_STRATA, HAND_REGISTERED, np.array([0, 1]), HAND_VOTES[:2], HAND_VALID[:2]), min_in_hand=3
        )
    assert err.value.where == "in_hand"


# --- coverage ---------------------------------------------------------------------------------------------

REPS = 200
# A correct 95% interval covers in Binomial(200, 0.95) of 200 repetitions: mean 190, and 183 or fewer with
# probability 1.2% (180 or fewer: 0.3%). So "at least 190" (the wording) holds for only ~58% of seeds
# of a perfectly calibrated interval; we assert 180, plus a calibration check on the standard errors.
LOWEST_HITS = 180


def _stratified_draw(rng: np.random.Generator, h: np.ndarray, want: np.ndarray) -> np.ndarray:
    order = np.lexsort((rng.random(h.size), h))
    start = np.r_[0, np.cumsum(np.bincount(h, minlength=want.size))[:-1]]
    rank = np.arange(h.size) - start[h[order]]
    return np.sort(order[rank < want[h[order]]])


def coverage(
    strata: np.ndarray, registered: np.ndarray, votes: np.ndarray, valid: np.ndarray, *, reps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hits of each share and of the margin over ``reps`` stratified 10% samples; SD of estimates / mean SE."""
    truth = votes.sum(axis=0) / valid.sum()
    a, b = np.argsort(-truth, kind="stable")[:2]
    _, h = np.unique(strata, return_inverse=True)
    want = np.array([k for _, k in allocate(strata, strata.size // 10)])
    rng = np.random.default_rng(seed)
    hits, est, se = np.zeros(truth.size + 1), [], []
    for _ in range(reps):
        idx = _stratified_draw(rng, h, want)
        e = estimate(Coverage.of(strata, registered, idx, votes[idx], valid[idx]))
        assert (e.margin.leader, e.margin.runner_up) == (a, b)
        hits += [truth[k] in e.shares[k] for k in range(truth.size)] + [truth[a] - truth[b] in e.margin.share]
        est.append([s.estimate for s in e.shares] + [e.margin.share.estimate])
        se.append([s.se for s in e.shares] + [e.margin.share.se])
    return hits, np.std(est, axis=0, ddof=1) / np.mean(se, axis=0)


def _check_coverage(hits: np.ndarray, calibration: np.ndarray, main: list[int]) -> None:
    assert all(hits[k] >= LOWEST_HITS for k in main), hits
    assert np.all(np.abs(calibration[main] - 1) < 0.15), calibration


def test_coverage_on_a_simulated_election() -> None:
    sim = simulate(load_election("ve2024"), tables=5000, seed=11)
    votes = sim.candidate_votes()
    strata = np.array([t[:2] for t in sim.tables])
    hits, calibration = coverage(strata, sim.registered, votes, votes.sum(axis=1), reps=REPS, seed=7)
    _check_coverage(hits, calibration, [0, 7, 10])  # Maduro, González and the margin


def v1_fixture() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """tests/fixtures/ve2024_v1_copies.csv.gz (PROVENANCE.md): state, registered, [NM, EG, others], valid."""
    rows = list(
        csv.DictReader(io.StringIO(gzip.decompress((FIXTURES / "ve2024_v1_copies.csv.gz").read_bytes()).decode()))
    )
    votes = np.array([[int(r["NM"]), int(r["EG"]), int(r["others"])] for r in rows])
    return (
        np.array([r["table"][:2] for r in rows]),
        np.array([int(r["registered"]) for r in rows]),
        votes,
        votes.sum(axis=1),
    )


def test_coverage_of_ten_percent_samples_of_the_v1_fixture() -> None:
    strata, registered, votes, valid = v1_fixture()
    hits, calibration = coverage(strata, registered, votes, valid, reps=REPS, seed=20240728)
    _check_coverage(hits, calibration, [0, 1, 3])  # Maduro, González and the margin


def test_coverage_of_ten_percent_samples_of_the_real_v1_file() -> None:
    """The issue's check on ../shared: all ten candidates, valid votes as published, strata = states."""
    if not V1.is_file():
        pytest.skip(f"{V1} not present: real-data coverage check skipped")
    with open(V1, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    votes = np.array([[int(r[c]) for c in ("EG", "NM", *OTHERS)] for r in rows])
    valid = np.array([int(r["VOTOS_VALIDOS"]) for r in rows])
    strata = np.array([f"{int(r['COD_EDO']):02d}" for r in rows])
    hits, calibration = coverage(strata, np.array([int(r["RE"]) for r in rows]), votes, valid, reps=REPS, seed=2024)
    _check_coverage(hits, calibration, [0, 1, 10])  # González, Maduro and the margin
    # The issue's own threshold, 95% of 200 (193, 193 and 193 with this seed, fixed before the first run);
    # see LOWEST_HITS for why another seed may fall short of it by chance.
    assert all(hits[k] >= 0.95 * REPS for k in (0, 1, 10)), hits


# --- from copies and a registry ---------------------------------------------------------------------------------


def columns(rows: list[tuple[str, str, list[int], int]]) -> SheetColumns:
    """Copies as (table, source, votes, registered stated or -1), ids in row order."""
    n = len(rows)
    return SheetColumns(
        ids=np.arange(1, n + 1),
        tables=np.array([r[0] for r in rows]),
        sources=np.array([r[1] for r in rows]),
        candidates=np.array([r[2] for r in rows]),
        cards=np.zeros((n, 0), dtype=np.int64),
        has_cards=np.zeros(n, dtype=bool),
        null=np.full(n, -1),
        blank=np.full(n, -1),
        registered=np.array([r[3] for r in rows]),
    )


def test_coverage_of_copies_and_registry_counts_what_it_leaves_out() -> None:
    geo = load_election("ve2024").geography
    registry = Registry(
        np.array(["010101001.01", "010101001.02", "010101002.01", "020101001.01", "020101001.02", "020101001.03"]),
        np.array([100, 200, -1, 300, -1, 50]),
    )
    cols = columns(
        [
            ("010101001.02", "witness", [10, 20], -1),
            ("010101002.01", "witness", [5, 5], 80),  # its copy states the voters the registry lacks
            ("020101001.01", "witness", [30, 30], -1),
            ("020101001.01", "witness", [31, 30], -1),  # conflicts with the copy above: no copy
            ("020101001.03", "official", [1, 2], -1),  # not a source asked for
            ("990101001.01", "witness", [1, 1], -1),  # outside the registry
        ]
    )
    got = coverage_of(cols, registry, geo, level="state", sources=["witness"])
    assert (got.conflicts, got.outside_registry, got.unknown_registered) == (1, 1, 1)
    assert got.tables.tolist() == ["010101001.01", "010101001.02", "010101002.01", "020101001.01", "020101001.03"]
    cov = got.coverage
    assert cov.strata.tolist() == ["01", "01", "01", "02", "02"] and cov.registered.tolist() == [100, 200, 80, 300, 50]
    assert (
        cov.in_hand.tolist() == [1, 2] and cov.votes.tolist() == [[10, 20], [5, 5]] and cov.valid.tolist() == [30, 10]
    )
    only = coverage_of(cols, registry, geo, level="municipality", sources=["witness"], only=["010101002.01"])
    assert only.coverage.in_hand.tolist() == [2] and only.coverage.strata[0] == "0101"
    assert got.sampled is None and only.sampled == Sampled(1, 0, 0) and only.conflicts == 0  # not sampled
    with pytest.raises(InputError) as err:
        coverage_of(
            cols,
            Registry(np.array([], dtype=str), np.array([], dtype=np.int64)),
            geo,
            level="state",
            sources=["official"],
        )
    assert err.value.where == "registry"


def test_the_tables_listed_are_accounted_for() -> None:
    """Every table listed is in hand, without a usable copy, not in the registry, or without registered voters."""
    geo = load_election("ve2024").geography
    registry = Registry(np.array(["010101001.01", "010101001.02", "010101002.01", "020101001.01"]), np.array([100] * 4))
    cols = columns(
        [
            ("010101001.01", "witness", [10, 20], -1),
            ("020101001.01", "witness", [30, 30], -1),
            ("020101001.01", "witness", [31, 30], -1),  # conflicting: no usable copy
            ("990101001.01", "witness", [1, 1], -1),  # a copy outside the registry
        ]
    )
    listed = ["010101001.01", "010101001.02", "020101001.01", "990101001.01", "990101002.01", "010101001.01"]
    got = coverage_of(cols, registry, geo, level="state", sources=["witness"], only=listed)
    assert got.coverage.in_hand.tolist() == [0] and got.sampled == Sampled(5, 2, 2)
    assert (got.conflicts, got.outside_registry) == (1, 1)


def test_an_estimate_from_fewer_than_30_tables_is_not_a_large_sample() -> None:
    strata, registered, votes, valid = v1_fixture()
    for n, large in ((LARGE_SAMPLE - 1, False), (LARGE_SAMPLE, True), (strata.size, True)):
        idx = np.arange(n)
        e = estimate(Coverage.of(strata, registered, idx, votes[idx], valid[idx]))
        assert e.large_sample is large, n
    assert estimate(hand()).large_sample is False  # 6 of 9 tables
    every = Coverage.of(HAND_STRATA[:2], HAND_REGISTERED[:2], np.arange(2), HAND_VOTES[:2], HAND_VALID[:2])
    assert estimate(every).large_sample is True  # every table in hand: the figures are exact
