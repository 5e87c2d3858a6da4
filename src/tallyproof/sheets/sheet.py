"""One copy of one table's tally sheet, and the checks every copy goes through.

A :class:`TallySheet` is what one source says one table counted. Per-card counts
are kept when the copy has them (a QR payload); copies that only give per-candidate
totals (the resultadosconvzla CSVs) keep those. :func:`check` never raises: it
returns :class:`Finding`s, and only findings of severity ``error`` keep a copy out
of tabulation (the copy itself is still stored, as received, with its reasons).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tallyproof.election import Election
from tallyproof.errors import CodecError
from tallyproof.ids import Digest, TableId
from tallyproof.sheets.batch import MISSING, OPTIONAL, SheetBatch, check_batch

__all__ = ["Finding", "Severity", "Source", "TallySheet", "check", "check_many", "parse_count", "sheets_to_batch"]


class Source(enum.StrEnum):
    """Who a copy comes from."""

    OFFICIAL = "official"
    WITNESS = "witness"
    OBSERVER = "observer"
    IMPORT = "import"


class Severity(enum.StrEnum):
    ERROR = "error"
    """The copy cannot be counted (it is kept, and listed by ``tallyproof rejects``)."""
    WARNING = "warning"
    """The copy is counted, and the anomaly is reported."""


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class TallySheet:
    """The counts of one copy. ``candidates`` is derived from ``cards`` when cards are known."""

    table: TableId
    candidates: tuple[int, ...]
    cards: tuple[int, ...] | None = None
    null: int | None = None
    blank: int | None = None
    registered: int | None = None
    valid: int | None = None
    """Valid votes as *stated* on the copy (checked against the sum of the counts)."""
    voters: int | None = None
    acta_id: str | None = None
    """The full id as printed on the sheet, when it says more than the table (``010111043.01.1.0001``)."""

    @classmethod
    def from_cards(
        cls, election: Election, table: TableId, cards: Sequence[int], **fields: int | str | None
    ) -> TallySheet:
        """A copy with per-card counts; candidate totals are summed from the cards."""
        mapping = election.card_to_candidate
        totals = [0] * len(election.candidates)
        if len(cards) == len(mapping):
            for count, cand in zip(cards, mapping, strict=True):
                totals[cand] += count
        return cls(table=table, candidates=tuple(totals), cards=tuple(cards), **fields)  # type: ignore[arg-type]

    @property
    def total_valid(self) -> int:
        return sum(self.candidates)

    def digest(self) -> Digest:
        """SHA-256 of what the copy says, whatever its source or format (defined in :mod:`.batch`)."""
        n_cards = 0 if self.cards is None else len(self.cards)
        return sheets_to_batch([self], n_candidates=len(self.candidates), n_cards=n_cards).digests()[0]

    def votes_equal(self, other: TallySheet) -> bool:
        """Do two copies give the same votes? Fields one of them lacks are not compared."""
        if self.candidates != other.candidates:
            return False
        if self.cards is not None and other.cards is not None and self.cards != other.cards:
            return False
        return all(a is None or b is None or a == b for a, b in ((self.null, other.null), (self.blank, other.blank)))


_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]*\.[0-9]+([eE][-+]?[0-9]+)?|-?[0-9]+[eE][-+]?[0-9]+")
COUNT_LIMIT = 2**31 - 1
"""The largest count any file may give (counts are stored and hashed as int32)."""


def parse_count(text: str, *, where: str) -> int:
    """A vote count as written in a file: optional spaces around ``-?[0-9]+``, at most
    :data:`COUNT_LIMIT`; anything else raises :class:`CodecError` naming ``where``."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        value = int(stripped)
        if abs(value) > COUNT_LIMIT:
            raise CodecError(f"{stripped} is out of range (counts go up to {COUNT_LIMIT})", where=where)
        return value
    if _DECIMAL.fullmatch(stripped):
        raise CodecError(f"{text!r} is not a whole number", where=where)
    raise CodecError(f"{text!r} is not a number", where=where)


def check(sheet: TallySheet, election: Election, *, registry: Mapping[str, int | None] | None = None) -> list[Finding]:
    """Every anomaly in one copy. ``registry`` maps table ids to registered voters, if known.

    The same checks as :func:`~tallyproof.sheets.batch.check_batch`, after the checks of
    shape that a batch cannot express (whole numbers, number of counts, table id).
    """
    return check_many([sheet], election, registry=registry)[0]


def check_many(
    sheets: Sequence[TallySheet], election: Election, *, registry: Mapping[str, int | None] | None = None
) -> list[list[Finding]]:
    """:func:`check` for many copies at once (one pass of the batch checks): one list per copy."""
    out = [_check_shape(sheet, election) for sheet in sheets]
    whole = [i for i, found in enumerate(out) if not any(f.severity is Severity.ERROR for f in found)]
    if whole:
        batch = sheets_to_batch(
            [sheets[i] for i in whole], n_candidates=len(election.candidates), n_cards=len(election.cards)
        )
        for f in check_batch(batch, election, registry=registry):
            out[whole[f.row]].append(Finding(f.code, Severity(f.severity), f.field, f.message))
    return out


def _check_shape(sheet: TallySheet, election: Election) -> list[Finding]:
    out: list[Finding] = []
    if not election.geography.pattern.fullmatch(sheet.table):
        out.append(
            Finding("bad-table-id", Severity.ERROR, "table", f"{sheet.table!r} is not a table id of {election.id}")
        )
    if len(sheet.candidates) != len(election.candidates):
        out.append(
            Finding(
                "wrong-candidates",
                Severity.ERROR,
                "candidates",
                f"{len(sheet.candidates)} candidate counts, expected {len(election.candidates)}",
            )
        )
    if sheet.cards is not None and len(sheet.cards) != len(election.cards):
        out.append(
            Finding(
                "wrong-cards",
                Severity.ERROR,
                "cards",
                f"{len(sheet.cards)} card counts, expected {len(election.cards)}",
            )
        )
    named = [("candidates", sheet.candidates), ("cards", sheet.cards or ())]
    for name, values in named:
        for i, v in enumerate(values):
            if not isinstance(v, int) or isinstance(v, bool):
                out.append(Finding("non-integer", Severity.ERROR, f"{name}[{i}]", f"{v!r} is not a whole number"))
    for name in ("null", "blank", "registered", "valid", "voters"):
        v = getattr(sheet, name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            out.append(Finding("non-integer", Severity.ERROR, name, f"{v!r} is not a whole number"))
    return out


def sheets_to_batch(sheets: Sequence[TallySheet], *, n_candidates: int, n_cards: int) -> SheetBatch:
    """Columns from copies whose shape (number of counts, whole numbers) is already checked."""
    n = len(sheets)
    cands = np.asarray([s.candidates for s in sheets], dtype=np.int64).reshape(n, n_candidates)
    has = np.fromiter((s.cards is not None for s in sheets), bool, n)
    blank = (0,) * n_cards
    cards = np.asarray([s.cards if s.cards is not None else blank for s in sheets], dtype=np.int64).reshape(n, n_cards)
    opt = {
        f: np.fromiter((MISSING if getattr(s, f) is None else getattr(s, f) for s in sheets), np.int64, n)
        for f in OPTIONAL
    }
    return SheetBatch([s.table for s in sheets], cands, cards, has, opt, [s.acta_id for s in sheets])
