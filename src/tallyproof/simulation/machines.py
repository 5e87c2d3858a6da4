"""Simulated voting machines: one key pair per table, each signing its own table's result.

The keys are derived from the simulation's seed (SHA-256 of ``seed`` and table id), so the same
election can be signed again and checked by anyone; a real machine makes its key on the device
and only its public half ever leaves it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

from tallyproof.errors import InputError
from tallyproof.sheets.signed import SignedSheet
from tallyproof.signing import PrivateKey, b64
from tallyproof.simulation.election import SimulatedElection

__all__ = ["machine_key", "signed_sheets", "write_signed"]

CLOSED_AT = dt.datetime(2024, 7, 28, 18, 0, tzinfo=dt.UTC)


def machine_key(seed: int, table: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(f"tallyproof simulated machine|{seed}|{table}".encode()).digest())


def signed_sheets(sim: SimulatedElection) -> Iterator[tuple[str, PrivateKey, SignedSheet]]:
    """Each table's machine key and its signed sheet, in table order."""
    for sheet in sim.sheets():
        key = machine_key(sim.seed, sheet.table)
        yield sheet.table, key, SignedSheet.sign(sim.election, sheet, key, CLOSED_AT)


def write_signed(sim: SimulatedElection, out_dir: Path) -> dict[str, Path]:
    """``machines.csv`` (``table,public``: what the electoral body publishes) and ``signed.txt``
    (one signed sheet a line: what the machines transmit)."""
    machines, signed = out_dir / "machines.csv", out_dir / "signed.txt"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with (
            machines.open("w", encoding="ascii", newline="") as keys,
            signed.open("w", encoding="ascii", newline="") as sheets,
        ):
            keys.write("table,public\n")
            for table, key, sheet in signed_sheets(sim):
                keys.write(f"{table},{b64(key.public)}\n")
                sheets.write(sheet.to_text() + "\n")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(exc.filename or out_dir)) from None
    return {"machines": machines, "signed": signed}
