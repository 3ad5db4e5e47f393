"""Every bad request gets a 4xx with a JSON body saying what is wrong, and the server keeps serving."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.tiny_corpus import PAIRS

GOOD = {"source": "en", "target": "de", "text": PAIRS[0][0]}


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    assert error["code"] and error["message"]
    return error


def post_raw(client: httpx.Client, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return client.post("/v1/translate", content=content, headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"source": "en", "target": "de", "text": "a"', "not valid JSON"),
        (b"{'source': 'en'}", "not valid JSON"),
        (b"", "request body is required"),
    ],
)
def test_malformed_or_missing_json(client: httpx.Client, content: bytes, fragment: str) -> None:
    response = post_raw(client, content)
    error = error_of(response, 400 if content else 422)
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": 42}, "text"),
        ({"text": ["fine", 7]}, "text"),
        ({"text": None}, "text"),
        ({"beam_size": "4"}, "beam_size"),
        ({"beam_size": 2.5}, "beam_size"),
        ({"attention": "yes"}, "attention"),
        ({"source": 5}, "source"),
        ({"store": 1}, "store"),
        ({"max_length": "10"}, "max_length"),
    ],
)
def test_wrong_types_name_the_field(client: httpx.Client, change: dict[str, Any], field: str) -> None:
    error = error_of(client.post("/v1/translate", json={**GOOD, **change}), 422)
    assert error["message"].startswith(field)
    assert any(detail["loc"][:2] == ["body", field] for detail in error["details"])


def test_a_json_array_or_missing_fields_or_unknown_fields_are_rejected(client: httpx.Client) -> None:
    assert error_of(client.post("/v1/translate", json=[GOOD]), 422)
    error = error_of(client.post("/v1/translate", json={"source": "en", "text": "a"}), 422)
    assert "target: Field required" in error["message"]
    error = error_of(client.post("/v1/translate", json={**GOOD, "beam": 3}), 422)
    assert "beam" in error["message"] and "not permitted" in error["message"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "text is empty or only whitespace"),
        ("  \n\t ", "text is empty or only whitespace"),
        ([PAIRS[0][0], " "], "text[1] is empty or only whitespace"),
        ([], "non-empty list"),
        ("A \ud800 lone surrogate", "unpaired surrogate"),
    ],
)
def test_empty_whitespace_or_invalid_unicode_texts(client: httpx.Client, text: Any, fragment: str) -> None:
    body = json.dumps({**GOOD, "text": text}).encode()  # ASCII with \u escapes, so a lone surrogate can be sent
    error = error_of(post_raw(client, body), 422)
    assert fragment in error["message"]


def test_text_over_the_character_limit(client: httpx.Client) -> None:
    limit = 5000
    sentences = " ".join(source for source, _ in PAIRS * 20)[: limit - 1].rsplit(".", 1)[0] + "."
    at_limit = sentences.ljust(limit)  # real sentences, then spaces: exactly the limit
    body = {**GOOD, "text": at_limit, "beam_size": 1, "store": False, "attention": False}  # within the work budget
    answer = client.post("/v1/translate", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["translations"][0]["text"].endswith(" " * (limit - len(sentences)))
    error = error_of(client.post("/v1/translate", json={**GOOD, "text": "a" * (limit + 1)}), 422)
    assert f"has {limit + 1} characters; the limit is {limit}" in error["message"]
    error = error_of(client.post("/v1/translate", json={**GOOD, "text": ["ok", "b" * (limit + 1)]}), 422)
    assert error["message"].startswith("text[1]")


def test_more_texts_than_allowed(client: httpx.Client) -> None:
    error = error_of(client.post("/v1/translate", json={**GOOD, "text": ["A dog."] * 65}), 422)
    assert "65 texts; at most 64" in error["message"]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 17}, "beam_size"),
        ({"n_best": 0}, "n_best"),
        ({"max_length": 0}, "max_length"),
        ({"max_length": 5000}, "max_length (5000) must not exceed 1024"),
    ],
)
def test_decoding_options_out_of_range(client: httpx.Client, options: dict[str, Any], fragment: str) -> None:
    error = error_of(client.post("/v1/translate", json={**GOOD, **options}), 422)
    assert fragment in error["message"]


def test_an_unsupported_pair_lists_the_supported_ones(client: httpx.Client) -> None:
    error = error_of(client.post("/v1/translate", json={**GOOD, "source": "de", "target": "fr"}), 400)
    assert error["code"] == "unsupported_language_pair"
    assert error["supported"] == ["en-de"]
    assert "en-de" in error["message"]


def test_invalid_utf8_in_the_body(client: httpx.Client) -> None:
    body = b'{"source": "en", "target": "de", "text": "caf\xe9 \xff"}'
    error = error_of(post_raw(client, body), 400)
    assert error["code"] == "invalid_utf8"
    assert "UTF-8" in error["message"]


def test_a_body_that_is_not_json(client: httpx.Client) -> None:
    error = error_of(post_raw(client, b"source=en&target=de&text=hi", "application/x-www-form-urlencoded"), 415)
    assert "application/json" in error["message"]


def test_an_oversized_body_declared_up_front(client: httpx.Client) -> None:
    body = json.dumps({**GOOD, "text": "a" * 300_000}).encode()
    error = error_of(post_raw(client, body), 413)
    assert error["code"] == "payload_too_large"
    assert str(256 * 1024) in error["message"]


def test_an_oversized_body_streamed_in_chunks(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"source": "en", "target": "de", "text": "'
        for _ in range(40):
            yield b"a" * 8192
        yield b'"}'

    response = client.post("/v1/translate", content=chunks(), headers={"content-type": "application/json"})
    error = error_of(response, 413)
    assert error["code"] == "payload_too_large"


def test_unknown_paths_and_methods_get_json_errors(client: httpx.Client) -> None:
    assert error_of(client.get("/v1/nothing-here"), 404)["code"] == "not_found"
    assert error_of(client.get("/v1/translate"), 405)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "text",
    [
        "A man\x00 is\x07 riding\x1b[31m a bike.\u200b",
        "A dog 🐕‍🦺 is running 🏃🏽‍♀️ through the grass.",
        "Ｔｈｅ　ｃｈｉｌｄｒｅｎ ａｒｅ ｌａｕｇｈｉｎｇ.",
        "\u202eA cat is sleeping\u202c on the sofa. Ω≈ç√∫ ﷽ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "\x00\x01\x02",
        "<script>alert('&amp;')</script> \"quoted\"",
    ],
)
def test_unusual_characters_are_translated_and_render_as_valid_svg(client: httpx.Client, text: str) -> None:
    response = client.post("/v1/translate", json={**GOOD, "text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["translations"][0]["source"] == text
    svg = client.get(f"/v1/translations/{body['id']}/alignment", params={"format": "svg"})
    assert svg.status_code == 200
    ET.fromstring(svg.content)  # parses: every token escaped, no character XML forbids


def test_the_server_keeps_serving_after_bad_input(client: httpx.Client) -> None:
    for content in (b"\xff\xfe", b"{", b"[]", b"null", b'{"text": {"nested": true}}'):
        assert 400 <= post_raw(client, content).status_code < 500
    assert client.get("/healthz").status_code == 200
    response = client.post("/v1/translate", json=GOOD)
    assert response.status_code == 200
    assert response.json()["translations"][0]["text"] == PAIRS[0][1]


def test_request_ids_are_echoed_or_generated(client: httpx.Client) -> None:
    echoed = client.post("/v1/translate", json=GOOD, headers={"X-Request-ID": "trace-123.abc"})
    assert echoed.headers["x-request-id"] == "trace-123.abc"
    generated = client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
