"""Checks against the full real data in ../shared/data/ve2024 (skipped when it is not there).

The only tests that read outside the repository. Reference values are computed here,
independently of tallyproof, with the csv module.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from strategies import VE2024
from tallyproof.sheets.files import Record, decode_text, read_records
from tallyproof.sheets.qr import from_qr, to_qr
from tallyproof.sheets.sheet import TallySheet, check

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024"
V1 = SHARED / "RESULTADOS_2024_CSV_V1.csv"
V2 = SHARED / "RESULTADOS_2024_CSV_V2.csv"
PRESIDENTIAL = SHARED / "2024_vzla_presidential.csv"
MANIFEST = SHARED / "manifest.csv"

CANDIDATE_IDS = [c.id for c in VE2024.candidates]


@pytest.fixture(scope="module", autouse=True)
def _shared_present() -> None:
    if not all(p.is_file() for p in (V1, V2, PRESIDENTIAL, MANIFEST)):
        pytest.skip("../shared/data/ve2024 not present: real-data checks skipped")


def _decode(path: Path) -> tuple[list[Record], str]:
    text, encoding = decode_text(path.read_bytes())
    return list(read_records(text, VE2024, "auto", where=path.name)), encoding


def _csv_rows(path: Path, encoding: str) -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def v1() -> list[Record]:
    records, encoding = _decode(V1)
    assert encoding == "utf-8-sig"
    return records


@pytest.fixture(scope="module")
def v2() -> list[Record]:
    records, encoding = _decode(V2)
    assert encoding == "latin-1"
    return records


@pytest.fixture(scope="module")
def presidential() -> list[Record]:
    records, encoding = _decode(PRESIDENTIAL)
    assert encoding == "utf-8"
    return records


def _manifest_with_payload() -> Iterator[dict[str, str]]:
    if not MANIFEST.is_file():
        return
    for row in _csv_rows(MANIFEST, "utf-8"):
        if row["qr_payload"]:
            yield row


def _sheets(records: list[Record]) -> list[TallySheet]:
    return [r.sheet for r in records if r.sheet is not None]


def _by_table(records: list[Record]) -> dict[str, TallySheet]:
    out = {s.table: s for s in _sheets(records)}
    assert len(out) == len(records), "duplicate tables"
    return out


# --- QR payloads of the real acta images ------------------------------------------------------------


def test_manifest_has_decoded_payloads() -> None:
    rows = list(_manifest_with_payload())
    assert len(rows) == 42  # README: 42 / 43 decoded


@pytest.mark.parametrize("row", list(_manifest_with_payload()), ids=lambda r: r["file"])
def test_manifest_payload(row: dict[str, str]) -> None:
    payload = row["qr_payload"]
    sheet = from_qr(payload, VE2024)
    assert sheet.acta_id == row["acta_id"]
    assert sheet.table == row["center_mesa"]
    for cid, total in zip(CANDIDATE_IDS, sheet.candidates, strict=True):
        assert total == int(row[f"csv_{cid}"]), cid
    assert sheet.total_valid == int(row["csv_VOTOS_VALIDOS"])
    assert sheet.null == int(row["csv_VOTOS_NULOS"])
    assert sheet.blank == 0
    assert to_qr(sheet) == payload
    assert from_qr(payload.encode("ascii"), VE2024) == sheet
    assert check(sheet, VE2024, registry={sheet.table: int(row["csv_RE"])} if row["csv_RE"] else None) == []


def test_manifest_payloads_agree_with_v2(v2: list[Record]) -> None:
    by_table = _by_table(v2)
    for row in _manifest_with_payload():
        qr = from_qr(row["qr_payload"], VE2024)
        if row["in_csv_v2"] == "1":
            assert qr.votes_equal(by_table[qr.table]), row["file"]
            assert by_table[qr.table].valid == qr.total_valid


# --- the resultadosconvzla CSVs ----------------------------------------------------------------------------


def test_v1_decodes_without_errors(v1: list[Record]) -> None:
    assert [(r.line, r.error) for r in v1 if r.error] == []
    assert len(v1) == 24_532
    assert all(s.registered is not None for s in _sheets(v1))


def test_v2_decodes_without_errors(v2: list[Record]) -> None:
    assert [(r.line, r.error) for r in v2 if r.error] == []
    assert len(v2) == 25_073
    assert all(s.registered is None for s in _sheets(v2))


@pytest.mark.parametrize(("name", "encoding"), [("v1", "utf-8-sig"), ("v2", "latin-1")])
def test_national_sums_equal_column_sums(name: str, encoding: str, request: pytest.FixtureRequest) -> None:
    records: list[Record] = request.getfixturevalue(name)
    path = {"v1": V1, "v2": V2}[name]
    rows = _csv_rows(path, encoding)
    sheets = _sheets(records)
    assert len(sheets) == len(rows)
    for i, cid in enumerate(CANDIDATE_IDS):
        assert sum(s.candidates[i] for s in sheets) == sum(int(r[cid]) for r in rows), cid
    assert sum(s.valid or 0 for s in sheets) == sum(int(r["VOTOS_VALIDOS"]) for r in rows)
    assert sum(s.null or 0 for s in sheets) == sum(int(r["VOTOS_NULOS"]) for r in rows)
    if "RE" in rows[0]:
        assert sum(s.registered or 0 for s in sheets) == sum(int(r["RE"]) for r in rows)


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_rows_decode_to_the_right_table(name: str, request: pytest.FixtureRequest) -> None:
    records: list[Record] = request.getfixturevalue(name)
    for r in records:
        row = next(csv.reader(io.StringIO(r.raw)))
        # CENTRO is an integer (leading zero lost); COD_EDO/COD_MUN agree with the code's digits
        cod_edo, centro, mesa = int(row[0]), int(row[6]), int(row[7])
        assert r.sheet is not None
        assert r.sheet.table == f"{centro:09d}.{mesa:02d}"
        assert int(VE2024.geography.unit_key(r.sheet.table, "state")) == cod_edo
        assert int(VE2024.geography.unit_key(r.sheet.table, "municipality")[2:]) == int(row[2])


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_valid_votes_add_up_and_no_shape_errors(name: str, request: pytest.FixtureRequest) -> None:
    records: list[Record] = request.getfixturevalue(name)
    sheets = _sheets(records)
    assert all(s.valid == s.total_valid for s in sheets)
    for s in sheets[::50]:  # check() one sheet at a time is slow-ish: a sample is enough here
        assert not [f for f in check(s, VE2024) if f.severity == "error"]


def test_v1_v2_differences_match_the_readme(v1: list[Record], v2: list[Record]) -> None:
    a, b = _by_table(v1), _by_table(v2)
    assert len(b.keys() - a.keys()) == 543
    assert len(a.keys() - b.keys()) == 2
    for table in a.keys() & b.keys():
        assert a[table].votes_equal(b[table]), table
        assert (a[table].valid, a[table].null) == (b[table].valid, b[table].null)


def test_montana_verde(v2: list[Record]) -> None:
    rows = [r for r in v2 if ("parish", "PQ. MONTA¿A VERDE") in r.names]
    assert len(rows) == 16  # README: 16 rows with the 0xBF byte


# --- 2024_vzla_presidential.csv ------------------------------------------------------------------------------


def test_presidential_every_table_id_decodes(presidential: list[Record]) -> None:
    assert [(r.line, r.error) for r in presidential if r.error] == []
    assert len(presidential) == 21_952
    with open(PRESIDENTIAL, encoding="utf-8", newline="") as f:
        actas = [row["Acta"] for row in csv.DictReader(f)]
    sheets = _sheets(presidential)
    assert [s.acta_id for s in sheets] == actas
    for s in sheets:
        assert s.acta_id is not None
        assert s.table == s.acta_id[:12]
        assert VE2024.geography.table_id(s.table) == s.table
    assert not presidential[-1].raw.endswith("\n")


def test_presidential_agrees_with_v2_mostly(presidential: list[Record], v2: list[Record]) -> None:
    """A secondary source: report how many common tables agree (most should)."""
    pres, res = _by_table(presidential), _by_table(v2)
    common = pres.keys() & res.keys()
    agree = sum(pres[t].votes_equal(res[t]) for t in common)
    assert len(common) > 15_000
    assert agree / len(common) > 0.99


BULLETIN = Path(__file__).parent.parent / "examples" / "ve2024-first-bulletin.toml"


@pytest.fixture(scope="module")
def v1_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The README's run: V1 imported as witness copies, its RE as the registry."""
    from typer.testing import CliRunner

    from tallyproof.cli import app

    db = str(tmp_path_factory.mktemp("v1") / "ve.db")
    for args in (
        ["init", "--election", "ve2024", "--db", db],
        ["import", str(V1), "--source", "witness", "--db", db],
        ["registry", "derive", "--db", db],
    ):
        assert CliRunner().invoke(app, args).exit_code == 0
    return db


def test_the_first_bulletin_is_not_achievable_from_the_full_v1_file(v1_store: str) -> None:
    """The bulletin checked against V1's copies."""
    import json

    from typer.testing import CliRunner

    from tallyproof.cli import app

    db, run, bulletin = v1_store, CliRunner(), BULLETIN
    result = run.invoke(app, ["feasibility", str(bulletin), "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["margin_in_copies"], data["missing_voters"], data["shortfall"]) == (3_915_001, 3_647_225, 267_776)
    assert data["winner_achievable"] is False and data["impossible"] == ["EG"]


def test_the_report_on_the_real_copies_concludes_not_achievable(v1_store: str, tmp_path: Path) -> None:
    """`tallyproof report` on V1's copies and the first bulletin: the verdict and its numbers."""
    import json

    from typer.testing import CliRunner

    from tallyproof.cli import app

    db, run, bulletin = v1_store, CliRunner(), BULLETIN
    result = run.invoke(app, ["report", "--announcement", str(bulletin), "-o", str(tmp_path / "r"), "--db", db])
    assert result.exit_code == 0, result.output
    assert "NOT ACHIEVABLE: Nicolás Maduro cannot finish first" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["feasibility"]["shortfall"] == 267_776 and data["coverage"]["tables_with_copies"] == 24_532
    assert "267,776" in (tmp_path / "r.md").read_text() and "267,776" in (tmp_path / "r.html").read_text()
