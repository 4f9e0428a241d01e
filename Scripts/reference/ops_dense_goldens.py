#!/usr/bin/env python3
"""Writes the dense-op goldens for Tests/VocaSegTensorTests (inputs and PyTorch CPU outputs as float32 .npy).

Usage: python3 Scripts/reference/ops_dense_goldens.py   (needs torch and numpy; deterministic, seeded)

Every case is a set of files  Goldens/dense/<case>.<tensor>.npy ; the Swift tests hard-code each case's op
parameters next to its name, so keep the two in step when adding cases. Shapes are deliberately small and odd
(7x9 spatial, C=3, widths that are not multiples of 8) so that vector tails and borders get exercised.
"""
import os
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(20261121)
torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "VocaSegTensorTests",
                   "Goldens", "dense")
os.makedirs(OUT, exist_ok=True)
written = []


def save(case, **tensors):
    for name, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, np.float32)
        path = os.path.join(OUT, f"{case}.{name}.npy")
        np.save(path, a)
        written.append(path)


def r(*shape, scale=1.0):
    return torch.randn(*shape) * scale


# ---- matmul / linear ----
a, b = r(5, 7), r(7, 3)
save("matmul_2d", a=a, b=b, y=a @ b)
a, b = r(3, 4, 6), r(3, 6, 5)
save("matmul_batched", a=a, b=b, y=torch.bmm(a, b))
a, b = r(4, 6), r(5, 6)
save("matmul_transb", a=a, b=b, y=a @ b.t())
a, b = r(3, 6, 4), r(6, 5)  # y[i] = a[i]^T @ b : transA on a batched operand with a shared right operand
save("matmul_transa_shared", a=a, b=b, y=torch.matmul(a.transpose(1, 2), b))
x, w, bias = r(2, 3, 10), r(7, 10, scale=0.3), r(7)
save("linear", x=x, w=w, b=bias, y=F.linear(x, w, bias))
save("linear_gelu", x=x, w=w, b=bias, y=F.gelu(F.linear(x, w, bias)))
save("linear_quickgelu", x=x, w=w, b=bias, y=(lambda t: t * torch.sigmoid(1.702 * t))(F.linear(x, w, bias)))
save("linear_nobias", x=x, w=w, y=F.linear(x, w))
# Larger rows than one epilogue tile (tests tiling), odd widths.
x, w, bias = r(300, 24), r(33, 24, scale=0.3), r(33)
save("linear_tiled_gelu", x=x, w=w, b=bias, y=F.gelu(F.linear(x, w, bias)))
res = r(300, 33)
save("linear_accumulate", x=x, w=w, b=bias, r=res, y=res + F.linear(x, w, bias))

# ---- conv2d (stride, padding, dilation, groups) ----
conv_cases = {
    # name: (x shape, w shape, stride, padding, dilation, groups, activation)
    "conv_1x1": ((2, 6, 7, 9), (5, 6, 1, 1), 1, 0, 1, 1, None),
    "conv_3x3_p1": ((2, 3, 7, 9), (4, 3, 3, 3), 1, 1, 1, 1, None),
    "conv_3x3_s2_p1": ((1, 5, 9, 11), (6, 5, 3, 3), 2, 1, 1, 1, None),
    "conv_3x3_d2_p2": ((1, 4, 10, 9), (3, 4, 3, 3), 1, 2, 2, 1, None),
    "conv_3x3_g2_p1": ((2, 6, 7, 9), (4, 3, 3, 3), 1, 1, 1, 2, None),
    "conv_1x1_g3": ((1, 6, 5, 7), (9, 2, 1, 1), 1, 0, 1, 3, None),
    "conv_4x4_s4": ((1, 3, 16, 20), (8, 3, 4, 4), 4, 0, 1, 1, None),
    "conv_2x2_s2": ((1, 6, 8, 10), (5, 6, 2, 2), 2, 0, 1, 1, None),
    "conv_2x2_s1_p1": ((1, 4, 6, 7), (6, 4, 2, 2), 1, 1, 1, 1, None),
    "conv_7x7_cin1_p3": ((3, 1, 10, 12), (8, 1, 7, 7), 1, 3, 1, 1, None),
    "conv_1x1_s2": ((1, 4, 7, 9), (3, 4, 1, 1), 2, 0, 1, 1, None),
    "conv_3x3_p1_relu6": ((2, 5, 7, 9), (4, 5, 3, 3), 1, 1, 1, 1, "relu6"),
    "conv_3x3_p1_relu_nobias": ((1, 5, 7, 9), (4, 5, 3, 3), 1, 1, 1, 1, "relu_nobias"),
    # Widths for the direct kernel's column blocking (24-wide steps, a partial 24 step, 8-wide tails) and a
    # channel count that is not a multiple of 4.
    "conv_3x3_p1_w41": ((1, 5, 6, 41), (6, 5, 3, 3), 1, 1, 1, 1, None),
    "conv_3x3_p1_w40_c5": ((2, 3, 5, 40), (5, 3, 3, 3), 1, 1, 1, 1, None),
}
for name, (xs, ws, s, p, d, g, act) in conv_cases.items():
    x, w, bias = r(*xs), r(*ws, scale=0.3), r(ws[0])
    if act == "relu_nobias":
        save(name, x=x, w=w, y=F.relu(F.conv2d(x, w, None, s, p, d, g)))
        continue
    y = F.conv2d(x, w, bias, s, p, d, g)
    if act == "relu6":
        y = F.relu6(y)
    save(name, x=x, w=w, b=bias, y=y)

# ---- depthwise ----
dw_cases = {
    # name: (x shape, kernel, stride, padding, dilation)
    "dw_7x7_p3": ((2, 16, 13, 11), 7, 1, 3, 1),
    "dw_7x7_p3_w40": ((1, 8, 40, 40), 7, 1, 3, 1),
    "dw_7x7_p3_w70": ((1, 3, 9, 70), 7, 1, 3, 1),
    "dw_3x3_p1": ((1, 12, 9, 7), 3, 1, 1, 1),
    "dw_3x3_s2_p1": ((1, 6, 9, 11), 3, 2, 1, 1),
    "dw_5x5_d2_p4": ((1, 5, 12, 10), 5, 1, 4, 2),
    "dw_3x3_p0": ((1, 4, 7, 9), 3, 1, 0, 1),
    "dw_7x7_p3_c24": ((1, 24, 6, 20), 7, 1, 3, 1),  # channels-last kernel: 16-channel vectors + 8 remainder
}
for name, (xs, k, s, p, d) in dw_cases.items():
    c = xs[1]
    x, w, bias = r(*xs), r(c, 1, k, k, scale=0.3), r(c)
    save(name, x=x, w=w, b=bias, y=F.conv2d(x, w, bias, s, p, d, groups=c))

# ---- conv transpose ----
ct_cases = {
    # name: (x shape, w shape [Cin, Cout/g, kh, kw], stride, padding, output_padding, dilation, groups)
    "convt_k2s2": ((2, 6, 5, 7), (6, 4, 2, 2), 2, 0, 0, 1, 1),
    "convt_k3s2_p1_op1": ((1, 5, 4, 6), (5, 3, 3, 3), 2, 1, 1, 1, 1),
    "convt_k4s2_p1_g2": ((1, 4, 3, 5), (4, 2, 4, 4), 2, 1, 0, 1, 2),
    "convt_k3s1_d2": ((1, 3, 5, 4), (3, 2, 3, 3), 1, 0, 0, 2, 1),
}
for name, (xs, ws, s, p, op, d, g) in ct_cases.items():
    x, w, bias = r(*xs), r(*ws, scale=0.3), r(ws[1] * g)
    save(name, x=x, w=w, b=bias, y=F.conv_transpose2d(x, w, bias, s, p, op, g, d))

# ---- norms ----
x, w, bias = r(3, 5, 37), r(37), r(37)
save("layernorm_37", x=x, w=w, b=bias, y=F.layer_norm(x, (37,), w, bias, 1e-5))
x = r(4, 640) * 3 + 100  # large mean: a one-pass E[x²]−E[x]² would lose digits here
w, bias = r(640), r(640)
save("layernorm_640_offset", x=x, w=w, b=bias, y=F.layer_norm(x, (640,), w, bias, 1e-5))
x = r(6, 19)
save("layernorm_noaffine", x=x, y=F.layer_norm(x, (19,), None, None, 1e-6))


def layer_norm_2d(x, w, b, eps):  # timm LayerNorm2d: permute to NHWC, F.layer_norm over C, permute back
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), w, b, eps).permute(0, 3, 1, 2)


x, w, bias = r(2, 13, 7, 9), r(13), r(13)
save("layernorm2d", x=x, w=w, b=bias, y=layer_norm_2d(x, w, bias, 1e-6))
x, w, bias = r(1, 5, 19, 17), r(5), r(5)  # 323 pixels: more than one 256-pixel tile
save("layernorm2d_tiles", x=x, w=w, b=bias, y=layer_norm_2d(x, w, bias, 1e-6))
x, w, bias = r(2, 16, 7, 9), r(16), r(16)
save("groupnorm_g4", x=x, w=w, b=bias, y=F.group_norm(x, 4, w, bias, 1e-5))
x, w, bias = r(1, 6, 20, 30) * 2 + 5, r(6), r(6)
save("groupnorm_g2_relu", x=x, w=w, b=bias, y=F.relu(F.group_norm(x, 2, w, bias, 1e-5)))

# BatchNorm folded into the preceding conv (EOV-Seg style conv → BN → ReLU).
x, w, bias = r(1, 4, 7, 9), r(6, 4, 3, 3, scale=0.3), r(6)
gamma, beta, mean, var = r(6), r(6), r(6) * 0.5, torch.rand(6) + 0.2
bn = F.batch_norm(F.conv2d(x, w, bias, 1, 1), mean, var, gamma, beta, training=False, eps=1e-5)
save("bnfold", x=x, w=w, b=bias, gamma=gamma, beta=beta, mean=mean, var=var, y=F.relu(bn))

# ---- fused ConvNeXt block (timm ConvNeXtBlock, conv_mlp=False, ls_init_value → gamma) ----
c = 16
x = r(1, c, 9, 11)
dw_w, dw_b, ln_w, ln_b = r(c, 1, 7, 7, scale=0.2), r(c), r(c), r(c)
w1, b1, w2, b2, gamma = r(4 * c, c, scale=0.3), r(4 * c), r(c, 4 * c, scale=0.2), r(c), r(c) * 0.5
y = F.conv2d(x, dw_w, dw_b, padding=3, groups=c).permute(0, 2, 3, 1)
y = F.linear(F.gelu(F.linear(F.layer_norm(y, (c,), ln_w, ln_b, 1e-6), w1, b1)), w2, b2) * gamma
save("convnext_block", x=x, dw_w=dw_w, dw_b=dw_b, ln_w=ln_w, ln_b=ln_b, w1=w1, b1=b1, w2=w2, b2=b2, gamma=gamma,
     y=x + y.permute(0, 3, 1, 2))

# ---- activations ----
x = torch.cat([torch.linspace(-12, 12, 601), r(402, scale=3.0)])  # 1003 values: not a multiple of 8
save("act", x=x, gelu=F.gelu(x), quickgelu=x * torch.sigmoid(1.702 * x), relu=F.relu(x), relu6=F.relu6(x),
     sigmoid=torch.sigmoid(x), tanh=torch.tanh(x))
x = r(5, 37) * 4
x[0, 3] = float("-inf"); x[2, :30] = float("-inf"); x[4, 36] = float("-inf")
save("softmax_masked", x=x, y=torch.softmax(x, -1))
x = r(3, 16) * 40  # large logits: needs the max subtraction
save("softmax_large", x=x, y=torch.softmax(x, -1))

# ---- elementwise ----
a, b = r(2, 3, 4, 5), r(4, 5)
save("add_broadcast", a=a, b=b, y=a + b)
save("mul_broadcast", a=a, b=b, y=a * b)
x, f, gamma = r(7, 9, 20), r(7, 9, 20), r(20) * 1e-2
save("layerscale_residual", x=x, f=f, gamma=gamma, y=x + gamma * f)
x, bias = r(2, 5, 3, 7), r(5)
save("channel_bias_relu", x=x, b=bias, y=F.relu(x + bias.view(1, 5, 1, 1)))
h = r(6, 26) * 5  # [u | v] with H = 13 (not a multiple of 8); u spans below 0 and above 6
save("relu6_gate", h=h, y=F.relu6(h[:, :13]) * h[:, 13:])

# Packed-weight linear (Ops.linear(_:packed:)): rows not a multiple of its 6-row blocks, outputs not a multiple of
# its 16-wide panels, a ReLU6 epilogue; then the aggregator's 128 -> 128 shape accumulating onto a residual.
x, w, bias = r(301, 37), r(45, 37, scale=0.3), r(45)
save("linear_packed_relu6", x=x, w=w, b=bias, y=F.relu6(F.linear(x, w, bias)))
x, w, bias, res = r(50, 128), r(128, 128, scale=0.1), r(128), r(50, 128)
save("linear_packed_k128_accumulate", x=x, w=w, b=bias, r=res, y=res + F.linear(x, w, bias))

# k=2 s=2 transposed conv with rows wider than one 8-lane vector plus a tail (the vectorised interleave).
x, w, bias = r(1, 5, 3, 11), r(5, 3, 2, 2, scale=0.3), r(3)
save("convt_k2s2_w11", x=x, w=w, b=bias, y=F.conv_transpose2d(x, w, bias, stride=2))

# k=2 s=2 rows wide enough for whole 24-position blocks plus a block across a row end and a short last block;
# and k=3 s=3 (the generic column scatter).
x, w, bias = r(1, 6, 3, 53), r(6, 5, 2, 2, scale=0.3), r(5)
save("convt_k2s2_w53", x=x, w=w, b=bias, y=F.conv_transpose2d(x, w, bias, stride=2))
x, w, bias = r(2, 4, 3, 5), r(4, 3, 3, 3, scale=0.3), r(3)
save("convt_k3s3", x=x, w=w, b=bias, y=F.conv_transpose2d(x, w, bias, stride=3))

total = sum(os.path.getsize(p) for p in written)
print(f"wrote {len(written)} files, {total / 1024:.1f} KB, to {os.path.normpath(OUT)}")
