"""Ed25519 keys and signatures (RFC 8032), for voting machines and for the log's checkpoints.

A machine's key pair is made on the machine; only its public half leaves it, bound to the one
table the machine serves. :func:`verify` raises :class:`~tallyproof.errors.SignatureError`; it
never returns a boolean that a caller could forget to check.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tallyproof.errors import SignatureError

__all__ = ["PrivateKey", "b64", "key_id", "unb64", "verify"]


def b64(data: bytes) -> str:
    """Base64url without padding: compact, and safe in QR codes, URLs and file names."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str, *, where: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{text[:20]!r} is not base64url", where=where) from exc


def key_id(public: bytes) -> str:
    """A short, stable name for a public key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public).hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _private_key(seed: bytes) -> Ed25519PrivateKey:
    """The key object of a seed, made once (the server signs a checkpoint with the same key many times a second)."""
    return Ed25519PrivateKey.from_private_bytes(seed)


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """An Ed25519 private key (32-byte seed)."""

    seed: bytes

    @classmethod
    def generate(cls) -> PrivateKey:
        raw = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return cls(raw)

    @property
    def public(self) -> bytes:
        return self._key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self._key().sign(message)

    def _key(self) -> Ed25519PrivateKey:
        return _private_key(self.seed)

    def to_text(self) -> str:
        return f"ed25519-private:{b64(self.seed)}"

    @classmethod
    def from_text(cls, text: str, *, where: str) -> PrivateKey:
        prefix, _, body = text.strip().partition(":")
        if prefix != "ed25519-private":
            raise SignatureError("not an Ed25519 private key (expected 'ed25519-private:…')", where=where)
        seed = unb64(body, where=where)
        if len(seed) != 32:
            raise SignatureError(f"an Ed25519 seed has 32 bytes, this one {len(seed)}", where=where)
        return cls(seed)


def verify(public: bytes, message: bytes, signature: bytes, *, where: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is ``public``'s Ed25519 signature of ``message``."""
    if len(public) != 32:
        raise SignatureError(f"an Ed25519 public key has 32 bytes, this one {len(public)}", where=where)
    if len(signature) != 64:
        raise SignatureError(f"an Ed25519 signature has 64 bytes, this one {len(signature)}", where=where)
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except InvalidSignature:
        raise SignatureError(f"the signature does not verify with key {key_id(public)}", where=where) from None
