"""Texts of several sentences: split, decoded as rows of one batch, joined around the original whitespace. Over the
real tiny bundle, which translates each of its training sentences exactly."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from service.app.sentences import join_alignments, join_translations, split_pairs, split_texts
from service.runtime import Translation, Translator
from service.runtime.tokenizer import MAX_SOURCE_PIECES
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
    assert same(single, parts[3]) and len(single.segments) == 1 and single.segments[0].translation is parts[3]
    assert whole.source_tokens == [token for part in parts[:3] for token in part.source_tokens]
    assert whole.target_words == t0.split() + t1.split() + t2.split()
    assert whole.source_words == texts[0].split()


def test_each_sentence_is_a_segment_placed_in_the_texts_source_output_and_words(translator: Translator) -> None:
    (s0, _), (s1, _) = PAIRS[4:6]
    text = f" {s0}\n\n {s1} "
    rows, plans = split_texts([text], "en")
    first, second = translator.translate_batch(rows)
    (whole,) = join_translations(plans, [first, second])
    assert [segment.translation for segment in whole.segments] == [first, second]
    for segment in whole.segments:
        assert whole.source[segment.source_start : segment.source_end] == segment.translation.source
        assert whole.text[segment.text_start : segment.text_end] == segment.translation.text
        words = segment.translation.source_words
        assert whole.source_words[segment.source_word_offset : segment.source_word_offset + len(words)] == words
        words = segment.translation.target_words
        assert whole.target_words[segment.target_word_offset : segment.target_word_offset + len(words)] == words
    assert whole.text == f" {first.text}\n\n {second.text} "
    assert whole.attention.shape == (0, 0), "no text-level matrix: it lives in the segments"
    assert whole.attention_cells == first.attention.size + second.attention.size
    shifted = [f"{int(i) + len(first.source_words)}-{int(j) + len(first.target_words)}"
               for i, j in (link.split("-") for link in second.alignment.split())]  # fmt: skip
    assert whole.alignment.split() == first.alignment.split() + shifted
    assert min(first.score, second.score) <= whole.score <= max(first.score, second.score)


def test_align_pairs_sentence_by_sentence_when_the_counts_agree_and_whole_otherwise(translator: Translator) -> None:
    (s0, t0), (s1, t1), (s2, t2) = PAIRS[:3]
    sources, targets = [f"{s0} {s1}", f"{s0} {s1}", s2], [f"{t0}\n{t1}", f"{t0} {t1} {t2}", t2]
    source_rows, target_rows, plans = split_pairs(sources, targets, ("en", "de"))
    assert source_rows == [s0, s1, f"{s0} {s1}", s2] and target_rows == [t0, t1, f"{t0} {t1} {t2}", t2]
    assert plans[0] is not None and plans[1] is None and plans[2] is None
    paired, whole_pair, single = join_alignments(plans, translator.force_decode(source_rows, target_rows))
    assert paired.text == targets[0] and [s.translation.text for s in paired.segments] == [t0, t1]
    assert [(s.text_start, s.text_end) for s in paired.segments] == [(0, len(t0)), (len(t0) + 1, len(targets[0]))]
    assert len(whole_pair.segments) == 1 and whole_pair.text == targets[1]
    assert len(single.segments) == 1 and single.attention.shape == (
        len(single.target_tokens),
        len(single.source_tokens),
    )


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


def test_the_service_translates_a_paragraph_sentence_by_sentence(client: httpx.Client) -> None:
    sources = [source for source, _ in PAIRS[8:13]]
    targets = [target for _, target in PAIRS[8:13]]
    text = " ".join(sources[:3]) + "\n\n" + " ".join(sources[3:]) + "\n"
    response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": text})
    assert response.status_code == 200
    (item,) = response.json()["translations"]
    assert item["text"] == " ".join(targets[:3]) + "\n\n" + " ".join(targets[3:]) + "\n"
    assert item["source"] == text
    assert item["attention"] is None, "a text of several sentences has its matrices in its segments"
    assert item["source_tokens"].count("</s>") == 5
    assert [segment["text"] for segment in item["segments"]] == targets
    for segment in item["segments"]:
        assert text[segment["source_start"] : segment["source_end"]] == segment["source"]
        assert item["text"][segment["text_start"] : segment["text_end"]] == segment["text"]
        assert len(segment["attention"]) == len(segment["target_tokens"])
        assert len(segment["attention"][0]) == len(segment["source_tokens"])
    stored = client.get(f"/v1/translations/{response.json()['id']}").json()
    assert stored == response.json()
    quiet = client.post("/v1/translate", json={"source": "en", "target": "de", "text": text, "attention": False})
    assert not any("attention" in segment for segment in quiet.json()["translations"][0]["segments"])
    libre = client.post("/translate", json={"q": [text, sources[0]], "source": "auto", "target": "de"}).json()
    assert libre["translatedText"] == [item["text"], targets[0]]


def _paragraph() -> tuple[str, list[str]]:
    sources = [source for source, _ in PAIRS[13:16]]
    return f"{sources[0]} {sources[1]}\n{sources[2]}", [target for _, target in PAIRS[13:16]]


def test_a_stored_paragraphs_alignment_is_served_whole_and_per_sentence(client: httpx.Client) -> None:
    text, targets = _paragraph()
    result = client.post("/v1/translate", json={"source": "en", "target": "de", "text": text}).json()
    url = f"/v1/translations/{result['id']}/alignment"
    item = result["translations"][0]
    view = client.get(url).json()
    assert view["attention"] is None and view["segment"] is None
    assert view["alignment"] == item["alignment"] and view["segments"] == item["segments"]
    assert client.get(url, params={"format": "pharaoh"}).text == item["alignment"] + "\n"
    for number, segment in enumerate(item["segments"]):
        one = client.get(url, params={"segment": number}).json()
        assert (one["segment"], one["text"], one["attention"]) == (number, targets[number], segment["attention"])
        assert one["segments"] == []
        pharaoh = client.get(url, params={"segment": number, "format": "pharaoh"}).text
        assert pharaoh == segment["alignment"] + "\n"
        svg = client.get(url, params={"segment": number, "format": "svg"})
        assert svg.status_code == 200 and targets[number] in svg.text
    whole_svg = client.get(url, params={"format": "svg"})
    assert whole_svg.status_code == 200 and whole_svg.headers["content-type"].startswith("image/svg+xml")
    assert whole_svg.text.count("<rect") > client.get(url, params={"segment": 0, "format": "svg"}).text.count("<rect")
    missing = client.get(url, params={"segment": 3})
    assert missing.status_code == 404 and "has 3 sentence(s)" in missing.json()["error"]["message"]


def test_align_splits_a_paragraph_and_its_translation_the_same_way(client: httpx.Client) -> None:
    text, targets = _paragraph()
    translation = f"{targets[0]} {targets[1]}\n{targets[2]}"
    body = {"source": "en", "target": "de", "text": [text, text], "translation": [translation, targets[0]]}
    response = client.post("/v1/align", json=body)
    assert response.status_code == 200
    paired, whole = response.json()["translations"]
    assert paired["text"] == translation and [segment["text"] for segment in paired["segments"]] == targets
    assert paired["attention"] is None and paired["source_tokens"].count("</s>") == 3
    assert len(whole["segments"]) == 1 and whole["attention"] is not None, "1 sentence against 3: aligned whole"
    assert whole["source_tokens"].count("</s>") == 1


def test_a_sentence_longer_than_the_model_reads_is_cut_into_parts_and_all_of_it_translated(
    client: httpx.Client, translator: Translator
) -> None:
    sources = [source.rstrip(".") for source, _ in PAIRS]
    sentence = ", ".join(sources * 3) + "."
    assert translator.source_tokenizer.count(sentence) > MAX_SOURCE_PIECES, "too long to read whole"
    response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": sentence, "attention": False})
    assert response.status_code == 200, response.text
    (item,) = response.json()["translations"]
    assert not item["truncated"] and len(item["segments"]) > 1
    covered = "".join(sentence[s["source_start"] : s["source_end"]] for s in item["segments"])
    assert covered.replace(" ", "") == sentence.replace(" ", ""), "every character went to the model"
    assert all(s["source_tokens"].count("</s>") == 1 and len(s["source_tokens"]) <= MAX_SOURCE_PIECES + 1
               for s in item["segments"])  # fmt: skip
