#!/usr/bin/env python3
"""Writes the tiny EOV-Seg goldens for the Swift port:
Tests/VocaSegModelsTests/Goldens/eovseg_tiny_rn/ and .../eovseg_tiny_cnx/.

Per folder (all deterministic: fixed seeds, one thread, same bytes on every run):
  config.json       the tiny configuration (snake_case keys of the Swift EOVSegConfig, plus a few extra keys)
  eovseg_<v>.pth    calibrated random weights, official layout {"model": state_dict, "iteration": 0}, official key
                    names; tensors with >= 4096 elements stored as float16, the rest float32 (goldens are computed
                    from the weights exactly as a loader reads them)
  image.png         70x100 RGB crop of Samples/still.png (not a multiple of 32: the input is padded)
  vocab.json        {"classes": [...comma-separated synonyms...], "thing": [...]}: 7 classes, seen and unseen,
                    things and stuff
  <name>.bin        raw little-endian float32 / int32 tensors, row-major (NCHW, batch 1); NaN written as NaN
  manifest.json     name -> shape, dtype, file, sha256; segments, resized size, seed, calibration, checks
Usage: python3 Scripts/reference/make_eovseg_goldens.py [--only tiny_rn|tiny_cnx] [--out-root DIR]
       python3 Scripts/reference/make_eovseg_goldens.py --verify     (regenerate in a temp folder, compare bytes)
       python3 Scripts/reference/make_eovseg_goldens.py --search tiny_cnx --seeds 0:200   (finds seeds that pass)
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
from eovseg import Vocabulary, segment  # noqa: E402
from eovseg_ref import EOVSeg, get_config  # noqa: E402
from eovseg_ref.preprocess import load_image_rgb, preprocess  # noqa: E402
from eovseg_ref.text import VILD_PROMPT  # noqa: E402
from eovseg_ref.weights import (Calibration, calibrate_on_input, init_random, load_checkpoint,  # noqa: E402
                                round_to_storage, save_checkpoint)
from errseg_ref.dump import GoldenWriter  # noqa: E402
from errseg_paths import REPO  # noqa: E402

GOLDENS = os.path.join(REPO, "Tests", "VocaSegModelsTests", "Goldens")
STORAGE = "mixed"
CROP = (60, 130, 130, 230)  # rows 60..129, columns 130..229 of Samples/still.png -> 70 x 100
CLASSES = ["apple, apples", "leaf, leaves, foliage", "sky, clouds", "grass, lawn", "butterfly, moth", "coral reef",
           "lamp, bulb"]
THING = [True, False, False, False, True, False, True]
# Seeds found with --search (the first seed in 0.. whose result passes every check below), and the calibration.
VARIANTS = {
    "tiny_rn": dict(seed=22, cal=Calibration(decoder_logit_scale=4.6052, mask_offset=4.0, mask_offset_weight=-2.0)),
    "tiny_cnx": dict(seed=33, cal=Calibration(decoder_logit_scale=4.6052, mask_offset=4.0, mask_offset_weight=-2.0)),
}


def sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def golden_image() -> np.ndarray:
    img = load_image_rgb(os.path.join(REPO, "Samples", "still.png"))
    r0, r1, c0, c1 = CROP
    return np.ascontiguousarray(img[r0:r1, c0:c1])


def build(size: str, seed: int, cal: Calibration, img: np.ndarray, vocab: Vocabulary) -> EOVSeg:
    """Base draw, data-dependent calibration on the golden image and vocabulary, rounding to the stored dtypes."""
    model = EOVSeg(get_config(size)).eval()
    init_random(model, seed, cal)
    x, _ = preprocess(img, model.cfg)
    calibrate_on_input(model, x, vocab.tokens, len(VILD_PROMPT), vocab.counts, vocab.seen, cal)
    round_to_storage(model, STORAGE)
    return model


def checks(r, info, cfg) -> dict:
    segs = info["segments"]
    mc = r["clip.mask_small"][0]
    empty = [q for q in range(mc.shape[0]) if not bool((mc[q] > 0).any())]
    nan_rows = [q for q in range(mc.shape[0]) if bool(torch.isnan(r["clip.pooled"][0, q]).any())]
    return {"segments": len(segs), "things": sum(s["isthing"] for s in segs),
            "stuff": sum(not s["isthing"] for s in segs),
            "merged_stuff_queries": info["details"]["merged_stuff_queries"],
            "empty_mask_queries": empty, "nan_pooled_queries": nan_rows}


def passes(c: dict) -> bool:
    return (c["segments"] >= 5 and c["things"] > 0 and c["stuff"] > 0 and len(c["merged_stuff_queries"]) > 0
            and len(c["empty_mask_queries"]) > 0)


def search(size: str, lo: int, hi: int, cal: Calibration) -> None:
    torch.set_num_threads(1)
    img = golden_image()
    vocab = Vocabulary(CLASSES, THING)
    for seed in range(lo, hi):
        model = build(size, seed, cal, img, vocab)
        r, info = segment(model, img, vocab)
        c = checks(r, info, model.cfg)
        print(seed, "PASS" if passes(c) else "-", c, flush=True)


def write(size: str, out: str) -> None:
    torch.set_num_threads(1)
    v = VARIANTS[size]
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".bin"):
            os.remove(os.path.join(out, f))
    img = golden_image()
    Image.fromarray(img).save(os.path.join(out, "image.png"), optimize=True)
    img = load_image_rgb(os.path.join(out, "image.png"))
    vocab = Vocabulary(CLASSES, THING)
    model = build(size, v["seed"], v["cal"], img, vocab)
    ckpt = os.path.join(out, f"eovseg_{size}.pth")
    save_checkpoint(model, ckpt, STORAGE)
    cfg = get_config(size)
    model = EOVSeg(cfg).eval()
    load_checkpoint(model, ckpt)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        f.write(cfg.to_json() + "\n")
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({"classes": CLASSES, "thing": THING}, f, indent=1)
        f.write("\n")

    r, info = segment(model, img, vocab)
    c = checks(r, info, cfg)
    assert passes(c), f"{size}: calibration checks failed: {c}"
    if cfg.backbone == "resnet":
        assert c["nan_pooled_queries"] == c["empty_mask_queries"], c  # the NaN path of the attention pool
    w = GoldenWriter(out)
    names = ["input.tensor", "text.tokens", "text.classifier", "text.synonym_counts", "seen", "thing",
             "backbone.res2", "backbone.res3", "backbone.res4", "backbone.res5", "vit.out", "aggr.out",
             "vas.guide", "vas.gate", "vas.out", "decoder.upscaled", "decoder.mask0"]
    for s in range(cfg.num_stages):
        names += [f"decoder.stage{s}.kernels", f"decoder.stage{s}.masks"]
    names += [f"decoder.stage{cfg.num_stages - 1}.cls", "clip.mask_small", "clip.pooled", "clip.logits",
              "ensemble.logp", "post.masks", "panoptic.ids", "semantic.labels"]
    for n in names:
        w.add(n, r[n])
    w.write_manifest({
        "description": f"EOV-Seg {size} goldens from Scripts/reference/make_eovseg_goldens.py (PyTorch "
                       f"{torch.__version__}). float32/int32 little-endian, row-major; shapes as in PyTorch (NCHW, "
                       "batch 1). NaN values are real results (attention pool over an empty mask) and compare "
                       "equal to NaN.",
        "config": "config.json",
        "checkpoint": {"file": os.path.basename(ckpt), "sha256": sha256_file(ckpt), "storage": STORAGE,
                       "seed": v["seed"], "calibration": v["cal"].to_dict(),
                       "recipe": "Scripts/reference/eovseg_ref/weights.py (init_random + calibrate_on_input on "
                                 "image.png and vocab.json)"},
        "image": {"file": "image.png", "height": int(img.shape[0]), "width": int(img.shape[1]),
                  "source": f"Samples/still.png rows {CROP[0]}..{CROP[1] - 1}, columns {CROP[2]}..{CROP[3] - 1}",
                  "sha256": sha256_file(os.path.join(out, "image.png"))},
        "resized_size": info["resized_size"], "padded_size": info["padded_size"],
        "vocab": {"file": "vocab.json", "classes": CLASSES, "thing": THING, "seen": vocab.seen.tolist(),
                  "synonym_counts": vocab.counts, "prompts_per_synonym": len(VILD_PROMPT),
                  "prompt_order": "class, then synonym, then template"},
        "k": len(CLASSES), "t": int(r["text.classifier"].shape[0]),
        "segments": info["segments"],
        "panoptic": {"kept_queries": info["details"]["kept_queries"],
                     "segment_queries": info["details"]["segment_queries"],
                     "merged_stuff_queries": info["details"]["merged_stuff_queries"],
                     "query_labels": info["details"]["labels"]},
        "checks": c,
        "semantic": "computed on the resized masks (panoptic on), void dropped after the softmax",
    })
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{size}: wrote {len(w.entries)} tensors to {out}; total {total / 1e6:.2f} MB; {c}")


def main() -> None:
    ap = argparse.ArgumentParser(description="write the tiny EOV-Seg goldens")
    ap.add_argument("--only", choices=sorted(VARIANTS))
    ap.add_argument("--out-root", default=GOLDENS)
    ap.add_argument("--search", choices=sorted(VARIANTS), help="try seeds with the variant's calibration")
    ap.add_argument("--seeds", default="0:50")
    ap.add_argument("--mask-offset", type=float, help="override the variant's calibration mask_offset in --search")
    ap.add_argument("--verify", action="store_true",
                    help="regenerate into a temporary folder and compare every file with the committed goldens")
    a = ap.parse_args()
    if a.search:
        lo, hi = (int(s) for s in a.seeds.split(":"))
        cal = VARIANTS[a.search]["cal"]
        if a.mask_offset is not None:
            cal = Calibration(**{**cal.to_dict(), "mask_offset": a.mask_offset})
        search(a.search, lo, hi, cal)
        return
    if a.verify:
        import filecmp
        import tempfile
        ok = True
        with tempfile.TemporaryDirectory() as tmp:
            for size in ([a.only] if a.only else sorted(VARIANTS)):
                write(size, os.path.join(tmp, f"eovseg_{size}"))
                ref, new = os.path.join(a.out_root, f"eovseg_{size}"), os.path.join(tmp, f"eovseg_{size}")
                files = sorted(set(os.listdir(ref)) | set(os.listdir(new)))
                bad = [f for f in files if not (os.path.exists(os.path.join(ref, f)) and os.path.exists(
                    os.path.join(new, f)) and filecmp.cmp(os.path.join(ref, f), os.path.join(new, f), shallow=False))]
                print(f"{size}: {len(files) - len(bad)} of {len(files)} files identical" + (f"; differ: {bad}" if bad else ""))
                ok &= not bad
        if not ok:
            raise SystemExit(1)
        return
    for size in ([a.only] if a.only else sorted(VARIANTS)):
        write(size, os.path.join(a.out_root, f"eovseg_{size}"))


if __name__ == "__main__":
    main()
