"""POST /v1/translate, GET /v1/translations/{id} and its alignment formats, POST /v1/align, over a real server."""

from __future__ import annotations

import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app.schemas import AlignmentView, TranslationResult
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.tiny_corpus import PAIRS

SVG = "{http://www.w3.org/2000/svg}"
ROW_SUM_TOLERANCE = 5e-5  # per rounded cell (4 decimals)


def translate(client: httpx.Client, text: str | list[str], **options: Any) -> dict[str, Any]:
    response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": text, **options})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_attention_well_formed(item: dict[str, Any]) -> None:
    attention = item["attention"]
    assert len(attention) == len(item["target_tokens"])
    assert all(len(row) == len(item["source_tokens"]) for row in attention)
    for row in attention:
        assert all(0.0 <= weight <= 1.0 for weight in row)
        assert math.isclose(sum(row), 1.0, abs_tol=ROW_SUM_TOLERANCE * len(row) + 1e-9)


def test_translation_reproduces_the_tiny_corpus_with_tokens_attention_and_alignment(client: httpx.Client) -> None:
    source, reference = PAIRS[0]
    body = translate(client, source)
    TranslationResult.model_validate(body)  # the documented schema is what is sent
    assert body["model"]["name"] == "en-de" and body["model"]["version"]
    assert (body["source"], body["target"]) == ("en", "de")
    assert body["stored"] is True and body["expires_at"]
    [item] = body["translations"]
    assert item["source"] == source
    assert item["text"] == reference
    assert item["source_tokens"][-1] == "</s>" and item["target_tokens"][-1] == "</s>"
    assert "".join(item["source_tokens"][:-1]).replace("▁", " ").strip() == source
    assert item["source_words"] == source.split()
    assert item["target_words"] == reference.split()
    assert item["score"] <= 0.0
    assert "n_best" not in item
    assert_attention_well_formed(item)
    links = [tuple(int(i) for i in link.split("-")) for link in item["alignment"].split()]
    assert links, "an alignment links at least one word pair"
    assert all(0 <= i < len(item["source_words"]) and 0 <= j < len(item["target_words"]) for i, j in links)


def test_a_list_of_texts_is_translated_in_order(client: httpx.Client) -> None:
    sources = [source for source, _ in PAIRS[:5]]
    body = translate(client, sources, beam_size=1)
    assert [item["source"] for item in body["translations"]] == sources
    assert [item["text"] for item in body["translations"]] == [target for _, target in PAIRS[:5]]
    for item in body["translations"]:
        assert_attention_well_formed(item)


def test_n_best_lists_hypotheses_best_first(client: httpx.Client) -> None:
    body = translate(client, PAIRS[3][0], beam_size=5, n_best=3)
    [item] = body["translations"]
    hypotheses = item["n_best"]
    assert len(hypotheses) == 3
    assert hypotheses[0] == {"text": item["text"], "score": item["score"]}
    scores = [hypothesis["score"] for hypothesis in hypotheses]
    assert scores == sorted(scores, reverse=True)


def test_attention_false_leaves_matrices_out_of_the_response_and_of_the_store(client: httpx.Client) -> None:
    body = translate(client, PAIRS[1][0], attention=False)
    assert "attention" not in body["translations"][0]
    stored = client.get(f"/v1/translations/{body['id']}").json()
    assert stored == body, "the store keeps what was asked for: a later fetch cannot ask for attention"
    full = translate(client, PAIRS[1][0])
    assert_attention_well_formed(client.get(f"/v1/translations/{full['id']}").json()["translations"][0])
    lean = client.get(f"/v1/translations/{full['id']}", params={"attention": "false"}).json()
    assert "attention" not in lean["translations"][0]


def test_max_length_caps_the_output(client: httpx.Client) -> None:
    body = translate(client, PAIRS[13][0], max_length=2)
    [item] = body["translations"]
    assert len(item["target_tokens"]) <= 3  # two pieces, then </s>
    assert_attention_well_formed(item)


def test_a_model_can_be_chosen_by_name(client: httpx.Client) -> None:
    assert translate(client, PAIRS[2][0], model="en-de")["model"]["name"] == "en-de"
    response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": "x", "model": "fr-en"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_model"


def test_store_false_answers_an_id_that_cannot_be_fetched(client: httpx.Client) -> None:
    body = translate(client, PAIRS[4][0], store=False)
    assert body["stored"] is False and body["expires_at"] is None
    response = client.get(f"/v1/translations/{body['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_fetch_by_id_returns_the_same_document(client: httpx.Client) -> None:
    body = translate(client, [PAIRS[5][0], PAIRS[6][0]], n_best=2)
    fetched = client.get(f"/v1/translations/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/json")
    assert fetched.json() == body


def test_ids_are_opaque_and_unique(client: httpx.Client) -> None:
    ids = {translate(client, PAIRS[0][0])["id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(len(result_id) >= 16 and result_id.replace("-", "").replace("_", "").isalnum() for result_id in ids)


@pytest.mark.parametrize("result_id", ["does-not-exist", "x" * 200, "bad id!", "ümlaut"])
def test_unknown_ids_get_404_with_a_reason(client: httpx.Client, result_id: str) -> None:
    for path in (f"/v1/translations/{result_id}", f"/v1/translations/{result_id}/alignment"):
        response = client.get(path)
        assert response.status_code == 404
        assert "unknown or expired" in response.json()["error"]["message"]


def test_alignment_json_holds_one_translations_matrix_with_its_tokens(client: httpx.Client) -> None:
    body = translate(client, [PAIRS[7][0], PAIRS[8][0]])
    response = client.get(f"/v1/translations/{body['id']}/alignment", params={"index": 1, "format": "json"})
    assert response.status_code == 200
    view = AlignmentView.model_validate(response.json()).model_dump()
    item = body["translations"][1]
    assert view["index"] == 1 and view["id"] == body["id"]
    for key in ("source", "text", "source_tokens", "target_tokens", "attention", "alignment"):
        assert view[key] == item[key]


def test_alignment_pharaoh_is_the_plain_alignment_line(client: httpx.Client) -> None:
    body = translate(client, PAIRS[9][0])
    response = client.get(f"/v1/translations/{body['id']}/alignment", params={"format": "pharaoh"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == body["translations"][0]["alignment"] + "\n"


def test_alignment_svg_is_a_standalone_heatmap(client: httpx.Client) -> None:
    body = translate(client, PAIRS[10][0])
    item = body["translations"][0]
    response = client.get(f"/v1/translations/{body['id']}/alignment", params={"format": "svg"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG}svg"
    texts = ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]
    for token in item["source_tokens"] + item["target_tokens"]:
        assert token in texts
    cells = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    assert len(cells) == len(item["source_tokens"]) * len(item["target_tokens"])
    assert root.find(f".//{SVG}linearGradient") is not None  # the colour scale


def test_alignment_index_out_of_range_and_unknown_format(client: httpx.Client) -> None:
    body = translate(client, PAIRS[11][0])
    response = client.get(f"/v1/translations/{body['id']}/alignment", params={"index": 1})
    assert response.status_code == 404
    assert "index 1" in response.json()["error"]["message"]
    response = client.get(f"/v1/translations/{body['id']}/alignment", params={"format": "png"})
    assert response.status_code == 422
    assert "format" in response.json()["error"]["message"]
    response = client.get(f"/v1/translations/{body['id']}/alignment", params={"index": -1})
    assert response.status_code == 422


def test_align_forces_a_given_translation(client: httpx.Client) -> None:
    source, _ = PAIRS[12]
    forced = "Die Kinder lachen laut."
    response = client.post("/v1/align", json={"source": "en", "target": "de", "text": source, "translation": forced})
    assert response.status_code == 200, response.text
    body = response.json()
    TranslationResult.model_validate(body)
    [item] = body["translations"]
    assert item["source"] == source and item["text"] == forced
    assert item["target_words"] == forced.split()
    assert_attention_well_formed(item)
    fetched = client.get(f"/v1/translations/{body['id']}/alignment", params={"format": "pharaoh"})
    assert fetched.text == item["alignment"] + "\n"


def test_align_scores_the_models_own_translation_as_it_decoded_it(client: httpx.Client) -> None:
    source, target = PAIRS[14]
    translated = translate(client, source, beam_size=1)["translations"][0]
    response = client.post(
        "/v1/align", json={"source": "en", "target": "de", "text": [source], "translation": [target]}
    )
    aligned = response.json()["translations"][0]
    assert aligned["target_tokens"] == translated["target_tokens"]
    assert aligned["alignment"] == translated["alignment"]
    assert math.isclose(aligned["score"], translated["score"], abs_tol=1e-3)


def test_align_needs_one_translation_per_text(client: httpx.Client) -> None:
    response = client.post(
        "/v1/align", json={"source": "en", "target": "de", "text": ["a", "b"], "translation": ["eins"]}
    )
    assert response.status_code == 422
    assert "one each" in response.json()["error"]["message"]


def test_results_are_fetched_from_redis_too(redis_server: LiveServer) -> None:
    with redis_server.client() as client:
        body = translate(client, [PAIRS[15][0], PAIRS[16][0]])
        assert body["stored"] is True
        assert client.get(f"/v1/translations/{body['id']}").json() == body
        svg = client.get(f"/v1/translations/{body['id']}/alignment", params={"index": 1, "format": "svg"})
        assert svg.status_code == 200
        ET.fromstring(svg.content)
        assert client.get("/v1/translations/unknown-id").status_code == 404
    assert redis_server.state.store is not None and redis_server.state.store.backend == "redis"


def test_a_request_without_beam_size_decodes_with_the_bundle_default(tiny_bundle: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_bundle, models / tiny_bundle.name)
    manifest_path = models / tiny_bundle.name / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["decoding"]["beam_size"] = 2
    manifest_path.write_text(json.dumps(manifest))
    with live_server(server_settings(models, tmp_path)) as live, httpx.Client(base_url=live.url) as client:
        source = PAIRS[4][0]
        default = translate(client, source, n_best=2)["translations"][0]
        explicit = translate(client, source, beam_size=2, n_best=2)["translations"][0]
        assert default["n_best"] == explicit["n_best"] and len(default["n_best"]) == 2
        # more hypotheses than the default beam holds: the beam is widened to hold them
        widened = translate(client, source, n_best=3)["translations"][0]
        assert widened["n_best"] == translate(client, source, beam_size=3, n_best=3)["translations"][0]["n_best"]
        assert len(widened["n_best"]) == 3


def test_n_best_wider_than_the_beam_asked_for_widens_it(client: httpx.Client) -> None:
    source = PAIRS[7][0]
    widened = translate(client, source, beam_size=1, n_best=4, store=False)["translations"][0]
    assert len(widened["n_best"]) == 4
    assert (
        widened["n_best"] == translate(client, source, beam_size=4, n_best=4, store=False)["translations"][0]["n_best"]
    )
