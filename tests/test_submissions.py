"""Witness accounts, submissions as received, consensus, discounting bad faith, and "check my copy"."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tallyproof.cli import app
from tallyproof.election import Election
from tallyproof.errors import AccessError, InputError, UnknownError
from tallyproof.sheets.qr import to_qr
from tallyproof.sheets.sheet import TallySheet
from tallyproof.sheets.signed import SignedSheet
from tallyproof.signing import PrivateKey
from tallyproof.storage import schema as s
from tallyproof.storage.ledger import Ledger
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import Submissions, check_copy, counted_columns
from tallyproof.tabulate import choose_copies

TABLE = "010111043.01"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(200))


def sheet(ve2024: Election, first: int = 10, table: str = TABLE) -> TallySheet:
    return TallySheet.from_cards(ve2024, table, [first, *([1] * 37)], null=0, blank=0, registered=500)  # type: ignore[arg-type]


@pytest.fixture
def subs(make_store: Callable[..., Store]) -> Submissions:
    return Submissions(make_store())


def test_an_account_gets_a_token_kept_only_as_its_hash(subs: Submissions) -> None:
    account, token = subs.add_account("Ana", "witness", [TABLE])
    assert account.tables == (TABLE,) and subs.authenticate(token) == account
    with subs.store._read() as conn:
        (stored,) = conn.execute(s.accounts.select()).mappings().all()
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest() and token not in str(dict(stored))
    with pytest.raises(AccessError):
        subs.authenticate(token + "x")
    with pytest.raises(InputError, match="exists"):
        subs.add_account("Ana", "observer")
    with pytest.raises(InputError, match="unknown role"):
        subs.add_account("Bea", "judge")
    with pytest.raises(UnknownError):
        subs.account("Nobody")


def test_every_submission_is_kept_and_a_copy_counts_once(subs: Submissions, ve2024: Election) -> None:
    ana, _ = subs.add_account("Ana", "witness", ["010111043.02"])
    payload = to_qr(sheet(ve2024)).encode()
    first, again = subs.submit(ana, payload, filename="a.txt"), subs.submit(ana, payload, filename="a.txt")
    assert first.batch_id != again.batch_id and first.copies and first.copies.accepted == 1
    assert first.unassigned == [TABLE]  # kept and counted, and reported
    cols = subs.store.columns()
    chosen, conflict = choose_copies(cols, ["witness"])
    assert chosen.size == 1 and not conflict.any()  # the same copy twice: one table, no conflict
    bad = subs.submit(ana, b"not a payload at all", filename="b.txt")
    assert bad.copies is not None and bad.copies.rejected == 1  # refused, kept with its reason
    assert [r["raw"] for r in subs.store.rejects()] == ["not a payload at all"]


def test_a_photo_is_kept_with_its_hash_and_its_payload_read(subs: Submissions, ve2024: Election) -> None:
    ana, _ = subs.add_account("Ana", "witness")
    alone = subs.submit(ana, JPEG, filename="acta.jpg")
    assert alone.photo == hashlib.sha256(JPEG).hexdigest() and alone.copies is None
    both = subs.submit(ana, JPEG, filename="acta.jpg", payload=to_qr(sheet(ve2024)))
    assert both.copies is not None and both.copies.accepted == 1 and both.batch_id != alone.batch_id
    with subs.store._read() as conn:
        photos = conn.execute(s.photos.select().order_by(s.photos.c.batch_id)).mappings().all()
        raw = conn.execute(s.batches.select().where(s.batches.c.id == alone.batch_id)).mappings().one()["raw"]
    assert [p["payload_batch_id"] for p in photos] == [None, both.copies.batch_id] and raw == JPEG


def test_consensus_and_discounting(subs: Submissions, ve2024: Election) -> None:
    ana, bea, cid = (subs.add_account(n, "witness")[0] for n in ("Ana", "Bea", "Cid"))
    honest, forged = to_qr(sheet(ve2024)).encode(), to_qr(sheet(ve2024, first=90)).encode()
    subs.submit(ana, honest, filename="a")
    assert counted_columns(subs.store, consensus=2).ids.size == 0  # one account is not yet a consensus
    subs.submit(bea, honest, filename="b")
    subs.submit(cid, forged, filename="c")
    cols = counted_columns(subs.store, consensus=2)
    assert cols.ids.size == 2 and set(cols.candidates[:, 0].tolist()) == {10 + 12}
    _, conflict = choose_copies(counted_columns(subs.store), ["witness"])
    assert conflict.tolist() == [True]  # all three count: two different copies of one table
    subs.discount("Cid", "sent copies of tables where he was not present")
    _, conflict = choose_copies(counted_columns(subs.store), ["witness"])
    assert conflict.tolist() == [False]
    assert subs.account("Cid").discount_reason == "sent copies of tables where he was not present"
    assert subs.store.columns().ids.size == 3  # set aside, never deleted
    with pytest.raises(InputError, match="why"):
        subs.discount("Bea", " ")


def test_check_my_copy_against_the_signed_log(subs: Submissions, ve2024: Election) -> None:
    key, log_key = PrivateKey.generate(), PrivateKey(bytes(range(32)))
    ledger = Ledger(subs.store)
    ledger.add_key(key.public, TABLE)
    official = SignedSheet.sign(ve2024, sheet(ve2024), key, dt.datetime(2024, 7, 28, 18, tzinfo=dt.UTC))
    ledger.submit(official.to_text())
    ledger.checkpoint(log_key)
    ana, _ = subs.add_account("Ana", "witness")
    same = check_copy(subs.store, ana, to_qr(sheet(ve2024)))
    assert (same.status, same.leaf, same.differences) == ("match", 0, ())
    assert same.official == official.to_text() and same.checkpoint is not None
    changed = SignedSheet.sign(ve2024, sheet(ve2024, first=12), key, dt.datetime(2024, 7, 28, 18, tzinfo=dt.UTC))
    other = check_copy(subs.store, ana, changed.to_text())
    assert other.status == "mismatch" and other.differences[0][1:] == (12, 10)
    nothing = check_copy(subs.store, ana, to_qr(sheet(ve2024, table="010111043.02")))
    assert nothing.status == "no-official"
    counts = np.bincount(subs.store.columns(["witness"]).ids.astype(bool))
    assert counts.sum() == 3  # each check is a recorded submission


def test_accounts_submit_and_check_from_the_command_line(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path
) -> None:
    store = make_store()
    db, run = store.where, CliRunner()
    added = run.invoke(app, ["accounts", "add", "Ana", "--role", "observer", "--table", TABLE, "--db", db])
    assert added.exit_code == 0 and len(added.stdout.strip()) >= 40
    payload = tmp_path / "mine.txt"
    payload.write_text(to_qr(sheet(ve2024)) + "\n")
    sent = run.invoke(app, ["submit", str(payload), "--as", "Ana", "--db", db])
    assert sent.exit_code == 0 and "1 copy accepted" in sent.stdout
    checked = run.invoke(app, ["check-copy", str(payload), "--as", "Ana", "--db", db])
    assert checked.exit_code == 0 and "no official sheet" in checked.stdout
    listed = run.invoke(app, ["accounts", "discount", "Ana", "--reason", "test", "--db", db])
    assert listed.exit_code == 0 and "discounted" in listed.stdout
    assert "test" in run.invoke(app, ["accounts", "list", "--db", db]).stdout
    assert run.invoke(app, ["submit", str(payload), "--as", "Nobody", "--db", db]).exit_code == 3


def test_check_my_copy_refuses_what_is_not_one_payload_and_keeps_it(subs: Submissions, ve2024: Election) -> None:
    ana, _ = subs.add_account("Ana", "witness")
    two = to_qr(sheet(ve2024)) + "\n" + to_qr(sheet(ve2024, table="010111043.02"))
    with pytest.raises(InputError, match="one QR payload per check"):
        check_copy(subs.store, ana, two)
    with pytest.raises(InputError, match="not the QR payload of an acta"):
        check_copy(subs.store, ana, "hello")
    assert subs.store.columns().ids.size == 0  # nothing counted
    reasons = [r["reason"] for r in subs.store.rejects()]
    assert len(reasons) == 2 and reasons[0].startswith("payload: one QR payload per check")  # both kept


def test_a_discount_is_recorded_once(subs: Submissions) -> None:
    subs.add_account("Cid", "witness")
    first = subs.discount("Cid", "copies of tables he never attended")
    with pytest.raises(InputError, match="already discounted"):
        subs.discount("Cid", "again")
    assert subs.account("Cid") == first


def test_submitting_something_that_is_not_a_copy(make_store: Callable[..., Store], tmp_path: Path) -> None:
    store = make_store()
    Submissions(store).add_account("Ana", "witness")
    fake = tmp_path / "acta.jpg"
    fake.write_text("not a photo at all\n")
    result = CliRunner().invoke(app, ["submit", str(fake), "--as", "Ana", "--db", store.where])
    said = " ".join(result.stdout.split())
    assert result.exit_code == 1 and "neither a photo (JPEG, PNG, TIFF) nor copies" in said
    assert "--format" not in result.stdout


def test_a_copy_of_a_table_the_registry_lacks_is_named(
    make_store: Callable[..., Store], ve2024: Election, tmp_path: Path
) -> None:
    from tallyproof.storage.imports import import_registry

    store = make_store()
    registry = tmp_path / "registry.csv"
    registry.write_text("table,registered\n010111043.01,500\n")
    import_registry(store, registry)
    ana, _ = Submissions(store).add_account("Ana", "witness")
    assert check_copy(store, ana, to_qr(sheet(ve2024))).in_registry is True
    other = check_copy(store, ana, to_qr(sheet(ve2024, table="010111043.09")))
    assert (other.status, other.in_registry) == ("no-official", False)
    from tallyproof.cli.independent import copy_check_lines

    assert "not in the registry" in copy_check_lines(other)[0]
