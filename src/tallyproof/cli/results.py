"""The results commands: a store for one election, its copies and registry, totals, one table, exports."""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.markup import escape
from rich.progress import (
    Progress,
    TaskID,
)
from rich.table import Table
from rich.text import Text

from tallyproof.cli.console import DEFAULT_DB, SOURCES, DbOption, err, out, progress
from tallyproof.cli.console import preference as parse_preference
from tallyproof.cli.independent import (
    import_photos_command,
)
from tallyproof.cli.output import (
    copies_table,
    coverage_lines,
    import_lines,
    national_table,
    tabulation_csv,
    units_table,
)
from tallyproof.election import builtin_elections, load_election
from tallyproof.errors import InputError, UnknownError
from tallyproof.independent.copies import compare_copies
from tallyproof.sheets.files import FORMATS
from tallyproof.sheets.sheet import Source
from tallyproof.storage.export import EXPORT_FORMATS, export_copies
from tallyproof.storage.imports import derive_registry, import_file, import_registry
from tallyproof.storage.store import Store
from tallyproof.storage.submissions import counted_columns
from tallyproof.tabulate import tabulate as run_tabulate

registry_app = typer.Typer(help="The table registry: every table and its registered voters.", no_args_is_help=True)


def _open_for_writing(path: Path) -> TextIO:
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(path)) from None


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


def init(
    election: Annotated[
        str, typer.Option(help=f"A built-in definition ({', '.join(builtin_elections())}) or a TOML file.")
    ],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Create a store for one election (or check that an existing one holds it)."""
    definition = load_election(election)
    created = Store.sqlite(db, create=True).init(definition)
    verb = "Created" if created else "Already initialised:"
    out.print(
        f"{verb} {db} for {definition.name} ({len(definition.candidates)} candidates, {len(definition.cards)} cards)."
    )


CORES = os.cpu_count() or 1


def import_(
    files: Annotated[list[Path], typer.Argument(help="Files of copies: CSV, JSON Lines or QR text.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "auto",
    source: Annotated[Source, typer.Option(help="Who the copies come from.")] = Source.IMPORT,
    submitter: Annotated[str | None, typer.Option(help="Who submitted them (a person, a mission).")] = None,
    photos: Annotated[
        bool, typer.Option("--photos", help="FILES are photos of actas, or folders of them: keep, read, review.")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Processes reading photos (with --photos).")] = CORES,
    dask: Annotated[
        str | None, typer.Option(help="Read the photos on this Dask cluster (scheduler address), not locally.")
    ] = None,
    ocr: Annotated[
        bool, typer.Option(help="Read the printed counts (Tesseract) of photos without a readable QR, for review.")
    ] = True,
    check_printed: Annotated[
        bool, typer.Option(help="Read the printed counts of every photo; a QR that disagrees goes to review.")
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import copies of tally sheets. Each file is one transaction; re-importing a file adds nothing."""
    store = Store.sqlite(db)
    if photos:
        import_photos_command(
            store,
            files,
            source=source,
            submitter=submitter,
            workers=workers,
            dask=dask,
            ocr=ocr,
            check_printed=check_printed,
        )
        return
    failed = 0
    for path in files:
        try:
            with progress(f"Importing {escape(path.name)}") as bar:
                task = bar.add_task("import", total=None)
                summary = import_file(
                    store, path, fmt=fmt, source=source, submitter=submitter, progress=partial(_advance, bar, task)
                )
        except (InputError, UnknownError) as exc:  # one unusable file does not stop the others
            err.print(f"[red]error:[/] {escape(exc.diagnostics())}", highlight=False, soft_wrap=True)
            failed += 1
            continue
        for line in import_lines(summary):
            out.print(line)
    if failed:
        raise typer.Exit(InputError.exit_code)


@registry_app.command("import")
def registry_import(
    file: Annotated[Path, typer.Argument(help="CSV with table,registered (or CENTRO,MESA,RE).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import the registry of tables; a table listed again takes the new figure."""
    with err.status(f"Importing the registry from {file.name}"):
        s = import_registry(Store.sqlite(db), file)
    out.print(
        f"{escape(str(file))}: already imported as batch {s.batch_id}."
        if s.already
        else f"{escape(str(file))}: {s.accepted:,} tables, {s.rejected:,} rejected rows."
    )


@registry_app.command("derive")
def registry_derive(
    source: Annotated[list[Source] | None, typer.Option(help="Only copies from this source (repeatable).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add the tables whose copies state their registered voters (e.g. V1's RE) to the registry."""
    with err.status("Deriving the registry from copies"):
        derived = derive_registry(Store.sqlite(db), [s.value for s in source] if source else None)
    out.print(f"{derived.added:,} tables added to the registry from copies that state their registered voters.")
    if derived.disagreeing:
        shown = ", ".join(derived.disagreeing[:5]) + (" …" if len(derived.disagreeing) > 5 else "")
        out.print(
            f"[yellow]{len(derived.disagreeing):,} of them have copies stating different figures; the newest copy's is used: {escape(shown)}[/]"
        )


def tabulate(
    by: Annotated[
        str | None, typer.Option(help="Level to break results down by: state, municipality, parish, centre, table.")
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="Restrict to a unit, as LEVEL=KEY or LEVEL=NAME (repeatable).")
    ] = None,
    source: Annotated[str, typer.Option(help="Sources to count, in order of preference, comma-separated.")] = ",".join(
        SOURCES
    ),
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    cards: Annotated[
        bool, typer.Option(help="Also count votes per card (ballot option); adds card columns to csv and json.")
    ] = False,
    top: Annotated[int, typer.Option(min=1, help="Candidates shown as columns with --by (the rest are summed).")] = 2,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Totals per candidate and card, with coverage, nationwide or by level."""
    if fmt not in ("table", "csv", "json"):
        raise InputError(f"unknown format {fmt!r}: table, csv or json", where="--format")
    store = Store.sqlite(db)
    election = store.election()
    preference, conditions = parse_preference(source), [_condition(w) for w in where or []]
    with err.status("Tabulating"):
        columns, registry = counted_columns(store, preference, cards=cards), store.registry_columns()
        tab = run_tabulate(
            election,
            columns,
            registry,
            level=by or election.geography.levels[0],
            preference=preference,
            where=conditions,
            names=store.unit_names(),
            aliases=store.unit_aliases(),
        )
    if fmt == "json":
        out.print_json(json.dumps(tab.to_json(), ensure_ascii=False))
    elif fmt == "csv":
        sys.stdout.write(tabulation_csv(tab))
    else:
        out.print(national_table(tab, cards=cards) if by is None else units_table(tab, top=top, width=out.width))
        for line in coverage_lines(tab):
            out.print(line)


def _condition(text: str) -> tuple[str, str]:
    level, sep, value = text.partition("=")
    if not sep or not value:
        raise InputError(f"{text!r} is not LEVEL=VALUE", where="--where")
    return level.strip(), value.strip()


def show(table: Annotated[str, typer.Argument(help="Table id, e.g. 010111043.01.")], db: DbOption = DEFAULT_DB) -> None:
    """All copies of one table side by side, differences highlighted."""
    store = Store.sqlite(db)
    election = store.election()
    copies = store.copies(election.geography.table_id(table, where="TABLE"))
    if not copies:
        reg = store.registry()
        voters = "unknown" if reg.get(table) is None else f"{reg[table]:,}"
        known = (
            f"it is in the registry ({voters} registered voters)"
            if table in reg
            else "it is not in the registry either"
        )
        raise UnknownError(f"no copy of this table; {known}", where=f"table {table}")
    out.print(copies_table(election, copies))


def compare(
    source: Annotated[list[Source] | None, typer.Option(help="Only copies from this source (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="Differing tables to list.")] = 20,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Tables with several copies: how many agree, and the ones that differ, worst first."""
    store = Store.sqlite(db)
    with err.status("Comparing copies"):
        result = compare_copies(counted_columns(store, [s.value for s in source] if source else None))
    out.print(
        f"{result.tables_with_copies:,} tables have copies; {result.tables_with_several:,} have more than one: {result.identical:,} agree, {len(result.differing):,} differ."
    )
    if result.differing:
        table = Table("Table", "Copies", "Spread (votes)", title="Tables whose copies differ", title_justify="left")
        for t, n, spread in result.differing[:limit]:
            table.add_row(Text(t), str(n), f"{spread:,}")
        out.print(table)
        out.print("See one with `tallyproof show TABLE`.")


def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write; '-' for standard output.")] = Path("-"),
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    source: Annotated[list[Source] | None, typer.Option(help="Only copies from this source (repeatable).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Export every accepted copy in the generic CSV or JSON Lines format (re-importable)."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown format {fmt!r}: {' or '.join(EXPORT_FORMATS)}", where="--format")
    store = Store.sqlite(db)
    total = store.counts()["sheets"]
    handle = sys.stdout if str(output) == "-" else _open_for_writing(output)
    try:
        with progress("Exporting") as bar:
            task = bar.add_task("export", total=total)
            n = export_copies(
                store,
                handle,
                fmt=fmt,
                sources=[s.value for s in source] if source else None,
                progress=lambda k: bar.update(task, completed=k),
            )
    finally:
        if handle is not sys.stdout:
            handle.close()
    err.print(f"{n:,} copies exported.")


def rejects(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Rows and copies that were not counted, with file, line and reason."""
    if fmt not in ("table", "json"):
        raise InputError(f"unknown format {fmt!r}: table or json", where="--format")
    rows = Store.sqlite(db).rejects()
    if fmt == "json":
        out.print_json(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("File:line", "Table", "Reason", "As received", title=f"{len(rows):,} rejected", title_justify="left")
    for r in rows:
        cells = (f"{r['filename']}:{r['line']}", r["table_id"] or "", r["reason"], r["raw"].rstrip()[:60])
        table.add_row(*(Text(c) for c in cells))  # text from files is never read as markup
    out.print(table)


def findings(
    code: Annotated[
        str | None, typer.Option(help="Only this kind, e.g. above-registered, valid-mismatch, unknown-table.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Warnings about counted copies (sums that do not add up, votes above registered voters, ...)."""
    if fmt not in ("table", "json"):
        raise InputError(f"unknown format {fmt!r}: table or json", where="--format")
    rows = Store.sqlite(db).findings(code)
    if fmt == "json":
        out.print_json(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(
        "File:line", "Table", "Finding", "Field", "Message", title=f"{len(rows):,} warnings", title_justify="left"
    )
    for r in rows:
        table.add_row(
            *(
                Text(str(c))
                for c in (f"{r['filename']}:{r['line']}", r["table_id"], r["code"], r["field"], r["message"])
            )
        )
    out.print(table)


@registry_app.command("export")
def registry_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write; '-' for standard output.")] = Path("-"),
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write the registry as table,registered (re-importable with `registry import`)."""
    registry = Store.sqlite(db).registry()
    handle = sys.stdout if str(output) == "-" else _open_for_writing(output)
    try:
        handle.write("table,registered\n")
        handle.writelines(f"{t},{'' if r is None else r}\n" for t, r in sorted(registry.items()))
    finally:
        if handle is not sys.stdout:
            handle.close()
    err.print(f"{len(registry):,} tables exported.")
