"""What an audit samples from: the reported contest, its batches (tables' boxes) and its ballot manifest.

The audited result is the one a source published per table (the official sheets): per table, votes per
candidate and the ballots in its box (valid, null and blank votes; the receipts the machine printed).

* :func:`contest` — the reported totals, the reported winner (the most votes) and the ballots cast.
* :func:`batches` — one :class:`~tallyproof.stats.batch.Batch` per table, with ``b_p`` the larger of
  its registered voters and the ballots its sheet reports (a box cannot hold more receipts than voters;
  where the registry is silent, the sheet's own count is used), as batch comparison needs.
* :func:`receipts_of` — the ballot manifest: ballot ``i`` (1-based, in table-id order, then by position
  in the box) is receipt ``i − B_{p−1}`` of table ``p``, where ``B_p`` counts the ballots of the tables
  up to ``p``. A ballot-polling sample of ballot numbers drawn from a public seed thus names, for the
  auditors, which table's box to open and which receipt to take (the ``k``-th drawn from the box in the
  order the audit protocol fixes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tallyproof.errors import InputError
from tallyproof.stats.audit import ReportedContest
from tallyproof.stats.batch import Batch, ContestResult

__all__ = ["CONTEST", "Reported", "batches", "contest", "contest_result", "receipts_of"]

CONTEST = "contest"
"""The key of the one contest audited (a presidential election has one)."""


@dataclass(frozen=True, slots=True)
class Reported:
    """A source's per-table results: ``votes`` (tables × candidates), ``ballots`` per table (receipts in its
    box, as reported) and ``registered`` voters (-1 where unknown), aligned with sorted ``tables``."""

    tables: np.ndarray
    candidates: tuple[str, ...]
    votes: np.ndarray
    ballots: np.ndarray
    registered: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.tables)
        if self.votes.shape != (n, len(self.candidates)) or len(self.ballots) != n or len(self.registered) != n:
            raise InputError("the reported columns do not line up", where="reported")
        if n and bool(np.any(self.tables[1:] <= self.tables[:-1])):
            raise InputError("tables must be sorted and unique", where="reported")
        if len(self.candidates) < 2:
            raise InputError("an audit needs at least two candidates", where="reported")


def contest(reported: Reported) -> ReportedContest:
    """The contest as reported: totals per candidate, the winner (most votes; a tie has none) and ballots."""
    totals = reported.votes.sum(axis=0)
    order = np.argsort(-totals, kind="stable")
    if len(order) > 1 and totals[order[0]] == totals[order[1]]:
        raise InputError("the reported result is a tie: there is no reported winner to audit", where="reported")
    votes = {c: int(v) for c, v in zip(reported.candidates, totals.tolist(), strict=True)}
    return ReportedContest(votes, reported.candidates[int(order[0])], int(reported.ballots.sum()))


def contest_result(reported: Reported) -> dict[str, ContestResult]:
    """The contest in the form batch comparison takes (one contest, one winner)."""
    c = contest(reported)
    return {CONTEST: ContestResult(dict(c.reported), frozenset({c.winner}))}


def batches(reported: Reported) -> list[Batch]:
    """One batch per table (see the module docstring for ``b_p``)."""
    bound = np.maximum(reported.ballots, reported.registered)
    names = reported.candidates
    return [
        Batch(str(t), int(b), {CONTEST: dict(zip(names, (int(v) for v in row), strict=True))})
        for t, b, row in zip(reported.tables.tolist(), bound.tolist(), reported.votes.tolist(), strict=True)
    ]


def receipts_of(ballots: Sequence[int] | np.ndarray, tickets: Sequence[int]) -> list[tuple[int, int]]:
    """For each ballot number in ``tickets`` (1-based over the manifest), ``(table index, receipt)``, the
    receipt 1-based within its table's box (see the module docstring)."""
    ends = np.cumsum(np.asarray(ballots, dtype=np.int64))
    total = int(ends[-1]) if len(ends) else 0
    out = []
    for ticket in tickets:
        if not 1 <= ticket <= total:
            raise InputError(f"ballot {ticket} is not in the manifest of {total:,} ballots", where="tickets")
        table = int(np.searchsorted(ends, ticket, side="left"))
        start = int(ends[table - 1]) if table else 0
        out.append((table, ticket - start))
    return out
