"""The official side's store: machine keys bound to tables, and the append-only log of signed sheets.

Every submission is kept as received (a batch) whatever happens to it. A sheet is logged only if it
decodes, is signed by a registered, unrevoked machine key bound to its table, and has no error
finding; it then becomes leaf ``n`` of the RFC 9162 tree and an ``official`` copy of its table.
Sending the same sheet again logs nothing and returns its leaf; a *different* sheet for a table that
already has one is logged too, flagged as a conflict: nothing is ever overwritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, delete, func, insert, or_, select, update

from tallyproof.errors import CodecError, SignatureError, TallyproofError, UnknownError
from tallyproof.official.bulletin import Bulletin, figures
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.official.merkle import Tree, leaf_hash, node_hash, nodes_read
from tallyproof.official.mirror import write_copy
from tallyproof.sheets.qr import from_qr, looks_like_qr, to_qr
from tallyproof.sheets.sheet import Severity, Source, TallySheet, check_many
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
        self._registry: dict[str, _KeyRow] | None = None
        """The machine key registry, as of ``_registry_version`` (see :meth:`_read_registry`)."""
        self._registry_version: str | None = None
        self._log_public: str | None = None
        self._warm, self._known = False, 0
        """After :meth:`warm`: ``_nodes`` holds every node of the first ``_known`` leaves."""

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
                _keys_changed(conn)
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
            _keys_changed(conn)
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
            return _count(conn)

    def tree(self, size: int | None = None) -> Tree:
        """The log (or its first ``size`` leaves) for roots and proofs."""
        return Tree(self.size() if size is None else size, self._complete)

    def root(self, size: int) -> bytes:
        """The root of the first ``size`` leaves, its nodes fetched together."""
        return self._fetched(size, Tree.root)  # type: ignore[return-value]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]), its nodes fetched together (a cold proof is one query, not one per node)."""
        return self._fetched(size, lambda tree: tree.inclusion_proof(index))  # type: ignore[return-value]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[new]), its nodes fetched together."""
        return self._fetched(new, lambda tree: tree.consistency_proof(old))  # type: ignore[return-value]

    def _fetched(self, size: int, prove: Callable[[Tree], object]) -> object:
        try:
            return prove(Tree(size, self._cached))
        except _NotCached:
            pass
        missing = [k for k in nodes_read(size, prove) if k not in self._nodes and k not in self._pending]
        if missing:
            with self.store._read() as conn:
                for i in range(0, len(missing), _CHUNK // 2):
                    part = missing[i : i + _CHUNK // 2]
                    n = 1 << (len(part) - 1).bit_length()  # a few shapes of statement, each compiled once
                    part += part[-1:] * (n - len(part))
                    values = {f"{x}{j}": v for j, key in enumerate(part) for x, v in zip("li", key, strict=True)}
                    self._nodes.update(((lv, ix), h) for lv, ix, h in conn.execute(_nodes_query(n), values))
        return prove(self.tree(size))

    def _cached(self, level: int, index: int) -> bytes:
        found = self._pending.get((level, index)) or self._nodes.get((level, index))
        if found is None:
            raise _NotCached
        return found

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
        self,
        items: Sequence[tuple[str | bytes, str | None]],
        *,
        log_key: PrivateKey | None = None,
        lock: AbstractContextManager[Any] | None = None,
    ) -> tuple[list[Receipt], Checkpoint | None]:
        """:meth:`submit` for several (payload, submitter) pairs in one transaction (the server's group
        commit); with ``log_key``, a checkpoint that includes them is signed in the same transaction.

        The work is done a group at a time. What needs no lock runs first, outside the transaction:
        every payload decoded, its key looked up (one query), its signature and counts checked. Then,
        holding ``lock`` (the server's writer lock) and the write transaction: the keys read again (a
        sheet whose key was added or revoked meanwhile is checked again), duplicates and conflicts
        looked up (one query each), and every row written with one statement per table. So several
        server processes check signatures in parallel and take turns only to write."""
        raws = [p.encode("utf-8", "surrogateescape") if isinstance(p, str) else p for p, _ in items]
        if self._registry is None:
            with self.store._read() as conn:
                self._read_registry(conn)
        outcomes = self._accepted(raws)
        with lock if lock is not None else contextlib.nullcontext():
            self._pending = {}
            try:
                with self.store.write() as conn:
                    tx = _Tx(conn, self.store)
                    if _keys_version(conn) != self._registry_version:  # a key was added or revoked meanwhile
                        self._read_registry(conn)
                        outcomes = self._accepted(raws)
                    self._catch_up(conn, tx.size)
                    receipts = self._record(tx, raws, [who for _, who in items], outcomes)
                    now_ = dt.datetime.now(dt.UTC)
                    signed = self._sign_checkpoint(conn, log_key, tx.size, now_) if log_key else None
                self._nodes.update(self._pending)
                if self._warm:
                    self._known = tx.size
            finally:
                self._pending = {}
        return receipts, signed

    def warm(self) -> None:
        """Keep every complete-subtree hash of the log in memory from now on, read once here and then
        kept up to date by each write (including other processes' writes): a server's proofs then read
        nothing from disk."""
        self._warm = True
        with self.store._read() as conn:
            self._catch_up(conn, _count(conn))

    def _catch_up(self, conn: Connection, size: int) -> None:
        """Read the nodes of leaves ``[known, size)``, written since this process last looked."""
        if not self._warm or self._known >= size:
            return
        c, first = s.log_nodes.c, self._known
        ranges = [and_(c.level == level, c.idx >= first >> level) for level in range(size.bit_length())]
        for level, idx, h in conn.execute(select(c.level, c.idx, c.hash).where(or_(*ranges))):
            self._nodes[(level, idx)] = h
        self._known = size

    def _read_registry(self, conn: Connection) -> None:
        """Hold the machine key registry in memory, with the version it was read at."""
        c = s.machine_keys.c
        self._registry_version = _keys_version(conn)
        rows = conn.execute(select(c.key_id, c.table_id, c.public, c.revoked_at, c.revoke_reason))
        self._registry = {k: (t, p, r, why) for k, t, p, r, why in rows}

    def _accepted(self, raws: Sequence[bytes]) -> list[_Logged | TallyproofError]:
        """Each payload as the sheet to log, or the error that refuses it, judged against the key
        registry held in memory. A signed sheet must be signed by a registered, unrevoked key bound to
        its table; an unsigned 2024-style QR payload is accepted and marked ``unsigned`` (its counts are
        checked, its origin cannot be)."""
        election = self.store.election()
        found: list[_Logged | SignedSheet | TallyproofError] = []
        for raw in raws:
            try:
                if looks_like_qr(raw.decode("ascii", "replace").strip()):
                    sheet = from_qr(raw, election)
                    found.append(_Logged(sheet, UNSIGNED, to_qr(sheet)))
                else:
                    found.append(SignedSheet.from_text(raw, election))
            except TallyproofError as exc:
                found.append(exc)
        keys = self._registry or {}
        out: list[_Logged | TallyproofError] = []
        for f in found:
            try:
                out.append(
                    _Logged(f.sheet, f.machine, _bound(f, keys.get(f.machine))) if isinstance(f, SignedSheet) else f
                )
            except TallyproofError as exc:
                out.append(exc)
        sound = [i for i, o in enumerate(out) if isinstance(o, _Logged)]
        for i, findings in zip(sound, check_many([out[i].sheet for i in sound], election), strict=True):  # type: ignore[union-attr]
            errors = [f for f in findings if f.severity is Severity.ERROR]
            if errors:
                out[i] = CodecError("; ".join(str(f) for f in errors), where=f"sheet {out[i].sheet.table}")  # type: ignore[union-attr]
        return out

    def _record(
        self,
        tx: _Tx,
        raws: Sequence[bytes],
        submitters: Sequence[str | None],
        outcomes: Sequence[_Logged | TallyproofError],
    ) -> list[Receipt]:
        """Keep every submission, log the new sheets, and say what became of each."""
        hashes = [leaf_hash(o.text.encode("ascii")) if isinstance(o, _Logged) else b"" for o in outcomes]
        logged = [o for o in outcomes if isinstance(o, _Logged)]
        known = _lookup(tx.conn, s.log_entries.c.leaf_hash, s.log_entries.c.idx, [h for h in hashes if h])
        tables = set(
            _lookup(tx.conn, s.log_entries.c.table_id, s.log_entries.c.table_id, [o.sheet.table for o in logged])
        )
        when = now()
        rows: dict[Any, list[dict[str, Any]]] = {
            t: [] for t in (s.batches, s.rejects, s.log_entries, s.log_nodes, s.sheets)
        }
        receipts: list[Receipt] = []
        for raw, who, o, h in zip(raws, submitters, outcomes, hashes, strict=True):
            batch_id = tx.next_batch()
            if not isinstance(o, _Logged):
                rows[s.batches].append(_batch_row(batch_id, raw, who, when, accepted=0, rejected=1))
                rows[s.rejects].append(
                    {
                        "batch_id": batch_id,
                        "line": 1,
                        "table_id": None,
                        "raw": raw.decode("utf-8", "replace"),
                        "reason": str(o),
                    }
                )
                receipts.append(Receipt("rejected", batch_id, reason=str(o)))
                continue
            same = known.get(h)
            rows[s.batches].append(_batch_row(batch_id, raw, who, when, accepted=int(same is None), rejected=0))
            if same is not None:
                receipts.append(Receipt("duplicate", batch_id, index=int(same)))
                continue
            index, conflict = tx.size, o.sheet.table in tables
            rows[s.log_entries].append(
                {
                    "idx": index,
                    "batch_id": batch_id,
                    "table_id": o.sheet.table,
                    "machine": o.machine,
                    "payload": o.text,
                    "leaf_hash": h,
                    "conflict": int(conflict),
                    "logged_at": when,
                }
            )
            rows[s.log_nodes] += self._add_nodes(tx.conn, index, h)
            rows[s.sheets].append(_sheet_row(tx.next_sheet(), batch_id, o.sheet, len(o.text)))
            known[h], tx.size = index, tx.size + 1
            tables.add(o.sheet.table)
            receipts.append(Receipt("logged", batch_id, index=index, conflict=conflict))
        for table, values in rows.items():  # batches first: the others refer to them
            if values:
                tx.conn.execute(insert(table), values)
        return receipts

    def _add_nodes(self, conn: Connection, index: int, h: bytes) -> list[dict[str, Any]]:
        """The rows of the new leaf and of every complete subtree it completes (RFC 9162 §2.1.1's hashing)."""
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
        self._pending.update(new)
        return [{"level": lv, "idx": ix, "hash": v} for (lv, ix), v in new.items()]

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoint(self, key: PrivateKey, *, time: dt.datetime | None = None) -> Checkpoint:
        """Sign and keep a checkpoint of the log as it is now."""
        with self.store.write() as conn:
            size = _count(conn)
            return self._sign_checkpoint(conn, key, size, time or dt.datetime.now(dt.UTC))

    def _sign_checkpoint(self, conn: Connection, key: PrivateKey, size: int, time: dt.datetime) -> Checkpoint:
        cp = Checkpoint.make(self.store.election().id, size, Tree(size, self._complete).root(), key, time)
        known = self._log_public or conn.execute(select(s.meta.c.value).where(s.meta.c.key == "log_public")).scalar()
        if known is None:
            conn.execute(insert(s.meta).values(key="log_public", value=b64(key.public)))
        elif known != b64(key.public):
            raise SignatureError(
                f"this log is signed by key {key_id(unb64(known, where='meta'))}, not {cp.log_key}", where="--log-key"
            )
        conn.execute(insert(s.checkpoints).values(size=size, text=cp.to_text()))
        self._log_public = b64(key.public)  # set once, never changed: no need to read it again
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
        """A copy of the log that anyone can check offline with :func:`tallyproof.official.verify.verify_log`:
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

    def entries(self, start: int = 0, end: int | None = None, *, table: str | None = None) -> list[dict[str, Any]]:
        """Logged sheets with index in ``[start, end)`` (of one table, if given), in log order."""
        c = s.log_entries.c
        q = select(c.idx, c.table_id, c.machine, c.payload, c.conflict, c.logged_at).where(c.idx >= start)
        if end is not None:
            q = q.where(c.idx < end)
        if table is not None:
            q = q.where(c.table_id == table)
        with self.store._read() as conn:
            return [dict(r) for r in conn.execute(q.order_by(c.idx)).mappings()]


def _count(conn: Connection) -> int:
    """The log's size: its leaves are numbered from 0 without gaps, so the last index + 1 (read from the
    primary key's index, where ``count(*)`` would read every row)."""
    last = conn.execute(select(func.max(s.log_entries.c.idx))).scalar()
    return 0 if last is None else int(last) + 1


class _Tx:
    """The write transaction under way: its connection, the log's size, the next free ids."""

    def __init__(self, conn: Connection, store: Store) -> None:
        self.conn = conn
        self.size = _count(conn)
        self._sheet, self._batch = store.next_ids(conn)

    def next_batch(self) -> int:
        self._batch += 1
        return self._batch - 1

    def next_sheet(self) -> int:
        self._sheet += 1
        return self._sheet - 1


@functools.lru_cache(maxsize=64)
def _nodes_query(n: int) -> Select[tuple[int, int, bytes]]:
    """The nodes ``(:l0, :i0) ... (:l{n-1}, :i{n-1})``, each found through the primary key (one statement
    per ``n``, built once)."""
    c = s.log_nodes.c
    pairs = (and_(c.level == bindparam(f"l{j}"), c.idx == bindparam(f"i{j}")) for j in range(n))
    return select(c.level, c.idx, c.hash).where(or_(*pairs))


class _NotCached(Exception):
    """A node that the ledger does not hold in memory."""


_CHUNK = 500
"""Values per ``IN (...)`` query, below SQLite's limit on bound parameters."""


def _lookup(conn: Connection, column: Any, value: Any, wanted: Sequence[Any]) -> dict[Any, Any]:
    """``{column: value}`` of the rows whose ``column`` is one of ``wanted``."""
    unique, out = list(dict.fromkeys(wanted)), dict[Any, Any]()
    for i in range(0, len(unique), _CHUNK):
        out.update((k, v) for k, v in conn.execute(select(column, value).where(column.in_(unique[i : i + _CHUNK]))))
    return out


_KeyRow = tuple[str, bytes, str | None, str | None]
"""A machine key's table, public key, time of revocation and reason."""


def _keys_version(conn: Connection) -> str | None:
    return conn.execute(select(s.meta.c.value).where(s.meta.c.key == "keys_version")).scalar()


def _keys_changed(conn: Connection) -> None:
    """Mark the key registry changed (inside the transaction that changes it), so that every server
    process reads it again before it logs anything more."""
    version = int(_keys_version(conn) or 0) + 1
    conn.execute(delete(s.meta).where(s.meta.c.key == "keys_version"))
    conn.execute(insert(s.meta).values(key="keys_version", value=str(version)))


def _bound(signed: SignedSheet, row: _KeyRow | None) -> str:
    """The sheet's canonical text, once its key is known to be registered, unrevoked and bound to its
    table, and its signature sound; raise :class:`SignatureError` otherwise."""
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
    return signed.to_text()


def _batch_row(
    batch_id: int, raw: bytes, submitter: str | None, received_at: str, *, accepted: int, rejected: int
) -> dict[str, Any]:
    """A transmission, kept as received whatever becomes of it."""
    return {
        "id": batch_id,
        "kind": "signed",
        "source": Source.OFFICIAL,
        "submitter": submitter,
        "received_at": received_at,
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
