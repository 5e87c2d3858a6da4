"""Manipulation scenarios: each does what its ground truth says, and its files import cleanly."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.election import Election, load_election
from tallyproof.errors import InputError
from tallyproof.sheets.sheet import Source
from tallyproof.simulation.election import SimulatedElection, simulate, write
from tallyproof.simulation.scenarios import SCENARIOS, ScenarioData, TableResults, scenario, write_scenario
from tallyproof.storage.imports import import_file, import_registry
from tallyproof.storage.store import Store

TABLES = 2_000
FILES = ("registry", "official", "witness", "paper", "announcement", "truth")


@pytest.fixture(scope="module")
def election() -> Election:
    return load_election("ve2024")


@pytest.fixture(scope="module")
def sim(election: Election) -> SimulatedElection:
    return simulate(election, tables=TABLES, seed=3)


@pytest.fixture(scope="module")
def played(sim: SimulatedElection) -> dict[str, ScenarioData]:
    return {name: scenario(sim, name, seed=5) for name in SCENARIOS}


def _rows(results: TableResults) -> dict[str, tuple[int, ...]]:
    """Each table's counts (cards, null, blank, registered) as one tuple."""
    matrix = np.column_stack((results.cards, results.null, results.blank, results.registered)).tolist()
    return {t: tuple(row) for t, row in zip(results.tables, matrix, strict=True)}


def _derived(data: ScenarioData) -> dict[str, int]:
    """Candidate totals of the official sheets the announcement says it counted."""
    counted = set(data.truth_info["announcement_tables"])
    rows = [i for i, t in enumerate(data.official.tables) if t in counted]
    votes = data.official.candidate_votes(data.truth.election)[rows].sum(axis=0).tolist()
    return {c.id: v for c, v in zip(data.truth.election.candidates, votes, strict=True)}


def _same_as_truth(results: TableResults, sim: SimulatedElection) -> bool:
    arrays = ("cards", "null", "blank", "registered")
    return results.tables == sim.tables and all(np.array_equal(getattr(results, a), getattr(sim, a)) for a in arrays)


def _coverage(data: ScenarioData, tables: list[str]) -> float:
    witnessed = set(data.witness.tables)
    return sum(t in witnessed for t in tables) / len(tables)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_same_seed_gives_byte_identical_files(tmp_path: Path, sim: SimulatedElection, name: str) -> None:
    first = write_scenario(scenario(sim, name, seed=9), tmp_path / "a")
    second = write_scenario(scenario(sim, name, seed=9), tmp_path / "b")
    assert set(first) == set(FILES)
    assert all(first[f].read_bytes() == second[f].read_bytes() for f in FILES)
    other = write_scenario(scenario(sim, name, seed=10), tmp_path / "c")
    assert other["witness"].read_bytes() != first["witness"].read_bytes()


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "announced"])
def test_the_announcement_is_the_sum_of_the_sheets_it_counts(played: dict[str, ScenarioData], name: str) -> None:
    data = played[name]
    announced = data.announcement
    assert announced["candidates"] == _derived(data)
    assert announced["tables_counted"] == len(data.truth_info["announcement_tables"])
    assert announced["tables_counted"] == round(0.8 * len(data.official.tables))
    assert announced["share_counted"] == 0.8 and announced["date"] == "2024-07-29"
    assert announced["voters"] == sum(announced["candidates"].values()) + announced["null"]
    assert announced["registered"] == int(data.truth.registered.sum())


def test_honest(played: dict[str, ScenarioData], sim: SimulatedElection) -> None:
    data = played["honest"]
    assert _same_as_truth(data.official, sim)
    official, witness = _rows(data.official), _rows(data.witness)
    assert set(witness) < set(official) and all(official[t] == row for t, row in witness.items())
    assert 0.82 < len(witness) / len(official) < 0.88
    assert data.truth_info["affected"] == [] and data.truth_info["scenario"] == "honest"
    truth = sim.candidate_votes().sum(axis=0).tolist()
    assert list(data.truth_info["true_totals"].values()) == truth


def test_announced_names_the_runner_up_with_votes_no_sheets_hold(played: dict[str, ScenarioData]) -> None:
    data = played["announced"]
    assert _same_as_truth(data.official, data.truth)
    announced, derived = data.announcement["candidates"], _derived(data)
    leader, runner_up = data.truth_info["leader"], data.truth_info["runner_up"]
    assert max(announced, key=announced.__getitem__) == runner_up != max(derived, key=derived.__getitem__) == leader
    valid = sum(derived.values())
    assert sum(announced.values()) == valid  # a plausible total: the true partial one
    assert announced[runner_up] == round(0.512 * valid) and announced[leader] == round(0.442 * valid)
    everything = data.official.candidate_votes(data.truth.election).sum(axis=0)
    assert announced[runner_up] > everything[data.truth.election.candidate_index(runner_up)]


def test_altered_sheets_differ_from_the_witness_copies_exactly_where_altered(played: dict[str, ScenarioData]) -> None:
    data = played["altered"]
    official, witness, truth = _rows(data.official), _rows(data.witness), _rows(TableResults.of(data.truth))
    affected = set(data.truth_info["affected"])
    assert {t for t, row in witness.items() if official[t] != row} == affected & set(witness)
    assert all(witness[t] == truth[t] for t in witness)
    assert affected & set(witness) and affected - set(witness)  # altered with and without a witness
    assert {t for t in official if official[t] != truth[t]} == affected
    votes = data.official.candidate_votes(data.truth.election)
    honest = TableResults.of(data.truth).candidate_votes(data.truth.election)
    assert np.array_equal(votes.sum(axis=1), honest.sum(axis=1))  # valid votes kept
    lead = data.truth.election.candidate_index(data.truth_info["leader"])
    rows = [i for i, t in enumerate(data.official.tables) if t in affected]
    assert (votes[rows, lead] < honest[rows, lead]).all()


def test_stuffed_tables_are_full_and_witnesses_saw_the_same(played: dict[str, ScenarioData]) -> None:
    data = played["stuffing"]
    official, witness, truth = _rows(data.official), _rows(data.witness), _rows(TableResults.of(data.truth))
    affected = data.truth_info["affected"]
    assert 0.015 * TABLES < len(affected) < 0.045 * TABLES
    assert {t for t in official if official[t] != truth[t]} == set(affected)
    assert all(official[t] == row for t, row in witness.items())
    cast = data.official.cards.sum(axis=1) + data.official.null
    turnout = dict(zip(data.official.tables, (cast / data.official.registered).tolist(), strict=True))
    assert all(0.95 <= turnout[t] <= 1.0 for t in affected)
    assert any(t in witness for t in affected)


def test_fabricated_tables_are_well_formed_but_not_in_the_registry(played: dict[str, ScenarioData]) -> None:
    data = played["fabricated"]
    geography, registry = data.truth.election.geography, set(data.truth.tables)
    fabricated = data.truth_info["affected"]
    assert 0.015 * TABLES < len(fabricated) < 0.025 * TABLES
    assert all(geography.pattern.fullmatch(t) and t not in registry for t in fabricated)
    centres = {geography.unit_key(t, "centre") for t in data.truth.tables}
    assert all(geography.unit_key(t, "centre") in centres for t in fabricated)
    assert set(data.official.tables) - registry == set(fabricated) and not set(fabricated) & set(data.witness.tables)
    assert _same_as_truth(data.official.take(np.flatnonzero([t in registry for t in data.official.tables])), data.truth)
    assert data.official.tables == sorted(data.official.tables)  # each after its centre's tables
    rows = [i for i, t in enumerate(data.official.tables) if t not in registry]
    votes = data.official.candidate_votes(data.truth.election)[rows].sum(axis=0)
    assert votes[data.truth.election.candidate_index(data.truth_info["runner_up"])] > 0.85 * votes.sum()


def test_witnesses_are_scarce_where_the_runner_up_is_strong(played: dict[str, ScenarioData]) -> None:
    data = played["expelled"]
    sim, expelled = data.truth, data.truth_info["expelled_regions"]
    assert len(expelled) == 4 and data.truth_info["region_level"] == "state"
    assert _same_as_truth(data.official, sim)
    inside = [t for t in sim.tables if t[:2] in expelled]
    outside = [t for t in sim.tables if t[:2] not in expelled]
    assert _coverage(data, inside) < 0.3 and _coverage(data, outside) > 0.85
    assert set(data.truth_info["affected"]) == set(inside) - set(data.witness.tables)
    votes, states = sim.candidate_votes(), np.asarray([t[:2] for t in sim.tables])
    runner_up = sim.election.candidate_index(data.truth_info["runner_up"])
    share = {s: votes[states == s, runner_up].sum() / votes[states == s].sum() for s in set(states.tolist())}
    assert min(share[s] for s in expelled) > max(share[s] for s in share if s not in expelled)


@pytest.mark.parametrize("name", SCENARIOS)
def test_written_files_import_with_no_rejects(tmp_path: Path, played: dict[str, ScenarioData], name: str) -> None:
    data = played[name]
    paths = write_scenario(data, tmp_path / name)
    store = Store.sqlite(tmp_path / "x.db", create=True)
    store.init(data.truth.election)
    assert import_registry(store, paths["registry"]).accepted == TABLES
    for key, source, results in (
        ("official", Source.OFFICIAL, data.official),
        ("witness", Source.WITNESS, data.witness),
    ):
        summary = import_file(store, paths[key], source=source)
        assert (summary.accepted, summary.rejected, summary.problems) == (len(results.tables), 0, [])
    announcement = tomllib.loads(paths["announcement"].read_text(encoding="utf-8"))["announcement"]
    assert announcement | {"date": announcement["date"].isoformat()} == data.announcement
    assert json.loads(paths["truth"].read_text(encoding="utf-8")) == data.truth_info


def test_honest_official_sheets_are_the_simulators_sheets(tmp_path: Path, played: dict[str, ScenarioData]) -> None:
    data = played["honest"]
    ours = write_scenario(data, tmp_path / "scenario")
    theirs = write(data.truth, tmp_path / "plain")
    assert ours["official"].read_bytes() == theirs["sheets"].read_bytes()
    assert ours["registry"].read_bytes() == theirs["registry"].read_bytes()


def test_bad_input_is_refused(tmp_path: Path, sim: SimulatedElection, played: dict[str, ScenarioData]) -> None:
    with pytest.raises(InputError, match="unknown scenario 'rigged'; choose one of honest, announced"):
        scenario(sim, "rigged", seed=1)
    with pytest.raises(InputError, match="seed"):
        scenario(sim, "honest", seed=-1)
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="cannot write") as caught:
        write_scenario(played["honest"], blocker)
    assert caught.value.where == str(blocker)


def test_the_command_line_writes_a_scenario(tmp_path: Path) -> None:
    runner = CliRunner()
    folder = tmp_path / "sim"
    args = ["simulate", "--tables", "300", "--seed", "4", "--scenario", "altered", "--output", str(folder)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Scenario altered (seed 4): {folder / 'official.csv'}" in result.output
    assert f"ground truth in {folder / 'truth.json'}" in result.output
    assert {p.name for p in folder.iterdir()} == {
        f"{f}.csv" for f in ("registry", "sheets", "official", "witness", "paper")
    } | {
        "announcement.toml",
        "truth.json",
    }
    assert json.loads((folder / "truth.json").read_text(encoding="utf-8"))["scenario"] == "altered"
    bad = runner.invoke(app, ["simulate", "--tables", "10", "--scenario", "rigged", "--output", str(tmp_path / "x")])
    assert bad.exit_code == 2
    assert "--scenario: unknown scenario 'rigged'; choose one of " + ", ".join(SCENARIOS) in bad.output
    assert not (tmp_path / "x").exists()
    assert all(name in runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "300"}).output for name in SCENARIOS)


def test_the_paper_in_the_boxes_is_what_was_counted(played: dict[str, ScenarioData], sim: SimulatedElection) -> None:
    """The receipts hold the true count where sheets were altered, the stuffed ballots where the box was
    stuffed, and nothing for a fabricated table."""
    altered, stuffed, fabricated = played["altered"], played["stuffing"], played["fabricated"]
    assert altered.paper is not None and np.array_equal(altered.paper.cards, sim.cards)
    assert not np.array_equal(altered.official.cards, altered.paper.cards)
    assert stuffed.paper is not None and np.array_equal(stuffed.paper.cards, stuffed.official.cards)
    assert fabricated.paper is not None and fabricated.paper.tables == sim.tables
    assert set(fabricated.official.tables) - set(fabricated.paper.tables) == set(fabricated.truth_info["affected"])
