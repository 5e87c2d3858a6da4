"""Draw docs/packages.svg: tallyproof's packages in their layers, and which packages each one imports.

The layers are ``LAYERS`` and ``CORE`` of ``tests/test_layers.py`` and the imports are read from the source
with its ``imports(module)``, so the picture is the one the layering test enforces. Run
``python docs/packages_svg.py`` (``make docs`` does) to write it; ``tests/test_docs.py`` fails when the
committed file differs from what :func:`svg` draws now.
"""

from __future__ import annotations

import importlib.util
from html import escape
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PATH = ROOT / "docs" / "packages.svg"
CAPTION = {
    "core": "definitions, tally sheets and their codecs, signing, tabulation",
    "stats": "maths: sampling, audits, estimates",
    "photos": "acta photos: QR, finder repair, OCR",
    "official": "the RFC 9162 log, checkpoints",
    "independent": "copies, reconcile, feasibility, verdict, alarms",
    "simulation": "synthetic elections, machines, paper, photos",
    "report": "the verification report and its SVG charts",
    "storage": "the SQLAlchemy store: every write, kept as received",
    "web": "the FastAPI server, its pages, the HTTP client",
    "cli": "the tallyproof command (Typer): parse, call, print",
}
WIDTH, ROW, BOX_H, GAP, LEFT, TOP = 760, 88, 70, 12, 84, 52


def layers_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_layers", ROOT / "tests" / "test_layers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dependencies(layers: ModuleType) -> dict[str, set[str]]:
    """Package -> the other packages it imports (the package's face, ``__init__``/``__main__``, left out)."""
    deps: dict[str, set[str]] = {name: set() for row in layers.LAYERS for name in row}
    for module in layers.MODULES:
        if module in layers.FACE:
            continue
        for name, _ in layers.imports(module):
            if name not in layers.FACE and layers.unit(name) != layers.unit(module):
                deps[layers.unit(module)].add(layers.unit(name))
    return deps


def order(layers: ModuleType) -> list[str]:
    return [name for row in layers.LAYERS for name in row]


def box(name: str, x: float, y: float, w: float, uses: list[str], core: tuple[str, ...]) -> list[str]:
    label = "core (top of src/tallyproof/)" if name == "core" else f"{name}/"
    fill = "#e8f0fe" if name == "core" else "#ffffff"
    lines = [
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{BOX_H}" rx="6" fill="{fill}" stroke="#3b5b92"/>',
        f'<text x="{x + 10:.0f}" y="{y + 22:.0f}" class="name">{escape(label)}</text>',
        f'<text x="{x + 10:.0f}" y="{y + 41:.0f}" class="caption">{escape(CAPTION.get(name, ""))}</text>',
    ]
    if name == "core":
        text = " · ".join(m if m != "sheets" else "sheets/" for m in core)
        lines.append(f'<text x="{x + 10:.0f}" y="{y + 60:.0f}" class="uses">{escape(text)}</text>')
    else:
        text = "imports " + ", ".join(uses) if uses else "imports nothing of tallyproof"
        lines.append(f'<text x="{x + 10:.0f}" y="{y + 60:.0f}" class="uses">{escape(text)}</text>')
    return lines


def svg() -> str:
    layers = layers_module()
    deps = dependencies(layers)
    rank = {name: i for i, name in enumerate(order(layers))}
    rows = list(layers.LAYERS)
    height = TOP + ROW * len(rows) + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="tallyproof packages and their dependencies">',
        "<style>text{font-family:sans-serif;fill:#1f2933}.name{font-size:15px;font-weight:bold}"
        ".caption{font-size:12px}.uses{font-size:11.5px;fill:#52606d}.layer{font-size:12px;fill:#52606d}"
        ".title{font-size:15px;font-weight:bold}</style>",
        '<text x="20" y="26" class="title">tallyproof: packages by layer; each imports only rows below it</text>',
        '<defs><marker id="head" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#3b5b92"/></marker></defs>',
    ]
    top_y, bottom_y = TOP + 10, TOP + ROW * len(rows) - 30
    out.append(
        f'<line x1="24" y1="{top_y}" x2="24" y2="{bottom_y}" stroke="#3b5b92" stroke-width="3" marker-end="url(#head)"/>'
    )
    out.append(
        f'<text x="42" y="{(top_y + bottom_y) / 2:.0f}" class="layer" '
        f'transform="rotate(-90 42 {(top_y + bottom_y) / 2:.0f})" text-anchor="middle">depends on</text>'
    )
    for level, row in enumerate(rows):
        y = TOP + ROW * (len(rows) - 1 - level)
        w = (WIDTH - LEFT - 20 - GAP * (len(row) - 1)) / len(row)
        out.append(f'<text x="{LEFT - 22}" y="{y + 40}" class="layer">{level}</text>')
        for i, name in enumerate(row):
            uses = sorted(deps[name], key=rank.__getitem__)
            out += box(name, LEFT + i * (w + GAP), y, w, uses, layers.CORE)
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    PATH.write_text(svg(), encoding="utf-8")
    print(f"wrote {PATH}")
