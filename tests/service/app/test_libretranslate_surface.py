"""The rest of LibreTranslate 1.9.6's surface against a real server: /frontend/settings, /suggest, /health, /spec,
/translate_file and /download_file, parameters however LibreTranslate takes them, errors in its shape, its web
page's request shapes, and a second client package (deep-translator, which sends everything in the query string)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deep_translator import LibreTranslator
from deep_translator.exceptions import AuthorizationException
from libretranslatepy import LibreTranslateAPI

from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.tiny_corpus import PAIRS

SRT = "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>{0}</i>\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n{1}\r\n\r\n"
VTT = (
    "WEBVTT\n\nNOTE kept as it is\n\nintro\n00:01.000 --> 00:02.000 align:start\n{0}\n\n00:02.000 --> 00:03.000\n{1}\n"
)


def _fill(template: str, texts: list[str]) -> str:
    return template.replace("{0}", texts[0]).replace("{1}", texts[1])


def _translate_file(client: httpx.Client, name: str, content: bytes, **fields: str) -> httpx.Response:
    return client.post("/translate_file", files={"file": (name, content)}, data={"source": "en", "target": "de",
                                                                                  **fields})  # fmt: skip


def _download(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    url = response.json()["translatedFileUrl"]
    assert url.startswith(f"{str(client.base_url).rstrip('/')}/download_file/")
    return client.get(url)


def test_frontend_settings_describe_heed_in_libretranslates_shape(client: httpx.Client) -> None:
    settings = client.get("/frontend/settings").json()
    assert settings == {
        "charLimit": 5000, "frontendTimeout": 500, "apiKeys": False, "keyRequired": False, "suggestions": False,
        "filesTranslation": True, "supportedFilesFormat": [".txt", ".srt", ".vtt", ".html", ".htm", ".docx", ".pptx",
                                                         ".odt", ".odp", ".epub"],
        "language": {"source": {"code": "en", "name": "English"}, "target": {"code": "de", "name": "German"}},
    }  # fmt: skip


def test_health_suggest_and_spec(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    suggest = client.post("/suggest", json={"q": "A dog.", "s": "Ein Hund.", "source": "en", "target": "de"})
    assert (suggest.status_code, suggest.json()) == (403, {"error": "Suggestions are disabled on this server."})
    spec = client.get("/spec").json()
    assert set(spec["paths"]) == {
        "/translate", "/detect", "/languages", "/translate_file", "/download_file/{name}", "/frontend/settings",
        "/suggest", "/health", "/spec",
    }  # fmt: skip
    assert spec["openapi"].startswith("3.")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/frontend/nothing", 404), ("GET", "/download_file/a/b", 404), ("GET", "/translate", 405),
     ("DELETE", "/translate_file", 405)],
)  # fmt: skip
def test_unknown_paths_and_methods_under_libretranslates_routes_answer_in_its_shape(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert list(response.json()) == ["error"] and isinstance(response.json()["error"], str)


def test_parameters_from_the_query_string_in_any_case_and_lenient_types(client: httpx.Client) -> None:
    expected = {"translatedText": PAIRS[3][1]}
    assert client.post("/translate", params={"q": PAIRS[3][0], "source": "EN", "target": "De"}).json() == expected
    assert client.post("/translate", params={"source": "en"}, json={"q": PAIRS[3][0], "target": "de"}).json() == (
        expected
    )
    for format_ in (None, ""):
        body = {"q": PAIRS[3][0], "source": "en", "target": "DE", "format": format_}
        assert client.post("/translate", json=body).json() == expected
    numeric = client.post("/translate", json={"q": PAIRS[3][0], "source": "en", "target": "de", "alternatives": "2"})
    assert len(numeric.json()["alternatives"]) >= 1
    wrong = client.post("/translate", json={"q": PAIRS[3][0], "source": "en", "target": "de", "alternatives": "two"})
    assert (wrong.status_code, wrong.json()) == (
        400,
        {"error": "Invalid request: alternatives parameter is not a number"},
    )


def test_the_web_pages_request_shapes(client: httpx.Client) -> None:
    """LibreTranslate's page asks for its settings and the languages, then posts FormData (multipart) with
    alternatives 3 and an empty api_key, and uploads files as FormData too."""
    settings = client.get("/frontend/settings").json()
    languages = client.get("/languages").json()
    source = settings["language"]["source"]["code"]
    assert settings["language"]["target"]["code"] in next(
        lang["targets"] for lang in languages if lang["code"] == source
    )
    form = {"q": PAIRS[6][0], "source": "auto", "target": "de", "format": "text", "alternatives": "3", "api_key": ""}
    body = client.post("/translate", files={name: (None, value) for name, value in form.items()}).json()
    assert body["translatedText"] == PAIRS[6][1]
    assert body["detectedLanguage"]["language"] == "en"
    assert isinstance(body["alternatives"], list)
    page_form = {"file": ("notes.txt", PAIRS[7][0].encode()), "source": (None, "auto"), "target": (None, "de"),
                 "api_key": (None, "")}  # fmt: skip
    upload = client.post("/translate_file", files=page_form)
    assert upload.status_code == 200, upload.text
    assert _download(client, upload).text == PAIRS[7][1]


@pytest.mark.parametrize(("name", "template", "media_type"), [("talk.srt", SRT, "application/x-subrip"),
                                                               ("talk.vtt", VTT, "text/vtt")])  # fmt: skip
def test_subtitles_keep_numbers_and_timings_byte_for_byte(
    client: httpx.Client, name: str, template: str, media_type: str
) -> None:
    sources, targets = [PAIRS[0][0], PAIRS[1][0]], [PAIRS[0][1], PAIRS[1][1]]
    response = _translate_file(client, name, _fill(template, sources).encode())
    assert response.status_code == 200, response.text
    download = _download(client, response)
    assert download.content == _fill(template, targets).encode()
    assert download.headers["content-type"].startswith(media_type)
    assert download.headers["content-disposition"] == f'attachment; filename="{name}"'


def test_a_subtitle_file_of_more_cues_than_one_request_takes(client: httpx.Client) -> None:
    cues = [PAIRS[index % len(PAIRS)] for index in range(70)]  # max_texts is 64
    timing = "00:00:{0:02},000 --> 00:00:{0:02},900"
    content = "".join(f"{n}\r\n{timing.format(n % 60)}\r\n{source}\r\n\r\n" for n, (source, _) in enumerate(cues, 1))
    expected = "".join(f"{n}\r\n{timing.format(n % 60)}\r\n{target}\r\n\r\n" for n, (_, target) in enumerate(cues, 1))
    assert _download(client, _translate_file(client, "long.srt", content.encode())).text == expected


def test_a_text_file_is_translated_line_by_line(client: httpx.Client) -> None:
    content = f"{PAIRS[2][0]}\r\n\r\n  {PAIRS[4][0]} {PAIRS[5][0]}\n".encode()
    download = _download(client, _translate_file(client, "my notes (1).TXT", content))
    assert download.content == f"{PAIRS[2][1]}\r\n\r\n  {PAIRS[4][1]} {PAIRS[5][1]}\n".encode()
    assert download.headers["content-disposition"] == 'attachment; filename="my_notes_1_.TXT"'


@pytest.mark.parametrize(
    ("name", "content", "fields", "status", "message"),
    [
        ("page.xml", b"<p>A dog.</p>", {}, 400, "file format not supported; supported: .txt, .srt, .vtt, .html, .htm"),
        ("book.docx", b"PK", {}, 400, "the file is not a valid zip container"),
        ("a.txt", b"", {}, 400, "empty file"),
        ("a.srt", b"1\n00:00:01,000 --> 00:00:02,000\n\n", {"source": "auto"}, 400, "holds no text to translate"),
        ("a.txt", b" \n\t\n", {}, 400, "holds no text to translate"),
        ("a.txt", b"\xff\xfeA dog.", {}, 400, "not UTF-8"),
        ("a.txt", b"A dog.", {"target": ""}, 400, "missing target parameter"),
        ("a.txt", b"A dog.", {"target": "fr"}, 400, "no model translates 'en' to 'fr'"),
        ("a.txt", b"Ein Hund rennt durch den Park.", {"source": "auto"}, 400, "detected as German"),
        ("a.txt", b"A dog runs." * 500, {}, 400, "a line or cue of the file has 5500 characters; the limit is 5000"),
        ("a.txt", b"A dog runs.\n" * 30_000, {}, 413, "exceeds the limit of 262144 bytes"),
    ],
)  # fmt: skip
def test_files_that_cannot_be_translated_are_refused_in_libretranslates_shape(
    client: httpx.Client, name: str, content: bytes, fields: dict[str, str], status: int, message: str
) -> None:
    response = _translate_file(client, name, content, **fields)
    assert response.status_code == status, response.text
    assert list(response.json()) == ["error"]
    assert message in response.json()["error"]


def test_a_request_without_a_file_or_not_multipart_is_400(client: httpx.Client) -> None:
    missing = client.post("/translate_file", files={"source": (None, "en"), "target": (None, "de")})
    assert missing.json() == {"error": "Invalid request: missing file parameter"}
    assert client.post("/translate_file", json={"source": "en"}).status_code == 400


def test_downloads_are_refused_for_unknown_names_and_heeds_own_api_cannot_read_files(client: httpx.Client) -> None:
    url = _translate_file(client, "a.txt", PAIRS[8][0].encode()).json()["translatedFileUrl"]
    name = url.rsplit("/", 1)[1]
    token = name.split(".", 1)[0]
    assert client.get(f"/download_file/{token}.other.txt").status_code == 404
    assert client.get(f"/download_file/{'u' * 22}.a.txt").json()["error"].startswith("no file")
    traversal = client.get("/download_file/..%2Fsecret.txt")
    assert traversal.status_code == 404 and list(traversal.json()) == ["error"]
    misnamed = client.get("/download_file/short.a.txt")
    assert misnamed.status_code == 400 and "name" in misnamed.json()["error"]
    assert client.get(f"/v1/translations/{token}").status_code == 404
    assert client.get(f"/v1/translations/file.{token}").status_code == 404


def test_the_libretranslatepy_and_deep_translator_clients(server: LiveServer) -> None:
    assert LibreTranslateAPI(server.url).translate(PAIRS[9][0], "en", "de") == PAIRS[9][1]
    assert LibreTranslateAPI(server.url).detect(PAIRS[9][0])[0]["language"] == "en"
    deep = LibreTranslator(source="en", target="de", api_key="unused", custom_url=f"{server.url}/")
    assert deep.translate(PAIRS[10][0]) == PAIRS[10][1]
    assert deep.translate_batch([PAIRS[11][0], PAIRS[12][0]]) == [PAIRS[11][1], PAIRS[12][1]]


KEY = "surface-key-5b7c9d1e3f"


@pytest.fixture(scope="module")
def keyed_limited_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = server_settings(models_dir, tmp_path_factory.mktemp("lt-keyed"), api_keys=KEY, rate_limit=4,
                               max_chars=300, max_texts=2)  # fmt: skip
    with live_server(settings) as live:
        yield live


def test_with_keys_files_need_one_the_download_url_does_not_and_429_is_in_libretranslates_shape(
    keyed_limited_server: LiveServer,
) -> None:
    with keyed_limited_server.client() as client:
        assert client.get("/frontend/settings").json()["keyRequired"] is True
        refused = _translate_file(client, "a.txt", PAIRS[13][0].encode())
        assert refused.status_code == 403 and list(refused.json()) == ["error"]
        made = _translate_file(client, "a.txt", PAIRS[13][0].encode(), api_key=KEY)
        assert _download(client, made).text == PAIRS[13][1]
        with pytest.raises(AuthorizationException):
            LibreTranslator(source="en", target="de", api_key="wrong", custom_url=f"{keyed_limited_server.url}/"
                            ).translate(PAIRS[0][0])  # fmt: skip
        too_many = _translate_file(client, "a.txt", b"A dog runs.\n" * 60, api_key=KEY)
        assert too_many.status_code == 413
        assert too_many.json()["error"] == "Invalid request: the file has 660 characters to translate; the limit is 600"
        statuses: list[Any] = []
        for _ in range(6):
            response = client.post("/detect", data={"q": "A dog.", "api_key": KEY})
            statuses.append(response.status_code)
        limited = client.post("/detect", data={"q": "A dog.", "api_key": KEY})
        assert 429 in statuses and limited.status_code == 429
        assert limited.json()["error"].startswith("Slowdown: rate limit of 4 requests per minute exceeded")
