"""Writes a model bundle: the one file that engine/bundle.cc loads.

Layout (all integers little-endian):
    0   8 bytes  magic  b"BEEXMDL\\0"
    8   u32      format version
    12  u32      header length in bytes
    16  u32      CRC-32 of the header
    20  u32      reserved, 0
    24  header   UTF-8 JSON, the BundleHeader message of engine/bundle_header.proto
    ..  zero padding to a multiple of 64
    data section: tensors at the offsets the header gives (relative to the
    section start, each 64-byte aligned); its size and CRC-32 are in the header.
Tensor dtypes: f32, f16, u8; u8z: bytes compressed with zlib (shape gives the
uncompressed length, size the compressed one); and b1: signs bit-packed per
row into little-endian u64 words, bit 1 meaning -1, rows padded to whole words.
A b1 tensor NAME has its per-row scales in NAME.scale (the engine multiplies).
"""
from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np

MAGIC = b"BEEXMDL\0"
FORMAT_VERSION = 1
ALIGN = 64


def pack_signs(w: np.ndarray) -> np.ndarray:
    """[N, K] floats -> [N, ceil(K/64)] u64 words, bit k%64 of word k//64 set when w < 0."""
    n, k = w.shape
    words = (k + 63) // 64
    bits = np.zeros((n, words * 64), dtype=np.uint8)
    bits[:, :k] = (w < 0)
    # packbits with little bit order gives bit j of byte b = element 8b+j, and
    # little-endian u64 words then put element 64w+j at bit j of word w.
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").reshape(n, words)


def _head(version: int, header: dict) -> bytes:
    """Magic, version, header length and CRC, the JSON header, padding."""
    hbytes = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    head = MAGIC + struct.pack("<IIII", version, len(hbytes), zlib.crc32(hbytes), 0) + hbytes
    return head + b"\0" * ((-len(head)) % ALIGN)


class BundleWriter:
    def __init__(self):
        self._tensors: dict[str, dict] = {}
        self._blobs: list[bytes] = []
        self._size = 0

    def _add(self, name: str, dtype: str, shape: list[int], blob: bytes):
        if name in self._tensors:
            raise ValueError(f"duplicate tensor {name}")
        pad = (-self._size) % ALIGN
        if pad:
            self._blobs.append(b"\0" * pad)
            self._size += pad
        self._tensors[name] = {"dtype": dtype, "shape": shape, "offset": self._size, "size": len(blob)}
        self._blobs.append(blob)
        self._size += len(blob)

    def add_f32(self, name: str, a) -> None:
        a = np.ascontiguousarray(a, dtype="<f4")
        self._add(name, "f32", list(a.shape), a.tobytes())

    def add_f16(self, name: str, a) -> None:
        a = np.ascontiguousarray(a, dtype="<f2")
        self._add(name, "f16", list(a.shape), a.tobytes())

    def add_signs(self, name: str, w) -> None:
        w = np.asarray(w, dtype=np.float32)
        self._add(name, "b1", list(w.shape), pack_signs(w).tobytes())

    def add_bytes(self, name: str, data: bytes, compress: bool = False) -> None:
        if compress:
            self._add(name, "u8z", [len(data)], zlib.compress(data, 9))
        else:
            self._add(name, "u8", [len(data)], data)

    def part_bytes(self) -> dict[str, int]:
        """Stored bytes of every tensor (without alignment padding)."""
        return {k: v["size"] for k, v in self._tensors.items()}

    def write(self, path: str, header: dict) -> int:
        data = b"".join(self._blobs)
        header = dict(header, tensors=self._tensors, data_size=len(data),
                      data_crc32=zlib.crc32(data))
        head = _head(FORMAT_VERSION, header)
        with open(path, "wb") as f:
            f.write(head)
            f.write(data)
        self.header_bytes = len(head)
        return len(head) + len(data)


def unpack_signs(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of pack_signs: [N, words] u64 -> [N, K] float32 of +-1."""
    bits = np.unpackbits(words.astype("<u8").view(np.uint8).reshape(words.shape[0], -1), axis=1,
                         bitorder="little")[:, :k]
    return np.where(bits == 1, -1.0, 1.0).astype(np.float32)


def _parse(blob: bytes, path: str) -> tuple[int, dict, int]:
    """(format version, header, offset of the data section) of a bundle's bytes."""
    if blob[:8] != MAGIC:
        raise ValueError(f"{path}: not a beex bundle")
    version, hlen, hcrc, _ = struct.unpack("<IIII", blob[8:24])
    hbytes = blob[24:24 + hlen]
    if zlib.crc32(hbytes) != hcrc:
        raise ValueError(f"{path}: header checksum mismatch")
    return version, json.loads(hbytes), (24 + hlen + ALIGN - 1) // ALIGN * ALIGN


def read_bundle(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Reads a bundle back: (header, tensors); b1 tensors come back as +-1
    floats (multiply by NAME.scale), u8z ones decompressed, f16 as float32."""
    with open(path, "rb") as f:
        blob = f.read()
    _, header, start = _parse(blob, path)
    tensors = {}
    for name, t in header["tensors"].items():
        raw = blob[start + t["offset"]:start + t["offset"] + t["size"]]
        shape = t["shape"]
        if t["dtype"] == "f32":
            tensors[name] = np.frombuffer(raw, "<f4").reshape(shape).copy()
        elif t["dtype"] == "f16":
            tensors[name] = np.frombuffer(raw, "<f2").astype(np.float32).reshape(shape)
        elif t["dtype"] == "u8":
            tensors[name] = np.frombuffer(raw, np.uint8).copy()
        elif t["dtype"] == "u8z":
            tensors[name] = np.frombuffer(zlib.decompress(raw), np.uint8).copy()
        elif t["dtype"] == "b1":
            words = np.frombuffer(raw, "<u8").reshape(shape[0], -1)
            tensors[name] = unpack_signs(words, shape[1])
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {t['dtype']}")
    return header, tensors


def rewrite_header(src: str, dst: str, update) -> dict:
    """Copies bundle `src` to `dst` with its header replaced by update(header)
    (a dict to modify in place). Tensor offsets are relative to the data
    section, which is copied byte for byte, so only the header changes."""
    with open(src, "rb") as f:
        blob = f.read()
    version, header, start = _parse(blob, src)
    data = blob[start:]
    update(header)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(_head(version, header))
        f.write(data)
    os.replace(tmp, dst)  # a server reloading dst never sees half a file
    return header
