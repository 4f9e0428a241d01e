#!/usr/bin/env python3
"""Writes the bf16 matrix-product goldens for Tests/VocaSegTensorTests (`--precision bf16`).

Usage: python3 Scripts/reference/gemm_bf16_goldens.py   (needs torch and numpy; deterministic, seeded)

What the kernels promise: inputs rounded to bfloat16 (round to nearest even, PyTorch's `.to(torch.bfloat16)`),
products summed in fp32. The reference is that product of the PyTorch-rounded inputs, summed in float64 and
stored as float32 (`y`), next to the plain fp32 product (`y_fp32`) so that a test can also show the bf16 path
really ran. Shapes straddle the kernels' blocking (k across the 256-value k block and odd, rows across the
384-row block, columns across the 3072-column block and not multiples of 32) and stay above the size from which
products go bf16 (2^20 multiply-adds). Files: Goldens/dense/<case>.<tensor>.npy.
"""
import os
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(20261205)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "VocaSegTensorTests",
                   "Goldens", "dense")
os.makedirs(OUT, exist_ok=True)


def save(case, **tensors):
    for name, t in tensors.items():
        np.save(os.path.join(OUT, f"{case}.{name}.npy"), t.detach().to(torch.float32).contiguous().numpy())


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float64)


# op(A)·op(B) cases: a [m, k], b [k, n]; the tests also feed transposed copies.
for case, (m, k, n) in {"bf16_gemm_k517": (130, 517, 45), "bf16_gemm_m400": (400, 100, 70),
                        "bf16_gemm_n3100": (30, 40, 3100)}.items():
    a, b = torch.randn(m, k), torch.randn(k, n)
    save(case, a=a, b=b, y=bf16(a) @ bf16(b), y_fp32=a @ b)

# Linear layers (packed weights): y = gelu(x·Wᵀ + b), and y = r + x·Wᵀ + b (accumulate into a residual).
x, w, bias = torch.randn(301, 130), torch.randn(70, 130) * 0.3, torch.randn(70)
exact = (bf16(x) @ bf16(w).t() + bias.to(torch.float64))
save("bf16_linear_gelu", x=x, w=w, b=bias, y=F.gelu(exact), y_fp32=F.gelu(F.linear(x, w, bias)))
r = torch.randn(301, 70)
save("bf16_linear_accumulate", x=x, w=w, b=bias, r=r, y=r.to(torch.float64) + exact, y_fp32=r + F.linear(x, w, bias))

# Attention (the fused kernel's shapes generalised): B = 2, 2 heads, Lq = 37 (a partial 6-row step), Lk = 50 (a
# partial 16-key block), d = 32, dv = 48 (a 32-wide and a 16-wide value slab). The kernel rounds q, scale·k, the
# unnormalised probabilities exp(s − max) and v to bfloat16; scores, softmax and the division stay fp32.
def heads_of(t, h):
    b, n, c = t.shape
    return t.view(b, n, h, c // h).transpose(1, 2).to(torch.float64)


q, k, v = torch.randn(2, 37, 64), torch.randn(2, 50, 64), torch.randn(2, 50, 96)
scale = 32 ** -0.5
qh, kh, vh = heads_of(q, 2), heads_of(k.mul(scale), 2), heads_of(v, 2)
scores = torch.matmul(qh.to(torch.float32).to(torch.bfloat16).to(torch.float64),
                      kh.to(torch.float32).to(torch.bfloat16).to(torch.float64).transpose(-1, -2))
e = torch.exp(scores - scores.amax(-1, keepdim=True))
out = torch.matmul(e.to(torch.float32).to(torch.bfloat16).to(torch.float64),
                   vh.to(torch.float32).to(torch.bfloat16).to(torch.float64)) / e.sum(-1, keepdim=True)
save("bf16_attention", q=q, k=k, v=v, y=out.transpose(1, 2).reshape(2, 37, 96),
     y_fp32=F.scaled_dot_product_attention(q.view(2, 37, 2, 32).transpose(1, 2), k.view(2, 50, 2, 32).transpose(1, 2),
                                           v.view(2, 50, 2, 48).transpose(1, 2)).transpose(1, 2).reshape(2, 37, 96))

# A ConvNeXt block whose MLP takes the wide-block path (one GEMM per layer, forced for this small width by the
# test): the bf16 kernels round the MLP inputs (LayerNorm output, GELU output) and the weights, with the layer
# scale γ folded into fc2's weight before rounding, as the engine prepares it; bias and GELU are applied in fp32.
c = 16
x = torch.randn(1, c, 9, 11)
dw_w, dw_b, ln_w, ln_b = torch.randn(c, 1, 7, 7) * 0.2, torch.randn(c), torch.randn(c), torch.randn(c)
w1, b1, w2, b2 = torch.randn(4 * c, c) * 0.3, torch.randn(4 * c), torch.randn(c, 4 * c) * 0.2, torch.randn(c)
gamma = torch.randn(c) * 0.5
t = F.conv2d(x, dw_w, dw_b, padding=3, groups=c).permute(0, 2, 3, 1)
t = F.layer_norm(t, (c,), ln_w, ln_b, 1e-6)
h = F.gelu(bf16(t) @ bf16(w1).t() + b1.to(torch.float64))
y = bf16(h.to(torch.float32)) @ bf16(w2 * gamma[:, None]).t() + (b2 * gamma).to(torch.float64)
save("bf16_convnext_block", x=x, dw_w=dw_w, dw_b=dw_b, ln_w=ln_w, ln_b=ln_b, w1=w1, b1=b1, w2=w2, b2=b2,
     gamma=gamma, y=x.to(torch.float64) + y.permute(0, 3, 1, 2),
     y_fp32=x + (F.linear(F.gelu(F.linear(t, w1, b1)), w2, b2) * gamma).permute(0, 3, 1, 2))
print(f"wrote bf16 goldens to {os.path.normpath(OUT)}")
