"""The PyTorch eager baseline: the server a user would otherwise write around the `model/` network.

    python -m bench.torch_server --bundle artifacts/en-de [--checkpoint runs/en-de/best.pt] [--port 8001]

Weights: rebuilt from the bundle's ONNX graphs (bench.rebuild, checked against them at start; an int8
bundle's weights are dequantized to float32), or taken from --checkpoint. Tokenizers and decoding rules
(length penalty, maximum length): the bundle's.
POST /v1/translate takes heed's request body (source, target, text, beam_size, attention; other fields
are ignored) and answers {"model", "translations": [{"text", "score", "source_tokens", "target_tokens",
"attention"}]}. Each request is decoded on its own, sentence by sentence, under torch.no_grad, one
request at a time (a lock, so concurrent requests do not oversubscribe the cores with torch threads);
nothing is batched across requests. PyTorch's own thread settings are left at their defaults.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import sentencepiece as spm
import torch
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from bench.rebuild import check_against_bundle, read_manifest, rebuild_model
from bench.torch_search import Decoding, TorchHypothesis, beam_search, greedy_search
from model.model import Seq2Seq

MAX_SOURCE_PIECES = 256  # service.runtime.tokenizer.MAX_SOURCE_PIECES
ATTENTION_DECIMALS = 4  # as heed rounds them


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    source: str
    target: str
    text: str | list[str]
    beam_size: Annotated[int, Field(ge=1, le=16)] = 4
    attention: bool = True


class TranslationItem(BaseModel):
    text: str
    score: float
    source_tokens: list[str]
    target_tokens: list[str]
    attention: list[list[float]] | None = None


class TranslateResponse(BaseModel):
    model: str
    translations: list[TranslationItem]


@dataclass
class EagerTranslator:
    name: str
    source_language: str
    target_language: str
    model: Seq2Seq
    source_sp: spm.SentencePieceProcessor
    target_sp: spm.SentencePieceProcessor
    decoding: Decoding

    def translate(self, text: str, beam_size: int, attention: bool) -> TranslationItem:
        eos = self.model.config.eos_id
        source_ids = [*self.source_sp.encode(text)[:MAX_SOURCE_PIECES], eos]
        if beam_size == 1:
            best: TorchHypothesis = greedy_search(self.model, source_ids, self.decoding)
        else:
            best = beam_search(self.model, source_ids, self.decoding, beam_size)[0]
        return TranslationItem(
            text=self.target_sp.decode(best.token_ids[:-1]).strip(),
            score=best.score,
            source_tokens=[self.source_sp.id_to_piece(i) for i in source_ids],
            target_tokens=[self.target_sp.id_to_piece(i) for i in best.token_ids],
            attention=best.attention.round(decimals=ATTENTION_DECIMALS).tolist() if attention else None,
        )


def load_translator(bundle: Path, checkpoint: Path | None = None) -> EagerTranslator:
    manifest = read_manifest(bundle)
    if checkpoint is None:
        rebuilt = rebuild_model(bundle)
        check_against_bundle(rebuilt, bundle)
        model = rebuilt.model
    else:
        from model.checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint).model
    model.eval()
    decoding = manifest.get("decoding", {})
    tokenizers = manifest.get("tokenizers", {"source": "source.spm", "target": "target.spm"})
    return EagerTranslator(
        name=str(manifest["name"]),
        source_language=str(manifest["source_language"]),
        target_language=str(manifest["target_language"]),
        model=model,
        source_sp=spm.SentencePieceProcessor(model_file=str(bundle / tokenizers["source"])),
        target_sp=spm.SentencePieceProcessor(model_file=str(bundle / tokenizers["target"])),
        decoding=Decoding(
            length_penalty=float(decoding.get("length_penalty", 1.0)),
            max_length_ratio=float(decoding.get("max_length_ratio", 2.0)),
            max_length_offset=int(decoding.get("max_length_offset", 10)),
        ),
    )


def create_app(translator: EagerTranslator) -> FastAPI:
    app = FastAPI(title="PyTorch eager baseline")
    one_at_a_time = threading.Lock()

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/v1/translate")
    def translate(request: TranslateRequest) -> TranslateResponse:
        if (request.source, request.target) != (translator.source_language, translator.target_language):
            raise HTTPException(
                400, f"this server translates {translator.source_language}-{translator.target_language}"
            )
        texts = [request.text] if isinstance(request.text, str) else request.text
        if not texts or any(not text.strip() for text in texts):
            raise HTTPException(400, "text must hold non-empty strings")
        with one_at_a_time, torch.no_grad():
            items = [translator.translate(text, request.beam_size, request.attention) for text in texts]
        return TranslateResponse(model=translator.name, translations=items)

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.torch_server", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="bundle folder: tokenizers, decoding rules, weights")
    parser.add_argument("--checkpoint", type=Path, help="take the weights from this checkpoint instead")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    translator = load_translator(args.bundle, args.checkpoint)
    options: dict[str, Any] = {"host": args.host, "port": args.port, "log_level": "info"}
    uvicorn.run(create_app(translator), **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
