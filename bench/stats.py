"""Latency percentiles and the per-scenario summary the report is built from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default method).

    NaN for no values, so an empty measurement shows up as missing instead of as a fast one.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction


@dataclass(frozen=True)
class LatencySummary:
    """Milliseconds."""

    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary:
        millis = [1000.0 * value for value in seconds]
        if not millis:
            return cls(math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            p50=percentile(millis, 50),
            p95=percentile(millis, 95),
            p99=percentile(millis, 99),
            mean=sum(millis) / len(millis),
            max=max(millis),
        )

    def to_json(self) -> dict[str, float | None]:
        return {key: finite_or_none(value) for key, value in asdict(self).items()}


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: a quantity that could not be measured is null."""
    if value is None or not math.isfinite(value):
        return None
    return value


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or not denominator or not math.isfinite(numerator / denominator):
        return None
    return numerator / denominator


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats rounded for the JSON file, recursively; other values as they are."""
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item, digits) for item in value]
    return value
