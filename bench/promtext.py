"""Reading heed's /metrics: the batch-size histogram's sum and count, parsed with prometheus_client's parser."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

BATCH_SIZE_METRIC = "heed_batch_size"


@dataclass(frozen=True)
class HistogramTotals:
    total: float  # the _sum sample
    count: float  # the _count sample

    def minus(self, earlier: HistogramTotals) -> HistogramTotals:
        return HistogramTotals(self.total - earlier.total, self.count - earlier.count)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count > 0 else None


def histogram_totals(exposition: str, metric: str, labels: dict[str, str] | None = None) -> HistogramTotals:
    """Sum and count of one histogram, over the series whose labels include `labels` (all series when None).

    A histogram the exposition does not hold yet (no observation so far) reads as zero.
    """
    wanted = labels or {}
    total = count = 0.0
    for family in text_string_to_metric_families(exposition):
        if family.name != metric or family.type != "histogram":
            continue
        for sample in family.samples:
            if any(sample.labels.get(key) != value for key, value in wanted.items()):
                continue
            if sample.name == f"{metric}_sum":
                total += sample.value
            elif sample.name == f"{metric}_count":
                count += sample.value
    return HistogramTotals(total, count)
