"""Training-side tests: binarization gradient, bundle bit layout, TSV loading,
and a tiny end-to-end training run. Run: python3 -m unittest discover tests/python"""
import json
import os
import random
import struct
import sys
import tempfile
import unittest
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.environ.get("BEEX_SOURCE_DIR", "."), "train"))
import train as train_cli  # noqa: E402
from beex_train import bundle, data  # noqa: E402
from beex_train.model import ApproxSign  # noqa: E402


def surrogate(x):
    """Bi-Real's ApproxSign polynomial whose derivative the backward pass uses."""
    return torch.where(x < -1, -torch.ones_like(x),
           torch.where(x < 0, 2 * x + x * x,
           torch.where(x < 1, 2 * x - x * x, torch.ones_like(x))))


class ApproxSignTest(unittest.TestCase):
    def test_forward_is_sign_with_zero_positive(self):
        x = torch.tensor([-2.0, -0.1, 0.0, 0.3, 5.0])
        self.assertEqual(ApproxSign.apply(x).tolist(), [-1, -1, 1, 1, 1])

    def test_backward_is_derivative_of_second_order_polynomial(self):
        x = torch.tensor([-1.5, -0.9, -0.5, -0.01, 0.01, 0.25, 0.75, 0.99, 1.2], dtype=torch.float64,
                         requires_grad=True)
        ApproxSign.apply(x).sum().backward()
        eps = 1e-6
        numeric = (surrogate(x.detach() + eps) - surrogate(x.detach() - eps)) / (2 * eps)
        np.testing.assert_allclose(x.grad.numpy(), numeric.numpy(), atol=1e-5)
        # Magnitude matters: the gradient shrinks as |w| grows (unlike plain STE).
        self.assertGreater(x.grad[3], x.grad[2])
        self.assertEqual(x.grad[0].item(), 0.0)


class PackSignsTest(unittest.TestCase):
    def test_bit_layout_matches_the_engine(self):
        w = np.ones((2, 70), dtype=np.float32)
        w[0, 0] = -1
        w[0, 63] = -1
        w[1, 64] = -1
        w[1, 69] = -1
        packed = bundle.pack_signs(w)
        self.assertEqual(packed.shape, (2, 2))
        self.assertEqual(int(packed[0, 0]), (1 << 0) | (1 << 63))
        self.assertEqual(int(packed[0, 1]), 0)
        self.assertEqual(int(packed[1, 1]), (1 << 0) | (1 << 5))


class ReadTsvTest(unittest.TestCase):
    def test_named_and_numbered_columns(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.tsv")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\ufeffid\tleft\tright\tscore\n1\tthe sky is blue\tblue is the sky\t4.5\n"
                        "2\ttoo\tfew\n3\tcats purr\tdogs bark\t0.5\n")
            rows = data.read_tsv(path, data.Columns("left", "right", "score"))
            self.assertEqual([(r.text_a, r.text_b, r.label) for r in rows],
                             [("the sky is blue", "blue is the sky", "4.5"),
                              ("cats purr", "dogs bark", "0.5")])
            rows = data.read_tsv(path, data.Columns("1", None, "0", header=False))
            self.assertEqual(rows[0].text_a, "left")
            with self.assertRaises(ValueError):
                data.read_tsv(path, data.Columns("nope", None, "score"))


class TinyTrainingTest(unittest.TestCase):
    """A two-block model on made-up sentences: loss falls, bundle is well formed."""

    def test_loss_falls_and_bundle_is_written(self):
        rng = random.Random(0)
        good = ["lovely", "brilliant", "warm", "delightful", "moving", "sharp"]
        bad = ["boring", "awful", "tedious", "clumsy", "dreary", "hollow"]
        filler = ["the", "film", "was", "really", "quite", "story", "and", "acting"]

        def sentence(words):
            s = [rng.choice(filler) for _ in range(rng.randint(2, 6))]
            s.insert(rng.randrange(len(s) + 1), rng.choice(words))
            return " ".join(s)

        with tempfile.TemporaryDirectory() as d:
            for split, n in (("train", 600), ("dev", 100)):
                with open(os.path.join(d, f"{split}.tsv"), "w") as f:
                    f.write("sentence\tlabel\n")
                    for i in range(n):
                        f.write(f"{sentence(good if i % 2 else bad)}\t{i % 2}\n")
            out = os.path.join(d, "tiny.beex")
            train_cli.main(["--text-a", "sentence", "--label", "label", "--train", f"{d}/train.tsv",
                            "--dev", f"{d}/dev.tsv", "--out", out, "--vocab-size", "60",
                            "--hidden", "32", "--heads", "2", "--ffn", "32", "--layers", "2",
                            "--max-len", "16", "--epochs", "4", "--batch-size", "32", "--lr", "3e-3",
                            "--threads", "1", "--log-every", "1000"])
            with open(os.path.join(d, "tiny.report.json")) as f:
                report = json.load(f)
            self.assertLess(report["loss_end"], 0.6 * report["loss_start"])
            self.assertGreater(report["full_depth"], 90.0)
            with open(out, "rb") as f:
                blob = f.read()
            self.assertEqual(blob[:8], b"BEEXMDL\0")
            version, hlen, hcrc, _ = struct.unpack("<IIII", blob[8:24])
            header = blob[24:24 + hlen]
            self.assertEqual(zlib.crc32(header), hcrc)
            h = json.loads(header)
            self.assertEqual(h["architecture"]["layers"], 2)
            self.assertEqual(h["tensors"]["blocks.0.qkv.weight"]["dtype"], "b1")
            data_start = (24 + hlen + 63) // 64 * 64
            self.assertEqual(len(blob) - data_start, h["data_size"])
            self.assertEqual(zlib.crc32(blob[data_start:]), h["data_crc32"])


if __name__ == "__main__":
    unittest.main()
