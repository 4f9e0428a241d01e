"""Seeded, calibrated random weights for EOV-Seg in the official checkpoint layout.

Recipe (every tensor is redrawn; nothing keeps a constructor constant):
  conv / linear / in_proj weights   N(0, 1/fan_in)  (ConvTranspose: fan_in = C_in * kh * kw / stride^2)
  biases                            N(0, 0.02^2)
  LayerNorm / BatchNorm weights     U(0.8, 1.2)   (also each bottleneck's last BN, which open_clip zero-inits)
  BatchNorm running_mean / var      N(0, 0.1^2) / U(0.5, 1.5);  num_batches_tracked 0
  ConvNeXt layer scale gamma        U(0.1, 1.0)   (instead of 1e-6)
  token / text-positional embedding N(0, 0.02^2) / N(0, 0.01^2)
  ViT class + positional, attnpool positional, text_projection, ViT proj: N(0, 1/width)
  CLIP logit_scale                  cal.clip_logit_scale (default ln 100, the released value); decoder logit_scale
                                    cal.decoder_logit_scale (default ln(1/0.07), the constructor's value)
  vas.scale / vas.offset            U(0.5, 1.5) / U(0.0, 0.5)
  object_kernels, void_embedding    N(0, 1)
  criterion.empty_weight            ones, last 0.1 (training buffer)
Then Calibration multiplies a few tensors (see the class) so that random weights give a panoptic result with several
segments; the goldens record the seed and the calibration values in their manifest.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from errseg_ref.weights import load_checkpoint, round_to_storage, save_checkpoint, storage_dtype  # noqa: E402,F401


@dataclass
class Calibration:
    """Multipliers / values applied after the base draw."""
    object_kernel_scale: float = 1.0     # object_kernels (stage-0 masks)
    mask_scale: float = 1.0              # every stage's fc_mask weight+bias (mask logit magnitude)
    mask_offset: float = 0.0             # added to loc_conv.bias[0] (a near-constant F0 channel) ...
    mask_offset_weight: float = 0.0      # ... and to every fc_mask.bias[0]: a shared negative mask bias when < 0
    decoder_logit_scale: float = math.log(1 / 0.07)
    class_bias_align: float = 0.0        # + this x (mean text row direction) on every class_embed output bias
    clip_logit_scale: float = math.log(100.0)  # CNN CLIP logit_scale (released: ln 100); lower = flatter p_out
    center_class_embeddings: bool = False  # last stage: class_embed output bias -= mean over queries (varied labels)
    center_clip_embeddings: bool = False   # RN: attnpool.c_proj.bias -= mean over queries of the mask-pooled output
    final_mask_scale: float = 1.0        # at the end: object_kernels and every fc_mask x this (mask logit magnitude;
                                         # positive, so every mask > 0 decision and the segments' masks stay the same)

    def to_dict(self) -> dict:
        return asdict(self)


def _fan_in(name: str, p: torch.Tensor, transposed: dict) -> int:
    if name in transposed:
        kh, kw = p.shape[2], p.shape[3]
        s = transposed[name]
        return max(1, p.shape[0] * kh * kw // (s[0] * s[1]))
    return max(1, p.numel() // p.shape[0])


@torch.no_grad()
def init_random(model: nn.Module, seed: int, cal: Calibration = Calibration()) -> None:
    gen = torch.Generator().manual_seed(seed)
    norms = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d))}
    transposed = {f"{n}.weight": m.stride for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose2d)}

    def randn(shape, std):
        return torch.randn(shape, generator=gen) * std

    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            p.copy_(torch.rand(p.shape, generator=gen) * 0.9 + 0.1)
        elif name in norms:
            p.copy_(torch.rand(p.shape, generator=gen) * 0.4 + 0.8)
        elif leaf in ("bias", "in_proj_bias") and name != "lite_aggr.deconv.bias":
            p.copy_(randn(p.shape, 0.02))
        elif name == "lite_aggr.deconv.bias":
            p.copy_(randn(p.shape, 0.02))
        elif leaf == "logit_scale":
            if name.startswith("cnn_backbone"):
                p.fill_(cal.clip_logit_scale)
            elif name.startswith("vit_backbone"):
                p.fill_(math.log(100.0))
            else:
                p.fill_(cal.decoder_logit_scale)
        elif name.endswith("token_embedding.weight"):
            p.copy_(randn(p.shape, 0.02))
        elif name.endswith("clip_model.positional_embedding"):
            p.copy_(randn(p.shape, 0.01))
        elif leaf in ("class_embedding", "positional_embedding", "text_projection", "proj"):
            p.copy_(randn(p.shape, p.shape[-1] ** -0.5 if leaf != "text_projection" else p.shape[0] ** -0.5))
        elif name == "light_weight_decoder.vas.scale":
            p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
        elif name == "light_weight_decoder.vas.offset":
            p.copy_(torch.rand(p.shape, generator=gen) * 0.5)
        elif name in ("light_weight_decoder.object_kernels.weight", "void_embedding.weight"):
            p.copy_(randn(p.shape, 1.0))
        else:
            p.copy_(randn(p.shape, _fan_in(name, p, transposed) ** -0.5))
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(randn(b.shape, 0.1))
        elif name.endswith("running_var"):
            b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
        elif name.endswith("num_batches_tracked"):
            b.zero_()
    # Calibration.
    dec = model.light_weight_decoder
    dec.object_kernels.weight.mul_(cal.object_kernel_scale)
    for head in dec.mask_heads:
        head.fc_mask.weight.mul_(cal.mask_scale)
        head.fc_mask.bias.mul_(cal.mask_scale)


@torch.no_grad()
def calibrate_on_input(model: nn.Module, x: torch.Tensor, tokens: torch.Tensor, num_prompts: int, num_templates,
                       seen, cal: Calibration) -> torch.Tensor:
    """Data-dependent part of the recipe, on one input image and one vocabulary (deterministic):
      1. text_projection := (I - u u^T) text_projection, u = unit mean of the EOT features of all prompts: a random
         text tower maps every prompt to nearly the same direction (class rows at cosine ~0.99); without that common
         direction the class rows differ (mean cosine ~0.1) and queries get different labels;
      2. BatchNorm re-estimation: every BN's running mean / var := this input's per-channel batch statistics
         (a train-mode forward with cumulative averaging), so features stay O(1) and spatially varied;
      3. loc_conv.bias -= per-channel mean of F0 on this input (centred pixel features: each stage's kernels, built
         from mask sums, then depend on where a mask lies instead of mostly on its area);
      4. a shared negative mask offset (sparser, less overlapping masks): loc_conv.bias[0] += mask_offset (a
         near-constant F0 channel) and every fc_mask.bias[0] += mask_offset_weight;
      5. every class_embed output bias += class_bias_align x unit mean class row;
      6. center_class_embeddings: the last stage's class_embed output bias -= the mean over queries of its output
         on this input (a random head gives every query nearly the same class embedding, so one or two classes
         win everywhere; centred, queries spread over the vocabulary, things and stuff);
      6b. center_clip_embeddings (ResNet CLIP only; ConvNeXt's head has no output bias): the same for the
         out-of-vocabulary branch, attnpool.c_proj.bias -= the mean over queries (NaN rows of empty masks skipped)
         of the mask-pooled CLIP embedding, which otherwise picks one unseen class for every query;
      7. final_mask_scale: object_kernels and every fc_mask weight and bias x final_mask_scale (> 0). Mask logits
         of a random head reach +-250, where fp32 rounding alone moves them by ~1e-2; a trained head's are of the
         order of +-20. The sign of every mask logit, hence every binary mask and pooled feature, is unchanged.
    Returns the text classifier computed with the final weights."""
    clip = model.cnn_backbone.clip_model
    proj = clip.text_projection.data.clone()
    clip.text_projection.data = torch.eye(proj.shape[0])
    feats = torch.cat([clip.encode_text(tokens[i:i + 128]) for i in range(0, tokens.shape[0], 128)])
    u = nn.functional.normalize(feats.mean(dim=0), dim=0)
    clip.text_projection.data = proj - torch.outer(u, u @ proj)
    tc = model.text_classifier(tokens, num_prompts)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    model.forward_intermediates(x, tc, num_templates, seen)
    for m in bns:
        m.momentum = 0.1
        m.num_batches_tracked.zero_()
        m.eval()
    f0 = model.lite_aggr(clip.visual.features(x))
    model.lite_aggr.loc_conv.bias.sub_(f0.mean(dim=(0, 2, 3)))
    model.lite_aggr.loc_conv.bias[0] += cal.mask_offset
    mean_text = nn.functional.normalize(tc[:-1].mean(dim=0), dim=0)
    for head in model.light_weight_decoder.mask_heads:
        head.fc_mask.bias[0] += cal.mask_offset_weight
        head.class_embed.layers[2].bias.add_(cal.class_bias_align * mean_text)
    tc = model.text_classifier(tokens, num_prompts)
    # Two rounds: centring one branch moves the other's inputs a little (the ensemble does not, but the second
    # forward sees the first round's biases).
    for _ in range(2 if (cal.center_class_embeddings or cal.center_clip_embeddings) else 0):
        last = model.light_weight_decoder.mask_heads[-1].class_embed
        seen_z = []
        hook = last.register_forward_hook(lambda mod, inp, out: seen_z.append(out.detach()))
        r = model.forward_intermediates(x, tc, num_templates, seen)
        hook.remove()
        if cal.center_class_embeddings:
            last.layers[2].bias.sub_(seen_z[-1].reshape(-1, seen_z[-1].shape[-1]).mean(dim=0))
        pooled = r["clip.pooled"].reshape(-1, r["clip.pooled"].shape[-1])
        if cal.center_clip_embeddings and not bool(torch.isnan(pooled).all()):
            clip.visual.attnpool.c_proj.bias.sub_(pooled.nanmean(dim=0))
    if cal.final_mask_scale != 1.0:
        assert cal.final_mask_scale > 0
        dec = model.light_weight_decoder
        dec.object_kernels.weight.mul_(cal.final_mask_scale)
        for head in dec.mask_heads:
            head.fc_mask.weight.mul_(cal.final_mask_scale)
            head.fc_mask.bias.mul_(cal.final_mask_scale)
    return tc
