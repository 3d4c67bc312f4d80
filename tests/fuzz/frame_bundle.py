#!/usr/bin/env python3
"""Writes a bundle as a framed fuzz seed (the form of bundle_frame.h).

    frame_bundle.py BUNDLE SEED
SEED is 0x01, the bundle's header JSON with its data CRC replaced by "$CRC",
a NUL, then the data section: a mutation that changes the data or the header
still passes the checksums (the frame recomputes them), so the fuzzer reaches
the architecture, exit and tensor checks. How model_fuzz's committed seeds
were made; make_seeds.py frames its generated seeds with the same functions.
"""
import json
import struct
import sys


def split_bundle(blob):
    """A bundle file's header (a dict), header length and data section."""
    if blob[:8] != b"BEEXMDL\x00":
        raise SystemExit("not a beex bundle")
    header_len = struct.unpack("<I", blob[12:16])[0]
    header = json.loads(blob[24:24 + header_len])
    return header, header_len, blob[(24 + header_len + 63) // 64 * 64:]


def framed(header, data):
    """The seed of `header` over `data`, the data CRC left to the frame."""
    header = dict(header, data_crc32="$CRC")
    text = json.dumps(header).replace('"$CRC"', "$CRC")
    return b"\x01" + text.encode() + b"\x00" + data


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        header, _, data = split_bundle(f.read())
    with open(sys.argv[2], "wb") as f:
        f.write(framed(header, data))
