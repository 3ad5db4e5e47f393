"""Schemathesis against the OpenAPI document a real server serves: every operation, valid and invalid input,
no 5xx, and every response as the document describes it (status, content type, headers, body schema).

The server requires an API key, so the document declares the security and the 401s; the fuzzer sends the
key, and also checks that a request without it or with a wrong one is refused. Runs are reproducible
(derandomized) and bounded: FUZZ_EXAMPLES examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.app.conftest import LiveServer, live_server, server_settings

FUZZ_EXAMPLES = 30
API_KEY = "fuzzing-key-0b5d3e"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


@pytest.fixture(scope="module")
def fuzzed_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = server_settings(models_dir, tmp_path_factory.mktemp("fuzzing"), api_keys=API_KEY)
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def served_schema(fuzzed_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(fuzzed_server.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("served_schema")


def steer_to_the_served_pair(case: schemathesis.Case) -> None:
    """Positive cases of the fuzzing phase ask for the pair the server translates, so that generated texts and
    decoding options reach the model (any other pair is a 400 before decoding, which the other phases cover)."""
    meta, body = case.meta, case.body
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE or meta.phase.name != TestPhase.FUZZING:
        return
    if isinstance(body, dict) and {"source", "target"} <= body.keys():
        body.update(source="en", target="de")
        body.pop("model", None)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, fuzzed_server: LiveServer) -> None:
    steer_to_the_served_pair(case)
    case.call_and_validate(base_url=fuzzed_server.url, headers={"Authorization": f"Bearer {API_KEY}"}, checks=CHECKS)


def test_the_fuzzing_covers_every_documented_operation(served_schema: schemathesis.BaseSchema) -> None:
    operations = {
        (operation.method.upper(), operation.path)
        for result in served_schema.get_all_operations()
        for operation in [result.ok()]
    }
    assert operations == {
        ("POST", "/v1/translate"), ("GET", "/v1/translations/{result_id}"),
        ("GET", "/v1/translations/{result_id}/alignment"), ("POST", "/v1/align"), ("GET", "/v1/models"),
        ("POST", "/translate"), ("GET", "/languages"), ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    }  # fmt: skip
