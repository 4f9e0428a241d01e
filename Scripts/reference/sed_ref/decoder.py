"""SED's gradual fusion decoder ("Aggregator"), written from the spec (§1.3 items 7-12, §1.4) with the official
module names, so that the state-dict keys under `sem_seg_head.predictor.transformer.` are those of the checkpoint:

  conv1                                    Conv2d(80, 128, 7, pad 3): cost embedding, one class per batch row
  decoder_guidance_projection.{0,1,2}.0    Conv2d(C_res4|C_res3|C_res2 -> 32|16|8, 3x3) (+ ReLU at index 1)
  decoder_corr_guidance_projection.{i}.0   ConvTranspose2d(80->32, 32->16, 16->8, k2 s2) (+ ReLU), chained
  decoder{1,2,3}.{up, conv.double_conv.{0,1,3,4}, cnext.*, attention.{attention.{q,k,v}, MLP.{0,2}, norm1, norm2}}
  head0, head1, head2, head                Conv2d(C -> 1, 3x3)

Tensor layouts. The class axis is the batch axis throughout (official '(B T) C H W' with B = 1): row t of every
per-class tensor is class t (or the t-th surviving class under CER).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import SEDConfig


class ConvNextBlock(nn.Module):
    """Decoder ConvNeXt V1 block: depthwise kxk (bias) -> NHWC -> LayerNorm(1e-6) -> Linear C->4C -> erf-GELU ->
    Linear 4C->C -> x gamma -> NCHW -> + input. (Built with layer-scale init 1.0, so `gamma` exists.)"""

    def __init__(self, dim: int, kernel: int, eps: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))  # own parameter: listed before the submodules' keys
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        y = self.gamma * y
        return x + y.permute(0, 3, 1, 2)


class AttentionLayer(nn.Module):
    """q, k, v: Linear C->C with bias (no text guidance, so q and k see only the tokens); multi-head linear
    attention ("Transformers are RNNs") with the elu+1 feature map; no output projection."""

    def __init__(self, dim: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.eps = eps
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, S, C]: N independent sequences (pixels) of S tokens (classes). Channel c of q/k/v belongs to
        head c // D, position c % D (D = C / heads), i.e. '(H D)' with the head index major."""
        n, s, c = x.shape
        d = c // self.heads
        q = F.elu(self.q(x).reshape(n, s, self.heads, d)) + 1.0
        k = F.elu(self.k(x).reshape(n, s, self.heads, d)) + 1.0
        v = self.v(x).reshape(n, s, self.heads, d) / s          # values divided by the sequence length S ...
        kv = torch.einsum("nshd,nshe->nhde", k, v)              # sum_s K_s V_s^T per head
        z = 1.0 / (torch.einsum("nlhd,nhd->nlh", q, k.sum(dim=1)) + self.eps)
        out = torch.einsum("nlhd,nhde->nlhe", q, kv) * z.unsqueeze(-1) * s   # ... and multiplied back by S
        return out.reshape(n, s, c)


class ClassTransformerLayer(nn.Module):
    """Per-pixel attention over the class axis. Tokens: one sequence per (pooled) pixel, sequence = classes.
    Pre-norm: t += attn(norm1(t)); t += MLP(norm2(t)) (MLP = Linear C->4C, ReLU, Linear 4C->C). The result is
    ADDED to the block input: output = x + t, and t already contains x (the double residual, 2x + attn + mlp when
    the pool is the identity, as at eval)."""

    def __init__(self, dim: int, heads: int, pool: List[int], ln_eps: float, attn_eps: float):
        super().__init__()
        self.pool = tuple(pool)
        self.attention = AttentionLayer(dim, heads, attn_eps)
        self.MLP = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Linear(4 * dim, dim))
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [T, C, H, W] -> [T, C, H, W]."""
        t_, c, h, w = x.shape
        identity_pool = self.pool == (1, 1)
        xp = x if identity_pool else F.avg_pool2d(x, self.pool)
        hp, wp = xp.shape[-2:]
        # 'B C T H W -> (B H W) T C': sequence index n = row * Wp + column (row major), token index = class.
        tok = xp.permute(2, 3, 0, 1).reshape(hp * wp, t_, c)
        tok = tok + self.attention(self.norm1(tok))
        tok = tok + self.MLP(self.norm2(tok))
        # '(B H W) T C -> (B T) C H W'
        y = tok.reshape(hp, wp, t_, c).permute(2, 3, 0, 1)
        if not identity_pool:  # bilinear, align_corners=True (the identity when the pool is 1x1)
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=True)
        return x + y


class DoubleConv(nn.Module):
    """(Conv3x3 no bias -> GroupNorm(C/16) -> ReLU) x 2; keys double_conv.{0,1,3,4}."""

    def __init__(self, cin: int, cout: int, eps: float):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(cout // 16, cout, eps=eps),
            nn.ReLU(),
            nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(cout // 16, cout, eps=eps),
            nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Up(nn.Module):
    """One decoder stage: FAM (ConvNeXt block, class attention) then SFM (ConvT x2 up, concat, DoubleConv).
    Registration order up, conv, cnext, attention = the official state-dict order."""

    def __init__(self, cin: int, cout: int, guidance: int, heads: int, kernel: int, cfg: SEDConfig):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin - guidance, kernel_size=2, stride=2)
        self.conv = DoubleConv(cin + guidance, cout, cfg.gn_eps)  # (cin - g) + g appearance + g correlation
        self.cnext = ConvNextBlock(cin, kernel, cfg.cnext_ln_eps)
        self.attention = ClassTransformerLayer(cin, heads, cfg.pooling_size, cfg.attn_ln_eps, cfg.linear_attn_eps)

    def forward(self, x: torch.Tensor, guidance: torch.Tensor, corr_guidance: torch.Tensor,
                trace: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
        """x [T,C,H,W], guidance [1,g,2H,2W] (class-independent), corr_guidance [T,g,2H,2W] -> [T,cout,2H,2W]."""
        x = self.cnext(x)
        if trace is not None:
            trace["cnext"] = x
        x = self.attention(x)
        if trace is not None:
            trace["attn"] = x
        x = self.up(x)
        # Concatenation order: [upsampled x, appearance guidance repeated per class, correlation guidance].
        x = torch.cat([x, guidance.expand(x.shape[0], -1, -1, -1), corr_guidance], dim=1)
        return self.conv(x)


class Aggregator(nn.Module):
    def __init__(self, cfg: SEDConfig):
        super().__init__()
        hd = cfg.hidden_dim
        k = cfg.corr_embed_kernel
        self.conv1 = nn.Conv2d(cfg.prompt_channels, hd, kernel_size=k, padding=k // 2)
        self.decoder_guidance_projection = nn.ModuleList([
            nn.Sequential(nn.Conv2d(d, p, kernel_size=3, padding=1), nn.ReLU())
            for d, p in zip(cfg.decoder_guidance_dims, cfg.decoder_guidance_proj_dims)])
        self.decoder_corr_guidance_projection = nn.ModuleList([
            nn.Sequential(nn.ConvTranspose2d(d, p, kernel_size=2, stride=2), nn.ReLU())
            for d, p in zip(cfg.corr_guidance_dims, cfg.decoder_guidance_proj_dims)])
        ins, outs, gs = cfg.up_in_dims, cfg.decoder_dims, cfg.decoder_guidance_proj_dims
        self.decoder1 = Up(ins[0], outs[0], gs[0], cfg.num_heads, cfg.kernel_sizes[0], cfg)
        self.decoder2 = Up(ins[1], outs[1], gs[1], cfg.num_heads, cfg.kernel_sizes[1], cfg)
        self.decoder3 = Up(ins[2], outs[2], gs[2], cfg.num_heads, cfg.kernel_sizes[2], cfg)
        self.head0 = nn.Conv2d(hd, 1, kernel_size=3, padding=1)
        self.head1 = nn.Conv2d(outs[0], 1, kernel_size=3, padding=1)
        self.head2 = nn.Conv2d(outs[1], 1, kernel_size=3, padding=1)
        self.head = nn.Conv2d(outs[2], 1, kernel_size=3, padding=1)

    @property
    def stages(self) -> List[Up]:
        return [self.decoder1, self.decoder2, self.decoder3]

    @property
    def heads(self) -> List[nn.Conv2d]:
        return [self.head0, self.head1, self.head2, self.head]

    def appearance_guidance(self, feats: List[torch.Tensor]) -> List[torch.Tensor]:
        """[res4, res3, res2] -> three [1,g,H,W] maps (Conv3x3 + ReLU). res5 is not used as guidance."""
        return [proj(f) for proj, f in zip(self.decoder_guidance_projection, feats)]

    def correlation_guidance(self, corr: torch.Tensor) -> List[torch.Tensor]:
        """corr [T,80,h,w] -> chained ConvT(k2 s2) + ReLU outputs [T,32,2h,2w], [T,16,4h,4w], [T,8,8h,8w]."""
        out = []
        for proj in self.decoder_corr_guidance_projection:
            corr = proj(corr)
            out.append(corr)
        return out
