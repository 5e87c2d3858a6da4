"""``create_app(store, log_key)``: the central server's routes, thin over :class:`~tallyproof.storage.ledger.Ledger`.

Machines ``POST /v1/sheets`` a signed sheet as plain text; the answer says whether it was logged (or
already was), its leaf index, the inclusion proof and a signed checkpoint of the log that contains
it. Everything else is read-only and public: the election, the key registry, the leaves, the
checkpoints, consistency proofs, a table's sheets with their proofs, and a page per table. Every
:class:`~tallyproof.errors.TallyproofError` becomes a JSON error with its ``http_status``.
"""

from __future__ import annotations

import asyncio
import html
import os
import queue
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from tallyproof.errors import InputError, TallyproofError, UnknownError
from tallyproof.ledger.checkpoint import Checkpoint
from tallyproof.signing import PrivateKey, b64
from tallyproof.storage.ledger import Ledger, Receipt
from tallyproof.storage.store import Store

__all__ = ["app_from_environment", "create_app"]


def app_from_environment() -> FastAPI:
    """The app of one server worker process, configured by ``tallyproof serve`` through the environment
    (``TALLYPROOF_DB``, ``TALLYPROOF_LOG_KEY``): several workers share the store, SQLite serialising
    their commits, and check signatures on all cores."""
    db, key = os.environ.get("TALLYPROOF_DB"), os.environ.get("TALLYPROOF_LOG_KEY")
    if not db or not key:
        raise InputError("set TALLYPROOF_DB and TALLYPROOF_LOG_KEY", where="environment")
    text = Path(key).read_text(encoding="ascii")
    return create_app(Store.sqlite(db, server=True), PrivateKey.from_text(text, where=key))


def create_app(store: Store, log_key: PrivateKey) -> FastAPI:
    ledger = Ledger(store)
    app = FastAPI(title="tallyproof", description="Signed tally sheets in an append-only, verifiable log (RFC 9162).")

    @app.exception_handler(TallyproofError)
    def _error(_request: Request, exc: TallyproofError) -> JSONResponse:
        body = {"error": exc.message, "where": exc.where, "kind": type(exc).__name__}
        return JSONResponse(body, status_code=exc.http_status)

    _transmission_routes(app, ledger, log_key)
    _log_routes(app, ledger, log_key)
    _table_routes(app, ledger)
    return app


class _GroupCommit:
    """One writer thread: transmissions that arrive together are checked, logged and covered by one
    signed checkpoint in a single transaction, so the log keeps up with thousands of machines."""

    def __init__(self, ledger: Ledger, log_key: PrivateKey, most: int = 512) -> None:
        self.ledger, self.log_key, self.most = ledger, log_key, most
        self.queue: queue.Queue[tuple[bytes, str | None, Future[tuple[Receipt, Checkpoint | None]]]] = queue.Queue()
        threading.Thread(target=self._run, name="tallyproof-writer", daemon=True).start()

    def submit(self, body: bytes, submitter: str | None) -> Future[tuple[Receipt, Checkpoint | None]]:
        done: Future[tuple[Receipt, Checkpoint | None]] = Future()
        self.queue.put((body, submitter, done))
        return done

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < self.most and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                receipts, checkpoint = self.ledger.submit_many([(b, who) for b, who, _ in batch], log_key=self.log_key)
            except Exception as exc:  # the transaction rolled back: nothing of this batch was logged
                for *_, done in batch:
                    done.set_exception(exc)
                continue
            for (*_, done), receipt in zip(batch, receipts, strict=True):
                done.set_result((receipt, checkpoint))


def _transmission_routes(app: FastAPI, ledger: Ledger, log_key: PrivateKey) -> None:
    writer = _GroupCommit(ledger, log_key)

    @app.post("/v1/sheets", summary="Transmit one signed sheet (text/plain body)")
    async def submit(request: Request) -> JSONResponse:
        body = await request.body()
        receipt, checkpoint = await asyncio.wrap_future(
            writer.submit(body, request.client.host if request.client else None)
        )
        if receipt.status == "rejected" or checkpoint is None:
            return JSONResponse(
                {"status": "rejected", "reason": receipt.reason, "submission": receipt.batch_id}, status_code=422
            )
        proof = ledger.tree(checkpoint.size).inclusion_proof(receipt.index or 0)
        answer = {
            "status": receipt.status,
            "index": receipt.index,
            "conflict": receipt.conflict,
            "submission": receipt.batch_id,
            "proof": [h.hex() for h in proof],
            "checkpoint": checkpoint.to_text(),
        }
        return JSONResponse(answer, status_code=201 if receipt.status == "logged" else 200)


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
            "proof": [h.hex() for h in ledger.tree(second).consistency_proof(first)],
        }


def _table_routes(app: FastAPI, ledger: Ledger) -> None:
    @app.get("/v1/tables/{table}", summary="A table's logged sheets, each with its inclusion proof")
    def table(table: str) -> dict[str, Any]:
        return _table(ledger, table)

    @app.get("/table/{table}", response_class=HTMLResponse, summary="A table's page for citizens")
    def table_page(table: str) -> str:
        return _page(_table(ledger, table))


def _table(ledger: Ledger, table: str) -> dict[str, Any]:
    store = ledger.store
    table = store.election().geography.table_id(table, where="table")
    size = ledger.size()
    tree = ledger.tree(size)
    rows = [e for e in ledger.entries() if e["table_id"] == table]
    if not rows:
        raise UnknownError("no signed sheet of this table is in the log", where=f"table {table}")
    copies = {c.raw: c for c in store.copies(table) if c.source == "official"}
    return {
        "table": table,
        "size": size,
        "root": tree.root().hex(),
        "sheets": [
            {
                "index": e["idx"],
                "payload": e["payload"],
                "conflict": bool(e["conflict"]),
                "logged_at": e["logged_at"],
                "proof": [h.hex() for h in tree.inclusion_proof(e["idx"])],
                "candidates": _votes(store, copies.get(e["payload"])),
            }
            for e in rows
        ],
    }


def _votes(store: Store, copy: Any) -> dict[str, int] | None:
    if copy is None:
        return None
    return {c.name: v for c, v in zip(store.election().candidates, copy.sheet.candidates, strict=True)}


def _page(data: dict[str, Any]) -> str:
    """A plain page (no script, no CDN): the table's result, where it is in the log, and its proof."""
    parts = [f"<h1>Table {html.escape(data['table'])}</h1>"]
    for s in data["sheets"]:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>" for k, v in (s["candidates"] or {}).items())
        warning = (
            "<p><strong>Another, different sheet of this table is also in the log.</strong></p>"
            if s["conflict"]
            else ""
        )
        parts.append(
            f"<h2>Leaf {s['index']} of {data['size']}</h2>{warning}<table>{rows}</table>"
            f"<p>Signed sheet as published:</p><pre>{html.escape(s['payload'])}</pre>"
            f"<p>Log root <code>{data['root']}</code>; inclusion proof:</p><pre>{html.escape(chr(10).join(s['proof']))}</pre>"
        )
    style = "body{font-family:sans-serif;max-width:50em;margin:2em auto}pre{white-space:pre-wrap;word-break:break-all}td{padding:0 1em}"
    return f"<!doctype html><html lang=en><meta charset=utf-8><title>Table {html.escape(data['table'])}</title><style>{style}</style><body>{''.join(parts)}</body></html>"
