"""`tallyproof forensics`: every screen on a simulated store, the JSON twin equal to the library's answer,
the 2024 bulletin's round percentages flagged, the fingerprint drawn standalone, bad options named."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.independent.announcement import load_announcement
from tallyproof.stats.forensics import screens_for
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import counted_columns

ROOT = Path(__file__).resolve().parents[1]
BULLETIN = ROOT / "examples" / "ve2024-first-bulletin.toml"
SCREENS = (
    "integer-percentages",
    "last-digits",
    "second-digits",
    "turnout-share-fingerprint",
    "turnout-spikes",
    "centre-outliers",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated 1,500-table election imported twice: as witness copies (w.db) and as official sheets (o.db)."""
    folder = tmp_path_factory.mktemp("forensics")
    run = CliRunner()
    assert run.invoke(app, ["simulate", "--tables", "1500", "--seed", "5", "-o", str(folder)]).exit_code == 0
    for db, source in (("w.db", "witness"), ("o.db", "official")):
        for args in (
            ["init", "--election", "ve2024"],
            ["registry", "import", str(folder / "registry.csv")],
            ["import", str(folder / "sheets.csv"), "--source", source],
        ):
            result = run.invoke(app, [*args, "--db", str(folder / db)])
            assert result.exit_code == 0, result.output
    return folder


def forensics(folder: Path, *args: str, db: str = "w.db") -> tuple[int, str]:
    result = CliRunner().invoke(app, ["forensics", *args, "--db", str(folder / db)])
    return result.exit_code, result.output


def flat(text: str) -> str:
    """The output with the console's line wrapping undone."""
    return " ".join(text.split())


def test_every_screen_is_listed_with_its_sentence_and_none_fires_on_an_honest_election(folder: Path) -> None:
    code, output = forensics(folder)
    assert code == 0, output
    assert "Forensic screens on 1,500 tables (witness, observer, import copies)." in flat(output)
    for name in SCREENS:
        assert re.search(rf"│ {name} +│ [\d,.]+ +│ [\d.e+-]+ +│ no +│", output), name
        assert f"{name}: " in output
    assert flat(output).count("A screen, not proof.") == len(SCREENS)
    assert "FLAGGED" not in output and "round-percentages" not in output
    assert "Reproduce: tallyproof forensics --consensus 1 --db" in flat(output)


def test_the_json_twin_is_the_librarys_answer(folder: Path) -> None:
    code, output = forensics(folder, "--format", "json")
    assert code == 0, output
    store = Store.sqlite(folder / "w.db")
    library = screens_for(counted_columns(store), store.registry_columns(), store.election())
    assert json.loads(output) == json.loads(json.dumps(library.to_json()))
    assert [s["name"] for s in json.loads(output)["screens"]] == list(SCREENS)


def test_official_sheets_are_screened_by_default_when_published(folder: Path) -> None:
    code, output = forensics(folder, "--format", "json", db="o.db")
    assert code == 0, output
    assert json.loads(output)["sources"] == ["official"]
    code, output = forensics(folder, "--format", "json", "--source", "witness,import", db="o.db")
    assert code == 3 and "no copy from witness, import to screen" in flat(output)


def test_the_2024_bulletin_is_flagged_for_round_percentages(folder: Path) -> None:
    code, output = forensics(folder, "--announcement", str(BULLETIN), "--format", "json")
    assert code == 0, output
    first = json.loads(output)["screens"][0]
    assert first["name"] == "round-percentages" and first["flagged"]
    assert first["percentages"] == [51.2, 44.2, 4.6] and 1e-9 < first["probability"] < 1e-7
    store = Store.sqlite(folder / "w.db")
    bulletin = load_announcement(BULLETIN, store.election())
    library = screens_for(counted_columns(store), store.registry_columns(), store.election(), bulletin)
    assert first == json.loads(json.dumps(library.screens[0].to_json()))
    code, text = forensics(folder, "--announcement", str(BULLETIN))
    assert re.search(r"│ round-percentages +│ 3 +│ 2\.2e-08 +│ FLAGGED +│", text)
    assert "--announcement" in flat(text).split("Reproduce:")[1]


def test_the_fingerprint_is_written_as_a_standalone_svg(folder: Path) -> None:
    svg = folder / "fingerprint.svg"
    code, output = forensics(folder, "--fingerprint", str(svg))
    assert code == 0, output
    text = svg.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find(".//s:rect[@class='corner']", ns) is not None
    assert len(root.findall(".//s:rect[@class='cell']", ns)) > 10
    assert "<script" not in text and not re.search(r"(href|src)=\"?https?:", text)
    assert "share of valid votes" in text and "A screen, not proof." in text


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--format", "xml"], "--format"),
        (["--source", "neighbours"], "--source"),
        (["--fingerprint", "fingerprint.png"], "--fingerprint"),
    ],
    ids=["format", "source", "fingerprint"],
)
def test_a_bad_option_is_named(folder: Path, args: list[str], where: str) -> None:
    code, output = forensics(folder, *args)
    assert code == 2
    assert f"error: {where}:" in output
