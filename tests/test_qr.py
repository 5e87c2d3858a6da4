"""The QR payload codec of the ve2024 acta: round trips, the README's worked example, strict rejects."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given

from strategies import VE2024, qr_payloads, qr_sheets, tally_sheets
from tallyproof.errors import CodecError, InputError
from tallyproof.sheets.qr import from_qr, looks_like_qr, to_qr
from tallyproof.sheets.sheet import TallySheet

FIXTURES = Path(__file__).parent / "fixtures"

# The worked example of the shared data README (images/637933_329296_0476Acta0120.jpg).
WORKED = "010111043.01.1.0001!112,5,4,1,9,1,1,0,2,2,0,0,15,3,1,0,1,1,0,1,0,0,0,0,0,0,0,0,0,1,0,0,0,8,10,160,1,6!0!0"
WORKED_COUNTS = WORKED.split("!")[1].split(",")


def _with_counts(counts: list[str]) -> str:
    return f"010111043.01.1.0001!{','.join(counts)}!0!0"


def _with_count(index: int, value: str) -> str:
    counts = list(WORKED_COUNTS)
    counts[index] = value
    return _with_counts(counts)


def _reject(payload: str | bytes, where: str, message: str) -> CodecError:
    """``from_qr`` raises a CodecError whose ``where`` is ``where`` and whose message matches."""
    with pytest.raises(CodecError) as info:
        from_qr(payload, VE2024)
    err = info.value
    assert err.where == where
    assert re.search(message, err.message), err.message
    assert str(err) == f"{where}: {err.message}"
    assert isinstance(err, InputError)
    return err


# --- round trips ---------------------------------------------------------------------------


@given(qr_sheets())
def test_sheet_to_qr_and_back_is_identity(sheet: TallySheet) -> None:
    assert from_qr(to_qr(sheet), VE2024) == sheet


@given(qr_payloads())
def test_canonical_payload_round_trip_is_byte_exact(payload: str) -> None:
    sheet = from_qr(payload, VE2024)
    assert to_qr(sheet) == payload
    assert from_qr(payload.encode("ascii"), VE2024) == sheet


@given(qr_payloads())
def test_payload_fields_land_where_they_should(payload: str) -> None:
    acta, counts, null, blank = payload.split("!")
    sheet = from_qr(payload, VE2024)
    assert sheet.acta_id == acta
    assert sheet.table == acta[:12]
    assert sheet.cards == tuple(int(c) for c in counts.split(","))
    assert (sheet.null, sheet.blank) == (int(null), int(blank))
    assert sheet.total_valid == sum(sheet.cards)
    assert looks_like_qr(payload)


@given(tally_sheets(with_cards=True))
def test_to_qr_without_acta_id_uses_the_table_and_default_suffix(sheet: TallySheet) -> None:
    payload = to_qr(TallySheet.from_cards(VE2024, sheet.table, sheet.cards or (), null=sheet.null, blank=sheet.blank))
    assert payload.startswith(f"{sheet.table}.1.0001!")
    back = from_qr(payload, VE2024)
    assert back.cards == sheet.cards
    assert back.null == (sheet.null or 0)
    assert back.blank == (sheet.blank or 0)


def test_to_qr_needs_cards() -> None:
    sheet = TallySheet(table="010111043.01", candidates=(0,) * 10)
    with pytest.raises(CodecError, match="no per-card counts") as info:
        to_qr(sheet)
    assert info.value.where == "010111043.01"


# --- the worked example ----------------------------------------------------------------------


def test_readme_worked_example() -> None:
    sheet = from_qr(WORKED, VE2024)
    assert sheet.table == "010111043.01"
    assert sheet.acta_id == "010111043.01.1.0001"
    by_id = {c.id: v for c, v in zip(VE2024.candidates, sheet.candidates, strict=True)}
    assert by_id == {
        "NM": 152,
        "LM": 6,
        "JABE": 1,
        "JOBR": 0,
        "AE": 1,
        "CF": 0,
        "DC": 0,
        "EG": 178,
        "EM": 1,
        "BERA": 6,
    }
    assert sheet.total_valid == 345
    assert (sheet.null, sheet.blank) == (0, 0)
    assert sheet.cards is not None and len(sheet.cards) == 38
    assert sheet.cards[0] == 112  # PSUV
    assert sheet.cards[35] == 160  # MUD
    assert to_qr(sheet) == WORKED


def test_fixture_payloads_match_their_csv_totals() -> None:
    payloads = (FIXTURES / "qr_payloads.txt").read_text(encoding="ascii").splitlines()
    with open(FIXTURES / "qr_expected.csv", encoding="ascii", newline="") as f:
        expected = list(csv.DictReader(f))
    assert len(payloads) == len(expected) == 10
    for payload, row in zip(payloads, expected, strict=True):
        sheet = from_qr(payload, VE2024)
        assert sheet.table == row["table"]
        for cand, total in zip(VE2024.candidates, sheet.candidates, strict=True):
            assert total == int(row[cand.id]), (row["table"], cand.id)
        assert sheet.total_valid == int(row["VOTOS_VALIDOS"])
        assert sheet.null == int(row["VOTOS_NULOS"])
        assert to_qr(sheet) == payload


# --- strict rejects: one test per malformed variant -------------------------------------------


@pytest.mark.parametrize(
    ("payload", "found"),
    [
        ("010111043.01.1.0001!" + ",".join(WORKED_COUNTS) + "!0", 3),
        (WORKED + "!0", 5),
        (WORKED.replace("!", ","), 1),
        (WORKED.replace("!0!0", "!0!!0"), 5),
    ],
)
def test_wrong_number_of_fields(payload: str, found: int) -> None:
    _reject(payload, "qr", f"expected 4 fields separated by '!', found {found}$")


@pytest.mark.parametrize(
    "acta",
    [
        "01011104.01.1.0001",  # 8-digit centre
        "0101110430.01.1.0001",  # 10-digit centre
        "010111043.1.1.0001",  # 1-digit table
        "010111043.01.1.001",  # 3-digit sequence
        "010111043.01.1",  # no sequence
        "010111043.01",  # table only
        "010111043-01-1-0001",
        "A10111043.01.1.0001",
        "010111043.01.1.0001x",
        "",
    ],
)
def test_bad_acta_id(acta: str) -> None:
    payload = acta + WORKED[len("010111043.01.1.0001") :]
    _reject(payload, "qr.acta_id", re.escape(f"acta id {acta!r} does not match CCCCCCCCC.TT.X.NNNN"))


def test_37_counts() -> None:
    _reject(_with_counts(WORKED_COUNTS[:37]), "qr.counts", r"^37 counts, expected 38 \(one per card\)$")


def test_39_counts() -> None:
    _reject(_with_counts([*WORKED_COUNTS, "0"]), "qr.counts", r"^39 counts, expected 38 \(one per card\)$")


def test_empty_counts_field() -> None:
    _reject("010111043.01.1.0001!!0!0", "qr.counts", "^1 counts, expected 38")


@pytest.mark.parametrize("value", ["x", "1a", "", "1.0", "0x1", "1e3", "1_000"])
def test_non_numeric_count(value: str) -> None:
    _reject(_with_count(7, value), "qr.counts[7]", re.escape(f"{value!r} is not a vote count"))


@pytest.mark.parametrize("value", ["-1", "-0", "+1"])
def test_signed_count(value: str) -> None:
    _reject(_with_count(0, value), "qr.counts[0]", "without sign")


@pytest.mark.parametrize("value", ["00", "01", "0160"])
def test_leading_zero(value: str) -> None:
    _reject(_with_count(35, value), "qr.counts[35]", "leading zeros")


@pytest.mark.parametrize("value", [" 1", "1 ", "1 1", "\t1", "1\n", "\n1"])
def test_spaces_inside_a_count(value: str) -> None:
    _reject(_with_count(12, value), "qr.counts[12]", re.escape(f"{value!r} is not a vote count"))


_BASE = WORKED[: -len("!0!0")]
_TAIL = WORKED[len("010111043.01.1.0001") :]


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (_BASE + "! 0!0", "qr.null"),
        (_BASE + "!0 !0", "qr.null"),
        (_BASE + "!0\n!0", "qr.null"),
        (_BASE + "!!0", "qr.null"),
        (_BASE + "!0! 0", "qr.blank"),
        (_BASE + "!0!0 1", "qr.blank"),
        (_BASE + "!0!x", "qr.blank"),
    ],
)
def test_bad_null_or_blank(payload: str, where: str) -> None:
    _reject(payload, where, "is not a vote count")


@pytest.mark.parametrize(
    "acta", ["010111043.01.1.0001 ", "010111043.01.1.0001\n", "010111043.01.1.0001\r", "0101 11043.01.1.0001"]
)
def test_spaces_in_the_acta_id(acta: str) -> None:
    _reject(acta + _TAIL, "qr.acta_id", "does not match")


def test_whitespace_around_the_whole_payload_is_ignored() -> None:
    assert from_qr(f"  {WORKED}\r\n", VE2024) == from_qr(WORKED, VE2024)


@pytest.mark.parametrize("value", ["٣", "３", "¹", "é"])
def test_non_ascii_text(value: str) -> None:
    _reject(_with_count(3, value), "qr", "^not ASCII text$")


def test_non_ascii_acta_id() -> None:
    _reject("٠" + WORKED[1:], "qr", "^not ASCII text$")


def test_bytes_input_ascii_is_decoded() -> None:
    assert from_qr(WORKED.encode("ascii"), VE2024) == from_qr(WORKED, VE2024)


@pytest.mark.parametrize(
    ("payload", "byte"),
    [
        (WORKED.encode("ascii") + b"\xff", len(WORKED)),
        (b"\xc3\xa9" + WORKED.encode("ascii"), 0),
        ("٣".encode() + WORKED.encode("ascii"), 0),
    ],
)
def test_bytes_input_not_ascii(payload: bytes, byte: int) -> None:
    _reject(payload, "qr", re.escape(f"not ASCII text (byte {byte})"))


def test_empty_string() -> None:
    _reject("", "qr", "found 1$")


def test_empty_bytes() -> None:
    _reject(b"", "qr", "found 1$")


def test_whitespace_only() -> None:
    _reject(" \n", "qr", "found 1$")


def test_ten_digit_count_is_rejected() -> None:
    _reject(_with_count(0, "1000000000"), "qr.counts[0]", "is not a vote count")


def test_nine_digit_count_is_accepted() -> None:
    sheet = from_qr(_with_count(0, "999999999"), VE2024)
    assert sheet.cards is not None and sheet.cards[0] == 999_999_999


def test_error_string_names_the_field() -> None:
    err = _reject(_with_count(7, "x"), "qr.counts[7]", "not a vote count")
    assert str(err).startswith("qr.counts[7]: ")


def test_looks_like_qr() -> None:
    assert looks_like_qr(WORKED)
    assert not looks_like_qr("COD_EDO,EDO,COD_MUN")
    assert not looks_like_qr('{"table": "010111043.01"}')
    assert not looks_like_qr(WORKED + "!0")
