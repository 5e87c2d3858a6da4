"""Factories shared by the tests: an election, a store, sheets. Every seed is fixed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tallyproof.election import Election, load_election
from tallyproof.storage.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024"


@pytest.fixture(scope="session")
def ve2024() -> Election:
    return load_election("ve2024")


@pytest.fixture
def make_store(tmp_path: Path, ve2024: Election) -> Callable[..., Store]:
    """``make_store(election=…, name=…)``: a new, initialised SQLite store in a temporary folder."""

    def make(*, election: Election | None = None, name: str = "t.db") -> Store:
        store = Store.sqlite(tmp_path / name, create=True)
        store.init(election or ve2024)
        return store

    return make


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def generic_header(election: Election, *, cards: bool = False) -> str:
    cols = ["table", "null", "registered", *(f"candidate:{c.id}" for c in election.candidates)]
    if cards:
        cols = ["table", "null", "registered", *(f"card:{c.id}" for c in election.cards)]
    return ",".join(cols)
