#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs: one small valid file per format
and variant, so fuzzing starts from inputs that reach deep into each parser.
Needs numpy, torch, safetensors and pillow.
Usage: python3 tests/fuzz/seeds.py   (then fuzz; see tests/fuzz/README.md)
"""
import io
import os
import struct
import zipfile

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save as save_safetensors

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
rng = np.random.default_rng(7)


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


# .npy: the dtypes and layouts clips and arrays use.
put("npy", "u8_video", npy_bytes(rng.integers(0, 255, (2, 4, 4, 3), dtype=np.uint8)))
put("npy", "f32", npy_bytes(rng.standard_normal((2, 3, 4)).astype(np.float32)))
put("npy", "f64_big_endian", npy_bytes(rng.standard_normal((3, 2)).astype(">f8")))
put("npy", "f16", npy_bytes(rng.standard_normal((4,)).astype(np.float16)))
put("npy", "fortran", npy_bytes(np.asfortranarray(rng.standard_normal((3, 2)).astype(np.float32))))

# Checkpoints: a few named tensors of the dtypes backbones store.
tensors = {
    "blocks.0.attn.qkv.weight": rng.standard_normal((6, 2)).astype(np.float32),
    "blocks.0.attn.qkv.bias": np.zeros(6, np.float16),
    "pos_embed": rng.standard_normal((1, 3, 2)).astype(np.float32),
}
put("safetensors", "three_tensors", save_safetensors(tensors))
put("safetensors", "empty", save_safetensors({}))

state = {k: torch.from_numpy(v) for k, v in tensors.items()}
state["bf16"] = torch.ones(2, 2, dtype=torch.bfloat16)
b = io.BytesIO()
torch.save(state, b)
put("pytorch", "state_dict_zip", b.getvalue())
b = io.BytesIO()
torch.save({"target_encoder": {"module.w": torch.ones(2, 3)}, "epoch": 3}, b)
put("pytorch", "nested_checkpoint", b.getvalue())

for name, save in [("plain", np.savez), ("compressed", np.savez_compressed)]:
    b = io.BytesIO()
    save(b, **{k.replace(".", "/"): v for k, v in tensors.items() if v.dtype != np.float16})
    put("npz", name, b.getvalue())

# Frames: RGB and gray PNG, a JPEG.
for name, mode, fmt in [("rgb.png", "RGB", "PNG"), ("gray.png", "L", "PNG"), ("rgb.jpg", "RGB", "JPEG")]:
    img = Image.fromarray(rng.integers(0, 255, (6, 5, 3), dtype=np.uint8)).convert(mode)
    b = io.BytesIO()
    img.save(b, format=fmt)
    put("frame", name, b.getvalue())


# Plugin metadata: the SDK version custom section in a core module and in a
# component (preamble: magic, version, layer).
def custom(name, payload):
    body = bytes([len(name)]) + name + payload
    return bytes([0, len(body)]) + body


section = custom(b"scivid:sdk-version", b"0.2.2")
put("plugin_metadata", "core_module", b"\0asm\x01\0\0\0" + section)
put("plugin_metadata", "component", b"\0asm\x0d\0\x01\0" + section)
print(f"wrote {ROOT}")
