"""The verification report: one set of numbers, written as JSON, Markdown and a self-contained HTML page.

:func:`report_data` gathers every figure into one JSON-able dict (coverage by top-level unit, totals in
the copies against the announcement, the feasibility verdict with its numbers, table-level
discrepancies, conflicts, rejects, alarms, forensic screens, and the command that reproduces each section);
:func:`to_markdown` and :func:`to_html` only lay that dict out, so the three versions cannot disagree.
The HTML page has its charts inline as SVG, no script and no external resource: it opens offline,
prints, and can be mailed as one file.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tallyproof.election import Election
from tallyproof.independent.alarms import Alarm
from tallyproof.independent.reconcile import STATUSES, Reconciliation
from tallyproof.independent.verdict import Assessment, findings
from tallyproof.report.charts import grouped_bars, histogram, percent, state_map
from tallyproof.report.fingerprint_chart import fingerprint_svg
from tallyproof.report.statistics import audit_lines, estimate_lines
from tallyproof.stats.forensics import Forensics
from tallyproof.tabulate import Tabulation

__all__ = ["ReportInput", "report_data", "to_html", "to_markdown"]

LISTED = 50
"""Discrepancies, conflicts and rejects listed in full (the JSON has their totals)."""


@dataclass(frozen=True, slots=True)
class ReportInput:
    election: Election
    coverage: Tabulation
    """The copies tabulated by the top level (coverage and totals)."""
    reconciliation: Reconciliation
    assessment: Assessment | None
    conflicts: Sequence[tuple[str, int, int]]
    """Tables whose copies differ: (table, copies, votes between the lowest and highest copy)."""
    rejects: Sequence[Mapping[str, Any]]
    alarms: Sequence[Alarm]
    reproduce: Mapping[str, str]
    """Section → the command line that gives its numbers again."""
    generated_at: str
    forensics: Forensics | None = None
    """The forensic screens of the copies, if run."""
    estimate: Mapping[str, Any] | None = None
    """The estimate from the copies (:func:`tallyproof.report.statistics.estimate_data`), if there is one."""
    audits: Sequence[Mapping[str, Any]] = ()
    """Each audit's status (``AuditReport.to_json()``)."""


def report_data(inp: ReportInput) -> dict[str, Any]:
    """Every figure of the report, JSON-able."""
    e, rec = inp.election, inp.reconciliation
    return {
        "election": {"id": e.id, "name": e.name},
        "generated_at": inp.generated_at,
        "alarms": [asdict(a) for a in inp.alarms],
        "coverage": _coverage(inp.coverage, None if inp.assessment is None else inp.assessment.tables),
        "feasibility": None
        if inp.assessment is None
        else {**inp.assessment.to_json(), "findings": dict(findings(inp.assessment))},
        "reconciliation": {
            "counts": rec.counts(),
            "discrepancies": [_discrepancy(d, e) for d in rec.discrepancies[:LISTED]],
            "discrepancies_total": len(rec.discrepancies),
            "votes_differing": rec.votes_differing().tolist(),
        },
        "conflicts": {
            "total": len(inp.conflicts),
            "tables": [{"table": t, "copies": n, "spread": v} for t, n, v in inp.conflicts[:LISTED]],
        },
        "rejects": {
            "total": len(inp.rejects),
            "first": [{k: r[k] for k in ("filename", "line", "table_id", "reason")} for r in inp.rejects[:LISTED]],
        },
        "forensics": None if inp.forensics is None else _forensics(inp.forensics),
        "estimate": inp.estimate,
        "audits": list(inp.audits),
        "reproduce": dict(inp.reproduce),
    }


def _forensics(f: Forensics) -> dict[str, Any]:
    """The screens' headline numbers, the tables listed, and the fingerprint's grid for its chart."""
    keys, fp = ("name", "statistic", "p_value", "threshold", "flagged", "summary"), f.fingerprint
    drawn = None
    if fp is not None:
        drawn = {"counts": fp.counts.tolist(), "corner": list(fp.corner), "observed": fp.observed}
        drawn |= {"expected": fp.expected, "p_value": fp.p_value}
    return {
        "sources": list(f.sources),
        "tables": f.tables,
        "screens": [{k: getattr(s, k) for k in keys} for s in f.screens],
        "outliers": list(f.outliers),
        "fingerprint": drawn,
    }


def _coverage(tab: Tabulation, tables: int | None) -> dict[str, Any]:
    """Coverage by unit. When the registry lists fewer tables than the election has (``tables``, as the
    verdict counts them, else the definition's declared number) — a registry derived from the copies
    themselves — shares by unit would be meaningless: only the national share is given."""
    t = tab.total
    declared = tables or (tab.declared.tables if tab.declared and tab.declared.tables else None)
    partial = declared is not None and tab.registry_size < declared
    note = f"The registry lists {tab.registry_size:,} of the {declared:,} tables the election declares: coverage by {tab.level} is unknown."
    return {
        "level": tab.level,
        "sources": list(tab.sources),
        "tables_with_copies": t.tables_counted,
        "tables_known": declared if partial else t.tables_known,
        "share": t.tables_counted / declared if partial and declared else t.coverage,
        "note": note if partial else None,
        "candidates": {c.id: v for c, v in zip(tab.election.candidates, t.candidates, strict=True)},
        "units": [
            {
                "key": u.key,
                "name": u.name,
                "tables_with_copies": u.tables_counted,
                "tables_known": None if partial else u.tables_known,
                "share": None if partial else u.coverage,
            }
            for u in tab.units
        ],
    }


def _discrepancy(d: Any, e: Election) -> dict[str, Any]:
    moved = {c.id: v for c, v in zip(e.candidates, d.candidates, strict=True) if v}
    return {
        "table": d.table,
        "copy": d.copy_id,
        "source": d.source,
        "votes_differing": d.size,
        "copy_minus_official": moved,
        "null": d.null,
    }


# -- Markdown -----------------------------------------------------------------------------------


def to_markdown(data: Mapping[str, Any]) -> str:
    """The report as Markdown (the charts are in the HTML version)."""
    lines = [f"# Verification report: {data['election']['name']}", "", f"Generated {data['generated_at']}.", ""]
    for title, body in _sections(data):
        lines += [f"## {title}", "", *body, ""]
    return "\n".join(lines)


def _sections(data: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        ("Alarms", _alarm_lines(data)),
        ("Coverage", _coverage_lines(data)),
        ("Is the announcement achievable?", _feasibility_lines(data)),
        ("Official sheets against copies", _reconciliation_lines(data)),
        ("Conflicting copies", _conflict_lines(data)),
        ("Refused submissions", _reject_lines(data)),
        (
            "Estimates from the copies",
            [*estimate_lines(data.get("estimate"), _md_table), "", *_again(data, "estimate")],
        ),
        (
            "Audits of the paper receipts",
            [*audit_lines(data.get("audits") or [], _md_table), "", *_again(data, "audits")],
        ),
        ("Forensic screens", _forensic_lines(data)),
    ]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return out + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def _again(data: Mapping[str, Any], section: str) -> list[str]:
    command = data["reproduce"].get(section)
    return [f"Reproduce: `{command}`"] if command else []


def _alarm_lines(data: Mapping[str, Any]) -> list[str]:
    alarms = data["alarms"]
    if not alarms:
        return ["No screen raised an alarm."]
    rows = [(a["severity"], a["title"], a["detail"], ", ".join(a["tables"][:5])) for a in alarms]
    return [*_md_table(("Severity", "Alarm", "What was found", "Tables, e.g."), rows), "", *_again(data, "alarms")]


def _coverage_lines(data: Mapping[str, Any]) -> list[str]:
    c = data["coverage"]
    share = "unknown share" if c["share"] is None else percent(c["share"])
    head = [f"Copies ({', '.join(c['sources'])}) of {c['tables_with_copies']:,} tables ({share} of the tables known)."]
    head += [c["note"]] if c.get("note") else []
    rows = [
        (
            u["name"] or u["key"],
            u["tables_with_copies"],
            u["tables_known"],
            "—" if u["share"] is None else percent(u["share"]),
        )
        for u in c["units"]
    ]
    return [
        *head,
        "",
        *_md_table((c["level"].capitalize(), "Tables with copies", "Tables", "Coverage"), rows),
        "",
        *_again(data, "coverage"),
    ]


def _feasibility_lines(data: Mapping[str, Any]) -> list[str]:
    f = data["feasibility"]
    if f is None:
        return ["No announcement was given (`--announcement FILE`)."]
    said = f["findings"]
    lines = [f"**{said['verdict']}**", "", said["copies"], "", said["derived"], "", said["counts"], ""]
    rows = [
        (
            f["names"][g],
            f["announcement"]["candidates"][g],
            f["copies_total"][g],
            lo,
            hi,
            "no" if g in f["impossible"] else "yes",
        )
        for g, (lo, hi) in f["ranges"].items()
    ]
    lines += _md_table(
        ("Candidate", "Announced", "In the copies", "Fewest possible", "Most possible", "Possible?"), rows
    )
    return [*lines, "", said["winner"], "", said["basis"], "", said["relaxed"], "", *_again(data, "feasibility")]


def _reconciliation_lines(data: Mapping[str, Any]) -> list[str]:
    r = data["reconciliation"]
    counts = "; ".join(f"{r['counts'][s]:,} {s}" for s in STATUSES)
    lines = [f"Tables: {counts}. Copies differing from their official sheet: {r['discrepancies_total']:,}."]
    if r["discrepancies"]:
        rows = [
            (
                d["table"],
                f"{d['source']} #{d['copy']}",
                d["votes_differing"],
                ", ".join(f"{k} {v:+,}" for k, v in d["copy_minus_official"].items()),
            )
            for d in r["discrepancies"]
        ]
        lines += ["", *_md_table(("Table", "Copy", "Votes differing", "Copy minus official"), rows)]
    return [*lines, "", *_again(data, "reconciliation")]


def _conflict_lines(data: Mapping[str, Any]) -> list[str]:
    c = data["conflicts"]
    if not c["total"]:
        return ["No table has copies that disagree with each other."]
    rows = [(t["table"], t["copies"], t["spread"]) for t in c["tables"]]
    head = [f"{c['total']:,} tables have copies that disagree; both are kept and never averaged."]
    return [
        *head,
        "",
        *_md_table(("Table", "Copies", "Votes between lowest and highest"), rows),
        "",
        *_again(data, "conflicts"),
    ]


def _reject_lines(data: Mapping[str, Any]) -> list[str]:
    r = data["rejects"]
    if not r["total"]:
        return ["No copy was refused."]
    rows = [(x["filename"], x["line"], x["table_id"], x["reason"]) for x in r["first"]]
    head = [f"{r['total']:,} copies were refused (each kept as received, with its reason)."]
    return [*head, "", *_md_table(("File", "Line", "Table", "Reason"), rows), "", *_again(data, "rejects")]


def _forensic_lines(data: Mapping[str, Any]) -> list[str]:
    f = data.get("forensics")
    if f is None:
        return ["No copy was screened."]
    head = [
        f"Screens of the {f['tables']:,} tables' counts ({', '.join(f['sources'])} copies) against stated models of "
        "honest counting. A flag says the numbers are unusual under the model, never why: screens are not proof, "
        "they say which tally sheets to look at."
    ]
    rows = [
        (s["name"], _statistic(s["statistic"]), f"{s['p_value']:.2g}", "FLAGGED" if s["flagged"] else "no")
        for s in f["screens"]
    ]
    lines = [*head, "", *_md_table(("Screen", "Statistic", "p-value", "Flagged"), rows), ""]
    lines += [line for s in f["screens"] for line in (f"{s['name']}: {s['summary']}", "")]
    if f["outliers"]:
        lines += [f"Tables unlike the rest of their centre: {', '.join(f['outliers'])}.", ""]
    return [*lines, *_again(data, "forensics")]


def _statistic(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


# -- HTML ---------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;line-height:1.45;color:#111}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ccc;padding:.2em .6em;text-align:left}"
    "td.n{text-align:right}code{background:#f3f3f3;padding:0 .2em;word-break:break-all}"
    ".verdict{font-size:1.2em;border-left:6px solid #a40000;padding:.4em .8em;background:#fdf0f0}"
    ".ok{border-left-color:#05632e;background:#eef8f1}svg{max-width:100%;height:auto}"
)


def to_html(data: Mapping[str, Any]) -> str:
    """The report as one HTML page with its charts inline (SVG), for reading offline and printing."""
    body = [f"<h1>Verification report: {html.escape(data['election']['name'])}</h1>"]
    body.append(
        f"<p>Generated {html.escape(data['generated_at'])}. Every number below can be produced again with the command under its section.</p>"
    )
    charts = _charts(data)
    for title, lines in _sections(data):
        body.append(f"<h2>{html.escape(title)}</h2>")
        body.append(charts.get(title, ""))
        body.append(_html_block(lines))
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>Verification report: {html.escape(data['election']['name'])}</title><style>{_STYLE}</style>"
        f"<body>{''.join(body)}</body></html>"
    )


def _charts(data: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    units = data["coverage"]["units"]
    shares = {u["key"]: u["share"] for u in units}
    drawn = state_map(shares, title="Share of tables with a copy", legend="Coverage") if units else None
    if drawn:
        out["Coverage"] = drawn
    f = data["feasibility"]
    if f is not None:
        groups = list(f["ranges"])
        series = {
            "copies": [f["copies_total"][g] for g in groups],
            "announced": [f["announcement"]["candidates"][g] for g in groups],
        }
        out["Is the announcement achievable?"] = grouped_bars(
            groups, series, title="Votes: copies in hand and announced", unit="votes"
        )
    fp = (data.get("forensics") or {}).get("fingerprint")
    if fp:
        corner, test = (fp["corner"][0], fp["corner"][1]), (fp["observed"], fp["expected"], fp["p_value"])
        grid = np.asarray(fp["counts"])
        out["Forensic screens"] = fingerprint_svg(
            grid, corner=corner, observed=test[0], expected=test[1], p_value=test[2]
        )
    votes = np.asarray(data["reconciliation"]["votes_differing"], dtype=np.int64)
    if votes.size:
        out["Official sheets against copies"] = histogram(
            votes,
            bins=min(30, max(1, int(np.unique(votes).size))),
            title="Votes differing per differing copy",
            x_label="votes differing",
        )
    return out


def _html_block(lines: Sequence[str]) -> str:
    """Markdown-ish lines (paragraphs, pipe tables, bold, code) as HTML."""
    out, table = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            out.append(_html_table(table))
            table = []
        if line:
            out.append(_html_paragraph(line))
    return "".join(out)


def _html_table(rows: list[str]) -> str:
    cells = [[c.strip().replace("\\|", "|") for c in r.strip().strip("|").split(" | ")] for r in rows if "---" not in r]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in cells[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _td(cell: str) -> str:
    numeric = cell.replace(",", "").replace("%", "").replace(".", "").lstrip("+-").isdigit()
    return f"<td class=n>{html.escape(cell)}</td>" if numeric else f"<td>{html.escape(cell)}</td>"


def _html_paragraph(line: str) -> str:
    if line.startswith("**") and line.endswith("**"):
        ok = line.startswith("**Achievable")
        return f"<p class='verdict{' ok' if ok else ''}'><strong>{html.escape(line.strip('*'))}</strong></p>"
    if line.startswith("Reproduce: `"):
        return f"<p>Reproduce: <code>{html.escape(line.removeprefix('Reproduce: `').rstrip('`'))}</code></p>"
    return f"<p>{html.escape(line)}</p>"
