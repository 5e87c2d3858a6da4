"""The store: one SQLite file per election, opened with :meth:`Store.sqlite`.

Every write is one function running in one ``BEGIN IMMEDIATE`` transaction: either
all of an import lands or none of it does. The schema carries its version in
``meta``; :meth:`Store.migrate` applies the ordered migrations of
:mod:`tallyproof.storage.schema`.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from tallyproof.election import Election
from tallyproof.errors import StorageError
from tallyproof.sheets.files import decode_span
from tallyproof.sheets.sheet import TallySheet
from tallyproof.storage import schema as s
from tallyproof.tabulate import Registry, SheetColumns

__all__ = ["Store", "StoredCopy", "pack", "unpack"]


def pack(values: Sequence[int]) -> bytes:
    """A vote vector as little-endian int32 bytes."""
    return array("i", values).tobytes()


def unpack(blob: bytes) -> tuple[int, ...]:
    return tuple(array("i", blob))


@dataclass(frozen=True, slots=True)
class StoredCopy:
    """A copy as stored, with where it came from."""

    id: int
    sheet: TallySheet
    source: str
    submitter: str | None
    received_at: str
    batch_id: int
    filename: str
    line: int
    digest: str
    raw: str
    findings: tuple[str, ...]


class Store:
    def __init__(self, engine: Engine, *, where: str) -> None:
        self.engine = engine
        self.where = where
        self._election: Election | None = None

    @classmethod
    def sqlite(cls, path: str | Path, *, create: bool = False, server: bool = False) -> Store:
        """Open the SQLite store at ``path``; ``create`` makes a new file if there is none.

        ``server`` switches the file to write-ahead logging, for a long-running server: readers never
        wait for the writer, and each commit costs one ``fsync`` of the log (synchronous=FULL keeps
        every acknowledged transaction on disk) instead of the rollback journal's several."""
        path = Path(path)
        if not create and not path.exists():
            raise StorageError("no store here; create one with `tallyproof init`", where=str(path))
        engine = create_engine(f"sqlite:///{path}")
        _sqlite_transactions(engine, wal=server)
        store = cls(engine, where=str(path))
        if not create:
            store._check_version()
            store.migrate()  # a store made by an older tallyproof gains the newer tables
        return store

    # -- schema -------------------------------------------------------------
    def _check_version(self) -> None:
        with self._read() as conn:
            version = s.current_version(conn)
        if version == 0:
            raise StorageError("not a tallyproof store (no schema); run `tallyproof init`", where=self.where)
        if version > s.SCHEMA_VERSION:
            raise StorageError(
                f"store schema {version} is newer than this tallyproof ({s.SCHEMA_VERSION})", where=self.where
            )

    def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction; returns the schema version."""
        with self._read() as conn:
            version = s.current_version(conn)
        for step in s.MIGRATIONS[version:]:
            with self.write() as conn:
                step(conn)
                version += 1
                self._set_meta(conn, "schema_version", str(version))
        return version

    def init(self, election: Election) -> bool:
        """Bind this store to ``election``; False if it already was. A different election is an error."""
        self.migrate()
        with self.write() as conn:
            current = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "election_id")).scalar()
            if current is not None and current != election.id:
                raise StorageError(f"this store holds election {current!r}, not {election.id!r}", where=self.where)
            if current is not None:
                return False
            self._set_meta(conn, "election_id", election.id)
            self._set_meta(conn, "election_toml", election.source_text)
        return True

    def election(self) -> Election:
        if self._election is None:
            with self._read() as conn:
                toml = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "election_toml")).scalar()
            if toml is None:
                raise StorageError("no election defined; run `tallyproof init --election …`", where=self.where)
            self._election = Election.from_toml(toml, where=f"{self.where} (stored definition)")
        return self._election

    @staticmethod
    def _set_meta(conn: Connection, key: str, value: str) -> None:
        conn.execute(s.meta.delete().where(s.meta.c.key == key))
        conn.execute(insert(s.meta).values(key=key, value=value))

    # -- transactions -------------------------------------------------------
    def write(self) -> Any:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return _Guard(lambda: self.engine.execution_options(tallyproof_write=True).begin(), self.where)

    def _read(self) -> Any:
        return _Guard(self.engine.connect, self.where)

    # -- reads --------------------------------------------------------------
    def find_batch(self, *, kind: str, sha256: str, source: str, fmt: str) -> dict[str, Any] | None:
        """The batch that already holds this file, read in this format for this source, if any."""
        b = s.batches.c
        q = select(b.id, b.format, b.encoding, b.n_accepted, b.n_rejected).where(
            b.kind == kind, b.sha256 == sha256, b.source == source, b.format == fmt
        )
        with self._read() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row is not None else None

    def next_ids(self, conn: Connection) -> tuple[int, int]:
        """Next free sheet id and batch id, inside a write transaction."""
        sheet = conn.execute(select(func.max(s.sheets.c.id))).scalar() or 0
        batch = conn.execute(select(func.max(s.batches.c.id))).scalar() or 0
        return sheet + 1, batch + 1

    def registry(self) -> dict[str, int | None]:
        with self._read() as conn:
            return {t: r for t, r in conn.execute(select(s.registry.c.table_id, s.registry.c.registered))}

    def unit_names(self) -> dict[str, dict[str, str]]:
        """The name shown for each unit: the definition's, else the one the latest import gave."""
        names: dict[str, dict[str, str]] = {lv: dict(d) for lv, d in self.election().geography.names.items()}
        with self._read() as conn:
            for level, key, name in conn.execute(select(s.units.c.level, s.units.c.key, s.units.c.name)):
                names.setdefault(level, {}).setdefault(key, name)
        return names

    def unit_aliases(self) -> dict[str, dict[str, list[str]]]:
        """Every name a unit is known by (the definition's and the files'), for ``--where``."""
        out: dict[str, dict[str, list[str]]] = {
            lv: {k: [n] for k, n in d.items()} for lv, d in self.election().geography.names.items()
        }
        with self._read() as conn:
            for level, key, name in conn.execute(select(s.units.c.level, s.units.c.key, s.units.c.name)):
                out.setdefault(level, {}).setdefault(key, []).append(name)
        return out

    def columns(self, sources: Sequence[str] | None = None, *, cards: bool = False) -> SheetColumns:
        """All accepted copies (of ``sources`` if given) as NumPy columns, in id order.

        Each column is read as one aggregate string (``group_concat``), which spares a
        Python object per row and value; per-card counts are read only when asked for.
        """
        election = self.election()
        where, params = "", tuple[str, ...]()
        if sources:
            where, params = f" WHERE source IN ({', '.join('?' * len(sources))})", tuple(sources)
        sql = (
            "SELECT count(*), group_concat(id), group_concat(table_id, char(10)), group_concat(batch_id), "
            "group_concat(hex(candidates), ''), group_concat(cards IS NOT NULL, ''), group_concat(coalesce(null_votes, -1)), "
            f"group_concat(coalesce(blank_votes, -1)), group_concat(coalesce(registered, -1)) FROM sheets{where}"
        )
        with self._read() as conn:
            row = conn.exec_driver_sql(sql, params).one()
            batch_source = dict(conn.exec_driver_sql("SELECT id, source FROM batches").fetchall())
            cols = _from_aggregates(row, len(election.candidates), batch_source)
            if cards and len(cols.ids):
                cols = _with_cards(cols, _card_blobs(conn, where, params, len(election.cards)), len(election.cards))
        return cols

    def registry_columns(self) -> Registry:
        """The registry as sorted NumPy columns (-1 where registered voters are unknown)."""
        sql = "SELECT count(*), group_concat(table_id, char(10)), group_concat(coalesce(registered, -1)) FROM registry"
        with self._read() as conn:
            n, tables, registered = conn.exec_driver_sql(sql).one()
        return Registry(np.asarray(tables.split("\n") if n else [], dtype=str), _ints(registered, n)).sorted()

    def _copy_query(self, *, with_raw: bool) -> Any:
        j = s.sheets.join(s.batches, s.sheets.c.batch_id == s.batches.c.id)
        cols: list[Any] = [
            s.sheets,
            s.batches.c.filename,
            s.batches.c.submitter,
            s.batches.c.received_at,
            s.batches.c.encoding,
        ]
        if with_raw:
            length = s.sheets.c.raw_end - s.sheets.c.raw_start
            cols.append(func.substr(s.batches.c.raw, s.sheets.c.raw_start + 1, length).label("raw"))
        return select(*cols).select_from(j)

    def copies(self, table: str) -> list[StoredCopy]:
        """Every accepted copy of one table, oldest first, with its text as received and its findings."""
        election = self.election()
        q = self._copy_query(with_raw=True).where(s.sheets.c.table_id == table).order_by(s.sheets.c.id)
        with self._read() as conn:
            rows = conn.execute(q).mappings().all()
            found: dict[int, list[str]] = {}
            f = s.findings.c
            for sid, sev, field, msg in conn.execute(
                select(f.sheet_id, f.severity, f.field, f.message).where(f.sheet_id.in_([r["id"] for r in rows]))
            ):
                found.setdefault(sid, []).append(f"{sev}: {field}: {msg}")
        return [_copy(r, election, tuple(found.get(r["id"], []))) for r in rows]

    def iter_copies(self, sources: Sequence[str] | None = None, *, chunk: int = 20_000) -> Iterator[StoredCopy]:
        """Every accepted copy, in id order, read in chunks (without the text as received)."""
        election = self.election()
        last = 0
        while True:
            q = self._copy_query(with_raw=False).where(s.sheets.c.id > last)
            if sources:
                q = q.where(s.sheets.c.source.in_(list(sources)))
            with self._read() as conn:
                rows = conn.execute(q.order_by(s.sheets.c.id).limit(chunk)).mappings().all()
            if not rows:
                return
            yield from (_copy(r, election, ()) for r in rows)
            last = rows[-1]["id"]

    def rejects(self) -> list[dict[str, Any]]:
        j = s.rejects.join(s.batches, s.rejects.c.batch_id == s.batches.c.id)
        q = select(
            s.rejects.c.batch_id,
            s.batches.c.filename,
            s.rejects.c.line,
            s.rejects.c.table_id,
            s.rejects.c.reason,
            s.rejects.c.raw,
        )
        with self._read() as conn:
            return [dict(r) for r in conn.execute(q.select_from(j).order_by(s.rejects.c.id)).mappings()]

    def findings(self, code: str | None = None) -> list[dict[str, Any]]:
        """Warnings recorded when copies were imported (with the registry known then), in import order."""
        f, sh, b = s.findings.c, s.sheets.c, s.batches.c
        j = s.findings.join(s.sheets, f.sheet_id == sh.id).join(s.batches, sh.batch_id == b.id)
        q = select(b.filename, sh.line, sh.table_id, f.code, f.field, f.message).select_from(j)
        if code:
            q = q.where(f.code == code)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(q.order_by(sh.id)).mappings()]

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            return {
                name: conn.execute(select(func.count()).select_from(table)).scalar() or 0
                for name, table in (
                    ("sheets", s.sheets),
                    ("rejects", s.rejects),
                    ("registry", s.registry),
                    ("batches", s.batches),
                )
            }


def _copy(r: Any, election: Election, findings: tuple[str, ...]) -> StoredCopy:
    cards = unpack(r["cards"]) if r["cards"] is not None else None
    sheet = TallySheet(
        table=r["table_id"],
        candidates=unpack(r["candidates"]),
        cards=cards,
        null=r["null_votes"],
        blank=r["blank_votes"],
        registered=r["registered"],
        valid=r["valid_stated"],
        voters=r["voters"],
        acta_id=r["acta_id"],
    )
    return StoredCopy(
        r["id"],
        sheet,
        r["source"],
        r["submitter"],
        r["received_at"],
        r["batch_id"],
        r["filename"],
        r["line"],
        r["digest"],
        _decode_raw(r),
        findings,
    )


def _decode_raw(r: Any) -> str:
    raw = r.get("raw")
    if raw is None:
        return ""
    return decode_span(bytes(raw), 0, len(raw), r["encoding"])


def _ints(text: str | None, n: int) -> np.ndarray:
    """Integers from a comma-separated aggregate (``group_concat``)."""
    return np.fromstring(text, sep=",", dtype=np.int64) if n and text else np.zeros(0, np.int64)


def _strings(text: str | None, n: int) -> np.ndarray:
    """Strings joined by line breaks; all at once when they share one length and are ASCII."""
    if not n or text is None:
        return np.zeros(0, dtype=str)
    width = text.find("\n") if n > 1 else len(text)
    if len(text) + 1 == n * (width + 1) and text.isascii():
        cells = np.frombuffer((text + "\n").encode("ascii"), dtype=f"S{width + 1}")
        if bool(np.all(cells.view(np.uint8).reshape(n, width + 1)[:, -1] == 10)):
            return cells.astype(f"S{max(width, 1)}").astype(f"U{max(width, 1)}")
    out = np.asarray(text.split("\n"), dtype=str)
    if out.size != n:
        raise StorageError("a table id contains a line break", where="sheets.table_id")
    return out


def _from_aggregates(row: Any, n_cand: int, batch_source: dict[int, str]) -> SheetColumns:
    n, ids, tables, batch_ids, cand, has, nulls, blanks, regs = row
    ids_a = _ints(ids, n)
    order = np.argsort(ids_a, kind="stable")
    batches = _ints(batch_ids, n)
    known = np.asarray(sorted(batch_source), dtype=np.int64)
    names = np.asarray([batch_source[b].encode() for b in known.tolist()], dtype=bytes)  # 1 byte a character
    cols = SheetColumns(
        ids=ids_a,
        tables=_strings(tables, n),
        sources=names[np.searchsorted(known, batches)] if n else np.zeros(0, dtype=str),
        candidates=np.frombuffer(bytes.fromhex(cand or ""), dtype="<i4").reshape(n, n_cand),
        cards=np.zeros((n, 0), np.int32),
        has_cards=np.frombuffer((has or "").encode(), dtype=np.uint8) == ord("1"),
        null=_ints(nulls, n),
        blank=_ints(blanks, n),
        registered=_ints(regs, n),
    )
    return cols if np.array_equal(order, np.arange(n)) else cols.take(order)


def _card_blobs(conn: Connection, where: str, params: tuple[str, ...], n_cards: int) -> tuple[str | None, bytes]:
    """The ids (one aggregate) and the per-card blobs of the copies, in id order, the blobs fetched in
    chunks straight from the driver (no hex text of hundreds of megabytes, no Python object per copy kept)."""
    ids = conn.exec_driver_sql(
        f"SELECT group_concat(id) FROM (SELECT id FROM sheets{where} ORDER BY id)", params
    ).scalar()
    cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
        f"SELECT coalesce(cards, zeroblob(?)) FROM sheets{where} ORDER BY id", (4 * n_cards, *params)
    )
    out = bytearray()
    while part := cursor.fetchmany(65_536):
        out += b"".join(row[0] for row in part)
    return ids, bytes(out)


def _with_cards(cols: SheetColumns, read: tuple[str | None, bytes], n_cards: int) -> SheetColumns:
    """``cols`` with the per-card counts, read in the same order as the columns."""
    ids, blobs = read
    if not np.array_equal(_ints(ids, len(cols.ids)), cols.ids) or len(blobs) != 4 * n_cards * len(cols.ids):
        raise StorageError("the store changed while it was being read; try again", where="sheets")
    cards = np.frombuffer(blobs, dtype="<i4").reshape(len(cols.ids), n_cards)
    return SheetColumns(
        cols.ids,
        cols.tables,
        cols.sources,
        cols.candidates,
        cards,
        cols.has_cards,
        cols.null,
        cols.blank,
        cols.registered,
    )


class _Guard:
    """Turns driver errors into :class:`StorageError` naming the store."""

    def __init__(self, open_: Callable[[], Any], where: str) -> None:
        self.open, self.where = open_, where

    def __enter__(self) -> Connection:
        try:
            self.ctx = self.open()
            conn: Connection = self.ctx.__enter__()
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot open the store: {exc.__class__.__name__}: {exc.orig if hasattr(exc, 'orig') else exc}",
                where=self.where,
            ) from exc
        return conn

    def __exit__(self, *exc: Any) -> Literal[False]:
        try:
            self.ctx.__exit__(*exc)
        except OperationalError as err:
            raise StorageError(f"write failed: {err.orig}", where=self.where) from err
        if exc[0] is not None and issubclass(exc[0], SQLAlchemyError):
            reason = getattr(exc[1], "orig", None) or exc[1]
            raise StorageError(f"database error: {str(reason)[:300]}", where=self.where) from exc[1]
        return False


def _sqlite_transactions(engine: Engine, *, wal: bool = False) -> None:
    """Let SQLAlchemy, not the driver, issue BEGIN, and make it BEGIN IMMEDIATE (one writer at a time)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA page_size=16384")  # takes effect only when the file is created
        cur.execute("PRAGMA cache_size=-131072")  # 128 MiB: a bulk load neither spills nor re-reads pages
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("tallyproof_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
