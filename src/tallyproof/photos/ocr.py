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
    "available",
    "disagreements",
    "find_valid",
    "parse",
    "read_text",
    "read_valid",
    "scan",
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
    """Where each field read is printed, by field (``acta_id``, ``card-1`` … in ballot order, ``valid``):
    what a reviewer is shown beside the field."""

    @property
    def confidence(self) -> float:
        return self.confirmed / len(self.counts) if self.counts else 0.0

    def payload(self, election: Election) -> str | None:
        """A QR payload of what was read (null and blank votes 0), if every card's count was read."""
        if self.acta_id is None or len(self.counts) != len(election.cards) or None in self.counts:
            return None
        return f"{self.acta_id}!{','.join(str(c) for c in self.counts)}!0!0"


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
_VALID = re.compile(
    rf"(?:opciones|votos)\s+v[aá]lid[ao]s\W+(?P<votes>\S+)\W+(?P<words>{_WORD}(?:[\s,.;]+{_WORD})*)", re.I
)


def read_valid(img: Image.Image, scanned: Scan | None = None) -> int | None:
    """The valid votes printed in the acta's summary box, if its digits and words agree (see
    :func:`find_valid`)."""
    return find_valid(img, scanned)[0]


def find_valid(img: Image.Image, scanned: Scan | None = None) -> tuple[int | None, Box | None]:
    """The valid votes printed in the acta's summary box, if its digits and words agree, and where: the box
    below "Resumen de votos" (found by :func:`scan`, or by ``scanned`` when it was already run) read as a
    block."""
    top = (scanned or scan(img)).summary_top
    if top is None:
        return None, None
    start = top + 30
    box = img.crop((0, start, img.width, min(img.height, start + SUMMARY_HEIGHT)))
    text, boxes, _ = _lines(_tesseract(box, 6, "tsv"), 0, start)
    return _valid_line(text, boxes)


def valid_in(text: str) -> int | None:
    """The valid votes of a summary box's text, when the digits and the words agree."""
    return _valid_line(text, ())[0]


def _valid_line(text: str, boxes: tuple[Box, ...]) -> tuple[int | None, Box | None]:
    for i, line in enumerate(text.splitlines()):
        found = _VALID.search(line)
        if found and _number(found["votes"]) is not None and _number(found["votes"]) == _spelt(found["words"]):
            return _spelt(found["words"]), boxes[i] if i < len(boxes) else None
    return None, None


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


def disagreements(sheet: TallySheet, read: OcrRead, election: Election, *, valid: int | None = None) -> list[Doubt]:
    """Where a QR's sheet and the printed acta disagree, counting only printed counts whose digits and words
    agree (an illegible line is not a disagreement): the acta id, each such card, and the printed valid
    votes (``valid``) against the QR's counts added up."""
    out = []
    if valid is not None and sheet.cards is not None and valid != sum(sheet.cards):
        out.append(Doubt("valid", f"the printed valid votes are {valid}, the QR's counts add up to {sum(sheet.cards)}"))
    if read.acta_id is not None and sheet.acta_id is not None and read.acta_id != sheet.acta_id:
        out.append(Doubt("acta_id", f"the printed acta id is {read.acta_id}, the QR's {sheet.acta_id}"))
    cards = zip(election.cards, sheet.cards or (), read.counts, read.agreeing, strict=False)
    for position, (card, qr, printed, sure) in enumerate(cards, start=1):
        if sure and printed != qr:
            out.append(
                Doubt(f"card-{position}", f"card {card.id} ({card.code}) is printed {printed}, the QR says {qr}")
            )
    return out
