"""The printed-text fallback: parsing an acta's text, and Tesseract on the real photo no QR reader reads."""

from __future__ import annotations

import csv
import io
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


def test_the_photo_no_reader_decodes_is_read_as_text_for_review(ve2024: Election) -> None:
    if not ocr.available():
        pytest.skip("Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-spa; .ci/run does it)")
    if not (IMAGES / UNREAD).is_file():
        pytest.skip(
            "../shared/data/ve2024 not present: the real photos are not in the repository (names, IDs, signatures)"
        )
    result = read_photo((IMAGES / UNREAD).read_bytes(), ve2024, name=UNREAD)
    assert (
        result.status == "review" and result.ocr is not None and "suggestion for the reviewers" in (result.reason or "")
    )
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
    assert said[0] == "the printed acta id is 010111043.01.1.0001, the QR's 010111043.02.1.0001"
    assert said[1:] == [f"card {ve2024.cards[0].id} ({ve2024.cards[0].code}) is printed 112, the QR says 212"]


def test_the_real_qr_agrees_with_its_printed_acta(ve2024: Election) -> None:
    if not ocr.available() or not (IMAGES / "637933_329296_0476Acta0120.jpg").is_file():
        pytest.skip("needs Tesseract and ../shared/data/ve2024 (the real photos are not in the repository)")
    name = "637933_329296_0476Acta0120.jpg"
    result = read_photo((IMAGES / name).read_bytes(), ve2024, name=name, check_printed=True)
    assert result.status == "qr" and result.ocr is not None and result.ocr.confirmed >= 20  # 23 of 38 when written
    from tallyproof.photos.read import load_image

    assert ocr.read_valid(load_image((IMAGES / name).read_bytes(), name=name)) == 345  # the CSV's valid votes


def test_the_printed_valid_votes(ve2024: Election) -> None:
    """The summary box, as Tesseract reads it: the total counts only when its digits and words agree."""
    box = "Votos parciales | 0 | Cero, Cero, Cero, Cero\nOpciones validas | 345 | Cero, Tres, Cuatro, Cinco\n"
    assert ocr.valid_in(box) == 345
    assert ocr.valid_in(box.replace("| 345 |", "| 346 |")) is None and ocr.valid_in("nothing here") is None
    from tallyproof.sheets.sheet import TallySheet

    counts = [112, *range(1, 38)]
    qr = TallySheet.from_cards(ve2024, "010111043.01", counts)  # type: ignore[arg-type]
    printed = ocr.parse(acta_text(ve2024, counts), ve2024)
    assert ocr.disagreements(qr, printed, ve2024, valid=sum(counts)) == []
    assert ocr.disagreements(qr, printed, ve2024, valid=sum(counts) + 100) == [
        f"the printed valid votes are {sum(counts) + 100}, the QR's counts add up to {sum(counts)}"
    ]
