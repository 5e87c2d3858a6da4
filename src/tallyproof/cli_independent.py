"""The independent side from the command line: copies reconciled with official sheets, announcements checked."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tallyproof.announcement import load_announcement
from tallyproof.console import DEFAULT_DB, DbOption, err, out, preference
from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.reconcile import STATUSES, Discrepancy, Reconciliation, reconcile
from tallyproof.storage.store import Store
from tallyproof.verdict import Assessment, assess, findings

WITNESS_SOURCES = "witness,observer,import,official"


def feasibility_command(
    announcement: Annotated[Path, typer.Argument(help="The announcement (TOML; see README, Announcements).")],
    source: Annotated[
        str, typer.Option(help="Copies to believe, in order of preference, comma-separated.")
    ] = WITNESS_SOURCES,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Is an announced result derived from the published sheets, and achievable at all given the copies?"""
    store = _open(db, fmt)
    election = store.election()
    found = load_announcement(announcement, election)
    with err.status("Checking the announcement"):
        result = assess(election, store.columns(), store.registry_columns(), found, sources=preference(source))
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
    again = ["feasibility", str(announcement), "--source", source, "--db", str(db)]
    out.print(Text(f"Reproduce: {reproduce(again)}", style="dim"))


def _open(db: Path, fmt: str) -> Store:
    if fmt not in ("text", "json"):
        raise InputError(f"unknown format {fmt!r}: text or json", where="--format")
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
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Official sheets against witness copies, table by table: match, mismatch, official missing, no copy."""
    store = _open(db, fmt)
    election = store.election()
    level = election.geography.check_level(by) if by else None
    with err.status("Reconciling"):
        rec = reconcile(store.columns(cards=True), copies=preference(copies))
    if fmt == "json":
        out.print_json(json.dumps(reconciliation_json(rec, election, level, limit), ensure_ascii=False))
        return
    counts = rec.counts()
    out.print(Text(f"{rec.tables.size:,} tables: " + "; ".join(f"{counts[s]:,} {s}" for s in STATUSES) + "."))
    if rec.discrepancies:
        out.print(discrepancy_table(rec, election, limit))
    if level:
        out.print(units_status_table(rec, election, level))
    again = ["reconcile", "--copies", copies, "--db", str(db), *(["--by", level] if level else [])]
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
