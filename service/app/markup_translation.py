"""`format: "html"`: each HTML text cut into blocks (service.text.markup), the blocks translated as the lines of one
plain text through `translate_texts` (so every sentence of every block is a row of one batch, decoded with the same
options), and the HTML written again around the translated lines with its inline elements placed by the alignment.

The answer's `source` is the HTML as sent and its `text` the translated HTML. Everything else (tokens, words,
attention, `alignment`, score, confidence) refers to the text content that was translated: the blocks, one per
line, not the markup. `n_best` hypotheses other than the best have no word alignment, so their inline elements are
placed at the same relative positions. An HTML text with no text to translate (only markup, code or numbers)
comes back as it was, with no tokens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import numpy as np

from service.app.batching import DecodeOptions, TranslationScheduler
from service.app.errors import InvalidInputError
from service.app.sentences import TextTranslation
from service.app.state import AppState
from service.app.translation import SPLIT_INLINE_CHARS, translate_texts
from service.runtime import Hypothesis, Translation, Translator
from service.runtime.alignment import AlignmentMethod
from service.runtime.confidence import confidence
from service.runtime.tokenizer import EOS_PIECE
from service.text.markup import Markup, MarkupError, parse, render, split_translation

FORMATS = ("text", "html")


def _parse_all(htmls: Sequence[str], field: str) -> list[Markup]:
    markups = []
    for index, html in enumerate(htmls):
        try:
            markups.append(parse(html))
        except MarkupError as error:
            where = f"{field}[{index}]" if len(htmls) > 1 else field
            raise InvalidInputError(f"{where} could not be read as HTML: {error}") from None
    return markups


async def parse_html(htmls: Sequence[str], field: str = "text") -> list[Markup]:
    """The texts parsed, off the event loop when they are long (a 100 KB page takes about 20 ms)."""
    if sum(map(len, htmls)) <= SPLIT_INLINE_CHARS:
        return _parse_all(htmls, field)
    return await asyncio.to_thread(_parse_all, htmls, field)


def plain_text(markup: Markup) -> str:
    """What is translated: the blocks' texts, one per line."""
    return "\n".join(markup.texts)


async def text_content(htmls: Sequence[str], field: str = "text") -> list[str]:
    """Each HTML text's text content (its blocks, one per line), as language detection should read it."""
    return [plain_text(markup) for markup in await parse_html(htmls, field)]


def _rendered(markup: Markup, translation: Translation, text: str, *, aligned: bool) -> str:
    blocks = split_translation(
        markup.texts, text, translation.source_words, text.split() if not aligned else translation.target_words,
        translation.alignment if aligned else "",
    )  # fmt: skip
    return render(markup, blocks)


def html_translation(html: str, markup: Markup, translation: TextTranslation) -> TextTranslation:
    """The translation of the blocks of `markup` as HTML (see the module docstring)."""
    text = _rendered(markup, translation, translation.text, aligned=True)
    n_best = [
        dataclasses.replace(
            hypothesis,
            text=text
            if hypothesis.text == translation.text
            else _rendered(markup, translation, hypothesis.text, aligned=False),
        )
        for hypothesis in translation.n_best
    ]
    return dataclasses.replace(translation, source=html, text=text, n_best=n_best)


def untranslated(html: str, markup: Markup, method: AlignmentMethod) -> TextTranslation:
    """An HTML text with nothing to translate, as it was: no tokens, nothing decoded (as the runtime answers a text
    with nothing left once control characters are removed), and no sentences, so no segments."""
    attention = np.ones((1, 1), dtype=np.float32)
    text = render(markup, [])
    return TextTranslation(
        source=html, text=text, score=0.0, source_tokens=[EOS_PIECE], target_tokens=[EOS_PIECE], attention=attention,
        alignment="", source_words=[], target_words=[], n_best=[Hypothesis(text, 0.0, [EOS_PIECE], attention)],
        confidence=confidence(0.0, attention), alignment_method=method, segments=(),
    )  # fmt: skip


async def translate_html(
    state: AppState, scheduler: TranslationScheduler, translator: Translator, htmls: Sequence[str],
    options: DecodeOptions, field: str = "text",
) -> list[TextTranslation]:  # fmt: skip
    """Each HTML text translated, its markup kept (see the module docstring)."""
    markups = await parse_html(htmls, field)
    plains = [plain_text(markup) for markup in markups]
    wanted = [index for index, plain in enumerate(plains) if plain]
    rows = [plains[index] for index in wanted]
    decoded = await translate_texts(state, scheduler, translator, rows, options) if rows else []
    by_index = dict(zip(wanted, decoded, strict=True))

    def rebuild() -> list[TextTranslation]:
        return [
            html_translation(html, markup, by_index[index])
            if index in by_index
            else untranslated(html, markup, options.alignment_method)
            for index, (html, markup) in enumerate(zip(htmls, markups, strict=True))
        ]

    return rebuild() if sum(map(len, htmls)) <= SPLIT_INLINE_CHARS else await asyncio.to_thread(rebuild)
