"""The web page at `/`: static HTML, CSS and JavaScript from `service/static/`, no build step.

The page is an ordinary client of the public API (`/readyz`, `/v1/models`, `/v1/translate`, `/v1/align`,
`/v1/translations/...`): it needs nothing from the server that other clients do not get. Its files are found
next to this package, so an installed wheel serves them as a checkout does (pyproject.toml ships
`service/static/**` as package data).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
INDEX_FILE = STATIC_DIR / "index.html"

# The page loads only its own files and talks only to this origin; nothing inline, nothing framed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def page_headers(policy: str) -> dict[str, str]:
    """The headers of a page heed serves under `policy`, revalidated so a new release's page is picked up at once."""
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


PAGE_HEADERS = page_headers(CONTENT_SECURITY_POLICY)
STATIC_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)

# StaticFiles resolves paths safely (no escaping the folder) and answers ETag / Last-Modified / 304 / HEAD.
# It is used through `get_response` rather than mounted, so that this router stays a plain router that
# `app.include_router` takes as it is, on every supported FastAPI version.
_static_files = StaticFiles(directory=STATIC_DIR, check_dir=False)


@router.get("/", response_class=FileResponse)
async def page() -> FileResponse:
    """The page itself."""
    return FileResponse(INDEX_FILE, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.api_route("/static/{file_path:path}", methods=["GET", "HEAD"])
async def static_file(file_path: str, request: Request) -> Response:
    """The page's scripts, styles and icons; 404 (as JSON, like every other error) for anything else."""
    response = await _static_files.get_response(file_path, request.scope)
    response.headers.update(STATIC_HEADERS)
    return response


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page says; answer the page's icon rather than a 404."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml", headers=STATIC_HEADERS)
