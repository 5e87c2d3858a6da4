"""Reading a copy of the log written by ``tallyproof log export`` or by ``tallyproof mirror`` from a server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tallyproof.election import Election
from tallyproof.errors import CodecError, InputError
from tallyproof.official.bulletin import Bulletin
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.official.verify import KeyBinding, LogProblem, verify_log
from tallyproof.signing import unb64

__all__ = ["LogCopy", "read_copy", "write_copy"]


@dataclass(frozen=True, slots=True)
class LogCopy:
    election: Election
    keys: dict[str, KeyBinding]
    leaves: list[tuple[int, str]]
    checkpoints: list[Checkpoint]
    log_public: bytes
    bulletins: list[Bulletin]

    def verify(self) -> list[LogProblem]:
        return verify_log(self.election, self.leaves, self.checkpoints, self.keys, self.log_public, self.bulletins)


def read_copy(folder: Path) -> LogCopy:
    """Read the five files of a log copy; a malformed line raises an error naming the file and line."""
    election = Election.from_toml(_read(folder / "election.toml"), where=str(folder / "election.toml"))
    return LogCopy(
        election,
        _keys(folder / "keys.csv"),
        _leaves(folder / "leaves.txt"),
        _checkpoints(folder / "checkpoints.txt"),
        unb64(_read(folder / "log.pub").strip(), where=str(folder / "log.pub")),
        _bulletins(folder / "bulletins.txt"),
    )


def _bulletins(path: Path) -> list[Bulletin]:
    """Announced bulletins, one JSON a line (a copy made before bulletins existed has none)."""
    return [Bulletin.from_text(line) for line in _read(path).splitlines() if line.strip()] if path.exists() else []


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", where=str(path)) from None


def _keys(path: Path) -> dict[str, KeyBinding]:
    lines = _read(path).splitlines()
    if not lines or lines[0] != "key_id,table,public,revoked_at":
        raise CodecError("expected the header key_id,table,public,revoked_at", where=f"{path}:1")
    out = {}
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        if len(parts) != 4:
            raise CodecError(f"{len(parts)} fields, expected 4", where=f"{path}:{number}")
        out[parts[0]] = KeyBinding(parts[1], unb64(parts[2], where=f"{path}:{number}"))
    return out


def _leaves(path: Path) -> list[tuple[int, str]]:
    out = []
    for number, line in enumerate(_read(path).splitlines(), start=1):
        index, tab, payload = line.partition("\t")
        if not tab or not index.isdigit():
            raise CodecError("expected <index><TAB><signed sheet>", where=f"{path}:{number}")
        out.append((int(index), payload))
    return out


def _checkpoints(path: Path) -> list[Checkpoint]:
    text = _read(path)
    return [Checkpoint.from_text(block + "\n") for block in text.rstrip("\n").split("\n\n") if block] if text else []


def write_copy(
    folder: Path,
    *,
    election: str,
    keys: Sequence[tuple[str, str, str, str | None]],
    leaves: Sequence[tuple[int, str]],
    checkpoints: str,
    bulletins: str,
    log_public: str,
) -> dict[str, Path]:
    """Write the six files of a log copy (what :func:`read_copy` reads): ``keys`` are
    (key id, table, public key in base64url, revoked at), ``leaves`` (index, payload); the
    checkpoints and bulletins are already in their text forms."""
    files = {
        "election.toml": election,
        "keys.csv": "key_id,table,public,revoked_at\n" + "".join(f"{k},{t},{p},{r or ''}\n" for k, t, p, r in keys),
        "leaves.txt": "".join(f"{i}\t{p}\n" for i, p in leaves),
        "checkpoints.txt": checkpoints,
        "bulletins.txt": bulletins,
        "log.pub": log_public.strip() + "\n",
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(exc.filename or folder)) from None
    return {name: folder / name for name in files}
