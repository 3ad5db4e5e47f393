"""The work behind the endpoints: check limits, translate through the scheduler, build, store and fetch results."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from service.app.batching import DecodeOptions, QueueFullError, SchedulerClosedError, TranslationScheduler, WorkLimits
from service.app.cost import TooMuchWorkError, WorkEstimate, check_budget, estimate_forced_work
from service.app.documents import unpack
from service.app.errors import (
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    OverloadedError,
    StoreUnavailableError,
    TooMuchWorkRequestError,
    TranslationTimeoutError,
)
from service.app.headers import shown
from service.app.sentences import (
    PairPlan,
    TextTranslation,
    join_alignments,
    join_translations,
    split_pairs,
    split_texts,
)
from service.app.settings import Settings
from service.app.state import AppState
from service.app.store import CallerStore, StoreError
from service.runtime import Translator
from service.runtime.alignment import AlignmentMethod
from service.runtime.tokenizer import MAX_SOURCE_PIECES
from service.text.segment import Segmentation

logger = logging.getLogger("heed.translation")
T = TypeVar("T")

JSON_MEDIA_TYPE = "application/json"
SPLIT_INLINE_CHARS = 2_000
_RESULT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_texts(texts: Sequence[str], settings: Settings, field: str = "text") -> None:
    """The limits that depend on settings (the request schema checks the rest)."""
    if len(texts) > settings.max_texts:
        raise InvalidInputError(f"{field} has {len(texts)} texts; at most {settings.max_texts} are allowed per request")
    for index, text in enumerate(texts):
        if len(text) > settings.max_chars:
            where = f"{field}[{index}]" if len(texts) > 1 else field
            raise InvalidInputError(f"{where} has {len(text)} characters; the limit is {settings.max_chars} per text")


def check_max_length(max_length: int | None, settings: Settings) -> None:
    if max_length is not None and max_length > settings.max_output_length:
        raise InvalidInputError(f"max_length ({max_length}) must not exceed {settings.max_output_length}")


async def _bounded(state: AppState, work: Awaitable[T]) -> T:
    """Awaits scheduler work under the request timeout, mapping scheduler and runtime errors to API errors."""
    try:
        return await asyncio.wait_for(work, state.settings.request_timeout_seconds)
    except QueueFullError as error:
        raise OverloadedError(str(error)) from None
    except TooMuchWorkError as error:
        raise TooMuchWorkRequestError(str(error)) from None
    except SchedulerClosedError as error:
        raise NotReadyError(str(error)) from None
    except TimeoutError:
        state.metrics.rejections.labels(reason="timeout").inc()
        raise TranslationTimeoutError(
            f"the translation did not finish within {state.settings.request_timeout_seconds:g} s; its work was dropped"
        ) from None
    except ValueError as error:  # the runtime's verdict on input it cannot translate
        raise InvalidInputError(str(error)) from None


def _readable(translator: Translator, sentence: str) -> bool:
    """Whether the model reads the sentence whole (at most MAX_SOURCE_PIECES pieces); a longer one is cut."""
    return translator.source_tokenizer.count(sentence) <= MAX_SOURCE_PIECES


def sentence_rows(translator: Translator, texts: Sequence[str]) -> tuple[list[str], list[Segmentation | None]]:
    """Blocking. The rows `translator` decodes for `texts` (their sentences, each cut into parts the model reads
    whole), and each text's segmentation (service.app.sentences.split_texts)."""
    return split_texts(texts, translator.source_language, functools.partial(_readable, translator))


async def translate_texts(
    state: AppState, scheduler: TranslationScheduler, translator: Translator, texts: Sequence[str],
    options: DecodeOptions,
) -> list[TextTranslation]:  # fmt: skip
    """Each text split into sentences, all of them rows of one request to the scheduler (so every sentence is decoded
    with the same options, the alignment method included), joined again per text."""
    split = functools.partial(sentence_rows, translator, texts)
    # Splitting takes about 2 ms per 1000 characters: long requests are split off the event loop.
    rows, plans = split() if sum(map(len, texts)) <= SPLIT_INLINE_CHARS else await asyncio.to_thread(split)
    translations = await _bounded(state, scheduler.translate(translator, rows, options))
    return join_translations(plans, translations)


async def force_decode(
    state: AppState, scheduler: TranslationScheduler, translator: Translator, sources: Sequence[str],
    targets: Sequence[str], alignment_method: AlignmentMethod,
) -> list[TextTranslation]:  # fmt: skip
    """Each pair split into sentences the same way on both sides and aligned sentence by sentence, or whole where
    the sentence counts differ (service.app.sentences), all rows in one call."""
    languages = (translator.source_language, translator.target_language)

    def split_and_estimate() -> tuple[list[str], list[str], list[PairPlan], WorkEstimate]:
        source_rows, target_rows, plans = split_pairs(sources, targets, languages)
        return source_rows, target_rows, plans, estimate_forced_work(translator, source_rows, target_rows)

    # splitting and tokenizing: off the event loop, in one trip
    source_rows, target_rows, plans, estimate = await asyncio.to_thread(split_and_estimate)
    budget = WorkLimits.from_settings(state.settings).forced_budget
    try:
        if budget is not None:
            check_budget(estimate, budget)
    except TooMuchWorkError as error:
        raise TooMuchWorkRequestError(str(error)) from None
    decode = functools.partial(translator.force_decode, source_rows, target_rows, alignment_method)
    work = scheduler.run_blocking(decode, sentences=len(source_rows))
    return join_alignments(plans, await _bounded(state, work))


async def load_document_json(state: AppState, store: CallerStore, result_id: str) -> bytes:
    """The stored document's JSON; 404 when the id is unknown, expired or (with API keys on) another key's;
    410 when it was evicted (raised by the store)."""
    gone = NotFoundError(
        f"no result with id {shown(result_id)}: it is unknown or expired (results are kept {store.ttl_seconds} s)"
    )
    if not _RESULT_ID.match(result_id):
        raise gone
    try:
        packed = await store.load(result_id)
    except StoreError as error:
        state.metrics.store_errors.labels(operation="load").inc()
        raise StoreUnavailableError(f"the result store is unavailable: {error}") from None
    if packed is None:
        raise gone
    return await asyncio.to_thread(unpack, packed)


async def load_document(state: AppState, store: CallerStore, result_id: str) -> dict[str, Any]:
    body = await load_document_json(state, store, result_id)
    document: dict[str, Any] = await asyncio.to_thread(json.loads, body)
    return document
