"""Digit screens: last digits (after Beber & Scacco 2012) and second digits (after Mebane 2006).

Both take ``votes``, any array of counts (usually tables × candidates), and compare the frequencies of a
digit with what honest counting gives, by Pearson's chi-square with 9 degrees of freedom. The textbook
nulls (a uniform last digit, Benford's law for the second digit) are kept for comparison, but the
defaults are calibrated to the counts themselves: on 40 honest simulated elections of 30,026 tables
(:func:`tallyproof.simulation.election.simulate`, seeds 1–40) the uniform last digit flagged 16 and 2BL 24 (a steep
tail of small counts breaks the first, tables of similar size the second); the calibrated nulls flagged
none (smallest p-values 0.022 and 0.28). A flag is a screen, not proof (:mod:`tallyproof.stats.screens`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from tallyproof.errors import InputError
from tallyproof.stats.screens import Screen, check_tables, screen_fields, whole_counts

__all__ = ["BENFORD_SECOND", "DigitTest", "last_digits", "second_digits"]

BENFORD_SECOND = tuple(sum(math.log10(1 + 1 / (10 * d + k)) for d in range(1, 10)) for k in range(10))
"""Second-digit Benford's law (2BL): the chance that the second digit is 0, 1, …, 9 (Mebane 2006, eq. 1)."""
_POWERS = 10 ** np.arange(19, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class DigitTest(Screen):
    digit: str
    """``last`` or ``second``."""
    observed: tuple[int, ...]
    """How many counts have digit 0, 1, …, 9."""
    expected: tuple[float, ...]
    counts: int
    """Counts screened (those at least ``minimum``)."""


def last_digits(
    votes: np.ndarray, *, minimum: int = 100, expected: Literal["smooth", "uniform"] = "smooth"
) -> DigitTest:
    """Are the last digits of the counts what a smooth spread of counts gives? (Beber & Scacco 2012, "What
    the numbers say: a digit-based test for election fraud", *Political Analysis* 20(2).)

    ``votes`` is any array of counts (e.g. tables × candidates); counts below ``minimum`` are left out,
    since the last digit of a small count follows its size. Two nulls:

    * ``"uniform"``: the last digit is uniform on 0–9 (Beber & Scacco). It holds only where the counts'
      density is flat over ten votes: just above the cut, in a minor candidate's steep tail, the first
      digits of each decade are the most common, and a large honest election fails it.
    * ``"smooth"`` (default): the counts' density is smooth over ten votes. Every count is spread over
      itself and its ten neighbours with trapezoidal weights (½, 1, …, 1, ½)/10, a moving average that keeps
      linear trends exactly and removes anything repeating every ten votes, and the expected frequencies
      are those of the spread counts at or above ``minimum``. Away from the cut that is uniform; near it,
      it carries the slope. Deterministic.

    Either way Pearson's chi-square with 9 degrees of freedom. People inventing numbers favour 0 and 5.
    """
    values = whole_counts(votes, "votes").ravel()
    used = values[values >= minimum]
    observed = np.bincount(used % 10, minlength=10)
    if expected == "uniform":
        null = "Last digits uniform on 0–9 (Beber & Scacco 2012); Pearson chi-square, 9 degrees of freedom."
        return _digit_test("last-digits", "last", observed, np.full(10, used.size / 10), null, 0.0)
    if expected != "smooth":
        raise InputError(f"expected must be 'smooth' or 'uniform', got {expected!r}", where="expected")
    null = (
        "Last digits of the counts spread over ten votes by a trapezoidal moving average (a density smooth over "
        "ten votes, no digit preferred); Pearson chi-square, 9 degrees of freedom."
    )
    return _digit_test("last-digits", "last", observed, _smooth_last(values, minimum) * used.size, null, 0.0)


def _smooth_last(values: np.ndarray, minimum: int) -> np.ndarray:
    """Last-digit frequencies of the counts at or above ``minimum`` after a trapezoidal ten-vote moving average."""
    near = values[values >= minimum - 5]
    total = np.zeros(10)
    for shift in range(-5, 6):
        weight = 0.05 if abs(shift) == 5 else 0.1
        moved = near + shift
        total += weight * np.bincount(moved[moved >= minimum] % 10, minlength=10)
    out: np.ndarray = total / max(total.sum(), 1e-300)
    return out


def second_digits(
    votes: np.ndarray,
    *,
    minimum: int = 10,
    expected: Literal["binomial", "2BL"] = "binomial",
    simulations: int = 200,
    seed: int = 0,
) -> DigitTest:
    """Are the second digits of the counts what counting gives? (Mebane 2006, "Election forensics: vote
    counts and Benford's law", Summer Meeting of the Political Methodology Society.)

    ``votes`` is tables × candidates; counts below ``minimum`` (and any of one digit) are left out. Nulls:

    * ``"2BL"``: second-digit Benford's law, :data:`BENFORD_SECOND` (Mebane's test). Honest counts need not
      follow it: counts from tables of similar size sit in a narrow range and miss it (Deckert, Myagkov &
      Ordeshook 2011, *Political Analysis* 19(3)); a large honest election fails it. Kept for comparison.
    * ``"binomial"`` (default): the frequencies that counting noise gives around the same counts. Each count
      is redrawn as Binomial(table's valid votes, its observed share), and again from the redrawn count, three
      times in a row, ``simulations`` times (seeded): frequencies ``f₁, f₂, f₃`` with one, two and three
      extra rounds of noise. Redrawing from observed counts adds noise to noise and blurs the counts' spread;
      the quadratic simulation–extrapolation ``3f₁ − 3f₂ + f₃`` back to no extra noise removes that blur
      (SIMEX, Cook & Stefanski 1994, *JASA* 89(428)). The chi-square is divided by ``1 + 19/simulations``
      for the Monte Carlo noise in the expectation (``3² + 3² + 1``). Digits preferred by people stand out;
      the spread of the counts does not.

    Either way Pearson's chi-square with 9 degrees of freedom.
    """
    v, values = _digit_counts(votes, minimum, 10)
    observed = np.bincount(_second(values), minlength=10)
    if expected == "2BL":
        null = "Second digits follow Benford's law, 2BL (Mebane 2006); Pearson chi-square, 9 degrees of freedom."
        return _digit_test("second-digits", "second", observed, np.asarray(BENFORD_SECOND) * values.size, null, 0.0)
    _check_null(expected, ("binomial", "2BL"), simulations)
    freq = _resampled_second(v, max(minimum, 10), simulations, seed)
    null = (
        "Second digits as counting noise gives them: counts redrawn as Binomial(table's valid votes, observed "
        f"share) 1-3 times in a row, {simulations} seeded simulations, extrapolated to no extra noise (SIMEX); "
        "Pearson chi-square, 9 degrees of freedom."
    )
    return _digit_test("second-digits", "second", observed, freq * values.size, null, 19 / simulations)


def _digit_counts(votes: np.ndarray, minimum: int, floor: int) -> tuple[np.ndarray, np.ndarray]:
    """The checked tables × candidates matrix and its counts of at least ``minimum`` (and ``floor``)."""
    _, v, _ = check_tables(None, votes)
    values = v.ravel()
    return v, values[values >= max(minimum, floor)]


def _check_null(expected: str, allowed: tuple[str, str], simulations: int) -> None:
    if expected not in allowed:
        raise InputError(f"expected must be {' or '.join(map(repr, allowed))}, got {expected!r}", where="expected")
    if simulations < 1:
        raise InputError(f"needs at least one simulation, got {simulations}", where="simulations")


def _second(values: np.ndarray) -> np.ndarray:
    """The second digit of each count (all at least 10)."""
    digits = np.searchsorted(_POWERS, values, side="right")
    out: np.ndarray = (values // _POWERS[digits - 2]) % 10
    return out


def _resampled_second(votes: np.ndarray, minimum: int, simulations: int, seed: int) -> np.ndarray:
    """Second-digit frequencies of counting noise around the counts, extrapolated back to no extra noise:
    ``3f₁ − 3f₂ + f₃`` from counts redrawn as Binomial(valid, share) one, two and three times in a row."""
    rng = np.random.default_rng(seed)
    valid = np.repeat(votes.sum(axis=1), votes.shape[1])
    rounds = np.zeros((3, 10))
    for _ in range(simulations):
        drawn = votes.ravel()
        for noise in range(3):
            drawn = rng.binomial(valid, np.divide(drawn, valid, out=np.zeros(valid.size), where=valid > 0))
            rounds[noise] += np.bincount(_second(drawn[drawn >= minimum]), minlength=10)
    f = rounds / np.maximum(rounds.sum(axis=1, keepdims=True), 1.0)
    out: np.ndarray = np.clip(3 * f[0] - 3 * f[1] + f[2], 0.0, None)
    return out / max(float(out.sum()), 1e-300)


def _digit_test(
    name: str, digit: str, observed: np.ndarray, expected: np.ndarray, null: str, noise: float
) -> DigitTest:
    """Pearson's chi-square of ``observed`` against ``expected`` (9 df), the statistic divided by ``1 + noise``."""
    n = int(observed.sum())
    cells = expected > 0
    if n == 0 or expected[cells].min(initial=np.inf) < 5 or (observed[~cells] > 0).any():
        chi2, p = 0.0, 1.0
        summary = f"{n:,} counts: too few for the chi-square (needs 5 or more expected per digit), not tested."
    else:
        chi2 = float(((observed[cells] - expected[cells]) ** 2 / expected[cells]).sum() / (1 + noise))
        p = float(stats.chi2.sf(chi2, 9))
        worst = int(np.argmax((observed - expected) / np.sqrt(np.maximum(expected, 1e-12))))
        summary = (
            f"{n:,} counts; {digit} digit {worst} appears {int(observed[worst]):,} times against "
            f"{expected[worst]:,.1f} expected; chi-square {chi2:,.1f} (9 df), p = {p:.2g}."
        )
    common = screen_fields(name, chi2, null, p, summary)
    exp = tuple(float(x) for x in expected)
    return DigitTest(**common, digit=digit, observed=tuple(int(x) for x in observed), expected=exp, counts=n)
