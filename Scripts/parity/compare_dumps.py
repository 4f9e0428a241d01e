#!/usr/bin/env python3
"""Compares two tensor dumps in the golden layout (<dir>/manifest.json: tensors name -> {shape, dtype, file}).

Prints, for every tensor present in both: shape, max abs diff, max abs diff relative to the reference's max |x|,
and for int32 tensors the fraction of equal entries (label map agreement, selected classes).
Exit status 1 if the label maps agree on fewer than --min-label-agreement of the pixels or the selected classes differ.
Usage: compare_dumps.py REFERENCE_DIR CANDIDATE_DIR [--min-label-agreement 0.99]
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
    ap.add_argument("--min-label-agreement", type=float, default=0.99)
    a = ap.parse_args()
    ref, cand = load(a.reference), load(a.candidate)
    ok = True
    print(f"{'tensor':40s} {'shape':>22s} {'max|diff|':>10s} {'rel':>9s}")
    for name, r in ref.items():
        if name not in cand:
            print(f"{name:40s} missing in candidate")
            continue
        c = cand[name]
        if c.shape != r.shape:
            print(f"{name:40s} shape {list(c.shape)} != reference {list(r.shape)}")
            ok &= name not in ("label_map", "selected_classes")
            continue
        if r.dtype.kind == "i":
            agree = float((r == c).mean()) if r.size else 1.0
            print(f"{name:40s} {str(list(r.shape)):>22s} agreement {agree:.4%}")
            if name == "label_map":
                ok &= agree >= a.min_label_agreement
            if name == "selected_classes":
                ok &= agree == 1.0
        else:
            d = float(np.abs(r.astype(np.float64) - c).max()) if r.size else 0.0
            scale = float(np.abs(r).max()) if r.size else 1.0
            print(f"{name:40s} {str(list(r.shape)):>22s} {d:10.3g} {d / max(scale, 1e-30):9.2e}")
    print("PARITY OK" if ok else "PARITY FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
