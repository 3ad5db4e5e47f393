"""The SVG heatmap on its own: valid standalone SVG, every label escaped, cells, legend and colour scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from service.app.errors import TooLargeForSvgError
from service.app.heatmap import MAX_SVG_CELLS, colour, render_heatmap
from service.app.routers.alignment import _svg

SVG = "{http://www.w3.org/2000/svg}"
SOURCE = ["▁A", "▁<b>", "▁&amp;", '▁"q"', "▁\x00\x1b", "</s>"]
TARGET = ["▁Ein", "▁'x'", "▁" + "lang" * 20, "</s>"]


def matrix(rows: int, columns: int) -> list[list[float]]:
    return [[1.0 if column == row % columns else 0.0 for column in range(columns)] for row in range(rows)]


def test_a_valid_svg_with_one_cell_per_weight_and_every_token_as_a_label() -> None:
    svg = render_heatmap(SOURCE, TARGET, matrix(len(TARGET), len(SOURCE)), title="t <&>", description="d \x07")
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width", 0)) > 0 and float(root.get("height", 0)) > 0
    cells = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    assert len(cells) == len(SOURCE) * len(TARGET)
    labels = ["".join(text.itertext()) for text in root.iter(f"{SVG}text")]
    for token in ["▁A", "▁<b>", "▁&amp;", '▁"q"', "▁\ufffd\ufffd", "▁Ein", "▁'x'", "</s>"]:
        assert token in labels
    assert any(label.endswith("…") and len(label) <= 24 for label in labels)  # long tokens are shortened
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}title").text == "t <&>"  # type: ignore[union-attr]
    rotated = [text for text in root.iter(f"{SVG}text") if "rotate(" in text.get("transform", "")]
    assert len(rotated) == len(SOURCE)  # source labels run along the top, rotated


def test_the_legend_shows_the_colour_scale_from_0_to_1() -> None:
    root = ET.fromstring(render_heatmap(["a"], ["b"], [[1.0]], title="x").encode())
    gradient = root.find(f".//{SVG}linearGradient")
    assert gradient is not None
    stops = [stop.get("stop-color") for stop in gradient.iter(f"{SVG}stop")]
    assert stops[0] == colour(1.0) and stops[-1] == colour(0.0)
    labels = ["".join(text.itertext()) for text in root.iter(f"{SVG}text")]
    assert {"0.00", "0.50", "1.00"} <= set(labels)


def test_colours_darken_with_weight_and_clamp() -> None:
    def brightness(value: float) -> int:
        code = colour(value)
        return sum(int(code[i : i + 2], 16) for i in (1, 3, 5))

    values = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
    assert [brightness(v) for v in values] == sorted((brightness(v) for v in values), reverse=True)
    assert colour(-3.0) == colour(0.0) and colour(7.0) == colour(1.0) and colour(float("nan")) == colour(0.0)


def test_a_matrix_that_does_not_fit_its_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="one row per target token"):
        render_heatmap(["a", "b"], ["c"], [[0.5]], title="x")


def test_matrices_too_large_for_an_svg_are_refused_with_a_pointer_to_json() -> None:
    side = int(MAX_SVG_CELLS**0.5) + 1
    item = {"source_tokens": ["a"] * side, "target_tokens": ["b"] * side, "attention": [], "source": "", "text": ""}
    document = {"model": {"name": "en-de"}, "source": "en", "target": "de", "id": "x"}
    with pytest.raises(TooLargeForSvgError, match="use format=json"):
        _svg(document, 0, item, None)
