"""Schemathesis against the OpenAPI document a real server serves: every operation, valid and invalid input,
with every check schemathesis has (what `schemathesis run --checks all` runs): no 5xx, every response as the
document describes it (status, content type, headers, body schema), invalid requests refused, and requests
the document calls valid accepted, which holds because the document names the languages and bundles served.

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
from schemathesis.checks import CHECKS, is_check_class, load_all_checks

from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.service.app.test_served_document import SERVED_PAIRS, relabelled_bundles

FUZZ_EXAMPLES = 30
API_KEY = "fuzzing-key-0b5d3e"


def every_check() -> list[schemathesis.CheckFunction]:
    """Every check registered with schemathesis, as `--checks all` selects them (less any written as a class,
    which `call_and_validate` cannot run)."""
    load_all_checks()
    return [check for check in CHECKS.get_all() if not is_check_class(check)]


@pytest.fixture(scope="module")
def fuzzed_models(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three pairs, so that per-field enums would admit pairs not served (en→en, de→fr) and every bundle name
    belongs to one pair: the document has to list the served pairs, not only the codes."""
    return relabelled_bundles(tiny_bundle, tmp_path_factory.mktemp("fuzzing-models"), SERVED_PAIRS)


@pytest.fixture(scope="module")
def fuzzed_server(fuzzed_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # No budget on decoding work: whether a request fits it (413 too_much_work) depends on its texts' pieces,
    # which no schema can state; test_work_limits.py tests the budget.
    folder = tmp_path_factory.mktemp("fuzzing")
    settings = server_settings(fuzzed_models, folder, api_keys=API_KEY, max_request_work=10**12)
    with live_server(settings) as live:
        assert sorted(live.state.serving_models().language_pairs()) == sorted(SERVED_PAIRS)
        yield live


@pytest.fixture(scope="module")
def served_schema(fuzzed_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(fuzzed_server.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, fuzzed_server: LiveServer) -> None:
    case.call_and_validate(
        base_url=fuzzed_server.url, headers={"Authorization": f"Bearer {API_KEY}"}, checks=checks_for(case)
    )


def checks_for(case: schemathesis.Case) -> list[schemathesis.CheckFunction]:
    """Every check, less one for source "auto" and for /translate_file: whether a valid body with "auto" is
    translated depends on the language its text is in, and whether a file is depends on its name's extension and
    its bytes being UTF-8, which no schema can say (a text detected as a language that no model translates, or a
    file heed cannot read, is refused with 400; test_detect.py and test_libretranslate_surface.py cover those)."""
    auto = isinstance(case.body, dict) and case.body.get("source") == "auto"
    if auto or case.operation.path == "/translate_file":
        return [check for check in every_check() if check.__name__ != "positive_data_acceptance"]
    return every_check()


def test_every_check_includes_the_ones_the_issue_needed() -> None:
    names = {check.__name__ for check in every_check()}
    assert {"positive_data_acceptance", "negative_data_rejection", "ignored_auth", "not_a_server_error"} <= names


def test_the_fuzzing_covers_every_documented_operation(served_schema: schemathesis.BaseSchema) -> None:
    operations = {
        (operation.method.upper(), operation.path)
        for result in served_schema.get_all_operations()
        for operation in [result.ok()]
    }
    assert operations == {
        ("POST", "/v1/translate"), ("GET", "/v1/translations/{result_id}"),
        ("GET", "/v1/translations/{result_id}/alignment"), ("POST", "/v1/align"), ("GET", "/v1/models"),
        ("POST", "/translate"), ("POST", "/detect"), ("GET", "/languages"), ("GET", "/healthz"), ("GET", "/readyz"),
        ("GET", "/metrics"), ("POST", "/translate_file"), ("GET", "/download_file/{name}"),
        ("GET", "/frontend/settings"), ("POST", "/suggest"), ("GET", "/health"), ("GET", "/spec"),
    }  # fmt: skip
