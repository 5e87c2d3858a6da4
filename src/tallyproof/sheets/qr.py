"""The QR payload of the Venezuelan 2024 acta de escrutinio.

Format (see docs/data.md)::

    <acta id>!<38 comma-separated counts>!<null votes>!<blank votes>

where the acta id is ``CCCCCCCCC.TT.X.NNNN`` (centre code, table, then an opaque
``1.0001`` suffix). Numbers are canonical decimals: no sign, no spaces, no leading
zeros. :func:`from_qr` is strict so that ``to_qr(from_qr(p)) == p`` byte for byte.
"""

from __future__ import annotations

import re

from tallyproof.election import Election
from tallyproof.errors import CodecError
from tallyproof.ids import TableId
from tallyproof.sheets.sheet import TallySheet

__all__ = ["ascii_payload", "canonical_count", "from_qr", "looks_like_qr", "to_qr"]

_ACTA = re.compile(r"^(\d{9}\.\d{2})\.\d\.\d{4}\Z")
_NUMBER = re.compile(r"^(0|[1-9]\d{0,8})\Z")


def looks_like_qr(text: str) -> bool:
    """A cheap test used to tell a QR payload from other text (a CSV line, JSON)."""
    return text.count("!") == 3 and bool(_ACTA.match(text.split("!", 1)[0]))


def from_qr(payload: str | bytes, election: Election) -> TallySheet:
    """Decode one payload; every malformed variant raises :class:`CodecError` naming the field."""
    text = ascii_payload(payload, where="qr")
    fields = text.split("!")
    if len(fields) != 4:
        raise CodecError(f"expected 4 fields separated by '!', found {len(fields)}", where="qr")
    acta, counts, null, blank = fields
    match = _ACTA.match(acta)
    if match is None:
        raise CodecError(f"acta id {acta!r} does not match CCCCCCCCC.TT.X.NNNN", where="qr.acta_id")
    parts = counts.split(",")
    if len(parts) != len(election.cards):
        raise CodecError(f"{len(parts)} counts, expected {len(election.cards)} (one per card)", where="qr.counts")
    cards = tuple(canonical_count(p, f"qr.counts[{i}]") for i, p in enumerate(parts))
    table = election.geography.table_id(match.group(1), where="qr.acta_id")
    return TallySheet.from_cards(
        election,
        TableId(table),
        cards,
        null=canonical_count(null, "qr.null"),
        blank=canonical_count(blank, "qr.blank"),
        acta_id=acta,
    )


def to_qr(sheet: TallySheet) -> str:
    """Encode a copy with per-card counts (the inverse of :func:`from_qr`)."""
    if sheet.cards is None:
        raise CodecError("this copy has no per-card counts, which the QR payload needs", where=sheet.table)
    acta = sheet.acta_id or f"{sheet.table}.1.0001"
    return f"{acta}!{','.join(map(str, sheet.cards))}!{sheet.null or 0}!{sheet.blank or 0}"


def ascii_payload(payload: str | bytes, *, where: str) -> str:
    """A machine-printed payload as text: ASCII only, surrounding white space removed."""
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("ascii")
        except UnicodeDecodeError as exc:
            raise CodecError(f"not ASCII text (byte {exc.start})", where=where) from None
    if not payload.isascii():
        raise CodecError("not ASCII text", where=where)
    return payload.strip()


def canonical_count(text: str, where: str) -> int:
    """A count as a machine prints it: digits only, no sign, spaces or leading zeros, at most 10 digits."""
    if not _NUMBER.match(text):
        raise CodecError(
            f"{text!r} is not a vote count (a whole number without sign, spaces or leading zeros)", where=where
        )
    return int(text)
