"""The signed tally-sheet payload: round trips, QR capacity, every malformed field, tampering."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import VE2024, card_counts, table_ids
from tallyproof.errors import CodecError, InputError, SignatureError
from tallyproof.sheets.sheet import TallySheet
from tallyproof.sheets.signed import SignedSheet
from tallyproof.signing import PrivateKey

KEY = PrivateKey(bytes(range(32)))
CLOSED = dt.datetime(2024, 7, 28, 18, 0, tzinfo=dt.UTC)


def signed(cards: tuple[int, ...] = (3,) * 38, table: str = "010111043.01", **kw: int) -> SignedSheet:
    extra = {"null": 1, "blank": 0, "registered": 513} | kw
    return SignedSheet.sign(VE2024, TallySheet.from_cards(VE2024, table, cards, **extra), KEY, CLOSED)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(table_ids(), card_counts(9_999), st.integers(0, 9_999), st.integers(0, 100_000))
def test_round_trip_and_verify(table: str, cards: tuple[int, ...], null: int, registered: int) -> None:
    s = signed(cards, table, null=null, registered=registered)
    text = s.to_text()
    back = SignedSheet.from_text(text, VE2024)
    assert back == s and back.to_text() == text
    back.verify(KEY.public)


def test_the_largest_realistic_sheet_fits_one_qr_at_level_m() -> None:
    text = signed((9_999,) * 38, registered=99_999, null=9_999, blank=9_999).to_text()
    qr = segno.make(text, error="m", micro=False, boost_error=False)
    assert qr.error == "M" and qr.version <= 40


def test_tampering_with_any_count_breaks_the_signature() -> None:
    text = signed().to_text()
    tampered = text.replace("|3,3,3,", "|3,3,4,", 1)
    with pytest.raises(SignatureError, match="does not verify"):
        SignedSheet.from_text(tampered, VE2024).verify(KEY.public)


def test_a_sheet_replayed_as_another_tables_fails() -> None:
    text = signed().to_text()
    moved = text.replace("|010111043.01|", "|010111043.02|", 1)
    with pytest.raises(SignatureError):
        SignedSheet.from_text(moved, VE2024).verify(KEY.public)


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (lambda t: t.replace("TP1|", "TP9|", 1), "signed.version", "unknown version"),
        (lambda t: t.replace("|ve2024|", "|ve2023|", 1), "signed.election", "signed for election 've2023'"),
        (lambda t: t.replace("|010111043.01|", "|0101.01|", 1), "signed.table", "'0101.01' does not match"),
        (lambda t: t.rsplit("|", 1)[0], "signed", "expected 10 fields"),
        (lambda t: t.replace("|3,3,3,", "|3,3,", 1), "signed.counts", "37 counts, expected 38"),
        (lambda t: t.replace("|3,3,3,", "|3,x,3,", 1), "signed.counts[1]", "'x' is not a vote count"),
        (lambda t: t.replace("|3,3,3,", "|3,03,3,", 1), "signed.counts[1]", "'03' is not a vote count"),
        (lambda t: t.replace("|20240728T180000Z|", "|2024-07-28|", 1), "signed.closed_at", "is not a UTC time"),
        (lambda t: t.replace("|513|", "|-513|", 1), "signed.registered", "'-513' is not a vote count"),
        (lambda t: t + "é", "signed", "not ASCII"),
    ],
)
def test_every_malformed_field_is_named(change: object, where: str, message: str) -> None:
    with pytest.raises(CodecError, match=message) as info:
        SignedSheet.from_text(change(signed().to_text()), VE2024)  # type: ignore[operator]
    assert info.value.where == where


def test_signing_needs_a_complete_sheet() -> None:
    with pytest.raises(CodecError, match="needs per-card counts"):
        SignedSheet.sign(VE2024, TallySheet("010111043.01", (1,) * 10), KEY, CLOSED)  # type: ignore[arg-type]


def test_the_slip_is_written_as_png_and_pdf(tmp_path: Path) -> None:
    from PIL import Image

    from tallyproof.sheets.slip import slip_lines, write_slip

    s = signed((7,) * 38)
    lines = slip_lines(VE2024, s)
    assert "TABLE 010111043.01" in lines[2] and len(lines) == 5 + 38 + 4
    assert any(line.startswith("NICOLAS MADURO") and "PSUV" in line and line.endswith(" 7") for line in lines)
    write_slip(VE2024, s, tmp_path / "slip.png")
    with Image.open(tmp_path / "slip.png") as image:
        assert image.format == "PNG" and image.height > image.width
    write_slip(VE2024, s, tmp_path / "slip.pdf")
    pdf = (tmp_path / "slip.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-1.4") and b"010111043.01" in pdf and pdf.rstrip().endswith(b"%%EOF")
    qr = segno.make(s.to_text(), error="m", micro=False, boost_error=False)
    squares = pdf.count(b" re\n") + pdf.count(b" re\r")
    assert squares == sum(sum(row) for row in qr.matrix)  # every dark module of the QR is drawn
    with pytest.raises(InputError, match=r"\.png or \.pdf"):
        write_slip(VE2024, s, tmp_path / "slip.txt")
