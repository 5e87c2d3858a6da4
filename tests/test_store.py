from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import generic_header, write_csv
from tallyproof.election import Election, load_election
from tallyproof.errors import StorageError
from tallyproof.storage import imports, schema
from tallyproof.storage.imports import import_file
from tallyproof.storage.store import Store


def test_new_store_has_the_schema_version_and_the_election(make_store: Callable[..., Store], ve2024: Election) -> None:
    store = make_store()
    with store.engine.connect() as conn:
        assert schema.current_version(conn) == schema.SCHEMA_VERSION
    assert store.election().id == "ve2024"
    assert store.election().cards == ve2024.cards


def test_init_is_idempotent_and_refuses_another_election(make_store: Callable[..., Store], tmp_path: Path) -> None:
    store = make_store()
    assert store.init(load_election("ve2024")) is False
    other = tmp_path / "other.toml"
    other.write_text(load_election("ve2024").source_text.replace('id = "ve2024"', 'id = "other"', 1), encoding="utf-8")
    with pytest.raises(StorageError, match="holds election 've2024', not 'other'"):
        store.init(load_election(other))


def test_opening_a_missing_or_foreign_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        Store.sqlite(tmp_path / "nope.db")
    assert info.value.where == str(tmp_path / "nope.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StorageError, match=r"junk\.db"):
        Store.sqlite(junk)


def test_a_failed_import_leaves_the_store_unchanged(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    zeros = ",".join(["0"] * 10)
    first = write_csv(tmp_path / "a.csv", generic_header(ve2024), [f"010101001.01,0,300,{zeros}"])
    import_file(store, first)
    before = store.counts()
    second = write_csv(tmp_path / "b.csv", generic_header(ve2024), [f"010101001.02,0,300,{zeros}", "bad,row"])

    def boom(conn: object, batch_id: int, rejects: list[object]) -> None:
        original(conn, batch_id, rejects)  # the sheets and the rejects are written, then the disk fails
        raise RuntimeError("disk on fire")

    original = imports._insert_rejects
    monkeypatch.setattr(imports, "_insert_rejects", boom)
    with pytest.raises(RuntimeError):
        import_file(store, second)
    assert store.counts() == before
    monkeypatch.undo()
    summary = import_file(store, second)
    assert (summary.accepted, summary.rejected) == (1, 1)


def test_the_file_is_kept_byte_for_byte(make_store: Callable[..., Store], ve2024: Election, tmp_path: Path) -> None:
    store = make_store()
    path = tmp_path / "a.csv"
    data = (generic_header(ve2024) + "\r\n010101001.01,0,300," + ",".join(["1"] * 10) + "\r\n").encode()
    path.write_bytes(data)
    summary = import_file(store, path)
    with store.engine.connect() as conn:
        raw = conn.execute(select(schema.batches.c.raw).where(schema.batches.c.id == summary.batch_id)).scalar()
    assert raw == data
    (copy,) = store.copies("010101001.01")
    assert copy.raw == "010101001.01,0,300," + ",".join(["1"] * 10) + "\r\n"
