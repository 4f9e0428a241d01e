"""Trained parts: lite aggregator (neck, spec §2.4), VAS (§2.5), lightweight decoder with TDEE (§2.6-§2.7)."""
from __future__ import annotations

import math
import os
import sys
from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from errseg_ref.convnext import LayerNorm2d  # noqa: E402

from .config import EOVSegConfig
from .ops import mask_pooling, modulated_deform_conv2d


# ---------------------------------------------------------------------------------------------- neck
class ModulatedDeformConv(nn.Module):
    """3x3, stride 1, pad 1, one deformable group, no bias (the key list has dcn.weight only)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, 3, 3))

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return modulated_deform_conv2d(x, offset, self.weight, mask=mask, padding=1)


class DeformLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.dcn_offset = nn.Conv2d(c_in, 27, 3, padding=1, bias=True)
        self.dcn = ModulatedDeformConv(c_in, c_out)
        self.dcn_bn = nn.BatchNorm2d(c_out, eps=1e-5)
        self.up_sample = nn.ConvTranspose2d(c_out, c_out, 4, stride=2, padding=1, bias=False)
        self.up_bn = nn.BatchNorm2d(c_out, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dcn_offset(x)
        o1, o2, m = torch.chunk(out, 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)  # read by the kernel as interleaved (dy, dx) per tap
        y = F.relu(self.dcn_bn(self.dcn(x, offset, torch.sigmoid(m))))
        return F.relu(self.up_bn(self.up_sample(y)))


class LiteDeformConv(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        agg, c2, c3, c4, c5 = cfg.aggregator_channels
        ch = cfg.feature_channels
        self.bias = nn.Parameter(torch.zeros(1, agg, 1, 1))
        self.lateral_conv0 = nn.Conv2d(ch[3], c5, 1)
        self.deform_conv1 = DeformLayer(c5, c4)
        self.lateral_conv1 = nn.Conv2d(ch[2], c4, 1)
        self.deform_conv2 = DeformLayer(c4, c3)
        self.lateral_conv2 = nn.Conv2d(ch[1], c3, 1)
        self.deform_conv3 = DeformLayer(c3, c2)
        self.lateral_conv3 = nn.Conv2d(ch[0], c2, 1)
        self.output_conv = nn.Conv2d(agg, agg, 3, padding=1)
        self.conv_a5 = nn.Conv2d(c5, agg, 1, bias=False)
        self.conv_a4 = nn.Conv2d(c4, agg, 1, bias=False)
        self.conv_a3 = nn.Conv2d(c3, agg, 1, bias=False)
        self.conv_a2 = nn.Conv2d(c2, agg, 1, bias=False)

    def forward(self, res: Dict[str, torch.Tensor]) -> torch.Tensor:
        x5 = self.lateral_conv0(res["res5"])
        x4 = self.lateral_conv1(res["res4"]) + self.deform_conv1(x5)
        x3 = self.lateral_conv2(res["res3"]) + self.deform_conv2(x4)
        x2 = self.lateral_conv3(res["res2"]) + self.deform_conv3(x3)

        def up(t: torch.Tensor, f: int) -> torch.Tensor:
            return F.interpolate(t, scale_factor=f, mode="bilinear", align_corners=False)

        s = up(self.conv_a5(x5), 8) + up(self.conv_a4(x4), 4) + up(self.conv_a3(x3), 2) + self.conv_a2(x2) + self.bias
        return self.output_conv(s)


class LiteAggregator(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        self.deconv = LiteDeformConv(cfg)
        self.loc_conv = nn.Conv2d(cfg.agg_dim + 2, cfg.hidden_dim, 1)

    def forward(self, res: Dict[str, torch.Tensor]) -> torch.Tensor:
        s = self.deconv(res)
        b, _, h, w = s.shape
        xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(b, 1, h, w)
        ys = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(b, 1, h, w)
        return self.loc_conv(torch.cat([s, xs, ys], dim=1))


# ---------------------------------------------------------------------------------------------- VAS
class ConvNorm(nn.Conv2d):
    """detectron2 Conv2d with a `norm` child (keys: weight, norm.*), followed by exact GELU here."""

    def __init__(self, c_in: int, c_out: int, k: int, groups: int):
        super().__init__(c_in, c_out, k, padding=k // 2, groups=groups, bias=False)
        self.norm = nn.BatchNorm2d(c_out, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.norm(super().forward(x)))


class DepthwiseSeparableConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.depthwise = ConvNorm(c_in, c_in, 3, groups=c_in)
        self.pointwise = ConvNorm(c_in, c_out, 1, groups=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class VAS(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(1, 1, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, 1, 1, 1))
        self.embed_conv = DepthwiseSeparableConv2d(cfg.hidden_dim, cfg.embed_dim)
        self.guide_fc = nn.Linear(cfg.embed_dim, cfg.embed_dim)

    def forward(self, f0: torch.Tensor, tc: torch.Tensor, r: Dict[str, torch.Tensor]) -> torch.Tensor:
        g = self.guide_fc(tc)                                     # [T, D]
        e = self.embed_conv(f0)                                   # [1, D, h, w]
        d = e.shape[1]
        s = torch.einsum("bdhw,td->bthw", e, g) / math.sqrt(d)   # [1, T, h, w]
        a = torch.softmax(s, dim=1).max(dim=1, keepdim=True).values
        a = a * self.scale + self.offset
        r["vas.guide"] = g
        r["vas.gate"] = a
        return f0 * a


# ---------------------------------------------------------------------------------------------- decoder
def classification_logits(x: torch.Tensor, tc: torch.Tensor, logit_scale: torch.Tensor,
                          num_templates: List[int]) -> torch.Tensor:
    """[.., D] x [T, D] -> [.., K+1]: cosine x scale (exp, clamped at 100), max over each class's synonym columns,
    then the void column (last row of tc)."""
    x = F.normalize(x, dim=-1)
    scale = torch.clamp(logit_scale.exp(), max=100)
    pred = scale * x @ tc.t()
    out, i = [], 0
    for n in num_templates:
        out.append(pred[..., i:i + n].max(dim=-1).values)
        i += n
    out.append(pred[..., -1])
    return torch.stack(out, dim=-1)


class DyDepthwiseConvAtten(nn.Module):
    def __init__(self, c: int, k: int):
        super().__init__()
        self.k = k
        self.weight_linear = nn.Linear(c, k)
        self.norm = nn.LayerNorm(c, eps=1e-5)

    def forward(self, kernels: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """kernels, feats [N, C]: a dynamic k-tap cross-correlation along channels, one kernel per query."""
        n, c = feats.shape
        w = self.weight_linear(kernels)                          # [N, k]
        t = F.conv1d(feats.reshape(1, n, c), w.reshape(n, 1, self.k), padding=self.k // 2, groups=n)
        return self.norm(t.reshape(n, c))


class TDEE(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c = c
        self.dynamic_layer = nn.Linear(c, 2 * c)
        self.input_layer = nn.Linear(c, 2 * c)
        self.input_router = nn.Linear(c, c)
        self.update_router = nn.Linear(c, c)
        self.norm_in = nn.LayerNorm(c, eps=1e-5)
        self.norm_out = nn.LayerNorm(c, eps=1e-5)
        self.input_norm_in = nn.LayerNorm(c, eps=1e-5)
        self.input_norm_out = nn.LayerNorm(c, eps=1e-5)
        self.fc_layer = nn.Linear(c, c)
        self.fc_norm = nn.LayerNorm(c, eps=1e-5)

    def forward(self, update: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        c = self.c
        p = self.dynamic_layer(update)
        p_in, p_out = p[..., :c], p[..., c:]
        i = self.input_layer(inp)
        i_in, i_out = i[..., :c], i[..., c:]
        r = i_in * p_in
        a_s = torch.sigmoid(self.norm_in(self.update_router(r)))
        a_m = torch.sigmoid(self.input_norm_in(self.input_router(r)))
        e = a_s * self.norm_out(p_out) + a_m * self.input_norm_out(i_out)
        return F.gelu(self.fc_norm(self.fc_layer(e)))


class FFN(nn.Module):
    def __init__(self, c: int, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(c, hidden), nn.ReLU(), nn.Dropout(0.0)),
                                    nn.Linear(hidden, c), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ClassMLP(nn.Module):
    def __init__(self, c: int, out: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, out)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.layers[0](x))
        x = F.relu(self.layers[1](x))
        return self.layers[2](x)


class CrossAttenHead(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        c, vw = cfg.hidden_dim, cfg.vit_width
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.tdee = TDEE(c)
        self.f_atten = DyDepthwiseConvAtten(c, cfg.dynamic_kernel)
        self.f_atten_norm = nn.LayerNorm(c, eps=1e-5)
        self.k_atten = DyDepthwiseConvAtten(c, cfg.dynamic_kernel)
        self.k_atten_norm = nn.LayerNorm(c, eps=1e-5)
        self.s_atten = nn.MultiheadAttention(c, cfg.query_heads, dropout=0.0)
        self.s_atten_norm = nn.LayerNorm(c, eps=1e-5)
        self.ffn = FFN(c, cfg.ffn_dim)
        self.ffn_norm = nn.LayerNorm(c, eps=1e-5)
        self.mask_fcs = nn.Sequential(nn.Linear(c, c, bias=False), nn.LayerNorm(c, eps=1e-5), nn.ReLU())
        self.fc_mask = nn.Linear(c, c)
        self._mask_pooling_proj = nn.Sequential(nn.LayerNorm(c, eps=1e-5), nn.Linear(c, c))
        self._spatial_mask_pooling_proj = nn.Sequential(nn.LayerNorm(vw, eps=1e-5), nn.Linear(vw, c))
        self.class_embed = ClassMLP(c, cfg.embed_dim)
        self.heads = cfg.query_heads

    def self_attention(self, x: torch.Tensor) -> torch.Tensor:
        """nn.MultiheadAttention(q = k = v = x) over the N queries, written out (in_proj rows q|k|v)."""
        n, c = x.shape
        hd = c // self.heads
        q, k, v = F.linear(x, self.s_atten.in_proj_weight, self.s_atten.in_proj_bias).split(c, dim=-1)
        q, k, v = (t.reshape(n, self.heads, hd).transpose(0, 1) for t in (q, k, v))
        attn = torch.softmax((q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1), dim=-1)
        return self.s_atten.out_proj((attn @ v).transpose(0, 1).reshape(n, c))

    def forward(self, vu: torch.Tensor, feats: torch.Tensor, kernels: torch.Tensor, masks: torch.Tensor,
                tc: torch.Tensor, num_templates: List[int], classify: bool = True):
        """vu [1,Wv,h,w], feats (VAS output F) [1,C,h,w], kernels [1,N,C], masks [1,N,h,w]."""
        k_old = kernels[0]
        hm = (torch.sigmoid(masks[0]) > 0.5).to(feats.dtype)                     # [N, h, w]
        f = torch.einsum("nhw,chw->nc", hm, feats[0])                            # sum over mask pixels
        f = self.f_atten_norm(f + self.f_atten(k_old, f))
        k1 = self.k_atten_norm(f + self.k_atten(k_old, f))
        k2 = self.s_atten_norm(k1 + self.self_attention(k1))
        obj = self.ffn_norm(k2 + self.ffn(k2))                                   # [N, C]
        mk = self.fc_mask(self.mask_fcs(obj))
        new_masks = torch.einsum("nc,chw->nhw", mk, feats[0]).unsqueeze(0)     # [1, N, h, w]
        cls = None
        if classify:
            e_s = self._mask_pooling_proj(mask_pooling(feats, new_masks)[0])
            e_v = self._spatial_mask_pooling_proj(mask_pooling(vu, new_masks)[0])
            e_t = self.tdee(e_s, e_v)
            z = self.class_embed(e_t + obj)
            cls = classification_logits(z, tc, self.logit_scale, num_templates).unsqueeze(0)
        return cls, new_masks, obj.unsqueeze(0)


class Criterion(nn.Module):
    """Training-only module; kept for its `empty_weight` buffer [classes + 1] (ones, last = eos coefficient)."""

    def __init__(self, classes: int):
        super().__init__()
        w = torch.ones(classes + 1)
        w[-1] = 0.1
        self.register_buffer("empty_weight", w)


class LightweightDecoder(nn.Module):
    def __init__(self, cfg: EOVSegConfig):
        super().__init__()
        vw = cfg.vit_width
        self.criterion = Criterion(cfg.criterion_classes)
        self.object_kernels = nn.Embedding(cfg.num_queries, cfg.hidden_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(vw, vw, 2, stride=2), LayerNorm2d(vw, eps=1e-6), nn.GELU(),
            nn.ConvTranspose2d(vw, vw, 2, stride=2), nn.GELU())
        self.vas = VAS(cfg)
        self.mask_heads = nn.ModuleList([CrossAttenHead(cfg) for _ in range(cfg.num_stages)])

    def forward(self, f0: torch.Tensor, v: torch.Tensor, tc: torch.Tensor, num_templates: List[int],
                r: Dict[str, torch.Tensor]):
        feats = self.vas(f0, tc, r)
        r["vas.out"] = feats
        k = self.object_kernels.weight.unsqueeze(0)
        m = torch.einsum("bnc,bchw->bnhw", k, feats)
        r["decoder.mask0"] = m
        vu = self.output_upscaling(v)
        r["decoder.upscaled"] = vu
        cls = None
        for s, head in enumerate(self.mask_heads):
            last = s == len(self.mask_heads) - 1
            cls, m, k = head(vu, feats, k, m, tc, num_templates, classify=last)
            r[f"decoder.stage{s}.kernels"] = k
            r[f"decoder.stage{s}.masks"] = m
            if last:
                r[f"decoder.stage{s}.cls"] = cls
        return cls, m
