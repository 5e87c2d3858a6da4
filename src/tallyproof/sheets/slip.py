"""The printed slip of a signed sheet, laid out like an acta: a header, a line per card, the summary,
the QR code (error correction M) and the signature, as PNG (Pillow) or PDF (written here: text in
Courier and the QR drawn as filled squares, no other dependency)."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from tallyproof.election import Election
from tallyproof.errors import InputError
from tallyproof.sheets.signed import SignedSheet

__all__ = ["plain", "slip_lines", "slip_rows", "write_slip"]


def plain(text: str) -> str:
    """Upper case without accents, as thermal printers print actas (and any font can draw)."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).upper()


def slip_rows(election: Election, signed: SignedSheet) -> list[tuple[str, str, str]]:
    """The slip, top to bottom before the QR code, as (left, middle, right-aligned) columns."""
    s = signed.sheet
    names = {c.id: c.name for c in election.candidates}
    rows = [
        ("ACTA DE ESCRUTINIO / TALLY SHEET", "", ""),
        (plain(election.name), "", ""),
        (f"TABLE {s.table}", "REGISTERED VOTERS", str(s.registered)),
        (f"MACHINE KEY {signed.machine}", f"CLOSED {signed.closed_at:%Y-%m-%d %H:%M} UTC", ""),
        ("", "", ""),
    ]
    rows += [
        (plain(names[card.candidate]), plain(card.name), str(votes))
        for card, votes in zip(election.cards, s.cards or (), strict=True)
    ]
    rows += [
        ("", "", ""),
        ("VALID VOTES", "", str(s.total_valid)),
        ("NULL VOTES", "", str(s.null or 0)),
        ("BLANK VOTES", "", str(s.blank or 0)),
    ]
    return rows


def slip_lines(election: Election, signed: SignedSheet) -> list[str]:
    """The slip's text, one line a row, in fixed columns."""
    return [f"{a[:26]:<26} {b[:26]:<26} {c:>7}".rstrip() for a, b, c in slip_rows(election, signed)]


def write_slip(election: Election, signed: SignedSheet, path: Path) -> None:
    """Write the slip as ``.png`` or ``.pdf`` (by the file's suffix)."""
    qr = segno.make(signed.to_text(), error="m", micro=False, boost_error=False)
    lines = slip_lines(election, signed)
    signature = signed.to_text().rsplit("|", 1)[1]
    try:
        if path.suffix.lower() == ".png":
            _png(slip_rows(election, signed), qr, signature, path)
        elif path.suffix.lower() == ".pdf":
            path.write_bytes(_pdf(lines, qr, signature))
        else:
            raise InputError("a slip is written as .png or .pdf", where=str(path))
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=str(path)) from None


def _png(rows: list[tuple[str, str, str]], qr: segno.QRCode, signature: str, path: Path) -> None:
    font = ImageFont.load_default()
    scale, border, line_height, width = 4, 4, 14, 560
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=border)
    code = Image.open(buffer).convert("L")
    height = 20 + line_height * (len(rows) + 2) + code.height + 40
    image = Image.new("L", (max(width, code.width + 40), height), 255)
    draw = ImageDraw.Draw(image)
    y = 10
    for left, middle, right in rows:
        draw.text((10, y), left, fill=0, font=font)
        draw.text((230, y), middle, fill=0, font=font)
        draw.text((image.width - 10, y), right, fill=0, font=font, anchor="ra")
        y += line_height
    image.paste(code, ((image.width - code.width) // 2, y + 10))
    y += code.height + 16
    for part in (signature[:43], signature[43:]):
        draw.text((10, y), part, fill=0, font=font)
        y += line_height
    image.save(path, format="PNG")


def _pdf(lines: list[str], qr: segno.QRCode, signature: str) -> bytes:
    """A one-page PDF: Courier text (columns line up), and the QR's dark modules as filled squares (2.2 pt each)."""
    module, margin = 2.2, 36.0
    size = len(qr.matrix)
    page_h = margin * 2 + 11 * (len(lines) + 3) + module * (size + 8)
    ops = ["BT /F1 8 Tf"]
    y = page_h - margin
    for line in [*lines, "", signature]:
        ops.append(f"1 0 0 1 {margin:.1f} {y:.1f} Tm ({_pdf_text(line)}) Tj")
        y -= 11
    ops.append("ET")
    top = y - module * 4
    for r, row in enumerate(qr.matrix):
        for c, dark in enumerate(row):
            if dark:
                ops.append(f"{margin + module * (c + 4):.1f} {top - module * r:.1f} {module:.1f} {module:.1f} re")
    ops.append("f")
    stream = "\n".join(ops).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 {page_h:.0f}] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".encode(),
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.writelines(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
