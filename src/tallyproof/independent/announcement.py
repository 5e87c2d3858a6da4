"""An announcement: the totals an electoral body declared, as a strict TOML file.

.. code-block:: toml

    [announcement]
    date = 2024-07-29              # a date, or a date and time
    source = "CNE, first bulletin" # optional: who announced it, where
    share_counted = 0.8            # share of tables counted when announced (or tables_counted = 24021)
    tables = 30026                 # optional: tables in the election (else: tables_counted / share_counted,
                                   # else the election definition's declared total, else the registry)
    votes = 10058774               # optional: valid votes announced (checked against the candidates)
    null = 0                       # optional: null votes
    voters = 10058774              # optional: votes cast
    turnout = 0.59                 # optional: share of registered voters who voted
    registered = 21392464          # optional: registered voters in the election

    [announcement.candidates]      # votes per candidate id of the election definition
    NM = 5150092
    EG = 4445978
    others = 462704                # optional: every candidate not listed, together

Every key is checked: an unknown key, a candidate the election does not have, a count that is not a
whole number or a share outside (0, 1] raises :class:`~tallyproof.errors.InputError` naming the file
and key.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tallyproof import strict_toml
from tallyproof.election import Election
from tallyproof.errors import InputError

__all__ = ["OTHERS", "Announcement", "load_announcement"]

OTHERS = "others"
"""The candidates key for every candidate the announcement does not list, together."""

_KEYS = {
    "date",
    "source",
    "tables",
    "share_counted",
    "tables_counted",
    "votes",
    "null",
    "voters",
    "turnout",
    "registered",
}


@dataclass(frozen=True, slots=True)
class Announcement:
    date: str
    candidates: dict[str, int]
    """Votes per candidate id, in the election's order; :data:`OTHERS` last if given."""
    share_counted: float | None = None
    tables_counted: int | None = None
    tables_in_election: int | None = None
    votes: int | None = None
    null: int | None = None
    voters: int | None = None
    turnout: float | None = None
    registered: int | None = None
    source: str = ""
    where: str = ""
    """The file it was read from."""

    @property
    def valid(self) -> int:
        """Valid votes announced: the candidates' votes added up."""
        return sum(self.candidates.values())

    @property
    def tables_total(self) -> int | None:
        """Tables in the election, as the announcement gives them (or implies, by both counts)."""
        if self.tables_in_election is not None:
            return self.tables_in_election
        if self.tables_counted is not None and self.share_counted is not None:
            return math.floor(self.tables_counted / self.share_counted + 0.5)
        return None

    def tables(self, total: int) -> int:
        """Tables counted when announced, out of ``total``."""
        if self.tables_counted is not None:
            return self.tables_counted
        return min(total, math.floor((self.share_counted or 1.0) * total + 0.5))

    def winner(self) -> str:
        """The candidate announced first (never :data:`OTHERS`)."""
        named = {k: v for k, v in self.candidates.items() if k != OTHERS}
        return max(named, key=lambda k: named[k])


def load_announcement(path: Path, election: Election) -> Announcement:
    """Read and check an announcement file against ``election``'s candidates."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the announcement: {exc}", where=where) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", where=where) from exc
    strict_toml.only(data, {"announcement"}, f"{where}: ", error=InputError)
    head = strict_toml.get(data, "announcement", dict, f"{where}: ", error=InputError)
    w = f"{where}: announcement."
    strict_toml.only(head, _KEYS | {"candidates"}, w, error=InputError)
    date = strict_toml.get(head, "date", (dt.date, dt.datetime), w, error=InputError)
    out = Announcement(
        date=date.isoformat(),
        candidates=_candidates(strict_toml.get(head, "candidates", dict, w, error=InputError), election, w),
        share_counted=_share(head, "share_counted", w),
        tables_counted=_positive(head, "tables_counted", w),
        tables_in_election=_positive(head, "tables", w),
        votes=_count(head, "votes", w),
        null=_count(head, "null", w),
        voters=_count(head, "voters", w),
        turnout=_share(head, "turnout", w),
        registered=_count(head, "registered", w),
        source=str(head.get("source", "")),
        where=where,
    )
    if out.votes is not None and out.votes != out.valid:
        raise InputError(f"says {out.votes:,} valid votes, its candidates add up to {out.valid:,}", where=f"{w}votes")
    return out


def _candidates(table: dict[str, Any], election: Election, where: str) -> dict[str, int]:
    known = [c.id for c in election.candidates]
    strict_toml.only(table, {*known, OTHERS}, f"{where}candidates.", error=InputError)
    if not set(table) - {OTHERS}:
        raise InputError("names no candidate of the election", where=f"{where}candidates")
    order = [k for k in (*known, OTHERS) if k in table]
    return {k: _count(table, k, f"{where}candidates.") or 0 for k in order}


def _count(table: dict[str, Any], key: str, where: str) -> int | None:
    if key not in table:
        return None
    value: int = strict_toml.get(table, key, int, where, error=InputError)
    if value < 0:
        raise InputError(f"a count cannot be negative ({value})", where=f"{where}{key}")
    return value


def _positive(table: dict[str, Any], key: str, where: str) -> int | None:
    value = _count(table, key, where)
    if value == 0:
        raise InputError("must be at least 1", where=f"{where}{key}")
    return value


def _share(table: dict[str, Any], key: str, where: str) -> float | None:
    if key not in table:
        return None
    value = float(strict_toml.get(table, key, (int, float), where, error=InputError))
    if not 0 < value <= 1:
        raise InputError(f"a share is above 0 and at most 1 (got {value})", where=f"{where}{key}")
    return value
