"""Open data: every accepted copy in the generic CSV or JSON Lines format, re-importable as is."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from tallyproof.errors import InputError
from tallyproof.sheets.files import write_csv, write_jsonl
from tallyproof.sheets.sheet import TallySheet
from tallyproof.storage.store import Store

__all__ = ["EXPORT_FORMATS", "META", "export_copies"]

EXPORT_FORMATS = ("csv", "jsonl")
META = ["source", "submitter", "received_at", "digest"]
"""Columns added after the counts: where each copy came from and its content digest."""


def export_copies(
    store: Store,
    out: TextIO,
    *,
    fmt: str = "csv",
    sources: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every accepted copy (of ``sources``, if given) to ``out``; returns how many."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown format {fmt!r}: {' or '.join(EXPORT_FORMATS)}", where="--format")
    election = store.election()
    rows = _rows(store, sources, progress)
    return write_csv(out, rows, election, META) if fmt == "csv" else write_jsonl(out, rows, election)  # type: ignore[arg-type]


def _rows(
    store: Store, sources: Sequence[str] | None, progress: Callable[[int], None] | None
) -> Iterator[tuple[TallySheet, dict[str, Any]]]:
    for n, c in enumerate(store.iter_copies(sources), start=1):
        yield (
            c.sheet,
            {"source": c.source, "submitter": c.submitter or "", "received_at": c.received_at, "digest": c.digest},
        )
        if progress is not None and n % 10_000 == 0:
            progress(n)
