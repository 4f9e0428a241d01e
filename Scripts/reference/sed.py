#!/usr/bin/env python3
"""SED inference reference (PyTorch, CPU), written from ../shared/specs/sliding-window-sed-mrovseg.md §1.

Sub-commands:
  keys              print our state-dict keys as "key<TAB>[shape]<TAB>float32" (sizes b | l | tiny | tiny_mlp)
  check-keys        compare the b and l state dicts with the spec's key table (§1.5) and print the tensor counts
  write-checkpoint  seeded random weights (sed_ref/weights.py) in the official layout {"model": sd, "iteration": 0}
  run               segment one image (CER off, or --cer-k K); --dump writes every intermediate + the label map
  bench             time the forward (text bank excluded) with random weights, input and text bank
  import-text-bank  seed a --text-cache file with the bank vocaseg computed (speed runs at large vocabularies)

Examples:
  python3 Scripts/reference/sed.py keys --size b
  python3 Scripts/reference/sed.py write-checkpoint --size b --seed 0 --out /tmp/sed_b_random.pth
  python3 Scripts/reference/sed.py run --size b --checkpoint /tmp/sed_b_random.pth --image photo.ppm \
      --vocab ../shared/data/vocab-synonyms/ade20k_150.txt --cer-k 8 --dump /tmp/sed_dump
  python3 Scripts/reference/sed.py bench --size b --t 150 --threads 2
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from errseg_ref.dump import GoldenWriter  # noqa: E402
from errseg_ref.preprocess import load_image_rgb  # noqa: E402
from errseg_paths import SHARED  # noqa: E402
from sed_ref import SED, get_config, postprocess, preprocess  # noqa: E402
from sed_ref.config import CONFIGS  # noqa: E402
from sed_ref.model import StageTimer  # noqa: E402
from sed_ref.text import IMAGENET_TEMPLATES, PromptTokenizer, load_vocab, text_bank  # noqa: E402
from sed_ref.weights import STORAGE_NAMES, init_random, load_checkpoint, round_to_storage, save_checkpoint  # noqa

BPE = os.path.join(SHARED, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
SIZES = sorted(CONFIGS)

# Names every dump has; then the CER-off names and the CER-on names (see README, "SED").
COMMON_NAMES = ["input", "res2", "res3", "res4", "res5", "dense", "text", "corr", "corr_embed",
                "corr_guidance.0", "corr_guidance.1", "corr_guidance.2",
                "app_guidance.0", "app_guidance.1", "app_guidance.2", "head0"]
PLAIN_NAMES = ["decoder1.cnext", "decoder1.attn", "decoder1", "head1", "decoder2.cnext", "decoder2.attn", "decoder2",
               "head2", "decoder3.cnext", "decoder3.attn", "decoder3", "logits", "probs", "output", "labels"]
CER_NAMES = ["cer.survivors1", "cer.head1", "cer.survivors2", "cer.head2", "cer.survivors3", "cer.logits",
             "cer.probs", "cer.output", "cer.labels"]


def key_lines(size: str) -> List[str]:
    with torch.device("meta"):
        model = SED(get_config(size))
    return [f"{k}\t{list(v.shape)}\tfloat32" for k, v in model.state_dict().items()]


def spec_keys(size: str) -> Dict[str, List[int]]:
    """The key table of spec §1.5, spelled out independently of sed_ref's modules (names and shapes)."""
    cfg = get_config(size)
    c1, c2, c3, c4 = cfg.trunk_dims
    e, w = cfg.embed_dim, cfg.text_width
    ks: Dict[str, List[int]] = {}
    p = "sem_seg_head.predictor.clip_model."
    ks[p + "positional_embedding"] = [77, w]
    ks[p + "text_projection"] = [w, e]
    ks[p + "logit_scale"] = []
    v = p + "visual.trunk."
    ks[v + "stem.0.weight"], ks[v + "stem.0.bias"] = [c1, 3, 4, 4], [c1]
    ks[v + "stem.1.weight"], ks[v + "stem.1.bias"] = [c1], [c1]
    prev = c1
    for s, (c, depth) in enumerate(zip(cfg.trunk_dims, cfg.trunk_depths)):
        if s > 0:
            ks[f"{v}stages.{s}.downsample.0.weight"] = [prev]
            ks[f"{v}stages.{s}.downsample.0.bias"] = [prev]
            ks[f"{v}stages.{s}.downsample.1.weight"] = [c, prev, 2, 2]
            ks[f"{v}stages.{s}.downsample.1.bias"] = [c]
        for j in range(depth):
            b = f"{v}stages.{s}.blocks.{j}."
            ks[b + "gamma"] = [c]
            ks[b + "conv_dw.weight"], ks[b + "conv_dw.bias"] = [c, 1, 7, 7], [c]
            ks[b + "norm.weight"], ks[b + "norm.bias"] = [c], [c]
            ks[b + "mlp.fc1.weight"], ks[b + "mlp.fc1.bias"] = [4 * c, c], [4 * c]
            ks[b + "mlp.fc2.weight"], ks[b + "mlp.fc2.bias"] = [c, 4 * c], [c]
        prev = c
    ks[v + "head.norm.weight"], ks[v + "head.norm.bias"] = [c4], [c4]
    if cfg.visual_head == "linear":
        ks[p + "visual.head.proj.weight"] = [e, c4]
    else:
        ks[p + "visual.head.mlp.fc1.weight"], ks[p + "visual.head.mlp.fc1.bias"] = [2 * e, c4], [2 * e]
        ks[p + "visual.head.mlp.fc2.weight"] = [e, 2 * e]
    for i in range(cfg.text_layers):
        b = f"{p}transformer.resblocks.{i}."
        for ln in ("ln_1", "ln_2"):
            ks[b + ln + ".weight"], ks[b + ln + ".bias"] = [w], [w]
        ks[b + "attn.in_proj_weight"], ks[b + "attn.in_proj_bias"] = [3 * w, w], [3 * w]
        ks[b + "attn.out_proj.weight"], ks[b + "attn.out_proj.bias"] = [w, w], [w]
        ks[b + "mlp.c_fc.weight"], ks[b + "mlp.c_fc.bias"] = [4 * w, w], [4 * w]
        ks[b + "mlp.c_proj.weight"], ks[b + "mlp.c_proj.bias"] = [w, 4 * w], [w]
    ks[p + "token_embedding.weight"] = [49408, w]
    ks[p + "ln_final.weight"], ks[p + "ln_final.bias"] = [w], [w]
    t = "sem_seg_head.predictor.transformer."
    ks[t + "conv1.weight"], ks[t + "conv1.bias"] = [128, 80, 7, 7], [128]
    for i, (cin, cout) in enumerate(zip([c3, c2, c1], [32, 16, 8])):
        ks[f"{t}decoder_guidance_projection.{i}.0.weight"] = [cout, cin, 3, 3]
        ks[f"{t}decoder_guidance_projection.{i}.0.bias"] = [cout]
    for i, (cin, cout) in enumerate(zip([80, 32, 16], [32, 16, 8])):
        ks[f"{t}decoder_corr_guidance_projection.{i}.0.weight"] = [cin, cout, 2, 2]
        ks[f"{t}decoder_corr_guidance_projection.{i}.0.bias"] = [cout]
    for i, (c, g, o) in enumerate(zip([128, 64, 32], [32, 16, 8], [64, 32, 16])):
        d = f"{t}decoder{i + 1}."
        ks[d + "cnext.dwconv.weight"], ks[d + "cnext.dwconv.bias"] = [c, 1, 9, 9], [c]
        ks[d + "cnext.norm.weight"], ks[d + "cnext.norm.bias"] = [c], [c]
        ks[d + "cnext.pwconv1.weight"], ks[d + "cnext.pwconv1.bias"] = [4 * c, c], [4 * c]
        ks[d + "cnext.pwconv2.weight"], ks[d + "cnext.pwconv2.bias"] = [c, 4 * c], [c]
        ks[d + "cnext.gamma"] = [c]
        for q in ("q", "k", "v"):
            ks[f"{d}attention.attention.{q}.weight"], ks[f"{d}attention.attention.{q}.bias"] = [c, c], [c]
        ks[d + "attention.MLP.0.weight"], ks[d + "attention.MLP.0.bias"] = [4 * c, c], [4 * c]
        ks[d + "attention.MLP.2.weight"], ks[d + "attention.MLP.2.bias"] = [c, 4 * c], [c]
        for n in ("norm1", "norm2"):
            ks[f"{d}attention.{n}.weight"], ks[f"{d}attention.{n}.bias"] = [c], [c]
        ks[d + "up.weight"], ks[d + "up.bias"] = [c, c - g, 2, 2], [c - g]
        ks[d + "conv.double_conv.0.weight"] = [o, c + g, 3, 3]
        ks[d + "conv.double_conv.3.weight"] = [o, o, 3, 3]
        for n in ("1", "4"):
            ks[f"{d}conv.double_conv.{n}.weight"], ks[f"{d}conv.double_conv.{n}.bias"] = [o], [o]
    for name, c in (("head0", 128), ("head1", 64), ("head2", 32), ("head", 16)):
        ks[f"{t}{name}.weight"], ks[f"{t}{name}.bias"] = [1, c, 3, 3], [1]
    return ks


def check_keys() -> bool:
    ok = True
    for size in ("b", "l"):
        with torch.device("meta"):
            model = SED(get_config(size))
        ours = {k: list(v.shape) for k, v in model.state_dict().items()}
        spec = spec_keys(size)
        same = ours == spec
        ok &= same
        dec = sum(int(np.prod(s)) for k, s in ours.items() if ".predictor.transformer." in k)
        n_clip = sum(k.startswith("sem_seg_head.predictor.clip_model.") for k in ours)
        print(f"keys {size}: {len(ours)} tensors ({n_clip} under clip_model, {len(ours) - n_clip} under transformer), "
              f"{sum(int(np.prod(s)) for s in ours.values()):,} parameters (decoder {dec:,}); spec table: "
              f"{len(spec)} tensors; names and shapes {'identical' if same else 'DIFFERENT'}")
        if not same:
            print("  ours only:", sorted(set(ours) - set(spec))[:8])
            print("  spec only:", sorted(set(spec) - set(ours))[:8])
            print("  shape differs:", [k for k in ours if k in spec and ours[k] != spec[k]][:8])
    return ok


def build_random(size: str, seed: int, storage: str = "fp32") -> SED:
    model = SED(get_config(size)).eval()
    init_random(model, seed)
    round_to_storage(model, storage)
    return model


def text_tower_digest(model: SED, class_names: List[str]) -> str:
    h = hashlib.sha256(json.dumps([class_names, IMAGENET_TEMPLATES]).encode())
    for k, v in model.clip.state_dict().items():
        if not k.startswith("visual."):
            h.update(k.encode())
            h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def compute_text_bank(model: SED, class_names: List[str], cache: Optional[str] = None,
                      progress: bool = True) -> torch.Tensor:
    """[T,80,E]; with `cache`, reuse a bank saved for the same class names, templates and text-tower weights."""
    digest = text_tower_digest(model, class_names) if cache else None
    if cache and os.path.exists(cache):
        doc = torch.load(cache, map_location="cpu", weights_only=True)
        if doc.get("digest") == digest:
            print(f"   text bank from cache {cache}")
            return doc["text"]
    tok = PromptTokenizer(BPE, model.cfg.context_length)
    t0 = time.perf_counter()
    bank = text_bank(model.clip, class_names, tok, progress=progress)
    print(f"   text bank [{', '.join(map(str, bank.shape))}] in {time.perf_counter() - t0:.1f} s "
          f"({sum(len(n.split(', ')) if ', ' in n else 1 for n in class_names) * len(IMAGENET_TEMPLATES)} prompts)")
    if cache:
        torch.save({"digest": digest, "text": bank}, cache)
    return bank


def segment(model: SED, img: np.ndarray, text: torch.Tensor, cer_k: Optional[int], timer=None):
    """Full inference on one RGB uint8 image: the intermediates plus `output` [T,H0,W0] and `labels` (or the
    cer.* equivalents). Returns (r, mapped size)."""
    x, mapped = preprocess(img, model.cfg)
    r = model.forward_intermediates(x, text, cer_k=cer_k, timer=timer)
    pre = "" if cer_k is None else "cer."
    out = postprocess(r[pre + "probs"], mapped.shape[:2], img.shape[:2])
    r[pre + "output"] = out
    # argmax: the first maximum wins (CER's rejected classes are exactly 0 and never beat a surviving sigmoid).
    r[pre + "labels"] = out.argmax(dim=0).to(torch.int32)
    if timer is not None:
        timer.mark("resize + argmax")
    return r, mapped.shape[:2]


def describe(r: Dict[str, torch.Tensor], names: List[str], cer_k: Optional[int]) -> None:
    pre = "" if cer_k is None else "cer."
    labels = r[pre + "labels"]
    counts = np.bincount(labels.flatten().numpy(), minlength=len(names))
    total = labels.numel()
    if cer_k is not None:
        n = [int(r[f"cer.survivors{i}"].numel()) for i in (1, 2, 3)]
        print(f"CER k={cer_k}: survivors N1={n[0]} N2={n[1]} N3={n[2]} of T={len(names)}")
    top = np.argsort(-counts, kind="stable")[:8]
    print(f"label map {list(labels.shape)}: {int((counts > 0).sum())} classes; "
          + ", ".join(f"{names[i].split(', ')[0]}={counts[i] / total:.1%}" for i in top if counts[i]))


def cmd_keys(a) -> None:
    print("\n".join(key_lines(a.size)))


def cmd_check_keys(a) -> None:
    if not check_keys():
        raise SystemExit(1)


def cmd_write_checkpoint(a) -> None:
    storage = STORAGE_NAMES[a.storage or ("mixed" if a.size.startswith("tiny") else "float32")]
    t0 = time.perf_counter()
    model = build_random(a.size, a.seed, storage)
    save_checkpoint(model, a.out, storage)
    print(f"wrote {a.out}: {os.path.getsize(a.out):,} bytes, {len(model.state_dict())} tensors, storage {storage}, "
          f"seed {a.seed} ({time.perf_counter() - t0:.1f} s)")


def cmd_run(a) -> None:
    torch.set_num_threads(a.threads)
    cfg = get_config(a.size)
    model = SED(cfg).eval()
    t0 = time.perf_counter()
    load_checkpoint(model, a.checkpoint)
    print(f"{a.size}: loaded {a.checkpoint} in {time.perf_counter() - t0:.1f} s")
    names = load_vocab(a.vocab)
    img = load_image_rgb(a.image)
    text = compute_text_bank(model, names, a.text_cache)
    timer = StageTimer()
    t0 = time.perf_counter()
    r, mapped = segment(model, img, text, a.cer_k, timer)
    print(f"{a.size}: {img.shape[1]}x{img.shape[0]} image (mapped {mapped[1]}x{mapped[0]}, network "
          f"{cfg.clip_resolution}^2), T={len(names)}, CER {'off' if a.cer_k is None else f'k={a.cer_k}'}: forward + "
          f"post-processing {time.perf_counter() - t0:.1f} s (text bank excluded)")
    for stage, ms in timer.wall.items():
        print(f"   {stage:28s} {ms:9.0f} ms")
    describe(r, names, a.cer_k)
    if a.dump:
        wanted = COMMON_NAMES + (PLAIN_NAMES if a.cer_k is None else CER_NAMES)
        w = GoldenWriter(a.dump)
        for n in wanted:
            if n in r and n not in a.skip:
                w.add(n, r[n])
        w.write_manifest({"size": a.size, "config": json.loads(cfg.to_json()), "image": os.path.abspath(a.image),
                          "image_size": [int(img.shape[0]), int(img.shape[1])],
                          "mapped_size": [int(mapped[0]), int(mapped[1])], "vocab": os.path.abspath(a.vocab),
                          "classes": names, "cer_k": a.cer_k, "checkpoint": os.path.abspath(a.checkpoint)})
        print(f"dumped {len(w.entries)} tensors to {a.dump}")


def cmd_import_text_bank(a) -> None:
    """Seed `--text-cache` with a text bank vocaseg computed (its cache file, format VTE2: a 16-byte header of
    little-endian uint32 magic 0x56544532, rows, width, class count; one uint32 row count per class; rows x width
    float32). For speed runs at large vocabularies (ADE-847 with synonyms is 107k prompts, most of an hour on two
    threads): the per-frame time excludes text on both sides, and with the same bank both sides' CER keeps the same
    classes. The bank is checked for shape; its values are vocaseg's (at ADE-150 they match the reference's, see
    Scripts/parity/sed.sh's `text` row)."""
    cfg = get_config(a.size)
    model = SED(cfg).eval()
    load_checkpoint(model, a.checkpoint)
    names = load_vocab(a.vocab)
    raw = open(a.source, "rb").read()
    magic, rows, width, groups = np.frombuffer(raw[:16], dtype="<u4")
    if magic != 0x56544532:
        sys.exit(f"{a.source}: not a vocaseg text-embedding cache file (magic {magic:#x})")
    sizes = np.frombuffer(raw[16:16 + 4 * groups], dtype="<u4")
    p = len(IMAGENET_TEMPLATES)
    if groups != len(names) or rows != len(names) * p or any(sizes != p):
        sys.exit(f"{a.source}: {rows} rows in {groups} groups, expected {len(names)} classes x {p} templates")
    bank = np.frombuffer(raw[16 + 4 * groups:], dtype="<f4").reshape(len(names), p, width)
    text = torch.from_numpy(bank.copy())
    torch.save({"digest": text_tower_digest(model, names), "text": text}, a.text_cache)
    print(f"wrote {a.text_cache}: text bank [{', '.join(map(str, text.shape))}] from {a.source}")


def cmd_bench(a) -> None:
    """Per-frame time. With --checkpoint/--image/--vocab: `segment` (forward + post-processing at the photo's size,
    as `run` times it) on that photo, so that CER keeps the same classes as our side on the same inputs; else the
    forward on a random input and a random text bank of --t classes (CER off: the work does not depend on values)."""
    torch.set_num_threads(a.threads)
    cfg = get_config(a.size)
    timer = StageTimer()
    wall, cpu, survivors = [], [], None
    if a.checkpoint:
        if not (a.image and a.vocab):
            raise SystemExit("bench: --checkpoint needs --image and --vocab")
        model = SED(cfg).eval()
        load_checkpoint(model, a.checkpoint)
        names = load_vocab(a.vocab)
        img = load_image_rgb(a.image)
        text = compute_text_bank(model, names, a.text_cache)
        t = len(names)

        def step(timed):
            r, _ = segment(model, img, text, a.cer_k, timer if timed else None)
            return r
    else:
        model = build_random(a.size, 0)
        g = torch.Generator().manual_seed(0)
        s = cfg.clip_resolution
        x = torch.randn(1, 3, s, s, generator=g)
        text = torch.nn.functional.normalize(torch.randn(a.t, len(IMAGENET_TEMPLATES), cfg.embed_dim, generator=g),
                                             dim=-1)
        t = a.t

        def step(timed):
            return model.forward_intermediates(x, text, cer_k=a.cer_k, timer=timer if timed else None)
    for i in range(a.warmup + a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        timer._t = t0
        with torch.no_grad():
            r = step(i >= a.warmup)
        if i >= a.warmup:
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        if a.cer_k is not None:
            survivors = [int(r[f"cer.survivors{j}"].numel()) for j in (1, 2, 3) if f"cer.survivors{j}" in r]
    print(f"{a.size} @ {cfg.clip_resolution}x{cfg.clip_resolution}, T={t}, CER {'off' if a.cer_k is None else a.cer_k}, "
          f"threads={a.threads}: median {np.median(wall):.0f} ms (runs: {', '.join(f'{v:.0f}' for v in wall)})"
          + (f"; survivors {survivors}" if survivors else ""))
    stages = {stage: ms / a.runs for stage, ms in timer.wall.items()}
    for stage, ms in stages.items():
        print(f"   {stage:28s} {ms:9.0f} ms")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"wall_ms": wall, "cpu_ms": cpu, "t": t, "cer_k": a.cer_k, "survivors": survivors,
                       "stages_ms": stages, "threads": a.threads, "size": a.size,
                       # Linux reports ru_maxrss in KiB: the process's peak, the loaded checkpoint included.
                       "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("keys")
    p.add_argument("--size", default="b", choices=SIZES)
    p.set_defaults(fn=cmd_keys)
    p = sub.add_parser("check-keys")
    p.set_defaults(fn=cmd_check_keys)
    p = sub.add_parser("write-checkpoint")
    p.add_argument("--size", default="b", choices=SIZES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--storage", choices=sorted(STORAGE_NAMES), default=None,
                   help="tensor dtypes in the file (default: mixed for tiny sizes, float32 otherwise)")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_write_checkpoint)
    p = sub.add_parser("run")
    p.add_argument("--size", default="b", choices=SIZES)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--vocab", required=True, help="JSON {\"classes\": [...]} / JSON list, or a synonyms .txt file")
    p.add_argument("--cer-k", type=int, default=None, help="category early rejection top-k (default: off)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dump", help="directory for <name>.bin + manifest.json of every intermediate")
    p.add_argument("--skip", nargs="*", default=[], help="tensor names not to dump")
    p.add_argument("--text-cache", help="file to keep the text bank in (reused for the same classes and weights)")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("import-text-bank", help="seed a --text-cache file with a bank from vocaseg's cache")
    p.add_argument("--size", default="b", choices=SIZES)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--vocab", required=True)
    p.add_argument("--from", dest="source", required=True, help="vocaseg text cache file (VTE2)")
    p.add_argument("--text-cache", required=True)
    p.set_defaults(fn=cmd_import_text_bank)
    p = sub.add_parser("bench")
    p.add_argument("--size", default="b", choices=SIZES)
    p.add_argument("--t", type=int, default=150)
    p.add_argument("--cer-k", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--checkpoint", help="time `segment` on --image with this checkpoint and --vocab (else random)")
    p.add_argument("--image")
    p.add_argument("--vocab")
    p.add_argument("--text-cache", help="text-bank cache file (as `run --text-cache`)")
    p.add_argument("--json", help="write wall_ms, cpu_ms, survivors and per-stage ms here")
    p.set_defaults(fn=cmd_bench)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
