"""GET /healthz (the process serves) and GET /readyz (the replica can translate).

Readiness means "can translate": every model loaded and warmed up. A failing result store does not make the
replica unready (every replica shares the same store, and taking them all out of the Service would stop
translations that work): /readyz answers 200 with status "degraded" and the reason instead, and
`heed_degraded{reason="store_unavailable"}` is 1. The store check goes through the store's circuit breaker, so a
probe never waits on a store known to be down.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.app.deps import StateDep
from service.app.schemas import HealthStatus, Readiness
from service.app.store import StoreError

router = APIRouter(tags=["health"])
ReadinessStatus = Literal["ready", "degraded", "not_ready"]


@router.get("/healthz", response_model=HealthStatus, summary="Liveness: 200 while the process serves")
async def healthz() -> HealthStatus:
    return HealthStatus()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready; `reason` says why"}},
    summary="Readiness: 200 once every bundle is loaded and has answered a warm-up translation ('degraded' while "
    "the result store fails: translations work, results are not stored)",
)
async def readyz(state: StateDep) -> JSONResponse:
    models = state.models
    ready, reason = state.readiness.ready, state.readiness.reason
    status: ReadinessStatus = "ready" if ready else "not_ready"
    if ready and state.store is not None:
        try:
            await state.store.check()
        except StoreError as error:
            status = "degraded"
            reason = f"the result store is unavailable, so results are not stored: {error}"
    body = Readiness(
        status=status,
        reason=None if status == "ready" else reason,
        models=sorted(models.translators) if models else [],
        failures=dict(models.failures) if models else {},
    )
    headers = None if ready else {"Retry-After": "5"}
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503, headers=headers)
