"""The report's SVG charts: well-formed XML, the right number of marks, escaped text, strict inputs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from importlib import resources
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.errors import InputError
from tallyproof.report import charts
from tallyproof.report.charts import choropleth, grouped_bars, histogram, percent, state_map

SVG = "{http://www.w3.org/2000/svg}"
SQUARES = {"a": ("A <&> \"'", "M0 0l10 0 0 10z"), "b": ("B", "M20 0l10 0 0 10z"), "c": ("C", "M40 0l10 0 0 10z")}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def marks(root: ET.Element, tag: str, kind: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == kind]


def titles(elements: list[ET.Element]) -> list[str]:
    return [e.findtext(f"{SVG}title") or "" for e in elements]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter(f"{SVG}text")]


def self_contained(svg: str) -> bool:
    """No script, no stylesheet and no reference to anything outside the document."""
    outside = re.findall(r"https?://[^\"]*", svg)
    return outside == ["http://www.w3.org/2000/svg"] and "<script" not in svg and "@import" not in svg


def square_map(values: dict[str, float | None], title: str = "Coverage <&>") -> str:
    return choropleth(SQUARES, (50, 10), values, title=title, legend="Share & more", fmt=percent)


# --- choropleth ------------------------------------------------------------------------------------------


def test_a_choropleth_has_one_shape_per_key_with_escaped_titles() -> None:
    svg = square_map({"a": 0.5, "b": None})
    root = parse(svg)
    shapes = marks(root, "path", "shape")
    assert titles(shapes) == ["A <&> \"': 50.0%", "B: no data", "C: no data"]
    assert root.findtext(f"{SVG}title") == "Coverage <&>"
    assert "Share & more" in texts(root)
    assert self_contained(svg)


def test_missing_values_are_hatched_with_a_pattern_defined_in_the_same_svg() -> None:
    root = parse(square_map({"a": 0.5}))
    fills = [e.get("fill") for e in marks(root, "path", "shape")]
    hatch = fills[1]
    assert hatch is not None and hatch.startswith("url(#") and fills[2] == hatch
    assert [p.get("id") for p in root.iter(f"{SVG}pattern")] == [hatch[5:-1]]


@pytest.mark.parametrize(("value", "step"), [(0.0, 0), (0.1999, 0), (0.2, 1), (0.5, 2), (0.8, 4), (1.0, 4)])
def test_each_share_takes_the_colour_of_its_step(value: float, step: int) -> None:
    shape = marks(parse(square_map({"a": value})), "path", "shape")[0]
    assert shape.get("fill") == charts.VIRIDIS[step]


def test_the_legend_counts_the_shapes_in_each_step() -> None:
    labels = texts(parse(square_map({"a": 0.1, "b": 1.0})))
    assert "0.0% – 20.0% (1)" in labels and "80.0% – 100.0% (1)" in labels and "no data (1)" in labels


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf")])
def test_a_share_outside_zero_to_one_is_refused(bad: float) -> None:
    with pytest.raises(InputError) as caught:
        square_map({"a": 0.5, "b": bad})
    assert caught.value.where == "values['b']"


@pytest.mark.parametrize("viewbox", [(0, 10), (50, -1), (float("nan"), 10)])
def test_a_viewbox_without_area_is_refused(viewbox: tuple[float, float]) -> None:
    with pytest.raises(InputError) as caught:
        choropleth(SQUARES, viewbox, {}, title="t", legend="l", fmt=percent)
    assert caught.value.where == "viewbox"


def test_a_value_for_a_shape_that_does_not_exist_is_refused() -> None:
    with pytest.raises(InputError, match="no shape for 'z'"):
        square_map({"a": 0.5, "z": 0.5})


@settings(max_examples=50)
@given(st.dictionaries(st.sampled_from(sorted(SQUARES)), st.none() | st.floats(0, 1)))
def test_any_shares_give_a_well_formed_map(values: dict[str, float | None]) -> None:
    shapes = marks(parse(square_map(values, title="<&>")), "path", "shape")
    assert len(shapes) == len(SQUARES)
    for shape, key in zip(shapes, SQUARES, strict=True):
        assert (shape.get("fill") or "").startswith("url(#") == (values.get(key) is None)


# --- the packaged map of Venezuela ---------------------------------------------------------------------------


def packaged() -> tuple[str, dict[str, Any]]:
    text = (resources.files("tallyproof.report") / "ve2024_states.json").read_text(encoding="utf-8")
    return text, json.loads(text)


def test_the_packaged_map_has_every_state_with_a_path_and_its_source() -> None:
    text, document = packaged()
    states = document["states"]
    assert len(states) in (24, 25)
    assert len(text.encode("utf-8")) < 80_000
    codes = {f"{i:02d}" for i in range(1, 25)}
    assert codes <= set(states) | set(document.get("missing", []))
    for shape in states.values():
        assert shape["name"] and re.fullmatch(r"(M[-0-9 ]+l[-0-9 ]+z)+", shape["path"])
    assert "1e093785fa88344d59b2614355eb4536a0c86b9e" in document["source"]
    width, height = document["viewbox"]
    assert width > 0 and height > 0


def test_state_map_draws_every_state_from_cne_codes() -> None:
    _, document = packaged()
    svg = state_map({"01": 0.25, "24": None}, title="Copies per state", legend="Tables with a copy")
    assert svg is not None and self_contained(svg)
    shapes = titles(marks(parse(svg), "path", "shape"))
    assert len(shapes) == len(document["states"])
    assert "Distrito Capital: 25.0%" in shapes and "La Guaira: no data" in shapes


@pytest.mark.parametrize("values", [{}, {"XX": 0.5}, {"1": 0.5, "AR-B": 0.1}])
def test_state_map_is_none_when_no_key_is_a_state_code(values: dict[str, float | None]) -> None:
    assert state_map(values, title="t", legend="l") is None


def test_state_map_leaves_off_a_key_it_has_no_shape_for() -> None:
    svg = state_map({"01": 0.5, "99": 0.5}, title="t", legend="l")
    assert svg is not None and svg == state_map({"01": 0.5}, title="t", legend="l")


# --- grouped bars ----------------------------------------------------------------------------------------------


def test_grouped_bars_have_one_bar_per_category_and_series_with_separated_values() -> None:
    svg = grouped_bars(
        ["Edmundo <González>", "Nicolás Maduro", "Others"],
        {"copies": [7_119_768, 3_225_819, 0], "announced & more": [5_326_104, 6_408_844, 212_345.5]},
        title="Votes <per> candidate",
        unit="votes",
    )
    root = parse(svg)
    bars = marks(root, "rect", "bar")
    assert len(bars) == 6
    assert "Edmundo <González> — copies: 7,119,768 votes" in titles(bars)
    assert "Others — announced & more: 212,345.5 votes" in titles(bars)
    assert {"7,119,768", "6,408,844", "0", "Edmundo <González>", "announced & more"} <= set(texts(root))
    assert float(bars[0].get("width") or 0) > float(bars[1].get("width") or 0) > 0 == float(bars[4].get("width") or 0)
    assert self_contained(svg)


@pytest.mark.parametrize(
    ("series", "where"),
    [
        ({"s": [1, 2]}, "series['s']"),
        ({"s": [1, 2, -3]}, "series['s']"),
        ({"s": [1, float("nan"), 3]}, "series['s']"),
        ({str(i): [1, 2, 3] for i in range(9)}, "series"),
    ],
)
def test_bars_refuse_mismatched_negative_or_missing_values(series: dict[str, list[float]], where: str) -> None:
    with pytest.raises(InputError) as caught:
        grouped_bars(["a", "b", "c"], series, title="t", unit="u")
    assert (caught.value.where or "").startswith(where)


@pytest.mark.parametrize(("categories", "series"), [([], {"s": []}), (["a"], {})])
def test_bars_without_data_say_so(categories: list[str], series: dict[str, list[float]]) -> None:
    root = parse(grouped_bars(categories, series, title="Nothing <here>", unit="votes"))
    assert "no data" in texts(root) and not marks(root, "rect", "bar")


def test_a_long_category_label_is_cut_but_kept_whole_in_the_title() -> None:
    name = "Circunscripción " * 20
    root = parse(grouped_bars([name], {"s": [1]}, title="t", unit="u"))
    label = next(t for t in texts(root) if t.startswith("Circunscripción"))
    assert label.endswith("…") and len(label) < 40
    assert titles(marks(root, "rect", "bar")) == [f"{name} — s: 1 u"]


def test_all_zero_bars_still_draw() -> None:
    root = parse(grouped_bars(["a", "b"], {"s": [0, 0]}, title="t", unit="u"))
    assert [b.get("width") for b in marks(root, "rect", "bar")] == ["0", "0"]


# --- histogram -------------------------------------------------------------------------------------------------


def bin_counts(svg: str) -> list[int]:
    return [int(t.rsplit(": ", 1)[1].replace(",", "")) for t in titles(marks(parse(svg), "rect", "bin"))]


def test_a_histogram_has_the_requested_bins_and_counts_every_value() -> None:
    values = np.random.default_rng(2024).normal(0, 20, 12_345)
    svg = histogram(values, bins=30, title="Discrepancy <per> table", x_label="copy − announced & more")
    assert len(bin_counts(svg)) == 30 and sum(bin_counts(svg)) == 12_345
    assert "copy − announced & more" in texts(parse(svg)) and self_contained(svg)


def test_explicit_edges_give_their_bins_and_a_note_for_values_outside() -> None:
    svg = histogram([0, 0.5, 1, 1, 3, 5, 7, 1_500], bins=[0, 1, 2, 5], title="t", x_label="x")
    assert bin_counts(svg) == [2, 2, 2]  # half-open bins, the last one closed: 5 falls in [2, 5]
    assert titles(marks(parse(svg), "rect", "bin"))[-1] == "[2, 5]: 2"
    assert "2 of 8 values outside the bins are not shown" in texts(parse(svg))


def test_numpy_integers_and_arrays_work_as_bins() -> None:
    assert len(bin_counts(histogram(np.arange(10), bins=np.int64(4), title="t", x_label="x"))) == 4
    assert bin_counts(histogram(np.arange(10), bins=np.linspace(0, 10, 3), title="t", x_label="x")) == [5, 5]


def test_a_log_scale_labels_powers_of_ten_with_separators() -> None:
    labels = texts(parse(histogram([1] * 1_500 + [2], bins=2, title="t", x_label="x", log_y=True)))
    assert {"1", "10", "100", "1,000", "10,000", "count (log scale)"} <= set(labels)


@pytest.mark.parametrize("empty", [[], np.array([]), np.zeros((0, 3))])
def test_an_empty_histogram_says_no_data(empty: list[float] | np.ndarray) -> None:
    root = parse(histogram(empty, bins=10, title="Nothing & nobody", x_label="x"))
    assert "no data" in texts(root) and root.findtext(f"{SVG}title") == "Nothing & nobody"


@pytest.mark.parametrize(
    ("values", "bins", "where"),
    [([1.0, float("nan")], 5, "values"), ([1.0], 0, "bins"), ([1.0], [0, 2, 1], "bins"), ([1.0], [3], "bins")],
)
def test_a_histogram_refuses_bad_values_or_bins(values: list[float], bins: int | list[float], where: str) -> None:
    with pytest.raises(InputError) as caught:
        histogram(values, bins=bins, title="t", x_label="x")
    assert caught.value.where == where


@settings(max_examples=50)
@given(st.lists(st.floats(-1e9, 1e9), max_size=200), st.integers(1, 40), st.booleans())
def test_any_finite_values_give_a_well_formed_histogram(values: list[float], bins: int, log_y: bool) -> None:
    svg = histogram(values, bins=bins, title="<&>", x_label="x", log_y=log_y)
    assert sum(bin_counts(svg)) == len(values)
    assert len(bin_counts(svg)) == (bins if values else 0)


def test_charts_are_deterministic() -> None:
    assert square_map({"a": 0.3}) == square_map({"a": 0.3})
    assert histogram([1, 2, 3], bins=3, title="t", x_label="x") == histogram([1, 2, 3], bins=3, title="t", x_label="x")
