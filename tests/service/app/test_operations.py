"""GET /v1/models, /healthz, /readyz, /metrics (parsed with prometheus_client's parser), /docs, /openapi.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from service.app.schemas import ModelList
from tests.tiny_corpus import PAIRS


def metric_samples(client: httpx.Client) -> dict[str, list[Sample]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(response.text)
    return {family.name: list(family.samples) for family in families}


def sample_value(samples: dict[str, list[Sample]], family: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for sample in samples.get(family, [])
        if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())
    )


def test_models_lists_the_bundle_from_its_manifest(client: httpx.Client, tiny_bundle: Path) -> None:
    manifest: dict[str, Any] = json.loads((tiny_bundle / "manifest.json").read_text())
    response = client.get("/v1/models")
    assert response.status_code == 200
    body = ModelList.model_validate(response.json())
    assert body.unavailable == []
    [model] = body.models
    assert (model.name, model.version) == (manifest["name"], manifest["version"])
    assert (model.source_language, model.target_language) == ("en", "de")
    assert model.score_function == manifest["model"]["score"]
    assert model.decoder == manifest["model"]["decoder"] == "bahdanau"
    assert model.sizes.parameters == manifest["model"]["parameters"]
    assert model.sizes.dec_hidden == manifest["model"]["dec_hidden"]
    assert model.sizes.bundle_bytes == sum(entry["bytes"] for entry in manifest["files"].values())
    assert model.metrics == manifest["metrics"]
    assert model.decoding == manifest["decoding"]


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "reason": None, "models": ["en-de"], "failures": {}}


def test_metrics_count_requests_latency_tokens_and_models(client: httpx.Client, tiny_bundle: Path) -> None:
    before = metric_samples(client)
    response = client.post("/v1/translate", json={"source": "en", "target": "de", "text": PAIRS[2][0]})
    item = response.json()["translations"][0]
    client.get("/v1/this-does-not-exist")
    after = metric_samples(client)

    route = {"route": "/v1/translate", "method": "POST", "status": "200"}
    assert sample_value(after, "heed_http_requests", "heed_http_requests_total", **route) == (
        sample_value(before, "heed_http_requests", "heed_http_requests_total", **route) + 1
    )
    latency = "heed_http_request_duration_seconds"
    assert sample_value(after, latency, latency + "_count", **route) == (
        sample_value(before, latency, latency + "_count", **route) + 1
    )
    assert sample_value(after, latency, latency + "_bucket", le="+Inf", **route) >= 1
    unmatched = {"route": "unmatched", "status": "404"}
    assert sample_value(after, "heed_http_requests", "heed_http_requests_total", **unmatched) >= 1
    assert not any("this-does-not-exist" in str(s.labels) for s in after["heed_http_requests"])

    for family, suffix in (("heed_input_tokens", "source_tokens"), ("heed_output_tokens", "target_tokens")):
        grown = sample_value(after, family, family + "_total", model="en-de") - sample_value(
            before, family, family + "_total", model="en-de"
        )
        assert grown == len(item[suffix])
    for histogram in ("heed_translation_duration_seconds", "heed_batch_size", "heed_batch_queue_wait_seconds",
                      "heed_batch_duration_seconds"):  # fmt: skip
        assert sample_value(after, histogram, histogram + "_count", model="en-de") > sample_value(
            before, histogram, histogram + "_count", model="en-de"
        )
    assert sample_value(after, "heed_batch_size", "heed_batch_size_sum", model="en-de") >= 1

    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    info = after["heed_model_info"]
    assert [(s.labels["model"], s.labels["version"], s.value) for s in info] == [("en-de", manifest["version"], 1.0)]
    assert after["heed_http_requests_in_flight"][0].value == 1.0  # the /metrics request itself
    assert after["heed_ready"][0].value == 1.0
    assert after["heed_batch_queue_depth"][0].value == 0.0


def test_openapi_documents_every_endpoint_with_examples(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    expected = {
        ("/v1/translate", "post"), ("/v1/translations/{result_id}", "get"),
        ("/v1/translations/{result_id}/alignment", "get"), ("/v1/align", "post"), ("/v1/models", "get"),
        ("/translate", "post"), ("/languages", "get"), ("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"),
    }  # fmt: skip
    documented = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    assert expected <= documented
    schemas = spec["components"]["schemas"]
    for operation in (spec["paths"][path][method] for path, method in expected):
        for content in operation.get("requestBody", {}).get("content", {}).values():
            schema = content["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].split("/")[-1]]
            assert schema.get("examples"), f"{operation['summary']}: request body without an example"
    lt_body = spec["paths"]["/translate"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"} <= set(lt_body)
    for name in ("TranslationResult", "ModelList", "Readiness", "ErrorBody", "LibreTranslateResponse",
                 "TranslateRequest", "AlignRequest"):  # fmt: skip
        assert schemas[name].get("examples"), f"{name} has no example"


def test_docs_page_is_served(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_a_bundle_exported_before_decoders_had_a_name_is_listed_as_bahdanau(tiny_bundle: Path, tmp_path: Path) -> None:
    from service.app.routers.models import model_info
    from service.runtime import Translator
    from tests.service.runtime.conftest import rewrite_manifest

    older = tmp_path / "en-de"
    shutil.copytree(tiny_bundle, older)
    rewrite_manifest(older, lambda manifest: manifest["model"].pop("decoder"))
    assert model_info(Translator.load(older)).decoder == "bahdanau"
