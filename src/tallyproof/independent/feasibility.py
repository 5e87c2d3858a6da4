"""Could an announced result be true, given the tally sheets in hand?

The evidence is, for every table with a usable copy, its votes per candidate and its registered
voters; and for the tables without one ("missing"), only how many voters each could hold. A missing
table could have any result, from nobody voting to every registered voter voting for one candidate
(100% turnout: the most extreme case, which is what makes a verdict of "not achievable" safe).

* **Final ranges.** Candidate *i* ends with at least ``C_i`` (the missing tables give it nothing) and
  at most ``C_i + R_m`` (every voter of the missing tables votes for it), ``C_i`` being its votes in the
  copies and ``R_m`` the registered voters of the missing tables.
* **The announced winner** *W* can finish first only if ``C_W + R_m > C_j`` for its strongest rival *j*:
  otherwise the margin in the copies, ``C_j - C_W``, exceeds every vote the missing tables hold, and the
  announced winner is not achievable whatever those tables contain.
* **Partial ranges.** An announcement made with *k* of *N* tables counted covers some *k* tables. The
  fewest votes any *k* tables can give candidate *i*: as many missing tables as possible (each giving
  nothing), then the copies with the fewest votes for *i*. The most: for each number *j* of missing
  tables among the *k*, the copies with the most votes for *i* plus the most voters *j* missing tables can
  hold; the best *j*. An announced count outside its range is impossible for any set of *k* tables.
  Each candidate is bounded on its own (the ranges are necessary conditions, not a joint solution), so
  an announcement inside every range is not thereby shown to be possible.
* **Robustness.** The fewest copies that would have to be false (their tables treated as missing) for
  the announced winner to become achievable; how many more voters than the registry says the missing
  tables would need; and the verdict at the turnout the copies show instead of 100%.

The arithmetic is exact integer arithmetic over NumPy arrays; nothing here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tallyproof.errors import InputError

__all__ = ["Evidence", "Outcome", "Range", "outcome", "vote_ranges"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the copies in hand say, and what the tables without a copy could hold."""

    votes: np.ndarray
    """Votes per table with a copy and per candidate (or group of candidates), int64 ``(n, c)``."""
    registered: np.ndarray
    """Registered voters of each table with a copy, int64 ``(n,)``."""
    cast: np.ndarray
    """Votes cast at each table with a copy (valid, null and blank), int64 ``(n,)``."""
    missing_capacity: np.ndarray
    """For each table without a copy, the most voters it can hold, int64 ``(m,)``."""
    missing_voters: int
    """Registered voters of all tables without a copy together (at most ``missing_capacity.sum()``)."""

    @property
    def copies(self) -> int:
        return int(self.votes.shape[0])

    @property
    def missing_tables(self) -> int:
        return int(self.missing_capacity.size)

    @property
    def tables(self) -> int:
        return self.copies + self.missing_tables

    def totals(self) -> np.ndarray:
        """``C``: votes per candidate in the copies."""
        out: np.ndarray = self.votes.sum(axis=0)
        return out

    def turnout(self) -> float | None:
        """Votes cast over registered voters, at the tables with a copy."""
        known = self.registered > 0
        reg = int(self.registered[known].sum())
        return int(self.cast[known].sum()) / reg if reg else None

    def missing_hold(self) -> np.ndarray:
        """``g[j]``: the most voters ``j`` tables without a copy can hold together, ``j = 0..m``."""
        caps = np.sort(self.missing_capacity)[::-1]
        held: np.ndarray = np.minimum(np.r_[0, np.cumsum(caps)], self.missing_voters)
        return held


@dataclass(frozen=True, slots=True)
class Range:
    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


def vote_ranges(ev: Evidence, k: int) -> list[Range]:
    """For each candidate, the fewest and the most votes any ``k`` tables of the election can give it."""
    n, m = ev.copies, ev.missing_tables
    if not 0 <= k <= n + m:
        raise InputError(f"{k:,} tables counted, but the election has {n + m:,}", where="tables counted")
    ascending = np.sort(ev.votes, axis=0)
    low_sums = np.vstack([np.zeros((1, ev.votes.shape[1]), np.int64), np.cumsum(ascending, axis=0)])
    high_sums = np.vstack([np.zeros((1, ev.votes.shape[1]), np.int64), np.cumsum(ascending[::-1], axis=0)])
    lowest = low_sums[k - min(m, k)]  # as many missing tables as possible, each giving nothing
    j = np.arange(max(0, k - n), min(m, k) + 1)  # missing tables among the k
    highest = (high_sums[k - j] + ev.missing_hold()[j][:, None]).max(axis=0)
    return [Range(int(lo), int(hi)) for lo, hi in zip(lowest, highest, strict=True)]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Whether ``winner`` can still finish first once every table is counted."""

    winner: int
    rival: int
    """The candidate with the most votes in the copies besides the winner."""
    margin: int
    """``C_rival - C_winner``: the rival's lead in the copies (negative: the winner leads)."""
    missing_voters: int
    missing_tables: int
    copies_to_overturn: int | None
    """Fewest copies that would have to be false for the winner to become achievable (``None`` if it is)."""
    turnout: float | None
    """Turnout at the tables with a copy."""

    @property
    def achievable(self) -> bool:
        """The winner can finish strictly first if the missing tables' voters all vote for it."""
        return self.margin < self.missing_voters

    @property
    def shortfall(self) -> int:
        """Votes the winner would still lack with every voter of the missing tables."""
        return self.margin - self.missing_voters

    @property
    def registry_slack(self) -> float | None:
        """How much larger than the registry says the missing tables would have to be (0.05 = 5%)."""
        if self.achievable or self.missing_voters == 0:
            return None
        return self.margin / self.missing_voters - 1

    def shortfall_at(self, turnout: float) -> float:
        """The winner's shortfall if the missing tables voted at ``turnout``, all for the winner."""
        return self.margin - turnout * self.missing_voters


def outcome(ev: Evidence, winner: int) -> Outcome:
    """Can candidate ``winner`` finish first, whatever the tables without a copy contain?"""
    totals = ev.totals()
    if totals.size < 2:
        raise InputError("needs at least two candidates", where="candidates")
    others = np.delete(np.arange(totals.size), winner)
    rival = int(others[np.argmax(totals[others])])
    margin = int(totals[rival] - totals[winner])
    gains = (ev.votes[:, rival] - ev.votes[:, winner]) + ev.registered  # what dropping one copy takes off
    shortfall = margin - ev.missing_voters
    overturn: int | None = None
    if shortfall >= 0:  # dropping every copy always suffices: the gains add up to margin + their voters
        overturn = int(np.argmax(np.cumsum(np.sort(gains)[::-1]) > shortfall)) + 1
    return Outcome(winner, rival, margin, ev.missing_voters, ev.missing_tables, overturn, ev.turnout())
