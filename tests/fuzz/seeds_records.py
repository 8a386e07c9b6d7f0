#!/usr/bin/env python3
"""Writes the ArrayRecord fuzz targets' seeds: small shards from Google's
writer (PyPI `array-record`) under each compression (`array_record`), and
serialized SequenceExamples (`sequence_example`), one of them MOVi-style
with per-step tracks as TensorFlow's serialized tensors.
Needs array-record, protobuf, numpy, pillow, tensorflow-cpu.
Usage: python3 tests/fuzz/seeds_records.py
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from array_record_fixtures import SequenceExample, write_shard  # noqa: E402

ROOT = os.path.join(HERE, "seeds")


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def example(i):
    ex = SequenceExample()
    ex.context.feature["clip/label/index"].int64_list.value.extend([i, -1])
    ex.context.feature["pressure"].float_list.value.extend([1.5, -2.0])
    ex.context.feature["clip/id"].bytes_list.value.append(b"c%d" % i)
    for t in range(3):
        ex.feature_lists.feature_list["image/encoded"].feature.add().bytes_list.value.append(b"f" * (t + i))
    return ex.SerializeToString()


def movi_example():
    import numpy as np
    import tensorflow as tf

    ex = SequenceExample()
    feats = ex.feature_lists.feature_list
    for t in range(3):
        xy = np.array([[0.25 * t, 0.5], [0.75, 0.125 * t]], dtype=np.float32)
        feats["image/encoded"].feature.add().bytes_list.value.append(b"f" * t)
        feats["tracks/2d"].feature.add().bytes_list.value.append(tf.io.serialize_tensor(xy).numpy())
        vis = tf.constant([1.0, float(t % 2)], dtype=tf.float32)
        feats["tracks/visibility"].feature.add().bytes_list.value.append(tf.io.serialize_tensor(vis).numpy())
    return ex.SerializeToString()


records = [example(i) for i in range(5)]
for i, r in enumerate(records[:2]):
    put("sequence_example", f"example_{i}", r)
put("sequence_example", "movi_tracks", movi_example())
with tempfile.TemporaryDirectory() as tmp:
    for name, options in [
        ("zstd", "group_size:1"),
        ("brotli_group3", "group_size:3,brotli:6"),
        ("snappy", "group_size:2,snappy"),
        ("uncompressed", "group_size:1,uncompressed"),
    ]:
        path = os.path.join(tmp, name)
        write_shard(path, records, options)
        put("array_record", name, open(path, "rb").read())
print("wrote the ArrayRecord seeds under", ROOT)
