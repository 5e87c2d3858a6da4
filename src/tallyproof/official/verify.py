"""Checking a whole log from a copy of it: every leaf, every signature and key binding, every checkpoint.

:func:`verify_log` recomputes the RFC 9162 tree from the leaves it is given and compares each
signed checkpoint with it; it returns every problem as a :class:`LogProblem` rather than stopping at
the first, so an observer sees all of them. An empty list means the copy is consistent: each
checkpoint's root is the root of the first ``size`` leaves (so each checkpoint extends the previous
one), and every leaf is a correctly signed sheet from the machine key bound to its table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tallyproof.election import Election
from tallyproof.errors import TallyproofError
from tallyproof.official.bulletin import Bulletin, check_bulletin
from tallyproof.official.checkpoint import Checkpoint
from tallyproof.official.merkle import MemoryTree
from tallyproof.sheets.qr import from_qr, looks_like_qr, to_qr
from tallyproof.sheets.signed import SignedSheet

__all__ = ["KeyBinding", "LogProblem", "unsigned_leaves", "verify_log"]


@dataclass(frozen=True, slots=True)
class KeyBinding:
    table: str
    public: bytes


@dataclass(frozen=True, slots=True)
class LogProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def verify_log(
    election: Election,
    leaves: Sequence[tuple[int, str]],
    checkpoints: Sequence[Checkpoint],
    keys: Mapping[str, KeyBinding],
    log_public: bytes,
    bulletins: Sequence[Bulletin] = (),
) -> list[LogProblem]:
    """Every problem in a copy of the log: ``leaves`` are (index, payload) as served, in order;
    each bulletin's checkpoint is checked like the others, and its figures against its sheets."""
    problems = _numbering(leaves)
    for index, payload in leaves:
        problems += _leaf(election, index, payload, keys)
    tree = MemoryTree()
    for _, payload in leaves:
        tree.append(payload.encode("utf-8", "surrogateescape"))
    problems += _checkpoints(election, [*checkpoints, *(b.checkpoint for b in bulletins)], tree, log_public)
    payloads = [p for _, p in leaves]
    for b in bulletins:
        where = f"bulletin at size {b.checkpoint.size}"
        try:
            b.verify(log_public)
        except TallyproofError as exc:
            problems.append(LogProblem(where, f"not signed by the log's key: {exc}"))
        problems += [
            LogProblem(where, f"{m}: not derived from the published sheets")
            for m in check_bulletin(b, election, payloads)
        ]
    return problems


def _numbering(leaves: Sequence[tuple[int, str]]) -> list[LogProblem]:
    out = []
    for position, (index, _) in enumerate(leaves):
        if index != position:
            out.append(
                LogProblem(f"leaf {position}", f"served as leaf {index}: leaves are missing, repeated or out of order")
            )
            break
    return out


def unsigned_leaves(election: Election, leaves: Sequence[tuple[int, str]]) -> list[int]:
    """Leaves that are unsigned 2024-style QR payloads: logged as such, their origin cannot be checked."""
    return [i for i, p in leaves if looks_like_qr(p) and _decodes_as_qr(p, election)]


def _decodes_as_qr(payload: str, election: Election) -> bool:
    try:
        return to_qr(from_qr(payload, election)) == payload
    except TallyproofError:
        return False


def _leaf(election: Election, index: int, payload: str, keys: Mapping[str, KeyBinding]) -> list[LogProblem]:
    where = f"leaf {index}"
    if looks_like_qr(payload):
        return (
            [] if _decodes_as_qr(payload, election) else [LogProblem(where, "an unsigned payload that does not decode")]
        )
    try:
        sheet = SignedSheet.from_text(payload, election)
    except TallyproofError as exc:
        return [LogProblem(where, f"not a signed sheet: {exc}")]
    where = f"leaf {index} (table {sheet.sheet.table})"
    binding = keys.get(sheet.machine)
    if binding is None:
        return [LogProblem(where, f"signed by key {sheet.machine}, which is not in the published key registry")]
    if binding.table != sheet.sheet.table:
        return [
            LogProblem(
                where,
                f"signed by key {sheet.machine}, which is bound to table {binding.table}: a sheet replayed as another table's",
            )
        ]
    try:
        sheet.verify(binding.public)
    except TallyproofError:
        return [
            LogProblem(
                where, f"the signature does not verify with key {sheet.machine}: the sheet was altered or forged"
            )
        ]
    return []


def _checkpoints(
    election: Election, checkpoints: Sequence[Checkpoint], tree: MemoryTree, log_public: bytes
) -> list[LogProblem]:
    out: list[LogProblem] = []
    seen: dict[int, bytes] = {}
    view = tree.tree()
    for cp in checkpoints:
        where = f"checkpoint of size {cp.size} ({cp.time:%Y-%m-%dT%H:%M:%SZ})"
        try:
            cp.verify(log_public)
        except TallyproofError as exc:
            out.append(LogProblem(where, f"not signed by the log's key: {exc}"))
        if cp.election != election.id:
            out.append(LogProblem(where, f"is for election {cp.election}, not {election.id}"))
        if cp.size in seen and seen[cp.size] != cp.root:
            out.append(
                LogProblem(
                    where,
                    f"fork: another checkpoint of the same size has root {seen[cp.size].hex()}, this one {cp.root.hex()}",
                )
            )
        seen.setdefault(cp.size, cp.root)
        if cp.size > tree.size:
            out.append(LogProblem(where, f"the copy has only {tree.size} leaves: leaves are missing"))
            continue
        computed = view.hash(0, cp.size)
        if computed != cp.root:
            out.append(
                LogProblem(
                    where, f"root {cp.root.hex()} but its {cp.size} leaves give {computed.hex()}: the log was rewritten"
                )
            )
    return out
