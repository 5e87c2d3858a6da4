"""Forensic screens: each is silent on an honest simulated election and fires on its own planted manipulation;
the bulletin of 29 July 2024 is flagged at about one chance in a hundred million; the round-percentage null
is checked against its formula and by Monte Carlo. Every seed is fixed."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from tallyproof.election import Election
from tallyproof.errors import InputError, UnknownError
from tallyproof.report.fingerprint_chart import fingerprint_svg
from tallyproof.simulation.election import simulate
from tallyproof.stats.centres import centre_outliers
from tallyproof.stats.digits import last_digits, second_digits
from tallyproof.stats.fingerprint import fingerprint, turnout_spikes
from tallyproof.stats.forensics import integer_percentages, round_percentages, screens_for
from tallyproof.stats.screens import THRESHOLD, Screen
from tallyproof.tabulate import Registry, SheetColumns

TABLES, SEED = 5_000, 1
BULLETIN = 10_058_774, (5_150_092, 4_445_978, 462_704)
"""CNE, first bulletin, 29 July 2024: total, Maduro, González, the others."""


@dataclass(frozen=True)
class Tables:
    registered: np.ndarray
    votes: np.ndarray
    null: np.ndarray
    centres: np.ndarray
    states: np.ndarray

    @property
    def leader(self) -> int:
        return int(np.argmax(self.votes.sum(axis=0)))

    @property
    def runner_up(self) -> int:
        return int(np.argsort(-self.votes.sum(axis=0), kind="stable")[1])

    def with_votes(self, votes: np.ndarray) -> Tables:
        return Tables(self.registered, votes, self.null, self.centres, self.states)


@pytest.fixture(scope="module")
def honest(ve2024: Election) -> Tables:
    """An honest simulated election: binomial tables, state, municipality, parish and centre effects."""
    sim = simulate(ve2024, tables=TABLES, seed=SEED)
    centres = np.asarray([t.split(".")[0] for t in sim.tables])
    states = np.asarray([t[:2] for t in sim.tables])
    return Tables(sim.registered, sim.candidate_votes(), sim.null, centres, states)


def _chosen(n: int, share: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(n, size=int(n * share), replace=False)


# --- 1. Round percentages in the announced bulletin ----------------------------------------------


def test_bulletin_of_29_july_2024_is_round_at_one_decimal_with_a_chance_near_one_in_a_hundred_million() -> None:
    result = round_percentages(*BULLETIN)
    assert result.flagged
    assert result.decimals == 1
    assert result.is_round == (True, True, True)
    assert result.percentages == (51.2, 44.2, 4.6)
    assert 1e-9 < result.probability < 1e-7
    assert 1e-9 < result.p_value < 1e-7
    assert result.summary.endswith("A screen, not proof.")


def test_a_bulletin_without_round_percentages_is_not_flagged() -> None:
    total, (maduro, gonzalez, others) = BULLETIN
    result = round_percentages(total, [maduro + 137, gonzalez - 211, others + 74])
    assert not result.flagged
    assert result.p_value > 0.01
    assert sum(result.is_round) <= 1


def test_all_round_chance_is_two_free_counts_times_three_quarters_when_offsets_are_nearly_continuous() -> None:
    total, counts = BULLETIN
    pi = 1001 / (total + 1)
    chance = round_percentages(total, counts, decimals=(1,)).probability
    assert chance == pytest.approx(pi**2 * 0.75, rel=0.01)


def _random_bulletins(total: int, n: int, seed: int) -> np.ndarray:
    """``n`` bulletins of three counts adding up to ``total``, uniform over the compositions."""
    cuts = np.sort(np.random.default_rng(seed).integers(0, total + 1, size=(n, 2)), axis=1)
    return np.column_stack([cuts[:, 0], cuts[:, 1] - cuts[:, 0], total - cuts[:, 1]])


def _round_pair(total: int, k: int) -> list[int]:
    """51.2% and ``k/10``% of ``total`` as nearest whole votes, and the rest."""
    first, second = (round(total * j / 1000) for j in (512, k))
    return [first, second, total - first - second]


@pytest.mark.parametrize("total", [20_011, 20_000], ids=["offsets-spread", "total-a-multiple-of-1000"])
def test_round_chance_agrees_with_monte_carlo_on_a_small_total(total: int) -> None:
    counts = _random_bulletins(total, 400_000, seed=11)
    nearest = (2 * counts * 1000 + total) // (2 * total)
    hits = (2 * np.abs(counts * 1000 - total * nearest) <= 1000).sum(axis=1)
    tried = (round_percentages(total, _round_pair(total, k), decimals=(1,)) for k in range(442, 480))
    three = next(b for b in tried if all(b.is_round))
    one = round_percentages(total, [three.counts[0], 5_047, total - three.counts[0] - 5_047], decimals=(1,))
    assert sum(one.is_round) == 1
    all_three = three.probability
    for at_least, chance in ((3, all_three), (1, one.probability)):
        seen = int((hits >= at_least).sum())
        expected = chance * counts.shape[0]
        assert abs(seen - expected) < 4 * math.sqrt(expected) + 2, (at_least, seen, expected)
    if total % 1000 == 0:  # the third count is round whenever the other two are: no factor ¾
        assert all_three == pytest.approx((1001 / (total + 1)) ** 2, rel=0.01)


# --- 2. Integer percentages (Kobak et al. 2016) --------------------------------------------------


def _rounded_shares(t: Tables, share: float, seed: int) -> np.ndarray:
    """The leader's votes of a ``share`` of tables moved to the nearest whole percentage, the difference taken
    from or given to the runner-up."""
    votes = t.votes.copy()
    valid = votes.sum(axis=1)
    for i in _chosen(len(valid), share, seed).tolist():
        target = round(round(100 * votes[i, t.leader] / valid[i]) * valid[i] / 100)
        delta = target - votes[i, t.leader]
        if votes[i, t.runner_up] >= delta:
            votes[i, t.leader] += delta
            votes[i, t.runner_up] -= delta
    return votes


def test_integer_percentages_silent_on_an_honest_election(honest: Tables) -> None:
    result = integer_percentages(honest.registered, honest.votes, null=honest.null, seed=3)
    assert not result.flagged
    assert result.p_value > THRESHOLD
    assert abs(result.statistic - result.expected) < 4 * math.sqrt(result.expected)


def test_integer_percentages_fire_when_a_fifth_of_tables_round_the_leaders_share(honest: Tables) -> None:
    planted = _rounded_shares(honest, 0.20, seed=5)
    result = integer_percentages(honest.registered, planted, null=honest.null, seed=3)
    assert result.flagged
    assert result.share_integer > result.expected_share + 100


# --- 3. Digits -----------------------------------------------------------------------------------


def _rounded_counts(t: Tables, to: int, share: float, seed: int) -> np.ndarray:
    """Invented counts: the leader's votes of a ``share`` of tables rounded to the nearest multiple of ``to``."""
    votes = t.votes.copy()
    rows = _chosen(len(votes), share, seed)
    votes[rows, t.leader] = np.rint(votes[rows, t.leader] / to).astype(np.int64) * to
    return votes


def test_last_digits_silent_on_an_honest_election(honest: Tables) -> None:
    assert not last_digits(honest.votes).flagged


def test_last_digits_fire_when_a_quarter_of_tables_report_multiples_of_ten(honest: Tables) -> None:
    result = last_digits(_rounded_counts(honest, 10, 0.25, seed=7))
    assert result.flagged
    assert int(np.argmax(np.asarray(result.observed) - np.asarray(result.expected))) == 0


def _steep_tail(seed: int) -> np.ndarray:
    """Honest two-candidate tables whose minor candidate's counts straddle the cut at 100 in a steep tail."""
    rng = np.random.default_rng(seed)
    size = rng.integers(300, 500, 20_000)
    minor = rng.binomial(size, 0.25)
    return np.column_stack([minor, size - minor])


def test_smooth_last_digit_null_absorbs_a_steep_tail_that_breaks_the_uniform_one() -> None:
    votes = _steep_tail(seed=2)
    assert last_digits(votes, expected="uniform").p_value < 0.01
    assert not last_digits(votes).flagged


def test_second_digits_silent_on_an_honest_election(honest: Tables) -> None:
    assert not second_digits(honest.votes, seed=3).flagged


def test_second_digits_fire_when_a_quarter_of_tables_report_multiples_of_fifty(honest: Tables) -> None:
    result = second_digits(_rounded_counts(honest, 50, 0.25, seed=9), seed=3)
    assert result.flagged
    assert result.observed[0] > result.expected[0]


def test_benford_2bl_fails_honest_binomial_counts_that_the_default_null_accepts() -> None:
    votes = _steep_tail(seed=4)
    assert second_digits(votes, expected="2BL").flagged
    assert not second_digits(votes, seed=3).flagged


# --- 4. The turnout × share fingerprint (Klimek et al. 2012) --------------------------------------


def _stuffed(t: Tables, share: float, seed: int) -> np.ndarray:
    """Klimek et al.'s extreme fraud at a ``share`` of tables: turnout near 100% and most of the others'
    votes moved to the leader."""
    votes = t.votes.copy()
    rows = _chosen(len(votes), share, seed)
    moved = (votes[rows] * 0.7).astype(np.int64)
    moved[:, t.leader] = 0
    votes[rows] -= moved
    cast = votes[rows].sum(axis=1) + moved.sum(axis=1) + t.null[rows]
    votes[rows, t.leader] += moved.sum(axis=1) + (t.registered[rows] - cast) - 2
    return votes


def test_fingerprint_silent_on_an_honest_election(honest: Tables) -> None:
    result = fingerprint(honest.registered, honest.votes, null=honest.null, groups=honest.states)
    assert not result.flagged
    assert result.counts.shape == (50, 50)
    assert int(result.counts.sum()) == result.tables == TABLES


def test_fingerprint_fires_on_ballot_stuffing_in_three_percent_of_tables(honest: Tables) -> None:
    planted = _stuffed(honest, 0.03, seed=13)
    result = fingerprint(honest.registered, planted, null=honest.null, groups=honest.states)
    assert result.flagged
    assert result.observed > result.expected + 100


def test_fingerprint_svg_is_standalone_and_labels_every_cell(honest: Tables) -> None:
    result = fingerprint(honest.registered, _stuffed(honest, 0.03, seed=13), null=honest.null, groups=honest.states)
    svg = fingerprint_svg(
        result.counts,
        corner=result.corner,
        observed=result.observed,
        expected=result.expected,
        p_value=result.p_value,
        title="Turnout & share <test>",
    )
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    cells = root.findall(".//s:rect[@class='cell']", ns)
    assert len(cells) == int((result.counts > 0).sum())
    assert all(cell.find("s:title", ns) is not None for cell in cells)
    assert root.find(".//s:rect[@class='corner']", ns) is not None
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert "Turnout &amp; share &lt;test&gt;" in svg


# --- 5. Tables unlike the rest of their centre ---------------------------------------------------


def test_centre_outliers_silent_on_an_honest_election(honest: Tables) -> None:
    result = centre_outliers(honest.votes, honest.centres)
    assert not result.flagged
    assert result.tables == ()
    assert result.expected == THRESHOLD


def test_centre_outliers_list_the_one_table_whose_leader_and_runner_up_were_swapped(honest: Tables) -> None:
    votes = honest.votes.copy()
    _, centre, size = np.unique(honest.centres, return_inverse=True, return_counts=True)
    margin = np.where(size[centre] >= 3, np.abs(votes[:, honest.leader] - votes[:, honest.runner_up]), -1)
    row = int(np.argmax(margin))
    votes[row, [honest.leader, honest.runner_up]] = votes[row, [honest.runner_up, honest.leader]]
    result = centre_outliers(votes, honest.centres)
    assert result.flagged
    assert result.tables[0] == row
    assert abs(result.z_scores[0]) > result.z_threshold


def _spread_out_centres(seed: int, centres: int = 1_000, tau: float = 0.035) -> tuple[np.ndarray, np.ndarray]:
    """An honest election of ``centres`` centres of four tables, each table small (60–120 valid votes) or
    large (600–900) at even odds; the centre's share of the first candidate uniform in 25–75%, each table's
    own share that plus a normal deviation of ``tau`` (the register's split by age), its votes binomial."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(centres), 4)
    small = rng.random(ids.size) < 0.5
    valid = np.where(small, rng.integers(60, 121, ids.size), rng.integers(600, 901, ids.size))
    share = np.clip(rng.uniform(0.25, 0.75, centres)[ids] + tau * rng.standard_normal(ids.size), 0, 1)
    first = rng.binomial(valid, share)
    return np.column_stack([first, valid - first]), ids


def test_centre_outliers_stay_valid_when_tables_of_mixed_sizes_spread_beyond_the_binomial() -> None:
    """One overdispersion factor for every table under-scales the large ones: on these elections the old
    screen gave p < 0.001 in 16 of 30 and p < 0.05 in all 30. A valid screen gives p < 0.001 about 0.03
    times in 30 and p < 0.05 about 1.5 times."""
    results = [centre_outliers(*_spread_out_centres(seed), candidate=0) for seed in range(30)]
    p = np.asarray([r.p_value for r in results])
    assert (p < 0.001).sum() <= 1
    assert (p < 0.05).sum() <= 5
    assert sum(len(r.tables) for r in results) <= 1
    spread = np.concatenate([r.spread for r in results])
    assert 0.025 < float(np.median(spread)) < 0.045  # tau = 0.035 recovered, at an even centre


def test_centre_outliers_with_no_spread_to_estimate_test_every_table_and_flag_none() -> None:
    votes = np.array([[50, 0], [80, 0], [0, 40], [0, 70]])
    result = centre_outliers(votes, np.array([1, 1, 2, 2]))
    assert result.tested == 4 and not result.flagged
    assert result.spread == () == result.logit_spread == result.lean_edges
    assert "no table to estimate the spread beyond the binomial" in result.summary


# --- 6. Turnout spikes ---------------------------------------------------------------------------


def _turnout_at(t: Tables, value: float, share: float, seed: int) -> np.ndarray:
    """A ``share`` of tables given exactly ``value`` turnout, by adding or removing the leader's votes."""
    votes = t.votes.copy()
    for i in _chosen(len(votes), share, seed).tolist():
        delta = round(value * t.registered[i]) - int(votes[i].sum() + t.null[i])
        if votes[i, t.leader] + delta >= 0:
            votes[i, t.leader] += delta
    return votes


def test_turnout_spikes_silent_on_an_honest_election(honest: Tables) -> None:
    result = turnout_spikes(honest.registered, honest.votes, null=honest.null)
    assert not result.flagged
    assert result.spikes == ()
    assert int(result.counts.sum()) == TABLES


def test_turnout_spikes_find_tables_set_to_exactly_eighty_percent(honest: Tables) -> None:
    result = turnout_spikes(honest.registered, _turnout_at(honest, 0.80, 0.02, seed=17), null=honest.null)
    assert result.flagged
    assert result.spikes[0] == pytest.approx(0.80)


# --- Shared behaviour ----------------------------------------------------------------------------


def test_every_screen_states_its_null_and_says_it_is_not_proof(honest: Tables) -> None:
    t = honest
    results: list[Screen] = [
        round_percentages(*BULLETIN),
        last_digits(t.votes),
        centre_outliers(t.votes, t.centres),
        turnout_spikes(t.registered, t.votes, null=t.null),
        fingerprint(t.registered, t.votes, null=t.null, groups=t.states),
    ]
    for result in results:
        assert result.null and result.summary.endswith("A screen, not proof.")
        assert result.flagged == (result.p_value < result.threshold)
        assert json.loads(json.dumps(result.to_json()))["name"] == result.name


def _copies(rows: list[tuple[str, str, int, int, int]]) -> SheetColumns:
    """Copies from ``(table, source, first candidate's votes, second's, registered)`` rows."""
    n = len(rows)
    votes = np.zeros((n, 10), np.int64)
    votes[:, 0], votes[:, 7] = [r[2] for r in rows], [r[3] for r in rows]
    zeros = np.zeros(n, np.int64)
    tables, sources = np.asarray([r[0] for r in rows]), np.asarray([r[1] for r in rows])
    no_cards = np.zeros((n, 0), np.int64), np.zeros(n, bool)
    return SheetColumns(
        np.arange(1, n + 1), tables, sources, votes, *no_cards, zeros, zeros, np.asarray([r[4] for r in rows])
    )


def test_screens_for_takes_one_copy_per_table_and_registered_voters_from_the_registry_else_the_copy(
    ve2024: Election,
) -> None:
    cols = _copies(
        [
            ("010111043.01", "witness", 200, 150, 500),
            ("010111043.01", "witness", 210, 150, 500),  # conflicting copies: the table is left out
            ("010111043.02", "witness", 180, 170, 0),  # registered voters from the registry: 480
            ("010111043.03", "witness", 160, 190, 400),  # not in the registry: the copy's 400
            ("010111043.03", "official", 160, 190, 400),
        ]
    )
    registry = Registry(np.asarray(["010111043.01", "010111043.02"]), np.asarray([500, 480]))
    result = screens_for(cols, registry, ve2024, sources=["witness"])
    assert result.sources == ("witness",) and result.tables == 2
    fp = result.fingerprint
    assert fp is not None and fp.tables == 2 and fp.excluded == 0
    assert [s.name for s in result.screens][-1] == "centre-outliers"
    assert screens_for(cols, registry, ve2024).sources == ("official",)
    with pytest.raises(UnknownError) as caught:
        screens_for(cols, registry, ve2024, sources=["observer"])
    assert caught.value.where == "sources"


CALLS: dict[str, tuple[Callable[[], object], str]] = {
    "votes-1d": (lambda: centre_outliers(np.arange(3), np.arange(3)), "votes"),
    "negative": (lambda: second_digits(np.array([[5, -1]])), "votes"),
    "registered": (lambda: integer_percentages(np.ones(3), np.ones((4, 2))), "registered"),
    "centres": (lambda: centre_outliers(np.ones((4, 2)), np.arange(3)), "centres"),
    "fractional": (lambda: turnout_spikes(np.ones(2) * 10, np.array([[1.5, 2.0], [1.0, 1.0]])), "votes"),
    "counts": (lambda: round_percentages(100, [60, 50]), "counts"),
    "decimals": (lambda: round_percentages(100, [60, 40], decimals=(7,)), "decimals"),
    "corner": (lambda: fingerprint(np.ones(2) * 9, np.ones((2, 2)), corner=(0.8, 1.0)), "corner"),
    "candidate": (lambda: centre_outliers(np.ones((2, 2)), np.arange(2), candidate=2), "candidate"),
}


@pytest.mark.parametrize("case", sorted(CALLS))
def test_malformed_input_raises_input_error_naming_the_argument(case: str) -> None:
    call, where = CALLS[case]
    with pytest.raises(InputError) as caught:
        call()
    assert caught.value.where == where


def test_a_round_percentage_p_value_is_a_probability() -> None:
    """Small totals make every count round: the chance is then near 1 and the corrected p-value stays at
    most 1 (a user test saw 'p = 3')."""
    from tallyproof.stats.forensics import round_percentages

    r = round_percentages(1000, [401, 333, 266])
    assert r.p_value == 1.0 and not r.flagged and "1 in 1 " not in r.summary
