"""The command line, run in-process through Typer's runner and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES, generic_header, write_csv
from tallyproof.cli import app
from tallyproof.election import load_election

runner = CliRunner()


def run(*args: str, db: Path, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--db", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.db"
    run("init", "--election", "ve2024", db=path)
    return path


def test_init_import_tabulate(db: Path) -> None:
    out = run("import", str(FIXTURES / "resultados_v2_sample.csv"), str(FIXTURES / "resultados_v1_sample.csv"), db=db)
    assert "copies imported, 0 rejected" in out and "give the same votes, 0 differ" in out
    assert "already imported" in run("import", str(FIXTURES / "resultados_v1_sample.csv"), db=db)
    assert "Edmundo González" in run("tabulate", db=db)
    data = json.loads(run("tabulate", "--by", "municipality", "--format", "json", db=db))
    assert sum(u["valid"] for u in data["units"]) == data["total"]["valid"]
    assert data["total"]["tables_known"] is None  # no registry yet
    run("registry", "derive", db=db)
    data = json.loads(run("tabulate", "--format", "json", "--where", "state=01", db=db))
    assert data["total"]["tables_known"] > 0 and data["where"] == {"state": "01"}
    csv_out = run("tabulate", "--by", "state", "--format", "csv", db=db)
    assert csv_out.splitlines()[0].startswith("level,key,name,tables_counted")


def test_show_compare_export_rejects(db: Path, tmp_path: Path) -> None:
    run("import", str(FIXTURES / "resultados_v2_sample.csv"), str(FIXTURES / "resultados_v1_sample.csv"), db=db)
    out = run("show", "010111001.02", db=db)
    assert "2 copies" in out and "Edmundo González" in out
    assert "As received" in out and "10111001,2," in out  # the row's own text, from the stored file
    assert "0 differ" in run("compare", db=db)
    exported = tmp_path / "all.jsonl"
    run("export", "--format", "jsonl", "--output", str(exported), db=db)
    rows = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert rows and {"table", "candidates", "source", "digest"} <= set(rows[0])
    bad = write_csv(tmp_path / "bad.csv", generic_header(load_election("ve2024")), ["010101001.01,0,300,1,2,3"])
    run("import", str(bad), db=db)
    assert "bad.csv:2" in run("rejects", db=db)


def test_reexport_reimports_to_the_same_totals(db: Path, tmp_path: Path) -> None:
    run("import", str(FIXTURES / "resultados_v2_sample.csv"), db=db)
    exported = tmp_path / "all.csv"
    run("export", "--output", str(exported), db=db)
    other = tmp_path / "other.db"
    run("init", "--election", "ve2024", db=other)
    run("import", str(exported), "--source", "witness", db=other)
    a = json.loads(run("tabulate", "--format", "json", db=db))["total"]
    b = json.loads(run("tabulate", "--format", "json", db=other))["total"]
    assert a["candidates"] == b["candidates"] and a["null"] == b["null"]


def test_errors_name_the_problem_and_set_the_exit_code(db: Path, tmp_path: Path) -> None:
    assert "unknown level 'galaxy'" in run("tabulate", "--by", "galaxy", db=db, code=3)
    assert "--where" in run("tabulate", "--where", "state", db=db, code=2)
    assert "unknown source(s) council" in run("tabulate", "--source", "council", db=db, code=2)
    assert "no store here" in run("tabulate", db=tmp_path / "missing.db", code=4)
    assert "No such file" in run("import", str(tmp_path / "nope.csv"), db=db, code=2)
    assert "does not match" in run("show", "12", db=db, code=2)


def test_simulate_then_import(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    out_dir = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--tables", "300", "--seed", "7", "--output", str(out_dir)])
    assert result.exit_code == 0, result.output
    run("init", "--election", "ve2024", db=db)
    run("registry", "import", str(out_dir / "registry.csv"), db=db)
    assert "300 copies imported, 0 rejected, 0 warnings" in run("import", str(out_dir / "sheets.csv"), db=db)
    data = json.loads(run("tabulate", "--format", "json", db=db))
    assert data["total"]["coverage"] == 1.0 and data["total"]["card_tables"] == 300


def test_the_installed_command_runs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tallyproof", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "tabulate" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "tallyproof", "tabulate", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 4 and "no store here" in done.stderr


def test_import_names_each_bad_row_and_keeps_the_good_ones(db: Path, tmp_path: Path) -> None:
    header = generic_header(load_election("ve2024"))
    rows = [
        "010101001.01,0,300," + ",".join(["1"] * 10),
        "010101001.02,0,300,1,2",
        "0101.01,0,3," + ",".join(["1"] * 10),
    ]
    out = run("import", str(write_csv(tmp_path / "mixed.csv", header, rows)), db=db)
    assert "1 copy imported, 2 rejected" in out
    assert "mixed.csv:3: 5 fields, the header has 13" in out
    assert "mixed.csv:4: table: '0101.01' does not match the table ids of this election (such as 010111043.01)" in out


def test_init_with_a_definition_file(tmp_path: Path) -> None:
    text = load_election("ve2024").source_text.replace('id = "ve2024"', 'id = "ve2024-copy"', 1)
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    assert "Created" in run("init", "--election", str(path), db=tmp_path / "mine.db")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('candidate = "NM"', 'candidate = "XX"', 1), encoding="utf-8")
    out = run("init", "--election", str(bad), db=tmp_path / "bad.db", code=2)
    assert "bad.toml: cards[0].candidate: unknown candidate 'XX'" in out


HEADER = "table,null,candidate:NM,candidate:LM,candidate:JABE,candidate:JOBR,candidate:AE,candidate:CF,candidate:DC,candidate:EG,candidate:EM,candidate:BERA"


def test_review_findings_stay_fixed(db: Path, tmp_path: Path) -> None:
    """Inputs a reviewer used to break the import: each now gives a named error or a reject."""
    ones = ",1" * 9
    files = {
        "hex.csv": f"{HEADER}\n010101001.01,0,0x10{ones}\n",
        "huge.csv": f"{HEADER}\n010101001.02,0,99999999999999999999{ones}\n",
        "markup.csv": f"{HEADER}\n010101001.03,0,abc[/red]{ones}\n",
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(str(tmp_path / name))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + HEADER.encode() + b"\n\xd1\n")
    out = run("import", *paths, str(tmp_path / "bom.csv"), str(tmp_path / "missing.csv"), db=db, code=2)
    assert "'0x10' is not a number" in out
    assert "99999999999999999999 is out of range" in out
    assert "'abc[/red]' is not a number" in out
    assert "starts with a UTF-8 byte-order mark but byte" in out and "No such file" in out
    assert "abc[/red]" in run("rejects", db=db)
    assert "0 copies" not in run("tabulate", db=db)


def test_repeated_tables_in_one_file_are_reported(db: Path, tmp_path: Path) -> None:
    ones = ",1" * 9
    rows = [f"010101001.01,0,1{ones}", f"010101001.01,0,1{ones}", f"010101001.02,0,1{ones}", f"010101001.02,0,5{ones}"]
    out = run("import", str(write_csv(tmp_path / "dups.csv", HEADER, rows)), db=db)
    assert "2 tables appear more than once in this file; 1 of them with different votes: 010101001.02" in out


def test_a_name_shared_by_several_units_must_be_a_key(db: Path) -> None:
    run("import", str(FIXTURES / "resultados_v1_sample.csv"), db=db)
    data = json.loads(run("tabulate", "--format", "json", "--where", "state=distrito capital", db=db))
    assert data["total"]["tables_counted"] > 0  # accents and case do not matter
    out = run("tabulate", "--where", "state=NOWHERE", db=db, code=3)
    assert "no table matches state=NOWHERE" in out


def test_findings_and_registry_export(db: Path, tmp_path: Path) -> None:
    registry = write_csv(tmp_path / "reg.csv", "table,registered", ["010101001.01,5"])
    run("registry", "import", str(registry), db=db)
    ones = ",1" * 9
    run(
        "import",
        str(write_csv(tmp_path / "s.csv", HEADER, [f"010101001.01,0,1{ones}", f"010101001.02,0,1{ones}"])),
        db=db,
    )
    out = run("findings", db=db)
    assert "above-registered" in out and "unknown-table" in out and "s.csv:2" in out
    rows = json.loads(run("findings", "--code", "unknown-table", "--format", "json", db=db))
    assert [r["table_id"] for r in rows] == ["010101001.02"]
    exported = tmp_path / "again.csv"
    run("registry", "export", "-o", str(exported), db=db)
    assert exported.read_text(encoding="utf-8") == "table,registered\n010101001.01,5\n"


def test_official_side_from_the_command_line(tmp_path: Path) -> None:
    """Simulated machines sign; their keys are registered; the sheets are logged, proved and checkpointed."""
    db, folder = tmp_path / "official.db", tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--tables", "40", "--seed", "3", "--signed", "--output", str(folder)])
    assert result.exit_code == 0, result.output
    run("init", "--election", "ve2024", db=db)
    assert "40 machine keys registered" in run("keys", "import", str(folder / "machines.csv"), db=db)
    out = run("log", "submit", str(folder / "signed.txt"), db=db)
    assert "40 logged, 0 already in the log, 0 rejected; the log has 40 sheets" in out
    assert "0 logged, 40 already in the log" in run("log", "submit", str(folder / "signed.txt"), db=db)
    key = tmp_path / "log.key"
    assert "written to" in runner.invoke(app, ["log", "keygen", "--log-key", str(key)]).output
    assert "size 40" in run("log", "checkpoint", "--log-key", str(key), db=db)
    assert "100.0% of tables counted (40 of 40)" in run("log", "bulletin", "--log-key", str(key), db=db)
    shown = run("bulletin", db=db)
    assert "100.0% of tables counted (40 of 40)" in shown and "It equals the tabulation of its sheets" in shown
    first_table = (folder / "signed.txt").read_text().split("|")[2]
    (proof,) = json.loads(run("log", "prove", first_table, db=db))
    assert proof["size"] == 40 and len(proof["proof"]) == 6
    keys = json.loads(run("keys", "list", "--format", "json", db=db))
    tampered = (folder / "signed.txt").read_text().splitlines()[1].replace(",1,", ",2,", 1)
    (tmp_path / "bad.txt").write_text(tampered + "\n")
    assert "does not verify" in run("log", "submit", str(tmp_path / "bad.txt"), db=db)
    run("keys", "revoke", keys[0]["key_id"], "--reason", "lost", db=db)
    assert "revoked at" in run("keys", "list", db=db) or "lost" in run("keys", "list", db=db)
    data = json.loads(run("tabulate", "--source", "official", "--format", "json", db=db))
    assert data["total"]["tables_counted"] == 40
    copy = tmp_path / "copy"
    run("log", "export", str(copy), db=db)
    assert "40 leaves, 2 checkpoints: the log is consistent" in runner.invoke(app, ["verify-log", str(copy)]).output
    leaves = (copy / "leaves.txt").read_text().splitlines()
    (copy / "leaves.txt").write_text("\n".join(leaves[:10] + leaves[11:]) + "\n")
    result = runner.invoke(app, ["verify-log", str(copy)])
    assert result.exit_code == 5 and "served as leaf 11" in result.output and "leaves are missing" in result.output


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    """``python -m tallyproof`` is the ``tallyproof`` command (its face, ``__main__.py``)."""
    done = subprocess.run(
        [sys.executable, "-m", "tallyproof", "init", "--election", "ve2024", "--db", str(tmp_path / "m.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Created" in done.stdout and (tmp_path / "m.db").exists()
