"""Rebuilds the PyTorch model of a bundle: the inverse of train.py's export.

A bundle can then teach another model (train.py --teacher) or run in PyTorch
and ONNX Runtime for comparisons (bench/run.py). 1-bit tensors come back as
scale * sign, which binarize() maps to itself, so the rebuilt model computes
what the bundle stores.
"""
from __future__ import annotations

import json

import torch

from .bundle import read_bundle
from .model import EarlyExitEncoder, ModelConfig
from .tokenizer import Tokenizer

_EMBEDDINGS = {"emb.tok": "tok.weight", "emb.pos": "pos.weight", "emb.type": "typ.weight",
               "emb.match": "match.weight", "emb.ln.gamma": "ln_emb.weight", "emb.ln.beta": "ln_emb.bias"}


def _state_name(name: str) -> str:
    if name in _EMBEDDINGS:
        return _EMBEDDINGS[name]
    name = name.replace(".gamma", ".weight").replace(".beta", ".bias")
    if name.startswith("exits.") and ".lte." in name:
        i = name.split(".")[1]
        return name.replace(f"exits.{i}.lte.", f"lte.{i}.")
    return name


def load_model(path: str) -> tuple[EarlyExitEncoder, Tokenizer, dict]:
    """(model in eval mode, its tokenizer, the bundle header)."""
    header, tensors = read_bundle(path)
    dtypes = {name: t["dtype"] for name, t in header["tensors"].items()}
    a = header["architecture"]
    cfg = ModelConfig(vocab_size=a["vocab_size"], hidden=a["hidden"], heads=a["heads"], ffn=a["ffn"],
                      layers=a["layers"], max_len=a["max_len"], type_vocab=a["type_vocab"],
                      num_outputs=a["num_outputs"], ln_eps=a["ln_eps"], dropout=0.0,
                      binary=a.get("binary", True), emb_bits=1 if dtypes["emb.tok"] == "b1" else 16,
                      match="emb.match" in tensors, act_bits=a.get("activation_bits", 0))
    state = {}
    for name, value in tensors.items():
        if name.endswith(".scale") or name == header["tokenizer"]["tensor"]:
            continue
        if dtypes[name] == "b1":  # its scale: blocks.I.L.weight -> blocks.I.L.scale, emb.E -> emb.E.scale
            value = value * tensors[name.removesuffix(".weight") + ".scale"][:, None]
        state[_state_name(name)] = torch.from_numpy(value)
    model = EarlyExitEncoder(cfg)
    model.load_state_dict(state)  # strict: a tensor the model lacks means a format this code does not know
    model.eval()
    return model, Tokenizer.from_bundle(header, tensors), header


def label_values(header: dict) -> list[str] | None:
    """The raw label values the bundle's outputs stand for, in output order
    (recorded since calibrate.py; None for older bundles)."""
    raw = header.get("metadata", {}).get("label_values")
    return json.loads(raw) if raw else None
