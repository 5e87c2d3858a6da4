"""A reviewer's entries, field by field, and the QR payload they make."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallyproof.election import Election, load_election
from tallyproof.errors import CodecError
from tallyproof.photos.fields import entries, fields, payload
from tallyproof.sheets.qr import to_qr
from tallyproof.sheets.sheet import TallySheet

VE2024 = load_election("ve2024")


def test_the_fields_follow_the_acta(ve2024: Election) -> None:
    keys = [f.key for f in fields(ve2024)]
    assert keys == ["acta_id", *(f"card-{i}" for i in range(1, 39)), "null", "blank"]
    assert fields(ve2024)[1].label == "1. PSUV (269) — Nicolás Maduro"


@given(st.lists(st.integers(0, 999), min_size=38, max_size=38), st.integers(0, 99), st.integers(0, 99))
def test_entries_make_the_payload_of_the_sheet(counts: list[int], null: int, blank: int) -> None:
    sheet = TallySheet.from_cards(VE2024, "010111043.01", counts, null=null, blank=blank, acta_id="010111043.01.1.0001")  # type: ignore[arg-type]
    assert payload(entries(to_qr(sheet), VE2024), VE2024) == to_qr(sheet)


def test_counts_are_taken_as_typed(ve2024: Election) -> None:
    typed = entries("010111043.01.1.0001!" + ",".join(["1"] * 38) + "!0!0", ve2024) | {"card-2": " 007 ", "null": "1 2"}
    assert payload(typed, ve2024) == "010111043.01.1.0001!1,7," + ",".join(["1"] * 36) + "!12!0"


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"card-3": ""}, "card-3", "missing: type the votes of 3. TUPAMARO"),
        ({"card-38": "1o"}, "card-38", "'1o' is not a count of votes"),
        ({"blank": "-1"}, "blank", "not a count"),
        ({"acta_id": ""}, "acta_id", "missing"),
        ({"acta_id": "010111043.01"}, "acta_id", "does not match CCCCCCCCC.TT.X.NNNN"),
        ({"card-1": "1234567890"}, "card-1", "not a count"),
    ],
)
def test_a_mistyped_field_is_named(ve2024: Election, change: dict[str, str], where: str, message: str) -> None:
    typed = entries("010111043.01.1.0001!" + ",".join(["1"] * 38) + "!0!0", ve2024) | change
    with pytest.raises(CodecError, match=message) as raised:
        payload(typed, ve2024)
    assert raised.value.where == where
