"""The FastAPI application: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.app.auth import ApiKeys
from service.app.caller_context import CallerContextMiddleware
from service.app.disconnect import CancelOnDisconnectMiddleware
from service.app.errors import install_error_handlers
from service.app.headers import BrowserSafetyHeadersMiddleware
from service.app.lifecycle import lifespan
from service.app.metrics import Metrics
from service.app.middleware import AccessControlMiddleware, BodySizeLimitMiddleware, RequestContextMiddleware
from service.app.openapi import install_openapi
from service.app.routers import alignment, docs, health, libretranslate, metrics, models, page, translations
from service.app.settings import Settings
from service.app.state import AppState

API_VERSION = "1.0.0"

DESCRIPTION = """
Machine translation whose every answer can be looked into. Each translation comes with the attention matrix
the model used (one row per target token, one column per source token) and a word alignment derived from it.
Results are kept for a while under an opaque id, so matrices can be fetched again, as JSON, as a Pharaoh
alignment line, or as an SVG heatmap. `/translate` and `/languages` speak LibreTranslate's protocol.
"""

TAGS = [
    {"name": "translations", "description": "Translate, and fetch stored results again."},
    {"name": "alignment", "description": "Attention and word alignments: stored ones, or forced decoding."},
    {"name": "models", "description": "The model bundles served."},
    {"name": "libretranslate", "description": "Drop-in LibreTranslate endpoints."},
    {"name": "health", "description": "Liveness and readiness probes."},
    {"name": "metrics", "description": "Prometheus metrics."},
]


CORS_METHODS = ("GET", "POST")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
CORS_EXPOSED_HEADERS = ("X-Request-ID", "Retry-After", "WWW-Authenticate")


def add_middleware(app: FastAPI, state: AppState) -> None:
    """Innermost first (each one added wraps the ones before): cancelling requests whose client left, naming
    the caller for the work limiter, access control, body size limit, CORS when configured, the request
    context, so that every response carries the request id, and the browser safety headers outermost."""
    settings = state.settings
    keys = settings.api_key_values()
    app.add_middleware(CancelOnDisconnectMiddleware)
    app.add_middleware(CallerContextMiddleware)
    app.add_middleware(AccessControlMiddleware, state=state, keys=ApiKeys(keys) if keys else None)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS, expose_headers=CORS_EXPOSED_HEADERS, max_age=600,
        )  # fmt: skip
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics, trusted_proxies=settings.trusted_proxies)
    app.add_middleware(BrowserSafetyHeadersMiddleware)  # outermost: also sees the responses of the others


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app; its lifespan opens the store, starts the batch scheduler and loads every bundle."""
    settings = settings if settings is not None else Settings()
    state = AppState(settings=settings, metrics=Metrics())
    # /docs is heed's own (routers/docs.py): FastAPI's /docs and /redoc load their scripts from a CDN. No OAuth2
    # flow is offered, so there is no OAuth2 redirect page either.
    app = FastAPI(
        title="heed", version=API_VERSION, description=DESCRIPTION, openapi_tags=TAGS, lifespan=lifespan,
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
    )  # fmt: skip
    app.state.heed = state
    install_error_handlers(app)
    install_openapi(app, state)
    add_middleware(app, state)
    for router in (translations.router, alignment.router, models.router, libretranslate.router, health.router,
                   metrics.router, page.router, docs.router):  # fmt: skip
        app.include_router(router)
    return app
