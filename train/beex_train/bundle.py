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
Tensor dtypes: f32, f16, u8, and b1: signs bit-packed per row into
little-endian u64 words, bit 1 meaning -1, rows padded to whole words.
"""
from __future__ import annotations

import json
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

    def add_bytes(self, name: str, data: bytes) -> None:
        self._add(name, "u8", [len(data)], data)

    def write(self, path: str, header: dict) -> int:
        data = b"".join(self._blobs)
        header = dict(header, tensors=self._tensors, data_size=len(data),
                      data_crc32=zlib.crc32(data))
        hbytes = json.dumps(header, indent=1, sort_keys=True).encode("utf-8")
        prefix = MAGIC + struct.pack("<IIII", FORMAT_VERSION, len(hbytes), zlib.crc32(hbytes), 0)
        head = prefix + hbytes
        head += b"\0" * ((-len(head)) % ALIGN)
        with open(path, "wb") as f:
            f.write(head)
            f.write(data)
        return len(head) + len(data)
