"""The documentation says what the code does: every command is documented, the reference is current,
the public API is pinned."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

import tallyproof
from tallyproof.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / "docs"))
import cli_reference  # noqa: E402


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
        assert f"### `tallyproof {' '.join(words)}`" in README


def test_the_readme_reference_is_current() -> None:
    """The equivalent of `cog --check README.md`: regenerate with `make docs`."""
    assert cli_reference.reference() in README


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
