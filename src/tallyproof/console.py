"""The command line's two consoles: results on standard output, progress and errors on standard error."""

from rich.console import Console

out = Console()
err = Console(stderr=True)
