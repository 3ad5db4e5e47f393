"""How often `format: "html"` puts an inline element around the right target words, on gold word alignments.

    python -m bench.html_tags [--bundle artifacts/en-de] [--gold ../shared/data/alignment-gold/multi30k-val.en-de ...]

For every gold sentence pair and every English phrase of 1-3 tokens with a Sure link, the English sentence is
written as HTML with `<b>` around the phrase, and its gold translation is the "translation". The right target
words are those from the first to the last one Sure-linked to the phrase. The `<b>` is placed by
service.text.markup.render three ways: with heed's own alignment of the pair (teacher-forced through the bundle
as /v1/align does, the default source-argmax method, fed as export.align_eval feeds it), with no links at all
(markup's relative-position rule), and, for scale, by the proportional heuristic that alignment-free tools use
(target span = source span scaled by the length ratio). Reported: exact matches of the wrapped words, and
word-level F1 against the right words.

Writes html-tags.md under --out and prints it. Needs the bundle and ../shared (not run in CI).
"""

from __future__ import annotations

import argparse
import html
import re
from collections.abc import Iterator
from pathlib import Path

from export.align_eval import fed_texts, forced_weights, heed_alignments
from export.align_gold import GoldSet, read_gold
from export.eflomal_baseline import MULTI30K_RAW, default_cache_dir
from service.runtime import ModelRegistry
from service.runtime.alignment import DEFAULT_ALIGNMENT_METHOD
from service.text.markup import BlockTranslation, parse, render

REPO = Path(__file__).resolve().parents[1]
GOLDS = [REPO.parent / "shared" / "data" / "alignment-gold" / name for name in ("multi30k-val.en-de", "europarl.en-de")]
_WORD = re.compile(r"\w")
Span = tuple[int, int]


def phrases(gold: GoldSet) -> Iterator[tuple[int, Span, Span]]:
    """(sentence, English tokens start:end, the right target tokens start:end) for every phrase measured."""
    for index, tokens in enumerate(gold.english):
        for start in range(len(tokens)):
            for end in range(start + 1, min(start + 3, len(tokens)) + 1):
                if not all(_WORD.search(token) for token in tokens[start:end]):
                    continue
                targets = sorted(j for i, j in gold.sure[index] if start <= i < end)
                if targets:
                    yield index, (start, end), (targets[0], targets[-1] + 1)


def wrapped(source: list[str], phrase: Span, target: list[str], links: set[tuple[int, int]]) -> Span:
    """The target tokens markup.render puts inside the <b> around `phrase`."""
    escaped = [html.escape(token, quote=False) for token in source]
    markup = parse(" ".join([*escaped[: phrase[0]], "<b>" + " ".join(escaped[phrase[0] : phrase[1]]) + "</b>",
                             *escaped[phrase[1] :]]))  # fmt: skip
    out = render(markup, [BlockTranslation(" ".join(target), frozenset(links))])
    before, inside = out.split("<b>", 1)
    inside = inside.split("</b>", 1)[0]
    start = len(re.sub(r"<[^>]*>", "", before).split())
    return start, start + len(inside.split())


def proportional(source: list[str], phrase: Span, target: list[str]) -> Span:
    ratio = len(target) / len(source)
    start = min(round(phrase[0] * ratio), len(target) - 1)
    return start, max(start + 1, round(phrase[1] * ratio))


def f1(got: Span, right: Span) -> float:
    overlap = max(0, min(got[1], right[1]) - max(got[0], right[0]))
    if not overlap:
        return 0.0
    precision, recall = overlap / (got[1] - got[0]), overlap / (right[1] - right[0])
    return 2 * precision * recall / (precision + recall)


def measure(bundle: Path, gold_prefix: Path, corpus: Path) -> dict[str, tuple[float, float]]:
    gold = read_gold(gold_prefix)
    translator = ModelRegistry.load_dir(bundle.parent).get("en", gold.other_language)
    texts = fed_texts(gold, corpus, default_cache_dir())
    heed = heed_alignments(forced_weights(translator, gold, texts), DEFAULT_ALIGNMENT_METHOD)
    scores: dict[str, list[float]] = {
        "gold links (the rules' own loss)": [], "heed alignment": [], "no links (relative position)": [],
        "proportional": [],
    }  # fmt: skip
    exact: dict[str, int] = dict.fromkeys(scores, 0)
    for index, phrase, right in phrases(gold):
        source, target = gold.english[index], gold.other[index]
        for name, got in (
            ("gold links (the rules' own loss)", wrapped(source, phrase, target, gold.sure[index])),
            ("heed alignment", wrapped(source, phrase, target, heed[index])),
            ("no links (relative position)", wrapped(source, phrase, target, set())),
            ("proportional", proportional(source, phrase, target)),
        ):
            scores[name].append(f1(got, right))
            exact[name] += got == right
    return {name: (exact[name] / len(values), sum(values) / len(values)) for name, values in scores.items()} | {
        "phrases": (len(scores["proportional"]), 0.0)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "artifacts" / "en-de")
    parser.add_argument("--gold", type=Path, action="append", help="a gold set prefix (default: both en-de sets)")
    parser.add_argument("--corpus", type=Path, default=MULTI30K_RAW)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    lines = [
        '# Where `format: "html"` puts an inline element',
        "",
        f"`python -m bench.html_tags` (bundle {args.bundle.name}; bench/html_tags.py says how): English phrases of 1-3",
        "tokens wrapped in `<b>`, on the gold translations; right = the target tokens from the first to the last",
        "Sure-linked to the phrase. Gold links show what the placement rules lose with perfect links.",
        "",
        "| gold set | phrases | placement | exact | word F1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for gold in args.gold or GOLDS:
        results = measure(args.bundle, gold, args.corpus)
        count = int(results.pop("phrases")[0])
        lines += [f"| {gold.name} | {count} | {name} | {exact:.1%} | {score:.3f} |"
                  for name, (exact, score) in results.items()]  # fmt: skip
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "html-tags.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
