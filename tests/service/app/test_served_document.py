"""The served /openapi.json says which requests the server answers: the request bodies name the languages and
bundles served (built from the loaded models), and a body is valid by the document exactly when the server
accepts it. Over a real server with three relabelled copies of the tiny bundle: en-de, en-fr and de-en.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from service.app import create_app
from service.app.schemas import NOT_ONLY_WHITESPACE, usable_texts
from tests.service.app.conftest import LiveServer, live_server, server_settings
from tests.service.runtime.conftest import rewrite_manifest

# Per-field enums would admit en→en, de→de and de→fr, and a bundle with another pair than its own.
SERVED_PAIRS = (("en", "de"), ("en", "fr"), ("de", "en"))


def relabelled_bundles(tiny_bundle: Path, folder: Path, pairs: tuple[tuple[str, str], ...]) -> Path:
    """`folder` holding a copy of the tiny bundle per pair, named and labelled "<source>-<target>"."""
    for source, target in pairs:
        labels = {"name": f"{source}-{target}", "source_language": source, "target_language": target}
        shutil.copytree(tiny_bundle, folder / labels["name"])
        rewrite_manifest(folder / labels["name"], functools.partial(dict.update, **labels))
    return folder


@pytest.fixture(scope="module")
def three_pairs(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models = relabelled_bundles(tiny_bundle, tmp_path_factory.mktemp("three-pairs"), SERVED_PAIRS)
    with live_server(server_settings(models, tmp_path_factory.mktemp("three-pairs-server"))) as live:
        yield live


@pytest.fixture(scope="module")
def document(three_pairs: LiveServer) -> dict[str, Any]:
    spec: dict[str, Any] = httpx.get(three_pairs.url + "/openapi.json").json()
    return spec


def body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def test_the_bodies_name_the_served_languages_and_bundles(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, auto in (("TranslateRequest", ["auto"]), ("AlignRequest", [])):
        properties = schemas[name]["properties"]
        assert properties["source"]["enum"] == ["de", "en", *auto]
        assert properties["target"]["enum"] == ["de", "en", "fr"]
        assert {"type": "string", "enum": ["de-en", "en-de", "en-fr"]} in properties["model"]["anyOf"]
        pairs = next(part["oneOf"] for part in schemas[name]["allOf"] if "source" in part["oneOf"][0]["properties"])
        assert [branch["properties"]["model"]["enum"] for branch in pairs] == [
            ["de-en", None], ["en-de", None], ["en-fr", None], *[["de-en", "en-de", "en-fr", None]] * len(auto)
        ]  # fmt: skip
    libretranslate = body_schema(document, "/translate")["properties"]
    assert libretranslate["source"]["enum"] == ["auto", "de", "en"]  # "auto" is detected, for every target
    assert libretranslate["target"]["enum"] == ["de", "en", "fr"]


TRANSLATE = {"text": "A dog runs."}
ALIGN = {"source": "en", "target": "de", "text": "A dog.", "translation": "Ein Hund."}
LT = {"q": "A dog runs."}
BODIES = [
    ("/v1/translate", {**TRANSLATE, "source": "en", "target": "de"}),
    ("/v1/translate", {**TRANSLATE, "source": "de", "target": "en", "model": "de-en"}),
    ("/v1/translate", {**TRANSLATE, "source": "en", "target": "en"}),
    ("/v1/translate", {**TRANSLATE, "source": "de", "target": "fr"}),
    ("/v1/translate", {**TRANSLATE, "source": "en", "target": "fr", "model": "en-de"}),
    ("/v1/translate", {**TRANSLATE, "source": "en", "target": "de", "model": "en-de-large"}),
    ("/v1/translate", {**TRANSLATE, "source": "EN", "target": "de"}),
    ("/v1/translate", {**TRANSLATE, "source": "en", "target": "de", "beam_size": 2, "n_best": 5}),
    ("/v1/translate", {"source": "en", "target": "de", "text": "\x1d \u3000"}),
    ("/v1/translate", {"source": "en", "target": "de", "text": ["A dog.", "\u2028"]}),
    ("/v1/translate", {"source": "en", "target": "de", "text": "\ufeff"}),  # not whitespace to Python
    ("/v1/translate", {**TRANSLATE, "source": "auto", "target": "fr"}),
    ("/v1/translate", {**TRANSLATE, "source": "auto", "target": "de", "model": "en-de"}),
    ("/v1/translate", {"text": "Ein Hund rennt über die Wiese.", "source": "auto", "target": "en"}),
    ("/v1/align", {**ALIGN, "source": "auto"}),
    ("/detect", {"q": "A dog runs."}),
    ("/detect", {"q": ["A dog runs.", "Ein Hund."]}),
    ("/detect", {"q": " "}),
    ("/detect", {"q": []}),
    ("/v1/align", ALIGN),
    ("/v1/align", {**ALIGN, "text": ["A dog.", "A cat."], "translation": ["Ein Hund.", "Eine Katze."]}),
    ("/v1/align", {**ALIGN, "translation": ["Ein Hund."]}),
    ("/v1/align", {**ALIGN, "text": ["A dog.", "A cat."], "translation": ["Ein Hund."]}),
    ("/v1/align", {**ALIGN, "source": "de", "target": "fr"}),
    ("/translate", {**LT, "source": "auto", "target": "fr"}),
    ("/translate", {"q": "Ein Hund rennt über die Wiese.", "source": "auto", "target": "en"}),
    ("/translate", {**LT, "source": "de", "target": "en"}),
    ("/translate", {**LT, "source": "en", "target": "en"}),
    ("/translate", {**LT, "source": "de", "target": "fr"}),
    ("/translate", {**LT, "source": "en", "target": "de", "alternatives": 6}),
]


@pytest.mark.parametrize(("path", "body"), BODIES, ids=[f"{path} {body}" for path, body in BODIES])
def test_a_body_is_valid_by_the_document_exactly_when_the_server_accepts_it(
    three_pairs: LiveServer, document: dict[str, Any], path: str, body: dict[str, Any]
) -> None:
    valid = jsonschema_rs.Draft202012Validator(body_schema(document, path)).is_valid(body)
    with three_pairs.client() as client:
        response = client.post(path, json=body)
    assert response.status_code in (200, 400, 422), response.text
    assert (response.status_code == 200) == valid, response.text


def test_the_whitespace_the_document_refuses_is_exactly_what_the_server_refuses() -> None:
    text_schema = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": NOT_ONLY_WHITESPACE})
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:  # surrogates: not characters a JSON text can carry alone
            continue
        text = chr(code) * 2
        try:
            usable_texts(text)
            usable = True
        except ValueError:
            usable = False
        assert text_schema.is_valid(text) == usable, f"U+{code:04X}"


def test_until_the_models_load_the_document_names_no_languages(three_pairs: LiveServer, tmp_path: Path) -> None:
    """Built again on each call until then, so that the first document after loading has them."""
    app = create_app(server_settings(tmp_path / "no-models-yet", tmp_path))
    loading = app.openapi()["components"]["schemas"]["TranslateRequest"]["properties"]["source"]
    assert "enum" not in loading
    app.state.heed.models = three_pairs.state.serving_models()
    loaded = app.openapi()["components"]["schemas"]["TranslateRequest"]["properties"]["source"]
    assert loaded["enum"] == ["de", "en", "auto"]
    assert app.openapi() is app.openapi()
