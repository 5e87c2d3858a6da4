"""Synthetic acta photos for tests: a printed acta de escrutinio drawn from a tally sheet, then degraded.

Real acta photos show the names and signatures of poll workers, so tests never use them; they use
these instead. :func:`render_acta` draws a long greyscale strip laid out like a VE 2024 acta (see
docs/data.md and ``ve2024/README.md``, "The acta and its QR code"): a title, the acta id,
place lines, "N ELECTORES", one row per party card in ballot order (votes in digits and in Spanish
words), the vote summary, the table officials with signature boxes, and at the bottom the QR code of
:func:`tallyproof.sheets.qr.to_qr` (error correction M, as on real actas) and a 64-hex line.
Everything printed besides the counts is obviously fake ("MIEMBRO DE MESA 1", "ESTADO 01"). Unlike
real actas, which spell counts digit by digit ("CERO, UNO, UNO, DOS"), the words here are the amount
("CIENTO DOCE"), which gives an OCR reader more to check.

The degradations are pure functions ``Image -> Image``, seeded through a NumPy ``Generator`` where they
draw at random, and compose in any order: :func:`blur`, :func:`jpeg`, :func:`rotate`, :func:`streaks`,
:func:`occlude`, :func:`crumple`, :func:`downscale`. :func:`degraded` renders and applies named steps
(:data:`STEPS`) and returns JPEG bytes, the way a photo reaches the reader.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.sheets.qr import to_qr
from tallyproof.sheets.sheet import TallySheet
from tallyproof.sheets.slip import plain

__all__ = [
    "STEPS",
    "Acta",
    "Box",
    "blur",
    "crumple",
    "degraded",
    "digit_words",
    "downscale",
    "jpeg",
    "occlude",
    "render_acta",
    "rotate",
    "spanish_words",
    "streaks",
]

Box = tuple[int, int, int, int]
"""A rectangle in pixels as Pillow crops it: (left, top, right, bottom), right and bottom exclusive."""

FONT_SIZE = 20
"""Text size in pixels (Pillow's built-in font, ``ImageFont.load_default(size=...)``): legible for OCR."""
LINE = 28
"""Distance between text lines, in pixels."""
CARD_ROW = 40
"""Distance between party-card rows, in pixels (real actas print them about 40 px apart at 640 px wide)."""
MARGIN = 24
"""Left and right margin, in pixels."""
TOP = 360
"""Blank paper above the title (real strips start with a long lead)."""
BOTTOM = 120
"""Blank paper below the 64-hex line."""
COLUMNS = (0.34, 0.37, 0.55, 0.59)
"""Card and summary rows, as fractions of the width: right edge of the party acronym (or label), left
edge of the party code, right edge of the votes in digits, left edge of the votes in words."""
SIGNATURE = 200
"""Height of each official's signature box, in pixels."""
OFFICIALS = ("PRESIDENTE", "MIEMBRO", "MIEMBRO", "SECRETARIO", "OPERADOR")
"""The roles printed above the signature boxes; the names are "MIEMBRO DE MESA <n>"."""
QR_WIDTH = 280
"""Target width of the QR symbol without its quiet zone; the module size is the nearest whole number."""
QR_BORDER = 4
"""Quiet zone around the QR symbol, in modules (the QR standard's minimum)."""
JPEG_QUALITY = 90
"""Quality of the JPEG that :func:`degraded` returns (a phone or scanner default)."""
INK = 0
PAPER = 255
_CANVAS = 20_000
"""Height drawn on before cropping to the acta's length."""


@dataclass(frozen=True, slots=True)
class Acta:
    """A rendered acta and where things are on it (boxes refer to this image, before any degradation)."""

    image: Image.Image
    payload: str
    """The QR text, ``to_qr(sheet)``."""
    qr_box: Box
    """The QR symbol with its quiet zone: cropped to this box, it decodes to ``payload``."""
    text_boxes: Mapping[str, Box]
    """Printed lines by key: ``title``, ``acta_id``, ``electores``, ``candidate:<id>``, ``card:<id>``,
    ``cards`` (all candidate and card rows), ``votes``, ``valid``, ``null``, ``blank``, ``hash``."""


# --- Spanish numerals ------------------------------------------------------------------------------------

_BELOW_30 = (
    "CERO UNO DOS TRES CUATRO CINCO SEIS SIETE OCHO NUEVE DIEZ ONCE DOCE TRECE CATORCE QUINCE DIECISEIS "
    "DIECISIETE DIECIOCHO DIECINUEVE VEINTE VEINTIUNO VEINTIDOS VEINTITRES VEINTICUATRO VEINTICINCO "
    "VEINTISEIS VEINTISIETE VEINTIOCHO VEINTINUEVE"
).split()
_TENS = "- - - TREINTA CUARENTA CINCUENTA SESENTA SETENTA OCHENTA NOVENTA".split()
_HUNDREDS = (
    "- CIENTO DOSCIENTOS TRESCIENTOS CUATROCIENTOS QUINIENTOS SEISCIENTOS SETECIENTOS OCHOCIENTOS NOVECIENTOS"
).split()


def spanish_words(n: int) -> str:
    """``n`` (0–999,999) in Spanish words, upper case without accents, as a thermal printer prints them.

    Follows the Real Academia Española's rules for cardinals: "VEINTIUNO", "CIEN" but "CIENTO UNO",
    "MIL" (not "UN MIL"), and "UNO" shortened to "UN" before "MIL" ("VEINTIUN MIL").
    """
    if not 0 <= n <= 999_999:
        raise InputError(f"{n} is outside 0–999,999", where="spanish_words")
    if n == 0:
        return "CERO"
    thousands, rest = divmod(n, 1000)
    words = [] if thousands == 0 else ["MIL"] if thousands == 1 else [_below_1000(thousands, apocope=True), "MIL"]
    if rest:
        words.append(_below_1000(rest, apocope=False))
    return " ".join(words)


def digit_words(n: int) -> str:
    """A count spelt digit by digit over four digits, as real actas print it: 112 → ``CERO, UNO, UNO, DOS``."""
    return ", ".join(_BELOW_30[int(d)] for d in f"{n:04d}")


def _below_1000(n: int, *, apocope: bool) -> str:
    hundreds, rest = divmod(n, 100)
    words = [] if hundreds == 0 else ["CIEN" if n == 100 else _HUNDREDS[hundreds]]
    if rest:
        words.append(_below_100(rest, apocope=apocope))
    return " ".join(words)


def _below_100(n: int, *, apocope: bool) -> str:
    tens, unit = divmod(n, 10)
    text = _BELOW_30[n] if n < 30 else _TENS[tens] + (f" Y {_BELOW_30[unit]}" if unit else "")
    return text[:-1] if apocope and text.endswith("UNO") else text


# --- Drawing ---------------------------------------------------------------------------------------------


@functools.cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@dataclass
class _Pen:
    """Draws top to bottom on a tall canvas, remembering the box of each keyed line (a key drawn twice,
    like the two lines of the 64-hex string, gets the box around both)."""

    draw: ImageDraw.ImageDraw
    width: int
    y: int = TOP
    boxes: dict[str, Box] = field(default_factory=dict)
    spell: Callable[[int], str] = field(default=lambda n: spanish_words(n))

    def put(self, x: float, text: str, *, anchor: str = "la", bold: bool = False) -> Box:
        stroke = 1 if bold else 0
        self.draw.text((x, self.y), text, fill=INK, font=_font(), anchor=anchor, stroke_width=stroke, stroke_fill=INK)
        left, top, right, bottom = self.draw.textbbox(
            (x, self.y), text, font=_font(), anchor=anchor, stroke_width=stroke
        )
        return (math.floor(left), math.floor(top), math.ceil(right) + 1, math.ceil(bottom) + 1)

    def wrap(self, text: str, width: float) -> list[str]:
        lines: list[str] = []
        for word in text.split():
            if lines and self.draw.textlength(f"{lines[-1]} {word}", font=_font()) <= width:
                lines[-1] += f" {word}"
            else:
                lines.append(word)
        return lines or [""]

    def line(self, text: str, key: str | None = None, *, center: bool = False, bold: bool = False) -> None:
        boxes = []
        for part in self.wrap(text, self.width - 2 * MARGIN):
            x, anchor = (self.width / 2, "ma") if center else (MARGIN, "la")
            boxes.append(self.put(x, part, anchor=anchor, bold=bold))
            self.y += LINE
        if key:
            self.boxes[key] = _union([*boxes, self.boxes.get(key, boxes[0])])

    def row(self, key: str, label: str, code: str, count: int) -> None:
        """One card or summary row: label, code, votes in digits and in words (wrapped in their column)."""
        x = [f * self.width for f in COLUMNS]
        boxes = [self.put(x[0], label, anchor="ra"), self.put(x[2], str(count), anchor="ra")]
        if code:
            boxes.append(self.put(x[1], code))
        words = self.wrap(self.spell(count), self.width - MARGIN - x[3])
        for i, part in enumerate(words):
            self.y += LINE if i else 0
            boxes.append(self.put(x[3], part))
        self.boxes[key] = _union(boxes)
        self.y += CARD_ROW

    def rule(self) -> None:
        self.draw.line((MARGIN, self.y, self.width - MARGIN, self.y), fill=INK, width=2)
        self.y += LINE // 2


def render_acta(
    sheet: TallySheet, election: Election, *, seed: int = 0, width: int = 640, digit_by_digit: bool = False
) -> Acta:
    """Draw ``sheet`` as a printed acta, a greyscale strip ``width`` px wide and about 8 times as tall.

    ``seed`` chooses what is not in the sheet (the UUID, print time, signatures); the same arguments
    always give the same pixels. ``digit_by_digit`` spells the votes as real actas do (:func:`digit_words`)
    instead of as an amount. Raises :class:`~tallyproof.errors.CodecError` for a sheet without per-card
    counts (it has no QR payload).
    """
    payload = to_qr(sheet)
    rng = np.random.default_rng(seed)
    image = Image.new("L", (width, _CANVAS), PAPER)
    pen = _Pen(ImageDraw.Draw(image), width, spell=digit_words if digit_by_digit else spanish_words)
    _header(pen, sheet, election, payload, rng)
    _cards(pen, sheet, election)
    _summary(pen, sheet)
    _officials(pen, rng)
    qr_box = _qr(image, pen, payload)
    digest = hashlib.sha256(f"{seed}:{payload}".encode()).hexdigest().upper()  # stands in for the unexplained hex
    pen.line(digest[:40], "hash", center=True)
    pen.line(digest[40:], "hash", center=True)
    return Acta(image.crop((0, 0, width, pen.y + BOTTOM)), payload, qr_box, dict(pen.boxes))


def _header(pen: _Pen, sheet: TallySheet, election: Election, payload: str, rng: np.random.Generator) -> None:
    centre = sheet.table.split(".")[0]
    printed = dt.datetime.combine(election.date, dt.time(18)) + dt.timedelta(seconds=int(rng.integers(0, 6 * 3600)))
    pen.line("ACTA DE ESCRUTINIO", "title", center=True, bold=True)
    pen.line(payload.split("!")[0], "acta_id", center=True)
    pen.line(str(uuid.UUID(bytes=rng.bytes(16), version=4)), center=True)
    pen.line(printed.strftime("%d/%m/%Y %I:%M:%S %p"), center=True)
    pen.y += LINE
    pen.line(plain(election.name), center=True, bold=True)
    pen.y += LINE
    for level, digits in (("ESTADO", centre[:2]), ("MUNICIPIO", centre[2:4]), ("PARROQUIA", centre[4:6])):
        pen.line(f"{level} EJEMPLO {digits} (SINTETICO)")
    pen.line(f"CENTRO DE VOTACION SINTETICO {centre[6:]}")
    pen.line(f"CENTRO {centre}  MESA {sheet.table.split('.')[-1]}")
    registered = "-" if sheet.registered is None else str(sheet.registered)
    pen.line(f"N ELECTORES: {registered}", "electores", bold=True)
    pen.y += LINE
    pen.line("CAND.  SIGLA  CODIGO  NRO.  LETRAS")
    pen.rule()


def _cards(pen: _Pen, sheet: TallySheet, election: Election) -> None:
    top, names = pen.y, {c.id: c.name for c in election.candidates}
    previous = None
    for card, votes in zip(election.cards, sheet.cards or (), strict=True):
        if card.candidate != previous:
            pen.line(plain(names[card.candidate]), f"candidate:{card.candidate}", bold=True)
            pen.y += LINE // 2
            previous = card.candidate
        pen.row(f"card:{card.id}", plain(card.name), "" if card.code is None else str(card.code), votes)
    pen.boxes["cards"] = (MARGIN, top, pen.width - MARGIN, pen.y)
    pen.rule()


def _summary(pen: _Pen, sheet: TallySheet) -> None:
    valid, null, blank = sum(sheet.cards or ()), sheet.null or 0, sheet.blank or 0
    pen.line("RESUMEN DE VOTOS", center=True, bold=True)
    pen.y += LINE // 2
    for key, label, count in (
        ("votes", "VOTOS", valid + null + blank),
        ("valid", "VOTOS VALIDOS", valid),
        ("null", "VOTOS NULOS", null),
        ("blank", "VOTOS VACIOS", blank),
    ):
        pen.row(key, label, "", count)
    pen.rule()


def _officials(pen: _Pen, rng: np.random.Generator) -> None:
    pen.line("MIEMBROS DE LA MESA ELECTORAL", center=True, bold=True)
    for number, role in enumerate(OFFICIALS, start=1):
        pen.y += LINE // 2
        pen.line(role, bold=True)
        pen.line(f"NOMBRE: MIEMBRO DE MESA {number}")
        pen.line(f"CI: 0000000{number}")
        pen.line("FIRMA:")
        box = (MARGIN, pen.y, pen.width - MARGIN, pen.y + SIGNATURE)
        pen.draw.rectangle(box, outline=INK, width=1)
        _scribble(pen.draw, box, rng)
        pen.y += SIGNATURE + LINE


def _scribble(draw: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    """A made-up signature: a seeded Lissajous-like loop inside ``box``."""
    left, top, right, bottom = box
    t = np.linspace(0, 2 * np.pi, 200)
    fx, fy, phase = rng.integers(1, 5), rng.integers(2, 7), rng.uniform(0, np.pi)
    xs = (left + right) / 2 + (right - left) * 0.3 * np.sin(fx * t + phase) * np.linspace(0.6, 1, t.size)
    ys = (top + bottom) / 2 + (bottom - top) * 0.35 * np.sin(fy * t)
    draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=INK, width=2)


def _qr(image: Image.Image, pen: _Pen, payload: str) -> Box:
    """Paste the QR of ``payload`` (error correction M, no micro QR) centred; return its box with quiet zone."""
    code = segno.make(payload, error="m", micro=False, boost_error=False)
    modules = np.array(code.matrix, dtype=bool)
    scale = max(2, round(QR_WIDTH / modules.shape[0]))
    dots = np.pad(modules, QR_BORDER).repeat(scale, axis=0).repeat(scale, axis=1)
    symbol = Image.fromarray(np.where(dots, INK, PAPER).astype(np.uint8))
    left = (pen.width - symbol.width) // 2
    box = (left, pen.y, left + symbol.width, pen.y + symbol.height)
    image.paste(symbol, box[:2])
    pen.y = box[3] + LINE // 2
    return box


# --- Degradations ----------------------------------------------------------------------------------------


def blur(img: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur (an out-of-focus photo)."""
    return img.filter(ImageFilter.GaussianBlur(radius))


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG at ``quality`` (1–95) and decode again: block artefacts around modules and letters."""
    with Image.open(io.BytesIO(_jpeg_bytes(img, int(quality)))) as out:
        return out.convert("L")


def rotate(img: Image.Image, degrees: float, *, expand: bool = True, fill: int = PAPER) -> Image.Image:
    """Rotate counter-clockwise by ``degrees`` (bicubic), filling the uncovered corners with ``fill``."""
    return img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=expand, fillcolor=fill)


def streaks(img: Image.Image, count: int, *, rng: np.random.Generator, region: Box | None = None) -> Image.Image:
    """``count`` thin light or dark lines, 1–3 px wide, as a worn thermal head or a dirty scanner leaves.

    Vertical streaks run the whole length of the strip (the paper moves under the head); horizontal ones
    cross its whole width. Their positions are drawn inside ``region`` (default: the whole image), so
    with the QR's box they all cross the QR.
    """
    pixels = np.array(img)
    left, top, right, bottom = region or (0, 0, img.width, img.height)
    for _ in range(count):
        size, shade = int(rng.integers(1, 4)), int(rng.choice([rng.integers(0, 60), rng.integers(230, 256)]))
        if rng.random() < 0.5:
            x = int(rng.integers(left, max(left + 1, right - size)))
            pixels[:, x : x + size] = shade
        else:
            y = int(rng.integers(top, max(top + 1, bottom - size)))
            pixels[y : y + size, :] = shade
    return Image.fromarray(pixels)


def occlude(img: Image.Image, region: Box, fraction: float, *, rng: np.random.Generator) -> Image.Image:
    """Cover about ``fraction`` of ``region``'s area with a blob (a thumb, a fold, a stain or glare).

    The blob is an irregular polygon inside an ellipse of that area, dark or white (at random), placed at random
    wholly inside ``region``.
    """
    left, top, right, bottom = region
    w, h = right - left, bottom - top
    area = fraction * w * h
    rx = min(math.sqrt(area / math.pi), w / 2)
    ry = min(area / (math.pi * rx), h / 2)
    cx, cy = rng.uniform(left + rx, right - rx), rng.uniform(top + ry, bottom - ry)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    wobble = 1 - 0.15 * rng.random(angles.size)
    xs, ys = cx + rx * wobble * np.cos(angles), cy + ry * wobble * np.sin(angles)
    points = list(zip(xs.tolist(), ys.tolist(), strict=True))
    out = img.copy()
    ImageDraw.Draw(out).polygon(points, fill=int(rng.choice([40, 90, 250])))
    return out


def crumple(img: Image.Image, *, rng: np.random.Generator, strength: float = 0.03) -> Image.Image:
    """A mildly bent, unevenly lit photo: each corner moved by up to ``strength`` x width, then a shadow
    darkening one side by up to 25%."""
    w, h = img.size
    corners = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=float)
    moved = corners + rng.uniform(-strength * w, strength * w, size=corners.shape)
    warped = img.transform(
        img.size, Image.Transform.PERSPECTIVE, _perspective(moved, corners), Image.Resampling.BICUBIC, fillcolor=PAPER
    )
    shade = np.linspace(1.0, 1.0 - rng.uniform(0.1, 0.25), w)[:: int(rng.choice([-1, 1]))]
    return Image.fromarray((np.asarray(warped) * shade).astype(np.uint8))


def _perspective(output: np.ndarray, source: np.ndarray) -> tuple[float, ...]:
    """Pillow's eight perspective coefficients mapping ``output`` corners back to ``source`` corners."""
    rows = []
    for (x, y), (u, v) in zip(output, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return tuple(np.linalg.solve(np.array(rows), source.ravel()).tolist())


def downscale(img: Image.Image, factor: float) -> Image.Image:
    """Shrink by ``factor`` (0 < factor <= 1) with area averaging, as a low-resolution capture does."""
    if not 0 < factor <= 1:
        raise InputError(f"downscale factor {factor} is not in (0, 1]", where="downscale")
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img.resize(size, Image.Resampling.BOX)


# --- Named steps -----------------------------------------------------------------------------------------

_Step = Callable[[Image.Image, Acta, float, np.random.Generator], Image.Image]

STEPS: Mapping[str, tuple[float, _Step]] = {
    "blur": (1.5, lambda img, acta, x, rng: blur(img, x)),
    "jpeg": (30, lambda img, acta, x, rng: jpeg(img, int(x))),
    "streaks": (8, lambda img, acta, x, rng: streaks(img, int(x), rng=rng, region=acta.qr_box)),
    "occlude-qr": (0.4, lambda img, acta, x, rng: occlude(img, acta.qr_box, x, rng=rng)),
    "occlude-text": (0.3, lambda img, acta, x, rng: occlude(img, acta.text_boxes["cards"], x, rng=rng)),
    "rotate": (90, lambda img, acta, x, rng: rotate(img, x)),
    "crumple": (0.03, lambda img, acta, x, rng: crumple(img, rng=rng, strength=x)),
    "downscale": (0.5, lambda img, acta, x, rng: downscale(img, x)),
}
"""Steps for :func:`degraded`, by name: (default parameter, function). ``streaks`` cross the QR;
``occlude-text`` covers part of the card rows."""
_GEOMETRIC = frozenset({"rotate", "crumple", "downscale"})
"""Steps after which the acta's boxes no longer point at the right pixels."""
_PLACED = frozenset({"streaks", "occlude-qr", "occlude-text"})
"""Steps placed by the acta's boxes."""


def degraded(sheet: TallySheet, election: Election, *, seed: int, steps: Sequence[str]) -> bytes:
    """Render ``sheet`` with ``seed``, apply ``steps`` in order and return the result as JPEG bytes.

    A step is a name of :data:`STEPS`, optionally with a parameter: ``"blur"``, ``"blur:2.5"``,
    ``"rotate:-90"``. Step ``i`` draws from ``numpy.random.default_rng([seed, i])``. Steps placed by the
    acta's boxes (``streaks``, ``occlude-*``) must come before geometric ones (``rotate``, ``crumple``,
    ``downscale``); otherwise :class:`~tallyproof.errors.InputError`, like an unknown step.
    """
    acta = render_acta(sheet, election, seed=seed)
    img, moved = acta.image, False
    for i, step in enumerate(steps):
        name, _, arg = step.partition(":")
        if name not in STEPS:
            raise InputError(f"unknown step {name!r}; known: {', '.join(STEPS)}", where=f"steps[{i}]")
        if moved and name in _PLACED:
            raise InputError(f"{name!r} is placed by the acta's boxes: put it before rotate, crumple, downscale")
        default, apply = STEPS[name]
        img = apply(img, acta, float(arg) if arg else default, np.random.default_rng([seed, i]))
        moved = moved or name in _GEOMETRIC
    return _jpeg_bytes(img)


def _jpeg_bytes(img: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
