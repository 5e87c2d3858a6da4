"""Manipulation scenarios over a simulated election, each with its ground truth.

:func:`scenario` takes a :class:`~tallyproof.simulation.election.SimulatedElection` (the votes as cast and
counted honestly) and plays one of :data:`SCENARIOS` over it: what the electoral body publishes per
table (``official``), what party witnesses kept (``witness``), what it announces (``announcement``),
and the ground truth (``truth_info``: which tables were touched and the true totals), so that
reconciliation, feasibility and forensic checks can be tested against a known answer.
:func:`write_scenario` saves it as files that ``tallyproof registry import`` and ``tallyproof import``
read. The same election, seed and scenario always give byte-identical files.

The model, shared by every scenario:

* **Witnesses** keep a copy at a random 85% of the tables, independently of the votes (the opposition
  collected 25,073 of the 30,026 actas in 2024, 83.5%). A witness copy shows what was counted in
  front of the witness.
* **The announcement** adds up the official sheets of the first 80% of the official tables in a
  seeded random arrival order (the CNE's first bulletin claimed 80% of the actas transmitted), and
  gives the registered voters of the whole registry. It is dated the day after the vote.
* **Who gains**: every manipulation favours the *runner-up* of the true count (the candidate second
  in national votes), at the expense of the true *leader*.

Random draws come from independent streams of ``numpy.random.default_rng([seed, stream])``: the
witnesses' draws are shared by all scenarios, so with one seed ``honest`` and ``altered`` have
witnesses at the same tables. Parameters are the module constants below, recorded in ``truth.json``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.sheets.files import write_csv
from tallyproof.sheets.sheet import TallySheet
from tallyproof.simulation.election import SimulatedElection, table_sheets
from tallyproof.simulation.paper import write_cvrs

__all__ = ["SCENARIOS", "ScenarioData", "TableResults", "check_scenario", "scenario", "write_scenario"]

SCENARIOS = ("honest", "announced", "altered", "stuffing", "fabricated", "expelled")

WITNESS_RATE = 0.85
"""Share of tables with a witness copy (2024: 25,073 of 30,026 actas collected by the opposition)."""
SHARE_COUNTED = 0.80
"""Share of the official tables the announcement counts (CNE first bulletin, 29 July 2024: 80%)."""
ANNOUNCED_WINNER, ANNOUNCED_LOSER = 0.512, 0.442
"""``announced``: shares of the valid votes given to the runner-up and the leader. The CNE's first bulletin
gave Maduro 5,150,092 and González 4,445,978 of 10,058,774 valid votes: exactly 51.2% and 44.2%, rounded."""
ALTERED_WITNESSED, ALTERED_UNWITNESSED = 0.05, 0.10
"""``altered``: chance that a table's official sheet is altered, with a witness present and without one
(altering is safer where nobody kept a copy)."""
ALTERED_MOVED = (0.10, 0.40)
"""``altered``: the share of the leader's votes at the table moved to the runner-up (uniform in this range)."""
STUFFED_RATE = 0.03
"""``stuffing``: chance that a table's ballot box is stuffed before the count."""
STUFFED_TURNOUT = (0.95, 1.0)
"""``stuffing``: turnout of a stuffed table (uniform in this range); the extra ballots go to the runner-up."""
FABRICATED_RATE = 0.02
"""``fabricated``: official tables invented, as a share of the real tables (one extra table in a centre)."""
FABRICATED_TURNOUT = (0.80, 0.95)
"""``fabricated``: turnout of an invented table, over the registered voters of the centre's last real table."""
FABRICATED_FAVOURED = 0.90
"""``fabricated``: share of an invented table's votes for the runner-up (the rest as the national result)."""
EXPELLED_REGIONS = 4
"""``expelled``: top-level units (states) where witnesses were expelled: those where the runner-up's share
of the valid votes is highest."""
EXPELLED_WITNESS_RATE, KEPT_WITNESS_RATE = 0.20, 0.90
"""``expelled``: share of tables with a witness copy inside the expelled units, and everywhere else."""

_WITNESS_STREAM, _ARRIVAL_STREAM, _FRAUD_STREAM = 1, 2, 3
"""The acta id of a table is its id plus this suffix, as :mod:`tallyproof.simulation.election` writes it."""

_COMMON = {"witness_rate": WITNESS_RATE, "share_counted": SHARE_COUNTED}
_PARAMETERS: dict[str, dict[str, Any]] = {
    "honest": _COMMON,
    "announced": _COMMON | {"announced_winner_share": ANNOUNCED_WINNER, "announced_loser_share": ANNOUNCED_LOSER},
    "altered": _COMMON
    | {"altered_witnessed": ALTERED_WITNESSED, "altered_unwitnessed": ALTERED_UNWITNESSED, "moved": ALTERED_MOVED},
    "stuffing": _COMMON | {"stuffed_rate": STUFFED_RATE, "stuffed_turnout": STUFFED_TURNOUT},
    "fabricated": _COMMON
    | {"fabricated_rate": FABRICATED_RATE, "turnout": FABRICATED_TURNOUT, "favoured_share": FABRICATED_FAVOURED},
    "expelled": {"share_counted": SHARE_COUNTED, "expelled_regions": EXPELLED_REGIONS}
    | {"witness_rate_expelled": EXPELLED_WITNESS_RATE, "witness_rate_elsewhere": KEPT_WITNESS_RATE},
}


@dataclass(frozen=True, eq=False)
class TableResults:
    """Per-table results as one set of copies gives them; arrays are aligned with ``tables``."""

    tables: list[str]
    cards: np.ndarray
    """Votes per table and card, ballot order (int64)."""
    null: np.ndarray
    blank: np.ndarray
    registered: np.ndarray

    @classmethod
    def of(cls, sim: SimulatedElection) -> TableResults:
        """The simulated election's own counts (copied, so changing them leaves ``sim`` as it was)."""
        return cls(list(sim.tables), sim.cards.copy(), sim.null.copy(), sim.blank.copy(), sim.registered.copy())

    def take(self, rows: np.ndarray) -> TableResults:
        """The given rows, in that order."""
        index = rows.tolist()
        picked = (self.cards[rows], self.null[rows], self.blank[rows], self.registered[rows])
        return TableResults([self.tables[i] for i in index], *picked)

    def candidate_votes(self, election: Election) -> np.ndarray:
        """Votes per table and candidate (the cards of each candidate added up)."""
        owner = np.zeros((len(election.cards), len(election.candidates)), dtype=np.int64)
        owner[np.arange(len(election.cards)), list(election.card_to_candidate)] = 1
        return np.asarray(self.cards @ owner, dtype=np.int64)

    def sheets(self, election: Election) -> Iterator[TallySheet]:
        """One tally sheet per table, as :meth:`SimulatedElection.sheets` gives it (acta id, valid)."""
        return table_sheets(election, self.tables, self.cards, self.null, self.blank, self.registered)


@dataclass(frozen=True, eq=False)
class ScenarioData:
    """One scenario played over a simulated election: what is published, and what really happened."""

    name: str
    seed: int
    truth: SimulatedElection
    """The votes as cast and counted honestly."""
    official: TableResults
    """What the electoral body publishes per table; may hold tables that are not in the registry."""
    witness: TableResults
    """Witness copies: real tables only, each as counted in front of the witness."""
    announcement: dict[str, Any]
    """``date`` (ISO), ``share_counted``, ``tables_counted``, ``candidates`` (id → votes), ``null``,
    ``voters`` (votes cast) and ``registered`` (the whole registry)."""
    truth_info: dict[str, Any] = field(repr=False)
    """JSON-able ground truth: ``scenario``, ``seed``, ``parameters``, ``affected`` table ids, ``true_totals``…"""
    paper: TableResults | None = None
    """The paper receipts in each real table's box, counted: what was counted at the table (stuffed
    ballots printed receipts too); a fabricated table has no box. What an audit's hand count finds."""


@dataclass(frozen=True, eq=False)
class _Context:
    sim: SimulatedElection
    leader: int
    runner_up: int
    witness_draw: np.ndarray
    """One uniform draw per real table: a witness is present where it is below the scenario's rate."""
    fraud: np.random.Generator


@dataclass(frozen=True, eq=False)
class _Plan:
    counted: TableResults
    """What was counted at each real table (what a witness saw)."""
    official: TableResults
    witnessed: np.ndarray
    affected: list[str]
    details: dict[str, Any] = field(default_factory=dict)


def check_scenario(name: str, *, where: str = "scenario") -> str:
    """``name`` if it is one of :data:`SCENARIOS`, else :class:`InputError` listing them."""
    if name not in SCENARIOS:
        raise InputError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}", where=where)
    return name


def scenario(sim: SimulatedElection, name: str, *, seed: int) -> ScenarioData:
    """Play scenario ``name`` over ``sim`` (see the module docstring and each scenario's function).

    Raises :class:`InputError` for an unknown name, a negative seed, or a scenario other than
    ``honest`` in an election with fewer than two candidates (nobody to favour).
    """
    check_scenario(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"the seed must be a whole number, at least 0 (got {seed!r})", where="seed")
    totals = sim.candidate_votes().sum(axis=0)
    if name != "honest" and len(totals) < 2:
        raise InputError(f"scenario {name!r} needs at least two candidates", where="scenario")
    order = np.argsort(-totals, kind="stable")
    draw = _rng(seed, _WITNESS_STREAM).random(len(sim.tables))
    ctx = _Context(sim, int(order[0]), int(order[min(1, len(order) - 1)]), draw, _rng(seed, _FRAUD_STREAM))
    plan = _BUILDERS[name](ctx)
    arrival = _rng(seed, _ARRIVAL_STREAM).permutation(len(plan.official.tables))
    counted = arrival[: round(SHARE_COUNTED * len(arrival))]
    announcement = _announce(sim, plan.official, counted)
    if name == "announced":
        announcement = _misannounce(announcement, sim.election, ctx)
    witness = plan.counted.take(np.flatnonzero(plan.witnessed))
    info = _truth_info(ctx, name, seed, plan, [plan.official.tables[i] for i in counted.tolist()])
    return ScenarioData(name, seed, sim, plan.official, witness, announcement, info, plan.counted)


def write_scenario(data: ScenarioData, out_dir: Path, *, cvrs: bool = False) -> dict[str, Path]:
    """Write ``registry.csv``, ``official.csv``, ``witness.csv``, ``paper.csv`` (the receipts in the boxes,
    counted), ``announcement.toml`` and ``truth.json`` into ``out_dir`` (created if needed);
    :class:`InputError` naming the path if it cannot be written. ``cvrs`` also writes ``cvrs.csv``, the
    machines' cast vote records, which agree with ``official.csv`` (:func:`tallyproof.simulation.paper.write_cvrs`).

    ``registry.csv`` is the true registry (``table,registered``, as :func:`tallyproof.simulation.election.write`
    writes it); the copies are tallyproof's generic CSV with per-card counts
    (:func:`tallyproof.sheets.files.write_csv`).
    """
    try:
        paths = _write(data, out_dir)
        if cvrs:
            paths["cvrs"] = out_dir / "cvrs.csv"
            with paths["cvrs"].open("w", encoding="utf-8", newline="") as out:
                write_cvrs(out, data.official.sheets(data.truth.election), data.truth.election)
        return paths
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(exc.filename or out_dir)) from None


def _write(data: ScenarioData, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ("registry.csv", "official.csv", "witness.csv", "paper.csv", "announcement.toml", "truth.json")
    paths = {name.split(".")[0]: out_dir / name for name in files}
    sim, election = data.truth, data.truth.election
    with paths["registry"].open("w", encoding="utf-8", newline="") as out:
        out.write("table,registered\n")
        out.writelines(f"{t},{r}\n" for t, r in zip(sim.tables, sim.registered.tolist(), strict=True))
    paper = data.paper if data.paper is not None else TableResults.of(sim)
    for name, results in (("official", data.official), ("witness", data.witness), ("paper", paper)):
        with paths[name].open("w", encoding="utf-8", newline="") as out:
            write_csv(out, ((sheet, {}) for sheet in results.sheets(election)), election, [])
    paths["announcement"].write_text(_announcement_toml(data.announcement, data.name), encoding="utf-8")
    paths["truth"].write_text(json.dumps(data.truth_info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths


def _announcement_toml(announcement: dict[str, Any], name: str) -> str:
    """The announcement as TOML: ``[announcement]`` with a TOML date, then ``[announcement.candidates]``."""
    head = [f"# What the electoral body announced (simulated scenario {name!r}); the ground truth is in truth.json."]
    head += ["[announcement]", f"date = {announcement['date']}"]
    head += [f"{key} = {announcement[key]!r}" for key in ("share_counted", "tables_counted", "null", "voters")]
    head += [f"registered = {announcement['registered']}", "", "[announcement.candidates]"]
    head += [f"{json.dumps(cid)} = {votes}" for cid, votes in announcement["candidates"].items()]
    return "\n".join(head) + "\n"


# --- The scenarios ------------------------------------------------------------------------------


def _honest(ctx: _Context) -> _Plan:
    """Official sheets are the true counts; witnesses at a random 85% of the tables."""
    counted = TableResults.of(ctx.sim)
    return _Plan(counted, counted, ctx.witness_draw < WITNESS_RATE, [])


def _altered(ctx: _Context) -> _Plan:
    """Official sheets of 5% of the witnessed tables and 10% of the others move 10–40% of the leader's
    votes (drawn from the leader's cards without replacement) to the runner-up's main card; the witness
    copies keep the true count. Valid votes per table are unchanged."""
    counted = TableResults.of(ctx.sim)
    witnessed = ctx.witness_draw < WITNESS_RATE
    chance = np.where(witnessed, ALTERED_WITNESSED, ALTERED_UNWITNESSED)
    rows = np.flatnonzero(ctx.fraud.random(len(counted.tables)) < chance)
    leader_cards = np.flatnonzero(np.asarray(ctx.sim.election.card_to_candidate) == ctx.leader)
    votes = counted.cards[np.ix_(rows, leader_cards)]
    moved = np.rint(ctx.fraud.uniform(*ALTERED_MOVED, size=len(rows)) * votes.sum(axis=1)).astype(np.int64)
    cards = counted.cards.copy()
    for row, colours, k in zip(rows.tolist(), votes, moved.tolist(), strict=True):
        cards[row, leader_cards] -= ctx.fraud.multivariate_hypergeometric(colours, k)
    cards[rows, _main_card(ctx.sim, ctx.runner_up)] += moved
    affected = [counted.tables[i] for i in rows[moved > 0].tolist()]
    return _Plan(counted, replace(counted, cards=cards), witnessed, affected)


def _stuffing(ctx: _Context) -> _Plan:
    """At 3% of the tables, ballots for the runner-up's main card are added before the count until
    turnout reaches a uniform 95–100% of the registered voters; official and witness copies agree."""
    honest = TableResults.of(ctx.sim)
    rows = np.flatnonzero(ctx.fraud.random(len(honest.tables)) < STUFFED_RATE)
    registered = honest.registered[rows]
    target = np.ceil(ctx.fraud.uniform(*STUFFED_TURNOUT, size=len(rows)) * registered).astype(np.int64)
    cast = honest.cards[rows].sum(axis=1) + honest.null[rows] + honest.blank[rows]
    extra = np.maximum(target - cast, 0)
    cards = honest.cards.copy()
    cards[rows, _main_card(ctx.sim, ctx.runner_up)] += extra
    counted = replace(honest, cards=cards)
    affected = [honest.tables[i] for i in rows[extra > 0].tolist()]
    return _Plan(counted, counted, ctx.witness_draw < WITNESS_RATE, affected)


def _fabricated(ctx: _Context) -> _Plan:
    """2% extra official tables, each the next table number of a real centre (so the id is well formed
    but not in the registry), placed after that centre's tables. Registered voters are those of the
    centre's last table; turnout is uniform in 80–95%; 90% of the votes go to the runner-up, the rest
    as the national result; no witness copies them."""
    counted = TableResults.of(ctx.sim)
    after, ids = _fabricated_ids(ctx)
    registered = counted.registered[after]
    cast = np.floor(ctx.fraud.uniform(*FABRICATED_TURNOUT, size=len(after)) * registered).astype(np.int64)
    cards = ctx.fraud.multinomial(cast, _fabricated_probabilities(ctx))
    zeros = np.zeros(len(after), dtype=np.int64)
    at = after + 1
    official = TableResults(
        np.insert(np.asarray(counted.tables, dtype=object), at, ids).tolist(),
        np.insert(counted.cards, at, cards, axis=0),
        np.insert(counted.null, at, zeros),
        np.insert(counted.blank, at, zeros),
        np.insert(counted.registered, at, registered),
    )
    return _Plan(counted, official, ctx.witness_draw < WITNESS_RATE, ids)


def _expelled(ctx: _Context) -> _Plan:
    """Official sheets honest; witnesses at 90% of the tables, but at only 20% in the four top-level
    units where the runner-up is strongest, so that witness coverage falls where one side's support
    rises. ``affected``: the tables of those units left without a witness copy."""
    counted = TableResults.of(ctx.sim)
    geography = ctx.sim.election.geography
    regions = geography.unit_keys(counted.tables, geography.levels[0])
    keys, inverse = np.unique(regions, return_inverse=True)
    votes = counted.candidate_votes(ctx.sim.election)
    share = np.bincount(inverse, votes[:, ctx.runner_up]) / np.maximum(np.bincount(inverse, votes.sum(axis=1)), 1)
    chosen = np.argsort(-share, kind="stable")[: min(EXPELLED_REGIONS, max(1, len(keys) - 1))]
    inside = np.isin(inverse, chosen)
    witnessed = ctx.witness_draw < np.where(inside, EXPELLED_WITNESS_RATE, KEPT_WITNESS_RATE)
    affected = [counted.tables[i] for i in np.flatnonzero(inside & ~witnessed).tolist()]
    details = {"region_level": geography.levels[0], "expelled_regions": sorted(keys[chosen].tolist())}
    return _Plan(counted, counted, witnessed, affected, details)


_BUILDERS: dict[str, Callable[[_Context], _Plan]] = {
    "honest": _honest,
    "announced": _honest,
    "altered": _altered,
    "stuffing": _stuffing,
    "fabricated": _fabricated,
    "expelled": _expelled,
}


# --- Helpers ------------------------------------------------------------------------------------


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _main_card(sim: SimulatedElection, candidate: int) -> int:
    """The card with the most votes nationally among ``candidate``'s (its first card if none has any)."""
    mine = np.flatnonzero(np.asarray(sim.election.card_to_candidate) == candidate)
    return int(mine[np.argmax(sim.cards[:, mine].sum(axis=0))])


def _next_table(election: Election, table: str) -> str | None:
    """``table`` with its table-level code plus one, if that still fits the id pattern."""
    geography = election.geography
    match = geography.pattern.fullmatch(table)
    if match is None:
        return None
    start, end = match.span(geography.table_level)
    code = str(int(table[start:end]) + 1).zfill(end - start)
    new = table[:start] + code + table[end:]
    return new if len(code) == end - start and geography.pattern.fullmatch(new) else None


def _fabricated_ids(ctx: _Context) -> tuple[np.ndarray, list[str]]:
    """Rows of the real tables after which an invented one goes (ascending), and the invented ids."""
    existing = set(ctx.sim.tables)
    options = [(i, new) for i, t in enumerate(ctx.sim.tables) if (new := _next_table(ctx.sim.election, t))]
    options = [(i, new) for i, new in options if new not in existing]
    wanted = min(len(options), max(1, round(FABRICATED_RATE * len(ctx.sim.tables))))
    picked = np.sort(ctx.fraud.choice(len(options), size=wanted, replace=False)).tolist()
    return np.asarray([options[p][0] for p in picked], dtype=np.int64), [options[p][1] for p in picked]


def _fabricated_probabilities(ctx: _Context) -> np.ndarray:
    """Per-card probabilities of an invented table: 90% for the runner-up, the rest as the national
    result; within a candidate, cards as nationally (evenly when the candidate has no votes)."""
    mapping = np.asarray(ctx.sim.election.card_to_candidate)
    totals = ctx.sim.candidate_votes().sum(axis=0).astype(np.float64)
    others = totals.copy()
    others[ctx.runner_up] = 0.0
    candidate = others / others.sum() * (1 - FABRICATED_FAVOURED) if others.sum() else others
    candidate[ctx.runner_up] = 1.0 - candidate.sum()
    card_votes = ctx.sim.cards.sum(axis=0).astype(np.float64) + 1e-9
    within = card_votes / np.bincount(mapping, card_votes)[mapping]
    probabilities = candidate[mapping] * within
    return np.asarray(probabilities / probabilities.sum(), dtype=np.float64)


def _announce(sim: SimulatedElection, official: TableResults, counted: np.ndarray) -> dict[str, Any]:
    """The announcement derived from the official sheets of rows ``counted``."""
    election = sim.election
    votes = official.candidate_votes(election)[counted].sum(axis=0).tolist()
    null, blank = int(official.null[counted].sum()), int(official.blank[counted].sum())
    return {
        "date": (election.date + dt.timedelta(days=1)).isoformat(),
        "share_counted": SHARE_COUNTED,
        "tables_counted": len(counted),
        "candidates": {c.id: v for c, v in zip(election.candidates, votes, strict=True)},
        "null": null,
        "voters": sum(votes) + null + blank,
        "registered": int(sim.registered.sum()),
    }


def _misannounce(derived: dict[str, Any], election: Election, ctx: _Context) -> dict[str, Any]:
    """The derived announcement with its valid votes re-split: 51.2% to the runner-up, 44.2% to the
    leader (each rounded), the rest among the others in proportion to their counted votes."""
    ids = [c.id for c in election.candidates]
    valid = sum(derived["candidates"].values())
    winner, loser = round(valid * ANNOUNCED_WINNER), round(valid * ANNOUNCED_LOSER)
    minors = [i for i in range(len(ids)) if i not in (ctx.leader, ctx.runner_up)]
    if not minors:
        winner = valid - loser
    weights = np.asarray([derived["candidates"][ids[i]] for i in minors], dtype=np.float64)
    split = _apportion(valid - winner - loser, weights).tolist()
    announced = dict(zip([ids[i] for i in minors], split, strict=True))
    announced |= {ids[ctx.runner_up]: winner, ids[ctx.leader]: loser}
    return derived | {"candidates": {cid: announced[cid] for cid in ids}}


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder apportionment of ``total`` in proportion to ``weights`` (evenly if all are 0)."""
    if len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    weights = weights if weights.sum() > 0 else np.ones_like(weights)
    quota = total * weights / weights.sum()
    out = np.floor(quota).astype(np.int64)
    out[np.argsort(-(quota - out), kind="stable")[: total - int(out.sum())]] += 1
    return np.asarray(out, dtype=np.int64)


def _truth_info(ctx: _Context, name: str, seed: int, plan: _Plan, counted: list[str]) -> dict[str, Any]:
    sim, election = ctx.sim, ctx.sim.election
    totals = sim.candidate_votes().sum(axis=0).tolist()
    return {
        "scenario": name,
        "seed": seed,
        "election": election.id,
        "simulation_seed": sim.seed,
        "tables": len(sim.tables),
        "parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in _PARAMETERS[name].items()},
        "leader": election.candidates[ctx.leader].id,
        "runner_up": election.candidates[ctx.runner_up].id,
        "true_totals": {c.id: v for c, v in zip(election.candidates, totals, strict=True)},
        "true_null": int(sim.null.sum()),
        "true_blank": int(sim.blank.sum()),
        "registered": int(sim.registered.sum()),
        "official_tables": len(plan.official.tables),
        "witness_tables": int(plan.witnessed.sum()),
        "affected": plan.affected,
        **plan.details,
        "announcement_tables": counted,
    }
