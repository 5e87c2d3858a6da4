"""The official side's store: machine keys, logging signed sheets, proofs and checkpoints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from tallyproof.election import Election
from tallyproof.errors import SignatureError, UnknownError
from tallyproof.official.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from tallyproof.sheets.sheet import TallySheet
from tallyproof.sheets.signed import SignedSheet
from tallyproof.signing import PrivateKey
from tallyproof.storage.ledger import Ledger
from tallyproof.storage.store import Store
from tallyproof.tabulate import tabulate

CLOSED = dt.datetime(2024, 7, 28, 18, 0, tzinfo=dt.UTC)
LOG_KEY = PrivateKey(bytes(range(7, 39)))


def sheet_text(election: Election, key: PrivateKey, table: str, first: int = 10) -> str:
    cards = [first, *([1] * 37)]
    sheet = TallySheet.from_cards(election, table, cards, null=0, blank=0, registered=500)  # type: ignore[arg-type]
    return SignedSheet.sign(election, sheet, key, CLOSED).to_text()


@pytest.fixture
def ledger(make_store: Callable[..., Store]) -> Ledger:
    return Ledger(make_store())


def test_keys_are_bound_listed_and_revoked(ledger: Ledger) -> None:
    key = PrivateKey.generate()
    added = ledger.add_key(key.public, "010111043.01")
    assert (added.table, added.revoked_at) == ("010111043.01", None)
    with pytest.raises(SignatureError, match="already registered"):
        ledger.add_key(key.public, "010111043.02")
    revoked = ledger.revoke_key(added.key_id, "machine replaced")
    assert revoked.revoked_at is not None and revoked.revoke_reason == "machine replaced"
    with pytest.raises(UnknownError):
        ledger.revoke_key(added.key_id, "again")
    assert [k.key_id for k in ledger.keys()] == [added.key_id]


def test_a_sound_sheet_is_logged_once_and_counted_as_official(ledger: Ledger, ve2024: Election) -> None:
    key = PrivateKey.generate()
    ledger.add_key(key.public, "010111043.01")
    text = sheet_text(ve2024, key, "010111043.01")
    first = ledger.submit(text)
    assert (first.status, first.index, first.conflict) == ("logged", 0, False)
    again = ledger.submit(text)
    assert (again.status, again.index) == ("duplicate", 0) and ledger.size() == 1
    store = ledger.store
    tab = tabulate(
        ve2024, store.columns(["official"]), store.registry_columns(), level="state", preference=["official"]
    )
    assert tab.total.candidates[0] == 10 + 12 and tab.total.tables_counted == 1
    other = ledger.submit(sheet_text(ve2024, key, "010111043.01", first=11))
    assert (other.status, other.index, other.conflict) == ("logged", 1, True)  # kept, flagged, nothing overwritten


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("unregistered", "signed by a key that is not registered"),
        ("other-table", "is bound to table 010111043.02, not 010111043.01"),
        ("revoked", "signed by a key revoked at"),
        ("tampered", "does not verify"),
        ("malformed", "expected 10 fields"),
    ],
)
def test_unsound_submissions_are_kept_and_rejected(ledger: Ledger, ve2024: Election, setup: str, reason: str) -> None:
    key = PrivateKey.generate()
    if setup != "unregistered":
        kid = ledger.add_key(key.public, "010111043.02" if setup == "other-table" else "010111043.01").key_id
        if setup == "revoked":
            ledger.revoke_key(kid, "stolen")
    text = sheet_text(ve2024, key, "010111043.01")
    if setup == "tampered":
        text = text.replace("|10,", "|99,", 1)
    if setup == "malformed":
        text = text.rsplit("|", 1)[0]
    receipt = ledger.submit(text)
    assert receipt.status == "rejected" and reason in (receipt.reason or "")
    assert ledger.size() == 0
    (reject,) = ledger.store.rejects()
    assert reject["raw"] == text and reason in reject["reason"]


def test_the_log_is_an_rfc9162_tree_with_proofs_and_signed_checkpoints(ledger: Ledger, ve2024: Election) -> None:
    texts = []
    for t in range(1, 8):
        key = PrivateKey.generate()
        table = f"010111043.{t:02d}"
        ledger.add_key(key.public, table)
        texts.append(sheet_text(ve2024, key, table, first=t))
        assert ledger.submit(texts[-1]).index == t - 1
        if t == 3:
            early = ledger.checkpoint(LOG_KEY)
    late = ledger.checkpoint(LOG_KEY)
    tree = ledger.tree()
    assert tree.root() == MemoryTree([x.encode() for x in texts]).tree().root() == late.root
    for i, text in enumerate(texts):
        verify_inclusion(leaf_hash(text.encode()), i, 7, tree.inclusion_proof(i), late.root)
    verify_consistency(3, 7, early.root, late.root, tree.consistency_proof(3, 7))
    stored = ledger.checkpoints()
    assert [c.size for c in stored] == [3, 7]
    for c in stored:
        c.verify(LOG_KEY.public)
    assert [e["payload"] for e in ledger.entries()] == texts


def test_unsigned_2024_payloads_are_logged_and_marked(ledger: Ledger, ve2024: Election, tmp_path: Path) -> None:
    from conftest import FIXTURES
    from tallyproof.official.mirror import read_copy
    from tallyproof.official.verify import unsigned_leaves

    payload = (FIXTURES / "qr_payloads.txt").read_text(encoding="utf-8").splitlines()[0]
    receipt = ledger.submit(payload)
    assert receipt.status == "logged"
    (entry,) = ledger.entries()
    assert entry["machine"] == "unsigned" and entry["payload"] == payload
    assert ledger.submit(payload.replace("!0!0", "!-1!0")).status == "rejected"
    bulletin = ledger.bulletin(LOG_KEY)
    assert bulletin.figures.unsigned == 1 and bulletin.figures.tables_counted == 1
    ledger.export(tmp_path / "copy")
    copy = read_copy(tmp_path / "copy")
    assert copy.verify() == [] and unsigned_leaves(ve2024, copy.leaves) == [0]


def _keyed(ledger: Ledger, ve2024: Election, tables: range) -> list[str]:
    texts = []
    for t in tables:
        key, table = PrivateKey.generate(), f"010111043.{t:02d}"
        ledger.add_key(key.public, table)
        texts.append(sheet_text(ve2024, key, table, first=t))
    return texts


def test_a_cold_ledger_proves_from_the_store(ledger: Ledger, ve2024: Election) -> None:
    texts = _keyed(ledger, ve2024, range(1, 12))
    receipts, checkpoint = ledger.submit_many([(t, None) for t in texts], log_key=LOG_KEY)
    assert checkpoint is not None and [r.index for r in receipts] == list(range(11))
    cold = Ledger(ledger.store)  # nothing cached: every node comes from the store
    assert cold.root(11) == checkpoint.root == MemoryTree([t.encode() for t in texts]).tree().root()
    for i, text in enumerate(texts):
        verify_inclusion(leaf_hash(text.encode()), i, 11, Ledger(ledger.store).inclusion_proof(i, 11), checkpoint.root)
    early = MemoryTree([t.encode() for t in texts[:4]]).tree().root()
    verify_consistency(4, 11, early, checkpoint.root, Ledger(ledger.store).consistency_proof(4, 11))


def test_a_warm_ledger_follows_other_writers(ledger: Ledger, ve2024: Election) -> None:
    """Two server processes share one store: each keeps its nodes current with what the other wrote."""
    texts = _keyed(ledger, ve2024, range(1, 21))
    one, two = Ledger(ledger.store), Ledger(ledger.store)
    one.submit_many([(t, None) for t in texts[:3]])
    one.warm()
    two.warm()
    for i in range(3, 20, 4):  # alternate writers, groups of odd sizes
        writer = one if i % 8 == 3 else two
        writer.submit_many([(t, None) for t in texts[i : i + 4]], log_key=LOG_KEY)
    checkpoints = {c.size: c for c in ledger.checkpoints()}
    behind = two.root(20)  # `one` wrote last: `two` fetches what it lacks from the store
    store, read = ledger.store, ledger.store._read
    store._read = lambda: pytest.fail("a warm ledger read the store for a proof")  # type: ignore[method-assign]
    for warm, size in ((one, 20), (two, 19)):  # each knows every node up to its own last write
        assert warm.root(size) == checkpoints[size].root
        for i, text in enumerate(texts[:size]):
            verify_inclusion(leaf_hash(text.encode()), i, size, warm.inclusion_proof(i, size), checkpoints[size].root)
    store._read = read  # type: ignore[method-assign]
    assert behind == checkpoints[20].root


def test_a_key_revoked_elsewhere_is_refused_at_once(ledger: Ledger, ve2024: Election) -> None:
    """The server holds the key registry in memory; a change made by another process (the CLI) is seen
    by the next transaction."""
    server, cli = Ledger(ledger.store), Ledger(ledger.store)
    first, second = _keyed(cli, ve2024, range(1, 3))
    assert server.submit(first).status == "logged"  # the server has now read the registry
    (kid,) = [k.key_id for k in cli.keys() if k.table == "010111043.02"]
    cli.revoke_key(kid, "stolen")
    receipt = server.submit(second)
    assert receipt.status == "rejected" and "revoked" in (receipt.reason or "")
    (third,) = _keyed(cli, ve2024, range(3, 4))
    assert server.submit(third).status == "logged"  # and a key added elsewhere is known too
