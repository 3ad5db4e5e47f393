"""Texts of several sentences: each is split (service.text.segment), every sentence of a request becomes a row of
the same decoder batch, and each text's translation is put back together around the original whitespace.

Every translation the service answers is a `TextTranslation`: the text-level fields plus its `segments`, one per
sentence, each with its own translation (tokens, attention, alignment, score) and where it lies in the source and
in the output (character offsets, and word offsets into the text-level word lists).

A text of one sentence (or none) is decoded whole, exactly as it was before segmentation, and is its own single
segment: its answer is today's, plus that segment. A text of several has text-level fields built from its
sentences':

- `text`: the sentences' outputs with the source's whitespace between them (line breaks, blank lines, spaces);
- tokens and words: the sentences' in order (so the source tokens hold one "</s>" per sentence);
- `alignment`: each sentence's, its word indices offset into the whole text's words;
- `score`, confidence: the sentences' averaged over their target tokens;
- `n_best`: hypothesis k takes each sentence's k-th best (its last where it has fewer);
- `attention`: none at text level. It lives in the segments: a text-level matrix would be their block diagonal,
  mostly zeros and quadratic in the text's length (a 40-sentence text has about 1,200 pieces a side: 1.4 million
  cells, ten megabytes of JSON, against 36,000 in its segments), so the text-level matrix of a multi-sentence
  text is an empty (0, 0) array and its answer says `"attention": null`.

/v1/align splits the given translation with the target language's splitter: when it has as many sentences as the
source, sentence i is aligned to sentence i, each a row of one batch, and joined like a translation; when the
counts differ, the pair is aligned whole as one row (one segment), since no pairing of sentences can be trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from service.runtime import Hypothesis, Translation
from service.runtime.confidence import Confidence
from service.text.segment import Segmentation, fit, segment

NO_ATTENTION = np.zeros((0, 0), dtype=np.float32)
# /v1/align: a pair's source and translation segmentations, when aligned sentence by sentence; None: aligned whole
PairPlan = tuple[Segmentation, Segmentation] | None


@dataclass(frozen=True)
class Segment:
    """One sentence of a text and its translation, and where both lie in the text-level answer."""

    translation: Translation
    source_start: int  # character offsets (Python str indices) into the text's source
    source_end: int
    text_start: int  # and into its output `text`
    text_end: int
    source_word_offset: int  # index of its first source word among the text's source_words
    target_word_offset: int


@dataclass(frozen=True)
class TextTranslation(Translation):
    """A text's translation: the text-level fields (see the module docstring) and its sentences."""

    segments: tuple[Segment, ...] = ()

    @property
    def attention_cells(self) -> int:
        return sum(segment.translation.attention.size for segment in self.segments)


def split_texts(
    texts: Sequence[str], language: str, fits: Callable[[str], bool] | None = None
) -> tuple[list[str], list[Segmentation | None]]:
    """The rows to decode, and for each text its segmentation (None where the text is decoded whole). With `fits`
    (whether a sentence is short enough for the model to read whole), a longer sentence is cut into parts that
    are (service.text.segment.fit), so that no part of a text is left unread."""
    rows: list[str] = []
    plans: list[Segmentation | None] = []
    for text in texts:
        segmentation = segment(text, language)
        if fits is not None:
            segmentation = fit(segmentation, fits)
        if len(segmentation.sentences) > 1:
            rows.extend(segmentation.texts())
            plans.append(segmentation)
        else:
            rows.append(text)
            plans.append(None)
    return rows, plans


def split_pairs(
    sources: Sequence[str], targets: Sequence[str], languages: tuple[str, str]
) -> tuple[list[str], list[str], list[PairPlan]]:
    """For /v1/align: source and target rows, and per pair both segmentations where they have the same number
    (more than one) of sentences, else None (the pair is aligned whole)."""
    source_rows: list[str] = []
    target_rows: list[str] = []
    plans: list[PairPlan] = []
    for source, target in zip(sources, targets, strict=True):
        source_plan, target_plan = segment(source, languages[0]), segment(target, languages[1])
        count = len(source_plan.sentences)
        if count > 1 and len(target_plan.sentences) == count:
            source_rows.extend(source_plan.texts())
            target_rows.extend(target_plan.texts())
            plans.append((source_plan, target_plan))
        else:
            source_rows.append(source)
            target_rows.append(target)
            plans.append(None)
    return source_rows, target_rows, plans


def whole(translation: Translation) -> TextTranslation:
    """A text decoded whole: its own translation, and one segment that spans it."""
    segment_of_all = Segment(translation, 0, len(translation.source), 0, len(translation.text), 0, 0)
    values = {field.name: getattr(translation, field.name) for field in fields(Translation)}
    return TextTranslation(**values, segments=(segment_of_all,))


def join_translations(plans: Sequence[Segmentation | None], rows: Sequence[Translation]) -> list[TextTranslation]:
    """Each text's translation from its rows', in the order split_texts gave them."""
    return _join_each([None if plan is None else (plan, None) for plan in plans], rows)


def join_alignments(plans: Sequence[PairPlan], rows: Sequence[Translation]) -> list[TextTranslation]:
    """Each aligned pair from its rows', in the order split_pairs gave them; the text is the given translation."""
    return _join_each(plans, rows)


def _join_each(
    plans: Sequence[tuple[Segmentation, Segmentation | None] | None], rows: Sequence[Translation]
) -> list[TextTranslation]:
    """Per plan, its rows joined (the source's segmentation, and the given translation's where there is one), or
    the one row of a text decoded whole."""
    answers = iter(rows)
    joined = []
    for plan in plans:
        if plan is None:
            joined.append(whole(next(answers)))
        else:
            source_plan, given = plan
            joined.append(join(source_plan, [next(answers) for _ in source_plan.sentences], given))
    return joined


def _offset_alignment(parts: Sequence[Translation]) -> str:
    links = []
    source_offset = target_offset = 0
    for part in parts:
        for link in part.alignment.split():
            source, target = link.split("-")
            links.append(f"{int(source) + source_offset}-{int(target) + target_offset}")
        source_offset += len(part.source_words)
        target_offset += len(part.target_words)
    return " ".join(links)


def _weighted(values: Sequence[float], weights: Sequence[int]) -> float:
    return float(np.average(values, weights=weights)) if sum(weights) else float(np.mean(values))


def _hypothesis(plan: Segmentation, rank: int, parts: Sequence[Translation]) -> Hypothesis:
    chosen = [part.n_best[min(rank, len(part.n_best) - 1)] for part in parts]
    return Hypothesis(
        text=plan.reassemble([hypothesis.text for hypothesis in chosen]),
        score=_weighted([hypothesis.score for hypothesis in chosen], [len(h.target_tokens) for h in chosen]),
        target_tokens=[token for hypothesis in chosen for token in hypothesis.target_tokens],
        attention=NO_ATTENTION,
    )


def _segments(
    plan: Segmentation, parts: Sequence[Translation], output_spans: Sequence[tuple[int, int]]
) -> list[Segment]:
    segments = []
    source_words = target_words = 0
    for sentence, part, (start, end) in zip(plan.sentences, parts, output_spans, strict=True):
        segments.append(Segment(part, sentence.start, sentence.end, start, end, source_words, target_words))
        source_words += len(part.source_words)
        target_words += len(part.target_words)
    return segments


def join(plan: Segmentation, parts: Sequence[Translation], given: Segmentation | None = None) -> TextTranslation:
    """One text's translation from its sentences' (see the module docstring). GIVEN is the segmentation of a given
    translation (/v1/align): the output is then that text, its sentences where the segmentation found them."""
    if given is None:
        text, output_spans = plan.layout([part.text for part in parts])
    else:
        text, output_spans = given.text, [(sentence.start, sentence.end) for sentence in given.sentences]
    lengths = [len(part.target_tokens) for part in parts]
    average: Callable[[Sequence[float]], float] = lambda values: _weighted(values, lengths)  # noqa: E731
    return TextTranslation(
        source=plan.text,
        text=text,
        score=average([part.score for part in parts]),
        source_tokens=[token for part in parts for token in part.source_tokens],
        target_tokens=[token for part in parts for token in part.target_tokens],
        attention=NO_ATTENTION,
        alignment=_offset_alignment(parts),
        source_words=[word for part in parts for word in part.source_words],
        target_words=[word for part in parts for word in part.target_words],
        n_best=[_hypothesis(plan, rank, parts) for rank in range(max(len(part.n_best) for part in parts))],
        confidence=Confidence(
            mean_log_prob=average([part.confidence.mean_log_prob for part in parts]),
            attention_entropy=average([part.confidence.attention_entropy for part in parts]),
        ),
        truncated=any(part.truncated for part in parts),
        alignment_method=parts[0].alignment_method,
        segments=tuple(_segments(plan, parts, output_spans)),
    )
