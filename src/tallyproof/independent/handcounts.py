"""Hand counts of an audit, as the auditors send them: parsed, checked, and named by file and line.

Batch audits send each drawn box's count as a tally sheet in any format ``tallyproof import`` reads;
ballot-level audits send ``table,receipt,vote`` (a candidate or card, ``none`` for a null or blank ballot,
``missing`` for a receipt not in the box). A box that cannot be found is recorded as :data:`MISSING_BOX`.
A file gives each draw one count (two different counts are refused, naming both lines), and a count that
differs from one already recorded is refused unless it is a correction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.independent import cvrs as cvr
from tallyproof.sheets.files import decode_text, read_records

__all__ = ["MISSING_BOX", "Row", "ballot_counts", "batch_counts", "missing_boxes", "no_recount", "once_each"]

VOTE_MISSING = cvr.MISSING

Row = tuple[str, int | None, str, int | None]
"""A count read: table, receipt (ballot-level audits), what was counted (JSON), and its line in the file."""
MISSING_BOX = "missing"
"""What is recorded for a drawn box that cannot be found (batch audits)."""


def batch_counts(data: bytes, name: str, election: Election, drawn: set[tuple[str, int | None]]) -> list[Row]:
    """Each drawn table's hand count, from a tally-sheet file; errors name the line."""
    text, _ = decode_text(data, where=name)
    tables = {t for t, _ in drawn}
    out: list[Row] = []
    for record in read_records(text, election, "auto", where=name):
        if record.sheet is None:
            raise InputError(record.error or "not a tally sheet", where=f"{name}:{record.line}")
        if record.sheet.table not in tables:
            raise InputError(f"table {record.sheet.table} was not drawn by this audit", where=f"{name}:{record.line}")
        votes = dict(zip((c.id for c in election.candidates), record.sheet.candidates, strict=True))
        out.append((str(record.sheet.table), None, json.dumps(votes), record.line))
    if not out:
        raise InputError("no counts in the file", where=name)
    return out


def ballot_counts(data: bytes, name: str, election: Election, drawn: set[tuple[str, int | None]]) -> list[Row]:
    """Each drawn receipt's vote, from a CSV ``table,receipt,vote``; errors name the line."""
    text, _ = decode_text(data, where=name)
    votes = cvr.vote_ids(election) | {VOTE_MISSING: VOTE_MISSING}
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"table", "receipt", "vote"} <= set(reader.fieldnames):
        raise InputError("expected the columns table,receipt,vote", where=f"{name}:1")
    out: list[Row] = []
    for line, row in enumerate(reader, start=2):
        where = f"{name}:{line}"
        if any(row.get(k) is None for k in ("table", "receipt", "vote")):
            raise InputError("expected 3 fields: table,receipt,vote", where=where)
        receipt = row["receipt"].strip()
        if not receipt.isdigit():
            raise InputError(f"receipt {receipt!r} is not a number", where=where)
        if (row["table"].strip(), int(receipt)) not in drawn:
            raise InputError(f"receipt {receipt} of table {row['table']} was not drawn by this audit", where=where)
        if row["vote"].strip() not in votes:
            raise InputError(f"unknown vote {row['vote']!r}: a candidate, a card, none or missing", where=where)
        out.append((row["table"].strip(), int(receipt), votes[row["vote"].strip()], line))
    if not out:
        raise InputError("no counts in the file", where=name)
    return out


def missing_boxes(tables: Sequence[str], drawn: set[tuple[str, int | None]]) -> list[Row]:
    for table in tables:
        if (table, None) not in drawn:
            raise InputError(f"table {table} was not drawn by this audit", where="--missing")
    return [(table, None, json.dumps(MISSING_BOX), None) for table in tables]


def once_each(rows: list[Row], name: str) -> None:
    """A file gives each table (or receipt) one count: two different counts of it are refused, naming both
    lines (the same count twice is harmless: a receipt drawn twice with replacement is listed twice)."""
    seen: dict[tuple[str, int | None], tuple[str, int | None]] = {}
    for table, receipt, counted, line in rows:
        first = seen.setdefault((table, receipt), (counted, line))
        if first[0] != counted:
            what = f"receipt {receipt} of table {table}" if receipt is not None else f"table {table}"
            said = f"{what} is counted twice, differently" + (f" (line {first[1]} too)" if first[1] else "")
            raise InputError(said, where=f"{name}:{line}" if line else name)


def no_recount(before: dict[tuple[str, int | None], str], rows: list[Row], name: str) -> None:
    """A count that differs from the one already recorded for a draw is a correction, and must say so."""
    changed = [(t, r, line) for t, r, c, line in rows if (t, r) in before and before[(t, r)] != c]
    if changed:
        t, r, line = changed[0]
        what = f"receipt {r} of table {t}" if r is not None else f"table {t}"
        raise InputError(
            f"{what} was already counted differently ({len(changed):,} draws in all): record a correction with --correct",
            where=f"{name}:{line}" if line else name,
        )
