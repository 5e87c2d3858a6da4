"""The quick count: sample sizes against the textbook, allocation, the public-seed draw, the plan and its file.

Every random draw has a fixed seed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tallyproof.election import load_election
from tallyproof.errors import CodecError, InputError
from tallyproof.stats.estimate import Coverage, estimate
from tallyproof.stats.quickcount import allocate, design, from_csv, plan, quick_count_sample, sample_size, to_csv
from test_estimate import v1_fixture


@pytest.mark.parametrize(("population", "n"), [(None, 385), (100, 80), (1000, 278), (10_000, 370)])
def test_sample_size_matches_the_textbook_table(population: int | None, n: int) -> None:
    """P = 0.5, d = 0.05, 95%: Cochran's n₀ = 1.96² · 0.25 / 0.05² = 384.2 → 385; with N, Krejcie and Morgan
    (1970) Table 1 (they round to the nearest table where we round up: both agree for these N)."""
    if population is None:
        assert sample_size(0.25, margin_of_error=0.05) == n
        return
    votes = np.zeros((population, 2), dtype=np.int64)  # one voter per table: a sample of voters
    votes[: population // 2, 0] = 1
    votes[population // 2 :, 1] = 1
    d = design(np.zeros(population), np.ones(population), votes, np.ones(population), margin_of_error=0.05)
    assert d.sample_size == n and d.design_effect == pytest.approx(population / (population - 1))
    assert sum(k for _, k in d.allocation) == n


def test_a_designed_sample_reaches_its_target_margin_of_error() -> None:
    strata, registered, votes, valid = v1_fixture()
    d = design(strata, registered, votes, valid, margin_of_error=0.01)
    assert d.design_effect > 10  # tables are clusters of like-minded voters
    ids = [f"t{i}" for i in range(strata.size)]
    idx = quick_count_sample(ids, strata, d.sample_size, seed="quick-count test")
    e = estimate(Coverage.of(strata, registered, idx, votes[idx], valid[idx]))
    worst = max(s.high - s.estimate for s in e.shares)
    assert 0.0085 < worst < 0.0115


def test_a_margin_needs_a_larger_sample_than_a_share() -> None:
    strata, registered, votes, valid = v1_fixture()
    share = design(strata, registered, votes, valid, margin_of_error=0.02)
    margin = design(strata, registered, votes, valid, margin_of_error=0.02, target="margin", method="combined")
    assert margin.target == "margin" and margin.candidate == 1  # González leads
    assert margin.sample_size > share.sample_size
    assert margin.n0 == pytest.approx(1.959963984540054**2 * margin.unit_variance / 0.02**2)
    with pytest.raises(InputError) as err:
        design(strata, registered, votes, valid, margin_of_error=0.02, target="winner")
    assert err.value.where == "target"


def test_allocation_is_proportional_by_largest_remainder() -> None:
    strata = np.array(["A"] * 5 + ["B"] * 3 + ["C"] * 2)
    # Quotas 2.5, 1.5, 1.0: floors 2, 1, 1; the one left goes to the tie of .5 that sorts first, A.
    assert allocate(strata, 5, minimum=0) == (("A", 3), ("B", 1), ("C", 1))
    assert allocate(strata, 5) == (("A", 3), ("B", 2), ("C", 2))
    assert allocate(strata, 10) == (("A", 5), ("B", 3), ("C", 2))
    with pytest.raises(InputError):
        allocate(strata, 11)


def test_quick_count_sample_follows_the_published_recipe() -> None:
    ids = [f"{c:09d}.{m:02d}" for c in range(10101001, 10101031) for m in (1, 2)]
    strata = np.array([t[:4] for t in ids])
    got = quick_count_sample(ids, strata, 12, seed="2024-07-28 public seed")
    want = dict(allocate(strata, 12))
    expected: list[int] = []
    for label, n in want.items():
        members = [i for i, s in enumerate(strata) if s == label]
        members.sort(key=lambda i: hashlib.sha256(f"2024-07-28 public seed,{ids[i]}".encode()).hexdigest())
        expected += members[:n]
    assert got.tolist() == sorted(expected)
    bigger = quick_count_sample(ids, strata, 30, seed="2024-07-28 public seed")
    assert set(got) <= set(bigger)
    assert quick_count_sample(ids, strata, 12, seed="another seed").tolist() != got.tolist()


def test_a_plan_round_trips_through_its_csv() -> None:
    ids = [f"{c:09d}.01" for c in range(10101001, 10101041)]
    strata = np.array([t[:2] if i % 2 else "02" for i, t in enumerate(ids)])
    cov = Coverage.of(strata, np.full(40, 100), np.arange(40), np.tile([[30, 20]], (40, 1)), np.full(40, 50))
    p = plan(cov, ids, seed="round trip", size=10)
    assert p.design is None and p.sample_size == 10 and len(p.tables) == 10
    assert (
        from_csv(to_csv(p))
        == list(p.tables)
        == [ids[i] for i in quick_count_sample(ids, strata, 10, seed="round trip")]
    )
    assert to_csv(p).splitlines()[1] == f"{p.tables[0]},{p.strata[0]}"
    designed = plan(cov, ids, seed="round trip", margin_of_error=0.05)
    # identical tables: no variance, so a sample of none, raised to the minimum of 2 per stratum
    assert designed.design is not None and designed.sample_size == 0 and len(designed.tables) == 4
    assert (designed.drawn, designed.minimum, designed.smallest) == (4, 2, 4)


@pytest.mark.parametrize(("size", "drawn"), [(1, 4), (3, 5), (10, 11), (16, 16)])
def test_a_plan_draws_at_least_the_minimum_per_stratum(size: int, drawn: int) -> None:
    ids = [f"{c:09d}.01" for c in range(10101001, 10101041)]
    strata = np.array(["01"] * 35 + ["02"] * 5)  # 10: shares 8.75 and 1.25 give 9 and 1, and 02 one more
    cov = Coverage.of(strata, np.full(40, 100), np.arange(40), np.tile([[30, 20]], (40, 1)), np.full(40, 50))
    p = plan(cov, ids, seed="minimum", size=size)
    assert (p.sample_size, p.drawn, p.smallest) == (size, drawn, 4) and sum(k for _, k in p.allocation) == drawn


@pytest.mark.parametrize("size", [0, -1, True, 2.5])
def test_a_plan_of_no_table_is_refused(size: int) -> None:
    cov = Coverage.of(np.zeros(4), np.full(4, 100), np.arange(4), np.tile([[30, 20]], (4, 1)), np.full(4, 50))
    with pytest.raises(InputError, match="at least 1") as err:
        plan(cov, ["a", "b", "c", "d"], seed="s", size=size)
    assert err.value.where == "size"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("id\n1\n", "s.csv:1", "'table' column"),
        ("table,stratum\n010101001.01,01\n,01\n", "s.csv:3", "no table id"),
        ("table\n010101001.01\n\n010101001.02\n010101001.01\n", "s.csv:5", "listed twice \\(first on line 2\\)"),
        ("table\n010101001.01\nabc\n", "s.csv:3", "'abc' does not match the table ids of this election"),
        ('table\n"' + "1" * 200_000 + '"\n', "s.csv:2", "not CSV: field larger than field limit"),
    ],
)
def test_a_bad_sample_file_is_named_by_line(text: str, where: str, message: str) -> None:
    with pytest.raises(CodecError, match=message) as err:
        from_csv(text, where="s.csv", geography=load_election("ve2024").geography)
    assert err.value.where == where
