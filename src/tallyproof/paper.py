"""The paper receipts of a simulated election, and the auditors' hand count of the ones an audit draws.

A scenario's ``paper.csv`` (:func:`tallyproof.scenarios.write_scenario`) says what each real table's box
of receipts holds, counted: votes per card, null and blank. :func:`box` lays a box's receipts out in the
order the auditors take them out — a permutation seeded by SHA-256 of the audit's seed and the table, so
the same audit always finds the same receipt at the same place — and :func:`hand_count` plays the
auditors: for a batch audit, each drawn table's box counted in full (a tally sheet); for ballot polling,
the vote on each drawn receipt (``none`` for a null or blank ballot, ``missing`` when the box holds fewer
receipts than the sheet reported, or no box exists, as for a fabricated table).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence

import numpy as np

from tallyproof.election import Election
from tallyproof.sheets.files import write_csv
from tallyproof.sheets.sheet import TallySheet

__all__ = ["NONE", "box", "hand_count"]

NONE = -1
"""A null or blank receipt in :func:`box`."""


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
    CSV of each drawn box (``batch``), or ``table,receipt,vote`` (``bravo``)."""
    if method == "batch":
        tables = sorted({t for t, _ in draws})
        empty = {t: TallySheet.from_cards(election, t, [0] * len(election.cards), null=0, blank=0) for t in tables}  # type: ignore[arg-type]
        out = io.StringIO()
        write_csv(out, ((paper.get(t, empty[t]), {}) for t in tables), election, [])
        return out.getvalue()
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["table", "receipt", "vote"])
    boxes: dict[str, np.ndarray] = {}
    for table, receipt in draws:
        if table in paper and table not in boxes:
            boxes[table] = box(paper[table], seed=seed, election=election)
        receipts = boxes.get(table, np.zeros(0, dtype=np.int64))
        position = (receipt or 0) - 1
        vote = "missing" if not 0 <= position < len(receipts) else _vote(int(receipts[position]), election)
        writer.writerow([table, receipt, vote])
    return rows.getvalue()


def _vote(kind: int, election: Election) -> str:
    return "none" if kind == NONE else election.candidates[kind].id
