"""Risk-limiting audits in the store: plan from the published sheets, record the counts, measure the risk.

:meth:`Audits.plan` freezes what is audited (the per-table results a source published, usually the
official sheets), works out the sample the method needs if those results are right, and draws it from a
public seed: tables with probability proportional to their error bound for a batch comparison
(:mod:`tallyproof.stats.batch`), ballots uniformly from the ballot manifest for ballot polling
(:mod:`tallyproof.stats.bravo`, :mod:`tallyproof.stats.manifest`) and for ballot-level comparison
(:mod:`tallyproof.stats.comparison`: with replacement for Kaplan–Markov, whose bound assumes it; without
replacement for ALPHA, which then uses the finite population and needs fewer draws).
:meth:`Audits.record` keeps a file of hand counts as received (a batch of kind ``audit``; the same file
recorded again is kept once) and stores each count; a count recorded again for the same table or receipt
replaces it in the measure, and both stay in the store. :meth:`Audits.status` is the running risk over
the draws counted so far, in draw order, and the decision: confirm, continue, or a full hand count.

Counts files: for a batch audit, the hand count of each drawn table's box as a tally sheet in any format
``tallyproof import`` reads (generic CSV with one column per candidate or per card); for ballot polling
and ballot-level comparison, a CSV ``table,receipt,vote`` where the vote is a candidate id or card id,
``none`` (a null or blank ballot) or ``missing`` (no such receipt in the box; counted, conservatively,
for the loser of every pair in ballot polling and as a 2-vote overstatement in a comparison).

A ballot-level comparison needs the machines' cast vote records (:mod:`tallyproof.independent.cvrs`), and they must
be committed before the seed is drawn — otherwise records could be written to match the receipts the
seed picks. :meth:`Audits.plan` takes the CVR file with the seed: it keeps the file as received (a batch
of kind ``cvrs``; the same file is kept once), records its SHA-256 with the audit so that anyone can check
it against the digest published before the seed, refuses records that do not tally, table by table, to
the audited sheets, and stores each drawn receipt's record with the draw. Receipts are numbered as the
records number them (the machine's print order), not by the seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from tallyproof.errors import InputError, UnknownError
from tallyproof.independent import cvrs as cvr
from tallyproof.independent import handcounts
from tallyproof.independent.handcounts import MISSING_BOX
from tallyproof.stats import audit as rla
from tallyproof.stats import batch, bravo, manifest
from tallyproof.stats.risk import check_risk_limit
from tallyproof.stats.sampling import draw_with_replacement, draw_without_replacement
from tallyproof.storage import schema as s
from tallyproof.storage.store import Store, now
from tallyproof.storage.submissions import batch_row
from tallyproof.tabulate import choose_copies

__all__ = ["METHODS", "Audit", "AuditReport", "Audits", "Draw", "reported_of"]

METHODS = ("batch", "bravo", *cvr.COMPARISON_METHODS)
"""Audit methods planned and recorded through the store; ``kaplan-markov`` and ``alpha`` compare receipts
with the machines' cast vote records, given when the audit is planned."""
VOTE_NONE, VOTE_MISSING = cvr.NONE, cvr.MISSING
BRAVO_QUANTILE = 0.9
"""A ballot-polling plan draws enough ballots to confirm a right outcome 9 times in 10 (simulated, seed 0);
the average (the ASN of the BRAVO paper) would leave half of the right outcomes to a full hand count."""


@dataclass(frozen=True, slots=True)
class Audit:
    id: int
    method: str
    risk_limit: float
    seed: str
    source: str
    contest: rla.ReportedContest
    total_error_bound: Fraction | None
    planned: int
    created_at: str
    cvrs_sha256: str | None = None
    """Comparison: the SHA-256 of the cast vote records the audit compares with."""


@dataclass(frozen=True, slots=True)
class Draw:
    number: int
    table: str
    receipt: int | None
    reported: dict[str, int] | None
    ballots: int | None
    cvr: str | None = None
    """Comparison: the machine's record of the receipt, a candidate id or ``none``."""


@dataclass(frozen=True, slots=True)
class AuditReport:
    """An audit's state: its plan, its draws, how many are counted, the running risk and the decision."""

    audit: Audit
    draws: tuple[Draw, ...]
    counted: int
    """Draws with a count, from the first draw on without a gap (the measure stops at the first gap)."""
    status: rla.AuditStatus
    discrepancies: tuple[tuple[str, float], ...]
    """Batch: tables whose count differs from their sheet in the winner's margin, with their taint (negative:
    the sheet understated the margin). Comparison: receipts (``"table receipt"``) whose record differs from
    the paper, with the overstatement in votes (negative: an understatement). Largest first."""
    missing: tuple[str, ...] = ()
    """Batch: drawn tables whose box could not be found (taint 1)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON twin of ``tallyproof audit status``."""
        a = self.audit
        plan = {"id": a.id, "method": a.method, "risk_limit": a.risk_limit, "seed": a.seed, "source": a.source}
        plan |= {"winner": a.contest.winner, "reported": dict(a.contest.reported), "ballots": a.contest.ballots}
        bound = None if a.total_error_bound is None else str(a.total_error_bound)
        plan |= {"total_error_bound": bound, "planned": a.planned, "cvrs_sha256": a.cvrs_sha256}
        status = asdict(self.status)
        found = dict(self.discrepancies)
        return {
            "audit": plan,
            "counted": self.counted,
            "status": status,
            "discrepancies": found,
            "missing": list(self.missing),
        }


def reported_of(store: Store, source: str) -> manifest.Reported:
    """The per-table results ``source`` published (its counted copy of each table) with registered voters."""
    election = store.election()
    cols = store.columns([source])
    index, _ = choose_copies(cols, [source])
    if index.size == 0:
        raise UnknownError(f"no sheets of source {source!r} to audit", where="--source")
    index = index[np.argsort(cols.tables[index], kind="stable")]
    tables = cols.tables[index].astype(str)
    votes = cols.candidates[index]
    ballots = votes.sum(axis=1) + np.maximum(cols.null[index], 0) + np.maximum(cols.blank[index], 0)
    registry = store.registry()
    registered = np.asarray([registry.get(t) or -1 for t in tables.tolist()], dtype=np.int64)
    return manifest.Reported(tables, tuple(c.id for c in election.candidates), votes, ballots, registered)


class Audits:
    """The audits of one store (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def plan(
        self,
        *,
        method: str,
        risk_limit: float,
        seed: str,
        source: str = "official",
        size: int | None = None,
        cvrs: bytes | None = None,
        cvrs_name: str = "cvrs.csv",
        recorded_by: str | None = None,
    ) -> int:
        """Plan an audit and draw its sample (``size`` overrides the planned size); returns its number. A
        comparison audit needs ``cvrs``, the file of cast vote records (see the module docstring)."""
        _check_plan(method, risk_limit, seed, cvrs)
        reported = reported_of(self.store, source)
        contest = manifest.contest(reported)
        records, kept = None, None
        if cvrs is not None:
            kept = self._keep("cvrs", cvrs, cvrs_name, source, "cvrs", recorded_by)  # first: a refused file stays
            records = cvr.read_cvrs(cvrs, name=cvrs_name, election=self.store.election(), reported=reported)
        if method == "batch":
            bound, draws = _batch_draws(reported, contest, risk_limit, seed, size)
        else:
            bound, draws = None, _ballot_draws(method, reported, contest, risk_limit, seed, size, records)
        row = dict(method=method, risk_limit=risk_limit, seed=seed, source=source, winner=contest.winner)
        row |= dict(reported=json.dumps(dict(contest.reported)), ballots=contest.ballots, created_at=now())
        row |= dict(total_error_bound=None if bound is None else str(bound), planned=len(draws))
        with self.store.write() as conn:
            audit_id = int(conn.execute(insert(s.audits).values(**row)).inserted_primary_key[0])
            conn.execute(insert(s.audit_draws), [d | {"audit_id": audit_id} for d in draws])
            if kept is not None:
                conn.execute(insert(s.audit_cvrs).values(audit_id=audit_id, batch_id=kept[0], sha256=kept[1]))
        return audit_id

    def extend(self, audit_id: int, more: int) -> int:
        """Draw ``more`` after the planned sample (an escalation): the same seed continues the same sequence,
        so the draws so far stay first. Refused if the audited sheets changed since the plan (the draws
        would no longer be the same); returns the new planned size."""
        if more < 1:
            raise InputError(f"draw at least 1 more, not {more}", where="--size")
        audit, old = self.audit(audit_id), self.draws(audit_id)
        reported = reported_of(self.store, audit.source)
        contest = manifest.contest(reported)
        total = len(old) + more
        if audit.method == "batch":
            _, draws = _batch_draws(reported, contest, audit.risk_limit, audit.seed, total)
        else:
            records = self._records(audit_id, reported) if audit.method in cvr.COMPARISON_METHODS else None
            draws = _ballot_draws(audit.method, reported, contest, audit.risk_limit, audit.seed, total, records)
        same = [(d.table, d.receipt) for d in old] == [(d["table_id"], d.get("receipt")) for d in draws[: len(old)]]
        if dict(contest.reported) != dict(audit.contest.reported) or not same:
            raise InputError(
                f"the sheets of {audit.source} changed since the audit was planned: plan a new audit",
                where=f"audit {audit_id}",
            )
        with self.store.write() as conn:
            conn.execute(insert(s.audit_draws), [d | {"audit_id": audit_id} for d in draws[len(old) :]])
            conn.execute(s.audits.update().where(s.audits.c.id == audit_id).values(planned=total))
        return total

    def _records(self, audit_id: int, reported: manifest.Reported) -> Any:
        """The cast vote records committed with a comparison audit, read again from the file kept."""
        c, b = s.audit_cvrs.c, s.batches.c
        q = (
            select(b.raw, b.filename)
            .join_from(s.audit_cvrs, s.batches, c.batch_id == b.id)
            .where(c.audit_id == audit_id)
        )
        with self.store._read() as conn:
            raw, name = conn.execute(q).one()
        return cvr.read_cvrs(bytes(raw), name=name, election=self.store.election(), reported=reported)

    def _keep(self, kind: str, data: bytes, name: str, source: str, fmt: str, by: str | None) -> tuple[int, str]:
        """The batch holding the file as received, and its SHA-256. A file is kept once per kind, source and
        format: the same CVRs for several audits, or the same counts recorded again, point at one batch."""
        digest = hashlib.sha256(data).hexdigest()
        existing = self.store.find_batch(kind=kind, sha256=digest, source=source, fmt=fmt)
        if existing is not None:
            return int(existing["id"]), digest
        with self.store.write() as conn:
            _, batch_id = self.store.next_ids(conn)
            conn.execute(insert(s.batches).values(**batch_row(batch_id, kind, source, by, data, name, fmt)))
        return batch_id, digest

    def ids(self) -> list[int]:
        """Every audit's number, in the order planned."""
        with self.store._read() as conn:
            return list(conn.execute(select(s.audits.c.id).order_by(s.audits.c.id)).scalars())

    def audit(self, audit_id: int) -> Audit:
        a, c = s.audits.c, s.audit_cvrs.c
        q = select(s.audits, c.sha256).outerjoin(s.audit_cvrs, c.audit_id == a.id).where(a.id == audit_id)
        with self.store._read() as conn:
            r = conn.execute(q).mappings().first()
        if r is None:
            raise UnknownError("no such audit", where=f"audit {audit_id}")
        contest = rla.ReportedContest(json.loads(r["reported"]), r["winner"], r["ballots"])
        bound = None if r["total_error_bound"] is None else Fraction(r["total_error_bound"])
        head = (r["id"], r["method"], r["risk_limit"], r["seed"], r["source"])
        return Audit(*head, contest, bound, r["planned"], r["created_at"], r["sha256"])

    def draws(self, audit_id: int) -> tuple[Draw, ...]:
        d = s.audit_draws.c
        q = select(d.draw, d.table_id, d.receipt, d.reported, d.ballots, s.audits.c.method)
        q = q.join(s.audits, s.audits.c.id == d.audit_id).where(d.audit_id == audit_id).order_by(d.draw)
        with self.store._read() as conn:
            rows = conn.execute(q).all()
        return tuple(_draw(*row) for row in rows)

    def record(
        self,
        audit_id: int,
        data: bytes,
        *,
        name: str,
        recorded_by: str | None = None,
        missing: Sequence[str] = (),
        correct: bool = False,
    ) -> int:
        """Keep a file of hand counts and store its counts; returns how many. Every row is checked first
        (errors name the file and line); nothing is stored if one is wrong, except the file itself.
        ``missing``: drawn tables whose box cannot be found (batch audits: taint 1, the most a box can
        overstate); then ``data`` may be empty, and the list is what is kept. A draw already counted is
        counted again only with ``correct`` (a correction: both stay on record, the later one counts); the
        same count again is accepted as it is."""
        audit, election = self.audit(audit_id), self.store.election()
        drawn = {(d.table, d.receipt) for d in self.draws(audit_id)}
        if missing and audit.method != "batch":
            raise InputError(
                "only boxes go missing in a batch audit; a receipt not found is the vote 'missing'", where="--missing"
            )
        kept = data or ("missing boxes:\n" + "\n".join(missing) + "\n").encode()
        batch_id, _ = self._keep("audit", kept, name, f"audit {audit_id}"[:16], audit.method, recorded_by)
        rows = handcounts.missing_boxes(missing, drawn)  # after the file is kept: a refused file stays on record
        if data or not rows:
            parse = handcounts.batch_counts if audit.method == "batch" else handcounts.ballot_counts
            rows += parse(data, name, election, drawn)
        handcounts.once_each(rows, name)
        if not correct:
            handcounts.no_recount(self.counts(audit_id), rows, name)
        when = now()
        with self.store.write() as conn:
            conn.execute(
                insert(s.audit_counts),
                [
                    dict(audit_id=audit_id, batch_id=batch_id, table_id=t, receipt=r, counted=c, recorded_at=when)
                    for t, r, c, _ in rows
                ],
            )
        return len(rows)

    def counts(self, audit_id: int) -> dict[tuple[str, int | None], str]:
        """The latest count recorded for each table (or receipt)."""
        c = s.audit_counts.c
        q = select(c.table_id, c.receipt, c.counted).where(c.audit_id == audit_id).order_by(c.id)
        with self.store._read() as conn:
            return {(t, r): counted for t, r, counted in conn.execute(q)}

    def status(self, audit_id: int) -> AuditReport:
        """The running risk and the decision (see the module docstring)."""
        audit, draws, counts = self.audit(audit_id), self.draws(audit_id), self.counts(audit_id)
        done = next((i for i, d in enumerate(draws) if (d.table, d.receipt) not in counts), len(draws))
        counted = [counts[(d.table, d.receipt)] for d in draws[:done]]
        spec = rla.AuditSpec(audit.method, audit.risk_limit, audit.contest, audit.planned)  # type: ignore[arg-type]
        if audit.method == "bravo":
            status = rla.assess(spec, _polling(audit.contest, counted))
            return AuditReport(audit, draws, done, status, ())
        if audit.method in cvr.COMPARISON_METHODS:
            errors = [
                cvr.overstatement(audit.contest, d.cvr or VOTE_NONE, c) for d, c in zip(draws, counted, strict=False)
            ]
            sample = rla.ComparisonSample(tuple(errors), with_replacement=audit.method == "kaplan-markov")
            found = {f"{d.table} receipt {d.receipt}": float(e) for d, e in zip(draws, errors, strict=False) if e != 0}
            return AuditReport(audit, draws, done, rla.assess(spec, sample), _worst(found))
        taints = [_taint(audit, d, json.loads(c)) for d, c in zip(draws, counted, strict=False)]
        bound = audit.total_error_bound or Fraction(1)
        status = rla.assess(spec, rla.BatchSample(tuple(float(t) for t in taints), float(bound)))
        found = {d.table: float(t) for d, t in zip(draws, taints, strict=False) if t != 0}
        lost = tuple(sorted({d.table for d, c in zip(draws, counted, strict=False) if json.loads(c) == MISSING_BOX}))
        return AuditReport(audit, draws, done, status, _worst(found), lost)


def _draw(number: int, table: str, receipt: int | None, reported: str | None, ballots: int | None, method: str) -> Draw:
    """A stored draw: a comparison's ``reported`` holds the receipt's record, ``{"vote": …}``."""
    data = None if reported is None else json.loads(reported)
    if method in cvr.COMPARISON_METHODS and data is not None:
        return Draw(number, table, receipt, None, ballots, cvr=str(data["vote"]))
    return Draw(number, table, receipt, data, ballots)


def _worst(found: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(found.items(), key=lambda kv: -kv[1]))


def _check_plan(method: str, risk_limit: float, seed: str, cvrs: bytes | None) -> None:
    check_risk_limit(risk_limit, where="--risk-limit")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}", where="--method")
    if not seed.strip():
        raise InputError(
            "the seed must be given: a public value drawn after the results were published", where="--seed"
        )
    if method in cvr.COMPARISON_METHODS and cvrs is None:
        raise InputError(
            f"a {method} audit compares receipts with the machines' cast vote records: give them, "
            "committed before the seed was drawn",
            where="--cvrs",
        )
    if method not in cvr.COMPARISON_METHODS and cvrs is not None:
        raise InputError(f"a {method} audit does not use cast vote records", where="--cvrs")


def _ballot_draws(
    method: str,
    reported: manifest.Reported,
    contest: rla.ReportedContest,
    alpha: float,
    seed: str,
    size: int | None,
    records: cvr.CastVoteRecords | None,
) -> list[dict[str, Any]]:
    """Receipts drawn uniformly from the ballot manifest; with their records for a comparison."""
    if method == "bravo":
        n = size or bravo.sample_size(
            alpha, contest.reported, contest.winner, ballots=contest.ballots, quantile=BRAVO_QUANTILE, seed=0
        )
    else:
        n = size or rla.initial_sample_size(method, risk_limit=alpha, contest=contest)  # type: ignore[arg-type]
    draw = draw_without_replacement if method == "alpha" else draw_with_replacement
    tickets = draw(seed, n, contest.ballots)
    picks = manifest.receipts_of(reported.ballots, tickets)
    rows = [{"draw": i, "table_id": str(reported.tables[t]), "receipt": r} for i, (t, r) in enumerate(picks, 1)]
    if records is not None:
        for row, ticket in zip(rows, tickets, strict=True):
            row["reported"] = json.dumps({"vote": records.vote(ticket)})
    return rows


def _batch_draws(
    reported: manifest.Reported, contest: rla.ReportedContest, alpha: float, seed: str, size: int | None
) -> tuple[Fraction, list[dict[str, Any]]]:
    """Tables drawn with probability proportional to their error bound (PPEB), with what each reported."""
    boxes, contests = manifest.batches(reported), manifest.contest_result(reported)
    bound = batch.total_error_bound(boxes, contests)
    n = size or rla.initial_sample_size("batch", risk_limit=alpha, contest=contest, total_error_bound=float(bound))
    by_id = {b.id: b for b in boxes}
    return bound, [
        {
            "draw": i,
            "table_id": t,
            "reported": json.dumps(dict(by_id[t].votes[manifest.CONTEST])),
            "ballots": by_id[t].ballots,
        }
        for i, t in enumerate(batch.select_batches(seed, boxes, contests, n), 1)
    ]


def _taint(audit: Audit, draw: Draw, counted: dict[str, int] | str) -> Fraction:
    """MACRO taint of a drawn box; a box that cannot be found has the largest, 1 (``e_p = u_p``)."""
    if not isinstance(counted, dict):  # MISSING_BOX, the only other thing recorded for a box
        return Fraction(1)
    contests = {manifest.CONTEST: batch.ContestResult(dict(audit.contest.reported), frozenset({audit.contest.winner}))}
    box = batch.Batch(draw.table, draw.ballots or 0, {manifest.CONTEST: draw.reported or {}})
    return batch.taint(box, {manifest.CONTEST: counted}, contests)


def _polling(contest: rla.ReportedContest, votes: list[str]) -> rla.PollingSample:
    """Ballots drawn so far, by candidate, and the receipts not found (a vote for every pair's loser)."""
    tally = dict.fromkeys(contest.reported, 0)
    for vote in votes:
        if vote in tally:
            tally[vote] += 1
    return rla.PollingSample(tally, len(votes), votes.count(VOTE_MISSING))
