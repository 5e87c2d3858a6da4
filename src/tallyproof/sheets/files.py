"""Reading and writing files of tally sheets: CSV (four dialects), JSON Lines and QR text.

Every reader yields one :class:`Record` per data row: either a decoded sheet or
the reason the row could not be decoded, always with its line number and its text
exactly as it stands in the file, so that nothing is silently dropped.

Formats (``--format``; ``auto`` picks one from the header):

``ve-resultados``
    resultadosconvzla.com per-acta CSV, version 1 (UTF-8 with BOM, CRLF, ``RE``) and
    version 2 (Latin-1, LF, no ``RE``): ``CENTRO`` + ``MESA`` give the table,
    candidate columns ``EG NM LM …``, ``VOTOS_VALIDOS``, ``VOTOS_NULOS``.
``ve-presidential``
    the per-acta table ``2024_vzla_presidential.csv``: ``Acta`` and candidate surnames.
``csv``
    tallyproof's generic CSV (see docs/formats.md): ``table``, optional
    ``acta_id null blank registered valid voters``, ``candidate:<id>`` columns and,
    optionally, ``card:<id>`` columns.
``jsonl``
    one JSON object per line with the same fields (``candidates`` and ``cards`` as objects).
``qr``
    one QR payload per line.
``signed``
    one signed sheet (``TP1|…``, :mod:`tallyproof.sheets.signed`) per line: a witness's copy of what a
    machine printed. Its counts are read; its signature is checked by the official log, not here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tallyproof.election import Election
from tallyproof.errors import CodecError, InputError
from tallyproof.sheets.qr import from_qr, looks_like_qr
from tallyproof.sheets.sheet import COUNT_LIMIT, TallySheet, parse_count
from tallyproof.sheets.signed import SignedSheet, looks_signed

__all__ = [
    "FORMATS",
    "Record",
    "check_header",
    "decode_span",
    "decode_text",
    "detect_format",
    "read_records",
    "sheet_to_json",
    "write_csv",
    "write_jsonl",
]

FORMATS = ("auto", "ve-resultados", "ve-presidential", "csv", "jsonl", "qr", "signed")
_EXTRA = ("null", "blank", "registered", "valid", "voters")

# 2024_vzla_presidential.csv names candidates by surname.
_SURNAMES = {
    "Maduro": "NM",
    "Martinez": "LM",
    "Bertucci": "JABE",
    "Brito": "JOBR",
    "Ecarri": "AE",
    "Fermin": "CF",
    "Ceballos": "DC",
    "Gonzalez": "EG",
    "Marquez": "EM",
    "Rausseo": "BERA",
}


@dataclass(frozen=True, slots=True)
class Record:
    """One data row of a file: a sheet, or the reason there is none."""

    line: int
    raw: str
    sheet: TallySheet | None = None
    error: str | None = None
    names: tuple[tuple[str, str], ...] = ()
    """Unit names the row gives, as (level, name) pairs, e.g. ``("state", "DTTO. CAPITAL")``."""


def decode_text(data: bytes, *, where: str = "file") -> tuple[str, str]:
    """The text of a file and the encoding used: UTF-8 (with or without BOM), else Latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise InputError(
                f"starts with a UTF-8 byte-order mark but byte {exc.start + 3} is not UTF-8", where=where
            ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def decode_span(data: bytes, start: int, end: int, encoding: str) -> str:
    """The text of bytes ``data[start:end]`` of a file read with :func:`decode_text`'s ``encoding``."""
    return data[start:end].decode("latin-1" if encoding == "latin-1" else "utf-8", "replace")


def detect_format(text: str, *, where: str) -> str:
    """The format of a file from its first line that is not blank (a CSV header, a JSON object, a QR payload)."""
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    header = {h.strip() for h in first.split(",")}
    if {"CENTRO", "MESA", "VOTOS_VALIDOS"} <= header:
        return "ve-resultados"
    if {"Acta", "Codcv"} <= header:
        return "ve-presidential"
    if "table" in header:
        return "csv"
    if first.startswith("{"):
        return "jsonl"
    if looks_like_qr(first):
        return "qr"
    if looks_signed(first):
        return "signed"
    raise InputError(f"cannot tell the format from the first line {first[:60]!r}; pass --format", where=where)


def read_records(text: str, election: Election, fmt: str, *, where: str) -> Iterator[Record]:
    """Decode every data row of ``text`` (the file's contents) in format ``fmt``."""
    if fmt == "auto":
        fmt = detect_format(text, where=where)
    if fmt == "jsonl":
        return _read_lines(text, lambda line: _from_json(line, election))
    if fmt == "qr":
        return _read_lines(text, lambda line: (from_qr(line, election), ()))
    if fmt == "signed":
        return _read_lines(text, lambda line: (SignedSheet.from_text(line, election).sheet, ()))
    readers: dict[str, Callable[[dict[str, str], Election], tuple[TallySheet, tuple[tuple[str, str], ...]]]] = {
        "ve-resultados": _from_resultados,
        "ve-presidential": _from_presidential,
        "csv": _from_generic,
    }
    if fmt not in readers:
        raise InputError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", where="--format")
    return _read_csv(text, election, readers[fmt], fmt, where=where)


class _Lines:
    """Feeds csv.reader line by line and remembers the raw text of the current record."""

    def __init__(self, text: str) -> None:
        self._it = iter(io.StringIO(text, newline=""))
        self.current: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.current.append(line)
        return line


def _read_csv(
    text: str,
    election: Election,
    decode: Callable[[dict[str, str], Election], tuple[TallySheet, tuple[tuple[str, str], ...]]],
    fmt: str,
    *,
    where: str,
) -> Iterator[Record]:
    lines = _Lines(text)
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return
    check_header(header, fmt, election, where=where)
    width = len(header)
    while True:
        lines.current = []
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(reader.line_num, "".join(lines.current), error=f"CSV: {exc}")
            continue
        raw = "".join(lines.current)
        first = reader.line_num - len(lines.current) + 1  # a quoted field may span lines
        if not row or row == [""]:
            continue
        if len(row) != width:
            yield Record(first, raw, error=f"{len(row)} fields, the header has {width}")
            continue
        try:
            sheet, names = decode(dict(zip(header, row, strict=True)), election)
        except CodecError as exc:
            yield Record(first, raw, error=str(exc))
            continue
        yield Record(first, raw, sheet=sheet, names=names)


def check_header(header: list[str], fmt: str, election: Election, *, where: str) -> None:
    """Raise :class:`InputError` naming ``file:1`` if the header lacks a column the format needs."""
    if fmt == "ve-resultados":
        needed = ["CENTRO", "MESA", *(c.id for c in election.candidates)]
    elif fmt == "ve-presidential":
        needed = ["Acta", *_SURNAMES]
    else:
        needed = ["table", *(f"candidate:{c.id}" for c in election.candidates)]
        if all(f"card:{c.id}" in header for c in election.cards):
            needed = ["table"]
        known = {f"candidate:{c.id}" for c in election.candidates} | {f"card:{c.id}" for c in election.cards}
        strange = [h for h in header if h.startswith(("candidate:", "card:")) and h not in known]
        if strange:
            raise InputError(
                f"unknown column(s) {', '.join(strange)}: not a candidate or card of {election.id}", where=f"{where}:1"
            )
        some_cards = [h for h in header if h.startswith("card:")]
        if some_cards and len(some_cards) != len(election.cards):
            raise InputError(
                f"{len(some_cards)} card columns; give all {len(election.cards)} or none", where=f"{where}:1"
            )
    missing = [n for n in needed if n not in header]
    if missing:
        raise InputError(f"header lacks column(s) {', '.join(missing)}", where=f"{where}:1")


def _opt(row: dict[str, str], column: str) -> int | None:
    value = row.get(column, "")
    return None if value is None or value.strip() == "" else parse_count(value, where=column)


def _from_resultados(row: dict[str, str], election: Election) -> tuple[TallySheet, tuple[tuple[str, str], ...]]:
    centre, mesa = row["CENTRO"].strip(), row["MESA"].strip()
    if not (centre.isascii() and centre.isdigit() and mesa.isascii() and mesa.isdigit()):
        raise CodecError(f"CENTRO {centre!r} and MESA {mesa!r} must be numbers", where="CENTRO")
    table = election.geography.table_id(f"{int(centre):09d}.{int(mesa):02d}", where="CENTRO,MESA")
    sheet = TallySheet(
        table=table,
        candidates=tuple(parse_count(row[c.id], where=c.id) for c in election.candidates),
        null=_opt(row, "VOTOS_NULOS"),
        registered=_opt(row, "RE"),
        valid=_opt(row, "VOTOS_VALIDOS"),
    )
    names = tuple(
        (lv, row[col].strip())
        for lv, col in (("state", "EDO"), ("municipality", "MUN"), ("parish", "PAR"))
        if row.get(col)
    )
    return sheet, names


def _from_presidential(row: dict[str, str], election: Election) -> tuple[TallySheet, tuple[tuple[str, str], ...]]:
    acta = row["Acta"].strip()
    table = election.geography.table_id(".".join(acta.split(".")[:2]), where="Acta")
    by_id = {cid: parse_count(row[name], where=name) for name, cid in _SURNAMES.items()}
    sheet = TallySheet(table=table, candidates=tuple(by_id[c.id] for c in election.candidates), acta_id=acta)
    if "Otros" in row and row["Otros"].strip():
        others = sum(v for k, v in by_id.items() if k not in ("NM", "EG"))
        if parse_count(row["Otros"], where="Otros") != others:
            raise CodecError(
                f"Otros {row['Otros']} is not the sum of the eight other candidates ({others})", where="Otros"
            )
    names = tuple(
        (lv, row[col].strip())
        for lv, col in (
            ("state", "ESTADO"),
            ("municipality", "municipio"),
            ("parish", "parroquia"),
            ("centre", "NombreCV"),
        )
        if row.get(col)
    )
    return sheet, names


def _from_generic(row: dict[str, str], election: Election) -> tuple[TallySheet, tuple[tuple[str, str], ...]]:
    table = election.geography.table_id(row["table"].strip(), where="table")
    extra: dict[str, Any] = {k: _opt(row, k) for k in _EXTRA}
    extra["acta_id"] = (row.get("acta_id") or "").strip() or None
    card_cols = [f"card:{c.id}" for c in election.cards]
    given = [c for c in card_cols if (row.get(c) or "").strip()]
    if given and len(given) != len(card_cols):
        empty = next(c for c in card_cols if c not in given)
        raise CodecError(f"{len(given)} of {len(card_cols)} card counts given; all or none per row", where=empty)
    if given:
        sheet = TallySheet.from_cards(election, table, [parse_count(row[c], where=c) for c in card_cols], **extra)
        cand_cols = [f"candidate:{c.id}" for c in election.candidates]
        stated = [_opt(row, c) for c in cand_cols]
        if any(v is not None for v in stated) and tuple(stated) != sheet.candidates:
            raise CodecError("candidate columns are not the sums of the card columns", where="candidate:*")
        return sheet, ()
    cands = tuple(parse_count(row[f"candidate:{c.id}"], where=f"candidate:{c.id}") for c in election.candidates)
    return TallySheet(table=table, candidates=cands, **extra), ()


def _read_lines(text: str, decode: Callable[[str], tuple[TallySheet, tuple[tuple[str, str], ...]]]) -> Iterator[Record]:
    for number, raw in enumerate(io.StringIO(text, newline=""), start=1):
        if not raw.strip():
            continue
        try:
            sheet, names = decode(raw.strip())
        except CodecError as exc:
            yield Record(number, raw, error=str(exc))
            continue
        yield Record(number, raw, sheet=sheet, names=names)


def _from_json(line: str, election: Election) -> tuple[TallySheet, tuple[tuple[str, str], ...]]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CodecError(f"not JSON: {exc.msg} at column {exc.colno}", where="json") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("table"), str):
        raise CodecError("expected an object with a string 'table'", where="table")
    table = election.geography.table_id(obj["table"], where="table")
    extra: dict[str, Any] = {k: _json_count(obj.get(k), k) for k in _EXTRA}
    acta = obj.get("acta_id")
    if acta is not None and not isinstance(acta, str):
        raise CodecError(f"{acta!r} is not a string", where="acta_id")
    extra["acta_id"] = acta
    cards, cands = obj.get("cards"), obj.get("candidates")
    if cards is not None:
        counts = [_json_count(_need(cards, c.id, "cards"), f"cards.{c.id}") for c in election.cards]
        sheet = TallySheet.from_cards(election, table, counts, **extra)
        if cands is not None:
            stated = tuple(
                _json_count(_need(cands, c.id, "candidates"), f"candidates.{c.id}") for c in election.candidates
            )
            if stated != sheet.candidates:
                raise CodecError("candidate counts are not the sums of the card counts", where="candidates")
        return sheet, ()
    counts = [_json_count(_need(cands, c.id, "candidates"), f"candidates.{c.id}") for c in election.candidates]
    return TallySheet(table=table, candidates=tuple(counts), **extra), ()


def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise CodecError("expected an object of counts keyed by id", where=where)
    if key not in obj:
        raise CodecError("missing count", where=f"{where}.{key}")
    return obj[key]


def _json_count(value: Any, where: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise CodecError(f"{value!r} is not a whole number", where=where)
    if abs(value) > COUNT_LIMIT:
        raise CodecError(f"{value} is out of range (counts go up to {COUNT_LIMIT})", where=where)
    return value


def sheet_to_json(sheet: TallySheet, election: Election, **meta: Any) -> dict[str, Any]:
    """The JSON Lines object for one copy (``meta``: source, submitter, received_at, digest…)."""
    obj: dict[str, Any] = {"table": sheet.table, "acta_id": sheet.acta_id}
    obj["candidates"] = {c.id: v for c, v in zip(election.candidates, sheet.candidates, strict=True)}
    obj["cards"] = None if sheet.cards is None else {c.id: v for c, v in zip(election.cards, sheet.cards, strict=True)}
    obj.update({k: getattr(sheet, k) for k in _EXTRA})
    obj.update(meta)
    return obj


def write_jsonl(out: io.TextIOBase, rows: Iterator[tuple[TallySheet, dict[str, Any]]], election: Election) -> int:
    n = 0
    for sheet, meta in rows:
        out.write(json.dumps(sheet_to_json(sheet, election, **meta), ensure_ascii=False) + "\n")
        n += 1
    return n


def csv_header(election: Election, meta: list[str]) -> list[str]:
    return [
        "table",
        "acta_id",
        *_EXTRA,
        *(f"candidate:{c.id}" for c in election.candidates),
        *(f"card:{c.id}" for c in election.cards),
        *meta,
    ]


def write_csv(
    out: io.TextIOBase, rows: Iterator[tuple[TallySheet, dict[str, Any]]], election: Election, meta: list[str]
) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(election, meta))
    n = 0
    blank_cards = [""] * len(election.cards)
    for sheet, m in rows:
        extra = ["" if getattr(sheet, k) is None else getattr(sheet, k) for k in _EXTRA]
        cards = blank_cards if sheet.cards is None else list(sheet.cards)
        writer.writerow(
            [sheet.table, sheet.acta_id or "", *extra, *sheet.candidates, *cards, *(m.get(k, "") for k in meta)]
        )
        n += 1
    return n
