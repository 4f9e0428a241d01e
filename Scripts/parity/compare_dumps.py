#!/usr/bin/env python3
"""Compares two tensor dumps in the golden layout (<dir>/manifest.json: tensors name -> {shape, dtype, file}).

Prints, for every tensor present in both: shape, max abs diff, max abs diff relative to the reference's max |x|,
and for int32 tensors the fraction of equal entries (label map agreement, selected classes). Then one PASS/FAIL
line per parity goal (the full-size ERR-Seg issue): selected classes identical, `logits` max abs diff
<= --max-logits-diff (1e-3), label maps agree on >= --min-label-agreement (99.9 %) of the pixels.
Exit status 1 if any goal fails (a goal tensor missing from either dump fails it).
Usage: compare_dumps.py REFERENCE_DIR CANDIDATE_DIR [--min-label-agreement 0.999] [--max-logits-diff 1e-3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def load(directory: str):
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as f:
        man = json.load(f)
    out = {}
    for name, e in man["tensors"].items():
        dt = "<f4" if e["dtype"] == "float32" else "<i4"
        out[name] = np.fromfile(os.path.join(directory, e["file"]), dtype=dt).reshape(e["shape"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--min-label-agreement", type=float, default=0.999)
    ap.add_argument("--max-logits-diff", type=float, default=1e-3)
    a = ap.parse_args()
    ref, cand = load(a.reference), load(a.candidate)
    ok = True
    goals = {}  # goal tensor -> measured value (None: missing / shape mismatch)
    print(f"{'tensor':40s} {'shape':>22s} {'max|diff|':>10s} {'rel':>9s}")
    for name, r in ref.items():
        if name not in cand:
            print(f"{name:40s} missing in candidate")
            continue
        c = cand[name]
        if c.shape != r.shape:
            print(f"{name:40s} shape {list(c.shape)} != reference {list(r.shape)}")
            continue
        if r.dtype.kind == "i":
            agree = float((r == c).mean()) if r.size else 1.0
            print(f"{name:40s} {str(list(r.shape)):>22s} agreement {agree:.4%}")
            if name in ("label_map", "selected_classes"):
                goals[name] = (agree, int((r != c).sum()), r.size)
        else:
            d = float(np.abs(r.astype(np.float64) - c).max()) if r.size else 0.0
            scale = float(np.abs(r).max()) if r.size else 1.0
            print(f"{name:40s} {str(list(r.shape)):>22s} {d:10.3g} {d / max(scale, 1e-30):9.2e}")
            if name == "logits":
                goals[name] = d
    print()

    def report(passed: bool, text: str) -> None:
        nonlocal ok
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {text}")

    sel = goals.get("selected_classes")
    report(sel is not None and sel[0] == 1.0,
           "selected classes identical: " + (f"{sel[2] - sel[1]} of {sel[2]} equal" if sel else "missing or shape differs"))
    lg = goals.get("logits")
    report(lg is not None and lg <= a.max_logits_diff,
           f"logits max abs diff <= {a.max_logits_diff:g}: " + (f"{lg:.3g}" if lg is not None else "missing or shape differs"))
    lm = goals.get("label_map")
    report(lm is not None and lm[0] >= a.min_label_agreement,
           f"label maps >= {a.min_label_agreement:.1%} identical: "
           + (f"{lm[0]:.4%} ({lm[1]} of {lm[2]} pixels differ)" if lm else "missing or shape differs"))
    print("PARITY OK" if ok else "PARITY FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
