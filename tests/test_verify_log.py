"""verify-log on a copy of the log: a sound copy has no problem; each kind of tampering is named."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from tallyproof.election import Election
from tallyproof.official.bulletin import Bulletin
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.official.merkle import MemoryTree
from tallyproof.official.mirror import LogCopy, read_copy
from tallyproof.sheets.signed import SignedSheet
from tallyproof.signing import PrivateKey
from tallyproof.simulation.election import simulate
from tallyproof.simulation.machines import machine_key, signed_sheets
from tallyproof.storage.ledger import Ledger
from tallyproof.storage.store import Store

LOG_KEY = PrivateKey(bytes(range(9, 41)))
LATER = dt.datetime(2024, 7, 29, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def copy(make_store: Callable[..., Store], ve2024: Election, tmp_path: Path) -> LogCopy:
    """A log of 12 simulated tables with checkpoints at 5 and 12, exported and read back."""
    ledger = Ledger(make_store())
    machines = list(signed_sheets(simulate(ve2024, tables=12, seed=5)))
    for table, key, _ in machines:  # every machine is registered before election day
        ledger.add_key(key.public, table)
    for n, (_, _, sheet) in enumerate(machines, start=1):
        assert ledger.submit(sheet.to_text()).status == "logged"
        if n == 5:
            ledger.checkpoint(LOG_KEY, time=LATER)
        if n == 8:
            ledger.bulletin(LOG_KEY, time=LATER)
    ledger.checkpoint(LOG_KEY, time=LATER)
    ledger.export(tmp_path / "copy")
    return read_copy(tmp_path / "copy")


def problems(copy: LogCopy) -> list[str]:
    return [str(p) for p in copy.verify()]


def test_a_sound_copy_has_no_problem(copy: LogCopy) -> None:
    assert problems(copy) == []
    assert [c.size for c in copy.checkpoints] == [5, 8, 12]
    (bulletin,) = copy.bulletins
    assert (
        bulletin.checkpoint.size == 8
        and bulletin.figures.tables_counted == 8
        and bulletin.figures.tables_expected == 12
    )


def test_a_bulletin_not_derived_from_the_sheets_is_caught(copy: LogCopy) -> None:
    """2024 again: totals announced, signed, but not the sum of the published sheets."""
    (bulletin,) = copy.bulletins
    said = dict(bulletin.figures.candidates)
    said["NM"] += 1000
    invented = Bulletin.make(bulletin.checkpoint, dataclasses.replace(bulletin.figures, candidates=said), LOG_KEY)
    found = problems(dataclasses.replace(copy, bulletins=[invented]))
    assert any(
        p.startswith("bulletin at size 8")
        and "for NM but its sheets give" in p
        and "not derived from the published sheets" in p
        for p in found
    )


def test_a_changed_count_is_caught(copy: LogCopy) -> None:
    index, payload = copy.leaves[3]
    head, counts, *tail = payload.split("|")[:6], payload.split("|")[6], payload.split("|")[7:]
    first, rest = counts.split(",", 1)
    changed = "|".join([*head, f"{int(first) + 50},{rest}", *tail[0]])
    leaves = [*copy.leaves[:3], (index, changed), *copy.leaves[4:]]
    found = problems(dataclasses.replace(copy, leaves=leaves))
    assert any(p.startswith("leaf 3 (table") and "signature does not verify" in p for p in found)
    assert any("checkpoint of size 5" in p and "the log was rewritten" in p for p in found)


def test_a_dropped_leaf_is_caught(copy: LogCopy) -> None:
    found = problems(dataclasses.replace(copy, leaves=[*copy.leaves[:4], *copy.leaves[5:]]))
    assert any("served as leaf 5" in p for p in found)
    assert any("checkpoint of size 12" in p and "only 11 leaves" in p for p in found)


def test_reordered_leaves_are_caught(copy: LogCopy) -> None:
    swapped = [*copy.leaves[:2], (2, copy.leaves[3][1]), (3, copy.leaves[2][1]), *copy.leaves[4:]]
    found = problems(dataclasses.replace(copy, leaves=swapped))
    assert any("checkpoint of size 5" in p and "rewritten" in p for p in found)


def test_a_fork_is_caught(copy: LogCopy, ve2024: Election) -> None:
    other = MemoryTree([b"another history"] * 5).tree().root()
    fork = Checkpoint.make(ve2024.id, 5, other, LOG_KEY, LATER)
    found = problems(dataclasses.replace(copy, checkpoints=[*copy.checkpoints, fork]))
    assert any("fork: another checkpoint of the same size" in p for p in found)


def test_a_forged_signature_is_caught(copy: LogCopy, ve2024: Election) -> None:
    """Someone without the machine's key signs a sheet in its name."""
    index, payload = copy.leaves[7]
    real = SignedSheet.from_text(payload, ve2024)
    forger = PrivateKey.generate()
    forged = dataclasses.replace(real, signature=forger.sign(real.message))
    found = problems(dataclasses.replace(copy, leaves=[*copy.leaves[:7], (index, forged.to_text()), *copy.leaves[8:]]))
    assert any(p.startswith("leaf 7 (table") and "the signature does not verify" in p for p in found)


def test_a_sheet_replayed_as_another_tables_is_caught(copy: LogCopy, ve2024: Election) -> None:
    (first_table, first_key, first_sheet), (second_table, *_) = list(
        signed_sheets(simulate(ve2024, tables=12, seed=5))
    )[:2]
    assert machine_key(5, first_table) == first_key
    moved = first_sheet.to_text().replace(f"|{first_table}|", f"|{second_table}|", 1)
    found = problems(dataclasses.replace(copy, leaves=[*copy.leaves, (12, moved)]))
    assert any("leaf 12" in p and "bound to table" in p and "replayed" in p for p in found)


def test_a_checkpoint_not_signed_by_the_log_is_caught(copy: LogCopy, ve2024: Election) -> None:
    last = copy.checkpoints[-1]
    forged = Checkpoint.make(ve2024.id, last.size, last.root, PrivateKey.generate(), LATER)
    found = problems(dataclasses.replace(copy, checkpoints=[forged]))
    assert any("not signed by the log's key" in p for p in found)
