"""How different the tables without a copy would have to be for the runner-up to win.

Using the exact counts in hand and the registered voters of the missing tables, ``R_m``
(notation of :mod:`tallyproof.stats.estimate`): the margin the runner-up would need among the missing
tables' valid votes to tie, at the turnout seen in the copies of the same strata and at 100% of
registered; the leader's share that means if the other candidates keep their share in those strata, and
its distance in percentage points from the leader's share there. Worst-case bounds in the manner of
Manski (1989, "Anatomy of the selection problem", *J. Human Resources* 24(3)): every missing voter
votes, all for one candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tallyproof.stats.estimate import Coverage, frame, group_sums

__all__ = ["Sensitivity", "Tipping", "sensitivity"]


@dataclass(frozen=True, slots=True)
class Tipping:
    """What the tables without a copy would have to hold for the runner-up to tie, at one turnout.

    Margins and shares are of the missing tables' valid votes ``M``. The "expected" figures are those of
    the copies in the same (collapsed) strata, weighted by each stratum's missing valid votes.
    """

    turnout: float
    """Valid votes per registered voter assumed in the missing tables."""
    missing_valid: float
    needed_margin: float
    """``(C_leader − C_runner) / M``: runner-up minus leader among the missing votes to tie (∞ if ``M = 0``)."""
    expected_margin: float
    leader_share_needed: float
    """The leader's share of the missing votes at which it ties, the other candidates keeping their
    expected share: ``(p_a + p_b − needed_margin) / 2``."""
    leader_share_expected: float

    @property
    def possible(self) -> bool:
        """The runner-up can overtake if the missing votes are split freely (``needed_margin < 1``)."""
        return self.needed_margin < 1

    @property
    def possible_keeping_others(self) -> bool:
        """The runner-up can overtake with the other candidates at their expected share."""
        return self.leader_share_needed > 0

    @property
    def shift_points(self) -> float:
        """How far the leader's share among the missing votes would have to move, in percentage points."""
        return 100 * (self.leader_share_needed - self.leader_share_expected)


@dataclass(frozen=True, slots=True)
class Sensitivity:
    leader: int
    runner_up: int
    """First and second in ``projected``."""
    counted: tuple[float, ...]
    """Votes per candidate in the copies in hand, ``C``."""
    counted_valid: float
    missing_tables: int
    missing_registered: float
    """``R_m``: registered voters of the tables without a copy."""
    projected: tuple[float, ...]
    """``C`` plus the missing tables voting like the copies of their strata, at the turnout seen there
    (the prediction form of the ratio estimator: Royall 1970, *Biometrika* 57)."""
    observed: Tipping
    full: Tipping
    """At 100% turnout: every registered voter of the missing tables casts a valid vote."""
    share_bounds: tuple[tuple[float, float], ...]
    """Worst-case shares: ``[C_k / (V + R_m), (C_k + R_m) / (V + R_m)]``, ``V`` the valid votes in hand."""
    margin_bounds: tuple[float, float]
    """Worst-case lead of the leader over its closest rival in the copies in hand (``k`` maximising ``C_k``,
    who need not be the projected runner-up): ``(C_a − C_k ∓ R_m) / (V + R_m)``."""

    @property
    def winner_can_change(self) -> bool:
        """Whether some other candidate finishes level with the leader or ahead if every missing voter votes
        for it (Manski-style worst case): true when ``C_a − max_{k≠a} C_k ≤ R_m``."""
        others = [c for k, c in enumerate(self.counted) if k != self.leader]
        return bool(others) and self.counted[self.leader] - max(others) <= self.missing_registered


def _tipping(lead: float, missing: np.ndarray, pa: np.ndarray, pb: np.ndarray, registered: float) -> Tipping:
    """:class:`Tipping` for ``lead = C_a − C_b`` and missing valid votes ``missing`` per group."""
    m = float(missing.sum())
    if m <= 0:
        return Tipping(0.0, 0.0, math.inf, math.nan, -math.inf, math.nan)
    a, b = float(missing @ pa) / m, float(missing @ pb) / m
    need = lead / m
    return Tipping(m / registered, m, need, b - a, (a + b - need) / 2, a)


def sensitivity(cov: Coverage, *, min_in_hand: int = 2) -> Sensitivity:
    """How different the tables without a copy would have to be to change the winner (module docstring).

    Strata are collapsed as in :func:`~tallyproof.stats.estimate.estimate`. Uses the exact counts in hand, not their estimates.
    """
    fr = frame(cov, min_in_hand)
    y, v = cov.votes, cov.valid
    held = group_sums(fr.x, fr.g, fr.size)
    sv = group_sums(v, fr.g, fr.size)
    p = np.divide(group_sums(y, fr.g, fr.size), sv[:, None], out=np.zeros((fr.size, y.shape[1])), where=sv[:, None] > 0)
    absent = fr.X - held
    at_observed = absent * sv / held
    counted, valid, r_m = y.sum(axis=0), float(v.sum()), float(absent.sum())
    projected = counted + at_observed @ p
    a, b = (int(k) for k in np.argsort(-projected, kind="stable")[:2])
    lead = float(counted[a] - counted[b])
    closest = float(counted[a] - max(float(c) for k, c in enumerate(counted) if k != a))
    total = valid + r_m
    return Sensitivity(
        leader=a,
        runner_up=b,
        counted=tuple(float(c) for c in counted),
        counted_valid=valid,
        missing_tables=int(cov.strata.size - cov.in_hand.size),
        missing_registered=r_m,
        projected=tuple(float(c) for c in projected),
        observed=_tipping(lead, at_observed, p[:, a], p[:, b], r_m),
        full=_tipping(lead, absent, p[:, a], p[:, b], r_m),
        share_bounds=tuple((float(c) / total, (float(c) + r_m) / total) for c in counted),
        margin_bounds=((closest - r_m) / total, (closest + r_m) / total),
    )
