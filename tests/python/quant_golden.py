"""Tiny random-weight models with int8 and 1-bit activations, for the engine's
golden test (tests/unit/quant_golden_kernel_test.cc).

    /usr/bin/python3 tests/python/quant_golden.py OUT_DIR
writes OUT_DIR/act8.beex, act1.beex and their *.golden.json: every exit's
output for made-up token sequences, computed by the PyTorch model in eval mode
(train/beex_train/quant.py), in the format of tests/data/*.golden.json.
No training: random weights exercise the arithmetic as well and take a second.
"""
import json
import os
import random
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "train"))
import train as train_cli  # noqa: E402
from beex_train.bundle import BundleWriter  # noqa: E402
from beex_train.model import BinaryLinear, EarlyExitEncoder, ModelConfig  # noqa: E402
from beex_train.tokenizer import CLS_ID, PAD_ID, SEP_ID, UNK_ID, Tokenizer, train_sentencepiece  # noqa: E402

WORDS = ["amber", "river", "quiet", "stone", "lantern", "meadow", "copper", "violet", "harbor", "thistle",
         "echo", "willow", "granite", "saffron", "ember", "orchard"]


def make_model(act_bits, vocab, seed):
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab, hidden=48, heads=3, ffn=40, layers=3, max_len=32, num_outputs=3)
    model = EarlyExitEncoder(cfg)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, BinaryLinear):
                mod.act_bits = act_bits
                mod.bias.normal_(0, 0.1)
            elif isinstance(mod, torch.nn.LayerNorm):
                mod.weight.normal_(1, 0.2)
                mod.bias.normal_(0, 0.1)
        for e in (model.tok, model.pos, model.typ):
            e.weight.normal_(0, 1)
    if hasattr(train_cli, "fold_to_stored_precision"):
        train_cli.fold_to_stored_precision(model)
    else:  # bundles that store only the embeddings in float16
        with torch.no_grad():
            for e in (model.tok, model.pos, model.typ):
                e.weight.copy_(e.weight.half().float())
    model.eval()
    return cfg, model


def cases(vocab, seed):
    rng = random.Random(seed)
    out = []
    for n in (1, 2, 5, 9, 14, 20, 30):
        ids = [CLS_ID] + [rng.randrange(4, vocab) for _ in range(n)] + [SEP_ID]
        out.append(ids[:32])
    return out


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(300)]
    spm_proto = train_sentencepiece(texts, 60)
    vocab = Tokenizer(spm_proto, 32).vocab_size
    for bits in (8, 1):
        cfg, model = make_model(bits, vocab, seed=bits)
        writer = BundleWriter()
        train_cli.export(writer, model, spm_proto)
        header = {
            "name": f"act{bits}", "task": "classification", "labels": ["a", "b", "c"], "pair_input": False,
            "architecture": {"vocab_size": cfg.vocab_size, "hidden": cfg.hidden, "heads": cfg.heads,
                             "ffn": cfg.ffn, "layers": cfg.layers, "max_len": cfg.max_len,
                             "type_vocab": cfg.type_vocab, "num_outputs": cfg.num_outputs,
                             "ln_eps": cfg.ln_eps, "binary": True, "activation_bits": bits},
            "tokenizer": {"type": "sentencepiece", "tensor": "tokenizer.model", "pad_id": PAD_ID,
                          "unk_id": UNK_ID, "cls_id": CLS_ID, "sep_id": SEP_ID},
            "exit_policy": {"policy": "none", "threshold": 0.0, "patience": 1},
            "metadata": {"purpose": "engine golden test of activation_bits"},
        }
        writer.write(os.path.join(out_dir, f"act{bits}.beex"), header)
        golden = []
        with torch.no_grad():
            for ids in cases(vocab, bits):
                t = torch.tensor([ids])
                out = model(t, torch.zeros_like(t), torch.ones_like(t, dtype=torch.bool))
                if isinstance(out, tuple):  # (exit logits, learning-to-exit outputs)
                    out = out[0]
                golden.append({"text_a": f"{len(ids)} ids", "text_b": None, "ids": ids,
                               "type_ids": [0] * len(ids), "outputs": out[:, 0].tolist()})
        with open(os.path.join(out_dir, f"act{bits}.golden.json"), "w") as f:
            json.dump({"model": f"act{bits}.beex", "cases": golden}, f, indent=1)
    print(f"wrote act8 and act1 bundles and goldens to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1])
