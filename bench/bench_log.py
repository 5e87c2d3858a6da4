"""Log benchmark: the RFC 9162 tree in memory, the persistent log, and signed transmissions over HTTP.

In one run:

1. **in-memory tree**: append ``--leaves`` random 300-byte payloads (seeded) to a ``MemoryTree``, then
   ``--proofs`` random inclusion proofs and their verification, and as many consistency proofs. Side by
   side: the root recomputed from scratch with a naive recursive MTH over all the leaf hashes (what a
   user without the incremental tree would do), against the incremental tree's root, as a ratio.
2. **persistent log**: the signed sheets of a simulated election of ``--tables`` tables, logged into a
   fresh SQLite store (WAL, as the server opens it) with ``Ledger.submit_many`` in batches of 1,000, each
   covered by a signed checkpoint; then 1,000 random inclusion proofs from the persisted tree with a
   fresh ``Ledger`` (cold cache), and the same again (warm).
3. **HTTP end to end**: a real ``tallyproof serve --workers W`` on 127.0.0.1 with the machine keys
   imported; ``wrk`` POSTs the signed sheets (64 connections; each wrk thread sends its own share and
   stops once every line of it is answered) until the log holds them all, or 120 s. Only newly logged sheets count (the log's size, read from the store).
   Then ``tallyproof mirror`` + ``tallyproof verify-log`` must find the log consistent. Side by side:
   ``wrk`` against ``GET /v1/log.pub`` on the same server (the framework's floor), as a ratio.

Times are rounded up and rates down, so that no figure looks better than measured; goals are judged on
the unrounded figures. ``--record`` appends the report to ``docs/benchmarks.md``.

Run: ``.venv/bin/python bench/bench_log.py [--leaves N] [--proofs N] [--tables N] [--workers W] [--record]``.
Needs ``wrk`` on the PATH.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import os
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
from _report import (
    BenchmarkError,
    check,
    command_line,
    goal,
    machine,
    micros,
    p99,
    publish,
    rate,
    ratio,
    run,
    secs,
    step,
    work_folder,
)

from tallyproof.election import load_election
from tallyproof.official.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    Tree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from tallyproof.signing import PrivateKey
from tallyproof.simulation.election import simulate
from tallyproof.simulation.machines import signed_sheets, write_signed
from tallyproof.storage.ledger import Ledger
from tallyproof.storage.store import Store

ELECTION = "ve2024"
PAYLOAD = 300
"""Bytes per random leaf in the in-memory part."""
BATCH = 1_000
"""Signed sheets per ``submit_many`` transaction in the persistent part."""
PERSISTED_PROOFS = 1_000
CONNECTIONS = 64
TIME_LIMIT = 120.0
"""Seconds the HTTP transmission may take before the benchmark gives up waiting."""
SHEETS_GOAL = 2_000
"""Signed sheets per second accepted end to end over HTTP."""
COUNTRY = 30_000
COUNTRY_GOAL = 15.0
"""Seconds to publish a 30,000-table country."""
PROOF_GOAL = 1e-3
"""Seconds per inclusion proof."""


@dataclass
class Stats:
    """Per-call seconds of one repeated operation."""

    runs: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.runs)

    @property
    def p99(self) -> float:
        return p99(self.runs)

    @property
    def worst(self) -> float:
        return max(self.runs)

    def text(self) -> str:
        return f"mean {micros(self.mean)}, p99 {micros(self.p99)}, max {micros(self.worst)}"


# --- 1. the tree in memory -----------------------------------------------------------------------


@dataclass
class MemoryResults:
    leaves: int
    append: float = 0.0
    root: float = 0.0
    naive_root: float = 0.0
    proof_length: float = 0.0
    prove: Stats = field(default_factory=Stats)
    verify: Stats = field(default_factory=Stats)
    cprove: Stats = field(default_factory=Stats)
    cverify: Stats = field(default_factory=Stats)
    peak_mib: float = 0.0


def naive_mth(hashes: list[bytes], start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)`` recomputed from the leaf hashes, RFC 9162 §2.1.1 as written."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[start]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(naive_mth(hashes, start, start + k), naive_mth(hashes, start + k, end))


def memory_tree(n: int, proofs: int, seed: int) -> MemoryResults:
    r = MemoryResults(n)
    rng = np.random.default_rng(seed)
    tree = MemoryTree()
    chunk = 50_000
    done = 0
    while done < n:
        m = min(chunk, n - done)
        block = rng.bytes(m * PAYLOAD)
        payloads = [block[i * PAYLOAD : (i + 1) * PAYLOAD] for i in range(m)]  # made outside the timing
        append = tree.append
        start = time.perf_counter()
        for p in payloads:
            append(p)
        r.append += time.perf_counter() - start
        done += m
    check(tree.size == n, f"the tree has {tree.size} leaves, not {n}")
    tree_proofs(r, tree, proofs, seed)
    return r


def tree_proofs(r: MemoryResults, tree: MemoryTree, proofs: int, seed: int) -> None:
    """The root (incremental, then naive), inclusion and consistency proofs and their verification."""
    n = tree.size
    start = time.perf_counter()
    t = tree.tree()
    root = t.root()
    r.root = time.perf_counter() - start

    leaves = tree.levels[0]
    start = time.perf_counter()
    naive = naive_mth(leaves, 0, n)
    r.naive_root = time.perf_counter() - start
    check(naive == root, f"naive MTH {naive.hex()} != incremental root {root.hex()}")

    pick = random.Random(seed)
    indices = [pick.randrange(n) for _ in range(proofs)]
    made: list[list[bytes]] = []
    clock = time.perf_counter
    for i in indices:
        start = clock()
        proof = t.inclusion_proof(i)
        r.prove.runs.append(clock() - start)
        made.append(proof)
    r.proof_length = statistics.fmean(len(p) for p in made)
    for i, proof in zip(indices, made, strict=True):
        h = leaves[i]
        start = clock()
        verify_inclusion(h, i, n, proof, root)
        r.verify.runs.append(clock() - start)
    # a wrong leaf must not verify (so that the timings are of a real check)
    try:
        verify_inclusion(hashlib.sha256(b"not a leaf").digest(), indices[0], n, made[0], root)
    except Exception:
        pass
    else:
        raise BenchmarkError("a forged leaf verified")

    olds = [pick.randrange(1, n) for _ in range(proofs)]
    old_roots = [Tree(m, t.complete).root() for m in olds]  # what a client holds, outside the timing
    cproofs: list[list[bytes]] = []
    for m in olds:
        start = clock()
        cp = t.consistency_proof(m)
        r.cprove.runs.append(clock() - start)
        cproofs.append(cp)
    for m, old_root, cp in zip(olds, old_roots, cproofs, strict=True):
        start = clock()
        verify_consistency(m, n, old_root, root, cp)
        r.cverify.runs.append(clock() - start)


# --- 2. the persistent log -----------------------------------------------------------------------


@dataclass
class PersistResults:
    tables: int
    sign: float = 0.0
    add_keys: float = 0.0
    submit: float = 0.0
    batches: int = 0
    open_tree: float = 0.0
    cold: Stats = field(default_factory=Stats)
    warm: Stats = field(default_factory=Stats)
    db_mib: float = 0.0


def fresh(path: Path) -> Path:
    for p in (path, *(path.with_name(path.name + x) for x in ("-journal", "-wal", "-shm"))):
        p.unlink(missing_ok=True)
    return path


def persistent_log(sim: object, tables: int, seed: int, db: Path) -> tuple[PersistResults, list[str]]:
    r = PersistResults(tables)
    election = load_election(ELECTION)
    start = time.perf_counter()
    machines = list(signed_sheets(sim))  # type: ignore[arg-type]
    r.sign = time.perf_counter() - start
    payloads = [sheet.to_text() for _, _, sheet in machines]
    check(len(payloads) == tables, f"{len(payloads)} signed sheets, not {tables}")

    store = Store.sqlite(fresh(db), create=True, server=True)
    store.init(election)
    ledger = Ledger(store)
    start = time.perf_counter()
    ledger.add_keys([(key.public, table) for table, key, _ in machines], where="bench")
    r.add_keys = time.perf_counter() - start

    log_key = PrivateKey(hashlib.sha256(f"bench log key|{seed}".encode()).digest())
    checkpoint = None
    start = time.perf_counter()
    for i in range(0, tables, BATCH):
        receipts, checkpoint = ledger.submit_many([(p, None) for p in payloads[i : i + BATCH]], log_key=log_key)
        bad = [x for x in receipts if x.status != "logged"]
        check(not bad, f"batch at {i}: {len(bad)} not logged, e.g. {bad[:1]}")
        r.batches += 1
    r.submit = time.perf_counter() - start
    check(checkpoint is not None and checkpoint.size == tables, f"last checkpoint {checkpoint}")
    assert checkpoint is not None
    store.engine.dispose()

    pick = random.Random(seed + 1)
    indices = [pick.randrange(tables) for _ in range(PERSISTED_PROOFS)]
    cold_store = Store.sqlite(db, server=True)
    start = time.perf_counter()
    cold = Ledger(cold_store)
    size = cold.size()
    r.open_tree = time.perf_counter() - start
    check(size == tables, f"the persisted tree has {size} leaves, not {tables}")
    for runs in (r.cold.runs, r.warm.runs):
        for i in indices:
            start = time.perf_counter()
            proof = cold.inclusion_proof(i, size)
            runs.append(time.perf_counter() - start)
            verify_inclusion(leaf_hash(payloads[i].encode("ascii")), i, tables, proof, checkpoint.root)
    # the cold pass filled the cache as it went, so "cold" is a fresh Ledger's first 1,000 proofs
    # (each fetching the nodes it lacks in one query), not each proof with no node cached at all
    check(cold.root(size) == checkpoint.root, "the persisted tree's root is not the last checkpoint's")
    cold_store.engine.dispose()
    r.db_mib = db.stat().st_size / 2**20
    return r, payloads


# --- 3. HTTP end to end --------------------------------------------------------------------------

WRK_POST = r"""
local threads = {}
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  local lines = {}
  for line in io.lines(args[1]) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  local n, t = #lines, tonumber(args[2])
  local share = math.ceil(n / t)
  local first = id * share + 1
  local last = math.min(n, first + share - 1)
  mine = {}
  for i = first, last do mine[#mine + 1] = lines[i] end
  nxt = 1
  created, dup, other, sent = 0, 0, 0, 0
  headers = {["Content-Type"] = "text/plain"}
end

function request()
  local body = mine[nxt]
  nxt = nxt % #mine + 1   -- once its share is sent, a thread resends it until every line is answered
  sent = sent + 1
  return wrk.format("POST", "/v1/sheets", headers, body)
end

function response(status, hdrs, body)
  if status == 201 then created = created + 1
  elseif status == 200 then dup = dup + 1
  else other = other + 1 end
  if created + dup + other >= #mine then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local c, d, o, s = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); d = d + t:get("dup"); o = o + t:get("other"); s = s + t:get("sent")
  end
  io.write(string.format("RESULT created=%d duplicate=%d other=%d sent=%d\n", c, d, o, s))
  io.write(string.format("LATENCY p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass
class HttpResults:
    tables: int
    workers: int
    threads: int
    before: int = 0
    after: int = 0
    wall: float = 0.0
    timed_out: bool = False
    wrk_counts: dict[str, int] = field(default_factory=dict)
    wrk_latency_ms: dict[str, float] = field(default_factory=dict)
    wrk_errors: str = ""
    floor_seconds: float = 0.0
    floor_requests: int = 0
    floor_rate: float = 0.0
    floor_errors: str = ""
    checkpoints: int = 0
    mirror_wall: float = 0.0
    verify_wall: float = 0.0
    verdict: str = ""

    @property
    def logged(self) -> int:
        return self.after - self.before


def tallyproof(*args: str, log: Path, timeout: float = 600) -> tuple[float, str]:
    command = [str(Path(sys.executable).parent / "tallyproof"), *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    log.write_text(f"$ {shlex.join(command)}\n{done.stdout}{done.stderr}", encoding="utf-8")
    check(done.returncode == 0, f"`tallyproof {shlex.join(args)}` exited {done.returncode}: {done.stdout}{done.stderr}")
    return wall, done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_size(db: Path) -> int:
    """The log's size, read straight from the store (a WAL reader never waits for the writer)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
        return int(con.execute("SELECT count(*) FROM log_entries").fetchone()[0])


def wait_ready(url: str, server: subprocess.Popen[bytes], limit: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        check(server.poll() is None, f"the server exited with {server.returncode}")
        try:
            if httpx.get(url + "/v1/log.pub", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchmarkError(f"the server did not answer within {limit:.0f} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop a process this benchmark started (SIGINT, then its own process group if it lingers)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def parse_wrk(text: str) -> tuple[dict[str, int], dict[str, float], str]:
    counts: dict[str, int] = {}
    latency: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            counts = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
        elif line.startswith("LATENCY "):
            latency = {k: int(v) / 1000 for k, v in (kv.split("=") for kv in line.split()[1:])}
    errors = "; ".join(x.strip() for x in text.splitlines() if "errors" in x or "Non-2xx" in x)
    return counts, latency, errors


def http_end_to_end(sim: object, tables: int, workers: int, threads: int, floor: float, work: Path) -> HttpResults:
    r = HttpResults(tables, workers, threads)
    db, key, folder = fresh(work / "central.db"), work / "log.key", work / "signed"
    paths = write_signed(sim, folder)  # type: ignore[arg-type]
    key.unlink(missing_ok=True)
    tallyproof("init", "--election", ELECTION, "--db", str(db), log=work / "init.log")
    tallyproof("keys", "import", str(paths["machines"]), "--db", str(db), log=work / "keys.log")
    tallyproof("log", "keygen", "--log-key", str(key), log=work / "keygen.log")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "tallyproof"), "serve", "--db", str(db), "--log-key", str(key)]
    command += ["--port", str(port), "--workers", str(workers)]
    with (work / "serve.log").open("wb") as serve_log:
        server = subprocess.Popen(command, stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(url, server)
        r.before = log_size(db)
        script = work / "post.lua"
        script.write_text(WRK_POST, encoding="utf-8")
        wrk = [
            "wrk",
            f"-t{threads}",
            f"-c{CONNECTIONS}",
            f"-d{int(TIME_LIMIT)}s",
            "--latency",
            "-s",
            str(script),
            url,
            "--",
            str(paths["signed"]),
            str(threads),
        ]
        with (work / "wrk-post.log").open("w+", encoding="utf-8") as wrk_log:
            start = time.perf_counter()
            load = subprocess.Popen(wrk, stdout=wrk_log, stderr=subprocess.STDOUT, start_new_session=True)
            while True:
                time.sleep(0.05)
                size = log_size(db)
                elapsed = time.perf_counter() - start
                if size - r.before >= tables:
                    break
                if load.poll() is not None or elapsed > TIME_LIMIT:
                    r.timed_out = True
                    break
            r.wall = elapsed
            stop(load)
            r.after = log_size(db)
            wrk_log.seek(0)
            r.wrk_counts, r.wrk_latency_ms, r.wrk_errors = parse_wrk(wrk_log.read())
        step(f"HTTP: {r.logged:,} sheets logged in {r.wall:.3f} s; the framework's floor (GET /v1/log.pub)")
        framework_floor(r, url, floor, work)
        step("mirror + verify-log")
        mirror = work / "mirror"
        shutil.rmtree(mirror, ignore_errors=True)
        r.mirror_wall, _ = tallyproof("mirror", url, str(mirror), log=work / "mirror.log")
    finally:
        stop(server)
    verify_mirror(r, mirror, work)
    return r


def framework_floor(r: HttpResults, url: str, floor: float, work: Path) -> None:
    """wrk against the cheapest route of the same server: what the framework answers at best."""
    threads = r.threads
    with (work / "wrk-floor.log").open("w+", encoding="utf-8") as wrk_log:
        subprocess.run(
            ["wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{floor:g}s", url + "/v1/log.pub"],
            stdout=wrk_log,
            stderr=subprocess.STDOUT,
            check=True,
        )
        wrk_log.seek(0)
        text = wrk_log.read()
    found = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
    check(found is not None, f"cannot read wrk's output: {text}")
    assert found is not None
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[found.group(3)]
    r.floor_requests, r.floor_seconds = int(found.group(1)), float(found.group(2)) * unit
    r.floor_rate = r.floor_requests / r.floor_seconds
    r.floor_errors = "; ".join(x.strip() for x in text.splitlines() if "errors" in x or "Non-2xx" in x)


def verify_mirror(r: HttpResults, mirror: Path, work: Path) -> None:
    """``tallyproof verify-log`` on the mirror must say consistent, with every leaf of the store."""
    r.verify_wall, said = tallyproof("verify-log", str(mirror), log=work / "verify-log.log")
    r.verdict = " ".join(said.split())
    check("the log is consistent" in said, f"verify-log: {said}")
    counted = re.search(r"([\d,]+) leaves, ([\d,]+) checkpoints", r.verdict)
    check(counted is not None, f"cannot read verify-log's answer: {said}")
    assert counted is not None
    leaves, r.checkpoints = (int(x.replace(",", "")) for x in counted.groups())
    check(leaves == r.after, f"verify-log saw {leaves:,} leaves, the store holds {r.after:,}")


# --- report --------------------------------------------------------------------------------------


def report(
    m: MemoryResults,
    p: PersistResults,
    h: HttpResults,
    info: dict[str, str],
    command: str,
    when: dt.datetime,
    total: float,
) -> str:
    n, t = m.leaves, p.tables
    http_rate = h.logged / h.wall if h.wall else 0.0
    country = COUNTRY / http_rate if http_rate else math.inf
    floor_ratio = h.floor_rate / http_rate if http_rate else math.inf
    wc, lat = h.wrk_counts, h.wrk_latency_ms
    lines = [
        f"## {when:%Y-%m-%d %H:%M} UTC — log: {n:,} leaves in memory, {t:,} signed sheets, {h.workers} server workers",
        "",
        f"Command: `{command}` (whole run {secs(total)})",
        "",
        f"Machine: {info['nproc']} CPUs (nproc), {info['cpu']}, {info['ram']} RAM; {info['os']}.  ",
        f"{info['versions']}; {info['tallyproof']}.",
        "",
        f"**1. In-memory tree** (`MemoryTree`, {n:,} random {PAYLOAD}-byte leaves; peak RSS of the whole "
        f"benchmark process {m.peak_mib:,.0f} MiB):",
        "",
        "| step | figure |",
        "| --- | ---: |",
        f"| append {n:,} leaves | {secs(m.append)}, {rate(n, m.append, 'leaves')} |",
        f"| root of the incremental tree | {micros(m.root)} |",
        f"| inclusion proof, {len(m.prove.runs):,} random leaves ({m.proof_length:.1f} hashes on average) "
        f"| {m.prove.text()} |",
        f"| `verify_inclusion` of those proofs | {m.verify.text()} |",
        f"| consistency proof, {len(m.cprove.runs):,} random old sizes → {n:,} | {m.cprove.text()} |",
        f"| `verify_consistency` of those proofs | {m.cverify.text()} |",
        "",
        "Side by side (same run, same leaf hashes; ratio = alternative / tallyproof, above 1 = tallyproof faster):",
        "",
        "| task | tallyproof | alternative | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| root of {n:,} leaves | incremental tree {micros(m.root)} | naive recursive MTH over all leaf hashes "
        f"{secs(m.naive_root)} | {ratio(m.naive_root, m.root)} |",
        "",
        "The naive root equals the incremental one (checked). The incremental tree paid for it while appending: "
        f"the whole append ({secs(m.append)}) against one naive recomputation ({secs(m.naive_root)}).",
        "",
        f"**2. Persistent log** (fresh SQLite store in WAL as `tallyproof serve` opens it, "
        f"`Ledger.submit_many` in batches of {BATCH:,}, each with a signed checkpoint; store {p.db_mib:,.1f} MiB):",
        "",
        "| step | figure |",
        "| --- | ---: |",
        f"| simulate + sign {t:,} sheets (`signed_sheets`, not timed against any goal) | {secs(p.sign)} |",
        f"| `add_keys` {t:,} machine keys | {secs(p.add_keys)} |",
        f"| `submit_many` {t:,} sheets in {p.batches:,} transactions | {secs(p.submit)}, "
        f"{rate(t, p.submit, 'sheets')} |",
        f"| fresh `Ledger(store)` and its size | {micros(p.open_tree)} |",
        f"| inclusion proof from the persisted tree, {PERSISTED_PROOFS:,} random leaves, cold (fresh Ledger) "
        f"| {p.cold.text()} |",
        f"| same {PERSISTED_PROOFS:,} leaves again, warm | {p.warm.text()} |",
        "",
        f"**3. HTTP end to end** (`tallyproof serve --workers {h.workers}` on 127.0.0.1; `wrk -t{h.threads} "
        f"-c{CONNECTIONS}` POSTs the {t:,} lines of `signed.txt`, each thread its own share, until the log "
        f"holds them all; time from starting wrk to the log found full, polled every 0.05 s; wrk, the server "
        f"and the poll share the {info['nproc']} CPUs):",
        "",
        "| step | figure |",
        "| --- | ---: |",
        f"| newly logged sheets (log {h.before:,} → {h.after:,}) | {h.logged:,}"
        f"{' — **time limit reached**' if h.timed_out else ''} |",
        f"| time to publish the {t:,} tables | {secs(h.wall)} |",
        f"| newly logged sheets per second | {rate(h.logged, h.wall, 'sheets') if h.wall else 'n/a'} |",
        f"| wrk answers: 201 logged / 200 duplicate / other | {wc.get('created', 0):,} / "
        f"{wc.get('duplicate', 0):,} / {wc.get('other', 0):,} (requests sent {wc.get('sent', 0):,}) |",
        f"| wrk latency per POST: p50 / p99 / max | {lat.get('p50', 0):,.1f} / {lat.get('p99', 0):,.1f} / "
        f"{lat.get('max', 0):,.1f} ms |",
        f"| signed checkpoints made (one per group commit) | {h.checkpoints:,} |",
        f"| `tallyproof mirror` (wall) | {secs(h.mirror_wall)} |",
        f"| `tallyproof verify-log` on the mirror (wall) | {secs(h.verify_wall)} |",
        "",
        f"wrk's own error lines: {h.wrk_errors or 'none'}.",
        "",
        "Side by side (same server, same run; ratio = floor rate / sheets rate: how many times the cheapest "
        "request the framework can answer outpaces a logged sheet):",
        "",
        "| task | tallyproof | alternative | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| requests answered per second | POST /v1/sheets, newly logged {rate(h.logged, h.wall, 'sheets')} "
        f"| GET /v1/log.pub {rate(h.floor_requests, h.floor_seconds, 'requests')} ({h.floor_requests:,} in "
        f"{secs(h.floor_seconds)}) | {ratio(floor_ratio, 1) if http_rate else 'n/a'} |",
        "",
        f"wrk's error lines for the floor: {h.floor_errors or 'none'}.",
        "",
        "Goals (judged on unrounded figures):",
        "",
        f"- ≥ {SHEETS_GOAL:,} sheets/s accepted end to end over HTTP: {rate(h.logged, h.wall, 'sheets')} "
        f"{goal(http_rate >= SHEETS_GOAL and not h.timed_out)}.",
        f"- a {COUNTRY:,}-table country fully published in under {COUNTRY_GOAL:g} s of server work: "
        f"{t:,} tables took {secs(h.wall)} {goal(h.wall < COUNTRY_GOAL * t / COUNTRY and not h.timed_out)} "
        f"(scaled to {COUNTRY:,}: {secs(country)} {goal(country < COUNTRY_GOAL and not h.timed_out)}).",
        f"- inclusion proof < 1 ms: in memory at {n:,} leaves mean {micros(m.prove.mean)} "
        f"{goal(m.prove.mean < PROOF_GOAL)}, p99 {micros(m.prove.p99)} {goal(m.prove.p99 < PROOF_GOAL)}; "
        f"persisted at {t:,} leaves cold mean {micros(p.cold.mean)} {goal(p.cold.mean < PROOF_GOAL)}, "
        f"p99 {micros(p.cold.p99)} {goal(p.cold.p99 < PROOF_GOAL)}, warm mean {micros(p.warm.mean)} "
        f"{goal(p.warm.mean < PROOF_GOAL)}.",
        "",
        f"Checks: naive MTH = incremental root at {n:,} leaves; every in-memory inclusion and consistency proof "
        "verified, a forged leaf did not; "
        f"all {t:,} `submit_many` receipts logged, the persisted root = the last checkpoint's, every persisted "
        f"proof verified against it; over HTTP the log grew by exactly {h.logged:,}; `verify-log` on the mirror: "
        f"“{h.verdict}”",
        "",
    ]
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--leaves", type=int, default=1_000_000, help="leaves of the in-memory tree (default 1,000,000)")
    p.add_argument("--proofs", type=int, default=10_000, help="random in-memory proofs (default 10,000)")
    p.add_argument("--tables", type=int, default=30_026, help="simulated tables, logged and sent over HTTP (30,026)")
    p.add_argument("--workers", type=int, default=2, help="`tallyproof serve --workers` (default 2)")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--floor-seconds", type=float, default=10.0, help="duration of the GET floor run (default 10)")
    p.add_argument("--seed", type=int, default=1, help="seed of the leaves, the simulation and the picks (default 1)")
    p.add_argument("--workdir", type=Path, help="work folder (default: a new folder under bench/out/)")
    p.add_argument("--keep", action="store_true", help="keep the default work folder (deleted after a good run)")
    p.add_argument("--record", action="store_true", help="append the report to docs/benchmarks.md")
    args = p.parse_args(argv)
    if min(args.leaves, args.proofs, args.tables, args.workers, args.wrk_threads) < 1 or args.leaves < 2:
        p.error("--leaves must be at least 2; --proofs, --tables, --workers and --wrk-threads at least 1")
    if shutil.which("wrk") is None:
        p.error("needs wrk on the PATH (apt-get install wrk)")
    return args


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    when = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    work, temporary = work_folder(f"log-{args.tables}-", args.workdir)

    step(f"in-memory tree: {args.leaves:,} leaves, {args.proofs:,} proofs")
    m = memory_tree(args.leaves, args.proofs, args.seed)
    m.peak_mib = peak_rss_mib()
    step(f"in-memory part done: append {m.append:.3f} s, naive root {m.naive_root:.3f} s")
    step(f"persistent log: simulate and sign {args.tables:,} tables, submit_many")
    sim = simulate(load_election(ELECTION), tables=args.tables, seed=args.seed)
    p, _ = persistent_log(sim, args.tables, args.seed, work / "ledger.db")
    step(f"persistent part done: {args.tables / p.submit:,.0f} sheets/s")
    step(f"HTTP: tallyproof serve --workers {args.workers}, wrk POST")
    h = http_end_to_end(sim, args.tables, args.workers, args.wrk_threads, args.floor_seconds, work)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()
    libraries = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("cryptography", "SQLAlchemy", "fastapi", "uvicorn")
    )
    versions = f"SQLite {sqlite3.sqlite_version}, {libraries}, {wrk}"
    text = report(m, p, h, machine(versions), command_line(__file__, argv), when, time.perf_counter() - began)
    publish(text, to_docs=args.record)
    check(not h.timed_out, f"the log held {h.logged:,} of {args.tables:,} sheets after {h.wall:.1f} s")
    if temporary and not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    run(main)
