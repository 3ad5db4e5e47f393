"""POST /detect as LibreTranslate 1.9.6 answers it (the libretranslatepy client, JSON, form data, errors), and
`source: "auto"` on heed's /v1/translate."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from libretranslatepy import LibreTranslateAPI

from tests.service.app.conftest import LiveServer
from tests.tiny_corpus import PAIRS

FRENCH = "Un homme en chemise bleue descend la rue à vélo."
GERMAN = "Zwei junge Männer stehen vor einem alten Haus und unterhalten sich."


def test_the_libretranslatepy_client_detects(server: LiveServer) -> None:
    detections = LibreTranslateAPI(server.url).detect(FRENCH)
    assert detections[0]["language"] == "fr"
    assert 50.0 < detections[0]["confidence"] <= 100.0
    assert all(set(item) == {"confidence", "language"} for item in detections)
    confidences = [item["confidence"] for item in detections]
    assert confidences == sorted(confidences, reverse=True) and sum(confidences) <= 100.0 + 1e-6


@pytest.mark.parametrize(
    "send",
    [
        lambda client, q: client.post("/detect", json={"q": q}),
        lambda client, q: client.post("/detect", json={"q": q, "api_key": None}),
        lambda client, q: client.post("/detect", data={"q": q}),
        lambda client, q: client.post("/detect", data={"q": q}, files={"unused": ("x.txt", b"x")}),
    ],
    ids=["json", "json with api_key null", "urlencoded", "multipart"],
)
def test_json_and_form_bodies(client: httpx.Client, send: Any) -> None:
    response = send(client, GERMAN)
    assert response.status_code == 200
    assert response.json()[0]["language"] == "de"


def test_a_list_is_detected_together_as_one_list_of_candidates(client: httpx.Client) -> None:
    """LibreTranslate answers a list q with one list: each language's confidence averaged over the texts."""
    body = client.post("/detect", json={"q": [GERMAN, "Ein Hund läuft durch das Gras."]}).json()
    assert isinstance(body, list) and all(isinstance(item, dict) for item in body)
    assert body[0]["language"] == "de"
    mixed = client.post("/detect", json={"q": [GERMAN, PAIRS[0][0]]}).json()
    assert {item["language"] for item in mixed[:2]} == {"de", "en"}
    assert mixed[0]["confidence"] < body[0]["confidence"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "missing q parameter"),
        ({"q": ""}, "missing q parameter"),
        ({"q": []}, "missing q parameter"),
        ({"q": "  \n"}, "q is empty"),
        ({"q": 5}, "string or a list of strings"),
        ({"q": ["a", 5]}, "string or a list of strings"),
        ({"q": "a", "api_key": 5}, "api_key must be a string"),
        ({"q": "a" * 5001}, "limit is 5000"),
        ({"q": ["a"] * 65}, "at most 64"),
    ],
)
def test_errors_are_400_with_an_error_string(client: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    response = client.post("/detect", json=body)
    assert response.status_code == 400
    error = response.json()
    assert list(error) == ["error"] and fragment in error["error"]


def test_v1_translate_with_auto_detects_the_source(client: httpx.Client) -> None:
    response = client.post("/v1/translate", json={"source": "auto", "target": "de", "text": [PAIRS[0][0], PAIRS[1][0]]})
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "en"
    assert [item["text"] for item in body["translations"]] == [PAIRS[0][1], PAIRS[1][1]]


def test_v1_translate_with_auto_refuses_a_language_no_model_translates(client: httpx.Client) -> None:
    response = client.post("/v1/translate", json={"source": "auto", "target": "de", "text": FRENCH})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_detected_language"
    assert "text was detected as French (fr, " in error["message"]
    assert error["detected_language"]["language"] == "fr"


@pytest.mark.parametrize("text", ["Hello world", "Ok."])
def test_a_text_too_short_to_tell_is_taken_as_a_served_language(client: httpx.Client, text: str) -> None:
    """py3langid reads "Hello world" as Sesotho at 12% (English 8%): a guess, not a detection. Only a confident
    detection of an unserved language is refused."""
    response = client.post("/translate", data={"q": text, "source": "auto", "target": "de"})
    assert response.status_code == 200, response.text
    detected = response.json()["detectedLanguage"]
    assert detected["language"] == "en" and detected["confidence"] < 50
