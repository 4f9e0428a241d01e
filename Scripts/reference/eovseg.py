#!/usr/bin/env python3
"""EOV-Seg inference reference (PyTorch, CPU), written from ../shared/specs/eovseg.md.

Sub-commands:
  keys              print our state-dict keys as "key<TAB>[shape]<TAB>dtype" (the spec list format)
  check-keys        diff our state dicts for s / m / l against ../shared/specs/eovseg-statedict-*.txt (must be exact)
  self-check        check-keys + the plain-torch modulated deformable conv against the torchvision goldens in
                    Tests/VocaSegTensorTests/Goldens/structural (max abs diff <= 1e-5)
  write-checkpoint  seeded, calibrated random weights in the official layout {"model": state_dict, "iteration": 0}
  run               segment one image (panoptic + semantic); optionally dump every intermediate
  bench             time one frame, forward + post-processing (text excluded), at 640x864, T=404 (ADE-150)

Examples:
  python3 Scripts/reference/eovseg.py self-check
  python3 Scripts/reference/eovseg.py write-checkpoint --size s --out /tmp/eovseg_s_random.pth
  python3 Scripts/reference/eovseg.py run --size s --checkpoint /tmp/eovseg_s_random.pth --image photo.jpg \
      --vocab ../shared/data/vocab-synonyms/ade20k_150.txt --dump /tmp/eovseg_dump
  python3 Scripts/reference/eovseg.py bench --size s --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eovseg_ref import EOVSeg, get_config  # noqa: E402
from eovseg_ref.config import CONFIGS, SPEC_KEY_FILES  # noqa: E402
from eovseg_ref.model import (StageTimer, panoptic_details, panoptic_inference, postprocess_masks,  # noqa: E402
                              semantic_inference)
from eovseg_ref.preprocess import load_image_rgb, preprocess  # noqa: E402
from eovseg_ref.text import VILD_PROMPT, load_vocab, prompts_for, seen_mask, tokenize_prompts  # noqa: E402
from eovseg_ref.weights import Calibration, init_random, load_checkpoint, round_to_storage, save_checkpoint  # noqa
from errseg_ref.dump import GoldenWriter  # noqa: E402
from errseg_paths import REPO, SHARED  # noqa: E402

BPE = os.path.join(SHARED, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
COCO_TRAIN_SYNONYMS = os.path.join(SHARED, "data", "vocab-synonyms", "coco_panoptic.txt")
ADE150_SYNONYMS = os.path.join(SHARED, "data", "vocab-synonyms", "ade20k_150.txt")
SPECS = os.path.join(SHARED, "specs")
STRUCTURAL = os.path.join(REPO, "Tests", "VocaSegTensorTests", "Goldens", "structural")
SIZES = sorted(CONFIGS)

# Defaults of write-checkpoint (make_eovseg_goldens.py keeps its own for the tiny goldens): seed and calibration
# per size, found by trying a few seeds on a real photo with CALIB_VOCAB (see README, "Calibrated checkpoints").
CALIB_VOCAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "eovseg_calib_vocab.json")
DEFAULT_SEED: Dict[str, int] = {"s": 0, "m": 0, "l": 0}
DEFAULT_CALIBRATION: Dict[str, Calibration] = {
    "s": Calibration(decoder_logit_scale=2.6593, mask_offset=32.0, mask_offset_weight=-2.0,
                     center_class_embeddings=True, center_clip_embeddings=True),
    "m": Calibration(decoder_logit_scale=4.6052, mask_offset=48.0, mask_offset_weight=-2.0, clip_logit_scale=1.6),
    "l": Calibration(decoder_logit_scale=4.6052, mask_offset=32.0, mask_offset_weight=-2.0),
}


def key_lines(size: str) -> List[str]:
    with torch.device("meta"):
        model = EOVSeg(get_config(size))
    return [f"{k}\t{list(v.shape)}\t{v.dtype}" for k, v in model.state_dict().items()]


def check_keys() -> bool:
    ok = True
    for size, fname in SPEC_KEY_FILES.items():
        with open(os.path.join(SPECS, fname), encoding="utf-8") as f:
            spec = [line.rstrip("\n") for line in f if line.strip()]
        ours = key_lines(size)
        same = ours == spec
        ok &= same
        msg = "identical (keys, shapes, dtypes, order)" if same else "DIFFERENT"
        print(f"keys {size}: {len(ours)} ours vs {len(spec)} in {fname}: {msg}")
        if not same:
            for i, (a, b) in enumerate(zip(ours, spec)):
                if a != b:
                    print(f"  first difference at line {i + 1}:\n    ours {a}\n    spec {b}")
                    break
    return ok


def check_deform() -> bool:
    from eovseg_ref.ops import modulated_deform_conv2d
    cases = [("dcn_eov", 1, 1, 1), ("dcn_general", (2, 1), (1, 0), (2, 1)), ("dcn_nomask", 1, 1, 1)]
    ok = True

    def load(name: str) -> Optional[torch.Tensor]:
        path = os.path.join(STRUCTURAL, name + ".npy")
        return torch.from_numpy(np.load(path)) if os.path.exists(path) else None

    for name, stride, pad, dil in cases:
        y = modulated_deform_conv2d(load(name + "_x"), load(name + "_off"), load(name + "_w"),
                                    mask=load(name + "_mask"), bias=load(name + "_b"),
                                    stride=stride, padding=pad, dilation=dil)
        diff = (y - load(name + "_out")).abs().max().item()
        ok &= diff <= 1e-5
        print(f"deform conv {name}: max |ours - torchvision| = {diff:.3g} ({'ok' if diff <= 1e-5 else 'FAIL'})")
    return ok


def check_attnpool() -> bool:
    """Our masked attention pool vs the official F.multi_head_attention_forward call (spec §2.8), on a random tiny_rn
    model with two empty masks. need_weights=True (the softmax path of torch <= 2.4 and of torch 1.13, which the
    released models ran with) gives NaN rows for empty masks like ours; torch's SDPA path (need_weights=False, as the
    official code calls it) returns c_proj.bias for them in this torch (fully masked rows -> zero attention)."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    model = build_random("tiny_rn", 0)
    ap = model.cnn_backbone.clip_model.visual.attnpool
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 32 * model.cfg.resnet_width, 3, 5, generator=g)
    masks = torch.randn(1, 10, 3, 5, generator=g)
    masks[0, 2] = -1.0
    masks[0, 5] = -0.5
    b, c, h, w = x.shape
    n = masks.shape[1]
    grid = model.cfg.attnpool_grid
    with torch.no_grad():
        ours = ap.masked_pool(x, masks)
        pos = ap.positional_embedding
        sp = pos[1:, None, :].permute(1, 2, 0).reshape(1, c, grid, grid)
        sp = F.interpolate(sp, size=(h, w), mode="bilinear", align_corners=False).permute(2, 3, 0, 1)
        tokens = x.reshape(b, c, h * w).permute(2, 0, 1)
        kv = tokens + sp.reshape(h * w, 1, c)
        query = (tokens.mean(0, keepdim=True) + pos[:1, None, :]).repeat_interleave(n, dim=0)
        am = ((masks.reshape(b, n, h * w) > 0).float() < 0.5).unsqueeze(1).expand(-1, ap.heads, -1, -1)
        am = am.reshape(b * ap.heads, n, h * w)
        ok = True
        for need_weights in (True, False):
            ref = F.multi_head_attention_forward(
                query=query, key=kv, value=kv, embed_dim_to_check=c, num_heads=ap.heads,
                q_proj_weight=ap.q_proj.weight, k_proj_weight=ap.k_proj.weight, v_proj_weight=ap.v_proj.weight,
                in_proj_weight=None, in_proj_bias=torch.cat([ap.q_proj.bias, ap.k_proj.bias, ap.v_proj.bias]),
                bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, out_proj_weight=ap.c_proj.weight,
                out_proj_bias=ap.c_proj.bias, use_separate_proj_weight=True, training=False,
                need_weights=need_weights, attn_mask=am)[0].permute(1, 0, 2)
            nan_ref = torch.isnan(ref[0]).any(-1).nonzero().flatten().tolist()
            diff = (ref - ours)[0, [q for q in range(n) if q not in (2, 5)]].abs().max().item()
            if need_weights:
                ok &= diff <= 1e-5 and nan_ref == [2, 5]
                print(f"attention pool vs F.multi_head_attention_forward(need_weights=True): max diff {diff:.3g} on "
                      f"non-empty masks, NaN rows {nan_ref} (ours {torch.isnan(ours[0]).any(-1).nonzero().flatten().tolist()})")
            else:
                bias_rows = bool(torch.allclose(ref[0, 2], ap.c_proj.bias, atol=1e-6))
                print(f"  (need_weights=False, torch {torch.__version__}: NaN rows {nan_ref}; empty-mask rows equal "
                      f"c_proj.bias: {bias_rows}; the reference keeps NaN, as torch 1.13 gave)")
    return ok


def build_random(size: str, seed: int, cal: Optional[Calibration] = None, storage: str = "fp32") -> EOVSeg:
    """Base draw only (no data-dependent calibration): enough for timing."""
    model = EOVSeg(get_config(size)).eval()
    init_random(model, seed, cal or DEFAULT_CALIBRATION.get(size, Calibration()))
    round_to_storage(model, storage)
    return model


def build_calibrated(size: str, seed: int, cal: Calibration, img: np.ndarray, vocab: "Vocabulary",
                     storage: str = "fp32") -> EOVSeg:
    """Base draw + the data-dependent calibration on one image and vocabulary (weights.calibrate_on_input)."""
    from eovseg_ref.weights import calibrate_on_input
    model = EOVSeg(get_config(size)).eval()
    init_random(model, seed, cal)
    x, _ = preprocess(img, model.cfg)
    calibrate_on_input(model, x, vocab.tokens, len(VILD_PROMPT), vocab.counts, vocab.seen, cal)
    round_to_storage(model, storage)
    return model


def panoptic_checks(r, info) -> dict:
    segs = info["segments"]
    mc = r["clip.mask_small"][0]
    return {"segments": len(segs), "things": sum(s["isthing"] for s in segs),
            "stuff": sum(not s["isthing"] for s in segs),
            "merged_stuff_queries": info["details"]["merged_stuff_queries"],
            "empty_mask_queries": [q for q in range(mc.shape[0]) if not bool((mc[q] > 0).any())]}


def checks_pass(c: dict) -> bool:
    return c["segments"] >= 5 and c["things"] > 0 and c["stuff"] > 0 and len(c["merged_stuff_queries"]) > 0


class Vocabulary:
    """Class strings, thing flags, prompts/tokens, synonym counts and the seen mask of one vocabulary."""

    def __init__(self, names: List[str], thing: List[bool], context_length: int = 77):
        self.names, self.thing = names, thing
        self.prompts, self.counts = prompts_for(names)
        self.tokens = tokenize_prompts(self.prompts, BPE, context_length)
        self.seen = seen_mask(names, COCO_TRAIN_SYNONYMS)

    @classmethod
    def load(cls, path: str, context_length: int = 77) -> "Vocabulary":
        names, thing = load_vocab(path)
        return cls(names, thing, context_length)


def segment(model: EOVSeg, img: np.ndarray, vocab: Vocabulary, tc: Optional[torch.Tensor] = None):
    """Full inference on one RGB uint8 image. Returns (intermediates, extra info). A model in float64 (the
    parity script's rounding baseline) gets the float32 preprocessed input and `tc` in float64."""
    cfg = model.cfg
    x, resized = preprocess(img, cfg)
    if tc is None:
        tc = model.text_classifier(vocab.tokens, len(VILD_PROMPT))
    dtype = next(model.parameters()).dtype
    x, tc = x.to(dtype), tc.to(dtype)
    r: Dict[str, torch.Tensor] = {"input.tensor": x, "text.tokens": vocab.tokens, "text.classifier": tc,
                                  "text.synonym_counts": torch.tensor(vocab.counts, dtype=torch.int32),
                                  "seen": vocab.seen, "thing": torch.tensor(vocab.thing, dtype=torch.int32)}
    r.update(model.forward_intermediates(x, tc, vocab.counts, vocab.seen))
    mq = r[f"decoder.stage{cfg.num_stages - 1}.masks"]
    h0, w0 = img.shape[:2]
    masks = postprocess_masks(mq, tuple(x.shape[-2:]), resized.shape[:2], (h0, w0))
    r["post.masks"] = masks
    ids, segments = panoptic_inference(r["ensemble.logp"], masks, vocab.thing, cfg.object_mask_threshold,
                                       cfg.overlap_threshold)
    r["panoptic.ids"] = ids
    r["semantic.labels"] = semantic_inference(r["ensemble.logp"], masks)
    info = {"segments": segments, "resized_size": [int(resized.shape[0]), int(resized.shape[1])],
            "padded_size": [int(x.shape[-2]), int(x.shape[-1])],
            "details": panoptic_details(r["ensemble.logp"], masks, vocab.thing, cfg.object_mask_threshold,
                                        cfg.overlap_threshold)}
    return r, info


def describe(r, info, vocab: Vocabulary) -> None:
    ids = r["panoptic.ids"]
    total = ids.numel()
    print(f"resized {info['resized_size']} padded {info['padded_size']}; {len(info['segments'])} segments "
          f"(queries kept {info['details']['kept_queries']}, stuff merged from queries "
          f"{info['details']['merged_stuff_queries']})")
    for s in info["segments"]:
        area = int((ids == s["id"]).sum())
        name = vocab.names[s["category_id"]].split(",")[0]
        print(f"  id {s['id']:3d}  {'thing' if s['isthing'] else 'stuff'}  class {s['category_id']:4d} {name:24s} "
              f"{area / total:6.1%}")
    sem = r["semantic.labels"]
    counts = np.bincount(sem.flatten().numpy(), minlength=len(vocab.names))
    top = np.argsort(-counts)[:8]
    print("semantic coverage:", ", ".join(f"{vocab.names[i].split(',')[0]}={counts[i] / total:.1%}"
                                            for i in top if counts[i]))


def cmd_keys(a) -> None:
    print("\n".join(key_lines(a.size)))


def cmd_check_keys(a) -> None:
    if not check_keys():
        raise SystemExit(1)


def cmd_self_check(a) -> None:
    ok = check_keys()
    ok &= check_deform()
    ok &= check_attnpool()
    print("self-check:", "ok" if ok else "FAILED")
    if not ok:
        raise SystemExit(1)


def cmd_write_checkpoint(a) -> None:
    torch.set_num_threads(a.threads)
    storage = a.storage or ("mixed" if a.size.startswith("tiny") else "fp32")
    seed = a.seed if a.seed is not None else DEFAULT_SEED.get(a.size, 0)
    cal = DEFAULT_CALIBRATION.get(a.size, Calibration())
    overrides = {k: v for k, v in (("mask_offset", a.mask_offset), ("mask_offset_weight", a.mask_offset_weight),
                                   ("decoder_logit_scale", a.decoder_logit_scale),
                                   ("clip_logit_scale", a.clip_logit_scale)) if v is not None}
    cal = Calibration(**{**cal.to_dict(), **overrides})
    if a.no_calibration:
        model = build_random(a.size, seed, cal, storage=storage)
    else:
        img = load_image_rgb(a.calib_image)
        vocab = Vocabulary.load(a.calib_vocab, get_config(a.size).context_length)
        model = build_calibrated(a.size, seed, cal, img, vocab, storage=storage)
        if a.check:
            r, info = segment(model, img, vocab)
            c = panoptic_checks(r, info)
            print(f"seed {seed} {cal.to_dict()}: {'PASS' if checks_pass(c) else 'fail'} {c}")
            describe(r, info, vocab)
    if a.out:
        save_checkpoint(model, a.out, storage)
        print(f"wrote {a.out}: {os.path.getsize(a.out)} bytes, {len(model.state_dict())} tensors, storage {storage}, "
              f"seed {seed}, calibration {cal.to_dict()}")


def cmd_run(a) -> None:
    torch.set_num_threads(a.threads)
    model = EOVSeg(get_config(a.size)).eval()
    load_checkpoint(model, a.checkpoint)
    vocab = Vocabulary.load(a.vocab, model.cfg.context_length)
    img = load_image_rgb(a.image)
    t0 = time.perf_counter()
    r, info = segment(model, img, vocab)
    print(f"{a.size}: {img.shape[1]}x{img.shape[0]} image, K={len(vocab.names)}, T={r['text.classifier'].shape[0]}; "
          f"{(time.perf_counter() - t0):.1f} s including text")
    describe(r, info, vocab)
    if a.dump:
        write_dump(a.dump, model, a.image, r, info)
    if a.fp64_dump:
        # The same forward in float64 on the same text classifier: how far fp32 rounding alone moves each stage
        # (Scripts/parity/eovseg.sh compares the Swift port's differences with these).
        import copy
        t0 = time.perf_counter()
        r64, info64 = segment(copy.deepcopy(model).double(), img, vocab, r["text.classifier"])
        print(f"float64 run: {(time.perf_counter() - t0):.1f} s; {len(info64['segments'])} segments")
        write_dump(a.fp64_dump, model, a.image, r64, info64)


def write_dump(directory: str, model: EOVSeg, image: str, r, info) -> None:
    w = GoldenWriter(directory)
    for name, t in r.items():
        w.add(name, t)
    # Per-query class probabilities as panoptic inference computes them (for Scripts/parity/eovseg.sh).
    w.add("ensemble.probs", torch.softmax(r["ensemble.logp"], dim=-1))
    w.write_manifest({"config": json.loads(model.cfg.to_json()), "image": os.path.abspath(image),
                      "segments": info["segments"], "resized_size": info["resized_size"],
                      "padded_size": info["padded_size"], "panoptic_details": info["details"]})
    print(f"dumped {len(w.entries)} tensors to {directory}")


def cmd_bench(a) -> None:
    torch.set_num_threads(a.threads)
    cfg = get_config(a.size)
    model = build_random(a.size, 0)
    vocab_names, _ = load_vocab(ADE150_SYNONYMS)
    counts = [len(n.replace(", ", ",").split(",")) for n in vocab_names]
    t = sum(counts) + 1
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, a.height, a.width, generator=gen)
    tc = torch.nn.functional.normalize(torch.randn(t, cfg.embed_dim, generator=gen), dim=-1)
    seen = torch.zeros(len(counts), dtype=torch.int32)
    times, cpu = [], []
    timer = StageTimer()
    # Post-processing as the original's inference does it and as `vocaseg bench` times it: masks to the frame's
    # size (resize, crop, resize), panoptic inference and the semantic map. The frame is the resized image
    # itself (e.g. 854x640 for the default 640x864 input), the shape `vocaseg bench --frame 854x640` feeds.
    frame = (a.height, a.frame_width or a.width)
    sys.path.insert(0, os.path.join(REPO, "Scripts", "vocab"))
    from make_known_class_kinds import ADE150_STUFF_IDS
    thing = [i + 1 not in ADE150_STUFF_IDS for i in range(len(counts))]
    for i in range(a.warmup + a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        timer._t = (t0, c0)
        timed = timer if i >= a.warmup else None
        r = model.forward_intermediates(x, tc, counts, seen, timer=timed)
        if not a.no_postprocess:
            masks = postprocess_masks(r[f"decoder.stage{cfg.num_stages - 1}.masks"], (a.height, a.width), frame, frame)
            panoptic_inference(r["ensemble.logp"], masks, thing, cfg.object_mask_threshold, cfg.overlap_threshold)
            semantic_inference(r["ensemble.logp"], masks)
            if timed is not None:
                timed.mark("post-process")
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    print(f"{a.size} @ {a.height}x{a.width}, T={t} (K={len(counts)}), threads={a.threads}: "
          f"median wall {np.median(times):.0f} ms/frame (runs: {', '.join(f'{v:.0f}' for v in times)}); "
          f"median CPU {np.median(cpu):.0f} ms; load average {os.getloadavg()[0]:.1f}")
    for stage in timer.cpu:
        print(f"  {stage:28s} CPU {timer.cpu[stage] / a.runs:8.0f} ms   wall {timer.wall[stage] / a.runs:8.0f} ms")
    if a.json:
        # The same document Scripts/bench/compare.sh reads from errseg.py bench.
        with open(a.json, "w") as f:
            json.dump({"wall_ms": times, "cpu_ms": cpu, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                       "text_rows": t, "height": a.height, "width": a.width,
                       "stages": [{"stage": s, "wall_ms": timer.wall[s] / a.runs, "cpu_ms": timer.cpu[s] / a.runs}
                                  for s in timer.cpu]}, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("keys")
    p.add_argument("--size", default="s", choices=SIZES)
    p.set_defaults(fn=cmd_keys)
    p = sub.add_parser("check-keys")
    p.set_defaults(fn=cmd_check_keys)
    p = sub.add_parser("self-check")
    p.set_defaults(fn=cmd_self_check)
    p = sub.add_parser("write-checkpoint")
    p.add_argument("--size", default="s", choices=SIZES)
    p.add_argument("--seed", type=int, default=None, help="default: the size's calibrated seed")
    p.add_argument("--storage", choices=["fp32", "mixed", "fp16"], default=None,
                   help="tensor dtypes in the file (default: mixed for tiny, fp32 otherwise)")
    p.add_argument("--calib-image", default=os.path.join(REPO, "Samples", "still.png"),
                   help="image for the data-dependent calibration (BN statistics, centring); a real photo is best")
    p.add_argument("--calib-vocab", default=CALIB_VOCAB)
    p.add_argument("--no-calibration", action="store_true", help="base draw only")
    p.add_argument("--mask-offset", type=float)
    p.add_argument("--mask-offset-weight", type=float)
    p.add_argument("--decoder-logit-scale", type=float)
    p.add_argument("--clip-logit-scale", type=float)
    p.add_argument("--check", action="store_true", help="run panoptic inference on the calibration image and report")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    p.set_defaults(fn=cmd_write_checkpoint)
    p = sub.add_parser("run")
    p.add_argument("--size", default="s", choices=SIZES)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--vocab", required=True,
                   help="JSON list of class strings, JSON {classes, thing}, or an FC-CLIP 'id:names' .txt")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dump", help="directory for <name>.bin + manifest.json of every intermediate")
    p.add_argument("--fp64-dump", help="also run the image in float64 (same text classifier) and dump it here")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("bench")
    p.add_argument("--size", default="s", choices=SIZES)
    p.add_argument("--height", type=int, default=640)
    p.add_argument("--width", type=int, default=864)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the timings as JSON (for Scripts/bench/compare.sh)")
    p.add_argument("--frame-width", type=int, default=None,
                   help="width of the frame the post-processing writes, the resized image inside the padded input "
                        "(default: --width; Scripts/bench/compare.sh gives 854 for the 854x640 frame)")
    p.add_argument("--no-postprocess", action="store_true", help="time the forward only")
    p.set_defaults(fn=cmd_bench)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
