"""Announcements: the file format, and the verdict on copies (synthetic stores and the real 2024 copies)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES, generic_header, write_csv
from tallyproof.cli import app
from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.independent.announcement import OTHERS, load_announcement
from tallyproof.independent.verdict import Assessment, assess, findings
from tallyproof.storage.imports import import_file
from tallyproof.storage.store import Store
from tallyproof.tabulate import Registry, SheetColumns

BULLETIN = """[announcement]
date = 2024-07-29
source = "CNE, first bulletin"
share_counted = 0.8
votes = 10058774
registered = 21392464

[announcement.candidates]
NM = 5150092
EG = 4445978
others = 462704
"""


def announcement(tmp_path: Path, text: str = BULLETIN) -> Path:
    path = tmp_path / "announcement.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_bulletin_file_reads(tmp_path: Path, ve2024: Election) -> None:
    a = load_announcement(announcement(tmp_path), ve2024)
    assert a.candidates == {"NM": 5150092, "EG": 4445978, OTHERS: 462704}
    assert (a.valid, a.winner(), a.tables(30026), a.date) == (10058774, "NM", 24021, "2024-07-29")


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (("share_counted = 0.8", "share_countd = 0.8"), "announcement.share_countd", "unknown key"),
        (("NM = 5150092", "XX = 5150092"), "announcement.candidates.XX", "unknown key"),
        (("NM = 5150092", "NM = -1"), "announcement.candidates.NM", "negative"),
        (("NM = 5150092", 'NM = "many"'), "announcement.candidates.NM", "expected int"),
        (("share_counted = 0.8", "share_counted = 80"), "announcement.share_counted", "at most 1"),
        (("votes = 10058774", "votes = 10058775"), "announcement.votes", "add up to 10,058,774"),
        (("date = 2024-07-29\n", ""), "announcement.date", "missing key"),
    ],
)
def test_a_bad_announcement_names_the_key(
    tmp_path: Path, ve2024: Election, change: tuple[str, str], where: str, message: str
) -> None:
    path = announcement(tmp_path, BULLETIN.replace(*change))
    with pytest.raises(InputError, match=message) as caught:
        load_announcement(path, ve2024)
    assert caught.value.where == f"{path}: {where}"


def real_copies(ve2024: Election) -> SheetColumns:
    """The 24,532 copies of resultadosconvzla's first file (tests/fixtures/PROVENANCE.md)."""
    rows = list(
        csv.DictReader(io.StringIO(gzip.decompress((FIXTURES / "ve2024_v1_copies.csv.gz").read_bytes()).decode()))
    )
    n, ids = len(rows), [c.id for c in ve2024.candidates]
    votes = np.zeros((n, len(ids)), np.int64)
    for column, key in ((ids.index("NM"), "NM"), (ids.index("EG"), "EG"), (ids.index("LM"), "others")):
        votes[:, column] = [int(r[key]) for r in rows]
    column = lambda key: np.asarray([int(r[key]) for r in rows], np.int64)  # noqa: E731
    return SheetColumns(
        np.arange(1, n + 1),
        np.asarray([r["table"] for r in rows]),
        np.asarray(["witness"] * n),
        votes,
        np.zeros((n, 0), np.int64),
        np.zeros(n, bool),
        column("null"),
        np.zeros(n, np.int64),
        column("registered"),
    )


def test_the_2024_bulletin_is_not_achievable_on_the_copies(tmp_path: Path, ve2024: Election) -> None:
    """The issue's figures: V1's copies as witness copies, 21,392,464 registered voters, the council's
    first bulletin. Maduro trails by 3,915,001 votes in the copies; the 5,494 tables without a copy have
    3,647,225 registered voters: he cannot win whatever they contain."""
    a = assess(
        ve2024,
        real_copies(ve2024),
        Registry.from_mapping({}),
        load_announcement(announcement(tmp_path), ve2024),
        sources=["witness"],
    )
    assert a.copies_total == (3_241_461, 7_156_462, 261_205)
    f = a.final
    assert (a.names[f.winner], a.names[f.rival]) == ("Nicolás Maduro", "Edmundo González")
    assert (f.margin, f.missing_tables, f.missing_voters, f.shortfall) == (3_915_001, 5_494, 3_647_225, 267_776)
    assert not f.achievable and not a.achievable and f.copies_to_overturn == 188
    # at 80% of tables counted, no 24,021 tables give González as few as the 4,445,978 announced
    assert a.tables_counted == 24_021 and a.impossible == [1] and a.ranges[1].low == 4_641_687
    assert a.derived == "none-published"
    said = dict(findings(a))
    assert said["verdict"].startswith("NOT ACHIEVABLE: Nicolás Maduro cannot finish first")
    assert "267,776" in said["winner"] and "188" in said["relaxed"]


def _store_with(make_store: Callable[..., Store], ve2024: Election, tmp_path: Path, official: bool) -> Store:
    store = make_store()
    header = generic_header(ve2024)
    rows = [
        f"010111043.{t:02d},0,100,{'40,0,0,0,0,0,0,50,0,0' if t % 2 else '45,0,0,0,0,0,0,45,0,0'}" for t in range(1, 11)
    ]
    import_file(store, write_csv(tmp_path / "witness.csv", header, rows), source="witness")
    if official:
        import_file(store, write_csv(tmp_path / "official.csv", header, rows[:8]), source="official")
    return store


def assess_store(store: Store, path: Path) -> Assessment:
    """The store's witness copies against the announcement at ``path``."""
    election = store.election()
    return assess(
        election, store.columns(), store.registry_columns(), load_announcement(path, election), sources=["witness"]
    )


@pytest.mark.parametrize("official", [False, True])
def test_an_honest_announcement_is_derived_and_achievable(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path, official: bool
) -> None:
    store = _store_with(make_store, ve2024, tmp_path, official)
    text = "[announcement]\ndate = 2024-07-29\ntables_counted = 8\nregistered = 1200\n[announcement.candidates]\nNM = 340\nEG = 380\n"
    a = assess_store(store, announcement(tmp_path, text))
    assert a.achievable and a.impossible == [] and a.derived == ("equal" if official else "none-published")
    # ve2024 declares 30,026 tables; the 10 with copies hold 1,000 of the 1,200 voters; EG leads by 50
    assert (a.tables, a.final.margin, a.final.missing_voters) == (30_026, -50, 200)


def test_an_announcement_not_from_the_sheets_is_named(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path
) -> None:
    store = _store_with(make_store, ve2024, tmp_path, True)
    text = "[announcement]\ndate = 2024-07-29\ntables_counted = 8\n[announcement.candidates]\nNM = 400\nEG = 320\n"
    a = assess_store(store, announcement(tmp_path, text))
    assert a.derived == "differs"
    assert "NOT the sum of the 8 published official sheets" in dict(findings(a))["derived"]
    assert "Nicolás Maduro +60" in dict(findings(a))["derived"]


def test_feasibility_from_the_command_line(make_store: Callable[..., Store], ve2024: Election, tmp_path: Path) -> None:
    store = _store_with(make_store, ve2024, tmp_path, False)
    text = "[announcement]\ndate = 2024-07-29\nregistered = 1000\n[announcement.candidates]\nNM = 900\nEG = 100\n"
    path = announcement(tmp_path, text)
    db = store.where
    result = CliRunner().invoke(app, ["feasibility", str(path), "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["winner"] == "NM" and data["winner_achievable"] is False and data["missing_voters"] == 0
    text_run = CliRunner().invoke(app, ["feasibility", str(path), "--db", db])
    assert "NOT ACHIEVABLE" in text_run.output and "Reproduce: tallyproof feasibility" in text_run.output
    bad = CliRunner().invoke(app, ["feasibility", str(path), "--db", db, "--source", "nobody"])
    assert bad.exit_code == 2 and "unknown source" in bad.output


@pytest.mark.parametrize(("nm", "eg", "status"), [(255, 285, "consistent"), (400, 100, "impossible")])
def test_a_partial_announcement_against_the_published_sheets(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path, nm: int, eg: int, status: str
) -> None:
    """Six of the eight published sheets, four of 40/50 and four of 45/45: three of each kind give NM 255
    and EG 285; NM 400 fits no six (they give NM 250 to 260)."""
    store = _store_with(make_store, ve2024, tmp_path, True)
    text = f"[announcement]\ndate = 2024-07-29\ntables_counted = 6\n[announcement.candidates]\nNM = {nm}\nEG = {eg}\n"
    a = assess_store(store, announcement(tmp_path, text))
    assert a.derived == status
    said = dict(findings(a))["derived"]
    assert (
        ("could be the sum of 6 of the 8" in said)
        if status == "consistent"
        else ("NOT derived" in said and "any 6 sheets give 250 to 260" in said)
    )


def test_the_tables_of_the_election_come_from_the_announcement_when_it_says(tmp_path: Path, ve2024: Election) -> None:
    text = "[announcement]\ndate = 2024-07-29\ntables_counted = 2400\nshare_counted = 0.8\n[announcement.candidates]\nNM = 1\n"
    assert load_announcement(announcement(tmp_path, text), ve2024).tables_total == 3000
    text = text.replace("tables_counted = 2400", "tables = 5000")
    assert load_announcement(announcement(tmp_path, text), ve2024).tables_total == 5000


def test_an_empty_store_concludes_nothing(make_store: Callable[..., Store], ve2024: Election, tmp_path: Path) -> None:
    store = make_store()
    a = assess(
        ve2024,
        store.columns(),
        store.registry_columns(),
        load_announcement(announcement(tmp_path), ve2024),
        sources=["witness"],
    )
    assert a.achievable and dict(findings(a))["verdict"] == "Nothing can be concluded: no usable copy is in hand."
    assert a.ranges[0].high >= 5_150_092  # a copy-less table may hold all the copy-less voters


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("share_counted = 0.8", "tables_counted = 0"), "at least 1"),
        (("share_counted = 0.8", "tables = 100"), "but 24,532 tables have copies"),
    ],
)
def test_impossible_table_counts_are_refused(
    tmp_path: Path, ve2024: Election, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        found = load_announcement(announcement(tmp_path, BULLETIN.replace(*change)), ve2024)
        assess(ve2024, real_copies(ve2024), Registry.from_mapping({}), found, sources=["witness"])
