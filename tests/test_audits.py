"""Risk-limiting audits end to end: plan from the published sheets, draw from a seed, count the simulated
paper, record, measure; a right outcome is confirmed and a wrong one escalates to a full hand count."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.independent.cvrs import overstatement
from tallyproof.sheets.files import write_csv
from tallyproof.sheets.sheet import Source, TallySheet
from tallyproof.simulation.election import SimulatedElection, simulate, table_sheets
from tallyproof.simulation.paper import NONE, box, hand_count, write_cvrs
from tallyproof.stats import batch
from tallyproof.stats.audit import ReportedContest
from tallyproof.stats.manifest import receipts_of
from tallyproof.stats.sampling import draw_with_replacement, draw_without_replacement
from tallyproof.storage import schema as s
from tallyproof.storage.audits import AuditReport, Audits, reported_of
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
    assert planned.exit_code == 0 and "boxes to count in full" in planned.stdout
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


# -- Ballot-level comparison: the machines' cast vote records against the paper ---------------------


def cvrs_of(sim: SimulatedElection, *, wrong: bool) -> bytes:
    """The machines' records, agreeing with the official sheets (swapped ones when ``wrong``)."""
    cards = swapped(sim) if wrong else sim.cards
    out = io.StringIO()
    write_cvrs(out, table_sheets(sim.election, sim.tables, cards, sim.null, sim.blank, sim.registered), sim.election)
    return out.getvalue().encode()


def compared(
    store: Store, sim: SimulatedElection, *, method: str, cvrs: bytes, seed: str = "dice 3 1 4"
) -> AuditReport:
    """Plan a comparison audit with ``cvrs``, count the true paper, record it, and measure."""
    audits = Audits(store)
    audit_id = audits.plan(method=method, risk_limit=0.1, seed=seed, cvrs=cvrs)
    paper = {str(sheet.table): sheet for sheet in sim.sheets()}
    drawn = [(d.table, d.receipt) for d in audits.draws(audit_id)]
    audits.record(
        audit_id, hand_count(paper, drawn, method=method, seed=seed, election=sim.election).encode(), name="c"
    )
    return audits.status(audit_id)


@pytest.mark.parametrize("method", ["kaplan-markov", "alpha"])
def test_a_comparison_audit_confirms_a_right_outcome_and_escalates_a_wrong_one(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path, method: str
) -> None:
    right = compared(
        store_of(make_store, sim, tmp_path, wrong=False), sim, method=method, cvrs=cvrs_of(sim, wrong=False)
    )
    assert right.status.decision == "confirm" and right.discrepancies == ()
    assert all(d.cvr is not None for d in right.draws)
    wrong = compared(store_of(make_store, sim, tmp_path, wrong=True), sim, method=method, cvrs=cvrs_of(sim, wrong=True))
    assert wrong.status.decision == "full hand count" and wrong.counted == wrong.audit.planned
    assert 2.0 in dict(wrong.discrepancies).values()  # records for the reported winner, receipts for the true one


def test_comparison_draws_are_uniform_receipts_anyone_re_derives(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    """Kaplan–Markov draws with replacement, ALPHA without; both from the manifest, as the sampler says."""
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits, reported = Audits(store), reported_of(store, "official")
    for method, draw in (("kaplan-markov", draw_with_replacement), ("alpha", draw_without_replacement)):
        audit_id = audits.plan(method=method, risk_limit=0.1, seed="dice 7", size=400, cvrs=cvrs_of(sim, wrong=False))
        drawn = [(d.table, d.receipt) for d in audits.draws(audit_id)]
        tickets = draw("dice 7", 400, int(reported.ballots.sum()))
        assert drawn == [(str(reported.tables[t]), r) for t, r in receipts_of(reported.ballots, tickets)]
    assert len(set(drawn)) == 400  # ALPHA's, without replacement


def test_the_cvr_file_is_kept_and_its_sha256_recorded_with_each_draws_record(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits, data = Audits(store), cvrs_of(sim, wrong=False)
    first, second = (
        audits.plan(method=m, risk_limit=0.1, seed="dice 2", cvrs=data) for m in ("kaplan-markov", "alpha")
    )
    digest = hashlib.sha256(data).hexdigest()
    assert audits.audit(first).cvrs_sha256 == audits.audit(second).cvrs_sha256 == digest
    with store._read() as conn:
        kept = conn.execute(select(s.batches.c.id, s.batches.c.raw).where(s.batches.c.kind == "cvrs")).all()
        linked = conn.execute(select(s.audit_cvrs.c.batch_id, s.audit_cvrs.c.sha256)).all()
    assert [raw for _, raw in kept] == [data]  # kept once, byte for byte, for both audits
    assert linked == [(kept[0][0], digest)] * 2
    records = {(t, int(r)): v for t, r, v in csv.reader(io.StringIO(data.decode())) if r != "receipt"}
    assert all(d.cvr == records[(d.table, d.receipt or 0)] for d in audits.draws(first))
    counts = "table,receipt,vote\n" + "".join(f"{d.table},{d.receipt},{d.cvr}\n" for d in audits.draws(first))
    assert audits.record(first, counts.encode(), name="c.csv") == audits.record(first, counts.encode(), name="c.csv")
    assert audits.status(first).status.decision == "confirm"  # the same file recorded twice, kept once


def test_the_machines_number_the_receipts_whatever_the_audits_seed(ve2024: Election, sim: SimulatedElection) -> None:
    """The records are committed before the seed: a comparison finds receipt i where the machine printed it."""
    sheet = next(iter(sim.sheets()))
    draws = [(str(sheet.table), i) for i in range(1, 30)]
    paper = {str(sheet.table): sheet}
    first, second = (hand_count(paper, draws, method="alpha", seed=seed, election=ve2024) for seed in ("a", "b"))
    out = io.StringIO()
    write_cvrs(out, [sheet], ve2024)
    assert first == second == "\n".join(out.getvalue().splitlines()[:30]) + "\n"  # the paper is what was recorded
    assert hand_count(paper, draws, method="bravo", seed="a", election=ve2024) != first  # polling: the seed's order


@pytest.mark.parametrize(
    ("change", "message", "where"),
    [
        (
            lambda rows: [rows[0], [rows[1][0], rows[1][1], "none" if rows[1][2] != "none" else "EG"], *rows[2:]],
            "the records of table 010101001.01 do not tally to its published sheet",
            "cvrs.csv",
        ),
        (
            lambda rows: [*rows[:2], [rows[1][0], rows[1][1], rows[2][2]], *rows[3:]],
            "receipt 1 of table 010101001.01 has two records",
            "cvrs.csv:3",
        ),
        (
            lambda rows: [*rows[:2], ["999999999.99", "1", "EG"], *rows[2:]],
            "table '999999999.99' has no published sheet",
            "cvrs.csv:3",
        ),
        (lambda rows: [*rows[:2], [rows[1][0], "x", "EG"], *rows[3:]], "receipt 'x' is not a number", "cvrs.csv:3"),
        (lambda rows: [*rows[:2], [rows[1][0], "99999", "EG"], *rows[3:]], "it has no receipt 99999", "cvrs.csv:3"),
        (lambda rows: [*rows[:2], [rows[1][0], "2", "XX"], *rows[3:]], "unknown vote 'XX'", "cvrs.csv:3"),
        (
            lambda rows: [["table", "ballot", "vote"], *rows[1:]],
            "expected the columns table,receipt,vote",
            "cvrs.csv:1",
        ),
    ],
)
def test_cvrs_that_do_not_tally_to_the_sheets_are_refused_and_kept(
    make_store: Callable[..., Store],
    sim: SimulatedElection,
    tmp_path: Path,
    change: Callable[[list[list[str]]], list[list[str]]],
    message: str,
    where: str,
) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    rows = list(csv.reader(io.StringIO(cvrs_of(sim, wrong=False).decode())))
    bad = "".join(",".join(row) + "\n" for row in change(rows)).encode()
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        Audits(store).plan(method="kaplan-markov", risk_limit=0.1, seed="dice 1", cvrs=bad, cvrs_name="cvrs.csv")
    assert raised.value.where == where
    with store._read() as conn:  # the refused file is kept as received; no audit was planned
        assert conn.execute(select(s.batches.c.raw).where(s.batches.c.kind == "cvrs")).scalars().all() == [bad]
        assert conn.execute(select(s.audits.c.id)).all() == []


def test_cvrs_of_other_sheets_are_refused_naming_the_table(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    """Records that agree with the swapped sheets do not agree with the right ones: a comparison would be moot."""
    store = store_of(make_store, sim, tmp_path, wrong=False)
    with pytest.raises(InputError, match=rf"table {re.escape(sim.tables[0])} do not tally.*EG \d+ \(sheet \d+\)"):
        Audits(store).plan(method="alpha", risk_limit=0.1, seed="dice 1", cvrs=cvrs_of(sim, wrong=True))
    with pytest.raises(InputError, match="compares receipts with the machines' cast vote records") as raised:
        Audits(store).plan(method="kaplan-markov", risk_limit=0.1, seed="dice 1")
    assert raised.value.where == "--cvrs"
    with pytest.raises(InputError, match="a bravo audit does not use cast vote records"):
        Audits(store).plan(method="bravo", risk_limit=0.1, seed="dice 1", cvrs=cvrs_of(sim, wrong=False))


@pytest.mark.parametrize(
    ("recorded", "audited", "error"),
    [
        ("EG", "EG", 0),
        ("none", "none", 0),
        ("EG", "NM", 2),  # the winner's vote was the runner-up's
        ("EG", "LM", 2),  # … or a minor candidate's: that pair's margin is overstated by 2
        ("EG", "none", 1),
        ("NM", "LM", 1),  # a loser's vote moved to another loser: the larger overstatement counts
        ("none", "EG", -1),
        ("NM", "EG", -1),  # understates the margin over NM by 2 but over LM by only 1
        ("NM", "missing", 2),  # a receipt not in the box
    ],
)
def test_a_ballots_overstatement_is_the_largest_over_the_losers(recorded: str, audited: str, error: int) -> None:
    contest = ReportedContest({"EG": 60, "NM": 30, "LM": 10}, "EG", 105)
    assert overstatement(contest, recorded, audited) == error


def test_a_comparison_audit_from_the_command_line(tmp_path: Path) -> None:
    """simulate --cvrs, plan with the records, count the paper, record, status; discrepancies only where altered."""
    run, folder, db = CliRunner(), tmp_path / "sim", str(tmp_path / "cmp.db")
    args = ["simulate", "--tables", "300", "--seed", "4", "--scenario", "altered", "--cvrs", "-o", str(folder)]
    assert run.invoke(app, args).exit_code == 0
    assert run.invoke(app, ["init", "--election", "ve2024", "--db", db]).exit_code == 0
    assert run.invoke(app, ["registry", "import", str(folder / "registry.csv"), "--db", db]).exit_code == 0
    assert run.invoke(app, ["import", str(folder / "official.csv"), "--source", "official", "--db", db]).exit_code == 0
    digest = hashlib.sha256((folder / "cvrs.csv").read_bytes()).hexdigest()
    for audit, method, size in (("1", "alpha", []), ("2", "kaplan-markov", ["--size", "3000"])):
        plan = ["audit", "plan", "--method", method, "--seed", "dice 8", "--cvrs", str(folder / "cvrs.csv"), *size]
        planned = run.invoke(app, [*plan, "--db", db], env={"COLUMNS": "300"})
        assert planned.exit_code == 0 and f"SHA-256 {digest}" in planned.stdout
        counts = str(tmp_path / f"c{audit}.csv")
        assert (
            run.invoke(
                app, ["audit", "count-paper", audit, str(folder / "paper.csv"), "-o", counts, "--db", db]
            ).exit_code
            == 0
        )
        assert run.invoke(app, ["audit", "record", audit, counts, "--db", db]).exit_code == 0
    said = [json.loads(run.invoke(app, ["audit", "status", a, "--format", "json", "--db", db]).stdout) for a in "12"]
    assert said[0]["status"]["decision"] == "confirm" and said[0]["audit"]["cvrs_sha256"] == digest
    affected = set(json.loads((folder / "truth.json").read_text(encoding="utf-8"))["affected"])
    found = {key.split()[0] for key in said[1]["discrepancies"]}
    assert found and found <= affected  # the records differ from the paper only where a sheet was altered
    text = run.invoke(app, ["audit", "status", "2", "--db", db], env={"COLUMNS": "300"}).stdout
    assert "the machine's record overstated the winner's margin by" in text
    alone = run.invoke(app, ["simulate", "--tables", "10", "--cvrs", "-o", str(tmp_path / "x")])
    assert alone.exit_code == 2 and "--cvrs" in alone.output and not (tmp_path / "x").exists()


def test_a_box_that_cannot_be_found_has_the_largest_taint(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    """A drawn box that is not there counts as overstating the margin by all it could (taint 1), never as
    an empty box; a box marked missing that was not drawn is refused."""
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits = Audits(store)
    audit_id = audits.plan(method="batch", risk_limit=0.1, seed="dice 3")
    first, *rest = audits.draws(audit_id)
    paper = {str(sheet.table): sheet for sheet in sim.sheets() if str(sheet.table) != first.table}
    counts = hand_count(
        paper,
        [(d.table, d.receipt) for d in audits.draws(audit_id)],
        method="batch",
        seed="dice 3",
        election=sim.election,
    )
    assert first.table not in counts
    audits.record(audit_id, counts.encode(), name="counts.csv")
    assert audits.status(audit_id).counted == 0  # the first draw has no count yet
    assert audits.record(audit_id, b"", name="--missing", missing=[first.table]) == 1
    report = audits.status(audit_id)
    assert report.counted == len(rest) + 1 and dict(report.discrepancies)[first.table] == 1.0
    assert report.status.decision != "confirm"
    with pytest.raises(InputError, match="was not drawn"):
        audits.record(audit_id, b"", name="--missing", missing=["999999999.99"])
    bravo = audits.plan(method="bravo", risk_limit=0.1, seed="dice 3")
    with pytest.raises(InputError, match="a receipt not found is the vote 'missing'"):
        audits.record(bravo, b"", name="--missing", missing=[first.table])


def test_counts_are_never_silently_replaced(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    """A file that counts a receipt twice differently is refused naming both lines; a second file that
    counts a draw differently is refused unless it says it is a correction; the same count again is fine."""
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits = Audits(store)
    audit_id = audits.plan(method="bravo", risk_limit=0.1, seed="dice 9")
    d = audits.draws(audit_id)[0]
    twice = f"table,receipt,vote\n{d.table},{d.receipt},EG\n{d.table},{d.receipt},NM\n".encode()
    with pytest.raises(InputError, match=r"counted twice, differently \(line 2 too\)") as raised:
        audits.record(audit_id, twice, name="t.csv")
    assert raised.value.where == "t.csv:3"
    short = f"table,receipt,vote\n{d.table},{d.receipt}\n".encode()
    with pytest.raises(InputError, match="expected 3 fields") as raised:
        audits.record(audit_id, short, name="s.csv")
    assert raised.value.where == "s.csv:2"
    audits.record(audit_id, f"table,receipt,vote\n{d.table},{d.receipt},EG\n".encode(), name="a.csv")
    assert audits.record(audit_id, f"table,receipt,vote\n{d.table},{d.receipt},EG\n".encode(), name="b.csv") == 1
    other = f"table,receipt,vote\n{d.table},{d.receipt},NM\n".encode()
    with pytest.raises(InputError, match=r"already counted differently.*--correct") as raised:
        audits.record(audit_id, other, name="c.csv")
    assert raised.value.where == "c.csv:2" and audits.counts(audit_id)[(d.table, d.receipt)] == "EG"
    audits.record(audit_id, other, name="c.csv", correct=True)
    assert audits.counts(audit_id)[(d.table, d.receipt)] == "NM"


def test_the_command_line_checks_before_it_stores(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    db, run = str(store.where), CliRunner()
    nowhere = run.invoke(app, ["audit", "plan", "--seed", "x", "-o", str(tmp_path / "no" / "d.csv"), "--db", db])
    assert nowhere.exit_code == 2 and "cannot write there" in nowhere.output and Audits(store).ids() == []
    zero = run.invoke(app, ["audit", "plan", "--seed", "x", "--size", "0", "--db", db])
    assert zero.exit_code == 2 and "--size" in zero.output and Audits(store).ids() == []
    planned = run.invoke(app, ["audit", "plan", "--seed", "x", "--size", "1", "--db", db])
    assert "1 box to count in full" in planned.stdout and "audit draws 1" in " ".join(planned.stdout.split())
    listed = run.invoke(app, ["audit", "draws", "1", "--db", db])
    assert listed.stdout.splitlines()[0] == "draw,table,receipt" and len(listed.stdout.splitlines()) == 2
    table = listed.stdout.splitlines()[1].split(",")[1]
    assert run.invoke(app, ["audit", "record", "1", "--missing", table, "--db", db]).exit_code == 0
    status = " ".join(run.invoke(app, ["audit", "status", "1", "--db", db]).stdout.split())
    assert f"table {table}: the box was not found" in status and "count every ballot by hand" in status
    binary = tmp_path / "paper.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    bad = run.invoke(app, ["audit", "count-paper", "1", str(binary), "-o", str(tmp_path / "c.csv"), "--db", db])
    assert bad.exit_code == 2 and "--format" not in bad.output and str(binary) in bad.output


@pytest.mark.parametrize("method", ["bravo", "batch"])
def test_an_audit_short_of_its_limit_escalates_by_drawing_more(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path, method: str
) -> None:
    """A plan too small to confirm is extended from the same seed: the draws so far stay first, the new ones
    are those a larger plan would have drawn, and the counted sample then confirms."""
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits = Audits(store)
    small = audits.plan(method=method, risk_limit=0.1, seed="dice 2", size=2)
    paper = {str(sheet.table): sheet for sheet in sim.sheets()}

    def count_all(audit_id: int) -> str:
        draws = [(d.table, d.receipt) for d in audits.draws(audit_id)]
        counts = hand_count(paper, draws, method=method, seed="dice 2", election=sim.election)
        audits.record(audit_id, counts.encode(), name=f"counts-{len(draws)}.csv")
        return audits.status(audit_id).status.decision

    assert count_all(small) == "full hand count"
    assert audits.extend(small, 200) == 202
    large = audits.plan(method=method, risk_limit=0.1, seed="dice 2", size=202)
    pairs = [[(d.table, d.receipt) for d in audits.draws(i)] for i in (small, large)]
    assert pairs[0] == pairs[1] and count_all(small) == "confirm"
    with pytest.raises(InputError, match="at least 1 more"):
        audits.extend(small, 0)


def test_an_audit_is_not_extended_once_the_audited_sheets_changed(
    make_store: Callable[..., Store], sim: SimulatedElection, tmp_path: Path
) -> None:
    store = store_of(make_store, sim, tmp_path, wrong=False)
    audits = Audits(store)
    audit_id = audits.plan(method="batch", risk_limit=0.1, seed="dice 2")
    first = next(iter(sim.sheets()))
    changed = TallySheet.from_cards(sim.election, first.table, [c + 1 for c in first.cards or ()], null=0, blank=0)
    import_data(store, sheets_csv([changed], sim.election), name="later.csv", source=Source.OFFICIAL)
    with pytest.raises(InputError, match="changed since the audit was planned"):
        audits.extend(audit_id, 5)
