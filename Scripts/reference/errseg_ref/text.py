"""open_clip text tower (pre-norm causal transformer, EOT pooling, projection) with checkpoint key names.

Keys under `sem_seg_head.clip_model.`: transformer.resblocks.{j}.{ln_1, attn.in_proj_weight, attn.in_proj_bias,
attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, token_embedding, ln_final (positional_embedding and text_projection
live on the CLIP module itself, see model.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    """Parameters laid out like nn.MultiheadAttention: in_proj rows [q; k; v], then out_proj."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        hd = width // self.heads
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.split(width, dim=-1)
        q, k, v = (t.reshape(n, length, self.heads, hd).transpose(1, 2) for t in (q, k, v))
        scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)
        causal = torch.full((length, length), float("-inf"), device=x.device).triu(1)
        attn = torch.softmax(scores + causal, dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(n, length, width)
        return self.out_proj(y)


class TextMlp(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))  # ConvNeXt CLIP configs use exact GELU, not QuickGELU


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, eps: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=eps)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=eps)
        self.mlp = TextMlp(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TextTransformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, eps: float):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, eps) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x
