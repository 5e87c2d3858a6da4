"""Estimates from partial coverage and quick-count samples from the command line: parse, call, print."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table
from rich.text import Text

from tallyproof.cli.console import (
    DEFAULT_DB,
    SOURCES,
    DbOption,
    FormatOption,
    check_format,
    count,
    err,
    out,
    preference,
)
from tallyproof.cli.independent import WITNESS_SOURCES, ConsensusOption, reproduce
from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.report.statistics import estimate_data, finite
from tallyproof.sheets.files import decode_text
from tallyproof.stats.estimate import (
    LARGE_SAMPLE,
    Estimate,
    InHand,
    Interval,
    Method,
    Sampled,
    check_method,
    coverage_of,
    estimate,
)
from tallyproof.stats.quickcount import Plan, from_csv, plan, to_csv
from tallyproof.stats.sensitivity import Sensitivity, Tipping, sensitivity
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import counted_columns

OPTIONS = {
    "confidence": "--confidence",
    "method": "--method",
    "margin_of_error": "--margin",
    "target": "--target",
    "n": "--size",
    "size": "--size",
    "seed": "--seed",
    "in_hand": "--source",
}
ByOption = Annotated[
    str | None, typer.Option(help="Strata: the units of this level (state, municipality, …); default the top level.")
]
ConfidenceOption = Annotated[float, typer.Option(help="Confidence of the intervals, strictly between 0 and 1.")]
MethodOption = Annotated[str, typer.Option(help="Ratio estimator: separate (per stratum, summed) or combined.")]


@contextmanager
def _named_options() -> Iterator[None]:
    """The library names its arguments (``confidence``); the command line names its options (``--confidence``)."""
    try:
        yield
    except InputError as exc:
        if exc.where not in OPTIONS:
            raise
        raise InputError(exc.message, where=OPTIONS[exc.where]) from None


def _store(db: Path, fmt: str, method: str) -> Store:
    check_format(fmt)
    with _named_options():
        check_method(method)
    return Store.sqlite(db)


def _in_hand(store: Store, by: str | None, source: str, consensus: int, only: list[str] | None = None) -> InHand:
    election = store.election()
    cols = counted_columns(store, consensus=consensus)
    level = by or election.geography.levels[0]
    return coverage_of(
        cols, store.registry_columns(), election.geography, level=level, sources=preference(source), only=only
    )


def estimate_command(
    by: ByOption = None,
    source: Annotated[
        str, typer.Option(help="Copies to count, in order of preference, comma-separated.")
    ] = WITNESS_SOURCES,
    confidence: ConfidenceOption = 0.95,
    method: MethodOption = "separate",
    tables: Annotated[
        Path | None,
        typer.Option(help="Only the copies of the tables in this CSV (a `table` column, as quick-count writes)."),
    ] = None,
    consensus: ConsensusOption = 1,
    fmt: FormatOption = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Shares, totals and margin estimated from the copies in hand, with intervals; what the missing tables would need to change the winner.

    A stratified ratio estimator with registered voters as auxiliary (docs/statistics.md, Estimates from partial coverage).
    """
    store, sources = _store(db, fmt, method), preference(source)
    election = store.election()
    only = from_csv(_read(tables), where=str(tables), geography=election.geography) if tables else None
    with err.status("Estimating"), _named_options():
        hand = _in_hand(store, by, source, consensus, only)
        _check_enough(store, hand, by, source, consensus, only)
        e = estimate(hand.coverage, confidence=confidence, method=cast(Method, method))
        s = sensitivity(hand.coverage)
    if fmt == "json":
        out.print_json(json.dumps(estimate_data(election, hand, e, s, sources), ensure_ascii=False))
        return
    for part in estimate_text(election, hand, e, s, sources):
        out.print(part)
    again = ["estimate", "--by", hand.level, "--source", ",".join(sources), "--confidence", str(confidence)]
    again += ["--method", method]
    again += [*(["--tables", str(tables)] if tables else []), "--consensus", str(consensus), "--db", str(db)]
    out.print(Text(f"Reproduce: {reproduce(again)}", style="dim"))


def quick_count_command(
    seed: Annotated[str, typer.Option(help="The public seed, announced before the draw: anyone can redraw from it.")],
    margin: Annotated[
        float, typer.Option(help="Target margin of error: the interval's half-width as a share (0.01 = ±1 point).")
    ] = 0.01,
    size: Annotated[
        int | None,
        typer.Option(
            help="Sample this many tables (at least 1) instead of sizing for --margin; at least 2 per stratum."
        ),
    ] = None,
    target: Annotated[
        str, typer.Option(help="share (every candidate's share) or margin (the first's lead over the second).")
    ] = "share",
    by: ByOption = None,
    confidence: ConfidenceOption = 0.95,
    method: MethodOption = "separate",
    source: Annotated[
        str,
        typer.Option(
            help="Per-table results standing in for the unknown ones (a previous election's, a simulation's) to size "
            "the sample: the store's copies of these sources, in order of preference. The draw covers the registry."
        ),
    ] = ",".join(SOURCES),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the sample as CSV (table,stratum); '-' for stdout.")
    ] = None,
    fmt: FormatOption = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Design a quick count (the tables needed for a margin of error) and draw them from a public seed."""
    store = _store(db, fmt, method)
    with err.status("Designing the quick count"), _named_options():
        hand = _in_hand(store, by, source, 1)
        p = plan(
            hand.coverage,
            hand.tables.tolist(),
            seed=seed,
            margin_of_error=margin,
            size=size,
            confidence=confidence,
            target=target,
            method=cast(Method, method),
        )
    if output is not None:
        _write(output, to_csv(p))
    shown = err if output is not None and str(output) == "-" else out
    if fmt == "json":
        shown.print_json(json.dumps(plan_json(store.election(), hand, p), ensure_ascii=False))
        return
    for part in plan_text(store.election(), hand, p, output):
        shown.print(part)
    again = ["quick-count", "--seed", seed, *(["--size", str(size)] if size is not None else ["--margin", str(margin)])]
    again += ["--target", target, "--by", hand.level, "--confidence", str(confidence), "--method", method]
    again += ["--source", ",".join(preference(source)), *(["--output", str(output)] if output else []), "--db", str(db)]
    shown.print(Text(f"Reproduce: {reproduce(again)}", style="dim"))


def _check_enough(
    store: Store, hand: InHand, by: str | None, source: str, consensus: int, only: list[str] | None
) -> None:
    """An estimate needs 2 tables in hand: when it has fewer, say which option left it so few."""
    n = int(hand.coverage.in_hand.size)
    if n >= 2:
        return
    have = f"{count(n, 'table')} in hand" if n else "no table in hand"
    sources = ", ".join(preference(source))
    loose = _in_hand(store, by, source, 1, only).coverage.in_hand.size if consensus > 1 else 0
    if loose >= 2:
        where = "--consensus"
        why = f"a witness or observer copy counts only once {consensus} accounts have sent it identically, and "
        why += f"{'no table has' if n == 0 else 'only one table has'} such a copy (--consensus 1: {loose:,} in hand)"
    elif (listed := hand.sampled) is not None:
        where = "--tables"
        why = f"of its {count(listed.tables, 'table')}, {listed.not_in_registry:,} not in the registry and "
        why += f"{listed.without_copy:,} without a usable copy of {sources}"
    else:
        where, why = "--source", f"{'no table has' if n == 0 else 'only one table has'} a usable copy of {sources}"
    raise InputError(f"{have}: {why}; an estimate needs at least 2", where=where)


def _read(path: Path) -> str:
    """The text of ``--tables``: UTF-8 (with or without byte-order mark), else Latin-1."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", where="--tables") from None
    return decode_text(data, where=str(path))[0]


def _write(path: Path, text: str) -> None:
    if str(path) == "-":
        sys.stdout.write(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where="--output") from None


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _points(i: Interval) -> str:
    return f"[{100 * i.low:.2f}, {100 * i.high:.2f}]"


def _votes(i: Interval) -> str:
    return f"[{i.low:,.0f}, {i.high:,.0f}]"


def _chance(p: float) -> str:
    return "> 99.99%" if p > 0.9999 else "< 0.01%" if p < 0.0001 else f"{100 * p:.2f}%"


def _groups(groups: tuple[tuple[str, ...], ...]) -> str:
    return "; ".join(" + ".join(g) for g in groups)


def estimate_text(election: Election, hand: InHand, e: Estimate, s: Sensitivity, sources: list[str]) -> list[Any]:
    """What ``tallyproof estimate`` prints: the national table, the margin, the strata, the sensitivity."""
    names = [c.name for c in election.candidates]
    level, conf = hand.level, f"{100 * e.confidence:g}%"
    parts: list[Any] = [
        Text(
            f"Copies of {e.in_hand:,} of {e.tables:,} tables in the registry ({e.in_hand / e.tables:.1%}) from "
            f"{', '.join(sources)}; {count(len(e.strata), level)} as strata; {e.method} ratio estimator, "
            f"registered voters as auxiliary; {conf} intervals."
        )
    ]
    parts += [Text(line) for line in _left_out(hand, e)]
    if not e.large_sample:
        parts.append(Text(small_sample_warning(e.in_hand), style="bold red"))
    parts.append(_national_table(names, e, conf))
    parts.append(Text(_margin_sentence(names, e)))
    parts.append(strata_table(election, e, level))
    parts.append(Text(_strata_sentence(e, level)))
    parts += [Text(line) for line in sensitivity_lines(names, s, hand.sampled)]
    return parts


def _left_out(hand: InHand, e: Estimate) -> list[str]:
    """What became of the tables listed with ``--tables``, and what was left out and why."""
    lines = []
    if (t := hand.sampled) is not None:
        rest = t.tables - e.in_hand - t.without_copy - t.not_in_registry
        lines.append(
            f"Of the {count(t.tables, 'table')} listed (--tables): {e.in_hand:,} in hand, {t.without_copy:,} without "
            f"a usable copy, {t.not_in_registry:,} not in the registry"
            + (f", {rest:,} in the registry without registered voters." if rest else ".")
        )
    left = [(hand.conflicts, "with conflicting copies counted as without one")]
    left += [(hand.outside_registry, "with a copy but not in the registry left out")]
    left += [(hand.unknown_registered, "of the registry without registered voters left out")]
    if any(n for n, _ in left):
        lines.append("Tables " + "; ".join(f"{why}: {n:,}" for n, why in left if n) + ".")
    return lines


def small_sample_warning(in_hand: int) -> str:
    """The warning above an estimate from fewer than :data:`~tallyproof.stats.estimate.LARGE_SAMPLE` tables."""
    return (
        f"Warning: only {count(in_hand, 'table')} in hand, fewer than the {LARGE_SAMPLE} the intervals' normal "
        "approximation needs (Cochran 1977, ch. 6): the intervals below understate the uncertainty and cannot "
        "be relied on, and no probability of leading is given."
    )


def _national_table(names: list[str], e: Estimate, conf: str) -> Table:
    table = Table("Candidate", "Share", f"{conf} interval", "Votes", f"{conf} interval", title_justify="left")
    for k in sorted(range(len(names)), key=lambda k: -e.shares[k].estimate):
        sh, tot = e.shares[k], e.totals[k]
        table.add_row(Text(names[k]), _pct(sh.estimate), _points(sh), f"{tot.estimate:,.0f}", _votes(tot))
    table.add_section()
    table.add_row("Valid votes", "", "", f"{e.valid.estimate:,.0f}", _votes(e.valid))
    return table


def _margin_sentence(names: list[str], e: Estimate) -> str:
    m = e.margin
    chance = f"; probability of leading {_chance(m.lead_probability)}" if e.large_sample else ""
    return (
        f"{names[m.leader]} leads {names[m.runner_up]} by {100 * m.share.estimate:.2f} points {_points(m.share)} "
        f"({m.votes.estimate:,.0f} votes {_votes(m.votes)}){chance}."
    )


def _strata_sentence(e: Estimate, level: str) -> str:
    if not e.collapsed:
        return f"Every {level} has at least 2 tables in hand: none collapsed."
    empty = f"; without any copy: {', '.join(e.empty)}" if e.empty else ""
    return (
        f"Collapsed with their neighbours for want of copies (the rows of a group show the group's shares): "
        f"{_groups(e.collapsed)}{empty}."
    )


def strata_table(election: Election, e: Estimate, level: str) -> Table:
    """One row per stratum: tables, copies in hand, and the first two candidates' shares ± the interval.

    The collapsed groups are named in a sentence (:func:`_strata_sentence`), not a column: a row stays one line.
    """
    a, b = e.margin.leader, e.margin.runner_up
    ids = [c.id for c in election.candidates]
    names = election.geography.names.get(level, {})
    table = Table(title_justify="left")
    table.add_column(level.capitalize(), no_wrap=True)
    table.add_column("Name")
    for head in ("Tables", "In hand", f"{ids[a]} %", f"{ids[b]} %"):
        table.add_column(head, no_wrap=True)
    for st in e.strata:
        cells = [
            f"{100 * st.shares[k].estimate:.2f} ± {100 * (st.shares[k].high - st.shares[k].estimate):.2f}"
            for k in (a, b)
        ]
        table.add_row(Text(st.label), Text(names.get(st.label, "")), f"{st.tables:,}", f"{st.in_hand:,}", *cells)
    return table


def sensitivity_lines(names: list[str], s: Sensitivity, sampled: Sampled | None = None) -> list[str]:
    """The sensitivity analysis in sentences; with ``sampled`` (``--tables``), of the tables not in hand."""
    if s.missing_tables == 0:
        return ["Every table of the registry has a copy: nothing is missing to change the result."]
    n = s.missing_tables
    which = f"{count(n, 'table')} without a copy"
    if sampled is not None:
        which = f"{count(n, 'table')} not in hand ({sampled.without_copy:,} sampled without a copy, "
        which += f"{n - sampled.without_copy:,} outside the sample)"
    lines = [
        f"The {which} {'has' if n == 1 else 'have'} {s.missing_registered:,.0f} registered voters. "
        + _tie(names[s.leader], names[s.runner_up], s.observed, s.full)
    ]
    low, high = s.margin_bounds
    verdict = "could" if s.winner_can_change else "could not"
    lines.append(
        f"Worst case (every missing voter votes, all for one candidate): {names[s.leader]}'s lead lies between "
        f"{100 * low:.2f} and {100 * high:.2f} points; the winner {verdict} change."
    )
    return lines


def _tie(a: str, b: str, o: Tipping, f: Tipping) -> str:
    """What the runner-up ``b`` would need among the missing votes to tie; a margin over 100 points cannot be."""
    at = f"at the turnout the copies show in their strata, {o.turnout:.1%}"
    if o.needed_margin > 1:
        if f.needed_margin > 1:
            return f"{b} could not tie even with every missing vote: not with all of their valid votes {at}, nor with all of their registered voters."
        return (
            f"{b} could not tie even with every valid vote of them {at}; at 100% turnout, {b} would need to win "
            f"them by {100 * f.needed_margin:.2f} points."
        )
    full = f"by {100 * f.needed_margin:.2f} points at 100%"
    return f"{b} would need to win their valid votes by {100 * o.needed_margin:.2f} points {at} ({full}), to tie; " + (
        f"{a}'s share of them would have to fall from {_pct(o.leader_share_expected)}, what the tables in hand "
        f"show, to {_pct(o.leader_share_needed)}: a shift of {-o.shift_points:.2f} points."
        if o.possible_keeping_others
        else f"even with no vote for {a} there, the other candidates keeping their share, {b} would not tie."
    )


def plan_text(election: Election, hand: InHand, p: Plan, output: Path | None) -> list[Any]:
    """What ``tallyproof quick-count`` prints: the sample drawn, why it differs from the size asked, the strata."""
    d, n_all = p.design, hand.coverage.strata.size
    head = f"Quick count: {count(p.drawn, 'table')} of {n_all:,} in the registry ({p.drawn / n_all:.1%})"
    if d is None:
        head += "." + (
            f" {count(p.sample_size, 'table')} asked{_raised(p, hand.level)}" if p.drawn > p.sample_size else ""
        )
    else:
        who = election.candidates[d.candidate].name
        what = f"{who}'s share" if d.target == "share" else f"the lead of {who}"
        goal = (
            f"a margin of error of ±{100 * d.margin_of_error:.2f} points at {100 * d.confidence:g}% ({what} needs "
            f"the most; design effect {d.design_effect:,.1f}, sized on the results of {hand.coverage.in_hand.size:,} tables)"
        )
        head += f" for {goal}." if p.drawn == p.sample_size else f". For {goal}, the design needs {p.sample_size:,}"
        head += _raised(p, hand.level) if p.drawn > p.sample_size else ""
    table = Table(hand.level.capitalize(), "Tables", "Sample", title_justify="left")
    total = Counter(str(s) for s in hand.coverage.strata.tolist())
    for label, k in p.allocation:
        table.add_row(Text(label), f"{total[label]:,}", f"{k:,}")
    where = "not written (use --output)" if output is None else f"written to {output}"
    recipe = (
        f'Drawn with seed "{p.seed}": in each {hand.level}, the tables ordered by SHA-256 of "seed,table id" read as '
        f"a number, the first taken: {count(p.drawn, 'table')} (at least {p.minimum} per {hand.level}), {where}."
    )
    return [Text(head), table, Text(recipe)]


def _raised(p: Plan, level: str) -> str:
    """Why more tables are drawn than asked for (or designed): the minimum per stratum."""
    if p.sample_size < p.smallest:
        return (
            f": fewer than the {p.smallest:,} that at least {p.minimum} in each of the "
            f"{count(len(p.allocation), level)} make, the smallest sample by {level} (a coarser --by allows fewer)."
        )
    return f"; {p.drawn - p.sample_size:,} more drawn to have at least {p.minimum} in every {level}."


def plan_json(election: Election, hand: InHand, p: Plan) -> dict[str, Any]:
    data: dict[str, Any] = finite(
        {
            "level": hand.level,
            "registry_tables": int(hand.coverage.strata.size),
            "design": None if p.design is None else asdict(p.design),
            "candidate": None if p.design is None else election.candidates[p.design.candidate].id,
            "seed": p.seed,
            "sample_size": p.sample_size,
            "drawn": p.drawn,
            "minimum": p.minimum,
            "smallest": p.smallest,
            "allocation": dict(p.allocation),
            "tables": list(p.tables),
        }
    )
    return data
