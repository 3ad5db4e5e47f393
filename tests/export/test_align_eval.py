"""Gold alignments, AER, the text heed is fed for gold tokens, eflomal's baseline and `python -m export.align_eval`."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from export.align_eval import main
from export.align_gold import read_gold, score_alignments
from export.eflomal_baseline import eflomal_alignments
from export.errors import ExportInputError
from export.gold_text import Recaser, gold_text, original_lines, token_spans
from export.manifest import read_manifest, verify_files
from service.runtime import Translator
from service.runtime.alignment import ALIGNMENT_METHODS
from tests.tiny_corpus import PAIRS

# Three tiny-corpus pairs without their final period, so that the detokenized text's whitespace words are
# exactly the gold tokens and the runtime's own word alignment can be compared with what the command scored.
TINY_GOLD = [
    ("a man is riding a bike", "ein mann fährt fahrrad", "0-0 1-1 2p2 3-2 4p3 5-3"),
    ("a man is playing the guitar", "ein mann spielt gitarre", "0-0 1-1 2p2 3-2 4p3 5-3"),
    ("the children are laughing", "die kinder lachen", "0-0 1-1 2p2 3-2"),
]


def write_gold(folder: Path, rows: list[tuple[str, str, str]], name: str = "tiny.en-de") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / name
    for suffix, column in (("en", 0), ("de", 1), ("gold", 2)):
        Path(f"{prefix}.{suffix}").write_text("".join(row[column] + "\n" for row in rows), encoding="utf-8")
    return prefix


def links_of(line: str) -> set[tuple[int, int]]:
    """Pharaoh links; a Possible link "ipj" counts as "i-j"."""
    return {(int(i), int(j)) for i, _, j in (link.replace("p", "-").partition("-") for link in line.split())}


def sure_links(line: str) -> set[tuple[int, int]]:
    return links_of(" ".join(link for link in line.split() if "p" not in link))


def test_aer_precision_and_recall_of_a_hand_made_gold_set(tmp_path: Path) -> None:
    gold = read_gold(write_gold(tmp_path, [("a b c", "x y z", "0-0 1-1 2p1"), ("a b", "x y", "0-0 1p1")]))
    assert gold.sure == [{(0, 0), (1, 1)}, {(0, 0)}]
    assert gold.possible == [{(0, 0), (1, 1), (2, 1)}, {(0, 0), (1, 1)}]
    predicted = [{(0, 0), (2, 1), (2, 2)}, {(0, 0), (1, 1)}]
    scores = score_alignments(predicted, gold)
    # |A| = 5, |S| = 3, |A∩S| = 2 (both 0-0), |A∩P| = 4 (0-0, 2-1, 0-0, 1-1): AER = 1 - 6/8
    assert (scores.aer, scores.precision, scores.recall, scores.links) == (pytest.approx(0.25), 0.8, 2 / 3, 5)
    perfect = score_alignments(gold.sure, gold)
    assert (perfect.aer, perfect.precision, perfect.recall) == (0.0, 1.0, 1.0)
    assert score_alignments([set(), set()], gold).aer == 1.0
    assert score_alignments(predicted, gold).percentages() == {"aer": 25.0, "precision": 80.0, "recall": 66.67}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("a b", "x y", "0-0 1:1")], "'1:1' is not a link"),
        ([("a b", "x y", "0-0 2-1")], "link 2-1 points past the sentence"),
        ([("a b", "", "0-0")], "empty sentence"),
    ],
)
def test_a_bad_gold_set_is_refused_with_its_file_and_line(
    tmp_path: Path, rows: list[tuple[str, str, str]], message: str
) -> None:
    with pytest.raises(ExportInputError, match=message):
        read_gold(write_gold(tmp_path, [("a", "x", "0-0"), *rows]))


def test_a_gold_set_needs_its_pair_in_its_name_and_matching_files(tmp_path: Path) -> None:
    with pytest.raises(ExportInputError, match="language pair with English"):
        read_gold(write_gold(tmp_path, [("a", "x", "0-0")], name="tiny"))
    prefix = write_gold(tmp_path, [("a", "x", "0-0")])
    Path(f"{prefix}.gold").write_text("0-0\n0-0\n", encoding="utf-8")
    with pytest.raises(ExportInputError, match="same, non-zero number of lines"):
        read_gold(prefix)


def test_gold_tokens_are_found_in_the_detokenized_text_by_their_characters() -> None:
    text, spans, original = gold_text(["d&apos;", "un", "camion", "."], "fr")
    assert (text, original) == ("d'un camion.", False)
    assert [text[b:e] for b, e in spans] == ["d'", "un", "camion", "."]
    assert token_spans("A Man.", ["a", "man", "."]) == [(0, 1), (2, 5), (5, 6)]  # case aside
    assert token_spans("a man", ["a", "men"]) is None
    assert token_spans("a man extra", ["a", "man"]) is None  # the whole text must be the tokens


def test_the_original_line_is_fed_when_it_holds_the_gold_tokens() -> None:
    assert gold_text(["a", "man", "."], "en", original="A  man.") == ("A  man.", [(0, 1), (3, 6), (6, 7)], True)
    text, spans, original = gold_text(["a", "man", "."], "en", original="A woman.")
    assert (text, spans, original) == ("a man.", [(0, 1), (2, 5), (5, 6)], False)


def test_recasing_gives_words_their_usual_spelling_inside_sentences() -> None:
    lines = ["Ein Hund läuft.", "Der Hund und der Mann.", "Ein Mann. Der Mann.", "Ein Mann. Der Hund."]
    recaser = Recaser.learn(lines, "de")
    assert recaser.spellings == {"hund": "Hund", "mann": "Mann", "der": "Der"}  # first words aside: Der 2x, der 1x
    assert recaser.recase(["ein", "hund", "und", "der", "mann", "."]) == ["Ein", "Hund", "und", "Der", "Mann", "."]
    assert recaser.recase(["ABC", "hund"]) == ["ABC", "Hund"]  # capitals in the gold stay
    text, spans, _ = gold_text(["ein", "hund", "."], "de", recaser=recaser)
    assert (text, spans) == ("Ein Hund.", [(0, 3), (4, 8), (8, 9)])


def test_recasing_is_learned_once_and_then_read_from_the_cache(tmp_path: Path) -> None:
    corpus = tmp_path / "train.de.gz"
    with gzip.open(corpus, "wt", encoding="utf-8") as out:
        out.write("Ein Hund läuft.\nDer Hund schläft.\n")
    learned = Recaser.cached(corpus, "de", tmp_path / "cache")
    [cached_file] = (tmp_path / "cache").iterdir()
    assert json.loads(cached_file.read_text(encoding="utf-8")) == learned.spellings == {"hund": "Hund"}
    cached_file.write_text('{"hund": "HUND"}', encoding="utf-8")  # proves the second call reads the cache
    assert Recaser.cached(corpus, "de", tmp_path / "cache").spellings == {"hund": "HUND"}


def test_original_lines_come_from_multi30k_val_by_the_gold_sets_line_numbers(tmp_path: Path) -> None:
    prefix = write_gold(tmp_path / "gold", [("a", "x", "0-0"), ("b", "y", "0-0")])
    corpus = tmp_path / "raw"
    corpus.mkdir()
    with gzip.open(corpus / "val.en.gz", "wt", encoding="utf-8") as out:
        out.write("First.\nSecond.\nThird.\n")
    assert original_lines(prefix, "en", corpus) is None  # no NAME.lines
    Path(f"{prefix}.lines").write_text("2\n0\n", encoding="utf-8")
    assert original_lines(prefix, "en", corpus) == ["Third.", "First."]
    assert original_lines(prefix, "de", corpus) is None  # no val.de.gz
    Path(f"{prefix}.lines").write_text("3\n0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="outside"):
        original_lines(prefix, "en", corpus)


def test_the_command_scores_every_method_and_records_them(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "en-de"
    shutil.copytree(tiny_bundle, bundle)
    prefix = write_gold(tmp_path / "gold", TINY_GOLD)
    empty_corpus = tmp_path / "raw"  # no Multi30k here: no original lines, no recasing
    empty_corpus.mkdir()
    arguments = ["--bundle", str(bundle), "--gold", str(prefix), "--no-eflomal", "--corpus", str(empty_corpus)]
    arguments += ["--cache-dir", str(tmp_path / "cache"), "--thresholds", "0.2,0.4", "--write"]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "tiny.en-de: 3 pairs (0 of 6 sentences as their original line" in printed
    for row in (*ALIGNMENT_METHODS, "threshold@0.2", "threshold@0.4"):
        assert f"\n  {row} " in printed
    assert "eflomal" not in printed

    verify_files(bundle)  # only manifest.json changed
    entry = read_manifest(bundle)["alignment"]["tiny.en-de"]
    assert entry["sentences"] == 3 and entry["threshold"] == 0.3 and "eflomal" not in entry
    assert entry["command"] == "python -m export.align_eval " + " ".join(arguments) and entry["date"]
    # what /v1/align answers for the same texts, scored by hand, is what the command recorded
    translator = Translator.load(bundle)
    sources, targets = [row[0] for row in TINY_GOLD], [row[1] for row in TINY_GOLD]
    for method in ALIGNMENT_METHODS:
        aligned = [links_of(t.alignment) for t in translator.force_decode(sources, targets, alignment_method=method)]
        sure = [sure_links(row[2]) for row in TINY_GOLD]
        possible = [links_of(row[2]) for row in TINY_GOLD]
        found = sum(len(a) for a in aligned)
        with_sure = sum(len(a & s) for a, s in zip(aligned, sure, strict=True))
        with_possible = sum(len(a & p) for a, p in zip(aligned, possible, strict=True))
        expected = {
            "aer": round(100 * (1 - (with_sure + with_possible) / (found + sum(map(len, sure)))), 2),
            "precision": round(100 * with_possible / found, 2),
            "recall": round(100 * with_sure / sum(map(len, sure)), 2),
        }
        assert entry["methods"][method] == expected, method


def test_the_command_refuses_a_gold_set_of_another_pair_and_leaves_the_manifest(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "en-de"
    shutil.copytree(tiny_bundle, bundle)
    before = (bundle / "manifest.json").read_text(encoding="utf-8")
    prefix = write_gold(tmp_path / "gold", [("a", "x", "0-0")], name="tiny.en-fr")
    Path(f"{prefix}.fr").write_text("x\n", encoding="utf-8")
    assert main(["--bundle", str(bundle), "--gold", str(prefix), "--no-eflomal", "--write"]) == 2
    assert "the bundle translates en-de; the gold set tiny.en-fr is en-fr" in capsys.readouterr().err
    assert main(["--bundle", str(bundle), "--gold", str(prefix), "--thresholds", "2"]) == 2
    assert (bundle / "manifest.json").read_text(encoding="utf-8") == before


def test_eflomal_aligns_a_tiny_corpus_and_is_read_back_from_its_cache(tmp_path: Path) -> None:
    corpus = tmp_path / "raw"
    corpus.mkdir()
    for language, column in (("en", 0), ("de", 1)):
        with gzip.open(corpus / f"train.{language}.gz", "wt", encoding="utf-8") as out:
            out.write("".join(pair[column] + "\n" for pair in PAIRS * 5))
    gold = read_gold(write_gold(tmp_path / "gold", TINY_GOLD))
    cache = tmp_path / "cache"
    aligned = eflomal_alignments(gold, cache, (corpus / "train.en.gz", corpus / "train.de.gz"))
    assert len(aligned) == 3
    for links, english, german in zip(aligned, gold.english, gold.other, strict=True):
        assert links and all(0 <= i < len(english) and 0 <= j < len(german) for i, j in links)
    assert score_alignments(aligned, gold).aer < 0.5  # "man"/"mann", "a"/"ein" recur in every sentence
    [entry] = cache.iterdir()
    assert sorted(path.name for path in entry.iterdir()) == ["gold.fwd", "gold.rev"]
    (entry / "gold.fwd").write_text("0-0\n0-0\n0-0\n", encoding="utf-8")
    (entry / "gold.rev").write_text("0-0\n0-0\n0-0\n", encoding="utf-8")
    assert eflomal_alignments(gold, cache, (corpus / "train.en.gz", corpus / "train.de.gz")) == [{(0, 0)}] * 3


def test_the_command_prints_eflomal_beside_heed(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "raw"
    corpus.mkdir()
    for language, column in (("en", 0), ("de", 1)):
        with gzip.open(corpus / f"train.{language}.gz", "wt", encoding="utf-8") as out:
            out.write("".join(pair[column] + "\n" for pair in PAIRS))
    prefix = write_gold(tmp_path / "gold", TINY_GOLD)
    arguments = ["--bundle", str(tiny_bundle), "--gold", str(prefix), "--corpus", str(corpus)]
    assert main([*arguments, "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert "\n  eflomal " in printed and "\n  source-argmax " in printed
    assert "(0 of 6 sentences as their original line, the rest recased" in printed
