#!/usr/bin/env python3
"""Writes the tables of docs/MODELS.md from models/*.report.json (written by
train/train.py) and models/twins/*-fp32.report.json (the dense FP32 twins), and
copies the calibration plots to docs/plots/. The hand-written notes of
docs/MODELS.md (everything after the line '<!-- notes -->') are kept.

    /usr/bin/python3 scripts/models-report.py
"""
import datetime
import glob
import json
import os
import platform
import shutil

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
doc = os.path.join(root, "docs", "MODELS.md")
MARK = "<!-- notes -->"


def load(pattern):
    """Reports by file stem: two bundles of one task (sst2, sst2-xnor) share
    the model name inside."""
    out = {}
    for path in sorted(glob.glob(os.path.join(root, pattern))):
        with open(path) as f:
            out[os.path.basename(path).removesuffix(".report.json")] = json.load(f)
    return out


def saved(exit_layer, layers):
    return 100 * (1 - exit_layer / layers)


models = load("models/*.report.json")
twins = load("models/twins/*-fp32.report.json")
os.makedirs(os.path.join(root, "docs", "plots"), exist_ok=True)

main = ["| model | metric | dev examples | full depth | default exit policy (calibrated on held-out train) "
        "| at default | mean exit layer | block FLOPs saved | bundle bytes | vs FP32 weights | FP32 twin (full depth) "
        "| FP32 twin bundle bytes | train minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
policy_rows, size_rows, plots = [], [], []
for name, r in models.items():
    layers = len(r["per_exit"])
    d = r["default"]
    twin = twins.get(name.split("-")[0] + "-fp32")  # sst2-xnor: the sst2 twin
    tw_metric = f"{twin['full_depth']:.2f}" if twin else "not trained"
    tw_bytes = f"{twin['bundle_bytes']:,}" if twin else "-"
    main.append(
        f"| {name} | {r['metric']} | {r['dev_examples']} | {r['full_depth']:.2f} | {d['policy']} "
        f"(threshold {d['threshold']}, patience {d['patience']}) | {d['dev_metric']:.2f} | "
        f"{d['dev_mean_exit_layer']:.2f} / {layers} | {saved(d['dev_mean_exit_layer'], layers):.1f}% | "
        f"{r['bundle_bytes']:,} | {r['size']['compression']:.1f}x | {tw_metric} | {tw_bytes} | "
        f"{r['train_seconds'] / 60:.1f} |")
    policy_rows.append(f"\n**{name}** (dev {r['metric']} at full depth {r['full_depth']:.2f}; per exit 1..{layers}: "
                       + " ".join(f"{m:.1f}" for m in r["per_exit"]) + ")\n")
    policy_rows.append("| policy | threshold | patience | held-out metric | dev metric | dev mean exit layer "
                       "| block FLOPs saved |")
    policy_rows.append("|---|---|---|---|---|---|---|")
    for p, q in r["per_policy_default"].items():
        policy_rows.append(f"| {p} | {q['threshold']} | {q['patience']} | {q['holdout_metric']:.2f} | "
                           f"{q['dev_metric']:.2f} | {q['dev_mean_exit_layer']:.2f} | "
                           f"{saved(q['dev_mean_exit_layer'], layers):.1f}% |")
    missing = [p for p in ("entropy", "confidence", "patience", "entropy_reduction", "learned")
               if p not in r["per_policy_default"]]
    if missing:
        policy_rows.append(f"\nNo setting of {', '.join(missing)} stayed within 0.5 point of full depth on the "
                           "held-out split (or the policy does not apply to this task).")
    s = r["size"]
    size_rows.append(f"\n**{name}**: {r['bundle_bytes']:,} bytes; FP32 weights of the same architecture "
                     f"{s['fp32_weight_bytes']:,} bytes; {s['compression']:.1f}x smaller\n")
    size_rows.append("| part | bytes |")
    size_rows.append("|---|---|")
    for part, n in s["parts"].items():
        size_rows.append(f"| {part} | {n:,} |")
    # Training writes the plot beside the bundle, where git ignores it; the
    # committed copy in docs/plots/ stands when this checkout has no fresh one.
    png = os.path.join(root, "models", f"{name}.calibration.png")
    kept = os.path.join(root, "docs", "plots", f"{name}.calibration.png")
    if os.path.exists(png):
        shutil.copy(png, kept)
    if os.path.exists(kept):
        plots.append(f"![{name} calibration](plots/{name}.calibration.png)\n")

notes = ""
if os.path.exists(doc):
    text = open(doc).read()
    if MARK in text:
        notes = text[text.index(MARK):]
if not notes:
    notes = MARK + "\n"

with open(doc, "w") as f:
    f.write(f"""# Bundled models

Trained by `scripts/train-bundled-models.sh` (Debian's torch 1.13 on 2 CPU cores
shared with other work, {platform.machine()}); tables written by
`scripts/models-report.py` on {datetime.date.today()}. Dev sets are GLUE's
(`../shared/data/glue`). 10% of each training file is held out: it picks the
epoch to keep and calibrates the default exit policy (the fastest setting
within 0.5 point of full depth on the held-out split). The dev set is only
reported on, so the "at default" column is an honest estimate. Block FLOPs
saved = 1 − mean exit layer / layers (all blocks cost the same per token).

| | |
|---|---|
{chr(10).join(main)}

## Each policy's calibrated setting, measured on dev

Threshold sweeps of every policy are in `models/<name>.calibration.csv`
(held-out and dev metric and mean exit layer per setting) and plotted below.
{chr(10).join(policy_rows)}

## Bundle size by part
{chr(10).join(size_rows)}

## Calibration plots

{chr(10).join(plots)}
""".replace("| | |\n|---|---|\n", ""))
    f.write(notes)
print(open(doc).read())
