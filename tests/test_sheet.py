"""TallySheet, check() findings, digests, votes_equal and parse_count."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import VE2024, card_counts, qr_sheets, table_ids, tally_sheets
from tallyproof.errors import CodecError
from tallyproof.sheets.batch import LIMIT
from tallyproof.sheets.qr import from_qr
from tallyproof.sheets.sheet import Finding, Severity, TallySheet, check, check_many, parse_count

TABLE = "010111043.01"
# The README's worked example: cards of acta 010111043.01 (NM 152, EG 178, ... valid 345).
CARDS = tuple(
    int(x) for x in "112,5,4,1,9,1,1,0,2,2,0,0,15,3,1,0,1,1,0,1,0,0,0,0,0,0,0,0,0,1,0,0,0,8,10,160,1,6".split(",")
)
CANDIDATES = (152, 6, 1, 0, 1, 0, 0, 178, 1, 6)


def _clean(**changes: Any) -> TallySheet:
    sheet = TallySheet.from_cards(VE2024, TABLE, CARDS, null=0, blank=0, registered=513, valid=345, voters=345)
    return dataclasses.replace(sheet, **changes)


def _codes(findings: list[Finding]) -> list[tuple[str, Severity, str]]:
    return [(f.code, f.severity, f.field) for f in findings]


def _only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def _errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def _only_error(findings: list[Finding]) -> Finding:
    """The single error finding (a sheet with an error may also get arithmetic warnings)."""
    return _only(_errors(findings))


# --- the clean sheet ---------------------------------------------------------------------------


def test_from_cards_sums_candidates() -> None:
    assert _clean().candidates == CANDIDATES
    assert _clean().total_valid == 345


def test_clean_sheet_has_no_findings() -> None:
    assert check(_clean(), VE2024) == []
    assert check(_clean(), VE2024, registry={TABLE: 513}) == []


def test_clean_sheet_without_optional_fields_has_no_findings() -> None:
    bare = TallySheet(table=TABLE, candidates=CANDIDATES)
    assert check(bare, VE2024) == []


@given(tally_sheets())
def test_consistent_sheets_have_no_findings(sheet: TallySheet) -> None:
    cast = sheet.total_valid + (sheet.null or 0) + (sheet.blank or 0)
    sheet = dataclasses.replace(sheet, valid=sheet.total_valid, voters=cast, registered=cast + (sheet.registered or 0))
    assert check(sheet, VE2024, registry={sheet.table: sheet.registered}) == []


@given(qr_sheets())
def test_decoded_qr_sheets_are_clean_unless_a_sum_is_too_large(sheet: TallySheet) -> None:
    found = check(sheet, VE2024)
    assert {f.code for f in found} <= {"too-large"}
    assert bool(found) == (max(sheet.candidates) > LIMIT)


# --- errors: the copy cannot be counted ---------------------------------------------------------


def test_negative_candidate_count() -> None:
    sheet = _clean(candidates=(152, 6, 1, 0, -1, 0, 0, 178, 1, 6), cards=None)
    f = _only_error(check(sheet, VE2024))
    assert (f.code, f.severity, f.field) == ("negative", Severity.ERROR, "candidates[4]")
    assert "-1" in f.message
    assert str(f) == f"candidates[4]: {f.message}"


def test_negative_card_count() -> None:
    cards = list(CARDS)
    cards[35] = -160
    sheet = TallySheet.from_cards(VE2024, TABLE, cards)
    # the EG total (8 + 10 - 160) is negative too: both are reported
    assert sorted(_codes(_errors(check(sheet, VE2024)))) == [
        ("negative", Severity.ERROR, "candidates[7]"),
        ("negative", Severity.ERROR, "cards[35]"),
    ]


@pytest.mark.parametrize("name", ["null", "blank", "registered", "valid", "voters"])
def test_negative_field(name: str) -> None:
    f = _only_error(check(_clean(**{name: -1}), VE2024))
    assert (f.code, f.severity, f.field) == ("negative", Severity.ERROR, name)


@pytest.mark.parametrize("value", [1.0, 152.5, "152", True, None])
def test_non_integer_candidate_count(value: object) -> None:
    candidates = list(CANDIDATES)
    candidates[0] = value  # type: ignore[call-overload]
    f = _only(check(_clean(candidates=tuple(candidates), cards=None, valid=None, voters=None), VE2024))
    assert (f.code, f.severity, f.field) == ("non-integer", Severity.ERROR, "candidates[0]")
    assert repr(value) in f.message


def test_non_integer_card_count() -> None:
    cards: list[Any] = list(CARDS)
    cards[2] = 4.0
    sheet = TallySheet.from_cards(VE2024, TABLE, cards)
    # the float propagates into the NM total (152.0): both are flagged
    assert _codes(check(sheet, VE2024)) == [
        ("non-integer", Severity.ERROR, "candidates[0]"),
        ("non-integer", Severity.ERROR, "cards[2]"),
    ]


@pytest.mark.parametrize("name", ["null", "blank", "registered", "valid", "voters"])
@pytest.mark.parametrize("value", [0.5, 3.0, "3", False])
def test_non_integer_field(name: str, value: object) -> None:
    f = _only(check(_clean(**{name: value}), VE2024))
    assert (f.code, f.severity, f.field) == ("non-integer", Severity.ERROR, name)


@pytest.mark.parametrize("n", [0, 37, 39])
def test_wrong_number_of_cards(n: int) -> None:
    sheet = TallySheet(table=TABLE, candidates=CANDIDATES, cards=(0,) * n)
    f = _only(check(sheet, VE2024))
    assert (f.code, f.severity, f.field) == ("wrong-cards", Severity.ERROR, "cards")
    assert f.message == f"{n} card counts, expected 38"


@pytest.mark.parametrize("n", [0, 9, 11, 38])
def test_wrong_number_of_candidates(n: int) -> None:
    sheet = TallySheet(table=TABLE, candidates=(1,) * n)
    f = _only(check(sheet, VE2024))
    assert (f.code, f.severity, f.field) == ("wrong-candidates", Severity.ERROR, "candidates")
    assert f.message == f"{n} candidate counts, expected 10"


def test_from_cards_with_wrong_card_count_is_flagged_not_summed() -> None:
    sheet = TallySheet.from_cards(VE2024, TABLE, CARDS[:37])
    assert sheet.candidates == (0,) * 10
    assert _codes(check(sheet, VE2024)) == [("wrong-cards", Severity.ERROR, "cards")]


@pytest.mark.parametrize(
    "table",
    [
        "",
        "010111043",
        "010111043.1",
        "10111043.01",
        "010111043.01.1.0001",
        "010111043-01",
        "O10111043.01",
        " 010111043.01",
    ],
)
def test_bad_table_id(table: str) -> None:
    f = _only(check(_clean(table=table), VE2024))
    assert (f.code, f.severity, f.field) == ("bad-table-id", Severity.ERROR, "table")
    assert repr(table) in f.message


def test_shape_errors_are_all_reported() -> None:
    sheet = TallySheet(table="x", candidates=(-1,) * 9, cards=(0,) * 3, valid=99, voters=99, registered=0)
    codes = set(_codes(check(sheet, VE2024, registry={TABLE: 1})))
    assert {
        ("bad-table-id", Severity.ERROR, "table"),
        ("wrong-candidates", Severity.ERROR, "candidates"),
        ("wrong-cards", Severity.ERROR, "cards"),
    } <= codes


# --- warnings: the copy is counted, the anomaly reported ----------------------------------------


def test_stated_valid_does_not_add_up() -> None:
    f = _only(check(_clean(valid=346), VE2024))
    assert (f.code, f.severity, f.field) == ("valid-mismatch", Severity.WARNING, "valid")
    assert "346" in f.message and "345" in f.message


def test_voters_mismatch() -> None:
    f = _only(check(_clean(null=3, blank=1, voters=345), VE2024))
    assert (f.code, f.severity, f.field) == ("voters-mismatch", Severity.WARNING, "voters")
    assert "345" in f.message and "349" in f.message


def test_voters_match_counts_null_and_blank() -> None:
    assert check(_clean(null=3, blank=1, voters=349), VE2024) == []


def test_votes_above_the_sheets_own_registered() -> None:
    f = _only(check(_clean(null=2, registered=346, voters=347), VE2024))
    assert (f.code, f.severity, f.field) == ("above-registered", Severity.WARNING, "registered")
    assert "347" in f.message and "346" in f.message


def test_votes_equal_to_registered_is_fine() -> None:
    assert check(_clean(registered=345), VE2024) == []


def test_votes_above_the_registrys_registered() -> None:
    sheet = _clean(registered=None)
    assert check(sheet, VE2024, registry={TABLE: 345}) == []
    f = _only(check(sheet, VE2024, registry={TABLE: 344}))
    assert (f.code, f.severity, f.field) == ("above-registered", Severity.WARNING, "registered")
    assert "345" in f.message and "344" in f.message


def test_registry_with_unknown_registered_count() -> None:
    assert check(_clean(registered=None), VE2024, registry={TABLE: None}) == []


def test_unknown_table_with_a_registry() -> None:
    f = _only(check(_clean(), VE2024, registry={"010111043.02": 500}))
    assert (f.code, f.severity, f.field) == ("unknown-table", Severity.WARNING, "table")
    assert TABLE in f.message


def test_unknown_table_without_a_registry_is_not_reported() -> None:
    assert check(_clean(), VE2024) == []
    assert check(_clean(), VE2024, registry=None) == []


def test_several_warnings_together() -> None:
    sheet = _clean(valid=1, voters=1, registered=10)
    assert sorted(_codes(check(sheet, VE2024, registry={"010111043.02": 500}))) == [
        ("above-registered", Severity.WARNING, "registered"),
        ("unknown-table", Severity.WARNING, "table"),
        ("valid-mismatch", Severity.WARNING, "valid"),
        ("voters-mismatch", Severity.WARNING, "voters"),
    ]


def test_check_never_raises_on_garbage() -> None:
    sheet = TallySheet(table="??", candidates=("a", None, 1.5), cards=("x",), null="n")  # type: ignore[arg-type]
    findings = check(sheet, VE2024, registry={})
    assert findings and all(f.severity is Severity.ERROR for f in findings)


@given(st.lists(tally_sheets(), max_size=6), st.data())
def test_check_many_equals_check_of_each(sheets: list[TallySheet], data: st.DataObject) -> None:
    garbage = TallySheet(table="??", candidates=(-1,), cards=None)
    mixed = data.draw(st.permutations([*sheets, garbage, _clean(valid=1), _clean(null=-3)]))
    registry = {TABLE: 400}
    assert check_many(mixed, VE2024, registry=registry) == [check(s, VE2024, registry=registry) for s in mixed]


# --- digest ----------------------------------------------------------------------------------------


def test_digest_is_a_lowercase_sha256_hex() -> None:
    digest = _clean().digest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


@given(tally_sheets())
def test_digest_equal_for_equal_content(sheet: TallySheet) -> None:
    copy = dataclasses.replace(sheet)
    assert copy is not sheet
    assert copy.digest() == sheet.digest()


@given(tally_sheets(), st.data())
def test_digest_changes_when_a_count_changes(sheet: TallySheet, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(sheet.candidates) - 1))
    candidates = list(sheet.candidates)
    candidates[i] += data.draw(st.integers(1, 1000))
    changed = dataclasses.replace(sheet, candidates=tuple(candidates))
    assert changed.digest() != sheet.digest()
    if sheet.cards is not None:
        j = data.draw(st.integers(0, len(sheet.cards) - 1))
        cards = list(sheet.cards)
        cards[j] += 1
        changed = TallySheet.from_cards(VE2024, sheet.table, cards, **_fields(sheet))
        assert changed.digest() != sheet.digest()


@pytest.mark.parametrize("name", ["null", "blank", "registered", "valid", "voters"])
def test_digest_changes_when_a_field_changes(name: str) -> None:
    sheet = _clean()
    assert dataclasses.replace(sheet, **{name: getattr(sheet, name) + 1}).digest() != sheet.digest()
    assert dataclasses.replace(sheet, **{name: None}).digest() != sheet.digest()


def test_digest_changes_with_table_and_acta_id() -> None:
    sheet = _clean()
    assert _clean(table="010111043.02").digest() != sheet.digest()
    assert _clean(acta_id="010111043.01.1.0001").digest() != sheet.digest()


def test_digest_does_not_depend_on_the_format() -> None:
    payload = "010111043.01.1.0001!" + ",".join(map(str, CARDS)) + "!0!0"
    built = TallySheet.from_cards(VE2024, TABLE, CARDS, null=0, blank=0, acta_id="010111043.01.1.0001")
    assert from_qr(payload, VE2024).digest() == built.digest()


def test_digest_of_a_non_ascii_acta_id() -> None:
    # acta ids from CSV/JSON files are kept as given; digest() must not crash on them
    a = _clean(acta_id="010111043.01.1.0001é")
    b = _clean(acta_id="010111043.01.1.0001e")
    assert a.digest() != b.digest()


def _fields(sheet: TallySheet) -> dict[str, Any]:
    names = ("null", "blank", "registered", "valid", "voters", "acta_id")
    return {n: getattr(sheet, n) for n in names}


# --- votes_equal -------------------------------------------------------------------------------------


def test_votes_equal_same_votes() -> None:
    assert _clean().votes_equal(_clean())


def test_votes_equal_ignores_missing_cards() -> None:
    no_cards = TallySheet(table=TABLE, candidates=CANDIDATES, null=0, blank=0)
    assert _clean().votes_equal(no_cards)
    assert no_cards.votes_equal(_clean())


def test_votes_equal_compares_cards_when_both_have_them() -> None:
    cards = list(CARDS)
    cards[0], cards[1] = cards[0] - 1, cards[1] + 1  # same NM total, different cards
    moved = TallySheet.from_cards(VE2024, TABLE, cards, null=0, blank=0)
    assert moved.candidates == CANDIDATES
    assert not _clean().votes_equal(moved)
    assert not moved.votes_equal(_clean())


def test_votes_equal_candidates_differ() -> None:
    other = TallySheet(table=TABLE, candidates=(153, 6, 1, 0, 1, 0, 0, 177, 1, 6))
    assert not _clean().votes_equal(other)


@pytest.mark.parametrize(
    ("a", "b", "equal"), [(0, 0, True), (0, None, True), (None, 5, True), (None, None, True), (1, 2, False)]
)
@pytest.mark.parametrize("name", ["null", "blank"])
def test_votes_equal_null_and_blank(name: str, a: int | None, b: int | None, equal: bool) -> None:
    assert _clean(**{name: a}).votes_equal(_clean(**{name: b})) is equal


@pytest.mark.parametrize("name", ["registered", "valid", "voters", "acta_id"])
def test_votes_equal_ignores_non_vote_fields(name: str) -> None:
    other = _clean(**{name: "010111043.01.1.0001" if name == "acta_id" else 999})
    assert _clean().votes_equal(other)
    assert _clean().digest() != other.digest()


@given(tally_sheets())
def test_votes_equal_is_reflexive_and_symmetric(sheet: TallySheet) -> None:
    assert sheet.votes_equal(sheet)
    stripped = TallySheet(table=sheet.table, candidates=sheet.candidates)
    assert sheet.votes_equal(stripped) and stripped.votes_equal(sheet)


@given(table_ids(), card_counts(10_000), card_counts(10_000))
def test_votes_equal_matches_card_equality(table: str, a: tuple[int, ...], b: tuple[int, ...]) -> None:
    sa = TallySheet.from_cards(VE2024, table, a)
    sb = TallySheet.from_cards(VE2024, table, b)
    assert sa.votes_equal(sb) is (a == b)


# --- parse_count ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("345", 345), (" 12 ", 12), ("12\r\n", 12), ("-3", -3)])
def test_parse_count(text: str, value: int) -> None:
    assert parse_count(text, where="NM") == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a number"),
        ("x", "'x' is not a number"),
        ("1,5", "'1,5' is not a number"),
        ("1.5", "'1.5' is not a whole number"),
        ("2.0", "'2.0' is not a whole number"),
        ("1e3", "'1e3' is not a whole number"),
        ("nan", "'nan' is not a number"),
        ("1_000", "'1_000' is not a number"),
        ("+5", "'+5' is not a number"),
        ("99999999999", "99999999999 is out of range (counts go up to 2147483647)"),
    ],
)
def test_parse_count_rejects(text: str, message: str) -> None:
    with pytest.raises(CodecError) as info:
        parse_count(text, where="EG")
    assert info.value.where == "EG"
    assert info.value.message == message


def test_a_copy_that_disagrees_with_the_registry_is_flagged() -> None:
    sheet = dataclasses.replace(_clean(), registered=900)
    found = check(sheet, VE2024, registry={TABLE: 300})
    codes = {f.code for f in found}
    assert codes == {"registered-mismatch", "above-registered"}
    assert any("states 900 registered voters, the registry 300" in f.message for f in found)


def test_a_field_the_election_does_not_have_is_flagged() -> None:
    text = VE2024.source_text.replace(
        'fields = ["null", "blank", "registered", "valid", "voters"]', 'fields = ["null"]'
    )
    narrow = type(VE2024).from_toml(text)
    found = check(dataclasses.replace(_clean(), valid=None, voters=None, registered=None, blank=5), narrow)
    assert [(f.code, f.field) for f in found] == [("undeclared-field", "blank")]
