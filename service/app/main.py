"""The FastAPI application: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from service.app.errors import install_error_handlers
from service.app.lifecycle import lifespan
from service.app.metrics import Metrics
from service.app.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from service.app.routers import alignment, health, libretranslate, metrics, models, translations
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


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app; its lifespan opens the store, starts the batch scheduler and loads every bundle."""
    settings = settings if settings is not None else Settings()
    state = AppState(settings=settings, metrics=Metrics())
    app = FastAPI(title="heed", version=API_VERSION, description=DESCRIPTION, openapi_tags=TAGS, lifespan=lifespan)
    app.state.heed = state
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics)  # outermost: sees every response
    for router in (translations.router, alignment.router, models.router, libretranslate.router, health.router,
                   metrics.router):  # fmt: skip
        app.include_router(router)
    return app
