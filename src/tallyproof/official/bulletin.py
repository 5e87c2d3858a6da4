"""Bulletins: what the electoral body announces, derived from the published sheets alone.

A bulletin is a signed checkpoint plus the tabulation of exactly the sheets in the log at that size:
per candidate, null and blank votes, and how many of the expected tables (those with a registered
machine) are counted. Where a table has several different sheets in the log, the first one logged
counts and the table is reported as a conflict. Anyone holding the leaves recomputes a bulletin with
:func:`figures` and compares it with the announcement (:func:`check_bulletin`).

Text form: one line of canonical JSON (sorted keys, no spaces) with a ``signature`` field, the log
key's Ed25519 signature over the same JSON without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tallyproof.election import Election
from tallyproof.errors import CodecError, TallyproofError
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.sheets.qr import from_qr, looks_like_qr
from tallyproof.sheets.sheet import TallySheet
from tallyproof.sheets.signed import SignedSheet
from tallyproof.signing import PrivateKey, b64, unb64, verify

__all__ = ["Bulletin", "Figures", "check_bulletin", "figures"]


@dataclass(frozen=True, slots=True)
class Figures:
    tables_counted: int
    tables_expected: int
    candidates: dict[str, int]
    null: int
    blank: int
    conflicts: int
    unsigned: int = 0
    """Counted tables whose sheet is an unsigned 2024-style payload (no machine signed it)."""

    @property
    def share(self) -> float:
        return self.tables_counted / self.tables_expected if self.tables_expected else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "tables_counted": self.tables_counted,
            "tables_expected": self.tables_expected,
            "candidates": self.candidates,
            "null": self.null,
            "blank": self.blank,
            "conflicts": self.conflicts,
            "unsigned": self.unsigned,
        }


def figures(election: Election, payloads: Sequence[str], tables_expected: int) -> Figures:
    """Tabulate the logged sheets ``payloads`` (in log order): first sheet of each table counts."""
    totals = [0] * len(election.candidates)
    null = blank = conflicts = unsigned = 0
    seen: dict[str, str] = {}
    for payload in payloads:
        sheet = _sheet(election, payload)
        if sheet is None:
            continue  # verify-log reports undecodable leaves on their own
        if sheet.table in seen:
            conflicts += seen[sheet.table] != payload
            continue
        seen[sheet.table] = payload
        unsigned += looks_like_qr(payload)
        totals = [a + b for a, b in zip(totals, sheet.candidates, strict=True)]
        null, blank = null + (sheet.null or 0), blank + (sheet.blank or 0)
    by_id: dict[str, int] = {c.id: v for c, v in zip(election.candidates, totals, strict=True)}
    return Figures(len(seen), tables_expected, by_id, null, blank, conflicts, unsigned)


def _sheet(election: Election, payload: str) -> TallySheet | None:
    """The counts of a logged payload: a signed sheet, or an unsigned 2024-style QR payload."""
    try:
        return from_qr(payload, election) if looks_like_qr(payload) else SignedSheet.from_text(payload, election).sheet
    except TallyproofError:
        return None


@dataclass(frozen=True, slots=True)
class Bulletin:
    checkpoint: Checkpoint
    figures: Figures
    signature: bytes = b""

    def body(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint.to_text(), **self.figures.to_json()}

    def message(self) -> bytes:
        return json.dumps(self.body(), sort_keys=True, separators=(",", ":")).encode()

    def to_text(self) -> str:
        return json.dumps({**self.body(), "signature": b64(self.signature)}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def make(cls, checkpoint: Checkpoint, figs: Figures, key: PrivateKey) -> Bulletin:
        unsigned = cls(checkpoint, figs)
        return cls(checkpoint, figs, key.sign(unsigned.message()))

    def verify(self, public: bytes) -> None:
        verify(public, self.message(), self.signature, where=f"bulletin at size {self.checkpoint.size}")

    @classmethod
    def from_text(cls, text: str) -> Bulletin:
        try:
            data = json.loads(text)
            figs = Figures(
                int(data["tables_counted"]),
                int(data["tables_expected"]),
                {str(k): int(v) for k, v in data["candidates"].items()},
                int(data["null"]),
                int(data["blank"]),
                int(data["conflicts"]),
                int(data.get("unsigned", 0)),
            )
            return cls(
                Checkpoint.from_text(data["checkpoint"]), figs, unb64(data["signature"], where="bulletin.signature")
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CodecError(f"not a bulletin: {exc}", where="bulletin") from None

    def headline(self, election: Election) -> str:
        f = self.figures
        names: dict[str, str] = {c.id: c.name for c in election.candidates}
        valid = sum(f.candidates.values()) or 1
        lead = sorted(f.candidates.items(), key=lambda kv: -kv[1])[:3]
        parts = ", ".join(f"{names[k]} {v:,} ({100 * v / valid:.1f}%)" for k, v in lead)
        return f"{100 * f.share:.1f}% of tables counted ({f.tables_counted:,} of {f.tables_expected:,}): {parts}"


def check_bulletin(bulletin: Bulletin, election: Election, payloads: Sequence[str]) -> list[str]:
    """Differences between a bulletin and the tabulation of the first ``size`` leaves it names."""
    size = bulletin.checkpoint.size
    if size > len(payloads):
        return [f"names {size} sheets but only {len(payloads)} are in the log"]
    actual = figures(election, payloads[:size], bulletin.figures.tables_expected)
    said = bulletin.figures
    out = [
        f"says {said.candidates.get(k, 0):,} for {k} but its sheets give {v:,}"
        for k, v in actual.candidates.items()
        if said.candidates.get(k, 0) != v
    ]
    for name in ("tables_counted", "null", "blank", "conflicts", "unsigned"):
        if getattr(said, name) != getattr(actual, name):
            out.append(f"says {name} {getattr(said, name):,} but its sheets give {getattr(actual, name):,}")
    return out
