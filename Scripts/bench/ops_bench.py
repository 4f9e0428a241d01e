#!/usr/bin/env python3
"""Times the dense ops at ERR-Seg B @ 640 shapes in PyTorch CPU: the reference for the Swift OpBenchmarks.

Usage:
  python3 Scripts/bench/ops_bench.py [--threads 2] [--cpu] [--filter NAME] [--json out.json]

Row names match Sources/VocaSegTensor/Bench/OpBenchmarks.swift. Each row runs once to warm up, then repeats for at
least 0.4 s (3–50 times) and reports the fastest repetition (on a shared machine the slower ones measure
other processes). --cpu reports process CPU time per repetition (robust when the
machine is busy, most meaningful with --threads 1); the default is wall time. --json writes {row: ms} for
VOCASEG_BENCH_TORCH, so the Swift table can show the ratio.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def rows():
    def rnd(*shape, scale=1.0):
        return (torch.rand(*shape) - 0.5) * 2 * scale

    s = 2048
    a, b = rnd(s, s), rnd(s, s)
    c = torch.empty(s, s)
    yield "sgemm", 2 * s ** 3, lambda: torch.mm(a, b, out=c)

    for ch, hw, tag in [(512, 40, "s2"), (128, 160, "s0")]:
        x = rnd(1, ch, hw, hw)
        dw_w, dw_b = rnd(ch, 1, 7, 7, scale=0.1), rnd(ch)
        ln_w, ln_b = rnd(ch), rnd(ch)
        w1, b1, w2, b2 = rnd(4 * ch, ch, scale=0.05), rnd(4 * ch), rnd(ch, 4 * ch, scale=0.02), rnd(ch)
        gamma = rnd(ch, scale=0.1)

        def block(x=x, dw_w=dw_w, dw_b=dw_b, ln_w=ln_w, ln_b=ln_b, w1=w1, b1=b1, w2=w2, b2=b2, gamma=gamma, ch=ch):
            # timm ConvNeXtBlock, conv_mlp=False: dwconv → NHWC → LayerNorm → fc1 → GELU → fc2 → γ → NCHW → + x
            y = F.conv2d(x, dw_w, dw_b, padding=3, groups=ch).permute(0, 2, 3, 1)
            y = F.layer_norm(y, (ch,), ln_w, ln_b, 1e-6)
            y = F.linear(F.gelu(F.linear(y, w1, b1)), w2, b2).mul(gamma)
            return y.permute(0, 3, 1, 2) + x

        p = hw * hw
        yield f"convnext_block_{tag}", 2 * p * ch * 49 + 4 * p * ch * 4 * ch, block

    x, w, bias = rnd(1600, 512), rnd(2048, 512, scale=0.05), rnd(2048)
    yield "linear_fc1_gelu", 2 * 1600 * 512 * 2048, lambda: F.gelu(F.linear(x, w, bias))
    yield "linear_fc1", 2 * 1600 * 512 * 2048, lambda: F.linear(x, w, bias)
    x2, w2, b2 = rnd(1600, 2048), rnd(512, 2048, scale=0.05), rnd(512)
    yield "linear_fc2", 2 * 1600 * 512 * 2048, lambda: F.linear(x2, w2, b2)
    out = torch.empty(1600, 2048)
    yield "gemm_fc1_raw", 2 * 1600 * 512 * 2048, lambda: torch.mm(x, w.t(), out=out)

    for ch, hw in [(128, 160), (512, 40)]:
        xd, wd, bd = rnd(1, ch, hw, hw), rnd(ch, 1, 7, 7, scale=0.1), rnd(ch)
        yield f"dwconv7_{hw}", 2 * ch * hw * hw * 49, (lambda xd=xd, wd=wd, bd=bd, ch=ch:
                                                       F.conv2d(xd, wd, bd, padding=3, groups=ch))

    xl, wl, bl = rnd(1600, 512), rnd(512), rnd(512)
    yield "layernorm_lastdim", 0, lambda: F.layer_norm(xl, (512,), wl, bl, 1e-6)
    x2d, w2d, b2d = rnd(1, 128, 160, 160), rnd(128), rnd(128)
    yield "layernorm2d", 0, lambda: F.layer_norm(x2d.permute(0, 2, 3, 1), (128,), w2d, b2d, 1e-6).permute(0, 3, 1, 2)
    xg = rnd(1600, 2048, scale=4)
    yield "gelu", 0, lambda: F.gelu(xg)
    xn, wn, bn = rnd(32, 64, 40, 40), rnd(64), rnd(64)
    yield "groupnorm_relu", 0, lambda: F.relu(F.group_norm(xn, 8, wn, bn, 1e-5))
    xs = rnd(6400, 400, scale=4)
    yield "softmax", 0, lambda: torch.softmax(xs, -1)

    def conv(name, n, cin, cout, hw, k, stride=1, pad=0, act=None):
        xc, wc, bc = rnd(n, cin, *hw), rnd(cout, cin, k, k, scale=0.05), rnd(cout)
        oh, ow = (hw[0] + 2 * pad - k) // stride + 1, (hw[1] + 2 * pad - k) // stride + 1
        f = (lambda: F.relu6(F.conv2d(xc, wc, bc, stride, pad))) if act == "relu6" else \
            (lambda: F.conv2d(xc, wc, bc, stride, pad))
        return name, 2 * n * cout * oh * ow * cin * k * k, f

    yield conv("conv_stem_4x4s4", 1, 3, 128, (640, 640), 4, 4)
    yield conv("conv_down_2x2s2", 1, 256, 512, (80, 80), 2, 2)
    yield conv("conv1x1_corr_fusion", 32, 256, 128, (40, 40), 1)
    yield conv("conv3x3_agg_guid_os32", 1, 1024, 256, (20, 20), 3, 1, 1, "relu6")
    yield conv("conv3x3_agg_guid_os16", 1, 512, 256, (40, 40), 3, 1, 1, "relu6")
    yield conv("conv3x3_gud1_96to64", 32, 96, 64, (40, 40), 3, 1, 1)
    yield conv("conv3x3_gud2_48to32", 32, 48, 32, (80, 80), 3, 1, 1)
    yield conv("conv3x3_gud3_24to16", 32, 24, 16, (160, 160), 3, 1, 1)
    yield conv("conv3x3_gud3_16to16", 32, 16, 16, (160, 160), 3, 1, 1)
    xt, wt, bt = rnd(32, 64, 40, 40), rnd(64, 32, 2, 2, scale=0.1), rnd(32)
    yield "convT_k2s2_gud2", 2 * 32 * 64 * 32 * 4 * 1600, lambda: F.conv_transpose2d(xt, wt, bt, stride=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu", action="store_true", help="report process CPU time instead of wall time")
    ap.add_argument("--filter", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.cpu else time.perf_counter
    results = {}
    sgemm_rate = None
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{'process CPU' if args.cpu else 'wall'} time, minimum over repetitions")
    print(f"{'op':24}{'GFLOP':>9}{'ms':>10}{'GFLOP/s':>9}{'%sgemm':>8}")
    with torch.inference_mode():
        for name, flop, fn in rows():
            if args.filter and args.filter not in name:
                continue
            fn()
            times, start = [], time.perf_counter()
            while len(times) < 3 or (time.perf_counter() - start < 0.4 and len(times) < 50):
                t0 = clock()
                fn()
                times.append((clock() - t0) * 1000)
            times.sort()
            ms = times[0]
            results[name] = ms
            rate = flop / 1e9 / (ms / 1000) if ms > 0 else 0
            if name == "sgemm":
                sgemm_rate = rate
            pct = f"{100 * rate / sgemm_rate:.0f}%" if sgemm_rate else "-"
            print(f"{name:24}{flop / 1e9:9.3f}{ms:10.2f}{rate:9.1f}{pct:>8}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
