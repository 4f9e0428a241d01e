#!/usr/bin/env python3
"""Summary of a Scripts/bench/compare.sh run over several runtimes (--runtimes other than ours,torch).

  compare_summary.py OUT_DIR ROUNDS SIDES     (SIDES: comma-separated, e.g. ours,torch,ort,openvino)

Reads OUT_DIR/ours_<r>.json (vocaseg bench), ref_<r>.json (errseg.py bench), rt_<side>_<r>.json
(runtime_bench.py) and onnx_check.json (export_onnx.py check), prints the per-round times, one line per runtime
(median ms/frame over every timed frame, CPU ms, ratio ours/runtime, the export check's figures) and our stages.
"""
from __future__ import annotations

import json
import os
import statistics
import sys

NAMES = {"ours": "ours", "ours-bf16": "ours bf16", "torch": "PyTorch", "ort": "ONNX Runtime", "openvino": "OpenVINO f32",
         "openvino-bf16": "OpenVINO bf16"}
CHECK_KEYS = {"ort": "onnxruntime", "openvino": "openvino f32", "openvino-bf16": "openvino bf16"}


def side_file(out: str, side: str, r: int) -> str:
    name = {"ours": f"ours_{r}.json", "ours-bf16": f"ours-bf16_{r}.json",
            "torch": f"ref_{r}.json"}.get(side, f"rt_{side}_{r}.json")
    return os.path.join(out, name)


def main() -> None:
    out, rounds, sides = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    per_round = {s: [] for s in sides}  # each round's per-frame median
    frames = {s: [] for s in sides}     # every timed frame (wall ms); ours: the p50 of each round
    cpu = {s: [] for s in sides}
    last = {}
    for r in range(1, rounds + 1):
        for s in sides:
            with open(side_file(out, s, r), encoding="utf-8") as f:
                d = json.load(f)
            last[s] = d
            if s in ("ours", "ours-bf16"):
                inf = next(st for st in d["stages"] if st["stage"] == "inference")
                per_round[s].append(inf["p50Milliseconds"])
                frames[s].append(inf["p50Milliseconds"])
            else:
                per_round[s].append(statistics.median(d["wall_ms"]))
                frames[s].extend(d["wall_ms"])
                cpu[s].extend(d["cpu_ms"])

    w = 17
    print("\n" + f"{'round':>5} " + " ".join(f"{NAMES[s] + ' ms':>{w}}" for s in sides))
    for i in range(rounds):
        print(f"{i + 1:5d} " + " ".join(f"{per_round[s][i]:{w}.0f}" for s in sides))

    check = {}
    check_file = os.path.join(out, "onnx_check.json")
    if os.path.exists(check_file):
        with open(check_file, encoding="utf-8") as f:
            check = json.load(f)["results"]
    med = {s: statistics.median(frames[s]) for s in sides}
    print(f"\n{'runtime':14s} {'version':26s} {'ms/frame':>9} {'CPU ms':>8} {'ours/it':>8}  check against PyTorch")
    for s in sides:
        d = last[s]
        if s in ("ours", "ours-bf16"):
            version = f"vocaseg ({d['settings'].get('precision', 'fp32')})"
        elif s == "torch":
            version = f"torch {d['torch']}"
        else:
            version = f"{d['runtime']} {d['runtime_version'].split('-')[0]} ({d['precision']})"
        c = f"{statistics.median(cpu[s]):8.0f}" if cpu[s] else f"{'':>8}"
        ratio = f"{med['ours'] / med[s]:8.3f}" if "ours" in med else f"{'':>8}"
        figures = ""
        f = check.get(CHECK_KEYS.get(s, ""))
        if f:
            figures = (f"selection identical {f['selected_classes_identical']}, logits max abs diff "
                       f"{f['logits_max_abs_diff']:.2g}, label map {f['label_map_agreement']:.4%}")
            if "label_map_agreement_vs_openvino_f32" in f:
                figures += f" ({f['label_map_agreement_vs_openvino_f32']:.2%} of OpenVINO f32's)"
        print(f"{NAMES[s]:14s} {version:26s} {med[s]:9.0f} {c} {ratio}  {figures}")
    print("(ms/frame: median over every timed frame; ours: over the rounds' p50; ours/it < 1: ours is faster)")
    if "ours-bf16" in med and "openvino-bf16" in med:
        print(f"ours bf16 / OpenVINO bf16: {med['ours-bf16'] / med['openvino-bf16']:.3f}")
    if "ours" in last:
        stages = {st["stage"]: st["p50Milliseconds"] for st in last["ours"]["stages"]}
        print("ours by stage (round %d, p50 ms): %s" % (rounds, ", ".join(
            f"{k.removeprefix('inference.')} {v:.0f}" for k, v in stages.items() if k.startswith("inference."))))
    if "torch" in last:
        print("PyTorch by stage (round %d, wall ms): %s" % (rounds, ", ".join(
            f"{st['stage']} {st['wall_ms']:.0f}" for st in last["torch"]["stages"])))
    threads = {NAMES[s]: last[s].get("torch_threads") or last[s].get("threads") for s in sides if not s.startswith("ours")}
    line = f"threads: {json.dumps(threads)}"
    if "ours" in last:
        o = last["ours"]
        line += (f"; ours settings {json.dumps(o['settings'])}; "
                 f"machine {o['machine']['cpu']}, {o['machine']['cores']} cores")
    print(line)


if __name__ == "__main__":
    main()
