"""``create_app(store, log_key)``: the central server's routes, thin over :class:`~tallyproof.storage.ledger.Ledger`.

Machines ``POST /v1/sheets`` a signed sheet as plain text; the answer says whether it was logged (or
already was), its leaf index, the inclusion proof and a signed checkpoint of the log that contains
it. Everything else is read-only and public: the election, the key registry, the leaves, the
checkpoints, consistency proofs, a table's sheets with their proofs, and a page per table. Every
:class:`~tallyproof.errors.TallyproofError` becomes a JSON error with its ``http_status``.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import queue
import threading
import time
import urllib.parse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from tallyproof.errors import AccessError, CodecError, InputError, TallyproofError, UnknownError
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.photos.fields import payload as transcription
from tallyproof.photos.read import MAX_BYTES as MAX_PHOTO
from tallyproof.signing import PrivateKey, b64
from tallyproof.storage.ledger import Ledger, Receipt
from tallyproof.storage.photos import ReviewQueue
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import Account, Submissions, check_copy
from tallyproof.web.pages import check_page, review_list_page, review_page, table_page

__all__ = ["app_from_environment", "create_app"]


def app_from_environment() -> _FastPath:
    """The app of one server worker process, configured by ``tallyproof serve`` through the environment
    (``TALLYPROOF_DB``, ``TALLYPROOF_LOG_KEY``): several workers share the store, SQLite serialising
    their commits, and check signatures on all cores."""
    db, key = os.environ.get("TALLYPROOF_DB"), os.environ.get("TALLYPROOF_LOG_KEY")
    if not db or not key:
        raise InputError("set TALLYPROOF_DB and TALLYPROOF_LOG_KEY", where="environment")
    text = Path(key).read_text(encoding="ascii")
    return create_app(Store.sqlite(db, server=True), PrivateKey.from_text(text, where=key))


def create_app(store: Store, log_key: PrivateKey) -> _FastPath:
    ledger = Ledger(store)
    ledger.warm()
    transmissions = _Transmissions(ledger, log_key)
    app = FastAPI(title="tallyproof", description="Signed tally sheets in an append-only, verifiable log (RFC 9162).")

    @app.exception_handler(TallyproofError)
    def _error(_request: Request, exc: TallyproofError) -> JSONResponse:
        body = {"error": exc.message, "where": exc.where, "kind": type(exc).__name__}
        return JSONResponse(body, status_code=exc.http_status)

    _transmission_routes(app, transmissions)
    _log_routes(app, ledger, log_key)
    _table_routes(app, ledger)
    _witness_routes(app, store)
    _review_routes(app, store)
    return _FastPath(app, transmissions)


class _WriterLock:
    """An exclusive lock on a file beside the store, held by one server process at a time while it
    writes. SQLite serialises writers too, but a waiting process polls with sleeps of up to 100 ms;
    ``flock`` wakes the next writer the moment the lock is free."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a+b")  # held for the life of the process

    def __enter__(self) -> None:
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)


GATHER = 0.005
"""Seconds the writer may keep gathering transmissions into one transaction (see ``_GroupCommit._gather``)."""


class _GroupCommit:
    """One writer thread: transmissions that arrive together are checked, logged and covered by one
    signed checkpoint in a single transaction, so the log keeps up with thousands of machines."""

    def __init__(self, ledger: Ledger, log_key: PrivateKey, most: int = 512) -> None:
        self.ledger, self.log_key, self.most = ledger, log_key, most
        self.lock = _WriterLock(ledger.store.where + ".writer-lock")
        self.queue: queue.Queue[_Queued] = queue.Queue()
        threading.Thread(target=self._run, name="tallyproof-writer", daemon=True).start()

    def submit(self, body: bytes, submitter: str | None) -> asyncio.Future[_Outcome]:
        """Queue a transmission; the future is settled on the caller's event loop."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[_Outcome] = loop.create_future()
        self.queue.put((body, submitter, loop, done))
        return done

    def _gather(self) -> list[_Queued]:
        """The next group: what is queued, and what keeps arriving, a millisecond at a time, for up to
        :data:`GATHER` seconds. Under load a transaction then carries dozens of sheets and they share its
        fixed costs (lookups, the checkpoint's signature, the commit); a lone sheet waits 1 ms more."""
        batch = [self.queue.get()]
        deadline = time.monotonic() + GATHER
        while len(batch) < self.most:
            while len(batch) < self.most and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            if time.monotonic() >= deadline:
                break
            before = len(batch)
            time.sleep(0.001)
            if self.queue.empty() and len(batch) == before:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._gather()
            outcomes: list[_Outcome | BaseException]
            try:
                receipts, checkpoint = self.ledger.submit_many(
                    [(body, who) for body, who, *_ in batch], log_key=self.log_key, lock=self.lock
                )
                outcomes = [(receipt, checkpoint) for receipt in receipts]
            except Exception as exc:  # the transaction rolled back: nothing of this batch was logged
                outcomes = [exc] * len(batch)
            loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[_Outcome], _Outcome | BaseException]]] = {}
            for (*_, loop, done), outcome in zip(batch, outcomes, strict=True):
                loops.setdefault(loop, []).append((done, outcome))
            for loop, settled in loops.items():  # one wake-up of each event loop per group, not one per sheet
                loop.call_soon_threadsafe(_settle, settled)


_Outcome = tuple[Receipt, Checkpoint | None]
_Queued = tuple[bytes, str | None, asyncio.AbstractEventLoop, asyncio.Future[_Outcome]]


def _settle(settled: list[tuple[asyncio.Future[_Outcome], _Outcome | BaseException]]) -> None:
    for done, outcome in settled:
        if done.cancelled():  # the machine hung up; its sheet is logged all the same
            continue
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


MAX_BODY = 64 * 1024
"""Bytes a transmission may have: a signed sheet of 38 cards has about 400."""


class _Transmissions:
    """``POST /v1/sheets``: queue the sheet for the writer, and answer with its leaf, inclusion proof
    and the signed checkpoint that covers it (or why it was refused)."""

    def __init__(self, ledger: Ledger, log_key: PrivateKey) -> None:
        self.ledger, self.writer = ledger, _GroupCommit(ledger, log_key)

    async def answer(self, body: bytes, submitter: str | None) -> tuple[int, dict[str, Any]]:
        if len(body) > MAX_BODY:
            return 413, {"error": f"a transmission has at most {MAX_BODY} bytes", "where": "body", "kind": "InputError"}
        try:
            receipt, checkpoint = await self.writer.submit(body, submitter)
        except TallyproofError as exc:
            return exc.http_status, {"error": exc.message, "where": exc.where, "kind": type(exc).__name__}
        if receipt.status == "rejected" or checkpoint is None:
            return 422, {"status": "rejected", "reason": receipt.reason, "submission": receipt.batch_id}
        proof = self.ledger.inclusion_proof(receipt.index or 0, checkpoint.size)
        answer = {
            "status": receipt.status,
            "index": receipt.index,
            "conflict": receipt.conflict,
            "submission": receipt.batch_id,
            "proof": [h.hex() for h in proof],
            "checkpoint": checkpoint.to_text(),
        }
        return (201 if receipt.status == "logged" else 200), answer


class _FastPath:
    """The ASGI app in front of FastAPI: machines' transmissions, the one route under load, are read and
    answered here directly (a third of the request's cost was the framework's layers); every other
    request, and the documentation of this one, goes to FastAPI."""

    def __init__(self, app: FastAPI, transmissions: _Transmissions) -> None:
        self.app, self.transmissions = app, transmissions

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/sheets":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more and len(body) <= MAX_BODY:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        client = scope.get("client")
        status, answer = await self.transmissions.answer(body, client[0] if client else None)
        data = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _transmission_routes(app: FastAPI, transmissions: _Transmissions) -> None:
    @app.post("/v1/sheets", summary="Transmit one signed sheet (text/plain body)")
    async def submit(request: Request) -> JSONResponse:
        """Answered by the fast path in front of the app; this route documents it (and answers the same
        way if the app is mounted without it)."""
        status, answer = await transmissions.answer(
            await request.body(), request.client.host if request.client else None
        )
        return JSONResponse(answer, status_code=status)


def _log_routes(app: FastAPI, ledger: Ledger, log_key: PrivateKey) -> None:
    store = ledger.store

    @app.get("/v1/election", response_class=PlainTextResponse, summary="The election definition (TOML)")
    def election() -> str:
        return store.election().source_text

    @app.get("/v1/log.pub", response_class=PlainTextResponse, summary="The log's public key (base64url)")
    def log_public() -> str:
        return b64(log_key.public) + "\n"

    @app.get("/v1/keys", summary="The machine key registry")
    def keys() -> list[dict[str, Any]]:
        return [
            {"key_id": k.key_id, "table": k.table, "public": b64(k.public), "revoked_at": k.revoked_at}
            for k in ledger.keys()
        ]

    @app.get("/v1/leaves", summary="Logged sheets, in log order (bulk download)")
    def leaves(start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        return [{"index": e["idx"], "payload": e["payload"]} for e in ledger.entries(start, end)]

    @app.get("/v1/checkpoints", response_class=PlainTextResponse, summary="Every checkpoint, oldest first")
    def checkpoints() -> str:
        return "\n".join(c.to_text() for c in ledger.checkpoints())

    @app.get("/v1/bulletins", response_class=PlainTextResponse, summary="Every bulletin announced, one JSON a line")
    def bulletins() -> str:
        return "".join(b.to_text() + "\n" for b in ledger.bulletins())

    @app.get("/v1/consistency", summary="Consistency proof between two sizes of the log")
    def consistency(first: int, second: int) -> dict[str, Any]:
        if not 0 <= first <= second <= ledger.size():
            raise InputError(f"need 0 <= first <= second <= {ledger.size()}", where="first, second")
        return {
            "first": first,
            "second": second,
            "proof": [h.hex() for h in ledger.consistency_proof(first, second)],
        }


def _table_routes(app: FastAPI, ledger: Ledger) -> None:
    @app.get("/v1/tables/{table}", summary="A table's logged sheets, each with its inclusion proof")
    def table(table: str) -> dict[str, Any]:
        return _table(ledger, table)

    @app.get("/table/{table}", response_class=HTMLResponse, summary="A table's page for citizens")
    def table_html(table: str) -> str:
        return table_page(_table(ledger, table))


def _table(ledger: Ledger, table: str) -> dict[str, Any]:
    store = ledger.store
    table = store.election().geography.table_id(table, where="table")
    size = ledger.size()
    rows = ledger.entries(0, size, table=table)
    if not rows:
        raise UnknownError("no signed sheet of this table is in the log", where=f"table {table}")
    copies = {c.raw: c for c in store.copies(table) if c.source == "official"}
    return {
        "table": table,
        "size": size,
        "root": ledger.root(size).hex(),
        "sheets": [
            {
                "index": e["idx"],
                "payload": e["payload"],
                "conflict": bool(e["conflict"]),
                "logged_at": e["logged_at"],
                "proof": [h.hex() for h in ledger.inclusion_proof(e["idx"], size)],
                "candidates": _votes(store, copies.get(e["payload"])),
            }
            for e in rows
        ],
    }


def _votes(store: Store, copy: Any) -> dict[str, int] | None:
    if copy is None:
        return None
    return {c.name: v for c, v in zip(store.election().candidates, copy.sheet.candidates, strict=True)}


async def _body(request: Request, limit: int) -> bytes | None:
    """The request's body, or ``None`` once it passes ``limit`` bytes (nothing more is read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"at most {limit:,} bytes", "where": "body", "kind": "InputError"}, status_code=413)


def _account(subs: Submissions, request: Request) -> Account:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AccessError("send your API token as 'Authorization: Bearer TOKEN'", where="Authorization")
    return subs.authenticate(token.strip())


def _witness_routes(app: FastAPI, store: Store) -> None:
    subs = Submissions(store)

    @app.post("/v1/copies", summary="Submit copies (QR payload, CSV) or a photo (JPEG/PNG/TIFF body) as a witness")
    async def copies(request: Request, filename: str = "(upload)") -> Any:
        """The body as received (at most 50 MB); with a photo, its QR payload (if read) in the
        ``Tallyproof-Payload`` header."""
        account = _account(subs, request)
        body = await _body(request, MAX_PHOTO)
        if body is None:
            return _too_large(MAX_PHOTO)
        done = subs.submit(account, body, filename=filename, payload=request.headers.get("tallyproof-payload"))
        return asdict(done)

    @app.post("/v1/check", summary="Check my copy: a QR payload against the published official sheet")
    async def check(request: Request) -> Any:
        account = _account(subs, request)
        body = await _body(request, MAX_BODY)
        if body is None:
            return _too_large(MAX_BODY)
        return asdict(check_copy(store, account, body.decode("utf-8", "replace")))

    @app.get("/check", response_class=HTMLResponse, summary="Check my copy (a page for phones)")
    def check_form() -> str:
        return check_page()

    @app.post("/check", response_class=HTMLResponse, include_in_schema=False)
    async def check_submit(request: Request) -> HTMLResponse:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        token, payload = form.get("token", [""])[0].strip(), form.get("payload", [""])[0]
        try:
            result = check_copy(store, subs.authenticate(token), payload)
        except TallyproofError as exc:
            return HTMLResponse(check_page(error=str(exc), payload=payload), status_code=exc.http_status)
        return HTMLResponse(check_page(result=result, payload=payload))


async def _form(request: Request) -> dict[str, str]:
    body = await _body(request, MAX_BODY)
    fields = urllib.parse.parse_qs((body or b"").decode("utf-8", "replace"))
    return {k: v[0] for k, v in fields.items()}


def _review_routes(app: FastAPI, store: Store) -> None:
    """The review queue for people (any account's token): the photos show poll workers' names and
    signatures, so nothing here is served without a token."""
    subs, queue = Submissions(store), ReviewQueue(store)

    def listing(token: str, error: str | None = None) -> str:
        return review_list_page(token, [(r.id, r.filename, r.reason) for r in queue.reviews()], error=error)

    @app.get("/review", response_class=HTMLResponse, summary="Photos to review (asks for your token)")
    def review_home() -> str:
        return listing("")

    @app.post("/review", response_class=HTMLResponse, include_in_schema=False)
    async def review_queue(request: Request) -> HTMLResponse:
        token = (await _form(request)).get("token", "")
        try:
            subs.authenticate(token)
        except TallyproofError as exc:
            return HTMLResponse(listing("", str(exc)), status_code=exc.http_status)
        return HTMLResponse(listing(token))

    @app.post("/review/{review_id}", response_class=HTMLResponse, include_in_schema=False)
    async def review_one(review_id: int, request: Request) -> HTMLResponse:
        token = (await _form(request)).get("token", "")
        try:
            subs.authenticate(token)
            return HTMLResponse(review_page(token, queue.form(review_id)))
        except TallyproofError as exc:
            return HTMLResponse(listing("", str(exc)), status_code=exc.http_status)

    @app.post("/review/{review_id}/enter", response_class=HTMLResponse, include_in_schema=False)
    async def review_enter(review_id: int, request: Request) -> HTMLResponse:
        form = await _form(request)
        try:
            account = subs.authenticate(form.get("token", ""))
            try:
                decided = queue.enter(review_id, account.name, transcription(form, store.election()))
            except CodecError as exc:  # a field mistyped: the form again, as typed, with what is wrong
                page = review_page(form["token"], queue.form(review_id), said=str(exc), values=form)
                return HTMLResponse(page, status_code=exc.http_status)
        except TallyproofError as exc:
            return HTMLResponse(listing(form.get("token", ""), str(exc)), status_code=exc.http_status)
        said = {
            "open": "Recorded: a second reviewer must enter it too.",
            "third": "Recorded: it does not agree with the other entry; a third reviewer decides.",
            "agreed": "Recorded: two reviewers agree; the copy is counted.",
        }
        return HTMLResponse(listing(form["token"], said[decided.status]))
