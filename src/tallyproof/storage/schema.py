"""Tables of the store and the ordered migrations that create them.

Vote vectors are stored as little-endian int32 BLOBs (one per copy) so that a
national tabulation reads them straight into NumPy. Every file or submission is
kept whole, byte for byte, in ``batches.raw``; a copy points at its own text in it
(``raw_start``, ``raw_end``). Who submitted a copy, and when, is the batch's.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "accounts",
    "assignments",
    "audit_counts",
    "audit_cvrs",
    "audit_draws",
    "audits",
    "batches",
    "bulletins",
    "checkpoints",
    "findings",
    "ledger_metadata",
    "log_entries",
    "log_nodes",
    "machine_keys",
    "meta",
    "metadata",
    "photos",
    "registry",
    "rejects",
    "review_entries",
    "review_fields",
    "review_metadata",
    "reviews",
    "sheets",
    "units",
    "witness_metadata",
]

metadata = MetaData()

meta = Table("meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))

batches = Table(
    "batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # sheets | registry | signed | submission | photo
    Column("source", String(16), nullable=False),
    Column("submitter", String(200)),
    Column("received_at", String(40), nullable=False),
    Column("filename", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("encoding", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("n_accepted", Integer, nullable=False),
    Column("n_rejected", Integer, nullable=False),
    # A file is imported once per source and format; transmissions and people's submissions may repeat.
    Index(
        "uq_batches_file",
        "kind",
        "sha256",
        "source",
        "format",
        unique=True,
        sqlite_where=text("kind NOT IN ('signed', 'submission', 'photo')"),
    ),
)

sheets = Table(
    "sheets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", ForeignKey("batches.id"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("table_id", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("acta_id", String(64)),
    Column("candidates", LargeBinary, nullable=False),
    Column("cards", LargeBinary),
    Column("null_votes", BigInteger),
    Column("blank_votes", BigInteger),
    Column("registered", BigInteger),
    Column("valid_stated", BigInteger),
    Column("voters", BigInteger),
    Column("raw_start", BigInteger, nullable=False),
    Column("raw_end", BigInteger, nullable=False),
    Index("ix_sheets_table", "table_id"),
)

findings = Table(
    "findings",
    metadata,
    Column("sheet_id", ForeignKey("sheets.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("field", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_findings_sheet", "sheet_id"),
)

rejects = Table(
    "rejects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", ForeignKey("batches.id"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("table_id", String(64)),
    Column("raw", Text, nullable=False),
    Column("reason", Text, nullable=False),
)

registry = Table(
    "registry",
    metadata,
    Column("table_id", String(64), primary_key=True),
    Column("registered", BigInteger),
    Column("batch_id", ForeignKey("batches.id")),
    Column("origin", String(16), nullable=False),  # file | sheets
)

units = Table(
    "units",
    metadata,
    Column("level", String(32), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("name", Text, nullable=False),
)


# -- version 2: the official side (machine keys and the append-only log) --------------------------

ledger_metadata = MetaData()

machine_keys = Table(
    "machine_keys",
    ledger_metadata,
    Column("key_id", String(16), primary_key=True),
    Column("table_id", String(64), nullable=False),
    Column("public", LargeBinary, nullable=False),
    Column("added_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
    Column("revoke_reason", Text),
    Index("ix_machine_keys_table", "table_id"),
)

log_entries = Table(
    "log_entries",
    ledger_metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),  # leaf index, from 0
    Column("batch_id", Integer, nullable=False),  # the submission as received
    Column("table_id", String(64), nullable=False),
    Column("machine", String(16), nullable=False),
    Column("payload", Text, nullable=False),  # the signed sheet, the leaf's data
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("conflict", Integer, nullable=False),  # another, different sheet of this table is in the log
    Column("logged_at", String(40), nullable=False),
    Index("ix_log_entries_table", "table_id"),
    Index("ix_log_entries_leaf", "leaf_hash"),
)

log_nodes = Table(
    "log_nodes",
    ledger_metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    ledger_metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
)


bulletins = Table(
    "bulletins",
    ledger_metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


def _v2(conn: Connection) -> None:
    ledger_metadata.create_all(conn)


# -- version 3: the independent side (submitters' accounts, their tables, photos) -----------------

witness_metadata = MetaData()

accounts = Table(
    "accounts",
    witness_metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # witness | observer
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the API token, hex
    Column("created_at", String(40), nullable=False),
    Column("discounted_at", String(40)),  # set: every submission of this account is set aside
    Column("discount_reason", Text),
)

assignments = Table(
    "assignments",
    witness_metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("table_id", String(64), primary_key=True),
)

photos = Table(
    "photos",
    witness_metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=False),  # the photo as received (batches.id)
    Column("media_type", String(64), nullable=False),
    Column("payload_batch_id", Integer),  # the payload that came with it, if any
    Index("ix_photos_payload", "payload_batch_id"),
)


def _v3(conn: Connection) -> None:
    witness_metadata.create_all(conn)
    conn.execute(text("DROP INDEX IF EXISTS uq_batches_file"))
    for index in batches.indexes:
        index.create(conn)


# -- version 4: photos that no reader could read, and people's double-blind transcriptions ------

review_metadata = MetaData()

reviews = Table(
    "reviews",
    review_metadata,
    Column("id", Integer, primary_key=True),
    Column("photo_batch_id", Integer, nullable=False, unique=True),  # the photo (batches.id)
    Column("reason", Text, nullable=False),  # why no reader's value was accepted
    Column("suggestion", Text),  # what OCR read, as a payload: never counted, not shown to reviewers
    Column("created_at", String(40), nullable=False),
    Column("status", String(16), nullable=False),  # open | third | agreed
    Column("payload", Text),  # the agreed transcription
    Column("copy_batch_id", Integer),  # the copies it gave (batches.id)
    Column("decided_at", String(40)),
)

review_entries = Table(
    "review_entries",
    review_metadata,
    Column("id", Integer, primary_key=True),
    Column("review_id", Integer, ForeignKey("reviews.id"), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("payload", Text, nullable=False),  # what the reviewer read, as a QR payload
    Column("entered_at", String(40), nullable=False),
    Index("uq_review_entries_reviewer", "review_id", "reviewer", unique=True),
)


def _v4(conn: Connection) -> None:
    review_metadata.create_all(conn)


# -- version 5: where each field is printed on a photo under review, and what is in doubt ----------

review_fields_metadata = MetaData()

review_fields = Table(
    "review_fields",
    review_fields_metadata,
    Column("review_id", Integer, primary_key=True),  # reviews.id
    Column("field", String(32), primary_key=True),  # qr | acta_id | card-N | valid
    Column("left", Integer),  # the field's region in the photo's pixels (null: not located)
    Column("top", Integer),
    Column("right", Integer),
    Column("bottom", Integer),
    Column("doubt", Text),  # why a reviewer must look at this field (null: nothing in doubt)
)


def _v5(conn: Connection) -> None:
    review_fields_metadata.create_all(conn)


# -- version 6: risk-limiting audits: the plan, its draws from a public seed, the counts recorded -----

audit_metadata = MetaData()

audits = Table(
    "audits",
    audit_metadata,
    Column("id", Integer, primary_key=True),
    Column("method", String(16), nullable=False),  # batch | bravo | kaplan-markov | alpha
    Column("risk_limit", Float, nullable=False),
    Column("seed", Text, nullable=False),  # public: anyone re-derives the draws from it
    Column("source", String(16), nullable=False),  # whose per-table results are audited (official)
    Column("winner", String(64), nullable=False),
    Column("reported", Text, nullable=False),  # JSON: votes per candidate, as reported when planned
    Column("ballots", BigInteger, nullable=False),  # ballots cast, as reported
    Column("total_error_bound", Text),  # batch: U, an exact fraction "p/q"
    Column("planned", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
)

audit_draws = Table(
    "audit_draws",
    audit_metadata,
    Column("audit_id", Integer, ForeignKey("audits.id"), primary_key=True),
    Column("draw", Integer, primary_key=True),  # 1, 2, … in the order drawn
    Column("table_id", String(64), nullable=False),
    Column("receipt", Integer),  # bravo, comparison: the receipt's position in the table's box (1-based)
    Column(
        "reported", Text
    ),  # batch: JSON votes per candidate the table's sheet reports; comparison: {"vote": its CVR}
    Column("ballots", Integer),  # batch: b_p, the most ballots the box can hold
)

audit_counts = Table(
    "audit_counts",
    audit_metadata,
    Column("id", Integer, primary_key=True),
    Column("audit_id", Integer, ForeignKey("audits.id"), nullable=False),
    Column("batch_id", Integer, nullable=False),  # the file of counts as received (batches.id)
    Column("table_id", String(64), nullable=False),
    Column("receipt", Integer),  # bravo: which receipt
    Column(
        "counted", Text, nullable=False
    ),  # batch: JSON votes per candidate; bravo: the vote, a candidate or none/missing
    Column("recorded_at", String(40), nullable=False),
    Index("ix_audit_counts", "audit_id", "table_id", "receipt"),
)


def _v6(conn: Connection) -> None:
    audit_metadata.create_all(conn)


# -- version 7: ballot-level comparison audits: the cast vote records committed with the plan ---------

cvr_metadata = MetaData()

audit_cvrs = Table(
    "audit_cvrs",
    cvr_metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=False),  # audits.id
    Column("batch_id", Integer, nullable=False),  # the CVR file as received (batches.id, kind cvrs)
    Column("sha256", String(64), nullable=False),  # of that file: what was committed before the seed
)


def _v7(conn: Connection) -> None:
    cvr_metadata.create_all(conn)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6, _v7)
"""Ordered; migration ``i`` brings a store from schema version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "meta"):
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0
