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
"""
from __future__ import annotations

import math
import os
import sys

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
