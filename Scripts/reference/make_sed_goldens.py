#!/usr/bin/env python3
"""Writes the tiny SED goldens for the Swift port:
Tests/VocaSegModelsTests/Goldens/sed_tiny/ (linear visual head, like B) and .../sed_tiny_mlp/ (MLP head, like L).

Per folder (deterministic: fixed seed, one thread, the same bytes on every run):
  config.json     the tiny configuration (sed_ref/config.py, snake_case keys, plus derived lists)
  sed_<v>.pth     random weights (sed_ref/weights.py recipe, the variant's seed), official layout
                  {"model": state_dict, "iteration": 0} and key names; tensors with >= 4096 elements stored float16,
                  the rest float32; the goldens are computed from the weights exactly as stored
  image.png       70x100 RGB crop of Samples/still.png (rows 60..129, columns 130..229)
  vocab.json      {"classes": [...]}: 7 classes, some with ", "-separated synonyms
  <name>.bin      raw little-endian float32 / int32 tensors, row-major, PyTorch shapes
  manifest.json   name -> shape, dtype, file, sha256; seed, cer_k, sizes, survivors, checks
The same image is run twice: CER off (the plain names) and CER with k = 2 (the cer.* names).
Usage: python3 Scripts/reference/make_sed_goldens.py [--only tiny|tiny_mlp] [--out-root DIR]
       python3 Scripts/reference/make_sed_goldens.py --verify     (regenerate in a temp folder, compare bytes)
       python3 Scripts/reference/make_sed_goldens.py --search tiny --seeds 0:50   (which seeds pass the checks)
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
from errseg_paths import REPO  # noqa: E402
from errseg_ref.dump import GoldenWriter  # noqa: E402
from errseg_ref.preprocess import load_image_rgb  # noqa: E402
from sed import BPE, COMMON_NAMES, PLAIN_NAMES, segment  # noqa: E402
from sed_ref import SED, get_config  # noqa: E402
from sed_ref.text import IMAGENET_TEMPLATES, PromptTokenizer, synonyms, text_bank  # noqa: E402
from sed_ref.weights import init_random, load_checkpoint, round_to_storage, save_checkpoint  # noqa: E402

GOLDENS = os.path.join(REPO, "Tests", "VocaSegModelsTests", "Goldens")
STORAGE = "mixed"
CROP = (60, 130, 130, 230)  # rows 60..129, columns 130..229 of Samples/still.png -> 70 x 100
CLASSES = ["apple, apples", "leaf, leaves, foliage", "sky, clouds", "grass, lawn", "butterfly, moth", "coral reef",
           "lamp, bulb"]
CER_K = 2
# Seeds: the first seed in 0.. (--search) whose result passes every check below.
SEEDS = {"tiny": 21, "tiny_mlp": 0}
# Per-stage extras (`decoderN.cnext`, `decoderN.attn`) only for stage 1: the folder size is dominated by the
# checkpoint (the full-width decoder is 1.2 M parameters) and stages 2 and 3 are 4x and 16x larger.
GOLDEN_PLAIN_NAMES = [n for n in PLAIN_NAMES if n not in ("decoder2.cnext", "decoder2.attn", "decoder3.cnext",
                                                         "decoder3.attn")]
CER_NAMES = ["cer.survivors1", "cer.head1", "cer.survivors2", "cer.head2", "cer.survivors3", "cer.logits", "cer.probs",
             "cer.output", "cer.labels"]


def sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def golden_image() -> np.ndarray:
    img = load_image_rgb(os.path.join(REPO, "Samples", "still.png"))
    r0, r1, c0, c1 = CROP
    return np.ascontiguousarray(img[r0:r1, c0:c1])


def build(size: str, seed: int) -> SED:
    model = SED(get_config(size)).eval()
    init_random(model, seed)
    round_to_storage(model, STORAGE)
    return model


def run_both(model: SED, img: np.ndarray):
    text = text_bank(model.clip, CLASSES, PromptTokenizer(BPE, model.cfg.context_length))
    off, mapped = segment(model, img, text, None)
    on, _ = segment(model, img, text, CER_K)
    return text, off, on, mapped


def checks(off, on) -> dict:
    t = len(CLASSES)
    n = [int(on[f"cer.survivors{i}"].numel()) for i in (1, 2, 3)]
    labels_off, labels_on = off["labels"], on["cer.labels"]
    rejected = sorted(set(range(t)) - set(on["cer.survivors3"].tolist()))
    rejected_at, prev = {}, list(range(t))
    for i in (1, 2, 3):
        cur = on[f"cer.survivors{i}"].tolist()
        rejected_at[str(i)] = sorted(set(prev) - set(cur))
        prev = cur
    return {"t": t, "n1": n[0], "n2": n[1], "n3": n[2], "rejected_at": rejected_at,
            "rejected_total": rejected,
            "labels_off_classes": sorted(set(labels_off.flatten().tolist())),
            "labels_on_classes": sorted(set(labels_on.flatten().tolist())),
            "label_pixels_differing": int((labels_off != labels_on).sum()),
            "rejected_probs_exactly_zero": bool((on["cer.probs"][rejected] == 0).all()) if rejected else True,
            "surviving_probs_positive": bool((on["cer.probs"][on["cer.survivors3"].long()] > 0).all())}


def passes(c: dict) -> bool:
    n1, n2, n3 = c["n1"], c["n2"], c["n3"]
    # The seeds in SEEDS also reject at least two classes at point 1 (the stronger search criterion, "PASS2").
    return (n1 < c["t"] and n3 >= 2 and n1 >= n2 >= n3
            and len(c["labels_off_classes"]) >= 3 and c["label_pixels_differing"] > 0
            and c["rejected_probs_exactly_zero"] and c["surviving_probs_positive"])


def search(size: str, lo: int, hi: int) -> None:
    torch.set_num_threads(1)
    img = golden_image()
    for seed in range(lo, hi):
        model = build(size, seed)
        _, off, on, _ = run_both(model, img)
        c = checks(off, on)
        verdict = ("PASS2" if c["n1"] <= c["t"] - 2 else "PASS") if passes(c) else "-"
        print(seed, verdict, {k: c[k] for k in ("n1", "n2", "n3", "labels_off_classes",
                                                                    "label_pixels_differing")}, flush=True)


def write(size: str, out: str) -> None:
    torch.set_num_threads(1)
    seed = SEEDS[size]
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".bin"):
            os.remove(os.path.join(out, f))
    img = golden_image()
    Image.fromarray(img).save(os.path.join(out, "image.png"), optimize=True)
    img = load_image_rgb(os.path.join(out, "image.png"))
    ckpt = os.path.join(out, f"sed_{size}.pth")
    save_checkpoint(build(size, seed), ckpt, STORAGE)
    cfg = get_config(size)
    model = SED(cfg).eval()
    load_checkpoint(model, ckpt)  # the goldens come from the weights as a loader reads them
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        f.write(cfg.to_json() + "\n")
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({"classes": CLASSES}, f, indent=1)
        f.write("\n")

    text, off, on, mapped = run_both(model, img)
    c = checks(off, on)
    assert passes(c), f"{size} seed {seed}: checks failed: {c}"
    w = GoldenWriter(out)
    for n in COMMON_NAMES + GOLDEN_PLAIN_NAMES:
        w.add(n, off[n])
    for n in CER_NAMES:
        w.add(n, on[n])
    # The CER run recomputes everything before head0 on the same input: the shared names must agree bit for bit.
    for n in COMMON_NAMES:
        assert torch.equal(off[n], on[n]), n
    w.write_manifest({
        "description": f"SED {size} goldens from Scripts/reference/make_sed_goldens.py (PyTorch {torch.__version__}, "
                       "1 thread). float32/int32 little-endian, row-major; shapes as in PyTorch (per-class tensors: "
                       "class = batch row). Plain names: CER off; cer.* names: CER with top-k cer_k.",
        "config": "config.json",
        "checkpoint": {"file": os.path.basename(ckpt), "sha256": sha256_file(ckpt), "storage": STORAGE,
                       "seed": seed, "recipe": "Scripts/reference/sed_ref/weights.py (init_random)"},
        "image": {"file": "image.png", "height": int(img.shape[0]), "width": int(img.shape[1]),
                  "source": f"Samples/still.png rows {CROP[0]}..{CROP[1] - 1}, columns {CROP[2]}..{CROP[3] - 1}",
                  "sha256": sha256_file(os.path.join(out, "image.png"))},
        "mapped_size": [int(mapped[0]), int(mapped[1])],
        "vocab": {"file": "vocab.json", "classes": CLASSES, "synonyms": [synonyms(n) for n in CLASSES],
                  "templates": len(IMAGENET_TEMPLATES),
                  "prompt_order": "per class: template-major, synonym-minor; unit vectors averaged over synonyms "
                                  "per template, renormalised"},
        "t": len(CLASSES), "cer_k": CER_K,
        "cer": {"survivors1": on["cer.survivors1"].tolist(), "survivors2": on["cer.survivors2"].tolist(),
                "survivors3": on["cer.survivors3"].tolist(),
                "tie_rule": "stable descending sort: equal logits rank the lower class index first"},
        "checks": c,
    })
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{size}: seed {seed}, wrote {len(w.entries)} tensors to {out}; total {total / 1e6:.2f} MB; "
          f"N1/N2/N3 = {c['n1']}/{c['n2']}/{c['n3']} of {c['t']}; labels off {c['labels_off_classes']}, "
          f"on {c['labels_on_classes']}; {c['label_pixels_differing']} pixels differ")


def main() -> None:
    ap = argparse.ArgumentParser(description="write the tiny SED goldens")
    ap.add_argument("--only", choices=sorted(SEEDS))
    ap.add_argument("--out-root", default=GOLDENS)
    ap.add_argument("--search", choices=sorted(SEEDS), help="try seeds and print which pass the checks")
    ap.add_argument("--seeds", default="0:50")
    ap.add_argument("--verify", action="store_true",
                    help="regenerate into a temporary folder and compare every file with the committed goldens")
    a = ap.parse_args()
    if a.search:
        lo, hi = (int(s) for s in a.seeds.split(":"))
        search(a.search, lo, hi)
        return
    sizes = [a.only] if a.only else sorted(SEEDS)
    if a.verify:
        import filecmp
        import tempfile
        ok = True
        with tempfile.TemporaryDirectory() as tmp:
            for size in sizes:
                ref, new = os.path.join(a.out_root, f"sed_{size}"), os.path.join(tmp, f"sed_{size}")
                write(size, new)
                files = sorted(set(os.listdir(ref)) | set(os.listdir(new)))
                bad = [f for f in files if not (os.path.exists(os.path.join(ref, f)) and os.path.exists(
                    os.path.join(new, f)) and filecmp.cmp(os.path.join(ref, f), os.path.join(new, f), shallow=False))]
                print(f"{size}: {len(files) - len(bad)} of {len(files)} files identical"
                      + (f"; differ: {bad}" if bad else ""))
                ok &= not bad
        if not ok:
            raise SystemExit(1)
        return
    for size in sizes:
        write(size, os.path.join(a.out_root, f"sed_{size}"))


if __name__ == "__main__":
    main()
