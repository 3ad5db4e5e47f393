"""The API reference page, /docs (Swagger UI), served whole by this server.

FastAPI's own page loads Swagger UI from a CDN: it fails without a network, and it lets a third party run
script on the page where users paste their API keys. This page loads the same program from the installed
`fastapi-offline` package (its `static/` folder holds swagger-ui-bundle.js and swagger-ui.css) and starts it
from heed's own script (`service/static/docs/swagger-init.js`), so its Content-Security-Policy allows
scripts from this origin only, with nothing inline.

There is no /redoc: ReDoc 2 loads its logo from its vendor's CDN whatever its options say (the package's
redoc.standalone.js names the URL in its code), and one reference page is enough.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from service.app.routers.page import STATIC_DIR, STATIC_HEADERS, page_headers

DOCS_STATIC_PREFIX = "/docs/static/"
VENDOR_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
OWN_DIR = STATIC_DIR / "docs"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Swagger UI's icons are data: URIs in its CSS
        "connect-src 'self'",  # /openapi.json, and "Try it out" requests to this server
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = page_headers(CONTENT_SECURITY_POLICY)

_SWAGGER_UI_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>heed · API reference</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{DOCS_STATIC_PREFIX}swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{DOCS_STATIC_PREFIX}swagger-ui-bundle.js"></script>
  <script src="{DOCS_STATIC_PREFIX}swagger-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)

# The files the page names, and where each lives (StaticFiles answers ETag, 304 and HEAD).
_OWN_FILES = StaticFiles(directory=OWN_DIR, check_dir=False)
_PACKAGE_FILES = StaticFiles(directory=VENDOR_DIR, check_dir=False)
_FILES = {"swagger-init.js": _OWN_FILES, "swagger-ui-bundle.js": _PACKAGE_FILES, "swagger-ui.css": _PACKAGE_FILES}


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SWAGGER_UI_PAGE, headers=PAGE_HEADERS)


@router.api_route(DOCS_STATIC_PREFIX + "{file_name}", methods=["GET", "HEAD"])
async def docs_file(file_name: str, request: Request) -> Response:
    """The page's script and style files; 404 (as JSON, like every other error) for any other name."""
    folder = _FILES.get(file_name)
    if folder is None:
        raise HTTPException(404)
    response = await folder.get_response(file_name, request.scope)
    response.headers.update(STATIC_HEADERS)
    return response
