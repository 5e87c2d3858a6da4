"""Photo benchmark: reading acta QR codes, tallyproof's cascade against the community tools' approach.

In one run, on two sets of photos:

1. **the real sample**: the acta photos of ``../shared/data/ve2024/images/`` with ``manifest.csv``'s
   decoded payloads as the reference (the photo no tool decoded has none);
2. **synthetic damage**: ``--synthetic`` actas rendered by :mod:`tallyproof.simulation.actas` from a
   simulated election (seeded), each with one damage drawn in turn from :data:`DAMAGES`; the truth is the
   payload rendered.

Each photo is read, one process, one photo at a time, by (a) tallyproof's
:func:`tallyproof.photos.read.read_photo` (zxing-cpp and its cascade of repairs; a payload counts only
if it decodes and passes the checks) and (b) the approach the community tools of 2024 used: pyzbar
(ZBar) first, then zxing-cpp on the photo as it is when ZBar finds nothing. For each: photos per
second (= per core), read rate (read and equal to the truth), wrong values (read and different), and
unread. Side by side as a ratio.

Run: ``.venv/bin/python bench/bench_photos.py [--synthetic N] [--seed S] [--record]``. Needs pyzbar and
the system's libzbar0 (``apt-get install libzbar0``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from _report import check, command_line, machine, publish, ratio, run, secs, step
from PIL import Image

from tallyproof.election import load_election
from tallyproof.errors import TallyproofError
from tallyproof.photos.read import read_photo
from tallyproof.sheets.qr import from_qr, to_qr
from tallyproof.simulation.actas import degraded
from tallyproof.simulation.election import simulate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ve2024"
DAMAGES = (
    [],
    ["blur:2"],
    ["jpeg:15"],
    ["streaks:3"],
    ["streaks:8"],
    ["occlude-qr:0.05"],
    ["rotate:5"],
    ["crumple"],
    ["blur:1.5", "jpeg:25", "streaks:5"],
    ["downscale:0.5"],
)
"""One damage per synthetic photo, in turn."""


@dataclass
class Tally:
    photos: int = 0
    read: int = 0
    wrong: int = 0
    seconds: float = 0.0
    wrong_files: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.photos / self.seconds if self.seconds else 0.0

    def add(self, name: str, found: str | None, truth: Truth, seconds: float) -> None:
        self.photos, self.seconds = self.photos + 1, self.seconds + seconds
        if found is not None and truth(found):
            self.read += 1
        elif found is not None:
            self.wrong += 1
            self.wrong_files.append(name)


Truth = Callable[[str], bool]
"""Whether a payload read is right."""


def equal_to(payload: str) -> Truth:
    return lambda found: found == payload


def as_in_csv(row: dict[str, str]) -> Truth:
    """For the photo whose QR no tool decoded (no payload in the manifest): right when the payload's acta
    id, candidate totals, valid and null votes are the published CSV's."""
    election = load_election("ve2024")

    def check(found: str) -> bool:
        try:
            sheet = from_qr(found, election)
        except TallyproofError:
            return False
        totals = dict(zip((c.id for c in election.candidates), sheet.candidates, strict=True))
        return (
            sheet.table == row["center_mesa"]
            and all(totals[c] == int(row[f"csv_{c}"]) for c in totals)
            and sum(sheet.cards or ()) == int(row["csv_VOTOS_VALIDOS"])
            and sheet.null == int(row["csv_VOTOS_NULOS"])
        )

    return check


def ours(election: object) -> Callable[[bytes, str], str | None]:
    def reader(data: bytes, name: str) -> str | None:
        result = read_photo(data, election, name=name, ocr=False)  # type: ignore[arg-type]
        return result.payload if result.status == "qr" else None

    return reader


def community(data: bytes, _name: str) -> str | None:
    """pyzbar first, then zxing-cpp on the photo as it is (the usual 2024 scripts)."""
    import zxingcpp
    from pyzbar import pyzbar

    image = Image.open(io.BytesIO(data)).convert("L")
    found = [c.data.decode("utf-8", "replace") for c in pyzbar.decode(image) if c.type == "QRCODE"]
    if found:
        return found[0]
    codes = zxingcpp.read_barcodes(image)
    return codes[0].text if codes else None


def measure(photos: list[tuple[str, bytes, Truth]], reader: Callable[[bytes, str], str | None]) -> Tally:
    tally = Tally()
    for name, data, truth in photos:
        start = time.perf_counter()
        found = reader(data, name)
        tally.add(name, found, truth, time.perf_counter() - start)
    return tally


def real_photos() -> list[tuple[str, bytes, Truth]]:
    rows = list(csv.DictReader(io.StringIO((SHARED / "manifest.csv").read_text(encoding="utf-8"))))
    return [
        (
            r["file"],
            (SHARED / "images" / r["file"]).read_bytes(),
            equal_to(r["qr_payload"]) if r["qr_payload"] else as_in_csv(r),
        )
        for r in rows
    ]


def synthetic_photos(n: int, seed: int) -> list[tuple[str, bytes, Truth]]:
    election = load_election("ve2024")
    sheets = list(simulate(election, tables=max(n, 1), seed=seed).sheets())[:n]
    out = []
    for i, sheet in enumerate(sheets):
        damage = DAMAGES[i % len(DAMAGES)]
        out.append(
            (
                f"synthetic-{i}-{'+'.join(damage) or 'clean'}",
                degraded(sheet, election, seed=seed + i, steps=damage),
                equal_to(to_qr(sheet)),
            )
        )
    return out


def table(label: str, photos: int, a: Tally, b: Tally) -> list[str]:
    return [
        f"**{label}** ({photos:,} photos, one process):",
        "",
        "| reader | photos/s (per core) | read correctly | wrong values | unread | time |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {t.rate:,.1f} | {t.read:,} ({t.read / max(t.photos, 1):.1%}) | {t.wrong:,} | "
            f"{t.photos - t.read - t.wrong:,} | {secs(t.seconds)} |"
            for name, t in (("tallyproof `read_photo` (zxing-cpp + cascade)", a), ("pyzbar, then zxing-cpp", b))
        ),
        "",
        f"Ratios (alternative / tallyproof): speed {ratio(b.rate, a.rate)} (above 1: the alternative is faster); "
        f"photos read correctly {ratio(b.read, a.read)}.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--synthetic", type=int, default=200, help="synthetic damaged actas (default 200)")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic election and damage (default 1)")
    p.add_argument("--record", action="store_true", help="append the report to docs/benchmarks.md")
    args = p.parse_args(argv)
    check((SHARED / "manifest.csv").is_file(), f"needs the real sample in {SHARED}")
    when, began = dt.datetime.now(dt.UTC), time.perf_counter()
    election = load_election("ve2024")
    step("real sample")
    real = real_photos()
    real_ours, real_theirs = measure(real, ours(election)), measure(real, community)
    step(f"synthetic: rendering {args.synthetic} damaged actas")
    fake = synthetic_photos(args.synthetic, args.seed)
    fake_ours, fake_theirs = measure(fake, ours(election)), measure(fake, community)
    versions = ", ".join(f"{n} {metadata.version(n)}" for n in ("zxing-cpp", "pyzbar", "pillow", "scipy"))
    info = machine(versions)
    lines = [
        f"## {when:%Y-%m-%d %H:%M} UTC — photos: {len(real)} real actas, {len(fake)} synthetic with damage",
        "",
        f"Command: `{command_line(__file__, argv)}` (whole run {secs(time.perf_counter() - began)})",
        "",
        f"Machine: {info['nproc']} CPUs (nproc), {info['cpu']}, {info['ram']} RAM; {info['os']}.  ",
        f"{info['versions']}; {info['tallyproof']}.",
        "",
        *table("Real sample", len(real), real_ours, real_theirs),
        *table(
            f"Synthetic damage (seed {args.seed}; damages in turn: {'; '.join('+'.join(d) or 'none' for d in DAMAGES)})",
            len(fake),
            fake_ours,
            fake_theirs,
        ),
        f"Wrong values accepted by tallyproof: {real_ours.wrong + fake_ours.wrong} "
        f"({', '.join(real_ours.wrong_files + fake_ours.wrong_files) or 'none'}); by the alternative: "
        f"{real_theirs.wrong + fake_theirs.wrong}.",
        "",
    ]
    publish("\n".join(lines), to_docs=args.record)
    check(real_ours.wrong + fake_ours.wrong == 0, "tallyproof accepted a wrong value")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    run(main)
