#!/usr/bin/env python3
"""Writes the Zarr fuzz targets' seeds: metadata files (`zarr_metadata`,
first byte 0 for `.zarray`, 1 for `zarr.json`) taken from the fixture
stores, and chunks encoded by numcodecs for each of the layouts in
`scivid::fuzzing::ZARR_CHUNK_LAYOUTS` (`zarr_chunk`, first byte the layout).
Needs numpy and numcodecs.
Usage: python3 tests/fuzz/seeds_zarr.py
"""
import glob
import os

import numcodecs
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "seeds")
FIXTURES = os.path.join(HERE, "..", "fixtures", "zarr")
rng = np.random.default_rng(11)


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return (crc ^ 0xFFFFFFFF).to_bytes(4, "little")


metadata = [os.path.join(FIXTURES, "*", "a", f) for f in (".zarray", "zarr.json")]
for path in sorted(p for pattern in metadata for p in glob.glob(pattern)):
    name = os.path.basename(os.path.dirname(os.path.dirname(path)))
    if path.endswith(".zarray"):
        put("zarr_metadata", name, b"\x00" + open(path, "rb").read())
    elif path.endswith("zarr.json"):
        put("zarr_metadata", name, b"\x01" + open(path, "rb").read())

x = rng.standard_normal((4, 8)) * 30
blosc = [
    ("lz4_shuffle", numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE)),
    ("zstd_bitshuffle", numcodecs.Blosc("zstd", 5, numcodecs.Blosc.BITSHUFFLE)),
    ("zlib_noshuffle", numcodecs.Blosc("zlib", 5, numcodecs.Blosc.NOSHUFFLE)),
]
smooth = np.cumsum(np.ones((4, 8)), axis=1)  # compressible: not a raw copy
for name, codec in blosc:
    put("zarr_chunk", "0_blosc_" + name, b"\x00" + codec.encode(smooth.astype("<f4")))
    put("zarr_chunk", "0_blosc_random_" + name, b"\x00" + codec.encode(x.astype("<f4")))
put("zarr_chunk", "1_zlib_fortran_i2",
    b"\x01" + numcodecs.Zlib(5).encode(np.asfortranarray(x.astype(">i2")).tobytes(order="F")))
put("zarr_chunk", "2_gzip_f8", b"\x02" + numcodecs.GZip(5).encode(x.astype("<f8")))
put("zarr_chunk", "3_zstd_f4", b"\x03" + numcodecs.Zstd(3).encode(x.astype("<f4")))
body = numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE).encode(np.abs(x).astype("<u2"))
put("zarr_chunk", "4_blosc_crc32c_u2", b"\x04" + bytes(body) + crc32c(bytes(body)))
print("wrote the Zarr seeds under", ROOT)
