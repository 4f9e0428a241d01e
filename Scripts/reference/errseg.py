#!/usr/bin/env python3
"""ERR-Seg inference reference (PyTorch, CPU), written from ../shared/specs/errseg.md.

Sub-commands:
  write-checkpoint  random weights (fixed seed) in the detectron2 layout {"model": state_dict, "iteration": 0}
  keys              print our state-dict keys as "key<TAB>[shape]<TAB>dtype" (the spec list format)
  run               segment one image with a checkpoint and a class-name JSON; optionally dump every intermediate
  bench             time the full forward (text encoding excluded) at a given T and K

Examples:
  python3 Scripts/reference/errseg.py write-checkpoint --size b --seed 0 --out /tmp/errseg_b_random.pth
  python3 Scripts/reference/errseg.py run --size b --checkpoint model_final.pth --image in.jpg \
      --vocab ../shared/data/vocab/ade150.json --k 32 --dump /tmp/errseg_dump
  python3 Scripts/reference/errseg.py bench --size b --t 150 --k 32 --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from errseg_ref import ErrSeg, get_config  # noqa: E402
from errseg_ref.dump import GoldenWriter, flatten_intermediates  # noqa: E402
from errseg_ref.model import StageTimer  # noqa: E402
from errseg_ref.preprocess import load_image_rgb, preprocess  # noqa: E402
from errseg_ref.tokens import load_class_names, tokenize  # noqa: E402
from errseg_ref.weights import init_random, load_checkpoint, round_to_storage, save_checkpoint  # noqa: E402
from errseg_paths import SHARED  # noqa: E402

BPE = os.path.join(SHARED, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")


def build_random(size: str, seed: int, storage: str) -> ErrSeg:
    model = ErrSeg(get_config(size)).eval()
    init_random(model, seed)
    round_to_storage(model, storage)
    return model


def cmd_write_checkpoint(a) -> None:
    storage = a.storage or ("mixed" if a.size.startswith("tiny") else "fp32")
    model = build_random(a.size, a.seed, storage)
    save_checkpoint(model, a.out, storage)
    print(f"wrote {a.out}: {os.path.getsize(a.out)} bytes, {len(model.state_dict())} tensors, storage {storage}")


def cmd_keys(a) -> None:
    with torch.device("meta"):
        model = ErrSeg(get_config(a.size))
    for k, v in model.state_dict().items():
        print(f"{k}\t{list(v.shape)}\tfloat32")


def segment(model: ErrSeg, image_path: str, class_names, k: int):
    cfg = model.cfg
    img = load_image_rgb(image_path)
    x, resized = preprocess(img, cfg)
    tokens = tokenize(class_names, cfg.prompt_template, BPE, cfg.context_length)
    text = model.text_embeddings(tokens)
    r = model.forward_intermediates(x, text, k=k, out_size=img.shape[:2])
    r["tokens"] = tokens
    return r, resized


def cmd_run(a) -> None:
    torch.set_num_threads(a.threads)
    model = ErrSeg(get_config(a.size)).eval()
    load_checkpoint(model, a.checkpoint)
    names = load_class_names(a.vocab)
    r, resized = segment(model, a.image, names, a.k)
    labels = r["label_map"].numpy()
    counts = np.bincount(labels.ravel(), minlength=len(names))
    top = np.argsort(-counts)[:10]
    print("selected classes:", r["selected_classes"].tolist())
    print("label coverage:", ", ".join(f"{names[i]}={counts[i] / labels.size:.1%}" for i in top if counts[i]))
    if a.dump:
        w = GoldenWriter(a.dump)
        for name, t in flatten_intermediates(r):
            if name == "probs_resized" and not a.dump_resized_probs:
                continue  # T x H0 x W0 floats: 630 MB for ADE-150 on a 1500x700 image
            w.add(name, t)
        w.write_manifest({"config": json.loads(model.cfg.to_json()), "k": a.k, "t": len(names),
                          "image": os.path.abspath(a.image), "resized_u8_shape": list(resized.shape)})
        print(f"dumped {len(w.entries)} tensors to {a.dump}")


def cmd_bench(a) -> None:
    torch.set_num_threads(a.threads)
    cfg = get_config(a.size)
    model = build_random(a.size, 0, "fp32")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, cfg.image_size, cfg.image_size, generator=gen)
    text = torch.nn.functional.normalize(torch.randn(a.t, cfg.embed_dim, generator=gen), dim=-1)
    times, cpu = [], []
    timer = StageTimer()
    for i in range(a.warmup + a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        timer._t = (t0, c0)
        model.forward_intermediates(x, text, k=a.k, out_size=(cfg.image_size, cfg.image_size),
                                    timer=timer if i >= a.warmup else None)
        dt, dc = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        if i >= a.warmup:
            times.append(dt)
            cpu.append(dc)
    # CPU time / threads is what the wall time would be on an otherwise idle machine (it is a lower bound for it).
    print(f"{a.size} @ {cfg.image_size}, T={a.t}, K={min(a.k, a.t)}, threads={a.threads}: "
          f"median wall {np.median(times):.0f} ms/frame (runs: {', '.join(f'{t:.0f}' for t in times)}); "
          f"median CPU {np.median(cpu):.0f} ms/frame (= {np.median(cpu) / a.threads:.0f} ms per thread); "
          f"load average {os.getloadavg()[0]:.1f}")
    for stage in timer.cpu:
        print(f"  {stage:28s} CPU {timer.cpu[stage] / a.runs:8.0f} ms   wall {timer.wall[stage] / a.runs:8.0f} ms")
    if a.json:
        # Machine-readable copy for Scripts/bench/compare.sh. Milliseconds per frame; stages are means over runs.
        # One more (untimed) forward under PyTorch's FlopCounterMode gives the frame's GFLOP (2 per multiply-add of
        # convolutions, matmuls and attention; element-wise ops are not counted).
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter:
            model.forward_intermediates(x, text, k=a.k, out_size=(cfg.image_size, cfg.image_size))
        gflop = counter.get_total_flops() / 1e9
        doc = {"schema": "errseg-ref-bench/1", "size": a.size, "image_size": cfg.image_size, "t": a.t,
               "k": min(a.k, a.t), "threads": a.threads, "runs": a.runs, "warmup": a.warmup,
               "weights": "random, seed 0, fp32 (= write-checkpoint --seed 0)",
               "wall_ms": times, "cpu_ms": cpu, "median_wall_ms": float(np.median(times)),
               "median_cpu_ms": float(np.median(cpu)), "load_average": os.getloadavg()[0],
               "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
               "gflop_per_frame": gflop, "gflops_at_median_wall": gflop / (float(np.median(times)) / 1000),
               "stages": [{"stage": st, "cpu_ms": timer.cpu[st] / a.runs, "wall_ms": timer.wall[st] / a.runs}
                          for st in timer.cpu]}
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("write-checkpoint")
    p.add_argument("--size", default="tiny", choices=["tiny", "tiny_mlp", "b", "l"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--storage", choices=["fp32", "mixed", "fp16"], default=None,
                   help="tensor dtypes in the file (default: mixed for tiny, fp32 otherwise)")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_write_checkpoint)
    p = sub.add_parser("keys")
    p.add_argument("--size", default="b", choices=["tiny", "tiny_mlp", "b", "l"])
    p.set_defaults(fn=cmd_keys)
    p = sub.add_parser("run")
    p.add_argument("--size", default="b", choices=["tiny", "tiny_mlp", "b", "l"])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--vocab", required=True, help="JSON list of class names")
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dump", help="directory for <name>.bin + manifest.json of every intermediate")
    p.add_argument("--dump-resized-probs", action="store_true",
                   help="also dump probs_resized ([T,H0,W0], large at full size)")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("bench")
    p.add_argument("--size", default="b", choices=["tiny", "tiny_mlp", "b", "l"])
    p.add_argument("--t", type=int, default=150)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", help="also write the timings to this file (schema errseg-ref-bench/1)")
    p.set_defaults(fn=cmd_bench)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
