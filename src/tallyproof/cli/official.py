"""``tallyproof keys …`` and ``tallyproof log …``: the official side from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tallyproof.cli.console import DEFAULT_DB, DbOption, err, out
from tallyproof.errors import InputError, LedgerError, UnknownError
from tallyproof.official.bulletin import check_bulletin
from tallyproof.official.mirror import read_copy
from tallyproof.official.verify import unsigned_leaves
from tallyproof.signing import PrivateKey, b64, key_id, unb64
from tallyproof.storage.ledger import Ledger
from tallyproof.storage.store import Store

keys_app = typer.Typer(help="Voting machines' signing keys, each bound to one table.", no_args_is_help=True)
log_app = typer.Typer(help="The append-only log of signed tally sheets (RFC 9162).", no_args_is_help=True)

LogKeyOption = Annotated[
    Path,
    typer.Option(
        "--log-key",
        envvar="TALLYPROOF_LOG_KEY",
        help="The log's private signing key (keep it off the public server's disk backups).",
    ),
]


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write a private key readable by its owner only; never overwrite one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError("a key file is already there; refusing to overwrite it", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(path)) from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.to_text() + "\n")


def read_private_key(path: Path) -> PrivateKey:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the key: {exc}", where=str(path)) from None
    return PrivateKey.from_text(text, where=str(path))


@keys_app.command("generate")
def keys_generate(
    table: Annotated[str, typer.Option(help="The table the machine serves, e.g. 010111043.01.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the machine's private key file.")] = Path("."),
    db: DbOption = DEFAULT_DB,
) -> None:
    """Make a key pair for one machine, register its public key for TABLE, write the private key to a file."""
    key = PrivateKey.generate()
    path = out_dir / f"machine-{key_id(key.public)}.key"
    write_private_key(path, key)
    added = Ledger(Store.sqlite(db)).add_key(key.public, table)
    out.print(f"Key {added.key_id} registered for table {added.table}; private key in {escape(str(path))}.")


@keys_app.command("import")
def keys_import(
    file: Annotated[Path, typer.Argument(help="CSV with table,public (public key in base64url).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Register machines' public keys from a file (as published by the electoral body)."""
    ledger = Ledger(Store.sqlite(db))
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(file)) from None
    if not lines or lines[0].strip() != "table,public":
        raise InputError("expected the header table,public", where=f"{file}:1")
    pairs = []
    for number, line in enumerate(lines[1:], start=2):
        table, _, public = line.strip().partition(",")
        pairs.append((unb64(public, where=f"{file}:{number}"), table))
    ledger.add_keys(pairs, where=str(file))
    out.print(f"{len(pairs):,} machine keys registered.")


@keys_app.command("list")
def keys_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table", db: DbOption = DEFAULT_DB
) -> None:
    """The registry of machine keys: key id, table, public key, when added and revoked."""
    keys = Ledger(Store.sqlite(db)).keys()
    rows = [
        {
            "key_id": k.key_id,
            "table": k.table,
            "public": b64(k.public),
            "added_at": k.added_at,
            "revoked_at": k.revoked_at,
            "revoke_reason": k.revoke_reason,
        }
        for k in keys
    ]
    if fmt == "json":
        out.print_json(json.dumps(rows))
        return
    table = Table(
        "Key", "Table", "Public key", "Added", "Revoked", title=f"{len(rows):,} machine keys", title_justify="left"
    )
    for r in rows:
        revoked = f"{r['revoked_at']} ({r['revoke_reason']})" if r["revoked_at"] else ""
        table.add_row(*(Text(str(v)) for v in (r["key_id"], r["table"], r["public"], r["added_at"], revoked)))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id (16 hex digits).")],
    reason: Annotated[str, typer.Option(help="Why, for the public record.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a machine key: sheets it signs from now on are rejected; what it signed before stays logged."""
    revoked = Ledger(Store.sqlite(db)).revoke_key(key, reason)
    out.print(f"Key {revoked.key_id} (table {revoked.table}) revoked at {revoked.revoked_at}.")


@log_app.command("keygen")
def log_keygen(log_key: LogKeyOption = Path("tallyproof-log.key")) -> None:
    """Make the log's signing key (for checkpoints); its public half is printed for publication."""
    key = PrivateKey.generate()
    write_private_key(log_key, key)
    out.print(f"Log key {key_id(key.public)} written to {escape(str(log_key))}; public key {b64(key.public)}")


@log_app.command("submit")
def log_submit(
    files: Annotated[list[Path], typer.Argument(help="Files of signed sheets, one payload a line.")],
    submitter: Annotated[str | None, typer.Option(help="Who transmitted them.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Check and log signed sheets; every line is kept as received, and rejected ones say why."""
    ledger = Ledger(Store.sqlite(db))
    counts = {"logged": 0, "duplicate": 0, "rejected": 0}
    for path in files:
        try:
            lines = [x for x in path.read_bytes().splitlines() if x.strip()]
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from None
        for number, line in enumerate(lines, start=1):
            receipt = ledger.submit(line, submitter=submitter)
            counts[receipt.status] += 1
            if receipt.status == "rejected":
                out.print(Text(f"  {path.name}:{number}: {receipt.reason}", style="yellow"))
            elif receipt.conflict:
                out.print(
                    Text(
                        f"  {path.name}:{number}: logged as leaf {receipt.index}, but its table already had a different sheet",
                        style="yellow",
                    )
                )
    out.print(
        f"{counts['logged']:,} logged, {counts['duplicate']:,} already in the log, {counts['rejected']:,} rejected; the log has {ledger.size():,} sheets."
    )


@log_app.command("checkpoint")
def log_checkpoint(log_key: LogKeyOption = Path("tallyproof-log.key"), db: DbOption = DEFAULT_DB) -> None:
    """Sign and publish a checkpoint of the log as it is now (size, root, time)."""
    cp = Ledger(Store.sqlite(db)).checkpoint(read_private_key(log_key))
    out.print(Text(cp.to_text().rstrip("\n")))


@log_app.command("prove")
def log_prove(
    table: Annotated[str, typer.Argument(help="Table id.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Each logged sheet of TABLE with its leaf index and inclusion proof in the current log."""
    ledger = Ledger(Store.sqlite(db))
    size = ledger.size()
    entries = ledger.entries(0, size, table=table)
    if not entries:
        raise InputError("no logged sheet for this table", where=f"table {table}")
    root = ledger.root(size).hex()
    result = [
        {
            "index": e["idx"],
            "size": size,
            "root": root,
            "payload": e["payload"],
            "conflict": bool(e["conflict"]),
            "proof": [h.hex() for h in ledger.inclusion_proof(e["idx"], size)],
        }
        for e in entries
    ]
    out.print_json(json.dumps(result))


@log_app.command("export")
def log_export(
    folder: Annotated[Path, typer.Argument(help="Folder for the copy (created if needed).")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a copy of the log anyone can check offline: definition, keys, leaves, checkpoints, log key."""
    paths = Ledger(Store.sqlite(db)).export(folder)
    out.print(f"Log copied to {escape(str(folder))} ({', '.join(p.name for p in paths.values())}).")


def verify_log_command(
    source: Annotated[
        str, typer.Argument(help="A copy of the log (a folder) or a server's URL (mirrored to a temporary folder).")
    ],
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Check every leaf's signature and key binding, recompute the tree, and check every checkpoint against it."""
    if source.startswith(("http://", "https://")):
        import tempfile

        from tallyproof.web.client import mirror

        folder = Path(tempfile.mkdtemp(prefix="tallyproof-mirror-"))
        mirror(source, folder)
    else:
        folder = Path(source)
    copy = read_copy(folder)
    problems = copy.verify()
    if fmt == "json":
        out.print_json(
            json.dumps(
                {
                    "leaves": len(copy.leaves),
                    "checkpoints": len(copy.checkpoints),
                    "problems": [str(p) for p in problems],
                }
            )
        )
    else:
        for p in problems:
            out.print(Text(str(p), style="red"))
        verdict = "the log is consistent" if not problems else f"{len(problems):,} problems"
        out.print(f"{len(copy.leaves):,} leaves, {len(copy.checkpoints):,} checkpoints: {verdict}.")
        unsigned = unsigned_leaves(copy.election, copy.leaves)
        if unsigned:
            out.print(
                f"{len(unsigned):,} leaves are unsigned 2024-style payloads: their counts are in the log, their origin cannot be checked."
            )
    if problems:
        raise typer.Exit(LedgerError.exit_code)


def serve_command(
    log_key: LogKeyOption = Path("tallyproof-log.key"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes; signatures are checked on all of them.")] = 1,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Run the central server: machines POST signed sheets to /v1/sheets; the log is public; docs at /docs."""
    import uvicorn

    Store.sqlite(db, server=True)  # fails here, with a clear message, if the store is not usable
    read_private_key(log_key)
    os.environ["TALLYPROOF_DB"], os.environ["TALLYPROOF_LOG_KEY"] = str(db.resolve()), str(log_key.resolve())
    out.print(f"Serving {escape(str(db))} on http://{host}:{port} with {workers} worker(s) (API docs at /docs)")
    uvicorn.run(
        "tallyproof.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def mirror_command(
    url: Annotated[str, typer.Argument(help="The server, e.g. http://127.0.0.1:8000.")],
    folder: Annotated[Path, typer.Argument(help="Folder for the copy.")],
) -> None:
    """Keep an offline copy of a server's log (then check it with `tallyproof verify-log FOLDER`)."""
    from tallyproof.web.client import mirror

    mirror(url, folder)
    copy = read_copy(folder)
    out.print(
        f"Mirrored {len(copy.leaves):,} leaves and {len(copy.checkpoints):,} checkpoints into {escape(str(folder))}."
    )


@log_app.command("bulletin")
def log_bulletin(log_key: LogKeyOption = Path("tallyproof-log.key"), db: DbOption = DEFAULT_DB) -> None:
    """Announce the result so far: a signed checkpoint and the tabulation of exactly the sheets it covers."""
    store = Store.sqlite(db)
    bulletin = Ledger(store).bulletin(read_private_key(log_key))
    out.print(Text(bulletin.headline(store.election())))
    out.print(
        f"Derived from the first {bulletin.checkpoint.size:,} sheets of the log (root {bulletin.checkpoint.root.hex()[:16]}…); anyone can recompute it with `tallyproof verify-log`."
    )


def transmit_command(
    url: Annotated[str, typer.Argument(help="The server, e.g. http://127.0.0.1:8000.")],
    files: Annotated[
        list[Path], typer.Argument(help="Files of signed sheets, one a line (as machines would send them).")
    ],
    parallel: Annotated[int, typer.Option(min=1, help="Transmissions under way at once.")] = 32,
) -> None:
    """Send signed sheets to a server over HTTP, like the voting machines do on election night."""
    import time

    from tallyproof.web.client import transmit

    payloads: list[str] = []
    for path in files:
        try:
            payloads += [
                line for line in path.read_text(encoding="ascii", errors="replace").splitlines() if line.strip()
            ]
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from None
    started = time.monotonic()
    with err.status(f"Transmitting {len(payloads):,} signed sheets"):
        counts = transmit(url, payloads, parallel=parallel)
    elapsed = time.monotonic() - started
    out.print(
        f"{counts['logged']:,} logged, {counts['duplicate']:,} already in the log, {counts['rejected']:,} rejected, "
        f"{counts['failed']:,} unanswered in {elapsed:.1f} s ({len(payloads) / max(elapsed, 1e-9):,.0f} sheets/s)."
    )
    if counts["failed"] or counts["rejected"]:
        raise typer.Exit(InputError.exit_code)


def bulletin_command(
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    db: DbOption = DEFAULT_DB,
) -> None:
    """The latest bulletin announced: its headline, the checkpoint it rests on, and whether it equals its sheets."""
    store = Store.sqlite(db)
    ledger = Ledger(store)
    announced = ledger.bulletins()
    if not announced:
        raise UnknownError("no bulletin has been announced; announce one with `tallyproof log bulletin`", where=str(db))
    latest = announced[-1]
    payloads = [e["payload"] for e in ledger.entries(0, latest.checkpoint.size)]
    differences = check_bulletin(latest, store.election(), payloads)
    if fmt == "json":
        out.print_json(json.dumps({"bulletin": json.loads(latest.to_text()), "differences": differences}))
    else:
        out.print(Text(latest.headline(store.election())))
        out.print(
            f"Announced with checkpoint {latest.checkpoint.size:,} at {latest.checkpoint.time:%Y-%m-%d %H:%M} UTC."
        )
        for d in differences:
            out.print(Text(f"  {d}", style="red"))
        out.print(
            "It equals the tabulation of its sheets."
            if not differences
            else "[red]It does not equal the tabulation of its sheets.[/]"
        )
    if differences:
        raise typer.Exit(LedgerError.exit_code)


@log_app.command("slip")
def log_slip(
    file: Annotated[Path, typer.Argument(help="A file of signed sheets, one a line.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="slip.png or slip.pdf.")],
    line: Annotated[int, typer.Option(min=1, help="Which line of FILE.")] = 1,
    election: Annotated[str, typer.Option(help="The election definition the sheet is signed for.")] = "ve2024",
) -> None:
    """Print a signed sheet as a slip laid out like an acta, with its QR code (PNG or PDF)."""
    from tallyproof.election import load_election
    from tallyproof.sheets.signed import SignedSheet
    from tallyproof.sheets.slip import write_slip

    definition = load_election(election)
    try:
        lines = file.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(file)) from None
    if line > len(lines):
        raise InputError(f"the file has {len(lines)} lines", where="--line")
    write_slip(definition, SignedSheet.from_text(lines[line - 1], definition), output)
    out.print(f"Slip written to {escape(str(output))}.")
