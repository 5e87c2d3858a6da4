"""Seeded synthetic national elections in the shape of Venezuela's presidential election of 28 July 2024.

:func:`simulate` draws a whole country of voting tables from one ``numpy.random.default_rng(seed)``;
the same election, number of tables and seed always give the same result. :func:`write` saves it as
``registry.csv`` and ``sheets.csv`` (tallyproof's generic CSV, with per-card counts), ready for
``tallyproof registry import`` and ``tallyproof import``.

**Geography.** Table ids are built from the definition's ``table_id`` regex, which must be a run of
named fixed-width digit groups (``\\d{n}`` or ``[0-9]{n}``, one per level, in level order) and
literal separators; other definitions raise :class:`~tallyproof.errors.InputError`. Codes count from 1
within their parent (``01``, ``02``…). The tree is grown top-down, in table order:

* top level (states): with the Venezuelan layout, the 24 CNE states, keeping their real codes, with
  tables apportioned in proportion to the real per-state table counts; otherwise up to 24 units of
  random size. A state gets no tables, hence does not exist, only when there are very few tables
  (all 24 exist from about 250 tables up).
* middle levels (municipality, parish): the number of units per state is the real one scaled by
  ``s ** (1/3)`` (municipalities) and ``s ** 0.6`` (parishes), ``s = tables / 30,026``, so that a
  larger country has both more and larger units; a parent's tables are split among its children
  with Gamma(1) ("broken stick") weights: skewed, every unit at least one table.
* centres: tables per centre follow the real histogram (1 to 15, mode 1, mean about 1.96).
* tables: numbered from 01 within their centre.

**Votes.** Every table draws one multinomial over its registered voters: each party card, null
votes and abstention. Probabilities come from three logit-scale quantities, each the sum of a state
mean and independent normal random effects of the municipality, parish and centre (standard
deviations from a nested variance decomposition of the real per-table results):

* turnout (real per-state turnout, 51–68%);
* the leading candidate's share of the two largest (real per-state González / (González + Maduro));
* the combined share of all other candidates, split among them in proportion to their real totals.

State means are widened so that, after the random effects, the expected shares stay on target
(logit-normal mean approximation). Within a candidate, votes are split among its cards with fixed
national weights. Null votes are a fixed 0.011% of voters (as in the real data), blank votes are 0
(always 0 in the real actas). Registered voters: a centre mean in 200–600 drawn from Beta(3, 1.5),
plus a small per-table spread (the real register splits a centre almost evenly among its tables;
real tables are larger, typically 600–1,000 voters).

Other elections: candidates that are not Venezuela's get the same share profile by ballot position
(first candidate largest), cards within a candidate halve in weight along the ballot, and state
means are drawn at random around the national ones.

Assumptions: no fraud, no missing or duplicated tables, no correlation between turnout and vote
choice beyond the shared state means, the same card split everywhere.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.ids import TableId
from tallyproof.sheets.files import csv_header
from tallyproof.sheets.sheet import TallySheet

__all__ = ["SimulatedElection", "simulate", "write"]

# --- Real figures. Derived once from /work/shared/data/ve2024 (see its README); not read at run time.

_VE_LEVELS = ("state", "municipality", "parish", "centre", "table")
_VE_WIDTHS = (2, 2, 2, 3, 2)
_VE_TABLES = 30_026
"""Tables nationwide, as declared by the CNE (``ve2024.toml`` [declared]): the scale of the real shape."""

# Per CNE state code 01..24, from the union of RESULTADOS_2024_CSV_V1.csv and V2.csv (25,075 actas,
# keyed by CENTRO + MESA; about 83% of all tables): actas, and distinct municipalities and parishes
# (first 4 and 6 digits of the centre code).
_VE_STATE_TABLES: tuple[int, ...] = (1685, 1339, 537, 1509, 962, 1161, 1383, 416, 1106, 757, 1616, 910)
_VE_STATE_TABLES += (2227, 767, 511, 984, 1042, 1229, 909, 691, 2723, 108, 176, 327)
_VE_STATE_MUNICIPALITIES = (1, 21, 7, 18, 12, 11, 14, 9, 25, 15, 9, 23, 21, 13, 11, 14, 15, 29, 20, 14, 20, 1, 4, 1)
_VE_STATE_PARISHES = (22, 54, 26, 49, 54, 43, 34, 15, 83, 37, 58, 85, 54, 42, 22, 41, 57, 65, 93, 21, 103, 4, 18, 10)
# Turnout: V1 (valid + null) / RE. Shares of valid votes: V2 EG / VOTOS_VALIDOS and NM / VOTOS_VALIDOS.
_VE_STATE_TURNOUT: tuple[float, ...] = (
    0.5929,
    0.6106,
    0.5973,
    0.6007,
    0.6277,
    0.5801,
    0.5817,
    0.6626,
    0.6108,
    0.6642,
    0.6498,
    0.6292,
)
_VE_STATE_TURNOUT += (0.5735, 0.6087, 0.6172, 0.6827, 0.6400, 0.5755, 0.6344, 0.6641, 0.5148, 0.6045, 0.5550, 0.6397)
_VE_STATE_EG: tuple[float, ...] = (
    0.6406,
    0.6650,
    0.6296,
    0.6743,
    0.7449,
    0.7122,
    0.7060,
    0.6283,
    0.7077,
    0.6402,
    0.6805,
    0.7690,
)
_VE_STATE_EG += (0.6558, 0.6036, 0.6639, 0.6405, 0.5003, 0.8189, 0.6393, 0.6064, 0.6939, 0.5944, 0.5344, 0.6087)
_VE_STATE_NM: tuple[float, ...] = (
    0.3245,
    0.3081,
    0.3513,
    0.2934,
    0.2378,
    0.2622,
    0.2649,
    0.3470,
    0.2692,
    0.3379,
    0.2942,
    0.2139,
)
_VE_STATE_NM += (0.3135, 0.3752, 0.3097, 0.3360, 0.4761, 0.1627, 0.3444, 0.3681, 0.2912, 0.3794, 0.4407, 0.3604)
# Highest MESA of each of the 13,110 centres in V1 ∪ V2: how many centres have 1, 2, … 15 tables.
_VE_TABLES_PER_CENTRE = (6821, 2876, 1749, 982, 404, 159, 66, 27, 13, 8, 2, 1, 1, 0, 1)
# Candidate totals over all 25,073 actas of V2 (González 67.1%, Maduro 30.5%).
_VE_VOTES = {"EG": 7303480, "NM": 3316142, "LM": 86225, "JABE": 20404, "JOBR": 22097}
_VE_VOTES |= {"AE": 51011, "CF": 12632, "DC": 10584, "EM": 26067, "BERA": 38620}
# Card totals over the 42 distinct QR payloads decoded in manifest.csv (the only per-card data we have).
_VE_CARD_VOTES = {"PSUV": 4208, "PCV": 186, "TUPAMARO": 187, "PPT": 88, "MSV": 135, "PODEMOS": 149, "MEP": 28}
_VE_CARD_VOTES |= {"APC": 49, "ORA": 181, "UPV": 71, "EV": 22, "PVV": 39, "PFV": 305}
_VE_CARD_VOTES |= {"AD": 65, "COPEI": 22, "MR": 10, "BR": 10, "DDP": 69, "UNE": 19, "EL_CAMBIO": 29}
_VE_CARD_VOTES |= {"PV": 42, "VU": 20, "UVV": 8, "MPJ": 13, "AP": 13, "MOVEV": 11, "CMC": 9, "FV": 7}
_VE_CARD_VOTES |= {"ALIANZA_DEL_LAPIZ": 44, "MIN_UNIDAD": 24, "SPV": 26, "VPA": 16, "AREPA": 9}
_VE_CARD_VOTES |= {"UNTC": 472, "MPV": 773, "MUD": 12393, "CENTRADOS": 51, "CONDE": 74}
_NULL_RATE = 1.1e-4
"""Null votes per voter: 1,213 null of 10,888,475 votes in V2."""
_TURNOUT = 0.60
"""National turnout, V1 (other geographies)."""
# Standard deviations on the logit scale of (lead share, turnout, others' share): per-state means
# around the national ones (other geographies only), then municipality, parish and centre effects.
# From a nested decomposition of the per-table logits of V1; nothing is left at the table level
# beyond the binomial noise.
_SD_STATE = (0.33, 0.19, 0.27)
_SD_MIDDLE = ((0.38, 0.19, 0.19), (0.25, 0.12, 0.15))
_SD_CENTRE = (0.45, 0.35, 0.30)

_MAX_TABLES_PER_CENTRE = 15
_REGISTERED = (200, 600)
_REGISTERED_SPREAD = 8.0
"""Per-table standard deviation of registered voters around the centre mean."""
_TOP_UNITS = 24
_MOST = 10**15
"""Bound on codes and capacities, far above any feasible size, so that wide id fields stay within int64."""
_CHUNK = 100_000
_WRITE_CHUNK = 10_000
_ACTA_SUFFIX = ".1.0001"
_LABELS = {"state": "Estado", "municipality": "Municipio", "parish": "Parroquia", "centre": "Centro"}


@dataclass(frozen=True, eq=False)
class SimulatedElection:
    """A synthetic election: one row per table, in table-id order (arrays are aligned with ``tables``)."""

    election: Election
    tables: list[str]
    """Table ids, e.g. ``010111043.01``; unique and matching ``election.geography.pattern``."""
    registered: np.ndarray
    """Registered voters per table (int64, 200–600)."""
    cards: np.ndarray
    """Votes per table and card, ballot order (int64, shape ``(len(tables), len(election.cards))``)."""
    null: np.ndarray
    blank: np.ndarray
    names: dict[str, dict[str, str]]
    """Unit names per level and key, e.g. ``names["municipality"]["0101"] == "Municipio 0101"``."""
    seed: int

    def candidate_votes(self) -> np.ndarray:
        """Votes per table and candidate (the cards of each candidate added up)."""
        out = np.zeros((len(self.tables), len(self.election.candidates)), dtype=np.int64)
        for card, candidate in enumerate(self.election.card_to_candidate):
            out[:, candidate] += self.cards[:, card]
        return out

    def sheets(self) -> Iterator[TallySheet]:
        """One tally sheet per table, with cards, null, blank, registered, valid and the acta id."""
        return table_sheets(self.election, self.tables, self.cards, self.null, self.blank, self.registered)


def table_sheets(
    election: Election,
    tables: list[str],
    cards: np.ndarray,
    null: np.ndarray,
    blank: np.ndarray,
    registered: np.ndarray,
) -> Iterator[TallySheet]:
    """Tally sheets from aligned per-table arrays (valid = the cards added up; acta id = table + ``.1.0001``)."""
    for start in range(0, len(tables), _WRITE_CHUNK):
        stop = start + _WRITE_CHUNK
        columns = (cards[start:stop].tolist(), null[start:stop].tolist())
        more = (blank[start:stop].tolist(), registered[start:stop].tolist())
        for table, counts, n, b, r in zip(tables[start:stop], *columns, *more, strict=True):
            yield TallySheet.from_cards(
                election,
                TableId(table),
                counts,
                null=n,
                blank=b,
                registered=r,
                valid=sum(counts),
                acta_id=table + _ACTA_SUFFIX,
            )


def simulate(election: Election, *, tables: int, seed: int) -> SimulatedElection:
    """A synthetic election of ``tables`` tables for ``election`` (see the module docstring for the model).

    Raises :class:`InputError` if ``tables`` < 1 or ``seed`` < 0, if table ids cannot be generated
    from the definition's ``table_id`` pattern, or if that many tables do not fit its digit widths.
    """
    if isinstance(tables, bool) or not isinstance(tables, int) or tables < 1:
        raise InputError(f"needs a whole number of tables, at least 1 (got {tables!r})", where="tables")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"the seed must be a whole number, at least 0 (got {seed!r})", where="seed")
    fmt = _id_format(election)
    rng = np.random.default_rng(seed)
    shape = _ve_shape(fmt, tables) if fmt.is_ve else _generic_shape(fmt, tables, rng)
    levels = _grow(fmt, shape, tables, rng)
    units = [np.repeat(np.arange(len(lv.size)), lv.size) for lv in levels]
    ids = _format_ids(fmt, [lv.code[u] for lv, u in zip(levels, units, strict=True)])
    _check_ids(election, ids)
    registered = _registered(units[-2] if len(units) > 1 else units[-1], rng)
    profile = _vote_profile(election, fmt, len(shape.top_weights), rng)
    latent = _latent(profile, levels, units, rng)
    cards, null = _votes(election, profile, latent, registered, rng)
    names = _names(election, fmt, ids, levels)
    return SimulatedElection(election, ids, registered, cards, null, np.zeros_like(null), names, seed)


def write(sim: SimulatedElection, out_dir: Path, *, progress: Callable[[int], None] | None = None) -> dict[str, Path]:
    """Write ``registry.csv`` and ``sheets.csv`` into ``out_dir``; :class:`InputError` if it cannot be written."""
    try:
        return _write(sim, out_dir, progress)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(exc.filename or out_dir)) from None


def _write(sim: SimulatedElection, out_dir: Path, progress: Callable[[int], None] | None) -> dict[str, Path]:
    """Write ``registry.csv`` (``table,registered``) and ``sheets.csv`` into ``out_dir`` (created if needed).

    ``sheets.csv`` is byte for byte what :func:`tallyproof.sheets.files.write_csv` writes for
    :meth:`SimulatedElection.sheets` with no meta columns, built here in bulk because it is several
    times faster. ``progress(n)`` is called with the number of sheet rows written so far, every
    10,000 rows and at the end.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    registry, sheets = out_dir / "registry.csv", out_dir / "sheets.csv"
    with registry.open("w", encoding="utf-8", newline="") as out:
        out.write("table,registered\n")
        out.writelines(f"{t},{r}\n" for t, r in zip(sim.tables, sim.registered.tolist(), strict=True))
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(csv_header(sim.election, []))
    template = _row_template(len(sim.election.candidates), len(sim.election.cards))
    candidates = sim.candidate_votes()
    with sheets.open("w", encoding="utf-8", newline="") as out:
        out.write(header.getvalue())
        for start in range(0, len(sim.tables), _WRITE_CHUNK):
            stop = min(start + _WRITE_CHUNK, len(sim.tables))
            out.write(_rows(sim, candidates, template, start, stop))
            if progress is not None:
                progress(stop)
    return {"registry": registry, "sheets": sheets}


def _row_template(n_candidates: int, n_cards: int) -> str:
    """``str.format`` template of one ``write_csv`` row: table, acta id, null, blank, registered,
    valid, an empty voters column, then candidates and cards."""
    counts = ",".join(f"{{{i}}}" for i in range(5, 5 + n_candidates + n_cards))
    return "{0},{0}" + _ACTA_SUFFIX + ",{1},{2},{3},{4},," + counts + "\n"


def _rows(sim: SimulatedElection, candidates: np.ndarray, template: str, start: int, stop: int) -> str:
    cards = sim.cards[start:stop]
    columns = (sim.null[start:stop], sim.blank[start:stop], sim.registered[start:stop], cards.sum(axis=1))
    ints = np.column_stack((*columns, candidates[start:stop], cards)).tolist()
    fmt = template.format
    return "".join([fmt(t, *row) for t, row in zip(sim.tables[start:stop], ints, strict=True)])


# --- Table ids ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\(\?P<(?P<name>\w+)>(?P<digits>(?:(?:\\d|\[0-9\])(?:\{\d+\})?)+)\)"
    r"|\\(?P<escaped>[.\-/:])|(?P<literal>[A-Za-z0-9_.\-/:])|(?P<anchor>^\^|\$$)"
)
_DIGIT = re.compile(r"(?:\\d|\[0-9\])(?:\{(\d+)\})?")


@dataclass(frozen=True)
class _IdFormat:
    """A table id as a sequence of literal text and fixed-width code fields (one per level)."""

    levels: tuple[str, ...]
    widths: tuple[int, ...]
    parts: tuple[str | int, ...]
    """Literal text, or the index of the level whose code goes there."""

    @property
    def is_ve(self) -> bool:
        return self.levels == _VE_LEVELS and self.widths == _VE_WIDTHS

    def most_children(self) -> list[int]:
        """The largest code of each level (the table level is capped at 15 tables per centre)."""
        most = [min(10**w - 1, _MOST) for w in self.widths]
        if len(most) > 1:
            most[-1] = min(most[-1], _MAX_TABLES_PER_CENTRE)
        return most

    def key_ends(self) -> list[int]:
        """Length of the unit key (id prefix) of each level."""
        ends, pos = [0] * len(self.levels), 0
        for part in self.parts:
            pos += len(part) if isinstance(part, str) else self.widths[part]
            if isinstance(part, int):
                ends[part] = pos
        return ends


def _id_format(election: Election) -> _IdFormat:
    geo = election.geography
    source, pos = geo.pattern.pattern, 0
    parts: list[str | int] = []
    names: list[str] = []
    widths: list[int] = []
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise InputError(
                f"cannot generate table ids from {source!r}: only named fixed-width digit groups such as "
                f"(?P<state>\\d{{2}}) and literal separators are supported, not {source[pos : pos + 12]!r}",
                where=f"election {election.id}: geography.table_id",
            )
        pos = m.end()
        if m["name"]:
            names.append(m["name"])
            widths.append(sum(int(n or 1) for n in _DIGIT.findall(m["digits"])))
            parts.append(len(names) - 1)
        elif not m["anchor"]:
            parts.append(m["escaped"] or m["literal"])
    if tuple(names) != geo.levels or min(widths) < 1:
        raise InputError(
            f"cannot generate table ids: the digit groups of {source!r} ({', '.join(names) or 'none'}) must be "
            f"the levels in order ({', '.join(geo.levels)}), each at least one digit wide",
            where=f"election {election.id}: geography.table_id",
        )
    return _IdFormat(geo.levels, tuple(widths), tuple(parts))


def _format_ids(fmt: _IdFormat, codes: list[np.ndarray]) -> list[str]:
    """Table ids from the code of each table's unit at every level, built as one byte matrix."""
    length = sum(len(p) if isinstance(p, str) else fmt.widths[p] for p in fmt.parts)
    buf = np.empty((len(codes[0]), length), dtype=np.uint8)
    col = 0
    for part in fmt.parts:
        if isinstance(part, str):
            buf[:, col : col + len(part)] = np.frombuffer(part.encode("ascii"), dtype=np.uint8)
            col += len(part)
            continue
        width = fmt.widths[part]
        for digit in range(width):
            buf[:, col + width - 1 - digit] = 48 + (codes[part] // 10**digit) % 10 if digit < 18 else 48
        col += width
    ids: list[str] = buf.view(f"S{length}").ravel().astype(f"U{length}").tolist()
    return ids


def _check_ids(election: Election, ids: list[str]) -> None:
    """Every id is well formed by construction; check a sample against the real pattern anyway."""
    step = max(1, len(ids) // 1000)
    for table in [*ids[::step], ids[-1]]:
        if not election.geography.pattern.fullmatch(table):
            raise InputError(
                f"generated table id {table!r} does not match {election.geography.pattern.pattern!r}",
                where=f"election {election.id}: geography.table_id",
            )


# --- The tree of units ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    top_weights: np.ndarray
    """Relative size (tables) of each top-level unit; unit code = index + 1."""
    unit_counts: tuple[np.ndarray, ...]
    """For each middle level: target number of units in each top-level unit."""
    tables_per_centre: np.ndarray
    """Probability of 1, 2, … tables in a centre."""


@dataclass(frozen=True)
class _Level:
    """The units of one level, in table order."""

    size: np.ndarray
    """Tables in each unit."""
    code: np.ndarray
    """Code of each unit within its parent, from 1."""
    top: np.ndarray
    """Index of each unit's top-level unit (0 when the geography has fewer than three levels)."""


def _centre_histogram(most: int) -> np.ndarray:
    counts = np.asarray(_VE_TABLES_PER_CENTRE[:most], dtype=np.float64)
    return np.asarray(counts / counts.sum(), dtype=np.float64)


def _ve_shape(fmt: _IdFormat, tables: int) -> _Shape:
    """The real shape: 24 states, municipalities and parishes per state scaled with the country."""
    scale = tables / _VE_TABLES
    municipalities = np.asarray(_VE_STATE_MUNICIPALITIES, dtype=np.float64) * scale ** (1 / 3)
    parishes = np.asarray(_VE_STATE_PARISHES, dtype=np.float64) * scale**0.6
    weights = np.asarray(_VE_STATE_TABLES, dtype=np.float64)
    return _Shape(weights, (municipalities, parishes), _centre_histogram(fmt.most_children()[-1]))


def _generic_shape(fmt: _IdFormat, tables: int, rng: np.random.Generator) -> _Shape:
    """Up to 24 top units of random size; middle-level counts interpolated geometrically between
    the top level and the centres."""
    n = len(fmt.levels)
    histogram = _centre_histogram(fmt.most_children()[-1])
    if n < 3:
        return _Shape(np.ones(1), (), histogram)
    capacity = _capacities(fmt)[0][0]
    top = min(fmt.most_children()[0], max(_TOP_UNITS, -(-tables // capacity)))
    weights = rng.gamma(4.0, size=top)
    centres = max(tables / float(np.arange(1, len(histogram) + 1) @ histogram), top)
    shares = weights / weights.sum()
    counts = tuple(top * (centres / top) ** (i / (n - 2)) * shares for i in range(1, n - 2))
    return _Shape(weights, counts, histogram)


def _capacities(fmt: _IdFormat) -> tuple[list[int], int]:
    """Most tables a unit of each level may hold (its code ranges multiplied), and the whole country."""
    n, most = len(fmt.levels), fmt.most_children()
    capacity = [1] * n
    for i in range(n - 2, -1, -1):
        capacity[i] = min(most[i + 1] * capacity[i + 1], _MOST)
    return capacity, min(most[0] * capacity[0], _MOST)


def _grow(fmt: _IdFormat, shape: _Shape, tables: int, rng: np.random.Generator) -> list[_Level]:
    """All levels, top-down. Raises :class:`InputError` if the tables do not fit the id widths."""
    n, most = len(fmt.levels), fmt.most_children()
    capacity, country = _capacities(fmt)
    limit = len(shape.top_weights) * capacity[0] if n >= 3 else country
    if tables > limit:
        raise InputError(f"at most {limit:,} tables fit the table ids of this election", where="tables")
    parent = _Level(np.array([tables]), np.array([1]), np.array([0]))
    levels: list[_Level] = []
    for i in range(n):
        if i == n - 1:
            level = _table_level(parent)
        elif i == n - 2:
            level = _centre_level(parent, shape.tables_per_centre, most[i], rng)
        elif i == 0:
            level = _top_level(tables, shape.top_weights, capacity[0])
        else:
            top_sizes = np.bincount(levels[0].top, levels[0].size, minlength=len(shape.top_weights))
            targets = shape.unit_counts[i - 1][parent.top] * parent.size / top_sizes[parent.top]
            level = _split_level(parent, targets, capacity[i], most[i], rng)
        levels.append(level)
        parent = level
    return levels


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder apportionment of ``total`` in proportion to ``weights``."""
    quota = total * weights / weights.sum()
    out = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - out), kind="stable")
    out[order[: total - int(out.sum())]] += 1
    return np.asarray(out, dtype=np.int64)


def _top_level(tables: int, weights: np.ndarray, capacity: int) -> _Level:
    sizes = _apportion(tables, weights)
    if sizes.max() > capacity:
        sizes = _apportion(tables, np.ones_like(weights))
    keep = np.flatnonzero(sizes)
    return _Level(sizes[keep], keep + 1, keep)


def _rank_within(counts: np.ndarray) -> np.ndarray:
    """1, 2, … within each of consecutive groups of the given sizes."""
    starts = np.cumsum(counts) - counts
    return np.asarray(np.arange(int(counts.sum())) - np.repeat(starts, counts) + 1, dtype=np.int64)


def _split_level(parent: _Level, targets: np.ndarray, capacity: int, most: int, rng: np.random.Generator) -> _Level:
    """About ``targets`` children per parent unit, each with at most ``capacity`` tables."""
    low = -(-parent.size // capacity)
    parts = np.clip(np.rint(targets), low, np.minimum(most, parent.size)).astype(np.int64)
    sizes = _split(parent.size, parts, capacity, rng)
    owner = np.repeat(np.arange(len(parts)), parts)
    return _Level(sizes, _rank_within(parts), parent.top[owner])


def _split(totals: np.ndarray, parts: np.ndarray, capacity: int, rng: np.random.Generator) -> np.ndarray:
    """Split each ``totals[p]`` into ``parts[p]`` positive sizes with Gamma(1) weights (cumulative rounding).

    A parent whose split puts more than ``capacity`` in one child is split evenly instead.
    """
    owner = np.repeat(np.arange(len(parts)), parts)
    ends = np.cumsum(parts)
    starts = ends - parts
    cum = np.cumsum(rng.gamma(1.0, size=len(owner)))
    before = np.concatenate(([0.0], cum))[starts]
    share = (cum - before[owner]) / (cum[ends - 1] - before)[owner]
    spare = (totals - parts)[owner]
    cut = np.minimum(np.rint(share * spare), spare).astype(np.int64)
    cut[ends - 1] = totals - parts
    previous = np.concatenate(([0], cut[:-1]))
    previous[starts] = 0
    sizes = 1 + cut - previous
    bad = np.bincount(owner, sizes > capacity, minlength=len(parts)) > 0
    if bad.any():
        sizes = np.where(bad[owner], _even(totals, parts), sizes)
    return np.asarray(sizes, dtype=np.int64)


def _even(totals: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Split each ``totals[p]`` into ``parts[p]`` sizes that differ by at most one."""
    quotient, remainder = np.divmod(totals, parts)
    return np.asarray(np.repeat(quotient, parts) + (_rank_within(parts) <= np.repeat(remainder, parts)), dtype=np.int64)


def _centre_level(parent: _Level, histogram: np.ndarray, most: int, rng: np.random.Generator) -> _Level:
    """Centres whose sizes follow ``histogram``; a centre that would straddle two parents is cut in two.

    A parent that would get more than ``most`` centres gets ``most`` equal ones instead.
    """
    ends = np.cumsum(parent.size)
    total = int(ends[-1])
    mean = float(np.arange(1, len(histogram) + 1) @ histogram)
    draws: list[np.ndarray] = []
    reached = 0
    while reached < total:
        draws.append(rng.choice(len(histogram), size=int((total - reached) / mean * 1.05) + 16, p=histogram) + 1)
        reached += int(draws[-1].sum())
    cum = np.cumsum(np.concatenate(draws))
    cuts = np.union1d(cum[cum < total], ends)
    owner, sizes = np.searchsorted(ends, cuts), np.diff(cuts, prepend=0)
    counts = np.bincount(owner, minlength=len(parent.size))
    over = np.flatnonzero(counts > most)
    if len(over):
        keep = counts[owner] <= most
        owner = np.concatenate((owner[keep], np.repeat(over, most)))
        sizes = np.concatenate((sizes[keep], _even(parent.size[over], np.full(len(over), most))))
        order = np.argsort(owner, kind="stable")
        owner, sizes = owner[order], sizes[order]
        counts[over] = most
    return _Level(sizes, _rank_within(counts), parent.top[owner])


def _table_level(parent: _Level) -> _Level:
    owner = np.repeat(np.arange(len(parent.size)), parent.size)
    return _Level(np.ones(len(owner), dtype=np.int64), _rank_within(parent.size), parent.top[owner])


def _names(election: Election, fmt: _IdFormat, ids: list[str], levels: list[_Level]) -> dict[str, dict[str, str]]:
    """A name for every unit above the tables: the definition's, else e.g. ``Municipio 0101``."""
    out: dict[str, dict[str, str]] = {}
    ends = fmt.key_ends()
    for index, (level, units) in enumerate(zip(fmt.levels[:-1], levels[:-1], strict=True)):
        known = election.geography.names.get(level, {})
        label = _LABELS.get(level, level.capitalize())
        firsts = (np.cumsum(units.size) - units.size).tolist()
        keys = [ids[i][: ends[index]] for i in firsts]
        out[level] = {key: known.get(key) or f"{label} {key}" for key in keys}
    return out


# --- Voters and votes -------------------------------------------------------------------------


def _registered(centre: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Registered voters: a Beta(3, 1.5) centre mean in 200–600 plus a small per-table spread."""
    low, high = _REGISTERED
    mean = low + (high - low) * rng.beta(3.0, 1.5, size=int(centre.max()) + 1)
    raw = mean[centre] + rng.normal(0.0, _REGISTERED_SPREAD, size=len(centre))
    return np.asarray(np.clip(np.rint(raw), low, high), dtype=np.int64)


@dataclass(frozen=True)
class _Profile:
    lead: int
    second: int
    """Index of the runner-up candidate, -1 when there is only one candidate."""
    minors: np.ndarray
    minor_shares: np.ndarray
    card_weights: np.ndarray
    """Share of each card within its candidate."""
    means: np.ndarray
    """Shape (3, top units): logit of the lead share of the two largest, of turnout, of the others' share."""
    effects: tuple[tuple[int, np.ndarray], ...]
    """(level index, standard deviations of the three quantities) for every level with random effects."""


def _national_shares(election: Election) -> np.ndarray:
    """Real V2 shares for Venezuela's candidates; else the same profile by ballot position."""
    ids = [c.id for c in election.candidates]
    if set(ids) == set(_VE_VOTES):
        shares = np.asarray([_VE_VOTES[i] for i in ids], dtype=np.float64)
    else:
        ranked = sorted(_VE_VOTES.values(), reverse=True)
        shares = np.asarray([ranked[i] if i < len(ranked) else ranked[-1] * 0.8 ** (i - 9) for i in range(len(ids))])
    return np.asarray(shares / shares.sum(), dtype=np.float64)


def _card_weights(election: Election) -> np.ndarray:
    """Share of each card within its candidate: real for Venezuela's cards, else halving along the ballot."""
    mapping = np.asarray(election.card_to_candidate)
    if all(card.id in _VE_CARD_VOTES for card in election.cards):
        raw = np.asarray([_VE_CARD_VOTES[card.id] for card in election.cards], dtype=np.float64)
    else:
        seen: dict[int, int] = {}
        halving = []
        for candidate in mapping.tolist():
            seen[candidate] = seen.get(candidate, -1) + 1
            halving.append(0.5 ** seen[candidate])
        raw = np.asarray(halving)
    totals = np.bincount(mapping, raw)
    return np.asarray(raw / totals[mapping], dtype=np.float64)


def _effect_sds(fmt: _IdFormat) -> tuple[tuple[int, np.ndarray], ...]:
    """Random-effect levels: every level between the top and the tables (the centre level included)."""
    n = len(fmt.levels)
    if n < 2:
        return ()
    middle = list(range(1, n - 2))
    if len(middle) == len(_SD_MIDDLE):
        sds = [np.asarray(sd) for sd in _SD_MIDDLE]
    else:
        pooled = np.sqrt(np.square(np.asarray(_SD_MIDDLE)).sum(axis=0) / max(len(middle), 1))
        sds = [pooled] * len(middle)
    return (*zip(middle, sds, strict=True), (n - 2, np.asarray(_SD_CENTRE)))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def _vote_profile(election: Election, fmt: _IdFormat, top_units: int, rng: np.random.Generator) -> _Profile:
    """State-level logit means (real for Venezuela, random around the national values otherwise)."""
    shares = _national_shares(election)
    order = np.argsort(-shares, kind="stable")
    lead, second = int(order[0]), int(order[1]) if len(order) > 1 else -1
    minors = order[2:]
    effects = _effect_sds(fmt)
    below = sum((np.square(sd) for _, sd in effects), np.zeros(3))
    if fmt.is_ve and set(_VE_VOTES) == {c.id for c in election.candidates}:
        eg, nm = np.asarray(_VE_STATE_EG), np.asarray(_VE_STATE_NM)
        centre = np.stack([eg / (eg + nm), np.asarray(_VE_STATE_TURNOUT), 1 - eg - nm])
        spread = np.zeros((3, top_units))
    else:
        pair = shares[lead] + (shares[second] if second >= 0 else 0.0)
        national = np.asarray([shares[lead] / pair, _TURNOUT, shares[minors].sum()])
        centre = np.repeat(national[:, None], top_units, axis=1)
        state_sd = np.asarray(_SD_STATE) if top_units > 1 else np.zeros(3)
        spread = rng.normal(size=(3, top_units)) * state_sd[:, None]
        below = below + np.square(state_sd)
    means = _logit(centre) * np.sqrt(1 + np.pi * below / 8)[:, None] + spread
    minor_shares = shares[minors] / shares[minors].sum() if len(minors) else shares[minors]
    return _Profile(lead, second, minors, minor_shares, _card_weights(election), means, effects)


def _latent(profile: _Profile, levels: list[_Level], units: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Shape (3, tables): state mean plus the random effect of every unit the table sits in."""
    latent = profile.means[:, levels[-1].top]
    for level, sd in profile.effects:
        effect = rng.normal(size=(3, len(levels[level].size))) * sd[:, None]
        latent += effect[:, units[level]]
    return latent


def _probabilities(election: Election, profile: _Profile, latent: np.ndarray) -> np.ndarray:
    """Per-table multinomial probabilities: every card, then null, then abstention."""
    lean, turnout, others = (1 / (1 + np.exp(-latent[i])) for i in range(3))
    if profile.second < 0:
        lean = np.ones_like(lean)
    if len(profile.minors) == 0:
        others = np.zeros_like(others)
    candidates = np.zeros((latent.shape[1], len(election.candidates)))
    candidates[:, profile.lead] = (1 - others) * lean
    if profile.second >= 0:
        candidates[:, profile.second] = (1 - others) * (1 - lean)
    candidates[:, profile.minors] = others[:, None] * profile.minor_shares
    cards = candidates[:, list(election.card_to_candidate)] * profile.card_weights
    voted = turnout * (1 - _NULL_RATE)
    return np.column_stack((cards * voted[:, None], turnout * _NULL_RATE, 1 - turnout))


def _votes(
    election: Election, profile: _Profile, latent: np.ndarray, registered: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cards (tables × cards) and null votes, one multinomial draw per table, in chunks."""
    n, k = len(registered), len(election.cards)
    cards = np.empty((n, k), dtype=np.int64)
    null = np.empty(n, dtype=np.int64)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        drawn = rng.multinomial(registered[start:stop], _probabilities(election, profile, latent[:, start:stop]))
        cards[start:stop] = drawn[:, :k]
        null[start:stop] = drawn[:, k]
    return cards, null
