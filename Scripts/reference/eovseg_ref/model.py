"""EOV-Seg model (state_dict keys as the official detectron2 model) and inference (spec §2, §4)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .clip import Backbone, CNNClip, ViTClip
from .config import EOVSegConfig
from .heads import LightweightDecoder, LiteAggregator, classification_logits
from errseg_ref.model import StageTimer  # noqa: E402  (wall and CPU ms per stage, shared with the ERR-Seg bench)


class EOVSeg(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        self.cfg = cfg
        self.cnn_backbone = Backbone(CNNClip(cfg))
        self.vit_backbone = Backbone(ViTClip(cfg))
        self.lite_aggr = LiteAggregator(cfg)
        self.light_weight_decoder = LightweightDecoder(cfg)
        self.void_embedding = nn.Embedding(1, cfg.embed_dim)

    # ------------------------------------------------------------------------------------------ text (§2.0)
    @torch.no_grad()
    def text_classifier(self, tokens: torch.Tensor, num_prompts: int, batch: int = 128) -> torch.Tensor:
        """tokens [rows*num_prompts, 77] (row-major: synonym row, then template) -> TC [rows + 1, D], void last."""
        clip = self.cnn_backbone.clip_model
        emb = torch.cat([clip.encode_text(tokens[i:i + batch]) for i in range(0, tokens.shape[0], batch)])
        emb = F.normalize(emb, dim=-1)
        emb = emb.reshape(-1, num_prompts, emb.shape[-1]).mean(dim=1)
        emb = F.normalize(emb, dim=-1)
        void = F.normalize(self.void_embedding.weight, dim=-1)
        return torch.cat([emb, void], dim=0)

    # ------------------------------------------------------------------------------------------ image (§2.2-§2.9)
    @torch.no_grad()
    def forward_intermediates(self, x: torch.Tensor, tc: torch.Tensor, num_templates: List[int],
                              seen: torch.Tensor, timer: Optional[StageTimer] = None) -> Dict[str, torch.Tensor]:
        """x: normalised, padded [1,3,Hp,Wp]; tc [T,D]; seen [K] (1 = class overlaps the COCO train synonyms).
        Returns the named intermediates; masks stay at the padded /4 size (post-processing is separate)."""
        cfg = self.cfg
        r: Dict[str, torch.Tensor] = {}
        mark = timer.mark if timer is not None else (lambda s: None)
        visual = self.cnn_backbone.clip_model.visual
        feats = visual.features(x)
        for n in ("res2", "res3", "res4", "res5"):
            r[f"backbone.{n}"] = feats[n]
        mark("cnn backbone")
        v = self.vit_backbone.clip_model.visual.spatial(x)
        r["vit.out"] = v
        mark("vit block 0")
        f0 = self.lite_aggr(feats)
        r["aggr.out"] = f0
        mark("lite aggregator")
        cls, mq = self.light_weight_decoder(f0, v, tc, num_templates, r)
        mark("vas + decoder")
        # §2.8 out-of-vocabulary classification with the frozen CNN CLIP.
        dense = feats["clip_vis_dense"]
        mc = F.interpolate(mq, size=dense.shape[-2:], mode="bilinear", align_corners=False)
        r["clip.mask_small"] = mc
        pooled = visual.pool_masks(feats, mc)
        r["clip.pooled"] = pooled
        out = classification_logits(pooled, tc, self.cnn_backbone.clip_model.logit_scale, num_templates)
        r["clip.logits"] = out
        # §2.9 geometric ensemble, formula kept literally (NaN**0 = 1; -inf * 0 = NaN).
        k = len(num_templates)
        cls0, out0 = cls[0], out[0]
        p_in = cls0[:, :k].softmax(-1)
        p_out = out0[:, :k].softmax(-1)
        void = cls0.softmax(-1)[:, -1:]
        alpha = torch.ones_like(p_in) * cfg.ensemble_alpha
        beta = torch.ones_like(p_in) * cfg.ensemble_beta
        if cfg.ensemble_on_valid_mask:
            valid = ((mc[0] > 0).to(mc.dtype).sum(-1).sum(-1) > 0).to(p_in.dtype).unsqueeze(-1)
            alpha = alpha * valid
            beta = beta * valid
        m = seen.to(p_in.dtype)
        seen_l = (p_in ** (1 - alpha) * p_out ** alpha).log() * m
        unseen_l = (p_in ** (1 - beta) * p_out ** beta).log() * (1 - m)
        logits = seen_l + unseen_l
        probs = torch.cat([logits.softmax(-1) * (1.0 - void), void], dim=-1)
        r["ensemble.logp"] = torch.log(probs + 1e-8)
        mark("clip pooling + ensemble")
        return r


# ---------------------------------------------------------------------------------------------- post-processing
def postprocess_masks(mq: torch.Tensor, padded: Tuple[int, int], resized: Tuple[int, int],
                      original: Tuple[int, int]) -> torch.Tensor:
    """[1,Q,Hp/4,Wp/4] logits -> [Q,H,W] logits: x4 to the padded size, crop to the resized image, resize."""
    m = F.interpolate(mq, size=padded, mode="bilinear", align_corners=False)
    m = m[:, :, :resized[0], :resized[1]]
    return F.interpolate(m, size=original, mode="bilinear", align_corners=False)[0]


def panoptic_inference(logp: torch.Tensor, masks: torch.Tensor, thing: Sequence[bool], object_mask_threshold: float,
                       overlap_threshold: float) -> Tuple[torch.Tensor, List[dict]]:
    """§4.1. logp [Q,K+1] (void last), masks [Q,H,W] logits -> (ids int32 [H,W], segments)."""
    k = logp.shape[1] - 1
    scores, labels = F.softmax(logp, dim=-1).max(-1)
    mask_pred = masks.sigmoid()
    keep = labels.ne(k) & (scores > object_mask_threshold)
    cur_scores, cur_classes, cur_masks = scores[keep], labels[keep], mask_pred[keep]
    h, w = masks.shape[-2:]
    seg = torch.zeros((h, w), dtype=torch.int32)
    segments: List[dict] = []
    if cur_masks.shape[0] == 0:
        return seg, segments
    cur_ids = (cur_scores.view(-1, 1, 1) * cur_masks).argmax(0)
    next_id = 0
    stuff_memory: Dict[int, int] = {}
    for i in range(cur_classes.shape[0]):
        label = int(cur_classes[i])
        isthing = bool(thing[label])
        area = int((cur_ids == i).sum())
        orig = int((cur_masks[i] >= 0.5).sum())
        mask = (cur_ids == i) & (cur_masks[i] >= 0.5)
        if area > 0 and orig > 0 and int(mask.sum()) > 0:
            if area / orig < overlap_threshold:
                continue
            if not isthing:
                if label in stuff_memory:
                    seg[mask] = stuff_memory[label]
                    continue
                stuff_memory[label] = next_id + 1
            next_id += 1
            seg[mask] = next_id
            segments.append({"id": next_id, "isthing": isthing, "category_id": label})
    return seg, segments


def panoptic_details(logp: torch.Tensor, masks: torch.Tensor, thing: Sequence[bool], object_mask_threshold: float,
                     overlap_threshold: float) -> Dict[str, object]:
    """Which queries were kept and which stuff queries merged into an earlier segment (for checks and printing)."""
    k = logp.shape[1] - 1
    scores, labels = F.softmax(logp, dim=-1).max(-1)
    keep = labels.ne(k) & (scores > object_mask_threshold)
    kept = torch.nonzero(keep).flatten().tolist()
    mask_pred = masks.sigmoid()[keep]
    merged, accepted = [], []
    if kept:
        ids = (scores[keep].view(-1, 1, 1) * mask_pred).argmax(0)
        seen_stuff = set()
        for i, q in enumerate(kept):
            label = int(labels[q])
            area = int((ids == i).sum())
            orig = int((mask_pred[i] >= 0.5).sum())
            inter = int(((ids == i) & (mask_pred[i] >= 0.5)).sum())
            if area > 0 and orig > 0 and inter > 0 and area / orig >= overlap_threshold:
                if not thing[label]:
                    if label in seen_stuff:
                        merged.append(q)
                        continue
                    seen_stuff.add(label)
                accepted.append(q)
    return {"kept_queries": kept, "segment_queries": accepted, "merged_stuff_queries": merged,
            "labels": labels.tolist(), "scores": scores.tolist()}


def semantic_inference(logp: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """§4.3 on the already-resized masks: argmax_c sum_q softmax(logP)_q[c] sigmoid(M_q), void dropped."""
    sem = torch.einsum("qc,qhw->chw", F.softmax(logp, dim=-1)[..., :-1], masks.sigmoid())
    return sem.argmax(0).to(torch.int32)
