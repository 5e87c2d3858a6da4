"""`tallyproof estimate` and `tallyproof quick-count` on stores built from simulated and real copies.

The commands only parse, call and print: every figure they show is checked against the library's own result.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.stats.estimate import InHand, Sampled, coverage_of, estimate
from tallyproof.stats.quickcount import from_csv, quick_count_sample, sample_size
from tallyproof.stats.sensitivity import sensitivity
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import counted_columns

FIXTURES = Path(__file__).parent / "fixtures"
V1 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024" / "RESULTADOS_2024_CSV_V1.csv"
runner = CliRunner()


def run(*args: str, db: Path, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--db", str(db)], env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


def flat(text: str) -> str:
    """Printed text with every run of spaces and line breaks as one space (tables pad, long lines wrap)."""
    return " ".join(text.split())


def strict_json(text: str) -> Any:
    """JSON as the standard has it: no NaN or Infinity."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON output"))


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 simulated tables (seed 5), registry and copies (source ``import``) in a store."""
    folder = tmp_path_factory.mktemp("sim")
    result = runner.invoke(app, ["simulate", "--tables", "600", "--seed", "5", "--output", str(folder)])
    assert result.exit_code == 0, result.output
    db = folder / "sim.db"
    run("init", "--election", "ve2024", db=db)
    run("registry", "import", str(folder / "registry.csv"), db=db)
    run("import", str(folder / "sheets.csv"), db=db)
    return db


def library(db: Path, only: list[str] | None, level: str = "state") -> InHand:
    store = Store.sqlite(db)
    return coverage_of(
        counted_columns(store),
        store.registry_columns(),
        store.election().geography,
        level=level,
        sources=["witness", "observer", "import"],
        only=only,
    )


def test_estimate_prints_the_library_figures(sim_db: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    run("quick-count", "--seed", "cli test", "--size", "150", "--output", str(sample), db=sim_db)
    only = from_csv(sample.read_text(encoding="utf-8"))
    hand = library(sim_db, only)
    e, s = estimate(hand.coverage), sensitivity(hand.coverage)
    text = flat(run("estimate", "--tables", str(sample), db=sim_db))
    assert f"Copies of {e.in_hand:,} of 600 tables in the registry" in text
    for share in e.shares:
        assert f"{100 * share.estimate:.2f}% │ [{100 * share.low:.2f}, {100 * share.high:.2f}]" in text
    m = e.margin
    assert (m.leader, m.runner_up) == (7, 0)  # González leads Maduro in this simulation
    assert f"Edmundo González leads Nicolás Maduro by {100 * m.share.estimate:.2f} points" in text
    assert f"[{100 * m.share.low:.2f}, {100 * m.share.high:.2f}]" in text
    assert f"would need to win their valid votes by {100 * s.observed.needed_margin:.2f} points" in text
    assert f"a shift of {-s.observed.shift_points:.2f} points" in text
    assert "Reproduce: tallyproof estimate --by state" in text


def test_the_json_twin_holds_every_figure(sim_db: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    run("quick-count", "--seed", "cli test", "--size", "150", "--output", str(sample), db=sim_db)
    hand = library(sim_db, from_csv(sample.read_text(encoding="utf-8")))
    e, s = estimate(hand.coverage, confidence=0.9, method="combined"), sensitivity(hand.coverage)
    args = ("--tables", str(sample), "--confidence", "0.9", "--method", "combined", "--format", "json")
    data = strict_json(run("estimate", *args, db=sim_db))
    assert data["level"] == "state" and len(data["candidates"]) == 10 and data["candidates"][0] == "NM"
    got = data["estimate"]
    assert got["method"] == "combined" and got["confidence"] == 0.9 and got["in_hand"] == e.in_hand
    assert [x["estimate"] for x in got["shares"]] == pytest.approx([x.estimate for x in e.shares], rel=1e-12)
    assert got["margin"]["share"]["low"] == pytest.approx(e.margin.share.low, rel=1e-12)
    assert len(got["strata"]) == 24 and got["strata"][0]["label"] == "01"
    sens = data["sensitivity"]
    assert sens["missing_tables"] == 600 - e.in_hand and sens["winner_can_change"] == s.winner_can_change
    assert sens["observed"]["needed_margin"] == pytest.approx(s.observed.needed_margin, rel=1e-12)


def test_every_copy_in_hand_gives_the_exact_totals(sim_db: Path) -> None:
    data = strict_json(run("estimate", "--format", "json", db=sim_db))
    tab = strict_json(run("tabulate", "--format", "json", db=sim_db))
    exact = list(tab["total"]["candidates"].values())
    assert [round(t["estimate"]) for t in data["estimate"]["totals"]] == exact
    assert all(t["se"] == 0 for t in data["estimate"]["totals"])
    s = data["sensitivity"]
    assert s["missing_tables"] == 0 and s["observed"]["needed_margin"] is None  # infinite: null in JSON
    assert "Every table of the registry has a copy" in run("estimate", db=sim_db)


def test_the_quick_count_sample_follows_the_public_recipe(sim_db: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    run("quick-count", "--seed", "2024-07-28", "--size", "100", "--output", str(first), db=sim_db)
    run("quick-count", "--seed", "2024-07-28", "--size", "100", "--output", str(second), db=sim_db)
    assert first.read_bytes() == second.read_bytes()
    hand = library(sim_db, None)
    want = quick_count_sample(hand.tables.tolist(), hand.coverage.strata, 100, seed="2024-07-28")
    with first.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["table"] for r in rows] == hand.tables[want].tolist()
    assert [r["stratum"] for r in rows] == [t[:2] for t in hand.tables[want].tolist()]
    other = strict_json(run("quick-count", "--seed", "another", "--size", "100", "--format", "json", db=sim_db))
    assert other["tables"] != [r["table"] for r in rows]


def test_a_designed_quick_count_is_sized_on_the_copies(sim_db: Path) -> None:
    data = strict_json(run("quick-count", "--seed", "s", "--margin", "0.02", "--format", "json", db=sim_db))
    d = data["design"]
    assert d["margin_of_error"] == 0.02 and d["target"] == "share" and data["candidate"] in ("NM", "EG")
    n = sample_size(d["unit_variance"], margin_of_error=0.02, population=600)
    assert data["sample_size"] == n and len(data["tables"]) >= n
    assert sum(data["allocation"].values()) == len(data["tables"])
    text = flat(run("quick-count", "--seed", "s", "--margin", "0.02", "--target", "margin", db=sim_db))
    assert "or a margin of error of ±2.00 points at 95%" in text and "the lead of Edmundo González" in text


def test_strata_without_copies_are_collapsed_and_named(sim_db: Path, tmp_path: Path) -> None:
    sample = tmp_path / "few.csv"
    hand = library(sim_db, None, level="municipality")
    sample.write_text("table\n" + "\n".join(hand.tables[::20].tolist()) + "\n", encoding="utf-8")
    e = estimate(library(sim_db, hand.tables[::20].tolist(), level="municipality").coverage)
    assert e.empty and e.collapsed
    text = flat(run("estimate", "--by", "municipality", "--tables", str(sample), db=sim_db))
    assert "Collapsed with their neighbours for want of copies" in text and "Collapsed with" in text
    assert f"without any copy: {', '.join(e.empty)}" in text


@pytest.mark.parametrize(
    ("args", "option", "code"),
    [
        (("estimate", "--confidence", "1.5"), "--confidence", 2),
        (("estimate", "--method", "mean"), "--method", 2),
        (("estimate", "--format", "xml"), "--format", 2),
        (("estimate", "--source", "nobody"), "--source", 2),
        (("estimate", "--by", "country"), "--by", 3),
        (("estimate", "--tables", "no-such-file.csv"), "--tables", 2),
        (("quick-count", "--seed", "s", "--margin", "2"), "--margin", 2),
        (("quick-count", "--seed", "s", "--size", "601"), "--size", 2),
        (("quick-count", "--seed", "s", "--target", "winner"), "--target", 2),
        (("quick-count", "--seed", ""), "--seed", 2),
    ],
)
def test_a_bad_option_is_named(sim_db: Path, args: tuple[str, ...], option: str, code: int) -> None:
    assert f"{option}:" in flat(run(*args, db=sim_db, code=code))


def test_an_estimate_needs_a_registry(tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    run("init", "--election", "ve2024", db=db)
    run("import", str(FIXTURES / "resultados_v2_sample.csv"), db=db)  # V2 states no registered voters
    assert "registry: no table with known registered voters" in run("estimate", db=db, code=2)


def test_the_v1_fixture_in_full_and_in_part(tmp_path: Path) -> None:
    """tests/fixtures/resultados_v1_sample.csv (PROVENANCE.md): 42 real tables of four states."""
    db = tmp_path / "v1.db"
    run("init", "--election", "ve2024", db=db)
    run("import", str(FIXTURES / "resultados_v1_sample.csv"), "--source", "witness", db=db)
    run("registry", "derive", db=db)
    full = strict_json(run("estimate", "--format", "json", db=db))["estimate"]
    with (FIXTURES / "resultados_v1_sample.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert full["tables"] == full["in_hand"] == 42
    assert full["totals"][7]["estimate"] == sum(int(r["EG"]) for r in rows)  # EG is the eighth candidate
    half = tmp_path / "half.csv"
    run("quick-count", "--seed", "fixture", "--size", "21", "--output", str(half), db=db)
    part = strict_json(run("estimate", "--tables", str(half), "--format", "json", db=db))["estimate"]
    assert part["in_hand"] == len(from_csv(half.read_text(encoding="utf-8"))) >= 21 and part["margin"]["leader"] == 7
    assert part["margin"]["share"]["low"] <= full["margin"]["share"]["estimate"] <= part["margin"]["share"]["high"]


@pytest.mark.skipif(not V1.is_file(), reason="the shared V1 file is not present")
def test_the_readme_run_on_the_real_v1_file(tmp_path: Path) -> None:
    """The README's figures: a 10% stratified sample of V1's 24,532 copies, seed "tallyproof README 2024-07-28"."""
    db, sample = tmp_path / "ve.db", tmp_path / "sample.csv"
    run("init", "--election", "ve2024", db=db)
    run("import", str(V1), "--source", "witness", db=db)
    run("registry", "derive", db=db)
    run("quick-count", "--seed", "tallyproof README 2024-07-28", "--size", "2453", "-o", str(sample), db=db)
    text = flat(run("estimate", "--tables", str(sample), db=db))
    assert "Edmundo González │ 67.33% │ [66.86, 67.79]" in text
    assert "Nicolás Maduro │ 30.26% │ [29.80, 30.72]" in text
    assert "leads Nicolás Maduro by 37.07 points [36.14, 38.00]" in text
    full = strict_json(run("estimate", "--format", "json", db=db))["estimate"]
    shares = [round(100 * x["estimate"], 2) for x in full["shares"]]
    assert (shares[7], shares[0], round(100 * full["margin"]["share"]["estimate"], 2)) == (67.14, 30.41, 36.73)
    assert np.isclose(full["margin"]["share"]["se"], 0)


# --- user test 6: what the commands say about the sample, the copies and the options ------------------------


def run80(*args: str, db: Path, code: int = 0) -> str:
    """As :func:`run`, on an 80-column terminal."""
    result = runner.invoke(app, [*args, "--db", str(db)], env={"COLUMNS": "80"})
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def partial_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 600 simulated tables (seed 5) of :func:`sim_db` with copies of two tables in three only."""
    folder = tmp_path_factory.mktemp("partial")
    result = runner.invoke(app, ["simulate", "--tables", "600", "--seed", "5", "--output", str(folder)])
    assert result.exit_code == 0, result.output
    lines = (folder / "sheets.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "part.csv").write_text("".join([lines[0], *(x for i, x in enumerate(lines[1:]) if i % 3)]), "utf-8")
    db = folder / "partial.db"
    run("init", "--election", "ve2024", db=db)
    run("registry", "import", str(folder / "registry.csv"), db=db)
    run("import", str(folder / "part.csv"), db=db)
    return db


def test_a_latin1_sample_file_is_read_and_a_cvr_file_is_refused_by_line(sim_db: Path, tmp_path: Path) -> None:
    ids = library(sim_db, None).tables.tolist()
    sample = tmp_path / "latin1.csv"
    sample.write_bytes(("table,nota\n" + "".join(f"{t},Peña\n" for t in ids[:40])).encode("latin-1"))
    assert "Copies of 40 of 600 tables" in flat(run("estimate", "--tables", str(sample), db=sim_db))
    cvrs = tmp_path / "cvrs.bin"  # a ballot file: one row per ballot, each table many times, Latin-1
    cvrs.write_bytes(f"table,receipt,vote\n{ids[0]},1,EG\n{ids[0]},2,NM\n{ids[1]},1,Peña\n".encode("latin-1"))
    text = flat(run("estimate", "--tables", str(cvrs), db=sim_db, code=2))
    assert f"{cvrs}:3: table {ids[0]} is listed twice (first on line 2)" in text


def test_the_quick_count_headline_states_the_sample_drawn(sim_db: Path) -> None:
    def drawn(*args: str) -> tuple[dict[str, Any], str]:
        data = strict_json(run("quick-count", "--seed", "a", *args, "--format", "json", db=sim_db))
        return data, flat(run("quick-count", "--seed", "a", *args, db=sim_db))

    data, text = drawn("--size", "1")
    assert data["sample_size"] == 1 and data["drawn"] == len(data["tables"]) == data["smallest"] == 48
    assert text.startswith("Quick count: 48 tables of 600 in the registry (8.0%). 1 table asked: fewer than the 48")
    assert "the smallest sample by state" in text and "1 tables" not in text
    data, text = drawn("--size", "100")
    more = data["drawn"] - 100
    assert more > 0 and f"Quick count: {data['drawn']} tables of 600" in text
    assert f"100 tables asked; {more} more drawn to have at least 2 in every state." in text
    data, text = drawn("--by", "centre", "--margin", "0.05")
    assert data["sample_size"] < data["smallest"] <= data["drawn"] == len(data["tables"])
    assert f"Quick count: {data['drawn']:,} tables of 600" in text
    assert f"the design needs {data['sample_size']}: fewer than the {data['smallest']:,} that at least 2" in text


@pytest.mark.parametrize("size", ["0", "-3"])
def test_a_quick_count_of_no_table_is_refused(sim_db: Path, size: str) -> None:
    text = flat(run("quick-count", "--seed", "a", "--size", size, db=sim_db, code=2))
    assert f"--size: must be a whole number, at least 1 (got {size})" in text


def test_the_quick_count_reproduce_line_reproduces(sim_db: Path) -> None:
    text = flat(run("quick-count", "--seed", "a", "--size", "50", "--source", "import,import", db=sim_db))
    again = text.split("Reproduce: tallyproof ")[1].split()
    assert again[again.index("--size") + 1] == "50" and again[again.index("--source") + 1] == "import"
    assert "--margin" not in again
    first = strict_json(run("quick-count", "--seed", "a", "--size", "50", "--format", "json", db=sim_db))
    result = runner.invoke(app, [*again, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert strict_json(result.output)["tables"] == first["tables"]


def test_too_few_tables_in_hand_give_a_warning_not_a_probability(sim_db: Path, tmp_path: Path) -> None:
    few = tmp_path / "few.csv"
    few.write_text("table\n" + "\n".join(library(sim_db, None).tables[:2].tolist()) + "\n", encoding="utf-8")
    text = flat(run("estimate", "--tables", str(few), db=sim_db))
    assert "Warning: only 2 tables in hand, fewer than the 30 the intervals' normal approximation needs" in text
    assert "probability of leading" not in text.split("Warning")[1].split("Reproduce")[0].replace(
        "no probability of leading is given", ""
    )
    data = strict_json(run("estimate", "--tables", str(few), "--format", "json", db=sim_db))
    assert data["estimate"]["large_sample"] is False and data["estimate"]["in_hand"] == 2
    assert strict_json(run("estimate", "--format", "json", db=sim_db))["estimate"]["large_sample"] is True
    assert "probability of leading > 99.99%" in flat(run("estimate", db=sim_db))


@pytest.mark.parametrize("every", [5, 20])
def test_a_margin_over_100_points_is_said_to_be_out_of_reach(sim_db: Path, tmp_path: Path, every: int) -> None:
    """All but one table in ``every``: the lead in hand exceeds the missing valid votes (and, for 20, the voters)."""
    listed = [t for i, t in enumerate(library(sim_db, None).tables.tolist()) if i % every]
    most = tmp_path / "most.csv"
    most.write_text("table\n" + "\n".join(listed) + "\n", encoding="utf-8")
    s = sensitivity(library(sim_db, listed).coverage)
    assert s.observed.needed_margin > 1 and (s.full.needed_margin > 1) == (every == 20)
    text = flat(run("estimate", "--tables", str(most), db=sim_db))
    assert "Nicolás Maduro could not tie even with every" in text
    assert f"{100 * s.observed.needed_margin:.2f} points" not in text
    if every == 20:
        assert "could not tie even with every missing vote: not with all of their valid votes at the turnout" in text
        assert "nor with all of their registered voters" in text and "would need to win" not in text
    else:
        assert (
            f"at 100% turnout, Nicolás Maduro would need to win them by {100 * s.full.needed_margin:.2f} points" in text
        )


def test_the_tables_listed_are_accounted_for(partial_db: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    run("quick-count", "--seed", "qc", "--size", "150", "--source", "import", "-o", str(sample), db=partial_db)
    ids = from_csv(sample.read_text(encoding="utf-8"))
    with sample.open("a", encoding="utf-8") as f:
        f.write("999999999.01,99\n")  # a table id of the election's form that the registry does not have
    hand = library(partial_db, ids)
    n, without = int(hand.coverage.in_hand.size), len(ids) - int(hand.coverage.in_hand.size)
    assert 0 < without < len(ids) and hand.sampled == Sampled(len(ids), 0, without)
    text = flat(run("estimate", "--tables", str(sample), "--source", "import", db=partial_db))
    assert (
        f"Of the {len(ids) + 1} tables listed (--tables): {n} in hand, {without} without a usable copy, 1 not" in text
    )
    assert (
        f"The {600 - n:,} tables not in hand ({without} sampled without a copy, {600 - n - without:,} outside" in text
    )
    data = strict_json(
        run("estimate", "--tables", str(sample), "--source", "import", "--format", "json", db=partial_db)
    )
    assert data["sampled"] == {"tables": len(ids) + 1, "not_in_registry": 1, "without_copy": without}


@pytest.mark.parametrize(("line", "where"), [("abc", "bad.csv:3"), ("01010100.01", "bad.csv:3")])
def test_a_malformed_table_id_is_named_by_file_and_line(sim_db: Path, tmp_path: Path, line: str, where: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"table\n{library(sim_db, None).tables[0]}\n{line}\n", encoding="utf-8")
    text = flat(run("estimate", "--tables", str(bad), db=sim_db, code=2))
    assert f"{tmp_path / where}: '{line}' does not match the table ids of this election" in text


def test_too_few_tables_in_hand_name_their_cause(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    run("init", "--election", "ve2024", db=db)
    run("import", str(FIXTURES / "resultados_v1_sample.csv"), "--source", "witness", db=db)
    run("registry", "derive", db=db)
    text = flat(run("estimate", "--consensus", "5", db=db, code=2))
    assert "--consensus: no table in hand: a witness or observer copy counts only once 5 accounts" in text
    assert "(--consensus 1: 42 in hand)" in text
    assert "--source: no table in hand: no table has a usable copy of observer" in flat(
        run("estimate", "--source", "observer", db=db, code=2)
    )


def test_too_few_tables_listed_name_the_file_option(sim_db: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text(f"table\n{library(sim_db, None).tables[0]}\n999999999.01\n", encoding="utf-8")
    text = flat(run("estimate", "--tables", str(one), db=sim_db, code=2))
    assert "--tables: 1 table in hand: of its 2 tables, 1 not in the registry and 0 without a usable copy" in text


def test_the_strata_table_fits_80_columns(sim_db: Path, tmp_path: Path) -> None:
    hand = library(sim_db, None, level="municipality")
    few = hand.tables[::20].tolist()
    sample = tmp_path / "few.csv"
    sample.write_text("table\n" + "\n".join(few) + "\n", encoding="utf-8")
    e = estimate(library(sim_db, few, level="municipality").coverage)
    text = run80("estimate", "--by", "municipality", "--tables", str(sample), db=sim_db)
    rows = text.split("┃ Municipality ┃")[1].split("└")[0].splitlines()[2:]
    assert len(rows) == len(e.strata) and all(len(r) <= 80 for r in rows)
    assert [r.split("│")[1].strip() for r in rows] == [s.label for s in e.strata]
    assert "Collapsed with their neighbours" in flat(text.split("┃ Municipality ┃")[1])


def test_a_source_named_twice_counts_once(sim_db: Path) -> None:
    text = flat(run("estimate", "--source", "import,import", db=sim_db))
    assert "from import; 24 states" in text and "--source import --confidence" in text
