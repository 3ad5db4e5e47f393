"""Optional API keys: with keys set, every endpoint but the probes, /metrics, the page, the API docs and the
LibreTranslate routes LibreTranslate leaves open needs one, as `Authorization: Bearer <key>` or as LibreTranslate's
`api_key`; a missing or wrong key is a 401 with a JSON reason (403 on LibreTranslate's routes, as LibreTranslate
answers), and no key ever reaches the logs."""

from __future__ import annotations

import urllib.error
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from libretranslatepy import LibreTranslateAPI
from pydantic import ValidationError

from service.app.serve import main
from service.app.settings import ApiKeyConfigError, Settings, parse_api_keys
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.service.app.test_operations import metric_samples, sample_value
from tests.service.hardening.conftest import serve_process
from tests.tiny_corpus import PAIRS

LISTED_KEY = "listed-key-4f9d2c7a1b"
FILE_KEY = "file-key-8e3b6d0c5a"
WRONG_KEY = "wrong-key-1a2b3c4d5e"
TRANSLATE = {"source": "en", "target": "de", "text": PAIRS[0][0], "store": False}
LT_FORM = {"q": PAIRS[1][0], "source": "en", "target": "de"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys.txt"
    path.write_text(f"# heed API keys, one per line\n\n  {FILE_KEY}   # the test client\n")
    return path


@pytest.fixture(scope="module")
def keyed_server(models_dir: Path, keys_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = server_settings(
        models_dir, tmp_path_factory.mktemp("keyed"), api_keys=f"{LISTED_KEY}, ", api_keys_file=keys_file
    )
    with live_server(settings) as live:
        yield live


@pytest.fixture
def anonymous(keyed_server: LiveServer) -> Iterator[httpx.Client]:
    with keyed_server.client() as client:
        yield client


def test_keys_come_from_the_list_and_the_file(keys_file: Path) -> None:
    assert parse_api_keys(f"{LISTED_KEY},other-key, {LISTED_KEY}", keys_file) == (LISTED_KEY, "other-key", FILE_KEY)
    assert parse_api_keys(None, None) == ()
    assert Settings(api_keys="").api_key_values() == ()
    assert Settings(api_keys=LISTED_KEY).api_key_values() == (LISTED_KEY,)


@pytest.mark.parametrize(
    ("listed", "file_text", "reason"),
    [
        (" , ", None, "holds no key"),
        (None, "# only a comment\n\n", "holds no key"),
        (None, "two words\n", "key #1 holds a space"),
        ("fine-key,caf\u00e9-key", None, "key #2 holds a space or a character outside visible ASCII"),
    ],
)
def test_unusable_keys_are_refused_without_being_shown(
    tmp_path: Path, listed: str | None, file_text: str | None, reason: str
) -> None:
    path = None
    if file_text is not None:
        path = tmp_path / "keys.txt"
        path.write_text(file_text)
    with pytest.raises(ApiKeyConfigError, match=reason):
        parse_api_keys(listed, path)
    with pytest.raises(ValidationError) as raised:
        Settings(api_keys=listed, api_keys_file=path)
    assert reason in str(raised.value)
    for secret in ("fine-key", "caf\u00e9-key", "two words"):
        assert secret not in str(raised.value)


def test_serve_refuses_to_start_with_a_missing_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--api-keys-file", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read the API keys file" in capsys.readouterr().err


PUBLIC = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/static/swagger-ui-bundle.js",
    "/",
    "/static/api.js",
    "/favicon.ico",
    "/languages",
    "/frontend/settings",
    "/health",
    "/spec",
]


@pytest.mark.parametrize("path", PUBLIC)
def test_probes_metrics_docs_and_the_page_need_no_key(anonymous: httpx.Client, path: str) -> None:
    assert anonymous.get(path).status_code == 200


def assert_unauthorized(response: httpx.Response, *, presented: bool) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="heed"')
    assert ('error="invalid_token"' in challenge) == presented
    body = response.json()
    message: str = body["error"] if isinstance(body["error"], str) else body["error"]["message"]
    assert ("not valid" if presented else "required") in message
    return message


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/translate", TRANSLATE),
        ("POST", "/v1/align", {"source": "en", "target": "de", "text": "A dog.", "translation": "Ein Hund."}),
        ("GET", "/v1/models", None),
        ("GET", "/v1/translations/abc", None),
        ("GET", "/v1/translations/abc/alignment", None),
        ("GET", "/v1/no-such-endpoint", None),
    ],
)
def test_every_other_endpoint_needs_a_valid_key(
    anonymous: httpx.Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    missing = anonymous.request(method, path, json=body)
    assert_unauthorized(missing, presented=False)
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    for headers in (bearer(WRONG_KEY), {"Authorization": f"Basic {LISTED_KEY}"}, {"Authorization": "Bearer"}):
        assert_unauthorized(anonymous.request(method, path, json=body, headers=headers), presented=True)


def test_a_listed_key_and_a_file_key_both_work(anonymous: httpx.Client) -> None:
    for key in (LISTED_KEY, FILE_KEY):
        response = anonymous.post("/v1/translate", json=TRANSLATE, headers=bearer(key))
        assert response.status_code == 200
        assert response.json()["translations"][0]["text"] == PAIRS[0][1]
        assert anonymous.get("/v1/models", headers={"Authorization": f"bearer  {key}"}).status_code == 200


def test_the_key_is_checked_before_the_body_is_read(anonymous: httpx.Client) -> None:
    response = anonymous.post("/v1/translate", content=b"{not json", headers={"content-type": "application/json"})
    assert_unauthorized(response, presented=False)


def test_libretranslate_takes_the_key_as_api_key_in_json_form_multipart_or_query(anonymous: httpx.Client) -> None:
    expected = {"translatedText": PAIRS[1][1]}
    with_key = {**LT_FORM, "api_key": FILE_KEY}
    assert anonymous.post("/translate", json=with_key).json() == expected
    assert anonymous.post("/translate", data=with_key).json() == expected
    assert anonymous.post("/translate", data=with_key, files={"unused": ("x.txt", b"x")}).json() == expected
    assert anonymous.post("/translate", data=LT_FORM, params={"api_key": LISTED_KEY}).json() == expected
    assert anonymous.get("/languages", params={"api_key": LISTED_KEY}).status_code == 200
    header_wins = anonymous.post("/translate", json={**LT_FORM, "api_key": WRONG_KEY}, headers=bearer(LISTED_KEY))
    assert header_wins.json() == expected


@pytest.mark.parametrize(
    "send",
    [
        lambda client: client.post("/translate", json=LT_FORM),
        lambda client: client.post("/translate", json={**LT_FORM, "api_key": WRONG_KEY}),
        lambda client: client.post("/translate", data={**LT_FORM, "api_key": WRONG_KEY}),
        lambda client: client.post("/translate", data={**LT_FORM, "api_key": ""}),
        lambda client: client.post("/translate", content=b'{"q": "hi", "api_key": ', headers={"content-type":
                                                                                             "application/json"}),
        lambda client: client.post("/translate", content=b"--x\r\nbroken", headers={"content-type":
                                                                                    "multipart/form-data; boundary=x"}),
        lambda client: client.post("/detect", data={"q": "A dog.", "api_key": WRONG_KEY}),
        lambda client: client.post("/translate_file", files={"file": ("a.txt", b"A dog.")},
                                   data={"source": "en", "target": "de"}),
    ],
)  # fmt: skip
def test_libretranslate_refusals_are_403_in_its_error_shape(anonymous: httpx.Client, send: Any) -> None:
    response = send(anonymous)
    assert response.status_code == 403, response.text
    assert list(response.json()) == ["error"]
    assert "api_key" in response.json()["error"]
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("params", [{}, {"api_key": WRONG_KEY}])
def test_libretranslate_keyless_routes_ignore_a_missing_or_wrong_key(anonymous: httpx.Client, params: Any) -> None:
    assert anonymous.get("/languages", params=params).status_code == 200
    assert anonymous.get("/frontend/settings", params=params).json()["apiKeys"] is True
    suggest = anonymous.post("/suggest", data={"q": "a", "s": "b", "source": "en", "target": "de", **params})
    assert suggest.status_code == 403
    assert suggest.json() == {"error": "Suggestions are disabled on this server."}


def test_an_oversized_libretranslate_body_without_a_header_is_413(anonymous: httpx.Client) -> None:
    response = anonymous.post("/translate", data={**LT_FORM, "q": "a" * 300_000, "api_key": LISTED_KEY})
    assert response.status_code == 413
    assert list(response.json()) == ["error"]


def test_the_libretranslatepy_client_with_and_without_a_key(keyed_server: LiveServer) -> None:
    assert LibreTranslateAPI(keyed_server.url, api_key=FILE_KEY).translate(PAIRS[2][0], "en", "de") == PAIRS[2][1]
    with pytest.raises(urllib.error.HTTPError) as raised:
        LibreTranslateAPI(keyed_server.url).translate(PAIRS[2][0], "en", "de")
    assert raised.value.code == 403


def test_the_openapi_document_declares_the_security(anonymous: httpx.Client) -> None:
    spec = anonymous.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    translate = spec["paths"]["/v1/translate"]["post"]
    assert translate["security"] == [{"bearerAuth": []}]
    assert translate["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert {"bearerAuth": []} in spec["paths"]["/translate"]["post"]["security"]
    assert "403" in spec["paths"]["/translate"]["post"]["responses"]
    assert "401" not in spec["paths"]["/translate"]["post"]["responses"]
    assert "security" not in spec["paths"]["/languages"]["get"]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert "security" not in spec["paths"][path]["get"]
        assert "401" not in spec["paths"][path]["get"]["responses"]


def test_refusals_are_counted(anonymous: httpx.Client) -> None:
    before = sample_value(metric_samples(anonymous), "heed_rejected_requests", "heed_rejected_requests_total",
                          reason="unauthorized")  # fmt: skip
    anonymous.get("/v1/models")
    anonymous.get("/v1/models", headers=bearer(WRONG_KEY))
    after = sample_value(metric_samples(anonymous), "heed_rejected_requests", "heed_rejected_requests_total",
                         reason="unauthorized")  # fmt: skip
    assert after - before == 2


def test_a_stored_result_is_readable_only_with_the_key_that_made_it(anonymous: httpx.Client) -> None:
    made = anonymous.post("/v1/translate", json={**TRANSLATE, "store": True}, headers=bearer(LISTED_KEY)).json()
    assert made["stored"] is True
    result, unknown = f"/v1/translations/{made['id']}", "/v1/translations/" + "u" * 22
    assert anonymous.get(result, headers=bearer(LISTED_KEY)).json() == made
    assert anonymous.get(result + "/alignment", headers=bearer(LISTED_KEY)).status_code == 200
    for path in (result, result + "/alignment"):
        other_key = anonymous.get(path, headers=bearer(FILE_KEY))
        never_made = anonymous.get(path.replace(made["id"], "u" * 22), headers=bearer(FILE_KEY))
        assert other_key.status_code == never_made.status_code == 404, "another key's result is simply unknown"
        assert other_key.json()["error"]["message"].replace(made["id"], "ID") == never_made.json()["error"][
            "message"
        ].replace("u" * 22, "ID")
    assert anonymous.get(unknown, headers=bearer(LISTED_KEY)).status_code == 404


def test_without_keys_nothing_needs_one(client: httpx.Client) -> None:
    assert client.get("/v1/models").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "securitySchemes" not in spec.get("components", {})
    assert "401" not in spec["paths"]["/v1/translate"]["post"]["responses"]


@pytest.fixture
def client(models_dir: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    with live_server(server_settings(models_dir, tmp_path)) as live, live.client() as http:
        yield http


def test_keys_never_reach_the_logs(models_dir: Path, keys_file: Path, tmp_path: Path) -> None:
    """At debug level, with every way of sending a key, right and wrong, in valid and broken requests; nor do
    result ids, in full."""
    sent_ids: list[str] = []

    def request_id() -> dict[str, str]:
        sent_ids.append(uuid.uuid4().hex)
        return {"X-Request-ID": sent_ids[-1]}

    variables = {"HEED_API_KEYS": LISTED_KEY, "HEED_API_KEYS_FILE": str(keys_file), "HEED_LOG_LEVEL": "debug",
                 "HEED_RATE_LIMIT": "1000"}  # fmt: skip
    with serve_process(models_dir, tmp_path, **variables) as server, httpx.Client(base_url=server.url) as http:
        for key in (LISTED_KEY, FILE_KEY, WRONG_KEY):
            http.post("/v1/translate", json=TRANSLATE, headers={**bearer(key), **request_id()})
            http.post("/v1/translate", content=b"{broken", headers={**bearer(key), **request_id()})
            http.get("/v1/models", headers={"Authorization": f"Basic {key}", **request_id()})
            http.post("/translate", json={**LT_FORM, "api_key": key}, headers=request_id())
            http.post("/translate", data={**LT_FORM, "api_key": key, "q": ""}, headers=request_id())
            http.post("/translate", data={**LT_FORM, "api_key": key}, files={"f": ("f", b"x")}, headers=request_id())
            http.get("/languages", params={"api_key": key}, headers=request_id())
        made = http.post(
            "/v1/translate", json={**TRANSLATE, "store": True}, headers={**bearer(FILE_KEY), **request_id()}
        )
        result_id = made.json()["id"]
        for key in (FILE_KEY, LISTED_KEY):  # its own key, then another: 200, then 404
            http.get(f"/v1/translations/{result_id}", headers={**bearer(key), **request_id()})
            http.get(f"/v1/translations/{result_id}/alignment", headers={**bearer(key), **request_id()})
        server.terminate()
        assert server.process.wait(timeout=120) == 0
    output = server.output()
    for key in (LISTED_KEY, FILE_KEY, WRONG_KEY):
        assert key not in output
    assert PAIRS[0][0] not in output and PAIRS[1][0] not in output, "input text is not logged"
    assert result_id not in output, "a result id is all it takes to read a result: logs carry 8 characters of it"
    paths = {record["path"] for record in server.access_records()}
    assert {f"/v1/translations/{result_id[:8]}…", f"/v1/translations/{result_id[:8]}…/alignment"} <= paths
    logged = [record["request_id"] for record in server.access_records() if record["path"] != "/readyz"]
    assert sorted(logged) == sorted(sent_ids), "one access line per request, with its id"
