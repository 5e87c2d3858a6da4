"""What every forensic screen shares: the :class:`Screen` it returns, the threshold, and the input checks.

A screen states its null model, computes a p-value and is ``flagged`` when that p-value (after any
correction for the number of things tried) is below :data:`THRESHOLD`. Every summary ends with
:data:`NOT_PROOF`: a flag says the numbers are unusual under a stated model of honest counting, never why.
The screens themselves are in :mod:`tallyproof.stats.forensics` (the front door), :mod:`~tallyproof.stats.digits`,
:mod:`~tallyproof.stats.centres` and :mod:`~tallyproof.stats.fingerprint`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tallyproof.errors import InputError

__all__ = ["NOT_PROOF", "THRESHOLD", "Screen", "check_tables", "leader", "mad", "screen_fields", "whole_counts"]

THRESHOLD = 0.001
"""Every screen is flagged when its p-value (after any multiplicity correction) is below this."""
NOT_PROOF = "A screen, not proof."


@dataclass(frozen=True, slots=True)
class Screen:
    """What every screen returns; ``flagged`` is ``p_value < threshold``."""

    name: str
    statistic: float
    null: str
    """The null model and the distribution the p-value is taken from, in one or two sentences."""
    p_value: float
    threshold: float
    flagged: bool
    summary: str
    """One or two sentences with the numbers, ending with "A screen, not proof."."""

    def to_json(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in asdict(self).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def screen_fields(name: str, statistic: float, null: str, p_value: float, summary: str) -> dict[str, Any]:
    """The fields every :class:`Screen` has, with ``flagged`` decided here only and the summary finished."""
    p = float(min(1.0, max(0.0, p_value)))
    flagged = p < THRESHOLD
    verdict = "flagged" if flagged else "not flagged"
    text = f"{summary} {verdict.capitalize()} (threshold p < {THRESHOLD:g}). {NOT_PROOF}"
    return {
        "name": name,
        "statistic": float(statistic),
        "null": null,
        "p_value": p,
        "threshold": THRESHOLD,
        "flagged": flagged,
        "summary": text,
    }


def check_tables(
    registered: np.ndarray | None, votes: np.ndarray, null: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(registered, votes, null)`` as int64 arrays of shapes ``(n,)``, ``(n, k)``, ``(n,)``.

    ``registered`` may be None (screens that do not need it); it then comes back as zeros. ``null``
    defaults to zeros. Raises :class:`InputError` naming the argument for a wrong shape, a value that is
    not a whole number or a negative count.
    """
    v = whole_counts(votes, "votes")
    if v.ndim != 2 or v.shape[1] == 0:
        raise InputError(f"needs one row per table and one column per candidate, got shape {v.shape}", where="votes")
    n = v.shape[0]
    reg = np.zeros(n, np.int64) if registered is None else whole_counts(registered, "registered")
    nul = np.zeros(n, np.int64) if null is None else whole_counts(null, "null")
    for name, arr in (("registered", reg), ("null", nul)):
        if arr.shape != (n,):
            raise InputError(f"needs shape ({n},), one value per table, got {arr.shape}", where=name)
    return reg, v, nul


def whole_counts(values: Any, where: str) -> np.ndarray:
    """``values`` as int64; :class:`InputError` naming ``where`` unless they are non-negative whole numbers."""
    arr = np.asarray(values)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise InputError(f"needs whole numbers, got dtype {arr.dtype}", where=where)
    if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise InputError("needs whole numbers", where=where)
    out = arr.astype(np.int64)
    if (out < 0).any():
        raise InputError("counts cannot be negative", where=where)
    return out


def leader(votes: np.ndarray, candidate: int | None) -> int:
    """The candidate with the most votes over all tables, or ``candidate`` after a range check."""
    if candidate is None:
        return int(np.argmax(votes.sum(axis=0)))
    if not 0 <= candidate < votes.shape[1]:
        raise InputError(f"{candidate} is not a column of votes (0 to {votes.shape[1] - 1})", where="candidate")
    return candidate


def mad(x: np.ndarray) -> float:
    """1.4826 times the median absolute deviation: the standard deviation for normal data, robustly."""
    return 1.4826 * float(np.median(np.abs(x - np.median(x)))) if x.size else 0.0
