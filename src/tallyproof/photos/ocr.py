"""Reading the printed acta when no QR code can be read: Tesseract, and a cross-check of every count.

A Venezuelan acta prints, for each party card in ballot order, its acronym, its code, the votes in
digits and the same votes spelt digit by digit ("Cero, Uno, Uno, Dos" for 112). :func:`read_text`
runs Tesseract (Debian packages ``tesseract-ocr`` and ``tesseract-ocr-spa``; optional: without them the
rest of tallyproof works and photos without a readable QR go to review as before) on the top of the
strip, and :func:`parse` finds the acta id and the card lines. A count is *confirmed* when its digits
and its words agree; where only the words are legible, the words are taken and the count is not
confirmed. The result is a suggestion with a confidence (the share of confirmed counts): it never
overrides a QR code or an official value, and it always goes to review.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass

from PIL import Image

from tallyproof.election import Election
from tallyproof.sheets.sheet import TallySheet

__all__ = [
    "Box",
    "Doubt",
    "OcrRead",
    "Scan",
    "Summary",
    "available",
    "disagreements",
    "parse",
    "read_summary",
    "read_text",
    "read_valid",
    "scan",
    "summary_in",
    "valid_in",
]

Box = tuple[int, int, int, int]
"""A part of the photo, in its pixels: left, top, right, bottom."""

TOP = 0.6
"""Share of the strip, from the top, read by OCR (the counts and the summary; not the signatures)."""
DIGITS = {
    "cero": 0,
    "uno": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
}
_WORD = "(?:" + "|".join(DIGITS) + ")"
_CARD = re.compile(rf"(?P<code>\S+)\s+(?P<votes>\S+)\s+(?P<words>{_WORD}(?:[\s,.;]+{_WORD})*)[\s.,]*$", re.IGNORECASE)
_ACTA = re.compile(r"\b(\d{9}\.\d{2}\.\d\.\d{4})\b")


@dataclass(frozen=True, slots=True)
class OcrRead:
    acta_id: str | None
    counts: tuple[int | None, ...]
    """Per card line found, in order: the count (None where neither digits nor words are legible)."""
    confirmed: int
    """Counts whose digits and words agree."""
    codes_matching: int
    """Card lines whose printed code is the election's code for the card at that position."""
    agreeing: tuple[bool, ...] = ()
    """Per card line found: its digits and words agree."""
    regions: tuple[tuple[str, Box], ...] = ()
    """Where each field read is printed, by field (``acta_id``, ``card-1`` … in ballot order, ``valid``,
    ``null``): what a reviewer is shown beside the field."""
    valid: int | None = None
    """The valid votes printed in the summary box (digits and words agreeing), when read."""
    null: int | None = None
    """The null votes printed in the summary box (digits and words agreeing), when read."""

    @property
    def confidence(self) -> float:
        return self.confirmed / len(self.counts) if self.counts else 0.0

    def payload(self, election: Election) -> str | None:
        """A QR payload of what was read (null votes 0 when not read; blank votes 0, as real actas print no
        blank line), if every card's count was read."""
        if self.acta_id is None or len(self.counts) != len(election.cards) or None in self.counts:
            return None
        return f"{self.acta_id}!{','.join(str(c) for c in self.counts)}!{self.null or 0}!0"

    def doubts(self) -> list[Doubt]:
        """Where the printed acta contradicts itself: its card counts, all read, against its valid votes."""
        if (
            self.valid is None
            or None in self.counts
            or not self.counts
            or sum(c or 0 for c in self.counts) == self.valid
        ):
            return []
        total = sum(c or 0 for c in self.counts)
        return [Doubt("valid", f"the printed card counts add up to {total}, the printed valid votes are {self.valid}")]


def available() -> bool:
    """Whether Tesseract with its Spanish model is installed."""
    return shutil.which("tesseract") is not None


def _tesseract(img: Image.Image, psm: int, *extra: str) -> str:
    png = io.BytesIO()
    img.save(png, format="PNG")
    command = ["tesseract", "stdin", "stdout", "-l", "spa", "--psm", str(psm), *extra]
    return subprocess.run(command, input=png.getvalue(), capture_output=True, timeout=120).stdout.decode(
        "utf-8", "replace"
    )


@dataclass(frozen=True, slots=True)
class Scan:
    """One Tesseract pass over the top of the strip: its text, where each line is, and where "Resumen de
    votos" starts."""

    text: str
    summary_top: int | None
    boxes: tuple[Box, ...] = ()
    """Per line of ``text``: where it is printed."""


def scan(img: Image.Image) -> Scan:
    """Tesseract's words of the top of the strip (Spanish model, one column of lines, TSV: words with their
    positions), as lines of text, and the position of the summary box's heading."""
    text, boxes, words = _lines(_tesseract(_top(img), 4, "tsv"))
    summary = next((int(r[7]) for r in words if r[11].lower().startswith("resumen")), None)
    return Scan(text, summary, boxes)


def _lines(tsv: str, left: int = 0, top: int = 0) -> tuple[str, tuple[Box, ...], list[list[str]]]:
    """Tesseract's TSV as lines of text, each line's box (shifted by ``left``, ``top``), and the words."""
    rows = [r.split("\t") for r in tsv.splitlines()[1:]]
    words = [r for r in rows if len(r) == 12 and r[0] == "5"]  # level 5: a word
    lines: dict[tuple[str, str, str], list[list[str]]] = {}
    for r in words:
        lines.setdefault((r[2], r[3], r[4]), []).append(r)  # block, paragraph, line
    boxes = []
    for line in lines.values():
        x, y = [int(w[6]) for w in line], [int(w[7]) for w in line]
        x2, y2 = [int(w[6]) + int(w[8]) for w in line], [int(w[7]) + int(w[9]) for w in line]
        boxes.append((left + min(x), top + min(y), left + max(x2), top + max(y2)))
    text = "\n".join(" ".join(w[11] for w in line) for line in lines.values())
    return text, tuple(boxes), words


def read_text(img: Image.Image) -> str:
    """Tesseract's text of the top of the strip."""
    return scan(img).text


def _top(img: Image.Image) -> Image.Image:
    return img.crop((0, 0, img.width, int(img.height * TOP))) if img.height > 2 * img.width else img


SUMMARY_HEIGHT = 450
"""Pixels below "Resumen de votos" read as the summary box (it is about 400 px tall on real actas)."""
_SUMMARY = {
    key: re.compile(
        rf"(?:opciones|votos)\s+{label}\W+(?P<votes>\S+)\W+(?P<words>{_WORD}(?:[\s,.;]+{_WORD})*)", re.IGNORECASE
    )
    for key, label in (("valid", "v[aá]lid[ao]s"), ("null", "nul[ao]s"))
}
"""The summary box's lines read: valid and null votes, each in digits and spelt digit by digit."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What the summary box prints, where digits and words agree, and where each line is."""

    valid: int | None = None
    null: int | None = None
    regions: tuple[tuple[str, Box], ...] = ()


def read_valid(img: Image.Image, scanned: Scan | None = None) -> int | None:
    """The valid votes printed in the acta's summary box, if its digits and words agree (see
    :func:`read_summary`)."""
    return read_summary(img, scanned).valid


def read_summary(img: Image.Image, scanned: Scan | None = None) -> Summary:
    """The valid and null votes printed in the acta's summary box, where digits and words agree, and where:
    the box below "Resumen de votos" (found by :func:`scan`, or by ``scanned`` when it was already run)
    read as a block."""
    top = (scanned or scan(img)).summary_top
    if top is None:
        return Summary()
    start = top + 30
    box = img.crop((0, start, img.width, min(img.height, start + SUMMARY_HEIGHT)))
    text, boxes, _ = _lines(_tesseract(box, 6, "tsv"), 0, start)
    return summary_in(text, boxes)


def valid_in(text: str) -> int | None:
    """The valid votes of a summary box's text, when the digits and the words agree."""
    return summary_in(text).valid


def summary_in(text: str, boxes: tuple[Box, ...] = ()) -> Summary:
    """The valid and null votes of a summary box's text (its lines at ``boxes``), where digits and words
    agree."""
    found: dict[str, int] = {}
    regions = []
    for i, line in enumerate(text.splitlines()):
        for key, pattern in _SUMMARY.items():
            m = pattern.search(line)
            if key not in found and m and _number(m["votes"]) is not None and _number(m["votes"]) == _spelt(m["words"]):
                found[key] = _number(m["votes"]) or 0
                regions += [(key, boxes[i])] if i < len(boxes) else []
    return Summary(found.get("valid"), found.get("null"), tuple(regions))


def parse(text: str, election: Election, boxes: tuple[Box, ...] = ()) -> OcrRead:
    """The acta id and the card lines of an acta's text (see the module docstring); ``boxes``, where each
    line of ``text`` is printed (:attr:`Scan.boxes`), gives each field's region."""
    acta = _ACTA.search(text)
    counts: list[int | None] = []
    agreeing: list[bool] = []
    confirmed = matching = 0
    lines = text.splitlines()
    regions = [("acta_id", boxes[i]) for i, line in enumerate(lines) if _ACTA.search(line) and i < len(boxes)][:1]
    header = next((i for i, line in enumerate(lines) if "sigla" in line.lower()), -1)
    for i, line in enumerate(lines[header + 1 :], start=header + 1):  # after "Cand. Sigla Código NRO. Letras"
        found = _CARD.search(line.strip())
        if not found or len(counts) >= len(election.cards):
            continue
        if i < len(boxes):
            regions.append((f"card-{len(counts) + 1}", boxes[i]))
        words = _spelt(found["words"])
        digits = _number(found["votes"])
        confirmed += digits is not None and digits == words
        agreeing.append(digits is not None and digits == words)
        card = election.cards[len(counts)]
        matching += card.code is not None and _number(found["code"]) == card.code
        counts.append(words if words is not None else digits)
    return OcrRead(acta[1] if acta else None, tuple(counts), confirmed, matching, tuple(agreeing), tuple(regions))


def _spelt(words: str) -> int | None:
    """``"Cero, Uno, Uno, Dos"`` → 112."""
    tokens = [t.lower() for t in re.split(r"[\s,.;]+", words) if t]
    if not tokens or any(t not in DIGITS for t in tokens):
        return None
    return int("".join(str(DIGITS[t]) for t in tokens))


def _number(text: str) -> int | None:
    cleaned = text.strip(".,;|")
    return int(cleaned) if cleaned.isdigit() else None


@dataclass(frozen=True, slots=True)
class Doubt:
    """A field of the acta that a reviewer must look at, and why (the crop of ``field`` shows it)."""

    field: str
    said: str


def disagreements(sheet: TallySheet, read: OcrRead, election: Election) -> list[Doubt]:
    """Where a QR's sheet and the printed acta disagree, counting only printed counts whose digits and words
    agree (an illegible line is not a disagreement): the acta id, each such card, the printed null votes,
    and the printed valid votes against the QR's counts added up."""
    out = []
    if read.valid is not None and sheet.cards is not None and read.valid != sum(sheet.cards):
        said = f"the printed valid votes are {read.valid}, the QR's counts add up to {sum(sheet.cards)}"
        out.append(Doubt("valid", said))
    if read.null is not None and sheet.null is not None and read.null != sheet.null:
        out.append(Doubt("null", f"the printed null votes are {read.null}, the QR's {sheet.null}"))
    if read.acta_id is not None and sheet.acta_id is not None and read.acta_id != sheet.acta_id:
        out.append(Doubt("acta_id", f"the printed acta id is {read.acta_id}, the QR's {sheet.acta_id}"))
    cards = zip(election.cards, sheet.cards or (), read.counts, read.agreeing, strict=False)
    for position, (card, qr, printed, sure) in enumerate(cards, start=1):
        if sure and printed != qr:
            out.append(
                Doubt(f"card-{position}", f"card {card.id} ({card.code}) is printed {printed}, the QR says {qr}")
            )
    return out
