"""Vote shares, totals and margins estimated from the tables in hand, with intervals, nationally and per stratum.

**Notation.** The registry lists ``N`` tables in strata ``h`` (any geography level): ``N_h`` tables with
``X_h`` registered voters. Copies are in hand for ``n_h`` of them; table ``i`` in hand has ``x_i``
registered voters, ``v_i`` valid votes and ``y_ik`` votes for candidate ``k``; ``f_h = n_h / N_h``.

**Estimator** (Cochran 1977, *Sampling Techniques*, 3rd ed., ch. 6: §6.2–6.4 the ratio estimate and its
variance, §6.10–6.12 separate and combined ratio estimates in stratified sampling). The auxiliary variable
is the registered voters, known for every table. The *separate* ratio estimator is the default:

* ``Ŷ_k = Σ_h r_hk X_h`` with ``r_hk = Σ_{i∈h} y_ik / Σ_{i∈h} x_i``; valid votes ``V̂`` likewise;
  share ``p̂_k = Ŷ_k / V̂``.
* Linearised (Taylor) variance with finite population correction, for the total of any variable ``u``:
  ``v(Û) = Σ_h N_h² (1 − f_h) / n_h · s²_h(e)``, ``e_i = u_i − r_h(u) x_i``, ``s²_h`` the sample variance
  in stratum ``h`` (Cochran §6.4 applied per stratum and summed, §6.10). For a share, ``u = y_k − p̂_k v``
  and ``v(p̂_k) = v(Û) / V̂²``; for the margin between two candidates, ``u = y_a − y_b − m̂ v``.
* Interval: estimate ± ``z`` standard errors, ``z`` the normal quantile of the confidence (not truncated).

Why separate rather than combined: the regional estimates then add up exactly to the national one (each
stratum's total is its own ratio estimate), and each stratum is weighted by its known registered voters,
which corrects coverage that favours large or small tables. Its price is a bias that grows with the number
of strata when each has few tables (Cochran §6.12 prefers the combined estimate then); in 10% samples of
the V1 file (11 to 259 tables per state), 5,000 repetitions covered the full-file shares and margin
94.5–94.6% of the time with seed 2024 and 95.0–95.2% with seed 20240728 (combined, seed 2024: 94.4–94.5%). ``method="combined"`` gives ``Ŷ_k = (Σ_h N_h ȳ_hk / Σ_h N_h x̄_h) X``,
whose share reduces to ``Σ_h N_h ȳ_hk / Σ_h N_h v̄_h`` (registered voters cancel), same variance formula
with ``e_i = u_i − R̂ x_i`` and one national ``R̂``; per-stratum figures are within-stratum ratios either way.

**Strata with too few copies.** A variance needs two tables in a stratum. Strata with fewer than
``min_in_hand`` tables in hand, including strata with none, are *collapsed* with the strata that follow
them in label order until the group has enough (a shortfall at the end joins the previous group); the
group is then one stratum (as in Cochran's collapsed strata, ch. 5A: differences between the strata of a
group count as sampling variance, which tends to overstate it).
With hierarchical codes as labels (state, municipality, parish), neighbours in order share a parent.
Assumption: a stratum without copies votes like the strata it is collapsed with — the sensitivity
analysis (:mod:`tallyproof.stats.sensitivity`) says how far that could be wrong. :attr:`Estimate.empty`
and :attr:`Estimate.collapsed` say where it was done. The sample a quick count needs, and its public
draw, are in :mod:`tallyproof.stats.quickcount`.

**Too few tables in hand.** The intervals rest on the normal approximation to the ratio estimate, which
Cochran (ch. 6) advises using only once the sample exceeds 30 (and the coefficients of variation of the
sample means are small). Below :data:`LARGE_SAMPLE` tables in hand (unless they are every table, and
the figures exact) the standard errors are themselves too uncertain to support an interval, let alone a
probability of leading: :attr:`Estimate.large_sample` is false, and the command line and the report say
so above the figures and give no probability of leading.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from tallyproof.errors import InputError
from tallyproof.geography import Geography
from tallyproof.tabulate import Registry, SheetColumns, choose_copies

__all__ = [
    "LARGE_SAMPLE",
    "Coverage",
    "Estimate",
    "InHand",
    "Interval",
    "Margin",
    "Sampled",
    "StratumEstimate",
    "coverage_of",
    "estimate",
]

Method = Literal["separate", "combined"]

LARGE_SAMPLE = 30
"""Tables in hand from which the intervals' normal approximation is trusted (module docstring; Cochran ch. 6)."""


@dataclass(frozen=True, slots=True, eq=False)
class Coverage:
    """The registry (every table) and the copies in hand; build it with :meth:`of`, which checks it."""

    strata: np.ndarray
    """Stratum label of every registry table ``(N,)``."""
    registered: np.ndarray
    """Registered voters of every registry table, float64 ``(N,)``."""
    in_hand: np.ndarray
    """Registry positions of the tables in hand, int64 ``(n,)``, distinct."""
    votes: np.ndarray
    """Votes per table in hand and candidate, float64 ``(n, c)``, ``c ≥ 2``."""
    valid: np.ndarray
    """Valid votes per table in hand, float64 ``(n,)``, at least the sum of its votes."""

    @classmethod
    def of(
        cls, strata: np.ndarray, registered: np.ndarray, in_hand: np.ndarray, votes: np.ndarray, valid: np.ndarray
    ) -> Coverage:
        """Check and convert; :class:`InputError` names the first argument that cannot be used."""
        strata, reg = np.asarray(strata), np.asarray(registered, dtype=np.float64)
        idx, y, v = np.asarray(in_hand), np.asarray(votes, dtype=np.float64), np.asarray(valid, dtype=np.float64)
        if strata.ndim != 1 or reg.shape != strata.shape or strata.size == 0:
            raise InputError("strata and registered must be two non-empty arrays of one length", where="registered")
        if not np.all(np.isfinite(reg) & (reg >= 0)):
            raise InputError("registered voters must be known and at least 0", where="registered")
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or np.any((idx < 0) | (idx >= strata.size)):
            raise InputError(f"must be positions in the registry, 0 to {strata.size - 1}", where="in_hand")
        if np.unique(idx).size != idx.size:
            raise InputError("a table is in hand twice", where="in_hand")
        if y.ndim != 2 or y.shape[0] != idx.size or y.shape[1] < 2:
            raise InputError(f"needs shape ({idx.size}, candidates ≥ 2), got {y.shape}", where="votes")
        if not np.all(np.isfinite(y) & (y >= 0)):
            raise InputError("votes must be finite and at least 0", where="votes")
        if v.shape != (idx.size,) or np.any(v < y.sum(axis=1)):
            raise InputError("one figure per table in hand, at least the sum of its votes", where="valid")
        return cls(strata, reg, idx.astype(np.int64), y, v)


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    se: float
    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, numbers.Real) and self.low <= float(value) <= self.high


@dataclass(frozen=True, slots=True)
class Margin:
    """The leader's lead over the runner-up, as a share of valid votes and in votes."""

    leader: int
    runner_up: int
    share: Interval
    votes: Interval
    lead_probability: float
    """``Φ(m̂ / se)``: under the normal approximation and a flat prior, the probability that the leader is
    ahead; equivalently one minus the one-sided p-value of "no lead"."""

    @property
    def decided(self) -> bool:
        """The interval is above 0: "no lead" is rejected one-sided at level ``(1 − confidence) / 2``."""
        return self.share.low > 0


@dataclass(frozen=True, slots=True)
class StratumEstimate:
    label: str
    tables: int
    in_hand: int
    registered: float
    group: tuple[str, ...]
    """Strata estimated together with this one (just itself unless collapsed)."""
    shares: tuple[Interval, ...]
    """The group's shares (a stratum collapsed into a group gets the group's)."""
    totals: tuple[Interval, ...]
    """The group's ratio estimate times this stratum's registered voters."""


@dataclass(frozen=True, slots=True)
class Estimate:
    method: str
    confidence: float
    tables: int
    in_hand: int
    shares: tuple[Interval, ...]
    totals: tuple[Interval, ...]
    valid: Interval
    margin: Margin
    strata: tuple[StratumEstimate, ...]
    collapsed: tuple[tuple[str, ...], ...]
    """Groups of more than one stratum estimated as one."""
    empty: tuple[str, ...]
    """Strata with no table in hand."""

    @property
    def large_sample(self) -> bool:
        """At least :data:`LARGE_SAMPLE` tables in hand, or every table: the intervals can be read as such."""
        return self.in_hand >= LARGE_SAMPLE or self.in_hand == self.tables


@dataclass(frozen=True, slots=True)
class Frame:
    """Strata collapsed into estimation groups: ``group_of`` each stratum ``(S,)``, ``stratum`` of each registry
    table ``(N,)``, group ``g`` of each table in hand ``(n,)``; ``N``, ``n``, ``X`` have one entry per group."""

    labels: tuple[str, ...]
    group_of: np.ndarray
    stratum: np.ndarray
    g: np.ndarray
    x: np.ndarray
    N: np.ndarray
    n: np.ndarray
    X: np.ndarray

    @property
    def size(self) -> int:
        return int(self.N.size)


def normal_quantile(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InputError(f"must be strictly between 0 and 1, got {confidence}", where="confidence")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def check_method(method: str) -> None:
    if method not in ("separate", "combined"):
        raise InputError(f"must be 'separate' or 'combined', got {method!r}", where="method")


def _collapse(in_hand: np.ndarray, tables: np.ndarray, held: np.ndarray, minimum: int) -> np.ndarray:
    """Group of each stratum: strata short of ``minimum`` tables in hand join the next ones in order.

    A group closes once it has ``minimum`` tables in hand, or all of its tables, with registered voters.
    """
    group = np.zeros(in_hand.size, dtype=np.int64)
    g, count, size, reg = 0, 0, 0, 0.0
    for s in range(in_hand.size):
        group[s], count, size, reg = g, count + int(in_hand[s]), size + int(tables[s]), reg + float(held[s])
        if (count >= minimum or count == size) and reg > 0:
            g, count, size, reg = g + 1, 0, 0, 0.0
    while np.any(group == g):  # an unfinished group at the end joins the previous ones until it is complete
        if g == 0:
            raise InputError(f"needs at least {minimum} tables in hand with registered voters", where="in_hand")
        group[group == g] = g - 1
        g -= 1
        last = group == g
        count, size = int(in_hand[last].sum()), int(tables[last].sum())
        if count >= minimum or count == size:  # a group complete in itself, merged with empty strata, is not
            g += 1
    return group


def frame(cov: Coverage, min_in_hand: int) -> Frame:
    if isinstance(min_in_hand, bool) or not isinstance(min_in_hand, int) or min_in_hand < 2:
        raise InputError(f"must be a whole number, at least 2 (got {min_in_hand!r})", where="min_in_hand")
    labels, stratum = np.unique(cov.strata, return_inverse=True)
    s_hand = stratum[cov.in_hand]
    n_s, tables = np.bincount(s_hand, minlength=labels.size), np.bincount(stratum, minlength=labels.size)
    held = np.bincount(s_hand, weights=cov.registered[cov.in_hand], minlength=labels.size)
    group_of = _collapse(n_s, tables, held, min_in_hand)
    size = int(group_of.max()) + 1
    table_group = group_of[stratum]
    return Frame(
        labels=tuple(str(label) for label in labels),
        group_of=group_of,
        stratum=stratum,
        g=table_group[cov.in_hand],
        x=cov.registered[cov.in_hand],
        N=np.bincount(table_group, minlength=size).astype(np.float64),
        n=np.bincount(table_group[cov.in_hand], minlength=size).astype(np.float64),
        X=np.bincount(table_group, weights=cov.registered, minlength=size),
    )


def group_sums(values: np.ndarray, g: np.ndarray, size: int) -> np.ndarray:
    """Sums per group of a ``(n,)`` or ``(n, q)`` array."""
    if values.ndim == 1:
        return np.bincount(g, weights=values, minlength=size)
    return np.stack([np.bincount(g, weights=col, minlength=size) for col in values.T], axis=1)


def _variance(fr: Frame, e: np.ndarray) -> np.ndarray:
    """``N_g² (1 − f_g) / n_g · s²_g(e)`` per group and column of the residuals ``e`` ``(n, q)``."""
    centred = e - (group_sums(e, fr.g, fr.size) / fr.n[:, None])[fr.g]
    ss = group_sums(centred**2, fr.g, fr.size)
    s2 = np.divide(ss, (fr.n - 1)[:, None], out=np.zeros_like(ss), where=fr.n[:, None] > 1)  # n = 1 only if N = 1
    out: np.ndarray = (fr.N**2 * (1 - fr.n / fr.N) / fr.n)[:, None] * s2
    return out


def _separate(fr: Frame, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the ratio estimate ``r_g X_g`` of the total of each column of ``u``, and its variance."""
    r = group_sums(u, fr.g, fr.size) / group_sums(fr.x, fr.g, fr.size)[:, None]
    return r * fr.X[:, None], _variance(fr, u - r[fr.g] * fr.x[:, None])


def _national(fr: Frame, u: np.ndarray, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """The national total of each column of ``u`` and its variance, by the separate or combined estimate."""
    if method == "separate":
        per, var = _separate(fr, u)
        return per.sum(axis=0), var.sum(axis=0)
    expand = (fr.N / fr.n)[:, None]
    ratio = (expand * group_sums(u, fr.g, fr.size)).sum(axis=0) / (expand[:, 0] * group_sums(fr.x, fr.g, fr.size)).sum()
    return ratio * fr.X.sum(), _variance(fr, u - ratio * fr.x[:, None]).sum(axis=0)


def _intervals(est: np.ndarray, var: np.ndarray, z: float) -> tuple[Interval, ...]:
    se = np.sqrt(np.maximum(var, 0.0))
    return tuple(Interval(float(e), float(s), float(e - z * s), float(e + z * s)) for e, s in zip(est, se, strict=True))


def _shares(fr: Frame, y: np.ndarray, v: np.ndarray, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """National share of each column of ``y`` in ``v`` and its linearised variance."""
    totals, _ = _national(fr, np.column_stack([y, v]), method)
    p = totals[:-1] / totals[-1]
    _, var = _national(fr, y - p * v[:, None], method)
    return p, var / totals[-1] ** 2


def _group_shares(fr: Frame, y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group: share of each column of ``y`` in ``v`` (within-group ratio) and its variance."""
    p = group_sums(y, fr.g, fr.size) / group_sums(v, fr.g, fr.size)[:, None]
    valid, _ = _separate(fr, v[:, None])
    _, var = _separate(fr, y - p[fr.g] * v[:, None])
    return p, var / valid**2


def estimate(cov: Coverage, *, confidence: float = 0.95, method: Method = "separate", min_in_hand: int = 2) -> Estimate:
    """Shares, totals and the leader's margin with intervals, nationally and per stratum (module docstring).

    Assumes the tables in hand are a random sample within each (collapsed) stratum; when they are not,
    see :func:`tallyproof.stats.sensitivity.sensitivity`. Every table in hand gives the exact totals with zero variance.
    """
    check_method(method)
    z, fr = normal_quantile(confidence), frame(cov, min_in_hand)
    y, v = cov.votes, cov.valid
    totals, t_var = _national(fr, np.column_stack([y, v]), method)
    p, p_var = _shares(fr, y, v, method)
    lead, runner = (int(k) for k in np.argsort(-p, kind="stable")[:2])
    diff = y[:, lead] - y[:, runner]
    m, m_var = _shares(fr, diff[:, None], v, method)
    (votes,) = _intervals(*_national(fr, diff[:, None], method), z)
    (share,) = _intervals(m, m_var, z)
    chance = NormalDist().cdf(share.estimate / share.se) if share.se > 0 else float(np.sign(share.estimate) + 1) / 2
    groups = [tuple(lb for lb, g in zip(fr.labels, fr.group_of, strict=True) if g == k) for k in range(fr.size)]
    strata = _strata(cov, fr, groups, z)
    return Estimate(
        method=method,
        confidence=confidence,
        tables=int(cov.strata.size),
        in_hand=int(cov.in_hand.size),
        shares=_intervals(p, p_var, z),
        totals=_intervals(totals[:-1], t_var[:-1], z),
        valid=_intervals(totals[-1:], t_var[-1:], z)[0],
        margin=Margin(lead, runner, share, votes, chance),
        strata=strata,
        collapsed=tuple(g for g in groups if len(g) > 1),
        empty=tuple(s.label for s in strata if s.in_hand == 0),
    )


def _strata(cov: Coverage, fr: Frame, groups: list[tuple[str, ...]], z: float) -> tuple[StratumEstimate, ...]:
    p, p_var = _group_shares(fr, cov.votes, cov.valid)
    tot, t_var = _separate(fr, cov.votes)
    tables = np.bincount(fr.stratum, minlength=len(fr.labels))
    hand = np.bincount(fr.stratum[cov.in_hand], minlength=len(fr.labels))
    reg = np.bincount(fr.stratum, weights=cov.registered, minlength=len(fr.labels))
    out = []
    for s, label in enumerate(fr.labels):
        g = int(fr.group_of[s])
        scale = reg[s] / fr.X[g] if fr.X[g] > 0 else 0.0
        shares, totals = _intervals(p[g], p_var[g], z), _intervals(tot[g] * scale, t_var[g] * scale**2, z)
        out.append(StratumEstimate(label, int(tables[s]), int(hand[s]), float(reg[s]), groups[g], shares, totals))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Sampled:
    """The tables of a list (a quick-count sample) against the registry and the copies."""

    tables: int
    """Distinct tables listed."""
    not_in_registry: int
    """Listed tables the registry does not have."""
    without_copy: int
    """Listed tables of the registry, with registered voters, that have no usable copy (none, or conflicting)."""


@dataclass(frozen=True, slots=True, eq=False)
class InHand:
    """A :class:`Coverage` assembled from the copies and the registry, with what was left out and why."""

    coverage: Coverage
    tables: np.ndarray
    """Table id of each registry position of :attr:`coverage`; its strata are units of ``level``."""
    level: str
    conflicts: int
    """Tables whose copies of the preferred source disagree (counted as without a copy)."""
    outside_registry: int
    unknown_registered: int
    """Tables with a copy outside the registry, and registry tables without registered voters: left out."""
    sampled: Sampled | None = None
    """What became of the tables listed in ``only`` (``None`` when every copy counts)."""


def coverage_of(
    cols: SheetColumns,
    registry: Registry,
    geography: Geography,
    *,
    level: str,
    sources: Sequence[str],
    only: Collection[str] | None = None,
) -> InHand:
    """The registry as strata of ``level`` units, and one copy per table of ``sources`` as
    :func:`~tallyproof.tabulate.choose_copies` picks it (conflicting copies: no copy, as in :mod:`tallyproof.independent.verdict`).

    Valid votes are the candidates' summed. ``only`` keeps the copies of those tables alone (a quick-count
    sample; conflicts and copies outside the registry are then counted among them, and :attr:`InHand.sampled`
    says how many listed tables are not in the registry or have no copy). Copies outside the registry and
    tables without registered voters are left out, and counted.
    """
    geography.check_level(level)
    reg = registry.sorted()
    chosen, conflict = choose_copies(cols, sources)
    listed = None if only is None else np.unique(np.asarray(list(only), dtype=str))
    if listed is not None:
        keep_listed = np.isin(cols.tables[chosen], listed)
        chosen, conflict = chosen[keep_listed], conflict[keep_listed]
    usable = chosen[~conflict]
    pos = np.minimum(np.searchsorted(reg.tables, cols.tables[usable]), max(reg.tables.size - 1, 0))
    found = reg.tables[pos] == cols.tables[usable] if reg.tables.size else np.zeros(usable.size, dtype=bool)
    usable, pos = usable[found], pos[found]
    registered = reg.registered.copy()
    fill = (registered[pos] < 0) & (cols.registered[usable] >= 0)
    registered[pos[fill]] = cols.registered[usable][fill]
    known = registered >= 0
    if not known.any():
        raise InputError(
            "no table with known registered voters: import a registry (`registry import`) or derive one "
            "from copies that state them (`registry derive`)",
            where="registry",
        )
    keep = known[pos]
    votes = cols.candidates[usable[keep]].astype(np.float64)
    tables = reg.tables[known]
    in_hand = (np.cumsum(known) - 1)[pos[keep]]
    cov = Coverage.of(geography.unit_keys(tables, level), registered[known], in_hand, votes, votes.sum(axis=1))
    sampled = None
    if listed is not None:
        in_registry = int(np.isin(listed, tables).sum())
        sampled = Sampled(int(listed.size), int((~np.isin(listed, reg.tables)).sum()), in_registry - int(in_hand.size))
    return InHand(
        cov,
        tables,
        level,
        conflicts=int(conflict.sum()),
        outside_registry=int(found.size - found.sum()),
        unknown_registered=int(known.size - known.sum()),
        sampled=sampled,
    )
