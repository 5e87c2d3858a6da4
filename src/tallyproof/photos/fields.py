"""The fields of an acta a reviewer transcribes, and the QR payload they make.

A reviewer does not type a QR payload: the review page and ``tallyproof review enter`` ask for each field
of the printed acta in turn (its id, each card's votes in ballot order, null and blank votes), each beside
the crop of the photo where it is printed when OCR located it. :func:`payload` turns the entries into the
payload of :mod:`tallyproof.sheets.qr`, so two reviewers agree exactly when their payloads are equal.
Field keys are the ones :mod:`tallyproof.photos.ocr` uses for regions: ``acta_id``, ``card-1`` …
``card-N`` (ballot order), plus ``null`` and ``blank``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tallyproof.election import Election
from tallyproof.errors import CodecError
from tallyproof.sheets.qr import from_qr

__all__ = ["Field", "entries", "fields", "payload"]


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    label: str


def fields(election: Election) -> list[Field]:
    """Every field a transcription has, in the order the acta prints them."""
    names = {c.id: c.name for c in election.candidates}
    cards = [
        Field(f"card-{i}", f"{i}. {c.name}{f' ({c.code})' if c.code is not None else ''} — {names[c.candidate]}")
        for i, c in enumerate(election.cards, start=1)
    ]
    return [
        Field("acta_id", "Acta id (CCCCCCCCC.TT.X.NNNN)"),
        *cards,
        Field("null", "Null votes"),
        Field("blank", "Blank votes"),
    ]


def payload(entries: Mapping[str, str], election: Election) -> str:
    """The QR payload of a reviewer's entries; :class:`CodecError` naming the first field missing or not a
    count. Leading zeros and spaces, as typed, are accepted."""
    counts = [_count(entries, f) for f in fields(election)[1:]]
    acta = entries.get("acta_id", "").strip()
    if not acta:
        raise CodecError("missing: type the acta id as printed", where="acta_id")
    text = f"{acta}!{','.join(str(c) for c in counts[:-2])}!{counts[-2]}!{counts[-1]}"
    try:
        from_qr(text, election)  # the counts are checked above: what is left is the acta id
    except CodecError as exc:
        raise CodecError(exc.message, where="acta_id") from exc
    return text


def entries(text: str, election: Election) -> dict[str, str]:
    """The fields of a QR payload as a reviewer types them (the inverse of :func:`payload`)."""
    sheet = from_qr(text, election)
    counts = [*(sheet.cards or ()), sheet.null or 0, sheet.blank or 0]
    keys = [f.key for f in fields(election)]
    return {"acta_id": sheet.acta_id or "", **{k: str(c) for k, c in zip(keys[1:], counts, strict=True)}}


def _count(entries: Mapping[str, str], field: Field) -> int:
    raw = entries.get(field.key, "").strip().replace(" ", "")
    if not raw:
        raise CodecError(f"missing: type the votes of {field.label} (0 if none)", where=field.key)
    if not raw.isdigit() or not raw.isascii() or len(raw.lstrip("0")) > 9:
        raise CodecError(f"{raw!r} is not a count of votes ({field.label})", where=field.key)
    return int(raw)
