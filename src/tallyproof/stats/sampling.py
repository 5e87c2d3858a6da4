"""Reproducible selection of ballots and tables from a public seed, with SHA-256.

Anyone holding the seed can re-derive every sample, in any language, from the recipes below.
Strings are encoded as UTF-8; ``SHA-256`` is FIPS 180-4; ``int(·)`` reads the 32-byte digest as an
unsigned big-endian integer (equivalently, its 64 lowercase hex digits in base 16); ``str(i)`` is the
decimal representation of ``i`` without sign, padding or leading zeros.

**Counter draws** — Rivest's reference sampler (``sampler.py``, version of 14 November 2011)::

    h_i = int(SHA-256(UTF-8(seed + "," + str(i))))          for i = 1, 2, 3, ...
    pick_i = 1 + (h_i mod N)                                  a ticket in 1..N

:func:`draw_with_replacement` returns ``pick_1 .. pick_k``. :func:`draw_without_replacement` walks
``i = 1, 2, …`` and skips any pick already taken, until ``k`` distinct tickets are drawn. Both give the
same first ``k`` tickets whatever the final size, so an audit escalates by drawing more. The output
matches Rivest's published transcript and the test vectors of ``cjerdonek/rivest-sampler-tests``.

**Consistent sampling** of named items (tables, batches) — one priority per item::

    priority(id) = int(SHA-256(UTF-8(seed + "," + id)))

:func:`consistent_order` sorts the items by increasing priority (ties, which need a SHA-256
collision, broken by the id's Unicode code points). The sample of size ``k`` is the first ``k`` items
of that order, so a sample of ``k + m`` extends the sample of ``k``, and removing an item that was
not sampled leaves the sample unchanged (the idea of Rivest's 2018 ``consistent_sampler``, with this
simpler priority in place of its fractional ticket numbers).

**Weighted draws with replacement** (probability proportional to a weight, e.g. PPEB)::

    items sorted by id (Unicode code points); W_j = w_1 + ... + w_j; W = W_n
    pick_i = the first item j with  h_i · W < W_j · 2^256        (h_i as in the counter draws)

that is, ``u_i = h_i / 2^256`` is uniform on ``[0, 1)`` and item ``j`` is chosen when
``W_{j-1}/W ≤ u_i < W_j/W``. The comparison is done in exact rational arithmetic, never in floats.

The modulo reduction and the 256-bit uniforms carry a bias below ``N / 2^256`` — negligible.
The same seed must never be reused for two purposes whose samples are meant to be independent.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from itertools import accumulate, count

from tallyproof.errors import InputError

__all__ = [
    "consistent_order",
    "consistent_sample",
    "draw_weighted",
    "draw_with_replacement",
    "draw_without_replacement",
    "priority",
    "seed_hash",
]

_TWO_256 = 1 << 256


def seed_hash(seed: str, label: str) -> int:
    """``int(SHA-256(UTF-8(seed + "," + label)))``: the one hash every recipe in this module uses."""
    return int.from_bytes(hashlib.sha256(f"{seed},{label}".encode()).digest(), "big")


def priority(seed: str, item: str) -> int:
    """The consistent-sampling priority of ``item``: smaller is drawn earlier."""
    return seed_hash(seed, item)


def _check(seed: str, k: int) -> None:
    if not seed:
        raise InputError("the seed must not be empty", where="seed")
    if k < 0:
        raise InputError(f"cannot draw {k} items", where="k")


def _check_population(population: int) -> None:
    if population < 1:
        raise InputError(f"the population must hold at least one ticket, not {population}", where="population")


def _picks(seed: str, population: int) -> Iterator[int]:
    """Rivest's counter draws ``1 + (h_i mod N)`` for ``i = 1, 2, …``, forever."""
    for i in count(1):
        yield 1 + seed_hash(seed, str(i)) % population


def draw_with_replacement(seed: str, k: int, population: int) -> list[int]:
    """``k`` tickets from ``1..population``, with replacement, in draw order (Rivest's counter draws)."""
    _check(seed, k)
    _check_population(population)
    picks = _picks(seed, population)
    return [next(picks) for _ in range(k)]


def draw_without_replacement(seed: str, k: int, population: int) -> list[int]:
    """``k`` distinct tickets from ``1..population``, in draw order; a repeated pick is skipped."""
    _check(seed, k)
    _check_population(population)
    if k > population:
        raise InputError(f"cannot draw {k} distinct tickets from {population}", where="k")
    seen: set[int] = set()
    drawn: list[int] = []
    for pick in _picks(seed, population):
        if len(drawn) == k:
            break
        if pick not in seen:
            seen.add(pick)
            drawn.append(pick)
    return drawn


def consistent_order(seed: str, items: Iterable[str]) -> list[str]:
    """Every item, by increasing ``priority(seed, item)``; duplicates are rejected."""
    ids = list(items)
    _check(seed, 0)
    if len(set(ids)) != len(ids):
        raise InputError("item ids must be distinct", where="items")
    return sorted(ids, key=lambda item: (priority(seed, item), item))


def consistent_sample(seed: str, items: Iterable[str], k: int) -> list[str]:
    """The first ``k`` items of :func:`consistent_order` (all of them if there are fewer)."""
    if k < 0:
        raise InputError(f"cannot draw {k} items", where="k")
    return consistent_order(seed, items)[:k]


def draw_weighted(seed: str, weights: Mapping[str, int | Fraction], k: int) -> list[str]:
    """``k`` item ids drawn with replacement, each with probability ``weight / total weight``.

    The weights must be non-negative integers or fractions (exact, so the draw is the same everywhere)
    with a positive total; an item of weight zero is never drawn.
    """
    ids = sorted(weights)
    _check(seed, k)
    if not ids or any(weights[i] < 0 for i in ids) or sum(weights[i] for i in ids) <= 0:
        raise InputError("weights must be non-negative with a positive total", where="weights")
    cumulative = [Fraction(w) for w in accumulate(weights[i] for i in ids)]
    total = cumulative[-1]
    drawn = []
    for i in range(1, k + 1):
        u = Fraction(seed_hash(seed, str(i)), _TWO_256) * total
        drawn.append(ids[bisect.bisect_right(cumulative, u)])
    return drawn
