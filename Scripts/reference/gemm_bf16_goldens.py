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
print(f"wrote bf16 goldens to {os.path.normpath(OUT)}")
