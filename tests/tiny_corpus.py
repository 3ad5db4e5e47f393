"""A tiny English-German corpus the test suite trains real models on."""

PAIRS: list[tuple[str, str]] = [
    ("A man is riding a bike.", "Ein Mann fährt Fahrrad."),
    ("A woman is reading a book.", "Eine Frau liest ein Buch."),
    ("Two dogs are playing in the snow.", "Zwei Hunde spielen im Schnee."),
    ("A child is eating an apple.", "Ein Kind isst einen Apfel."),
    ("The girl is swimming in the lake.", "Das Mädchen schwimmt im See."),
    ("A man is playing the guitar.", "Ein Mann spielt Gitarre."),
    ("Three people are walking on the beach.", "Drei Menschen gehen am Strand spazieren."),
    ("A dog is running through the grass.", "Ein Hund rennt durch das Gras."),
    ("The boy is jumping into the water.", "Der Junge springt ins Wasser."),
    ("A woman is cooking dinner.", "Eine Frau kocht das Abendessen."),
    ("Two men are sitting on a bench.", "Zwei Männer sitzen auf einer Bank."),
    ("A cat is sleeping on the sofa.", "Eine Katze schläft auf dem Sofa."),
    ("The children are laughing.", "Die Kinder lachen."),
    ("A man in a red shirt is climbing a rock.", "Ein Mann in einem roten Hemd klettert auf einen Felsen."),
    ("A little girl is painting a picture.", "Ein kleines Mädchen malt ein Bild."),
    ("People are waiting for the bus.", "Menschen warten auf den Bus."),
    ("A group of friends is dancing.", "Eine Gruppe von Freunden tanzt."),
    ("The old man is fishing.", "Der alte Mann angelt."),
    ("A worker is fixing the road.", "Ein Arbeiter repariert die Straße."),
    ("Two girls are singing on a stage.", "Zwei Mädchen singen auf einer Bühne."),
]

# Small enough to overfit in seconds on two cores, large enough to exercise every code path.
TINY_MODEL_ARGS = [
    "--src-vocab-size", "120", "--tgt-vocab-size", "120",
    "--emb-dim", "32", "--enc-hidden", "32", "--dec-hidden", "64", "--attn-dim", "32", "--readout-dim", "32",
    "--dropout", "0.0", "--label-smoothing", "0.0", "--batch-size", "5", "--lr", "0.005",
    "--early-stop", "1000", "--patience", "1000", "--threads", "1",
]  # fmt: skip


def write_corpus(folder, pairs=PAIRS):  # type: ignore[no-untyped-def]
    """Writes en/de files; the same pairs serve as training and validation data."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.en").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    (folder / "train.de").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return folder / "train.en", folder / "train.de"
