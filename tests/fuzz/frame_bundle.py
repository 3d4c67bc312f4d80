#!/usr/bin/env python3
"""Writes a bundle as a framed fuzz seed (the form of bundle_frame.h).

    frame_bundle.py BUNDLE SEED
SEED is 0x01, the bundle's header JSON with its data CRC replaced by "$CRC",
a NUL, then the data section: a mutation that changes the data or the header
still passes the checksums (the frame recomputes them), so the fuzzer reaches
the architecture, exit and tensor checks. How model_fuzz's committed seeds
were made.
"""
import json
import struct
import sys


def frame(blob):
    if blob[:8] != b"BEEXMDL\x00":
        raise SystemExit("not a beex bundle")
    header_len = struct.unpack("<I", blob[12:16])[0]
    header = json.loads(blob[24:24 + header_len])
    data = blob[(24 + header_len + 63) // 64 * 64:]
    header["data_crc32"] = "CRC_PLACEHOLDER"
    text = json.dumps(header, sort_keys=True).replace('"CRC_PLACEHOLDER"', "$CRC")
    return b"\x01" + text.encode() + b"\x00" + data


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        seed = frame(f.read())
    with open(sys.argv[2], "wb") as f:
        f.write(seed)
