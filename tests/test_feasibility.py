"""The feasibility maths against brute force on small elections, and by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.errors import InputError
from tallyproof.independent.feasibility import Evidence, outcome, vote_ranges


def evidence(
    votes: list[list[int]], registered: list[int], capacity: list[int], voters: int, candidates: int = 2
) -> Evidence:
    v = np.asarray(votes, dtype=np.int64).reshape(len(votes), len(votes[0]) if votes else candidates)
    return Evidence(v, np.asarray(registered, np.int64), v.sum(axis=1), np.asarray(capacity, np.int64), voters)


@st.composite
def small(draw: st.DrawFn) -> tuple[Evidence, int]:
    n, m, c = draw(st.integers(0, 5)), draw(st.integers(0, 3)), draw(st.integers(2, 3))
    votes = [[draw(st.integers(0, 30)) for _ in range(c)] for _ in range(n)]
    capacity = [draw(st.integers(0, 40)) for _ in range(m)]
    voters = draw(st.integers(0, sum(capacity)))
    ev = evidence(votes, [sum(r) + 5 for r in votes], capacity, voters, c)
    return ev, draw(st.integers(0, n + m))


def brute(ev: Evidence, k: int) -> list[tuple[int, int]]:
    """Every k-subset of tables; a missing table gives 0 at least and, with the others chosen, at most
    its capacity, all of them together at most ``missing_voters``."""
    n, m = ev.copies, ev.missing_tables
    out = []
    for col in range(ev.votes.shape[1]):
        lows, highs = [], []
        for chosen in itertools.combinations(range(n + m), k):
            copies = [t for t in chosen if t < n]
            missing = [t - n for t in chosen if t >= n]
            base = int(ev.votes[copies, col].sum()) if copies else 0
            lows.append(base)
            highs.append(base + min(ev.missing_voters, int(ev.missing_capacity[missing].sum()) if missing else 0))
        out.append((min(lows), max(highs)))
    return out


@settings(max_examples=150, deadline=None)
@given(small())
def test_vote_ranges_equal_brute_force(case: tuple[Evidence, int]) -> None:
    ev, k = case
    assert [(r.low, r.high) for r in vote_ranges(ev, k)] == brute(ev, k)


def test_final_ranges_are_copies_plus_every_missing_voter() -> None:
    ev = evidence([[10, 20], [5, 1]], [40, 10], [30, 30], 50)
    assert [(r.low, r.high) for r in vote_ranges(ev, 4)] == [(15, 65), (21, 71)]


def test_more_tables_than_the_election_has_is_refused() -> None:
    with pytest.raises(InputError, match="tables counted"):
        vote_ranges(evidence([[1, 2]], [5], [], 0), 2)


def test_a_winner_behind_by_more_than_the_missing_voters_cannot_win() -> None:
    # copies: B leads A by 100 - 40 = 60; the missing tables hold 50 voters: A falls 10 short
    ev = evidence([[20, 50], [20, 50]], [80, 80], [25, 25], 50)
    result = outcome(ev, winner=0)
    assert (result.rival, result.margin, result.achievable, result.shortfall) == (1, 60, False, 10)
    assert result.registry_slack == pytest.approx(60 / 50 - 1)
    # dropping one copy: margin 30, missing voters 130: achievable; so one false copy would overturn it
    assert result.copies_to_overturn == 1
    assert result.shortfall_at(0.5) == 60 - 25


def test_copies_to_overturn_is_the_fewest_by_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 7))
        votes = rng.integers(0, 50, size=(n, 2)).tolist()
        registered = [a + b + int(rng.integers(0, 20)) for a, b in votes]
        ev = evidence(votes, registered, [30], 30)
        result = outcome(ev, winner=0)
        if result.achievable:
            assert result.copies_to_overturn is None
            continue
        fewest = next(
            size
            for size in range(1, n + 1)
            for dropped in itertools.combinations(range(n), size)
            if _achievable_without(ev, set(dropped))
        )
        assert result.copies_to_overturn == fewest


def _achievable_without(ev: Evidence, dropped: set[int]) -> bool:
    keep = [i for i in range(ev.copies) if i not in dropped]
    margin = int(ev.votes[keep, 1].sum() - ev.votes[keep, 0].sum())
    return margin < ev.missing_voters + int(ev.registered[sorted(dropped)].sum())


def test_a_winner_who_leads_the_copies_is_achievable() -> None:
    result = outcome(evidence([[60, 10, 5]], [100], [], 0), winner=0)
    assert result.achievable and result.margin == -50 and result.copies_to_overturn is None
