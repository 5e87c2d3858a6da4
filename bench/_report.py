"""What the benchmarks share: loud checks, figures that never look better than measured, the machine,
and appending a run to docs/benchmarks.md."""

from __future__ import annotations

import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"


class BenchmarkError(RuntimeError):
    """The benchmark cannot be trusted: a step failed, a check did not hold, or two tools disagree."""


def check(ok: bool, what: str) -> None:
    """Fail loudly (an explicit check, so that ``python -O`` cannot skip it)."""
    if not ok:
        raise BenchmarkError(what)


def step(label: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {label}", file=sys.stderr, flush=True)


def secs(x: float) -> str:
    """Seconds, rounded up to the millisecond."""
    return f"{math.ceil(x * 1000) / 1000:,.3f} s"


def micros(x: float) -> str:
    """Seconds shown in µs, rounded up to 0.1 µs."""
    return f"{math.ceil(x * 1e7) / 10:,.1f} µs"


def rate(n: float, seconds: float, unit: str) -> str:
    """A rate, rounded down."""
    return f"{math.floor(n / seconds):,} {unit}/s"


def ratio(alternative: float, ours: float) -> str:
    """``alternative / ours`` rounded down (above 1: ours is faster)."""
    r = alternative / ours
    return f"{math.floor(r):,}" if r >= 100 else f"{math.floor(r * 100) / 100:,.2f}"


def goal(ok: bool) -> str:
    return "**met**" if ok else "**MISSED**"


def p99(xs: list[float]) -> float:
    """The 99th percentile, nearest rank (never interpolated down)."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.99 * len(s)) - 1)]


def _proc(path: str, key: str) -> str | None:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return None


def machine(versions: str) -> dict[str, str]:
    """What the figures were measured on; ``versions`` names the libraries that matter to this run."""
    memory = _proc("/proc/meminfo", "MemTotal")
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _proc("/proc/cpuinfo", "model name") or "unknown",
        "ram": f"{int(memory.split()[0]) / 2**20:.1f} GiB" if memory else "unknown",
        "os": platform.platform(),
        "versions": f"Python {platform.python_version()}, {versions}",
        "tallyproof": f"tallyproof {metadata.version('tallyproof')} at {git_revision()}",
    }


def git_revision() -> str:
    """The commit measured, and whether ``src/`` had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src")
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{head} + uncommitted changes in src/" if dirty else head


def record(text: str) -> None:
    """Append one run's report to docs/benchmarks.md."""
    if not DOCS.exists():
        DOCS.write_text("# Benchmarks\n\nRuns of the scripts in `bench/`, newest last.\n\n", encoding="utf-8")
    with DOCS.open("a", encoding="utf-8") as f:
        f.write("\n" + text)


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that reproduces this run, with paths relative to the repository."""
    exe, path = Path(sys.executable), Path(script).resolve()
    python = str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else str(exe)
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return shlex.join([python, where, *(sys.argv[1:] if argv is None else argv)])


def work_folder(prefix: str, workdir: Path | None) -> tuple[Path, bool]:
    """The folder for a run's files, and whether it is a new one under bench/out/ (deleted after a good run)."""
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=out)) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    return work, workdir is None


def publish(text: str, *, to_docs: bool) -> None:
    """Print the report and, if asked, append it to docs/benchmarks.md."""
    print(text)
    if to_docs:
        record(text)
        print(f"Recorded in {DOCS.relative_to(ROOT)}.", file=sys.stderr)


def run(main: Callable[[], int]) -> None:
    """Run a benchmark's ``main``; a failed check ends it with status 1 and says why."""
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
