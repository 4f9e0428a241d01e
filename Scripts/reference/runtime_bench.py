#!/usr/bin/env python3
"""Time an exported reference model (export_onnx.py) in ONNX Runtime or OpenVINO on the CPU.

Loads OUT.onnx and the input export_onnx.py stored beside it (OUT.inputs.npz), compiles it once (not timed),
runs --warmup frames, then --runs timed frames, each the whole per-frame graph (for ERR-Seg: image and text
embeddings in, class selection, logits and label map out). Prints the per-frame times and, with --json, writes
the fields `errseg.py bench --json` writes (wall_ms, cpu_ms, medians, threads, load average) plus the runtime's
name and version, so Scripts/bench/compare.sh reads every side alike.

  ort        onnxruntime, CPU execution provider, intra_op_num_threads = --threads, inter_op_num_threads = 1,
             graph optimisation level ORT_ENABLE_ALL
  openvino   core.compile_model(model, "CPU", {INFERENCE_NUM_THREADS: --threads, PERFORMANCE_HINT: LATENCY,
             INFERENCE_PRECISION_HINT: --precision}); f32 is the like-for-like setting, bf16 is what OpenVINO picks
             by itself on a CPU with AVX-512 BF16 or AMX (reported separately: it changes the numbers)

Example:
  python3 Scripts/reference/runtime_bench.py --onnx /tmp/vocaseg-onnx/errseg-b-t150-k32-s0.onnx \
      --runtime openvino --precision f32 --threads 2 --runs 2 --warmup 1 --json /tmp/ov.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def load_inputs(onnx_path: str):
    base = onnx_path[:-5] if onnx_path.endswith(".onnx") else onnx_path
    z = np.load(base + ".inputs.npz")
    meta = json.loads(str(z["meta"]))
    return {n: z[n] for n in meta["inputs"]}, meta


def make_ort(path: str, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(feeds):
        return sess.run(names, feeds)
    info = {"runtime": "onnxruntime", "runtime_version": ort.__version__, "provider": sess.get_providers()[0],
            "precision": "f32", "settings": {"intra_op_num_threads": threads, "inter_op_num_threads": 1,
                                             "graph_optimization_level": "ORT_ENABLE_ALL"}}
    return run, info


def make_openvino(path: str, threads: int, precision: str):
    import openvino as ov
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    compiled = core.compile_model(core.read_model(path), "CPU", config)
    request = compiled.create_infer_request()

    def run(feeds):
        request.infer(feeds)
        return [request.get_output_tensor(i).data for i in range(len(compiled.outputs))]
    got = compiled.get_property("INFERENCE_PRECISION_HINT")
    info = {"runtime": "openvino", "runtime_version": ov.__version__,
            "precision": got.to_string() if hasattr(got, "to_string") else str(got),
            "settings": {k: str(v) for k, v in config.items()},
            "num_streams": str(compiled.get_property("NUM_STREAMS")),
            "inference_num_threads": int(compiled.get_property("INFERENCE_NUM_THREADS"))}
    return run, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--runtime", required=True, choices=["ort", "openvino"])
    ap.add_argument("--precision", default="f32", choices=["f32", "bf16"], help="OpenVINO inference precision")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json", help="write the timings here (schema runtime-bench/1)")
    a = ap.parse_args()
    if a.runtime == "ort" and a.precision != "f32":
        raise SystemExit("runtime_bench.py: ONNX Runtime runs the graph as exported (f32); --precision is OpenVINO's")

    feeds, meta = load_inputs(a.onnx)
    t0 = time.perf_counter()
    run, info = make_ort(a.onnx, a.threads) if a.runtime == "ort" else make_openvino(a.onnx, a.threads, a.precision)
    load_s = time.perf_counter() - t0
    times, cpu = [], []
    for i in range(a.warmup + a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        run(feeds)
        dt, dc = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        if i >= a.warmup:
            times.append(dt)
            cpu.append(dc)
    label = f"{info['runtime']} {info['runtime_version']} ({info['precision']})"
    print(f"{label}, {meta['model']} {meta['variant']}, T={meta.get('t')}, K={meta.get('k')}, threads={a.threads}: "
          f"load + compile {load_s:.1f} s; median wall {statistics.median(times):.0f} ms/frame "
          f"(runs: {', '.join(f'{t:.0f}' for t in times)}); median CPU {statistics.median(cpu):.0f} ms/frame; "
          f"load average {os.getloadavg()[0]:.1f}")
    if a.json:
        doc = {"schema": "runtime-bench/1", **info, "model": meta["model"], "variant": meta["variant"],
               "size": meta["variant"], "image_size": meta.get("image_size"), "t": meta.get("t"), "k": meta.get("k"),
               "seed": meta.get("seed"), "weights": meta.get("weights"), "onnx": os.path.abspath(a.onnx),
               "threads": a.threads, "runs": a.runs, "warmup": a.warmup, "load_compile_s": load_s,
               "wall_ms": times, "cpu_ms": cpu, "median_wall_ms": statistics.median(times),
               "median_cpu_ms": statistics.median(cpu), "load_average": os.getloadavg()[0]}
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
