"""Cast vote records: the machines' record of each receipt, checked against the published sheets.

A ballot-level comparison audit (:mod:`tallyproof.stats.comparison`) compares each drawn paper receipt
with the machine's record of it, its cast vote record (CVR). A CVR file is a CSV ``table,receipt,vote``:
one row per receipt in a table's box, ``receipt`` its number in the box (1, 2, … as the machine printed
them), ``vote`` a candidate id, a card id (counted for its candidate) or ``none`` (a null or blank ballot).

:func:`read_cvrs` reads a file and refuses it unless it tallies, table by table, to the reported results
being audited (:class:`~tallyproof.stats.manifest.Reported`): each table's records count, per candidate,
the votes its sheet reports, and ``none`` for the rest of its ballots; each receipt ``1..n_p`` has exactly
one record. Records that disagree with what was reported would make the comparison meaningless: the
audit would check the records, not the result. The records then line up with the ballot manifest
(:func:`~tallyproof.stats.manifest.receipts_of`): ballot ``k`` of the manifest is the ``k``-th record.

:func:`overstatement` is a ballot's discrepancy ``e`` in votes (Stark 2010, "Super-simple simultaneous
single-ballot risk-limiting audits")::

    e = max over reported losers ℓ of  (r_w − r_ℓ) − (a_w − a_ℓ)

with ``r_c``/``a_c`` 1 if the record/the paper shows candidate ``c`` (else 0) and ``w`` the reported
winner. Taking the largest over every loser, not only the closest, is conservative: a record for the
winner on a receipt that shows a minor candidate overstates that pair's margin by 2. A receipt that
cannot be found counts as a 2-vote overstatement.
"""

from __future__ import annotations

import csv
import io
from array import array
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.sheets.files import decode_text
from tallyproof.stats.audit import ReportedContest
from tallyproof.stats.manifest import Reported

__all__ = ["COMPARISON_METHODS", "MISSING", "NONE", "CastVoteRecords", "overstatement", "read_cvrs", "vote_ids"]

COMPARISON_METHODS = ("kaplan-markov", "alpha")
"""The audit methods that compare receipts with their records (:mod:`tallyproof.stats.audit`)."""
NONE, MISSING = "none", "missing"
"""A null or blank ballot; a receipt that is not in the box (paper only: a machine records every receipt)."""
_COLUMNS = ("table", "receipt", "vote")


def vote_ids(election: Election) -> dict[str, str]:
    """What a vote may say, and the candidate (or :data:`NONE`) it counts for: candidate ids, card ids, none."""
    votes = {str(c.id): str(c.id) for c in election.candidates}
    return votes | {str(c.id): str(c.candidate) for c in election.cards} | {NONE: NONE}


@dataclass(frozen=True, eq=False)
class CastVoteRecords:
    """The recorded vote of every ballot of a manifest, in manifest order: ``labels[votes[k − 1]]`` for
    ballot ``k``; ``labels`` are the candidates, then :data:`NONE`."""

    labels: tuple[str, ...]
    votes: np.ndarray

    def vote(self, ballot: int) -> str:
        """The record of ballot ``ballot`` (1-based, as :func:`~tallyproof.stats.manifest.receipts_of` numbers)."""
        return self.labels[int(self.votes[ballot - 1])]


def read_cvrs(data: bytes, *, name: str, election: Election, reported: Reported) -> CastVoteRecords:
    """The records of a CVR file, lined up with the manifest of ``reported``; :class:`InputError` naming the
    line, or the table whose records do not tally to its sheet (see the module docstring)."""
    labels = (*reported.candidates, NONE)
    table, receipt, vote = _parse(_text(data, name), name, election, reported, labels)
    _check_receipts(table, receipt, reported, name)
    key = np.cumsum(reported.ballots)[table] - reported.ballots[table] + receipt - 1
    _, first = np.unique(key, return_index=True)
    if first.size < key.size:
        row = int(np.setdiff1d(np.arange(key.size), first)[0])
        raise InputError(
            f"receipt {receipt[row]} of table {reported.tables[table[row]]} has two records", where=f"{name}:{row + 2}"
        )
    _check_tally(table, vote, reported, name)
    ordered = np.empty(key.size, dtype=np.int8 if len(labels) < 128 else np.int64)
    ordered[key] = vote
    return CastVoteRecords(labels, ordered)


def _text(data: bytes, name: str) -> TextIO:
    """The file as text, read as it is parsed when it is ASCII (a national file runs to hundreds of MB)."""
    if data.isascii():
        return io.TextIOWrapper(io.BytesIO(data), encoding="ascii", newline="")
    text, _ = decode_text(data, where=name)
    return io.StringIO(text, newline="")


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Where the columns are, and the index of each table (in ``reported``) and vote (in ``labels``)."""

    name: str
    columns: tuple[int, int, int]
    tables: dict[str, int]
    votes: dict[str, int]

    @classmethod
    def of(
        cls, name: str, columns: tuple[int, int, int], election: Election, reported: Reported, labels: tuple[str, ...]
    ) -> _Lookup:
        tables = {str(t): i for i, t in enumerate(reported.tables.tolist())}
        index = {label: i for i, label in enumerate(labels)}
        return cls(name, columns, tables, {v: index[c] for v, c in vote_ids(election).items()})

    def row(self, row: list[str], line: int) -> tuple[int, int, int]:
        """One row, checked field by field (surrounding spaces allowed); errors name the line."""
        where, (ti, ri, vi) = f"{self.name}:{line}", self.columns
        if len(row) <= max(self.columns):
            raise InputError(f"expected {len(_COLUMNS)} fields, found {len(row)}", where=where)
        table, receipt, vote = row[ti].strip(), row[ri].strip(), row[vi].strip()
        if table not in self.tables:
            raise InputError(f"table {table!r} has no published sheet in the audited results", where=where)
        if not (receipt.isascii() and receipt.isdigit()) or len(receipt) > 9:
            raise InputError(f"receipt {receipt!r} is not a number", where=where)
        if vote not in self.votes:
            raise InputError(f"unknown vote {vote!r}: a candidate, a card or none", where=where)
        return self.tables[table], int(receipt), self.votes[vote]


def _parse(
    text: TextIO, name: str, election: Election, reported: Reported, labels: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Table index, receipt and vote index of every row, as int64 arrays. A row that is not plainly
    well formed is read again by :meth:`_Lookup.row`, which allows spaces or names what is wrong."""
    reader = csv.reader(text)
    header = [h.strip() for h in next(reader, [])]
    if not set(_COLUMNS) <= set(header):
        raise InputError("expected the columns table,receipt,vote", where=f"{name}:1")
    ti, ri, vi = columns = (header.index("table"), header.index("receipt"), header.index("vote"))
    lookup = _Lookup.of(name, columns, election, reported, labels)
    tables, votes = lookup.tables, lookup.votes
    out = (array("i"), array("i"), array("i"))
    for line, row in enumerate(reader, start=2):
        try:
            t, r, v = tables[row[ti]], row[ri], votes[row[vi]]
            plain = r.isdigit() and r.isascii() and len(r) <= 9
        except (KeyError, IndexError):
            plain = False
        t, n, v = (t, int(r), v) if plain else lookup.row(row, line)
        out[0].append(t)
        out[1].append(n)
        out[2].append(v)
    table, receipt, vote = (np.frombuffer(a, dtype=np.int32).astype(np.int64) for a in out)
    return table, receipt, vote


def _check_receipts(table: np.ndarray, receipt: np.ndarray, reported: Reported, name: str) -> None:
    bad = np.flatnonzero((receipt < 1) | (receipt > reported.ballots[table]))
    if bad.size:
        row = int(bad[0])
        t = int(table[row])
        raise InputError(
            f"table {reported.tables[t]} reports {reported.ballots[t]} ballots: it has no receipt {receipt[row]}",
            where=f"{name}:{row + 2}",
        )


def _check_tally(table: np.ndarray, vote: np.ndarray, reported: Reported, name: str) -> None:
    """Each table's records count what its sheet reports, per candidate and ``none``; else name the table."""
    n, k = reported.votes.shape
    found = np.bincount(table * (k + 1) + vote, minlength=n * (k + 1)).reshape(n, k + 1)
    expected = np.column_stack([reported.votes, reported.ballots - reported.votes.sum(axis=1)])
    wrong = np.flatnonzero((found != expected).any(axis=1))
    if not wrong.size:
        return
    t = int(wrong[0])
    labels = (*reported.candidates, NONE)
    differ = ", ".join(
        f"{label} {f} (sheet {e})"
        for label, f, e in zip(labels, found[t].tolist(), expected[t].tolist(), strict=True)
        if f != e
    )
    more = f"; {wrong.size - 1:,} more tables do not tally either" if wrong.size > 1 else ""
    raise InputError(
        f"the records of table {reported.tables[t]} do not tally to its published sheet: {differ}{more}", where=name
    )


def overstatement(contest: ReportedContest, recorded: str, audited: str) -> int:
    """A ballot's discrepancy in votes, from −2 to 2 (see the module docstring); ``audited`` may be
    :data:`MISSING`."""
    if audited == MISSING:
        return 2
    w = contest.winner

    def margin(vote: str, loser: str) -> int:
        return int(vote == w) - int(vote == loser)

    return max(margin(recorded, loser) - margin(audited, loser) for loser in contest.reported if loser != w)
