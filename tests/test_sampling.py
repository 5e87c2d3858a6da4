"""Seeded SHA-256 sampling: published vectors, pinned golden values and the properties audits rely on."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from fractions import Fraction
from typing import TypeVar

import pytest

from tallyproof.errors import InputError
from tallyproof.stats.sampling import (
    consistent_order,
    consistent_sample,
    draw_weighted,
    draw_with_replacement,
    draw_without_replacement,
    priority,
)

K = TypeVar("K", bound=Hashable)

GOLDEN_SEED = "tallyproof golden seed 2024-07-28"
TABLES = [f"T{i:02d}" for i in range(1, 11)]

# Rivest's transcript in sampler.py (version of 14 November 2011): 47 tickets from 1..876 without
# replacement; draw 32 gave 611 again and was skipped.
RIVEST_SEED = "3546311556112163624615351222"
RIVEST_SAMPLE = [
    740, 180, 264, 789, 238, 448, 272, 611, 761, 208, 596, 88, 160, 113, 766, 427,
    184, 816, 653, 411, 779, 331, 339, 487, 594, 235, 65, 527, 821, 490, 461, 251,
    471, 414, 174, 567, 300, 134, 144, 357, 786, 792, 218, 550, 787, 537, 197,
]  # fmt: skip


def test_without_replacement_reproduces_rivests_published_transcript() -> None:
    assert draw_without_replacement(RIVEST_SEED, 47, 876) == RIVEST_SAMPLE


@pytest.mark.parametrize(
    ("seed", "total", "expected"),
    [
        ("0", 1000, [905, 573, 160]),
        ("0", 2, [1, 1, 2]),
        ("1", 1000, [97, 89, 163]),
        ("0000000000", 1000, [978, 359, 132]),
        ("999999999999999999999999", 1000, [544, 800, 654]),
        ("abcde", 1000, [247, 427, 157]),
    ],
)
def test_with_replacement_matches_rivest_sampler_test_vectors(seed: str, total: int, expected: list[int]) -> None:
    # cjerdonek/rivest-sampler-tests, tests.json ("allowing duplicates").
    assert draw_with_replacement(seed, 3, total) == expected


def test_priority_is_sha256_of_seed_comma_id_read_big_endian() -> None:
    digest = hashlib.sha256(f"{GOLDEN_SEED},T01".encode()).hexdigest()
    assert digest == "93cb14d62757235524801bb32c719ba58a0275f4ff628ea8f75097847ea3efcf"
    assert priority(GOLDEN_SEED, "T01") == int(digest, 16)


def test_consistent_order_matches_pinned_golden_order() -> None:
    expected = ["T08", "T10", "T05", "T02", "T07", "T01", "T04", "T03", "T09", "T06"]
    assert consistent_order(GOLDEN_SEED, TABLES) == expected
    assert consistent_order(GOLDEN_SEED, reversed(TABLES)) == expected  # input order does not matter


def test_weighted_draw_matches_pinned_golden_draw_and_a_float_recomputation() -> None:
    drawn = draw_weighted(GOLDEN_SEED, {"C": 7, "A": 1, "B": 2}, 8)
    assert drawn == ["C", "C", "A", "C", "C", "C", "C", "C"]
    # Independent recomputation: u = h / 2^256 against cumulative shares A: 0.1, B: 0.3, C: 1.0.
    u = [int(hashlib.sha256(f"{GOLDEN_SEED},{i}".encode()).hexdigest(), 16) / 2**256 for i in range(1, 9)]
    assert drawn == ["A" if x < 0.1 else "B" if x < 0.3 else "C" for x in u]


@pytest.mark.parametrize("draw", [draw_with_replacement, draw_without_replacement])
def test_a_larger_sample_extends_the_smaller_one(draw: Callable[[str, int, int], list[int]]) -> None:
    small, large = draw("escalation", 30, 200), draw("escalation", 80, 200)
    assert large[:30] == small


def test_consistent_sample_of_k_plus_m_extends_the_sample_of_k() -> None:
    assert consistent_sample(GOLDEN_SEED, TABLES, 7)[:3] == consistent_sample(GOLDEN_SEED, TABLES, 3)


def test_removing_an_unsampled_table_leaves_the_sample_unchanged() -> None:
    sample = consistent_sample(GOLDEN_SEED, TABLES, 4)
    dropped = next(t for t in TABLES if t not in sample)
    assert consistent_sample(GOLDEN_SEED, [t for t in TABLES if t != dropped], 4) == sample


def test_same_seed_same_sample_and_another_seed_another_sample() -> None:
    assert draw_with_replacement("s", 20, 10_000) == draw_with_replacement("s", 20, 10_000)
    assert draw_with_replacement("s", 20, 10_000) != draw_with_replacement("t", 20, 10_000)
    assert consistent_order("s", TABLES) != consistent_order("t", TABLES)


def test_without_replacement_draws_distinct_tickets_and_can_take_them_all() -> None:
    assert sorted(draw_without_replacement("all", 50, 50)) == list(range(1, 51))


def _chi_square(counts: Mapping[K, int], expected: Mapping[K, float]) -> float:
    return sum((counts.get(k, 0) - e) ** 2 / e for k, e in expected.items())


def test_counter_draws_are_roughly_uniform() -> None:
    counts = Counter(draw_with_replacement("uniformity", 20_000, 10))
    # 9 degrees of freedom: P(chi2 > 27.88) = 0.001 for a uniform draw.
    assert _chi_square(counts, {k: 2000.0 for k in range(1, 11)}) < 27.88


def test_each_table_comes_first_about_equally_often_across_seeds() -> None:
    firsts = Counter(consistent_order(f"seed-{i}", TABLES)[0] for i in range(3000))
    assert _chi_square(firsts, {t: 300.0 for t in TABLES}) < 27.88


def test_weighted_draws_follow_the_weights_and_skip_zero_weight() -> None:
    counts = Counter(draw_weighted("ppeb", {"A": 1, "B": Fraction(3, 2), "C": Fraction(5, 2), "Z": 0}, 10_000))
    assert "Z" not in counts
    # 2 degrees of freedom: P(chi2 > 13.82) = 0.001.
    assert _chi_square(counts, {"A": 2000.0, "B": 3000.0, "C": 5000.0}) < 13.82


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda: draw_with_replacement("", 3, 10), "seed"),
        (lambda: draw_with_replacement("s", -1, 10), "k"),
        (lambda: draw_with_replacement("s", 3, 0), "population"),
        (lambda: draw_without_replacement("s", 11, 10), "k"),
        (lambda: consistent_order("s", ["T1", "T1"]), "items"),
        (lambda: draw_weighted("s", {"A": -1, "B": 2}, 3), "weights"),
        (lambda: draw_weighted("s", {"A": 0}, 3), "weights"),
    ],
)
def test_unusable_arguments_raise_input_error_naming_the_argument(call: Callable[[], object], where: str) -> None:
    with pytest.raises(InputError) as err:
        call()
    assert err.value.where == where
