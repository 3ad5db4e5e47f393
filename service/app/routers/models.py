"""GET /v1/models: what is served, from each bundle's manifest."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter

from service.app.deps import ModelsDep
from service.app.routers import error_responses
from service.app.schemas import ModelInfo, ModelList, ModelSizes, UnavailableModel
from service.runtime import Translator

router = APIRouter(prefix="/v1", tags=["models"])

T = TypeVar("T")
_SIZE_FIELDS = ("src_vocab_size", "tgt_vocab_size", "emb_dim", "enc_hidden", "dec_hidden", "attn_dim", "readout_dim")


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_or(value: Any, default: T) -> str | T:
    return value if isinstance(value, str) else default


def _bundle_bytes(manifest: dict[str, Any]) -> int | None:
    files = manifest.get("files")
    if not isinstance(files, dict):
        return None
    sizes = [_int_or_none(entry.get("bytes")) for entry in files.values() if isinstance(entry, dict)]
    return sum(size for size in sizes if size is not None) or None


def model_info(translator: Translator) -> ModelInfo:
    manifest = translator.manifest
    config = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    assert isinstance(config, dict)
    sizes = ModelSizes(
        parameters=_int_or_none(config.get("parameters")),
        bundle_bytes=_bundle_bytes(manifest),
        **{name: _int_or_none(config.get(name)) for name in _SIZE_FIELDS},
    )
    decoding, metrics = manifest.get("decoding"), manifest.get("metrics")
    return ModelInfo(
        name=translator.name,
        version=translator.version,
        source_language=translator.source_language,
        target_language=translator.target_language,
        score_function=_text_or(config.get("score"), None),
        decoder=_text_or(config.get("decoder"), "bahdanau"),  # bundles from before the conditional decoder
        quantization=_text_or(manifest.get("quantization"), None),
        created_at=_text_or(manifest.get("created_at"), None),
        sizes=sizes,
        decoding=decoding if isinstance(decoding, dict) else {},
        metrics=metrics if isinstance(metrics, dict) else {},
    )


@router.get("/models", response_model=ModelList, responses=error_responses(503), summary="The served models")
async def list_models(models: ModelsDep) -> ModelList:
    return ModelList(
        models=[model_info(models.translators[name]) for name in sorted(models.translators)],
        unavailable=[UnavailableModel(name=name, reason=reason) for name, reason in sorted(models.failures.items())],
    )
