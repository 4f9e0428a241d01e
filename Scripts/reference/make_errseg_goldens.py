#!/usr/bin/env python3
"""Writes the tiny ERR-Seg goldens for the Swift port: Tests/VocaSegModelsTests/Goldens/errseg_tiny/.

Contents (all deterministic, fixed seeds):
  config.json           the tiny configuration (every size the Swift side needs to build the same model)
  errseg_tiny.pth       random weights, detectron2 layout {"model": state_dict, "iteration": 0}, official key names;
                        tensors with >= 4096 elements stored as float16, the rest float32
  image.png             synthetic 64x48 RGB input;  vocab.json  the 8 class names (T=8), K=4
  image_large.png       synthetic 1500x700 image for the downscale + max-size branch of the resize (preprocess only)
  <name>.bin            raw little-endian float32 / int32 tensors, row-major (C order)
  manifest.json         name -> shape, dtype, file, sha256; plus the run parameters
Usage: python3 Scripts/reference/make_errseg_goldens.py [--out DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from errseg_ref import ErrSeg, get_config  # noqa: E402
from errseg_ref.dump import GoldenWriter, flatten_intermediates  # noqa: E402
from errseg_ref.model import crm_scores, select_classes  # noqa: E402
from errseg_ref.preprocess import load_image_rgb, preprocess  # noqa: E402
from errseg_ref.tokens import prompt_for, tokenize  # noqa: E402
from errseg_ref.weights import init_random, load_checkpoint, round_to_storage, save_checkpoint  # noqa: E402
from errseg_paths import GOLDENS_TINY, SHARED  # noqa: E402

SEED = 0
STORAGE = "mixed"
K = 4
# Includes a synonym list (only "building" is used) and a trailing space (removed by the tokenizer cleanup).
VOCAB = ["wall", "building, edifice", "sky", "floor", "tree", "bed ", "traffic light", "person"]
# Scales the layer scale of each stage's last trunk block so that ~0.2-1 % of the guidance values exceed
# +-16 and the decoder's clamp actually changes something.
CLAMP_EXERCISE_GAMMA_SCALE = 12.0


def sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def synthetic_image(w: int, h: int, seed: int, texture: bool = True) -> np.ndarray:
    """Smooth gradients, a few flat shapes and a sine texture: structure for the model, small as PNG."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 40 + 180 * xx / max(w - 1, 1)
    img[..., 1] = 60 + 140 * yy / max(h - 1, 1)
    img[..., 2] = 128 + 90 * np.sin(xx / w * 6.0) * np.cos(yy / h * 4.0)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        r = rng.uniform(0.1, 0.25) * min(w, h)
        color = rng.uniform(0, 255, 3)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[mask] = color
    x0, y0 = int(0.55 * w), int(0.1 * h)
    img[y0:y0 + h // 3, x0:x0 + w // 4] = (250, 250, 30)
    if texture:  # fine texture so the 7x7 convs see edges (left out of the large image to keep its PNG small)
        img[..., 1] += 25 * np.sin(xx * 0.9) * np.sin(yy * 0.7)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def crm_tie_case() -> torch.Tensor:
    """Hand-built os16 cost map (T=6, 2x3 pixels) whose rank scores tie exactly: per rank the same counts give the
    same float32 sums. Scores: c5 2.22; c0 = c2 = 1.11; c1 = c3 = 1.1; c4 0.02. With K=2 the tie c0/c2 sits at
    the boundary (-> c0), with K=4 the tie c1/c3 does (-> c1)."""
    t, h, w = 6, 2, 3
    orders = [[5, 1, 0], [5, 3, 2], [1, 5, 4], [3, 5, 4], [0, 2, 5], [2, 0, 5]]  # per pixel, best class first
    corr = torch.full((1, 1, t, h, w), -0.5)
    for p, order in enumerate(orders):
        for rank, c in enumerate(order):
            corr[0, 0, c, p // w, p % w] = 0.9 - 0.2 * rank
    return corr


def main() -> None:
    ap = argparse.ArgumentParser(description="write the tiny ERR-Seg goldens")
    ap.add_argument("--out", default=GOLDENS_TINY)
    a = ap.parse_args()
    out = a.out
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    cfg = get_config("tiny")

    # Model: random weights, clamp-exercising layer scale, rounded to what the file stores; save, reload.
    model = ErrSeg(cfg).eval()
    init_random(model, SEED)
    with torch.no_grad():
        for stage in model.clip.visual.trunk.stages:
            stage.blocks[-1].gamma.mul_(CLAMP_EXERCISE_GAMMA_SCALE)
    round_to_storage(model, STORAGE)
    ckpt = os.path.join(out, "errseg_tiny.pth")
    save_checkpoint(model, ckpt, STORAGE)
    model = ErrSeg(cfg).eval()
    load_checkpoint(model, ckpt)  # goldens come from the weights exactly as a loader reads them

    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        f.write(cfg.to_json() + "\n")
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(VOCAB, f)
        f.write("\n")
    Image.fromarray(synthetic_image(64, 48, 1)).save(os.path.join(out, "image.png"), optimize=True)
    Image.fromarray(synthetic_image(1500, 700, 2, texture=False)).save(os.path.join(out, "image_large.png"),
                                                                       optimize=True)

    w = GoldenWriter(out)
    img = load_image_rgb(os.path.join(out, "image.png"))
    x, resized = preprocess(img, cfg)
    bpe = os.path.join(SHARED, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
    tokens = tokenize(VOCAB, cfg.prompt_template, bpe, cfg.context_length)
    w.add("tokens", tokens)
    text = model.text_embeddings(tokens)
    r = model.forward_intermediates(x, text, k=K, out_size=img.shape[:2])
    for name, t in flatten_intermediates(r):
        w.add(name, t)

    # Clamp coverage (reported in the manifest so a reader can see the clamp matters).
    clamped = {n: int((f.abs() > cfg.guidance_clamp).sum()) for n, f in r["trunk_features"].items()}

    # Downscale + max-size branch of the resize; the squash target is the tiny model's 128.
    large = load_image_rgb(os.path.join(out, "image_large.png"))
    x_large, resized_large = preprocess(large, cfg)
    w.add("preprocess_large.input", x_large)

    corr = crm_tie_case()
    scores = crm_scores(corr, cfg.crm_top, cfg.crm_rank_weights)
    w.add("crm_ties.corr16", corr)
    w.add("crm_ties.scores", scores)
    tie_sel = {k_tie: select_classes(scores, k_tie) for k_tie in (2, 4)}
    assert tie_sel[2].tolist() == [0, 5] and tie_sel[4].tolist() == [0, 1, 2, 5], tie_sel
    for k_tie, sel in tie_sel.items():
        w.add(f"crm_ties.selected_k{k_tie}", sel)

    labels = r["label_map"]
    present = sorted(set(labels.flatten().tolist()))
    assert len(present) > 1, "label map must not be trivial"
    assert len(r["selected_classes"]) == K < len(VOCAB)

    w.write_manifest({
        "description": "ERR-Seg tiny-config goldens from Scripts/reference/make_errseg_goldens.py (PyTorch "
                       f"{torch.__version__}). float32/int32 little-endian, row-major; shapes as in PyTorch (NCHW).",
        "config": "config.json",
        "checkpoint": {"file": "errseg_tiny.pth", "sha256": sha256_file(ckpt), "storage": STORAGE,
                       "seed": SEED, "clamp_exercise_gamma_scale": CLAMP_EXERCISE_GAMMA_SCALE},
        "image": {"file": "image.png", "height": int(img.shape[0]), "width": int(img.shape[1]),
                  "sha256": sha256_file(os.path.join(out, "image.png"))},
        "resized_u8": {"shape": list(resized.shape), "sha256": hashlib.sha256(resized.tobytes()).hexdigest(),
                       "note": "PIL BILINEAR short-edge resize (800, max 1333) of image.png, HWC uint8"},
        "image_large": {"file": "image_large.png", "height": int(large.shape[0]), "width": int(large.shape[1]),
                        "resized_u8_shape": list(resized_large.shape),
                        "resized_u8_sha256": hashlib.sha256(resized_large.tobytes()).hexdigest(),
                        "golden": "preprocess_large.input"},
        "vocab": {"file": "vocab.json", "prompts": [prompt_for(n, cfg.prompt_template) for n in VOCAB]},
        "t": len(VOCAB), "k": K,
        "label_classes_present": present,
        "guidance_values_clamped": clamped,
        "crm_ties": {"k": [2, 4], "rule": "higher score first, ties to the lower class index; result sorted ascending"},
    })
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {len(w.entries)} tensors to {out}; total {total / 1e6:.2f} MB; "
          f"selected {r['selected_classes'].tolist()}, labels present {present}, clamped {clamped}")


if __name__ == "__main__":
    main()
