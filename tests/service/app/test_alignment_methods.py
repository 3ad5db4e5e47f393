"""The alignment method as a request option of POST /v1/translate and POST /v1/align, and the confidence of each
translation: over a real server and the real tiny bundle, checked against the runtime called directly."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app.documents import pack, to_json
from service.app.schemas import AlignmentView, TranslationResult
from service.runtime import Translation, Translator
from service.runtime.alignment import ALIGNMENT_METHODS, DEFAULT_ALIGNMENT_METHOD, AlignmentMethod
from tests.service.app.conftest import LiveServer
from tests.tiny_corpus import PAIRS

SOURCES = [source for source, _ in PAIRS]
CONFIDENCE_DECIMALS_TOLERANCE = 1e-6  # the document rounds the signals to 6 decimals


@pytest.fixture(scope="module")
def translator(tiny_bundle: Path) -> Translator:
    return Translator.load(tiny_bundle)


def post(client: httpx.Client, path: str, **body: Any) -> dict[str, Any]:
    response = client.post(path, json={"source": "en", "target": "de", **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = TranslationResult.model_validate(response.json()).model_dump(exclude_unset=True)
    assert result == response.json()  # the documented schema is what is sent
    return result


def links(alignment: str) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in (link.split("-") for link in alignment.split())}


def runtime_links(translator: Translator, texts: list[str], method: AlignmentMethod) -> list[str]:
    return [t.alignment for t in translator.translate_batch(texts, beam_size=1, alignment_method=method)]


@pytest.mark.parametrize("method", ALIGNMENT_METHODS)
def test_each_method_is_used_reported_and_stored(
    client: httpx.Client, translator: Translator, method: AlignmentMethod
) -> None:
    body = post(client, "/v1/translate", text=SOURCES[:6], beam_size=1, alignment_method=method)
    items = body["translations"]
    assert [item["alignment_method"] for item in items] == [method] * 6
    assert [item["alignment"] for item in items] == runtime_links(translator, SOURCES[:6], method)
    assert client.get(f"/v1/translations/{body['id']}").json() == body
    view = client.get(f"/v1/translations/{body['id']}/alignment", params={"index": 5}).json()
    assert AlignmentView.model_validate(view).alignment_method == method
    assert view["alignment"] == items[5]["alignment"]


def test_methods_give_different_links_and_union_holds_intersection(client: httpx.Client) -> None:
    by_method = {
        method: [links(item["alignment"]) for item in post(
            client, "/v1/translate", text=SOURCES, beam_size=1, alignment_method=method, store=False
        )["translations"]]
        for method in ALIGNMENT_METHODS
    }  # fmt: skip
    for index in range(len(SOURCES)):
        target, source = by_method["target-argmax"][index], by_method["source-argmax"][index]
        union, intersection = by_method["union"][index], by_method["intersection"][index]
        assert union == target | source and intersection == target & source
        assert intersection <= by_method["grow-diag-final-and"][index] <= union
        assert len(union) >= len(intersection)
    differing = [
        index for index in range(len(SOURCES)) if by_method["union"][index] != by_method["intersection"][index]
    ]
    assert differing, "on the tiny corpus some sentence's per-target and per-source argmax disagree"


def test_without_a_method_the_runtime_default_is_used(client: httpx.Client) -> None:
    translated = post(client, "/v1/translate", text=SOURCES[0])
    aligned = post(client, "/v1/align", text=SOURCES[0], translation=PAIRS[0][1])
    for body in (translated, aligned):
        assert body["translations"][0]["alignment_method"] == DEFAULT_ALIGNMENT_METHOD


@pytest.mark.parametrize("path", ["/v1/translate", "/v1/align"])
@pytest.mark.parametrize("method", ["diagonal", "Union", "", 3, None])
def test_an_unknown_method_is_refused_with_422_naming_the_choices(client: httpx.Client, path: str, method: Any) -> None:
    body = {"source": "en", "target": "de", "text": "A man.", "translation": "Ein Mann.", "alignment_method": method}
    if path == "/v1/translate":
        del body["translation"]
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "alignment_method" in message and "grow-diag-final-and" in message


def test_every_sentence_of_a_multi_sentence_text_is_aligned_with_the_method(
    client: httpx.Client, translator: Translator
) -> None:
    default = runtime_links(translator, SOURCES, DEFAULT_ALIGNMENT_METHOD)
    union = runtime_links(translator, SOURCES, "union")
    # sentences whose union links are not the default's: a sentence aligned by the default would show
    first, second = [index for index in range(len(SOURCES)) if union[index] != default[index]][:2]
    text = f"{SOURCES[first]} {SOURCES[second]}"
    [item] = post(client, "/v1/translate", text=text, beam_size=1, alignment_method="union")["translations"]
    parts = translator.translate_batch([SOURCES[first], SOURCES[second]], beam_size=1, alignment_method="union")
    offset = (len(parts[0].source_words), len(parts[0].target_words))
    expected = links(parts[0].alignment) | {(i + offset[0], j + offset[1]) for i, j in links(parts[1].alignment)}
    assert item["alignment_method"] == "union"
    assert links(item["alignment"]) == expected


@pytest.mark.parametrize("method", ["target-argmax", "union", "threshold"])
def test_align_honours_the_method_and_stores_it(
    client: httpx.Client, translator: Translator, method: AlignmentMethod
) -> None:
    sources, targets = [s for s, _ in PAIRS[10:16]], [t for _, t in PAIRS[10:16]]
    body = post(client, "/v1/align", text=sources, translation=targets, alignment_method=method)
    expected = translator.force_decode(sources, targets, alignment_method=method)
    assert [item["alignment"] for item in body["translations"]] == [t.alignment for t in expected]
    assert {item["alignment_method"] for item in body["translations"]} == {method}
    pharaoh = client.get(f"/v1/translations/{body['id']}/alignment", params={"index": 2, "format": "pharaoh"})
    assert pharaoh.text == expected[2].alignment + "\n"
    view = client.get(f"/v1/translations/{body['id']}/alignment", params={"index": 2}).json()
    assert view["alignment_method"] == method


def assert_confidence_of(item: dict[str, Any], expected: Translation) -> None:
    confidence = item["confidence"]
    assert set(confidence) == {"mean_log_prob", "attention_entropy"}
    assert confidence["mean_log_prob"] <= 0.0 and 0.0 <= confidence["attention_entropy"] <= 1.0
    assert math.isclose(
        confidence["mean_log_prob"], expected.confidence.mean_log_prob, abs_tol=CONFIDENCE_DECIMALS_TOLERANCE
    )
    assert math.isclose(
        confidence["attention_entropy"], expected.confidence.attention_entropy, abs_tol=CONFIDENCE_DECIMALS_TOLERANCE
    )


def test_each_translation_carries_the_runtimes_confidence(client: httpx.Client, translator: Translator) -> None:
    body = post(client, "/v1/translate", text=SOURCES[:4], beam_size=1)
    expected = translator.translate_batch(SOURCES[:4], beam_size=1)
    for item, translation in zip(body["translations"], expected, strict=True):
        assert_confidence_of(item, translation)
    stored = client.get(f"/v1/translations/{body['id']}").json()
    assert [item["confidence"] for item in stored["translations"]] == [
        item["confidence"] for item in body["translations"]
    ]


def test_a_wrong_translation_gets_a_lower_confidence_than_the_right_one(client: httpx.Client) -> None:
    source = PAIRS[1][0]
    right, wrong = post(client, "/v1/align", text=[source, source], translation=[PAIRS[1][1], PAIRS[5][1]])[
        "translations"
    ]
    assert wrong["confidence"]["mean_log_prob"] < right["confidence"]["mean_log_prob"]


def test_concurrent_requests_with_different_methods_each_get_their_own(
    server: LiveServer, translator: Translator
) -> None:
    methods = list(ALIGNMENT_METHODS) * 2
    texts = SOURCES[:3]

    def translate(method: AlignmentMethod) -> dict[str, Any]:
        with server.client() as client:
            return post(client, "/v1/translate", text=texts, beam_size=1, alignment_method=method, store=False)

    with ThreadPoolExecutor(len(methods)) as pool:
        bodies = list(pool.map(translate, methods))
    for method, body in zip(methods, bodies, strict=True):
        assert [item["alignment_method"] for item in body["translations"]] == [method] * len(texts)
        assert [item["alignment"] for item in body["translations"]] == runtime_links(translator, texts, method)


def test_a_result_stored_before_methods_were_recorded_still_has_an_alignment_view(
    server: LiveServer, client: httpx.Client
) -> None:
    body = post(client, "/v1/translate", text=SOURCES[2], store=False)
    legacy = {**body, "id": "stored-before-methods"}
    legacy["translations"] = [
        {key: value for key, value in item.items() if key not in ("alignment_method", "confidence")}
        for item in body["translations"]
    ]
    store = server.state.store
    assert store is not None
    server.run_in_loop(store.save(legacy["id"], pack(to_json(legacy)), owner="address:earlier")).result(timeout=30)
    view = client.get(f"/v1/translations/{legacy['id']}/alignment")
    assert view.status_code == 200, view.text
    assert view.json()["alignment_method"] is None
    assert view.json()["alignment"] == body["translations"][0]["alignment"]
    assert client.get(f"/v1/translations/{legacy['id']}").json() == legacy
