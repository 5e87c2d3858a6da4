"""The command line's shared pieces: two consoles (results on standard output, progress and errors on
standard error), the ``--db`` and ``--format`` options, the ``--source`` preference list, and reading and
writing the files a command names (an error names the file)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tallyproof.errors import InputError
from tallyproof.sheets.sheet import Source

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    Path, typer.Option("--db", envvar="TALLYPROOF_DB", help="The store: one SQLite file per election.")
]
DEFAULT_DB = Path("tallyproof.db")
SOURCES = [s.value for s in Source]
FormatOption = Annotated[str, typer.Option("--format", help="text or json.")]


def check_format(fmt: str, choices: Sequence[str] = ("text", "json")) -> str:
    """``fmt`` if it is one of ``choices``, else :class:`InputError` naming ``--format``."""
    if fmt not in choices:
        listed = f"{', '.join(choices[:-1])} or {choices[-1]}"
        raise InputError(f"unknown format {fmt!r}: {listed}", where="--format")
    return fmt


def read_bytes(path: Path) -> bytes:
    """A file a command reads, as bytes; :class:`InputError` naming it if it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from None


def write_file(path: Path, data: str | bytes) -> None:
    """Write a file a command makes (text as UTF-8); :class:`InputError` naming it if it cannot be."""
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(path)) from None


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 table``, ``2 tables``, ``1,234 copies`` (``plural`` when adding an s is wrong)."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def preference(text: str) -> list[str]:
    """A ``--source`` value: sources in order of preference, comma-separated; a source named twice counts once,
    at its first place."""
    found = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in found if s not in SOURCES]
    if bad or not found:
        raise InputError(
            f"unknown source(s) {', '.join(bad) or '(none given)'}; known: {', '.join(SOURCES)}", where="--source"
        )
    return found


class _Rate(ProgressColumn):
    """Items per second, once there is a rate to show."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.1f}/s" if task.speed else "")


@contextmanager
def progress(label: str) -> Iterator[Progress]:
    """A progress bar on standard error: done of total, rate, elapsed and remaining time."""
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        yield bar
