"""Texts of several sentences: split, decoded as rows of one batch, joined around the original whitespace. Over the
real tiny bundle, which translates each of its training sentences exactly."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from service.app.sentences import join_translations, split_texts
from service.runtime import Translation, Translator
from tests.tiny_corpus import PAIRS


@pytest.fixture(scope="module")
def translator(tiny_bundle: Path) -> Translator:
    return Translator.load(tiny_bundle)


def same(left: Translation, right: Translation) -> bool:
    return (
        left.text == right.text
        and left.alignment == right.alignment
        and np.array_equal(left.attention, right.attention)
    )


def test_a_one_sentence_text_is_decoded_whole_as_given(translator: Translator) -> None:
    texts = ["  A man is riding a bike. ", PAIRS[1][0]]
    rows, plans = split_texts(texts, "en")
    assert rows == texts and plans == [None, None]
    joined = join_translations(plans, translator.translate_batch(rows))
    assert all(map(same, joined, translator.translate_batch(texts)))


def test_several_sentences_are_rows_and_come_back_in_the_texts_layout(translator: Translator) -> None:
    (s0, t0), (s1, t1), (s2, t2) = PAIRS[:3]
    texts = [f"  {s0} {s1}\r\n\r\n{s2}\n", PAIRS[3][0]]
    rows, plans = split_texts(texts, "en")
    assert rows == [s0, s1, s2, PAIRS[3][0]]
    parts = translator.translate_batch(rows, n_best=2)
    whole, single = join_translations(plans, parts)
    assert whole.source == texts[0]
    assert whole.text == f"  {t0} {t1}\r\n\r\n{t2}\n"
    assert single is parts[3]
    assert whole.source_tokens == [token for part in parts[:3] for token in part.source_tokens]
    assert whole.target_words == t0.split() + t1.split() + t2.split()
    assert whole.source_words == texts[0].split()


def test_attention_is_block_diagonal_and_the_alignment_indexes_the_whole_texts_words(translator: Translator) -> None:
    (s0, _), (s1, _) = PAIRS[4:6]
    rows, plans = split_texts([f"{s0} {s1}"], "en")
    first, second = translator.translate_batch(rows)
    (whole,) = join_translations(plans, [first, second])
    rows0, columns0 = first.attention.shape
    assert whole.attention.shape == (rows0 + second.attention.shape[0], columns0 + second.attention.shape[1])
    np.testing.assert_array_equal(whole.attention[:rows0, :columns0], first.attention)
    np.testing.assert_array_equal(whole.attention[rows0:, columns0:], second.attention)
    assert not whole.attention[:rows0, columns0:].any() and not whole.attention[rows0:, :columns0].any()
    np.testing.assert_allclose(whole.attention.sum(axis=1), 1.0, atol=1e-5)
    shifted = [f"{int(i) + len(first.source_words)}-{int(j) + len(first.target_words)}"
               for i, j in (link.split("-") for link in second.alignment.split())]  # fmt: skip
    assert whole.alignment.split() == first.alignment.split() + shifted
    assert min(first.score, second.score) <= whole.score <= max(first.score, second.score)


def test_n_best_hypotheses_take_each_sentences_kth_best(translator: Translator) -> None:
    (s0, _), (s1, _) = PAIRS[6:8]
    rows, plans = split_texts([f"{s0}\n{s1}"], "en")
    parts = translator.translate_batch(rows, beam_size=3, n_best=3)
    (whole,) = join_translations(plans, parts)
    assert len(whole.n_best) == max(len(part.n_best) for part in parts)
    assert whole.n_best[0].text == whole.text
    for rank, hypothesis in enumerate(whole.n_best):
        texts = [part.n_best[min(rank, len(part.n_best) - 1)].text for part in parts]
        assert hypothesis.text == "\n".join(texts)
        assert hypothesis.attention.shape == (len(hypothesis.target_tokens), len(whole.source_tokens))


def test_the_service_translates_a_paragraph_sentence_by_sentence(client: httpx.Client) -> None:
    sources = [source for source, _ in PAIRS[8:13]]
    targets = [target for _, target in PAIRS[8:13]]
    text = " ".join(sources[:3]) + "\n\n" + " ".join(sources[3:]) + "\n"
    response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": text})
    assert response.status_code == 200
    (item,) = response.json()["translations"]
    assert item["text"] == " ".join(targets[:3]) + "\n\n" + " ".join(targets[3:]) + "\n"
    assert item["source"] == text
    assert len(item["attention"]) == len(item["target_tokens"])
    assert item["source_tokens"].count("</s>") == 5
    libre = client.post("/translate", json={"q": [text, sources[0]], "source": "auto", "target": "de"}).json()
    assert libre["translatedText"] == [item["text"], targets[0]]
