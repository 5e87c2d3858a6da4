"""Risk-limiting audits from the command line: plan, record hand counts, see the risk. Parse, call, print."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from tallyproof.console import DEFAULT_DB, DbOption, out
from tallyproof.errors import InputError
from tallyproof.paper import hand_count
from tallyproof.sheets.files import decode_text, read_records
from tallyproof.storage.audits import METHODS, AuditReport, Audits
from tallyproof.storage.store import Store

audit_app = typer.Typer(
    help="Risk-limiting audits of the published results against the paper receipts in the boxes.",
    no_args_is_help=True,
)
AuditArgument = Annotated[int, typer.Argument(help="The audit's number (from audit plan).")]


@audit_app.command("plan")
def audit_plan(
    seed: Annotated[
        str, typer.Option(help="A public seed, fixed after the results are published (e.g. dice rolled in public).")
    ],
    method: Annotated[
        str, typer.Option(help=f"{' or '.join(METHODS)}: compare tables' boxes, or poll ballots.")
    ] = "batch",
    risk_limit: Annotated[float, typer.Option(help="The largest chance of confirming a wrong outcome.")] = 0.05,
    source: Annotated[str, typer.Option(help="Whose per-table results are audited.")] = "official",
    size: Annotated[int | None, typer.Option(help="Draw this many instead of the planned sample.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the draws as CSV here.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Plan an audit of the reported outcome and draw its sample from the seed (anyone can re-derive it)."""
    if not 0 < risk_limit < 1:
        raise InputError(f"the risk limit must lie strictly between 0 and 1, not {risk_limit}", where="--risk-limit")
    audits = Audits(Store.sqlite(db))
    audit_id = audits.plan(method=method, risk_limit=risk_limit, seed=seed, source=source, size=size)
    audit, draws = audits.audit(audit_id), audits.draws(audit_id)
    what = "tables' boxes to count in full" if method == "batch" else "receipts to look at"
    out.print(
        Text(
            f"Audit {audit_id} ({method}, risk limit {risk_limit:.0%}) of {source}: reported winner "
            f"{audit.contest.winner}, diluted margin {audit.contest.diluted_margin:.2%}."
        )
    )
    out.print(Text(f"{len(draws):,} {what}, drawn from seed {seed!r} ({len({d.table for d in draws}):,} tables)."))
    if output is not None:
        lines = ["draw,table,receipt", *(f"{d.number},{d.table},{d.receipt or ''}" for d in draws)]
        _write(output, "\n".join(lines) + "\n")
        out.print(Text(f"The draws are in {output}."))


@audit_app.command("record")
def audit_record(
    audit: AuditArgument,
    counts: Annotated[Path, typer.Argument(help="Hand counts: tally sheets (batch) or table,receipt,vote (bravo).")],
    by: Annotated[str | None, typer.Option("--by", help="Who counted (kept with the file).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Record hand counts; the file is kept as received, and a wrong row is named with its line."""
    try:
        data = counts.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(counts)) from exc
    n = Audits(Store.sqlite(db)).record(audit, data, name=str(counts), recorded_by=by)
    out.print(Text(f"Audit {audit}: {n:,} counts recorded from {counts}."))


@audit_app.command("status")
def audit_status(
    audit: AuditArgument,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """The running risk over the draws counted so far, and the decision: confirm, continue, or a full hand count."""
    report = Audits(Store.sqlite(db)).status(audit)
    if fmt == "json":
        out.print_json(json.dumps(_json(report)))
        return
    if fmt != "text":
        raise InputError(f"unknown format {fmt!r}: text or json", where="--format")
    st = report.status
    table = Table("Audit", "Method", "Counted", "Planned", "Risk", "Limit", "Decision", title_justify="left")
    table.add_row(
        str(audit),
        st.method,
        f"{report.counted:,}",
        f"{len(report.draws):,}",
        f"{st.risk:.4g}",
        f"{st.risk_limit:.0%}",
        st.decision,
    )
    out.print(table)
    out.print(Text(_sentence(report)))
    for table_id, taint in report.discrepancies[:10]:
        out.print(Text(f"  table {table_id}: the count overstated the winner's margin (taint {taint:.3f})"))


def _sentence(report: AuditReport) -> str:
    st, winner = report.status, report.audit.contest.winner
    if st.decision == "confirm":
        return f"The reported winner, {winner}, is confirmed: the chance of confirming a wrong outcome is at most {st.risk:.2%}."
    if st.decision == "continue":
        left = len(report.draws) - report.counted
        return f"Not yet confirmed (risk {st.risk:.2%}): count the next {left:,} draws, in order."
    return f"Not confirmed after the planned sample (risk {st.risk:.2%}): count every ballot by hand."


def _json(report: AuditReport) -> dict[str, Any]:
    a = report.audit
    plan = {"id": a.id, "method": a.method, "risk_limit": a.risk_limit, "seed": a.seed, "source": a.source}
    plan |= {"winner": a.contest.winner, "reported": dict(a.contest.reported), "ballots": a.contest.ballots}
    plan |= {
        "total_error_bound": None if a.total_error_bound is None else str(a.total_error_bound),
        "planned": a.planned,
    }
    return {
        "audit": plan,
        "counted": report.counted,
        "status": asdict(report.status),
        "discrepancies": dict(report.discrepancies),
    }


@audit_app.command("count-paper")
def audit_count_paper(
    audit: AuditArgument,
    paper: Annotated[Path, typer.Argument(help="A simulation's paper.csv: what each box holds.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the counts file.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """For simulations: play the auditors, counting the drawn boxes or receipts from the simulator's paper."""
    audits = Audits(Store.sqlite(db))
    a, draws = audits.audit(audit), audits.draws(audit)
    election = audits.store.election()
    text, _ = decode_text(_read(paper), where=str(paper))
    boxes = {str(r.sheet.table): r.sheet for r in read_records(text, election, "auto", where=str(paper)) if r.sheet}
    pairs = [(d.table, d.receipt) for d in draws]
    _write(output, hand_count(boxes, pairs, method=a.method, seed=a.seed, election=election))
    out.print(Text(f"Audit {audit}: the hand count of {len(draws):,} draws is in {output}."))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(path)) from exc
