"""Language detection: the right language for short sentences, ISO 639-1 codes, confidences that are probabilities."""

from __future__ import annotations

import pytest

from service.text.detect import CONFIDENT, MAX_CANDIDATES, detect, detect_preferring, detect_together


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("A man in a blue shirt is riding a bike down the street.", "en"),
        ("Ein Mann in einem blauen Hemd fährt mit dem Fahrrad die Straße entlang.", "de"),
        ("Un homme en chemise bleue descend la rue à vélo.", "fr"),
        ("Muž v modré košili jede na kole po ulici.", "cs"),
    ],
)
def test_short_sentences_get_their_language_with_high_confidence(text: str, language: str) -> None:
    best, *others = detect(text)
    assert best.language == language
    assert best.confidence > 0.5
    assert len(others) < MAX_CANDIDATES
    assert all(other.confidence <= best.confidence for other in others)


def test_the_candidates_are_iso_639_1_codes_and_probabilities() -> None:
    detections = detect("Les enfants jouent dans le parc.", candidates=MAX_CANDIDATES)
    assert all(len(detection.language) == 2 for detection in detections)
    assert 0.0 < sum(detection.confidence for detection in detections) <= 1.0 + 1e-6


def test_a_text_without_letters_is_uncertain() -> None:
    assert detect("12345 !!!")[0].confidence < 0.2


def test_texts_taken_together_weigh_each_by_its_length() -> None:
    long_german = "Zwei junge Männer stehen vor einem alten Haus und unterhalten sich über das Wetter."
    together = detect_together([long_german, "A dog."])
    assert together[0].language == "de"
    assert together[0].confidence < detect(long_german)[0].confidence
    assert detect_together([]) == []


def test_an_uncertain_guess_gives_way_to_a_preferred_language_and_a_confident_one_does_not() -> None:
    guessed = detect("Hello world")[0]
    assert guessed.language != "en" and guessed.confidence < CONFIDENT  # the reason for preferring
    assert detect_preferring("Hello world", {"en"}).language == "en"
    assert detect_preferring("Hello world", set()) == guessed
    french = detect_preferring("Un homme fait du vélo.", {"en"})
    assert french.language == "fr" and french.confidence >= CONFIDENT
