"""Exit policies, decided on per-exit outputs; engine/exit_policy.cc mirrors each.

Classification decisions use the softmax of the exit's logits; entropies are
normalised by log(C) so thresholds lie in [0, 1] whatever the class count.
Regression decisions use the predicted value in label units. `learned` is
BERxiT's learning-to-exit: exit when the block's LTE head predicts, with at
least `threshold`, that this exit's answer is right (it works for both tasks).
"""
from __future__ import annotations

import numpy as np

CLASSIFICATION_POLICIES = ("none", "entropy", "confidence", "patience", "entropy_reduction", "learned")
REGRESSION_POLICIES = ("none", "patience", "learned")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def normalized_entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-30, None))).sum(-1) / np.log(p.shape[-1])


def exit_layers(outputs: np.ndarray, policy: str, threshold: float = 0.0, patience: int = 1,
                regression: bool = False, lte: np.ndarray | None = None) -> np.ndarray:
    """outputs: [layers, n, C] logits, or [layers, n] values for regression;
    lte: [layers, n] LTE head outputs (needed by `learned` only).

    Returns the 0-based exit index of each sample; samples no rule stops exit
    at the last layer.
    """
    layers, n = outputs.shape[0], outputs.shape[1]
    exit_at = np.full(n, layers - 1)
    done = np.zeros(n, dtype=bool)
    if policy == "none":
        return exit_at
    if regression and policy not in REGRESSION_POLICIES:
        raise ValueError(f"policy {policy} is not defined for regression")
    if policy == "learned" and lte is None:
        raise ValueError("policy learned needs the LTE head outputs")
    probs = None if regression else softmax(outputs)
    ent = None if regression else normalized_entropy(probs)
    streak = np.zeros(n, dtype=int)
    for i in range(layers):
        if policy == "entropy":
            stop = ent[i] < threshold
        elif policy == "confidence":
            stop = probs[i].max(-1) >= threshold
        elif policy == "entropy_reduction":
            if i == 0:
                stop = np.zeros(n, dtype=bool)
            else:
                prev = ent[i - 1]
                reduction = np.where(prev > 0, (prev - ent[i]) / np.where(prev > 0, prev, 1), 0.0)
                stop = reduction < threshold
        elif policy == "learned":
            stop = lte[i] >= threshold
        elif policy == "patience":
            if i > 0:
                same = (np.abs(outputs[i] - outputs[i - 1]) < threshold) if regression else \
                    (probs[i].argmax(-1) == probs[i - 1].argmax(-1))
                streak = np.where(same, streak + 1, 0)
            stop = streak >= patience
        else:
            raise ValueError(f"unknown policy {policy}")
        newly = stop & ~done
        exit_at[newly] = i
        done |= stop
    return exit_at
