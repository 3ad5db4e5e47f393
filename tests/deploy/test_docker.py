"""The image and the compose stack, for real. Needs a Docker engine (../shared/tools/docker-sandbox up here).

python -m pytest -m docker tests/deploy/test_docker.py -s
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
IMAGE = "heed:latest"
PROJECT = "heedtest"
MAX_IMAGE_BYTES = 500 * 1000 * 1000


def sh(*command: str, timeout: float = 900, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for(predicate: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def image() -> str:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("no Docker engine: run ../shared/tools/docker-sandbox up first")
    sh("docker", "build", "-t", IMAGE, ".", timeout=1800)
    return IMAGE


def test_image_is_small_non_root_torch_free_and_becomes_healthy(image: str) -> None:
    size = int(sh("docker", "image", "inspect", "--format", "{{.Size}}", image).strip())
    print(f"image size: {size / 1e6:.0f} MB")
    assert size <= MAX_IMAGE_BYTES
    assert sh("docker", "run", "--rm", image, "id", "-u").strip() != "0"
    probe = "import importlib.util as u; print(u.find_spec('torch') is None, u.find_spec('gcc') is None)"
    assert sh("docker", "run", "--rm", image, "python", "-c", probe).split() == ["True", "True"]
    assert sh("docker", "run", "--rm", image, "sh", "-c", "command -v gcc cc || true").strip() == ""
    name = f"{PROJECT}-single"
    sh("docker", "run", "-d", "--name", name, image)
    try:
        health = ("docker", "inspect", "--format", "{{.State.Health.Status}}", name)
        wait_for(lambda: sh(*health).strip() == "healthy", "the container's HEALTHCHECK")
        started = time.monotonic()
        sh("docker", "stop", "--time", "30", name)
        assert time.monotonic() - started < 15, "SIGTERM did not stop an idle server promptly"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.fixture(scope="module")
def stack(image: str) -> Iterator[tuple[str, str]]:
    lb_port, prometheus_port = free_port(), free_port()
    env = {"HEED_PUBLIC_PORT": str(lb_port), "HEED_PROMETHEUS_PORT": str(prometheus_port)}
    compose = ["docker-compose", "-p", PROJECT]
    try:
        sh(*compose, "up", "-d", "--no-build", "--scale", "translator=3", env=env, timeout=600)
        base = f"http://127.0.0.1:{lb_port}"
        wait_for(lambda: http("GET", f"{base}/readyz")[0] == 200, "the stack to serve through lb")
        yield base, f"http://127.0.0.1:{prometheus_port}"
    finally:
        subprocess.run([*compose, "down", "-t", "20", "-v"], cwd=REPO, capture_output=True, env={**os.environ, **env})


def test_stack_translates_through_lb_and_any_replica_serves_a_stored_result(stack: tuple[str, str]) -> None:
    base, _ = stack
    status, created = http("POST", f"{base}/v1/translate", {"source": "en", "target": "de", "text": "A dog runs."})
    assert status == 200 and created["translations"][0]["text"]
    fetched = [http("GET", f"{base}/v1/translations/{created['id']}") for _ in range(12)]
    assert all(status == 200 and doc["translations"] == created["translations"] for status, doc in fetched)
    serving = sh("docker-compose", "-p", PROJECT, "logs", "--no-color", "translator")
    replicas = {
        line.split("|")[0].strip() for line in serving.splitlines() if f"/v1/translations/{created['id']}" in line
    }
    print(f"replicas that served the stored result: {sorted(replicas)}")
    assert len(replicas) >= 2, "every fetch went to one replica; the shared store was not exercised"


def test_prometheus_sees_every_translator_replica_up(stack: tuple[str, str]) -> None:
    _, prometheus = stack

    def all_up() -> bool:
        _, answer = http("GET", f"{prometheus}/api/v1/targets")
        targets = [t for t in answer["data"]["activeTargets"] if t["labels"]["job"] == "heed"]
        return len(targets) == 3 and all(t["health"] == "up" for t in targets)

    wait_for(all_up, "Prometheus to scrape 3 translator targets")
