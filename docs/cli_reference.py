"""Generate docs/cli.md, the command reference, from the commands' own ``--help``.

Run ``python docs/cli_reference.py`` (``make docs`` does) to write it; ``tests/test_docs.py`` imports
:func:`page` and fails when the file is stale.
"""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from tallyproof.cli import app

COMMANDS = [
    [],
    ["init"],
    ["import"],
    ["registry", "import"],
    ["registry", "derive"],
    ["registry", "export"],
    ["tabulate"],
    ["show"],
    ["compare"],
    ["export"],
    ["rejects"],
    ["findings"],
    ["simulate"],
    ["keys", "generate"],
    ["keys", "import"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["log", "keygen"],
    ["log", "submit"],
    ["log", "checkpoint"],
    ["log", "prove"],
    ["log", "bulletin"],
    ["log", "export"],
    ["log", "slip"],
    ["verify-log"],
    ["serve"],
    ["mirror"],
    ["transmit"],
    ["bulletin"],
    ["feasibility"],
    ["reconcile"],
    ["estimate"],
    ["quick-count"],
    ["audit", "plan"],
    ["audit", "record"],
    ["audit", "status"],
    ["audit", "draws"],
    ["audit", "extend"],
    ["audit", "count-paper"],
    ["accounts", "add"],
    ["accounts", "list"],
    ["accounts", "assign"],
    ["accounts", "discount"],
    ["submit"],
    ["check-copy"],
    ["report"],
    ["forensics"],
    ["read"],
    ["review", "list"],
    ["review", "photo"],
    ["review", "enter"],
]


def help_text(words: list[str]) -> str:
    env = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "TALLYPROOF_DB": ""}
    old = {k: os.environ.get(k) for k in env}
    result = CliRunner().invoke(app, [*words, "--help"], env=env, prog_name="tallyproof")
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
    if result.exit_code != 0:
        raise RuntimeError(f"tallyproof {' '.join(words)} --help failed: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip().splitlines())


def reference() -> str:
    parts = []
    for words in COMMANDS:
        title = " ".join(["tallyproof", *words])
        parts.append(f"### {title}\n\n```text\n{help_text(words)}\n```\n")
    return "\n".join(parts)


PATH = Path(__file__).resolve().parent / "cli.md"
INTRO = """# Command reference

Every command of `tallyproof`, with the help it prints (`tallyproof COMMAND --help`). This page is generated
from that help by `docs/cli_reference.py` (`make docs`); a test fails when it is stale.
"""


def page() -> str:
    return f"{INTRO}\n{reference()}"


if __name__ == "__main__":
    PATH.write_text(page(), encoding="utf-8")
    print(f"wrote {PATH}")
