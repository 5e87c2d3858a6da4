"""The signed tally sheet: what a voting machine prints as a QR code and transmits.

Version 1 is one line of ASCII text, fields separated by ``|``::

    TP1|<election>|<table>|<machine key id>|<closed at>|<registered>|<38 counts>|<null>|<blank>|<signature>

``closed at`` is the close of poll in UTC as ``YYYYMMDDTHHMMSSZ``; the counts are per card, in ballot
order, comma-separated; the machine key id is :func:`tallyproof.signing.key_id` of the machine's
public key; the signature is Ed25519 (base64url, no padding) over the ASCII bytes of everything
before it, up to and including the last ``|``. Election and table are inside the signed text, so a
sheet cannot be replayed as another table's or another election's. For 38 cards of three-digit
counts it is about 310 characters: one QR code of version 13 at error correction M (version 14 for
four-digit counts; tests/test_signed.py checks it with segno).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from tallyproof.election import Election
from tallyproof.errors import CodecError
from tallyproof.ids import TableId
from tallyproof.sheets.qr import ascii_payload, canonical_count
from tallyproof.sheets.sheet import TallySheet
from tallyproof.signing import PrivateKey, b64, key_id, unb64, verify

__all__ = ["VERSION", "SignedSheet", "looks_signed"]

VERSION = "TP1"
_TIME = "%Y%m%dT%H%M%SZ"
_KEY_ID = re.compile(r"[0-9a-f]{16}\Z")


def looks_signed(text: str) -> bool:
    return text.startswith(VERSION + "|")


@dataclass(frozen=True, slots=True)
class SignedSheet:
    election: str
    sheet: TallySheet
    """The counts; ``registered`` is the number printed on the sheet."""
    machine: str
    """Key id of the machine that signed it."""
    closed_at: dt.datetime
    signature: bytes

    @property
    def message(self) -> bytes:
        """The signed bytes: the payload up to and including the ``|`` before the signature."""
        s = self.sheet
        counts = ",".join(map(str, s.cards or ()))
        fields = [
            VERSION,
            self.election,
            s.table,
            self.machine,
            self.closed_at.strftime(_TIME),
            str(s.registered),
            counts,
            str(s.null),
            str(s.blank),
        ]
        return ("|".join(fields) + "|").encode("ascii")

    def to_text(self) -> str:
        return self.message.decode("ascii") + b64(self.signature)

    @classmethod
    def sign(cls, election: Election, sheet: TallySheet, key: PrivateKey, closed_at: dt.datetime) -> SignedSheet:
        """Sign a copy with per-card counts, null, blank and registered voters (a machine's own result)."""
        if sheet.cards is None or sheet.null is None or sheet.blank is None or sheet.registered is None:
            raise CodecError(
                "a signed sheet needs per-card counts, null, blank and registered voters", where=sheet.table
            )
        unsigned = cls(election.id, sheet, key_id(key.public), closed_at.astimezone(dt.UTC).replace(microsecond=0), b"")
        return cls(unsigned.election, sheet, unsigned.machine, unsigned.closed_at, key.sign(unsigned.message))

    def verify(self, public: bytes) -> None:
        """Raise :class:`~tallyproof.errors.SignatureError` unless ``public`` signed this sheet."""
        verify(public, self.message, self.signature, where=f"sheet {self.sheet.table}")

    @classmethod
    def from_text(cls, text: str | bytes, election: Election) -> SignedSheet:
        """Decode a payload; every malformed field raises :class:`CodecError` naming it."""
        raw = ascii_payload(text, where="signed")
        fields = raw.split("|")
        if fields[0] != VERSION:
            raise CodecError(f"unknown version {fields[0][:8]!r}, expected {VERSION}", where="signed.version")
        if len(fields) != 10:
            raise CodecError(f"expected 10 fields separated by '|', found {len(fields)}", where="signed")
        _, elect, table, machine, closed, registered, counts, null, blank, signature = fields
        if elect != election.id:
            raise CodecError(f"signed for election {elect!r}, not {election.id!r}", where="signed.election")
        if not _KEY_ID.match(machine):
            raise CodecError(f"{machine!r} is not a key id (16 hex digits)", where="signed.machine")
        parts = counts.split(",")
        if len(parts) != len(election.cards):
            raise CodecError(f"{len(parts)} counts, expected {len(election.cards)}", where="signed.counts")
        cards = [canonical_count(p, f"signed.counts[{i}]") for i, p in enumerate(parts)]
        sheet = TallySheet.from_cards(
            election,
            TableId(election.geography.table_id(table, where="signed.table")),
            cards,
            null=canonical_count(null, "signed.null"),
            blank=canonical_count(blank, "signed.blank"),
            registered=canonical_count(registered, "signed.registered"),
        )
        sig = unb64(signature, where="signed.signature") if signature else b""
        out = cls(elect, sheet, machine, _time(closed), sig)
        if out.to_text() != raw:
            raise CodecError("not in canonical form (it would not round-trip byte for byte)", where="signed")
        return out


def _time(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, _TIME).replace(tzinfo=dt.UTC)
    except ValueError:
        raise CodecError(f"{text!r} is not a UTC time like 20240728T180000Z", where="signed.closed_at") from None
