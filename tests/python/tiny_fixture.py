"""A tiny model trained on made-up sentences, for tests that need a fresh bundle.

    python3 tests/python/tiny_fixture.py OUT_DIR
writes OUT_DIR/classify/ (single sentences, 2 classes) and OUT_DIR/regress/
(sentence pairs, a score; with the exact-match embedding), each with
tiny.beex, tiny.golden.json and tiny.report.json (about 10 s each on one core).
The sentences are generated here, not taken from any dataset.
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))
import train as train_cli  # noqa: E402

GOOD = ["lovely", "brilliant", "warm", "delightful", "moving", "sharp"]
BAD = ["boring", "awful", "tedious", "clumsy", "dreary", "hollow"]
FILLER = ["the", "film", "was", "really", "quite", "story", "and", "acting"]


def write_data(d, regression, seed=0):
    rng = random.Random(seed)

    def sentence(words, k=1):
        s = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
        for _ in range(k):
            s.insert(rng.randrange(len(s) + 1), rng.choice(words))
        return " ".join(s)

    for split, n in (("train", 600), ("dev", 100)):
        with open(os.path.join(d, f"{split}.tsv"), "w") as f:
            if regression:  # score = number of GOOD words in the pair, 0..4
                f.write("a\tb\tscore\n")
                for _ in range(n):
                    ka, kb = rng.randint(0, 2), rng.randint(0, 2)
                    a = sentence(GOOD, ka) if ka else sentence(BAD)
                    b = sentence(GOOD, kb) if kb else sentence(BAD)
                    f.write(f"{a}\t{b}\t{ka + kb}\n")
            else:
                f.write("sentence\tlabel\n")
                for i in range(n):
                    f.write(f"{sentence(GOOD if i % 2 else BAD)}\t{i % 2}\n")


def train(d, regression=False, extra=()):
    write_data(d, regression)
    cols = (["--text-a", "a", "--text-b", "b", "--label", "score", "--regression", "--range", "0", "4"]
            if regression else ["--text-a", "sentence", "--label", "label"])
    train_cli.main(cols + ["--train", f"{d}/train.tsv", "--dev", f"{d}/dev.tsv",
                           "--out", os.path.join(d, "tiny.beex"), "--golden", os.path.join(d, "tiny.golden.json"),
                           "--vocab-size", "60", "--hidden", "32", "--heads", "2", "--ffn", "32", "--layers", "3",
                           "--max-len", "24", "--epochs", "4", "--early-stop", "0", "--batch-size", "32",
                           "--lr", "3e-3", "--threads", "1", "--log-every", "1000", "--seed", "3"] + list(extra))


if __name__ == "__main__":
    for kind in ("classify", "regress"):
        out = os.path.join(sys.argv[1], kind)
        os.makedirs(out, exist_ok=True)
        train(out, regression=kind == "regress")
