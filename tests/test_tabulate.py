from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.election import Election
from tallyproof.errors import InputError, UnknownError
from tallyproof.tabulate import Registry, SheetColumns, choose_copies, tabulate

LEVELS = ("state", "municipality", "parish", "centre", "table")


def columns(election: Election, rows: list[tuple[str, str, list[int], int]]) -> SheetColumns:
    """Columns from (table, source, candidate votes, null) rows, ids in order."""
    n, k, m = len(rows), len(election.candidates), len(election.cards)
    return SheetColumns(
        ids=np.arange(1, n + 1, dtype=np.int64),
        tables=np.asarray([r[0] for r in rows], dtype=str),
        sources=np.asarray([r[1] for r in rows], dtype=str),
        candidates=np.asarray([r[2] for r in rows], dtype=np.int64).reshape(n, k),
        cards=np.zeros((n, m), dtype=np.int64),
        has_cards=np.zeros(n, dtype=bool),
        null=np.asarray([r[3] for r in rows], dtype=np.int64),
        blank=np.full(n, -1, dtype=np.int64),
        registered=np.full(n, -1, dtype=np.int64),
    )


table_ids = st.builds(
    lambda s, m, p, c, t: f"{s:02d}{m:02d}{p:02d}{c:03d}.{t:02d}",
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(1, 4),
)
copy_rows = st.lists(
    st.tuples(
        table_ids,
        st.sampled_from(["official", "witness"]),
        st.lists(st.integers(0, 500), min_size=10, max_size=10),
        st.integers(0, 9),
    ),
    min_size=0,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows=copy_rows, registry_tables=st.lists(table_ids, max_size=30, unique=True))
def test_sums_agree_at_every_level(
    ve2024: Election, rows: list[tuple[str, str, list[int], int]], registry_tables: list[str]
) -> None:
    cols = columns(ve2024, rows)
    registry = Registry.from_mapping({t: 400 for t in registry_tables})
    chosen: dict[str, tuple[int, list[int], int]] = {}
    for i, (table, source, votes, null) in enumerate(rows):  # reference: official first, then newest
        rank = (0 if source == "official" else 1, -i)
        if table not in chosen or rank < chosen[table][0]:
            chosen[table] = (rank, votes, null)  # type: ignore[assignment]
    expected_total = np.sum([v for _, v, _ in chosen.values()], axis=0) if chosen else np.zeros(10)
    for level in LEVELS:
        tab = tabulate(ve2024, cols, registry, level=level, preference=["official", "witness"])
        assert tab.total.candidates == tuple(int(x) for x in expected_total)
        assert (
            tuple(np.sum([u.candidates for u in tab.units], axis=0).tolist() if tab.units else [0] * 10)
            == tab.total.candidates
        )
        assert sum(u.tables_counted for u in tab.units) == len(chosen) == tab.total.tables_counted
        assert sum(u.null for u in tab.units) == sum(n for _, _, n in chosen.values())
        by_unit: dict[str, int] = defaultdict(int)
        for table, (_, votes, _) in chosen.items():
            by_unit[ve2024.geography.unit_key(table, level)] += sum(votes)
        assert {u.key: u.valid for u in tab.units if u.tables_counted} == dict(by_unit)
        if registry_tables:
            assert sum(u.tables_known or 0 for u in tab.units) == len(registry_tables)


def test_preference_order_and_conflicts(ve2024: Election) -> None:
    a, b = [10] + [0] * 9, [20] + [0] * 9
    rows = [
        ("010101001.01", "witness", a, 0),
        ("010101001.01", "official", b, 0),
        ("010101001.02", "witness", a, 0),
        ("010101001.02", "witness", b, 0),  # two witness copies that disagree: newest counted, conflict
        ("010101001.03", "witness", a, 0),
        ("010101001.03", "witness", a, 0),  # agreeing copies: no conflict
    ]
    cols = columns(ve2024, rows)
    index, conflict = choose_copies(cols, ["official", "witness"])
    assert cols.tables[index].tolist() == ["010101001.01", "010101001.02", "010101001.03"]
    assert index.tolist() == [1, 3, 5]
    assert conflict.tolist() == [False, True, False]
    tab = tabulate(ve2024, cols, Registry.from_mapping({}), level="state", preference=["witness"])
    assert tab.total.candidates[0] == 10 + 20 + 10
    assert tab.total.conflicts == 1


def test_unknown_registry_is_reported_not_guessed(ve2024: Election) -> None:
    cols = columns(ve2024, [("010101001.01", "witness", [1] * 10, 0)])
    tab = tabulate(ve2024, cols, Registry.from_mapping({}), level="state", preference=["witness"])
    assert tab.total.tables_known is None and tab.total.coverage is None and tab.total.turnout is None
    assert tab.to_json()["total"]["tables_known"] is None


def test_coverage_and_turnout(ve2024: Election) -> None:
    cols = columns(ve2024, [("010101001.01", "witness", [10] * 10, 20), ("020101001.01", "witness", [5] * 10, 0)])
    registry = Registry.from_mapping(
        {"010101001.01": 200, "010101001.02": 300, "020101001.01": None, "020101001.02": 100}
    )
    tab = tabulate(ve2024, cols, registry, level="state", preference=["witness"])
    one, two = tab.units
    assert (one.tables_counted, one.tables_known, one.coverage) == (1, 2, 0.5)
    assert one.registered_known == 500 and one.registered_counted == 200
    assert one.turnout == pytest.approx(120 / 200)
    assert two.turnout is None  # the counted table's registered voters are unknown
    assert tab.total.coverage == 0.5


def test_where_accepts_keys_and_names(ve2024: Election) -> None:
    cols = columns(ve2024, [("010101001.01", "witness", [1] * 10, 0), ("020101001.01", "witness", [2] * 10, 0)])
    empty = Registry.from_mapping({})
    by_key = tabulate(ve2024, cols, empty, level="state", preference=["witness"], where=[("state", "02")])
    by_name = tabulate(ve2024, cols, empty, level="state", preference=["witness"], where=[("state", "anzoátegui")])
    assert by_key.total.candidates == by_name.total.candidates == (2,) * 10
    with pytest.raises(UnknownError, match="no table matches state=Narnia"):
        tabulate(ve2024, cols, empty, level="state", preference=["witness"], where=[("state", "Narnia")])
    with pytest.raises(InputError, match="unknown level 'country'"):
        tabulate(ve2024, cols, empty, level="state", preference=["witness"], where=[("country", "VE")])


def test_cards_are_summed_over_copies_that_have_them(ve2024: Election) -> None:
    cols = columns(ve2024, [("010101001.01", "witness", [1] * 10, 0), ("010101001.02", "witness", [1] * 10, 0)])
    cards = cols.cards.copy()
    cards[0, 0] = 7
    has = np.array([True, False])
    cols = SheetColumns(
        cols.ids, cols.tables, cols.sources, cols.candidates, cards, has, cols.null, cols.blank, cols.registered
    )
    tab = tabulate(ve2024, cols, Registry.from_mapping({}), level="table", preference=["witness"])
    assert tab.total.cards[0] == 7 and tab.total.card_tables == 1


def test_a_name_shared_by_two_units_is_refused_with_their_keys(ve2024: Election) -> None:
    cols = columns(ve2024, [("010101001.01", "witness", [1] * 10, 0), ("020101001.01", "witness", [2] * 10, 0)])
    names = {"municipality": {"0101": "MP. LIBERTADOR", "0201": "Mp.  Libertador"}}
    with pytest.raises(InputError, match=r"municipality 'mp. libertador' names 2 units \(0101, 0201\); give its key"):
        tabulate(
            ve2024,
            cols,
            Registry.from_mapping({}),
            level="state",
            preference=["witness"],
            where=[("municipality", "mp. libertador")],
            names=names,
        )
    by_key = tabulate(
        ve2024,
        cols,
        Registry.from_mapping({}),
        level="state",
        preference=["witness"],
        where=[("municipality", "0201")],
        names=names,
    )
    assert by_key.total.candidates == (2,) * 10
