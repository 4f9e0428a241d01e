"""ERR-Seg decoder: cost embedding, guidance projections, 4 ESCF blocks (SFM + CFM), GUD and head.

Written from ../shared/specs/errseg.md §2.6-2.9; names give the keys under `sem_seg_head.decoder.`.
Shapes in comments use K selected classes, C = aggregator width, h x w = os16 grid.
"""
from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ErrSegConfig


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """q [B,Nq,C], k/v [B,Nk,C] -> [B,Nq,C]; heads take contiguous C/heads slices, softmax scale 1/sqrt(C/heads)."""
    b, nq, c = q.shape
    hd = c // heads
    q = q.reshape(b, nq, heads, hd).transpose(1, 2)
    k = k.reshape(b, -1, heads, hd).transpose(1, 2)
    v = v.reshape(b, -1, heads, hd).transpose(1, 2)
    y = F.scaled_dot_product_attention(q, k, v, scale=hd ** -0.5)
    return y.transpose(1, 2).reshape(b, nq, c)


class GuidedAttention(nn.Module):
    """Queries/keys see [x_norm, guidance]; values see x_norm only. With sr_ratio > 1 (SFM) keys and values are
    spatially reduced by a k=s=sr conv followed by a LayerNorm."""

    def __init__(self, dim: int, heads: int, sr_ratio: int, eps: float):
        super().__init__()
        self.heads = heads
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(2 * dim, dim)
        self.k = nn.Linear(2 * dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr_k = nn.Conv2d(2 * dim, 2 * dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm_k = nn.LayerNorm(2 * dim, eps=eps)
            self.sr_v = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm_v = nn.LayerNorm(dim, eps=eps)

    @staticmethod
    def _reduce(tokens: torch.Tensor, conv: nn.Conv2d, norm: nn.LayerNorm, h: int, w: int) -> torch.Tensor:
        b, n, c = tokens.shape
        grid = tokens.transpose(1, 2).reshape(b, c, h, w)
        return norm(conv(grid).flatten(2).transpose(1, 2))

    def forward(self, xn: torch.Tensor, guidance: torch.Tensor, h: int = 0, w: int = 0) -> torch.Tensor:
        z = torch.cat([xn, guidance], dim=-1)
        q = self.q(z)
        if self.sr_ratio > 1:
            k = self.k(self._reduce(z, self.sr_k, self.norm_k, h, w))
            v = self.v(self._reduce(xn, self.sr_v, self.norm_v, h, w))
        else:
            k = self.k(z)
            v = self.v(xn)
        return self.proj(multi_head_attention(q, k, v, self.heads))


class DepthwiseConv(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True)


class StarMlp(nn.Module):
    """o = fc3(ReLU6(fc1(y)) * fc2(y)); SFM then applies a 7x7 depthwise conv, CFM a final ReLU6."""

    def __init__(self, dim: int, hidden: int, with_dwconv: bool):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(dim, hidden)
        self.fc3 = nn.Linear(hidden, dim)
        if with_dwconv:
            self.dwconv = DepthwiseConv(dim)

    def forward(self, y: torch.Tensor, h: int = 0, w: int = 0) -> torch.Tensor:
        o = self.fc3(F.relu6(self.fc1(y)) * self.fc2(y))
        if hasattr(self, "dwconv"):
            b, n, c = o.shape
            o = self.dwconv.dwconv(o.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        else:
            o = F.relu6(o)
        return o


class MiTBlock(nn.Module):
    """Pre-norm block: x += attn(norm1(x), g); x += mlp(norm2(x))."""

    def __init__(self, cfg: ErrSegConfig, sr_ratio: int, spatial: bool):
        super().__init__()
        dim, eps = cfg.aggregator_dim, cfg.decoder_ln_eps
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attention = GuidedAttention(dim, cfg.aggregator_heads, sr_ratio if spatial else 1, eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = StarMlp(dim, cfg.aggregator_mlp_ratio * dim, with_dwconv=spatial)

    def forward(self, x: torch.Tensor, guidance: torch.Tensor, h: int = 0, w: int = 0) -> torch.Tensor:
        x = x + self.attention(self.norm1(x), guidance, h, w)
        return x + self.mlp(self.norm2(x), h, w)


class SpatialFusion(nn.Module):
    """SFM: per class, attention over the h*w pixels (keys/values reduced by the SR ratio), image guidance."""

    def __init__(self, cfg: ErrSegConfig, sr_ratio: int):
        super().__init__()
        self.sa = MiTBlock(cfg, sr_ratio, spatial=True)

    def forward(self, x: torch.Tensor, img_guidance: torch.Tensor) -> torch.Tensor:
        k, c, h, w = x.shape                                           # x [K,C,h,w], img_guidance [1,C,h,w]
        tokens = x.flatten(2).transpose(1, 2)                          # [K, h*w, C], row-major pixels
        g = img_guidance.flatten(2).transpose(1, 2).expand(k, -1, -1)  # the guidance is not layer-normed
        y = self.sa(tokens, g, h, w)
        return y.transpose(1, 2).reshape(k, c, h, w)


class ClassFusion(nn.Module):
    """CFM: 2x2 average pool, attention over the K classes at every pooled location (text guidance),
    align_corners=True bilinear upsample, residual add."""

    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        self.sa = MiTBlock(cfg, 1, spatial=False)
        self.pool_size = cfg.cfm_pool

    def forward(self, x: torch.Tensor, text_guidance: torch.Tensor) -> torch.Tensor:
        k, c, h, w = x.shape                                      # x [K,C,h,w], text_guidance [1,K,C]
        pooled = F.avg_pool2d(x, self.pool_size)
        ph, pw = pooled.shape[-2:]
        seq = pooled.permute(2, 3, 0, 1).reshape(ph * pw, k, c)    # one sequence of K class tokens per location
        g = text_guidance.reshape(1, k, c).expand(ph * pw, -1, -1)
        y = self.sa(seq, g)
        y = y.reshape(ph, pw, k, c).permute(2, 3, 0, 1)
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=True)
        return x + y


class Aggregator(nn.Module):
    """One ESCF block: SFM then CFM."""

    def __init__(self, cfg: ErrSegConfig, sr_ratio: int):
        super().__init__()
        self.spatial_fusion = SpatialFusion(cfg, sr_ratio)
        self.class_fusion = ClassFusion(cfg)


class UpDecoder(nn.Module):
    """GUD stage: up_conv (1x1 conv or 2x2/2 transposed conv), concat [x, guidance], 2 x (conv3x3 -> GN -> ReLU)."""

    def __init__(self, cfg: ErrSegConfig, in_dim: int, out_dim: int, guidance_dim: int, up: bool):
        super().__init__()
        if up:
            self.up_conv = nn.ConvTranspose2d(in_dim, out_dim, kernel_size=2, stride=2)
        else:
            self.up_conv = nn.Conv2d(in_dim, out_dim, kernel_size=1)
        groups = out_dim // 8
        self.textual_fusion = nn.Sequential(
            nn.Conv2d(out_dim + guidance_dim, out_dim, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(groups, out_dim, eps=cfg.gn_eps), nn.ReLU(),
            nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(groups, out_dim, eps=cfg.gn_eps), nn.ReLU())

    def forward(self, x: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        x = self.up_conv(x)
        g = guidance.expand(x.shape[0], -1, -1, -1)
        return self.textual_fusion(torch.cat([x, g], dim=1))


def conv_relu6(in_dim: int, out_dim: int) -> nn.Sequential:
    # A Sequential so that the keys read `<name>.<i>.0.weight` as in the checkpoint.
    return nn.Sequential(nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1), nn.ReLU6())


class Decoder(nn.Module):
    def __init__(self, cfg: ErrSegConfig):
        super().__init__()
        self.cfg = cfg
        inter = cfg.corr_fpn_inter_dim
        self.corr_proj_convs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(1, inter, kernel_size=7, padding=3)) for _ in range(2)])
        self.low_corr_fusion = nn.Conv2d(inter, cfg.corr_fpn_fusion_dim, kernel_size=1)
        self.img_guidance_projection_agg = nn.ModuleList([
            conv_relu6(d, cfg.guidance_fpn_inter_dim) for d in cfg.image_guidance_dims[:2]])
        self.low_img_fusion = nn.Conv2d(cfg.guidance_fpn_inter_dim, cfg.guidance_fpn_fusion_dim, kernel_size=1)
        self.img_guidance_projection_dec = nn.ModuleList([
            conv_relu6(d, p) for d, p in zip(cfg.decoder_guidance_dims, cfg.decoder_guidance_proj_dims)])
        self.text_guidance_projection = nn.Sequential(nn.Linear(cfg.embed_dim, cfg.text_guidance_proj_dim), nn.GELU())
        self.aggregator_layers = nn.ModuleList([Aggregator(cfg, r) for r in cfg.aggregator_sr_ratios])
        dd, gp = cfg.decoder_dims, cfg.decoder_guidance_proj_dims
        self.up_decoder1 = UpDecoder(cfg, cfg.aggregator_dim, dd[0], gp[0], up=False)
        self.up_decoder2 = UpDecoder(cfg, dd[0], dd[1], gp[1], up=True)
        self.up_decoder3 = UpDecoder(cfg, dd[1], dd[2], gp[2], up=True)
        self.head = nn.Conv2d(dd[2], 1, kernel_size=1)

    def cost_embedding(self, corr16_sel: torch.Tensor, corr32_sel: torch.Tensor) -> torch.Tensor:
        """[K,h,w] and [K,h/2,w/2] cosine maps -> X0 [K,C,h,w]; every class map is a 1-channel image."""
        a = self.corr_proj_convs[0](corr16_sel.unsqueeze(1))
        b = self.corr_proj_convs[1](corr32_sel.unsqueeze(1))
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_corr_fusion((a + b) / 2.0)

    def guidance(self, feats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Clamps copies of os4..os32 to [-16, 16], then projects them (aggregation and decoder guidance)."""
        lim = self.cfg.guidance_clamp
        os32, os16, os8, os4 = (feats[n].clamp(-lim, lim) for n in ("os32", "os16", "os8", "os4"))
        dec = [proj(g) for proj, g in zip(self.img_guidance_projection_dec, (os16, os8, os4))]
        a = self.img_guidance_projection_agg[0](os32)
        b = self.img_guidance_projection_agg[1](os16)
        a = F.interpolate(a, size=b.shape[-2:], mode="bilinear", align_corners=False)
        gimg = self.low_img_fusion((a + b) / 2.0)
        return {"gimg": gimg, "gdec1": dec[0], "gdec2": dec[1], "gdec3": dec[2]}

    def text_guidance(self, text_sel: torch.Tensor) -> torch.Tensor:
        """[K,E] selected unit text embeddings -> [1,K,C]: re-normalise, Linear, exact GELU."""
        t = text_sel / text_sel.norm(dim=-1, keepdim=True)
        return self.text_guidance_projection(t).unsqueeze(0)
