"""``tallyproof simulate``: a seeded synthetic election, with signing machines and a scenario on request."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tallyproof.cli.console import err, out, progress
from tallyproof.election import load_election
from tallyproof.errors import InputError


def simulate(
    tables: Annotated[int, typer.Option(help="Number of voting tables.")] = 30_026,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same election.")] = 1,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for registry.csv and sheets.csv.")] = Path(
        "simulated"
    ),
    election: Annotated[str, typer.Option(help="Election definition whose shape to follow.")] = "ve2024",
    signed: Annotated[
        bool, typer.Option(help="Also write machines.csv (public keys) and signed.txt (signed sheets).")
    ] = False,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Also play a manipulation scenario (honest, announced, altered, stuffing, fabricated or expelled): "
            "official.csv, witness.csv, paper.csv (the receipts in the boxes, counted), announcement.toml and its ground truth, truth.json."
        ),
    ] = None,
    cvrs: Annotated[
        bool,
        typer.Option(
            help="With --scenario: also write cvrs.csv, the machines' cast vote records (they agree with official.csv), "
            "for a ballot-level comparison audit."
        ),
    ] = False,
) -> None:
    """Write a synthetic national election: registry.csv and sheets.csv (generic CSV, with cards)."""
    if tables < 1:
        raise InputError("needs at least one table", where="--tables")
    from tallyproof.simulation import election as sim  # numpy-heavy; loaded only here
    from tallyproof.simulation import scenarios

    if scenario is not None:
        scenarios.check_scenario(scenario, where="--scenario")
    elif cvrs:
        raise InputError("the machines' records belong to a scenario: add --scenario", where="--cvrs")
    definition = load_election(election)
    with progress("Simulating") as bar:
        task = bar.add_task("simulate", total=tables)
        result = sim.simulate(definition, tables=tables, seed=seed)
        paths = sim.write(result, output, progress=lambda n: bar.update(task, completed=n))
    out.print(f"{tables:,} tables (seed {seed}): {paths['registry']} and {paths['sheets']}")
    if signed:
        from tallyproof.simulation.machines import write_signed

        with err.status("Signing every table's sheet with its machine's key"):
            more = write_signed(result, output)
        out.print(f"Machine keys in {more['machines']}; signed sheets in {more['signed']}")
    if scenario is not None:
        with err.status(f"Playing scenario {scenario}"):
            files = scenarios.write_scenario(scenarios.scenario(result, scenario, seed=seed), output, cvrs=cvrs)
        published = f"{files['official']}, {files['witness']} and {files['announcement']}"
        truth = f"ground truth in {files['truth']}, the paper in the boxes in {files['paper']}"
        out.print(f"Scenario {scenario} (seed {seed}): {published}; {truth}", soft_wrap=True)
        if cvrs:
            out.print(f"The machines' cast vote records in {files['cvrs']}", soft_wrap=True)
