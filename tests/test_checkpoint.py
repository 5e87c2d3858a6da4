from __future__ import annotations

import datetime as dt

import pytest

from tallyproof.errors import CodecError, LedgerError, SignatureError
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.official.merkle import MemoryTree
from tallyproof.signing import PrivateKey

KEY = PrivateKey(bytes(range(1, 33)))
WHEN = dt.datetime(2024, 7, 29, 0, 10, tzinfo=dt.UTC)


def checkpoint(size: int = 3) -> Checkpoint:
    root = MemoryTree([b"a", b"b", b"c"][:size]).tree().root()
    return Checkpoint.make("ve2024", size, root, KEY, WHEN)


def test_round_trip_and_verify() -> None:
    cp = checkpoint()
    text = cp.to_text()
    assert text.splitlines()[0] == "tallyproof checkpoint v1" and "size 3" in text
    back = Checkpoint.from_text(text)
    assert back == cp and back.to_text() == text
    back.verify(KEY.public)


def test_changed_fields_or_other_keys_fail() -> None:
    text = checkpoint().to_text()
    with pytest.raises(SignatureError):
        Checkpoint.from_text(text.replace("size 3", "size 4")).verify(KEY.public)
    with pytest.raises(LedgerError, match="names log key"):
        Checkpoint.from_text(text).verify(PrivateKey.generate().public)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda t: t.replace("v1", "v2"), "checkpoint"),
        (lambda t: t.replace("size 3", "size 03"), "checkpoint.size"),
        (lambda t: t.replace("root ", "root 00"), "checkpoint.root"),
        (lambda t: t.replace("2024-07-29T00:10:00Z", "yesterday"), "checkpoint.time"),
        (lambda t: t.replace("origin ve2024 ", "origin ve2024 xyz"), "checkpoint.origin"),
        (lambda t: t.rstrip("\n"), "checkpoint"),
        (lambda t: t.replace("size 3\n", ""), "checkpoint"),
        (lambda t: t.replace("size 3\n", "size 3\nsize 3\n"), "checkpoint"),
    ],
)
def test_malformed_checkpoints_name_the_field(change: object, where: str) -> None:
    with pytest.raises(CodecError) as info:
        Checkpoint.from_text(change(checkpoint().to_text()))  # type: ignore[operator]
    assert info.value.where == where
