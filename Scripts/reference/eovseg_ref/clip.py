"""The two frozen CLIP models of EOV-Seg, with open_clip / timm key names (spec §2.0, §2.2, §2.3, §2.8, §3.1).

cnn_backbone.clip_model : CNNClip  = ModifiedResNet (+ attnpool) or timm ConvNeXt trunk + head.mlp, and its text tower
vit_backbone.clip_model : ViTClip  = ViT visual (conv1, class/pos embedding, ln_pre, all blocks, ln_post, proj) and an
                                     unused text tower.
Parameter registration order reproduces the spec key order: CLIP's own parameters (positional_embedding,
text_projection, logit_scale) first, then visual, transformer, token_embedding, ln_final.
"""
from __future__ import annotations

import math
import os
import sys
from types import SimpleNamespace
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from errseg_ref.convnext import ConvNeXtTrunk, ProjMlp  # noqa: E402  (timm-named ConvNeXt trunk, fc1+GELU+fc2 head)
from errseg_ref.text import CausalSelfAttention  # noqa: E402  (in_proj [q;k;v] + out_proj, causal mask)

from .config import EOVSegConfig
from .ops import quick_gelu


# ---------------------------------------------------------------------------------------------- transformer blocks
class FullSelfAttention(nn.Module):
    """nn.MultiheadAttention parameter layout, full (unmasked) self-attention over [N, L, W]."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        hd = width // self.heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(width, dim=-1)
        q, k, v = (t.reshape(n, length, self.heads, hd).transpose(1, 2) for t in (q, k, v))
        attn = torch.softmax((q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1), dim=-1)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(n, length, width))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int, quick: bool):
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.c_proj = nn.Linear(hidden, width)
        self.quick = quick

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c_fc(x)
        return self.c_proj(quick_gelu(h) if self.quick else F.gelu(h))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp: int, quick: bool, causal: bool):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=1e-5)
        self.attn = CausalSelfAttention(width, heads) if causal else FullSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = Mlp(width, mlp, quick)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp: int, quick: bool, causal: bool):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, mlp, quick, causal)
                                        for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.resblocks:
            x = blk(x)
        return x


class TextTowerMixin:
    """encode_text for a module with positional_embedding, text_projection, transformer, token_embedding, ln_final."""

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        # The attention is causal, so the EOT token's output (the only one kept) depends on positions up to it
        # alone: positions after the batch's last EOT are cut (the same numbers, 3-5x less work for short names).
        eot = tokens.argmax(dim=-1)
        n = int(eot.max()) + 1
        x = self.token_embedding(tokens[:, :n]) + self.positional_embedding[:n]
        x = self.ln_final(self.transformer(x))
        x = x[torch.arange(x.shape[0]), eot]
        return x @ self.text_projection  # un-normalised


# ---------------------------------------------------------------------------------------------- ModifiedResNet
def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-5)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = _bn(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = _bn(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential()
            self.downsample.add_module("-1", nn.AvgPool2d(stride))  # no parameters; keys stay downsample.0/.1
            self.downsample.add_module("0", nn.Conv2d(inplanes, planes * 4, 1, stride=1, bias=False))
            self.downsample.add_module("1", _bn(planes * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class AttentionPool2d(nn.Module):
    def __init__(self, grid: int, width: int, heads: int, out_dim: int):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.k_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.c_proj = nn.Linear(width, out_dim)
        self.heads = heads
        self.grid = grid

    def masked_pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """§2.8 ResNet branch. x = res5 [1,C,h,w]; mask = mask logits [1,Q,h,w] -> [1,Q,out_dim].
        Keys/values: every position of x + resized positional embedding; query: mean(x) + pos[0], one per mask;
        position p is visible to query q iff mask[q,p] > 0. An empty mask softmaxes over all -inf: NaN."""
        _, c, h, w = x.shape
        q_n = mask.shape[1]
        tokens = x.reshape(c, h * w).t()                                     # [HW, C]
        g = self.grid
        pos_sp = self.positional_embedding[1:].reshape(g, g, c).permute(2, 0, 1).unsqueeze(0)
        pos_sp = F.interpolate(pos_sp, size=(h, w), mode="bilinear", align_corners=False)
        pos_sp = pos_sp.reshape(c, h * w).t()
        kv = tokens + pos_sp
        query = (tokens.mean(dim=0) + self.positional_embedding[0]).unsqueeze(0).expand(q_n, c)
        hd = c // self.heads
        q = self.q_proj(query).reshape(q_n, self.heads, hd).transpose(0, 1)             # [heads, Q, hd]
        k = self.k_proj(kv).reshape(h * w, self.heads, hd).transpose(0, 1)               # [heads, HW, hd]
        v = self.v_proj(kv).reshape(h * w, self.heads, hd).transpose(0, 1)
        scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)                      # [heads, Q, HW]
        allowed = (mask[0].reshape(q_n, h * w) > 0)
        bias = torch.zeros(q_n, h * w, dtype=x.dtype).masked_fill(~allowed, float("-inf"))
        attn = torch.softmax(scores + bias.unsqueeze(0), dim=-1)
        out = (attn @ v).transpose(0, 1).reshape(q_n, c)
        return self.c_proj(out).unsqueeze(0)


class ModifiedResNet(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        w = cfg.resnet_width
        self.conv1 = nn.Conv2d(3, w // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = _bn(w // 2)
        self.conv2 = nn.Conv2d(w // 2, w // 2, 3, padding=1, bias=False)
        self.bn2 = _bn(w // 2)
        self.conv3 = nn.Conv2d(w // 2, w, 3, padding=1, bias=False)
        self.bn3 = _bn(w)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = w
        for i, (mult, blocks) in enumerate(zip((1, 2, 4, 8), cfg.resnet_layers)):
            layer = []
            for b in range(blocks):
                stride = (1 if i == 0 else 2) if b == 0 else 1
                layer.append(Bottleneck(inplanes, w * mult, stride))
                inplanes = w * mult * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.attnpool = AttentionPool2d(cfg.attnpool_grid, 32 * w, cfg.attnpool_heads, cfg.embed_dim)

    def features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        out = {}
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            out[f"res{i + 2}"] = x
        out["clip_vis_dense"] = x
        return out

    def pool_masks(self, out: Dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        return self.attnpool.masked_pool(out["res5"], mask)


# ---------------------------------------------------------------------------------------------- ConvNeXt (timm)
class ConvNeXtHead(nn.Module):
    def __init__(self, c5: int, embed_dim: int):
        super().__init__()
        self.mlp = ProjMlp(c5, c5, embed_dim)  # fc1 C5->C5 (+bias), exact GELU, fc2 C5->D (no bias)


class ConvNeXtVisual(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        trunk_cfg = SimpleNamespace(trunk_dims=cfg.convnext_dims, trunk_depths=cfg.convnext_depths,
                                    trunk_ln_eps=1e-6)
        self.trunk = ConvNeXtTrunk(trunk_cfg)
        self.head = ConvNeXtHead(cfg.convnext_dims[3], cfg.embed_dim)

    def features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.trunk.stem(x)
        out = {}
        for s in range(4):
            x = self.trunk.stages[s](x)
            out[f"res{s + 2}"] = x
        out["clip_vis_dense"] = self.trunk.norm_pre(x)
        return out

    def pool_masks(self, out: Dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        from .ops import mask_pooling
        pooled = mask_pooling(out["clip_vis_dense"], mask)                        # [1,Q,C5]
        q, c = pooled.shape[1], pooled.shape[2]
        y = self.trunk.head.norm(pooled.reshape(q, c, 1, 1)).reshape(q, c)        # avg pool of 1x1 = identity
        return self.head.mlp(y).unsqueeze(0)


class CNNClip(TextTowerMixin, nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, cfg.text_width))
        self.text_projection = nn.Parameter(torch.empty(cfg.text_width, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.visual = ModifiedResNet(cfg) if cfg.backbone == "resnet" else ConvNeXtVisual(cfg)
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads, 4 * cfg.text_width,
                                       quick=cfg.text_quick_gelu, causal=True)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.ln_final = nn.LayerNorm(cfg.text_width, eps=1e-5)


# ---------------------------------------------------------------------------------------------- ViT-B/16
class VisionTransformer(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        w = cfg.vit_width
        self.class_embedding = nn.Parameter(torch.empty(w))
        self.positional_embedding = nn.Parameter(torch.empty(cfg.vit_grid ** 2 + 1, w))
        self.proj = nn.Parameter(torch.empty(w, cfg.vit_embed_dim))
        self.conv1 = nn.Conv2d(3, w, cfg.vit_patch, stride=cfg.vit_patch, bias=False)
        self.ln_pre = nn.LayerNorm(w, eps=1e-5)
        self.transformer = Transformer(w, cfg.vit_layers, cfg.vit_heads, cfg.vit_mlp_dim, quick=True, causal=False)
        self.ln_post = nn.LayerNorm(w, eps=1e-5)
        self.grid = cfg.vit_grid

    def spatial(self, x: torch.Tensor) -> torch.Tensor:
        """§2.3: patch embedding, class token, resized positional embedding, ln_pre, block 0; -> [1, W, H/16, W/16]."""
        x = self.conv1(x)
        b, c, h, w = x.shape
        x = x.reshape(b, c, h * w).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(b, 1, c, dtype=x.dtype)
        x = torch.cat([cls, x], dim=1)
        g = self.grid
        pos_sp = self.positional_embedding[1:].reshape(g, g, c).permute(2, 0, 1).unsqueeze(0)
        pos_sp = F.interpolate(pos_sp, size=(h, w), mode="bilinear", align_corners=False)
        pos = torch.cat([self.positional_embedding[:1], pos_sp.reshape(c, h * w).t()], dim=0)
        x = self.ln_pre(x + pos.unsqueeze(0))
        x = self.transformer.resblocks[0](x)
        return x[:, 1:].permute(0, 2, 1).reshape(b, c, h, w)


class ViTClip(TextTowerMixin, nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        tw = cfg.vit_text_width
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, tw))
        self.text_projection = nn.Parameter(torch.empty(tw, cfg.vit_embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.visual = VisionTransformer(cfg)
        self.transformer = Transformer(tw, cfg.vit_text_layers, cfg.vit_text_heads, 4 * tw, quick=True, causal=True)
        self.token_embedding = nn.Embedding(cfg.vit_text_vocab_size, tw)
        self.ln_final = nn.LayerNorm(tw, eps=1e-5)


class Backbone(nn.Module):
    """`cnn_backbone` / `vit_backbone`: a holder whose only child is `clip_model`."""

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        self.clip_model = clip_model
