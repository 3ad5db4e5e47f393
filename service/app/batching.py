"""Scheduling translation work onto ONNX Runtime threads, off the event loop.

`BatchingScheduler` (the default) puts every sentence of every request in one queue. A dispatcher takes
the oldest waiting sentence, waits up to `window` seconds for more sentences with the same model and
decoding options (or until `max_batch_size` of them wait), and decodes them with one `translate_batch`
call on a worker thread. It waits only while more sentences can come, that is while some HTTP request in
flight has not reached the scheduler yet, so a lone client never pays the window. While all `workers`
threads are busy, sentences pile up and the next batch takes them all at once, so batches grow with load
without any added wait. `UnbatchedScheduler` decodes each request on its own (the benchmark's baseline).
Both bound the sentences waiting (`capacity`) and turn away work beyond it with `QueueFullError`, so a
flood costs a 503 instead of memory.

Cost: before a request is admitted its work is estimated in work units (decoder row-steps weighted by
their sources: service/app/cost.py); over
`max_request_work` it is refused with `TooMuchWorkError` before anything is decoded. With a work limiter, the
estimate is then charged to the caller (service/app/caller_context.py), and a caller out of work is refused
with `WorkRateLimitedError` (429).

Fairness: a request whose estimate is at most `light_work` work units is light, and light requests share batches
freely. A heavier one is decoded in slices of at most `slice_work` units holding only its own sentences
(larger than light requests, so that its sentences share steps), never on more than one worker at a time, and
heavy requests together hold at most `workers - 1` workers, so that light requests always find one free (with
two workers or more). Among waiting requests the one that has had the least work dispatched goes first.

Dropping: a request that stops waiting (timeout, disconnect, shutdown) cancels its sentences; those still
queued are never decoded and those being decoded leave the batch at the next decoder step (`wanted`), so the
worker is free again within a step. `cancel_all` does this to every request (the end of the shutdown grace).

A batch that fails is retried sentence by sentence, so one bad text fails only its own request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from service.app.caller_context import CURRENT_CALLER
from service.app.cost import (
    DecodingLimitError,
    DecodingMeter,
    TextWork,
    WorkEstimate,
    WorkRateLimitedError,
    check_budget,
    estimate_work,
    is_light,
    slicing_order,
)
from service.app.metrics import Metrics
from service.app.ratelimit import RateLimiter, retry_after_header
from service.app.settings import Settings
from service.runtime import Translation, Translator
from service.runtime.alignment import DEFAULT_ALIGNMENT_METHOD, AlignmentMethod
from service.runtime.translator import MAX_OUTPUT_PIECES, StepWatcher

T = TypeVar("T")
Outcome = Translation | Exception


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 4
    n_best: int = 1
    max_length: int | None = None
    alignment_method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD  # part of the batch key: one method per call


class QueueFullError(Exception):
    """More sentences are waiting than the queue may hold."""


class SchedulerClosedError(Exception):
    """The service is shutting down."""


def decode_texts(
    translator: Translator,
    texts: Sequence[str],
    options: DecodeOptions,
    length_cap: int = MAX_OUTPUT_PIECES,
    wanted: Callable[[int], bool] | None = None,
    on_step: StepWatcher | None = None,
) -> list[Outcome]:
    """Blocking. One outcome per text; when the batch fails, each text is tried alone to find the culprit.
    Texts for which `wanted(index)` turns False stop decoding at the next step (their outcome is not read);
    `on_step` is told each decoder step's texts and their live rows first (Translator.translate_batch)."""
    try:
        translations = translator.translate_batch(
            list(texts), beam_size=options.beam_size, n_best=options.n_best, max_length=options.max_length,
            alignment_method=options.alignment_method, max_length_cap=length_cap, wanted=wanted, on_step=on_step,
        )  # fmt: skip
    except Exception as error:
        if len(texts) == 1:
            return [error]
        return [
            decode_texts(translator, [text], options, length_cap, _one_of(wanted, index), _step_of(on_step, index))[0]
            for index, text in enumerate(texts)
        ]
    if len(translations) != len(texts):
        mismatch = RuntimeError(f"the runtime returned {len(translations)} translations for {len(texts)} texts")
        return [mismatch] * len(texts)
    return list(translations)


def _one_of(wanted: Callable[[int], bool] | None, index: int) -> Callable[[int], bool] | None:
    return None if wanted is None else lambda _: wanted(index)


def _step_of(on_step: StepWatcher | None, index: int) -> StepWatcher | None:
    return None if on_step is None else lambda _, rows: on_step([index], rows)


def metered(
    meter: DecodingMeter | None, source_tokens: Sequence[int], wanted: Callable[[int], bool]
) -> tuple[Callable[[int], bool], StepWatcher | None]:
    """`wanted` and `on_step` for decode_texts that also stop the texts once `meter` says their request is over its
    decoding limit (`source_tokens[i]`: what text i's rows attend to)."""
    if meter is None:
        return wanted, None

    def on_step(texts: list[int], rows: list[int]) -> None:
        meter.charge(zip([source_tokens[text] for text in texts], rows, strict=True))

    return (lambda index: wanted(index) and not meter.stopped), on_step


@dataclass(frozen=True)
class WorkLimits:
    """The cost model's settings: see service/app/cost.py."""

    length_cap: int = MAX_OUTPUT_PIECES  # most output pieces of the automatic length limit
    request_work: int | None = None  # most work units per request (estimated); None: no limit
    slice_work: int | None = None  # most work units per batch of a heavy request; None: no slicing
    light_work: int | None = None  # most work units of a light request; None: slice_work
    decoding_work: int | None = None  # most work units a heavy request's decoding may take; None: no meter

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkLimits:
        return cls(
            settings.output_length_cap, settings.max_request_work, settings.batch_slice_work,
            light_work=settings.light_request_work, decoding_work=settings.max_decoding_work,
        )  # fmt: skip

    def estimate(
        self, translator: Translator, texts: Sequence[str], beam_size: int, max_length: int | None, max_sentences: int
    ) -> WorkEstimate:
        """What decoding `texts` costs under these limits, in batches of at most `max_sentences`."""
        return estimate_work(
            translator, texts, beam_size, max_length, self.length_cap,
            slice_work=self.slice_work, max_sentences=max_sentences, light_work=self.light_work,
        )  # fmt: skip

    def is_light(self, work: int) -> bool:
        """Whether a request of `work` units may share batches with other requests."""
        return is_light(work, self.slice_work, self.light_work)

    @property
    def forced_budget(self) -> int | None:
        """The most a forced decoding (/v1/align) may cost: its estimate is exact, every step is taken, so the
        decoding limit applies before it runs, as well as the budget."""
        limits = [limit for limit in (self.request_work, self.decoding_work) if limit is not None]
        return min(limits, default=None)

    def meter(self, work: int) -> DecodingMeter | None:
        """The meter of a request estimated at `work`: heavy requests only (a light one is far below the limit,
        and shares its steps with other requests, so its own share of them is not its own to count)."""
        if self.decoding_work is None or self.is_light(work) or work <= self.decoding_work:
            return None
        return DecodingMeter(self.decoding_work)


class TranslationScheduler(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def translate(
        self, translator: Translator, texts: Sequence[str], options: DecodeOptions
    ) -> list[Translation]: ...

    async def run_blocking(self, func: Callable[[], T], *, sentences: int = 1) -> T: ...

    def cancel_all(self, reason: str) -> None: ...

    @property
    def waiting(self) -> int: ...


class _SchedulerBase:
    def __init__(
        self, metrics: Metrics, *, capacity: int, workers: int, limits: WorkLimits | None = None,
        work_limiter: RateLimiter | None = None,
    ) -> None:  # fmt: skip
        self._metrics = metrics
        self._limits = limits or WorkLimits()
        self._work_limiter = work_limiter
        self._max_sentences = capacity  # per batch; the batching scheduler's is max_batch_size
        self._capacity = capacity
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heed-ort")
        self._slots = asyncio.Semaphore(workers)
        self._waiting = 0
        self._closed = False

    @property
    def waiting(self) -> int:
        """Sentences admitted and not yet handed to a worker (unbatched: not yet finished)."""
        return self._waiting

    def _admit(self, count: int) -> None:
        if self._closed:
            raise SchedulerClosedError("the service is shutting down")
        if self._waiting + count > self._capacity:
            self._metrics.rejections.labels(reason="queue_full").inc()
            raise QueueFullError(
                f"the translation queue is full ({self._waiting} of {self._capacity} sentences waiting); retry shortly"
            )
        self._set_waiting(self._waiting + count)

    def _estimate(self, translator: Translator, texts: Sequence[str], options: DecodeOptions) -> WorkEstimate:
        """The request's work; raises TooMuchWorkError (before it is admitted) when it is over the budget."""
        estimate = self._limits.estimate(translator, texts, options.beam_size, options.max_length, self._max_sentences)
        if self._limits.request_work is not None:
            try:
                check_budget(estimate, self._limits.request_work)
            except Exception:
                self._metrics.rejections.labels(reason="too_much_work").inc()
                raise
        return estimate

    async def _charge(self, work: int) -> None:
        """Takes `work` units from the caller's bucket; raises WorkRateLimitedError when too few are left."""
        caller = CURRENT_CALLER.get()
        if self._work_limiter is None or caller is None:
            return
        wait = await self._work_limiter.acquire(caller, float(work))
        if wait is None:
            return
        self._metrics.rejections.labels(reason="rate_limited").inc()
        retry_after = retry_after_header(wait)
        raise WorkRateLimitedError(
            f"this request needs {work:,} work units and the rate limit of {self._work_limiter.per_minute:,} "
            f"per minute has fewer left; retry in {retry_after} s",
            retry_after,
        )

    def _stop_error(self, meter: DecodingMeter | None) -> DecodingLimitError | None:
        """The error of a request its meter stopped (counted in the rejections metric); None if it was not."""
        if meter is None or not meter.stopped:
            return None
        self._metrics.rejections.labels(reason="decoding_limit").inc()
        return meter.error()

    def _set_waiting(self, count: int) -> None:
        self._waiting = count
        self._metrics.queue_depth.set(count)

    async def _in_worker(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    async def _in_free_worker(self, func: Callable[[], T]) -> T:
        """Waits for a free worker slot and runs `func` there."""
        await self._slots.acquire()
        return await self._in_held_slot(func)

    async def _in_held_slot(self, func: Callable[[], T]) -> T:
        """Runs `func` in the worker slot the caller holds. A caller that gives up (timeout, disconnect) does not
        free the slot early: the slot stays taken until the running call really ends."""
        try:
            running = asyncio.get_running_loop().run_in_executor(self._executor, func)
        except BaseException:
            self._slots.release()
            raise
        running.add_done_callback(self._free_slot)
        return await asyncio.shield(running)

    def _free_slot(self, finished: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not finished.cancelled():
            finished.exception()  # retrieved here too, in case the caller stopped waiting for it

    async def run_blocking(self, func: Callable[[], T], *, sentences: int = 1) -> T:
        """Runs other ONNX Runtime work (forced decoding, warm-up) on the same bounded worker threads. Its
        `sentences` count against the queue capacity until a worker takes the work, as translations do."""
        self._admit(sentences)
        try:
            await self._slots.acquire()
        finally:
            self._set_waiting(self._waiting - sentences)
        return await self._in_held_slot(func)

    def _record_batch(self, model: str, outcomes: Sequence[Outcome], waits: Sequence[float], seconds: float) -> None:
        metrics = self._metrics
        metrics.batch_size.labels(model=model).observe(len(outcomes))
        metrics.batch_latency.labels(model=model).observe(seconds)
        for wait in waits:
            metrics.queue_wait.labels(model=model).observe(wait)
        for outcome in outcomes:
            if isinstance(outcome, Translation):
                metrics.input_tokens.labels(model=model).inc(len(outcome.source_tokens))
                metrics.output_tokens.labels(model=model).inc(len(outcome.target_tokens))

    def _shutdown_executor(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class UnbatchedScheduler(_SchedulerBase):
    """Each request is decoded by itself, as one `translate_batch` call over its own texts."""

    async def start(self) -> None:
        return None

    def __init__(
        self, metrics: Metrics, *, capacity: int, workers: int, limits: WorkLimits | None = None,
        work_limiter: RateLimiter | None = None,
    ) -> None:  # fmt: skip
        super().__init__(metrics, capacity=capacity, workers=workers, limits=limits, work_limiter=work_limiter)
        self._in_flight: set[asyncio.Future[Any]] = set()

    async def stop(self) -> None:
        self._closed = True
        self.cancel_all("the service is shutting down")
        self._shutdown_executor()

    def cancel_all(self, reason: str) -> None:
        for waiting in list(self._in_flight):
            if not waiting.done():
                waiting.set_exception(SchedulerClosedError(reason))

    async def translate(
        self, translator: Translator, texts: Sequence[str], options: DecodeOptions
    ) -> list[Translation]:
        estimate = self._estimate(translator, texts, options)
        await self._charge(estimate.total)
        self._admit(len(texts))
        queued = time.perf_counter()
        started = queued
        gone = asyncio.get_running_loop().create_future()  # done once nobody waits for the answer
        meter = self._limits.meter(estimate.total)
        sources = [work.source_tokens for work in estimate.texts]
        wanted, on_step = metered(meter, sources, lambda _: not gone.done())

        def decode() -> list[Outcome]:
            nonlocal started
            started = time.perf_counter()
            return decode_texts(translator, texts, options, self._limits.length_cap, wanted, on_step)

        self._in_flight.add(gone)
        decoding = asyncio.ensure_future(self._in_free_worker(decode))
        decoding.add_done_callback(_retrieve)
        try:
            await asyncio.wait([decoding, gone], return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                gone.result()  # raises what cancel_all set
            outcomes = decoding.result()
        finally:
            if not gone.done():
                gone.cancel()  # the caller gave up (or finished): a decode still running stops at its next step
            self._in_flight.discard(gone)
            self._set_waiting(self._waiting - len(texts))
        finished = time.perf_counter()
        self._record_batch(translator.name, outcomes, [started - queued] * len(texts), finished - started)
        self._metrics.translation_latency.labels(model=translator.name).observe(finished - queued)
        stopped = self._stop_error(meter)
        if stopped is not None:
            raise stopped
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return [outcome for outcome in outcomes if isinstance(outcome, Translation)]


def _retrieve(finished: asyncio.Future[Any]) -> None:
    if not finished.cancelled():
        finished.exception()


@dataclass(eq=False)
class _Request:
    """One translate() call: its estimate, and how much of it went to workers."""

    work: int
    light: bool  # fits in one slice: may share a batch with other requests
    dispatched: int = 0  # work units handed to workers so far
    running: int = 0  # its batches being decoded now
    meter: DecodingMeter | None = None  # heavy requests that could pass the decoding limit


@dataclass(eq=False)
class _Job:
    translator: Translator
    options: DecodeOptions
    text: str
    future: asyncio.Future[Translation]
    request: _Request = field(default_factory=lambda: _Request(0, True))
    cost: TextWork = field(default_factory=lambda: TextWork(0, 0, 0))  # its rows, steps and source, as estimated
    queued_at: float = field(default_factory=time.perf_counter)

    @property
    def work(self) -> int:
        """Its cost decoded alone: what a slice counts."""
        return self.cost.alone

    @property
    def key(self) -> tuple[int, DecodeOptions]:
        return id(self.translator), self.options

    @property
    def eligible(self) -> bool:
        """Not cancelled, and its request may start a batch now (a request decodes on one worker at a time)."""
        return not self.future.done() and not self.request.running


class BatchingScheduler(_SchedulerBase):
    """Sentences of concurrent requests with the same model and options share `translate_batch` calls."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        capacity: int,
        workers: int,
        max_batch_size: int,
        window_seconds: float,
        limits: WorkLimits | None = None,
        work_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(metrics, capacity=capacity, workers=workers, limits=limits, work_limiter=work_limiter)
        self._max_batch_size = self._max_sentences = max_batch_size
        self._window = window_seconds
        self._queue: deque[_Job] = deque()
        self._arrived = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._running_jobs: set[_Job] = set()
        self._heavy_slots = max(1, workers - 1)  # the rest are kept for light requests
        self._heavy_running = 0  # batches of heavy requests being decoded
        self._requests_inside = 0  # translate() calls waiting for their sentences

    async def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="heed-batch-dispatcher")

    async def stop(self) -> None:
        self._closed = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        self.cancel_all("the service is shutting down")  # running decodes stop at their next step
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        self._set_waiting(self._waiting - len(self._queue))
        self._queue.clear()
        self._shutdown_executor()

    def cancel_all(self, reason: str) -> None:
        """Fails every queued and running sentence with SchedulerClosedError(reason); decodes stop at their next
        step. New requests are still taken (shutdown refuses them by closing the listener)."""
        for job in [*self._queue, *self._running_jobs]:
            if not job.future.done():
                job.future.set_exception(SchedulerClosedError(reason))
        self._arrived.set()

    async def translate(
        self, translator: Translator, texts: Sequence[str], options: DecodeOptions
    ) -> list[Translation]:
        estimate = self._estimate(translator, texts, options)
        await self._charge(estimate.total)
        self._admit(len(texts))
        loop = asyncio.get_running_loop()
        request = _Request(
            estimate.total, light=self._limits.is_light(estimate.total), meter=self._limits.meter(estimate.total)
        )
        jobs = [
            _Job(translator, options, text, loop.create_future(), request, cost)
            for text, cost in zip(texts, estimate.texts, strict=True)
        ]
        order = range(len(jobs)) if request.light else slicing_order(estimate.per_text)  # as plan_batches slices
        self._queue.extend(jobs[index] for index in order)
        self._arrived.set()
        self._requests_inside += 1
        try:
            translations = await asyncio.gather(*(job.future for job in jobs))
        except BaseException:
            for job in jobs:
                job.future.cancel()  # queued: never decoded; running: leaves its batch at the next step
            for job in jobs:
                if not job.future.cancelled():
                    job.future.exception()  # retrieved: the error that ended the request is already raised
            raise
        finally:
            self._requests_inside -= 1
        self._metrics.translation_latency.labels(model=translator.name).observe(time.perf_counter() - jobs[0].queued_at)
        return list(translations)

    async def _dispatch_forever(self) -> None:
        while True:
            while self._head() is None:
                self._arrived.clear()
                await self._arrived.wait()
            await self._slots.acquire()
            try:
                batch = await self._collect_batch()
            except BaseException:
                self._slots.release()
                raise
            if not batch:
                self._slots.release()
                continue
            for job in batch:
                job.request.running += 1
                job.request.dispatched += job.work
            self._heavy_running += not batch[0].request.light
            self._running_jobs.update(batch)
            task = asyncio.create_task(self._execute(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    def _head(self) -> _Job | None:
        """The next sentence to decode: of the waiting requests that may start a batch, the one that has had the
        least work so far (a light request arriving beside heavy ones goes first), oldest first among equals."""
        self._drop_cancelled()
        heavy_allowed = self._heavy_running < self._heavy_slots
        eligible = [job for job in self._queue if job.eligible and (heavy_allowed or job.request.light)]
        return min(eligible, key=lambda job: job.request.dispatched, default=None)

    async def _collect_batch(self) -> list[_Job]:
        head = self._head()
        if head is None:
            return []
        deadline = head.queued_at + self._window
        while self._more_may_come() and self._count_matching(head) < self._max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        head = self._head()
        return [] if head is None else self._take_matching(head)

    def _more_may_come(self) -> bool:
        """Whether an HTTP request in flight has not handed its sentences to the scheduler yet."""
        return self._metrics.requests_in_flight > self._requests_inside

    def _drop_cancelled(self) -> None:
        kept = deque(job for job in self._queue if not job.future.done())
        if len(kept) != len(self._queue):
            self._set_waiting(self._waiting - (len(self._queue) - len(kept)))
            self._queue = kept

    def _joins(self, head: _Job, job: _Job) -> bool:
        """Whether `job` may be decoded in the batch that `head` starts: same model and options, and either the
        same request or two light ones (a heavy request's slices hold its own sentences only)."""
        if job.key != head.key or not job.eligible:
            return False
        return job.request is head.request or (job.request.light and head.request.light)

    def _count_matching(self, head: _Job) -> int:
        count = 0
        for job in self._queue:
            if self._joins(head, job):
                count += 1
                if count >= self._max_batch_size:
                    break
        return count

    def _take_matching(self, head: _Job) -> list[_Job]:
        """The head's batch, in queue order: at most `max_batch_size` sentences, and for a heavy request at most
        `slice_work` units (always at least the head)."""
        batch: list[_Job] = [head]
        work = head.work
        budget = self._limits.slice_work
        for job in self._queue:
            if len(batch) >= self._max_batch_size:
                break
            if job is head or not self._joins(head, job):
                continue
            if budget is not None and not head.request.light and work + job.work > budget:
                continue
            batch.append(job)
            work += job.work
        taken = set(batch)
        self._queue = deque(job for job in self._queue if job not in taken)
        self._set_waiting(self._waiting - len(batch))
        return batch

    async def _execute(self, batch: list[_Job]) -> None:
        try:
            translator, options = batch[0].translator, batch[0].options
            started = time.perf_counter()
            texts = [job.text for job in batch]

            def unanswered(index: int) -> bool:
                return not batch[index].future.done()  # a plain attribute read, safe from the worker thread

            meter = batch[0].request.meter  # a heavy request's slice holds its sentences only
            wanted, on_step = metered(meter, [job.cost.source_tokens for job in batch], unanswered)
            decode = functools.partial(
                decode_texts, translator, texts, options, self._limits.length_cap, wanted, on_step
            )
            outcomes = await self._in_worker(decode)
            waits = [started - job.queued_at for job in batch]
            self._record_batch(translator.name, outcomes, waits, time.perf_counter() - started)
            stopped = self._stop_error(meter)
            if stopped is not None:
                outcomes = [stopped] * len(batch)
            for job, outcome in zip(batch, outcomes, strict=True):
                if job.future.done():
                    continue
                if isinstance(outcome, Exception):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)
        except BaseException as error:
            failure = error if isinstance(error, Exception) else SchedulerClosedError("the service is shutting down")
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(failure)
            if not isinstance(error, Exception):
                raise
        finally:
            for job in batch:
                job.request.running -= 1
            self._heavy_running -= not batch[0].request.light
            self._running_jobs.difference_update(batch)
            self._slots.release()
            self._arrived.set()  # the batch's request may start its next slice


def create_scheduler(
    metrics: Metrics,
    *,
    batching: bool,
    capacity: int,
    workers: int,
    max_batch_size: int,
    window_seconds: float,
    limits: WorkLimits | None = None,
    work_limiter: RateLimiter | None = None,
) -> TranslationScheduler:
    if batching:
        return BatchingScheduler(
            metrics, capacity=capacity, workers=workers, max_batch_size=max_batch_size, window_seconds=window_seconds,
            limits=limits, work_limiter=work_limiter,
        )  # fmt: skip
    return UnbatchedScheduler(metrics, capacity=capacity, workers=workers, limits=limits, work_limiter=work_limiter)
