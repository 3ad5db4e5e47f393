"""/readyz answers 503 with the reason until every bundle is loaded and warmed up, or when one failed; the
result store being unreachable leaves the service ready to translate: 200 "degraded", with the reason (the
outages themselves are in test_store_outages)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import lifecycle
from service.runtime import ModelRegistry
from tests.service.app.conftest import live_server, server_settings, wait_until
from tests.tiny_corpus import PAIRS

TRANSLATE = {"source": "en", "target": "de", "text": PAIRS[0][0]}


def copy_with_corrupted_bundle(bundle: Path, folder: Path) -> Path:
    """A models folder with a good copy of the bundle and a copy whose encoder lost its tail."""
    models = folder / "models"
    shutil.copytree(bundle, models / bundle.name)
    broken = models / "en-de-broken"
    shutil.copytree(bundle, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["name"] = broken.name
    (broken / "manifest.json").write_text(json.dumps(manifest))
    encoder = broken / "encoder.onnx"
    encoder.write_bytes(encoder.read_bytes()[:-100])
    return models


def test_not_ready_while_models_load(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_loader = lifecycle._load_registry

    def paused_loader(settings: Any) -> ModelRegistry:
        release.wait()
        return real_loader(settings)

    monkeypatch.setattr(lifecycle, "_load_registry", paused_loader)
    with live_server(server_settings(models_dir, tmp_path), wait_for="up") as live, live.client() as client:
        try:
            assert client.get("/healthz").status_code == 200
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["status"] == "not_ready"
            assert response.json()["reason"] == f"loading models from {models_dir}"
            refused = client.post("/v1/translate", json=TRANSLATE)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert refused.json()["error"]["code"] == "not_ready"
            assert "loading models" in refused.json()["error"]["message"]
            assert client.get("/v1/models").status_code == 503
            languages = client.get("/languages")
            assert languages.status_code == 503 and list(languages.json()) == ["error"]
        finally:
            release.set()
        wait_until(lambda: client.get("/readyz").status_code == 200, "the models to load")
        assert client.post("/v1/translate", json=TRANSLATE).json()["translations"][0]["text"] == PAIRS[0][1]


def test_a_corrupted_bundle_makes_the_service_unready_but_the_good_one_serves(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    models = copy_with_corrupted_bundle(tiny_bundle, tmp_path)
    with live_server(server_settings(models, tmp_path), wait_for="up") as live, live.client() as client:
        wait_until(lambda: live.state.models is not None, "loading to finish")
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["models"] == ["en-de"]
        assert list(body["failures"]) == ["en-de-broken"]
        assert "en-de-broken" in body["reason"] and "encoder.onnx" in body["reason"]
        unavailable = client.get("/v1/models").json()["unavailable"]
        assert [entry["name"] for entry in unavailable] == ["en-de-broken"]
        assert client.post("/v1/translate", json=TRANSLATE).json()["translations"][0]["text"] == PAIRS[0][1]


@pytest.mark.parametrize(("make", "reason"), [("missing", "does not exist"), ("empty", "no model bundles found")])
def test_no_models_means_not_ready(tmp_path: Path, make: str, reason: str) -> None:
    models = tmp_path / "models"
    if make == "empty":
        models.mkdir()
    with live_server(server_settings(models, tmp_path), wait_for="up") as live, live.client() as client:
        wait_until(lambda: live.state.readiness.reason.startswith(("the models", "no model")), "loading to finish")
        response = client.get("/readyz")
        assert response.status_code == 503
        assert reason in response.json()["reason"]


def test_an_unreachable_redis_leaves_the_service_ready_but_degraded_and_translations_answer(
    models_dir: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = server_settings(models_dir, tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
    with live_server(settings, wait_for="up") as live, live.client() as client:
        wait_until(lambda: live.state.readiness.ready, "the models to load")
        response = client.get("/readyz")
        assert response.status_code == 200, "every replica shares the store: none should leave the Service for it"
        assert response.json()["status"] == "degraded"
        assert "result store is unavailable" in response.json()["reason"]
        assert "Retry-After" not in response.headers
        translated = client.post("/v1/translate", json=TRANSLATE)
        assert translated.status_code == 200
        body = translated.json()
        assert (body["stored"], body["stored_reason"], body["expires_at"]) == (False, "store_unavailable", None)
        assert body["translations"][0]["text"] == PAIRS[0][1]
        fetched = client.get(f"/v1/translations/{body['id']}")
        assert fetched.status_code == 503
        assert fetched.json()["error"]["code"] == "store_unavailable"
        metrics = client.get("/metrics").text
        assert 'heed_store_errors_total{operation="save"} 1.0' in metrics
        assert 'heed_degraded{reason="store_unavailable"} 1.0' in metrics
        assert 'heed_results_not_stored_total{reason="store_unavailable"} 1.0' in metrics


def test_healthz_answers_even_when_not_ready(tmp_path: Path) -> None:
    with live_server(server_settings(tmp_path / "nothing", tmp_path), wait_for="up") as live:
        assert httpx.get(live.url + "/healthz").json() == {"status": "ok"}
