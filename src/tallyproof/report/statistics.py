"""The statistics sections of the verification report: estimates from the copies, and the audits.

:func:`estimate_data` is the JSON twin of ``tallyproof estimate`` (every figure of the estimate and of
its sensitivity analysis); :func:`estimate_lines` and :func:`audit_lines` write the report's sections from
the report's data, as the other sections are written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from tallyproof.election import Election
from tallyproof.stats.estimate import LARGE_SAMPLE, Estimate, InHand
from tallyproof.stats.sensitivity import Sensitivity

__all__ = ["audit_lines", "estimate_data", "estimate_lines", "finite", "risk_text"]


def finite(value: Any) -> Any:
    """JSON has no infinity or NaN: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def estimate_data(election: Election, hand: InHand, e: Estimate, s: Sensitivity, sources: list[str]) -> dict[str, Any]:
    """Every figure of an estimate and of its sensitivity analysis, JSON-able."""
    data: dict[str, Any] = finite(
        {
            "candidates": [c.id for c in election.candidates],
            "names": [c.name for c in election.candidates],
            "level": hand.level,
            "sources": sources,
            "left_out": {
                "conflicts": hand.conflicts,
                "outside_registry": hand.outside_registry,
                "unknown_registered": hand.unknown_registered,
            },
            "sampled": None if hand.sampled is None else asdict(hand.sampled),
            "estimate": {**asdict(e), "large_sample": e.large_sample},
            "sensitivity": {**asdict(s), "winner_can_change": s.winner_can_change},
        }
    )
    return data


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def estimate_lines(est: Mapping[str, Any] | None, table: Any) -> list[str]:
    """The estimate section: shares with their intervals, the margin, what the missing tables would need.
    ``table`` renders rows as a Markdown table (the report's)."""
    if est is None:
        return ["No estimate: the store has no registry or no copy to count."]
    e, s, names = est["estimate"], est["sensitivity"], est["names"]
    conf = f"{100 * e['confidence']:g}%"
    head = (
        f"From the copies ({', '.join(est['sources'])}) of {e['in_hand']:,} of {e['tables']:,} tables, by {est['level']}: "
        f"{e['method']} ratio estimator with registered voters as auxiliary, {conf} intervals (Cochran 1977). "
        "An estimate assumes the tables in hand vote like the missing ones of their stratum; the sensitivity "
        "analysis says how far that may fail before the winner changes."
    )
    order = sorted(range(len(names)), key=lambda k: -(e["shares"][k]["estimate"] or 0))
    rows = [(names[k], _pct(e["shares"][k]["estimate"]), _interval(e["shares"][k])) for k in order]
    m = e["margin"]
    margin = (
        f"{names[m['leader']]} leads {names[m['runner_up']]} by {100 * m['share']['estimate']:.2f} points "
        f"{_interval(m['share'], points=True)}."
    )
    warning = (
        [
            f"**Warning: only {e['in_hand']:,} tables in hand, fewer than the {LARGE_SAMPLE} the intervals' normal "
            "approximation needs (Cochran 1977, ch. 6): the intervals understate the uncertainty and cannot be "
            "relied on.**",
            "",
        ]
        if not e["large_sample"]
        else []
    )
    lines = [head, "", *warning, *table(("Candidate", "Share", f"{conf} interval"), rows), "", margin, ""]
    if s["missing_tables"]:
        low, high = s["margin_bounds"]
        lines.append(
            f"{_tie(names[s['runner_up']], s['missing_tables'], s['observed']['needed_margin'])} Worst case (every "
            f"missing voter votes, all for one candidate): {names[s['leader']]}'s lead lies between {100 * low:.2f} "
            f"and {100 * high:.2f} points; the winner {'could' if s['winner_can_change'] else 'could not'} change."
        )
    return lines


def _tie(runner_up: str, missing: int, needed: float | None) -> str:
    """What the runner-up would need in the tables without a copy: no margin over 100 points (``None`` is infinite)."""
    tables = f"the {missing:,} tables without a copy"
    if needed is None or needed > 1:
        return (
            f"{runner_up} could not tie even with every valid vote of {tables}, at the turnout the copies show in "
            "their strata."
        )
    return f"{runner_up} would need to win the valid votes of {tables} by {100 * needed:.2f} points to tie."


def _interval(i: Mapping[str, Any], *, points: bool = False) -> str:
    if i["low"] is None or i["high"] is None:
        return "—"
    unit = "" if points else "%"
    return f"[{100 * i['low']:.2f}{unit}, {100 * i['high']:.2f}{unit}]"


def risk_text(p: float) -> str:
    """An audit's risk as a percentage, never a misleading 0.00%."""
    return "below 0.01%" if p < 0.0001 else f"{p:.2%}"


def audit_lines(audits: Sequence[Mapping[str, Any]], table: Any) -> list[str]:
    """The audits section: each audit's plan, how far it got, its risk and its decision."""
    if not audits:
        return ["No audit of the paper receipts is recorded in this store (tallyproof audit plan)."]
    rows = [
        (
            a["audit"]["id"],
            a["audit"]["method"],
            f"{a['audit']['risk_limit']:.0%}",
            f"`{a['audit']['seed']}`",
            a["audit"]["winner"],
            f"{a['counted']:,} of {a['audit']['planned']:,}",
            risk_text(a["status"]["risk"]),
            a["status"]["decision"],
        )
        for a in audits
    ]
    head = (
        "Risk-limiting audits of the published sheets against the paper receipts in the boxes: a decision "
        "'confirm' means the chance that a wrong reported winner would have been confirmed is at most the risk limit."
    )
    header = ("Audit", "Method", "Risk limit", "Seed", "Reported winner", "Counted", "Risk", "Decision")
    return [head, "", *table(header, rows)]
