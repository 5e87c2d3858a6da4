"""Election definitions: who can be voted for, on which cards, and where tables sit.

A definition is a TOML file (the built-in ones live in ``tallyproof/elections/``).
It is validated on load; every error names the file and the key, e.g.
``my.toml: cards[3].candidate: unknown candidate 'XX'``. The format is documented
in docs/elections.md.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tallyproof import strict_toml
from tallyproof.errors import ElectionDefinitionError, UnknownError
from tallyproof.geography import Geography
from tallyproof.ids import CandidateId, CardId, ElectionId

__all__ = [
    "SHEET_FIELDS",
    "Candidate",
    "Card",
    "DeclaredTotals",
    "Election",
    "builtin_elections",
    "load_election",
]

SHEET_FIELDS = ("null", "blank", "registered", "valid", "voters")
"""Tally-sheet fields a definition may declare besides the per-card counts."""

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}\Z")


@dataclass(frozen=True, slots=True)
class Candidate:
    id: CandidateId
    name: str


@dataclass(frozen=True, slots=True)
class Card:
    """A ballot option (a party card in Venezuela), mapped to the candidate it counts for."""

    id: CardId
    name: str
    candidate: CandidateId
    code: int | None = None


@dataclass(frozen=True, slots=True)
class DeclaredTotals:
    """Nationwide figures published by the electoral body, used where no per-table registry exists."""

    tables: int | None
    registered: int | None
    source: str


@dataclass(frozen=True, slots=True)
class Election:
    id: ElectionId
    name: str
    date: dt.date
    candidates: tuple[Candidate, ...]
    cards: tuple[Card, ...]
    geography: Geography
    fields: frozenset[str]
    """Fields besides the counts that the sheets carry (empty: not declared, any may appear)."""
    declared: DeclaredTotals | None = None
    source_text: str = field(default="", repr=False, compare=False)

    @property
    def card_to_candidate(self) -> tuple[int, ...]:
        """For each card, in ballot order, the index of its candidate."""
        index = {c.id: i for i, c in enumerate(self.candidates)}
        return tuple(index[card.candidate] for card in self.cards)

    def candidate_index(self, candidate: str) -> int:
        for i, c in enumerate(self.candidates):
            if c.id == candidate:
                return i
        raise UnknownError(f"unknown candidate {candidate!r}", where=f"election {self.id}")

    @classmethod
    def from_toml(cls, text: str, *, where: str = "<election>") -> Election:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ElectionDefinitionError(f"not valid TOML: {exc}", where=where) from exc
        return _parse(data, text=text, where=where)


def builtin_elections() -> list[str]:
    """Names of the definitions shipped with tallyproof."""
    folder = resources.files("tallyproof") / "elections"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_election(name_or_path: str | Path) -> Election:
    """Load a built-in definition by name (``ve2024``) or a TOML file by path."""
    path = Path(name_or_path)
    if str(name_or_path) in builtin_elections():
        res = resources.files("tallyproof") / "elections" / f"{name_or_path}.toml"
        return Election.from_toml(res.read_text(encoding="utf-8"), where=f"{name_or_path}.toml")
    if not path.exists():
        known = ", ".join(builtin_elections())
        raise ElectionDefinitionError(f"no such file, and not a built-in election (built-in: {known})", where=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ElectionDefinitionError(f"cannot read the definition: {exc}", where=str(path)) from exc
    return Election.from_toml(text, where=str(path))


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    return strict_toml.get(table, key, kind, where, error=ElectionDefinitionError)


def _ident(table: dict[str, Any], key: str, where: str) -> str:
    value: str = _get(table, key, str, where)
    if not _ID.match(value):
        raise ElectionDefinitionError(
            f"{value!r} is not a valid id (1-40 letters, digits, '_', '.', '-')", where=f"{where}{key}"
        )
    return value


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    strict_toml.only(table, allowed, where, error=ElectionDefinitionError)


def _parse(data: dict[str, Any], *, text: str, where: str) -> Election:
    _only(data, {"election", "candidates", "cards", "geography", "sheet", "declared"}, f"{where}: ")
    head = _get(data, "election", dict, f"{where}: ")
    _only(head, {"id", "name", "date"}, f"{where}: election.")
    w = f"{where}: election."
    date = _get(head, "date", dt.date, w)
    candidates = _parse_candidates(_get(data, "candidates", list, f"{where}: "), where)
    cards = _parse_cards(_get(data, "cards", list, f"{where}: "), candidates, where)
    geo = Geography.from_table(_get(data, "geography", dict, f"{where}: "), where=f"{where}: geography")
    sheet = _get(data, "sheet", dict, f"{where}: ") if "sheet" in data else {}
    _only(sheet, {"fields"}, f"{where}: sheet.")
    fields = _get(sheet, "fields", list, f"{where}: sheet.") if "fields" in sheet else []
    for i, name in enumerate(fields):
        if name not in SHEET_FIELDS:
            raise ElectionDefinitionError(
                f"unknown field {name!r}; known: {', '.join(SHEET_FIELDS)}",
                where=f"{where}: sheet.fields[{i}]",
            )
    return Election(
        id=ElectionId(_ident(head, "id", w)),
        name=_get(head, "name", str, w),
        date=date if not isinstance(date, dt.datetime) else date.date(),
        candidates=candidates,
        cards=cards,
        geography=geo,
        fields=frozenset(fields),
        declared=_parse_declared(data.get("declared"), where),
        source_text=text,
    )


def _parse_candidates(items: list[Any], where: str) -> tuple[Candidate, ...]:
    out: list[Candidate] = []
    for i, item in enumerate(items):
        w = f"{where}: candidates[{i}]."
        if not isinstance(item, dict):
            raise ElectionDefinitionError("expected a table", where=w[:-1])
        _only(item, {"id", "name"}, w)
        cid = _ident(item, "id", w)
        if any(c.id == cid for c in out):
            raise ElectionDefinitionError(f"duplicate candidate id {cid!r}", where=f"{w}id")
        out.append(Candidate(CandidateId(cid), _get(item, "name", str, w)))
    if not out:
        raise ElectionDefinitionError("at least one candidate is needed", where=f"{where}: candidates")
    return tuple(out)


def _parse_cards(items: list[Any], candidates: tuple[Candidate, ...], where: str) -> tuple[Card, ...]:
    known = {c.id for c in candidates}
    out: list[Card] = []
    for i, item in enumerate(items):
        w = f"{where}: cards[{i}]."
        if not isinstance(item, dict):
            raise ElectionDefinitionError("expected a table", where=w[:-1])
        _only(item, {"id", "name", "code", "candidate"}, w)
        cid = _ident(item, "id", w)
        if any(c.id == cid for c in out):
            raise ElectionDefinitionError(f"duplicate card id {cid!r}", where=f"{w}id")
        cand = _get(item, "candidate", str, w)
        if cand not in known:
            raise ElectionDefinitionError(f"unknown candidate {cand!r}", where=f"{w}candidate")
        code = _get(item, "code", int, w) if "code" in item else None
        name = _get(item, "name", str, w) if "name" in item else cid
        out.append(Card(CardId(cid), name, CandidateId(cand), code))
    unused = known - {c.candidate for c in out}
    if unused:
        raise ElectionDefinitionError(f"candidates with no card: {', '.join(sorted(unused))}", where=f"{where}: cards")
    return tuple(out)


def _parse_declared(item: Any, where: str) -> DeclaredTotals | None:
    if item is None:
        return None
    w = f"{where}: declared."
    if not isinstance(item, dict):
        raise ElectionDefinitionError("expected a table", where=w[:-1])
    _only(item, {"tables", "registered", "source"}, w)
    tables = _get(item, "tables", int, w) if "tables" in item else None
    registered = _get(item, "registered", int, w) if "registered" in item else None
    return DeclaredTotals(tables, registered, _get(item, "source", str, w))
