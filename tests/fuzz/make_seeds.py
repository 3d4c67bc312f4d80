#!/usr/bin/env python3
"""Writes the fuzz seed corpora: OUT/{tokenizer,validation,bundle}/.

Seeds come from real data at test time (GLUE lines are never committed):
sentences and pairs of ../shared/data/glue when present, and headers of the
bundled models, truncated and reframed. The committed seeds in
tests/fuzz/seeds/ (sentences written for this project) are used as well.
usage: make_seeds.py SOURCE_DIR OUT_DIR
"""
import csv
import hashlib
import os
import struct
import sys
import zlib

from frame_bundle import framed, split_bundle


def write(out, name, data):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, hashlib.sha1(data).hexdigest()[:16] + "-" + name)
    with open(path, "wb") as f:
        f.write(data)


def glue_rows(glue, task, columns, limit):
    path = os.path.join(glue, task, "dev.tsv")
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            if all(row.get(c) for c in columns):
                rows.append([row[c] for c in columns])
            if len(rows) >= limit:
                break
    return rows


def text_seeds(source, out):
    glue = os.path.join(source, "..", "shared", "data", "glue")
    singles = [r[0] for r in glue_rows(glue, "SST-2", ["sentence"], 150)]
    singles += [r[0] for r in glue_rows(glue, "CoLA", ["sentence"], 0)]
    pairs = glue_rows(glue, "STS-B", ["sentence1", "sentence2"], 100)
    pairs += glue_rows(glue, "MRPC", ["#1 String", "#2 String"], 50)
    for i, s in enumerate(singles):
        b = s.encode()
        write(os.path.join(out, "tokenizer"), f"sst2-{i}", b"\x00" + b)
        write(os.path.join(out, "validation"), f"sst2-{i}", b"\xff" + b)
    for i, (a, b) in enumerate(pairs):
        write(os.path.join(out, "tokenizer"), f"pair-{i}",
              b"\x01" + a.encode() + b"\t" + b.encode())
    # Byte sequences at the edges of UTF-8 validity.
    edges = [b"\xc2\x80", b"\xc1\xbf", b"\xe0\xa0\x80", b"\xe0\x9f\xbf",
             b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xef\xbf\xbf",
             b"\xf0\x90\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x8f\xbf\xbf",
             b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80", b"\xe2\x82",
             b" \t\n\r\x0b\x0c"]
    for i, e in enumerate(edges):
        write(os.path.join(out, "validation"), f"edge-{i}", b"\xff ok " + e)
        write(os.path.join(out, "tokenizer"), f"edge-{i}", b"\x00a" + e)


def bundle_seeds(source, out):
    dest = os.path.join(out, "bundle")
    for model in ("sst2.beex", "stsb.beex"):
        path = os.path.join(source, "models", model)
        with open(path, "rb") as f:
            blob = f.read()
        header, hlen, model_data = split_bundle(blob)
        # Mode 0 (as is): the prefix, and the prefix with its header.
        write(dest, f"{model}-prefix", b"\x00" + blob[:24])
        write(dest, f"{model}-header", b"\x00" + blob[:24 + hlen])
        # Mode 1 (framed): the real header over a small data section whose
        # tensors are the first few of the model's, moved to the front.
        tensors = sorted(header["tensors"].items(), key=lambda kv: kv[1]["size"])
        small, data = {}, b""
        # (Not the tokenizer: its 370 KB would slow every run ~10x.)
        for name, t in tensors[:6]:
            small[name] = dict(t, offset=len(data))
            data += model_data[t["offset"]:t["offset"] + t["size"]]
        header["tensors"] = small
        header["data_size"] = len(data)
        write(dest, f"{model}-framed", framed(header, data))
    # Every dtype, tiny: u8, u8z, f32, f16, b1 with its scale.
    z = zlib.compress(b"beex fuzz seed " * 4)
    parts = [("u", "u8", [3], b"abc"), ("z", "u8z", [60], z),
             ("f", "f32", [2], struct.pack("<2f", 1.5, -2.0)),
             ("h", "f16", [2], struct.pack("<2e", 0.5, 3.0)),
             ("w", "b1", [2, 3], struct.pack("<2Q", 5, 2)),
             ("w.scale", "f32", [2], struct.pack("<2f", 0.25, 4.0))]
    tensors, data = {}, b""
    for name, dtype, shape, raw in parts:
        tensors[name] = {"dtype": dtype, "shape": shape, "offset": len(data),
                         "size": len(raw)}
        data += raw
    header = {"name": "seed", "task": "classification", "tensors": tensors,
              "data_size": len(data)}
    write(dest, "dtypes-framed", framed(header, data))


def main():
    source, out = sys.argv[1], sys.argv[2]
    text_seeds(source, out)
    bundle_seeds(source, out)
    for target in ("tokenizer", "validation", "bundle"):
        print(target, len(os.listdir(os.path.join(out, target))), "seeds")


if __name__ == "__main__":
    main()
