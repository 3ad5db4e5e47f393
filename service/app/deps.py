"""Request dependencies, as `Annotated` aliases the routers declare in their signatures."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from service.app.batching import TranslationScheduler
from service.app.errors import StoreUnavailableError
from service.app.service import TranslationService
from service.app.settings import Settings
from service.app.state import AppState, ServingModels
from service.app.store import CALLER_SCOPE_KEY, CallerStore


async def get_state(request: Request) -> AppState:
    return cast(AppState, request.app.state.heed)


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_models(state: StateDep) -> ServingModels:
    """The serving models; 503 with the reason until they are loaded and warmed up."""
    return state.serving_models()


async def get_scheduler(state: StateDep) -> TranslationScheduler:
    return state.running_scheduler()


async def get_store(request: Request, state: StateDep) -> CallerStore:
    """The store as this request's caller sees it (their own results only, with API keys on)."""
    if state.store is None:
        raise StoreUnavailableError("the result store is not open yet")
    return CallerStore(state.store, state.metrics, str(request.scope.get(CALLER_SCOPE_KEY, "")))


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelsDep = Annotated[ServingModels, Depends(get_models)]
SchedulerDep = Annotated[TranslationScheduler, Depends(get_scheduler)]


async def get_translation_service(state: StateDep, models: ModelsDep, scheduler: SchedulerDep) -> TranslationService:
    return TranslationService(state, models, scheduler)


TranslationServiceDep = Annotated[TranslationService, Depends(get_translation_service)]
StoreDep = Annotated[CallerStore, Depends(get_store)]
