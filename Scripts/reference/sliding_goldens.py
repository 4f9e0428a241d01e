#!/usr/bin/env python3
"""Goldens for the sliding-window merge (Sources/VocaSegModels/Sliding), written with PyTorch.

The merge follows CAT-Seg's `inference_sliding_window` arithmetic (spec sliding-window-sed-mrovseg.md §3.2) on
probabilities (the Swift side receives per-window sigmoid probabilities at the model's output resolution):
  * every window's map [T, h, w] is bilinearly upsampled (align_corners False) to the window size and summed onto
    the canvas; the sum is divided by the coverage count (how many windows cover each pixel);
  * the global view's map is upsampled to the window size, then resized to the canvas, and blended:
    (1 - w) * average + w * global (w = 0.5 is CAT-Seg's (average + global) / 2);
  * the canvas is bilinearly resized to the output size and the argmax taken.
A class a window did not score counts as probability 0 there (CAT-Seg's -100 logit after its class pruning).

Case "catseg" is CAT-Seg's geometry scaled down (canvas 40, kernel 24, overlap 0.333: 2x2 windows that tile the
canvas exactly) and is merged with nn.Unfold / nn.Fold exactly as CAT-Seg does; the explicit-loop merge used for
the other cases is checked against it here. The other cases exercise the border clamping of the last row and
column (mmsegmentation's grid), per-window class subsets, a weight other than 0.5 and no global view.

Writes Tests/VocaSegModelsTests/Goldens/sliding/<case>.<name>.npy and manifest.json. Usage: sliding_goldens.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "VocaSegModelsTests", "Goldens", "sliding")


def grid_starts(length, window, overlap):
    stride = max(1, int(window * (1 - overlap) + 1e-9))
    count = max(length - window + stride - 1, 0) // stride + 1
    return [min(i * stride, length - window) for i in range(count)]


def up(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def merge_loop(win_full, origins, glob_full, canvas, window, weight):
    """win_full [N, T, h, w] (zeros for unscored classes), origins [(y, x)], glob_full [1, T, h, w] or None."""
    t = win_full.shape[1]
    acc = torch.zeros(1, t, canvas[0], canvas[1])
    count = torch.zeros(1, 1, canvas[0], canvas[1])
    for i, (y, x) in enumerate(origins):
        acc[:, :, y:y + window, x:x + window] += up(win_full[i:i + 1], (window, window))[0]
        count[:, :, y:y + window, x:x + window] += 1
    out = acc / count
    if glob_full is not None:
        g = up(up(glob_full, (window, window)), canvas)
        out = (1 - weight) * out + weight * g
    return out


def merge_catseg(win_full, glob_full, canvas, kernel, overlap):
    """CAT-Seg's fold/unfold merge with an equal global blend."""
    stride = int(kernel * (1 - overlap))
    fold = torch.nn.Fold(canvas, kernel_size=kernel, stride=stride)
    unfold = torch.nn.Unfold(kernel_size=kernel, stride=stride)
    n, t = win_full.shape[:2]
    outputs = up(win_full, (kernel, kernel))  # [N, T, k, k]
    outputs = outputs.permute(1, 2, 3, 0).reshape(1, t * kernel * kernel, n)  # unfold's column layout
    summed = fold(outputs)
    counts = fold(unfold(torch.ones(1, 1, canvas[0], canvas[1])))
    out = summed / counts
    g = up(up(glob_full, (kernel, kernel)), canvas)
    return (out + g) / 2


def scatter(probs, selections, t):
    """[N, K, h, w] on their selections -> [N, T, h, w] with zeros elsewhere."""
    full = torch.zeros(probs.shape[0], t, probs.shape[2], probs.shape[3])
    for i, sel in enumerate(selections):
        full[i, sel] = probs[i]
    return full


def make_case(name, gen, t, k, canvas, window, overlap, out_hw, out_res, weight, per_window, use_global):
    ys = grid_starts(canvas[0], window, overlap)
    xs = grid_starts(canvas[1], window, overlap)
    origins = [(y, x) for y in ys for x in xs]
    n = len(origins)
    probs = torch.rand(n, k, out_res[0], out_res[1], generator=gen)
    if per_window:
        selections = [sorted(torch.randperm(t, generator=gen)[:k].tolist()) for _ in range(n)]
    else:
        shared = sorted(torch.randperm(t, generator=gen)[:k].tolist())
        selections = [shared] * n
    gprobs = torch.rand(1, k, out_res[0], out_res[1], generator=gen) if use_global else None
    gsel = (sorted(torch.randperm(t, generator=gen)[:k].tolist()) if per_window else selections[0]) if use_global else None
    win_full = scatter(probs, selections, t)
    glob_full = scatter(gprobs, [gsel], t) if use_global else None
    merged = merge_loop(win_full, origins, glob_full, canvas, window, weight)
    if name == "catseg":
        reference = merge_catseg(win_full, glob_full, canvas, window, overlap)
        assert torch.allclose(merged, reference, atol=1e-6, rtol=0), "loop merge differs from CAT-Seg's fold merge"
        merged = reference
    classes = sorted(set(c for s in selections for c in s) | (set(gsel) if use_global else set()))
    final = up(merged[:, classes], out_hw)[0]
    labels = torch.tensor(classes)[final.argmax(dim=0)]
    arrays = {
        "window_probs": probs.numpy(),
        "window_selection": np.array(selections, dtype=np.int64),
        "origins": np.array(origins, dtype=np.int64),
        "merged": merged[0, classes].numpy(),
        "classes": np.array(classes, dtype=np.int64),
        "labels": labels.numpy().astype(np.int64),
    }
    if use_global:
        arrays["global_probs"] = gprobs[0].numpy()
        arrays["global_selection"] = np.array(gsel, dtype=np.int64)
    for key, value in arrays.items():
        np.save(os.path.join(OUT, f"{name}.{key}.npy"), np.ascontiguousarray(value))
    return {"classes_total": t, "canvas": list(canvas), "window": window, "overlap": overlap,
            "output": list(out_hw), "global_weight": weight if use_global else None, "windows": n}


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20241121)
    manifest = {
        "catseg": make_case("catseg", gen, t=3, k=3, canvas=(40, 40), window=24, overlap=0.333, out_hw=(30, 52),
                            out_res=(6, 6), weight=0.5, per_window=False, use_global=True),
        "clamped": make_case("clamped", gen, t=6, k=3, canvas=(37, 53), window=16, overlap=1 / 3, out_hw=(50, 70),
                             out_res=(4, 4), weight=0.3, per_window=True, use_global=True),
        "noglobal": make_case("noglobal", gen, t=5, k=2, canvas=(21, 34), window=16, overlap=0.25, out_hw=(21, 34),
                              out_res=(5, 5), weight=0.5, per_window=False, use_global=False),
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(json.dumps(manifest, sort_keys=True))


if __name__ == "__main__":
    main()
