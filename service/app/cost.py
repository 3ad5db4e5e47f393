"""What a translation request will cost, estimated before any of it is decoded, and metered while it is.

The unit is the work unit: one decoder row-step (one hypothesis, or row, advanced by one decoder step) over a
short source. A row's cost grows with the source it attends to, so a row-step over a source of `S` pieces (its
"</s>" included) weighs `1 + S / SOURCE_PIECES_PER_ROW`. Measured on the shipped en-de bundle on one core
(`python -m bench.decoder_cost`), a decoder call took 0.86 ms + 81 us per row + 0.47 us per row and source piece
(a least-squares fit over 1,394 calls of real documents and of long number sequences, rows 1-64, sources up to
257 pieces; within 11% of every workload's total), so a row reading 173 pieces (159-184 over three runs) costs
twice one reading none.

A text decoded with beam `b` runs at most `cap + 1` steps of at most `b` rows (the last step can only emit
"</s>"), where `cap` is the output length limit: the request's `max_length`, or else the manifest's rule
`ratio x source pieces + offset` (2 x pieces + 10 for the shipped bundles), at most `output_length_cap` (a
setting). So a text costs at most beam x (cap + 1) row-steps of its weight, which grows with its source pieces x
beam. A decoder step also costs something whatever its rows (the graph call, the beam's bookkeeping in Python):
each step of a batch is charged STEP_COST_ROWS more units. A request's estimate is the sum over the batches it
will be decoded in (`plan_batches`, as the scheduler slices it) of their rows' work plus STEP_COST_ROWS per step
of the batch's longest text.

The estimate is an upper bound that real text stays far below: hypotheses end long before their length limit (a
5,000-character document decodes 38-57% of its estimate at beam 4, bench.work_budget). Outputs that never end
(number sequences, long runs of letters) do reach it. So a heavy request's decoding is also metered
(`DecodingMeter`): before each decoder step its live rows and the step are counted in the same units, and a
request whose next step would pass the decoding limit is stopped there and refused with 413. The meter counts
only the request's own rows, from the decoding itself, so where it stops a request does not depend on the
machine, its load or other requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from service.app.errors import ApiError
from service.runtime import Translator
from service.runtime.tokenizer import MAX_SOURCE_PIECES, MAX_TARGET_PIECES

STEP_COST_ROWS = 8  # a decoder step costs about as much as this many more rows (the graph call alone: 8.6-10.5)
SOURCE_PIECES_PER_ROW = 180  # a row-step over this many source pieces weighs twice one over none (fit: 159-184)


def row_weight(source_tokens: int) -> float:
    """What one row-step over a source of `source_tokens` pieces ("</s>" included) costs, in work units."""
    return 1.0 + source_tokens / SOURCE_PIECES_PER_ROW


class TooMuchWorkError(Exception):
    """A request's estimated work exceeds the per-request budget; the message says by how much."""


class DecodingLimitError(TooMuchWorkError):
    """A request's decoding passed the per-request decoding limit and was stopped; the message says where."""


class WorkRateLimitedError(ApiError):
    """The caller's bucket of work units per minute (`rate_limit_work`) holds less than the request needs."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: str) -> None:
        super().__init__(message, headers={"Retry-After": retry_after})


@dataclass(frozen=True)
class TextWork:
    rows: int  # the beam size
    steps: int  # at most, "</s>" included
    source_tokens: int  # what each row attends to, "</s>" included

    @property
    def rows_work(self) -> int:
        """Its rows' work in units: rows x steps, each of the source's weight (rounded up)."""
        return -(-self.rows * self.steps * (SOURCE_PIECES_PER_ROW + self.source_tokens) // SOURCE_PIECES_PER_ROW)

    @property
    def alone(self) -> int:
        """Its cost decoded in a batch of its own."""
        return self.rows_work + STEP_COST_ROWS * self.steps


def read_source_tokens(translator: Translator, text: str) -> int:
    """The source pieces the model reads of `text`, "</s>" included (at most MAX_SOURCE_PIECES + 1)."""
    return min(translator.count_source_tokens(text), MAX_SOURCE_PIECES + 1)


def text_work(translator: Translator, text: str, beam_size: int, max_length: int | None, cap: int) -> TextWork:
    """At most how many steps and rows translating `text` takes."""
    source_tokens = read_source_tokens(translator, text)
    steps = max_length if max_length is not None else translator.max_output_length(source_tokens, cap)
    return TextWork(beam_size, steps + 1, source_tokens)


def is_light(work: int, slice_work: int | None, light_work: int | None) -> bool:
    """Whether a request of `work` units shares batches with other requests (light), rather than being decoded
    in slices of its own: always without slicing, else up to `light_work` (`slice_work` when that is None)."""
    return slice_work is None or work <= (slice_work if light_work is None else light_work)


def slicing_order(costs: Sequence[int]) -> list[int]:
    """The order a heavy request's texts are sliced in: cheapest first, ties in request order. A slice runs as many
    steps as its longest text, so texts of similar length share slices and a long document decodes in fewer steps
    (bench.work_budget's dense prose at beam 4: 11,957 units decoded in slices of 16,000 taken this way, 13,316 in
    slices of 8,000 taken in request order)."""
    return sorted(range(len(costs)), key=lambda index: (costs[index], index))


def plan_batches(
    costs: Sequence[int], slice_work: int | None, max_sentences: int, light_work: int | None = None
) -> list[list[int]]:
    """Text indices per batch, as the scheduler forms them: a light request (at most `light_work` units in all;
    `slice_work` when that is None) in batches of `max_sentences`; a heavier one first-fit into slices of at most
    `slice_work` (at least one text), its texts taken cheapest first (`slicing_order`)."""
    order = list(range(len(costs)))
    if slice_work is None or is_light(sum(costs), slice_work, light_work):
        return [order[start : start + max_sentences] for start in range(0, len(order), max_sentences)]
    batches: list[list[int]] = []
    left = slicing_order(costs)
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
    def rows_work(self) -> int:
        return sum(work.rows_work for work in self.texts)

    @property
    def steps(self) -> int:
        return sum(max(self.texts[index].steps for index in batch) for batch in self.batches)

    @property
    def total(self) -> int:
        return self.rows_work + STEP_COST_ROWS * self.steps


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


def estimate_forced_work(
    translator: Translator, sources: Sequence[str], targets: Sequence[str], *, max_sentences: int = 32
) -> WorkEstimate:
    """What aligning given translations (/v1/align) costs: one row per text, teacher-forced over each target's
    pieces (at most MAX_TARGET_PIECES) and "</s>". Exact, not an upper bound: every step is taken."""
    works = [_forced_work(translator, source, target) for source, target in zip(sources, targets, strict=True)]
    per_call = max(1, min(max_sentences, translator.max_batch_rows))
    return WorkEstimate(works, plan_batches([work.alone for work in works], None, per_call))


def _forced_work(translator: Translator, source: str, target: str) -> TextWork:
    target_steps = min(translator.target_tokenizer.count(target), MAX_TARGET_PIECES) + 1
    return TextWork(1, target_steps, read_source_tokens(translator, source))


def check_budget(estimate: WorkEstimate, budget: int) -> None:
    """Raises TooMuchWorkError when the estimate is over `budget` work units."""
    if estimate.total > budget:
        raise TooMuchWorkError(
            f"this request needs {estimate.total:,} work units ({estimate.rows_work:,} for its texts' hypotheses: at "
            f"most beam size x (output length limit + 1) decoder row-steps each, weighing 1 + source pieces / "
            f"{SOURCE_PIECES_PER_ROW}; and {STEP_COST_ROWS} for each of its {estimate.steps:,} decoder steps); the "
            f"limit is {budget:,} per request, exceeded by "
            f"{estimate.total - budget:,}: send fewer or shorter texts, a smaller beam (or fewer alternatives) or a "
            "smaller max_length"
        )


class DecodingMeter:
    """The work one request's decoding really takes, counted before each of its decoder steps.

    `charge` is told the step's rows of the request (with their sources' pieces); it counts them and
    STEP_COST_ROWS for the step, unless that would pass `limit`: then the request is stopped, and stays stopped.
    Not thread-safe: one request decodes on one worker at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0.0
        self.steps = 0
        self.stopped = False

    def charge(self, rows_by_source: Iterable[tuple[int, int]]) -> bool:
        """Counts a step of `(source_tokens, rows)` pairs; False (and stopped) when it would pass the limit."""
        if self.stopped:
            return False
        cost = STEP_COST_ROWS + sum(rows * row_weight(source_tokens) for source_tokens, rows in rows_by_source)
        if self.used + cost > self.limit:
            self.stopped = True
            return False
        self.used += cost
        self.steps += 1
        return True

    def error(self) -> DecodingLimitError:
        return DecodingLimitError(
            f"decoding this request was stopped after {self.steps:,} decoder steps and {self.used:,.0f} work units: "
            f"the next step would pass the limit of {self.limit:,} per request. Its translations ran long (outputs "
            "that reach their length limit, such as long number sequences or runs of letters, cost most): send "
            "fewer or shorter texts, a smaller beam (or fewer alternatives) or a smaller max_length"
        )
