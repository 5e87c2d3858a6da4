"""The turnout × winner's-share fingerprint (Klimek et al. 2012) drawn as a standalone SVG.

Numbers in, SVG text out, like :mod:`tallyproof.report.charts` (whose width and colours it shares): the
2-D histogram of :func:`tallyproof.stats.fingerprint.fingerprint` as one square per non-empty cell, and
the corner its test counts. No script, no external resource; it works on its own and inline in HTML.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from html import escape

import numpy as np

from tallyproof.errors import InputError
from tallyproof.report.charts import GRID, INK, VIRIDIS, WIDTH

__all__ = ["fingerprint_svg"]

_PLOT, _LEFT, _TOP = 420, 72, 52  # px: side of the square plot, its left and top edges


def fingerprint_svg(
    counts: np.ndarray,
    *,
    corner: tuple[float, float],
    observed: int,
    expected: float,
    p_value: float,
    title: str = "Tables by turnout and the winner's share",
) -> str:
    """The fingerprint as a standalone SVG: one square per non-empty cell, shaded in five steps of viridis
    on a logarithmic scale (light: few tables, dark: many), turnout across and the winner's share up, the
    corner of the test outlined with its numbers. Every cell has a ``<title>`` with its ranges and count.

    ``counts``: tables per cell, ``(bins, bins)``, turnout bin first, both axes split evenly from 0 to 1
    (:attr:`~tallyproof.stats.fingerprint.Fingerprint.counts`); ``corner`` and the test's numbers as the
    fingerprint gives them.
    """
    grid = np.asarray(counts, dtype=np.int64)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or grid.shape[0] < 1:
        raise InputError(f"needs a square grid of counts, got shape {grid.shape}", where="counts")
    steps = _log_steps(int(grid.max()))
    frame = f'<rect x="{_LEFT}" y="{_TOP}" width="{_PLOT}" height="{_PLOT}" fill="none" stroke="{INK}"/>'
    test = f"{observed:,} tables, {expected:,.1f} expected, p = {p_value:.2g}"
    body = [*_axes(), _cells(grid, steps), frame, _corner(corner, f"corner: {test}"), *_legend(steps)]
    note = (
        f"{observed:,} of {int(grid.sum()):,} tables in the outlined corner, {expected:,.1f} expected under the "
        f"fitted null; p = {p_value:.2g}. A screen, not proof."
    )
    body.append(_text(8, _TOP + _PLOT + 56, note, size=11))
    height = _TOP + _PLOT + 72
    size = f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"'
    head = f'<svg xmlns="http://www.w3.org/2000/svg" {size} role="img" font-family="sans-serif" fill="{INK}">'
    lines = [head, f"<title>{escape(title)}</title>", '<rect width="100%" height="100%" fill="#ffffff"/>']
    lines.append(_text(8, 22, title, size=15, bold=True))
    return "\n".join([*lines, *body, "</svg>"]) + "\n"


def _f(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start", bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}"{weight}>{escape(text)}</text>'


def _log_steps(top: int) -> list[int]:
    """Lower bounds of the five shading steps: 1 and four geometric steps up to the largest count."""
    if top <= 1:
        return [1]
    return sorted({1, *(max(1, math.ceil(top ** (i / len(VIRIDIS)))) for i in range(1, len(VIRIDIS)))})


def _cells(grid: np.ndarray, steps: list[int]) -> str:
    bins = grid.shape[0]
    cell, edges = _PLOT / bins, np.linspace(0.0, 1.0, bins + 1)
    out = ['<g class="cells">']
    for i, j in zip(*np.nonzero(grid), strict=True):
        n = int(grid[i, j])
        shade = VIRIDIS[min(bisect_right(steps, n) - 1, len(VIRIDIS) - 1)]
        x, y = _LEFT + i * cell, _TOP + (bins - 1 - j) * cell
        label = (
            f"turnout {edges[i]:.0%}–{edges[i + 1]:.0%}, share {edges[j]:.0%}–{edges[j + 1]:.0%}: "
            f"{n:,} {'table' if n == 1 else 'tables'}"
        )
        box = f'x="{_f(x)}" y="{_f(y)}" width="{_f(cell)}" height="{_f(cell)}"'
        out.append(f'<rect class="cell" {box} fill="{shade}"><title>{escape(label)}</title></rect>')
    return "\n".join([*out, "</g>"])


def _axes() -> list[str]:
    out = []
    for tick in range(0, 101, 20):
        along = _PLOT * tick / 100
        x, y = _LEFT + along, _TOP + _PLOT - along
        out.append(f'<line x1="{_f(x)}" y1="{_TOP}" x2="{_f(x)}" y2="{_TOP + _PLOT + 4}" stroke="{GRID}"/>')
        out.append(f'<line x1="{_LEFT - 4}" y1="{_f(y)}" x2="{_LEFT + _PLOT}" y2="{_f(y)}" stroke="{GRID}"/>')
        out.append(_text(x, _TOP + _PLOT + 16, f"{tick}%", size=11, anchor="middle"))
        out.append(_text(_LEFT - 8, y + 4, f"{tick}%", size=11, anchor="end"))
    out.append(_text(_LEFT + _PLOT / 2, _TOP + _PLOT + 34, "turnout", anchor="middle"))
    mid = _TOP + _PLOT / 2
    turn = f'transform="rotate(-90 16 {_f(mid)})"'
    out.append(f'<text x="16" y="{_f(mid)}" font-size="12" text-anchor="middle" {turn}>winner\'s share</text>')
    return out


def _corner(corner: tuple[float, float], label: str) -> str:
    x = _LEFT + _PLOT * corner[0]
    w, h = _PLOT * (1 - corner[0]), _PLOT * (1 - corner[1])
    box = f'x="{_f(x)}" y="{_f(_TOP)}" width="{_f(w)}" height="{_f(h)}"'
    style = f'fill="none" stroke="{INK}" stroke-width="1.5" stroke-dasharray="5 3"'
    return f'<rect class="corner" {box} {style}><title>{escape(label)}</title></rect>'


def _legend(steps: list[int]) -> list[str]:
    x, y = _LEFT + _PLOT + 32, _TOP + 8
    out = [_text(x, y, "tables per cell", bold=True)]
    bounds = [*steps[1:], None]
    for i, (low, high) in enumerate(zip(steps, bounds, strict=True)):
        top = y + 10 + 22 * i
        label = f"{low:,}" + ("+" if high is None else "" if high - 1 == low else f"–{high - 1:,}")
        out.append(f'<rect x="{_f(x)}" y="{_f(top)}" width="16" height="16" fill="{VIRIDIS[i]}" stroke="{INK}"/>')
        out.append(_text(x + 24, top + 13, label))
    return out
