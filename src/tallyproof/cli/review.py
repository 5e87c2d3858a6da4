"""The review queue in the terminal: photos no reader could read, transcribed double-blind by people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tallyproof.cli.console import DEFAULT_DB, DbOption, out, write_file
from tallyproof.photos.fields import fields
from tallyproof.photos.fields import payload as transcription
from tallyproof.photos.read import crops as field_crops
from tallyproof.storage.photos import ReviewQueue
from tallyproof.storage.store import Store

review_app = typer.Typer(
    help="Photos no reader could read: double-blind transcription by people.", no_args_is_help=True
)


@review_app.command("list")
def review_list(db: DbOption = DEFAULT_DB) -> None:
    """Photos waiting for review, with why no reader's value was accepted (entries are not shown)."""
    table = Table("Review", "Photo", "Status", "Entries", "Why", title="Review queue", title_justify="left")
    for r in ReviewQueue(Store.sqlite(db)).reviews():
        table.add_row(str(r.id), Text(r.filename), r.status, str(r.entries), Text(r.reason))
    out.print(table)


@review_app.command("photo")
def review_photo(
    review: Annotated[int, typer.Argument(help="The review's number.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to save the photo.")],
    crops: Annotated[
        Path | None,
        typer.Option(help="Also save, in this folder, a PNG of each field OCR located (card-1.png …) or in doubt."),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Save the photo under review, to look at it, and say which fields are in doubt and why."""
    queue = ReviewQueue(Store.sqlite(db))
    photo = queue.photo(review)
    located = queue.fields(review)
    write_file(output, photo)
    out.print(Text(f"Review {review}: photo saved to {output}"))
    for f in located.values():
        if f.doubt:
            out.print(Text(f"  in doubt, {f.field}: {f.doubt}"))
    if crops is not None:
        crops.mkdir(parents=True, exist_ok=True)
        shown = field_crops(photo, {k: f.box for k, f in located.items() if f.box is not None})
        for key, png in shown.items():
            write_file(crops / f"{key}.png", png)
        out.print(Text(f"  {len(shown)} crops saved to {crops}"))


@review_app.command("enter")
def review_enter(
    review: Annotated[int, typer.Argument(help="The review's number.")],
    name: Annotated[str, typer.Option("--as", help="Your name (two different reviewers must agree).")],
    payload: Annotated[
        str | None,
        typer.Option(help="What you read, as a QR payload (acta id!counts!null!blank); else asked field by field."),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Enter your transcription of a photo, without seeing anyone else's."""
    queue = ReviewQueue(Store.sqlite(db))
    if payload is None:
        queue.photo(review)  # an unknown review is said before any typing
        election = queue.store.election()
        payload = transcription({f.key: typer.prompt(f.label) for f in fields(election)}, election)
    decided = queue.enter(review, name, payload)
    said = {
        "open": "recorded; a second reviewer must enter it too",
        "third": "recorded; it does not agree with the other entry, so a third reviewer decides",
        "agreed": "recorded; two reviewers agree, and the copy is imported",
    }
    out.print(Text(f"Review {review}: {said[decided.status]}."))
