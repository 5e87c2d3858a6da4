"""Risk-limiting audits end to end: plan from the published sheets, draw from a seed, count the simulated
paper, record, measure; a right outcome is confirmed and a wrong one escalates to a full hand count."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.paper import NONE, box, hand_count
from tallyproof.sheets.files import write_csv
from tallyproof.sheets.sheet import Source, TallySheet
from tallyproof.simulate import SimulatedElection, simulate, table_sheets
from tallyproof.stats import batch
from tallyproof.storage import schema as s
from tallyproof.storage.audits import Audits
from tallyproof.storage.imports import import_data, import_registry
from tallyproof.storage.store import Store


def sheets_csv(sheets: list[TallySheet], election: Election) -> bytes:
    out = io.StringIO()
    write_csv(out, ((sheet, {}) for sheet in sheets), election, [])  # type: ignore[arg-type]
    return out.getvalue().encode()


def swapped(sim: SimulatedElection) -> np.ndarray:
    """The cards with the two leading candidates' votes swapped at every table: a wrong reported outcome."""
    owner = np.asarray(sim.election.card_to_candidate)
    first, second = np.argsort(-sim.candidate_votes().sum(axis=0))[:2]
    cards = sim.cards.copy()
    a, b = cards[:, owner == first].sum(axis=1), cards[:, owner == second].sum(axis=1)
    cards[:, (owner == first) | (owner == second)] = 0
    cards[:, np.flatnonzero(owner == first)[0]] = b
    cards[:, np.flatnonzero(owner == second)[0]] = a
    return cards


@pytest.fixture(scope="module")
def sim(ve2024: Election) -> SimulatedElection:
    return simulate(ve2024, tables=300, seed=11)


def store_of(make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path, *, wrong: bool) -> Store:
    store = make_store(name=f"audit-{wrong}.db")
    cards = swapped(sim) if wrong else sim.cards
    official = list(table_sheets(sim.election, sim.tables, cards, sim.null, sim.blank, sim.registered))
    import_data(store, sheets_csv(official, sim.election), name="official.csv", source=Source.OFFICIAL)
    registry = tmp_path / "registry.csv"
    rows = zip(sim.tables, sim.registered.tolist(), strict=True)
    registry.write_text("table,registered\n" + "".join(f"{t},{r}\n" for t, r in rows), encoding="utf-8")
    import_registry(store, registry)
    return store


def audited(store: Store, sim: SimulatedElection, *, method: str, seed: str) -> str:
    audits = Audits(store)
    audit_id = audits.plan(method=method, risk_limit=0.1, seed=seed)
    a, draws = audits.audit(audit_id), audits.draws(audit_id)
    paper = {str(sheet.table): sheet for sheet in sim.sheets()}
    counts = hand_count(paper, [(d.table, d.receipt) for d in draws], method=method, seed=a.seed, election=sim.election)
    audits.record(audit_id, counts.encode(), name="counts.csv")
    return audits.status(audit_id).status.decision


@pytest.mark.parametrize("method", ["batch", "bravo"])
def test_a_right_outcome_is_confirmed_and_a_wrong_one_goes_to_a_full_hand_count(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path, method: str
) -> None:
    right = store_of(make_store, sim, tmp_path, wrong=False)
    wrong = store_of(make_store, sim, tmp_path, wrong=True)
    assert audited(right, sim, method=method, seed="public dice 4 8 1 5") == "confirm"
    assert audited(wrong, sim, method=method, seed="public dice 4 8 1 5") == "full hand count"


def test_a_wrong_outcome_is_rarely_confirmed(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    """Whatever the seed, the batch audit of the swapped result does not confirm it (20 seeds)."""
    wrong = store_of(make_store, sim, tmp_path, wrong=True)
    decisions = [audited(wrong, sim, method="batch", seed=f"seed {i}") for i in range(20)]
    assert decisions.count("confirm") <= 2  # at most 10%, the risk limit


def test_the_plan_is_the_batch_maths_and_anyone_re_derives_the_draws(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits = Audits(store)
    first, second = (audits.plan(method="batch", risk_limit=0.05, seed="dice 1 2 3") for _ in range(2))
    assert [d.table for d in audits.draws(first)] == [d.table for d in audits.draws(second)]
    a = audits.audit(first)
    assert a.total_error_bound is not None and a.planned == batch.sample_size(float(a.total_error_bound), 0.05)
    other = audits.plan(method="batch", risk_limit=0.05, seed="dice 1 2 4")
    assert [d.table for d in audits.draws(other)] != [d.table for d in audits.draws(first)]


def test_the_risk_is_measured_over_the_draws_counted_in_order(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits = Audits(store)
    audit_id = audits.plan(method="bravo", risk_limit=0.1, seed="dice 9")
    draws = audits.draws(audit_id)
    paper = {str(sheet.table): sheet for sheet in sim.sheets()}
    later = hand_count(
        paper, [(d.table, d.receipt) for d in draws[1:]], method="bravo", seed="dice 9", election=sim.election
    )
    audits.record(audit_id, later.encode(), name="later.csv")
    report = audits.status(audit_id)
    assert report.counted == 0 and report.status.decision == "continue"  # the first draw is not counted yet


def test_bad_counts_are_named_by_line_and_the_file_is_kept(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits = Audits(store)
    audit_id = audits.plan(method="bravo", risk_limit=0.1, seed="dice 9")
    d = audits.draws(audit_id)[0]
    undrawn = f"table,receipt,vote\n{d.table},{d.receipt},EG\n{d.table},{(d.receipt or 0) + 1},EG\n"
    with pytest.raises(InputError, match="was not drawn by this audit") as raised:
        audits.record(audit_id, undrawn.encode(), name="c.csv")
    assert raised.value.where == "c.csv:3" and audits.counts(audit_id) == {}
    with pytest.raises(InputError, match="unknown vote 'XX'") as raised:
        audits.record(audit_id, f"table,receipt,vote\n{d.table},{d.receipt},XX\n".encode(), name="d.csv")
    assert raised.value.where == "d.csv:2"
    with store._read() as conn:  # every file is kept as received, the refused ones too
        kept = conn.execute(select(s.batches.c.filename).where(s.batches.c.kind == "audit")).scalars().all()
    assert kept == ["c.csv", "d.csv"]
    batch_id = audits.plan(method="batch", risk_limit=0.1, seed="dice 9")
    with pytest.raises(InputError, match="was not drawn by this audit"):
        audits.record(batch_id, sheets_csv([next(iter(sim.sheets()))], sim.election), name="e.csv")


def test_a_box_holds_its_sheet_and_a_missing_one_counts_for_the_runner_up(
    ve2024: Election, sim: SimulatedElection
) -> None:
    sheet = next(iter(sim.sheets()))
    receipts = box(sheet, seed="s", election=ve2024)
    owner = np.asarray(ve2024.card_to_candidate)
    assert np.array_equal(np.bincount(receipts[receipts != NONE], minlength=len(ve2024.candidates)), sheet.candidates)
    assert int((receipts == NONE).sum()) == (sheet.null or 0) + (sheet.blank or 0) and owner.size == 38
    assert np.array_equal(receipts, box(sheet, seed="s", election=ve2024))  # the same audit, the same box
    text = hand_count({}, [("999999999.01", 1)], method="bravo", seed="s", election=ve2024)
    assert text.splitlines()[1] == "999999999.01,1,missing"


def test_audits_from_the_command_line(make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    db, run = str(store.where), CliRunner()
    paper = tmp_path / "paper.csv"
    paper.write_bytes(sheets_csv(list(sim.sheets()), sim.election))
    planned = run.invoke(
        app, ["audit", "plan", "--seed", "dice 5", "--risk-limit", "0.1", "-o", str(tmp_path / "d.csv"), "--db", db]
    )
    assert planned.exit_code == 0 and "tables' boxes to count in full" in planned.stdout
    assert (tmp_path / "d.csv").read_text().startswith("draw,table,receipt\n1,")
    counted = run.invoke(app, ["audit", "count-paper", "1", str(paper), "-o", str(tmp_path / "c.csv"), "--db", db])
    assert counted.exit_code == 0
    assert (
        run.invoke(app, ["audit", "record", "1", str(tmp_path / "c.csv"), "--by", "Team A", "--db", db]).exit_code == 0
    )
    status = run.invoke(app, ["audit", "status", "1", "--format", "json", "--db", db])
    said = json.loads(status.stdout)
    assert said["status"]["decision"] == "confirm" and said["audit"]["seed"] == "dice 5"
    bad = run.invoke(app, ["audit", "plan", "--seed", "x", "--risk-limit", "2", "--db", db])
    assert bad.exit_code == 2 and "--risk-limit" in bad.output
    unknown = run.invoke(app, ["audit", "plan", "--seed", "x", "--method", "guess", "--db", db])
    assert unknown.exit_code == 2 and "unknown method 'guess'" in unknown.output
