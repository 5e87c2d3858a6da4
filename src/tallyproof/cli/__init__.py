"""The ``tallyproof`` command: parse options, call the library, print. Errors are handled once, by the app's group class (:class:`_Errors`)."""

from __future__ import annotations

import typer
from rich.markup import escape
from typer.core import TyperGroup

from tallyproof.cli import results
from tallyproof.cli.audit import audit_app
from tallyproof.cli.console import err
from tallyproof.cli.estimates import estimate_command, quick_count_command
from tallyproof.cli.forensics import forensics_command
from tallyproof.cli.independent import (
    accounts_app,
    check_copy_command,
    feasibility_command,
    read_command,
    reconcile_command,
    report_command,
    submit_command,
)
from tallyproof.cli.official import (
    bulletin_command,
    keys_app,
    log_app,
    mirror_command,
    serve_command,
    transmit_command,
    verify_log_command,
)
from tallyproof.cli.review import review_app
from tallyproof.cli.simulation import simulate
from tallyproof.errors import TallyproofError


class _Errors(TyperGroup):
    """Handles every :class:`TallyproofError` once: a message naming where, and the error's exit code."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TallyproofError as exc:
            err.print(f"[red]error:[/] {escape(exc.diagnostics())}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    help="Election results verifiable from the tally sheets up.",
    no_args_is_help=True,
    add_completion=False,
    cls=_Errors,
)
app.add_typer(results.registry_app, name="registry")
app.add_typer(keys_app, name="keys")
app.add_typer(log_app, name="log")
app.command("verify-log")(verify_log_command)
app.command("serve")(serve_command)
app.command("mirror")(mirror_command)
app.command("transmit")(transmit_command)
app.command("bulletin")(bulletin_command)
app.command("feasibility")(feasibility_command)
app.command("reconcile")(reconcile_command)
app.command("estimate")(estimate_command)
app.command("quick-count")(quick_count_command)
app.command("submit")(submit_command)
app.command("check-copy")(check_copy_command)
app.command("report")(report_command)
app.command("forensics")(forensics_command)
app.command("read")(read_command)
app.add_typer(accounts_app, name="accounts")
app.add_typer(review_app, name="review")
app.add_typer(audit_app, name="audit")
app.command()(results.init)
app.command("import")(results.import_)
app.command()(results.tabulate)
app.command()(results.show)
app.command()(results.compare)
app.command()(results.export)
app.command()(results.rejects)
app.command()(results.findings)
app.command()(simulate)


def main() -> None:
    """Entry point of the ``tallyproof`` command."""
    app()
