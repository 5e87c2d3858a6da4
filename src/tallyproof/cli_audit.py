"""Risk-limiting audits from the command line: plan, record hand counts, see the risk. Parse, call, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
    if not 0 < risk_limit < 1:
        raise InputError(f"the risk limit must lie strictly between 0 and 1, not {risk_limit}", where="--risk-limit")
    audits = Audits(Store.sqlite(db))
    records = None if cvrs is None else _read(cvrs)
    audit_id = audits.plan(
        method=method, risk_limit=risk_limit, seed=seed, source=source, size=size, cvrs=records, cvrs_name=str(cvrs)
    )
    audit, draws = audits.audit(audit_id), audits.draws(audit_id)
    what = "tables' boxes to count in full" if method == "batch" else "receipts to look at"
    out.print(
        Text(
            f"Audit {audit_id} ({method}, risk limit {risk_limit:.0%}) of {source}: reported winner "
            f"{audit.contest.winner}, diluted margin {audit.contest.diluted_margin:.2%}."
        )
    )
    out.print(Text(f"{len(draws):,} {what}, drawn from seed {seed!r} ({len({d.table for d in draws}):,} tables)."))
    if audit.cvrs_sha256 is not None:
        out.print(
            Text(
                f"Compared with the cast vote records in {cvrs}, SHA-256 {audit.cvrs_sha256}: "
                "check it against the digest published before the seed was drawn."
            )
        )
    if output is not None:
        lines = ["draw,table,receipt", *(f"{d.number},{d.table},{d.receipt or ''}" for d in draws)]
        _write(output, "\n".join(lines) + "\n")
        out.print(Text(f"The draws are in {output}."))


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
    db: DbOption = DEFAULT_DB,
) -> None:
    """Record hand counts; the file is kept as received, and a wrong row is named with its line."""
    if counts is None and not missing:
        raise InputError("give a file of counts, or --missing TABLE for a box that cannot be found", where="counts")
    data = _read(counts) if counts is not None else b""
    name = str(counts) if counts is not None else "--missing"
    n = Audits(Store.sqlite(db)).record(audit, data, name=name, recorded_by=by, missing=missing or ())
    out.print(Text(f"Audit {audit}: {n:,} counts recorded from {name}."))


@audit_app.command("status")
def audit_status(
    audit: AuditArgument,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """The running risk over the draws counted so far, and the decision: confirm, continue, or a full hand count."""
    report = Audits(Store.sqlite(db)).status(audit)
    if fmt == "json":
        out.print_json(json.dumps(report.to_json()))
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
    for where, amount in report.discrepancies[:10]:
        if st.method == "batch":
            out.print(Text(f"  table {where}: the count overstated the winner's margin (taint {amount:.3f})"))
        else:
            votes = "1 vote" if amount == 1 else f"{amount:.0f} votes"
            out.print(Text(f"  table {where}: the machine's record overstated the winner's margin by {votes}"))


def _sentence(report: AuditReport) -> str:
    st, winner = report.status, report.audit.contest.winner
    if st.decision == "confirm":
        return f"The reported winner, {winner}, is confirmed: the chance of confirming a wrong outcome is at most {st.risk:.2%}."
    if st.decision == "continue":
        left = len(report.draws) - report.counted
        return f"Not yet confirmed (risk {st.risk:.2%}): count the next {left:,} draws, in order."
    return f"Not confirmed after the planned sample (risk {st.risk:.2%}): count every ballot by hand."


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
    text, _ = decode_text(_read(paper), where=str(paper))
    boxes = {str(r.sheet.table): r.sheet for r in read_records(text, election, "auto", where=str(paper)) if r.sheet}
    pairs = [(d.table, d.receipt) for d in draws]
    _write(output, hand_count(boxes, pairs, method=a.method, seed=a.seed, election=election))
    out.print(Text(f"Audit {audit}: the hand count of {len(draws):,} draws is in {output}."))
    lost = sorted({t for t, _ in pairs if t not in boxes}) if a.method == "batch" else []
    if lost:
        flags = " ".join(f"--missing {t}" for t in lost)
        out.print(Text(f"No box for {len(lost):,} drawn tables; record them as missing: audit record {audit} {flags}"))


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
