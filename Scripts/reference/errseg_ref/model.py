"""Top-level ERR-Seg inference model: `sem_seg_head.{clip_model, decoder}` plus the forward with intermediates."""
from __future__ import annotations

import math
import time
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ErrSegConfig
from .convnext import ConvNeXtVisual
from .decoder import Decoder
from .text import TextTransformer


class ClipModel(nn.Module):
    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        # Own parameters first: the checkpoint lists positional_embedding, text_projection, logit_scale first.
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, cfg.text_width))
        self.text_projection = nn.Parameter(torch.empty(cfg.text_width, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # unused at inference
        self.visual = ConvNeXtVisual(cfg)
        self.transformer = TextTransformer(cfg.text_width, cfg.text_layers, cfg.text_heads, cfg.text_ln_eps)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.ln_final = nn.LayerNorm(cfg.text_width, eps=cfg.text_ln_eps)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [T,77] int -> [T,E] (not normalised). Runs all 77 positions, as the original does."""
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x))
        eot = tokens.argmax(dim=-1)  # the EOT id (49407) is the largest id in every sequence
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection


class SemSegHead(nn.Module):
    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        self.clip_model = ClipModel(cfg)
        self.decoder = Decoder(cfg)


def cosine_cost(dense: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """dense [1,E,h,w], text [T,E] -> [1,1,T,h,w] cosine similarity (F.normalize eps 1e-12 on both sides)."""
    d = F.normalize(dense, dim=1)
    t = F.normalize(text, dim=-1)
    return torch.einsum("bchw,tc->bthw", d, t).unsqueeze(1)


def crm_scores(corr16: torch.Tensor, top: int, weights: List[float]) -> torch.Tensor:
    """Rank-weighted per-pixel top-k class histogram, accumulated in float32 rank by rank like the original."""
    s = corr16[0].mean(dim=0)  # [T,h,w] (mean over the single prompt)
    t = s.shape[0]
    top = min(top, t)
    idx = torch.topk(s, k=top, dim=0).indices  # [top,h,w], descending
    classes = torch.arange(t, dtype=idx.dtype)
    scores = torch.zeros(t, dtype=torch.float32)
    for r in range(top):
        # Histogram of the rank-r class over the pixels as a one-hot sum (= torch.bincount; exported to ONNX,
        # where bincount has no operator). Integer counts, so the float32 scores are unchanged.
        hist = (idx[r].reshape(-1, 1) == classes).sum(dim=0).to(torch.float32)
        scores += hist * weights[r]
    return scores


def select_classes(scores: torch.Tensor, k: int) -> torch.Tensor:
    """K best classes by score; ties go to the lower class index; returned in ascending index order.
    (The original shuffles the selection with randperm; everything downstream is equivariant, so we skip it.)"""
    t = scores.shape[0]
    k = min(k, t)
    # Written with comparisons and top-k only (no stable sort) so that it exports to ONNX; equal to
    # sort(sort(scores, descending, stable).indices[:k]). Rank of class i in that stable order: the classes with a
    # higher score plus the lower-indexed classes with the same score. The K of rank < K are the selection; top-k of
    # the distinct keys T - i over them returns them in ascending index order.
    index = torch.arange(t)
    above = scores.unsqueeze(0) > scores.unsqueeze(1)                  # [i, j]: class j scores above class i
    tied_before = (scores.unsqueeze(0) == scores.unsqueeze(1)) & (index.unsqueeze(0) < index.unsqueeze(1))
    rank = (above | tied_before).sum(dim=1)
    key = torch.where(rank < k, (t - index).to(torch.float32), torch.zeros((), dtype=torch.float32))
    return torch.topk(key, k).indices


class StageTimer:
    """Accumulates wall and process-CPU milliseconds per named stage (for the bench breakdown)."""

    def __init__(self):
        self.wall: Dict[str, float] = {}
        self.cpu: Dict[str, float] = {}
        self._t = (time.perf_counter(), time.process_time())

    def mark(self, stage: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall[stage] = self.wall.get(stage, 0.0) + (now[0] - self._t[0]) * 1000
        self.cpu[stage] = self.cpu.get(stage, 0.0) + (now[1] - self._t[1]) * 1000
        self._t = now


class _NoTimer:
    def mark(self, stage: str) -> None:
        pass


class ErrSeg(nn.Module):
    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        self.cfg = cfg
        self.sem_seg_head = SemSegHead(cfg)

    @property
    def clip(self) -> ClipModel:
        return self.sem_seg_head.clip_model

    @property
    def decoder(self) -> Decoder:
        return self.sem_seg_head.decoder

    @torch.no_grad()
    def text_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """[T,77] -> [T,E] unit vectors (computed once per vocabulary in eval mode)."""
        e = self.clip.encode_text(tokens)
        return e / e.norm(dim=-1, keepdim=True)

    @torch.no_grad()
    def forward_intermediates(self, x: torch.Tensor, text_embed: torch.Tensor, k: Optional[int] = None,
                              out_size: Optional[tuple] = None, timer=None) -> Dict[str, object]:
        """x [1,3,S,S] normalised model input; text_embed [T,E] unit rows. Returns every named intermediate.
        out_size (H0, W0): if given, also the post-processed probabilities and the label map.
        timer: optional StageTimer, charged per stage."""
        cfg = self.cfg
        tm = timer or _NoTimer()
        k = cfg.sample_classes_num if k is None else k
        t = text_embed.shape[0]
        k = min(k, t)
        r: Dict[str, object] = {"input": x}
        vis = self.clip.visual.forward_dense(x)
        r["trunk_features"] = {n: vis[n] for n in ("os4", "os8", "os16", "os32")}
        r["hsm_modified_downsample"] = vis["hsm_modified_downsample"]
        r["dense_embed"] = {"os16_dense": vis["os16_dense"], "clip_vis_dense": vis["clip_vis_dense"]}
        tm.mark("visual trunk + HSM")
        r["text_embed"] = text_embed
        corr16 = cosine_cost(vis["os16_dense"], text_embed)
        corr32 = cosine_cost(vis["clip_vis_dense"], text_embed)
        r["cost"] = {"corr16": corr16, "corr32": corr32}
        scores = crm_scores(corr16, cfg.crm_top, cfg.crm_rank_weights)
        sel = select_classes(scores, k)
        r["crm_scores"] = scores
        r["selected_classes"] = sel
        tm.mark("cost maps + CRM")

        dec = self.decoder
        x0 = dec.cost_embedding(corr16[0, 0, sel], corr32[0, 0, sel])
        r["cost_embed"] = x0
        guid = dec.guidance(vis)
        gtxt = dec.text_guidance(text_embed[sel])
        r["guidance"] = dict(guid, gtxt=gtxt)
        tm.mark("cost embedding + guidance")

        h = x0
        sfm_out, escf_out = [], []
        for layer in dec.aggregator_layers:
            h = layer.spatial_fusion(h, guid["gimg"])
            sfm_out.append(h)
            tm.mark("ESCF: SFM x4")
            h = layer.class_fusion(h, gtxt)
            escf_out.append(h)
            tm.mark("ESCF: CFM x4")
        r["sfm_out"] = sfm_out
        r["escf_out"] = escf_out

        g1 = dec.up_decoder1(h, guid["gdec1"])
        g2 = dec.up_decoder2(g1, guid["gdec2"])
        g3 = dec.up_decoder3(g2, guid["gdec3"])
        r["gud_out"] = [g1, g2, g3]
        sel_logits = dec.head(g3)[:, 0].unsqueeze(0)  # [1,K,H4,W4]
        r["logits_selected"] = sel_logits
        full = torch.full((1, t) + tuple(sel_logits.shape[-2:]), -100.0)
        full[0, sel] = sel_logits[0]
        r["logits"] = full
        probs = full.sigmoid()
        r["probs"] = probs
        tm.mark("GUD + head + scatter")
        if out_size is not None:
            resized = F.interpolate(probs, size=tuple(out_size), mode="bilinear", align_corners=False)[0]
            r["probs_resized"] = resized
            r["label_map"] = resized.argmax(dim=0).to(torch.int32)
            tm.mark("resize + argmax")
        return r
