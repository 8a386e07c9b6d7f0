"""A peer's forward pass, one repetition whenever scivid asks for it.

`scivid bench all` runs this with `python -c` in the reference benchmarks'
folder, so that its repetitions and the peer's alternate: on a shared machine
whose speed changes from one minute to the next, each of scivid's repetitions
then has one of the peer's beside it. The peer is built from the reference
scripts' own functions (`vit_jax`, `onnx_vit`), with the settings their
`main` uses, so that it is the computation they time.

argv: runtime (onnxruntime | jax), model (B | S), batch. Prints `ready` once
built and warmed up; then, for every `rep` line on stdin, the seconds one
forward pass took; ends at end of input or any other line.
"""
import os
import sys
import time

import numpy as np

import vit_jax as V


def build(runtime, model, batch):
    cfg = V.CONFIGS[model]
    params = V.init_params_np(cfg)
    video = np.random.default_rng(1).standard_normal((batch, V.T, V.H, V.W, V.C), np.float32)
    if runtime == "onnxruntime":
        import onnxruntime as ort

        import onnx_vit

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "2"))
        graph = onnx_vit.build_onnx(cfg, params).SerializeToString()
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        return lambda: session.run(None, {"video": video})
    if runtime == "jax":
        import jax
        import jax.numpy as jnp

        params = jax.tree_util.tree_map(jnp.asarray, params)
        video = jnp.asarray(video)
        compiled = jax.jit(V.make_forward(cfg)).lower(params, video).compile()
        return lambda: compiled(params, video).block_until_ready()
    raise SystemExit(f"unknown runtime {runtime!r}: onnxruntime or jax")


def main():
    runtime, model, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    step = build(runtime, model, batch)
    step()  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "rep":
            break
        start = time.perf_counter()
        step()
        print(time.perf_counter() - start, flush=True)


main()
