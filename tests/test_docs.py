"""The documentation says what the code does: every command is documented, the generated pages (the
command reference, the package picture) are current, the README stays short, the public API is pinned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

import tallyproof
from tallyproof.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CLI_PAGE = ROOT / "docs" / "cli.md"
sys.path.insert(0, str(ROOT / "docs"))
import cli_reference  # noqa: E402
import packages_svg  # noqa: E402


def commands(group: typer.Typer = app, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    out = [((*prefix, c.name or c.callback.__name__), c.callback) for c in group.registered_commands]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        out += commands(sub.typer_instance, (*prefix, sub.name or ""))  # type: ignore[arg-type]
    return out


def test_every_command_has_help_and_is_in_the_reference() -> None:
    documented = {tuple(words) for words in cli_reference.COMMANDS}
    for words, callback in commands():
        assert callback.__doc__ and callback.__doc__.strip(), f"tallyproof {' '.join(words)} has no help"  # type: ignore[attr-defined]
        assert words in documented, f"tallyproof {' '.join(words)} is missing from docs/cli_reference.py"
        assert f"### tallyproof {' '.join(words)}\n" in CLI_PAGE.read_text(encoding="utf-8")


def test_the_command_reference_is_current() -> None:
    assert CLI_PAGE.read_text(encoding="utf-8") == cli_reference.page(), "docs/cli.md is stale: run make docs"


def test_the_package_picture_is_current() -> None:
    drawn = (ROOT / "docs" / "packages.svg").read_text(encoding="utf-8")
    assert drawn == packages_svg.svg(), "docs/packages.svg is stale: run make docs"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``make docs`` in a test: MkDocs with ``--strict``, so a broken link or anchor fails the suite."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.exists(), "mkdocs is not installed: pip install -e '.[dev]' brings mkdocs-material"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    page = (tmp_path / "site" / "design.html").read_text(encoding="utf-8")
    assert "packages.svg" in page and "fonts.googleapis" not in page


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move the detail into docs/"


def test_every_option_and_argument_has_help() -> None:
    root = typer.main.get_command(app)
    seen: list[str] = []

    def walk(command: object, path: str) -> None:
        for param in getattr(command, "params", []):
            if param.name != "help":
                assert getattr(param, "help", None), f"{path}: {param.name} has no help"
                seen.append(f"{path} {param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "tallyproof")
    assert "tallyproof tabulate by" in seen and len(seen) > 20


def test_public_api_is_pinned() -> None:
    assert tallyproof.__all__ == sorted(tallyproof.__all__)
    assert tallyproof.__all__ == [
        "Candidate",
        "Card",
        "CodecError",
        "Election",
        "ElectionDefinitionError",
        "Finding",
        "InputError",
        "Source",
        "StorageError",
        "Store",
        "Tabulation",
        "TallySheet",
        "TallyproofError",
        "UnknownError",
        "check",
        "derive_registry",
        "from_qr",
        "import_file",
        "import_registry",
        "load_election",
        "tabulate",
        "to_qr",
    ]
    for name in tallyproof.__all__:
        assert getattr(tallyproof, name) is not None


def test_the_error_tree_in_the_docstring_matches_the_classes() -> None:
    from tallyproof import errors

    for name in errors.__all__:
        assert name in (errors.__doc__ or ""), name
        assert issubclass(getattr(errors, name), errors.TallyproofError)
