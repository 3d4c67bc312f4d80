"""train/calibrate.py against the tiny bundles (tests/python/tiny_fixture.py).

Run by ctest (calibration_test) with BEEX_TINY_DIR and BEEX_TRACE set; not a
test_*.py module, so python_train_test, which has neither, skips it.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(REPO, "train"))
import calibrate  # noqa: E402
from beex_train import bundle, calibration  # noqa: E402

TINY = os.environ["BEEX_TINY_DIR"]
TRACE = os.environ["BEEX_TRACE"]
COLUMNS = {"classify": ["--text-a", "sentence", "--label", "label"],
           "regress": ["--text-a", "a", "--text-b", "b", "--label", "score"]}


def run(kind, out_dir, extra=()):
    d = os.path.join(TINY, kind)
    argv = ["--bundle", os.path.join(d, "tiny.beex"), "--data", os.path.join(d, "dev.tsv"),
            "--engine", TRACE, "--stem", os.path.join(out_dir, kind)] + COLUMNS[kind] + list(extra)
    return calibrate.main(argv)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


class CalibrateTest(unittest.TestCase):
    def test_engine_sweep_matches_training_time_evaluation(self):
        # train.py evaluated every setting on dev.tsv with PyTorch's outputs;
        # the engine's traces of the same file must give the same curve, up
        # to one example flipping at a threshold (float rounding differs).
        for kind in ("classify", "regress"):
            with self.subTest(kind), tempfile.TemporaryDirectory() as out:
                run(kind, out)
                report = json.load(open(os.path.join(TINY, kind, "tiny.report.json")))
                n = report["dev_examples"]
                trained = {(r["policy"], r["threshold"], r["patience"]): r for r in report["calibration"]}
                rows = read_csv(os.path.join(out, f"{kind}.calibration.csv"))
                self.assertEqual(len(rows), len(trained))
                layers = report["args"]["layers"]
                for r in rows:
                    t = trained[(r["policy"], float(r["threshold"]), int(r["patience"]))]
                    tol = 100.0 / n + 1e-6 if kind == "classify" else 2.0
                    self.assertAlmostEqual(float(r["calibration_metric"]), t["dev_metric"], delta=tol)
                    self.assertAlmostEqual(float(r["calibration_mean_exit_layer"]), t["dev_mean_exit_layer"],
                                           delta=layers / n + 1e-6)
                self.assertTrue(os.path.exists(os.path.join(out, f"{kind}.calibration.png")))

    def test_default_is_fastest_within_tolerance_and_only_header_changes(self):
        with tempfile.TemporaryDirectory() as out:
            target = os.path.join(out, "calibrated.beex")
            best = run("classify", out, ["--out", target])
            rows = read_csv(os.path.join(out, "classify.calibration.csv"))
            full = calibration.metric(*self._full_depth(), False)
            ok = [r for r in rows if float(r["calibration_metric"]) >= full - calibration.TOLERANCE]
            fastest = min(float(r["calibration_mean_exit_layer"]) for r in ok)
            self.assertAlmostEqual(best["calibration_mean_exit_layer"], fastest)

            src = os.path.join(TINY, "classify", "tiny.beex")
            h_old, t_old = bundle.read_bundle(src)
            h_new, t_new = bundle.read_bundle(target)
            self.assertEqual(h_new["exit_policy"], {"policy": best["policy"], "threshold": best["threshold"],
                                                    "patience": best["patience"]})
            self.assertEqual(h_new["metadata"]["calibrated_on"], "dev.tsv")
            self.assertEqual(h_new["data_crc32"], h_old["data_crc32"])
            self.assertEqual(sorted(t_new), sorted(t_old))
            # The engine loads the rewritten bundle and computes the same.
            texts = "a lovely film\nthe story was dreary\n"
            traced = [subprocess.run([TRACE, "--model", p], input=texts, capture_output=True, text=True,
                                     check=True).stdout for p in (src, target)]
            self.assertEqual(traced[0], traced[1])

    def _full_depth(self):
        d = os.path.join(TINY, "classify")
        args = calibrate.parse_args(["--bundle", os.path.join(d, "tiny.beex"), "--data",
                                     os.path.join(d, "dev.tsv")] + COLUMNS["classify"])
        header, _ = bundle.read_bundle(args.bundle)
        examples = calibrate.data.read_tsv(args.data, args.columns)
        outputs, _ = calibrate.trace(TRACE, args.bundle, examples, False)
        return outputs[-1].argmax(-1), calibrate.gold_labels(header, examples)

    def test_bundle_without_label_values_maps_sorted_labels(self):
        # Bundles trained before label_values was stored (the bundled ones).
        with tempfile.TemporaryDirectory() as out:
            legacy = os.path.join(out, "legacy.beex")
            bundle.rewrite_header(os.path.join(TINY, "classify", "tiny.beex"), legacy,
                                  lambda h: h["metadata"].pop("label_values"))
            self.assertNotIn("label_values", bundle.read_bundle(legacy)[0]["metadata"])
            d = os.path.join(TINY, "classify")
            common = ["--data", os.path.join(d, "dev.tsv"), "--engine", TRACE] + COLUMNS["classify"]
            got = calibrate.main(["--bundle", legacy, "--stem", os.path.join(out, "a")] + common)
            want = calibrate.main(["--bundle", os.path.join(d, "tiny.beex"), "--stem",
                                   os.path.join(out, "b")] + common)
            self.assertEqual(got, want)

    def test_refuses_a_pair_mismatch_and_unknown_labels(self):
        d = os.path.join(TINY, "classify")
        with self.assertRaises(SystemExit) as e:
            calibrate.main(["--bundle", os.path.join(d, "tiny.beex"), "--data", os.path.join(d, "dev.tsv"),
                            "--engine", TRACE, "--text-a", "sentence", "--text-b", "sentence",
                            "--label", "label"])
        self.assertIn("single sentences", str(e.exception))
        with tempfile.TemporaryDirectory() as out:
            bad = os.path.join(out, "bad.tsv")
            with open(bad, "w") as f:
                f.write("sentence\tlabel\nthe acting was warm\t7\n")
            with self.assertRaises(SystemExit) as e:
                calibrate.main(["--bundle", os.path.join(d, "tiny.beex"), "--data", bad, "--engine", TRACE,
                                "--stem", os.path.join(out, "x")] + COLUMNS["classify"])
            self.assertIn("'7'", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
