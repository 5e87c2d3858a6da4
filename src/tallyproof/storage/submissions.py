"""Witnesses' and observers' submissions: accounts with API tokens, their tables, and what they send.

An account has a name, a role (``witness`` or ``observer``: the source of its copies), the tables it
is assigned to, and an API token that is shown once and stored only as its SHA-256 (tokens are 256
random bits, so a fast hash is enough: there is nothing to guess). An account found acting in bad faith
is *discounted*, with the reason recorded: its submissions stay in the store, as received, and every
count leaves them out (:meth:`Submissions.set_aside`).

A submission is a QR payload, a CSV of copies, or a photo (kept byte for byte with its SHA-256; reading
photos is a separate step, and the payload read from it may come along). Each submission is kept every
time it is received, even when it is rejected or repeats an earlier one; the same copy sent many times,
or by many people, still counts once in every tabulation, and two different copies of a table are a
conflict, shown side by side. A consensus rule can ask that a copy count only once ``n`` different
accounts sent it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from tallyproof.errors import AccessError, InputError, UnknownError
from tallyproof.sheets.sheet import Source
from tallyproof.storage import schema as s
from tallyproof.storage.imports import ImportSummary, import_data
from tallyproof.storage.store import Store, now

__all__ = [
    "PHOTO_TYPES",
    "ROLES",
    "Account",
    "CopyCheck",
    "Submissions",
    "Submitted",
    "check_copy",
    "counted_columns",
    "decode_sheet",
]

ROLES = (Source.WITNESS.value, Source.OBSERVER.value)
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"II*\x00": "image/tiff"}
"""Magic numbers of the photo formats kept as photos (anything else is read as text)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    role: str
    created_at: str
    discounted_at: str | None
    discount_reason: str | None
    tables: tuple[str, ...] = ()


@dataclass(slots=True)
class Submitted:
    """What became of one submission."""

    account: str
    batch_id: int
    photo: str | None = None
    """SHA-256 of the photo, if one was sent."""
    copies: ImportSummary | None = None
    unassigned: list[str] = field(default_factory=list)
    """Tables of accepted copies the account is not assigned to (kept and counted; worth a look)."""


class Submissions:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- accounts ---------------------------------------------------------------------------
    def add_account(self, name: str, role: str, tables: Sequence[str] = ()) -> tuple[Account, str]:
        """A new account and its API token (shown once: only its hash is kept)."""
        if role not in ROLES:
            raise InputError(f"unknown role {role!r}: {' or '.join(ROLES)}", where="--role")
        if not name.strip():
            raise InputError("an account needs a name", where="name")
        token = secrets.token_urlsafe(32)
        with self.store.write() as conn:
            if conn.execute(select(s.accounts.c.id).where(s.accounts.c.name == name)).first() is not None:
                raise InputError("an account of this name exists", where=f"account {name}")
            row = {"name": name, "role": role, "token_hash": _hash(token), "created_at": now()}
            account_id = conn.execute(insert(s.accounts).values(**row)).inserted_primary_key[0]
            self._assign(conn, int(account_id), tables)
        return self.account(name), token

    def assign(self, name: str, tables: Sequence[str]) -> Account:
        account = self.account(name)
        with self.store.write() as conn:
            self._assign(conn, account.id, tables)
        return self.account(name)

    def _assign(self, conn: Any, account_id: int, tables: Sequence[str]) -> None:
        geo = self.store.election().geography
        ids = sorted({geo.table_id(t, where="--table") for t in tables})
        conn.execute(
            delete(s.assignments).where(s.assignments.c.account_id == account_id, s.assignments.c.table_id.in_(ids))
        )
        if ids:
            conn.execute(insert(s.assignments), [{"account_id": account_id, "table_id": t} for t in ids])

    def discount(self, name: str, reason: str) -> Account:
        """Set aside every submission of ``name`` (past and future), recording why."""
        if not reason.strip():
            raise InputError("say why the account is discounted", where="--reason")
        account = self.account(name)
        if account.discounted_at is not None:
            raise InputError(
                f"already discounted at {account.discounted_at} ({account.discount_reason}); the record is kept as it is",
                where=f"account {name}",
            )
        with self.store.write() as conn:
            c = s.accounts.c
            conn.execute(
                update(s.accounts).where(c.id == account.id).values(discounted_at=now(), discount_reason=reason)
            )
        return self.account(name)

    def accounts(self) -> list[Account]:
        return self._accounts()

    def account(self, name: str) -> Account:
        """One account (read alone: every API request looks up its caller's)."""
        found = self._accounts(name)
        if not found:
            raise UnknownError("no such account", where=f"account {name}")
        return found[0]

    def _accounts(self, name: str | None = None) -> list[Account]:
        a, g = s.accounts.c, s.assignments.c
        q = select(a.id, a.name, a.role, a.created_at, a.discounted_at, a.discount_reason).order_by(a.name)
        assigned = select(g.account_id, g.table_id).order_by(g.table_id)
        if name is not None:
            q = q.where(a.name == name)
            assigned = assigned.join_from(s.assignments, s.accounts, g.account_id == a.id).where(a.name == name)
        with self.store._read() as conn:
            tables: dict[int, list[str]] = {}
            for account_id, table in conn.execute(assigned):
                tables.setdefault(account_id, []).append(table)
            rows = conn.execute(q).all()
        return [
            Account(r.id, r.name, r.role, r.created_at, r.discounted_at, r.discount_reason, tuple(tables.get(r.id, [])))
            for r in rows
        ]

    def authenticate(self, token: str) -> Account:
        """The account whose token this is; :class:`SignatureError` if none is."""
        with self.store._read() as conn:
            name = conn.execute(select(s.accounts.c.name).where(s.accounts.c.token_hash == _hash(token))).scalar()
        if name is None:
            raise AccessError("unknown API token", where="Authorization")
        return self.account(name)

    # -- submissions ------------------------------------------------------------------------
    def submit(self, account: Account, data: bytes, *, filename: str, payload: str | None = None) -> Submitted:
        """Keep a submission and read the copies in it (a photo is kept; its ``payload``, if given, is read)."""
        photo = photo_type(data)
        if photo is None:
            summary = self._copies(account, data, filename)
            return Submitted(account.name, summary.batch_id, None, summary, self._unassigned(account, summary))
        batch_id = keep_photo(self.store, data, filename, account.role, account.name)
        if not payload:
            return Submitted(account.name, batch_id, hashlib.sha256(data).hexdigest())
        summary = self._copies(account, payload.encode("utf-8"), filename + ".payload.txt")
        with self.store.write() as conn:
            conn.execute(
                update(s.photos).where(s.photos.c.batch_id == batch_id).values(payload_batch_id=summary.batch_id)
            )
        return Submitted(
            account.name, batch_id, hashlib.sha256(data).hexdigest(), summary, self._unassigned(account, summary)
        )

    def _copies(self, account: Account, data: bytes, filename: str) -> ImportSummary:
        source = Source(account.role)
        try:
            return import_data(
                self.store, data, name=filename, source=source, submitter=account.name, kind="submission"
            )
        except InputError as exc:  # not even a format: kept all the same, with the reason
            reason = (
                "neither a photo (JPEG, PNG, TIFF) nor copies in a format tallyproof reads "
                "(QR payloads, signed sheets, CSV, JSON Lines)"
                if "cannot tell the format" in exc.message
                else str(exc)
            )
            return self._refused(account, data, filename, reason)

    def _refused(self, account: Account, data: bytes, filename: str, reason: str) -> ImportSummary:
        with self.store.write() as conn:
            _, batch_id = self.store.next_ids(conn)
            row = batch_row(batch_id, "submission", account.role, account.name, data, filename, "unknown")
            row["n_rejected"] = 1
            conn.execute(insert(s.batches).values(**row))
            conn.execute(
                insert(s.rejects).values(
                    batch_id=batch_id, line=1, table_id=None, raw=data.decode("utf-8", "replace"), reason=reason
                )
            )
        summary = ImportSummary(filename, "unknown", "unknown", batch_id=batch_id)
        summary.rejected, summary.problems = 1, [(1, reason)]
        return summary

    def _unassigned(self, account: Account, summary: ImportSummary) -> list[str]:
        if not account.tables:
            return []
        with self.store._read() as conn:
            tables = conn.execute(select(s.sheets.c.table_id).where(s.sheets.c.batch_id == summary.batch_id)).scalars()
            return sorted(set(tables) - set(account.tables))

    # -- what counts ------------------------------------------------------------------------
    def set_aside(self, consensus: int = 1) -> np.ndarray:
        """Ids of the witness and observer copies that do not count: those of discounted accounts, and
        (with ``consensus`` > 1) copies that fewer than ``consensus`` different accounts sent, identically."""
        if consensus < 1:
            raise InputError("a consensus of at least 1 account", where="--consensus")
        with self.store._read() as conn:
            discounted = list(
                conn.execute(select(s.accounts.c.name).where(s.accounts.c.discounted_at.is_not(None))).scalars()
            )
            if consensus == 1 and not discounted:
                return np.zeros(0, dtype=np.int64)
            discounted = discounted or [
                "\x00"
            ]  # no account is named so: matches nobody (NULL would match nothing either way)
            sql = _SET_ASIDE.format(names=",".join("?" * len(discounted)))
            ids = conn.exec_driver_sql(sql, (*discounted, *discounted, consensus)).scalars().all()
        return np.asarray(sorted(ids), dtype=np.int64)

    def counts(self) -> dict[str, int]:
        with self.store._read() as conn:
            photos = conn.execute(select(func.count()).select_from(s.photos)).scalar() or 0
            subs = conn.execute(
                select(func.count()).select_from(s.batches).where(s.batches.c.kind == "submission")
            ).scalar()
        return {"submissions": int(subs or 0), "photos": int(photos)}


_PEOPLE = "FROM sheets sh JOIN batches b ON sh.batch_id = b.id WHERE b.source IN ('witness', 'observer')"
_SET_ASIDE = (
    "SELECT sh.id " + _PEOPLE + " AND (b.submitter IN ({names}) OR (sh.table_id, sh.digest) IN ("
    "SELECT sh.table_id, sh.digest " + _PEOPLE + " AND coalesce(b.submitter, '') NOT IN ({names}) "
    "GROUP BY 1, 2 HAVING count(DISTINCT coalesce(b.submitter, 'batch ' || b.id)) < ?))"
)
"""Copies of discounted accounts, and copies fewer than ``?`` counted accounts sent identically."""


def photo_type(data: bytes) -> str | None:
    """The media type of a photo format tallyproof keeps as a photo, or ``None``."""
    return next((kind for magic, kind in PHOTO_TYPES.items() if data.startswith(magic)), None)


def batch_row(
    batch_id: int, kind: str, source: str, submitter: str | None, data: bytes, filename: str, fmt: str
) -> dict[str, Any]:
    """A submission's batch row: what was received, byte for byte, from whom and when."""
    return {
        "id": batch_id,
        "kind": kind,
        "source": source,
        "submitter": submitter,
        "received_at": now(),
        "filename": filename,
        "format": fmt,
        "encoding": "binary",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "raw": data,
        "n_accepted": 0,
        "n_rejected": 0,
    }


def keep_photo(store: Store, data: bytes, filename: str, source: str, submitter: str | None) -> int:
    """Keep a photo as received (a batch of kind ``photo``); returns its batch id."""
    media = photo_type(data) or "image"
    with store.write() as conn:
        _, batch_id = store.next_ids(conn)
        conn.execute(insert(s.batches).values(**batch_row(batch_id, "photo", source, submitter, data, filename, media)))
        conn.execute(insert(s.photos).values(batch_id=batch_id, media_type=media))
    return batch_id


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CopyCheck:
    """ "Check my copy": a witness's sheet against the published official sheet of its table."""

    table: str
    status: str
    """``match``, ``mismatch`` or ``no-official`` (nothing published for this table yet)."""
    differences: tuple[tuple[str, int, int], ...]
    """``(field, your copy, official)`` where they differ."""
    official: str | None
    """The official sheet as published (the log's leaf, or the official copy's text)."""
    leaf: int | None
    """Its index in the log, when it was published there."""
    proof: tuple[str, ...]
    """Its inclusion proof (hex) against ``checkpoint``."""
    checkpoint: str | None
    submission: int
    """The batch that recorded this check."""
    in_registry: bool | None = None
    """Whether the registry lists the copy's table (``None``: no registry)."""


def decode_sheet(payload: str, election: Any) -> Any:
    """A QR payload or a signed sheet, decoded (:class:`~tallyproof.errors.CodecError` names the field)."""
    from tallyproof.errors import CodecError
    from tallyproof.sheets.qr import from_qr, looks_like_qr
    from tallyproof.sheets.signed import SignedSheet, looks_signed

    text = payload.strip()
    if looks_like_qr(text):
        return from_qr(text, election)
    if looks_signed(text):
        return SignedSheet.from_text(text, election).sheet
    raise CodecError(
        "not the QR payload of an acta (acta id!38 counts!null!blank) nor a signed sheet (TP1|…)", where="payload"
    )


def check_copy(store: Store, account: Account, payload: str) -> CopyCheck:
    """Compare a copy with its table's published official sheet, card by card, with the sheet's proof of
    publication; the check is recorded as the account's submission (a refused one too, with its reason)."""
    from tallyproof.independent.reconcile import sheet_differences
    from tallyproof.storage.ledger import Ledger

    election, subs = store.election(), Submissions(store)
    data = payload.encode("utf-8")
    try:
        if "\n" in payload.strip():
            raise InputError("one QR payload per check (this text has several lines)", where="payload")
        copy = decode_sheet(payload, election)
    except InputError as exc:
        subs._refused(account, data, "(check my copy)", str(exc))
        raise
    recorded = subs.submit(account, data, filename="(check my copy)")
    ledger = Ledger(store)
    entries = ledger.entries(table=copy.table)
    official = [(decode_sheet(e["payload"], election), e["payload"], e["idx"]) for e in entries] or [
        (c.sheet, c.raw, None) for c in store.copies(copy.table) if c.source == Source.OFFICIAL
    ]
    if not official:
        tables = store.registry_columns().tables
        listed = None if tables.size == 0 else bool((tables == copy.table).any())
        return CopyCheck(copy.table, "no-official", (), None, None, (), None, recorded.batch_id, listed)
    sheet, text, leaf = official[-1]
    differences = tuple(sheet_differences(copy, sheet, election))
    checkpoint, proof = _proof(ledger, leaf)
    status = "mismatch" if differences else "match"
    return CopyCheck(copy.table, status, differences, text, leaf, proof, checkpoint, recorded.batch_id)


def _proof(ledger: Any, leaf: int | None) -> tuple[str | None, tuple[str, ...]]:
    """The latest checkpoint that covers ``leaf``, and the leaf's inclusion proof against it."""
    if leaf is None:
        return None, ()
    covering = [c for c in ledger.checkpoints() if c.size > leaf]
    if not covering:
        return None, ()
    latest = covering[-1]
    return latest.to_text(), tuple(h.hex() for h in ledger.inclusion_proof(leaf, latest.size))


def counted_columns(
    store: Store, sources: Sequence[str] | None = None, *, consensus: int = 1, cards: bool = False
) -> Any:
    """:meth:`Store.columns` without the copies :meth:`Submissions.set_aside` leaves out."""
    cols = store.columns(sources, cards=cards)
    aside = Submissions(store).set_aside(consensus)
    return cols if aside.size == 0 else cols.take(np.flatnonzero(~np.isin(cols.ids, aside)))
