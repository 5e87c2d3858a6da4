"""RFC 9162 Merkle trees against the published vectors (fixtures/merkle_vectors.json) and by property."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from tallyproof.errors import LedgerError
from tallyproof.official.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    Tree,
    leaf_hash,
    node_hash,
    nodes_read,
    verify_consistency,
    verify_inclusion,
)

V = json.loads((FIXTURES / "merkle_vectors.json").read_text())
LEAVES = [bytes.fromhex(x) for x in V["leaves_hex"]]
ROOTS = {int(k): bytes.fromhex(v) for k, v in V["roots"].items()}
H = bytes.fromhex


def tree_of(n: int) -> MemoryTree:
    return MemoryTree(LEAVES[:n])


def test_hasher_vectors() -> None:
    assert EMPTY_ROOT.hex() == V["hasher"]["empty_root"]
    assert leaf_hash(b"").hex() == V["hasher"]["leaf_empty"]
    assert leaf_hash(b"L123456").hex() == V["hasher"]["leaf_L123456"]
    assert node_hash(b"N123", b"N456").hex() == V["hasher"]["node_N123_N456"]


@pytest.mark.parametrize("n", range(9))
def test_roots_of_the_reference_tree(n: int) -> None:
    assert tree_of(n).tree().root() == ROOTS[n]


@pytest.mark.parametrize("case", V["inclusion"], ids=lambda c: f"{c['index']}-{c['size']}")
def test_inclusion_vectors(case: dict[str, object]) -> None:
    index, size = int(case["index"]), int(case["size"])  # type: ignore[call-overload]
    proof = [H(p) for p in case["proof"]]  # type: ignore[attr-defined]
    assert tree_of(8).tree().inclusion_proof(index, size) == proof
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])


@pytest.mark.parametrize("case", V["consistency"], ids=lambda c: f"{c['size1']}-{c['size2']}")
def test_consistency_vectors(case: dict[str, object]) -> None:
    m, n = int(case["size1"]), int(case["size2"])  # type: ignore[call-overload]
    proof = [H(p) for p in case["proof"]]  # type: ignore[attr-defined]
    assert tree_of(8).tree().consistency_proof(m, n) == proof
    verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


PROOF_0_8 = [H(p) for p in next(c for c in V["inclusion"] if (c["index"], c["size"]) == (0, 8))["proof"]]
PROOF_5_8 = [H(p) for p in next(c for c in V["inclusion"] if (c["index"], c["size"]) == (5, 8))["proof"]]
PROOF_6_8 = [H(p) for p in next(c for c in V["consistency"] if (c["size1"], c["size2"]) == (6, 8))["proof"]]
PROOF_2_5 = [H(p) for p in next(c for c in V["consistency"] if (c["size1"], c["size2"]) == (2, 5))["proof"]]


def test_negative_inclusion_vectors() -> None:
    """MT-4: wrong leaf, index off by one, wrong tree size: each must fail, naming what was computed."""
    with pytest.raises(LedgerError, match=r"computed root .* but expected 5dc9da79"):
        verify_inclusion(b"WrongLeaf", 0, 8, PROOF_0_8, ROOTS[8])
    with pytest.raises(LedgerError, match="computed root"):
        verify_inclusion(leaf_hash(LEAVES[0]), 1, 8, PROOF_0_8, ROOTS[8])
    with pytest.raises(LedgerError, match="too few"):
        verify_inclusion(leaf_hash(LEAVES[5]), 5, 16, PROOF_5_8, ROOTS[8])
    with pytest.raises(LedgerError, match="outside a tree"):
        verify_inclusion(leaf_hash(LEAVES[0]), 8, 8, PROOF_0_8, ROOTS[8])


def test_negative_consistency_vectors() -> None:
    with pytest.raises(LedgerError, match="computed old root"):
        verify_consistency(6, 8, ROOTS[8], ROOTS[6], PROOF_6_8)  # swapped roots
    with pytest.raises(LedgerError, match="too few"):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], PROOF_6_8[:2])  # truncated proof
    with pytest.raises(LedgerError, match="computed new root"):
        verify_consistency(2, 5, ROOTS[2], b"WrongRoot", PROOF_2_5)
    with pytest.raises(LedgerError, match="size 1 is greater than size 0"):
        verify_consistency(1, 0, ROOTS[1], ROOTS[0], [])


def test_single_entry_matching_root_and_leaf_passes() -> None:
    case = V["single_entry"]
    verify_inclusion(H(case["leaf"]), 0, 1, [], H(case["root"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_proof_verifies_and_tampering_is_caught(leaves: list[bytes], data: st.DataObject) -> None:
    log = MemoryTree(leaves)
    tree = log.tree()
    n = len(leaves)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    root = tree.hash(0, size)
    assert root == MemoryTree(leaves[:size]).tree().root()
    proof = tree.inclusion_proof(index, size)
    verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)
    with pytest.raises(LedgerError):
        verify_inclusion(leaf_hash(leaves[index] + b"x"), index, size, proof, root)
    old = data.draw(st.integers(0, size))
    verify_consistency(old, size, tree.hash(0, old), root, tree.consistency_proof(old, size))
    if 0 < old < size:
        forked = MemoryTree([*leaves[: old - 1], leaves[old - 1] + b"!", *leaves[old:size]]).tree().root()
        with pytest.raises(LedgerError):
            verify_consistency(old, size, tree.hash(0, old), forked, tree.consistency_proof(old, size))


@given(st.integers(1, 300), st.data())
def test_nodes_read_names_every_node_a_proof_reads(size: int, data: st.DataObject) -> None:
    memory = MemoryTree([i.to_bytes(4, "big") for i in range(size)])
    full = memory.tree()
    index, old = data.draw(st.integers(0, size - 1)), data.draw(st.integers(0, size))

    def only(wanted: set[tuple[int, int]]) -> Tree:
        def complete(level: int, i: int) -> bytes:
            assert (level, i) in wanted, f"read {(level, i)}, not announced"
            return full.complete(level, i)

        return Tree(size, complete)

    inclusion = nodes_read(size, lambda t: t.inclusion_proof(index))
    assert only(inclusion).inclusion_proof(index) == full.inclusion_proof(index)
    consistency = nodes_read(size, lambda t: t.consistency_proof(old))
    assert only(consistency).consistency_proof(old) == full.consistency_proof(old)
    assert only(nodes_read(size, Tree.root)).root() == full.root()
