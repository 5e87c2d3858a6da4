"""The printed-text fallback: parsing an acta's text, and Tesseract on the real photo no QR reader reads."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest

from tallyproof.election import Election
from tallyproof.photos import ocr
from tallyproof.photos.read import read_photo

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024" / "images"
UNREAD = "684534_208706_0084Acta0084.jpg"

# Written for this test in the layout of a printed acta (no real names): what Tesseract gives, noise included.
WORDS = ["Cero", "Uno", "Dos", "Tres", "Cuatro", "Cinco", "Seis", "Siete", "Ocho", "Nueve"]


def acta_text(ve2024: Election, counts: list[int], *, garble: dict[int, str] | None = None) -> str:
    lines = [
        "Acta de escrutinio",
        "010111043.01.1.0001",
        "513 Electores",
        "[Votantes NRO. Letras",
        "En la máquina de 345 Cero, Tres, Cuatro, Cinco",
        "Cand. Sigla Código NRO. Letras",
    ]
    for i, (card, n) in enumerate(zip(ve2024.cards, counts, strict=True)):
        spelt = ", ".join(WORDS[int(d)] for d in f"{n:04d}")
        digits = (garble or {}).get(i, str(n))
        lines.append(f"{card.id} {card.code} {digits} {spelt}")
    return "\n".join(lines)


def test_the_card_lines_are_read_and_cross_checked(ve2024: Election) -> None:
    counts = [112, *range(1, 38)]
    read = ocr.parse(acta_text(ve2024, counts, garble={3: "o", 7: "9"}), ve2024)
    assert read.acta_id == "010111043.01.1.0001" and read.counts == tuple(counts)  # the words decide
    assert read.confirmed == 36 and read.codes_matching == 38  # card 3 illegible, card 7 disagrees
    assert read.payload(ve2024) == "010111043.01.1.0001!" + ",".join(map(str, counts)) + "!0!0"


def test_a_partial_text_gives_no_payload(ve2024: Election) -> None:
    text = acta_text(ve2024, [1] * 38).splitlines()[:20]
    read = ocr.parse("\n".join(text), ve2024)
    assert len(read.counts) == 14 and read.payload(ve2024) is None and read.confidence == 1.0


def test_a_real_acta_without_its_qr_is_read_as_text_for_review(ve2024: Election) -> None:
    if not ocr.available():
        pytest.skip("Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-spa; .ci/run does it)")
    if not (IMAGES / UNREAD).is_file():
        pytest.skip(
            "../shared/data/ve2024 not present: the real photos are not in the repository (names, IDs, signatures)"
        )
    from tallyproof.photos.read import load_image

    full = load_image((IMAGES / UNREAD).read_bytes(), name=UNREAD)
    full.paste(255, (0, int(full.height * 0.65), full.width, full.height))  # the QR torn off
    without_qr = io.BytesIO()
    full.save(without_qr, format="PNG")
    result = read_photo(without_qr.getvalue(), ve2024, name=UNREAD)
    assert (
        result.status == "review" and result.ocr is not None and "suggestion for the reviewers" in (result.reason or "")
    )
    assert [k for k, _ in result.regions if k.startswith("card-")] == [f"card-{i}" for i in range(1, 39)]
    rows = {
        r["file"]: r for r in csv.DictReader(io.StringIO((IMAGES.parent / "manifest.csv").read_text(encoding="utf-8")))
    }
    totals = dict.fromkeys((c.id for c in ve2024.candidates), 0)
    for card, n in zip(ve2024.cards, result.ocr.counts, strict=True):
        totals[card.candidate] += n or 0
    assert totals == {c: int(rows[UNREAD][f"csv_{c}"]) for c in totals}  # every candidate as the CSV has it
    assert result.ocr.acta_id == "020401004.02.1.0001" and result.ocr.confidence > 0.7


def test_a_qr_that_disagrees_with_the_printed_acta(ve2024: Election) -> None:
    from tallyproof.sheets.sheet import TallySheet

    counts = [112, *range(1, 38)]
    printed = ocr.parse(acta_text(ve2024, counts, garble={5: "o"}), ve2024)
    qr = TallySheet.from_cards(ve2024, "010111043.01", counts, acta_id="010111043.01.1.0001")  # type: ignore[arg-type]
    assert ocr.disagreements(qr, printed, ve2024) == []
    changed = [*counts]
    changed[0], changed[5] = 212, 99  # card 5 is illegible in print: not a disagreement
    forged = TallySheet.from_cards(ve2024, "010111043.01", changed, acta_id="010111043.02.1.0001")  # type: ignore[arg-type]
    said = ocr.disagreements(forged, printed, ve2024)
    assert said[0] == ocr.Doubt("acta_id", "the printed acta id is 010111043.01.1.0001, the QR's 010111043.02.1.0001")
    assert said[1:] == [
        ocr.Doubt("card-1", f"card {ve2024.cards[0].id} ({ve2024.cards[0].code}) is printed 112, the QR says 212")
    ]


def test_the_real_qr_agrees_with_its_printed_acta(ve2024: Election) -> None:
    if not ocr.available() or not (IMAGES / "637933_329296_0476Acta0120.jpg").is_file():
        pytest.skip("needs Tesseract and ../shared/data/ve2024 (the real photos are not in the repository)")
    name = "637933_329296_0476Acta0120.jpg"
    result = read_photo((IMAGES / name).read_bytes(), ve2024, name=name, check_printed=True)
    assert result.status == "qr" and result.ocr is not None and result.ocr.confirmed >= 20  # 23 of 38 when written
    regions = dict(result.regions)
    assert {"qr", "acta_id", "card-1", "valid"} <= set(regions) and regions["card-1"][1] < regions["valid"][1]
    from tallyproof.photos.read import load_image

    assert ocr.read_valid(load_image((IMAGES / name).read_bytes(), name=name)) == 345  # the CSV's valid votes


def test_the_printed_valid_votes(ve2024: Election) -> None:
    """The summary box, as Tesseract reads it: the total counts only when its digits and words agree."""
    box = "Votos parciales | 0 | Cero, Cero, Cero, Cero\nOpciones validas | 345 | Cero, Tres, Cuatro, Cinco\n"
    assert ocr.valid_in(box) == 345
    lines = box + "Opciones nulas | 12 | Cero, Cero, Uno, Dos\n"
    where = ((0, 0, 9, 9), (0, 10, 9, 19), (0, 20, 9, 29))
    assert ocr.summary_in(lines, where) == ocr.Summary(345, 12, (("valid", where[1]), ("null", where[2])))
    assert ocr.valid_in(box.replace("| 345 |", "| 346 |")) is None and ocr.valid_in("nothing here") is None
    from tallyproof.sheets.sheet import TallySheet

    counts = [112, *range(1, 38)]
    qr = TallySheet.from_cards(ve2024, "010111043.01", counts)  # type: ignore[arg-type]
    printed = ocr.parse(acta_text(ve2024, counts), ve2024)
    assert ocr.disagreements(qr, replace(printed, valid=sum(counts)), ve2024) == []
    assert ocr.disagreements(qr, replace(printed, valid=sum(counts) + 100), ve2024) == [
        ocr.Doubt("valid", f"the printed valid votes are {sum(counts) + 100}, the QR's counts add up to {sum(counts)}")
    ]


def test_each_field_read_is_located(ve2024: Election) -> None:
    """Tesseract's line boxes become the regions of the acta id and of each card, shown to reviewers."""
    text = acta_text(ve2024, [1] * 38, garble={2: "?"})
    boxes = tuple((0, 10 * i, 300, 10 * i + 8) for i in range(len(text.splitlines())))
    regions = dict(ocr.parse(text, ve2024, boxes).regions)
    assert regions["acta_id"] == boxes[1] and regions["card-1"] == boxes[6] and regions["card-38"] == boxes[43]
    assert list(regions) == ["acta_id", *(f"card-{i}" for i in range(1, 39))]
    assert ocr.parse(text, ve2024).regions == ()  # no positions, no regions


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def test_a_qr_contradicted_by_its_print_goes_to_review_with_the_crop_of_the_line(ve2024: Election) -> None:
    """A synthetic acta printing 112 votes for the first card under a QR that says 212: the photo goes to
    review, the card is in doubt, and its region is where the acta prints that card."""
    if not ocr.available():
        pytest.skip("Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-spa; .ci/run does it)")
    from tallyproof.sheets.sheet import TallySheet
    from tallyproof.simulation.actas import render_acta

    def sheet(first: int) -> TallySheet:
        counts = [first, *range(1, 38)]
        return TallySheet.from_cards(ve2024, "010111043.01", counts, null=3, blank=0, acta_id="010111043.01.1.0001")  # type: ignore[arg-type]

    printed, forged = render_acta(sheet(112), ve2024, digit_by_digit=True), render_acta(sheet(212), ve2024)
    image = printed.image.copy()
    image.paste(forged.image.crop(forged.qr_box), forged.qr_box[:2])
    png = io.BytesIO()
    image.save(png, format="PNG")
    result = read_photo(png.getvalue(), ve2024, name="forged.png", check_printed=True)
    assert result.status == "review" and result.sheet is None
    assert result.doubts == (ocr.Doubt("card-1", "card PSUV (269) is printed 112, the QR says 212"),)
    regions = dict(result.regions)
    assert overlap(regions["card-1"], printed.text_boxes["card:PSUV"]) > 0.5
    assert overlap(regions["acta_id"], printed.text_boxes["acta_id"]) > 0.5
    assert read_photo(png.getvalue(), ve2024, name="forged.png").status == "qr"  # unchecked, the QR is taken


def test_a_printed_acta_that_contradicts_itself_is_in_doubt(ve2024: Election) -> None:
    """OCR reads are checked like any read: card counts against the printed valid votes; and the null votes
    read go into the suggestion."""
    counts = [112, *range(1, 38)]
    read = replace(ocr.parse(acta_text(ve2024, counts), ve2024), valid=sum(counts), null=4)
    assert read.doubts() == [] and read.payload(ve2024) == "010111043.01.1.0001!" + ",".join(map(str, counts)) + "!4!0"
    wrong = replace(read, valid=sum(counts) - 10)
    said = f"the printed card counts add up to {sum(counts)}, the printed valid votes are {sum(counts) - 10}"
    assert wrong.doubts() == [ocr.Doubt("valid", said)]
    assert replace(read, valid=None).doubts() == []  # nothing to check against
