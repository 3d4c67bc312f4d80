#!/usr/bin/env python3
"""Writes docs/MODELS.md from models/*.report.json (written by train/train.py)."""
import datetime
import glob
import json
import os
import platform

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
rows = []
for path in sorted(glob.glob(os.path.join(root, "models", "*.report.json"))):
    with open(path) as f:
        r = json.load(f)
    d = r["default"]
    layers = len(r["per_exit"])
    rows.append(
        f"| {r['name']} | {r['metric']} | {r['dev_examples']} | {r['full_depth']:.2f} | "
        f"{d['policy']} (threshold {d['threshold']}, patience {d['patience']}) | {d['metric']:.2f} | "
        f"{d['mean_exit_layer']:.2f} / {layers} | {100 * (1 - d['mean_exit_layer'] / layers):.1f}% | "
        f"{r['bundle_bytes']:,} | {r['train_seconds']} |")
    per_exit = " ".join(f"{m:.1f}" for m in r["per_exit"])
    rows.append(f"| | per-exit dev {r['metric']} (exits 1..{layers}): {per_exit} | | | | | | | | |")

with open(os.path.join(root, "docs", "MODELS.md"), "w") as f:
    f.write(f"""# Bundled models

Produced by `scripts/train-bundled-models.sh` (training on 2 CPU cores of an
AMD Zen 4 VM, Debian's torch 1.13) and tabulated by
`scripts/models-report.py` on {datetime.date.today()} ({platform.machine()}).
Dev sets are GLUE's (`../shared/data/glue`); the default exit policy is the
fastest calibrated setting within 0.5 point of full depth, chosen on the same
dev set, so the "default" column is optimistic until measured on held-out
data. Block FLOPs saved = 1 − mean exit layer / layers.

| model | metric | dev examples | full depth | default exit policy | metric at default | mean exit layer | block FLOPs saved | bundle bytes | train seconds |
|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n")
print(open(os.path.join(root, "docs", "MODELS.md")).read())
