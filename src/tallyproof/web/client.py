"""Talking to a tallyproof server: transmitting signed sheets, and mirroring its log for verify-log."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tallyproof.errors import InputError
from tallyproof.official.mirror import write_copy

__all__ = ["mirror", "transmit"]


def _get(client: httpx.Client, path: str) -> httpx.Response:
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        raise InputError(f"cannot reach the server: {exc}", where=str(client.base_url) + path) from None
    if response.status_code != 200:
        raise InputError(
            f"the server answered {response.status_code}: {response.text[:200]}", where=str(client.base_url) + path
        )
    return response


def mirror(url: str, folder: Path, *, timeout: float = 60.0) -> dict[str, Path]:
    """Copy a server's log into ``folder`` in the format of ``tallyproof log export``.

    Files already there are replaced: the copy is checked as a whole by ``verify-log``, which compares
    the server's checkpoints with the tree of the leaves it served."""
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as client:
        election = _get(client, "/v1/election").text
        keys = _get(client, "/v1/keys").json()
        leaves = _get(client, "/v1/leaves").json()
        checkpoints = _get(client, "/v1/checkpoints").text
        bulletins = _get(client, "/v1/bulletins").text
        public = _get(client, "/v1/log.pub").text
    return write_copy(
        folder,
        election=election,
        keys=[(k["key_id"], k["table"], k["public"], k["revoked_at"]) for k in keys],
        leaves=[(e["index"], e["payload"]) for e in leaves],
        checkpoints=checkpoints,
        bulletins=bulletins,
        log_public=public,
    )


def transmit(
    url: str,
    payloads: list[str],
    *,
    parallel: int = 32,
    timeout: float = 30.0,
    attempts: int = 3,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, int]:
    """Send signed sheets to a server as machines would (``parallel`` at a time); count the answers.

    A sheet whose transmission gets no answer (the connection dropped, a timeout) is sent again, up to
    ``attempts`` times in all, as a machine would: sending a sheet twice is harmless (the second is
    answered as a duplicate of the first). Returns how many were ``logged``, ``duplicate`` (already in
    the log), ``rejected`` (422, with the server's reason kept there) and ``failed`` (no answer)."""
    counts = {"logged": 0, "duplicate": 0, "rejected": 0, "failed": 0}
    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, limits=limits, transport=transport) as client:

        def post(payload: str) -> httpx.Response | None:
            for attempt in range(attempts):
                try:
                    body = payload.encode("ascii", "replace")
                    return client.post("/v1/sheets", content=body, headers={"Content-Type": "text/plain"})
                except httpx.TransportError:
                    time.sleep(0.1 * 2**attempt)
            return None

        def send(payload: str) -> str:
            answer = post(payload)
            if answer is None:
                return "failed"
            if answer.status_code == 422:
                return "rejected"
            return str(answer.json().get("status", "failed")) if answer.status_code in (200, 201) else "failed"

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for status in pool.map(send, payloads):
                counts[status] = counts.get(status, 0) + 1
    return counts
