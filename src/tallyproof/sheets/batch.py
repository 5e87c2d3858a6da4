"""Many copies at once, as columns: the form in which copies are checked, hashed and stored.

A :class:`SheetBatch` holds n copies as NumPy columns. Optional fields use
:data:`MISSING` where a copy does not give them. Checks (:func:`check_batch`) and
content digests (:meth:`SheetBatch.digests`) are computed over the columns, so a
file of a million copies is checked in well under a second; a single
:class:`~tallyproof.sheets.sheet.TallySheet` goes through the very same code as a
batch of one, which keeps the two paths from drifting apart.

Content digest (documented in docs/formats.md, so anyone can recompute it): SHA-256 of
the UTF-8 text ``<table id>|<acta id>|`` followed by the little-endian int32 vector
``[has_cards, candidates…, cards…, null, blank, registered, valid, voters]``,
with ``-2**31`` for a field the copy does not give; a copy without per-card counts
has ``has_cards = 0`` and no card values in the vector. Counts must be below
``2**31`` (:func:`check_batch` rejects larger ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from tallyproof.election import Election
from tallyproof.ids import Digest

__all__ = [
    "LIMIT",
    "MISSING",
    "OPTIONAL",
    "BatchFinding",
    "RegistryArrays",
    "SheetBatch",
    "check_batch",
]

MISSING = int(np.iinfo(np.int64).min)
LIMIT = 2**31 - 1
"""The largest count a copy may give (stored and hashed as int32)."""
_MISSING32 = -(2**31)
OPTIONAL = ("null", "blank", "registered", "valid", "voters")


class RegistryArrays(NamedTuple):
    """A registry as sorted table ids and their registered voters (:data:`MISSING` where unknown)."""

    tables: np.ndarray
    registered: np.ndarray


@dataclass(frozen=True, slots=True)
class BatchFinding:
    row: int
    code: str
    severity: str  # "error" | "warning"
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(slots=True)
class SheetBatch:
    tables: list[str]
    candidates: np.ndarray
    cards: np.ndarray
    has_cards: np.ndarray
    optional: dict[str, np.ndarray]
    """``null``, ``blank``, ``registered``, ``valid``, ``voters``: int64, :data:`MISSING` where not given."""
    acta_ids: list[str | None]
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    """Byte offsets ``[start, end)`` of each copy's text in the file it came from."""

    def __len__(self) -> int:
        return len(self.tables)

    def take(self, rows: np.ndarray) -> SheetBatch:
        idx = rows.tolist()
        return SheetBatch(
            tables=[self.tables[i] for i in idx],
            candidates=self.candidates[rows],
            cards=self.cards[rows],
            has_cards=self.has_cards[rows],
            optional={k: v[rows] for k, v in self.optional.items()},
            acta_ids=[self.acta_ids[i] for i in idx],
            lines=self.lines[rows] if self.lines.size else self.lines,
            spans=self.spans[rows] if self.spans.size else self.spans,
        )

    def cast(self) -> np.ndarray:
        """Votes cast per copy: valid + null + blank (missing counted as 0)."""
        null, blank = (np.where(self.optional[f] == MISSING, 0, self.optional[f]) for f in ("null", "blank"))
        out: np.ndarray = self.candidates.sum(axis=1) + null + blank
        return out

    def digests(self) -> list[Digest]:
        """Content digest of every copy (see the module docstring)."""
        out: list[Digest] = [Digest("")] * len(self)
        opt = [self.optional[f][:, None] for f in OPTIONAL]
        flag = self.has_cards.astype(np.int64)[:, None]
        for with_cards in (True, False):
            rows = np.flatnonzero(self.has_cards == with_cards)
            if rows.size == 0:
                continue
            parts = [flag, self.candidates, *([self.cards] if with_cards else []), *opt]
            vec = np.concatenate(parts, axis=1)[rows]
            vec = np.ascontiguousarray(np.where(vec == MISSING, _MISSING32, vec), dtype="<i4")
            heads = [f"{self.tables[i]}|{self.acta_ids[i] or ''}|".encode() for i in rows.tolist()]
            for i, digest in zip(rows.tolist(), _sha256_rows(heads, vec), strict=True):
                out[i] = digest
        return out


def _sha256_rows(heads: list[bytes], vec: np.ndarray) -> list[Digest]:
    """SHA-256 of ``head + row bytes`` for every row; one contiguous buffer when all heads have one length."""
    sha, width = hashlib.sha256, vec.shape[1] * vec.itemsize
    if len({len(h) for h in heads}) == 1:
        head = np.frombuffer(b"".join(heads), dtype=np.uint8).reshape(len(heads), -1)
        messages = np.concatenate([head, vec.view(np.uint8).reshape(len(heads), width)], axis=1)
        view, step = memoryview(messages.tobytes()), messages.shape[1]
        return [Digest(sha(view[i : i + step]).hexdigest()) for i in range(0, len(view), step)]
    buf = vec.tobytes()
    return [Digest(sha(h + buf[j * width : (j + 1) * width]).hexdigest()) for j, h in enumerate(heads)]


def check_batch(
    batch: SheetBatch, election: Election, *, registry: Mapping[str, int | None] | RegistryArrays | None = None
) -> list[BatchFinding]:
    """Every anomaly of every copy, as findings that name the row and field.

    ``error`` findings (negative counts, wrong shape) keep a copy out of tabulation;
    ``warning`` findings (counts that do not add up, more votes than registered
    voters, a table missing from the registry) are reported and the copy counts.
    """
    out = _negatives(batch, election) + _undeclared(batch, election)
    valid = batch.candidates.sum(axis=1)
    stated = batch.optional["valid"]
    for i in np.flatnonzero((stated != MISSING) & (stated != valid)).tolist():
        out.append(
            BatchFinding(
                i, "valid-mismatch", "warning", "valid", f"states {stated[i]} valid votes, counts add up to {valid[i]}"
            )
        )
    cast, voters = batch.cast(), batch.optional["voters"]
    for i in np.flatnonzero((voters != MISSING) & (voters != cast)).tolist():
        out.append(
            BatchFinding(
                i, "voters-mismatch", "warning", "voters", f"states {voters[i]} voters, votes add up to {cast[i]}"
            )
        )
    out += _registry_findings(batch, cast, registry)
    return sorted(out, key=lambda f: f.row)


def _undeclared(batch: SheetBatch, election: Election) -> list[BatchFinding]:
    """Fields a copy gives that the election's sheets do not have (``[sheet] fields``; all when not declared)."""
    out: list[BatchFinding] = []
    for name in OPTIONAL:
        if election.fields and name not in election.fields:
            for i in np.flatnonzero(batch.optional[name] != MISSING).tolist():
                out.append(
                    BatchFinding(i, "undeclared-field", "warning", name, f"{election.id} sheets have no {name!r} field")
                )
    return out


def _out_of_range(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of counts above :data:`LIMIT` and of negative counts (one pass when there are none)."""
    if matrix.size == 0 or (matrix.min() >= 0 and matrix.max() <= LIMIT):
        empty = np.zeros((0, 2), dtype=np.int64)
        return empty, empty
    return np.argwhere(matrix > LIMIT), np.argwhere(matrix < 0)


def _negatives(batch: SheetBatch, election: Election) -> list[BatchFinding]:
    """Counts below zero or above :data:`LIMIT` (absent cards are zeros, never flagged)."""
    out: list[BatchFinding] = []
    for name, matrix, ids in (
        ("candidates", batch.candidates, election.candidates),
        ("cards", batch.cards, election.cards),
    ):
        large, negative = _out_of_range(matrix)
        for i, j in large.tolist():
            out.append(BatchFinding(i, "too-large", "error", f"{name}[{j}]", f"count {matrix[i, j]} is above {LIMIT}"))
        for i, j in negative.tolist():
            if name == "candidates" or batch.has_cards[i]:
                out.append(
                    BatchFinding(i, "negative", "error", f"{name}[{j}]", f"negative count {matrix[i, j]} ({ids[j].id})")
                )
    for name in OPTIONAL:
        col = batch.optional[name]
        for i in np.flatnonzero((col < 0) & (col != MISSING)).tolist():
            out.append(BatchFinding(i, "negative", "error", name, f"negative count {col[i]}"))
        for i in np.flatnonzero(col > LIMIT).tolist():
            out.append(BatchFinding(i, "too-large", "error", name, f"count {col[i]} is above {LIMIT}"))
    return out


def _lookup(tables: list[str], registry: Mapping[str, int | None] | RegistryArrays) -> tuple[np.ndarray, np.ndarray]:
    """For each table: is it in the registry, and its registered voters there (MISSING if unknown)."""
    if isinstance(registry, RegistryArrays):
        keys, values = registry
    else:
        keys = np.asarray(sorted(registry), dtype=str)
        values = np.asarray([MISSING if registry[k] is None else registry[k] for k in keys.tolist()], dtype=np.int64)
    wanted = np.asarray(tables, dtype=str)
    if keys.size == 0:
        return np.zeros(wanted.size, bool), np.full(wanted.size, MISSING, np.int64)
    pos = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    found = keys[pos] == wanted
    return found, np.where(found, values[pos], MISSING)


def _registry_findings(
    batch: SheetBatch, cast: np.ndarray, registry: Mapping[str, int | None] | RegistryArrays | None
) -> list[BatchFinding]:
    """Votes above registered voters (the registry's figure where known, else the copy's own),
    a copy whose registered voters differ from the registry's, and tables the registry lacks."""
    out: list[BatchFinding] = []
    own = batch.optional["registered"]
    found, listed = _lookup(batch.tables, registry or {})
    registered = np.where(listed != MISSING, listed, own)
    for i in np.flatnonzero((registered != MISSING) & (registered >= 0) & (cast > registered)).tolist():
        whose = " (registry)" if listed[i] != MISSING else ""
        out.append(
            BatchFinding(
                i,
                "above-registered",
                "warning",
                "registered",
                f"{cast[i]} votes cast but {registered[i]} registered voters{whose}",
            )
        )
    for i in np.flatnonzero((listed != MISSING) & (own != MISSING) & (listed != own)).tolist():
        out.append(
            BatchFinding(
                i,
                "registered-mismatch",
                "warning",
                "registered",
                f"states {own[i]} registered voters, the registry {listed[i]}",
            )
        )
    if registry is not None and len(registry[0] if isinstance(registry, RegistryArrays) else registry):
        for i in np.flatnonzero(~found).tolist():
            out.append(
                BatchFinding(i, "unknown-table", "warning", "table", f"table {batch.tables[i]} is not in the registry")
            )
    return out
