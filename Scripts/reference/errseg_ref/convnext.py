"""CLIP ConvNeXt V1 visual tower as used by ERR-Seg, written from the spec with timm/open_clip key names.

Module names reproduce the checkpoint keys under `sem_seg_head.clip_model.visual.`:
  trunk.stem.{0,1}, trunk.stages.{s}.downsample.{0,1}, trunk.stages.{s}.blocks.{i}.{gamma,conv_dw,norm,mlp.fc1,mlp.fc2},
  trunk.head.norm, head.proj (B) | head.mlp.fc1/fc2 (L), modify_downsample.{0,2}.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ErrSegConfig


class LayerNorm2d(nn.LayerNorm):
    """Normalises every pixel of an NCHW map over its channels (biased variance)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class BlockMlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    """dwconv7x7 -> LN (channels-last) -> Linear 4C -> erf-GELU -> Linear C -> layer scale -> + shortcut."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))  # registered first: checkpoint lists gamma before conv_dw
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = BlockMlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        y = self.conv_dw(x).permute(0, 2, 3, 1)
        y = self.mlp(self.norm(y)) * self.gamma
        return shortcut + y.permute(0, 3, 1, 2)


class ConvNeXtStage(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, depth: int, downsample: bool, eps: float):
        super().__init__()
        if downsample:
            self.downsample = nn.Sequential(LayerNorm2d(in_dim, eps=eps),
                                            nn.Conv2d(in_dim, out_dim, kernel_size=2, stride=2, bias=True))
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(*[ConvNeXtBlock(out_dim, eps) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class TrunkHead(nn.Module):
    """timm NormMlpClassifierHead with the classifier removed: only the LayerNorm2d carries weights."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.norm = LayerNorm2d(dim, eps=eps)


class ConvNeXtTrunk(nn.Module):
    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        dims, depths, eps = cfg.trunk_dims, cfg.trunk_depths, cfg.trunk_ln_eps
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4, bias=True),
                                  LayerNorm2d(dims[0], eps=eps))
        self.stages = nn.Sequential(*[
            ConvNeXtStage(dims[max(s - 1, 0)], dims[s], depths[s], downsample=s > 0, eps=eps) for s in range(4)])
        self.norm_pre = nn.Identity()
        self.head = TrunkHead(dims[3], eps)


class ProjMlp(nn.Module):
    """open_clip `timm_proj: mlp` head: fc1 (bias) -> GELU -> fc2 (no bias)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden, bias=True)
        self.fc2 = nn.Linear(hidden, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class VisualHead(nn.Module):
    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        c = cfg.trunk_dims[3]
        if cfg.visual_head == "linear":
            self.proj = nn.Linear(c, cfg.embed_dim, bias=False)
        else:
            self.mlp = ProjMlp(c, 2 * cfg.embed_dim, cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) if hasattr(self, "proj") else self.mlp(x)


class ConvNeXtVisual(nn.Module):
    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        self.trunk = ConvNeXtTrunk(cfg)
        self.head = VisualHead(cfg)
        c2, c3 = cfg.trunk_dims[2], cfg.trunk_dims[3]
        # HSM: stride-1 replacement of stage 3's downsample (LN2d, zero pad 1, conv k2 s1). ERR-Seg only: a config
        # with `modify_downsample = False` (SED's plain open_clip tower) builds the tower without it.
        if getattr(cfg, "modify_downsample", True):
            self.modify_downsample = nn.Sequential(LayerNorm2d(c2, eps=cfg.trunk_ln_eps), nn.ZeroPad2d(1),
                                                   nn.Conv2d(c2, c3, kernel_size=2, stride=1, bias=True))

    def dense_projection(self, x: torch.Tensor) -> torch.Tensor:
        """CLIP projection applied per pixel: each location is a 1x1 image, so the global average pool is the
        identity and g(v) = head(LayerNorm(v)). No L2 normalisation here."""
        x = self.trunk.head.norm(x)
        y = self.head(x.permute(0, 2, 3, 1))
        return y.permute(0, 3, 1, 2).contiguous()

    def forward_dense(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = {}
        x = self.trunk.stem(x)
        for s in range(4):
            x = self.trunk.stages[s](x)
            out[f"os{2 ** (s + 2)}"] = x.clone()
            if s == 2:
                # HSM os16 branch: stride-1 downsample, resize back to the os16 grid, stage-3 blocks (shared).
                h, w = x.shape[-2:]
                y = self.modify_downsample(x)
                out["hsm_modified_downsample"] = y
                y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
                y = self.trunk.stages[3].blocks(y)
                y = self.trunk.norm_pre(y)
                out["os16_dense"] = self.dense_projection(y)
        x = self.trunk.norm_pre(x)
        out["clip_vis_dense"] = self.dense_projection(x)
        return out
