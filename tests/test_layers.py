"""The pure core imports nothing from storage, the CLI or rendering (style guide, point 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tallyproof"
EDGE = ("tallyproof.storage", "tallyproof.cli", "tallyproof.console", "tallyproof.render", "tallyproof.server")
CORE = sorted(
    p
    for p in SRC.rglob("*.py")
    if not any(part in ("storage", "server") for part in p.relative_to(SRC).parts)
    and not p.relative_to(SRC).as_posix().startswith("cli")  # cli.py and its command modules are edges
    and p.relative_to(SRC).as_posix() not in ("console.py", "render.py", "__main__.py", "__init__.py")
)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(SRC)))
def test_core_does_not_import_the_edges(path: Path) -> None:
    leaks = sorted(n for n in imported(path) if n.startswith(EDGE))
    assert not leaks, f"{path.relative_to(SRC)} imports {leaks}"


def test_storage_does_not_import_the_cli() -> None:
    for path in (SRC / "storage").rglob("*.py"):
        assert not {n for n in imported(path) if n.startswith(("tallyproof.cli", "tallyproof.render"))}, path
