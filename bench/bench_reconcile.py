"""Reconciliation benchmark: official sheets against witness copies, 1,000,000 tables by default.

In one run:

1. **setup** (timed, not judged): ``tallyproof.simulation.election.simulate`` draws the election; the witness copy
   of every table is its official sheet, except at 1% of the tables (seeded), where 1 to 50 votes are
   moved from the runner-up's main card to the leader's main card (as if the official sheet had moved
   them the other way). ``simulate.write`` writes ``official.csv`` and ``witness.csv`` (generic CSV with
   per-card counts); ``import_registry`` and ``import_file(..., source=official|witness)`` load them into
   a fresh SQLite store: 2 copies per table.
2. **tallyproof**, best and median of ``--repeat``: (a) the library: open the store,
   ``Store.columns(cards=True)`` and ``reconcile``; (b) ``tallyproof reconcile --format json --limit 20``,
   timed from outside (the wall time a user waits, interpreter start-up included).
3. **the alternative** a data analyst would pick, same repeats: pandas ``read_csv`` of the two CSVs
   (table and candidate columns), ``merge`` on the table, and a comparison of the candidate columns.
4. **peak RSS**: of each ``tallyproof reconcile`` (from bench_core's launcher), and of the library and
   pandas steps run once more, untimed, by this script alone in a fresh process (``--alone``).

The run fails unless tallyproof (library and command line) and pandas find exactly the altered tables,
and the worst discrepancy (tallyproof: every one, in order) is the one injected.

Ratios are pandas time / tallyproof time: above 1 means tallyproof is faster. Times are rounded up to
the millisecond and rates down, so a figure never looks better than measured; the goal is judged on
the unrounded figures. ``--record`` appends the report to ``docs/benchmarks.md``.

Run: ``.venv/bin/python bench/bench_reconcile.py [--tables N] [--seed S] [--repeat R] [--record]``.
Needs pandas (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import sqlalchemy
from _report import (
    BenchmarkError,
    check,
    command_line,
    goal,
    machine,
    publish,
    rate,
    ratio,
    run,
    secs,
    step,
    work_folder,
)
from bench_core import Times, fresh, mib, pandas_import_time, run_cli, timed

from tallyproof.election import Election, load_election
from tallyproof.independent.reconcile import Reconciliation, reconcile
from tallyproof.sheets.sheet import Source
from tallyproof.simulation.election import SimulatedElection, simulate, write
from tallyproof.storage.imports import import_file, import_registry
from tallyproof.storage.store import Store

ELECTION = "ve2024"
COPIES = ("witness", "observer")
"""Sources compared with the official sheet: the command's default ``--copies``."""
ALTERED_SHARE = 0.01
"""Share of the tables whose witness copy differs from the official sheet."""
MOST_MOVED = 50
"""Votes moved at an altered table: uniform in 1 … min(this, the runner-up's main card)."""
ALTER_STREAM = 1
"""The alteration draws from ``numpy.random.default_rng([seed, ALTER_STREAM])``, apart from the simulation's."""
LIMIT = 20
DB = "tallyproof.db"
RECONCILE_GOAL = 10.0
"""Seconds to reconcile the whole store."""


# --- peak memory: one more run of a step, untimed, alone in a fresh process ----------------------


@dataclass(frozen=True)
class Memory:
    """Peak RSS of a fresh process that runs one step once, and its RSS just before the step (MiB).

    A fresh process, because this one holds what the setup left: its own peak says little about a step.
    ``VmHWM`` is the peak of the process's own address space (exec starts a new one), unlike
    ``ru_maxrss``, which on Linux keeps the peak of the process it was spawned from."""

    before: float = 0.0
    peak: float = 0.0

    def text(self) -> str:
        return f"{self.peak:,.0f} MiB, {self.before:,.0f} MiB of it before the step"


def _status_mib(key: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def run_alone(mode: str, work: Path) -> None:
    """``--alone``: one untimed run of the ``library`` or ``pandas`` step over the files in ``work``;
    prints the process's RSS before the step (interpreter and imports) and its peak RSS, as JSON."""
    if mode == "pandas":
        import pandas as pd

        before = _status_mib("VmRSS:")
        paths = {s: work / f"{s}.csv" for s in ("official", "witness")}
        pandas_reconcile(pd, paths, candidate_columns(load_election(ELECTION)), pandas_phases())
    else:
        before = _status_mib("VmRSS:")
        store = Store.sqlite(work / DB)
        reconcile(store.columns(cards=True), official="official", copies=COPIES)
    print(json.dumps({"before": before, "peak": _status_mib("VmHWM:")}))


def memory(mode: str, work: Path) -> Memory:
    """The peak RSS of step ``mode``, run once by this script in a fresh process."""
    argv = [sys.executable, __file__, "--alone", mode, "--workdir", str(work)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    check(done.returncode == 0, f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return Memory(**json.loads(done.stdout))


# --- the injected discrepancies ------------------------------------------------------------------


@dataclass(frozen=True)
class Injected:
    """The witness copies that differ: ``moved`` votes from ``loser`` to ``gainer`` (candidate indices)."""

    tables: np.ndarray
    """Altered tables, in table order."""
    moved: np.ndarray
    gainer: int
    loser: int
    n_candidates: int

    def expected(self) -> list[tuple[str, tuple[int, ...]]]:
        """(table, copy minus official per candidate) of every altered table, worst first as ``reconcile``
        orders them: most votes differing, then table id."""
        order = np.lexsort((self.tables, -self.moved))
        out = []
        for table, k in zip(self.tables[order].tolist(), self.moved[order].tolist(), strict=True):
            diff = [0] * self.n_candidates
            diff[self.gainer], diff[self.loser] = k, -k
            out.append((str(table), tuple(diff)))
        return out


def main_card(sim: SimulatedElection, candidate: int) -> int:
    """The card with the most votes nationally among ``candidate``'s."""
    mine = np.flatnonzero(np.asarray(sim.election.card_to_candidate) == candidate)
    return int(mine[np.argmax(sim.cards[:, mine].sum(axis=0))])


def alter(sim: SimulatedElection, seed: int) -> tuple[np.ndarray, Injected]:
    """The witness copies' cards: the official ones, with votes moved at 1% of the tables (seeded)."""
    rng = np.random.default_rng([seed, ALTER_STREAM])
    leader, runner_up = np.argsort(-sim.candidate_votes().sum(axis=0), kind="stable")[:2].tolist()
    gain, lose = main_card(sim, leader), main_card(sim, runner_up)
    eligible = np.flatnonzero(sim.cards[:, lose] >= 1)
    wanted = min(eligible.size, max(1, round(ALTERED_SHARE * len(sim.tables))))
    rows = np.sort(rng.choice(eligible, size=wanted, replace=False))
    most = np.minimum(sim.cards[rows, lose], MOST_MOVED)
    moved = 1 + np.floor(rng.random(rows.size) * most).astype(np.int64)
    cards = sim.cards.copy()
    cards[rows, lose] -= moved
    cards[rows, gain] += moved
    tables = np.asarray(sim.tables)[rows]
    return cards, Injected(tables, moved, int(leader), int(runner_up), len(sim.election.candidates))


# --- the steps -----------------------------------------------------------------------------------


@dataclass
class Results:
    tables: int
    seed: int
    simulate: float = 0.0
    alter: float = 0.0
    write: float = 0.0
    registry_import: float = 0.0
    official_import: float = 0.0
    witness_import: float = 0.0
    library: Times = field(default_factory=Times)
    phases: dict[str, Times] = field(default_factory=dict)
    library_rss: Memory = field(default_factory=Memory)
    cli_startup: Times = field(default_factory=Times)
    cli: Times = field(default_factory=Times)
    cli_rss: float = 0.0
    pandas_import_module: float = 0.0
    pandas: Times = field(default_factory=Times)
    pandas_phases: dict[str, Times] = field(default_factory=dict)
    pandas_rss: Memory = field(default_factory=Memory)
    read_csv_arrow: float = 0.0
    altered: int = 0
    files: dict[str, str] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)


def write_copies(sim: SimulatedElection, witness_cards: np.ndarray, work: Path) -> dict[str, Path]:
    """``registry.csv``, ``official.csv`` and ``witness.csv`` with :func:`tallyproof.simulation.election.write`
    (which always writes ``registry.csv`` and ``sheets.csv``; the registry is written twice, identically)."""
    witness = write(replace(sim, cards=witness_cards), work)["sheets"].rename(work / "witness.csv")
    paths = write(sim, work)
    return {
        "registry": paths["registry"],
        "official": paths["sheets"].rename(work / "official.csv"),
        "witness": witness,
    }


def setup(r: Results, election: Election, work: Path) -> tuple[dict[str, Path], Injected]:
    """Simulate, alter 1% of the witness copies, write the CSVs (everything but the store)."""
    r.simulate, sim = timed(lambda: simulate(election, tables=r.tables, seed=r.seed))
    r.alter, (witness_cards, injected) = timed(lambda: alter(sim, r.seed))
    r.write, paths = timed(lambda: write_copies(sim, witness_cards, work))
    r.altered = len(injected.tables)
    return paths, injected


def library_import(r: Results, election: Election, paths: dict[str, Path], db: Path) -> None:
    store = Store.sqlite(fresh(db), create=True)
    store.init(election)
    r.registry_import, reg = timed(lambda: import_registry(store, paths["registry"]))
    check(reg.accepted == r.tables and reg.rejected == 0, f"registry: {reg.accepted} accepted, {reg.rejected} rejected")
    r.official_import = import_copies(store, paths["official"], Source.OFFICIAL, r.tables)
    r.witness_import = import_copies(store, paths["witness"], Source.WITNESS, r.tables)
    n = store.counts()["sheets"]
    check(n == 2 * r.tables, f"the store holds {n} copies, not {2 * r.tables}")
    store.engine.dispose()
    r.checks.append(f"import: {r.tables:,} official sheets and {r.tables:,} witness copies accepted, 0 rejected")


def import_copies(store: Store, path: Path, source: Source, tables: int) -> float:
    """Seconds to import one file of copies; every copy must be accepted."""
    seconds, summary = timed(lambda: import_file(store, path, source=source))
    check(
        summary.accepted == tables and summary.rejected == 0 and not summary.already,
        f"{path.name}: {summary.accepted} accepted, {summary.rejected} rejected, already={summary.already}",
    )
    return seconds


def library_reconcile(r: Results, db: Path, repeat: int, injected: Injected) -> None:
    """Open the store, read the columns with cards, reconcile: what a library user calls. Each result is checked."""
    phases = ("open", "columns", "reconcile")
    r.phases = {p: Times() for p in phases}
    for _ in range(repeat):
        t = [time.perf_counter()]
        store = Store.sqlite(db)
        t.append(time.perf_counter())
        cols = store.columns(cards=True)
        t.append(time.perf_counter())
        rec = reconcile(cols, official="official", copies=COPIES)
        t.append(time.perf_counter())
        r.library.runs.append(t[-1] - t[0])
        for i, p in enumerate(phases):
            r.phases[p].runs.append(t[i + 1] - t[i])
        del cols
        store.engine.dispose()
        verify_library(r, rec, injected)
    r.checks.append(
        f"library, every repeat: {r.altered:,} mismatches = the tables altered, {r.tables - r.altered:,} matches, "
        "every discrepancy the votes injected, in reconcile's order"
    )


def verify_library(r: Results, rec: Reconciliation, injected: Injected) -> None:
    counts = rec.counts()
    wanted = {"match": r.tables - r.altered, "mismatch": r.altered, "official-missing": 0, "no-copy": 0}
    check(counts == wanted, f"library reconcile: {counts}, expected {wanted}")
    found = [(d.table, d.candidates) for d in rec.discrepancies]
    expected = injected.expected()
    for i, (got, want) in enumerate(zip(found, expected, strict=False)):
        check(got == want, f"library reconcile: discrepancy {i + 1} is {got}, expected {want}")
    check(len(found) == len(expected), f"library reconcile: {len(found)} discrepancies, expected {len(expected)}")
    check(all(d.source == "witness" and d.null == 0 for d in rec.discrepancies), "a discrepancy in source or null")


def cli_reconcile(r: Results, db: Path, work: Path, repeat: int, injected: Injected) -> None:
    for _ in range(3):
        r.cli_startup.runs.append(run_cli(["--help"], work / "cli-help.log")[0])
    log = work / "cli-reconcile.log"
    args = ["reconcile", "--db", str(db), "--format", "json", "--limit", str(LIMIT)]
    for _ in range(repeat):
        wall, rss = run_cli(args, log)
        r.cli.runs.append(wall)
        r.cli_rss = max(r.cli_rss, rss)
        verify_cli(r, log, injected)
    r.checks.append(
        f"`tallyproof reconcile`, every repeat: {r.altered:,} mismatches, "
        f"the first {min(LIMIT, r.altered)} discrepancies as injected"
    )


def verify_cli(r: Results, log: Path, injected: Injected) -> None:
    try:
        out = json.loads(log.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BenchmarkError(f"`tallyproof reconcile --format json` did not print JSON ({exc}); see {log}") from None
    counts, total = out["counts"], out["discrepancies_total"]
    check(counts["mismatch"] == r.altered, f"`tallyproof reconcile`: {counts}, expected {r.altered} mismatches")
    check(total == r.altered, f"`tallyproof reconcile`: {total} discrepancies, expected {r.altered}")
    found = [(d["table"], tuple(d["candidates"].values())) for d in out["discrepancies"]]
    expected = injected.expected()[:LIMIT]
    check(found == expected, f"`tallyproof reconcile`: discrepancies {found[:3]}…, expected {expected[:3]}…")


# --- the alternative -----------------------------------------------------------------------------


def candidate_columns(election: Election) -> list[str]:
    return [f"candidate:{c.id}" for c in election.candidates]


def pandas_phases() -> dict[str, Times]:
    return {"read_csv": Times(), "merge + compare": Times()}


@dataclass(frozen=True)
class PandasFound:
    mismatches: int
    worst_table: str
    worst_diff: tuple[int, ...]


def pandas_reconcile(pd: Any, paths: dict[str, Path], candidates: list[str], phases: dict[str, Times]) -> PandasFound:
    """What an analyst would write: read both CSVs (table ids as text), merge on the table, compare."""
    start = time.perf_counter()
    columns = ["table", *candidates]
    official = pd.read_csv(paths["official"], usecols=columns, dtype={"table": str})
    witness = pd.read_csv(paths["witness"], usecols=columns, dtype={"table": str})
    read = time.perf_counter()
    both = official.merge(witness, on="table", suffixes=("_official", "_witness"))
    diff = (
        both[[f"{c}_witness" for c in candidates]].to_numpy() - both[[f"{c}_official" for c in candidates]].to_numpy()
    )
    size = np.abs(diff).sum(axis=1)
    mismatches = int((diff != 0).any(axis=1).sum())
    worst = int(size.argmax())
    found = PandasFound(mismatches, str(both["table"].iat[worst]), tuple(int(v) for v in diff[worst]))
    end = time.perf_counter()
    phases["read_csv"].runs.append(read - start)
    phases["merge + compare"].runs.append(end - read)
    return found


def alternative(
    r: Results, pd: Any, election: Election, paths: dict[str, Path], repeat: int, injected: Injected
) -> None:
    candidates = candidate_columns(election)
    r.pandas_phases = pandas_phases()
    found = [pandas_run(r, pd, paths, candidates) for _ in range(repeat)]
    columns = ["table", *candidates]
    r.read_csv_arrow, _ = timed(
        lambda: [
            pd.read_csv(paths[s], usecols=columns, dtype={"table": str}, engine="pyarrow")
            for s in ("official", "witness")
        ]
    )
    worst = injected.expected()[0]
    for each in found:
        check(each.mismatches == r.altered, f"pandas: {each}, expected {r.altered} mismatches")
        check((each.worst_table, each.worst_diff) == worst, f"pandas: worst {each}, expected {worst}")
    r.checks.append(
        f"pandas, every repeat: {r.altered:,} mismatches, the worst at {worst[0]} ({sum(map(abs, worst[1])):,} votes)"
    )


def pandas_run(r: Results, pd: Any, paths: dict[str, Path], candidates: list[str]) -> PandasFound:
    """One timed pandas reconciliation."""
    start = time.perf_counter()
    found = pandas_reconcile(pd, paths, candidates, r.pandas_phases)
    r.pandas.runs.append(time.perf_counter() - start)
    return found


# --- report --------------------------------------------------------------------------------------


def report(r: Results, info: dict[str, str], command: str, when: dt.datetime, repeat: int) -> str:
    n, copies = r.tables, 2 * r.tables
    store_total = r.registry_import + r.official_import + r.witness_import
    lines = [
        f"## {when:%Y-%m-%d %H:%M} UTC — reconcile: {n:,} tables, 2 copies each, seed {r.seed}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['nproc']} CPUs (nproc), {info['cpu']}, {info['ram']} RAM; {info['os']}.  ",
        f"{info['versions']}; {info['tallyproof']}.  ",
        f"Files: {', '.join(f'{k} {v}' for k, v in r.files.items())}.",
        "",
        f"Setup (not judged): {r.altered:,} witness copies altered ({r.altered / n:.2%}; 1–{MOST_MOVED} votes moved "
        "from the runner-up to the leader).",
        "",
        "| setup step | time | rate |",
        "| --- | ---: | ---: |",
        f"| simulate | {secs(r.simulate)} | {rate(n, r.simulate, 'tables')} |",
        f"| alter 1% of the witness copies | {secs(r.alter)} | |",
        f"| write registry.csv (twice), official.csv, witness.csv | {secs(r.write)} | {rate(copies, r.write, 'copies')} |",
        f"| registry import (library) | {secs(r.registry_import)} | {rate(n, r.registry_import, 'tables')} |",
        f"| official.csv import (library, source official) | {secs(r.official_import)} | {rate(n, r.official_import, 'sheets')} |",
        f"| witness.csv import (library, source witness) | {secs(r.witness_import)} | {rate(n, r.witness_import, 'sheets')} |",
        f"| store total | {secs(store_total)} | |",
        "",
        "| reconciliation (2 copies a table) | time | rate |",
        "| --- | ---: | ---: |",
        f"| library, best of {repeat} | {secs(r.library.best)} | {rate(n, r.library.best, 'tables')} |",
        f"| library, median of {repeat} | {secs(r.library.median)} | {rate(n, r.library.median, 'tables')} |",
        f"| `tallyproof reconcile --format json --limit {LIMIT}` (wall), best of {repeat} | {secs(r.cli.best)} "
        f"| {rate(n, r.cli.best, 'tables')} |",
        f"| same, median of {repeat} | {secs(r.cli.median)} | {rate(n, r.cli.median, 'tables')} |",
        f"| `tallyproof --help` (start-up alone, best of 3) | {secs(r.cli_startup.best)} | |",
        "",
        "Library, median per phase: " + ", ".join(f"{p} {secs(t.median)}" for p, t in r.phases.items()) + ".",
        "",
        f"Peak RSS: library {r.library_rss.text()} (one more run, alone in a fresh process); `tallyproof reconcile` "
        f"{r.cli_rss:,.0f} MiB (the highest of the timed runs); pandas {r.pandas_rss.text()} (one more run, alone in a "
        "fresh process, after `import pandas`).",
        "",
        "Side by side with pandas (same run, same CSVs; ratio = pandas / tallyproof, above 1 = tallyproof faster):",
        "",
        "| task | tallyproof | pandas | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| reconcile, best of {repeat} | library {secs(r.library.best)} | `read_csv` ×2 + `merge` + compare "
        f"{secs(r.pandas.best)} | {ratio(r.pandas.best, r.library.best)} |",
        f"| same, median of {repeat} | library {secs(r.library.median)} | {secs(r.pandas.median)} "
        f"| {ratio(r.pandas.median, r.library.median)} |",
        f"| same, tallyproof from the command line, best of {repeat} | CLI {secs(r.cli.best)} | {secs(r.pandas.best)} "
        f"| {ratio(r.pandas.best, r.cli.best)} |",
        "",
        f"pandas, median per phase: {', '.join(f'{p} {secs(t.median)}' for p, t in r.pandas_phases.items())}. "
        f"Not in the ratios: `import pandas` takes {secs(r.pandas_import_module)} in a fresh "
        f'interpreter; the two `read_csv(engine="pyarrow")` took {secs(r.read_csv_arrow)}.',
        "",
        "Goal (judged on unrounded figures):",
        "",
        f"- reconciliation of {n:,} tables with two copies each ≤ {RECONCILE_GOAL:g} s: library best "
        f"{secs(r.library.best)} {goal(r.library.best <= RECONCILE_GOAL)}, median {secs(r.library.median)} "
        f"{goal(r.library.median <= RECONCILE_GOAL)}; command line best {secs(r.cli.best)} "
        f"{goal(r.cli.best <= RECONCILE_GOAL)}, median {secs(r.cli.median)} {goal(r.cli.median <= RECONCILE_GOAL)}.",
        "",
        "Checks: " + "; ".join(r.checks) + ".",
        "",
    ]
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--tables", type=int, default=1_000_000, help="voting tables to simulate (default 1,000,000)")
    p.add_argument("--seed", type=int, default=1, help="simulation and alteration seed (default 1)")
    p.add_argument(
        "--workdir", type=Path, help="folder for the CSVs and the store (default: a new folder under bench/out/)"
    )
    p.add_argument("--repeat", type=int, default=3, help="repeats of each reconciliation (default 3)")
    p.add_argument("--record", action="store_true", help="append the report to docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the default work folder (it is deleted after a good run)")
    p.add_argument("--alone", choices=("library", "pandas"), help=argparse.SUPPRESS)  # see run_alone
    args = p.parse_args(argv)
    if args.alone and args.workdir is None:
        p.error("--alone needs --workdir")
    if util.find_spec("pandas") is None:
        p.error('the comparison needs pandas: .venv/bin/pip install -e ".[bench]"')
    if args.tables < 1 or args.repeat < 1:
        p.error("--tables and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.alone:
        run_alone(args.alone, args.workdir)
        return 0
    when = dt.datetime.now(dt.UTC)
    work, temporary = work_folder(f"reconcile-{args.tables}-", args.workdir)
    r = Results(args.tables, args.seed)
    election = load_election(ELECTION)
    db = work / DB

    step(f"simulate, alter and write {args.tables:,} tables into {work}")
    paths, injected = setup(r, election, work)
    step("tallyproof import (library): registry, official.csv, witness.csv")
    library_import(r, election, paths, db)
    step("tallyproof reconcile (library)")
    library_reconcile(r, db, args.repeat, injected)
    r.library_rss = memory("library", work)
    step("tallyproof reconcile (command line)")
    cli_reconcile(r, db, work, args.repeat, injected)
    step("pandas read_csv + merge + compare")
    r.pandas_import_module = pandas_import_time()
    import pandas as pd

    alternative(r, pd, election, paths, args.repeat, injected)
    r.pandas_rss = memory("pandas", work)
    r.files = {name: mib(path) for name, path in (*((f"{k}.csv", v) for k, v in paths.items()), ("store", db))}
    versions = f"NumPy {np.__version__}, pyarrow {pyarrow.__version__}, pandas {pd.__version__}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}"
    text = report(r, machine(versions), command_line(__file__, argv), when, args.repeat)
    publish(text, to_docs=args.record)
    if temporary and not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    run(main)
