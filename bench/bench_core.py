"""Core benchmark: simulate, import and tabulate an India-scale election (1,000,000 tables by default).

In one run, on the same ``sheets.csv``:

1. tallyproof simulates the election and writes ``registry.csv`` and ``sheets.csv``;
2. tallyproof imports the registry and the sheets into a fresh SQLite store (library calls), then
   ``tallyproof import`` does the same on a second fresh store, timed from outside (what a user waits);
3. tallyproof tabulates by state (library: best and median of ``--repeat``; ``tallyproof tabulate --by state``);
4. the alternative a data analyst would pick does the same job: pandas ``read_csv`` + ``DataFrame.to_sql``
   into a fresh SQLite file, then a by-state tabulation with (a) pandas ``read_sql`` + ``groupby`` and
   (b) one SQLite ``GROUP BY`` over the wide table. Its per-state and national candidate totals must equal
   tallyproof's (and the simulation's): the run fails otherwise.

Ratios are alternative time / tallyproof time: above 1 means tallyproof is faster. Times are rounded up
to the millisecond and rates down, so a figure never looks better than measured; goals are judged on the
unrounded figures. ``--record`` appends the report to ``docs/benchmarks.md``.

Run: ``.venv/bin/python bench/bench_core.py [--tables N] [--seed S] [--repeat R] [--record]``.
Needs pandas (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import sqlalchemy
from _report import (
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

from tallyproof.election import Election, load_election
from tallyproof.simulation import election as sim
from tallyproof.storage.imports import import_file, import_registry
from tallyproof.storage.store import Store
from tallyproof.tabulate import Tabulation, tabulate

ELECTION = "ve2024"
LEVEL = "state"
PREFERENCE = ["official", "witness", "observer", "import"]
IMPORT_GOAL = 100_000
"""Sheets per second."""
TABULATE_GOAL = 2.0
"""Seconds for a by-state tabulation."""
TO_SQL_CHUNK = 50_000


# --- timing --------------------------------------------------------------------------------------


@dataclass
class Times:
    """Wall times (seconds) of the repeats of one measurement."""

    runs: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def tallyproof_command() -> list[str]:
    """The ``tallyproof`` script next to this interpreter (the venv's), else ``python -m tallyproof``."""
    script = Path(sys.executable).parent / "tallyproof"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tallyproof"]


_LAUNCHER = """
import os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(result, "w") as f:
    f.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""
"""Runs one command and writes its wall time, peak RSS (KiB) and exit code to a file.

A small process of its own, because a child's peak RSS on Linux counts the memory of the process it
was spawned from: spawned from this benchmark (gigabytes by then), every command would seem as large.
"""


def run_cli(args: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds (interpreter start-up included) and peak RSS (MiB) of one ``tallyproof`` command.

    Its output goes to ``log``; a non-zero exit fails the benchmark.
    """
    result = log.with_suffix(".time")
    with log.open("wb") as out:
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(result), *tallyproof_command(), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    wall, rss, code = result.read_text(encoding="utf-8").split()
    check(code == "0", f"`tallyproof {shlex.join(args)}` exited {code}; see {log}")
    return float(wall), int(rss) / 1024


# --- formatting: never better than measured --------------------------------------------------------


def mib(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:,.1f} MiB"


# --- the steps -----------------------------------------------------------------------------------


@dataclass
class Results:
    tables: int
    seed: int
    simulate: float = 0.0
    write: float = 0.0
    registry_import: float = 0.0
    sheets_import: float = 0.0
    cli_registry_import: float = 0.0
    cli_import: float = 0.0
    cli_import_rss: float = 0.0
    cli_startup: Times = field(default_factory=Times)
    tab: Times = field(default_factory=Times)
    tab_phases: dict[str, Times] = field(default_factory=dict)
    cli_tab: Times = field(default_factory=Times)
    cli_tab_rss: float = 0.0
    pandas_import_module: float = 0.0
    read_csv: float = 0.0
    read_csv_arrow: float = 0.0
    to_sql: float = 0.0
    pandas_tab: Times = field(default_factory=Times)
    sql_tab: Times = field(default_factory=Times)
    files: dict[str, str] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)


def simulate_and_write(r: Results, election: Election, work: Path) -> tuple[dict[str, Path], np.ndarray]:
    r.simulate, s = timed(lambda: sim.simulate(election, tables=r.tables, seed=r.seed))
    r.write, paths = timed(lambda: sim.write(s, work))
    truth = s.candidate_votes().sum(axis=0)
    return paths, truth


def fresh(path: Path) -> Path:
    """``path`` with no file at it (nor SQLite side files): the stores are always created anew."""
    for p in (path, *(path.with_name(path.name + x) for x in ("-journal", "-wal", "-shm"))):
        p.unlink(missing_ok=True)
    return path


def library_import(r: Results, election: Election, paths: dict[str, Path], db: Path) -> None:
    store = Store.sqlite(fresh(db), create=True)
    store.init(election)
    r.registry_import, reg = timed(lambda: import_registry(store, paths["registry"]))
    r.sheets_import, summary = timed(lambda: import_file(store, paths["sheets"]))
    check(
        reg.accepted == r.tables and reg.rejected == 0,
        f"registry import: {reg.accepted} accepted, {reg.rejected} rejected",
    )
    check(
        summary.accepted == r.tables and summary.rejected == 0 and not summary.already,
        f"sheets import: {summary.accepted} accepted, {summary.rejected} rejected, already={summary.already}",
    )
    r.checks.append(f"library import: {summary.accepted:,} sheets accepted, 0 rejected")


def cli_import(r: Results, paths: dict[str, Path], db: Path, work: Path) -> None:
    fresh(db)
    for _ in range(3):
        r.cli_startup.runs.append(run_cli(["--help"], work / "cli-help.log")[0])
    run_cli(["init", "--election", ELECTION, "--db", str(db)], work / "cli-init.log")
    r.cli_registry_import, _ = run_cli(
        ["registry", "import", str(paths["registry"]), "--db", str(db)], work / "cli-registry.log"
    )
    r.cli_import, r.cli_import_rss = run_cli(["import", str(paths["sheets"]), "--db", str(db)], work / "cli-import.log")
    n = Store.sqlite(db).counts()["sheets"]
    check(n == r.tables, f"`tallyproof import` stored {n} sheets, not {r.tables}")
    r.checks.append(f"`tallyproof import`: {n:,} sheets stored")


def library_tabulate(r: Results, db: Path, repeat: int) -> Tabulation:
    """Open the store, read the columns, tabulate by state: the whole of what a library user calls."""
    phases = ("open", "columns", "registry_columns", "unit_names", "tabulate")
    r.tab_phases = {p: Times() for p in phases}
    tab: Tabulation | None = None
    for _ in range(repeat):
        t = [time.perf_counter()]
        store = Store.sqlite(db)
        election = store.election()
        t.append(time.perf_counter())
        cols = store.columns(PREFERENCE)
        t.append(time.perf_counter())
        reg = store.registry_columns()
        t.append(time.perf_counter())
        names = store.unit_names()
        t.append(time.perf_counter())
        tab = tabulate(election, cols, reg, level=LEVEL, preference=PREFERENCE, names=names)
        t.append(time.perf_counter())
        r.tab.runs.append(t[-1] - t[0])
        for i, p in enumerate(phases):
            r.tab_phases[p].runs.append(t[i + 1] - t[i])
        store.engine.dispose()
    assert tab is not None
    return tab


def cli_tabulate(r: Results, db: Path, work: Path, repeat: int) -> None:
    for _ in range(repeat):
        wall, rss = run_cli(["tabulate", "--by", LEVEL, "--db", str(db)], work / "cli-tabulate.log")
        r.cli_tab.runs.append(wall)
        r.cli_tab_rss = max(r.cli_tab_rss, rss)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pandas_import_time() -> float:
    """Seconds to ``import pandas`` in a fresh interpreter that has tallyproof's own dependencies loaded.

    Measured apart because this process has pandas already: pyarrow imports it, when installed, the
    first time a column is converted to NumPy (as tallyproof's import does).
    """
    code = (
        "import time, numpy, pyarrow, sqlalchemy; start = time.perf_counter(); import pandas; "
        "print(time.perf_counter() - start)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out)


def pandas_import(r: Results, pd: Any, sheets: Path, db: Path) -> int:
    """What an analyst would write: read the CSV (keeping table ids as text), write it to SQLite."""
    r.read_csv_arrow, _ = timed(lambda: pd.read_csv(sheets, dtype={"table": str, "acta_id": str}, engine="pyarrow"))
    fresh(db)
    r.read_csv, df = timed(lambda: pd.read_csv(sheets, dtype={"table": str, "acta_id": str}))

    def to_sql() -> None:
        with closing(sqlite3.connect(db)) as con:
            df.to_sql("sheets", con, index=False, chunksize=TO_SQL_CHUNK)
            con.commit()

    r.to_sql, _ = timed(to_sql)
    return len(df)


def alternative_tabulate(
    r: Results, pd: Any, election: Election, db: Path, repeat: int
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """By-state candidate totals with (a) pandas read_sql + groupby, (b) one SQLite GROUP BY."""
    width = (election.geography.prefix_lengths or {}).get(LEVEL)
    check(width is not None, f"{election.id}: the {LEVEL} key has no fixed width")
    candidates = [f"candidate:{c.id}" for c in election.candidates]
    measures = [*candidates, "null", "blank", "registered"]
    read = f'SELECT "table", {", ".join(quote(c) for c in measures)} FROM sheets'
    group = (
        f'SELECT substr("table", 1, {width}), count(*), {", ".join(f"sum({quote(c)})" for c in measures)} '
        "FROM sheets GROUP BY 1 ORDER BY 1"
    )
    by_pandas: dict[str, tuple[int, ...]] = {}
    by_sql: dict[str, tuple[int, ...]] = {}
    for _ in range(repeat):
        with closing(sqlite3.connect(db)) as con:
            start = time.perf_counter()
            df = pd.read_sql(read, con)
            sums = df.groupby(df["table"].str[:width])[measures].sum()
            r.pandas_tab.runs.append(time.perf_counter() - start)
            by_pandas = {
                str(k): tuple(int(v) for v in row)
                for k, row in zip(sums.index, sums[candidates].to_numpy(), strict=True)
            }
            del df, sums
            start = time.perf_counter()
            rows = con.execute(group).fetchall()
            r.sql_tab.runs.append(time.perf_counter() - start)
            by_sql = {str(row[0]): tuple(int(v) for v in row[2 : 2 + len(candidates)]) for row in rows}
    return by_pandas, by_sql


def verify(
    r: Results,
    tab: Tabulation,
    truth: np.ndarray,
    by_pandas: dict[str, tuple[int, ...]],
    by_sql: dict[str, tuple[int, ...]],
) -> None:
    """Every tool must give the same totals, per state and nationally, as the simulation drew."""
    ours = {u.key: tuple(u.candidates) for u in tab.units}
    national = tuple(int(v) for v in truth)
    check(
        tuple(tab.total.candidates) == national, f"tallyproof national {tab.total.candidates} != simulated {national}"
    )
    check(tab.total.tables_counted == r.tables, f"tallyproof counted {tab.total.tables_counted} tables, not {r.tables}")
    for name, theirs in (("pandas groupby", by_pandas), ("SQLite GROUP BY", by_sql)):
        check(set(theirs) == set(ours), f"{name}: states {sorted(theirs)} != tallyproof's {sorted(ours)}")
        for key, votes in ours.items():
            check(theirs[key] == votes, f"{name}: state {key}: {theirs[key]} != tallyproof's {votes}")
        summed = tuple(int(x) for x in np.sum(list(theirs.values()), axis=0))
        check(summed == national, f"{name}: national {summed} != tallyproof's {national}")
    r.checks.append(
        f"per-candidate totals equal in all {len(ours)} states and nationally: tallyproof = pandas = SQLite = simulation "
        f"({sum(national):,} valid votes)"
    )


# --- report --------------------------------------------------------------------------------------


def report(r: Results, info: dict[str, str], command: str, when: dt.datetime, repeat: int) -> str:
    n = r.tables
    pandas_import_total = r.read_csv + r.to_sql
    lines = [
        f"## {when:%Y-%m-%d %H:%M} UTC — {n:,} tables, seed {r.seed}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['nproc']} CPUs (nproc), {info['cpu']}, {info['ram']} RAM; {info['os']}.  ",
        f"{info['versions']}; {info['tallyproof']}.  ",
        f"Files: {', '.join(f'{k} {v}' for k, v in r.files.items())}.",
        "",
        "| tallyproof step | time | rate |",
        "| --- | ---: | ---: |",
        f"| simulate | {secs(r.simulate)} | {rate(n, r.simulate, 'tables')} |",
        f"| write registry.csv + sheets.csv | {secs(r.write)} | {rate(n, r.write, 'tables')} |",
        f"| simulate + write | {secs(r.simulate + r.write)} | {rate(n, r.simulate + r.write, 'tables')} |",
        f"| registry import (library) | {secs(r.registry_import)} | {rate(n, r.registry_import, 'tables')} |",
        f"| sheets import (library `import_file`) | {secs(r.sheets_import)} | {rate(n, r.sheets_import, 'sheets')} |",
        f"| `tallyproof registry import` (wall) | {secs(r.cli_registry_import)} | {rate(n, r.cli_registry_import, 'tables')} |",
        f"| `tallyproof import sheets.csv` (wall, peak RSS {r.cli_import_rss:,.0f} MiB) | {secs(r.cli_import)} "
        f"| {rate(n, r.cli_import, 'sheets')} |",
        f"| `tallyproof --help` (start-up alone, best of 3) | {secs(r.cli_startup.best)} | |",
        f"| by-state tabulation (library), best of {repeat} | {secs(r.tab.best)} | |",
        f"| by-state tabulation (library), median of {repeat} | {secs(r.tab.median)} | |",
        f"| `tallyproof tabulate --by state` (wall), best of {repeat} | {secs(r.cli_tab.best)} | |",
        f"| `tallyproof tabulate --by state` (wall, peak RSS {r.cli_tab_rss:,.0f} MiB), median of {repeat} "
        f"| {secs(r.cli_tab.median)} | |",
        "",
        "Library tabulation, median per phase: "
        + ", ".join(f"{p} {secs(t.median)}" for p, t in r.tab_phases.items())
        + ".",
        "",
        "Side by side with pandas + SQLite (same run, same sheets.csv; ratio = alternative / tallyproof, "
        "above 1 = tallyproof faster):",
        "",
        "| task | tallyproof | alternative | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| import sheets.csv into SQLite | library {secs(r.sheets_import)} | pandas `read_csv` {secs(r.read_csv)} "
        f"+ `to_sql` {secs(r.to_sql)} = {secs(pandas_import_total)} | {ratio(pandas_import_total, r.sheets_import)} |",
        f"| same, tallyproof from the command line | CLI {secs(r.cli_import)} | {secs(pandas_import_total)} "
        f"| {ratio(pandas_import_total, r.cli_import)} |",
        f"| by-state tabulation, best of {repeat} | library {secs(r.tab.best)} | pandas `read_sql` + `groupby` "
        f"{secs(r.pandas_tab.best)} | {ratio(r.pandas_tab.best, r.tab.best)} |",
        f"| by-state tabulation, best of {repeat} | library {secs(r.tab.best)} | SQLite `GROUP BY` "
        f"{secs(r.sql_tab.best)} | {ratio(r.sql_tab.best, r.tab.best)} |",
        f"| same, tallyproof from the command line | CLI {secs(r.cli_tab.best)} | SQLite `GROUP BY` "
        f"{secs(r.sql_tab.best)} | {ratio(r.sql_tab.best, r.cli_tab.best)} |",
        "",
        f'Not in the ratios: `import pandas` takes {secs(r.pandas_import_module)} in a fresh interpreter; `read_csv(engine="pyarrow")` '
        f"took {secs(r.read_csv_arrow)}. Medians of {repeat}: pandas {secs(r.pandas_tab.median)}, "
        f"SQLite {secs(r.sql_tab.median)}.",
        "",
        "Goals (judged on unrounded figures):",
        "",
        f"- import ≥ {IMPORT_GOAL:,} sheets/s: library {rate(n, r.sheets_import, 'sheets')} "
        f"{goal(n / r.sheets_import >= IMPORT_GOAL)}; command line, start-up included, {rate(n, r.cli_import, 'sheets')} "
        f"{goal(n / r.cli_import >= IMPORT_GOAL)}.",
        f"- by-state tabulation ≤ {TABULATE_GOAL:g} s: library best {secs(r.tab.best)} {goal(r.tab.best <= TABULATE_GOAL)}, "
        f"median {secs(r.tab.median)} {goal(r.tab.median <= TABULATE_GOAL)}; command line best {secs(r.cli_tab.best)} "
        f"{goal(r.cli_tab.best <= TABULATE_GOAL)}, median {secs(r.cli_tab.median)} {goal(r.cli_tab.median <= TABULATE_GOAL)}.",
        "",
        "Checks: " + "; ".join(r.checks) + ".",
        "",
    ]
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--tables", type=int, default=1_000_000, help="voting tables to simulate (default 1,000,000)")
    p.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    p.add_argument(
        "--workdir", type=Path, help="folder for the CSVs and stores (default: a new folder under bench/out/)"
    )
    p.add_argument("--repeat", type=int, default=3, help="repeats of each tabulation (default 3)")
    p.add_argument("--record", action="store_true", help="append the report to docs/benchmarks.md")
    p.add_argument("--keep", action="store_true", help="keep the default work folder (it is deleted after a good run)")
    args = p.parse_args(argv)
    if util.find_spec("pandas") is None:
        p.error('the comparison needs pandas: .venv/bin/pip install -e ".[bench]"')
    if args.tables < 1 or args.repeat < 1:
        p.error("--tables and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    when = dt.datetime.now(dt.UTC)
    work, temporary = work_folder(f"core-{args.tables}-", args.workdir)
    r = Results(args.tables, args.seed)
    election = load_election(ELECTION)

    step(f"simulate + write {args.tables:,} tables into {work}")
    paths, truth = simulate_and_write(r, election, work)
    step("tallyproof import (library)")
    library_import(r, election, paths, work / "tallyproof.db")
    step("tallyproof import (command line)")
    cli_import(r, paths, work / "cli.db", work)
    step("tallyproof tabulate (library)")
    tab = library_tabulate(r, work / "tallyproof.db", args.repeat)
    step("tallyproof tabulate (command line)")
    cli_tabulate(r, work / "cli.db", work, args.repeat)
    step("pandas import")
    r.pandas_import_module = pandas_import_time()
    import pandas as pd

    n = pandas_import(r, pd, paths["sheets"], work / "pandas.db")
    check(n == args.tables, f"pandas read {n} rows, not {args.tables}")
    step("pandas and SQLite tabulation")
    by_pandas, by_sql = alternative_tabulate(r, pd, election, work / "pandas.db", args.repeat)
    verify(r, tab, truth, by_pandas, by_sql)
    r.files = {
        "sheets.csv": mib(paths["sheets"]),
        "registry.csv": mib(paths["registry"]),
        "tallyproof store": mib(work / "tallyproof.db"),
        "pandas SQLite": mib(work / "pandas.db"),
    }
    versions = f"NumPy {np.__version__}, pyarrow {pyarrow.__version__}, pandas {pd.__version__}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}"
    text = report(r, machine(versions), command_line(__file__, argv), when, args.repeat)
    publish(text, to_docs=args.record)
    if temporary and not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    run(main)
