"""Signed checkpoints: the log's size and root at a moment, signed by the log's key.

Text form (one field a line, then the signature over the exact bytes of every line before it)::

    tallyproof checkpoint v1
    origin ve2024 <log key id>
    size 30026
    root <64 hex digits>
    time 2024-07-29T00:10:00Z
    signature <base64url Ed25519 signature>

Two checkpoints of the same origin and size with different roots prove that the log forked: one
of them was shown to somebody else. :func:`Checkpoint.from_text` is strict so that a checkpoint
round-trips byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from tallyproof.errors import CodecError, LedgerError
from tallyproof.signing import PrivateKey, b64, key_id, unb64, verify

__all__ = ["Checkpoint"]

_HEAD = "tallyproof checkpoint v1"
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_LINE = re.compile(r"(origin|size|root|time|signature) (.+)\Z")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    election: str
    log_key: str
    """Key id of the log's signing key."""
    size: int
    root: bytes
    time: dt.datetime
    signature: bytes = b""

    @property
    def message(self) -> bytes:
        lines = [
            _HEAD,
            f"origin {self.election} {self.log_key}",
            f"size {self.size}",
            f"root {self.root.hex()}",
            f"time {self.time.strftime(_TIME)}",
        ]
        return ("\n".join(lines) + "\n").encode("ascii")

    def to_text(self) -> str:
        return self.message.decode("ascii") + f"signature {b64(self.signature)}\n"

    @classmethod
    def make(cls, election: str, size: int, root: bytes, key: PrivateKey, time: dt.datetime) -> Checkpoint:
        when = time.astimezone(dt.UTC).replace(microsecond=0)
        unsigned = cls(election, key_id(key.public), size, root, when)
        return cls(election, unsigned.log_key, size, root, when, key.sign(unsigned.message))

    def verify(self, public: bytes) -> None:
        if key_id(public) != self.log_key:
            raise LedgerError(
                f"checkpoint names log key {self.log_key}, not {key_id(public)}", where=f"checkpoint {self.size}"
            )
        verify(public, self.message, self.signature, where=f"checkpoint {self.size}")

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if lines[0] != _HEAD:
            raise CodecError(f"expected {_HEAD!r} on the first line", where="checkpoint")
        fields: dict[str, str] = {}
        for i, line in enumerate(lines[1:-1], start=2):
            m = _LINE.match(line)
            if m is None or m.group(1) in fields:
                raise CodecError(
                    f"line {i}: {line[:40]!r} is not one of origin, size, root, time, signature", where="checkpoint"
                )
            fields[m.group(1)] = m.group(2)
        missing = [k for k in ("origin", "size", "root", "time", "signature") if k not in fields]
        if missing or lines[-1] != "":
            raise CodecError(f"missing {', '.join(missing) or 'final line break'}", where="checkpoint")
        out = cls(
            *_origin(fields["origin"]),
            _size(fields["size"]),
            _root(fields["root"]),
            _when(fields["time"]),
            unb64(fields["signature"], where="checkpoint.signature"),
        )
        if out.to_text() != text:
            raise CodecError("not in canonical form", where="checkpoint")
        return out


def _origin(text: str) -> tuple[str, str]:
    election, _, key = text.partition(" ")
    if not election or not re.fullmatch(r"[0-9a-f]{16}", key):
        raise CodecError(f"{text!r} is not '<election> <16 hex digit key id>'", where="checkpoint.origin")
    return election, key


def _size(text: str) -> int:
    if not re.fullmatch(r"0|[1-9][0-9]*", text):
        raise CodecError(f"{text!r} is not a size", where="checkpoint.size")
    return int(text)


def _root(text: str) -> bytes:
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise CodecError(f"{text!r} is not a SHA-256 in hex", where="checkpoint.root")
    return bytes.fromhex(text)


def _when(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, _TIME).replace(tzinfo=dt.UTC)
    except ValueError:
        raise CodecError(f"{text!r} is not a UTC time like 2024-07-29T00:10:00Z", where="checkpoint.time") from None
