"""Plain-torch operators the spec needs that torch itself lacks on this machine.

modulated_deform_conv2d: torchvision.ops.deform_conv2d semantics (the DCNv2 kernel detectron2 runs on GPU):
  offset channels per offset group are interleaved (dy, dx) pairs per kernel tap k = i*kw + j; mask channel k scales
  tap k; a sample at (y, x) is bilinear with out-of-range corners as 0 and is 0 unless -1 < y < H and -1 < x < W.
  Written as an explicit gather per tap (an "im2col" of bilinear samples) followed by one matmul with the weight.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F

Pair = Union[int, Tuple[int, int]]


def _pair(v: Pair) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def bilinear_gather(x: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """x [B, C, H, W]; py, px [B, P] sample positions in pixels -> [B, C, P] (torchvision's bilinear_interpolate)."""
    b, c, h, w = x.shape
    valid = (py > -1) & (py < h) & (px > -1) & (px < w)
    y0 = torch.floor(py)
    x0 = torch.floor(px)
    ly, lx = py - y0, px - x0
    hy, hx = 1 - ly, 1 - lx
    y0i, x0i = y0.long(), x0.long()
    flat = x.reshape(b, c, h * w)
    out = torch.zeros(b, c, py.shape[1], dtype=x.dtype)
    for dy, dx, wgt in ((0, 0, hy * hx), (0, 1, hy * lx), (1, 0, ly * hx), (1, 1, ly * lx)):
        yy, xx = y0i + dy, x0i + dx
        inside = valid & (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
        idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1))  # [B, P]
        v = torch.gather(flat, 2, idx.unsqueeze(1).expand(b, c, idx.shape[1]))
        out = out + v * (wgt * inside.to(x.dtype)).unsqueeze(1)
    return out


def modulated_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                            mask: Optional[torch.Tensor] = None, bias: Optional[torch.Tensor] = None,
                            stride: Pair = 1, padding: Pair = 0, dilation: Pair = 1) -> torch.Tensor:
    """Same arguments and result as torchvision.ops.deform_conv2d (groups = C_in / weight.shape[1],
    offset groups = offset.shape[1] / (2 kh kw))."""
    b, cin, h, w = x.shape
    cout, cin_g, kh, kw = weight.shape
    groups = cin // cin_g
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    ho = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    wo = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    taps = kh * kw
    og = offset.shape[1] // (2 * taps)
    cpg = cin // og  # input channels per offset group
    base_y = (torch.arange(ho, dtype=x.dtype) * sh - ph).view(ho, 1).expand(ho, wo).reshape(1, ho * wo)
    base_x = (torch.arange(wo, dtype=x.dtype) * sw - pw).view(1, wo).expand(ho, wo).reshape(1, ho * wo)
    off = offset.reshape(b, og, taps, 2, ho * wo)
    msk = None if mask is None else mask.reshape(b, og, taps, ho * wo)
    # columns [B, C_in, taps, Ho*Wo]
    cols = torch.empty(b, cin, taps, ho * wo, dtype=x.dtype)
    for g in range(og):
        xg = x[:, g * cpg:(g + 1) * cpg]
        for k in range(taps):
            i, j = divmod(k, kw)
            py = base_y + i * dh + off[:, g, k, 0]
            px = base_x + j * dw + off[:, g, k, 1]
            v = bilinear_gather(xg, py, px)
            if msk is not None:
                v = v * msk[:, g, k].unsqueeze(1)
            cols[:, g * cpg:(g + 1) * cpg, k] = v
    # GEMM per group: [Cout/g, Cin/g * taps] x [Cin/g * taps, Ho*Wo]
    out = []
    cog = cout // groups
    for g in range(groups):
        wg = weight[g * cog:(g + 1) * cog].reshape(cog, cin_g * taps)
        cg = cols[:, g * cin_g:(g + 1) * cin_g].reshape(b, cin_g * taps, ho * wo)
        out.append(torch.matmul(wg, cg))
    y = torch.cat(out, dim=1).reshape(b, cout, ho, wo)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


def mask_pooling(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """FC-CLIP / EOV-Seg MaskPooling: x [B,C,H,W], mask logits [B,Q,H,W] (same size) -> [B,Q,C], the average of x
    over mask > 0, computed as einsum(x, m / (sum m + 1e-8)); an empty mask gives 0."""
    m = (mask > 0).to(x.dtype)
    denorm = m.sum(dim=(-1, -2), keepdim=True) + 1e-8
    return torch.einsum("bchw,bqhw->bqc", x, m / denorm)


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)
