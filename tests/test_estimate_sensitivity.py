"""Sensitivity: how different the missing tables would have to be, by hand and by brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tallyproof.stats.estimate import Coverage
from tallyproof.stats.sensitivity import sensitivity


def small() -> Coverage:
    """Group A: 3 tables of 10 voters, 2 in hand; group B: 4 tables of 20, 2 in hand; candidates 0, 1, 2."""
    strata = np.array(["A"] * 3 + ["B"] * 4)
    registered = np.array([10, 10, 10, 20, 20, 20, 20])
    votes = np.array([[6, 3, 1], [5, 4, 0], [2, 8, 0], [4, 10, 2]])
    return Coverage.of(strata, registered, np.array([0, 1, 3, 4]), votes, votes.sum(axis=1))


def test_sensitivity_by_hand() -> None:
    s = sensitivity(small())
    # A: 19 valid of 20 registered, shares 11/19, 7/19, 1/19, 10 missing voters → 9.5 valid votes.
    # B: 26 valid of 40, shares 6/26, 18/26, 2/26, 40 missing voters → 26 valid votes.
    assert s.projected == pytest.approx((17 + 5.5 + 6, 25 + 3.5 + 18, 3 + 0.5 + 2))
    assert (s.leader, s.runner_up, s.missing_tables, s.missing_registered) == (1, 0, 3, 50)
    assert s.counted == (17, 25, 3) and s.counted_valid == 45
    o = s.observed
    assert o.missing_valid == pytest.approx(35.5) and o.turnout == pytest.approx(35.5 / 50)
    assert o.needed_margin == pytest.approx(8 / 35.5)  # the leader is 25 − 17 = 8 votes ahead in the copies
    assert o.expected_margin == pytest.approx((11.5 - 21.5) / 35.5)
    assert o.leader_share_expected == pytest.approx(21.5 / 35.5)
    assert o.leader_share_needed == pytest.approx((33 / 35.5 - 8 / 35.5) / 2)
    assert o.shift_points == pytest.approx(100 * (12.5 / 35.5 - 21.5 / 35.5))
    assert o.possible and o.possible_keeping_others
    assert s.full.turnout == 1 and s.full.needed_margin == pytest.approx(8 / 50)


@pytest.mark.parametrize("turnout", ["observed", "full"])
def test_tipping_point_matches_brute_force(turnout: str) -> None:
    cov, s = small(), sensitivity(small())
    t = s.observed if turnout == "observed" else s.full
    # The missing votes per group, then a grid of the leader's share among them, the others at their expected
    # share: the last grid point at which the runner-up is still ahead or level.
    per_group = np.array([9.5, 26.0]) if turnout == "observed" else np.array([10.0, 40.0])
    shares = np.array([[11, 7, 1], [6, 18, 2]]) / np.array([[19], [26]])
    expected = per_group @ shares / per_group.sum()
    pair = expected[0] + expected[1]
    grid = np.linspace(0, pair, 200_001)
    counted = cov.votes.sum(axis=0)
    runner_ahead = counted[0] + (pair - grid) * t.missing_valid >= counted[1] + grid * t.missing_valid
    assert t.leader_share_needed == pytest.approx(grid[runner_ahead][-1], abs=pair / 200_000)
    assert t.leader_share_expected == pytest.approx(expected[1])


def test_worst_case_bounds_match_brute_force() -> None:
    cov = Coverage.of(
        np.array(["x"] * 4),
        np.array([5, 5, 4, 4]),
        np.array([0, 1]),
        np.array([[3, 1, 0], [1, 2, 1]]),
        np.array([4, 4]),
    )
    s = sensitivity(cov)
    counted = cov.votes.sum(axis=0)
    shares, margins = [], []
    for extra in itertools.product(range(9), repeat=3):  # every split of up to R_m = 8 missing voters
        if sum(extra) <= 8:
            final = counted + np.array(extra)
            shares.append(final / final.sum())
            margins.append((final[s.leader] - final[s.runner_up]) / final.sum())
    low, high = np.min(shares, axis=0), np.max(shares, axis=0)
    assert np.array(s.share_bounds) == pytest.approx(np.column_stack([low, high]))
    assert s.margin_bounds == pytest.approx((min(margins), max(margins)))
    assert s.winner_can_change and s.full.possible


def test_no_missing_tables_no_change_possible() -> None:
    votes = np.array([[5, 1], [4, 2]])
    s = sensitivity(Coverage.of(np.array(["a", "a"]), np.array([10, 10]), np.array([0, 1]), votes, votes.sum(axis=1)))
    assert not s.winner_can_change and not s.observed.possible and s.margin_bounds == pytest.approx((0.5, 0.5))
    assert math.isinf(s.full.needed_margin)


def test_the_worst_case_looks_at_every_rival_not_only_the_projected_runner_up() -> None:
    """Counted A 1004, B 392, C 804 with 500 registered voters missing, in a stratum that votes all for B:
    the projection puts B second (882), whose deficit, 612, exceeds the missing voters; but C + 500 > A, so
    the winner can change (a statistician's review)."""
    strata = np.array(["x", "x", "y", "y", "y"])
    in_hand = np.array([0, 1, 2, 3])
    votes = np.array([[502, 0, 402], [502, 0, 402], [0, 196, 0], [0, 196, 0]])
    cov = Coverage.of(strata, np.array([1000, 1000, 200, 200, 500]), in_hand, votes, votes.sum(axis=1))
    s = sensitivity(cov)
    assert s.counted == (1004.0, 392.0, 804.0) and s.missing_registered == 500
    assert s.runner_up == 1 and s.projected[1] > s.projected[2] and not s.full.possible  # B cannot catch up
    assert s.winner_can_change and s.margin_bounds[0] < 0  # C can
