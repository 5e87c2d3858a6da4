"""The paper receipts of a simulated election, and the auditors' hand count of the ones an audit draws.

A scenario's ``paper.csv`` (:func:`tallyproof.simulation.scenarios.write_scenario`) says what each real table's box
of receipts holds, counted: votes per card, null and blank. :func:`box` lays a box's receipts out in an
order — a permutation seeded by SHA-256 of a seed and the table — and :func:`hand_count` plays the
auditors: for a batch audit, each drawn table's box counted in full (a tally sheet; a table with no box
is left out, to be recorded as a missing box, taint 1); for ballot polling
and ballot-level comparison, the vote on each drawn receipt (``none`` for a null or blank ballot,
``missing`` when the box holds fewer receipts than the sheet reported, or no box exists, as for a
fabricated table).

Which order, and so which receipt is "receipt ``i``" of a box:

* **Ballot polling** numbers the receipts in the order the auditors take them out of the box, seeded by
  the audit's own seed: the same audit always finds the same receipt at the same place.
* **Ballot-level comparison** numbers them as the machine printed them: ``box(sheet, seed=PRINT_ORDER)``,
  a fixed seed (:data:`PRINT_ORDER`) that owes nothing to the audit's seed. The machine's cast vote
  records (:func:`write_cvrs`) use that numbering and are committed before the audit's seed is drawn, so
  the numbering cannot depend on it. The machine's records of a table are its official sheet laid out in
  print order, the paper is the paper's count laid out in the same order: where the two counts agree,
  every receipt agrees with its record; where a sheet was altered, the records and the receipts differ
  (the same permutation of different receipts: from the first count that changed, receipts shift), so a
  drawn receipt of an altered table may show a discrepancy, and a receipt of any other table never does.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TextIO

import numpy as np

from tallyproof.election import Election
from tallyproof.independent.cvrs import COMPARISON_METHODS
from tallyproof.independent.cvrs import NONE as VOTE_NONE
from tallyproof.sheets.files import write_csv
from tallyproof.sheets.sheet import TallySheet

__all__ = ["NONE", "PRINT_ORDER", "box", "hand_count", "write_cvrs"]

NONE = -1
"""A null or blank receipt in :func:`box`."""
PRINT_ORDER = "machine print order"
"""The seed of :func:`box` for the order a table's machine printed its receipts (the numbering of its cast
vote records). Fixed, and the same for every simulation: it must not depend on an audit's seed."""


def box(sheet: TallySheet, *, seed: str, election: Election) -> np.ndarray:
    """The candidate index on each receipt of ``sheet``'s box (:data:`NONE` for null and blank), in the
    order they are taken out."""
    owner = election.card_to_candidate
    if sheet.cards is not None:
        kinds = np.repeat(np.asarray(owner, dtype=np.int64), np.asarray(sheet.cards, dtype=np.int64))
    else:
        kinds = np.repeat(np.arange(len(sheet.candidates), dtype=np.int64), np.asarray(sheet.candidates))
    blanks = np.full((sheet.null or 0) + (sheet.blank or 0), NONE, dtype=np.int64)
    key = int.from_bytes(hashlib.sha256(f"{seed},{sheet.table}".encode()).digest()[:8], "big")
    return np.random.default_rng(key).permutation(np.concatenate([kinds, blanks]))


def hand_count(
    paper: Mapping[str, TallySheet],
    draws: Sequence[tuple[str, int | None]],
    *,
    method: str,
    seed: str,
    election: Election,
) -> str:
    """The counts file the auditors would record for ``draws`` (``(table, receipt)``), as text: a tally-sheet
    CSV of each drawn box (``batch``), or ``table,receipt,vote`` (``bravo``, numbered in the order seeded by
    the audit's ``seed``; ``kaplan-markov`` and ``alpha``, numbered in :data:`PRINT_ORDER`)."""
    if method == "batch":
        tables = sorted({t for t, _ in draws if t in paper})  # a table with no box is not in the counts
        out = io.StringIO()
        write_csv(out, ((paper[t], {}) for t in tables), election, [])
        return out.getvalue()
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["table", "receipt", "vote"])
    boxes: dict[str, np.ndarray] = {}
    order = PRINT_ORDER if method in COMPARISON_METHODS else seed
    for table, receipt in draws:
        if table in paper and table not in boxes:
            boxes[table] = box(paper[table], seed=order, election=election)
        receipts = boxes.get(table, np.zeros(0, dtype=np.int64))
        position = (receipt or 0) - 1
        vote = "missing" if not 0 <= position < len(receipts) else _vote(int(receipts[position]), election)
        writer.writerow([table, receipt, vote])
    return rows.getvalue()


def _vote(kind: int, election: Election) -> str:
    return "none" if kind == NONE else election.candidates[kind].id


def write_cvrs(out: TextIO, sheets: Iterable[TallySheet], election: Election) -> None:
    """The machines' cast vote records of ``sheets`` (usually the official ones), as CSV ``table,receipt,vote``:
    each table's receipts in :data:`PRINT_ORDER`, numbered from 1, the vote a candidate id or ``none``."""
    labels = np.asarray([c.id for c in election.candidates] + [VOTE_NONE], dtype=object)
    out.write("table,receipt,vote\n")
    for sheet in sheets:
        votes = labels[box(sheet, seed=PRINT_ORDER, election=election)]  # NONE (-1) picks the last label
        out.writelines(f"{sheet.table},{i},{vote}\n" for i, vote in enumerate(votes.tolist(), 1))
