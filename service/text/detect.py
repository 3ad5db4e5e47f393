"""Telling the language of a text: py3langid over the 114 languages it knows by an ISO 639-1 code, with
calibrated probabilities.

Chosen by `python -m bench.text_tools detect` (bench/results/text-tools.md): every Multi30k validation sentence in
en, de, fr and cs (4,056 short sentences, each alone), over all the languages each detector knows.

| detector | accuracy | cs | texts/s | RSS after load | calibration error |
| --- | --- | --- | --- | --- | --- |
| py3langid 0.4, as served (its 114 ISO 639-1 languages) | 0.997 | 0.990 | 7,000-20,000 | ~125 MB | 0.027 |
| langid 1.1.6 | 0.990 | 0.963 | 200-500 | ~75 MB | 0.007 |
| lingua 2.1, high accuracy | 0.996 | 0.989 | ~140 | ~1.25 GB | 0.182 |
| lingua 2.1, low accuracy | 0.965 | 0.923 | 700-840 | ~90 MB | 0.011 |

(Speeds on a shared 2-core machine, over two runs.)

py3langid is the most accurate (its errors are mostly Czech read as Slovak), the fastest by far, small, maintained,
and its model ships inside the package (nothing is downloaded). With `norm_probs` it answers a softmax over its
languages tempered by the text's length, so the confidence is a probability: on these sentences it averages 0.97
where it is right and 0.40 where it is wrong (expected calibration error 0.027). fasttext-langdetect was not a
candidate: it downloads its model at run time. Its codes are ISO 639-1.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

# How many candidates a detection lists at most, as LibreTranslate's detector answers its best three.
MAX_CANDIDATES = 3
# Below this probability the best guess is a guess: "Hello world" reads as Sesotho at 0.12 (English 0.08), "Ok."
# as Ganda at 0.04. Confidently detected texts are at 0.8 and above for Multi30k sentences.
CONFIDENT = 0.5


@dataclass(frozen=True)
class Detection:
    language: str  # ISO 639-1
    confidence: float  # the probability that the text is in this language, 0 to 1


@functools.cache
def _identifier() -> LanguageIdentifier:
    """The model restricted to the languages with an ISO 639-1 code (py3langid also knows some by ISO 639-3 codes
    only, such as "lij" or "ary", and "zxx" for no language); its probabilities are normalized over those."""
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages([label for label in identifier.labels if len(label) == 2])
    return identifier


def load() -> None:
    """Loads the model now (about half a second) rather than on the first detection."""
    _identifier()


def _distribution(text: str) -> dict[str, float]:
    return {language: float(probability) for language, probability in _identifier().rank(text)}


def detect(text: str, candidates: int = MAX_CANDIDATES) -> list[Detection]:
    """The text's likeliest languages, best first; at least one, and only those with some probability after it."""
    ranked = sorted(_distribution(text).items(), key=lambda item: -item[1])
    best = [Detection(language, confidence) for language, confidence in ranked[:candidates]]
    return best[:1] + [detection for detection in best[1:] if detection.confidence >= 0.005]


def detect_preferring(text: str, preferred: Collection[str], confident: float = CONFIDENT) -> Detection:
    """The likeliest language, unless the text says too little to tell (the best guess below `confident`): then the
    likeliest of `preferred`, the languages the caller can use. A short text that fits no language well is far more
    likely to be in one that is served than in whichever rare language scored a little higher. A confident
    detection of another language stands, so that French sent to an English model is refused by name."""
    distribution = _distribution(text)
    best = max(distribution, key=distribution.__getitem__)
    usable = [language for language in preferred if language in distribution]
    if distribution[best] >= confident or not usable:
        return Detection(best, distribution[best])
    chosen = max(usable, key=distribution.__getitem__)
    return Detection(chosen, distribution[chosen])


def detect_together(texts: Sequence[str], candidates: int = MAX_CANDIDATES) -> list[Detection]:
    """The likeliest languages of several texts taken together: each language's probability averaged over the texts,
    weighted by their lengths (as LibreTranslate answers /detect for a list)."""
    if not texts:
        return []
    weights = np.array([max(len(text), 1) for text in texts], dtype=np.float64)
    distributions = [_distribution(text) for text in texts]
    languages = sorted(distributions[0])
    table = np.array([[distribution[language] for language in languages] for distribution in distributions])
    averaged = weights @ table / weights.sum()
    order = np.argsort(-averaged, kind="stable")[:candidates]
    best = [Detection(languages[index], float(averaged[index])) for index in order]
    return best[:1] + [detection for detection in best[1:] if detection.confidence >= 0.005]
