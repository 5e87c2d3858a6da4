"""The central server, run for real as a separate process on localhost: transmission, proofs, mirror,
verification, the public page, and durability when the process is killed mid-stream."""

from __future__ import annotations

import html
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tallyproof.election import load_election
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.official.merkle import leaf_hash, verify_inclusion
from tallyproof.official.mirror import read_copy
from tallyproof.signing import PrivateKey, unb64
from tallyproof.simulation.election import simulate
from tallyproof.simulation.machines import signed_sheets
from tallyproof.storage.ledger import Ledger
from tallyproof.storage.store import Store
from tallyproof.web.client import mirror, transmit

VE2024 = load_election("ve2024")


@dataclass
class Server:
    url: str
    db: Path
    log_key: Path
    payloads: list[str]
    process: subprocess.Popen[bytes] | None = None
    workers: int = 1

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        command = [
            sys.executable,
            "-m",
            "tallyproof",
            "serve",
            "--db",
            str(self.db),
            "--log-key",
            str(self.log_key),
            "--port",
            port,
            "--workers",
            str(self.workers),
        ]
        log = self.db.with_suffix(".log")
        with log.open("ab") as errors:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/v1/log.pub", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(
            f"the server did not start: {self.process.stderr.read().decode() if self.process.stderr else ''}"
        )

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=[1])
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    sim = simulate(VE2024, tables=60, seed=11)
    db = tmp_path / "central.db"
    store = Store.sqlite(db, create=True)
    store.init(VE2024)
    ledger = Ledger(store)
    payloads = []
    for table, key, sheet in signed_sheets(sim):
        ledger.add_key(key.public, table)
        payloads.append(sheet.to_text())
    log_key = tmp_path / "log.key"
    log_key.write_text(PrivateKey.generate().to_text() + "\n")
    srv = Server(f"http://127.0.0.1:{free_port()}", db, log_key, payloads, workers=request.param)
    srv.start()
    yield srv
    srv.kill()


def test_transmit_prove_mirror_and_verify(server: Server, tmp_path: Path) -> None:
    public = unb64(httpx.get(server.url + "/v1/log.pub").text.strip(), where="log.pub")
    with httpx.Client(base_url=server.url) as client:
        for i, payload in enumerate(server.payloads[:20]):
            answer = client.post("/v1/sheets", content=payload)
            assert answer.status_code == 201, answer.text
            body = answer.json()
            checkpoint = Checkpoint.from_text(body["checkpoint"])
            checkpoint.verify(public)
            proof = [bytes.fromhex(h) for h in body["proof"]]
            verify_inclusion(leaf_hash(payload.encode()), i, checkpoint.size, proof, checkpoint.root)
        again = client.post("/v1/sheets", content=server.payloads[0])
        assert again.status_code == 200 and again.json()["status"] == "duplicate" and again.json()["index"] == 0
        forged = client.post("/v1/sheets", content=server.payloads[1].replace("|", "|", 1)[:-3] + "AAA")
        assert forged.status_code == 422 and "does not verify" in forged.json()["reason"]
        table = server.payloads[5].split("|")[2]
        page = client.get(f"/table/{table}")
        assert (
            page.status_code == 200
            and table in page.text
            and "<script" not in page.text
            and "https://" not in page.text
        )
        assert client.get(f"/v1/tables/{table}").json()["sheets"][0]["index"] == 5
        assert client.get("/v1/tables/010101999.09").status_code == 404
        assert client.get("/docs").status_code == 200
        consistency = client.get("/v1/consistency", params={"first": 5, "second": 20}).json()
        assert len(consistency["proof"]) > 0
    mirror(server.url, tmp_path / "copy")
    copy = read_copy(tmp_path / "copy")
    assert len(copy.leaves) == 20 and copy.verify() == []


def test_transmit_sends_like_machines(server: Server) -> None:
    counts = transmit(server.url, server.payloads[:30], parallel=8)
    assert counts == {"logged": 30, "duplicate": 0, "rejected": 0, "failed": 0}
    assert transmit(server.url, server.payloads[:5], parallel=2)["duplicate"] == 5


def test_every_acknowledged_sheet_survives_a_sigkill(server: Server, tmp_path: Path) -> None:
    acknowledged: list[str] = []
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for n, payload in enumerate(server.payloads):
            if n == 25:
                server.kill(signal.SIGKILL)  # mid-stream, with no warning
            try:
                if client.post("/v1/sheets", content=payload).status_code in (200, 201):
                    acknowledged.append(payload)
            except httpx.HTTPError:
                break
    assert len(acknowledged) >= 20
    server.start()
    logged = {e["payload"] for e in httpx.get(server.url + "/v1/leaves").json()}
    assert set(acknowledged) <= logged
    mirror(server.url, tmp_path / "after")
    assert read_copy(tmp_path / "after").verify() == []


def test_an_oversized_transmission_is_refused_unread(server: Server) -> None:
    answer = httpx.post(server.url + "/v1/sheets", content=b"TP1|" + b"9" * 200_000)
    assert answer.status_code == 413 and "at most" in answer.json()["error"]
    assert httpx.get(server.url + "/v1/leaves").json() == []


@pytest.mark.parametrize("server", [2], indirect=True)
def test_two_worker_processes_share_one_log(server: Server, tmp_path: Path) -> None:
    """Both processes check and write; each answer's proof verifies against the checkpoint it came with,
    every sheet is logged exactly once, and the log verifies."""
    public = unb64(httpx.get(server.url + "/v1/log.pub").text.strip(), where="log.pub")
    answers: list[dict[str, object]] = []

    def send(payload: str) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            answers.append(client.post("/v1/sheets", content=payload).json())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, server.payloads + server.payloads[:10]))
    by_status = sorted(str(a["status"]) for a in answers)
    assert by_status.count("logged") == 60 and by_status.count("duplicate") == 10
    leaves = {e["index"]: e["payload"] for e in httpx.get(server.url + "/v1/leaves").json()}
    assert sorted(leaves.values()) == sorted(server.payloads)
    for a in answers:
        checkpoint = Checkpoint.from_text(str(a["checkpoint"]))
        checkpoint.verify(public)
        proof = [bytes.fromhex(h) for h in a["proof"]]  # type: ignore[attr-defined]
        index = int(a["index"])  # type: ignore[call-overload]
        verify_inclusion(leaf_hash(leaves[index].encode()), index, checkpoint.size, proof, checkpoint.root)
    mirror(server.url, tmp_path / "copy")
    copy = read_copy(tmp_path / "copy")
    assert len(copy.leaves) == 60 and copy.verify() == []


def test_witnesses_submit_and_check_their_copies(server: Server) -> None:
    from urllib.parse import urlencode

    from tallyproof.sheets.signed import SignedSheet
    from tallyproof.storage.submissions import Submissions

    _, token = Submissions(Store.sqlite(server.db)).add_account("Ana", "witness")
    auth = {"Authorization": f"Bearer {token}"}
    signed = server.payloads[3]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/copies", content=signed).status_code == 401
        assert client.post("/v1/copies", content=signed, headers={"Authorization": "Bearer nope"}).status_code == 401
        sent = client.post("/v1/copies", content=signed, headers=auth, params={"filename": "mine.txt"}).json()
        assert sent["copies"]["accepted"] == 1 and sent["account"] == "Ana"
        photo = client.post(
            "/v1/copies", content=b"\xff\xd8\xff\xe0acta", headers={**auth, "Tallyproof-Payload": signed}
        )
        assert photo.status_code == 200 and photo.json()["photo"] and photo.json()["copies"]["accepted"] == 1
        assert client.post("/v1/check", content=signed, headers=auth).json()["status"] == "no-official"
        assert client.post("/v1/sheets", content=signed).status_code == 201
        check = client.post("/v1/check", content=signed, headers=auth).json()
        assert check["status"] == "match" and check["leaf"] == 0 and check["checkpoint"]
        table = SignedSheet.from_text(signed, VE2024).sheet.table
        assert check["table"] == table
        form = client.get("/check")
        assert form.status_code == 200 and "<form" in form.text and "<script" not in form.text
        answer = client.post(
            "/check",
            content=urlencode({"token": token, "payload": signed}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200 and "matches the published official sheet" in answer.text
        wrong = client.post("/check", content=urlencode({"token": "x", "payload": signed}))
        assert wrong.status_code == 401 and "unknown API token" in wrong.text


def test_transmit_sends_again_when_no_answer_comes() -> None:
    """A dropped connection is retried (sending twice is harmless); an answer never coming is 'failed'."""
    tries: dict[str, int] = {}

    def flaky(request: httpx.Request) -> httpx.Response:
        body = request.content.decode()
        tries[body] = tries.get(body, 0) + 1
        if body == "never" or tries[body] == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response", request=request)
        return httpx.Response(201, json={"status": "logged"})

    counts = transmit("http://test", ["a", "b", "never"], parallel=2, transport=httpx.MockTransport(flaky))
    assert counts == {"logged": 2, "duplicate": 0, "rejected": 0, "failed": 1}
    assert tries == {"a": 2, "b": 2, "never": 3}


def test_the_review_pages(server: Server, tmp_path: Path) -> None:
    """People transcribe a photo no reader could read, on the server's pages, blind to each other."""
    from urllib.parse import urlencode

    from tallyproof.photos.fields import entries
    from tallyproof.sheets.qr import to_qr
    from tallyproof.sheets.sheet import TallySheet
    from tallyproof.simulation.actas import degraded
    from tallyproof.storage.photos import import_photos
    from tallyproof.storage.submissions import Submissions

    store = Store.sqlite(server.db)
    sheet = TallySheet.from_cards(VE2024, "010111043.02", [7, *([1] * 37)], null=0, blank=0, registered=500)  # type: ignore[arg-type]
    photo = tmp_path / "hard.jpg"
    photo.write_bytes(degraded(sheet, VE2024, seed=3, steps=["occlude-qr"]))
    assert import_photos(store, [photo], workers=1, ocr=False).review == 1
    (_, rosa), (_, luis) = (Submissions(store).add_account(n, "observer") for n in ("Rosa", "Luis"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    payload = "010111043.02.1.0001!" + ",".join(["7", *(["1"] * 37)]) + "!0!0"
    assert to_qr(sheet).split("!", 1)[1] == payload.split("!", 1)[1]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert "Your API token" in client.get("/review").text
        assert client.post("/review", content=urlencode({"token": "nope"}), headers=form).status_code == 401
        listing = client.post("/review", content=urlencode({"token": rosa}), headers=form)
        assert listing.status_code == 200 and "hard.jpg" in listing.text
        one = client.post("/review/1", content=urlencode({"token": rosa}), headers=form)
        assert one.status_code == 200 and "data:image/png;base64," in one.text and "<script" not in one.text
        assert "1. PSUV (269)" in one.text and "In doubt" in one.text  # a field per card; why it is here
        typed = entries(payload, VE2024)
        typo = client.post("/review/1/enter", content=urlencode({"token": rosa, **typed, "card-5": "7x"}), headers=form)
        assert typo.status_code == 400 and "7x' is not a count of votes (5. MSV" in html.unescape(typo.text)
        assert "value='7x'" in typo.text and f"value='{typed['acta_id']}'" in typo.text  # what was typed is kept
        first = client.post("/review/1/enter", content=urlencode({"token": rosa, **typed}), headers=form)
        assert "a second reviewer" in first.text
        assert typed["acta_id"] not in client.post("/review/1", content=urlencode({"token": luis}), headers=form).text
        second = client.post("/review/1/enter", content=urlencode({"token": luis, **typed}), headers=form)
        assert "two reviewers agree" in second.text and "Nothing to review" in second.text
    assert store.columns(["witness"]).ids.size == 1  # the photo's own source (import's default: witness)
