"""Merkle tree hashing, proofs and their verification, as in RFC 9162 §2.1 (same hashing as RFC 6962).

* ``MTH({}) = SHA-256()``, leaf ``SHA-256(0x00 ‖ d)``, node ``SHA-256(0x01 ‖ left ‖ right)``;
  a tree of ``n > 1`` leaves splits at ``k``, the largest power of two below ``n`` (§2.1.1).
* Inclusion proofs are ``PATH(m, D[n])`` (§2.1.3.1) and are verified with the iterative
  algorithm of §2.1.3.2; consistency proofs are ``PROOF(m, D[n])`` (§2.1.4.1), verified with
  §2.1.4.2.

A tree is read through :class:`Tree`, which needs only the hashes of *complete* subtrees
(``level`` ``ℓ``, ``index`` ``i`` covers leaves ``[i·2^ℓ, (i+1)·2^ℓ)``): those never change once
the log has grown past them, so a store can keep them and append in O(log n).
:func:`verify_inclusion` and :func:`verify_consistency` raise :class:`~tallyproof.errors.LedgerError`
saying what was expected and what was computed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tallyproof.errors import LedgerError

__all__ = [
    "EMPTY_ROOT",
    "MemoryTree",
    "Tree",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True, slots=True)
class Tree:
    """A log of ``size`` leaves, read through ``complete(level, index)``, the hash of a complete subtree."""

    size: int
    complete: Callable[[int, int], bytes]

    def hash(self, start: int = 0, end: int | None = None) -> bytes:
        """MTH of leaves ``[start, end)``; ``start`` must begin a subtree of the tree's split."""
        end = self.size if end is None else end
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            return self.complete(n.bit_length() - 1, start // n)
        k = _split(n)
        return node_hash(self.hash(start, start + k), self.hash(start + k, end))

    def root(self) -> bytes:
        return self.hash()

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]): the audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise LedgerError(f"no leaf {index} in a tree of {size} (log size {self.size})", where="inclusion proof")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self.hash(start + k, end))
                end = start + k
            else:
                path.append(self.hash(start, start + k))
                start += k
        return path[::-1]

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """PROOF(old, D[new]) of RFC 9162 §2.1.4.1."""
        new = self.size if new is None else new
        if not 0 <= old <= new <= self.size:
            raise LedgerError(f"cannot prove {old} → {new} in a log of {self.size}", where="consistency proof")
        if old in (0, new):
            return []
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.hash(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self.hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.hash(start, start + k)]


def nodes_read(size: int, prove: Callable[[Tree], object]) -> set[tuple[int, int]]:
    """The complete subtrees ``prove`` reads from a tree of ``size`` leaves, found by running it on
    placeholder hashes (which nodes a proof reads depends on the shape alone): a stored log fetches them
    all with one query instead of one query each."""
    seen: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        seen.add((level, index))
        return bytes(32)

    prove(Tree(size, record))
    return seen


class MemoryTree:
    """A log kept in memory: the level lists of complete-subtree hashes, appended in O(log n)."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for data in leaves:
            self.append(data)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, data: bytes) -> int:
        """Add a leaf (its data, hashed here); returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        index = self.size
        self.levels[0].append(h)
        level, i = 0, index
        while i % 2 == 1:  # a right child completes its parent
            parent = node_hash(self.levels[level][i - 1], self.levels[level][i])
            level, i = level + 1, i // 2
            if len(self.levels) == level:
                self.levels.append([])
            self.levels[level].append(parent)
        return index

    def tree(self) -> Tree:
        return Tree(self.size, lambda level, index: self.levels[level][index])


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (a leaf *hash*) is at ``index`` of the tree of ``size`` with ``root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise LedgerError(f"leaf index {index} is outside a tree of size {size}", where="inclusion proof")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise LedgerError(
                f"the proof has {len(proof)} hashes, more than a tree of {size} needs", where="inclusion proof"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise LedgerError(f"the proof has {len(proof)} hashes, too few for a tree of {size}", where="inclusion proof")
    if r != root:
        raise LedgerError(f"computed root {r.hex()} but expected {root.hex()}", where="inclusion proof")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the tree of ``size1`` with ``root1`` (RFC 9162 §2.1.4.2)."""
    if not 0 <= size1 <= size2:
        raise LedgerError(f"size {size1} is greater than size {size2}", where="consistency proof")
    if size1 in (0, size2):
        if proof:
            raise LedgerError(f"a proof from size {size1} to {size2} must be empty", where="consistency proof")
        if size1 == size2 and root1 != root2:
            raise LedgerError(
                f"equal sizes but roots differ: {root1.hex()} and {root2.hex()}", where="consistency proof"
            )
        return
    if not proof:
        raise LedgerError("empty proof", where="consistency proof")
    fr, sr = _consistency_roots(size1, size2, root1, list(proof))
    if fr != root1:
        raise LedgerError(f"computed old root {fr.hex()} but expected {root1.hex()}", where="consistency proof")
    if sr != root2:
        raise LedgerError(f"computed new root {sr.hex()} but expected {root2.hex()}", where="consistency proof")


def _consistency_roots(size1: int, size2: int, root1: bytes, path: list[bytes]) -> tuple[bytes, bytes]:
    """Steps 1-5 of RFC 9162 §2.1.4.2: the old and new roots the proof leads to."""
    count = len(path)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise LedgerError(f"the proof has {count} hashes, more than needed", where="consistency proof")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise LedgerError(f"the proof has {count} hashes, too few", where="consistency proof")
    return fr, sr
