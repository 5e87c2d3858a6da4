"""Reading and writing files of tally sheets, on byte-exact cuts of the real CSVs (tests/fixtures)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import VE2024, tally_sheets
from tallyproof.errors import InputError
from tallyproof.sheets.files import (
    Record,
    decode_text,
    detect_format,
    read_records,
    sheet_to_json,
    write_csv,
    write_jsonl,
)
from tallyproof.sheets.qr import from_qr
from tallyproof.sheets.sheet import TallySheet

FIXTURES = Path(__file__).parent / "fixtures"
V1 = FIXTURES / "resultados_v1_sample.csv"
V2 = FIXTURES / "resultados_v2_sample.csv"
PRESIDENTIAL = FIXTURES / "vzla_presidential_sample.csv"
QR = FIXTURES / "qr_payloads.txt"

CANDIDATE_IDS = [c.id for c in VE2024.candidates]
SURNAMES = ["Maduro", "Martinez", "Bertucci", "Brito", "Ecarri", "Fermin", "Ceballos", "Gonzalez", "Marquez", "Rausseo"]


def _read(path: Path, fmt: str = "auto") -> tuple[list[Record], str]:
    text, encoding = decode_text(path.read_bytes())
    return list(read_records(text, VE2024, fmt, where=path.name)), encoding


def _sheets(records: list[Record]) -> list[TallySheet]:
    assert [r.error for r in records if r.error] == []
    return [r.sheet for r in records if r.sheet is not None]


def _source_lines(path: Path) -> list[bytes]:
    """The file's lines as bytes, terminators kept, BOM removed (as decode_text does)."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    return data.splitlines(keepends=True)


def _column_sums(path: Path, encoding: str, columns: list[str]) -> dict[str, int]:
    """Independent reference: sum the columns with the csv module alone."""
    with open(path, encoding=encoding, newline="") as f:
        rows = list(csv.DictReader(f))
    return {c: sum(int(row[c]) for row in rows) for c in columns}


def _totals(sheets: list[TallySheet]) -> dict[str, int]:
    return {cid: sum(s.candidates[i] for s in sheets) for i, cid in enumerate(CANDIDATE_IDS)}


def _by_table(records: list[Record]) -> dict[str, Record]:
    out = {r.sheet.table: r for r in records if r.sheet is not None}
    assert len(out) == len(records)
    return out


# --- the fixtures are what PROVENANCE.md says ---------------------------------------------------------


def test_fixture_encodings_and_line_endings() -> None:
    v1 = V1.read_bytes()
    assert v1.startswith(b"\xef\xbb\xbf")
    assert v1.count(b"\r\n") == v1.count(b"\n") == 43
    v2 = V2.read_bytes()
    assert b"\r" not in v2 and v2.count(b"\n") == 41
    assert b"MONTA\xbfA VERDE" in v2
    with pytest.raises(UnicodeDecodeError):
        v2.decode("utf-8")
    pres = PRESIDENTIAL.read_bytes()
    assert not pres.endswith(b"\n")
    assert pres.count(b"\r\n") == pres.count(b"\n") == 20


# --- V1: UTF-8 with BOM, CRLF, RE -------------------------------------------------------------------


def test_v1_decodes() -> None:
    records, encoding = _read(V1)
    assert encoding == "utf-8-sig"
    assert detect_format(decode_text(V1.read_bytes())[0], where="v1") == "ve-resultados"
    sheets = _sheets(records)
    assert len(sheets) == 42
    assert [r.line for r in records] == list(range(2, 44))
    assert all(s.registered is not None and s.valid == s.total_valid for s in sheets)
    assert all(s.cards is None and s.acta_id is None and s.blank is None and s.voters is None for s in sheets)


def test_v1_worked_example_row() -> None:
    rec = _by_table(_read(V1)[0])["010111043.01"]
    sheet = rec.sheet
    assert sheet is not None
    assert sheet.registered == 513  # RE
    assert (sheet.valid, sheet.null) == (345, 0)
    assert dict(zip(CANDIDATE_IDS, sheet.candidates, strict=True)) == {
        "NM": 152, "LM": 6, "JABE": 1, "JOBR": 0, "AE": 1, "CF": 0, "DC": 0, "EG": 178, "EM": 1, "BERA": 6,
    }  # fmt: skip
    assert rec.names == (
        ("state", "DTTO. CAPITAL"),
        ("municipality", "MP. BLVNO LIBERTADOR"),
        ("parish", "PQ. 23 DE ENERO"),
    )


def test_v1_pads_the_centre_code() -> None:
    tables = set(_by_table(_read(V1)[0]))
    assert "040108014.01" in tables  # CENTRO 40108014 (Aragua) -> 9 digits
    assert "110612003.02" in tables  # CENTRO 110612003 (Lara) is already 9 digits
    assert {t[:2] for t in tables} == {"01", "04", "05", "11"}


def test_v1_raw_is_the_exact_source_line() -> None:
    records, _ = _read(V1)
    lines = _source_lines(V1)
    for r in records:
        assert r.raw.encode("utf-8") == lines[r.line - 1]
        assert r.raw.endswith("\r\n")


def test_v1_candidate_totals_equal_column_sums() -> None:
    sheets = _sheets(_read(V1)[0])
    sums = _column_sums(V1, "utf-8-sig", [*CANDIDATE_IDS, "VOTOS_VALIDOS", "VOTOS_NULOS", "RE"])
    assert _totals(sheets) == {c: sums[c] for c in CANDIDATE_IDS}
    assert sum(s.total_valid for s in sheets) == sums["VOTOS_VALIDOS"]
    assert sum(s.null or 0 for s in sheets) == sums["VOTOS_NULOS"]
    assert sum(s.registered or 0 for s in sheets) == sums["RE"]


# --- V2: Latin-1, LF, no RE ------------------------------------------------------------------------------


def test_v2_decodes() -> None:
    records, encoding = _read(V2)
    assert encoding == "latin-1"
    sheets = _sheets(records)
    assert len(sheets) == 40
    assert [r.line for r in records] == list(range(2, 42))
    assert all(s.registered is None for s in sheets)
    assert all(s.valid == s.total_valid for s in sheets)


def test_v2_montana_verde_decodes() -> None:
    records, _ = _read(V2)
    montana = [r for r in records if ("parish", "PQ. MONTA¿A VERDE") in r.names]
    assert len(montana) == 8
    assert all(r.raw.encode("latin-1").count(b"\xbf") == 1 for r in montana)
    assert all(r.sheet is not None and r.sheet.table.startswith("110612") for r in montana)


def test_v2_raw_is_the_exact_source_line() -> None:
    records, _ = _read(V2)
    lines = _source_lines(V2)
    for r in records:
        assert r.raw.encode("latin-1") == lines[r.line - 1]
        assert r.raw.endswith("\n") and not r.raw.endswith("\r\n")


def test_v2_candidate_totals_equal_column_sums() -> None:
    sheets = _sheets(_read(V2)[0])
    sums = _column_sums(V2, "latin-1", [*CANDIDATE_IDS, "VOTOS_VALIDOS", "VOTOS_NULOS"])
    assert _totals(sheets) == {c: sums[c] for c in CANDIDATE_IDS}
    assert sum(s.total_valid for s in sheets) == sums["VOTOS_VALIDOS"]
    assert sum(s.null or 0 for s in sheets) == sums["VOTOS_NULOS"]


def test_v1_and_v2_agree_on_shared_tables() -> None:
    v1 = _by_table(_read(V1)[0])
    v2 = _by_table(_read(V2)[0])
    shared = v1.keys() & v2.keys()
    assert {"010111043.01", "110612003.01", "110612003.02"} <= shared
    assert len(shared) >= 10
    assert v2.keys() - v1.keys()  # V2 has tables the V1 cut lacks (some not in V1 at all)
    for table in shared:
        a, b = v1[table], v2[table]
        assert a.sheet is not None and b.sheet is not None
        assert a.sheet.votes_equal(b.sheet)
        assert (a.sheet.candidates, a.sheet.null, a.sheet.valid) == (b.sheet.candidates, b.sheet.null, b.sheet.valid)
        assert a.names == b.names  # same names, whatever the file's encoding ("MONTA¿A" in both)


# --- 2024_vzla_presidential.csv ---------------------------------------------------------------------------


def test_presidential_decodes() -> None:
    records, encoding = _read(PRESIDENTIAL)
    assert encoding == "utf-8"
    assert detect_format(decode_text(PRESIDENTIAL.read_bytes())[0], where="p") == "ve-presidential"
    sheets = _sheets(records)
    assert len(sheets) == 20
    assert [r.line for r in records] == list(range(2, 22))
    for s in sheets:
        assert s.acta_id is not None and s.acta_id.startswith(s.table + ".")
        assert s.acta_id.endswith(".1.0001")


def test_presidential_keeps_acta_id_and_totals() -> None:
    rec = _by_table(_read(PRESIDENTIAL)[0])["010111043.01"]
    assert rec.sheet is not None
    assert rec.sheet.acta_id == "010111043.01.1.0001"
    assert rec.sheet.candidates == (152, 6, 1, 0, 1, 0, 0, 178, 1, 6)
    assert dict(rec.names)["centre"] == "CENTRO DE FORMACION SOCIALISTA METAL MINERO"


def test_presidential_non_ascii_names() -> None:
    rec = _by_table(_read(PRESIDENTIAL)[0])["010101007.01"]
    assert dict(rec.names)["centre"] == "ESCUELA NACIONAL DE ARTES ESCÉNICAS CESAR RENGIFO"


def test_presidential_last_line_without_newline() -> None:
    records, _ = _read(PRESIDENTIAL)
    last = records[-1]
    assert last.sheet is not None and last.sheet.table == "240111029.01"
    assert not last.raw.endswith("\n")
    lines = _source_lines(PRESIDENTIAL)
    for r in records:
        assert r.raw.encode("utf-8") == lines[r.line - 1]
    assert records[-2].raw.endswith("\r\n")


def test_presidential_totals_equal_column_sums() -> None:
    sheets = _sheets(_read(PRESIDENTIAL)[0])
    sums = _column_sums(PRESIDENTIAL, "utf-8", [*SURNAMES, "Otros"])
    assert list(_totals(sheets).values()) == [sums[s] for s in SURNAMES]
    assert sums["Otros"] == sum(sums[s] for s in SURNAMES if s not in ("Maduro", "Gonzalez"))


# --- QR text file ------------------------------------------------------------------------------------------


def test_qr_text_file() -> None:
    text = QR.read_text(encoding="ascii")
    assert detect_format(text, where="qr") == "qr"
    records, _ = _read(QR)
    sheets = _sheets(records)
    lines = text.splitlines(keepends=True)
    assert len(records) == len(lines) == 10
    for r in records:
        assert r.raw == lines[r.line - 1]
        assert r.sheet == from_qr(r.raw.strip(), VE2024)
    with open(FIXTURES / "qr_expected.csv", encoding="ascii", newline="") as f:
        expected = list(csv.DictReader(f))
    assert [s.table for s in sheets] == [row["table"] for row in expected]


def test_qr_text_file_with_a_bad_line_and_blank_lines() -> None:
    lines = QR.read_text(encoding="ascii").splitlines(keepends=True)
    bad = lines[1].replace("!0!0", "!x!0")
    text = "".join([lines[0], "\n", bad, "   \n", lines[2]])
    records = list(read_records(text, VE2024, "qr", where="q.txt"))
    assert [r.line for r in records] == [1, 3, 5]
    assert records[1].error == "qr.null: 'x' is not a vote count (a whole number without sign, spaces or leading zeros)"
    assert records[1].raw == bad
    assert records[0].sheet is not None and records[2].sheet is not None


# --- malformed rows: an error Record with the column and the line; the neighbours still decode ------------


def _v1_with(line_index: int, change: str, to: str) -> tuple[str, bytes]:
    """The V1 cut's header and first 5 rows, with row ``line_index`` (1-based line) edited."""
    lines = V1.read_bytes().splitlines(keepends=True)[:6]
    assert lines[line_index - 1].count(change.encode()) >= 1
    lines[line_index - 1] = lines[line_index - 1].replace(change.encode(), to.encode(), 1)
    data = b"".join(lines)
    return decode_text(data)[0], lines[line_index - 1]


def _check_one_bad(text: str, bad_line: int, bad_raw: bytes) -> Record:
    records = list(read_records(text, VE2024, "auto", where="v1.csv"))
    assert [r.line for r in records] == [2, 3, 4, 5, 6]
    bad = [r for r in records if r.error]
    assert len(bad) == 1
    rec = bad[0]
    assert rec.line == bad_line
    assert rec.sheet is None
    assert rec.raw.encode("utf-8") == bad_raw
    assert all(r.sheet is not None for r in records if r is not rec)
    return rec


def test_row_with_a_non_numeric_count() -> None:
    # line 4 is 40701002,2: ...,942,654,0,419,222,... (RE, VALID, NULL, EG, NM)
    text, raw = _v1_with(4, ",419,222,", ",419,2x2,")
    rec = _check_one_bad(text, 4, raw)
    assert rec.error == "NM: '2x2' is not a number"


def test_row_with_a_fractional_count() -> None:
    text, raw = _v1_with(3, ",387,290,0,", ",387,290,0.5,")
    rec = _check_one_bad(text, 3, raw)
    assert rec.error == "VOTOS_NULOS: '0.5' is not a whole number"


def test_row_with_too_few_fields() -> None:
    text, raw = _v1_with(5, ",https://", "https://")
    rec = _check_one_bad(text, 5, raw)
    assert rec.error == "21 fields, the header has 22"


def test_row_with_too_many_fields() -> None:
    text, raw = _v1_with(2, ",https://", ",,https://")
    rec = _check_one_bad(text, 2, raw)
    assert rec.error == "23 fields, the header has 22"


@pytest.mark.parametrize(
    "centre", ["4O704002", "", "40704-002", "²", "4070400²", "٤٠٧٠٤٠٠٢", "1234567890", " 4070400 2"]
)
def test_row_with_a_bad_centro(centre: str) -> None:
    text, raw = _v1_with(2, ",40704002,", f",{centre},")
    rec = _check_one_bad(text, 2, raw)
    assert rec.error is not None
    assert rec.error.startswith("CENTRO")
    assert "CENTRO" in rec.error.split(":")[0]


def test_row_with_a_bad_mesa() -> None:
    text, raw = _v1_with(6, ",40701008,2,", ",40701008,A,")
    rec = _check_one_bad(text, 6, raw)
    assert rec.error == "CENTRO: CENTRO '40701008' and MESA 'A' must be numbers"


def test_row_with_a_quoted_newline_is_one_record() -> None:
    text, _ = _v1_with(3, "MP. URDANETA", '"MP.\nURDANETA"')
    records = list(read_records(text, VE2024, "auto", where="v1.csv"))
    assert len(records) == 5 and all(r.sheet is not None for r in records)
    assert ("municipality", "MP.\nURDANETA") in records[1].names
    assert records[1].raw.count("\n") == 2
    assert [r.line for r in records] == [2, 3, 5, 6, 7]  # a record is numbered by its first line


def test_json_candidates_must_be_the_card_sums() -> None:
    cards = {c.id: 1 for c in VE2024.cards}
    good = {
        c.id: n
        for c, n in zip(
            VE2024.candidates, TallySheet.from_cards(VE2024, "010101001.01", [1] * 38).candidates, strict=True
        )
    }  # type: ignore[arg-type]
    wrong = {**good, "NM": good["NM"] + 1}
    for cands, error in ((good, None), (wrong, "candidates: candidate counts are not the sums of the card counts")):
        line = json.dumps({"table": "010101001.01", "cards": cards, "candidates": cands})
        (record,) = list(read_records(line + "\n", VE2024, "jsonl", where="x.jsonl"))
        assert record.error == error
    (record,) = list(
        read_records('{"table": "010101001.01", "acta_id": 7, "candidates": {}}\n', VE2024, "jsonl", where="x")
    )
    assert record.error == "acta_id: 7 is not a string"


def test_presidential_otros_mismatch() -> None:
    lines = PRESIDENTIAL.read_bytes().splitlines(keepends=True)
    bad = lines[1].rsplit(b",", 1)[0] + b",999\r\n"
    text = decode_text(b"".join([lines[0], bad, lines[2]]))[0]
    records = list(read_records(text, VE2024, "auto", where="p.csv"))
    assert records[0].error is not None and records[0].error.startswith("Otros: Otros 999 is not the sum")
    assert records[0].line == 2
    assert records[1].sheet is not None


def test_presidential_bad_acta() -> None:
    lines = PRESIDENTIAL.read_bytes().splitlines(keepends=True)
    bad = b"0101010" + lines[1][9:]
    text = decode_text(b"".join([lines[0], bad, lines[2]]))[0]
    records = list(read_records(text, VE2024, "auto", where="p.csv"))
    assert records[0].error is not None and records[0].error.startswith("Acta: ")
    assert records[1].sheet is not None


# --- headers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["EG", "BERA", "CENTRO", "MESA"])
def test_v1_header_lacking_a_column(column: str) -> None:
    lines = V1.read_bytes().splitlines(keepends=True)
    header = lines[0].replace(f",{column},".encode(), b",XX,")
    text = decode_text(b"".join([header, *lines[1:4]]))[0]
    with pytest.raises(InputError) as info:
        list(read_records(text, VE2024, "ve-resultados", where="v1.csv"))
    assert info.value.where == "v1.csv:1"
    assert column in info.value.message


def test_v2_header_lacking_a_candidate_auto() -> None:
    lines = V2.read_bytes().splitlines(keepends=True)
    header = lines[0].replace(b",NM,", b",MADURO,")
    text = decode_text(b"".join([header, *lines[1:4]]))[0]
    with pytest.raises(InputError) as info:
        list(read_records(text, VE2024, "auto", where="v2.csv"))
    assert info.value.where == "v2.csv:1"
    assert info.value.message == "header lacks column(s) NM"


def test_presidential_header_lacking_a_candidate() -> None:
    lines = PRESIDENTIAL.read_bytes().splitlines(keepends=True)
    header = lines[0].replace(b",Rausseo,", b",Rauseo,")
    text = decode_text(b"".join([header, *lines[1:3]]))[0]
    with pytest.raises(InputError) as info:
        list(read_records(text, VE2024, "auto", where="p.csv"))
    assert info.value.where == "p.csv:1"
    assert "Rausseo" in info.value.message


def test_generic_header_lacking_a_candidate() -> None:
    header = ["table", *(f"candidate:{c}" for c in CANDIDATE_IDS if c != "EG")]
    with pytest.raises(InputError) as info:
        list(read_records(",".join(header) + "\n", VE2024, "auto", where="g.csv"))
    assert info.value.where == "g.csv:1"
    assert "candidate:EG" in info.value.message


def test_header_only_and_empty() -> None:
    header = V1.read_text(encoding="utf-8-sig").splitlines(keepends=True)[0]
    assert list(read_records(header, VE2024, "auto", where="v1.csv")) == []
    assert list(read_records("", VE2024, "csv", where="e.csv")) == []


def test_unknown_format() -> None:
    with pytest.raises(InputError) as info:
        read_records("a,b\n", VE2024, "xml", where="f")
    assert info.value.where == "--format"
    with pytest.raises(InputError, match="cannot tell the format"):
        read_records("a,b\n1,2\n", VE2024, "auto", where="f")


def test_decode_text() -> None:
    assert decode_text(b"\xef\xbb\xbfa\r\n") == ("a\r\n", "utf-8-sig")
    assert decode_text("ñ".encode()) == ("ñ", "utf-8")
    assert decode_text(b"MONTA\xbfA") == ("MONTA¿A", "latin-1")


# --- generic CSV and JSON Lines: what is written reads back identically ------------------------------------

_SHEET_LISTS = st.lists(tally_sheets(), min_size=0, max_size=8)


@settings(max_examples=40)
@given(_SHEET_LISTS)
def test_csv_round_trip(sheets: list[TallySheet]) -> None:
    out = io.StringIO()
    n = write_csv(out, iter([(s, {"source": "witness"}) for s in sheets]), VE2024, ["source"])
    assert n == len(sheets)
    text = out.getvalue()
    records = list(read_records(text, VE2024, "auto", where="out.csv"))
    assert [r.sheet for r in records] == sheets
    lines = text.splitlines(keepends=True)
    for r in records:
        assert r.raw == lines[r.line - 1]


@settings(max_examples=40)
@given(_SHEET_LISTS)
def test_jsonl_round_trip(sheets: list[TallySheet]) -> None:
    out = io.StringIO()
    assert write_jsonl(out, iter([(s, {"source": "official"}) for s in sheets]), VE2024) == len(sheets)
    text = out.getvalue()
    records = list(read_records(text, VE2024, "auto" if sheets else "jsonl", where="out.jsonl"))
    assert [r.sheet for r in records] == sheets
    assert [r.line for r in records] == list(range(1, len(sheets) + 1))
    for r, s in zip(records, sheets, strict=True):
        assert json.loads(r.raw) == sheet_to_json(s, VE2024, source="official")


def test_csv_round_trip_of_decoded_fixtures() -> None:
    sheets = _sheets(_read(V1)[0]) + _sheets(_read(PRESIDENTIAL)[0]) + _sheets(_read(QR)[0])
    out = io.StringIO()
    write_csv(out, iter([(s, {}) for s in sheets]), VE2024, [])
    assert _sheets(list(read_records(out.getvalue(), VE2024, "auto", where="x"))) == sheets
    out = io.StringIO()
    write_jsonl(out, iter([(s, {}) for s in sheets]), VE2024)
    assert _sheets(list(read_records(out.getvalue(), VE2024, "auto", where="x"))) == sheets


def test_generic_csv_cards_disagreeing_with_candidates() -> None:
    sheet = _sheets(_read(QR)[0])[0]
    out = io.StringIO()
    write_csv(out, iter([(sheet, {})]), VE2024, [])
    header, row = out.getvalue().splitlines()
    fields = row.split(",")
    fields[header.split(",").index("candidate:EG")] = "1"
    records = list(read_records(f"{header}\n{','.join(fields)}\n", VE2024, "csv", where="g.csv"))
    assert records[0].error == "candidate:*: candidate columns are not the sums of the card columns"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "json: not JSON: "),
        ("[1, 2]", "table: expected an object with a string 'table'"),
        ('{"table": 5}', "table: expected an object with a string 'table'"),
        ('{"table": "0101"}', "table: '0101' does not match"),
        ('{"table": "010111043.01", "candidates": {"NM": 1}}', "candidates.LM: missing count"),
        ('{"table": "010111043.01", "candidates": [1, 2]}', "candidates: expected an object"),
        ('{"table": "010111043.01", "cards": {"PSUV": 1.5}}', "cards.PSUV: 1.5 is not a whole number"),
        ('{"table": "010111043.01", "null": "3", "candidates": {}}', "null: '3' is not a whole number"),
    ],
)
def test_jsonl_bad_lines(line: str, error: str) -> None:
    good = json.dumps(sheet_to_json(_sheets(_read(QR)[0])[0], VE2024))
    text = f"{good}\n{line}\n{good}\n"
    records = list(read_records(text, VE2024, "jsonl", where="j.jsonl"))
    assert [r.line for r in records] == [1, 2, 3]
    assert records[1].error is not None and records[1].error.startswith(error), records[1].error
    assert records[1].raw == line + "\n"
    assert records[0].sheet is not None and records[2].sheet == records[0].sheet
