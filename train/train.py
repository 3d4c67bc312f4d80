#!/usr/bin/env python3
"""Trains a binarized early-exit encoder (BEExformer + BERxiT) on a GLUE-format
TSV and exports a bundle that beex-server loads.

Method: binarized SLFN blocks with an exit after every block, trained with the
soft-routing loss over all exits and BERxiT's alternating schedule (odd steps:
final exit only; even steps: all exits), plus a learning-to-exit head per exit.
A share of the training file (--holdout) is held out: it picks the epoch to keep
(early stopping) and calibrates the default exit policy; the dev file is only
reported on.

Example (the bundled SST-2 model; scripts/train-bundled-models.sh has all three):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 train/train.py --task sst2 \\
        --train ../shared/data/glue/SST-2/train.tsv --dev ../shared/data/glue/SST-2/dev.tsv \\
        --out models/sst2.beex --golden tests/data/sst2.golden.json
Resume an interrupted run with the same command plus --resume.
"""
from __future__ import annotations

import argparse
import copy
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
from beex_train import calibration, data, loader, policies  # noqa: E402
from beex_train.bundle import BundleWriter  # noqa: E402
from beex_train.model import EarlyExitEncoder, ModelConfig  # noqa: E402
from beex_train.tokenizer import CLS_ID, PAD_ID, SEP_ID, UNK_ID, Tokenizer, train_sentencepiece  # noqa: E402

GOLDEN_INPUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_inputs.json")
HAVE_QUANT = os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "beex_train", "quant.py"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("data")
    data.add_column_args(g)
    g.add_argument("--regression", action="store_true", help="labels are real values (default for stsb)")
    g.add_argument("--range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="regression output range (default 0 5)")
    g.add_argument("--label-names", help="comma-separated display names for the sorted label values")
    g.add_argument("--train", required=True)
    g.add_argument("--dev", required=True, help="reported on only; nothing is tuned on it")
    g.add_argument("--holdout", type=float, default=0.1,
                   help="share of --train held out for early stopping and exit calibration")
    g.add_argument("--max-train", type=int, default=0, help="use only this many training rows (0: all)")
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, help="bundle path to write; NAME.report.json, "
                   "NAME.calibration.{csv,png} go beside it")
    g.add_argument("--golden", help="also write golden per-exit outputs for the C++ tests here")
    g.add_argument("--onnx", help="also export the model to ONNX here (default for --dense: beside --out)")
    g.add_argument("--name", help="model name stored in the bundle (default: --task or out file stem)")
    g = p.add_argument_group("model")
    g.add_argument("--vocab-size", type=int, default=2000)
    g.add_argument("--hidden", type=int, default=128)
    g.add_argument("--heads", type=int, default=4)
    g.add_argument("--ffn", type=int, default=256)
    g.add_argument("--layers", type=int, default=6)
    g.add_argument("--max-len", type=int, default=64)
    g.add_argument("--dropout", type=float, default=0.1)
    g.add_argument("--emb-bits", type=int, choices=(1, 16), default=1,
                   help="token/position embeddings: 1-bit with per-row scale, or float16")
    g.add_argument("--act-bits", type=int, choices=(0, 1, 8, 32), default=0,
                   help="activation bits of the binarized layers (0/32 float, 8 int8, 1 XNOR)")
    g.add_argument("--no-match", action="store_true",
                   help="pair tasks: leave out the exact-match embedding (token occurs in the other text)")
    g.add_argument("--dense", action="store_true", help="train the FP32 twin (no binarization)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=float, default=3.0, help="at most this many epochs")
    g.add_argument("--early-stop", type=int, default=2,
                   help="stop after this many epochs without a better held-out metric (0: never)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--schedule", choices=("alternating", "joint"), default="alternating",
                   help="BERxiT's alternating steps (final exit / all exits) or all exits every step")
    g.add_argument("--exit-loss", choices=("soft", "sum"), default="soft",
                   help="soft routing (entropy-routed, depth-weighted) or plain sum over exits")
    g.add_argument("--lte-weight", type=float, default=1.0, help="weight of the LTE heads' MSE loss")
    g.add_argument("--teacher", help="bundle of a trained model of the same task (e.g. the --dense twin) "
                   "to distil from: every exit also learns the teacher's final-exit outputs")
    g.add_argument("--kd-weight", type=float, default=0.5,
                   help="share of each exit's loss that matches the teacher (the rest matches the labels)")
    g.add_argument("--kd-temperature", type=float, default=2.0,
                   help="softmax temperature of the distillation term (classification)")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    g.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    g.add_argument("--checkpoint", help="checkpoint file (default NAME.ckpt beside --out)")
    g.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    g.add_argument("--checkpoint-every", type=int, default=300, help="steps between checkpoints")
    g.add_argument("--stop-after", type=int, default=0, help=argparse.SUPPRESS)  # tests: simulate a kill
    g.add_argument("--log-every", type=int, default=50, help="steps between progress lines when not a tty")
    a = p.parse_args(argv)
    a.columns = data.columns_from_args(a)
    if a.columns is None:
        p.error("give --task, or --text-a and --label")
    if a.act_bits not in (0, 32) and not HAVE_QUANT:
        p.error("--act-bits needs train/beex_train/quant.py")
    if not 0 <= a.kd_weight <= 1:
        p.error("--kd-weight must lie in [0, 1]")
    if not 0 < a.holdout < 0.5:
        p.error("--holdout must lie in (0, 0.5)")
    a.regression = a.regression or a.task == "stsb"
    a.range = a.range or [0.0, 5.0]
    if a.label_names is None and a.task in ("sst2", "cola"):
        a.label_names = "negative,positive" if a.task == "sst2" else "unacceptable,acceptable"
    if a.label_names is None and a.task == "mrpc":
        a.label_names = "not_equivalent,equivalent"
    a.name = a.name or a.task or os.path.splitext(os.path.basename(a.out))[0]
    a.stem = os.path.splitext(a.out)[0]
    if a.dense and not a.onnx:
        a.onnx = a.stem + ".onnx"
    return a


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
    return out


def tensors(encoded, targets, idx, device):
    s = max(len(encoded[i][0]) for i in idx)
    ids = torch.full((len(idx), s), PAD_ID, dtype=torch.long)
    types = torch.zeros((len(idx), s), dtype=torch.long)
    for r, i in enumerate(idx):
        n = len(encoded[i][0])
        ids[r, :n] = torch.tensor(encoded[i][0])
        types[r, :n] = torch.tensor(encoded[i][1])
    return ids.to(device), types.to(device), (ids != PAD_ID).to(device), targets[idx].to(device)


def per_exit_losses(logits, y, regression, teacher=None, kd_weight=0.0, temperature=1.0):
    """[layers, batch] loss of every exit on every sample. With a teacher's
    final-exit logits [batch, C], a kd_weight share of it is Hinton's
    distillation term (T^2 * KL of the softened distributions; regression: the
    squared distance to the teacher's prediction)."""
    if regression:
        label = (torch.sigmoid(logits[..., 0]) - y[None]) ** 2
        if teacher is None:
            return label
        soft = (torch.sigmoid(logits[..., 0]) - torch.sigmoid(teacher[None, :, 0])) ** 2
        return (1 - kd_weight) * label + kd_weight * soft
    layers, classes = logits.shape[0], logits.shape[-1]
    flat = F.cross_entropy(logits.reshape(-1, classes), y.repeat(layers), reduction="none")
    label = flat.view(layers, -1)
    if teacher is None:
        return label
    t = temperature
    target = (teacher / t).softmax(-1)[None]
    kl = (target * (target.clamp_min(1e-30).log() - (logits / t).log_softmax(-1))).sum(-1)
    return (1 - kd_weight) * label + kd_weight * t * t * kl


def soft_routing_weights(logits, regression):
    """[layers, batch] weights that sum to `layers` per sample.

    Half is PABEE's depth weighting i / sum(j); half routes each sample to the
    exits that are already sure of it, softmax over exits of -H_i (detached),
    the soft counterpart of exiting at the first confident block. Regression has
    no entropy, so it keeps the depth weights alone.
    """
    layers = logits.shape[0]
    depth = torch.arange(1, layers + 1, dtype=logits.dtype, device=logits.device)
    depth = (depth / depth.sum())[:, None].expand(layers, logits.shape[1])
    if regression:
        return layers * depth
    with torch.no_grad():
        p = logits.softmax(-1)
        ent = -(p * p.clamp_min(1e-30).log()).sum(-1) / math.log(logits.shape[-1])
        route = (-ent).softmax(0)
    return layers * (0.5 * depth + 0.5 * route)


def lte_targets(logits, y, regression, value_range):
    """BERxiT's LTE target, as 'this exit is right' (1) rather than 'continue'."""
    with torch.no_grad():
        if regression:
            lo, hi = value_range
            err = (torch.sigmoid(logits[..., 0]) - y[None]).abs() * (hi - lo)
            return 1 - torch.tanh(err)
        return (logits.argmax(-1) == y[None]).float()


def training_loss(model, ids, types, mask, y, step, args, teacher=None):
    logits, lte = model(ids, types, mask)
    losses = per_exit_losses(logits, y, args.regression, teacher, args.kd_weight, args.kd_temperature)
    final_only = args.schedule == "alternating" and step % 2 == 1
    if final_only:
        task = losses[-1].mean()
    elif args.exit_loss == "soft":
        task = (soft_routing_weights(logits, args.regression) * losses).mean(1).sum()
    else:
        task = losses.mean(1).sum()
    lte_loss = F.mse_loss(lte, lte_targets(logits, y, args.regression, args.range), reduction="none").mean(1).sum()
    return task + args.lte_weight * lte_loss, logits, losses


def teacher_outputs(args, train_ex, hold_ex, gold_hold, label_values, device):
    """The --teacher bundle's final-exit outputs on the training examples,
    [n, C], computed once with its own tokenizer (None without a teacher)."""
    if not args.teacher:
        return None
    teacher, tok, header = loader.load_model(args.teacher)
    if (header["task"] == "regression") != args.regression or header["pair_input"] != (train_ex[0].text_b is not None):
        sys.exit(f"--teacher {args.teacher} is a {header['task']} model of "
                 f"{'pairs' if header['pair_input'] else 'single texts'}, unlike this task")
    if label_values is not None and loader.label_values(header) not in (None, label_values):
        sys.exit(f"--teacher {args.teacher} has labels {loader.label_values(header)}, this data {label_values}")
    if label_values is not None and header["architecture"]["num_outputs"] != len(label_values):
        sys.exit(f"--teacher {args.teacher} has {header['architecture']['num_outputs']} outputs "
                 f"for {len(label_values)} labels")
    teacher.to(device)
    out = lambda ex: predict(teacher, [tok.encode(e.text_a, e.text_b) for e in ex], device)[0][-1]  # noqa: E731
    hold = calibration.metric(calibration.predictions(out(hold_ex), args.regression, args.range), gold_hold,
                              args.regression)
    print(f"teacher {os.path.basename(args.teacher)}: held-out {'pearson' if args.regression else 'accuracy'} "
          f"{hold:.2f}; distilling with weight {args.kd_weight}"
          + ("" if args.regression else f", temperature {args.kd_temperature}"))
    return torch.from_numpy(out(train_ex))


@torch.no_grad()
def predict(model, encoded, device, batch_size=256):
    """Outputs of every exit for every example: ([layers, n, C], [layers, n])."""
    model.eval()
    out = torch.zeros(model.c.layers, len(encoded), model.c.num_outputs)
    lte = torch.zeros(model.c.layers, len(encoded))
    dummy = torch.zeros(len(encoded))
    for idx in batches(encoded, dummy, batch_size, False, None):
        ids, types, mask, _ = tensors(encoded, dummy, idx, device)
        o, u = model(ids, types, mask)
        out[:, idx], lte[:, idx] = o.cpu(), u.cpu()
    return out.numpy(), lte.numpy()


class Progress:
    """One status line: epoch, step, loss, a running metric, elapsed and time left."""

    def __init__(self, total, log_every, metric_name):
        self.total, self.log_every, self.metric_name = total, log_every, metric_name
        self.tty = sys.stderr.isatty()
        self.t0 = time.time()
        self.loss = self.metric = None

    def update(self, step, epoch, loss, metric, start_step):
        ema = lambda old, new: new if old is None else 0.98 * old + 0.02 * new  # noqa: E731
        self.loss, self.metric = ema(self.loss, loss), ema(self.metric, metric)
        if not self.tty and step % self.log_every and step != self.total:
            return
        el = time.time() - self.t0
        left = el / max(1, step - start_step) * (self.total - step)
        width = 24
        done = int(width * step / self.total)
        line = (f"[{'#' * done}{'.' * (width - done)}] epoch {epoch + 1} step {step}/{self.total} "
                f"loss {self.loss:.4f} train {self.metric_name} {self.metric:.3f} "
                f"{el / 60:.1f} min, {left / 60:.1f} min left")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def note(self, text):
        print(("\n" if self.tty else "") + text, file=sys.stderr, flush=True)


def fold_to_stored_precision(model):
    """Makes the float model compute exactly what the bundle stores: float16 for
    the small tensors, sign * float16(alpha) for 1-bit ones (whose alpha = mean
    |row| is then that same float16 value)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            binary_weight = name.endswith(".weight") and _is_binary(model, name)
            if binary_weight:
                alpha = p.abs().mean(dim=1, keepdim=True).half().float()
                p.copy_(torch.where(p >= 0, alpha, -alpha))
            elif not (model.c.binary is False and name.startswith("blocks.") and name.endswith(".weight")
                      and p.dim() == 2):
                p.copy_(p.half().float())


def _is_binary(model, name):
    mod = model.get_submodule(name.rsplit(".", 1)[0])
    return getattr(mod, "binary", False) or getattr(mod, "bits", 16) == 1


def main(argv=None):
    args = parse_args(argv)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    t0 = time.time()
    ckpt_path = args.checkpoint or args.stem + ".ckpt"
    # map_location: a checkpoint written on a GPU resumes on a CPU-only machine.
    ckpt = torch.load(ckpt_path, map_location=device) if args.resume else None
    if args.resume:
        print(f"resuming from {ckpt_path} at step {ckpt['state']['step']}")

    all_train = data.read_tsv(args.train, args.columns)
    dev_ex = data.read_tsv(args.dev, args.columns)
    if args.max_train:
        all_train = random.Random(args.seed).sample(all_train, min(args.max_train, len(all_train)))
    order = list(range(len(all_train)))
    random.Random(args.seed + 7).shuffle(order)
    n_hold = max(1, int(round(args.holdout * len(all_train))))
    hold_ex = [all_train[i] for i in order[:n_hold]]
    train_ex = [all_train[i] for i in order[n_hold:]]
    pair = args.columns.text_b is not None
    if args.regression:
        lo, hi = args.range
        target = lambda ex: torch.tensor([(float(e.label) - lo) / (hi - lo) for e in ex])  # noqa: E731
        gold = lambda ex: np.array([float(e.label) for e in ex])  # noqa: E731
        labels, num_outputs = [], 1
    else:
        values = sorted({e.label for e in all_train})
        index = {v: i for i, v in enumerate(values)}
        target = lambda ex: torch.tensor([index[e.label] for e in ex])  # noqa: E731
        gold = lambda ex: np.array([index.get(e.label, -1) for e in ex])  # noqa: E731
        labels = args.label_names.split(",") if args.label_names else values
        if len(labels) != len(values):
            sys.exit(f"--label-names has {len(labels)} names for {len(values)} label values {values}")
        num_outputs = len(values)
    ytr, gold_hold, gold_dev = target(train_ex), gold(hold_ex), gold(dev_ex)
    print(f"read {len(train_ex)} train / {len(hold_ex)} held-out / {len(dev_ex)} dev examples "
          f"({'pair' if pair else 'single'}, {'regression' if args.regression else f'{num_outputs} classes'})")

    if ckpt:
        spm_proto = ckpt["spm_proto"]
    else:
        texts = [e.text_a for e in train_ex] + [e.text_b for e in train_ex if e.text_b]
        spm_proto = train_sentencepiece(texts, args.vocab_size)
    tok = Tokenizer(spm_proto, args.max_len)
    enc_tr = [tok.encode(e.text_a, e.text_b) for e in train_ex]
    enc_hold = [tok.encode(e.text_a, e.text_b) for e in hold_ex]
    enc_dev = [tok.encode(e.text_a, e.text_b) for e in dev_ex]
    print(f"tokenizer: {tok.vocab_size} pieces; mean train length {np.mean([len(e[0]) for e in enc_tr]):.1f}")
    teacher_tr = teacher_outputs(args, train_ex, hold_ex, gold_hold, None if args.regression else values, device)

    cfg = ModelConfig(vocab_size=tok.vocab_size, hidden=args.hidden, heads=args.heads, ffn=args.ffn,
                      layers=args.layers, max_len=args.max_len, num_outputs=num_outputs,
                      dropout=args.dropout, binary=not args.dense, emb_bits=args.emb_bits,
                      act_bits=0 if args.act_bits == 32 else args.act_bits,
                      match=pair and not args.no_match)
    model = EarlyExitEncoder(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(enc_tr) / args.batch_size)
    total = max(1, int(steps_per_epoch * args.epochs))
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))))
    metric_name = "pearson" if args.regression else "accuracy"
    rng = random.Random(args.seed)
    state = {"step": 0, "epoch": 0, "epoch_rng": rng.getstate(), "epoch_start_step": 0, "best": None, "best_metric": -1e9, "best_epoch": 0,
             "bad_epochs": 0, "loss_history": [], "epoch_log": []}
    if ckpt:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), device)

    def save_checkpoint():
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "state": state, "torch_rng": torch.get_rng_state(),
                    # Dropout draws from the GPU's generator when training there.
                    "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "spm_proto": spm_proto,
                    "config": vars(cfg)}, tmp)
        os.replace(tmp, ckpt_path)

    bar = Progress(total, args.log_every, "acc" if not args.regression else "mse")
    start_step = state["step"]
    stopped_early = False
    while state["step"] < total and not stopped_early:
        # The epoch's batch order comes from the RNG state saved at its start,
        # so a resumed run replays it and skips the batches already done.
        rng.setstate(state["epoch_rng"])
        epoch_batches = batches(enc_tr, ytr, args.batch_size, True, rng)
        epoch_rng_after = rng.getstate()
        skip = state["step"] - state["epoch_start_step"]
        model.train()
        for idx in epoch_batches[skip:]:
            ids, types, mask, y = tensors(enc_tr, ytr, idx, device)
            teacher = None if teacher_tr is None else teacher_tr[idx].to(device)
            loss, logits, losses = training_loss(model, ids, types, mask, y, state["step"], args, teacher)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            state["step"] += 1
            state["loss_history"].append(float(losses[-1].mean()))
            m = losses[-1].mean().item() if args.regression else (logits[-1].argmax(-1) == y).float().mean().item()
            bar.update(state["step"], state["epoch"], state["loss_history"][-1], m, start_step)
            if state["step"] % args.checkpoint_every == 0 or state["step"] == args.stop_after:
                save_checkpoint()
            if state["step"] == args.stop_after:
                sys.exit(f"stopped after {args.stop_after} steps (--stop-after)")
            if state["step"] >= total:
                break
        # End of an epoch (or of the step budget): score the held-out split.
        hold_out, _ = predict(model, enc_hold, device)
        full = calibration.metric(calibration.predictions(hold_out[-1], args.regression, args.range),
                                  gold_hold, args.regression)
        state["epoch_log"].append({"epoch": state["epoch"] + 1, "step": state["step"], "holdout": full})
        if full > state["best_metric"]:
            state.update(best=copy.deepcopy(model.state_dict()), best_metric=full, best_epoch=state["epoch"] + 1,
                         bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        bar.note(f"epoch {state['epoch'] + 1}: held-out {metric_name} {full:.2f} "
                 f"(best {state['best_metric']:.2f} at epoch {state['best_epoch']})")
        state["epoch"] += 1
        state["epoch_rng"] = epoch_rng_after
        state["epoch_start_step"] = state["step"]
        if args.early_stop and state["bad_epochs"] >= args.early_stop:
            bar.note(f"early stop: {args.early_stop} epochs without a better held-out {metric_name}")
            stopped_early = True
        save_checkpoint()
    train_seconds = time.time() - t0

    model.load_state_dict(state["best"])
    model.cpu()
    fold_to_stored_precision(model)
    hold_out, hold_lte = predict(model, enc_hold, "cpu")
    dev_out, dev_lte = predict(model, enc_dev, "cpu")
    report = summarize(args, cfg, hold_out, hold_lte, gold_hold, dev_out, dev_lte, gold_dev)
    report["best_epoch"] = state["best_epoch"]
    best = report["default"]

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
        "exit_policy": {"policy": best["policy"], "threshold": best["threshold"], "patience": best["patience"]},
        "metadata": {"train_file": os.path.basename(args.train), "train_examples": str(len(train_ex)),
                     "holdout_examples": str(len(hold_ex)), "dev_examples": str(len(dev_ex)),
                     f"dev_{metric_name}_full": f"{report['full_depth']:.2f}",
                     f"dev_{metric_name}_default": f"{best['dev_metric']:.2f}",
                     "dev_mean_exit_layer": f"{best['dev_mean_exit_layer']:.3f}", "seed": str(args.seed),
                     "epochs": str(report["best_epoch"]), "schedule": args.schedule,
                     "exit_loss": args.exit_loss},
    }
    if not args.regression:  # the TSV's label values, in output order (train/calibrate.py)
        header["metadata"]["label_values"] = json.dumps(values)
    if args.act_bits not in (0, 32):
        header["architecture"]["activation_bits"] = args.act_bits
    if args.teacher:
        header["metadata"].update(teacher=os.path.basename(args.teacher), kd_weight=str(args.kd_weight),
                                  kd_temperature=str(args.kd_temperature))
    header = {k: v for k, v in header.items() if v is not None}
    size = writer.write(args.out, header)
    report.update(bundle_bytes=size, size=size_report(writer, model, size),
                  train_seconds=round(train_seconds), stopped_early=stopped_early,
                  loss_start=float(np.mean(state["loss_history"][:max(1, len(state["loss_history"]) // 10)])),
                  loss_end=float(np.mean(state["loss_history"][-max(1, len(state["loss_history"]) // 10):])),
                  epoch_log=state["epoch_log"], args={k: v for k, v in vars(args).items() if k != "columns"})
    with open(args.stem + ".report.json", "w") as f:
        json.dump(report, f, indent=1)
    if args.golden:
        write_golden(args.golden, model, tok, pair, args, report)
    if args.onnx:
        export_onnx(model, args.onnx)
    print_summary(report, args, cfg)


def summarize(args, cfg, hold_out, hold_lte, gold_hold, dev_out, dev_lte, gold_dev):
    """Calibrates on the held-out split, reports on dev, writes CSV and plot."""
    reg, rng = args.regression, args.range
    hold_full = calibration.metric(calibration.predictions(hold_out[-1], reg, rng), gold_hold, reg)
    dev_preds = calibration.predictions(dev_out, reg, rng)
    per_exit = [calibration.metric(dev_preds[i], gold_dev, reg) for i in range(cfg.layers)]
    rows = []
    for r in calibration.sweep(hold_out, hold_lte, gold_hold, reg, rng):
        dm, de = calibration.evaluate(dev_out, dev_lte, gold_dev, reg, rng, r["policy"], r["threshold"],
                                      r["patience"])
        rows.append({"policy": r["policy"], "threshold": r["threshold"], "patience": r["patience"],
                     "holdout_metric": r["metric"], "holdout_mean_exit_layer": r["mean_exit_layer"],
                     "dev_metric": dm, "dev_mean_exit_layer": de})
    hold_view = [dict(r, metric=r["holdout_metric"], mean_exit_layer=r["holdout_mean_exit_layer"]) for r in rows]
    per_policy = {}
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pick = calibration.fastest_within(hold_view, hold_full, policy)
        if pick:
            per_policy[policy] = {k: pick[k] for k in rows[0]}
    best = calibration.fastest_within(hold_view, hold_full)
    if best is None:
        best = {"policy": "none", "threshold": 0.0, "patience": 1, "holdout_metric": hold_full,
                "holdout_mean_exit_layer": float(cfg.layers), "dev_metric": per_exit[-1],
                "dev_mean_exit_layer": float(cfg.layers)}
    best = {k: best[k] for k in rows[0]}
    csv_path, png_path = args.stem + ".calibration.csv", args.stem + ".calibration.png"
    calibration.write_csv(csv_path, rows)
    plotted = calibration.plot(png_path, rows, {"holdout": hold_full, "dev": per_exit[-1]}, args.name,
                               "Pearson x 100" if reg else "accuracy %", cfg.layers, best)
    return {"name": args.name, "metric": "pearson" if reg else "accuracy", "dev_examples": len(gold_dev),
            "holdout_examples": len(gold_hold), "per_exit": per_exit, "full_depth": per_exit[-1],
            "holdout_full_depth": hold_full, "default": best, "per_policy_default": per_policy,
            "best_epoch": None, "calibration_csv": os.path.basename(csv_path),
            "calibration_png": os.path.basename(png_path) if plotted else None, "calibration": rows}


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def size_report(writer, model, total):
    """Bytes of every part of the bundle, against FP32 weights of the same architecture."""
    groups = {}
    for name, n in writer.part_bytes().items():
        if name.startswith("tokenizer"):
            g = "tokenizer (SentencePiece, zlib)"
        elif name.startswith("emb.tok"):
            g = "token embeddings"
        elif name.startswith("emb."):
            g = "position/type embeddings, embedding LayerNorm"
        elif name.startswith("exits."):
            g = "exit heads + LTE heads (f16)"
        elif name.endswith(".weight"):
            g = "block projection/FFN weights"
        elif name.endswith(".scale"):
            g = "per-channel scales (f16)"
        elif ".ln" in name:
            g = "block LayerNorms (f16)"
        else:
            g = "biases (f16)"
        groups[g] = groups.get(g, 0) + n
    groups["header + alignment"] = total - sum(groups.values())
    fp32 = 4 * parameter_count(model)
    return {"parts": groups, "fp32_weight_bytes": fp32, "compression": fp32 / total}


def print_summary(report, args, cfg):
    d = report["default"]
    m = report["metric"]
    print("\n== summary ==")
    print(f"model {args.name}: {cfg.layers} blocks, hidden {cfg.hidden}, ffn {cfg.ffn}, "
          f"{'binarized' if cfg.binary else 'dense FP32'}; best epoch {report['best_epoch']}, "
          f"{report['train_seconds']} s")
    print(f"dev {m} per exit: " + " ".join(f"{v:.2f}" for v in report["per_exit"]))
    print(f"default exit policy (calibrated on {report['holdout_examples']} held-out): {d['policy']} "
          f"threshold {d['threshold']} patience {d['patience']}: dev {m} {d['dev_metric']:.2f} "
          f"(full depth {report['full_depth']:.2f}), mean exit layer {d['dev_mean_exit_layer']:.2f} of {cfg.layers}")
    for p, r in report["per_policy_default"].items():
        print(f"  {p:18s} th {r['threshold']:<5} pat {r['patience']}: dev {r['dev_metric']:.2f} "
              f"at mean exit {r['dev_mean_exit_layer']:.2f}")
    s = report["size"]
    print(f"bundle {args.out}: {report['bundle_bytes']:,} bytes; FP32 weights {s['fp32_weight_bytes']:,} bytes; "
          f"{s['compression']:.1f}x smaller")
    for part, n in s["parts"].items():
        print(f"  {part:48s} {n:>9,}")
    print(f"report {args.stem}.report.json, calibration {args.stem}.calibration.csv"
          + (f" and .png" if report["calibration_png"] else " (no matplotlib: no plot)"))


def export(w: BundleWriter, model: EarlyExitEncoder, spm_proto: bytes):
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}

    def table(name, emb):
        wt = emb.weight.detach()
        if emb.bits == 1:
            w.add_signs(name, wt.numpy())
            w.add_f16(name + ".scale", wt.abs().mean(dim=1).numpy())
        else:
            w.add_f16(name, wt.numpy())

    w.add_bytes("tokenizer.model", spm_proto, compress=True)
    table("emb.tok", model.tok)
    table("emb.pos", model.pos)
    table("emb.type", model.typ)
    if model.match is not None:
        table("emb.match", model.match)
    w.add_f16("emb.ln.gamma", sd["ln_emb.weight"])
    w.add_f16("emb.ln.beta", sd["ln_emb.bias"])
    for i, blk in enumerate(model.blocks):
        for name in ("qkv", "out", "gate_cand", "down"):
            lin = getattr(blk, name)
            wt = lin.weight.detach()
            if lin.binary:
                w.add_signs(f"blocks.{i}.{name}.weight", wt.numpy())
                w.add_f16(f"blocks.{i}.{name}.scale", wt.abs().mean(dim=1).numpy())
            else:
                w.add_f32(f"blocks.{i}.{name}.weight", wt.numpy())
            w.add_f16(f"blocks.{i}.{name}.bias", sd[f"blocks.{i}.{name}.bias"])
        for ln in ("ln1", "ln2"):
            w.add_f16(f"blocks.{i}.{ln}.gamma", sd[f"blocks.{i}.{ln}.weight"])
            w.add_f16(f"blocks.{i}.{ln}.beta", sd[f"blocks.{i}.{ln}.bias"])
        w.add_f16(f"exits.{i}.weight", sd[f"exits.{i}.weight"])
        w.add_f16(f"exits.{i}.bias", sd[f"exits.{i}.bias"])
        w.add_f16(f"exits.{i}.lte.weight", sd[f"lte.{i}.weight"])
        w.add_f16(f"exits.{i}.lte.bias", sd[f"lte.{i}.bias"])


def export_onnx(model, path):
    """ONNX graph of the whole network: every exit's logits and LTE output."""
    model.eval()
    ids = torch.tensor([[CLS_ID, 5, 6, 7, SEP_ID]])
    types = torch.zeros_like(ids)
    mask = torch.ones_like(ids, dtype=torch.bool)
    torch.onnx.export(model, (ids, types, mask), path, input_names=["ids", "type_ids", "mask"],
                      output_names=["exit_logits", "exit_lte"], opset_version=14,
                      dynamic_axes={"ids": {0: "batch", 1: "tokens"}, "type_ids": {0: "batch", 1: "tokens"},
                                    "mask": {0: "batch", 1: "tokens"}, "exit_logits": {1: "batch"},
                                    "exit_lte": {1: "batch"}})
    print(f"wrote {path} ({os.path.getsize(path):,} bytes)")


def write_golden(path, model, tok, pair, args, report):
    """Per-exit outputs and LTE scores of fixed inputs, and the exit layer each
    calibrated policy setting gives them, for the engine's tests to match."""
    with open(GOLDEN_INPUTS) as f:
        inputs = json.load(f)["pair" if pair else "single"]
    encoded = [tok.encode(a, b) for a, b in ((x[0], x[1] if pair else None) for x in inputs)]
    out, lte = predict(model, encoded, "cpu", batch_size=1)
    cases = [{"text_a": x[0], "text_b": x[1] if pair else None, "ids": e[0], "type_ids": e[1],
              "outputs": out[:, i].tolist(), "lte": lte[:, i].tolist()}
             for i, (x, e) in enumerate(zip(inputs, encoded))]
    checks = []
    for r in [report["default"]] + list(report["per_policy_default"].values()):
        signal = calibration.to_values(out, *args.range) if args.regression else out
        ex = policies.exit_layers(signal, r["policy"], r["threshold"], r["patience"], args.regression, lte)
        checks.append({"policy": r["policy"], "threshold": r["threshold"], "patience": r["patience"],
                       "exit_layers": (ex + 1).tolist()})
    with open(path, "w") as f:
        json.dump({"model": os.path.basename(args.out), "cases": cases, "policy_checks": checks}, f, indent=1)


if __name__ == "__main__":
    main()
