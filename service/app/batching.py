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

from service.app.metrics import Metrics
from service.runtime import Translation, Translator

T = TypeVar("T")
Outcome = Translation | Exception


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 4
    n_best: int = 1
    max_length: int | None = None


class QueueFullError(Exception):
    """More sentences are waiting than the queue may hold."""


class SchedulerClosedError(Exception):
    """The service is shutting down."""


def decode_texts(translator: Translator, texts: Sequence[str], options: DecodeOptions) -> list[Outcome]:
    """Blocking. One outcome per text; when the batch fails, each text is tried alone to find the culprit."""
    try:
        translations = translator.translate_batch(
            list(texts), beam_size=options.beam_size, n_best=options.n_best, max_length=options.max_length
        )
    except Exception as error:
        if len(texts) == 1:
            return [error]
        return [decode_texts(translator, [text], options)[0] for text in texts]
    if len(translations) != len(texts):
        mismatch = RuntimeError(f"the runtime returned {len(translations)} translations for {len(texts)} texts")
        return [mismatch] * len(texts)
    return list(translations)


class TranslationScheduler(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def translate(
        self, translator: Translator, texts: Sequence[str], options: DecodeOptions
    ) -> list[Translation]: ...

    async def run_blocking(self, func: Callable[[], T], *, sentences: int = 1) -> T: ...

    @property
    def waiting(self) -> int: ...


class _SchedulerBase:
    def __init__(self, metrics: Metrics, *, capacity: int, workers: int) -> None:
        self._metrics = metrics
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

    async def stop(self) -> None:
        self._closed = True
        self._shutdown_executor()

    async def translate(
        self, translator: Translator, texts: Sequence[str], options: DecodeOptions
    ) -> list[Translation]:
        self._admit(len(texts))
        queued = time.perf_counter()
        started = queued

        def decode() -> list[Outcome]:
            nonlocal started
            started = time.perf_counter()
            return decode_texts(translator, texts, options)

        try:
            outcomes = await self._in_free_worker(decode)
        finally:
            self._set_waiting(self._waiting - len(texts))
        finished = time.perf_counter()
        self._record_batch(translator.name, outcomes, [started - queued] * len(texts), finished - started)
        self._metrics.translation_latency.labels(model=translator.name).observe(finished - queued)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return [outcome for outcome in outcomes if isinstance(outcome, Translation)]


@dataclass(eq=False)
class _Job:
    translator: Translator
    options: DecodeOptions
    text: str
    future: asyncio.Future[Translation]
    queued_at: float = field(default_factory=time.perf_counter)

    @property
    def key(self) -> tuple[int, DecodeOptions]:
        return id(self.translator), self.options


class BatchingScheduler(_SchedulerBase):
    """Sentences of concurrent requests with the same model and options share `translate_batch` calls."""

    def __init__(
        self, metrics: Metrics, *, capacity: int, workers: int, max_batch_size: int, window_seconds: float
    ) -> None:
        super().__init__(metrics, capacity=capacity, workers=workers)
        self._max_batch_size = max_batch_size
        self._window = window_seconds
        self._queue: deque[_Job] = deque()
        self._arrived = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._requests_inside = 0  # translate() calls waiting for their sentences

    async def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="heed-batch-dispatcher")

    async def stop(self) -> None:
        self._closed = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(SchedulerClosedError("the service is shutting down"))
        self._queue.clear()
        self._set_waiting(0)
        self._shutdown_executor()

    async def translate(
        self, translator: Translator, texts: Sequence[str], options: DecodeOptions
    ) -> list[Translation]:
        self._admit(len(texts))
        loop = asyncio.get_running_loop()
        jobs = [_Job(translator, options, text, loop.create_future()) for text in texts]
        self._queue.extend(jobs)
        self._arrived.set()
        self._requests_inside += 1
        try:
            translations = await asyncio.gather(*(job.future for job in jobs))
        except BaseException:
            for job in jobs:
                job.future.cancel()  # the dispatcher drops cancelled jobs instead of decoding them
            raise
        finally:
            self._requests_inside -= 1
        self._metrics.translation_latency.labels(model=translator.name).observe(time.perf_counter() - jobs[0].queued_at)
        return list(translations)

    async def _dispatch_forever(self) -> None:
        while True:
            while not self._queue:
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
            task = asyncio.create_task(self._execute(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _collect_batch(self) -> list[_Job]:
        self._drop_cancelled_head()
        if not self._queue:
            return []
        head = self._queue[0]
        deadline = head.queued_at + self._window
        while self._more_may_come() and self._count_matching(head.key) < self._max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return self._take_matching(head.key)

    def _more_may_come(self) -> bool:
        """Whether an HTTP request in flight has not handed its sentences to the scheduler yet."""
        return self._metrics.requests_in_flight > self._requests_inside

    def _drop_cancelled_head(self) -> None:
        dropped = 0
        while self._queue and self._queue[0].future.done():
            self._queue.popleft()
            dropped += 1
        if dropped:
            self._set_waiting(self._waiting - dropped)

    def _count_matching(self, key: tuple[int, DecodeOptions]) -> int:
        count = 0
        for job in self._queue:
            if job.key == key and not job.future.done():
                count += 1
                if count >= self._max_batch_size:
                    break
        return count

    def _take_matching(self, key: tuple[int, DecodeOptions]) -> list[_Job]:
        batch: list[_Job] = []
        kept: deque[_Job] = deque()
        removed = 0
        for job in self._queue:
            if job.future.done():
                removed += 1
            elif job.key == key and len(batch) < self._max_batch_size:
                batch.append(job)
                removed += 1
            else:
                kept.append(job)
        self._queue = kept
        self._set_waiting(self._waiting - removed)
        return batch

    async def _execute(self, batch: list[_Job]) -> None:
        try:
            translator, options = batch[0].translator, batch[0].options
            started = time.perf_counter()
            texts = [job.text for job in batch]
            outcomes = await self._in_worker(functools.partial(decode_texts, translator, texts, options))
            waits = [started - job.queued_at for job in batch]
            self._record_batch(translator.name, outcomes, waits, time.perf_counter() - started)
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
            self._slots.release()


def create_scheduler(
    metrics: Metrics,
    *,
    batching: bool,
    capacity: int,
    workers: int,
    max_batch_size: int,
    window_seconds: float,
) -> TranslationScheduler:
    if batching:
        return BatchingScheduler(
            metrics, capacity=capacity, workers=workers, max_batch_size=max_batch_size, window_seconds=window_seconds
        )
    return UnbatchedScheduler(metrics, capacity=capacity, workers=workers)
