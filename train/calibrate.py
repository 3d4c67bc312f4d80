#!/usr/bin/env python3
"""Calibrates the exit policy of an existing bundle on labelled data.

Runs the C++ engine (tools/beex-trace) over a GLUE-format TSV to get every
exit's output for every example, exactly as beex-server computes them; sweeps
each policy's threshold (and patience); writes the metric versus mean exit
layer curve as CSV and PNG; and, with --out, writes the bundle again with the
fastest setting within 0.5 point of full depth as its default exit policy.
Weights are copied byte for byte: only the header changes.

Example (recalibrate the bundled SST-2 model on data of your own):
    /usr/bin/python3 train/calibrate.py --bundle models/sst2.beex --task sst2 \\
        --data my_labelled.tsv --out models/sst2.beex
Calibrate on data the model was not trained on, and report on other data.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from beex_train import calibration, data, loader  # noqa: E402
from beex_train.bundle import read_bundle, rewrite_header  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, help="the bundle to calibrate")
    p.add_argument("--data", required=True, help="labelled GLUE-format TSV to calibrate on")
    data.add_column_args(p)
    p.add_argument("--out", help="write the calibrated bundle here (may be --bundle itself)")
    p.add_argument("--stem", help="CSV and PNG path stem (default: the bundle's path without .beex, "
                   "plus the data file's name)")
    p.add_argument("--engine", default=os.environ.get("BEEX_TRACE", os.path.join(REPO, "build", "tools",
                                                                                 "beex-trace")),
                   help="the beex-trace binary (default: $BEEX_TRACE or build/tools/beex-trace)")
    a = p.parse_args(argv)
    a.columns = data.columns_from_args(a)
    if a.columns is None:
        p.error("give --task, or --text-a and --label")
    if a.stem is None:
        base = os.path.splitext(os.path.basename(a.data))[0]
        a.stem = f"{os.path.splitext(a.bundle)[0]}.{base}"
    return a


def gold_labels(header: dict, examples) -> np.ndarray:
    """Gold values (regression) or output indices (classification)."""
    if header["task"] == "regression":
        return np.array([float(e.label) for e in examples])
    names = header.get("labels", [])
    values = loader.label_values(header)
    raw = sorted({e.label for e in examples})
    if values is None:
        if set(raw) <= set(names):
            values = names  # the file holds the label names themselves
        else:
            # Bundles from before label_values was stored: train.py numbered
            # the sorted distinct label values of its training file.
            values = raw
            if len(values) != len(names):
                sys.exit(f"{len(values)} distinct labels {values} in the data for {len(names)} outputs {names}")
            print(f"note: mapping labels {values} to outputs {names} in sorted order", file=sys.stderr)
    index = {v: i for i, v in enumerate(values)}
    unknown = sorted(set(raw) - set(index))
    if unknown:
        sys.exit(f"labels {unknown} are not among the model's {values}")
    return np.array([index[e.label] for e in examples])


def trace(engine: str, bundle: str, examples, pair: bool):
    """[layers, n, C] outputs and [layers, n] LTE scores (None without heads)."""
    clean = lambda s: s.replace("\t", " ").replace("\n", " ")  # noqa: E731
    lines = [clean(e.text_a) + (("\t" + clean(e.text_b or "")) if pair else "") for e in examples]
    run = subprocess.run([engine, "--model", bundle], input="\n".join(lines) + "\n", capture_output=True,
                         text=True)
    if run.returncode != 0:
        sys.exit(f"{engine} failed: {run.stderr.strip()}")
    out = run.stdout.splitlines()
    layers, outputs, has_lte = map(int, out[0].split())
    values = np.array([[float(v) for v in line.split()] for line in out[1:]], dtype=np.float64)
    if values.shape[0] != len(examples):
        sys.exit(f"{engine} answered {values.shape[0]} of {len(examples)} inputs")
    logits = values[:, :layers * outputs].reshape(len(examples), layers, outputs).transpose(1, 0, 2)
    lte = values[:, layers * outputs:].T if has_lte else None
    return logits, lte


def main(argv=None):
    args = parse_args(argv)
    header, _ = read_bundle(args.bundle)
    regression = header["task"] == "regression"
    pair = bool(header.get("pair_input"))
    if pair != (args.columns.text_b is not None):
        sys.exit(f"model {header['name']} takes {'sentence pairs' if pair else 'single sentences'}; "
                 f"{'name' if pair else 'drop'} the second text column (--text-b)")
    examples = data.read_tsv(args.data, args.columns)
    gold = gold_labels(header, examples)
    rng = (header["regression_range"]["min"], header["regression_range"]["max"]) if regression else None
    outputs, lte = trace(args.engine, args.bundle, examples, pair)
    layers = outputs.shape[0]
    metric_name = "pearson" if regression else "accuracy"

    preds = calibration.predictions(outputs, regression, rng)
    per_exit = [calibration.metric(preds[i], gold, regression) for i in range(layers)]
    full = per_exit[-1]
    swept = calibration.sweep(outputs, lte, gold, regression, rng)
    best = calibration.fastest_within(swept, full) or {
        "policy": "none", "threshold": 0.0, "patience": 1, "metric": full, "mean_exit_layer": float(layers)}
    # The plot and CSV name their columns by split (calibration.plot).
    split = lambda r: {"policy": r["policy"], "threshold": r["threshold"], "patience": r["patience"],  # noqa: E731
                       "calibration_metric": r["metric"], "calibration_mean_exit_layer": r["mean_exit_layer"]}
    rows = [split(r) for r in swept]
    best = split(best)
    old = header.get("exit_policy", {"policy": "none", "threshold": 0.0, "patience": 1})
    old_m, old_e = (full, float(layers)) if old["policy"] == "none" else calibration.evaluate(
        outputs, lte, gold, regression, rng, old["policy"], old["threshold"], old["patience"])

    csv_path, png_path = args.stem + ".calibration.csv", args.stem + ".calibration.png"
    calibration.write_csv(csv_path, rows)
    plotted = calibration.plot(png_path, rows, {"calibration": full}, header["name"],
                               "Pearson x 100" if regression else "accuracy %", layers, best)

    print(f"model {header['name']}: {len(examples)} examples from {args.data}")
    print(f"{metric_name} per exit: " + " ".join(f"{v:.2f}" for v in per_exit))
    print(f"bundle's default  {old['policy']} threshold {old['threshold']} patience {old['patience']}: "
          f"{metric_name} {old_m:.2f} at mean exit layer {old_e:.2f}")
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pick = calibration.fastest_within(swept, full, policy)
        if pick:
            print(f"  {policy:18s} th {pick['threshold']:<5} pat {pick['patience']}: {pick['metric']:.2f} "
                  f"at mean exit layer {pick['mean_exit_layer']:.2f}")
        else:
            print(f"  {policy:18s} no setting within {calibration.TOLERANCE} of full depth")
    print(f"calibrated default {best['policy']} threshold {best['threshold']} patience {best['patience']}: "
          f"{metric_name} {best['calibration_metric']:.2f} (full depth {full:.2f}) at mean exit layer "
          f"{best['calibration_mean_exit_layer']:.2f} of {layers}")
    print(f"curve: {csv_path}" + (f" and {png_path}" if plotted else " (no matplotlib: no plot)"))

    if args.out:
        def update(h):
            h["exit_policy"] = {"policy": best["policy"], "threshold": best["threshold"],
                                "patience": best["patience"]}
            h.setdefault("metadata", {}).update({
                "calibrated_on": os.path.basename(args.data),
                "calibration_examples": str(len(examples)),
                f"calibration_{metric_name}_full": f"{full:.2f}",
                f"calibration_{metric_name}_default": f"{best['calibration_metric']:.2f}",
                "calibration_mean_exit_layer": f"{best['calibration_mean_exit_layer']:.3f}"})
        rewrite_header(args.bundle, args.out, update)
        print(f"wrote {args.out} with the calibrated default exit policy")
    return best


if __name__ == "__main__":
    main()
