#!/usr/bin/env python3
"""Cross-checks the from-scratch reference against the real libraries, with identical random weights:
  * visual trunk + per-pixel projection vs open_clip's CLIP (timm ConvNeXt inside),
  * text encoder vs open_clip CLIP.encode_text,
  * tokenizer output vs the examples in the spec (§4.1),
  * full-size state-dict keys/shapes/order vs ../shared/specs/errseg-statedict-{B,L}.txt.
Usage: python3 Scripts/reference/check_against_libs.py [--size b|l]   (exit status 1 on any mismatch)
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from errseg_ref import ErrSeg, get_config  # noqa: E402
from errseg_ref.tokens import tokenize  # noqa: E402
from errseg_ref.weights import init_random  # noqa: E402
from errseg_paths import SHARED  # noqa: E402

OPEN_CLIP_NAME = {"b": "convnext_base_w_320", "l": "convnext_large_d_320"}
SPEC_LIST = {"b": "errseg-statedict-B.txt", "l": "errseg-statedict-L.txt"}


def check_state_dict(size: str) -> bool:
    with torch.device("meta"):
        model = ErrSeg(get_config(size))
    mine = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    ref = []
    with open(os.path.join(SHARED, "specs", SPEC_LIST[size]), encoding="utf-8") as f:
        for line in f.read().splitlines():
            key, shape, _dtype = line.split("\t")
            ref.append((key, [int(s) for s in shape.strip("[]").split(",") if s.strip()]))
    ok = mine == ref
    print(f"state dict {size}: {len(mine)} keys, spec {len(ref)} keys; keys, shapes and order identical: {ok}")
    if not ok:
        missing = sorted(set(ref) - set(mine))[:10]
        extra = sorted(set(mine) - set(ref))[:10]
        print("  differences (spec only / ours only):", missing, extra)
    return ok


def check_against_open_clip(size: str) -> bool:
    import open_clip
    cfg = get_config(size)
    model = ErrSeg(cfg).eval()
    init_random(model, 1)
    oc = open_clip.create_model(OPEN_CLIP_NAME[size], pretrained=None).eval()
    prefix = "sem_seg_head.clip_model."
    sd = {k[len(prefix):]: v for k, v in model.state_dict().items()
          if k.startswith(prefix) and ".modify_downsample." not in k}
    missing, unexpected = oc.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "attn_mask"]
    ok = not missing and not unexpected
    print(f"open_clip {OPEN_CLIP_NAME[size]}: weights load: {'ok' if ok else (missing, unexpected)}")
    torch.manual_seed(0)
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        trunk = oc.visual.trunk
        y = trunk.stem(x)
        feats = []
        for stage in trunk.stages:
            y = stage(y)
            feats.append(y)
        b, c, h, w = y.shape
        pix = y.permute(0, 2, 3, 1).reshape(-1, c, 1, 1)                  # every pixel as a 1x1 image
        dense_oc = oc.visual.head(trunk.forward_head(pix, pre_logits=True)).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        r = model.clip.visual.forward_dense(x)
    for i, n in enumerate(("os4", "os8", "os16", "os32")):
        d = (feats[i] - r[n]).abs().max().item()
        print(f"  trunk {n}: max abs diff {d:.3g}")
        ok &= d < 1e-4
    d = (dense_oc - r["clip_vis_dense"]).abs().max().item()
    print(f"  clip_vis_dense: max abs diff {d:.3g}")
    ok &= d < 1e-4
    names = ["wall", "traffic light", "building, edifice"]
    tokens = tokenize(names, cfg.prompt_template, os.path.join(SHARED, "data", "clip", "bpe_simple_vocab_16e6.txt.gz"))
    with torch.no_grad():
        e_oc = oc.encode_text(tokens)
        e_me = model.clip.encode_text(tokens)
    d = (e_oc - e_me).abs().max().item()
    print(f"  encode_text: max abs diff {d:.3g} (|e| ~ {e_me.norm(dim=-1).mean():.2f})")
    ok &= d < 1e-3
    return ok


def check_tokens() -> bool:
    bpe = os.path.join(SHARED, "data", "clip", "bpe_simple_vocab_16e6.txt.gz")
    t = tokenize(["wall", "traffic light", "bed "], "A photo of a {} in the scene", bpe)
    want = [[49406, 320, 1125, 539, 320, 2569, 530, 518, 3562, 49407],
            [49406, 320, 1125, 539, 320, 3399, 1395, 530, 518, 3562, 49407]]
    ok = t[0, :10].tolist() == want[0] and t[1, :11].tolist() == want[1] and int(t[0, 10:].abs().sum()) == 0
    ok &= t[2, :10].tolist()[-1] == 49407  # trailing space removed by the whitespace cleanup
    print(f"tokenizer vs spec examples: {'ok' if ok else t[:, :12]}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=["b", "l"], default="b")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    ok = check_state_dict("b") & check_state_dict("l") & check_tokens() & check_against_open_clip(args.size)
    print("ALL OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
