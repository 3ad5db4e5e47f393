"""The Kubernetes manifests validate offline against the Kubernetes schemas and keep heed's contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str, name: str) -> dict[str, Any]:
    return next(doc for _, doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name)


@pytest.mark.parametrize(("file", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifest_is_valid_against_the_kubernetes_schema(file: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    broken = by_kind("Deployment", "translator")
    broken = {**broken, "spec": {**broken["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_translator_probes_and_resources() -> None:
    container = by_kind("Deployment", "translator")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert any(env["name"] == "HEED_REDIS_URL" for env in container["env"])


def test_autoscaler_targets_the_translator_deployment() -> None:
    target = by_kind("HorizontalPodAutoscaler", "translator")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "translator")


def test_prometheus_scrapes_translator_pods() -> None:
    config = yaml.safe_load(by_kind("ConfigMap", "prometheus")["data"]["prometheus.yml"])
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
