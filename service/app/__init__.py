"""heed's HTTP service (FastAPI). Build an app with `create_app(settings)`; run it with `python -m service serve`."""

from __future__ import annotations

from service.app.main import create_app
from service.app.settings import Settings

__all__ = ["Settings", "create_app"]
