"""Start-up and shut-down: open the store, start the scheduler, load and warm up every bundle.

Loading runs in the background so that /healthz answers at once and /readyz can say what is happening; it
turns ready only when every bundle in the models folder loaded and answered a warm-up translation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from service.app.batching import WorkLimits, create_scheduler
from service.app.ratelimit import create_rate_limiter, create_work_limiter
from service.app.settings import Settings
from service.app.state import AppState, ServingModels
from service.app.store import open_store
from service.runtime import ModelRegistry, Translator
from service.runtime.cpu import int8_kernel
from service.runtime.manifest import INT8_DYNAMIC

logger = logging.getLogger("heed.lifecycle")

WARM_UP_TEXT = "Hello world."


def _load_registry(settings: Settings) -> ModelRegistry:
    options: dict[str, Any] = {"inter_op_threads": settings.inter_op_threads}
    if settings.intra_op_threads is not None:
        options["intra_op_threads"] = settings.intra_op_threads
    return ModelRegistry.load_dir(settings.models_dir, **options)


def _model_details(translator: Translator) -> dict[str, Any]:
    manifest = translator.manifest
    return {
        "version": translator.version,
        "source_language": translator.source_language,
        "target_language": translator.target_language,
        "score_function": (manifest.get("model") or {}).get("score", ""),
        "quantization": manifest.get("quantization") or "none",
        "int8_kernel": int8_kernel().name,  # this CPU's u8 x s8 path; only INT8_DYNAMIC bundles depend on it
    }


def _warn_if_cpu_dependent(name: str, translator: Translator) -> None:
    if translator.bundle.quantization == INT8_DYNAMIC and not int8_kernel().exact:
        reason = (
            f"model {name!r} quantizes activations at run time and this CPU's int8 kernel is "
            f"{int8_kernel().describe()}: its answers differ from those of a CPU with VNNI; "
            "re-export it with `python -m export.upgrade`"
        )
        logger.warning("cpu-dependent model", extra={"fields": {"reason": reason}})


def _fail(state: AppState, reason: str) -> None:
    state.readiness.ready = False
    state.readiness.reason = reason
    state.metrics.ready.set(0)
    logger.error("not ready", extra={"fields": {"reason": reason}})


async def _warm_up(state: AppState, translators: dict[str, Translator], failures: dict[str, str]) -> None:
    scheduler = state.running_scheduler()
    for name, translator in sorted(translators.items()):
        state.readiness.reason = f"warming up model {name!r}"
        try:
            await scheduler.run_blocking(functools.partial(translator.translate_batch, [WARM_UP_TEXT]))
        except Exception as error:
            failures[name] = f"warm-up translation failed: {error}"
            del translators[name]


async def load_models(state: AppState) -> None:
    models_dir = state.settings.models_dir
    state.readiness.reason = f"loading models from {models_dir}"
    if not models_dir.is_dir():
        _fail(state, f"the models folder {str(models_dir)!r} does not exist")
        return
    try:
        registry = await asyncio.to_thread(_load_registry, state.settings)
    except Exception as error:
        _fail(state, f"cannot load the models in {str(models_dir)!r}: {error}")
        return
    translators, failures = dict(registry.translators), dict(registry.failures)
    await _warm_up(state, translators, failures)
    state.models = ServingModels(translators, failures)
    for name, translator in translators.items():
        state.metrics.record_model(name, _model_details(translator))
        _warn_if_cpu_dependent(name, translator)
    if failures:
        listed = "; ".join(f"model {name!r} failed: {reason}" for name, reason in sorted(failures.items()))
        _fail(state, listed)
    elif not translators:
        _fail(state, f"no model bundles found in {str(models_dir)!r}")
    else:
        state.readiness.ready, state.readiness.reason = True, "ready"
        state.metrics.ready.set(1)
        logger.info("ready", extra={"fields": {"models": sorted(translators)}})


async def _load_models_logged(state: AppState) -> None:
    try:
        await load_models(state)
    except Exception as error:  # a bug must not leave /readyz saying "loading" forever
        logger.exception("model loading failed")
        _fail(state, f"model loading failed: {error}")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: AppState = app.state.heed
    settings = state.settings
    state.store = await asyncio.to_thread(open_store, settings, state.metrics)
    state.rate_limiter = create_rate_limiter(settings, state.metrics)
    work_limiter = create_work_limiter(settings, state.metrics)
    state.scheduler = create_scheduler(
        state.metrics,
        batching=settings.batching,
        capacity=settings.queue_capacity,
        workers=settings.batch_workers,
        max_batch_size=settings.max_batch_size,
        window_seconds=settings.batch_window_seconds,
        limits=WorkLimits.from_settings(settings),
        work_limiter=work_limiter,
    )
    await state.scheduler.start()
    loading = asyncio.create_task(_load_models_logged(state), name="heed-load-models")
    try:
        yield
    finally:
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loading
        await state.scheduler.stop()
        await state.store.close()
        if state.rate_limiter is not None:
            await state.rate_limiter.close()
        if work_limiter is not None:
            await work_limiter.close()
