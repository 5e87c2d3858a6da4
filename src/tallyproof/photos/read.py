"""Reading an acta photo: its QR code first, through a cascade of image repairs, every attempt recorded.

:func:`read_photo` takes the bytes of a photo as received and tries, in order, the steps of
:data:`CASCADE` until one gives a QR payload that decodes *and* passes the checks of a tally sheet
(:func:`tallyproof.sheets.sheet.check`, and the table expected from the submitter or the file name,
when known). A QR that decodes to something else is not accepted: the next step is tried, and a
photo whose every step fails goes to review with the reason. Nothing is guessed, so a wrong value is
never accepted without a human looking at it.

The steps, cheapest first: the photo as it is; where the QR sits on an acta (the bottom of the
strip); that region enlarged; dark specks removed (scan streaks); dark strokes thickened (gaps in
modules); a global threshold (Otsu); finder patterns restored (their dark centres painted back where they
printed light, :mod:`tallyproof.photos.finder`); and small rotations (a photo taken askew). zxing-cpp itself
already tries 90° rotations, inverted images and downscaled copies within each step.

Bad files — not an image, truncated, a decompression bomb, too large — raise :class:`PhotoError`
naming the file; a batch of photos records it and goes on.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from scipy import ndimage

from tallyproof.election import Election
from tallyproof.errors import CodecError, TallyproofError
from tallyproof.photos import ocr as printed_text
from tallyproof.photos.finder import finders_restored, otsu_cut
from tallyproof.photos.ocr import Box, Doubt, OcrRead
from tallyproof.sheets.qr import from_qr, looks_like_qr
from tallyproof.sheets.sheet import Severity, TallySheet, check
from tallyproof.sheets.signed import SignedSheet

__all__ = [
    "CASCADE",
    "MAX_BYTES",
    "MAX_PIXELS",
    "Attempt",
    "PhotoError",
    "PhotoRead",
    "crops",
    "load_image",
    "qr_box",
    "read_photo",
    "review_image",
    "table_in_name",
]

MAX_BYTES = 50 * 2**20
"""Largest photo file read (real actas are 0.1–3 MB)."""
MAX_PIXELS = 60_000_000
"""Largest image read, in pixels (a real acta strip is about 4.5 million); above it, a decompression bomb."""
QR_REGION = 0.30
"""Share of a tall strip, from the bottom, searched for the QR (real actas print it last)."""


class PhotoError(CodecError):
    """A photo that cannot be read as an image at all."""


@dataclass(frozen=True, slots=True)
class Attempt:
    step: str
    found: str | None
    """The QR text found, if any."""
    problem: str | None
    """Why it was not accepted (nothing found, or what the payload failed)."""
    seconds: float


@dataclass(frozen=True, slots=True)
class PhotoRead:
    name: str
    sha256: str
    status: str
    """``qr`` (read and checked), ``review`` (nothing acceptable: a human must look) or ``bad-file``."""
    payload: str | None = None
    sheet: TallySheet | None = None
    step: str | None = None
    """The step of the cascade that succeeded."""
    attempts: tuple[Attempt, ...] = ()
    reason: str | None = None
    warnings: tuple[str, ...] = field(default=())
    """Findings of the checks that do not refuse the sheet (e.g. counts above registered voters)."""
    ocr: OcrRead | None = None
    """What the printed text said, when no QR could be read and Tesseract is installed: a suggestion for
    review, never a value accepted."""
    regions: tuple[tuple[str, Box], ...] = ()
    """Where fields are printed (``qr``, and what OCR located: ``acta_id``, ``card-N``, ``valid``)."""
    doubts: tuple[Doubt, ...] = ()
    """The fields a reviewer must look at, and why: shown beside the crop of their region."""


Step = tuple[str, Callable[[Image.Image], Image.Image]]
_OTHER_TABLE = "the photo was sent for table"
_QR = zxingcpp.barcode_formats_from_str("QRCode")


def qr_box(img: Image.Image) -> Box:
    """Where the QR is searched first: the bottom of a tall strip, else the whole photo."""
    w, h = img.size
    return (0, int(h * (1 - QR_REGION)), w, h) if h > 2 * w else (0, 0, w, h)


def _qr_region(img: Image.Image) -> Image.Image:
    return img.crop(qr_box(img))


def _enlarged(img: Image.Image) -> Image.Image:
    region = _qr_region(img)
    return region.resize((region.width * 2, region.height * 2), Image.Resampling.LANCZOS)


def _otsu(img: Image.Image) -> Image.Image:
    """Otsu's threshold (1979): the cut that best separates dark modules from light paper."""
    grey = np.asarray(_qr_region(img))
    return Image.fromarray(np.where(grey > otsu_cut(grey), 255, 0).astype(np.uint8))


def _destreaked(size: int, scale: int = 1) -> Callable[[Image.Image], Image.Image]:
    """Thin printer streaks removed: a grey opening (light lines through dark modules) then a closing (dark
    lines across light ones), each along the rows (for vertical streaks) and the columns (horizontal
    ones), with a line ``size`` pixels long, shorter than a module, so modules keep their shape."""

    def repair(img: Image.Image) -> Image.Image:
        region = _qr_region(img)
        if scale > 1:
            region = region.resize((region.width * scale, region.height * scale), Image.Resampling.LANCZOS)
        grey = np.asarray(region)
        for shape in ((1, size), (size, 1)):
            grey = ndimage.grey_closing(ndimage.grey_opening(grey, size=shape), size=shape)
        return Image.fromarray(grey)

    return repair


def _rotated(degrees: float) -> Callable[[Image.Image], Image.Image]:
    return lambda img: _qr_region(img).rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


CASCADE: tuple[Step, ...] = (
    ("as received", lambda img: img),
    ("QR region", _qr_region),
    ("QR region, contrast stretched", lambda img: ImageOps.autocontrast(_qr_region(img), cutoff=1)),
    ("QR region enlarged 2x", _enlarged),
    (
        "streaks removed (opening)",
        lambda img: _qr_region(img).filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.MinFilter(3)),
    ),
    (
        "gaps closed (closing)",
        lambda img: _qr_region(img).filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3)),
    ),
    ("streaks repaired", _destreaked(5)),
    ("streaks repaired, enlarged 2x", _destreaked(9, scale=2)),
    ("Otsu threshold", _otsu),
    ("finder patterns restored", lambda img: finders_restored(_qr_region(img))),
    ("rotated 4°", _rotated(4)),
    ("rotated -4°", _rotated(-4)),
    ("rotated 8°", _rotated(8)),
    ("rotated -8°", _rotated(-8)),
)
"""The repairs tried in turn (see the module docstring)."""


def load_image(data: bytes, *, name: str) -> Image.Image:
    """The photo as a greyscale image; :class:`PhotoError` naming ``name`` if it is not a usable image."""
    if len(data) > MAX_BYTES:
        raise PhotoError(f"{len(data):,} bytes, more than the {MAX_BYTES:,} a photo may have", where=name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise PhotoError(
                    f"{img.width:,} x {img.height:,} pixels: too large to be a photo of an acta", where=name
                )
            img.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError(f"not a readable image ({type(exc).__name__})", where=name) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise PhotoError(f"a damaged image: {exc}", where=name) from exc
    return ImageOps.exif_transpose(img).convert("L")


def read_photo(
    data: bytes,
    election: Election,
    *,
    name: str,
    expected_table: str | None = None,
    ocr: bool = True,
    check_printed: bool = False,
) -> PhotoRead:
    """Find, decode and check the acta's QR code (see the module docstring); when none is acceptable and
    ``ocr`` is on and Tesseract installed, read the printed counts as a suggestion for review. With
    ``check_printed`` (and Tesseract), a QR that disagrees with the printed acta goes to review too."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        img = load_image(data, name=name)
    except PhotoError as exc:
        return PhotoRead(name, digest, "bad-file", reason=exc.message)
    attempts: list[Attempt] = []
    for step, repair in CASCADE:
        start = time.perf_counter()
        found, sheet, problem, notes = _try(repair(img), election, expected_table)
        attempts.append(Attempt(step, found, problem, time.perf_counter() - start))
        if sheet is not None and found is not None:
            if not (check_printed and printed_text.available()):
                return PhotoRead(name, digest, "qr", found, sheet, step, tuple(attempts), warnings=notes)
            printed = _printed(img, election)
            differ = tuple(printed_text.disagreements(sheet, printed, election))
            status, reason = ("review", "the QR and the printed acta disagree: " + "; ".join(d.said for d in differ))
            if not differ:
                return PhotoRead(
                    name, digest, "qr", found, sheet, step, tuple(attempts), None, notes, printed, printed.regions
                )
            return PhotoRead(
                name, digest, status, found, None, step, tuple(attempts), reason, (), printed, printed.regions, differ
            )
    return _unread(img, election, name, digest, tuple(attempts), ocr=ocr)


def _unread(
    img: Image.Image, election: Election, name: str, digest: str, attempts: tuple[Attempt, ...], *, ocr: bool
) -> PhotoRead:
    """A photo no step read: to review, with why, the QR's region, and what the printed text suggests."""
    last: str = next((a.problem for a in reversed(attempts) if a.problem and a.found), "no QR code found by any step")
    doubts = [Doubt("qr", last)]
    if _OTHER_TABLE in last:
        doubts.append(Doubt("acta_id", last))
    if not (ocr and printed_text.available()):
        return PhotoRead(
            name, digest, "review", attempts=attempts, reason=last, regions=(("qr", qr_box(img)),), doubts=tuple(doubts)
        )
    printed = _printed(img, election)
    last += (
        f"; the printed text gives {len(printed.counts)} card counts, {printed.confirmed} confirmed by their "
        f"words (confidence {printed.confidence:.0%}): a suggestion for the reviewers"
    )
    doubts += printed.doubts()
    return PhotoRead(
        name,
        digest,
        "review",
        attempts=attempts,
        reason=last,
        ocr=printed,
        regions=printed.regions,
        doubts=tuple(doubts),
    )


def _printed(img: Image.Image, election: Election) -> OcrRead:
    """The printed acta (card counts, valid and null votes) and where every field read is printed: one
    Tesseract pass over the strip, and one more over its summary box."""
    scanned = printed_text.scan(img)
    read = printed_text.parse(scanned.text, election, scanned.boxes)
    summary = printed_text.read_summary(img, scanned)
    regions = (("qr", qr_box(img)), *read.regions, *summary.regions)
    return replace(read, valid=summary.valid, null=summary.null, regions=regions)


def _try(
    img: Image.Image, election: Election, expected_table: str | None
) -> tuple[str | None, TallySheet | None, str | None, tuple[str, ...]]:
    """The QR text found in ``img``, the sheet if it is acceptable, else why not, and its warnings."""
    codes = zxingcpp.read_barcodes(img, formats=_QR)
    if not codes:
        return None, None, "no QR code found", ()
    text = codes[0].text
    try:
        sheet = _decode(text, election)
    except TallyproofError as exc:
        return text, None, f"the QR does not hold a tally sheet: {exc}", ()
    findings = check(sheet, election)
    errors = [str(f) for f in findings if f.severity is Severity.ERROR]
    if errors:
        return text, None, "; ".join(errors), ()
    if expected_table is not None and sheet.table != expected_table:
        return text, None, f"the QR is of table {sheet.table}, {_OTHER_TABLE} {expected_table}", ()
    return text, sheet, None, tuple(str(f) for f in findings)


def _decode(text: str, election: Election) -> TallySheet:
    if looks_like_qr(text.strip()):
        return from_qr(text.strip(), election)
    return SignedSheet.from_text(text.strip(), election).sheet


def crops(data: bytes, boxes: Mapping[str, Box], *, margin: int = 12, width: int = 480) -> dict[str, bytes]:
    """Each part ``boxes`` names of a photo (with ``margin`` pixels around), as a PNG at most ``width``
    pixels wide: what a reviewer sees beside a field. The photo is decoded once for all of them."""
    img = load_image(data, name="photo")
    out = {}
    for key, (left, top, right, bottom) in boxes.items():
        part = img.crop(
            (
                max(0, left - margin),
                max(0, top - margin),
                min(img.width, right + margin),
                min(img.height, bottom + margin),
            )
        )
        out[key] = _png(part, min(width, part.width))  # narrow crops are not enlarged
    return out


def review_image(data: bytes, *, width: int = 480) -> bytes:
    """The part of an acta photo a reviewer needs (the counts and the QR; not the signatures below the
    counts when the strip is long), as a PNG ``width`` pixels wide, for the review page."""
    img = load_image(data, name="photo")
    if img.height > 2 * img.width:
        img = img.crop((0, 0, img.width, int(img.height * 0.6)))
    return _png(img, width)


def _png(img: Image.Image, width: int) -> bytes:
    """``img`` scaled to ``width`` pixels wide (the same size: as it is), as an optimised PNG."""
    if img.width != width:
        img = img.resize((width, max(1, img.height * width // img.width)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def table_in_name(name: str, election: Election) -> str | None:
    """The table id a photo's file name carries (``010111043.01.jpg``, ``010111043_01_acta.png``), if
    exactly one: the acta read from it must be of that table, or the photo goes to review."""
    stem = Path(name).stem
    pattern = election.geography.pattern.pattern.removeprefix("^").removesuffix("$")
    found = {
        m.group(0) for text in (stem, stem.replace("_", ".").replace("-", ".")) for m in re.finditer(pattern, text)
    }
    tables = {t for t in found if election.geography.pattern.fullmatch(t)}
    return tables.pop() if len(tables) == 1 else None
