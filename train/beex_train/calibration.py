"""Threshold sweeps of every exit policy, the default-policy choice, CSV and plot.

Calibration runs on a split the model did not train on (train.py holds out
part of the training file); dev numbers are only reported, never chosen on.
"""
from __future__ import annotations

import csv

import numpy as np

from . import policies

GRIDS_CLASSIFICATION = {
    "entropy": [0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    "confidence": [0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99],
    "entropy_reduction": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5],
    "patience": [0.0],
    "learned": [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98],
}
GRIDS_REGRESSION = {
    "patience": [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0],
    "learned": [0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
}
TOLERANCE = 0.5  # points of accuracy (or Pearson x 100) below full depth


def metric(pred, gold, regression: bool) -> float:
    if regression:
        if np.std(pred) == 0 or np.std(gold) == 0:
            return 0.0
        return float(np.corrcoef(pred, gold)[0, 1]) * 100
    return float((pred == gold).mean()) * 100


def to_values(outputs, lo, hi):
    """Regression exit logits -> values in label units, as the engine reports them."""
    return lo + (hi - lo) / (1 + np.exp(-outputs[..., 0]))


def predictions(outputs, regression, value_range):
    return to_values(outputs, *value_range) if regression else outputs.argmax(-1)


def evaluate(outputs, lte, gold, regression, value_range, policy, threshold, patience):
    """(metric, mean 1-based exit layer) of one setting."""
    preds = predictions(outputs, regression, value_range)
    signal = to_values(outputs, *value_range) if regression else outputs
    ex = policies.exit_layers(signal, policy, threshold, patience, regression, lte)
    return metric(preds[ex, np.arange(len(gold))], gold, regression), float(ex.mean() + 1)


def settings(regression: bool, layers: int):
    grid = GRIDS_REGRESSION if regression else GRIDS_CLASSIFICATION
    for policy, thresholds in grid.items():
        for th in thresholds:
            for pat in (range(1, min(4, layers)) if policy == "patience" else [1]):
                yield policy, th, pat


def sweep(outputs, lte, gold, regression, value_range):
    """Every setting's metric and mean exit layer; `learned` only where
    there are LTE head outputs (lte not None)."""
    layers = outputs.shape[0]
    rows = []
    for policy, th, pat in settings(regression, layers):
        if policy == "learned" and lte is None:
            continue
        m, e = evaluate(outputs, lte, gold, regression, value_range, policy, th, pat)
        rows.append({"policy": policy, "threshold": th, "patience": pat, "metric": m,
                     "mean_exit_layer": e})
    return rows


def fastest_within(rows, full: float, policy: str | None = None):
    """The setting with the lowest mean exit layer whose metric is within
    TOLERANCE of full depth (of one policy, or of all); None if none is."""
    ok = [r for r in rows if r["metric"] >= full - TOLERANCE and (policy is None or r["policy"] == policy)]
    return min(ok, key=lambda r: (r["mean_exit_layer"], -r["metric"])) if ok else None


def write_csv(path, rows):
    keys = list(rows[0].keys())
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def plot(path, rows, full: dict, title: str, metric_name: str, layers: int, default=None):
    """Metric vs mean exit layer, one curve per policy; one panel per split
    present in the rows' `<split>_metric` columns. Returns False when
    matplotlib is missing (the CSV still has every number)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    splits = [k[:-len("_metric")] for k in rows[0] if k.endswith("_metric")]
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4.2), squeeze=False)
    for ax, split in zip(axes[0], splits):
        for policy in dict.fromkeys(r["policy"] for r in rows):
            pts = sorted((r[f"{split}_mean_exit_layer"], r[f"{split}_metric"]) for r in rows
                         if r["policy"] == policy)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=policy)
        ax.axhline(full[split], color="k", lw=0.8, ls="--", label="full depth")
        ax.axhline(full[split] - TOLERANCE, color="gray", lw=0.6, ls=":", label="full - 0.5")
        if default is not None:
            ax.plot([default[f"{split}_mean_exit_layer"]], [default[f"{split}_metric"]], "k*", ms=12,
                    label="default")
        ax.set_xlim(0.8, layers + 0.2)
        ax.set_xlabel("mean exit layer")
        ax.set_ylabel(metric_name)
        ax.set_title(f"{title}: {split}")
        ax.grid(alpha=0.3)
        lo = min(min(r[f"{split}_metric"] for r in rows), full[split] - 3)
        ax.set_ylim(max(lo, full[split] - 15), full[split] + 2)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
