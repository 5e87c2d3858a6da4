"""SVG charts for the offline verification report: a choropleth map, grouped bars and a histogram.

Every function is pure: numbers in, SVG text out. The result is a standalone ``<svg>`` in the SVG
namespace that also works inline in HTML. It has no script and no external font, stylesheet or image
(text uses the generic ``sans-serif`` family), so a report renders offline and prints as it shows.
Every mark carries a ``<title>`` (hover text and accessible name), every text is escaped with
:func:`html.escape`, and every number is written with thousands separators.

Colours: shares use five steps of viridis (van der Walt & Smith, matplotlib, 2015), a sequential palette
that stays ordered for the common colour-vision deficiencies and in greyscale; light is low, dark is
high, so more ink means more. Missing values are hatched, not coloured. Series use the Okabe–Ito palette
("Color Universal Design", Okabe & Ito, 2008).
"""

from __future__ import annotations

import hashlib
import json
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from html import escape
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np

from tallyproof.errors import InputError

__all__ = ["choropleth", "grouped_bars", "histogram", "percent", "state_map"]

WIDTH = 720  # every chart is this many px wide; heights follow from the content
TITLE_HEIGHT = 36
FONT = 12
VIRIDIS = ("#fde725", "#5ec962", "#21918c", "#3b528b", "#440154")  # low → high
OKABE_ITO = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#f0e442")
INK, GRID, NO_DATA = "#222222", "#d0d0d0", "#9a9a9a"
MAP_WIDTH = 540  # px of the map itself; the legend takes the rest of WIDTH


# --- shared pieces ---------------------------------------------------------------------------------------


def _f(x: float) -> str:
    """A coordinate: at most one decimal."""
    return f"{x:.1f}".removesuffix(".0")


def _number(x: float) -> str:
    """Thousands separators; whole numbers without decimals, others with two decimals or three significant
    digits, whichever shows more (up to six decimals), trailing zeros dropped: ``212,345.5``, ``0.00123``."""
    if float(x).is_integer():
        return f"{x:,.0f}"
    decimals = min(6, max(2, 2 - math.floor(math.log10(abs(x)))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(share: float) -> str:
    """A share of one as a percentage with one decimal: ``0.8734`` → ``87.3%``."""
    return f"{share:,.1%}"


def _text(
    x: float, y: float, text: str, *, size: int = FONT, anchor: str = "start", bold: bool = False, turn: bool = False
) -> str:
    """A text element; ``turn`` rotates it a quarter turn anticlockwise about (x, y), for a vertical axis."""
    extra = (' font-weight="bold"' if bold else "") + (f' transform="rotate(-90 {_f(x)} {_f(y)})"' if turn else "")
    return f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _width(text: str, size: int = FONT) -> float:
    """A generous estimate of a text's width in a sans-serif font (no font metrics offline)."""
    return len(text) * size * 0.62


def _fit(text: str, width: float, size: int = FONT) -> str:
    """The text, cut with an ellipsis if it would be wider than ``width`` px (the full text stays in a title)."""
    room = int(width / (size * 0.62))
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str, *, kind: str) -> str:
    box = f'x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}"'
    return f'<rect class="{kind}" {box} fill="{fill}"><title>{escape(title)}</title></rect>'


def _svg(height: float, title: str, body: Sequence[str]) -> str:
    """The document: accessible name, white background (for print), bold title, then the body."""
    size = f'viewBox="0 0 {WIDTH} {_f(height)}" width="{WIDTH}" height="{_f(height)}"'
    head = f'<svg xmlns="http://www.w3.org/2000/svg" {size} role="img" font-family="sans-serif" fill="{INK}">'
    background = '<rect width="100%" height="100%" fill="#ffffff"/>'
    lines = [head, f"<title>{escape(title)}</title>", background, _text(8, 22, title, size=15, bold=True)]
    return "\n".join([*lines, *body, "</svg>"]) + "\n"


def _no_data(title: str) -> str:
    return _svg(TITLE_HEIGHT + 40, title, [_text(WIDTH / 2, TITLE_HEIGHT + 22, "no data", anchor="middle")])


def _step(span: float, count: int = 5) -> float:
    """A round tick step (1, 2 or 5 × 10ⁿ) giving about ``count`` intervals over ``span``."""
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _ticks(low: float, high: float, step: float) -> list[float]:
    first = math.ceil(low / step - 1e-9)
    return [i * step for i in range(first, math.floor(high / step + 1e-9) + 1)]


def _finite(values: Mapping[str, float], where: str) -> None:
    for key, value in values.items():
        if not math.isfinite(value):
            raise InputError(f"{value!r} is not a finite number", where=f"{where}[{key!r}]")


# --- choropleth --------------------------------------------------------------------------------------------


def _check_shares(
    values: Mapping[str, float | None], shapes: Mapping[str, object], viewbox: tuple[float, float]
) -> None:
    if not min(viewbox) > 0:
        raise InputError(f"{viewbox!r} is not a width and a height above zero", where="viewbox")
    unknown = sorted(k for k in values if k not in shapes)
    if unknown:
        raise InputError(f"no shape for {', '.join(map(repr, unknown))}", where="values")
    for key, value in values.items():
        if value is not None and not 0 <= value <= 1:
            raise InputError(f"{value!r} is not a share between 0 and 1", where=f"values[{key!r}]")


STEPS = tuple((i + 1) / len(VIRIDIS) for i in range(len(VIRIDIS) - 1))  # inner step edges: 0.2, 0.4, 0.6, 0.8


def _step_of(value: float) -> int:
    """The step a share falls in: [0, 0.2), [0.2, 0.4), …, [0.8, 1]."""
    return bisect_right(STEPS, value)


def _shade(value: float | None, hatch: str) -> str:
    return f"url(#{hatch})" if value is None else VIRIDIS[_step_of(value)]


def _hatch(hatch: str) -> str:
    """A diagonal hatch for 'no data': tells missing from low even in greyscale."""
    lines = f'<path d="M0 6L6 0M-1 1L1-1M5 7L7 5" stroke="{NO_DATA}" stroke-width="1.2"/>'
    pattern = f'<pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse">'
    return f'<defs>{pattern}<rect width="6" height="6" fill="#ffffff"/>{lines}</pattern></defs>'


def _state(name: str, d: str, value: float | None, fmt: Callable[[float], str], hatch: str) -> str:
    title = f"{name}: {'no data' if value is None else fmt(value)}"
    return f'<path class="shape" d="{escape(d)}" fill="{_shade(value, hatch)}"><title>{escape(title)}</title></path>'


def _legend_rows(values: Mapping[str, float | None], fmt: Callable[[float], str], hatch: str) -> list[tuple[str, str]]:
    """(fill, label with the number of shapes) for each step, then for 'no data'."""
    counts = Counter(None if v is None else _step_of(v) for v in values.values())
    edges = [0.0, *STEPS, 1.0]
    rows = [(VIRIDIS[i], f"{fmt(edges[i])} – {fmt(edges[i + 1])} ({counts[i]:,})") for i in range(len(VIRIDIS))]
    return [*rows, (f"url(#{hatch})", f"no data ({counts[None]:,})")]


def _legend(x: float, y: float, legend: str, rows: Sequence[tuple[str, str]]) -> list[str]:
    out = [_text(x, y, legend, bold=True)]
    for i, (fill, label) in enumerate(rows):
        top = y + 10 + 22 * i
        box = f'x="{_f(x)}" y="{_f(top)}" width="16" height="16" fill="{fill}" stroke="{INK}"'
        out += [f'<rect class="key" {box} stroke-width="0.5"/>', _text(x + 24, top + 13, label)]
    return out


def choropleth(
    shapes: Mapping[str, tuple[str, str]],
    viewbox: tuple[float, float],
    values: Mapping[str, float | None],
    *,
    title: str,
    legend: str,
    fmt: Callable[[float], str],
) -> str:
    """A map shading each shape by a share in [0, 1] in five equal steps; shapes without a value are hatched.

    ``shapes`` maps a key to (name, SVG path data in ``viewbox`` units); ``values`` maps keys to shares or
    None. A value outside [0, 1], or a key with no shape, raises :class:`InputError` (nothing is dropped).
    """
    _check_shares(values, shapes, viewbox)
    full = {key: values.get(key) for key in shapes}
    hatch = "hatch-" + hashlib.sha256(json.dumps([title, legend, sorted(values)]).encode()).hexdigest()[:10]
    scale = MAP_WIDTH / viewbox[0]
    place = f'transform="translate(8 {TITLE_HEIGHT}) scale({scale:.6g})"'
    group = f'<g {place} stroke="#ffffff" stroke-width="{0.8 / scale:.3g}" fill-rule="evenodd">'
    paths = [_state(name, d, full[key], fmt, hatch) for key, (name, d) in shapes.items()]
    rows = _legend_rows(full, fmt, hatch)
    body = [_hatch(hatch), group, *paths, "</g>", *_legend(MAP_WIDTH + 24, TITLE_HEIGHT + 24, legend, rows)]
    height = max(TITLE_HEIGHT + viewbox[1] * scale, TITLE_HEIGHT + 40 + 22 * len(rows)) + 8
    return _svg(height, title, body)


@cache
def _ve2024() -> tuple[Mapping[str, tuple[str, str]], tuple[float, float]]:
    """The packaged state map (``ve2024_states.json``, made by ``scripts/make_state_map.py``)."""
    text = (resources.files("tallyproof.report") / "ve2024_states.json").read_text(encoding="utf-8")
    document = json.loads(text)
    shapes = {str(k): (str(s["name"]), str(s["path"])) for k, s in document["states"].items()}
    width, height = document["viewbox"]
    return MappingProxyType(shapes), (float(width), float(height))


def state_map(
    values: Mapping[str, float | None], *, title: str, legend: str, fmt: Callable[[float], str] = percent
) -> str | None:
    """:func:`choropleth` of Venezuela's states, keyed by two-digit CNE state code (``"DF"``: Dependencias
    Federales); None when no key of ``values`` is one of them, so that other elections can fall back. Keys
    the map has no shape for (a table of an unknown state) are left off the map; the tables list them."""
    shapes, viewbox = _ve2024()
    known = {
        key: value for key, value in values.items() if key in shapes
    }  # units the map has no shape for are left off
    if not known:
        return None
    return choropleth(shapes, viewbox, known, title=title, legend=legend, fmt=fmt)


# --- grouped bars -------------------------------------------------------------------------------------------

BAR, BAR_GAP, GROUP_GAP, LABELS = 14, 2, 12, 240  # px; LABELS: the widest category label


def _check_series(categories: Sequence[str], series: Mapping[str, Sequence[float]]) -> None:
    if len(series) > len(OKABE_ITO):
        raise InputError(f"{len(series)} series; at most {len(OKABE_ITO)} can be told apart", where="series")
    for name, numbers in series.items():
        if len(numbers) != len(categories):
            raise InputError(f"{len(numbers)} values for {len(categories)} categories", where=f"series[{name!r}]")
        _finite({categories[i]: float(v) for i, v in enumerate(numbers)}, f"series[{name!r}]")
        if any(v < 0 for v in numbers):
            raise InputError("bars cannot be negative", where=f"series[{name!r}]")


def _series_key(names: Sequence[str], top: float) -> tuple[list[str], float]:
    """Swatches and names in rows that wrap at the chart's width; returns the elements and the next free y."""
    out, x, y = [], 8.0, top
    for i, name in enumerate(names):
        if x > 8 and x + 22 + _width(name) > WIDTH:
            x, y = 8.0, y + 20
        out += [f'<rect x="{_f(x)}" y="{_f(y)}" width="14" height="14" fill="{OKABE_ITO[i]}"/>']
        out += [_text(x + 20, y + 12, name)]
        x += 22 + _width(name) + 16
    return out, y + 28


def _bar_group(
    label: str, y: float, bars: Sequence[tuple[str, float]], left: float, per_unit: float, unit: str
) -> list[str]:
    """One category: its label, then one bar per series with its value at the end."""
    height = len(bars) * (BAR + BAR_GAP) - BAR_GAP
    out = [_text(left - 8, y + height / 2 + 4, _fit(label, left - 16), anchor="end")]
    for i, (name, value) in enumerate(bars):
        top, length = y + i * (BAR + BAR_GAP), value * per_unit
        title = f"{label} — {name}: {_number(value)} {unit}".rstrip()
        out += [_rect(left, top, length, BAR, OKABE_ITO[i], title, kind="bar")]
        out += [_text(left + length + 4, top + BAR - 3, _number(value), size=11)]
    return out


def _x_axis(
    span: tuple[float, float], origin: float, per_unit: float, grid: tuple[float, float], ticks: Sequence[float]
) -> list[str]:
    """The axis line across ``span`` (px) at ``grid[1]``; for each tick, a grid line from ``grid[0]`` down to a
    tick mark and its label; a label that would overlap the previous one is left out. ``origin`` is the value
    at ``span[0]``."""
    (left, right), (y_top, y_axis) = span, grid
    out, free = [], -math.inf
    for tick in ticks:
        x, label = left + (tick - origin) * per_unit, _number(tick)
        out += [f'<line x1="{_f(x)}" y1="{_f(y_top)}" x2="{_f(x)}" y2="{_f(y_axis + 4)}" stroke="{GRID}"/>']
        if x - _width(label, 11) / 2 >= free:
            out += [_text(x, y_axis + 16, label, size=11, anchor="middle")]
            free = x + _width(label, 11) / 2 + 4
    return [*out, f'<line x1="{_f(left)}" y1="{_f(y_axis)}" x2="{_f(right)}" y2="{_f(y_axis)}" stroke="{INK}"/>']


def grouped_bars(categories: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, unit: str) -> str:
    """Horizontal bars grouped by category, one bar per series (e.g. per candidate: "copies" vs "announced"),
    each labelled with its value; the axis is labelled with ``unit``. Negative or non-finite values raise."""
    _check_series(categories, series)
    if not categories or not series:
        return _no_data(title)
    key, top = _series_key(list(series), TITLE_HEIGHT)
    left = min(LABELS, 16 + max(_width(c) for c in categories))
    high = max(max(numbers, default=0) for numbers in series.values()) or 1.0
    step = _step(high)
    ticks = _ticks(0, math.ceil(high / step) * step, step)
    per_unit = (WIDTH - left - 64) / ticks[-1]
    group = len(series) * (BAR + BAR_GAP) - BAR_GAP + GROUP_GAP
    axis_y = top + group * len(categories)
    body = [*key, *_x_axis((left, WIDTH - 64), 0, per_unit, (top - 4, axis_y), ticks)]
    for i, category in enumerate(categories):
        bars = [(name, float(numbers[i])) for name, numbers in series.items()]
        body += _bar_group(category, top + i * group, bars, left, per_unit, unit)
    body += [_text((left + WIDTH - 64) / 2, axis_y + 36, unit, anchor="middle")]
    return _svg(axis_y + 48, title, body)


# --- histogram ----------------------------------------------------------------------------------------------

PLOT_LEFT, PLOT_RIGHT, PLOT_HEIGHT = 72, WIDTH - 24, 240
LOG_FLOOR = 0.5  # a log axis starts at ½, so that a bin holding one value still shows
Bins = int | np.integer[Any] | Sequence[float] | np.ndarray  # a number of equal bins, or the edges


def _binned(data: np.ndarray, bins: Bins) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise InputError(f"{bins} bins; at least one is needed", where="bins")
        return np.histogram(data, bins=bins)
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
        raise InputError("bin edges must be two or more finite numbers in increasing order", where="bins")
    return np.histogram(data, bins=edges)


def _y_scale(top_count: int, log_y: bool) -> tuple[list[float], Callable[[float], float]]:
    """Tick values and a function from a count to its height in px."""
    if log_y:
        top = 10.0 ** max(1, math.ceil(math.log10(max(top_count, 1))))
        ticks = [10.0**i for i in range(round(math.log10(top)) + 1)]
        span = math.log10(top / LOG_FLOOR)
        return ticks, lambda c: PLOT_HEIGHT * math.log10(c / LOG_FLOOR) / span if c > 0 else 0.0
    step = max(1.0, _step(top_count or 1))  # counts are whole
    ticks = _ticks(0, math.ceil(max(top_count, 1) / step) * step, step)
    return ticks, lambda c: PLOT_HEIGHT * c / ticks[-1]


def _y_axis(bottom: float, ticks: Sequence[float], height: Callable[[float], float], label: str) -> list[str]:
    out = [_text(16, bottom - PLOT_HEIGHT / 2, label, anchor="middle", turn=True)]
    for tick in ticks:
        y = bottom - height(tick)
        out += [f'<line x1="{PLOT_LEFT}" y1="{_f(y)}" x2="{PLOT_RIGHT}" y2="{_f(y)}" stroke="{GRID}"/>']
        out += [_text(PLOT_LEFT - 6, y + 4, _number(tick), size=11, anchor="end")]
    return out


def _bins(counts: np.ndarray, edges: np.ndarray, bottom: float, height: Callable[[float], float]) -> list[str]:
    per_unit = (PLOT_RIGHT - PLOT_LEFT) / float(edges[-1] - edges[0])
    out = ['<g stroke="#ffffff" stroke-width="0.5">']
    for i, count in enumerate(counts.tolist()):
        low, high = float(edges[i]), float(edges[i + 1])
        close = "]" if i == len(counts) - 1 else ")"
        x, h = PLOT_LEFT + (low - edges[0]) * per_unit, height(count)
        title = f"[{_number(low)}, {_number(high)}{close}: {_number(count)}"
        out += [_rect(x, bottom - h, (high - low) * per_unit, h, VIRIDIS[3], title, kind="bin")]
    return [*out, "</g>"]


def _outside(total: int, binned: int) -> str:
    """A note on values that fall outside explicit bin edges, or "" if there are none."""
    left_out = total - binned
    return f"{_number(left_out)} of {_number(total)} values outside the bins are not shown" if left_out else ""


def _x_ticks(edges: np.ndarray) -> list[float]:
    if edges.size <= 13:
        return [float(e) for e in edges]
    low, high = float(edges[0]), float(edges[-1])
    return _ticks(low, high, _step(high - low, 8))


def histogram(
    values: Sequence[float] | np.ndarray,
    *,
    bins: Bins,
    title: str,
    x_label: str,
    log_y: bool = False,
    y_label: str = "count",
) -> str:
    """Counts of values per bin (``bins`` equal bins over the data's range, or explicit increasing edges;
    every bin is half-open except the last, as in :func:`numpy.histogram`). Values outside explicit edges
    are counted in a note under the axis. Empty input gives a chart that says "no data"."""
    data = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(data).all():
        raise InputError("values must be finite numbers", where="values")
    if data.size == 0:
        return _no_data(title)
    counts, edges = _binned(data, bins)
    ticks, height = _y_scale(int(counts.max()), log_y)
    bottom = TITLE_HEIGHT + 16 + PLOT_HEIGHT
    body = [*_y_axis(bottom, ticks, height, f"{y_label} (log scale)" if log_y else y_label)]
    body += _bins(counts, edges, bottom, height)
    per_unit = (PLOT_RIGHT - PLOT_LEFT) / float(edges[-1] - edges[0])
    body += _x_axis((PLOT_LEFT, PLOT_RIGHT), float(edges[0]), per_unit, (bottom, bottom), _x_ticks(edges))
    body += [_text((PLOT_LEFT + PLOT_RIGHT) / 2, bottom + 36, x_label, anchor="middle")]
    note = _outside(data.size, int(counts.sum()))
    body += [_text(PLOT_LEFT, bottom + 56, note, size=11)] if note else []
    return _svg(bottom + (68 if note else 48), title, body)
