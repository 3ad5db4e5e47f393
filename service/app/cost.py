"""What a translation request will cost, estimated before any of it is decoded.

The unit is the decoder row-step: one hypothesis (row) advanced by one decoder step. A text decoded with beam
`b` runs at most `cap + 1` steps of at most `b` rows (the last step can only emit "</s>"), where `cap` is the
output length limit: the request's `max_length`, or else the manifest's rule `ratio × source pieces + offset`
(2 × pieces + 10 for the shipped bundles), at most `output_length_cap` (a setting). So a text costs at most
beam × (cap + 1) row-steps, which grows with its source pieces × beam.

A decoder step also costs something whatever its rows (the graph call, the beam's bookkeeping in Python):
measured on the shipped en-de bundle at a 257-piece source, a step took about 1.8 ms + 0.23 ms per row on one
core (1.4 ms at 1 row, 2.7 ms at 4, 5.0 ms at 16, 16-17 ms at 64), so each step of a batch is charged
STEP_COST_ROWS more row-steps. A request's estimate is the sum over
the batches it will be decoded in (`plan_batches`, as the scheduler slices it) of their rows' row-steps plus
STEP_COST_ROWS per step of the batch's longest text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.app.errors import ApiError
from service.runtime import Translator
from service.runtime.tokenizer import MAX_SOURCE_PIECES, MAX_TARGET_PIECES

STEP_COST_ROWS = 8  # a decoder step costs about as much as this many more rows (1.8 ms vs 0.23 ms per row)


class TooMuchWorkError(Exception):
    """A request's estimated work exceeds the per-request budget; the message says by how much."""


class WorkRateLimitedError(ApiError):
    """The caller's bucket of decoder row-steps per minute (`rate_limit_work`) holds less than the request needs."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: str) -> None:
        super().__init__(message, headers={"Retry-After": retry_after})


@dataclass(frozen=True)
class TextWork:
    rows: int  # the beam size
    steps: int  # at most, "</s>" included

    @property
    def row_steps(self) -> int:
        return self.rows * self.steps

    @property
    def alone(self) -> int:
        """Its cost decoded in a batch of its own."""
        return self.row_steps + STEP_COST_ROWS * self.steps


def text_work(translator: Translator, text: str, beam_size: int, max_length: int | None, cap: int) -> TextWork:
    """At most how many steps and rows translating `text` takes."""
    source_tokens = min(translator.count_source_tokens(text), MAX_SOURCE_PIECES + 1)  # the model reads at most
    steps = max_length if max_length is not None else translator.max_output_length(source_tokens, cap)
    return TextWork(beam_size, steps + 1)


def is_light(work: int, slice_work: int | None, light_work: int | None) -> bool:
    """Whether a request of `work` row-steps shares batches with other requests (light), rather than being decoded
    in slices of its own: always without slicing, else up to `light_work` (`slice_work` when that is None)."""
    return slice_work is None or work <= (slice_work if light_work is None else light_work)


def plan_batches(
    costs: Sequence[int], slice_work: int | None, max_sentences: int, light_work: int | None = None
) -> list[list[int]]:
    """Text indices per batch, as the scheduler forms them: a light request (at most `light_work` row-steps in all;
    `slice_work` when that is None) in batches of `max_sentences`; a heavier one first-fit, in order, into slices of
    at most `slice_work` (at least one text)."""
    order = list(range(len(costs)))
    if slice_work is None or is_light(sum(costs), slice_work, light_work):
        return [order[start : start + max_sentences] for start in range(0, len(order), max_sentences)]
    batches: list[list[int]] = []
    left = order
    while left:
        batch, work, rest = [left[0]], costs[left[0]], []
        for index in left[1:]:
            if len(batch) < max_sentences and work + costs[index] <= slice_work:
                batch.append(index)
                work += costs[index]
            else:
                rest.append(index)
        batches.append(batch)
        left = rest
    return batches


@dataclass(frozen=True)
class WorkEstimate:
    texts: list[TextWork]  # in request order
    batches: list[list[int]]

    @property
    def per_text(self) -> list[int]:
        """Each text's cost alone: what a slice counts."""
        return [work.alone for work in self.texts]

    @property
    def row_steps(self) -> int:
        return sum(work.row_steps for work in self.texts)

    @property
    def steps(self) -> int:
        return sum(max(self.texts[index].steps for index in batch) for batch in self.batches)

    @property
    def total(self) -> int:
        return self.row_steps + STEP_COST_ROWS * self.steps


def estimate_work(
    translator: Translator,
    texts: Sequence[str],
    beam_size: int,
    max_length: int | None,
    cap: int,
    *,
    slice_work: int | None = None,
    max_sentences: int = 32,
    light_work: int | None = None,
) -> WorkEstimate:
    works = [text_work(translator, text, beam_size, max_length, cap) for text in texts]
    per_call = max(1, min(max_sentences, translator.max_batch_rows // beam_size))  # the runtime's own chunks
    return WorkEstimate(works, plan_batches([work.alone for work in works], slice_work, per_call, light_work))


def estimate_forced_work(translator: Translator, targets: Sequence[str], *, max_sentences: int = 32) -> WorkEstimate:
    """What aligning given translations (/v1/align) costs: one row per text, teacher-forced over each target's
    pieces (at most MAX_TARGET_PIECES) and "</s>"."""
    works = [TextWork(1, min(translator.target_tokenizer.count(text), MAX_TARGET_PIECES) + 1) for text in targets]
    per_call = max(1, min(max_sentences, translator.max_batch_rows))
    return WorkEstimate(works, plan_batches([work.alone for work in works], None, per_call))


def check_budget(estimate: WorkEstimate, budget: int) -> None:
    """Raises TooMuchWorkError when the estimate is over `budget` row-steps."""
    if estimate.total > budget:
        raise TooMuchWorkError(
            f"this request needs {estimate.total:,} decoder row-steps ({estimate.row_steps:,} for its texts' "
            f"hypotheses, at most beam size x (output length limit + 1) each, and {STEP_COST_ROWS} for each of its "
            f"{estimate.steps:,} decoder steps); the limit is {budget:,} per request, exceeded by "
            f"{estimate.total - budget:,}: send fewer or shorter texts, a smaller beam (or fewer alternatives) or a "
            "smaller max_length"
        )
