"""Election definitions: the built-in ve2024, invalid TOMLs (errors name the key), geography keys."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from strategies import VE2024, table_ids
from tallyproof.election import SHEET_FIELDS, Election, builtin_elections, load_election
from tallyproof.errors import CodecError, ElectionDefinitionError, InputError, UnknownError

# Ballot order of the 38 cards as printed on the acta (README "QR payload format").
BALLOT = [
    *[("NM", c) for c in "PSUV PCV TUPAMARO PPT MSV PODEMOS MEP APC ORA UPV EV PVV PFV".split()],
    *[("LM", c) for c in "AD COPEI MR BR DDP UNE".split()],
    ("JABE", "EL_CAMBIO"),
    *[("JOBR", c) for c in "PV VU UVV MPJ".split()],
    *[("AE", c) for c in "AP MOVEV CMC FV ALIANZA_DEL_LAPIZ MIN_UNIDAD".split()],
    ("CF", "SPV"),
    ("DC", "VPA"),
    ("DC", "AREPA"),
    ("EG", "UNTC"),
    ("EG", "MPV"),
    ("EG", "MUD"),
    ("EM", "CENTRADOS"),
    ("BERA", "CONDE"),
]

MINIMAL = """\
[election]
id = "t1"
name = "Test"
date = 2024-01-01

[[candidates]]
id = "A"
name = "Alice"

[[candidates]]
id = "B"
name = "Bob"

[[cards]]
id = "P1"
candidate = "A"

[[cards]]
id = "P2"
candidate = "B"
code = 7

[geography]
levels = ["region", "table"]
table_id = '(?P<region>\\d{2})-(?P<table>\\d{3})'

[sheet]
fields = ["null", "blank"]
"""


def _invalid(text: str, where: str, message: str) -> ElectionDefinitionError:
    with pytest.raises(ElectionDefinitionError) as info:
        Election.from_toml(text, where="x.toml")
    err = info.value
    assert err.where == where
    assert re.search(message, err.message), err.message
    assert isinstance(err, InputError) and err.exit_code == 2
    return err


# --- ve2024 -------------------------------------------------------------------------------------


def test_builtin_list() -> None:
    assert "ve2024" in builtin_elections()


def test_ve2024_header() -> None:
    assert VE2024.id == "ve2024"
    assert VE2024.date == dt.date(2024, 7, 28)
    assert VE2024.fields == frozenset({"null", "blank", "registered", "valid", "voters"})
    assert VE2024.declared is not None
    assert (VE2024.declared.tables, VE2024.declared.registered) == (30026, 21392464)


def test_ve2024_candidates() -> None:
    assert [c.id for c in VE2024.candidates] == ["NM", "LM", "JABE", "JOBR", "AE", "CF", "DC", "EG", "EM", "BERA"]
    assert VE2024.candidates[0].name == "Nicolás Maduro"
    assert VE2024.candidates[7].name == "Edmundo González"


def test_ve2024_cards_in_qr_order() -> None:
    assert len(VE2024.cards) == 38
    assert [(c.candidate, c.id) for c in VE2024.cards] == BALLOT
    first, last = VE2024.cards[0], VE2024.cards[-1]
    assert (first.id, first.candidate, first.code) == ("PSUV", "NM", 269)
    assert (last.id, last.candidate, last.code) == ("CONDE", "BERA", 1092)
    mud = next(c for c in VE2024.cards if c.id == "MUD")
    assert (mud.candidate, mud.code) == ("EG", 1075)
    assert VE2024.cards.index(mud) == 35
    assert next(c for c in VE2024.cards if c.id == "EL_CAMBIO").name == "EL CAMBIO"


def test_ve2024_slices() -> None:
    mapping = VE2024.card_to_candidate
    sizes = [mapping.count(i) for i in range(len(VE2024.candidates))]
    assert sizes == [13, 6, 1, 4, 6, 1, 2, 3, 1, 1]
    assert list(mapping) == sorted(mapping)  # each candidate's cards are contiguous, in candidate order


def test_candidate_index() -> None:
    assert VE2024.candidate_index("EG") == 7
    with pytest.raises(UnknownError) as info:
        VE2024.candidate_index("XX")
    assert info.value.where == "election ve2024"


def test_ve2024_levels() -> None:
    geo = VE2024.geography
    assert geo.levels == ("state", "municipality", "parish", "centre", "table")
    assert geo.table_level == "table"
    assert geo.name("state", "01") == "Distrito Capital"
    assert geo.name("state", "24") == "La Guaira"
    assert geo.name("state", "99") is None


@pytest.mark.parametrize(
    ("level", "key"),
    [
        ("state", "01"),
        ("municipality", "0101"),
        ("parish", "010111"),
        ("centre", "010111043"),
        ("table", "010111043.01"),
    ],
)
def test_unit_keys_of_the_worked_example(level: str, key: str) -> None:
    geo = VE2024.geography
    assert geo.unit_key("010111043.01", level) == key
    keys = geo.unit_keys(["010111043.01", "240111017.03"], level)
    assert keys.tolist() == [key, "240111017.03"[: len(key)]]


@given(table_ids())
def test_unit_keys_are_prefixes(table: str) -> None:
    geo = VE2024.geography
    lengths = {"state": 2, "municipality": 4, "parish": 6, "centre": 9, "table": 12}
    for level, n in lengths.items():
        assert geo.unit_key(table, level) == table[:n]
        assert geo.unit_keys([table], level).tolist() == [table[:n]]
    assert geo.table_id(table) == table


def test_unit_keys_mixed_lengths_and_empty() -> None:
    geo = Election.from_toml(MINIMAL, where="m.toml").geography
    assert geo.unit_keys(["01-001", "02-002"], "region").tolist() == ["01", "02"]
    assert geo.unit_keys([], "region").size == 0
    assert isinstance(geo.unit_keys([], "region"), np.ndarray)


def test_unknown_level() -> None:
    with pytest.raises(UnknownError, match="unknown level 'county'") as info:
        VE2024.geography.unit_key("010111043.01", "county")
    assert info.value.where == "--by"


@pytest.mark.parametrize("bad", ["010111043.1", "10111043.01", "010111043.01.1.0001", "", "x"])
def test_table_id_rejects(bad: str) -> None:
    with pytest.raises(CodecError) as info:
        VE2024.geography.table_id(bad, where="CENTRO,MESA")
    assert info.value.where == "CENTRO,MESA"
    with pytest.raises(CodecError):
        VE2024.geography.unit_key(bad, "state")


def test_load_by_name_and_by_path(tmp_path: Path) -> None:
    assert load_election("ve2024") == VE2024
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    mine = load_election(path)
    assert mine.id == "t1"
    assert load_election(str(path)) == mine
    assert [c.code for c in mine.cards] == [None, 7]
    assert [c.name for c in mine.cards] == ["P1", "P2"]  # name defaults to the id
    assert mine.fields == frozenset({"null", "blank"})
    assert mine.declared is None
    assert mine.source_text == MINIMAL


def test_load_missing_path_lists_builtins(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ElectionDefinitionError) as info:
        load_election(missing)
    err = info.value
    assert err.where == str(missing)
    assert "no such file" in err.message
    assert "not a built-in election" in err.message
    assert "ve2024" in err.message
    assert str(err).startswith(str(missing))


def test_load_unknown_name_lists_builtins() -> None:
    with pytest.raises(ElectionDefinitionError, match=r"built-in: .*ve2024"):
        load_election("ve2099")


def test_load_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ElectionDefinitionError) as info:
        load_election(tmp_path)
    assert info.value.where == str(tmp_path)


def test_load_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace('"Alice"', '"Alicé"').encode("latin-1"))
    with pytest.raises(ElectionDefinitionError) as info:
        load_election(path)
    assert info.value.where == str(path)


def test_errors_name_the_file_when_loaded_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL.replace('candidate = "B"', 'candidate = "C"'), encoding="utf-8")
    with pytest.raises(ElectionDefinitionError) as info:
        load_election(path)
    assert info.value.where == f"{path}: cards[1].candidate"
    assert str(info.value) == f"{path}: cards[1].candidate: unknown candidate 'C'"


def test_builtin_text_round_trips() -> None:
    assert Election.from_toml(VE2024.source_text, where="ve2024.toml") == VE2024


# --- invalid definitions: each error names the key -------------------------------------------------


def test_minimal_is_valid() -> None:
    assert Election.from_toml(MINIMAL).id == "t1"


def test_missing_election_date() -> None:
    _invalid(MINIMAL.replace("date = 2024-01-01\n", ""), "x.toml: election.date", "^missing key$")


def test_missing_date_in_ve2024() -> None:
    text = VE2024.source_text.replace("date = 2024-07-28\n", "")
    with pytest.raises(ElectionDefinitionError) as info:
        Election.from_toml(text, where="ve2024.toml")
    assert info.value.where == "ve2024.toml: election.date"


def test_date_of_the_wrong_type() -> None:
    _invalid(MINIMAL.replace("date = 2024-01-01", 'date = "2024-01-01"'), "x.toml: election.date", "expected date")


def test_datetime_is_accepted_as_a_date() -> None:
    e = Election.from_toml(MINIMAL.replace("date = 2024-01-01", "date = 2024-01-01T08:00:00"))
    assert e.date == dt.date(2024, 1, 1) and type(e.date) is dt.date


def test_missing_election_table() -> None:
    _invalid(MINIMAL.replace("[election]", "[elections]"), "x.toml: elections", "^unknown key 'elections'")


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            lambda t: t.replace("[geography]", "[geography]\nexmple = 'x'"),
            "x.toml: geography.exmple",
            "unknown key 'exmple'",
        ),
        (lambda t: t + "\n[declard]\ntables = 1\n", "x.toml: declard", "unknown key 'declard'"),
        (lambda t: t.replace('id = "P1"', 'id = "P1"\nnmae = "x"'), "x.toml: cards[0].nmae", "unknown key 'nmae'"),
        (
            lambda t: t.replace('levels = ["region", "table"]', 'levels = ["region", "region", "table"]'),
            "x.toml: geography.levels",
            "listed twice",
        ),
        (
            lambda t: t.replace("(?P<region>\\d{2})-(?P<table>\\d{3})", "(?P<table>\\d{3})-(?P<region>\\d{2})"),
            "x.toml: geography.table_id",
            "order of the levels",
        ),
        (
            lambda t: t.replace("[sheet]", '[geography.names.region]\n"01" = 5\n\n[sheet]'),
            "x.toml: geography.names.region.01",
            "expected a name",
        ),
    ],
)
def test_misspelt_keys_are_refused(change: object, where: str, message: str) -> None:
    _invalid(change(MINIMAL), where, message)  # type: ignore[operator]


@pytest.mark.parametrize("key", ["id", "name"])
def test_missing_election_id_or_name(key: str) -> None:
    line = {"id": 'id = "t1"\n', "name": 'name = "Test"\n'}[key]
    _invalid(MINIMAL.replace(line, "", 1), f"x.toml: election.{key}", "^missing key$")


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 41, "t1\n"])
def test_bad_election_id(bad: str) -> None:
    text = MINIMAL.replace('id = "t1"', f"id = {json.dumps(bad)}")
    _invalid(text, "x.toml: election.id", "is not a valid id")


def test_unknown_candidate_in_card() -> None:
    err = _invalid(
        MINIMAL.replace('candidate = "B"', 'candidate = "C"'), "x.toml: cards[1].candidate", "unknown candidate 'C'"
    )
    assert str(err) == "x.toml: cards[1].candidate: unknown candidate 'C'"


def test_duplicate_candidate_id() -> None:
    _invalid(MINIMAL.replace('id = "B"', 'id = "A"'), "x.toml: candidates[1].id", "^duplicate candidate id 'A'$")


def test_duplicate_card_id() -> None:
    _invalid(MINIMAL.replace('id = "P2"', 'id = "P1"'), "x.toml: cards[1].id", "^duplicate card id 'P1'$")


def test_candidate_with_no_card() -> None:
    text = MINIMAL.replace(
        '[[candidates]]\nid = "B"', '[[candidates]]\nid = "C"\nname = "Carol"\n\n[[candidates]]\nid = "B"'
    )
    _invalid(text, "x.toml: cards", "^candidates with no card: C$")


def test_no_candidates() -> None:
    _invalid(
        'candidates = []\n[election]\nid = "t"\nname = "T"\ndate = 2024-01-01\n', "x.toml: candidates", "at least one"
    )


def test_card_without_candidate() -> None:
    _invalid(MINIMAL.replace('candidate = "A"\n', ""), "x.toml: cards[0].candidate", "^missing key$")


def test_card_code_not_an_int() -> None:
    _invalid(MINIMAL.replace("code = 7", 'code = "7"'), "x.toml: cards[1].code", "expected int, got str")


def test_card_code_bool_is_not_an_int() -> None:
    _invalid(MINIMAL.replace("code = 7", "code = true"), "x.toml: cards[1].code", "expected int, got bool")


def test_bad_regex() -> None:
    text = MINIMAL.replace(
        "table_id = '(?P<region>\\d{2})-(?P<table>\\d{3})'", "table_id = '(?P<region>\\d{2}-(?P<table>\\d{3})'"
    )
    _invalid(text, "x.toml: geography.table_id", "not a valid regular expression")


def test_regex_not_a_string() -> None:
    text = MINIMAL.replace("table_id = '(?P<region>\\d{2})-(?P<table>\\d{3})'", "table_id = 5")
    _invalid(text, "x.toml: geography.table_id", "expected a regular expression")


def test_level_with_no_named_group() -> None:
    text = MINIMAL.replace('levels = ["region", "table"]', 'levels = ["region", "district", "table"]')
    _invalid(text, "x.toml: geography.table_id", "^no named group for level\\(s\\) district$")


@pytest.mark.parametrize("levels", ["[]", '"region"', "[1, 2]"])
def test_bad_levels(levels: str) -> None:
    text = MINIMAL.replace('levels = ["region", "table"]', f"levels = {levels}")
    _invalid(text, "x.toml: geography.levels", "non-empty list")


def test_names_for_unknown_level() -> None:
    text = MINIMAL + '\n[geography.names.district]\n"01" = "North"\n'
    _invalid(text, "x.toml: geography.names.district", "unknown level 'district'")


def test_names_not_a_table() -> None:
    text = MINIMAL.replace("table_id = '", "names = 5\ntable_id = '")
    _invalid(text, "x.toml: geography.names", "expected a table of level names")


def test_names_of_a_level_not_a_table() -> None:
    text = MINIMAL.replace("table_id = '", 'names = {region = "x"}\ntable_id = \'')
    _invalid(text, "x.toml: geography.names.region", "expected a table of unit names")


def test_unknown_sheet_field() -> None:
    _invalid(
        MINIMAL.replace('fields = ["null", "blank"]', 'fields = ["null", "spoiled"]'),
        "x.toml: sheet.fields[1]",
        "^unknown field 'spoiled'; known: " + ", ".join(SHEET_FIELDS) + "$",
    )


def test_sheet_fields_not_a_list() -> None:
    _invalid(MINIMAL.replace('fields = ["null", "blank"]', 'fields = "null"'), "x.toml: sheet.fields", "expected list")


def test_sheet_not_a_table() -> None:
    text = MINIMAL.replace('[sheet]\nfields = ["null", "blank"]\n', "")
    text = "sheet = 5\n" + text
    _invalid(text, "x.toml: sheet", "expected dict")


def test_declared_without_source() -> None:
    _invalid(MINIMAL + "\n[declared]\ntables = 3\n", "x.toml: declared.source", "^missing key$")


def test_not_toml_at_all() -> None:
    err = _invalid("this is not = = toml [", "x.toml", "^not valid TOML: ")
    assert str(err).startswith("x.toml: not valid TOML")


def test_not_toml_binary_garbage() -> None:
    _invalid("\x00\x01[[[", "x.toml", "^not valid TOML: ")


def test_empty_file() -> None:
    _invalid("", "x.toml: election", "^missing key$")


def test_json_is_not_toml() -> None:
    _invalid('{"election": {"id": "x"}}', "x.toml", "^not valid TOML: ")


def test_unit_keys_of_variable_width_levels() -> None:
    text = MINIMAL.replace("(?P<region>\\d{2})-(?P<table>\\d{3})", "(?P<region>\\d+)-(?P<table>\\d+)")
    geo = Election.from_toml(text).geography
    tables = ["1-23", "12-3"]
    assert [geo.unit_key(t, "region") for t in tables] == ["1", "12"]
    assert geo.unit_keys(tables, "region").tolist() == ["1", "12"]
