"""Choosing the sentence splitter and the language detector by measurement (service/text/).

    python -m bench.text_tools [segment | detect | all] [--data ../shared/data/multi30k] [--out bench/results]

segment: boundary precision, recall and F1 and speed of each candidate splitter, on paragraphs of 3-8 consecutive
Multi30k validation sentences (those ending in . ! or ?, joined by one space) in en, de and fr, and on hand-written
sentences with abbreviations, decimals, ellipses and quotes. Every candidate's pieces are mapped back onto the
text by service.text.segment.piece_spans, as served.

detect: accuracy of each candidate detector on every Multi30k validation sentence in en, de, fr and cs (each alone),
over all the languages it knows; texts per second; RSS of a fresh process after loading it; and the calibration of
its confidence (expected calibration error over 10 bins: how far the stated confidence is from the accuracy).

Writes text-tools.md (and .json) under --out and prints the tables. The candidates heed does not serve with are
not among its dependencies: `pip install pysbd syntok langid lingua-language-detector` first.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "multi30k"
SEGMENT_LANGUAGES = ("en", "de", "fr")
DETECT_LANGUAGES = ("en", "de", "fr", "cs")
_ENDS_A_SENTENCE = re.compile(r"[.!?][\"'»”)]?$")

# Hand-written: each entry is one paragraph's sentences, joined by one space to make the text to split.
HAND_WRITTEN: dict[str, list[list[str]]] = {
    "en": [
        ["Dr. Smith arrived at 5 p.m. on Monday.", "He was late."],
        ["The U.S. economy grew 3.5 percent last year.", "Analysts, e.g. at the Fed, were surprised."],
        ["Mr. and Mrs. Jones live on Baker St. in London.", "They moved there in 2001."],
        ['She said "Stop!" and left.', "Nobody followed her."],
        ['"Are you coming?" he asked.', "I said no."],
        ["Wait... what happened?", "I don't know..."],
        ["The price is $4.99 per lb. at the market.", "That is cheap."],
        ["Prof. Brown, i.e. the head of the dept., spoke first.", "Then Ms. Green spoke."],
        ["It costs approx. 10 EUR.", "Pay at the door."],
        ["Version 2.0 was released in Jan. 2020.", "It fixed many bugs!"],
        ["We bought apples, pears, etc. and went home.", "It rained."],
        ["We bought apples, pears, etc.", "Then we went home."],
        ["I think... maybe not.", "Let's see."],
        ["Room No. 5 is on the 2nd floor.", "Take the lift."],
        ["A man in a red shirt is riding a bike.", "Two dogs play in the snow.", "A child eats ice cream."],
    ],
    "de": [
        ["Dr. Müller kam um 17 Uhr an.", "Er war spät dran."],
        ["Das Wachstum betrug 3,5 Prozent, z. B. im Handel.", "Das überraschte viele."],
        ["Die Firma Meyer u. Co. KG wurde 1990 gegründet.", "Sie hat 200 Mitarbeiter."],
        ["Er sagte: „Halt!“ und ging.", "Niemand folgte ihm."],
        ["Das kostet ca. 10 Euro.", "Bitte an der Kasse zahlen."],
        ["Am 3. Oktober ist ein Feiertag.", "Die Geschäfte sind geschlossen."],
        ["Sie wohnt in der Hauptstr. 5 in Berlin.", "Er wohnt nebenan."],
        ["Warte... was ist passiert?", "Ich weiß es nicht."],
        ["Wir kauften Äpfel, Birnen usw. und gingen heim.", "Es regnete."],
        ["Er fragte: „Kommst du?“", "Ich sagte nein."],
        ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Ein Kind isst ein Eis."],
    ],
    "fr": [
        ["M. Dupont est arrivé à 17 h.", "Il était en retard."],
        ["La croissance a atteint 3,5 %, p. ex. dans le commerce.", "Cela a surpris."],
        ["Mme Martin habite av. Victor Hugo.", "Elle y vit depuis 2001."],
        ["Il a dit « Arrêtez ! » et il est parti.", "Personne ne l'a suivi."],
        ["Le Dr. Bernard consulte le lundi.", "Prenez rendez-vous."],
        ["Attendez... que s'est-il passé ?", "Je ne sais pas."],
        ["Cela coûte env. 10 euros.", "Payez à l'entrée."],
        ["Nous avons acheté des pommes, des poires, etc. et nous sommes rentrés.", "Il pleuvait."],
        ["Il a demandé : « Tu viens ? »", "J'ai dit non."],
        ["Un homme fait du vélo.", "Deux chiens jouent dans la neige.", "Un enfant mange une glace."],
    ],
}


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [line.rstrip("\n") for line in file]


# ---------------------------------------------------------------------------------------------- segmentation


def paragraphs_from(sentences: Sequence[str], seed: int = 0) -> list[list[str]]:
    """Runs of 3-8 consecutive sentences that each end as a sentence does (a splitter cannot see the others' ends)."""
    rng = random.Random(seed)
    usable = [sentence.strip() for sentence in sentences if _ENDS_A_SENTENCE.search(sentence.strip())]
    paragraphs = []
    index = 0
    while index < len(usable):
        size = rng.randint(3, 8)
        paragraphs.append(usable[index : index + size])
        index += size
    return [paragraph for paragraph in paragraphs if len(paragraph) > 1]


def gold_boundaries(sentences: Sequence[str]) -> tuple[str, set[int]]:
    text = " ".join(sentences)
    starts = set()
    offset = 0
    for sentence in sentences[:-1]:
        offset += len(sentence) + 1
        starts.add(offset)
    return text, starts


def _segmenters(language: str) -> dict[str, Callable[[str], list[str]]]:
    """The candidates installed here. sentence-splitter serves heed; pysbd and syntok are installed for a full run
    only (`pip install pysbd syntok`), and a run without them measures the rest."""
    from sentence_splitter import SentenceSplitter

    regex = re.compile(r"(?<=[.!?])\s+(?=[\"'„“«]?[A-ZÄÖÜÉÈÀÂÎÔÛÇ])")
    found: dict[str, Callable[[str], list[str]]] = {
        "sentence-splitter (Moses)": SentenceSplitter(language=language).split,
        "regex [.!?] + capital": regex.split,
    }
    try:
        import pysbd

        found["pysbd"] = pysbd.Segmenter(language=language, clean=False).segment
    except ImportError:
        pass
    try:
        import syntok.segmenter

        def syntok_split(text: str) -> list[str]:
            paragraphs = syntok.segmenter.analyze(text)
            return ["".join(str(token) for token in sentence) for para in paragraphs for sentence in para]

        found["syntok"] = syntok_split
    except ImportError:
        pass
    return found


@dataclass
class Tally:
    true_positives: int = 0
    predicted: int = 0
    gold: int = 0
    exact_texts: int = 0
    texts: int = 0

    def add(self, predicted: set[int], gold: set[int]) -> None:
        self.true_positives += len(predicted & gold)
        self.predicted += len(predicted)
        self.gold += len(gold)
        self.exact_texts += predicted == gold
        self.texts += 1

    def scores(self) -> dict[str, float]:
        precision = self.true_positives / self.predicted if self.predicted else 1.0
        recall = self.true_positives / self.gold if self.gold else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "exact": self.exact_texts / max(self.texts, 1)}


def predicted_boundaries(split: Callable[[str], list[str]], text: str) -> set[int]:
    from service.text.segment import piece_spans

    spans = piece_spans(text, [str(piece) for piece in split(text)])
    return {start for start, _ in spans[1:]}


def measure_segmenters(data: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for language in SEGMENT_LANGUAGES:
        paragraphs = paragraphs_from(read_lines(data / "raw" / f"val.{language}.gz"))
        hand = HAND_WRITTEN[language]
        for name, split in _segmenters(language).items():
            corpus, written = Tally(), Tally()
            started = time.perf_counter()
            characters = 0
            for sentences in paragraphs:
                text, gold = gold_boundaries(sentences)
                corpus.add(predicted_boundaries(split, text), gold)
                characters += len(text)
            seconds = time.perf_counter() - started
            for sentences in hand:
                text, gold = gold_boundaries(sentences)
                written.add(predicted_boundaries(split, text), gold)
            results.setdefault(name, {})[language] = {
                "multi30k": corpus.scores(),
                "hand_written": written.scores(),
                "ms_per_1000_chars": 1000 * seconds / characters * 1000,
                "paragraphs": len(paragraphs),
                "sentences": corpus.gold + corpus.texts,
            }
    return results


# ---------------------------------------------------------------------------------------------- detection

# Each candidate: a snippet that builds it as `detector` and a function body mapping text -> (iso 639-1, confidence).
_DETECTORS: dict[str, tuple[str, str]] = {
    "py3langid": (
        "from py3langid.langid import LanguageIdentifier, MODEL_FILE\n"
        "detector = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)",
        "language, confidence = detector.classify(text); return language, confidence",
    ),
    "py3langid (ISO 639-1 languages, as served)": (
        "from service.text.detect import _identifier\ndetector = _identifier()",
        "language, confidence = detector.classify(text); return language, confidence",
    ),
    "langid": (
        "from langid.langid import LanguageIdentifier, model\n"
        "detector = LanguageIdentifier.from_modelstring(model, norm_probs=True)",
        "language, confidence = detector.classify(text); return language, confidence",
    ),
    "lingua (high accuracy)": (
        "from lingua import LanguageDetectorBuilder\n"
        "detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()",
        "best = detector.compute_language_confidence_values(text)[0]; "
        "return best.language.iso_code_639_1.name.lower(), best.value",
    ),
    "lingua (low accuracy)": (
        "from lingua import LanguageDetectorBuilder\n"
        "detector = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode()"
        ".with_preloaded_language_models().build()",
        "best = detector.compute_language_confidence_values(text)[0]; "
        "return best.language.iso_code_639_1.name.lower(), best.value",
    ),
}

_DETECT_PROGRAM = """
import json, resource, sys, time
def rss_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
before = rss_mb()
started = time.perf_counter()
{build}
def detect(text):
    {body}
detect('warm up')
load_seconds = time.perf_counter() - started
after_load = rss_mb()
samples = json.load(sys.stdin)
started = time.perf_counter()
answers = [detect(text) for _, text in samples]
seconds = time.perf_counter() - started
json.dump({{"rss_before_mb": before, "rss_after_load_mb": after_load, "rss_after_run_mb": rss_mb(),
           "load_seconds": load_seconds, "seconds": seconds, "answers": answers}}, sys.stdout)
"""


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    total = 0.0
    for low in range(bins):
        members = [index for index, value in enumerate(confidences) if low / bins < value <= (low + 1) / bins]
        if members:
            accuracy = sum(correct[index] for index in members) / len(members)
            confidence = sum(confidences[index] for index in members) / len(members)
            total += len(members) / len(confidences) * abs(accuracy - confidence)
    return total


def measure_detectors(data: Path) -> dict[str, Any]:
    samples = [
        (language, text.strip())
        for language in DETECT_LANGUAGES
        for text in read_lines(data / "raw" / f"val.{language}.gz")
        if text.strip()
    ]
    results: dict[str, Any] = {}
    for name, (build, body) in _DETECTORS.items():
        program = _DETECT_PROGRAM.format(build=build, body=body)
        run = subprocess.run(
            [sys.executable, "-c", program], input=json.dumps(samples), capture_output=True, text=True, check=True
        )
        outcome = json.loads(run.stdout)
        answers = outcome.pop("answers")
        correct = [answer[0] == language for (language, _), answer in zip(samples, answers, strict=True)]
        per_language = {
            language: sum(ok for (lang, _), ok in zip(samples, correct, strict=True) if lang == language)
            / sum(lang == language for lang, _ in samples)
            for language in DETECT_LANGUAGES
        }
        confusions: dict[str, int] = {}
        for (language, _), answer, ok in zip(samples, answers, correct, strict=True):
            if not ok:
                key = f"{language}->{answer[0]}"
                confusions[key] = confusions.get(key, 0) + 1
        confidences = [float(answer[1]) for answer in answers]
        results[name] = {
            **outcome,
            "accuracy": sum(correct) / len(correct),
            "per_language": per_language,
            "texts_per_second": len(samples) / outcome["seconds"],
            "ece": expected_calibration_error(confidences, correct),
            "mean_confidence_right": _mean([c for c, ok in zip(confidences, correct, strict=True) if ok]),
            "mean_confidence_wrong": _mean([c for c, ok in zip(confidences, correct, strict=True) if not ok]),
            "top_confusions": dict(sorted(confusions.items(), key=lambda item: -item[1])[:5]),
            "texts": len(samples),
        }
    return results


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# ---------------------------------------------------------------------------------------------- report


def segment_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| splitter | lang | Multi30k P / R / F1 | paragraphs exact | hand-written P / R / F1 | ms per 1000 chars |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, by_language in results.items():
        for language, row in by_language.items():
            corpus, hand = row["multi30k"], row["hand_written"]
            lines.append(
                f"| {name} | {language} | {corpus['precision']:.3f} / {corpus['recall']:.3f} / {corpus['f1']:.3f} "
                f"| {corpus['exact']:.3f} | {hand['precision']:.3f} / {hand['recall']:.3f} / {hand['f1']:.3f} "
                f"| {row['ms_per_1000_chars']:.2f} |"
            )
    return lines


def detect_table(results: dict[str, Any]) -> list[str]:
    languages = " | ".join(DETECT_LANGUAGES)
    lines = [
        f"| detector | accuracy | {languages} | ECE | conf. right / wrong | texts/s | RSS after load (MB, +import) "
        "| load s | top confusions |",
        "| --- | --- | " + " | ".join("---" for _ in DETECT_LANGUAGES) + " | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in results.items():
        per = " | ".join(f"{row['per_language'][language]:.3f}" for language in DETECT_LANGUAGES)
        grown = row["rss_after_load_mb"] - row["rss_before_mb"]
        confusions = ", ".join(f"{key} {count}" for key, count in row["top_confusions"].items())
        lines.append(
            f"| {name} | {row['accuracy']:.4f} | {per} | {row['ece']:.3f} | {row['mean_confidence_right']:.3f} / "
            f"{row['mean_confidence_wrong']:.3f} | {row['texts_per_second']:.0f} | {row['rss_after_load_mb']:.0f} "
            f"(+{grown:.0f}) | {row['load_seconds']:.2f} | {confusions} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.text_tools", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=["segment", "detect", "all"], default="all")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    lines = [
        "# Text tools: sentence splitters and language detectors",
        "",
        f"`python -m bench.text_tools {' '.join(sys.argv[1:])}`",
        "",
    ]
    if args.what in ("segment", "all"):
        report["segment"] = measure_segmenters(args.data)
        lines += ["## Sentence splitters", "", *segment_table(report["segment"]), ""]
    if args.what in ("detect", "all"):
        report["detect"] = measure_detectors(args.data)
        lines += ["## Language detectors (Multi30k val, one sentence each)", "", *detect_table(report["detect"]), ""]
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.what == "all" else f"-{args.what}"
    (args.out / f"text-tools{suffix}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / f"text-tools{suffix}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
