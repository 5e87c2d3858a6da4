"""Official sheets against witness copies: statuses, discrepancies worst first, sums by unit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import generic_header, write_csv
from tallyproof.election import Election
from tallyproof.independent.reconcile import STATUSES, reconcile
from tallyproof.storage.imports import import_file
from tallyproof.storage.store import Store

ROW = "{t},{null},300,{nm},0,0,0,0,0,0,{eg},0,0"


def _row(table: str, nm: int, eg: int, null: int = 1) -> str:
    return ROW.format(t=table, null=null, nm=nm, eg=eg)


def test_each_table_gets_one_status(make_store: Callable[..., Store], ve2024: Election, tmp_path: Path) -> None:
    store, header = make_store(), generic_header(ve2024)
    official = [_row("010111043.01", 100, 50), _row("010111043.02", 80, 90), _row("010111043.03", 10, 10)]
    witness = [
        _row("010111043.01", 100, 50),  # match
        _row("010111043.02", 60, 110),  # 20 votes moved from EG to NM in the official sheet
        _row("010111043.02", 80, 90),  # a second copy that matches: the table is still a mismatch
        _row("010111044.01", 5, 5),  # no official sheet
        _row("010111043.01", 100, 50, null=2),  # null votes differ
    ]
    import_file(store, write_csv(tmp_path / "o.csv", header, official), source="official")
    import_file(store, write_csv(tmp_path / "w.csv", header, witness), source="witness")
    rec = reconcile(store.columns())
    status = dict(zip(rec.tables.tolist(), (STATUSES[s] for s in rec.status), strict=True))
    assert status == {
        "010111043.01": "mismatch",
        "010111043.02": "mismatch",
        "010111043.03": "no-copy",
        "010111044.01": "official-missing",
    }
    worst, second = rec.discrepancies
    assert (worst.table, worst.candidates[0], worst.candidates[7], worst.size) == ("010111043.02", -20, 20, 40)
    assert (second.table, second.size, second.null) == ("010111043.01", 0, 1)
    assert rec.counts() == {"match": 0, "mismatch": 2, "official-missing": 1, "no-copy": 1}
    by_centre = rec.by_unit(ve2024.geography, "centre")
    assert by_centre["010111043"] == {"match": 0, "mismatch": 2, "official-missing": 0, "no-copy": 1}


def test_cards_are_compared_when_both_give_them(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path
) -> None:
    store = make_store()
    header = generic_header(ve2024, cards=True)
    cards = [0] * len(ve2024.cards)
    moved = list(cards)
    cards[0], moved[1] = 7, 7  # same candidate (NM has several cards), votes on another card
    for name, row in (("o", cards), ("w", moved)):
        import_file(
            store,
            write_csv(tmp_path / f"{name}.csv", header, [f"010111043.01,0,300,{','.join(map(str, row))}"]),
            source="official" if name == "o" else "witness",
        )
    (d,) = reconcile(store.columns(cards=True)).discrepancies
    assert d.size == 0 and d.cards is not None and d.cards[:2] == (-7, 7)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=40))
def test_statuses_agree_with_a_table_by_table_count(spec: list[tuple[int, int, int]]) -> None:
    """Arrays built by hand: table t has an official sheet (or not) and k copies, one of them altered."""
    from tallyproof.tabulate import SheetColumns

    rows: list[tuple[str, str, int]] = []
    expected = {}
    for t, (votes, k, kind) in enumerate(spec):
        table = f"{t:04d}"
        if kind != 0:
            rows.append((table, "official", votes))
        for j in range(k):
            rows.append((table, "witness", votes + (1 if kind == 2 and j == 0 else 0)))
        expected[table] = (
            ("official-missing" if kind == 0 else "no-copy" if k == 0 else "mismatch" if kind == 2 else "match")
            if kind or k
            else None
        )
    expected = {t: s for t, s in expected.items() if s}
    n = len(rows)
    cand = np.asarray([[v, 10] for _, _, v in rows], np.int64).reshape(n, 2)
    cols = SheetColumns(
        np.arange(1, n + 1),
        np.asarray([r[0] for r in rows]),
        np.asarray([r[1] for r in rows]),
        cand,
        np.zeros((n, 0), np.int64),
        np.zeros(n, bool),
        np.full(n, -1),
        np.full(n, -1),
        np.full(n, -1),
    )
    rec = reconcile(cols)
    assert dict(zip(rec.tables.tolist(), (STATUSES[s] for s in rec.status), strict=True)) == expected
    assert len(rec.discrepancies) == sum(1 for _, k, kind in spec if kind == 2 and k > 0)
