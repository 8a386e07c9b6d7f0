#!/usr/bin/env python3
"""Writes the ArrayRecord fuzz targets' seeds: small shards from Google's
writer (PyPI `array-record`) under each compression (`array_record`), and
serialized SequenceExamples (`sequence_example`).
Needs array-record, protobuf, numpy, pillow.
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


records = [example(i) for i in range(5)]
for i, r in enumerate(records[:2]):
    put("sequence_example", f"example_{i}", r)
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
