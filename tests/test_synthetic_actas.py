"""Synthetic acta photos: the layout, the QR they carry, and which degradations plain zxing-cpp survives."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from tallyproof.election import Election
from tallyproof.errors import CodecError, InputError
from tallyproof.sheets.qr import from_qr, to_qr
from tallyproof.sheets.sheet import TallySheet
from tallyproof.simulation.actas import (
    STEPS,
    Acta,
    degraded,
    downscale,
    occlude,
    render_acta,
    rotate,
    spanish_words,
    streaks,
)

PAYLOAD = "010111043.01.1.0001!112,5,4,1,9,1,1,0,2,2,0,0,15,3,1,0,1,1,0,1,0,0,0,0,0,0,0,0,0,1,0,0,0,8,10,160,1,6!0!0"
"""The worked example of ve2024/README.md (counts only, no names)."""
QR = zxingcpp.barcode_formats_from_str("QRCode")


@pytest.fixture(scope="module")
def sheet(ve2024: Election) -> TallySheet:
    return dataclasses.replace(from_qr(PAYLOAD, ve2024), registered=513)


@pytest.fixture(scope="module")
def acta(sheet: TallySheet, ve2024: Election) -> Acta:
    return render_acta(sheet, ve2024, seed=0)


def decoded(img: Image.Image) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(img, formats=QR)]


def photo(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("L")


def test_render_is_a_long_greyscale_strip(acta: Acta, sheet: TallySheet, ve2024: Election) -> None:
    width, height = acta.image.size
    assert acta.image.mode == "L" and width == 640 and 4_000 <= height <= 8_000
    left, top, right, bottom = acta.qr_box
    assert 250 <= right - left <= 400 and right - left == bottom - top
    assert top > 0.85 * height, "the QR is printed near the bottom, as on real actas"
    assert render_acta(sheet, ve2024, width=720).image.width == 720


def test_qr_box_and_whole_image_decode_to_the_payload(acta: Acta, sheet: TallySheet) -> None:
    assert acta.payload == to_qr(sheet) == PAYLOAD
    assert decoded(acta.image.crop(acta.qr_box)) == [PAYLOAD]
    assert decoded(acta.image) == [PAYLOAD]


def test_text_boxes_cover_printed_lines_top_to_bottom(acta: Acta, ve2024: Election) -> None:
    boxes = acta.text_boxes
    expected = {"title", "acta_id", "electores", "cards", "votes", "valid", "null", "blank", "hash"}
    expected |= {f"card:{c.id}" for c in ve2024.cards} | {f"candidate:{c.id}" for c in ve2024.candidates}
    assert expected <= set(boxes)
    for key, (left, top, right, bottom) in boxes.items():
        assert 0 <= left < right <= acta.image.width and 0 <= top < bottom <= acta.image.height, key
        assert np.asarray(acta.image.crop((left, top, right, bottom))).min() < 128, f"{key} has no ink"
    order = ["title", "acta_id", "electores", "card:PSUV", "card:CONDE", "valid", "null", "blank"]
    tops = [boxes[k][1] for k in order] + [acta.qr_box[1], boxes["hash"][1]]
    assert tops == sorted(tops)


def test_render_is_deterministic_per_seed(acta: Acta, sheet: TallySheet, ve2024: Election) -> None:
    assert render_acta(sheet, ve2024, seed=0).image.tobytes() == acta.image.tobytes()
    other = render_acta(sheet, ve2024, seed=1)
    assert other.image.tobytes() != acta.image.tobytes(), "the seed draws the UUID, time and signatures"
    assert decoded(other.image.crop(other.qr_box)) == [PAYLOAD]


def test_a_sheet_without_cards_cannot_be_rendered(ve2024: Election) -> None:
    totals = TallySheet(table="010111043.01", candidates=(1,) * len(ve2024.candidates))  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="per-card counts"):
        render_acta(totals, ve2024)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_step_is_deterministic_and_changes_the_photo(step: str, sheet: TallySheet, ve2024: Election) -> None:
    once = degraded(sheet, ve2024, seed=3, steps=[step])
    assert degraded(sheet, ve2024, seed=3, steps=[step]) == once
    assert once != degraded(sheet, ve2024, seed=3, steps=[])


@pytest.mark.parametrize(
    "steps",
    [
        [],
        ["blur"],
        ["jpeg"],
        ["jpeg:10"],
        ["rotate"],
        ["rotate:-90"],
        ["rotate:5"],
        ["crumple"],
        ["downscale"],
        ["occlude-text"],
        ["streaks:3"],
        ["blur:1", "jpeg:40", "rotate:90", "crumple"],
    ],
    ids=lambda steps: "+".join(steps) or "clean",
)
def test_mild_degradations_still_decode(steps: list[str], sheet: TallySheet, ve2024: Election) -> None:
    assert decoded(photo(degraded(sheet, ve2024, seed=0, steps=steps))) == [PAYLOAD]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("steps", [["occlude-qr"], ["occlude-qr:0.6", "jpeg"], ["streaks:20"]], ids="+".join)
def test_heavy_damage_defeats_plain_zxing(steps: list[str], seed: int, sheet: TallySheet, ve2024: Election) -> None:
    assert decoded(photo(degraded(sheet, ve2024, seed=seed, steps=steps))) == []


def test_rotated_photo_decodes_after_rotating_back(sheet: TallySheet, ve2024: Election, acta: Acta) -> None:
    turned = photo(degraded(sheet, ve2024, seed=0, steps=["rotate:90"]))
    assert turned.size == acta.image.size[::-1]
    assert decoded(rotate(turned, -90)) == [PAYLOAD]


def test_streaks_cross_their_region_and_repeat_per_seed(acta: Acta) -> None:
    damaged = streaks(acta.image, 6, rng=np.random.default_rng(5), region=acta.qr_box)
    assert damaged.tobytes() == streaks(acta.image, 6, rng=np.random.default_rng(5), region=acta.qr_box).tobytes()
    left, top, right, bottom = acta.qr_box
    assert (np.asarray(damaged) != np.asarray(acta.image))[top:bottom, left:right].any()


def test_a_blob_stays_inside_its_region(acta: Acta) -> None:
    left, top, right, bottom = acta.qr_box
    changed = np.asarray(occlude(acta.image, acta.qr_box, 0.3, rng=np.random.default_rng(5))) != np.asarray(acta.image)
    inside = changed[top:bottom, left:right].sum()
    assert 0 < inside <= 0.3 * (right - left) * (bottom - top) and inside == changed.sum()


@pytest.mark.parametrize(
    ("steps", "message"),
    [(["smudge"], "unknown step 'smudge'"), (["rotate", "occlude-qr"], "before rotate")],
)
def test_bad_steps_are_refused(steps: list[str], message: str, sheet: TallySheet, ve2024: Election) -> None:
    with pytest.raises(InputError, match=message):
        degraded(sheet, ve2024, seed=0, steps=steps)


def test_downscale_refuses_to_enlarge(acta: Acta) -> None:
    with pytest.raises(InputError, match="not in"):
        downscale(acta.image, 2)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "CERO"),
        (1, "UNO"),
        (15, "QUINCE"),
        (16, "DIECISEIS"),
        (21, "VEINTIUNO"),
        (22, "VEINTIDOS"),
        (30, "TREINTA"),
        (31, "TREINTA Y UNO"),
        (100, "CIEN"),
        (101, "CIENTO UNO"),
        (345, "TRESCIENTOS CUARENTA Y CINCO"),
        (500, "QUINIENTOS"),
        (1000, "MIL"),
        (1001, "MIL UNO"),
        (2024, "DOS MIL VEINTICUATRO"),
        (21_000, "VEINTIUN MIL"),
        (100_000, "CIEN MIL"),
        (101_000, "CIENTO UN MIL"),
        (999_999, "NOVECIENTOS NOVENTA Y NUEVE MIL NOVECIENTOS NOVENTA Y NUEVE"),
    ],
)
def test_spanish_words(n: int, words: str) -> None:
    assert spanish_words(n) == words


@pytest.mark.parametrize("n", [-1, 1_000_000])
def test_spanish_words_out_of_range(n: int) -> None:
    with pytest.raises(InputError, match="outside"):
        spanish_words(n)
