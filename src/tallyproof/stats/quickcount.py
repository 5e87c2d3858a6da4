"""A quick count: the sample of tables it needs for a target margin of error, and its draw from a public seed.

**Design** (Cochran 1977, *Sampling Techniques*, 3rd ed., §4.4, §5.9). For a target half-width ``d`` at
confidence ``1 − α``: ``n₀ = z² S²_w / d²`` and ``n = n₀ / (1 + n₀ / N)``, with
``S²_w = Σ_h W_h S²_h(e) / V̄²`` (``W_h = N_h / N``, ``V̄`` valid votes per table, ``S²_h`` the population
variance in stratum ``h`` of the estimator's residual ``e``, :mod:`tallyproof.stats.estimate`): the variance
of the estimator under proportional allocation. For one voter per table it is Krejcie and Morgan's (1970,
*Educ. Psychol. Meas.* 30) ``n = z² N P(1 − P) / (d² (N − 1) + z² P(1 − P))``. The design effect compares
with a simple random sample of ``n V̄`` voters. ``S²_h`` needs results for every table, which are unknown
before the count: a previous election's, or a simulation's, stand in for them.

**Draw** (:func:`quick_count_sample`): proportional allocation by largest remainder, then in each stratum
the first tables in the consistent-sampling order of :mod:`tallyproof.stats.sampling` for a seed announced
before the count, so anyone can re-derive the sample; :func:`to_csv` writes it, :func:`from_csv` reads it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tallyproof.errors import CodecError, InputError
from tallyproof.geography import Geography
from tallyproof.stats.estimate import Coverage, Method, check_method, group_sums, normal_quantile
from tallyproof.stats.sampling import consistent_order

__all__ = [
    "Design",
    "Plan",
    "allocate",
    "design",
    "from_csv",
    "plan",
    "quick_count_sample",
    "sample_size",
    "to_csv",
]


@dataclass(frozen=True, slots=True)
class Design:
    """A quick-count sample size for a target margin of error (module docstring)."""

    confidence: float
    margin_of_error: float
    target: str
    """``share`` (every candidate's share) or ``margin`` (the leader's lead over the runner-up)."""
    candidate: int
    """The candidate whose share (or the leader, for the margin) needs the largest sample."""
    unit_variance: float
    """``S²_w``: the estimator's variance times ``n``, before the finite population correction."""
    design_effect: float
    """``S²_w`` over the variance of the same quantity in a simple random sample of ``V̄`` voters."""
    n0: float
    sample_size: int
    allocation: tuple[tuple[str, int], ...]
    """Tables per stratum (proportional, see :func:`allocate`); may add up to more than ``sample_size``."""


def _check_margin(margin_of_error: float) -> None:
    if not 0 < margin_of_error < 1:
        raise InputError(f"must be a share strictly between 0 and 1, got {margin_of_error}", where="margin_of_error")


def sample_size(
    unit_variance: float, *, margin_of_error: float, confidence: float = 0.95, population: int | None = None
) -> int:
    """``n₀ = z² S² / d²``, then ``n = n₀ / (1 + n₀ / N)`` when the population ``N`` is given (Cochran §4.4).

    ``unit_variance`` is ``S²`` per table in share units, e.g. ``deff · P (1 − P) / V̄``.
    """
    _check_margin(margin_of_error)
    if not unit_variance >= 0:
        raise InputError(f"must be at least 0, got {unit_variance}", where="unit_variance")
    n0 = normal_quantile(confidence) ** 2 * unit_variance / margin_of_error**2
    n = n0 if population is None else n0 / (1 + n0 / population)
    return math.ceil(round(n, 9))


def _contrast(y: np.ndarray, p: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Columns to size for, their national shares, the voter-level variance of each, and their candidate."""
    if target == "share":
        return y, p, p * (1 - p), np.arange(p.size)
    if target != "margin":
        raise InputError(f"must be 'share' or 'margin', got {target!r}", where="target")
    a, b = (int(k) for k in np.argsort(-p, kind="stable")[:2])
    m = p[a] - p[b]
    return (y[:, a] - y[:, b])[:, None], np.array([m]), np.array([p[a] + p[b] - m**2]), np.array([a])


def design(
    strata: np.ndarray,
    registered: np.ndarray,
    votes: np.ndarray,
    valid: np.ndarray,
    *,
    margin_of_error: float,
    confidence: float = 0.95,
    target: str = "share",
    method: Method = "separate",
    minimum: int = 2,
) -> Design:
    """The sample of tables a quick count needs, from per-table results of *every* table of the registry.

    Those results are a stand-in for the unknown ones (a previous election, a simulation): ``S²_h`` is their
    population variance of the estimator's residual in stratum ``h`` (module docstring). Assumes stratified
    simple random sampling with proportional allocation and the normal approximation.
    """
    _check_margin(margin_of_error)
    check_method(method)
    cov = Coverage.of(strata, registered, np.arange(np.asarray(strata).size), votes, valid)
    c, pc, voter_var, who = _contrast(cov.votes, cov.votes.sum(axis=0) / cov.valid.sum(), target)
    unit = _unit_variance(cov, c - pc * cov.valid[:, None], method)
    k = int(np.argmax(unit))
    n = sample_size(float(unit[k]), margin_of_error=margin_of_error, confidence=confidence, population=cov.valid.size)
    return Design(
        confidence=confidence,
        margin_of_error=margin_of_error,
        target=target,
        candidate=int(who[k]),
        unit_variance=float(unit[k]),
        design_effect=float(unit[k] * cov.valid.mean() / voter_var[k]) if voter_var[k] > 0 else math.nan,
        n0=normal_quantile(confidence) ** 2 * float(unit[k]) / margin_of_error**2,
        sample_size=n,
        allocation=allocate(cov.strata, n, minimum=minimum),
    )


def _unit_variance(cov: Coverage, u: np.ndarray, method: Method) -> np.ndarray:
    """``Σ_h W_h S²_h(e) / V̄²`` for each column of ``u = c − P v``, every table's results known."""
    _, h = np.unique(cov.strata, return_inverse=True)
    size, x = int(h.max()) + 1, cov.registered
    if method == "separate":  # e = u − (U_h / X_h) x; for the combined estimate U / X = 0, so e = u
        sx = np.bincount(h, weights=x, minlength=size)[:, None]
        u = u - np.divide(group_sums(u, h, size), sx, out=np.zeros((size, u.shape[1])), where=sx > 0)[h] * x[:, None]
    count = np.bincount(h, minlength=size).astype(np.float64)[:, None]
    ss = group_sums((u - (group_sums(u, h, size) / count)[h]) ** 2, h, size)
    s2 = np.divide(ss, count - 1, out=np.zeros_like(ss), where=count > 1)
    out: np.ndarray = (count / h.size * s2).sum(axis=0) / cov.valid.mean() ** 2
    return out


def allocate(strata: np.ndarray, n: int, *, minimum: int = 2) -> tuple[tuple[str, int], ...]:
    """Tables per stratum for a sample of ``n``: proportional to the stratum's tables, by largest remainder.

    ``n N_h / N`` rounded down, the tables left over given one each to the strata with the largest
    fractions (ties: the stratum whose label sorts first), then each raised to ``min(minimum, N_h)`` so that
    a variance can be estimated everywhere. Labels are ``str`` of the sorted distinct labels.
    """
    labels, counts = np.unique(np.asarray(strata), return_counts=True)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= counts.sum():
        raise InputError(f"must be a whole number from 0 to {counts.sum()}, got {n!r}", where="n")
    quota = n * counts / counts.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.lexsort((np.arange(labels.size), -(quota - base)))
    base[order[: n - int(base.sum())]] += 1
    out = np.minimum(np.maximum(base, minimum), counts)
    return tuple((str(label), int(k)) for label, k in zip(labels, out, strict=True))


def quick_count_sample(
    table_ids: Sequence[str], strata: np.ndarray, n: int, *, seed: str, minimum: int = 2
) -> np.ndarray:
    """Registry positions (ascending) of a stratified sample of about ``n`` tables drawn from a public ``seed``.

    Recipe, reproducible by anyone: allocate ``n`` with :func:`allocate`; in each stratum order the tables by
    ``int(SHA-256(UTF-8(seed + "," + table_id)))`` (the digest as a big-endian integer, i.e. its 64 lowercase
    hex digits in order; ties by table id): :func:`tallyproof.stats.sampling.consistent_order`. Take the
    first ``n_h``. A larger ``n_h`` extends the smaller sample of the same stratum.
    """
    ids = np.asarray([str(t) for t in table_ids])
    strata = np.asarray(strata)
    if ids.shape != strata.shape or np.unique(ids).size != ids.size:
        raise InputError("needs one distinct table id per stratum label", where="table_ids")
    if not seed:
        raise InputError("the seed must not be empty", where="seed")
    _, h = np.unique(strata, return_inverse=True)
    want = np.array([k for _, k in allocate(strata, n, minimum=minimum)])
    return _draw(ids, h, want, seed)


def _draw(ids: np.ndarray, h: np.ndarray, want: np.ndarray, seed: str) -> np.ndarray:
    """The first ``want[k]`` tables of each stratum ``k`` in :func:`~tallyproof.stats.sampling.consistent_order`."""
    by_stratum = np.argsort(h, kind="stable")
    bounds = np.searchsorted(h[by_stratum], np.arange(want.size + 1))
    chosen: list[int] = []
    for k in range(want.size):
        position = {str(ids[i]): int(i) for i in by_stratum[bounds[k] : bounds[k + 1]]}
        chosen += [position[t] for t in consistent_order(seed, position)[: int(want[k])]]
    return np.sort(np.asarray(chosen, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Plan:
    """A quick count's sample: its size (designed or given), allocation, seed and tables."""

    design: Design | None
    """``None`` when the size was given rather than designed."""
    seed: str
    sample_size: int
    allocation: tuple[tuple[str, int], ...]
    """Tables per stratum of the registry (:func:`allocate`)."""
    tables: tuple[str, ...]
    strata: tuple[str, ...]
    """The sampled tables and their strata, in registry order."""
    minimum: int
    """Tables drawn at least in each stratum (all of a smaller one's)."""
    smallest: int
    """The fewest tables a sample with :attr:`minimum` per stratum can have."""

    @property
    def drawn(self) -> int:
        """Tables drawn: :attr:`sample_size` raised by the minimum per stratum where its share falls short."""
        return len(self.tables)


def plan(
    cov: Coverage,
    table_ids: Sequence[str],
    *,
    seed: str,
    margin_of_error: float = 0.01,
    size: int | None = None,
    confidence: float = 0.95,
    target: str = "share",
    method: Method = "separate",
    minimum: int = 2,
) -> Plan:
    """Design a quick count on the results in hand (for ``size=None``) and draw it from the whole registry.

    The tables in hand stand in for every table (:func:`design`); the size is then corrected for the
    registry's ``N`` tables, ``n = n₀ / (1 + n₀ / N)``, and the draw covers every table of ``cov``. A
    ``size`` given must be at least 1; the draw may exceed it (:attr:`Plan.drawn`), by ``minimum`` per stratum.
    """
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise InputError(f"must be a whole number, at least 1 (got {size!r})", where="size")
    d = None
    if size is None:
        hand = cov.in_hand
        d = design(
            cov.strata[hand],
            cov.registered[hand],
            cov.votes,
            cov.valid,
            margin_of_error=margin_of_error,
            confidence=confidence,
            target=target,
            method=method,
            minimum=minimum,
        )
        size = sample_size(
            d.unit_variance, margin_of_error=margin_of_error, confidence=confidence, population=cov.strata.size
        )
    picked = quick_count_sample(table_ids, cov.strata, size, seed=seed, minimum=minimum)
    ids = np.asarray([str(t) for t in table_ids])
    return Plan(
        d,
        seed,
        size,
        allocate(cov.strata, size, minimum=minimum),
        tuple(ids[picked].tolist()),
        tuple(str(s) for s in cov.strata[picked]),
        minimum,
        sum(k for _, k in allocate(cov.strata, 0, minimum=minimum)),
    )


def to_csv(p: Plan) -> str:
    """The sample as CSV: ``table,stratum``, one sampled table per line, in registry order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["table", "stratum"])
    writer.writerows(zip(p.tables, p.strata, strict=True))
    return buf.getvalue()


def from_csv(text: str, *, where: str = "sample", geography: Geography | None = None) -> list[str]:
    """The table ids of a CSV with a ``table`` column (as :func:`to_csv` writes), in file order.

    Each id must be there once and, given the election's ``geography``, be a table id of it;
    :class:`CodecError` names the file and line of the first that is not.
    """
    rows = csv.DictReader(io.StringIO(text))
    try:
        return _table_ids(rows, where, geography)
    except csv.Error as exc:
        raise CodecError(f"not CSV: {exc}", where=f"{where}:{rows.line_num + 1}") from None


def _table_ids(rows: csv.DictReader[str], where: str, geography: Geography | None) -> list[str]:
    if rows.fieldnames is None or "table" not in rows.fieldnames:
        raise CodecError("needs a header with a 'table' column", where=f"{where}:1")
    first: dict[str, int] = {}
    for row in rows:
        table, line = (row["table"] or "").strip(), rows.line_num
        if not table:
            raise CodecError("no table id", where=f"{where}:{line}")
        if geography is not None and not geography.pattern.fullmatch(table):
            raise CodecError(geography.mismatch(table), where=f"{where}:{line}")
        if table in first:
            raise CodecError(f"table {table} is listed twice (first on line {first[table]})", where=f"{where}:{line}")
        first[table] = line
    return list(first)
