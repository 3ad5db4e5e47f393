"""Paragraphs translated as one text, before and after sentence segmentation (service.app.sentences).

    python -m bench.paragraphs [--models-dir artifacts] [--split val] [--data ../shared/data/multi30k] [--out DIR]

For each bundle, the split's sentences are grouped into paragraphs of 3-8 consecutive sentences (seeded), joined by
one space, and each paragraph is translated as one text: "before" hands the whole paragraph to the model as one
row (what the service did), "after" splits it into sentences, decodes them as rows of one batch and joins them
(what it does now). Each is scored against the paragraph's references joined the same way, with the comparable
BLEU of the Multi30k README (model.evaluate) and cased sacreBLEU; the sentences alone are scored too, for
reference. Beam: the bundle's default. Writes paragraphs-<split>.md and .json under --out.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.evaluate import cased_bleu, comparable_bleu
from service.app.sentences import join_translations, split_texts
from service.runtime import Translation, Translator

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "multi30k"
CHUNK = 32  # texts per translate_batch call


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [line.strip() for line in file]


def paragraph_sizes(count: int, seed: int = 0) -> list[int]:
    """Sizes of 3 to 8 that add up to `count` (the last may be shorter)."""
    rng = random.Random(seed)
    sizes = []
    while count > 0:
        size = min(rng.randint(3, 8), count)
        sizes.append(size)
        count -= size
    return sizes


def group(lines: Sequence[str], sizes: Sequence[int]) -> list[str]:
    paragraphs = []
    start = 0
    for size in sizes:
        paragraphs.append(" ".join(lines[start : start + size]))
        start += size
    return paragraphs


def translate(translator: Translator, texts: Sequence[str]) -> list[str]:
    outputs: list[str] = []
    for start in range(0, len(texts), CHUNK):
        batch = translator.translate_batch(texts[start : start + CHUNK], beam_size=translator.default_beam_size)
        outputs.extend(translation.text for translation in batch)
    return outputs


def translate_by_sentence(translator: Translator, texts: Sequence[str]) -> tuple[list[str], list[str]]:
    """The texts' translations as the service now makes them, and the rows (sentences) it decoded."""
    rows, plans = split_texts(texts, translator.source_language)
    decoded: list[Translation] = []
    for start in range(0, len(rows), CHUNK):
        decoded.extend(translator.translate_batch(rows[start : start + CHUNK], beam_size=translator.default_beam_size))
    return [translation.text for translation in join_translations(plans, decoded)], rows


def measure(bundle: Path, data: Path, split: str) -> dict[str, Any]:
    translator = Translator.load(bundle)
    source, target = translator.source_language, translator.target_language
    sources = read_lines(data / "raw" / f"{split}.{source}.gz")
    references = read_lines(data / "raw" / f"{split}.{target}.gz")
    sizes = paragraph_sizes(len(sources))
    paragraphs, paragraph_references = group(sources, sizes), group(references, sizes)
    result: dict[str, Any] = {"pair": f"{source}-{target}", "paragraphs": len(paragraphs), "sentences": len(sources)}
    started = time.perf_counter()
    before = translate(translator, paragraphs)
    result["before_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    after, rows = translate_by_sentence(translator, paragraphs)
    result["after_seconds"] = time.perf_counter() - started
    result["rows_after"] = len(rows)
    for name, outputs in (("before", before), ("after", after)):
        result[name] = {
            "comparable": comparable_bleu(outputs, paragraph_references, target),
            "cased": cased_bleu(outputs, paragraph_references),
            "length_ratio": sum(map(len, outputs)) / sum(map(len, paragraph_references)),
        }
    sentences = translate(translator, sources)
    result["sentences_alone"] = {
        "comparable": comparable_bleu(sentences, references, target),
        "cased": cased_bleu(sentences, references),
    }
    return result


def table(results: Sequence[dict[str, Any]], split: str) -> list[str]:
    lines = [
        f"| pair | paragraphs ({split}) | before: comparable / cased BLEU (length ratio) | after | "
        "sentences alone | seconds before / after |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in results:
        before, after, alone = row["before"], row["after"], row["sentences_alone"]
        lines.append(
            f"| {row['pair']} | {row['paragraphs']} ({row['sentences']} sentences, {row['rows_after']} rows after) "
            f"| {before['comparable']:.2f} / {before['cased']:.2f} ({before['length_ratio']:.2f}) "
            f"| {after['comparable']:.2f} / {after['cased']:.2f} ({after['length_ratio']:.2f}) "
            f"| {alone['comparable']:.2f} / {alone['cased']:.2f} "
            f"| {row['before_seconds']:.0f} / {row['after_seconds']:.0f} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.paragraphs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "artifacts")
    parser.add_argument("--split", default="val")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    bundles = sorted(path.parent for path in args.models_dir.glob("*/manifest.json"))
    results = [measure(bundle, args.data, args.split) for bundle in bundles]
    command = f"python -m bench.paragraphs {' '.join(sys.argv[1:] if argv is None else argv)}".strip()
    lines = [f"# Paragraphs as one text, before and after segmentation ({args.split})", "", f"`{command}`", ""]
    lines += table(results, args.split)
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"paragraphs-{args.split}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / f"paragraphs-{args.split}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
