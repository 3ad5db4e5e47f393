"""Texts of several sentences: each is split (service.text.segment), every sentence of a request becomes a row of
the same decoder batch, and each text's translation is put back together around the original whitespace.

A text of one sentence (or none) is decoded whole, exactly as it was before segmentation. A text of several gets
one Translation as before, with the text-level fields built from its sentences':

- `text`: the sentences' outputs with the source's whitespace between them (line breaks, blank lines, spaces);
- tokens and words: the sentences' in order (so the source tokens hold one "</s>" per sentence);
- `attention`: block-diagonal, each sentence's target tokens attending only to its own source tokens;
- `alignment`: each sentence's, its word indices offset into the whole text's words;
- `score`, confidence: the sentences' averaged over their target tokens;
- `n_best`: hypothesis k takes each sentence's k-th best (its last where it has fewer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from service.runtime import Hypothesis, Translation
from service.runtime.confidence import Confidence
from service.text.segment import Segmentation, segment


def split_texts(texts: Sequence[str], language: str) -> tuple[list[str], list[Segmentation | None]]:
    """The rows to decode, and for each text its segmentation (None where the text is decoded whole)."""
    rows: list[str] = []
    plans: list[Segmentation | None] = []
    for text in texts:
        segmentation = segment(text, language)
        if len(segmentation.sentences) > 1:
            rows.extend(segmentation.texts())
            plans.append(segmentation)
        else:
            rows.append(text)
            plans.append(None)
    return rows, plans


def join_translations(plans: Sequence[Segmentation | None], rows: Sequence[Translation]) -> list[Translation]:
    """Each text's translation from its rows', in the order split_texts gave them."""
    answers = iter(rows)
    joined = []
    for plan in plans:
        if plan is None:
            joined.append(next(answers))
        else:
            joined.append(join(plan, [next(answers) for _ in plan.sentences]))
    return joined


def _block_diagonal(blocks: Sequence[np.ndarray]) -> np.ndarray:
    rows = sum(block.shape[0] for block in blocks)
    columns = sum(block.shape[1] for block in blocks)
    matrix = np.zeros((rows, columns), dtype=blocks[0].dtype)
    row = column = 0
    for block in blocks:
        matrix[row : row + block.shape[0], column : column + block.shape[1]] = block
        row += block.shape[0]
        column += block.shape[1]
    return matrix


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
        attention=_block_diagonal([hypothesis.attention for hypothesis in chosen]),
    )


def join(plan: Segmentation, parts: Sequence[Translation]) -> Translation:
    """One text's translation from its sentences' (see the module docstring)."""
    lengths = [len(part.target_tokens) for part in parts]
    average: Callable[[Sequence[float]], float] = lambda values: _weighted(values, lengths)  # noqa: E731
    return Translation(
        source=plan.text,
        text=plan.reassemble([part.text for part in parts]),
        score=average([part.score for part in parts]),
        source_tokens=[token for part in parts for token in part.source_tokens],
        target_tokens=[token for part in parts for token in part.target_tokens],
        attention=_block_diagonal([part.attention for part in parts]),
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
    )
