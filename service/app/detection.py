"""`source: "auto"`: each text's language, detected (service.text.detect), and the check that a model translates it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from service.app.errors import ApiError
from service.app.languages import language_name
from service.app.state import ServingModels
from service.text.detect import Detection, detect_preferring


class UntranslatableLanguageError(ApiError):
    """A text was detected as a language that no loaded model translates into the target."""

    status_code = 400
    code = "unsupported_detected_language"


def percent(detection: Detection) -> float:
    return round(detection.confidence * 100, 1)


def describe(detection: Detection) -> str:
    """ "French (fr, 97.3% confident)"."""
    return f"{language_name(detection.language)} ({detection.language}, {percent(detection):g}% confident)"


async def detect_each(models: ServingModels, texts: Sequence[str], target: str) -> list[Detection]:
    """The likeliest language of each text; where a text is too short to tell, the likeliest of the languages a
    loaded model translates into `target` (off the event loop: a 64-text request of 5000 characters each takes
    tens of milliseconds)."""
    served = {source for source, into in models.language_pairs() if into == target}
    return await asyncio.to_thread(lambda: [detect_preferring(text, served) for text in texts])


def check_translatable(models: ServingModels, detections: Sequence[Detection], target: str, field: str) -> None:
    """400, naming the detected language, for the first text that no loaded model translates into `target`."""
    served = set(models.language_pairs())
    for index, detection in enumerate(detections):
        if (detection.language, target) not in served:
            where = f"{field}[{index}]" if len(detections) > 1 else field
            raise UntranslatableLanguageError(
                f"{where} was detected as {describe(detection)}, and no model translates {detection.language!r} "
                f"to {target!r}; supported pairs: {', '.join(models.pairs()) or 'none (no model is loaded)'}",
                extra={"detected_language": {"language": detection.language, "confidence": percent(detection)}},
            )


class MixedLanguagesError(ApiError):
    """Texts of one request detected as different languages, where the answer has one source language."""

    status_code = 400
    code = "mixed_detected_languages"


def check_one_language(detections: Sequence[Detection], field: str = "text") -> str:
    """The one language all the texts were detected as; 400 when they differ (the answer has one source)."""
    languages = sorted({detection.language for detection in detections})
    if len(languages) > 1:
        listed = ", ".join(f"{field}[{index}] {describe(detection)}" for index, detection in enumerate(detections))
        raise MixedLanguagesError(
            f"the texts were detected as different languages ({listed}); send each language in its own request"
        )
    return languages[0]
