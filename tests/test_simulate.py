"""The synthetic election generator: deterministic, well formed, and shaped like Venezuela 2024."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tallyproof.election import Election, load_election
from tallyproof.errors import InputError
from tallyproof.sheets.files import read_records, write_csv
from tallyproof.sheets.sheet import check
from tallyproof.simulation.election import SimulatedElection, simulate, write

# RESULTADOS_2024_CSV_V2 totals: González 7,303,480 and Maduro 3,316,142 of 10,887,262 valid votes.
REAL_EG, REAL_NM = 0.6708, 0.3046


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election("ve2024")


@pytest.fixture(scope="module")
def big(election: Election) -> SimulatedElection:
    return simulate(election, tables=20_000, seed=2024)


def _generic(levels: list[str], table_id: str, candidates: int) -> Election:
    cands = "".join(f'[[candidates]]\nid = "C{i}"\nname = "Candidate {i}"\n\n' for i in range(candidates))
    cards = "".join(
        f'[[cards]]\nid = "K{i}_{j}"\ncandidate = "C{i}"\n\n' for i in range(candidates) for j in range(1 + (i == 0))
    )
    names = ", ".join(f'"{level}"' for level in levels)
    return Election.from_toml(
        f'[election]\nid = "g"\nname = "Generic"\ndate = 2025-01-01\n\n{cands}{cards}'
        f"[geography]\nlevels = [{names}]\ntable_id = '{table_id}'\n",
        where="g.toml",
    )


def _same(a: SimulatedElection, b: SimulatedElection) -> bool:
    arrays = ("registered", "cards", "null", "blank")
    return (
        a.tables == b.tables
        and a.names == b.names
        and all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays)
    )


def test_the_same_seed_gives_the_same_election(election: Election) -> None:
    assert _same(simulate(election, tables=700, seed=7), simulate(election, tables=700, seed=7))


def test_different_seeds_give_different_elections(election: Election) -> None:
    a, b = simulate(election, tables=700, seed=7), simulate(election, tables=700, seed=8)
    assert not np.array_equal(a.cards, b.cards) and not np.array_equal(a.registered, b.registered)


def test_table_ids_are_well_formed_and_unique(big: SimulatedElection, election: Election) -> None:
    assert len(big.tables) == len(set(big.tables)) == 20_000
    assert all(election.geography.pattern.fullmatch(t) for t in big.tables)
    per_centre: dict[str, list[int]] = {}
    for t in big.tables:
        per_centre.setdefault(t[:9], []).append(int(t[-2:]))
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in per_centre.values())
    assert {t[:2] for t in big.tables} == {f"{s:02d}" for s in range(1, 25)}
    assert min(int(t[2:4]) for t in big.tables) == min(int(t[4:6]) for t in big.tables) == 1


def test_counts_are_within_bounds(big: SimulatedElection) -> None:
    assert big.registered.dtype == big.cards.dtype == big.null.dtype == np.int64
    assert big.cards.shape == (20_000, 38)
    assert 200 <= big.registered.min() and big.registered.max() <= 600
    assert big.cards.min() >= 0 and big.null.min() >= 0 and not big.blank.any()
    cast = big.cards.sum(axis=1) + big.null + big.blank
    assert (cast <= big.registered).all()
    assert 0 < big.null.sum() < 0.002 * cast.sum()  # the real rate is about 0.01%


def test_every_sheet_passes_the_checks(big: SimulatedElection, election: Election) -> None:
    sheets = list(big.sheets())
    assert [s.table for s in sheets] == big.tables
    assert all(s.acta_id == f"{s.table}.1.0001" and s.valid == sum(s.candidates) for s in sheets)
    assert [f for s in sheets for f in check(s, election)] == []


def test_national_results_are_near_the_real_ones(big: SimulatedElection, election: Election) -> None:
    totals = big.candidate_votes().sum(axis=0)
    shares = totals / totals.sum()
    assert abs(shares[election.candidate_index("EG")] - REAL_EG) < 0.03
    assert abs(shares[election.candidate_index("NM")] - REAL_NM) < 0.03
    assert 0.55 < (totals.sum() + big.null.sum()) / big.registered.sum() < 0.65  # real: 60.1%
    cards = big.cards.sum(axis=0)
    assert cards.argmax() == [c.id for c in election.cards].index("MUD")
    assert cards[[c.id for c in election.cards].index("PSUV")] > 0.6 * totals[election.candidate_index("NM")]


def test_results_vary_between_regions(big: SimulatedElection, election: Election) -> None:
    eg = big.candidate_votes()[:, election.candidate_index("EG")]
    valid = big.cards.sum(axis=1)
    states = np.asarray([int(t[:2]) for t in big.tables])
    state_eg = np.bincount(states, eg)[1:] / np.bincount(states, valid)[1:]
    assert state_eg.std() > 0.03  # real: 0.06 (Táchira 82%, Sucre 50%)
    turnout = np.bincount(states, valid + big.null)[1:] / np.bincount(states, big.registered)[1:]
    assert turnout.max() - turnout.min() > 0.05 and 0.45 < turnout.min() and turnout.max() < 0.75
    table_eg = eg / np.maximum(valid, 1)
    assert table_eg.std() > 0.08 and (table_eg < 0.5).any()


def test_the_hierarchy_has_the_real_shape(election: Election) -> None:
    sim = simulate(election, tables=30_026, seed=1)
    sizes = np.asarray(list(Counter(t[:9] for t in sim.tables).values()))
    assert sizes.min() == 1 and sizes.max() <= 15 and 1.7 < sizes.mean() < 2.2  # real: 1.96
    assert (sizes == 1).mean() > 0.4  # skewed: most centres have a single table
    counts = {level: len(units) for level, units in sim.names.items()}
    assert counts["state"] == 24
    assert 300 <= counts["municipality"] <= 370 and 1000 <= counts["parish"] <= 1300  # real: 335, ~1,140
    assert 14_000 <= counts["centre"] <= 17_500  # real: ~15,800
    tables = Counter(t[:2] for t in sim.tables)
    assert tables["21"] > tables["13"] > tables["01"] > tables["22"]  # Zulia, Miranda, Capital, Amazonas


@pytest.mark.parametrize("tables", [1, 2, 17, 250, 1_000])
def test_any_number_of_tables(election: Election, tables: int) -> None:
    sim = simulate(election, tables=tables, seed=3)
    assert len(set(sim.tables)) == tables and len(sim.registered) == len(sim.null) == tables
    assert all(election.geography.pattern.fullmatch(t) for t in sim.tables)
    states = len(sim.names["state"])
    assert states == 24 if tables >= 250 else 1 <= states <= tables  # small states appear from ~250 tables


def test_units_get_names(big: SimulatedElection) -> None:
    assert big.names["state"]["01"] == "Distrito Capital"
    assert big.names["municipality"]["0101"] == "Municipio 0101"
    for level, width in (("municipality", 4), ("parish", 6), ("centre", 9)):
        assert set(big.names[level]) == {t[:width] for t in big.tables}
    assert "table" not in big.names


def test_write_round_trips(tmp_path: Path, election: Election) -> None:
    sim = simulate(election, tables=25_000, seed=11)
    calls: list[int] = []
    paths = write(sim, tmp_path / "out", progress=calls.append)
    assert paths == {"registry": tmp_path / "out" / "registry.csv", "sheets": tmp_path / "out" / "sheets.csv"}
    assert calls == [10_000, 20_000, 25_000]
    records = list(read_records(paths["sheets"].read_text(encoding="utf-8"), election, "csv", where="sheets.csv"))
    assert [r.error for r in records if r.error] == []
    assert [r.sheet for r in records] == list(sim.sheets())
    registry = paths["registry"].read_text(encoding="utf-8").splitlines()
    assert registry[0] == "table,registered"
    assert registry[1:] == [f"{t},{r}" for t, r in zip(sim.tables, sim.registered.tolist(), strict=True)]


@pytest.mark.parametrize("which", ["ve2024", "generic"])
def test_write_is_byte_identical_to_write_csv(tmp_path: Path, election: Election, which: str) -> None:
    if which == "generic":
        election = _generic(
            ["region", "district", "table"], r"R(?P<region>\d)-(?P<district>[0-9]{3})/(?P<table>\d\d)", 3
        )
    sim = simulate(election, tables=500, seed=5)
    expected = io.StringIO()
    write_csv(expected, ((s, {}) for s in sim.sheets()), election, [])
    assert write(sim, tmp_path)["sheets"].read_bytes() == expected.getvalue().encode("utf-8")


@pytest.mark.parametrize(
    ("levels", "table_id", "candidates"),
    [
        (["region", "district", "table"], r"R(?P<region>\d{1})-(?P<district>[0-9]{3})/(?P<table>\d\d)", 3),
        (["table"], r"^(?P<table>\d{5})$", 1),
        (["centre", "table"], r"(?P<centre>\d{3})\.(?P<table>\d{2})", 2),
    ],
)
def test_other_geographies(levels: list[str], table_id: str, candidates: int) -> None:
    election = _generic(levels, table_id, candidates)
    sim = simulate(election, tables=3_000, seed=1)
    assert len(set(sim.tables)) == 3_000
    assert all(election.geography.pattern.fullmatch(t) for t in sim.tables)
    assert [f for s in sim.sheets() for f in check(s, election)] == []
    assert set(sim.names) == set(levels[:-1])


@pytest.mark.parametrize(
    "table_id",
    [r"(?P<region>[A-Z]{2})(?P<district>\d{3})(?P<table>\d{2})", r"(?P<region>\d+)(?P<district>\d{3})(?P<table>\d{2})"],
)
def test_unsupported_table_ids_are_refused(table_id: str) -> None:
    with pytest.raises(InputError, match="cannot generate table ids"):
        simulate(_generic(["region", "district", "table"], table_id, 2), tables=10, seed=1)


def test_impossible_sizes_are_refused(election: Election) -> None:
    with pytest.raises(InputError, match="at most 9,999 tables"):
        simulate(_generic(["table"], r"(?P<table>\d{4})", 2), tables=10_000, seed=1)
    with pytest.raises(InputError, match="at least 1"):
        simulate(election, tables=0, seed=1)
    with pytest.raises(InputError, match="seed"):
        simulate(election, tables=10, seed=-1)
