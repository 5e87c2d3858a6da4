"""Forensic screens from the command line: parse, call :func:`~tallyproof.stats.forensics.screens_for`, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tallyproof.cli.console import DEFAULT_DB, DbOption, FormatOption, check_format, err, out, preference, write_file
from tallyproof.cli.independent import ConsensusOption, reproduce
from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.independent.announcement import load_announcement
from tallyproof.report.fingerprint_chart import fingerprint_svg
from tallyproof.stats.forensics import Forensics, screens_for
from tallyproof.stats.screens import THRESHOLD
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import counted_columns


def forensics_command(
    announcement: Annotated[
        Path | None, typer.Option(help="An announcement (TOML) whose totals to screen for round percentages.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Copies to screen, in order of preference, comma-separated. "
            "Default: official if any is published, else witness,observer,import."
        ),
    ] = None,
    fingerprint: Annotated[
        Path | None, typer.Option(help="Also draw the turnout × winner's share fingerprint to this .svg file.")
    ] = None,
    fmt: FormatOption = "text",
    consensus: ConsensusOption = 1,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Forensic screens on the per-table results: round and integer percentages, last and second digits, the
    turnout × share fingerprint, turnout spikes, tables unlike their centre. A screen, not proof."""
    check_format(fmt)
    if fingerprint is not None and fingerprint.suffix.lower() != ".svg":
        raise InputError(f"{str(fingerprint)!r} is not an .svg file", where="--fingerprint")
    sources = preference(source) if source is not None else None
    store = Store.sqlite(db)
    election = store.election()
    found = load_announcement(announcement, election) if announcement else None
    with err.status("Screening"):
        cols = counted_columns(store, consensus=consensus)
        result = screens_for(cols, store.registry_columns(), election, found, sources=sources)
    if fingerprint is not None:
        _draw(result, election, fingerprint)
    if fmt == "json":
        out.print_json(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        again = ["forensics", *(["--announcement", str(announcement)] if announcement else [])]
        again += [*(["--source", source] if source else []), "--consensus", str(consensus), "--db", str(db)]
        for part in text_parts(result, election, store):
            out.print(part)
        out.print(Text(f"Reproduce: {reproduce(again)}", style="dim"))
    if fingerprint is not None:
        err.print(Text(f"Fingerprint drawn in {fingerprint}."))


def _draw(result: Forensics, election: Election, path: Path) -> None:
    fp = result.fingerprint
    if fp is None:
        return
    title = f"Tables by turnout and {election.candidates[fp.candidate].name}'s share of valid votes"
    svg = fingerprint_svg(
        fp.counts, corner=fp.corner, observed=fp.observed, expected=fp.expected, p_value=fp.p_value, title=title
    )
    write_file(path, svg)


def text_parts(result: Forensics, election: Election, store: Store) -> list[Text | Table]:
    """The screens as a table, their sentences, and the tables unlike their centre, named."""
    parts: list[Text | Table] = [
        Text(f"Forensic screens on {result.tables:,} tables ({', '.join(result.sources)} copies)."),
        screens_table(result),
        *(Text(f"{s.name}: {s.summary}") for s in result.screens),
    ]
    if result.outliers:
        parts.append(Text("Tables unlike the rest of their centre: " + outliers_text(result, election, store)))
    return parts


def screens_table(result: Forensics) -> Table:
    title = f"Flagged when p < {THRESHOLD:g} (corrected for what was tried)"
    table = Table("Screen", "Statistic", "p-value", "Flagged", title=title, title_justify="left")
    for s in result.screens:
        statistic = f"{s.statistic:,.0f}" if float(s.statistic).is_integer() else f"{s.statistic:,.2f}"
        table.add_row(s.name, statistic, f"{s.p_value:.2g}", "FLAGGED" if s.flagged else "no")
    return table


def outliers_text(result: Forensics, election: Election, store: Store) -> str:
    """``070403001.01 (centre 070403001: PQ. YAGUA, MP. GUACARA, Carabobo); …``: each table with its centre
    and the names of the units that hold it, innermost first."""
    geography, names = election.geography, store.unit_names()
    centre = geography.levels[-2]
    parts = []
    for table in result.outliers:
        named = [names.get(lv, {}).get(geography.unit_key(table, lv)) for lv in reversed(geography.levels[:-1])]
        where = ", ".join(n for n in named if n)
        parts.append(f"{table} ({centre} {geography.unit_key(table, centre)}{f': {where}' if where else ''})")
    return "; ".join(parts) + "."
