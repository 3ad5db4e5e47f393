"""Texts no longer wanted leave the decoder batch at the next step; the others decode exactly as before; the
automatic length limit follows max_length_cap. Over the tiny bundle, counting the decoder's real calls."""

from __future__ import annotations

from typing import Any

import pytest

from service.runtime.graphs import DecoderGraph, DecoderOutput
from tests.tiny_corpus import PAIRS

SOURCES = [source for source, _ in PAIRS[:4]]


class CountingDecoder:
    """The translator's real decoder graph, recording the rows of every call."""

    def __init__(self, decoder: DecoderGraph) -> None:
        self.decoder = decoder
        self.rows: list[int] = []

    def run(self, *inputs: Any) -> DecoderOutput:
        self.rows.append(len(inputs[0]))
        return self.decoder.run(*inputs)


@pytest.fixture
def counted(translator: Any, monkeypatch: pytest.MonkeyPatch) -> CountingDecoder:
    counting = CountingDecoder(translator.decoder)
    monkeypatch.setattr(translator, "decoder", counting)
    return counting


@pytest.mark.parametrize("beam_size", [1, 4])
def test_a_dropped_text_leaves_the_batch_and_the_others_are_unchanged(
    translator: Any, counted: CountingDecoder, beam_size: int
) -> None:
    expected = translator.translate_batch(SOURCES, beam_size=beam_size)
    full_calls = list(counted.rows)
    counted.rows.clear()
    asked = {"count": 0}

    def wanted(index: int) -> bool:
        asked["count"] += 1
        return index != 1 or asked["count"] <= len(SOURCES) * 2  # text 1 is dropped after two steps

    found = translator.translate_batch(SOURCES, beam_size=beam_size, wanted=wanted)
    assert [t.text for i, t in enumerate(found) if i != 1] == [t.text for i, t in enumerate(expected) if i != 1]
    assert [t.score for i, t in enumerate(found) if i != 1] == [t.score for i, t in enumerate(expected) if i != 1]
    assert found[1].text == "" and found[1].target_tokens == ["</s>"]
    assert counted.rows[:2] == full_calls[:2]
    assert sum(counted.rows) < sum(full_calls), "the dropped text's rows were not decoded"


def test_nothing_is_decoded_for_texts_no_one_wants(translator: Any, counted: CountingDecoder) -> None:
    found = translator.translate_batch(SOURCES, wanted=lambda index: False)
    assert counted.rows == [] and [t.text for t in found] == [""] * len(SOURCES)


def test_the_automatic_length_limit_follows_the_cap_and_an_explicit_max_length_wins(translator: Any) -> None:
    capped = translator.translate_batch([SOURCES[0]], max_length_cap=2)[0]
    assert len(capped.target_tokens) <= 3  # two pieces and "</s>"
    explicit = translator.translate_batch([SOURCES[0]], max_length_cap=2, max_length=40)[0]
    assert explicit.text == PAIRS[0][1]
    assert translator.max_output_length(20, cap=7) == 7 and translator.max_output_length(1, cap=7) == 7
    assert translator.max_output_length(1) == int(2.0 * 1 + 10)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_every_step_reports_its_texts_and_live_rows_before_it_runs(
    translator: Any, counted: CountingDecoder, beam_size: int
) -> None:
    """What the decoding meter counts: the rows of each call, per text, told before the call (and with `wanted`
    turning False from the report on, no further call decodes that text)."""
    steps: list[tuple[list[int], list[int]]] = []
    expected = translator.translate_batch(SOURCES, beam_size=beam_size)
    counted.rows.clear()
    found = translator.translate_batch(SOURCES, beam_size=beam_size, on_step=lambda t, r: steps.append((t, r)))
    assert [t.text for t in found] == [t.text for t in expected], "watching changes nothing"
    assert [sum(rows) for _, rows in steps] == counted.rows
    assert all(0 < count <= beam_size for _, rows in steps for count in rows)
    assert sorted({text for texts, _ in steps for text in texts}) == list(range(len(SOURCES)))
    counted.rows.clear()
    stopped: set[int] = set()

    def stop_text_2_at_its_third_step(texts: list[int], rows: list[int]) -> None:
        if 2 in texts and sum(2 in seen for seen, _ in stopped_steps) >= 2:
            stopped.add(2)
        stopped_steps.append((texts, rows))

    stopped_steps: list[tuple[list[int], list[int]]] = []
    cut = translator.translate_batch(
        SOURCES, beam_size=beam_size, on_step=stop_text_2_at_its_third_step, wanted=lambda i: i not in stopped
    )
    assert cut[2].text == "" and [t.text for i, t in enumerate(cut) if i != 2] == [
        t.text for i, t in enumerate(expected) if i != 2
    ]
    assert len(counted.rows) == len(stopped_steps)
    for index, (texts, rows) in enumerate(stopped_steps):  # from its third step on, text 2's rows are not decoded
        dropped = rows[texts.index(2)] if 2 in texts and index >= 2 else 0
        assert counted.rows[index] == sum(rows) - dropped
    assert not any(2 in texts for texts, _ in stopped_steps[3:])
