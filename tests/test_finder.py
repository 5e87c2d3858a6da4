"""Restoring finder patterns whose dark centres printed light: synthetic actas, and the real photo (when
../shared is there) that no reader decoded because of it."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import segno
import zxingcpp
from PIL import Image, ImageDraw

from tallyproof.election import Election
from tallyproof.photos.finder import finders_restored
from tallyproof.photos.read import read_photo
from tallyproof.sheets.sheet import TallySheet
from tallyproof.simulation import actas as synthetic

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024"
WHITE_CENTRES = "684534_208706_0084Acta0084.jpg"
"""The real photo whose QR has two finder patterns with white centres (and light patches down its left side)."""
STEP = "finder patterns restored"
TABLE = "010111043.01"


def acta(ve2024: Election, seed: int = 0) -> synthetic.Acta:
    counts = [seed + 40, *([2] * 37)]
    sheet = TallySheet.from_cards(ve2024, TABLE, counts, null=1, blank=0, registered=500, acta_id=TABLE + ".1.0001")  # type: ignore[arg-type]
    return synthetic.render_acta(sheet, ve2024, seed=seed)


def centres(drawn: synthetic.Acta) -> list[synthetic.Box]:
    """The 3 x 3-module centres of the three finder patterns of the acta's QR, in pixels."""
    modules = segno.make(drawn.payload, error="m", micro=False, boost_error=False).symbol_size(border=0)[0]
    left, top, right, _ = drawn.qr_box
    scale = (right - left) // (modules + 2 * synthetic.QR_BORDER)
    corners = ((2, 2), (2, modules - 5), (modules - 5, 2))  # (row, column) of each centre's first module
    return [
        (
            left + (synthetic.QR_BORDER + c) * scale,
            top + (synthetic.QR_BORDER + r) * scale,
            left + (synthetic.QR_BORDER + c + 3) * scale,
            top + (synthetic.QR_BORDER + r + 3) * scale,
        )
        for r, c in corners
    ]


def whitened(drawn: synthetic.Acta, shade: int = synthetic.PAPER) -> Image.Image:
    """The acta with the centres of its finder patterns printed ``shade`` (white: only 1:5:1 rings left)."""
    out = drawn.image.copy()
    for box in centres(drawn):
        ImageDraw.Draw(out).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=shade)
    return out


def jpeg(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=synthetic.JPEG_QUALITY)
    return buffer.getvalue()


def decoded(img: Image.Image) -> list[str]:
    return [c.text for c in zxingcpp.read_barcodes(img, formats=zxingcpp.barcode_formats_from_str("QRCode"))]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda img: img, id="white-centres"),
        pytest.param(lambda img: synthetic.blur(img, 1.5), id="white-centres+blur"),
        pytest.param(lambda img: synthetic.rotate(img, 7), id="white-centres+rotated-7"),
    ],
)
def test_finder_patterns_with_white_centres_are_restored_and_read(
    ve2024: Election, damage: Callable[[Image.Image], Image.Image]
) -> None:
    drawn = acta(ve2024)
    photo = damage(whitened(drawn))
    assert decoded(photo) == []  # zxing alone finds no finder pattern
    result = read_photo(jpeg(photo), ve2024, name="white-centres.jpg", ocr=False)
    assert (result.status, result.step, result.payload) == ("qr", STEP, drawn.payload)


def test_restoring_white_centres_gives_back_the_printed_symbol(ve2024: Election) -> None:
    """On a clean render, what is painted is exactly what was whitened: the three centres, in the ring's ink."""
    drawn = acta(ve2024, seed=1)
    restored = np.asarray(finders_restored(whitened(drawn)))
    assert np.array_equal(restored, np.asarray(drawn.image))


def test_an_undamaged_symbol_is_left_as_it_is(ve2024: Election) -> None:
    drawn = acta(ve2024, seed=2)
    assert np.array_equal(np.asarray(finders_restored(drawn.image)), np.asarray(drawn.image))
    blurred = synthetic.jpeg(synthetic.blur(drawn.image.crop(drawn.qr_box), 1.5), 30)
    assert decoded(blurred) == decoded(finders_restored(blurred)) == [drawn.payload]


def test_faded_centres_are_painted_with_the_rings_ink(ve2024: Election) -> None:
    drawn = acta(ve2024, seed=3)
    restored = np.asarray(finders_restored(whitened(drawn, shade=170)))
    for left, top, right, bottom in centres(drawn):
        assert (restored[top:bottom, left:right] == synthetic.INK).all()


def test_rings_of_other_proportions_and_blank_paper_are_left_alone() -> None:
    """An alignment pattern (5 x 5 modules around one, its centre whitened: a hole of 3/5, not 5/7), a thick
    ring, and blank paper: nothing is painted."""
    img = Image.new("L", (400, 200), synthetic.PAPER)
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 69, 69), outline=synthetic.INK, width=10)  # alignment pattern, 10 px modules
    draw.rectangle((120, 20, 189, 89), outline=synthetic.INK, width=20)  # 7 modules across, 2 of ring
    before = np.asarray(img).copy()
    assert np.array_equal(np.asarray(finders_restored(img)), before)
    blank = Image.new("L", (100, 100), synthetic.PAPER)
    assert np.array_equal(np.asarray(finders_restored(blank)), np.asarray(blank))


def test_the_real_photo_with_white_finder_centres_is_read(ve2024: Election) -> None:
    """The one photo of the sample no reader decoded: its QR's finder patterns have white centres. Its
    payload must agree with the reference values the CSVs give for its table (manifest.csv)."""
    if not (SHARED / "images" / WHITE_CENTRES).is_file():
        pytest.skip(
            "../shared/data/ve2024 not present: the real photos are not in the repository (names, IDs, signatures)"
        )
    rows = csv.DictReader(io.StringIO((SHARED / "manifest.csv").read_text(encoding="utf-8")))
    row = next(r for r in rows if r["file"] == WHITE_CENTRES)
    result = read_photo((SHARED / "images" / WHITE_CENTRES).read_bytes(), ve2024, name=WHITE_CENTRES, ocr=False)
    assert (result.status, result.step) == ("qr", STEP) and result.sheet is not None and result.payload
    if row["qr_payload"]:
        assert result.payload == row["qr_payload"]
    sheet = result.sheet
    assert sheet.acta_id == row["center_mesa"] + ".1.0001"
    assert dict(zip((c.id for c in ve2024.candidates), sheet.candidates, strict=True)) == {
        c.id: int(row[f"csv_{c.id}"]) for c in ve2024.candidates
    }
    assert (sum(sheet.candidates), sheet.null) == (int(row["csv_VOTOS_VALIDOS"]), int(row["csv_VOTOS_NULOS"]))
