"""The independent side from the command line: copies reconciled with official sheets, announcements checked."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table
from rich.text import Text

from tallyproof.cli.console import (
    DEFAULT_DB,
    DbOption,
    FormatOption,
    check_format,
    count,
    err,
    out,
    preference,
    progress,
    read_bytes,
)
from tallyproof.election import Election, load_election
from tallyproof.errors import InputError
from tallyproof.independent.alarms import alarms
from tallyproof.independent.announcement import Announcement, load_announcement
from tallyproof.independent.copies import compare_copies
from tallyproof.independent.reconcile import STATUSES, Discrepancy, Reconciliation, reconcile
from tallyproof.independent.verdict import Assessment, assess, findings
from tallyproof.photos.read import MAX_BYTES as MAX_PHOTO
from tallyproof.photos.read import PhotoRead, read_photo, table_in_name
from tallyproof.report.statistics import estimate_data
from tallyproof.report.verification import ReportInput, report_data, to_html, to_markdown
from tallyproof.sheets.sheet import Source
from tallyproof.stats.estimate import coverage_of, estimate
from tallyproof.stats.forensics import screens_for
from tallyproof.stats.sensitivity import sensitivity
from tallyproof.storage.audits import Audits
from tallyproof.storage.photos import import_photos, photo_files
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import CopyCheck, Submissions, Submitted, check_copy, counted_columns
from tallyproof.tabulate import Registry, SheetColumns
from tallyproof.tabulate import tabulate as run_tabulate

WITNESS_SOURCES = "witness,observer,import"
ConsensusOption = Annotated[
    int, typer.Option(min=1, help="Count a witness or observer copy only once this many accounts sent it.")
]


def feasibility_command(
    announcement: Annotated[
        Path, typer.Argument(help="The announcement (TOML; see docs/independent.md, Is an announcement achievable?).")
    ],
    source: Annotated[
        str, typer.Option(help="Copies to believe, in order of preference, comma-separated.")
    ] = WITNESS_SOURCES,
    fmt: FormatOption = "text",
    consensus: ConsensusOption = 1,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Is an announced result derived from the published sheets, and achievable at all given the copies?"""
    store = _open(db, fmt)
    election = store.election()
    found = load_announcement(announcement, election)
    with err.status("Checking the announcement"):
        cols = counted_columns(store, consensus=consensus)
        result = assess(election, cols, store.registry_columns(), found, sources=preference(source))
    if fmt == "json":
        out.print_json(json.dumps(result.to_json(), ensure_ascii=False))
        return
    out.print(
        Text(f"Announcement of {found.date}" + (f" ({found.source})" if found.source else "") + f": {found.where}")
    )
    for key, sentence in findings(result):
        if key == "counts":
            out.print(Text(sentence))
            out.print(ranges_table(result))
        else:
            out.print(Text(sentence, style="bold" if key == "verdict" else ""))
    again = ["feasibility", str(announcement), "--source", source, "--consensus", str(consensus), "--db", str(db)]
    out.print(Text(f"Reproduce: {reproduce(again)}", style="dim"))


def _open(db: Path, fmt: str) -> Store:
    check_format(fmt)
    return Store.sqlite(db)


def ranges_table(a: Assessment) -> Table:
    table = Table(
        "Candidate",
        "Announced",
        f"Fewest in {a.tables_counted:,} tables",
        "Most",
        "Possible?",
        title=f"What any {a.tables_counted:,} tables could give",
        title_justify="left",
    )
    for i, (name, announced, r) in enumerate(zip(a.names, a.announcement.candidates.values(), a.ranges, strict=True)):
        table.add_row(name, f"{announced:,}", f"{r.low:,}", f"{r.high:,}", "no" if i in a.impossible else "yes")
    return table


def reproduce(args: list[str]) -> str:
    """The command line that gives this output again, quoted for a POSIX shell."""
    return shlex.join(["tallyproof", *args])


def reconcile_command(
    by: Annotated[
        str | None, typer.Option(help="Also sum the statuses by this level (state, municipality, …).")
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Differing copies to list, worst first.")] = 20,
    copies: Annotated[str, typer.Option(help="Sources of the copies to check, comma-separated.")] = "witness,observer",
    fmt: FormatOption = "text",
    consensus: ConsensusOption = 1,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Official sheets against witness copies, table by table: match, mismatch, official missing, no copy."""
    store = _open(db, fmt)
    election = store.election()
    level = election.geography.check_level(by) if by else None
    with err.status("Reconciling"):
        rec = reconcile(counted_columns(store, consensus=consensus, cards=True), copies=preference(copies))
    if fmt == "json":
        out.print_json(json.dumps(reconciliation_json(rec, election, level, limit), ensure_ascii=False))
        return
    counts = rec.counts()
    out.print(Text(f"{rec.tables.size:,} tables: " + "; ".join(f"{counts[s]:,} {s}" for s in STATUSES) + "."))
    if rec.discrepancies:
        out.print(discrepancy_table(rec, election, limit))
    if level:
        out.print(units_status_table(rec, election, level))
    again = ["reconcile", "--copies", copies, "--consensus", str(consensus), "--db", str(db)]
    again += ["--by", level] if level else []
    out.print(Text(f"Reproduce: {reproduce(again)}", style="dim"))


def differences(d: Discrepancy, election: Election) -> str:
    """``NM -20, EG +20; null +1``: what a copy says minus the official sheet."""
    parts = [f"{c.id} {v:+,}" for c, v in zip(election.candidates, d.candidates, strict=True) if v]
    if d.cards and not parts:
        parts = [f"card {c.id} {v:+,}" for c, v in zip(election.cards, d.cards, strict=True) if v]
    if d.null:
        parts.append(f"null {d.null:+,}")
    return ", ".join(parts)


def discrepancy_table(rec: Reconciliation, election: Election, limit: int) -> Table:
    table = Table(
        "Table",
        "Copy",
        "Votes differing",
        "Copy minus official",
        title="Copies that differ from the official sheet, worst first",
        title_justify="left",
    )
    for d in rec.discrepancies[:limit]:
        table.add_row(Text(d.table), f"{d.source} #{d.copy_id}", f"{d.size:,}", Text(differences(d, election)))
    return table


def units_status_table(rec: Reconciliation, election: Election, level: str) -> Table:
    table = Table(level.capitalize(), *(s.capitalize() for s in STATUSES), title=f"By {level}", title_justify="left")
    names = election.geography.names.get(level, {})
    for key, counts in rec.by_unit(election.geography, level).items():
        table.add_row(Text(names.get(key, key)), *(f"{counts[s]:,}" for s in STATUSES))
    return table


def reconciliation_json(rec: Reconciliation, election: Election, level: str | None, limit: int) -> dict[str, object]:
    return {
        "counts": rec.counts(),
        "official_source": rec.official_source,
        "copy_sources": list(rec.copy_sources),
        "discrepancies": [
            {
                "table": d.table,
                "copy": d.copy_id,
                "official": d.official_id,
                "source": d.source,
                "votes_differing": d.size,
                "candidates": dict(zip((c.id for c in election.candidates), d.candidates, strict=True)),
                "null": d.null,
                "cards": None if d.cards is None else dict(zip((c.id for c in election.cards), d.cards, strict=True)),
            }
            for d in rec.discrepancies[:limit]
        ],
        "discrepancies_total": len(rec.discrepancies),
        "by_unit": rec.by_unit(election.geography, level) if level else None,
    }


accounts_app = typer.Typer(
    help="Witnesses' and observers' accounts: API tokens, tables, bad faith.", no_args_is_help=True
)


@accounts_app.command("add")
def accounts_add(
    name: Annotated[str, typer.Argument(help="The account's name (a person or an organisation).")],
    role: Annotated[str, typer.Option(help="witness or observer: the source of its copies.")] = "witness",
    table: Annotated[list[str] | None, typer.Option(help="A table it is assigned to (repeatable).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Create an account and print its API token (shown once; only its hash is kept)."""
    account, token = Submissions(Store.sqlite(db)).add_account(name, role, table or [])
    err.print(Text(f"Account {account.name} ({account.role}), {count(len(account.tables), 'table')}. Its API token:"))
    out.print(Text(token))


@accounts_app.command("list")
def accounts_list(db: DbOption = DEFAULT_DB) -> None:
    """Every account: role, tables assigned, and whether it is discounted (and why)."""
    table = Table("Account", "Role", "Tables", "Created", "Discounted", title="Accounts", title_justify="left")
    for a in Submissions(Store.sqlite(db)).accounts():
        discounted = f"{a.discounted_at}: {a.discount_reason}" if a.discounted_at else ""
        table.add_row(Text(a.name), a.role, f"{len(a.tables):,}", a.created_at, Text(discounted))
    out.print(table)


@accounts_app.command("assign")
def accounts_assign(
    name: Annotated[str, typer.Argument(help="The account.")],
    tables: Annotated[list[str], typer.Argument(help="Tables to assign it to.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Assign an account to tables (its copies of other tables are kept, and reported)."""
    account = Submissions(Store.sqlite(db)).assign(name, tables)
    out.print(Text(f"{account.name} is assigned to {count(len(account.tables), 'table')}."))


@accounts_app.command("discount")
def accounts_discount(
    name: Annotated[str, typer.Argument(help="The account.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with the date).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Set aside every submission of an account found acting in bad faith (they stay stored)."""
    account = Submissions(Store.sqlite(db)).discount(name, reason)
    out.print(Text(f"{account.name} discounted at {account.discounted_at}: {account.discount_reason}."))


def submit_command(
    files: Annotated[list[Path], typer.Argument(help="QR payload text, CSV of copies, or photos (JPEG, PNG, TIFF).")],
    name: Annotated[str, typer.Option("--as", help="The submitting account.")],
    payload: Annotated[str | None, typer.Option(help="The QR payload read from the photo, if known.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Submit copies as a witness or observer; each submission is kept as received, even if refused
    (exit code 1 when a submission gave no copy)."""
    subs = Submissions(Store.sqlite(db))
    account = subs.account(name)
    refused = 0
    for path in files:
        if path.is_file() and path.stat().st_size > MAX_PHOTO:
            raise InputError(f"more than the {MAX_PHOTO:,} bytes a submission may have", where=str(path))
        done = subs.submit(account, read_bytes(path), filename=path.name, payload=payload)
        refused += done.photo is None and (done.copies is None or done.copies.accepted == 0)
        out.print(Text(submitted_line(str(path), done)))
    if refused:
        err.print(Text(f"{refused} of {len(files)} submissions gave no copy (kept, with the reasons above)."))
        raise typer.Exit(1)


def submitted_line(where: str, done: Submitted) -> str:
    parts = [f"{where}: submission {done.batch_id} by {done.account}"]
    if done.photo:
        parts.append(f"photo sha256 {done.photo[:16]}…")
    if done.copies is not None:
        parts.append(f"{count(done.copies.accepted, 'copy', 'copies')} accepted, {done.copies.rejected:,} refused")
        parts += [f"line {line}: {reason}" for line, reason in done.copies.problems[:5]]
    if done.unassigned:
        parts.append(f"not assigned to {', '.join(done.unassigned[:5])}")
    return "; ".join(parts) + "."


def check_copy_command(
    payload: Annotated[str, typer.Argument(help="The QR payload of your sheet, or a file holding it.")],
    name: Annotated[str, typer.Option("--as", help="Your account (the check is recorded as its submission).")],
    fmt: FormatOption = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Check my copy: does your sheet match the published official sheet, card by card, and is that published?"""
    store = _open(db, fmt)
    text = Path(payload).read_text(encoding="utf-8") if Path(payload).is_file() else payload
    result = check_copy(store, Submissions(store).account(name), text)
    if fmt == "json":
        out.print_json(json.dumps(asdict(result), ensure_ascii=False))
        return
    for line in copy_check_lines(result):
        out.print(Text(line))
    if result.status == "mismatch":
        raise typer.Exit(1)


def copy_check_lines(c: CopyCheck) -> list[str]:
    """The answer to "check my copy", in plain sentences (the terminal and the web page)."""
    if c.status == "no-official" and c.in_registry is False:
        return [f"Table {c.table} is not in the registry: check the acta id on your sheet. Your copy is recorded."]
    if c.status == "no-official":
        return [f"Table {c.table}: no official sheet of this table is published yet. Your copy is recorded."]
    lines = [
        f"Table {c.table}: your copy MATCHES the published official sheet."
        if c.status == "match"
        else f"Table {c.table}: your copy DIFFERS from the published official sheet in {count(len(c.differences), 'place')}:"
    ]
    lines += [f"  {field}: your copy {mine:,}, official {theirs:,}" for field, mine, theirs in c.differences]
    if c.leaf is not None:
        lines.append(f"The official sheet is leaf {c.leaf:,} of the public log.")
    if c.checkpoint:
        lines.append("Inclusion proof: " + (" ".join(c.proof) or "(the log has one leaf)"))
        lines.append("Against the signed checkpoint:\n" + c.checkpoint.rstrip("\n"))
    lines.append(f"Recorded as submission {c.submission}.")
    return lines


def report_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Path without extension: writes .html, .md and .json.")
    ] = Path("report"),
    announcement: Annotated[Path | None, typer.Option(help="The announcement to check (TOML), if any.")] = None,
    copies: Annotated[
        str, typer.Option(help="Sources of the copies, in order of preference.")
    ] = "witness,observer,import",
    consensus: ConsensusOption = 1,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write the verification report: one offline HTML file with charts, plus Markdown and JSON."""
    store = Store.sqlite(db)
    election = store.election()
    sources = preference(copies)
    found = load_announcement(announcement, election) if announcement else None
    with err.status("Checking"):
        inp = report_input(store, found, sources, consensus, _commands(db, announcement, copies, consensus))
        data = report_data(inp)
    paths = {ext: output.with_name(output.name + ext) for ext in (".html", ".md", ".json")}
    try:
        paths[".html"].write_text(to_html(data), encoding="utf-8")
        paths[".md"].write_text(to_markdown(data), encoding="utf-8")
        paths[".json"].write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(exc.filename or output)) from exc
    if inp.coverage.total.tables_counted == 0:
        err.print(
            Text("The store holds no copy of the sources asked for: the report has nothing to check.", style="bold")
        )
    if inp.assessment is not None:
        said = dict(findings(inp.assessment))
        out.print(Text(said["verdict"], style="bold"))
        out.print(Text(said["derived"]))
    for alarm in inp.alarms:
        out.print(Text(f"{alarm.severity.upper()}: {alarm.title}. {alarm.detail}"))
    out.print(Text(f"{count(len(inp.alarms), 'alarm')}. Report: " + ", ".join(str(p) for p in paths.values())))


def report_input(
    store: Store, announcement: Announcement | None, sources: list[str], consensus: int, commands: dict[str, str]
) -> ReportInput:
    """Everything the report shows, computed from the store."""
    election, registry = store.election(), store.registry_columns()
    cols = counted_columns(store, consensus=consensus, cards=True)
    people = cols.take(np.flatnonzero(np.isin(cols.sources.astype(str), sources)))
    coverage = run_tabulate(
        election, cols, registry, level=election.geography.levels[0], preference=sources, names=store.unit_names()
    )
    assessment = assess(election, cols, registry, announcement, sources=sources) if announcement else None
    audits = Audits(store)
    return ReportInput(
        election,
        coverage,
        reconcile(cols, copies=sources),
        assessment,
        compare_copies(people).differing,
        store.rejects(),
        alarms(election, cols, registry, announcement, copies=sources),
        commands,
        dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        screens_for(cols, registry, election, announcement) if cols.ids.size else None,
        _estimate(election, cols, registry, sources),
        [audits.status(i).to_json() for i in audits.ids()],
    )


def _estimate(election: Election, cols: SheetColumns, registry: Registry, sources: list[str]) -> dict[str, Any] | None:
    """The estimate of the report's section, or None where the copies or the registry allow none."""
    try:
        hand = coverage_of(cols, registry, election.geography, level=election.geography.levels[0], sources=sources)
        est, sens = estimate(hand.coverage), sensitivity(hand.coverage)
    except InputError:
        return None
    return estimate_data(election, hand, est, sens, sources)


def _commands(db: Path, announcement: Path | None, copies: str, consensus: int) -> dict[str, str]:
    common = ["--db", str(db)]
    out = {
        "coverage": reproduce(["tabulate", "--by", "state", "--source", copies, *common]),
        "reconciliation": reproduce(["reconcile", "--copies", copies, "--consensus", str(consensus), *common]),
        "conflicts": reproduce(["compare", *common]),
        "rejects": reproduce(["rejects", *common]),
        "alarms": reproduce(
            ["report", "--copies", copies, *common, *(["--announcement", str(announcement)] if announcement else [])]
        ),
    }
    out["forensics"] = reproduce(
        [
            "forensics",
            *(["--announcement", str(announcement)] if announcement else []),
            "--consensus",
            str(consensus),
            *common,
        ]
    )
    out["estimate"] = reproduce(
        ["estimate", "--by", "state", "--source", copies, "--consensus", str(consensus), *common]
    )
    out["audits"] = reproduce(["audit", "status", "AUDIT", *common])
    if announcement:
        out["feasibility"] = reproduce(
            ["feasibility", str(announcement), "--source", copies, "--consensus", str(consensus), *common]
        )
    return out


def read_command(
    photos: Annotated[list[Path], typer.Argument(help="Photos of actas (JPEG, PNG, TIFF).")],
    election: Annotated[str, typer.Option(help="Election definition: a built-in name or a TOML file.")] = "ve2024",
    table: Annotated[
        str | None, typer.Option(help="The table the photos are of (else: the table id in a file name, if any).")
    ] = None,
    ocr: Annotated[bool, typer.Option(help="Read the printed counts (Tesseract) when no QR is readable.")] = True,
    check_printed: Annotated[
        bool, typer.Option(help="Also read the printed counts of every photo; a QR that disagrees goes to review.")
    ] = False,
    fmt: FormatOption = "text",
) -> None:
    """Read the QR code of acta photos through a cascade of repairs; what cannot be read goes to review."""
    check_format(fmt)
    definition = load_election(election)
    results = []
    with progress("Reading photos") as bar:
        task = bar.add_task("read", total=len(photos))
        for path in photos:
            expected = table or table_in_name(str(path), definition)
            data = read_bytes(path)
            results.append(
                read_photo(
                    data, definition, name=str(path), expected_table=expected, ocr=ocr, check_printed=check_printed
                )
            )
            bar.advance(task)
    if fmt == "json":
        out.print_json(json.dumps([photo_json(r) for r in results], ensure_ascii=False))
        return
    for r in results:
        out.print(Text(photo_line(r)))


def photo_line(r: PhotoRead) -> str:
    if r.status == "qr" and r.sheet is not None:
        tried = f" (step {len(r.attempts)}: {r.step})" if len(r.attempts) > 1 else ""
        return f"{r.name}: table {r.sheet.table}, QR read{tried}"
    if r.status == "bad-file":
        return f"{r.name}: BAD FILE: {r.reason}"
    return f"{r.name}: TO REVIEW after {len(r.attempts)} attempts: {r.reason}"


def photo_json(r: PhotoRead) -> dict[str, object]:
    return {
        "file": r.name,
        "sha256": r.sha256,
        "status": r.status,
        "table": r.sheet.table if r.sheet else None,
        "payload": r.payload,
        "step": r.step,
        "reason": r.reason,
        "warnings": list(r.warnings),
        "ocr": None
        if r.ocr is None
        else {
            "acta_id": r.ocr.acta_id,
            "counts": list(r.ocr.counts),
            "confirmed": r.ocr.confirmed,
            "confidence": r.ocr.confidence,
        },
        "attempts": [
            {"step": a.step, "found": a.found, "problem": a.problem, "seconds": round(a.seconds, 4)} for a in r.attempts
        ],
    }


def import_photos_command(
    store: Store,
    files: list[Path],
    *,
    source: str,
    submitter: str | None,
    workers: int,
    dask: str | None = None,
    ocr: bool = True,
    check_printed: bool = False,
) -> None:
    """``import --photos``: every photo kept, read on ``workers`` processes, the unread put up for review."""
    paths: list[Path] = []
    for f in files:
        paths += photo_files(f) if f.is_dir() else [f]
    with progress("Reading photos") as bar:
        task = bar.add_task("read", total=len(paths))
        done = import_photos(
            store,
            paths,
            source=Source(source),
            submitter=submitter,
            workers=workers,
            dask=dask,
            ocr=ocr,
            check_printed=check_printed,
            done=lambda n: bar.update(task, completed=n),
        )
    out.print(
        Text(
            f"{len(paths):,} photos: {done.read:,} read, {done.review:,} put up for review, "
            f"{done.already:,} already in the store, {len(done.bad):,} not usable."
        )
    )
    for name, reason in done.bad:
        out.print(Text(f"  {name}: {reason}"))
    if done.conflicts:
        out.print(
            Text(f"Photos of {len(done.conflicts):,} tables give different payloads: {', '.join(done.conflicts[:10])}")
        )
