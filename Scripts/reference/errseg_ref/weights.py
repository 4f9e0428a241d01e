"""Random initialisation with a fixed seed, and detectron2-layout checkpoints ({"model": state_dict, ...})."""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn as nn


def _weight_names_of(model: nn.Module, kinds) -> set:
    return {f"{mname}.weight" for mname, m in model.named_modules() if isinstance(m, kinds)}


@torch.no_grad()
def init_random(model: nn.Module, seed: int) -> None:
    """Non-degenerate random weights: every block matters and activations stay O(1).
    conv/linear weights ~ N(0, 1/fan_in); biases ~ N(0, 0.02); norm weights ~ U(0.9, 1.1);
    ConvNeXt layer scale gamma ~ U(0.1, 1) (not 1e-6); embeddings small; logit_scale = log(1/0.07)."""
    gen = torch.Generator().manual_seed(seed)
    norm_weights = _weight_names_of(model, (nn.LayerNorm, nn.GroupNorm))
    transposed = _weight_names_of(model, nn.ConvTranspose2d)
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            p.copy_(torch.rand(p.shape, generator=gen) * 0.9 + 0.1)
        elif name in norm_weights:
            p.copy_(torch.rand(p.shape, generator=gen) * 0.2 + 0.9)
        elif leaf in ("bias", "in_proj_bias"):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        elif leaf == "logit_scale":
            p.fill_(math.log(1 / 0.07))
        elif leaf == "positional_embedding":
            p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
        elif name.endswith("token_embedding.weight"):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        elif leaf == "text_projection":
            p.copy_(torch.randn(p.shape, generator=gen) * p.shape[0] ** -0.5)
        else:
            # Conv2d [out,in/g,kh,kw], Linear [out,in], in_proj [3W,W]: fan_in = numel / out.
            # ConvTranspose2d [in,out,2,2] with k = s: each output sees `in` inputs, fan_in = shape[0].
            fan_in = p.shape[0] if name in transposed else p.numel() // p.shape[0]
            p.copy_(torch.randn(p.shape, generator=gen) * fan_in ** -0.5)


def storage_dtype(numel: int, storage: str) -> torch.dtype:
    """fp32: all float32; fp16: all half; mixed: tensors with >= 4096 elements as half, the rest float32
    (keeps the tiny checkpoint small and exercises both dtypes in a loader)."""
    if storage == "fp16" or (storage == "mixed" and numel >= 4096):
        return torch.float16
    return torch.float32


@torch.no_grad()
def round_to_storage(model: nn.Module, storage: str) -> None:
    """Make the in-memory weights exactly what the checkpoint will hold, so goldens match a loader bit for bit."""
    for p in model.parameters():
        if storage_dtype(p.numel(), storage) == torch.float16:
            p.copy_(p.to(torch.float16).to(torch.float32))


def save_checkpoint(model: nn.Module, path: str, storage: str = "fp32") -> None:
    sd = model.state_dict()
    out = OrderedDict()
    for k, v in sd.items():
        out[k] = v.detach().to(storage_dtype(v.numel(), storage)).clone().contiguous()
    out._metadata = getattr(sd, "_metadata", None)  # detectron2 checkpoints carry it; exercises BUILD in unpicklers
    torch.save({"model": out, "iteration": 0}, path)


def load_checkpoint(model: nn.Module, path: str) -> None:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    sd = ckpt["model"] if "model" in ckpt else ckpt
    sd = {k: v.to(torch.float32) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{path}: missing keys {missing[:5]}..., unexpected keys {unexpected[:5]}...")
