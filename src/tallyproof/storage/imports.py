"""Importing files of copies and of the table registry into a store.

An import is atomic and idempotent: the whole file is decoded, checked and then
written in one transaction, together with the file's bytes; importing the same
file (same SHA-256) for the same source again writes nothing and says so. Rows
that cannot be decoded, and copies with ``error`` findings, are stored as rejects
with their reason and line; nothing is silently dropped.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select

from tallyproof.election import Election
from tallyproof.errors import CodecError, InputError
from tallyproof.sheets.batch import MISSING, OPTIONAL, BatchFinding, RegistryArrays, SheetBatch, check_batch
from tallyproof.sheets.columnar import Decoded, Reject, decode_file, registry_fast
from tallyproof.sheets.files import decode_text, detect_format
from tallyproof.sheets.sheet import Source, parse_count
from tallyproof.storage import schema as s
from tallyproof.storage.store import Store, now
from tallyproof.tabulate import Registry

__all__ = ["Derived", "ImportSummary", "derive_registry", "import_file", "import_registry"]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a long import runs."""


@dataclass(slots=True)
class ImportSummary:
    filename: str
    format: str
    encoding: str
    batch_id: int
    already: bool = False
    accepted: int = 0
    rejected: int = 0
    warnings: int = 0
    overlapping: int = 0
    """Tables of this file that already had a copy in the store."""
    differing: list[str] = field(default_factory=list)
    """Tables whose new copy gives different votes from an earlier copy."""
    problems: list[tuple[int, str]] = field(default_factory=list)
    """(line, reason) of every rejected row, in file order."""
    repeated: int = 0
    """Tables that appear more than once in this file."""
    repeated_differing: list[str] = field(default_factory=list)
    """Of those, the tables whose copies in this file give different votes."""


def import_file(
    store: Store,
    path: Path,
    *,
    fmt: str = "auto",
    source: Source = Source.IMPORT,
    submitter: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import one file of copies (any format of :mod:`tallyproof.sheets.files`) in one transaction."""
    return import_data(
        store, _read_bytes(path), name=str(path), fmt=fmt, source=source, submitter=submitter, progress=progress
    )


def import_data(
    store: Store,
    data: bytes,
    *,
    name: str,
    fmt: str = "auto",
    source: Source = Source.IMPORT,
    submitter: str | None = None,
    kind: str = "sheets",
    progress: Progress | None = None,
) -> ImportSummary:
    """Import copies received as ``data`` (``name`` says where from: a path, or a submission's file name).

    ``kind="sheets"`` is a file imported once per source and format (importing it again changes nothing);
    ``kind="submission"`` is one person's submission, kept every time it is received."""
    digest = hashlib.sha256(data).hexdigest()
    if fmt == "auto":
        fmt = detect_format(data[:65536].decode("utf-8", "replace").lstrip("\ufeff"), where=name)
    existing = store.find_batch(kind=kind, sha256=digest, source=source, fmt=fmt) if kind == "sheets" else None
    if existing is not None:
        summary = ImportSummary(name, fmt, existing["encoding"], batch_id=existing["id"], already=True)
        summary.accepted, summary.rejected = existing["n_accepted"], existing["n_rejected"]
        return summary
    election = store.election()
    with _gc_paused():
        decoded = decode_file(data, election, fmt, where=name)
        _step(progress, 1)
        keep, rejects, warnings = _judge(decoded, data, election, store.registry_columns())
        summary = ImportSummary(name, decoded.format, decoded.encoding, batch_id=0)
        _step(progress, 2)
        with store.write() as conn:
            first_sheet, summary.batch_id = store.next_ids(conn)
            batch_row = {
                "kind": kind,
                "source": source,
                "submitter": submitter,
                "format": decoded.format,
                "encoding": decoded.encoding,
            }
            _insert_batch(
                conn, summary.batch_id, name, data, digest, batch_row, accepted=int(keep.size), rejected=len(rejects)
            )
            _overlap(conn, summary, decoded.batch, keep)
            _repeats(summary, decoded.batch, keep)
            ids = _insert_sheets(conn, decoded.batch, keep, first_sheet, summary.batch_id, source, progress)
            _insert_findings(conn, warnings, ids)
            _insert_rejects(conn, summary.batch_id, rejects)
            _insert_units(conn, decoded.names)
    summary.accepted, summary.rejected, summary.warnings = int(keep.size), len(rejects), len(warnings)
    summary.problems = [(r.line, r.reason) for r in rejects]
    return summary


def _judge(
    decoded: Decoded, data: bytes, election: Election, reg: Registry
) -> tuple[np.ndarray, list[Reject], list[BatchFinding]]:
    """Check every copy: the rows to keep, every reject (in file order) and the warnings."""
    batch = decoded.batch
    known = RegistryArrays(reg.tables, np.where(reg.registered < 0, MISSING, reg.registered))
    found = check_batch(batch, election, registry=known if reg.tables.size else None)
    reasons: dict[int, list[str]] = {}
    for f in found:
        if f.severity == "error":
            reasons.setdefault(f.row, []).append(str(f))
    rejects = decoded.rejects + [
        decoded.reject_row(data, i, "; ".join(r), table=batch.tables[i]) for i, r in reasons.items()
    ]
    good = np.ones(len(batch), dtype=bool)
    good[list(reasons)] = False
    warnings = [f for f in found if f.severity == "warning"]
    return np.flatnonzero(good), sorted(rejects, key=lambda r: r.line), warnings


def _insert_batch(
    conn: Connection,
    batch_id: int,
    name: str,
    data: bytes,
    digest: str,
    row: dict[str, Any],
    *,
    accepted: int,
    rejected: int,
) -> None:
    """The file as received, byte for byte, with its SHA-256."""
    conn.execute(
        insert(s.batches).values(
            id=batch_id,
            received_at=now(),
            filename=Path(name).name,
            sha256=digest,
            size=len(data),
            raw=data,
            n_accepted=accepted,
            n_rejected=rejected,
            **row,
        )
    )


def _step(progress: Progress | None, done: int) -> None:
    if progress is not None:
        progress(done, 4)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of short-lived objects make the cyclic GC run often for nothing: pause it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc


def _blobs(matrix: np.ndarray) -> list[bytes]:
    width = matrix.shape[1] * 4
    buf = np.ascontiguousarray(matrix, dtype="<i4").tobytes()
    return [buf[i : i + width] for i in range(0, len(buf), width)]


_CHUNK = 50_000


def _insert_sheets(
    conn: Connection,
    batch: SheetBatch,
    keep: np.ndarray,
    first: int,
    batch_id: int,
    source: str,
    progress: Progress | None,
) -> dict[int, int]:
    """Insert the kept rows of ``batch``; returns row → sheet id.

    Rows are prepared (digests, blobs) a chunk ahead in a second thread: SQLite runs
    each insert with the GIL released, so the two overlap on two cores.
    """
    kept = batch if keep.size == len(batch) else batch.take(keep)
    n = len(kept)
    if n == 0:
        return {}
    _step(progress, 3)
    chunks = [np.arange(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]
    with _bulk(conn, n), ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_rows, kept, chunks[0], first, batch_id, source)
        for nxt in [*chunks[1:], None]:
            rows = pending.result()
            if nxt is not None:
                pending = pool.submit(_rows, kept, nxt, first, batch_id, source)
            conn.exec_driver_sql(_INSERT_SHEET, rows)
    return dict(zip(keep.tolist(), range(first, first + n), strict=True))


def _rows(batch: SheetBatch, part: np.ndarray, first: int, batch_id: int, source: str) -> list[tuple[Any, ...]]:
    """Insert parameters for rows ``part`` of ``batch``; ids follow ``first``."""
    chunk = batch.take(part)
    n = len(chunk)
    cards = [c if has else None for c, has in zip(_blobs(chunk.cards), chunk.has_cards.tolist(), strict=True)]
    return list(
        zip(
            range(first + int(part[0]), first + int(part[0]) + n),
            repeat(batch_id, n),
            chunk.lines.tolist(),
            chunk.tables,
            repeat(str(source), n),
            chunk.digests(),
            chunk.acta_ids,
            _blobs(chunk.candidates),
            cards,
            *(chunk.optional[f].tolist() for f in OPTIONAL),
            chunk.spans[:, 0].tolist(),
            chunk.spans[:, 1].tolist(),
            strict=True,
        )
    )


@contextmanager
def _bulk(conn: Connection, n: int) -> Iterator[None]:
    """For a load larger than what is stored, drop the sheet indexes and rebuild them after:
    one sorted build instead of a million random inserts (same transaction, so all or nothing)."""
    stored = conn.exec_driver_sql("SELECT max(id) FROM sheets").scalar() or 0
    if n < 50_000 or n < stored:
        yield
        return
    indexes = [ix for ix in s.sheets.indexes]
    for ix in indexes:
        ix.drop(conn)
    yield
    for ix in indexes:
        ix.create(conn)


_INSERT_SHEET = (
    "INSERT INTO sheets (id, batch_id, line, table_id, source, digest, acta_id, candidates, cards, null_votes, "
    "blank_votes, registered, valid_stated, voters, raw_start, raw_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
    + ", ".join([f"NULLIF(?, {MISSING})"] * len(OPTIONAL))  # a field the copy does not give is NULL
    + ", ?, ?)"
)


def _insert_findings(conn: Connection, found: list[BatchFinding], ids: dict[int, int]) -> None:
    if found:
        conn.execute(
            insert(s.findings),
            [
                {"sheet_id": ids[f.row], "code": f.code, "severity": f.severity, "field": f.field, "message": f.message}
                for f in found
            ],
        )


def _insert_rejects(conn: Connection, batch_id: int, rejects: list[Reject]) -> None:
    if rejects:
        conn.execute(
            insert(s.rejects),
            [
                {"batch_id": batch_id, "line": r.line, "table_id": r.table, "raw": r.raw, "reason": r.reason}
                for r in rejects
            ],
        )


def _insert_units(conn: Connection, names: dict[tuple[str, str], str]) -> None:
    if not names:
        return
    """The latest import's name for a unit replaces an earlier one (files get corrected; V1 spells
    names right where V2 has a broken byte)."""
    have = {(lv, k) for lv, k in conn.execute(select(s.units.c.level, s.units.c.key))}
    again = [(lv, k) for (lv, k) in names if (lv, k) in have]
    for lv, k in again:
        conn.execute(s.units.delete().where(s.units.c.level == lv, s.units.c.key == k))
    conn.execute(insert(s.units), [{"level": lv, "key": k, "name": n} for (lv, k), n in names.items()])


def _overlap(conn: Connection, summary: ImportSummary, batch: SheetBatch, keep: np.ndarray) -> None:
    """Compare each new copy with the copies the store already has of the same table."""
    new_tables = {batch.tables[i]: i for i in keep.tolist()}
    stored = conn.exec_driver_sql(
        "SELECT group_concat(table_id, char(10)) FROM (SELECT DISTINCT table_id FROM sheets)"
    ).scalar()
    both = sorted(set(stored.split("\n")) & new_tables.keys()) if stored else []
    summary.overlapping = len(both)
    differing: set[str] = set()
    for start in range(0, len(both), 500):
        part = both[start : start + 500]
        q = select(s.sheets.c.table_id, s.sheets.c.candidates, s.sheets.c.null_votes).where(
            s.sheets.c.table_id.in_(part)
        )
        for table, cands, null in conn.execute(q):
            i = new_tables[table]
            mine = batch.optional["null"][i]
            if cands != _blobs(batch.candidates[i : i + 1])[0] or (
                null is not None and mine != MISSING and null != mine
            ):
                differing.add(table)
    summary.differing = sorted(differing)


def _repeats(summary: ImportSummary, batch: SheetBatch, keep: np.ndarray) -> None:
    """Tables that the file itself gives more than once, and which of them disagree."""
    tables = np.asarray([batch.tables[i] for i in keep.tolist()], dtype=str)
    if tables.size < 2:
        return
    order = np.argsort(tables, kind="stable")
    ordered = tables[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])  # row order[j + 1] repeats row order[j]
    if same.size == 0:
        return
    summary.repeated = int(np.unique(ordered[same]).size)
    votes = batch.candidates[keep][order]
    null = batch.optional["null"][keep][order]
    differ = (votes[same] != votes[same + 1]).any(axis=1) | (null[same] != null[same + 1])
    summary.repeated_differing = sorted(set(ordered[same][differ].tolist()))


def import_registry(store: Store, path: Path) -> ImportSummary:
    """Import the table registry from a CSV with ``table,registered`` (or a resultadosconvzla file with ``RE``)."""
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    text, encoding = decode_text(data, where=str(path))
    existing = store.find_batch(kind="registry", sha256=digest, source="registry", fmt="registry")
    summary = ImportSummary(
        str(path), "registry", encoding, batch_id=existing["id"] if existing else 0, already=existing is not None
    )
    if existing is not None:
        return summary
    election = store.election()
    fast = registry_fast(data, encoding, election)
    good, bad = (fast, []) if fast is not None else _registry_rows(text, election, where=path.name)
    with store.write() as conn:
        _, batch_id = store.next_ids(conn)
        summary.batch_id = batch_id
        row = {"kind": "registry", "source": "registry", "submitter": None, "format": "registry", "encoding": encoding}
        _insert_batch(conn, batch_id, str(path), data, digest, row, accepted=len(good), rejected=len(bad))
        listed = {t for (t,) in conn.execute(select(s.registry.c.table_id))} & good.keys()
        again = sorted(listed)
        for start in range(0, len(again), 500):
            conn.execute(s.registry.delete().where(s.registry.c.table_id.in_(again[start : start + 500])))
        _insert_registry(
            conn, [{"table_id": t, "registered": r, "batch_id": batch_id, "origin": "file"} for t, r in good.items()]
        )
        if bad:
            conn.execute(insert(s.rejects), [{"batch_id": batch_id, **b} for b in bad])
    summary.accepted, summary.rejected = len(good), len(bad)
    return summary


def _registry_rows(text: str, election: Election, *, where: str) -> tuple[dict[str, int | None], list[dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    ve = {"CENTRO", "MESA", "RE"} <= set(header)
    if not ve and not {"table", "registered"} <= set(header):
        raise InputError("a registry needs columns table,registered (or CENTRO,MESA,RE)", where=f"{where}:1")
    good: dict[str, int | None] = {}
    first_line: dict[str, int] = {}
    bad: list[dict[str, Any]] = []
    for row in reader:
        line = reader.line_num
        raw = ",".join("" if v is None else str(v) for v in row.values())
        try:
            table, registered = _registry_row(row, ve, election)
        except InputError as exc:
            bad.append({"line": line, "table_id": None, "raw": raw, "reason": str(exc)})
            continue
        if table in good:
            reason = f"table {table} is listed again (first at line {first_line[table]}); the first figure is kept"
            bad.append({"line": line, "table_id": table, "raw": raw, "reason": reason})
            continue
        good[table], first_line[table] = registered, line
    return good, bad


def _registry_row(row: dict[str, str], ve: bool, election: Election) -> tuple[str, int | None]:
    """One registry row: its table and registered voters (None when empty); InputError naming the field."""
    if ve:
        centre, mesa = (row.get("CENTRO") or "").strip(), (row.get("MESA") or "").strip()
        if not (centre.isascii() and centre.isdigit() and mesa.isascii() and mesa.isdigit()):
            raise CodecError(f"CENTRO {centre!r} and MESA {mesa!r} must be numbers", where="CENTRO")
        text = f"{int(centre):09d}.{int(mesa):02d}"
    else:
        text = (row.get("table") or "").strip()
    table = election.geography.table_id(text, where="table")
    value = (row.get("RE" if ve else "registered") or "").strip()
    if not value:
        return table, None
    registered = parse_count(value, where="registered")
    if registered < 0:
        raise CodecError(f"negative count {registered}", where="registered")
    return table, registered


def _insert_registry(conn: Connection, rows: list[dict[str, Any]]) -> None:
    sql = "INSERT INTO registry (table_id, registered, batch_id, origin) VALUES (?, ?, ?, ?)"
    if rows:
        conn.exec_driver_sql(sql, [(r["table_id"], r["registered"], r["batch_id"], r["origin"]) for r in rows])


@dataclass(frozen=True, slots=True)
class Derived:
    added: int
    disagreeing: list[str]
    """Tables whose copies state different registered voters (the newest copy's figure is used)."""


def derive_registry(store: Store, sources: Iterable[str] | None = None) -> Derived:
    """Add to the registry every table whose copies state its registered voters and that it lacks."""
    known = store.registry()
    sql = "SELECT table_id, registered FROM sheets WHERE registered IS NOT NULL"
    wanted = list(sources) if sources else []
    if wanted:
        sql += f" AND source IN ({', '.join('?' * len(wanted))})"
    found: dict[str, int] = {}
    seen: dict[str, set[int]] = {}
    with store.write() as conn:
        for table, registered in conn.exec_driver_sql(sql + " ORDER BY id", tuple(wanted)):
            if table not in known:
                found[table] = registered
                seen.setdefault(table, set()).add(registered)
        rows = [{"table_id": t, "registered": r, "batch_id": None, "origin": "sheets"} for t, r in found.items()]
        _insert_registry(conn, rows)
    return Derived(len(found), sorted(t for t, values in seen.items() if len(values) > 1))
