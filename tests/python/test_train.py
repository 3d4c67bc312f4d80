"""Training-side tests: binarization gradient, bundle bit layout, TSV loading,
and a tiny end-to-end training run. Run: python3 -m unittest discover tests/python"""
import json
import os
import random
import struct
import sys
import tempfile
import unittest
from unittest import mock
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.environ.get("BEEX_SOURCE_DIR", "."), "train"))
import train as train_cli  # noqa: E402
from beex_train import bundle, data, loader, policies  # noqa: E402
from beex_train.model import ApproxSign  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_fixture  # noqa: E402


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


class PolicyTest(unittest.TestCase):
    """Each policy's decision on hand-made logits; the same cases as
    tests/unit/exit_policy_test.cc, so Python and the engine agree."""

    def stop_block(self, outputs, policy, threshold=0.0, patience=1, regression=False, lte=None):
        out = np.array(outputs, dtype=np.float64)
        if regression:
            out = out[:, None]
        out = out[:, None]  # one sample
        ex = policies.exit_layers(out[..., 0] if regression else out, policy, threshold, patience, regression,
                                  None if lte is None else np.array(lte)[:, None])
        return int(ex[0]) + 1

    def test_entropy(self):
        self.assertEqual(self.stop_block([[0, 0], [1, 0], [2, 0], [4, 0]], "entropy", 0.55), 3)

    def test_confidence(self):
        self.assertEqual(self.stop_block([[0, 0], [0, 1], [0, 2], [0, 3]], "confidence", 0.9), 4)
        self.assertEqual(self.stop_block([[0, 0], [0, 1], [0, 2], [0, 3]], "confidence", 0.7), 2)

    def test_patience_classification(self):
        self.assertEqual(self.stop_block([[1, 0], [0, 1], [0, 1], [1, 0], [1, 0], [1, 0], [0, 1]],
                                         "patience", patience=2), 6)

    def test_patience_regression(self):
        self.assertEqual(self.stop_block([1.0, 2.0, 2.05, 2.06], "patience", 0.1, 1, regression=True), 3)
        self.assertEqual(self.stop_block([1.0, 2.0, 2.05, 2.5, 2.55, 2.56, 3], "patience", 0.1, 2,
                                         regression=True), 6)

    def test_entropy_reduction(self):
        self.assertEqual(self.stop_block([[0, 0], [2, 0], [2.1, 0], [5, 0]], "entropy_reduction", 0.1), 3)

    def test_learned_reads_only_the_lte_head(self):
        self.assertEqual(self.stop_block([[9, 0], [0, 0], [0, 0], [0, 0]], "learned", 0.8,
                                         lte=[0.3, 0.79, 0.8, 0.1]), 3)
        self.assertEqual(self.stop_block([2.5, 2.5, 2.5], "learned", 0.9, regression=True, lte=[0.5, 0.95, 1]), 2)
        with self.assertRaises(ValueError):
            self.stop_block([[0, 0]], "learned", 0.5)

    def test_none_runs_every_block(self):
        self.assertEqual(self.stop_block([[9, 0], [9, 0], [9, 0]], "none"), 3)


class LossTest(unittest.TestCase):
    def test_soft_routing_weights_sum_to_layers_and_favour_confident_exits(self):
        logits = torch.tensor([[[0.0, 0.0]], [[5.0, 0.0]], [[0.1, 0.0]]])  # [layers, batch, C]
        w = train_cli.soft_routing_weights(logits, regression=False)
        self.assertAlmostEqual(float(w.sum()), 3.0, places=5)
        self.assertGreater(float(w[1, 0]), float(w[2, 0]))  # exit 2 is sure of itself
        reg = train_cli.soft_routing_weights(logits[..., :1], regression=True)
        np.testing.assert_allclose(reg[:, 0].numpy(), [0.5, 1.0, 1.5], rtol=1e-6)  # depth weights

    def test_alternating_schedule_trains_only_the_last_exit_on_odd_steps(self):
        from beex_train.model import EarlyExitEncoder, ModelConfig
        torch.manual_seed(0)
        model = EarlyExitEncoder(ModelConfig(vocab_size=20, hidden=16, heads=2, ffn=16, layers=3, max_len=8))
        args = train_cli.parse_args(["--text-a", "s", "--label", "l", "--train", "x", "--dev", "x", "--out", "x"])
        ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
        mask = ids != 0
        y = torch.tensor([0, 1])
        for step, want_early_grad in ((1, False), (2, True)):
            model.zero_grad()
            loss, _, _ = train_cli.training_loss(model, ids, torch.zeros_like(ids), mask, y, step, args)
            loss.backward()
            early = model.exits[0].weight.grad
            self.assertEqual(early is not None and float(early.abs().sum()) > 0, want_early_grad, step)
            self.assertGreater(float(model.exits[2].weight.grad.abs().sum()), 0)
            self.assertGreater(float(model.lte[0].weight.grad.abs().sum()), 0)  # LTE learns on both

    def test_match_flags_mark_tokens_found_in_the_other_text(self):
        from beex_train.model import match_flags
        ids = torch.tensor([[2, 5, 6, 1, 3, 6, 7, 1, 3, 0]])
        types = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 1, 0]])
        # 6 occurs in both texts; unk (1), [SEP] (3) and padding never match.
        self.assertEqual(match_flags(ids, types, ids != 0).tolist(), [[0, 0, 1, 0, 0, 1, 0, 0, 0, 0]])

    def test_distillation_term(self):
        logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]], [[1.0, -1.0], [0.5, 0.5]]])  # [layers, batch, C]
        y = torch.tensor([0, 1])
        hard = train_cli.per_exit_losses(logits, y, False)
        # No weight on the teacher: the label loss alone.
        np.testing.assert_allclose(train_cli.per_exit_losses(logits, y, False, logits[-1], 0.0, 2.0).numpy(),
                                   hard.numpy(), rtol=1e-6)
        # All weight on a teacher that agrees with the last exit: that exit costs nothing.
        kd = train_cli.per_exit_losses(logits, y, False, logits[-1], 1.0, 2.0)
        np.testing.assert_allclose(kd[-1].numpy(), [0.0, 0.0], atol=1e-6)
        # T^2 * KL(softmax(t/T) || softmax(s/T)) for exit 1, sample 1: t = (1, -1), s = (2, 0), T = 2.
        pt, ps = np.exp([0.5, -0.5]) / np.exp([0.5, -0.5]).sum(), np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
        self.assertAlmostEqual(float(kd[0, 0]), 4 * float((pt * np.log(pt / ps)).sum()), places=5)
        half = train_cli.per_exit_losses(logits, y, False, logits[-1], 0.5, 2.0)
        np.testing.assert_allclose(half.numpy(), (0.5 * hard + 0.5 * kd).numpy(), rtol=1e-5)
        # Regression: squared distance to the teacher's prediction.
        reg = train_cli.per_exit_losses(torch.zeros(1, 2, 1), torch.tensor([0.5, 1.0]), True,
                                        torch.tensor([[0.0], [100.0]]), 1.0)
        np.testing.assert_allclose(reg.numpy(), [[0.0, 0.25]], atol=1e-6)

    def test_lte_targets(self):
        logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
        np.testing.assert_array_equal(train_cli.lte_targets(logits, torch.tensor([0, 0]), False, None).numpy(),
                                      [[1, 0]])
        reg = train_cli.lte_targets(torch.zeros(1, 2, 1), torch.tensor([0.5, 1.0]), True, (0, 4))
        np.testing.assert_allclose(reg.numpy(), [[1.0, 1 - np.tanh(2.0)]], rtol=1e-6)


class TinyTrainingTest(unittest.TestCase):
    """A small model on made-up sentences: loss falls, the bundle reads back,
    calibration files exist, checkpoints resume to the same bundle."""

    def test_loss_falls_bundle_reads_back_and_resume_is_exact(self):
        with tempfile.TemporaryDirectory() as d:
            tiny_fixture.train(d)
            with open(os.path.join(d, "tiny.report.json")) as f:
                report = json.load(f)
            self.assertLess(report["loss_end"], 0.6 * report["loss_start"])
            self.assertGreater(report["full_depth"], 85.0)
            for name in ("tiny.calibration.csv", "tiny.calibration.png"):
                self.assertTrue(os.path.getsize(os.path.join(d, name)) > 0, name)
            self.assertIn(report["default"]["policy"], policies.CLASSIFICATION_POLICIES)
            header, tensors = bundle.read_bundle(os.path.join(d, "tiny.beex"))
            self.assertEqual(header["tensors"]["blocks.0.qkv.weight"]["dtype"], "b1")
            self.assertEqual(header["tensors"]["emb.tok"]["dtype"], "b1")
            self.assertEqual(header["tensors"]["tokenizer.model"]["dtype"], "u8z")
            self.assertIn("exits.2.lte.weight", header["tensors"])
            import sentencepiece as spm
            sp = spm.SentencePieceProcessor(model_proto=tensors["tokenizer.model"].tobytes())
            self.assertEqual(sp.encode("THE Film", out_type=str), sp.encode("the film", out_type=str))
            self.assertEqual(set(np.unique(tensors["emb.tok"])), {-1.0, 1.0})
            # The bundle rebuilt as a PyTorch model computes the golden outputs.
            model, tok, _ = loader.load_model(os.path.join(d, "tiny.beex"))
            with open(os.path.join(d, "tiny.golden.json")) as f:
                case = json.load(f)["cases"][0]
            self.assertEqual(list(tok.encode(case["text_a"], case["text_b"])), [case["ids"], case["type_ids"]])
            ids = torch.tensor([case["ids"]])
            out, lte = model(ids, torch.tensor([case["type_ids"]]), ids != 0)
            np.testing.assert_allclose(out[:, 0].detach().numpy(), case["outputs"], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(lte[:, 0].detach().numpy(), case["lte"], rtol=1e-5, atol=1e-5)
            parts = report["size"]["parts"]
            self.assertEqual(sum(parts.values()), report["bundle_bytes"])
            with open(os.path.join(d, "tiny.beex"), "rb") as f:
                full_run = f.read()
            # Interrupted after 20 steps, then resumed: the same bundle, byte for byte.
            os.remove(os.path.join(d, "tiny.beex"))
            with self.assertRaises(SystemExit):
                tiny_fixture.train(d, extra=["--stop-after", "20"])
            # The checkpoint loads onto the run's device, so one written on a
            # GPU resumes on a machine without one.
            with mock.patch.object(torch, "load", wraps=torch.load) as load:
                tiny_fixture.train(d, extra=["--resume"])
            self.assertEqual(load.call_args.kwargs.get("map_location"), torch.device("cpu"))
            with open(os.path.join(d, "tiny.beex"), "rb") as f:
                self.assertEqual(f.read(), full_run)

    def test_dense_twin_regression_exports_onnx(self):
        with tempfile.TemporaryDirectory() as d:
            tiny_fixture.train(d, regression=True, extra=["--dense"])
            with open(os.path.join(d, "tiny.report.json")) as f:
                report = json.load(f)
            self.assertGreater(report["full_depth"], 50.0)  # Pearson x 100 on made-up scores
            header, tensors = bundle.read_bundle(os.path.join(d, "tiny.beex"))
            self.assertFalse(header["architecture"]["binary"])
            self.assertEqual(header["tensors"]["blocks.0.qkv.weight"]["dtype"], "f32")
            self.assertEqual(header["tensors"]["emb.tok"]["dtype"], "f16")
            with open(os.path.join(d, "tiny.onnx"), "rb") as f:
                onnx = f.read()
            self.assertGreater(len(onnx), 10000)
            self.assertIn(b"exit_logits", onnx)
            self.assertIn(b"exit_lte", onnx)

            # The twin teaches a binarized student of the same task...
            student = os.path.join(d, "student")
            os.makedirs(student)
            tiny_fixture.train(student, regression=True, extra=["--teacher", os.path.join(d, "tiny.beex")])
            header, _ = bundle.read_bundle(os.path.join(student, "tiny.beex"))
            self.assertEqual(header["metadata"]["teacher"], "tiny.beex")
            self.assertTrue(header["architecture"]["binary"])
            # ...but not a classifier.
            with self.assertRaisesRegex(SystemExit, "regression model"):
                tiny_fixture.train(student, extra=["--teacher", os.path.join(d, "tiny.beex")])


if __name__ == "__main__":
    unittest.main()
