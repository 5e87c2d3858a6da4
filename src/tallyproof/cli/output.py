"""Terminal and file renderings of results (Rich tables, CSV rows). No I/O of its own."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tallyproof.election import Election
from tallyproof.storage.imports import ImportSummary
from tallyproof.storage.store import StoredCopy
from tallyproof.tabulate import Tabulation, UnitTotals

__all__ = ["copies_table", "import_lines", "national_table", "tabulation_csv", "units_table"]


def _some(tables: Sequence[str]) -> str:
    return f": {escape(', '.join(tables[:5]))}{' …' if len(tables) > 5 else ''}" if tables else ""


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _pct(x: float | None) -> str:
    return "unknown" if x is None else f"{100 * x:.1f}%"


def _int(x: int | None) -> str:
    return "unknown" if x is None else f"{x:,}"


def coverage_lines(tab: Tabulation) -> list[str]:
    t = tab.total
    lines = [f"Sources counted, in order of preference: {', '.join(tab.sources)}"]
    if t.tables_known is None:
        lines.append(
            f"Tables counted: {t.tables_counted:,}; registry unknown (import one with `tallyproof registry import`)."
        )
    else:
        inside = t.tables_counted - t.tables_outside_registry
        lines.append(
            f"Tables counted: {t.tables_counted:,}; {inside:,} of the {t.tables_known:,} tables in the registry ({_pct(t.coverage)})."
        )
        if t.tables_outside_registry:
            lines.append(
                f"  [yellow]{t.tables_outside_registry:,} counted tables are not in the registry: the registry is incomplete.[/]"
            )
    if tab.declared and tab.declared.tables and not tab.where and t.tables_counted <= tab.declared.tables:
        share = t.tables_counted / tab.declared.tables
        lines.append(
            f"Declared nationwide: {tab.declared.tables:,} tables, {_int(tab.declared.registered)} registered voters ({share:.1%} of tables counted). Source: {tab.declared.source}"
        )
    if t.registered_counted:
        lines.append(
            f"Turnout {_pct(t.turnout)} over the {t.registered_counted:,} registered voters of the counted tables whose registered voters are known."
        )
    else:
        lines.append("Turnout unknown: no counted table has known registered voters.")
    if t.conflicts:
        lines.append(
            f"[yellow]{t.conflicts:,} tables have conflicting copies of the same source; the newest copy is counted (see `tallyproof compare`).[/]"
        )
    return lines


def national_table(tab: Tabulation, *, cards: bool) -> Table:
    e, t = tab.election, tab.total
    table = Table(title=Text(f"{e.name}\n{_where(tab)}"), title_justify="left")
    for col, just in (("Candidate", "left"), ("Votes", "right"), ("Share", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    order = sorted(range(len(e.candidates)), key=lambda i: -t.candidates[i])
    shares = t.shares()
    for i in order:
        table.add_row(Text(e.candidates[i].name), f"{t.candidates[i]:,}", f"{100 * shares[i]:.2f}%")
        if cards and t.card_tables:
            for j, card in enumerate(e.cards):
                if e.card_to_candidate[j] == i:
                    table.add_row(Text(f"  {card.name}", style="dim"), Text(f"{t.cards[j]:,}", style="dim"), "")
    table.add_section()
    table.add_row("Valid votes", f"{t.valid:,}", "")
    table.add_row("Null votes", f"{t.null:,}", "")
    if t.blank:
        table.add_row("Blank votes", f"{t.blank:,}", "")
    if cards and t.card_tables != t.tables_counted:
        table.caption = f"Cards: from the {t.card_tables:,} tables whose copies give per-card counts."
    return table


def units_table(tab: Tabulation, *, top: int, width: int = 120) -> Table:
    """One row per unit; numbers keep their full width and names give way when space is short."""
    e = tab.election
    lead = sorted(range(len(e.candidates)), key=lambda i: -tab.total.candidates[i])[:top]
    named = any(u.name for u in tab.units)
    heads = [
        tab.level.capitalize(),
        "Name",
        "Tables",
        "Coverage",
        "Turnout",
        *(e.candidates[i].id for i in lead),
        "Others",
        "Valid",
        "Conflicts",
    ]
    rows = [_unit_cells(u, lead, tab) for u in (*tab.units, tab.total)]
    keep = [j for j in range(len(heads)) if (j != 1 or named) and (heads[j] != "Conflicts" or tab.total.conflicts)]
    table = Table(
        title=Text(f"{e.name}\nby {tab.level}, {_where(tab)}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    widths = {j: max(len(heads[j]) if j != 1 else 4, *(len(r[j]) for r in rows)) for j in keep}
    room = width - sum(w for j, w in widths.items() if j != 1) - 2 * len(keep) - 1
    for j in keep:
        if j == 1:
            table.add_column(heads[j], overflow="ellipsis", no_wrap=True, max_width=max(8, min(widths[j], room)))
        else:
            table.add_column(heads[j], justify="left" if j == 0 else "right", no_wrap=True, min_width=widths[j])
    for i, cells in enumerate(rows):
        if i == len(rows) - 1:
            table.add_section()
        table.add_row(*(Text(cells[j]) for j in keep))  # names come from files: never read as markup
    return table


def _unit_cells(u: UnitTotals, lead: Sequence[int], tab: Tabulation) -> list[str]:
    shares = u.shares()
    others = sum(v for i, v in enumerate(u.candidates) if i not in lead)
    return [
        u.key if u is not tab.total else "Total",
        u.name if u is not tab.total and u.name else "",
        f"{u.tables_counted:,}",
        _pct(u.coverage),
        _pct(u.turnout),
        *(f"{100 * shares[i]:.1f}%" for i in lead),
        f"{100 * others / u.valid if u.valid else 0:.1f}%",
        f"{u.valid:,}",
        str(u.conflicts) if u.conflicts else "",
    ]


def _where(tab: Tabulation) -> str:
    return ", ".join(f"{lv}={v}" for lv, v in tab.where) or "nationwide"


def tabulation_csv(tab: Tabulation) -> str:
    e = tab.election
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    fields = [
        "tables_counted",
        "tables_known",
        "tables_outside_registry",
        "coverage",
        "registered_known",
        "registered_counted",
        "turnout",
        "valid",
        "null",
        "blank",
        "conflicts",
    ]
    cards = [f"card:{c.id}" for c in e.cards] if tab.total.cards else []
    w.writerow(["level", "key", "name", *fields, *(c.id for c in e.candidates), "card_tables", *cards])
    for u in (*tab.units, tab.total):
        d: dict[str, Any] = tab.unit_json(u)
        level = tab.level if u is not tab.total else "total"
        w.writerow(
            [
                level,
                u.key,
                u.name or "",
                *("" if d[f] is None else d[f] for f in fields),
                *u.candidates,
                u.card_tables,
                *u.cards,
            ]
        )
    return out.getvalue()


def import_lines(s: ImportSummary) -> list[str]:
    if s.already:
        return [
            f"{escape(s.filename)}: already imported as batch {s.batch_id} (format {s.format}: {_n(s.accepted, 'copy', 'copies')} accepted, {s.rejected:,} rejected); nothing added."
        ]
    lines = [
        f"{escape(s.filename)}: {_n(s.accepted, 'copy', 'copies')} imported, {s.rejected:,} rejected, {s.warnings:,} warnings (format {s.format}, {s.encoding}, batch {s.batch_id})."
    ]
    if s.repeated:
        lines.append(
            f"  [yellow]{s.repeated:,} tables appear more than once in this file; {len(s.repeated_differing):,} of them with different votes{_some(s.repeated_differing)}.[/]"
        )
    name = Path(s.filename).name
    for line, reason in s.problems[:10]:
        lines.append(f"  [yellow]{escape(name)}:{line}: {escape(reason)}[/]")
    if s.rejected:
        more = f"{s.rejected - 10:,} more; " if s.rejected > 10 else ""
        lines.append(f"  Rejected rows are kept as received with their reasons ({more}see `tallyproof rejects`).")
    if s.overlapping:
        same = s.overlapping - len(s.differing)
        lines.append(
            f"  {s.overlapping:,} of its tables already had a copy: {same:,} give the same votes, {len(s.differing):,} differ."
        )
        if s.differing:
            shown = ", ".join(s.differing[:5]) + (" …" if len(s.differing) > 5 else "")
            lines.append(f"  [yellow]Tables whose copies differ: {shown} (see `tallyproof compare`).[/]")
    return lines


def copies_table(election: Election, copies: Sequence[StoredCopy]) -> Table:
    """All copies of one table side by side; cells that differ from the first copy are highlighted."""
    table = Table(
        title=f"Table {copies[0].sheet.table}: {len(copies)} cop{'y' if len(copies) == 1 else 'ies'}",
        title_justify="left",
    )
    table.add_column("")
    for c in copies:
        table.add_column(Text(f"#{c.id} {c.source}\n{c.filename}:{c.line}\n{c.received_at}"), justify="right")
    rows: list[tuple[str, list[int | None]]] = [
        (cand.name, [c.sheet.candidates[i] for c in copies]) for i, cand in enumerate(election.candidates)
    ]
    if any(c.sheet.cards for c in copies):
        rows += [
            (f"  card {card.name}", [None if c.sheet.cards is None else c.sheet.cards[j] for c in copies])
            for j, card in enumerate(election.cards)
        ]
    rows += [
        (name, [getattr(c.sheet, attr) for c in copies])
        for name, attr in (
            ("Valid (sum)", "total_valid"),
            ("Valid (stated)", "valid"),
            ("Null", "null"),
            ("Blank", "blank"),
            ("Registered", "registered"),
            ("Voters", "voters"),
        )
    ]
    for name, values in rows:
        present = [v for v in values if v is not None]
        differs = len(set(present)) > 1
        table.add_row(Text(name, style="bold red" if differs else ""), *(_cell(v, differs, values) for v in values))
    table.add_row("Acta id", *(Text(c.sheet.acta_id or "") for c in copies))
    table.add_row("Digest", *(c.digest[:16] for c in copies))
    table.add_row("Findings", *(Text("\n".join(c.findings)) for c in copies))
    table.add_row("As received", *(Text(c.raw.rstrip("\r\n"), style="dim", overflow="fold") for c in copies))
    return table


def _cell(v: int | None, differs: bool, values: Sequence[int | None]) -> Text:
    if v is None:
        return Text("—", style="dim")
    first = next((x for x in values if x is not None), v)
    return Text(f"{v:,}", style="bold red" if differs and v != first else "")
