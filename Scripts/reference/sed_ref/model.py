"""Top-level SED inference model (`sem_seg_head.predictor.{clip_model, transformer}`) and the forward with every
intermediate (spec §1.3, §1.4).

The CLIP model is ERR-Seg's reference ClipModel (open_clip 2.10 CLIP layout: visual = timm ConvNeXt trunk + head,
text tower, token_embedding, positional_embedding, ln_final, text_projection, logit_scale) built without the
ERR-Seg-only HSM module; the decoder is sed_ref.decoder.Aggregator.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from errseg_ref.model import ClipModel  # noqa: E402
from errseg_ref.preprocess import normalize_and_squash, resize_shortest_edge  # noqa: E402

from .config import SEDConfig  # noqa: E402
from .decoder import Aggregator  # noqa: E402


class Predictor(nn.Module):
    def __init__(self, cfg: SEDConfig):
        super().__init__()
        self.clip_model = ClipModel(cfg)   # registered first, as in SEDPredictor.__init__
        self.transformer = Aggregator(cfg)


class SemSegHead(nn.Module):
    def __init__(self, cfg: SEDConfig):
        super().__init__()
        self.predictor = Predictor(cfg)


def preprocess(img: np.ndarray, cfg: SEDConfig) -> Tuple[torch.Tensor, np.ndarray]:
    """uint8 HxWx3 RGB -> ([1,3,S,S] network input, the mapper's uint8 image).
    detectron2 test mapper: ResizeShortestEdge(640, max 2560) with Pillow BILINEAR on uint8 (int(x + 0.5) sizes);
    then (x - CLIP mean) / CLIP std on the 0..255 scale; no padding at test (size_divisibility -1); then
    F.interpolate bilinear align_corners=False (no antialias) to clip_resolution^2, aspect ratio not kept."""
    resized = resize_shortest_edge(img, cfg.min_size_test, cfg.max_size_test)
    return normalize_and_squash(resized, cfg.pixel_mean, cfg.pixel_std, cfg.clip_resolution), resized


def postprocess(probs: torch.Tensor, mapped_size: Sequence[int], out_size: Sequence[int]) -> torch.Tensor:
    """detectron2 sem_seg_postprocess: crop [:, :h_mapped, :w_mapped] (a no-op: the decoder output is smaller than
    the mapped image), then bilinear (align_corners=False) straight to the ORIGINAL (height, width). [T,h,w] ->
    [T,H0,W0]."""
    p = probs[:, : mapped_size[0], : mapped_size[1]]
    return F.interpolate(p.unsqueeze(0), size=tuple(out_size), mode="bilinear", align_corners=False)[0]


def cer_survivors(aux_logits: torch.Tensor, k: int) -> torch.Tensor:
    """Category early rejection (Aggregator.get_valid_idx_from_mask): aux_logits [T_cur,h,w] -> bool [T_cur].
    Per pixel, rank the T_cur logits in descending order and take the first k; a class survives if it is in the
    top k of at least one pixel (bincount > 0). No thresholds. k >= T_cur keeps every class.
    Tie rule (ours, for determinism; the original's unstable argsort leaves it open): a STABLE descending sort,
    so among equal logits the lower class index ranks first."""
    t = aux_logits.shape[0]
    order = torch.argsort(aux_logits, dim=0, descending=True, stable=True)[:k]
    return torch.bincount(order.reshape(-1), minlength=t) > 0


class StageTimer:
    def __init__(self):
        self.wall: Dict[str, float] = {}
        self._t = time.perf_counter()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.wall[stage] = self.wall.get(stage, 0.0) + (now - self._t) * 1000
        self._t = now


class _NoTimer:
    def mark(self, stage: str) -> None:
        pass


class SED(nn.Module):
    def __init__(self, cfg: SEDConfig):
        super().__init__()
        self.cfg = cfg
        self.sem_seg_head = SemSegHead(cfg)

    @property
    def clip(self) -> ClipModel:
        return self.sem_seg_head.predictor.clip_model

    @property
    def transformer(self) -> Aggregator:
        return self.sem_seg_head.predictor.transformer

    @torch.no_grad()
    def encode_image(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """open_clip TimmModel.forward(dense=True) as SED's copy has it: stem, the four stages (res2..res5), then
        every res5 pixel as a 1x1 image through trunk.head (average pool of one value, LayerNorm2d eps 1e-6,
        flatten) and visual.head (B: proj; L: mlp). `dense` is [1,E,h,w], not normalised."""
        trunk = self.clip.visual.trunk
        out = {}
        y = trunk.stem(x)
        for s in range(4):
            y = trunk.stages[s](y)
            out[f"res{s + 2}"] = y
        out["dense"] = self.clip.visual.dense_projection(trunk.norm_pre(y))
        return out

    @torch.no_grad()
    def forward_intermediates(self, x: torch.Tensor, text: torch.Tensor, cer_k: Optional[int] = None,
                              timer=None, with_cer_details: bool = True) -> Dict[str, torch.Tensor]:
        """x [1,3,S,S] normalised network input; text [T,P,E] bank. Returns the named intermediates (golden
        names). cer_k None: the plain decoder (all classes through every stage); an int: CER with that top-k,
        and the `cer.*` names replace the per-stage decoder outputs."""
        tm = timer or _NoTimer()
        dec = self.transformer
        r: Dict[str, torch.Tensor] = {"input": x}
        vis = self.encode_image(x)
        for n in ("res2", "res3", "res4", "res5"):
            r[n] = vis[n]
        r["dense"] = vis["dense"]
        r["text"] = text
        tm.mark("CLIP visual")

        # Cosine cost, official layout [B,P,T,h,w] (einsum 'bchw,btpc->bpthw' on unit vectors, no logit scale),
        # then '(B T) P H W': one class per batch row, the 80 templates as channels.
        img = F.normalize(vis["dense"], dim=1)
        txt = F.normalize(text, dim=-1).unsqueeze(0)
        corr5 = torch.einsum("bchw,btpc->bpthw", img, txt)
        corr = corr5[0].permute(1, 0, 2, 3).contiguous()          # [T,P,h,w]
        r["corr"] = corr
        corr_embed = dec.conv1(corr)                               # [T,128,h,w]
        r["corr_embed"] = corr_embed
        cg = dec.correlation_guidance(corr)                        # on all T classes
        for i, g in enumerate(cg):
            r[f"corr_guidance.{i}"] = g
        ag = dec.appearance_guidance([vis["res4"], vis["res3"], vis["res2"]])
        for i, g in enumerate(ag):
            r[f"app_guidance.{i}"] = g
        tm.mark("cost + conv1 + guidance")
        head0 = dec.head0(corr_embed)[:, 0]                        # [T,h,w]
        r["head0"] = head0

        if cer_k is None:
            h = corr_embed
            for s, (stage, head) in enumerate(zip(dec.stages, (dec.head1, dec.head2, dec.head))):
                trace: Dict[str, torch.Tensor] = {}
                h = stage(h, ag[s], cg[s], trace)
                r[f"decoder{s + 1}.cnext"] = trace["cnext"]
                r[f"decoder{s + 1}.attn"] = trace["attn"]
                r[f"decoder{s + 1}"] = h
                if s < 2:
                    r[f"head{s + 1}"] = head(h)[:, 0]
                tm.mark(f"decoder{s + 1}")
            logits = dec.head(h)[:, 0]
            r["logits"] = logits
            r["probs"] = logits.sigmoid()
            tm.mark("head")
            return r

        # CER (Aggregator.fast_conv_decoder): before each stage, keep the classes that are in the per-pixel top-k
        # of the previous aux head (head0 / head1 / head2); only they, and their rows of corr_embed and of the
        # corr guidance, go on. Appearance guidance is class-independent.
        t = text.shape[0]
        idx = torch.arange(t)
        h = corr_embed
        aux = head0
        cg_cur = list(cg)
        for s, stage in enumerate(dec.stages):
            keep = cer_survivors(aux, cer_k)
            idx = idx[keep]
            h = h[keep]
            cg_cur = [g[keep] for g in cg_cur]
            r[f"cer.survivors{s + 1}"] = idx.to(torch.int32)
            h = stage(h, ag[s], cg_cur[s])
            if s < 2:
                aux = (dec.head1, dec.head2)[s](h)[:, 0]
                if with_cer_details:
                    r[f"cer.head{s + 1}"] = aux
            tm.mark(f"decoder{s + 1} (CER)")
        logits = dec.head(h)[:, 0]
        probs = torch.zeros((t,) + tuple(logits.shape[-2:]), dtype=logits.dtype)
        probs[idx] = logits.sigmoid()                              # rejected classes: exactly 0
        r["cer.logits"] = logits
        r["cer.probs"] = probs
        tm.mark("head (CER)")
        return r
