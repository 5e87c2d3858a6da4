"""The packages are layered, and no module imports one above it or takes part in an import cycle.

``LAYERS`` is the picture in ``docs/design.md`` (the diagram is drawn from it): each row may import the
rows below it, never a row above, and the packages of one row never import each other. Every import
counts, including those inside functions and under ``TYPE_CHECKING``: a lazy import hides a layering
mistake, it does not fix it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tallyproof"

CORE = ("errors", "ids", "strict_toml", "geography", "election", "signing", "tabulate", "sheets")
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("stats", "photos", "official"),
    ("independent",),
    ("simulation", "report"),
    ("storage",),
    ("web",),
    ("cli",),
]
"""Bottom first. ``core`` is the few modules at the top of the package plus ``sheets/`` (:data:`CORE`):
they import each other freely, short of a cycle."""
FACE = ("__init__", "__main__")
"""The package's face (the library's front door, ``python -m tallyproof``): it may import anything."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def unit(module: str) -> str:
    """The layered unit a module belongs to: ``core``, or its top-level package."""
    top = module.split(".")[0]
    return "core" if top in CORE else top


def imports(module: str) -> Iterator[tuple[str, int]]:
    """Every tallyproof module that ``module`` imports (relative imports resolved), with its line."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(["tallyproof", *package[: len(package) - node.level + 1]])
                stem = f"{base}.{node.module}" if node.module else base
            else:
                stem = node.module or ""
            names = [stem] + [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("tallyproof.") and name.removeprefix("tallyproof.") in MODULES:
                yield name.removeprefix("tallyproof."), node.lineno


def layer_of(name: str) -> int:
    for i, row in enumerate(LAYERS):
        if name in row:
            return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS in tests/test_layers.py and docs/design.md")


def test_every_module_has_a_layer() -> None:
    units = {unit(m) for m in MODULES if m not in FACE}
    for name in sorted(units):
        layer_of(name)
    assert set(units) == {n for row in LAYERS for n in row}, "LAYERS names a package that does not exist"


def test_top_level_holds_only_the_face_and_the_core() -> None:
    top = {p.stem for p in SRC.glob("*.py")}
    assert top - set(FACE) <= set(CORE), f"modules at the top that are not core: {sorted(top - set(FACE) - set(CORE))}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in FACE))
def test_no_import_goes_up_or_sideways(module: str) -> None:
    mine = unit(module)
    wrong = []
    for name, line in imports(module):
        theirs = unit(name)
        if theirs == mine or name in FACE:
            if name in FACE:
                wrong.append(f"line {line}: {name} (the package's face; import the module itself)")
            continue
        if layer_of(theirs) >= layer_of(mine):
            wrong.append(f"line {line}: {name} ({theirs} is not below {mine})")
    assert not wrong, f"{module} imports " + "; ".join(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk of ``graph`` (module -> the modules it imports) closes."""
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                found.append([*trail[trail.index(n) :], n])
            elif n not in state:
                visit(n, [*trail, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_no_import_cycle() -> None:
    graph = {m: {n for n, _ in imports(m) if n != m} for m in MODULES}
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_checks_catch_what_they_should() -> None:
    """The rules themselves: a cycle and an upward import are found (guards against a test that cannot fail)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert layer_of("storage") > layer_of(unit("sheets.qr")) and layer_of("cli") == len(LAYERS) - 1
    assert unit("sheets.batch") == unit("tabulate") == "core"
    found = dict(imports("cli.results"))
    assert "storage.store" in found and layer_of(unit("storage.store")) < layer_of(unit("cli.results"))
