"""The fast (Arrow) reader and the exact row-by-row reader must agree on everything they both read."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from strategies import tally_sheets
from tallyproof.election import Election, load_election
from tallyproof.sheets.batch import check_batch
from tallyproof.sheets.columnar import Decoded, _from_records, decode_file
from tallyproof.sheets.files import decode_text, read_records, write_csv
from tallyproof.sheets.sheet import TallySheet, check, sheets_to_batch

VE2024 = load_election("ve2024")


def slow(data: bytes, election: Election, fmt: str) -> Decoded:
    text, encoding = decode_text(data)
    return _from_records(list(read_records(text, election, fmt, where="f")), data, encoding, election, fmt)


def same(a: Decoded, b: Decoded) -> None:
    assert a.batch.tables == b.batch.tables
    assert a.batch.acta_ids == b.batch.acta_ids
    for name in ("candidates", "cards", "has_cards", "lines", "spans"):
        assert np.array_equal(getattr(a.batch, name), getattr(b.batch, name)), name
    for name, column in a.batch.optional.items():
        assert np.array_equal(column, b.batch.optional[name]), name
    assert a.batch.digests() == b.batch.digests()
    assert [(r.line, r.span, r.reason) for r in a.rejects] == [(r.line, r.span, r.reason) for r in b.rejects]


def generic_csv(sheets: list[TallySheet], *, crlf: bool = False) -> bytes:
    out = io.StringIO()
    write_csv(out, ((s, {}) for s in sheets), VE2024, [])
    text = out.getvalue()
    return (text.replace("\n", "\r\n") if crlf else text).encode()


@settings(max_examples=40, deadline=None)
@given(st.lists(tally_sheets(), min_size=1, max_size=25), st.booleans())
def test_fast_and_exact_readers_agree_on_generic_csv(sheets: list[TallySheet], crlf: bool) -> None:
    data = generic_csv(sheets, crlf=crlf)
    fast = decode_file(data, VE2024, "csv", where="f")
    assert fast.fast
    same(fast, slow(data, VE2024, "csv"))
    assert fast.batch.digests() == [s.digest() for s in sheets]


@settings(max_examples=25, deadline=None)
@given(st.lists(tally_sheets(), min_size=2, max_size=10), st.data())
def test_rows_with_the_wrong_number_of_fields_are_rejected_by_both(
    sheets: list[TallySheet], data: st.DataObject
) -> None:
    lines = generic_csv(sheets).split(b"\n")
    bad = data.draw(st.integers(1, len(sheets)))
    lines[bad] = lines[bad] + b",extra"
    raw = b"\n".join(lines)
    fast = decode_file(raw, VE2024, "csv", where="f")
    assert fast.fast and [r.line for r in fast.rejects] == [bad + 1]
    same(fast, slow(raw, VE2024, "csv"))


def test_the_real_format_fixtures_read_the_same_both_ways() -> None:
    for name in ("resultados_v1_sample.csv", "resultados_v2_sample.csv"):
        data = (FIXTURES / name).read_bytes()
        fast = decode_file(data, VE2024, where=name)
        assert fast.fast and len(fast.batch) > 30
        same(fast, slow(data, VE2024, "ve-resultados"))
        exact = slow(data, VE2024, "ve-resultados")
        assert fast.names == exact.names


def test_anything_unusual_goes_to_the_exact_reader() -> None:
    good = generic_csv([TallySheet.from_cards(VE2024, "010101001.01", [1] * 38)])  # type: ignore[arg-type]
    quoted = good.replace(b"010101001.01", b'"010101001.01"')
    fractional = good.rstrip(b"\n") + b"\n" + good.split(b"\n")[1].replace(b",1,", b",1.5,", 1) + b"\n"
    for data in (quoted, fractional):
        decoded = decode_file(data, VE2024, "csv", where="f")
        assert not decoded.fast
        same(decoded, slow(data, VE2024, "csv"))
    assert "'1.5' is not a whole number" in decode_file(fractional, VE2024, "csv", where="f").rejects[0].reason


@given(
    st.lists(tally_sheets(), min_size=1, max_size=20),
    st.dictionaries(st.sampled_from(["010101001.01", "020202002.02"]), st.integers(0, 500)),
)
def test_batch_checks_are_the_single_sheet_checks(sheets: list[TallySheet], registry: dict[str, int]) -> None:
    batch = sheets_to_batch(sheets, n_candidates=10, n_cards=38)
    found = check_batch(batch, VE2024, registry=registry or None)
    for i, sheet in enumerate(sheets):
        assert [(f.code, f.field, f.message) for f in found if f.row == i] == [
            (f.code, f.field, f.message) for f in check(sheet, VE2024, registry=registry or None)
        ]
