"""Restoring the finder patterns of a QR code whose dark centres were printed light or faded.

A QR code is located by its three finder patterns (ISO/IEC 18004:2015, 6.3.3): concentric squares of
7 x 7 dark modules, 5 x 5 light and 3 x 3 dark, so that a line through the centre crosses dark, light,
dark, light, dark in the ratio 1:1:3:1:1. A reader such as zxing-cpp scans for that ratio; when the
3 x 3 centre is light (a thermal printer's worn head, a scan streak), the ratio is 1:5:1, no finder is
found and the symbol is not even tried, though its data modules may be intact.

:func:`finders_restored` finds what is left of each finder pattern, its outer ring, and paints the centre
back. On a binarised copy (Otsu's threshold, 1979) every dark connected component is taken in turn; it is
the outer ring of a finder pattern when, like the standard's pattern drawn at any module size and turned
by a few degrees at most:

* its bounding box is square and the ring with what it encloses fills most of it (a square, not a tangle
  of data modules);
* it encloses one hole (the 5 x 5 light ring with the centre inside) of (5/7)² of that area, centred in
  it: the ring is one module wide all round;
* the band of the hole within one module of its edge (the light ring) holds no dark pixels but the ring's
  own ragged edge.

The centre, the pixels of the hole more than one module from its edge (the 3 x 3 square, turned as the
symbol is), is then painted with the darkness of the ring's own ink. What was in it does not matter: a
white, faded or partly erased centre is repaired, and an intact one is painted with ink of its own
darkness (an undamaged symbol keeps its look and its reading). An alignment pattern (5 x 5 around one
dark module, 6.3.6) encloses (3/5)² of its area and is not touched.

The repair only adds the finder patterns the standard says are there; the data modules and their
Reed-Solomon error correction are left to the reader, and the payload to the checks of a tally sheet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage

__all__ = ["finders_restored", "otsu_cut"]

SMALLEST = 14
"""Smallest finder pattern looked for, in pixels across: 7 modules of 2 pixels."""
SQUARE = 0.2
"""How far a finder's bounding box may be from square: |height / width - 1| at most this (a photo taken
slightly askew or stretched)."""
FILLED = 0.7
"""Least share of the bounding box that the ring and its hole cover: 1 for an upright square, 0.73 for one
turned by 10°."""
HOLE = (0.62, 0.80)
"""Side of the hole against the side of the ring (square roots of their areas): 5/7 = 0.714 in the standard,
give or take the blur and the threshold moving the edges; an alignment pattern's 3/5 = 0.6 falls below."""
CENTRED = 0.5
"""Greatest distance between the centres of the hole and of the ring, in modules."""
CENTRE = (0.5, 1.6)
"""Area of the centre found (the hole's pixels over one module from its edge) against the 3 x 3 modules it
should have: it is smaller when the ring's inner edge is ragged, and far off for a hole of another shape."""
LIGHT = 0.8
"""Least share of light pixels in the light ring (the hole's pixels within one module of its edge)."""
SAME = 0.5
"""Least side of a finder pattern against the largest found: the three of a symbol are the same size, and
letters shaped like rings (O, D, 0) printed near the QR are far smaller."""

Mask = npt.NDArray[np.bool_]
Where = tuple[slice, slice]


@dataclass(frozen=True, slots=True)
class _Finder:
    """A finder pattern found by its outer ring: where (the ring's bounding box), which pixels of that box
    are its ring and its centre, and its side in pixels (the square root of the ring's filled area)."""

    where: Where
    ring: Mask
    centre: Mask
    side: float


def finders_restored(img: Image.Image) -> Image.Image:
    """``img`` (greyscale) with the dark 3 x 3 centre painted into every finder pattern found by its outer
    ring (see the module docstring); an image without any is returned unchanged."""
    grey = np.array(img.convert("L"), dtype=np.uint8)
    found = _finders(grey <= otsu_cut(grey))
    largest = max((f.side for f in found), default=0.0)
    for finder in found:
        if finder.side >= SAME * largest:
            box = grey[finder.where]  # a view: painting it paints ``grey``
            box[finder.centre] = int(np.median(box[finder.ring]))
    return Image.fromarray(grey)


def _finders(dark: Mask) -> list[_Finder]:
    """Every dark component of ``dark`` that is the outer ring of a finder pattern."""
    labels, _count = ndimage.label(dark, structure=np.ones((3, 3), dtype=bool))
    found = []
    for index, where in enumerate(ndimage.find_objects(labels), start=1):
        if where is not None:
            ring = labels[where] == index
            finder = _finder(where, ring, dark[where] & ~ring)
            if finder is not None:
                found.append(finder)
    return found


def otsu_cut(grey: npt.NDArray[np.uint8]) -> int:
    """Otsu's threshold (1979): the grey level that best separates the two classes of pixels (ink, paper)
    by maximising the variance between them; pixels at or below it are dark."""
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    weight, mean = np.cumsum(hist), np.cumsum(hist * np.arange(256))
    total, total_mean = weight[-1], mean[-1]
    between = (total_mean * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1e-9)
    return int(np.argmax(between[:-1]))


def _finder(where: Where, ring: Mask, other: Mask) -> _Finder | None:
    """The finder pattern whose outer ring is ``ring`` (one dark component, cropped to its bounding box
    ``where``), if it is one (the tests of the module docstring); ``other`` is the box's other dark pixels."""
    height, width = ring.shape
    if min(height, width) < SMALLEST or abs(height / width - 1) > SQUARE:
        return None
    filled = np.asarray(ndimage.binary_fill_holes(ring), dtype=bool)
    hole = _largest(filled & ~ring)
    side = math.sqrt(filled.sum())
    if filled.sum() < FILLED * height * width or not HOLE[0] <= math.sqrt(hole.sum()) / side <= HOLE[1]:
        return None
    module = side / 7
    if math.dist(_middle(hole), _middle(filled)) > CENTRED * module:
        return None
    depth = ndimage.distance_transform_edt(hole)
    centre, band = hole & (depth > module), hole & (depth <= module)
    if not CENTRE[0] <= centre.sum() / (3 * module) ** 2 <= CENTRE[1] or other[band].mean() > 1 - LIGHT:
        return None
    return _Finder(where, ring, centre, side)


def _largest(mask: Mask) -> Mask:
    """The largest connected part of ``mask`` (a ring's hole, without the pockets of its ragged edge)."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return np.asarray(labels == int(np.argmax(sizes)) + 1)


def _middle(mask: Mask) -> tuple[float, float]:
    """The centroid of ``mask``, (row, column)."""
    rows, cols = np.nonzero(mask)
    return float(rows.mean()), float(cols.mean())
