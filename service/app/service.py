"""The one path every translation takes: a parsed job in, one typed outcome out, and one result document built,
serialized and stored once.

Routers parse their wire format (heed's JSON, LibreTranslate's JSON, form data or query, an uploaded file) into a
`TranslationJob` or `AlignmentJob` and answer the outcome in their own shape. The service does everything in
between:

- the limits that depend on settings (texts, characters, max_length), as typed input errors;
- `source: "auto"`: language detection on the text content (service.app.detection), one language for the whole
  job where the answer has one source (heed's API), or each text from its own (LibreTranslate);
- the model for the pair, and the beam (the model's default unless asked, widened to the hypotheses asked for);
- the text format: plain text is split into sentences (service.app.sentences), HTML into blocks whose inline
  elements are placed again by the alignment (service.app.markup_translation). A new format is one adapter of
  the `FormatAdapter` shape, registered in `ADAPTERS`;
- decoding: every sentence of the job a row of the shared scheduler's batches, under the request timeout and the
  work budget (service.app.translation);
- the result document (service.app.documents): built once, serialized once, stored as those bytes.

Errors are raised typed where they arise (service.app.errors and the modules above) and become HTTP responses in
one place, `service.app.errors`, in heed's shape or LibreTranslate's by route.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from service.app.batching import DecodeOptions, TranslationScheduler
from service.app.detection import check_one_language, check_translatable, detect_each
from service.app.documents import (
    marked_unstored,
    new_result_id,
    pack,
    result_document,
    to_json,
    without_attention,
)
from service.app.markup_translation import text_content, translate_html
from service.app.schemas import MAX_BEAM_SIZE
from service.app.sentences import TextTranslation
from service.app.state import AppState, ServingModels
from service.app.store import CallerStore
from service.app.translation import check_max_length, check_texts, force_decode, translate_texts
from service.runtime import Translator
from service.runtime.alignment import DEFAULT_ALIGNMENT_METHOD, AlignmentMethod
from service.text.detect import Detection, detect, detect_together

AUTO = "auto"
# Rendering a result of a few sentences takes tens of microseconds, less than a trip to a worker thread costs;
# only results with more attention cells than this are rendered off the event loop.
INLINE_RENDER_CELLS = 20_000
TextFormat = Literal["text", "html"]
# (state, scheduler, translator, texts, options, field naming the texts in errors) -> one translation per text
FormatAdapter = Callable[
    [AppState, TranslationScheduler, Translator, Sequence[str], DecodeOptions, str], Awaitable[list[TextTranslation]]
]
ContentReader = Callable[[Sequence[str], str], Awaitable[list[str]]]


async def _plain_text(
    state: AppState, scheduler: TranslationScheduler, translator: Translator, texts: Sequence[str],
    options: DecodeOptions, field: str,
) -> list[TextTranslation]:  # fmt: skip
    return await translate_texts(state, scheduler, translator, texts, options)


async def _as_written(texts: Sequence[str], field: str) -> list[str]:
    return list(texts)


@dataclass(frozen=True)
class Format:
    """How one input format is translated, and what of it language detection reads."""

    translate: FormatAdapter
    content: ContentReader


ADAPTERS: dict[str, Format] = {
    "text": Format(_plain_text, _as_written),
    "html": Format(translate_html, text_content),
}


@dataclass(frozen=True)
class TranslationJob:
    """What to translate, however it arrived."""

    texts: Sequence[str]
    source: str  # a language code, or "auto"
    target: str
    text_format: TextFormat = "text"
    model: str | None = None
    beam_size: int | None = None  # None: the model's default
    n_best: int = 1
    max_length: int | None = None
    alignment_method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD
    one_source: bool = True  # the answer has one source language; else each text is translated from its own
    field: str = "text"  # how error messages name the texts ("q" for LibreTranslate)


@dataclass(frozen=True)
class AlignmentJob:
    """Given translations to align to their sources by forced decoding."""

    texts: Sequence[str]
    translations: Sequence[str]
    source: str
    target: str
    model: str | None = None
    alignment_method: AlignmentMethod = DEFAULT_ALIGNMENT_METHOD


@dataclass(frozen=True)
class TranslatedText:
    translation: TextTranslation
    translator: Translator
    detection: Detection | None  # with source "auto"


@dataclass(frozen=True)
class TranslationOutcome:
    """Every text's translation, in the job's order."""

    texts: list[TranslatedText]

    @property
    def translations(self) -> list[TextTranslation]:
        return [text.translation for text in self.texts]

    @property
    def translator(self) -> Translator:
        """The model of a one-source job (every text's)."""
        return self.texts[0].translator

    @property
    def detections(self) -> list[Detection] | None:
        """Each text's detected language, with source "auto" (every text is detected or none is)."""
        found = [text.detection for text in self.texts if text.detection is not None]
        return found if found else None


@dataclass(frozen=True)
class _Rendered:
    document: dict[str, Any]
    packed: bytes | None  # the stored form, when the result is to be kept
    body: bytes  # the answer, as it reads when the result was stored (or not asked to be)


def _render(build: Callable[[], dict[str, Any]], *, keep: bool, attention: bool) -> _Rendered:
    """Blocking: the document, its stored form and the answer's JSON, in one trip to a worker thread. The store
    keeps exactly the bytes answered: attention only when it was asked for."""
    document = build()
    body = to_json(document if attention else without_attention(document))
    packed = pack(body) if keep else None
    return _Rendered(document, packed, body)


def _answer_unstored(document: dict[str, Any], attention: bool, reason: str) -> bytes:
    """The answer when the store would not keep it: the same document, marked unstored and why."""
    unstored = marked_unstored(document, reason)
    return to_json(unstored if attention else without_attention(unstored))


def decoding_beam(translator: Translator, beam_size: int | None, n_best: int) -> int:
    """The beam asked for, else the model's default; widened to n_best, at most MAX_BEAM_SIZE.

    A client asking for n hypotheses expects n, so a narrower beam is widened rather than refused (as
    LibreTranslate's `alternatives` do): the schema cannot say "n_best <= beam_size", and with beam_size left out
    the limit would be each model's own default.
    """
    return min(max(beam_size or translator.default_beam_size, n_best), MAX_BEAM_SIZE)


class TranslationService:
    def __init__(self, state: AppState, models: ServingModels, scheduler: TranslationScheduler) -> None:
        self.state = state
        self.models = models
        self.scheduler = scheduler

    async def translate(self, job: TranslationJob) -> TranslationOutcome:
        check_texts(job.texts, self.state.settings, job.field)
        check_max_length(job.max_length, self.state.settings)
        text_format = ADAPTERS[job.text_format]
        detections = await self._detect(job, text_format) if job.source == AUTO else None
        sources = [d.language for d in detections] if detections is not None else [job.source] * len(job.texts)
        groups = await asyncio.gather(*(
            self._translate_group(job, text_format, sources, detections, source) for source in dict.fromkeys(sources)
        ))  # fmt: skip
        in_order = sorted((pair for group in groups for pair in group), key=lambda pair: pair[0])
        return TranslationOutcome([text for _, text in in_order])

    async def detect(self, texts: Sequence[str], *, together: bool, field: str = "text") -> list[Detection]:
        """The likeliest languages of one text, or of several read together (each language's probability averaged
        over them, weighted by their lengths), best first."""
        check_texts(texts, self.state.settings, field)
        if together:
            return await asyncio.to_thread(detect_together, texts)
        return await asyncio.to_thread(detect, texts[0])

    async def align(self, job: AlignmentJob) -> TranslationOutcome:
        settings = self.state.settings
        check_texts(job.texts, settings, "text")
        check_texts(job.translations, settings, "translation")
        translator = self.models.resolve(job.source, job.target, job.model)
        translations = await force_decode(
            self.state, self.scheduler, translator, job.texts, job.translations, job.alignment_method
        )
        return TranslationOutcome([TranslatedText(translation, translator, None) for translation in translations])

    async def publish(
        self, outcome: TranslationOutcome, store: CallerStore, *, with_n_best: bool, keep: bool, attention: bool
    ) -> bytes:
        """The result document's JSON, as answered and, when it is to be kept, as stored (a failing store only
        marks it unstored)."""
        result_id = new_result_id()
        created_at = time.time()
        expires_at = created_at + store.ttl_seconds if keep else None
        build = functools.partial(
            result_document, result_id, outcome.translator, outcome.translations, with_n_best=with_n_best,
            created_at=created_at, expires_at=expires_at,
        )  # fmt: skip
        if sum(translation.attention_cells for translation in outcome.translations) <= INLINE_RENDER_CELLS:
            rendered = _render(build, keep=keep, attention=attention)
        else:
            rendered = await asyncio.to_thread(_render, build, keep=keep, attention=attention)
        body = rendered.body
        if rendered.packed is not None and not await store.save(result_id, rendered.packed):  # says why, never raises
            reason = store.unstored_reason or "store_unavailable"
            body = await asyncio.to_thread(_answer_unstored, rendered.document, attention, reason)
        return body

    async def _detect(self, job: TranslationJob, text_format: Format) -> list[Detection]:
        """Each text's language; every one must be translatable into the target, and for a one-source job the same."""
        content = await text_format.content(job.texts, job.field)  # HTML: its text, not its markup
        detections = await detect_each(self.models, content, job.target)
        check_translatable(self.models, detections, job.target, job.field)
        if job.one_source:
            check_one_language(detections, job.field)
        return detections

    async def _translate_group(
        self, job: TranslationJob, text_format: Format, sources: list[str], detections: list[Detection] | None,
        source: str,
    ) -> list[tuple[int, TranslatedText]]:  # fmt: skip
        """The texts from `source`, through its model, each with its index in the job."""
        indices = [index for index, language in enumerate(sources) if language == source]
        translator = self.models.resolve(source, job.target, job.model)
        options = DecodeOptions(
            beam_size=decoding_beam(translator, job.beam_size, job.n_best), n_best=job.n_best,
            max_length=job.max_length, alignment_method=job.alignment_method,
        )  # fmt: skip
        texts = [job.texts[index] for index in indices]
        translations = await text_format.translate(self.state, self.scheduler, translator, texts, options, job.field)
        return [
            (index, TranslatedText(translation, translator, None if detections is None else detections[index]))
            for index, translation in zip(indices, translations, strict=True)
        ]
