"""GET /healthz (the process serves) and GET /readyz (every model loaded and warmed up, the store reachable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.app.deps import StateDep
from service.app.schemas import HealthStatus, Readiness
from service.app.store import StoreError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthStatus, summary="Liveness: 200 while the process serves")
async def healthz() -> HealthStatus:
    return HealthStatus()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready; `reason` says why"}},
    summary="Readiness: 200 once every bundle is loaded and has answered a warm-up translation",
)
async def readyz(state: StateDep) -> JSONResponse:
    models = state.models
    ready, reason = state.readiness.ready, state.readiness.reason
    if ready and state.store is not None:
        try:
            await state.store.check()
        except StoreError as error:
            ready, reason = False, f"the result store is unavailable: {error}"
    body = Readiness(
        status="ready" if ready else "not_ready",
        reason=None if ready else reason,
        models=sorted(models.translators) if models else [],
        failures=dict(models.failures) if models else {},
    )
    headers = None if ready else {"Retry-After": "5"}
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503, headers=headers)
