"""LibreTranslate compatibility: the `libretranslatepy` client (form data), JSON and form bodies, errors."""

from __future__ import annotations

import urllib.error
from typing import Any

import httpx
import pytest
from libretranslatepy import LibreTranslateAPI

from tests.service.app.conftest import LiveServer
from tests.tiny_corpus import PAIRS


def test_the_libretranslatepy_client_translates_and_lists_languages(server: LiveServer) -> None:
    client = LibreTranslateAPI(server.url)
    for source, target in PAIRS[:3]:
        assert client.translate(source, "en", "de") == target
    languages = client.languages()
    assert {"code": "en", "name": "English", "targets": ["de"]} in languages
    assert {"code": "de", "name": "German", "targets": []} in languages


def test_the_libretranslatepy_client_gets_errors_as_http_400_with_json(server: LiveServer) -> None:
    client = LibreTranslateAPI(server.url, api_key="ignored-for-now")
    with pytest.raises(urllib.error.HTTPError) as raised:
        client.translate(PAIRS[0][0], "en", "fr")
    assert raised.value.code == 400
    assert "en-de" in raised.value.read().decode()


def test_json_bodies_with_a_string_or_a_list(client: httpx.Client) -> None:
    response = client.post("/translate", json={"q": PAIRS[4][0], "source": "en", "target": "de", "format": "text"})
    assert response.status_code == 200
    assert response.json() == {"translatedText": PAIRS[4][1]}
    texts = [source for source, _ in PAIRS[5:8]]
    response = client.post("/translate", json={"q": texts, "source": "en", "target": "de", "api_key": ""})
    assert response.json() == {"translatedText": [target for _, target in PAIRS[5:8]]}


def test_form_bodies_urlencoded_and_multipart(client: httpx.Client) -> None:
    form = {"q": PAIRS[8][0], "source": "en", "target": "de"}
    assert client.post("/translate", data=form).json() == {"translatedText": PAIRS[8][1]}
    multipart = client.post("/translate", data=form, files={"unused": ("x.txt", b"x")})
    assert multipart.json() == {"translatedText": PAIRS[8][1]}
    repeated = client.post("/translate", content=f"q={PAIRS[9][0]}&q={PAIRS[10][0]}&source=en&target=de",
                           headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert repeated.json() == {"translatedText": [PAIRS[9][1], PAIRS[10][1]]}


def test_alternatives_and_auto_source(client: httpx.Client) -> None:
    response = client.post("/translate", json={"q": PAIRS[11][0], "source": "auto", "target": "de", "alternatives": 2})
    body = response.json()
    assert body["translatedText"] == PAIRS[11][1]
    alternatives = body["alternatives"]
    assert 1 <= len(alternatives) <= 2 and len(set(alternatives)) == len(alternatives)
    assert PAIRS[11][1] not in alternatives
    detected = body["detectedLanguage"]
    assert list(detected) == ["confidence", "language"]
    assert detected["language"] == "en" and 50.0 < detected["confidence"] <= 100.0


def test_auto_detects_each_q_item_on_its_own(client: httpx.Client) -> None:
    texts = [PAIRS[0][0], PAIRS[6][0]]
    body = client.post("/translate", data={"q": texts, "source": "auto", "target": "de"}).json()
    assert body["translatedText"] == [PAIRS[0][1], PAIRS[6][1]]
    detected = body["detectedLanguage"]
    assert [item["language"] for item in detected] == ["en", "en"]
    assert detected[0]["confidence"] != detected[1]["confidence"]  # each text's own, not one copied to all


@pytest.mark.parametrize(
    ("q", "named"),
    [
        ("Un homme en chemise bleue descend la rue à vélo.", "q was detected as French (fr, "),
        ([PAIRS[0][0], "Zwei Hunde spielen im Schnee."], "q[1] was detected as German (de, "),
    ],
)
def test_auto_refuses_a_text_in_a_language_no_model_translates_naming_it(
    client: httpx.Client, q: str | list[str], named: str
) -> None:
    response = client.post("/translate", json={"q": q, "source": "auto", "target": "de"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert named in error and "supported pairs: en-de" in error


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"source": "en", "target": "de"}, "missing q parameter"),
        ({"q": "", "source": "en", "target": "de"}, "q is empty"),
        ({"q": "hi", "target": "de"}, "missing source parameter"),
        ({"q": "hi", "source": "en", "target": "de", "format": "xml"}, "format"),
        ({"q": "hi", "source": "en", "target": "xx"}, "supported pairs: en-de"),
        ({"q": PAIRS[0][0], "source": "auto", "target": "xx"}, "detected as English"),
        ({"q": 5, "source": "en", "target": "de"}, "q"),
        ({"q": "a" * 5001, "source": "en", "target": "de"}, "limit is 5000"),
        ({"q": ["a"] * 65, "source": "en", "target": "de"}, "at most 64"),
    ],
)
def test_errors_are_400_with_an_error_string(client: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    response = client.post("/translate", json=body)
    assert response.status_code == 400
    error = response.json()
    assert list(error) == ["error"] and fragment in error["error"]


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b"q=caf%E9&source=en&target=de", "application/x-www-form-urlencoded", "UTF-8"),
        (b"q=caf\xe9&source=en&target=de", "application/x-www-form-urlencoded", "UTF-8"),
        (b'{"q": "caf\xe9", "source": "en", "target": "de"}', "application/json", "UTF-8"),
        (b'{"q": "hi", "source": "en"', "application/json", "malformed JSON"),
        (b'["hi"]', "application/json", "must be an object"),
    ],
)
def test_undecodable_bodies_are_400(client: httpx.Client, content: bytes, content_type: str, fragment: str) -> None:
    response = client.post("/translate", content=content, headers={"content-type": content_type})
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_an_oversized_body_is_413_in_the_libretranslate_shape(client: httpx.Client) -> None:
    response = client.post("/translate", data={"q": "a" * 300_000, "source": "en", "target": "de"})
    assert response.status_code == 413
    assert list(response.json()) == ["error"]
