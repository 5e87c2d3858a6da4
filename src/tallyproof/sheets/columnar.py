"""Decoding a whole file of copies into one :class:`~tallyproof.sheets.batch.SheetBatch`.

Two readers give the same result. Large, plain CSV files (the generic format and
the resultadosconvzla files) go through Apache Arrow's multi-threaded CSV parser,
straight into NumPy columns; anything the fast reader is not sure of (quoted
fields, a value that is not a plain integer, a missing count) makes it step
aside for the exact row-by-row reader of :mod:`tallyproof.sheets.files`, which
names the line and the reason of every bad row. Either way each copy keeps the
byte span of its text in the file, so the copy *as received* can be shown later.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tallyproof.election import Election
from tallyproof.sheets.batch import LIMIT, MISSING, OPTIONAL, SheetBatch
from tallyproof.sheets.files import Record, check_header, decode_span, decode_text, detect_format, read_records
from tallyproof.sheets.sheet import sheets_to_batch

__all__ = ["Decoded", "Reject", "decode_file", "registry_fast"]

_RESULTADOS_OPTIONAL = {"null": "VOTOS_NULOS", "registered": "RE", "valid": "VOTOS_VALIDOS"}
_RESULTADOS_NAMES = (("state", "EDO"), ("municipality", "MUN"), ("parish", "PAR"))


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    span: tuple[int, int]
    raw: str
    reason: str
    table: str | None = None


@dataclass(slots=True)
class Decoded:
    format: str
    encoding: str
    batch: SheetBatch
    rejects: list[Reject]
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    """Unit names the file gives, keyed by (level, unit key)."""
    fast: bool = False

    def reject_row(self, data: bytes, row: int, reason: str, *, table: str | None = None) -> Reject:
        """A reject for row ``row`` of the batch, with its text as received."""
        start, end = (int(x) for x in self.batch.spans[row])
        return Reject(
            int(self.batch.lines[row]), (start, end), decode_span(data, start, end, self.encoding), reason, table
        )


def decode_file(data: bytes, election: Election, fmt: str = "auto", *, where: str) -> Decoded:
    """Every copy of a file, and every row that is not one, with the reason."""
    if data.isascii():  # the usual case for files of counts: no need to decode it all up front
        text, encoding = data[:65536].decode("ascii"), "utf-8"
    else:
        text, encoding = decode_text(data, where=where)
    if fmt == "auto":
        fmt = detect_format(text, where=where)
    if fmt in ("csv", "ve-resultados"):
        header = text.split("\n", 1)[0].rstrip("\r").split(",")
        check_header([h.strip() for h in header], fmt, election, where=where)
        fast = _fast(data, encoding, header, election, fmt)
        if fast is not None:
            return fast
    if data.isascii():
        text = data.decode("ascii")
    records = list(read_records(text, election, fmt, where=where))
    return _from_records(records, data, encoding, election, fmt)


def _from_records(records: list[Record], data: bytes, encoding: str, election: Election, fmt: str) -> Decoded:
    enc = "utf-8" if encoding == "utf-8-sig" else encoding
    pos, good, rejects = 0, [], []
    names: dict[tuple[str, str], str] = {}
    for r in records:
        raw = r.raw.encode(enc)
        start = data.find(raw, pos)
        start = pos if start < 0 else start
        pos = start + len(raw)
        if r.sheet is None:
            rejects.append(Reject(r.line, (start, pos), r.raw, r.error or "cannot be decoded"))
            continue
        good.append((r, (start, pos)))
        for level, name in r.names:
            if level in election.geography.levels:
                names.setdefault((level, election.geography.unit_key(r.sheet.table, level)), name)
    sheets = [r.sheet for r, _ in good if r.sheet is not None]
    batch = sheets_to_batch(sheets, n_candidates=len(election.candidates), n_cards=len(election.cards))
    batch.lines = np.asarray([r.line for r, _ in good], dtype=np.int64)
    batch.spans = np.asarray([s for _, s in good], dtype=np.int64).reshape(len(good), 2)
    return Decoded(fmt, encoding, batch, rejects, names)


def _lines(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Line numbers, byte spans and content ends of every non-blank line after the header."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    start = np.r_[0, newlines + 1]
    end = np.r_[newlines + 1, buf.size]
    content = np.r_[newlines, buf.size]
    cr = (content > start) & (buf[np.maximum(content - 1, 0)] == 13)
    content = content - cr
    number = np.arange(1, start.size + 1)
    keep = (content > start) & (number > 1)
    return number[keep], np.stack([start[keep], end[keep]], axis=1), start[keep], content[keep]


def _field_counts(data: bytes, start: np.ndarray, content: np.ndarray) -> np.ndarray:
    commas = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 44)
    return np.searchsorted(commas, content) - np.searchsorted(commas, start) + 1


def _fast(data: bytes, encoding: str, header: list[str], election: Election, fmt: str) -> Decoded | None:
    if b'"' in data or b"0x" in data or b"0X" in data:
        return None  # quoting, or hexadecimal that Arrow would read as a number: the exact reader decides
    width = len(header)
    numbers, spans, start, content = _lines(data)
    skipped: list[int] = []
    table = _arrow(data, encoding, header, election, fmt, skipped)
    if table is None:
        return None
    odd = np.zeros(numbers.size, dtype=bool)
    fields = np.full(numbers.size, width)
    if skipped:
        fields = _field_counts(data, start, content)
        odd = fields != width
    if table.num_rows != int((~odd).sum()):
        return None
    rejects = [
        _odd_reject(data, encoding, int(n), (int(s), int(e)), int(f), width)
        for n, (s, e), f in zip(numbers[odd], spans[odd], fields[odd], strict=True)
    ]
    built = _build(table, election, fmt)
    if built is None:
        return None
    batch, names, ids = built
    batch.lines, batch.spans = numbers[~odd], spans[~odd]
    return _validate_tables(Decoded(fmt, encoding, batch, rejects, names, fast=True), data, election, ids)


def _odd_reject(data: bytes, encoding: str, line: int, span: tuple[int, int], fields: int, width: int) -> Reject:
    return Reject(line, span, decode_span(data, *span, encoding), f"{fields} fields, the header has {width}")


def _numeric_columns(header: list[str], election: Election, fmt: str) -> list[str]:
    if fmt == "ve-resultados":
        return [
            c
            for c in ("CENTRO", "MESA", *_RESULTADOS_OPTIONAL.values(), *(c.id for c in election.candidates))
            if c in header
        ]
    wanted = [*OPTIONAL, *(f"candidate:{c.id}" for c in election.candidates), *(f"card:{c.id}" for c in election.cards)]
    return [c for c in wanted if c in header]


def _arrow(
    data: bytes, encoding: str, header: list[str], election: Election, fmt: str, skipped: list[int]
) -> pa.Table | None:
    numeric = _numeric_columns(header, election, fmt)
    text_cols = ["table", "acta_id"] if fmt == "csv" else [c for _, c in _RESULTADOS_NAMES]
    include = [c for c in [*text_cols, *numeric] if c in header]
    types = {c: pa.int64() for c in numeric} | {c: pa.string() for c in text_cols}
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        return pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(encoding="latin-1" if encoding == "latin-1" else "utf8"),
            parse_options=pacsv.ParseOptions(invalid_row_handler=partial(_skip, skipped)),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=include, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None


def _skip(skipped: list[int], _row: object) -> str:
    """Arrow's handler for a row with the wrong number of fields: count it and skip it (it is reported from the bytes)."""
    skipped.append(1)
    return "skip"


def _ints(table: pa.Table, column: str, n: int) -> np.ndarray:
    """An int64 column, MISSING where empty (absent columns are all MISSING)."""
    if column not in table.column_names:
        return np.full(n, MISSING, dtype=np.int64)
    col = table.column(column)
    if not col.null_count:
        return _int64s(col)
    values = np.concatenate([_chunk_values(ch) for ch in col.chunks])
    values[_int64s(pc.cast(col.is_null(), pa.int64())) == 1] = MISSING
    return values


def _chunk_values(chunk: pa.Array) -> np.ndarray:
    """The value buffer of one int64 chunk (meaningless where null), copied so it can be written."""
    return np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=len(chunk), offset=chunk.offset * 8).copy()


def _int64s(col: pa.ChunkedArray) -> np.ndarray:
    """An int64 Arrow column without nulls as NumPy, read from its buffers (``to_numpy`` would
    import pandas whenever it is installed, which costs a fifth of a second)."""
    parts = [np.frombuffer(ch.buffers()[1], dtype=np.int64, count=len(ch), offset=ch.offset * 8) for ch in col.chunks]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _matrix(table: pa.Table, columns: list[str], n: int, *, narrow: bool = False) -> np.ndarray:
    """Count columns side by side, filled column by column. With ``narrow``, int32 when every value
    fits (larger counts are rejected later, so they must not wrap on the way), else int64."""
    dtype: type[np.signedinteger[Any]] = np.int64
    if narrow:
        ranges = [pc.min_max(table.column(c)) if c in table.column_names else None for c in columns]
        fits = all(
            r is not None and r["min"].as_py() is not None and -LIMIT <= r["min"].as_py() and r["max"].as_py() <= LIMIT
            for r in ranges
        )
        no_nulls = all(table.column(c).null_count == 0 for c in columns if c in table.column_names)
        dtype = np.int32 if fits and no_nulls else np.int64
    out = np.empty((n, len(columns)), dtype=dtype, order="F")
    for j, column in enumerate(columns):
        out[:, j] = _ints(table, column, n)
    return out


def _build(
    table: pa.Table, election: Election, fmt: str
) -> tuple[SheetBatch, dict[tuple[str, str], str], pa.ChunkedArray | None] | None:
    """The batch, the unit names, and the Arrow column of table ids (generic CSV only)."""
    n = table.num_rows
    cand_cols = [c.id if fmt == "ve-resultados" else f"candidate:{c.id}" for c in election.candidates]
    cand = _matrix(table, cand_cols, n)
    cards = _matrix(table, [f"card:{c.id}" for c in election.cards], n, narrow=True)
    present = cards != MISSING
    has_cards = present.all(axis=1)
    if not has_cards.all():
        if (present.any(axis=1) & ~has_cards).any():
            return None  # some card columns empty: the exact reader says which
        cards[~has_cards] = 0
    summed = _card_sums(cards, election)
    given_each = cand != MISSING
    given = given_each.all(axis=1)
    if (~given & ~has_cards).any() or (given_each & ~given[:, None]).any():
        return None
    if (given & has_cards & (cand != summed).any(axis=1)).any():
        return None  # stated candidate totals that are not the card sums: the exact reader says where
    cand[has_cards] = summed[has_cards]
    columns = _RESULTADOS_OPTIONAL if fmt == "ve-resultados" else {f: f for f in OPTIONAL}
    optional = {f: _ints(table, columns.get(f, "-"), n) for f in OPTIONAL}
    column = None
    if fmt == "ve-resultados":
        tables, actas, names = _resultados_ids(table, election)
    else:
        column = pc.utf8_trim_whitespace(table.column("table"))
        tables = column.to_pylist()
        actas = table.column("acta_id").to_pylist() if "acta_id" in table.column_names else [None] * n
        actas = [a or None for a in actas]
        names = {}
    return SheetBatch(tables, cand, cards, has_cards, optional, actas), names, column


def _card_sums(cards: np.ndarray, election: Election) -> np.ndarray:
    out = np.zeros((cards.shape[0], len(election.candidates)), dtype=np.int64)
    for j, c in enumerate(election.card_to_candidate):
        out[:, c] += cards[:, j]
    return out


def _resultados_ids(
    table: pa.Table, election: Election
) -> tuple[list[str], list[str | None], dict[tuple[str, str], str]]:
    centre, mesa = _ints(table, "CENTRO", table.num_rows), _ints(table, "MESA", table.num_rows)
    tables = [
        f"{c:09d}.{m:02d}" if c >= 0 and m >= 0 else f"{c}.{m}"
        for c, m in zip(centre.tolist(), mesa.tolist(), strict=True)
    ]
    names: dict[tuple[str, str], str] = {}
    geo = election.geography
    for level, col in _RESULTADOS_NAMES:
        if col not in table.column_names or level not in geo.levels:
            continue
        for t, name in zip(tables, table.column(col).to_pylist(), strict=True):
            if name and geo.pattern.fullmatch(t):
                names.setdefault((level, geo.unit_key(t, level)), name.strip())
    return tables, [None] * len(tables), names


def _mismatched(tables: list[str], column: pa.ChunkedArray | None, election: Election) -> np.ndarray:
    """Which ids do not match the election's pattern: with Arrow's RE2 on the Arrow column when
    there is one and RE2 accepts the pattern (it runs in C++), else with Python's ``re``."""
    pattern = election.geography.pattern
    if column is not None:
        try:
            ok = pc.match_substring_regex(column, pattern=f"^(?:{pattern.pattern})$")  # ids are never null
            matched: np.ndarray = _int64s(pc.cast(ok, pa.int64())) == 0
            return matched
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return np.fromiter((pattern.fullmatch(t) is None for t in tables), dtype=bool, count=len(tables))


def _validate_tables(decoded: Decoded, data: bytes, election: Election, column: pa.ChunkedArray | None) -> Decoded:
    """Rows whose table id does not fit the election become rejects."""
    batch = decoded.batch
    bad = _mismatched(batch.tables, column, election)
    if not bad.any():
        return decoded
    for i in np.flatnonzero(bad).tolist():
        decoded.rejects.append(decoded.reject_row(data, i, f"table: {election.geography.mismatch(batch.tables[i])}"))
    decoded.rejects.sort(key=lambda r: r.line)
    decoded.batch = batch.take(np.flatnonzero(~bad))
    return decoded


def registry_fast(data: bytes, encoding: str, election: Election) -> dict[str, int | None] | None:
    """A plain ``table,registered`` registry read with Arrow; None if anything needs the exact reader."""
    first = data.split(b"\n", 1)[0].rstrip(b"\r").lstrip(b"\xef\xbb\xbf").decode("latin-1").split(",")
    if b'"' in data or b"0x" in data or b"0X" in data or first[:2] != ["table", "registered"] or len(first) != 2:
        return None
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(
                column_types={"table": pa.string(), "registered": pa.int64()}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    tables = table.column("table").to_pylist()
    registered = _ints(table, "registered", table.num_rows)
    match = election.geography.pattern.fullmatch
    if (
        ((registered < 0) & (registered != MISSING)).any()
        or (registered > LIMIT).any()
        or any(match(t) is None for t in tables)
        or len(set(tables)) != len(tables)
    ):
        return None
    return dict(zip(tables, [None if v == MISSING else v for v in registered.tolist()], strict=True))
