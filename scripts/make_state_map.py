"""Build ``src/tallyproof/report/ve2024_states.json``: Venezuela's states as small SVG paths.

Reads the OCHA/INE admin-1 shapefile (``.shp`` geometry, ``.dbf`` attributes) with a small reader written
against the ESRI Shapefile Technical Description (July 1998) and dBASE III+ headers, so no GIS library is
needed, and joins it to the CNE state codes through ``state_codes.csv``.

Steps: project lon/lat equirectangularly (x scaled by the cosine of the middle latitude), simplify each
shared border once (Douglas–Peucker between the points where borders meet, so neighbours keep a common
edge and no slivers open), round to whole units, drop rings that became tiny, and pick the smallest
tolerance whose JSON fits the size budget.

Usage: .venv/bin/python scripts/make_state_map.py [--data DIR] [--output FILE] [--max-kb 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import struct
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/ve2024")
STEM = "shp/ven_admbnda_adm1_ine_20210223"
OUTPUT = ROOT / "src" / "tallyproof" / "report" / "ve2024_states.json"
WIDTH = 1000  # viewBox width; the height follows from the projection
MIN_AREA = 4.0  # square units: a smaller ring is dropped unless it is its state's largest
FEDERAL_DEPENDENCIES = "DF"  # key for the one feature with no ADM1_PCODE and no CNE code
SOURCE = (
    "Admin-1 boundaries 'VENEZUELA (BOLIVARIAN REPUBLIC OF): Admin Level 1 Boundaries', OCHA/INE, "
    "published 2021-02-23 (OCHA COD-AB), copied from GitHub repository zentraedi/2024-vzla-elections, "
    "path ven_adm_ine_20210223_shp/ven_admbnda_adm1_ine_20210223.shp (+ .dbf), "
    "commit 1e093785fa88344d59b2614355eb4536a0c86b9e. CNE state codes joined through ADM1_PCODE. "
    "Licence: {licence} Credit: OCHA, INE Venezuela. Simplified for display; not for measurement."
)

Point = tuple[float, float]
Ring = list[Point]


@dataclass(frozen=True)
class Feature:
    """One shapefile record: its attributes and its rings (outer boundaries and holes alike)."""

    attributes: dict[str, str]
    rings: list[Ring]


# --- reading -------------------------------------------------------------------------------------------


def read_dbf(path: Path) -> list[dict[str, str]]:
    """Records of a dBASE III table as stripped text (the ``.cpg`` of this file says UTF-8)."""
    data = path.read_bytes()
    count, header_size, record_size = struct.unpack("<IHH", data[4:12])
    fields = list(_dbf_fields(data))
    records = []
    for i in range(count):
        record = data[header_size + i * record_size : header_size + (i + 1) * record_size]
        records.append(_dbf_record(record, fields))
    return records


def _dbf_fields(data: bytes) -> Iterator[tuple[str, int]]:
    offset = 32
    while data[offset] != 0x0D:
        name = data[offset : offset + 11].split(b"\0")[0].decode("ascii")
        yield name, data[offset + 16]
        offset += 32


def _dbf_record(record: bytes, fields: Sequence[tuple[str, int]]) -> dict[str, str]:
    values, position = {}, 1  # byte 0 is the deletion flag
    for name, size in fields:
        values[name] = record[position : position + size].decode("utf-8").strip()
        position += size
    return values


def read_shp(path: Path) -> list[list[Ring]]:
    """The rings of every record of a Polygon (type 5) shapefile, in record order."""
    data = path.read_bytes()
    shape_type = struct.unpack("<i", data[32:36])[0]
    if shape_type != 5:
        raise SystemExit(f"{path}: shape type {shape_type}, expected 5 (Polygon)")
    records, position = [], 100
    while position < len(data):
        _, words = struct.unpack(">ii", data[position : position + 8])
        records.append(_polygon(data[position + 8 : position + 8 + 2 * words]))
        position += 8 + 2 * words
    return records


def _polygon(body: bytes) -> list[Ring]:
    if struct.unpack("<i", body[:4])[0] == 0:  # a null shape
        return []
    n_parts, n_points = struct.unpack("<ii", body[36:44])
    starts = list(struct.unpack(f"<{n_parts}i", body[44 : 44 + 4 * n_parts]))
    offset = 44 + 4 * n_parts
    points = [(x, y) for x, y in struct.iter_unpack("<2d", body[offset : offset + 16 * n_points])]
    return [points[a:b] for a, b in zip(starts, [*starts[1:], n_points], strict=True)]


def read_features(data: Path) -> list[Feature]:
    attributes = read_dbf(data / f"{STEM}.dbf")
    geometry = read_shp(data / f"{STEM}.shp")
    return [Feature(a, g) for a, g in zip(attributes, geometry, strict=True)]


def read_codes(path: Path) -> dict[str, tuple[str, str]]:
    """ADM1_PCODE → (CNE two-digit state code, name)."""
    with path.open(encoding="utf-8", newline="") as f:
        return {row["adm1_pcode"]: (row["cne_state_code"], row["adm1_name"]) for row in csv.DictReader(f)}


def licence(data: Path) -> str:
    """What the ISO metadata says about use: CC BY-IGO only if it says so itself."""
    text = (data / f"{STEM}.shp.xml").read_text(encoding="utf-8")
    if re.search(r"CC[ -]BY[ -]IGO", text, re.IGNORECASE):
        return "CC BY-IGO (per the .shp.xml metadata)."
    return (
        "see source: the .shp.xml metadata says 'See the COD/FOD Registry Terms of Use "
        "(https://www.humanitarianresponse.info/applications/data/page/terms-use)'; "
        "HDX usually lists these boundaries as CC BY-IGO."
    )


# --- projection and simplification ----------------------------------------------------------------------


def projection(features: Sequence[Feature]) -> tuple[float, float, float, float]:
    """(west, north, x scale, y scale) of an equirectangular projection WIDTH units wide."""
    points = [p for f in features for ring in f.rings for p in ring]
    west, east = min(p[0] for p in points), max(p[0] for p in points)
    south, north = min(p[1] for p in points), max(p[1] for p in points)
    shrink = math.cos(math.radians((south + north) / 2))
    scale = WIDTH / ((east - west) * shrink)
    return west, north, scale * shrink, scale


def project(features: Sequence[Feature]) -> tuple[list[list[Ring]], tuple[int, int]]:
    west, north, sx, sy = projection(features)
    rings = [[[((x - west) * sx, (north - y) * sy) for x, y in ring] for ring in f.rings] for f in features]
    height = max(y for f in rings for ring in f for _, y in ring)
    return rings, (WIDTH, math.ceil(height))


def _distance(p: Point, a: Point, b: Point) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == dy == 0:
        return math.hypot(p[0] - a[0], p[1] - a[1])
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def douglas_peucker(line: Sequence[Point], tolerance: float) -> list[Point]:
    """Douglas & Peucker (1973), iterative: keep the endpoints and every point farther than tolerance."""
    keep = {0, len(line) - 1}
    stack = [(0, len(line) - 1)]
    while stack:
        a, b = stack.pop()
        far, index = max(((_distance(line[i], line[a], line[b]), i) for i in range(a + 1, b)), default=(0.0, a))
        if far > tolerance:
            keep.add(index)
            stack += [(a, index), (index, b)]
    return [line[i] for i in sorted(keep)]


def _simplify_arc(arc: Sequence[Point], tolerance: float) -> list[Point]:
    """The same arc gives the same points whichever of its two neighbours walks it, in whichever direction."""
    forward = (arc[0], arc[1]) <= (arc[-1], arc[-2])
    line = list(arc) if forward else list(reversed(arc))
    out = douglas_peucker(line, tolerance)
    return out if forward else list(reversed(out))


def owners(states: Sequence[Sequence[Ring]]) -> dict[Point, frozenset[int]]:
    """Which features each vertex belongs to: the borders between states share their vertices exactly."""
    found: dict[Point, set[int]] = defaultdict(set)
    for index, rings in enumerate(states):
        for ring in rings:
            for point in ring:
                found[point].add(index)
    return {p: frozenset(s) for p, s in found.items()}


def _nodes(ring: Ring, owner: dict[Point, frozenset[int]]) -> list[int]:
    """Indices where the set of states along the ring changes: the ends of shared borders."""
    n = len(ring) - 1  # the last point repeats the first
    nodes = [i for i in range(n) if not owner[ring[i - 1 if i else n - 1]] == owner[ring[i]] == owner[ring[i + 1]]]
    if nodes:
        return nodes
    far = max(range(n), key=lambda i: math.dist(ring[0], ring[i]))
    return [0, far]


def simplify_ring(ring: Ring, owner: dict[Point, frozenset[int]], tolerance: float) -> Ring:
    nodes = _nodes(ring, owner)
    n = len(ring) - 1
    out: Ring = []
    for a, b in zip(nodes, [*nodes[1:], nodes[0] + n], strict=True):
        arc = [ring[i % n] for i in range(a, b + 1)]
        out += _simplify_arc(arc, tolerance)[:-1]
    return [*out, out[0]]


# --- output ---------------------------------------------------------------------------------------------


def _area(ring: Sequence[tuple[int, int]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairwise(ring))) / 2


def _rounded(ring: Ring) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for x, y in ring:
        point = (round(x), round(y))
        if not out or out[-1] != point:
            out.append(point)
    return out


def _numbers(values: Sequence[int]) -> str:
    """SVG number list with the fewest separators: a minus sign separates on its own."""
    return "".join(f"{v}" if i == 0 or v < 0 else f" {v}" for i, v in enumerate(values))


def ring_path(ring: Sequence[tuple[int, int]]) -> str:
    """``M x y`` then relative line-tos in whole units, closed with ``z``."""
    deltas = [d for (x0, y0), (x1, y1) in pairwise(ring[:-1]) for d in (x1 - x0, y1 - y0)]
    return f"M{_numbers(ring[0])}l{_numbers(deltas)}z"


def state_path(rings: Sequence[Ring], owner: dict[Point, frozenset[int]], tolerance: float) -> str:
    """One path for a state: its simplified rings, largest first; tiny ones dropped, the largest always kept."""
    kept = [_rounded(simplify_ring(ring, owner, tolerance)) for ring in rings]
    kept = sorted((r for r in kept if len(r) >= 4), key=_area, reverse=True)
    return "".join(ring_path(r) for i, r in enumerate(kept) if i == 0 or _area(r) >= MIN_AREA)


def _key_and_name(feature: Feature, codes: dict[str, tuple[str, str]]) -> tuple[str, str]:
    pcode = feature.attributes["ADM1_PCODE"]
    if pcode in codes:
        return codes[pcode]
    if not pcode and feature.attributes["ADM1_ES"] == "Dependencias Federales":
        return FEDERAL_DEPENDENCIES, feature.attributes["ADM1_ES"]
    raise SystemExit(f"feature {feature.attributes['ADM1_ES']!r} ({pcode!r}) is not in state_codes.csv")


def build(data: Path, tolerance: float) -> dict[str, object]:
    features = read_features(data)
    codes = read_codes(data / "state_codes.csv")
    rings, viewbox = project(features)
    owner = owners(rings)
    states = {}
    for feature, projected in zip(features, rings, strict=True):
        key, name = _key_and_name(feature, codes)
        states[key] = {"name": name, "path": state_path(projected, owner, tolerance)}
    found = {f.attributes["ADM1_PCODE"] for f in features}
    return {
        "source": SOURCE.format(licence=licence(data)),
        "method": f"equirectangular, x scaled by cos(mid-latitude); Douglas–Peucker {tolerance:.2f} units",
        "viewbox": list(viewbox),
        "states": dict(sorted(states.items())),
        "missing": sorted(code for pcode, (code, _) in codes.items() if pcode not in found),
    }


def encode(document: dict[str, object]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def smallest_fitting(data: Path, max_bytes: int) -> str:
    """The JSON at the smallest tolerance (0.3 units, then ×1.2 each try) that fits in max_bytes."""
    tolerance = 0.3
    while True:
        text = encode(build(data, tolerance))
        if len(text.encode("utf-8")) <= max_bytes:
            return text
        tolerance *= 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="folder with shp/ and state_codes.csv")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="JSON file to write")
    parser.add_argument("--max-kb", type=float, default=60, help="size budget of the JSON in KB (1,000 bytes)")
    args = parser.parse_args()
    text = smallest_fitting(args.data, int(args.max_kb * 1000))
    args.output.write_text(text, encoding="utf-8")
    document = json.loads(text)
    print(f"{args.output}: {len(text.encode('utf-8')):,} bytes, {len(document['states'])} shapes, {document['method']}")


if __name__ == "__main__":
    main()
