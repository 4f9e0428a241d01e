#!/usr/bin/env python3
"""Runs the reference's EOV-Seg decoder (VAS + the CrossAttenHead stages) on the Swift dump's own inputs
(`aggr.out`, `vit.out`, `text.classifier`) and prints, per decoder tensor, its max abs diff against the Swift dump
(same inputs: the decoder's own error) and against the reference run (the error that came from upstream), plus how
many pixels change sign in each stage's mask logits: the next stage keeps `sigmoid(m) > 0.5` as a hard mask, so a
single flipped pixel moves that query's kernel by one pixel's features (the discontinuity that amplifies float32
noise into the last stage's masks and classes). Short: one decoder pass plus loading the checkpoint.

Usage: eovseg_isolate_decoder.py SIZE CHECKPOINT REFERENCE_DUMP SWIFT_DUMP
"""
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(here, "..", "reference"), here]
from compare_dumps import load  # noqa: E402
from eovseg_ref import EOVSeg, get_config  # noqa: E402
from eovseg_ref.weights import load_checkpoint  # noqa: E402


def main() -> None:
    size, ckpt, refd, swd = sys.argv[1:5]
    torch.set_num_threads(1)
    model = EOVSeg(get_config(size)).eval()
    load_checkpoint(model, ckpt)
    r, c = load(refd), load(swd)
    counts = [int(x) for x in c["text.synonym_counts"]]
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    out = {}
    with torch.no_grad():
        model.light_weight_decoder(t(c["aggr.out"]), t(c["vit.out"]), t(c["text.classifier"]), counts, out)
    last = model.cfg.num_stages - 1
    names = ["vas.out", "decoder.mask0"] + [f"decoder.stage{i}.{k}" for i in range(last + 1)
                                            for k in ("kernels", "masks")] + [f"decoder.stage{last}.cls"]
    print(f"{'tensor':24s} {'same inputs':>12s} {'reference run':>14s}  mask sign flips (same inputs / reference run)")
    for n in names:
        if n not in out or n not in c:
            continue
        a, b, ref = out[n].numpy(), c[n], r[n]
        flips = ""
        if n.endswith("masks") or n == "decoder.mask0":
            flips = f"  {int(((a > 0) != (b > 0)).sum())} / {int(((ref > 0) != (b > 0)).sum())}"
        print(f"{n:24s} {np.abs(a - b).max():12.3g} {np.abs(ref - b).max():14.3g}{flips}")


if __name__ == "__main__":
    main()
