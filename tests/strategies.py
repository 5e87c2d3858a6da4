"""Hypothesis strategies shared by the tests (ve2024 table ids, counts, sheets, QR payloads).

Import with ``from strategies import ...`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from tallyproof.election import Election, load_election
from tallyproof.ids import TableId
from tallyproof.sheets.sheet import TallySheet

__all__ = [
    "VE2024",
    "acta_ids",
    "card_counts",
    "counts",
    "qr_payloads",
    "qr_sheets",
    "table_ids",
    "tally_sheets",
]

VE2024: Election = load_election("ve2024")
N_CARDS = len(VE2024.cards)  # 38
N_CANDIDATES = len(VE2024.candidates)  # 10

MAX_QR_COUNT = 999_999_999
"""The QR codec accepts at most 9 digits per number."""

_DIGITS = "0123456789"


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=_DIGITS, min_size=n, max_size=n)


def table_ids() -> st.SearchStrategy[TableId]:
    """Valid ve2024 table ids: 9 ASCII digits (state, municipality, parish, centre), '.', 2 digits.

    Half of the time the id looks like a real one (state 01-24, table 01-15); otherwise
    any digits, since the definition's regular expression accepts any.
    """
    realistic = st.builds(
        lambda state, rest, mesa: f"{state:02d}{rest}.{mesa:02d}",
        st.integers(1, 24),
        _digits(7),
        st.integers(1, 15),
    )
    anything = st.builds(lambda centre, mesa: f"{centre}.{mesa}", _digits(9), _digits(2))
    return st.one_of(realistic, anything).map(TableId)


def acta_ids(table: str | None = None) -> st.SearchStrategy[str]:
    """Full acta ids ``CCCCCCCCC.TT.X.NNNN`` (mostly the ``1.0001`` suffix seen in the wild)."""
    suffix = st.one_of(st.just("1.0001"), st.builds(lambda x, n: f"{x}.{n}", _digits(1), _digits(4)))
    tables = st.just(table) if table is not None else table_ids()
    return st.builds(lambda t, s: f"{t}.{s}", tables, suffix)


def counts(max_value: int = MAX_QR_COUNT) -> st.SearchStrategy[int]:
    """One vote count, biased towards small realistic values but reaching ``max_value``."""
    return st.one_of(st.integers(0, 600), st.integers(0, max_value))


def card_counts(max_value: int = MAX_QR_COUNT) -> st.SearchStrategy[tuple[int, ...]]:
    """Per-card counts of one ve2024 sheet: 38 non-negative integers, in ballot (QR) order."""
    return st.tuples(*([counts(max_value)] * N_CARDS))


def qr_sheets() -> st.SearchStrategy[TallySheet]:
    """Sheets exactly representable as a QR payload: cards, null, blank and acta id, nothing else."""

    @st.composite
    def build(draw: st.DrawFn) -> TallySheet:
        table = draw(table_ids())
        return TallySheet.from_cards(
            VE2024,
            table,
            draw(card_counts()),
            null=draw(counts()),
            blank=draw(counts()),
            acta_id=draw(acta_ids(table)),
        )

    return build()


def tally_sheets(*, with_cards: bool | None = None) -> st.SearchStrategy[TallySheet]:
    """Full, well-formed ve2024 sheets, with or without per-card counts and optional fields.

    Candidate totals are always consistent with the cards when cards are present.
    ``with_cards``: ``True`` only sheets with cards, ``False`` only without, ``None`` both.
    """

    @st.composite
    def build(draw: st.DrawFn) -> TallySheet:
        table = draw(table_ids())
        small = st.none() | st.integers(0, 100_000)
        extra = {name: draw(small) for name in ("null", "blank", "registered", "valid", "voters")}
        acta = draw(st.none() | acta_ids(table))
        cards = draw(st.booleans()) if with_cards is None else with_cards
        if cards:
            return TallySheet.from_cards(VE2024, table, draw(card_counts(100_000)), acta_id=acta, **extra)
        candidates = draw(st.tuples(*([st.integers(0, 100_000)] * N_CANDIDATES)))
        return TallySheet(table=table, candidates=candidates, acta_id=acta, **extra)

    return build()


def qr_payloads() -> st.SearchStrategy[str]:
    """Canonical QR payload strings (what a real acta's QR code holds)."""
    number = counts().map(str)
    return st.builds(
        lambda acta, cards, null, blank: f"{acta}!{','.join(cards)}!{null}!{blank}",
        acta_ids(),
        st.lists(number, min_size=N_CARDS, max_size=N_CARDS),
        number,
        number,
    )
