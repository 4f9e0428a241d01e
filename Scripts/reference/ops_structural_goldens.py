#!/usr/bin/env python3
"""Goldens for the tensor engine's structural ops (attention, interpolation, PIL resize, pooling, top-k, argmax,
gather/scatter, concat/split, mask pooling, modulated deformable conv).

Every expected value comes from PyTorch / torchvision / Pillow; inputs are seeded random arrays saved next to them.
Writes small .npy files (float32 for real values, int64 for indices, uint8 for images) into
Tests/VocaSegTensorTests/Goldens/structural/. Run from the repository root:

    python3 Scripts/reference/ops_structural_goldens.py
    python3 Scripts/reference/ops_structural_goldens.py --bench   # PyTorch attention timings (BENCH_K, BENCH_THREADS)

Needs: numpy, torch, torchvision (deform_conv2d), Pillow.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "VocaSegTensorTests", "Goldens", "structural")
torch.set_num_threads(1)
torch.manual_seed(0)
rng = np.random.default_rng(1234)


def save(name, array):
    array = np.ascontiguousarray(array)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    np.save(os.path.join(OUT, name + ".npy"), array)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def interpolate_cases():
    # (name, input shape, kwargs)
    cases = [
        ("interp_up_ac0", (2, 3, 5, 7), dict(size=(11, 16), align_corners=False)),
        ("interp_up_ac1", (2, 3, 5, 7), dict(size=(11, 16), align_corners=True)),
        ("interp_down_ac0", (1, 2, 13, 17), dict(size=(5, 6), align_corners=False)),
        ("interp_down_ac1", (1, 2, 13, 17), dict(size=(5, 6), align_corners=True)),
        ("interp_mixed_ac0", (1, 2, 9, 10), dict(size=(20, 4), align_corners=False)),
        ("interp_to1_ac1", (1, 2, 6, 5), dict(size=(1, 3), align_corners=True)),
        ("interp_same_ac0", (1, 2, 6, 5), dict(size=(6, 5), align_corners=False)),
        # ERR-Seg shapes in small: CFM 20→40 align_corners=True, os32→os16 False, post-process to a frame size.
        ("interp_cfm_ac1", (2, 3, 10, 10), dict(size=(20, 20), align_corners=True)),
        ("interp_post_ac0", (2, 16, 16), dict(size=(37, 53), align_corners=False)),
        # scale_factor form: coordinates use 1/s, not in/out (recompute_scale_factor unset).
        ("interp_scale_ac0", (1, 2, 9, 11), dict(scale_factor=(1.7, 0.45), align_corners=False)),
        ("interp_scale_ac1", (1, 2, 9, 11), dict(scale_factor=(1.7, 0.45), align_corners=True)),
        ("interp_scale3_ac0", (1, 1, 7, 5), dict(scale_factor=(1 / 3, 2.5), align_corners=False)),
        ("interp_scale2_ac0", (1, 3, 8, 6), dict(scale_factor=(2.0, 2.0), align_corners=False)),
    ]
    for name, shape, kwargs in cases:
        x = randn(*shape)
        t = torch.from_numpy(x)
        if t.dim() == 3:
            y = F.interpolate(t[None], mode="bilinear", **kwargs)[0]
        else:
            y = F.interpolate(t, mode="bilinear", **kwargs)
        save(name + "_in", x)
        save(name + "_out", y.numpy())


def pil_cases():
    # (name, (w, h) source, (w, h) target)
    cases = [
        ("pil_97x61_to_40x25", (97, 61), (40, 25)),
        ("pil_61x97_to_30x50", (61, 97), (30, 50)),
        ("pil_200x150_to_80x60", (200, 150), (80, 60)),
        ("pil_64x48_to_32x24", (64, 48), (32, 24)),
        ("pil_90x70_to_89x31", (90, 70), (89, 31)),
        ("pil_97x61_to_97x30", (97, 61), (97, 30)),
        ("pil_40x25_to_97x61", (40, 25), (97, 61)),
        ("pil_150x100_to_127x113", (150, 100), (127, 113)),
        # 1920×1080 → 1333×750 (detectron2 short side 800, long side capped at 1333) at a tenth of the size.
        ("pil_192x108_to_133x75", (192, 108), (133, 75)),
    ]
    for name, (w, h), (ow, oh) in cases:
        noise = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        # Half noise, half smooth gradients with saturated areas: exercises clipping and rounding.
        yy, xx = np.mgrid[0:h, 0:w]
        smooth = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)
        img = np.where(xx[..., None] < w // 2, noise, smooth.astype(np.uint8)).astype(np.uint8)
        # Pillow up to 12.x always runs the horizontal pass first; Pillow 13 (PR #9549) runs the vertical pass
        # first for some shapes, which changes rounding of the uint8 intermediate. The ERR-Seg / detectron2
        # reference ran on the classic order, so the golden is that order, produced by Pillow itself as two
        # single-axis resizes (each call then does exactly one of the two passes, bit for bit).
        pil = Image.fromarray(img, "RGB")
        out = np.asarray(pil.resize((ow, h), Image.BILINEAR).resize((ow, oh), Image.BILINEAR))
        direct = np.asarray(pil.resize((ow, oh), Image.BILINEAR))
        print(f"{name}: one-call Pillow {Image.__version__} differs from horizontal-first in "
              f"{int((direct != out).sum())} of {out.size} bytes", file=sys.stderr)
        save(name + "_in", img)
        save(name + "_out", out)


def attention_cases():
    # (name, B, H, Lq, Lk, d, dv, mask kind, causal, scale)
    cases = [
        ("attn_basic", 2, 4, 37, 11, 8, 8, None, False, None),
        ("attn_dv", 1, 3, 23, 17, 5, 7, "shared", False, None),
        ("attn_batchmask", 2, 2, 19, 13, 6, 6, "batch", False, 0.3),
        ("attn_headmask", 2, 3, 9, 14, 4, 4, "head", False, None),
        ("attn_causal", 1, 2, 50, 50, 16, 16, None, True, None),
        ("attn_causal_rect", 2, 1, 7, 12, 8, 8, None, True, None),
        # SFM-like: 4 heads of 32, Lk = Lq/4.
        ("attn_sfm_small", 1, 4, 64, 16, 32, 32, None, False, None),
        # Long keys: the Swift kernel splits Lq into 34-row tiles here (OpenBLAS single-thread size), 45 = 34 + 11.
        ("attn_tiles", 1, 2, 45, 160, 48, 48, None, False, None),
        ("attn_tiles_causal", 1, 1, 45, 160, 48, 48, None, True, None),
        # CFM-like: many short sequences over classes.
        ("attn_cfm_small", 12, 4, 12, 12, 32, 32, None, False, None),
    ]
    for name, b, h, lq, lk, d, dv, mask_kind, causal, scale in cases:
        q, k, v = randn(b, lq, h * d), randn(b, lk, h * d), randn(b, lk, h * dv)
        mask = None
        if mask_kind is not None:
            shape = {"shared": (lq, lk), "batch": (b, lq, lk), "head": (b * h, lq, lk)}[mask_kind]
            mask = randn(*shape)
            # Forbid some keys outright, never a whole row.
            forbid = rng.random(shape) < 0.25
            forbid[..., 0] = False
            mask[forbid] = -np.inf
        tq = torch.from_numpy(q).view(b, lq, h, d).transpose(1, 2)
        tk = torch.from_numpy(k).view(b, lk, h, d).transpose(1, 2)
        tv = torch.from_numpy(v).view(b, lk, h, dv).transpose(1, 2)
        tm = None
        if mask is not None:
            tm = torch.from_numpy(mask)
            if mask_kind == "batch":
                tm = tm[:, None]
            elif mask_kind == "head":
                tm = tm.view(b, h, lq, lk)
        with torch.no_grad():
            if dv == d:
                o = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal, scale=scale)
            else:  # explicit form (SDPA math backend requires equal head dims on some builds)
                s = (tq @ tk.transpose(-1, -2)) * (scale if scale is not None else d ** -0.5)
                if tm is not None:
                    s = s + tm
                o = s.softmax(-1) @ tv
        out = o.transpose(1, 2).reshape(b, lq, h * dv).numpy()
        save(name + "_q", q)
        save(name + "_k", k)
        save(name + "_v", v)
        if mask is not None:
            save(name + "_mask", mask)
        save(name + "_out", out)


def pooling_cases():
    x = randn(2, 3, 9, 11)
    t = torch.from_numpy(x)
    save("pool_in", x)
    save("pool_avg2", F.avg_pool2d(t, 2).numpy())
    save("pool_avg3s2p1", F.avg_pool2d(t, 3, 2, 1).numpy())
    save("pool_avg3s2p1_nopad", F.avg_pool2d(t, 3, 2, 1, count_include_pad=False).numpy())
    save("pool_avg_k2x3_s1x2", F.avg_pool2d(t, (2, 3), (1, 2)).numpy())
    save("pool_max3s2p1", F.max_pool2d(t, 3, 2, 1).numpy())
    save("pool_max2", F.max_pool2d(t, 2).numpy())
    save("pool_adaptive_4x5", F.adaptive_avg_pool2d(t, (4, 5)).numpy())
    save("pool_adaptive_7x3", F.adaptive_avg_pool2d(t, (7, 3)).numpy())


def topk_cases():
    # Many ties: small integer values. Expected order: value descending, then lower index first (a stable sort);
    # torch.topk's values must agree (its tie order is unspecified, so indices come from the stable sort).
    x = rng.integers(0, 5, size=(6, 20)).astype(np.float32)
    x[2] = 1.0  # a row of all ties
    for k in (1, 3, 7, 20):
        order = np.argsort(-x, axis=-1, kind="stable")[:, :k]
        values = np.take_along_axis(x, order, -1)
        tv, _ = torch.topk(torch.from_numpy(x), k, dim=-1)
        assert np.array_equal(tv.numpy(), values), "torch.topk values disagree with the stable sort"
        save(f"topk_k{k}_values", values)
        save(f"topk_k{k}_indices", order.astype(np.int64))
    save("topk_in", x)
    xs = randn(3, 50)
    tv, ti = torch.topk(torch.from_numpy(xs), 5, dim=-1)
    save("topk_rand_in", xs)
    save("topk_rand_values", tv.numpy())
    save("topk_rand_indices", ti.numpy())
    smallest, si = torch.topk(torch.from_numpy(xs), 4, dim=-1, largest=False)
    save("topk_rand_small_values", smallest.numpy())
    save("topk_rand_small_indices", si.numpy())
    # argmax with ties, every dim (PyTorch CPU returns the first maximal index).
    a = rng.integers(0, 3, size=(4, 6, 7)).astype(np.float32)
    save("argmax_in", a)
    for d in range(3):
        save(f"argmax_d{d}", torch.argmax(torch.from_numpy(a), dim=d).numpy())


def gather_scatter_cases():
    x = randn(3, 7, 5)
    t = torch.from_numpy(x)
    save("gs_in", x)
    idx = [6, 0, 3, 3, 1]
    save("gs_idx", np.array(idx, dtype=np.int64))
    save("gs_index_select_d1", torch.index_select(t, 1, torch.tensor(idx)).numpy())
    g = rng.integers(0, 5, size=(2, 4, 6)).astype(np.int64)
    save("gs_gather_index", g)
    save("gs_gather_d2", torch.gather(t, 2, torch.from_numpy(g)).numpy())
    g1 = rng.integers(0, 7, size=(3, 2, 5)).astype(np.int64)
    save("gs_gather1_index", g1)
    save("gs_gather_d1", torch.gather(t, 1, torch.from_numpy(g1)).numpy())
    # ERR-Seg reconstruction: K=4 selected class maps back among T=9, rest -100.
    src = randn(1, 4, 3, 5)
    sel = [1, 4, 5, 8]
    full = torch.full((1, 9, 3, 5), -100.0)
    full[:, sel] = torch.from_numpy(src)
    save("gs_scatter_src", src)
    save("gs_scatter_sel", np.array(sel, dtype=np.int64))
    save("gs_scatter_out", full.numpy())


def concat_split_cases():
    a, b, c = randn(2, 3, 4), randn(2, 5, 4), randn(2, 1, 4)
    save("cat_a", a)
    save("cat_b", b)
    save("cat_c", c)
    ta, tb, tc = map(torch.from_numpy, (a, b, c))
    save("cat_d1", torch.cat([ta, tb, tc], 1).numpy())
    # Strided inputs: transposed views concatenated along the last dim.
    save("cat_t_d2", torch.cat([ta.transpose(1, 2), tb.transpose(1, 2)], 2).numpy())
    save("cat_d0", torch.cat([ta, ta * 2], 0).numpy())


def mask_pooling_cases():
    feats = randn(6, 9, 11)
    masks = randn(4, 9, 11)
    masks[2] = -np.abs(masks[2]) - 0.1  # empty mask → zero row
    masks_big = randn(3, 18, 22)

    def pool(x, m):
        x = torch.from_numpy(x)[None]
        m = torch.from_numpy(m)[None]
        if x.shape[-2:] != m.shape[-2:]:
            m = F.interpolate(m, size=x.shape[-2:], mode="bilinear", align_corners=False)
        m = (m > 0).to(m.dtype)
        denorm = m.sum(dim=(-1, -2), keepdim=True) + 1e-8
        return torch.einsum("bchw,bqhw->bqc", x, m / denorm)[0].numpy()

    save("mp_feats", feats)
    save("mp_masks", masks)
    save("mp_out", pool(feats, masks))
    save("mp_masks_big", masks_big)
    save("mp_out_big", pool(feats, masks_big))
    soft = np.abs(randn(4, 9, 11))
    save("mp_soft_masks", soft)
    tf, ts = torch.from_numpy(feats), torch.from_numpy(soft)
    save("mp_soft_sum", torch.einsum("nhw,chw->nc", ts, tf).numpy())


def deform_cases():
    from torchvision.ops import deform_conv2d
    cases = [
        # name, B, Cin, H, W, Cout, kh, kw, stride, pad, dil, groups, offset groups, bias, mask
        ("dcn_eov", 1, 4, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, False, True),
        ("dcn_general", 2, 4, 8, 7, 6, 3, 2, (2, 1), (1, 0), (2, 1), 2, 2, True, True),
        ("dcn_nomask", 1, 3, 5, 6, 2, 3, 3, 1, 1, 1, 1, 1, True, False),
    ]
    for name, b, cin, h, w, cout, kh, kw, st, pad, dil, groups, og, use_bias, use_mask in cases:
        st, pad, dil = [(v, v) if isinstance(v, int) else v for v in (st, pad, dil)]
        ho = (h + 2 * pad[0] - (dil[0] * (kh - 1) + 1)) // st[0] + 1
        wo = (w + 2 * pad[1] - (dil[1] * (kw - 1) + 1)) // st[1] + 1
        x = randn(b, cin, h, w)
        weight = randn(cout, cin // groups, kh, kw)
        offset = (randn(b, 2 * og * kh * kw, ho, wo) * 1.5).astype(np.float32)
        mask = 1 / (1 + np.exp(-randn(b, og * kh * kw, ho, wo))) if use_mask else None
        bias = randn(cout) if use_bias else None
        with torch.no_grad():
            y = deform_conv2d(torch.from_numpy(x), torch.from_numpy(offset), torch.from_numpy(weight),
                              bias=None if bias is None else torch.from_numpy(bias), stride=st, padding=pad,
                              dilation=dil, mask=None if mask is None else torch.from_numpy(mask.astype(np.float32)))
        save(name + "_x", x)
        save(name + "_w", weight)
        save(name + "_off", offset)
        if mask is not None:
            save(name + "_mask", mask.astype(np.float32))
        if bias is not None:
            save(name + "_b", bias)
        save(name + "_out", y.numpy())


def bench(ks, threads):
    """Timing reference for the Swift benchmark (StructuralBenchmarks): ERR-Seg B @ 640 SFM / CFM attention."""
    import resource
    import time
    torch.set_num_threads(threads)

    def best_ms(fn, repeats=5):
        """(best wall ms, mean process CPU ms per call): CPU time is robust to other load on the machine."""
        fn()
        times = []
        cpu0 = time.process_time()
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return min(times), (time.process_time() - cpu0) / repeats * 1000

    def heads(x):  # [B, L, 128] -> [B, 4, L, 32]
        return x.view(x.shape[0], x.shape[1], 4, 32).transpose(1, 2)

    print(f"TORCH start: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
          f"(torch {torch.__version__})")
    with torch.no_grad():
        for k in ks:
            shapes = {"SFM": ((k, 1600, 128), (k, 400, 128)), "CFM": ((400, k, 128), (400, k, 128))}
            for name, (qs, ks_) in shapes.items():
                q, key, v = torch.randn(qs), torch.randn(ks_), torch.randn(ks_)
                sdpa = best_ms(lambda: F.scaled_dot_product_attention(heads(q), heads(key), heads(v))
                               .transpose(1, 2).reshape(qs))
                explicit = best_ms(lambda: ((heads(q) @ heads(key).transpose(-1, -2)) * 32 ** -0.5)
                                   .softmax(-1).matmul(heads(v)).transpose(1, 2).reshape(qs))
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"TORCH {name} K={k}: sdpa {sdpa[0]:.2f} ms wall / {sdpa[1]:.2f} ms CPU, explicit "
                      f"{explicit[0]:.2f} ms wall / {explicit[1]:.2f} ms CPU, threads {threads}, "
                      f"peak RSS so far {peak:.0f} MiB")


def bench_resize(threads):
    import time
    torch.set_num_threads(threads)
    maps = torch.rand(1, 32, 160, 160)
    times = []
    for _ in range(4):
        t0 = time.perf_counter()
        F.interpolate(maps, size=(1080, 1920), mode="bilinear", align_corners=False)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"TORCH interpolate [32,160,160] -> 1080x1920: {min(times[1:]):.2f} ms, threads {threads}")
    img = Image.fromarray(np.full((1080, 1920, 3), 77, np.uint8))
    times = []
    for _ in range(4):
        t0 = time.perf_counter()
        img.resize((1333, 750), Image.BILINEAR)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"PIL resize 1920x1080 -> 1333x750: {min(times[1:]):.2f} ms (single-threaded)")
    from torchvision.ops import deform_conv2d
    x, w = torch.randn(1, 256, 80, 108), torch.randn(128, 256, 3, 3)
    off, mask = torch.randn(1, 18, 80, 108), torch.rand(1, 9, 80, 108)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        deform_conv2d(x, off, w, mask=mask, padding=1)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"TORCHVISION deform_conv2d 256->128 3x3 at 80x108: {min(times[1:]):.2f} ms, threads {threads}")


def main():
    if "--bench-resize" in sys.argv:
        bench_resize(int(os.environ.get("BENCH_THREADS", "2")))
        return
    if "--bench" in sys.argv:
        ks = [int(v) for v in os.environ.get("BENCH_K", "32,48").split(",")]
        bench(ks, int(os.environ.get("BENCH_THREADS", "2")))
        return
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy"):
            os.remove(os.path.join(OUT, f))
    interpolate_cases()
    pil_cases()
    attention_cases()
    pooling_cases()
    topk_cases()
    gather_scatter_cases()
    concat_split_cases()
    mask_pooling_cases()
    deform_cases()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, Pillow {Image.__version__}; "
          f"{len(os.listdir(OUT))} files, {total / 1024:.0f} KiB in {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
