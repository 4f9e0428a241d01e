"""Seeded random weights for SED in the official checkpoint layout, and checkpoint I/O.

Recipe (every tensor of the state dict is redrawn from one torch.Generator seeded with `seed`, in state-dict order;
no tensor keeps a constructor constant):
  conv / linear / in_proj weights          N(0, 1/fan_in), fan_in = numel / out_channels
                                           (depthwise convs: the k*k taps; ConvTranspose2d [in,out,kh,kw]:
                                           fan_in = in * kh * kw / (stride_h * stride_w), = in for k = s = 2)
  biases (incl. in_proj_bias)              N(0, 0.02^2)
  LayerNorm / LayerNorm2d / GroupNorm w.   U(0.8, 1.2)   (their biases as every bias)
  ConvNeXt layer scale `gamma`             U(0.1, 1.0)   (trunk blocks and decoder blocks; instead of 1e-6 / 1.0)
  token_embedding                          N(0, 0.02^2)
  positional_embedding                     N(0, 0.01^2)
  text_projection [W,E]                    N(0, 1/W)
  logit_scale                              U(ln 10, ln 100)  (unused at inference: SED computes it, never applies it)
Checkpoints are {"model": OrderedDict(state_dict), "iteration": 0} (detectron2 layout), written by
errseg_ref.weights.save_checkpoint: storage fp32 (all float32), mixed (tensors with >= 4096 elements float16, the
rest float32) or fp16. round_to_storage makes the in-memory weights equal to what the file holds, so goldens are
computed from the weights exactly as a loader reads them.

CERCalibration / calibrate_cer (optional, used only for the sed_tiny_cer goldens): a data-independent rescaling of
a few drawn tensors, applied after init_random and before round_to_storage, so that category early rejection
rejects classes at all three points with random weights (see the class for the recipe and why).
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import List

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from errseg_ref.weights import load_checkpoint, round_to_storage, save_checkpoint, storage_dtype  # noqa: E402,F401

STORAGE_NAMES = {"float32": "fp32", "fp32": "fp32", "mixed": "mixed", "float16": "fp16", "fp16": "fp16"}


def _norm_weight_names(model: nn.Module) -> set:
    return {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm))}


def _transposed(model: nn.Module) -> dict:
    return {f"{n}.weight": m.stride for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose2d)}


def fan_in(name: str, shape, transposed: dict) -> int:
    if name in transposed:
        sh, sw = transposed[name]
        return max(1, shape[0] * shape[2] * shape[3] // (sh * sw))
    n = 1
    for d in shape[1:]:
        n *= d
    return max(1, n)


@torch.no_grad()
def init_random(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    norms = _norm_weight_names(model)
    transposed = _transposed(model)
    params = dict(model.named_parameters())
    for name in model.state_dict().keys():
        p = params[name]  # the SED state dict holds parameters only (no buffers)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            p.copy_(torch.rand(p.shape, generator=gen) * 0.9 + 0.1)
        elif name in norms:
            p.copy_(torch.rand(p.shape, generator=gen) * 0.4 + 0.8)
        elif leaf in ("bias", "in_proj_bias"):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        elif leaf == "logit_scale":
            p.copy_(torch.rand(p.shape, generator=gen) * (math.log(100.0) - math.log(10.0)) + math.log(10.0))
        elif name.endswith("token_embedding.weight"):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        elif leaf == "positional_embedding":
            p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
        elif leaf == "text_projection":
            p.copy_(torch.randn(p.shape, generator=gen) * p.shape[0] ** -0.5)
        else:
            p.copy_(torch.randn(p.shape, generator=gen) * fan_in(name, p.shape, transposed) ** -0.5)


@dataclass
class CERCalibration:
    """Multipliers / offsets applied to the drawn weights (calibrate_cer) so that the auxiliary heads rank the
    classes by something that depends more on the class than on the pixel.

    Why: with random weights, head1 and head2 (on 8x8 and 16x16 maps) rank the classes differently from pixel to
    pixel: the class-level part of their logits is ~0.05 of the class-by-pixel part, so every surviving class is in
    some pixel's top k and CER rejects nothing after point 1. Where that class-by-pixel part comes from, and the
    knob that shrinks it:
      dense_bias_scale    the dense CLIP embedding of a random trunk differs a lot from pixel to pixel, so the cost's
                          class ranking does too. trunk.head.norm.bias (LayerNorm2d before the visual head) x this
                          gives every pixel embedding a common, pixel-independent component (visual.head applied to
                          the bias), and the cost a class-level part that is the same at every pixel.
      off_centre_taps     zero padding: near the border a 3x3 / 9x9 kernel sees a different subset of its taps, a
                          different linear map of the same class-level features at every border pixel. The taps
                          other than the centre tap of the calibrated stages' decoder ConvNeXt depthwise conv,
                          DoubleConv convs and auxiliary head x this.
      convt_tap_spread    a ConvTranspose2d(k2, s2) maps its input through a different 2x2 tap at each of the four
                          output phases (a checkerboard of four linear maps). For the calibrated stages' `up` and the
                          correlation-guidance projections that feed them: weight := tap mean + this x (weight -
                          tap mean), the mean taken over the 2x2 taps of each (in, out) pair.
      gn_bias_offset      ReLU after GroupNorm gates the class-level signal with a pixel-dependent on/off pattern.
                          Added to both GroupNorm biases of each calibrated stage's DoubleConv (the second one is the
                          per-channel offset of the stage output the next auxiliary head reads): most units are in
                          ReLU's linear range.
      stages              decoder stages (1-based) calibrated: 1 and 2, i.e. what head1 and head2 read. head0 (point
                          1) is left as drawn, and so are conv1, decoder3's own weights and the final head (the
                          label maps keep several classes).
      final_corr_guidance_gain
                          the calibrated stages' outputs carry a large class-independent part (the GroupNorm offsets),
                          which drowns the class differences of the final logits (per-pixel class spread ~0.004, many
                          pixels with top-2 probabilities within 1e-6 of each other: label maps that float32 rounding
                          can flip). decoder_corr_guidance_projection.2.0 weight and bias (ConvT + ReLU, so its output,
                          the class-dependent correlation guidance decoder3 reads) x this. Does not touch head0 /
                          head1 / head2, so not the CER decisions.
    Every tensor is still the init_random draw, rescaled or shifted (none is set to a constant; all scales > 0).
    Data-independent: no input image or vocabulary is used."""
    dense_bias_scale: float = 1.0
    off_centre_taps: float = 1.0
    convt_tap_spread: float = 1.0
    gn_bias_offset: float = 0.0
    stages: List[int] = field(default_factory=lambda: [1, 2])
    final_corr_guidance_gain: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    def tensors(self) -> List[str]:
        """State-dict keys the recipe changes (for the manifest)."""
        c, t = "sem_seg_head.predictor.clip_model.", "sem_seg_head.predictor.transformer."
        keys = [c + "visual.trunk.head.norm.bias"]
        for s in self.stages:
            keys += [f"{t}decoder_corr_guidance_projection.{s - 1}.0.weight", f"{t}decoder{s}.cnext.dwconv.weight",
                     f"{t}decoder{s}.up.weight", f"{t}decoder{s}.conv.double_conv.0.weight",
                     f"{t}decoder{s}.conv.double_conv.1.bias", f"{t}decoder{s}.conv.double_conv.3.weight",
                     f"{t}decoder{s}.conv.double_conv.4.bias", f"{t}head{s}.weight"]
        if self.final_corr_guidance_gain != 1.0:
            keys += [f"{t}decoder_corr_guidance_projection.2.0.weight", f"{t}decoder_corr_guidance_projection.2.0.bias"]
        return keys


def _scale_off_centre(w: torch.Tensor, a: float) -> None:
    kh, kw = w.shape[-2:]
    m = torch.full((kh, kw), a, dtype=w.dtype)
    m[kh // 2, kw // 2] = 1.0
    w.mul_(m)


def _shrink_tap_spread(w: torch.Tensor, b: float) -> None:
    mean = w.mean(dim=(2, 3), keepdim=True)
    w.copy_(mean + b * (w - mean))


@torch.no_grad()
def calibrate_cer(model: nn.Module, cal: CERCalibration) -> None:
    """Apply `cal` to a SED model (after init_random, before round_to_storage)."""
    model.sem_seg_head.predictor.clip_model.visual.trunk.head.norm.bias.mul_(cal.dense_bias_scale)
    dec = model.sem_seg_head.predictor.transformer
    for s in cal.stages:
        stage = dec.stages[s - 1]
        _shrink_tap_spread(dec.decoder_corr_guidance_projection[s - 1][0].weight, cal.convt_tap_spread)
        _scale_off_centre(stage.cnext.dwconv.weight, cal.off_centre_taps)
        _shrink_tap_spread(stage.up.weight, cal.convt_tap_spread)
        dc = stage.conv.double_conv
        _scale_off_centre(dc[0].weight, cal.off_centre_taps)
        _scale_off_centre(dc[3].weight, cal.off_centre_taps)
        dc[1].bias.add_(cal.gn_bias_offset)
        dc[4].bias.add_(cal.gn_bias_offset)
        _scale_off_centre(dec.heads[s].weight, cal.off_centre_taps)
    last = dec.decoder_corr_guidance_projection[2][0]
    last.weight.mul_(cal.final_corr_guidance_gain)
    last.bias.mul_(cal.final_corr_guidance_gain)
