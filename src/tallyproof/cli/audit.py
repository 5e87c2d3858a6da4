"""Risk-limiting audits from the command line: plan, record hand counts, see the risk. Parse, call, print."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tallyproof.cli.console import DEFAULT_DB, DbOption, FormatOption, check_format, count, out, read_bytes, write_file
from tallyproof.errors import InputError
from tallyproof.report.statistics import risk_text
from tallyproof.sheets.files import decode_text, read_records
from tallyproof.simulation.paper import hand_count
from tallyproof.storage.audits import METHODS, AuditReport, Audits, Draw
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
        str,
        typer.Option(
            help=f"{', '.join(METHODS[:-1])} or {METHODS[-1]}: compare tables' boxes, poll ballots, or compare "
            "ballots with the machines' records (Kaplan–Markov or ALPHA; needs --cvrs)."
        ),
    ] = "batch",
    risk_limit: Annotated[float, typer.Option(help="The largest chance of confirming a wrong outcome.")] = 0.05,
    source: Annotated[str, typer.Option(help="Whose per-table results are audited.")] = "official",
    size: Annotated[int | None, typer.Option(help="Draw this many instead of the planned sample.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the draws as CSV here.")] = None,
    cvrs: Annotated[
        Path | None,
        typer.Option(
            help="Comparison audits: the machines' cast vote records (CSV table,receipt,vote), whose SHA-256 "
            "was published before the seed was drawn; kept as received."
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Plan an audit of the reported outcome and draw its sample from the seed (anyone can re-derive it)."""
    if size is not None and size < 1:
        raise InputError(f"the sample size must be at least 1, not {size}", where="--size")
    if output is not None and not (output.parent.is_dir() and os.access(output.parent, os.W_OK)):
        raise InputError("cannot write there: no such folder, or not writable", where=str(output))
    audits = Audits(Store.sqlite(db))
    records = None if cvrs is None else read_bytes(cvrs)
    try:
        audit_id = _plan(audits, method, risk_limit, seed, source, size, records, str(cvrs))
    except InputError as exc:
        if exc.where != "k":
            raise
        raise InputError(exc.message, where="--size") from None
    _said_plan(audits, audit_id, method, risk_limit, source, seed, cvrs, output)


def _plan(
    audits: Audits,
    method: str,
    risk_limit: float,
    seed: str,
    source: str,
    size: int | None,
    records: bytes | None,
    name: str,
) -> int:
    return audits.plan(
        method=method, risk_limit=risk_limit, seed=seed, source=source, size=size, cvrs=records, cvrs_name=name
    )


def _said_plan(
    audits: Audits,
    audit_id: int,
    method: str,
    risk_limit: float,
    source: str,
    seed: str,
    cvrs: Path | None,
    output: Path | None,
) -> None:
    audit, draws = audits.audit(audit_id), audits.draws(audit_id)
    what = (
        ("box to count in full", "boxes to count in full")
        if method == "batch"
        else ("receipt to look at", "receipts to look at")
    )
    out.print(
        Text(
            f"Audit {audit_id} ({method}, risk limit {risk_limit:.0%}) of {source}: reported winner "
            f"{audit.contest.winner}, diluted margin {audit.contest.diluted_margin:.2%}."
        )
    )
    tables = count(len({d.table for d in draws}), "table")
    out.print(Text(f"{count(len(draws), *what)}, drawn from seed {seed!r} ({tables})."))
    if audit.cvrs_sha256 is not None:
        out.print(
            Text(
                f"Compared with the cast vote records in {cvrs}, SHA-256 {audit.cvrs_sha256}: "
                "check it against the digest published before the seed was drawn."
            )
        )
    if output is not None:
        write_file(output, draws_csv(draws))
        out.print(Text(f"The draws are in {output}."))
    else:
        out.print(Text(f"List them with: tallyproof audit draws {audit_id} --output draws.csv"))


def draws_csv(draws: tuple[Draw, ...]) -> str:
    """The draws as the auditors get them (the machines' records of a comparison are not shown)."""
    return "".join(["draw,table,receipt\n", *(f"{d.number},{d.table},{d.receipt or ''}\n" for d in draws)])


@audit_app.command("extend")
def audit_extend(
    audit: AuditArgument,
    size: Annotated[int, typer.Option(help="How many more to draw, after the planned sample.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write all the draws as CSV here.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Escalate: draw more from the same seed (the draws so far stay first), instead of a full hand count."""
    audits = Audits(Store.sqlite(db))
    total = audits.extend(audit, size)
    out.print(Text(f"Audit {audit}: {count(size, 'more draw')}, {total:,} in all; count them in order."))
    if output is not None:
        write_file(output, draws_csv(audits.draws(audit)))
        out.print(Text(f"The draws are in {output}."))


@audit_app.command("draws")
def audit_draws(
    audit: AuditArgument,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write them here (else printed).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """The draws of an audit, in order, as CSV: what to count, table by table (and receipt by receipt)."""
    text = draws_csv(Audits(Store.sqlite(db)).draws(audit))
    if output is None:
        out.file.write(text)
    else:
        write_file(output, text)


@audit_app.command("record")
def audit_record(
    audit: AuditArgument,
    counts: Annotated[
        Path | None,
        typer.Argument(help="Hand counts: tally sheets (batch) or table,receipt,vote (bravo, comparison)."),
    ] = None,
    missing: Annotated[
        list[str] | None,
        typer.Option("--missing", help="A drawn table whose box cannot be found (batch audits; repeat it)."),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who counted (kept with the file).")] = None,
    correct: Annotated[
        bool, typer.Option("--correct", help="Replace counts already recorded differently (both stay on record).")
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Record hand counts; the file is kept as received, and a wrong row is named with its line."""
    if counts is None and not missing:
        raise InputError("give a file of counts, or --missing TABLE for a box that cannot be found", where="counts")
    data = read_bytes(counts) if counts is not None else b""
    name = str(counts) if counts is not None else "--missing"
    n = Audits(Store.sqlite(db)).record(audit, data, name=name, recorded_by=by, missing=missing or (), correct=correct)
    out.print(Text(f"Audit {audit}: {count(n, 'count')} recorded from {name}."))


@audit_app.command("status")
def audit_status(
    audit: AuditArgument,
    fmt: FormatOption = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """The running risk over the draws counted so far, and the decision: confirm, continue, or a full hand count."""
    report = Audits(Store.sqlite(db)).status(audit)
    if check_format(fmt) == "json":
        out.print_json(json.dumps(report.to_json()))
        return
    st = report.status
    table = Table("Audit", "Method", "Counted", "Planned", "Risk", "Limit", "Decision", title_justify="left")
    table.add_row(
        str(audit),
        st.method,
        f"{report.counted:,}",
        f"{len(report.draws):,}",
        risk_text(st.risk),
        f"{st.risk_limit:.0%}",
        st.decision,
    )
    out.print(table)
    out.print(Text(_sentence(report)))
    for where, amount in report.discrepancies[:10]:
        out.print(Text("  " + _discrepancy(report, where, amount)))
    if len(report.discrepancies) > 10:
        out.print(Text(f"  … and {count(len(report.discrepancies) - 10, 'more discrepancy', 'more discrepancies')}"))


def _discrepancy(report: AuditReport, where: str, amount: float) -> str:
    if report.status.method == "batch" and where in report.missing:
        return f"table {where}: the box was not found (taint 1, the most a box can overstate)"
    said = "overstated" if amount > 0 else "understated"
    if report.status.method == "batch":
        return f"table {where}: the sheet {said} the winner's margin against the count (taint {amount:+.3f})"
    return f"table {where}: the machine's record {said} the winner's margin by {count(abs(round(amount)), 'vote')}"


def _sentence(report: AuditReport) -> str:
    st, winner = report.status, report.audit.contest.winner
    if st.decision == "confirm":
        return (
            f"The reported winner, {winner}, is confirmed: the chance of confirming a wrong outcome is "
            f"{risk_text(st.risk)}, within the {st.risk_limit:.0%} limit."
        )
    if st.decision == "continue":
        left = len(report.draws) - report.counted
        return f"Not yet confirmed (risk {risk_text(st.risk)}): count the next {count(left, 'draw')}, in order."
    return (
        f"Not confirmed after the planned sample (risk {risk_text(st.risk)}): count every ballot by hand, or draw "
        f"more with tallyproof audit extend {report.audit.id} --size N."
    )


@audit_app.command("count-paper")
def audit_count_paper(
    audit: AuditArgument,
    paper: Annotated[Path, typer.Argument(help="A simulation's paper.csv: what each box holds.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the counts file.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """For simulations: play the auditors, counting the drawn boxes or receipts from the simulator's paper.

    A comparison audit finds each receipt by the number the machine printed (the numbering of its records).
    """
    audits = Audits(Store.sqlite(db))
    a, draws = audits.audit(audit), audits.draws(audit)
    election = audits.store.election()
    text, _ = decode_text(read_bytes(paper), where=str(paper))
    boxes = {str(r.sheet.table): r.sheet for r in read_records(text, election, "csv", where=str(paper)) if r.sheet}
    pairs = [(d.table, d.receipt) for d in draws]
    write_file(output, hand_count(boxes, pairs, method=a.method, seed=a.seed, election=election))
    out.print(Text(f"Audit {audit}: the hand count of {len(draws):,} draws is in {output}."))
    lost = sorted({t for t, _ in pairs if t not in boxes}) if a.method == "batch" else []
    if lost:
        flags = " ".join(f"--missing {t}" for t in lost)
        out.print(Text(f"No box for {len(lost):,} drawn tables; record them as missing: audit record {audit} {flags}"))
