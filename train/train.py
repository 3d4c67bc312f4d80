#!/usr/bin/env python3
"""Trains a binarized early-exit encoder on a GLUE-format TSV and exports a bundle.

Example (the bundled SST-2 model):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 train/train.py --task sst2 \
        --train ../shared/data/glue/SST-2/train.tsv --dev ../shared/data/glue/SST-2/dev.tsv \
        --out models/sst2.beex --golden tests/data/sst2.golden.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from beex_train import data, policies  # noqa: E402
from beex_train.bundle import BundleWriter  # noqa: E402
from beex_train.model import EarlyExitEncoder, ModelConfig  # noqa: E402
from beex_train.tokenizer import CLS_ID, PAD_ID, SEP_ID, UNK_ID, Tokenizer, train_sentencepiece  # noqa: E402

GOLDEN_INPUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_inputs.json")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=sorted(data.PRESETS), help="GLUE column preset")
    p.add_argument("--text-a", help="first text column (name, or number when --no-header)")
    p.add_argument("--text-b", help="second text column, for sentence-pair tasks")
    p.add_argument("--label", help="label column")
    p.add_argument("--no-header", action="store_true", help="the TSV has no header row")
    p.add_argument("--regression", action="store_true", help="labels are real values (default for stsb)")
    p.add_argument("--range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="regression output range (default 0 5)")
    p.add_argument("--label-names", help="comma-separated display names for the sorted label values")
    p.add_argument("--train", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--out", required=True, help="bundle path to write")
    p.add_argument("--golden", help="also write golden per-exit outputs for the C++ tests here")
    p.add_argument("--name", help="model name stored in the bundle (default: --task or out file stem)")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-train", type=int, default=0, help="use only this many training rows (0: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--dense", action="store_true", help="train the FP32 twin (no binarization)")
    p.add_argument("--log-every", type=int, default=50)
    a = p.parse_args(argv)
    preset = data.PRESETS.get(a.task) if a.task else None
    a.columns = data.Columns(a.text_a or (preset and preset.text_a), a.text_b or (preset and preset.text_b),
                             a.label or (preset and preset.label),
                             header=(not a.no_header) if not preset or a.text_a else preset.header)
    if not a.columns.text_a or not a.columns.label:
        p.error("give --task, or --text-a and --label")
    a.regression = a.regression or a.task == "stsb"
    a.range = a.range or [0.0, 5.0]
    if a.label_names is None and a.task in ("sst2", "cola"):
        a.label_names = "negative,positive" if a.task == "sst2" else "unacceptable,acceptable"
    if a.label_names is None and a.task == "mrpc":
        a.label_names = "not_equivalent,equivalent"
    a.name = a.name or a.task or os.path.splitext(os.path.basename(a.out))[0]
    return a


def encode(tok: Tokenizer, examples):
    return [tok.encode(e.text_a, e.text_b) for e in examples]


def batches(encoded, targets, batch_size, shuffle, rng):
    """Length-bucketed batches, so little compute goes to padding."""
    order = list(range(len(encoded)))
    if shuffle:
        rng.shuffle(order)
    chunk = batch_size * 50
    out = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: len(encoded[i][0]))
        out += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    if shuffle:
        rng.shuffle(out)
    for idx in out:
        s = max(len(encoded[i][0]) for i in idx)
        ids = torch.full((len(idx), s), PAD_ID, dtype=torch.long)
        types = torch.zeros((len(idx), s), dtype=torch.long)
        for r, i in enumerate(idx):
            n = len(encoded[i][0])
            ids[r, :n] = torch.tensor(encoded[i][0])
            types[r, :n] = torch.tensor(encoded[i][1])
        yield idx, ids, types, ids != PAD_ID, targets[idx]


def exit_losses(outputs, y, regression):
    """Loss of every exit, [layers]; the training loss sums them (all exits learn)."""
    if regression:
        return ((torch.sigmoid(outputs[..., 0]) - y[None]) ** 2).mean(-1)
    return torch.stack([F.cross_entropy(o, y) for o in outputs])


@torch.no_grad()
def predict(model, encoded, batch_size=256):
    """Outputs of every exit for every example: [layers, n, C]."""
    model.eval()
    out = torch.zeros(model.c.layers, len(encoded), model.c.num_outputs)
    dummy = torch.zeros(len(encoded))
    for idx, ids, types, mask, _ in batches(encoded, dummy, batch_size, False, None):
        out[:, idx] = model(ids, types, mask)
    return out.numpy()


def to_values(outputs, lo, hi):
    """Regression outputs -> values in label units, as the engine reports them."""
    return lo + (hi - lo) / (1 + np.exp(-outputs[..., 0]))


def metric(pred, gold, regression):
    if regression:
        return float(np.corrcoef(pred, gold)[0, 1]) * 100
    return float((pred == gold).mean()) * 100


def per_exit_predictions(outputs, args):
    return to_values(outputs, *args.range) if args.regression else outputs.argmax(-1)


def calibrate(outputs, gold, args, layers):
    """Sweeps each policy; the fastest within 0.5 point of full depth is the default."""
    preds = per_exit_predictions(outputs, args)
    signal = to_values(outputs, *args.range) if args.regression else outputs
    full = metric(preds[-1], gold, args.regression)
    rows = []
    grid = {
        "entropy": [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6],
        "confidence": [0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99],
        "entropy_reduction": [0.0, 0.02, 0.05, 0.1, 0.2, 0.3],
        "patience": [0.5],
    }
    if args.regression:
        grid = {"patience": [0.05, 0.1, 0.2, 0.3, 0.5]}
    for policy, thresholds in grid.items():
        for th in thresholds:
            for pat in ([1, 2, 3] if policy == "patience" else [1]):
                ex = policies.exit_layers(signal, policy, th, pat, args.regression)
                m = metric(preds[ex, np.arange(len(gold))], gold, args.regression)
                rows.append({"policy": policy, "threshold": th, "patience": pat, "metric": m,
                             "mean_exit_layer": float(ex.mean() + 1)})
    ok = [r for r in rows if r["metric"] >= full - 0.5]
    best = min(ok, key=lambda r: (r["mean_exit_layer"], -r["metric"])) if ok else \
        {"policy": "none", "threshold": 0.0, "patience": 1, "metric": full, "mean_exit_layer": float(layers)}
    return full, best, rows


def main(argv=None):
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()

    train_ex = data.read_tsv(args.train, args.columns)
    dev_ex = data.read_tsv(args.dev, args.columns)
    if args.max_train:
        train_ex = random.Random(args.seed).sample(train_ex, min(args.max_train, len(train_ex)))
    pair = args.columns.text_b is not None
    if args.regression:
        lo, hi = args.range
        ytr = torch.tensor([(float(e.label) - lo) / (hi - lo) for e in train_ex])
        gold_dev = np.array([float(e.label) for e in dev_ex])
        labels, num_outputs = [], 1
    else:
        values = sorted({e.label for e in train_ex})
        index = {v: i for i, v in enumerate(values)}
        ytr = torch.tensor([index[e.label] for e in train_ex])
        gold_dev = np.array([index.get(e.label, -1) for e in dev_ex])
        labels = args.label_names.split(",") if args.label_names else values
        if len(labels) != len(values):
            sys.exit(f"--label-names has {len(labels)} names for {len(values)} label values {values}")
        num_outputs = len(values)
    print(f"read {len(train_ex)} train / {len(dev_ex)} dev examples "
          f"({'pair' if pair else 'single'}, {'regression' if args.regression else f'{num_outputs} classes'})")

    texts = [e.text_a for e in train_ex] + [e.text_b for e in train_ex if e.text_b]
    spm_proto = train_sentencepiece(texts, args.vocab_size)
    tok = Tokenizer(spm_proto, args.max_len)
    enc_tr, enc_dev = encode(tok, train_ex), encode(tok, dev_ex)
    print(f"tokenizer: {tok.vocab_size} pieces; mean train length {np.mean([len(e[0]) for e in enc_tr]):.1f}")

    cfg = ModelConfig(vocab_size=tok.vocab_size, hidden=args.hidden, heads=args.heads, ffn=args.ffn,
                      layers=args.layers, max_len=args.max_len, num_outputs=num_outputs,
                      binary=not args.dense)
    model = EarlyExitEncoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(enc_tr) / args.batch_size)
    total = max(1, int(steps_per_epoch * args.epochs))
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))))
    rng = random.Random(args.seed)
    step, t_train, loss_history = 0, time.time(), []
    while step < total:
        model.train()
        for _, ids, types, mask, y in batches(enc_tr, ytr, args.batch_size, True, rng):
            losses = exit_losses(model(ids, types, mask), y, args.regression)
            loss = losses.sum()
            loss_history.append(loss.item())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % args.log_every == 0 or step == total:
                el = time.time() - t_train
                print(f"step {step}/{total} loss {loss.item():.4f} (last exit {losses[-1].item():.4f}) "
                      f"{el:.0f}s elapsed, {el / step * (total - step):.0f}s left", flush=True)
            if step >= total:
                break

    # The bundle stores embeddings in float16; evaluate and write goldens with
    # exactly those values so the engine can be checked against them.
    with torch.no_grad():
        for e in (model.tok, model.pos, model.typ):
            e.weight.copy_(e.weight.half().float())
    dev_out = predict(model, enc_dev)
    preds = per_exit_predictions(dev_out, args)
    per_exit = [metric(preds[i], gold_dev, args.regression) for i in range(cfg.layers)]
    full, best, rows = calibrate(dev_out, gold_dev, args, cfg.layers)
    metric_name = "pearson" if args.regression else "accuracy"
    print(f"dev {metric_name} per exit: " + " ".join(f"{m:.2f}" for m in per_exit))
    print(f"default exit policy: {best['policy']} threshold {best['threshold']} patience {best['patience']}: "
          f"{metric_name} {best['metric']:.2f} (full depth {full:.2f}), mean exit layer "
          f"{best['mean_exit_layer']:.2f} of {cfg.layers}")

    writer = BundleWriter()
    export(writer, model, spm_proto)
    header = {
        "name": args.name,
        "task": "regression" if args.regression else "classification",
        "labels": labels,
        "regression_range": {"min": args.range[0], "max": args.range[1]} if args.regression else None,
        "pair_input": pair,
        "architecture": {"vocab_size": cfg.vocab_size, "hidden": cfg.hidden, "heads": cfg.heads,
                         "ffn": cfg.ffn, "layers": cfg.layers, "max_len": cfg.max_len,
                         "type_vocab": cfg.type_vocab, "num_outputs": cfg.num_outputs,
                         "ln_eps": cfg.ln_eps, "binary": cfg.binary},
        "tokenizer": {"type": "sentencepiece", "tensor": "tokenizer.model", "pad_id": PAD_ID,
                      "unk_id": UNK_ID, "cls_id": CLS_ID, "sep_id": SEP_ID},
        "exit_policy": {"policy": best["policy"], "threshold": best["threshold"],
                        "patience": best["patience"]},
        "metadata": {"train_file": os.path.basename(args.train), "train_examples": str(len(train_ex)),
                     "dev_examples": str(len(dev_ex)), f"dev_{metric_name}_full": f"{full:.2f}",
                     f"dev_{metric_name}_default": f"{best['metric']:.2f}",
                     "dev_mean_exit_layer": f"{best['mean_exit_layer']:.3f}", "seed": str(args.seed),
                     "epochs": str(args.epochs)},
    }
    header = {k: v for k, v in header.items() if v is not None}
    size = writer.write(args.out, header)
    report = {"name": args.name, "dev_examples": len(dev_ex), "metric": metric_name, "per_exit": per_exit,
              "full_depth": full, "default": best,
              "loss_start": float(np.mean(loss_history[:max(1, len(loss_history) // 10)])),
              "loss_end": float(np.mean(loss_history[-max(1, len(loss_history) // 10):])), "bundle_bytes": size,
              "train_seconds": round(time.time() - t0), "calibration": rows}
    with open(os.path.splitext(args.out)[0] + ".report.json", "w") as f:
        json.dump(report, f, indent=1)
    if args.golden:
        write_golden(args.golden, model, tok, pair, args)
    print(f"wrote {args.out} ({size} bytes) in {time.time() - t0:.0f}s")


def export(w: BundleWriter, model: EarlyExitEncoder, spm_proto: bytes):
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    w.add_bytes("tokenizer.model", spm_proto)
    w.add_f16("emb.tok", sd["tok.weight"])
    w.add_f16("emb.pos", sd["pos.weight"])
    w.add_f16("emb.type", sd["typ.weight"])
    w.add_f32("emb.ln.gamma", sd["ln_emb.weight"])
    w.add_f32("emb.ln.beta", sd["ln_emb.bias"])
    for i, blk in enumerate(model.blocks):
        for name in ("qkv", "out", "gate_cand", "down"):
            lin = getattr(blk, name)
            wt = lin.weight.detach()
            if lin.binary:
                w.add_signs(f"blocks.{i}.{name}.weight", wt.numpy())
                w.add_f32(f"blocks.{i}.{name}.scale", wt.abs().mean(dim=1).numpy())
            else:
                w.add_f32(f"blocks.{i}.{name}.weight", wt.numpy())
            w.add_f32(f"blocks.{i}.{name}.bias", sd[f"blocks.{i}.{name}.bias"])
        for ln in ("ln1", "ln2"):
            w.add_f32(f"blocks.{i}.{ln}.gamma", sd[f"blocks.{i}.{ln}.weight"])
            w.add_f32(f"blocks.{i}.{ln}.beta", sd[f"blocks.{i}.{ln}.bias"])
        w.add_f32(f"exits.{i}.weight", sd[f"exits.{i}.weight"])
        w.add_f32(f"exits.{i}.bias", sd[f"exits.{i}.bias"])


def write_golden(path, model, tok, pair, args):
    with open(GOLDEN_INPUTS) as f:
        inputs = json.load(f)["pair" if pair else "single"]
    encoded = [tok.encode(a, b) for a, b in ((x[0], x[1] if pair else None) for x in inputs)]
    out = predict(model, encoded, batch_size=1)
    cases = [{"text_a": x[0], "text_b": x[1] if pair else None, "ids": e[0], "type_ids": e[1],
              "outputs": out[:, i].tolist()} for i, (x, e) in enumerate(zip(inputs, encoded))]
    with open(path, "w") as f:
        json.dump({"model": os.path.basename(args.out), "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
