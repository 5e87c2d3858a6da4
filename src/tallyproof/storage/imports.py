"""Importing files of copies and of the table registry into a store.

An import is atomic and idempotent: the whole file is decoded, checked and then
written in one transaction, together with the file's bytes; importing the same
file (same SHA-256) for the same source again writes nothing and says so. Rows
that cannot be decoded, and copies with ``error`` findings, are stored as rejects
with their reason and line; nothing is silently dropped.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.sheets.files import Record, decode_text, detect_format, read_records
from tallyproof.sheets.sheet import Finding, Severity, Source, TallySheet, check, parse_count
from tallyproof.storage import schema as s
from tallyproof.storage.store import Store, now, pack

__all__ = ["ImportSummary", "derive_registry", "import_file", "import_registry"]

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
    """Copies for tables that already had a copy in the store."""
    differing: list[str] = field(default_factory=list)
    """Tables whose new copy gives different votes from an earlier copy."""


def import_file(
    store: Store,
    path: Path,
    *,
    fmt: str = "auto",
    source: Source = Source.IMPORT,
    submitter: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import one file of copies (any format of :mod:`tallyproof.sheets.files`)."""
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    text, encoding = decode_text(data)
    fmt = detect_format(text, where=str(path)) if fmt == "auto" else fmt
    summary = ImportSummary(str(path), fmt, encoding, batch_id=0)
    existing = store.find_batch(kind="sheets", sha256=digest, source=source)
    if existing is not None:
        summary.batch_id, summary.already = existing, True
        return summary
    election = store.election()
    records = list(read_records(text, election, fmt, where=str(path)))
    known = store.registry()
    with store.write() as conn:
        first_sheet, batch_id = store.next_ids(conn)
        summary.batch_id = batch_id
        rows = _Rows(election, batch_id, first_sheet, source, submitter, now())
        previous = _previous_votes(conn, {r.sheet.table for r in records if r.sheet is not None})
        for i, record in enumerate(records):
            rows.add(record, _findings(record, election, known))
            if progress and i % 10_000 == 0:
                progress(i, len(records))
        _tally_overlap(summary, rows.sheets, previous)
        conn.execute(
            insert(s.batches).values(
                id=batch_id,
                kind="sheets",
                source=source,
                submitter=submitter,
                received_at=rows.received_at,
                filename=path.name,
                format=fmt,
                encoding=encoding,
                sha256=digest,
                size=len(data),
                raw=data,
                n_accepted=len(rows.sheets),
                n_rejected=len(rows.rejects),
            )
        )
        rows.flush(conn)
    if progress:
        progress(len(records), len(records))
    summary.accepted, summary.rejected, summary.warnings = len(rows.sheets), len(rows.rejects), len(rows.findings)
    return summary


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc


def _findings(record: Record, election: Election, known: dict[str, int | None]) -> list[Finding]:
    if record.sheet is None:
        return []
    return check(record.sheet, election, registry=known or None)


class _Rows:
    """Rows to insert for one batch, with ids assigned in advance."""

    def __init__(
        self, election: Election, batch_id: int, first_sheet: int, source: str, submitter: str | None, received_at: str
    ) -> None:
        self.geography = election.geography
        self.batch_id, self.next_id = batch_id, first_sheet
        self.source, self.submitter, self.received_at = source, submitter, received_at
        self.sheets: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []
        self.rejects: list[dict[str, Any]] = []
        self.units: dict[tuple[str, str], str] = {}

    def add(self, record: Record, found: list[Finding]) -> None:
        errors = [f for f in found if f.severity is Severity.ERROR]
        if record.sheet is None or errors:
            reason = record.error or "; ".join(str(f) for f in errors)
            table = record.sheet.table if record.sheet is not None else None
            self.rejects.append(
                {"batch_id": self.batch_id, "line": record.line, "table_id": table, "raw": record.raw, "reason": reason}
            )
            return
        sid = self.next_id
        self.next_id += 1
        self.sheets.append(self._sheet_row(sid, record.line, record.sheet, record.raw))
        self.findings += [
            {"sheet_id": sid, "code": f.code, "severity": f.severity, "field": f.field, "message": f.message}
            for f in found
        ]
        self._names(record)

    def _sheet_row(self, sid: int, line: int, sheet: TallySheet, raw: str) -> dict[str, Any]:
        return {
            "id": sid,
            "batch_id": self.batch_id,
            "line": line,
            "table_id": sheet.table,
            "source": self.source,
            "submitter": self.submitter,
            "received_at": self.received_at,
            "digest": sheet.digest(),
            "acta_id": sheet.acta_id,
            "candidates": pack(sheet.candidates),
            "cards": None if sheet.cards is None else pack(sheet.cards),
            "null_votes": sheet.null,
            "blank_votes": sheet.blank,
            "registered": sheet.registered,
            "valid_stated": sheet.valid,
            "voters": sheet.voters,
            "raw": raw,
        }

    def _names(self, record: Record) -> None:
        if not record.names or record.sheet is None:
            return
        for level, name in record.names:
            if level in self.geography.levels:
                self.units.setdefault((level, self.geography.unit_key(record.sheet.table, level)), name)

    def flush(self, conn: Any) -> None:
        for table, rows in ((s.sheets, self.sheets), (s.findings, self.findings), (s.rejects, self.rejects)):
            for start in range(0, len(rows), 50_000):
                conn.execute(insert(table), rows[start : start + 50_000])
        if self.units:
            have = {(lv, k) for lv, k in conn.execute(select(s.units.c.level, s.units.c.key))}
            new = [{"level": lv, "key": k, "name": n} for (lv, k), n in self.units.items() if (lv, k) not in have]
            if new:
                conn.execute(insert(s.units), new)


def _previous_votes(conn: Any, tables: set[str]) -> dict[str, list[tuple[bytes, int | None]]]:
    out: dict[str, list[tuple[bytes, int | None]]] = {}
    if not tables:
        return out
    q = select(s.sheets.c.table_id, s.sheets.c.candidates, s.sheets.c.null_votes)
    for table, cands, null in conn.execute(q):
        if table in tables:
            out.setdefault(table, []).append((cands, null))
    return out


def _tally_overlap(
    summary: ImportSummary, rows: list[dict[str, Any]], previous: dict[str, list[tuple[bytes, int | None]]]
) -> None:
    for row in rows:
        earlier = previous.get(row["table_id"])
        if not earlier:
            continue
        summary.overlapping += 1
        null = row["null_votes"]
        if any(c != row["candidates"] or (n is not None and null is not None and n != null) for c, n in earlier):
            summary.differing.append(row["table_id"])


def import_registry(store: Store, path: Path) -> ImportSummary:
    """Import the table registry from a CSV with ``table,registered`` (or a resultadosconvzla file with ``RE``)."""
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    text, encoding = decode_text(data)
    existing = store.find_batch(kind="registry", sha256=digest, source="registry")
    summary = ImportSummary(str(path), "registry", encoding, batch_id=existing or 0, already=existing is not None)
    if existing is not None:
        return summary
    election = store.election()
    good, bad = _registry_rows(text, election, where=path.name)
    with store.write() as conn:
        _, batch_id = store.next_ids(conn)
        summary.batch_id = batch_id
        conn.execute(
            insert(s.batches).values(
                id=batch_id,
                kind="registry",
                source="registry",
                submitter=None,
                received_at=now(),
                filename=path.name,
                format="registry",
                encoding=encoding,
                sha256=digest,
                size=len(data),
                raw=data,
                n_accepted=len(good),
                n_rejected=len(bad),
            )
        )
        conn.execute(s.registry.delete().where(s.registry.c.table_id.in_(list(good))))
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
    bad: list[dict[str, Any]] = []
    for row in reader:
        line = reader.line_num
        try:
            table_text = f"{int(row['CENTRO']):09d}.{int(row['MESA']):02d}" if ve else row["table"].strip()
            table = election.geography.table_id(table_text, where="table")
            value = row["RE" if ve else "registered"].strip()
            good[table] = parse_count(value, where="registered") if value else None
        except (ValueError, TypeError, AttributeError, InputError) as exc:
            bad.append(
                {"line": line, "table_id": None, "raw": ",".join(str(v) for v in row.values()), "reason": str(exc)}
            )
    return good, bad


def _insert_registry(conn: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 50_000):
        conn.execute(insert(s.registry), rows[start : start + 50_000])


def derive_registry(store: Store, sources: Iterable[str] | None = None) -> int:
    """Add to the registry every table whose copies state its registered voters and that it lacks.

    Where copies disagree on the number, the most recent copy's figure is used.
    Returns the number of tables added.
    """
    known = store.registry()
    found: dict[str, int] = {}
    for copy in store.iter_copies(list(sources) if sources else None):
        if copy.sheet.registered is not None and copy.sheet.table not in known:
            found[copy.sheet.table] = copy.sheet.registered
    with store.write() as conn:
        _insert_registry(
            conn, [{"table_id": t, "registered": r, "batch_id": None, "origin": "sheets"} for t, r in found.items()]
        )
    return len(found)
