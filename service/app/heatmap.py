"""A standalone SVG heatmap of one attention matrix: target tokens down, source tokens across.

Labels are escaped and stripped of characters XML cannot carry, source labels are rotated so long tokens stay
readable, every cell has a tooltip with its exact weight, and a legend shows the colour scale.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

MAX_SVG_CELLS = 100_000

_CELL = 26
_FONT_SIZE = 12
_CHAR_WIDTH = 7.3  # px per character of the monospace label font at _FONT_SIZE
_MAX_LABEL_CHARS = 24
_PAD = 14
_TITLE_HEIGHT = 40
_LABEL_ANGLE = 50  # degrees above the horizontal
_LEGEND_WIDTH = 14
_LEGEND_MIN_HEIGHT = 130
_LEGEND_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
_SHOW_VALUES_UP_TO_CELLS = 900
_FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
# A sequential white-to-blue scale (ColorBrewer "Blues"): 0 is white, 1 is dark blue.
_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (247, 251, 255)),
    (0.25, (198, 219, 239)),
    (0.5, (107, 174, 214)),
    (0.75, (33, 113, 181)),
    (1.0, (8, 48, 107)),
)


def colour(value: float) -> str:
    """The scale's colour for a weight in [0, 1] (clamped), as #rrggbb."""
    value = min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0
    for (low, low_rgb), (high, high_rgb) in itertools.pairwise(_STOPS):
        if value <= high:
            share = (value - low) / (high - low)
            red, green, blue = (round(a + (b - a) * share) for a, b in zip(low_rgb, high_rgb, strict=True))
            return f"#{red:02x}{green:02x}{blue:02x}"
    return "#{:02x}{:02x}{:02x}".format(*_STOPS[-1][1])


def _xml_char_allowed(char: str) -> bool:
    code = ord(char)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def xml_text(text: str) -> str:
    """Escaped for XML text and attribute values; characters XML 1.0 forbids become U+FFFD."""
    cleaned = "".join(char if _xml_char_allowed(char) else "\ufffd" for char in text)
    return escape(cleaned, {'"': "&quot;", "'": "&apos;"})


def _short(token: str) -> str:
    return token if len(token) <= _MAX_LABEL_CHARS else token[: _MAX_LABEL_CHARS - 1] + "…"


def _label_width(tokens: Sequence[str]) -> float:
    return max((len(_short(token)) for token in tokens), default=1) * _CHAR_WIDTH


def _cells(attention: Sequence[Sequence[float]], source: Sequence[str], target: Sequence[str], left: float,
           top: float) -> list[str]:  # fmt: skip
    show_values = len(source) * len(target) <= _SHOW_VALUES_UP_TO_CELLS
    parts = []
    for i, row in enumerate(attention):
        for j, weight in enumerate(row):
            x, y = left + j * _CELL, top + i * _CELL
            tip = xml_text(f"{target[i]} ← {source[j]}: {weight:.4f}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{_CELL}" height="{_CELL}" fill="{colour(weight)}">'
                f"<title>{tip}</title></rect>"
            )
            if show_values and weight >= 0.005:
                ink = "#ffffff" if weight >= 0.5 else "#08306b"
                shown = "1" if weight >= 0.995 else f"{weight:.2f}".lstrip("0")
                parts.append(
                    f'<text x="{x + _CELL / 2:.1f}" y="{y + _CELL / 2 + 3:.1f}" font-size="9" fill="{ink}" '
                    f'text-anchor="middle" pointer-events="none">{shown}</text>'
                )
    return parts


def _source_labels(source: Sequence[str], left: float, top: float) -> list[str]:
    return [
        f'<text transform="translate({left + j * _CELL + _CELL / 2 + 3:.1f},{top - 6:.1f}) rotate(-{_LABEL_ANGLE})" '
        f'text-anchor="start">{xml_text(_short(token))}</text>'
        for j, token in enumerate(source)
    ]


def _target_labels(target: Sequence[str], left: float, top: float) -> list[str]:
    return [
        f'<text x="{left - 6:.1f}" y="{top + i * _CELL + _CELL / 2 + 4:.1f}" text-anchor="end">'
        f"{xml_text(_short(token))}</text>"
        for i, token in enumerate(target)
    ]


def _legend(x: float, top: float, height: float) -> list[str]:
    stops = "".join(
        f'<stop offset="{1 - position:.2f}" stop-color="{colour(position)}"/>' for position, _ in reversed(_STOPS)
    )
    parts = [
        f'<defs><linearGradient id="heed-scale" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient></defs>',
        f'<rect x="{x:.1f}" y="{top:.1f}" width="{_LEGEND_WIDTH}" height="{height:.1f}" fill="url(#heed-scale)" '
        'stroke="#555" stroke-width="0.5"/>',
    ]
    for tick in _LEGEND_TICKS:
        y = top + (1 - tick) * height
        parts.append(f'<line x1="{x + _LEGEND_WIDTH:.1f}" y1="{y:.1f}" x2="{x + _LEGEND_WIDTH + 4:.1f}" y2="{y:.1f}" '
                     'stroke="#555"/>')  # fmt: skip
        parts.append(f'<text x="{x + _LEGEND_WIDTH + 7:.1f}" y="{y + 4:.1f}">{tick:.2f}</text>')
    parts.append(f'<text x="{x:.1f}" y="{top - 16:.1f}">weight</text>')
    return parts


def render_heatmap(
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    attention: Sequence[Sequence[float]],
    *,
    title: str,
    description: str = "",
) -> str:
    """The SVG document as text. `attention` has one row per target token and one column per source token."""
    if len(attention) != len(target_tokens) or any(len(row) != len(source_tokens) for row in attention):
        raise ValueError("attention must have one row per target token and one column per source token")
    rise = math.sin(math.radians(_LABEL_ANGLE))
    run = math.cos(math.radians(_LABEL_ANGLE))
    source_label = _label_width(source_tokens)
    left = _PAD + _label_width(target_tokens) + 10
    top = _PAD + _TITLE_HEIGHT + source_label * rise + 12
    grid_width, grid_height = len(source_tokens) * _CELL, len(target_tokens) * _CELL
    legend_x = left + grid_width + 24
    legend_height = max(grid_height, _LEGEND_MIN_HEIGHT)
    width = max(legend_x + _LEGEND_WIDTH + 48, left + grid_width + source_label * run, _PAD + len(title) * 8) + _PAD
    height = top + max(grid_height, legend_height) + _PAD
    body = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-labelledby="heed-title heed-desc" '
        f'font-family="{_FONT}" font-size="{_FONT_SIZE}" fill="#222">',
        f'<title id="heed-title">{xml_text(title)}</title>',
        f'<desc id="heed-desc">{xml_text(description)}</desc>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text x="{_PAD}" y="{_PAD + 14}" font-size="14" font-weight="bold">{xml_text(title)}</text>',
        f'<text x="{_PAD}" y="{_PAD + 32}" font-size="11" fill="#555">rows: target tokens · columns: source tokens · '
        "cell: attention weight</text>",
        *_cells(attention, source_tokens, target_tokens, left, top),
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{grid_width}" height="{grid_height}" fill="none" stroke="#555" '
        'stroke-width="0.5"/>',
        *_source_labels(source_tokens, left, top),
        *_target_labels(target_tokens, left, top),
        *_legend(legend_x, top, legend_height),
        "</svg>",
    ]
    return "\n".join(body) + "\n"
