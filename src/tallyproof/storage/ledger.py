"""The official side's store: machine keys bound to tables, and the append-only log of signed sheets.

Every submission is kept as received (a batch) whatever happens to it. A sheet is logged only if it
decodes, is signed by a registered, unrevoked machine key bound to its table, and has no error
finding; it then becomes leaf ``n`` of the RFC 9162 tree and an ``official`` copy of its table.
Sending the same sheet again logs nothing and returns its leaf; a *different* sheet for a table that
already has one is logged too, flagged as a conflict: nothing is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from tallyproof.errors import CodecError, SignatureError, TallyproofError, UnknownError
from tallyproof.ledger.bulletin import Bulletin, figures
from tallyproof.ledger.checkpoint import Checkpoint
from tallyproof.ledger.merkle import Tree, leaf_hash, node_hash
from tallyproof.ledger.mirror import write_copy
from tallyproof.sheets.qr import from_qr, looks_like_qr, to_qr
from tallyproof.sheets.sheet import Severity, Source, TallySheet, check
from tallyproof.sheets.signed import SignedSheet
from tallyproof.signing import PrivateKey, b64, key_id, unb64
from tallyproof.storage import schema as s
from tallyproof.storage.store import Store, now, pack

__all__ = ["UNSIGNED", "Ledger", "MachineKey", "Receipt"]


@dataclass(frozen=True, slots=True)
class MachineKey:
    key_id: str
    table: str
    public: bytes
    added_at: str
    revoked_at: str | None
    revoke_reason: str | None


UNSIGNED = "unsigned"
"""The ``machine`` of a logged 2024-style payload, which no machine signed."""


@dataclass(frozen=True, slots=True)
class _Logged:
    sheet: TallySheet
    machine: str
    text: str
    """The leaf's data: the canonical payload."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one submission."""

    status: str  # logged | duplicate | rejected
    batch_id: int
    index: int | None = None
    """The sheet's leaf in the log (logged or duplicate)."""
    conflict: bool = False
    reason: str | None = None


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._nodes: dict[tuple[int, int], bytes] = {}
        """Complete-subtree hashes already committed (they never change)."""
        self._pending: dict[tuple[int, int], bytes] = {}
        """Those written by the transaction under way, kept apart until it commits."""

    # -- machine keys -----------------------------------------------------------------------
    def add_key(self, public: bytes, table: str) -> MachineKey:
        """Register a machine's public key for ``table`` (the key must be new)."""
        kid = self.add_keys([(public, table)], where="--table")[0]
        return self.key(kid)

    def add_keys(self, keys: Sequence[tuple[bytes, str]], *, where: str) -> list[str]:
        """Register many machines' keys in one transaction (all or none); returns their key ids."""
        geo = self.store.election().geography
        rows: list[dict[str, Any]] = []
        for i, (public, table) in enumerate(keys):
            if len(public) != 32:
                raise SignatureError(
                    f"an Ed25519 public key has 32 bytes, this one {len(public)}", where=f"{where} [{i}]"
                )
            rows.append(
                {
                    "key_id": key_id(public),
                    "table_id": geo.table_id(table, where=f"{where} [{i}]"),
                    "public": public,
                    "added_at": now(),
                }
            )
        ids: list[str] = [r["key_id"] for r in rows]
        if len(set(ids)) != len(ids):
            raise SignatureError("the same key is listed twice", where=where)
        with self.store.write() as conn:
            known = {k for (k,) in conn.execute(select(s.machine_keys.c.key_id))}
            again = [k for k in ids if k in known]
            if again:
                raise SignatureError("this key is already registered", where=f"key {again[0]}")
            if rows:
                conn.execute(insert(s.machine_keys), rows)
        return ids

    def revoke_key(self, kid: str, reason: str) -> MachineKey:
        with self.store.write() as conn:
            done = conn.execute(
                update(s.machine_keys)
                .where(s.machine_keys.c.key_id == kid, s.machine_keys.c.revoked_at.is_(None))
                .values(revoked_at=now(), revoke_reason=reason)
            )
            if done.rowcount != 1:
                raise UnknownError("no such unrevoked key", where=f"key {kid}")
        return self.key(kid)

    def key(self, kid: str) -> MachineKey:
        found = [k for k in self.keys() if k.key_id == kid]
        if not found:
            raise UnknownError("no such key", where=f"key {kid}")
        return found[0]

    def keys(self) -> list[MachineKey]:
        c = s.machine_keys.c
        q = select(c.key_id, c.table_id, c.public, c.added_at, c.revoked_at, c.revoke_reason).order_by(
            c.table_id, c.added_at
        )
        with self.store._read() as conn:
            return [MachineKey(*row) for row in conn.execute(q)]

    # -- the log ----------------------------------------------------------------------------
    def size(self) -> int:
        with self.store._read() as conn:
            return int(conn.execute(select(func.count()).select_from(s.log_entries)).scalar() or 0)

    def tree(self, size: int | None = None) -> Tree:
        """The log (or its first ``size`` leaves) for roots and proofs."""
        return Tree(self.size() if size is None else size, self._complete)

    def _complete(self, level: int, index: int) -> bytes:
        found = self._pending.get((level, index)) or self._nodes.get((level, index))
        if found is None:
            with self.store._read() as conn:
                found = conn.execute(
                    select(s.log_nodes.c.hash).where(s.log_nodes.c.level == level, s.log_nodes.c.idx == index)
                ).scalar()
            if found is None:
                raise UnknownError(f"no node {level}/{index} in the log", where=self.store.where)
            self._nodes[(level, index)] = found
        return found

    def submit(self, payload: str | bytes, *, submitter: str | None = None) -> Receipt:
        """Check one signed sheet and, if it is sound, log it; the submission is kept in every case."""
        return self.submit_many([(payload, submitter)])[0][0]

    def submit_many(
        self, items: Sequence[tuple[str | bytes, str | None]], *, log_key: PrivateKey | None = None
    ) -> tuple[list[Receipt], Checkpoint | None]:
        """:meth:`submit` for several (payload, submitter) pairs in one transaction (the server's group
        commit); with ``log_key``, a checkpoint that includes them is signed in the same transaction."""
        self._pending = {}
        try:
            with self.store.write() as conn:
                tx = _Tx(conn, self.store)
                receipts = [self._one(tx, payload, submitter) for payload, submitter in items]
                signed = self._sign_checkpoint(conn, log_key, tx.size, dt.datetime.now(dt.UTC)) if log_key else None
            self._nodes.update(self._pending)
        finally:
            self._pending = {}
        return receipts, signed

    def _one(self, tx: _Tx, payload: str | bytes, submitter: str | None) -> Receipt:
        raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
        batch_id = tx.next_batch()
        try:
            signed = self._accepted(tx.conn, raw)
        except TallyproofError as exc:
            tx.conn.execute(_INSERT_BATCH, _batch_row(batch_id, raw, submitter, accepted=0, rejected=1))
            tx.conn.execute(
                _INSERT_REJECT,
                {
                    "batch_id": batch_id,
                    "line": 1,
                    "table_id": None,
                    "raw": raw.decode("utf-8", "replace"),
                    "reason": str(exc),
                },
            )
            return Receipt("rejected", batch_id, reason=str(exc))
        text = signed.text
        h = leaf_hash(text.encode("ascii"))
        same = tx.conn.execute(_SAME_LEAF, {"h": h}).scalar()
        tx.conn.execute(_INSERT_BATCH, _batch_row(batch_id, raw, submitter, accepted=int(same is None), rejected=0))
        if same is not None:
            return Receipt("duplicate", batch_id, index=int(same))
        index = tx.size
        conflict = tx.conn.execute(_TABLE_LOGGED, {"t": signed.sheet.table}).first() is not None
        tx.conn.execute(
            _INSERT_ENTRY,
            {
                "idx": index,
                "batch_id": batch_id,
                "table_id": signed.sheet.table,
                "machine": signed.machine,
                "payload": text,
                "leaf_hash": h,
                "conflict": int(conflict),
                "logged_at": now(),
            },
        )
        self._add_nodes(tx.conn, index, h)
        tx.conn.execute(_INSERT_SHEET, _sheet_row(tx.next_sheet(), batch_id, signed.sheet, len(text)))
        tx.size += 1
        return Receipt("logged", batch_id, index=index, conflict=conflict)

    def _accepted(self, conn: Connection, raw: bytes) -> _Logged:
        """A signed sheet, checked; or an unsigned 2024-style QR payload, accepted and marked ``unsigned``
        (its counts are checked, its origin cannot be)."""
        text = raw.decode("ascii", "replace").strip()
        if looks_like_qr(text):
            election = self.store.election()
            sheet = from_qr(raw, election)
            errors = [f for f in check(sheet, election) if f.severity is Severity.ERROR]
            if errors:
                raise CodecError("; ".join(str(f) for f in errors), where=f"sheet {sheet.table}")
            return _Logged(sheet, UNSIGNED, to_qr(sheet))
        signed = self._verified(conn, raw)
        return _Logged(signed.sheet, signed.machine, signed.to_text())

    def _verified(self, conn: Connection, raw: bytes) -> SignedSheet:
        """Decode, check the key binding and the signature, and the counts; raise on any failure."""
        election = self.store.election()
        signed = SignedSheet.from_text(raw, election)
        row = conn.execute(_KEY, {"k": signed.machine}).first()
        if row is None:
            raise SignatureError("signed by a key that is not registered", where=f"key {signed.machine}")
        table, public, revoked_at, reason = row
        if revoked_at is not None:
            raise SignatureError(f"signed by a key revoked at {revoked_at} ({reason})", where=f"key {signed.machine}")
        if table != signed.sheet.table:
            raise SignatureError(
                f"key {signed.machine} is bound to table {table}, not {signed.sheet.table}",
                where=f"sheet {signed.sheet.table}",
            )
        signed.verify(public)
        errors = [f for f in check(signed.sheet, election) if f.severity is Severity.ERROR]
        if errors:
            raise CodecError("; ".join(str(f) for f in errors), where=f"sheet {signed.sheet.table}")
        return signed

    def _add_nodes(self, conn: Connection, index: int, h: bytes) -> None:
        """Store the new leaf and every complete subtree it completes (RFC 9162 §2.1.1's hashing)."""
        new: dict[tuple[int, int], bytes] = {(0, index): h}
        level, i = 0, index
        while i % 2 == 1:  # a right child completes its parent
            left = self._pending.get((level, i - 1)) or self._nodes.get((level, i - 1))
            if left is None:
                query = select(s.log_nodes.c.hash).where(s.log_nodes.c.level == level, s.log_nodes.c.idx == i - 1)
                left = conn.execute(query).scalar_one()
            h = node_hash(left, h)
            level, i = level + 1, i // 2
            new[(level, i)] = h
        conn.execute(insert(s.log_nodes), [{"level": lv, "idx": ix, "hash": v} for (lv, ix), v in new.items()])
        self._pending.update(new)

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoint(self, key: PrivateKey, *, time: dt.datetime | None = None) -> Checkpoint:
        """Sign and keep a checkpoint of the log as it is now."""
        with self.store.write() as conn:
            size = int(conn.execute(select(func.count()).select_from(s.log_entries)).scalar() or 0)
            return self._sign_checkpoint(conn, key, size, time or dt.datetime.now(dt.UTC))

    def _sign_checkpoint(self, conn: Connection, key: PrivateKey, size: int, time: dt.datetime) -> Checkpoint:
        cp = Checkpoint.make(self.store.election().id, size, Tree(size, self._complete).root(), key, time)
        known = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "log_public")).scalar()
        if known is None:
            conn.execute(insert(s.meta).values(key="log_public", value=b64(key.public)))
        elif known != b64(key.public):
            raise SignatureError(
                f"this log is signed by key {key_id(unb64(known, where='meta'))}, not {cp.log_key}", where="--log-key"
            )
        conn.execute(insert(s.checkpoints).values(size=size, text=cp.to_text()))
        return cp

    def bulletin(self, key: PrivateKey, *, time: dt.datetime | None = None) -> Bulletin:
        """Announce the result so far: a new checkpoint and the tabulation of exactly its sheets."""
        cp = self.checkpoint(key, time=time)
        payloads = [e["payload"] for e in self.entries(0, cp.size)]
        expected = len({k.table for k in self.keys()})
        bulletin = Bulletin.make(cp, figures(self.store.election(), payloads, expected), key)
        with self.store.write() as conn:
            conn.execute(insert(s.bulletins).values(size=cp.size, text=bulletin.to_text()))
        return bulletin

    def bulletins(self) -> list[Bulletin]:
        with self.store._read() as conn:
            return [
                Bulletin.from_text(t) for (t,) in conn.execute(select(s.bulletins.c.text).order_by(s.bulletins.c.id))
            ]

    def log_public(self) -> bytes | None:
        """The log's public key, known once it has signed a checkpoint."""
        with self.store._read() as conn:
            value = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "log_public")).scalar()
        return None if value is None else unb64(value, where="meta.log_public")

    def export(self, folder: Path) -> dict[str, Path]:
        """A copy of the log that anyone can check offline with :func:`tallyproof.ledger.verify.verify_log`:
        the election definition, the key registry, the leaves, the checkpoints and the log's public key."""
        public = self.log_public()
        if public is None:
            raise UnknownError(
                "the log has no checkpoint yet; make one with `tallyproof log checkpoint`", where=self.store.where
            )
        return write_copy(
            folder,
            election=self.store.election().source_text,
            keys=[(k.key_id, k.table, b64(k.public), k.revoked_at) for k in self.keys()],
            leaves=[(e["idx"], e["payload"]) for e in self.entries()],
            checkpoints="\n".join(c.to_text() for c in self.checkpoints()),
            bulletins="".join(b.to_text() + "\n" for b in self.bulletins()),
            log_public=b64(public),
        )

    def checkpoints(self) -> list[Checkpoint]:
        with self.store._read() as conn:
            return [
                Checkpoint.from_text(t)
                for (t,) in conn.execute(select(s.checkpoints.c.text).order_by(s.checkpoints.c.id))
            ]

    def entries(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        c = s.log_entries.c
        q = select(c.idx, c.table_id, c.machine, c.payload, c.conflict, c.logged_at).where(c.idx >= start)
        if end is not None:
            q = q.where(c.idx < end)
        with self.store._read() as conn:
            return [dict(r) for r in conn.execute(q.order_by(c.idx)).mappings()]


class _Tx:
    """The write transaction under way: its connection, the log's size, the next free ids."""

    def __init__(self, conn: Connection, store: Store) -> None:
        self.conn = conn
        self.size = int(conn.execute(select(func.count()).select_from(s.log_entries)).scalar() or 0)
        self._sheet, self._batch = store.next_ids(conn)

    def next_batch(self) -> int:
        self._batch += 1
        return self._batch - 1

    def next_sheet(self) -> int:
        self._sheet += 1
        return self._sheet - 1


_INSERT_BATCH = insert(s.batches)
_INSERT_REJECT = insert(s.rejects)
_INSERT_ENTRY = insert(s.log_entries)
_INSERT_SHEET = insert(s.sheets)
_KEY = select(
    s.machine_keys.c.table_id, s.machine_keys.c.public, s.machine_keys.c.revoked_at, s.machine_keys.c.revoke_reason
).where(s.machine_keys.c.key_id == bindparam("k"))
_SAME_LEAF = select(s.log_entries.c.idx).where(s.log_entries.c.leaf_hash == bindparam("h"))
_TABLE_LOGGED = select(s.log_entries.c.idx).where(s.log_entries.c.table_id == bindparam("t")).limit(1)


def _batch_row(batch_id: int, raw: bytes, submitter: str | None, *, accepted: int, rejected: int) -> dict[str, Any]:
    """A transmission, kept as received whatever becomes of it."""
    return {
        "id": batch_id,
        "kind": "signed",
        "source": Source.OFFICIAL,
        "submitter": submitter,
        "received_at": now(),
        "filename": "(transmission)",
        "format": "signed",
        "encoding": "ascii",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size": len(raw),
        "raw": raw,
        "n_accepted": accepted,
        "n_rejected": rejected,
    }


def _sheet_row(sheet_id: int, batch_id: int, sheet: TallySheet, length: int) -> dict[str, Any]:
    """The logged sheet is also an ``official`` copy of its table, counted by ``tabulate``."""
    return {
        "id": sheet_id,
        "batch_id": batch_id,
        "line": 1,
        "table_id": sheet.table,
        "source": Source.OFFICIAL,
        "digest": sheet.digest(),
        "acta_id": None,
        "candidates": pack(sheet.candidates),
        "cards": pack(sheet.cards or ()),
        "null_votes": sheet.null,
        "blank_votes": sheet.blank,
        "registered": sheet.registered,
        "valid_stated": None,
        "voters": None,
        "raw_start": 0,
        "raw_end": length,
    }
