#!/usr/bin/env python3
"""Export a reference model's per-frame forward to ONNX and check ONNX Runtime and OpenVINO against PyTorch.

The exported graph is what the reference's `bench` sub-command times, with the same seeded random weights
(`errseg.py write-checkpoint --seed S` / `errseg.py bench`) and the same random input:

  errseg (b | l | tiny)  inputs  image [1,3,S,S] (normalised, already at the CLIP size), text [T,E] (unit rows:
                                 text encoding stays outside, computed once)
                         outputs selected_classes [K] int64 (the CRM, in the graph), logits [1,T,S/4,S/4]
                                 (-100 outside the selection), label_map [S,S] int32 (all T probabilities
                                 resized to S x S, argmax)

Sub-commands:
  export  write OUT.onnx (one file, weights inside) and OUT.inputs.npz (the input the checks and
          runtime_bench.py feed; the same tensors errseg.py bench makes)
  check   run PyTorch, ONNX Runtime (CPU EP) and OpenVINO (CPU, INFERENCE_PRECISION_HINT f32) on OUT.inputs.npz:
          class selection identical, logits max abs diff <= --tol (1e-4), label maps >= --min-label-agreement
          identical (NaN anywhere fails); with --bf16 also OpenVINO at bf16 (reported, never fails). Writes
          OUT.check.json; exit 1 if a check fails.

Examples:
  python3 Scripts/reference/export_onnx.py export --model errseg --variant b --t 150 --k 32 --seed 0 \
      --out /tmp/vocaseg-onnx/errseg-b-t150-k32-s0.onnx
  python3 Scripts/reference/export_onnx.py check --model errseg --variant b --t 150 --k 32 --seed 0 \
      --out /tmp/vocaseg-onnx/errseg-b-t150-k32-s0.onnx --bf16
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# torch.onnx lists the torchvision operators it skips (torchvision is not installed here): noise.
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


# ---------------------------------------------------------------------------------------------------------------
# Per-model adapters: how to build the seeded model, its input, the wrapper that is exported, and what is compared.

class ErrSegFrame(torch.nn.Module):
    """forward_intermediates as errseg.py bench calls it (out_size = the input size), three outputs kept."""

    def __init__(self, model, k: int, out_size):
        super().__init__()
        self.model = model
        self.k = k
        self.out_size = tuple(out_size)

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        r = self.model.forward_intermediates(image, text, k=self.k, out_size=self.out_size)
        return r["selected_classes"], r["logits"], r["label_map"]


def errseg_setup(variant: str, t: int, k: int, seed: int):
    from errseg import build_random
    from errseg_ref import get_config
    cfg = get_config(variant)
    model = build_random(variant, seed, "fp32")
    # The input errseg.py bench makes (generator seeded 0 there; here with the same seed as the weights).
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 3, cfg.image_size, cfg.image_size, generator=gen)
    text = torch.nn.functional.normalize(torch.randn(t, cfg.embed_dim, generator=gen), dim=-1)
    wrapper = ErrSegFrame(model, min(k, t), (cfg.image_size, cfg.image_size)).eval()
    meta = {"model": "errseg", "variant": variant, "image_size": cfg.image_size, "t": t, "k": min(k, t),
            "seed": seed, "weights": f"random, seed {seed}, fp32 (= errseg.py write-checkpoint --seed {seed})"}
    return wrapper, {"image": x, "text": text}, ["selected_classes", "logits", "label_map"], meta


MODELS = {"errseg": errseg_setup}
# Output roles for the checks: which output is the selection (compared exactly), which are float maps (max abs
# diff against --tol) and which is the label map (agreement fraction).
ROLES = {
    "errseg": {"exact": ["selected_classes"], "float": ["logits"], "labels": ["label_map"]},
}


# ---------------------------------------------------------------------------------------------------------------

def inputs_path(out: str) -> str:
    return out[:-5] + ".inputs.npz" if out.endswith(".onnx") else out + ".inputs.npz"


def check_path(out: str) -> str:
    return out[:-5] + ".check.json" if out.endswith(".onnx") else out + ".check.json"


def setup(a):
    if a.model not in MODELS:
        raise SystemExit(f"export_onnx.py: unknown model {a.model} (have {', '.join(MODELS)})")
    return MODELS[a.model](a.variant, a.t, a.k, a.seed)


def cmd_export(a) -> None:
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    wrapper, inputs, out_names, meta = setup(a)
    names = list(inputs)
    args = tuple(inputs[n] for n in names)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
    tmp = a.out + ".partial.onnx"
    with torch.no_grad():
        prog = torch.onnx.export(wrapper, args, dynamo=True, input_names=names, output_names=out_names,
                                 opset_version=a.opset, external_data=False, optimize=True, verbose=False)
    prog.save(tmp, external_data=False)
    os.replace(tmp, a.out)
    import onnx
    opset = next(o.version for o in onnx.load(a.out, load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))
    np.savez(inputs_path(a.out), **{n: v.numpy() for n, v in inputs.items()},
             meta=np.array(json.dumps(dict(meta, inputs=names, outputs=out_names, opset=opset,
                                           torch=torch.__version__))))
    print(f"exported {a.out} ({os.path.getsize(a.out) / 1e6:.0f} MB, opset {opset}) and "
          f"{inputs_path(a.out)} in {time.perf_counter() - t0:.0f} s: {json.dumps(meta)}")


def load_inputs(out: str):
    z = np.load(inputs_path(out))
    meta = json.loads(str(z["meta"]))
    return {n: z[n] for n in meta["inputs"]}, meta


def run_ort(path: str, feeds, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds))), f"onnxruntime {ort.__version__}"


def openvino_config(threads: int, precision: str) -> dict:
    return {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}


def run_openvino(path: str, feeds, threads: int, precision: str, out_names):
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(core.read_model(path), "CPU", openvino_config(threads, precision))
    res = compiled(feeds)
    # By position: OpenVINO may name an output after the tensor that produces it rather than the graph output.
    out = {n: np.array(res[o]) for n, o in zip(out_names, compiled.outputs)}
    got = compiled.get_property("INFERENCE_PRECISION_HINT")
    return out, f"openvino {ov.__version__} ({got.to_string() if hasattr(got, 'to_string') else got})"


def compare(name: str, ref: dict, got: dict, roles: dict, tol: float, min_agree: float, enforce: bool):
    """Prints one line per output; returns (passed, figures)."""
    ok, fig = True, {}

    def verdict(good: bool) -> str:
        return ("PASS" if good else "FAIL") if enforce else "reported only"
    for n in roles["exact"]:
        same = ref[n].shape == got[n].shape and np.array_equal(ref[n].astype(np.int64), got[n].astype(np.int64))
        fig[f"{n}_identical"] = bool(same)
        ok &= same
        print(f"  {name:16s} {n:18s} identical: {same}" + ("" if same else f"  (torch {ref[n].tolist()[:16]} "
                                                             f"vs {got[n].tolist()[:16]})"))
    for n in roles["float"]:
        r, g = ref[n].astype(np.float64), got[n].astype(np.float64)
        if r.shape != g.shape:
            print(f"  {name:16s} {n:18s} shape {g.shape} != torch {r.shape}")
            ok, fig[f"{n}_max_abs_diff"] = False, None
            continue
        nan = int(np.isnan(g).sum() + np.isnan(r).sum())
        d = float(np.abs(r - g).max()) if nan == 0 else math.nan
        kept = r[r != -100.0]  # ERR-Seg's filler for the classes the CRM dropped is exact on every side
        scale = float(np.abs(kept).max()) if kept.size else 0.0
        fig[f"{n}_max_abs_diff"], fig[f"{n}_nan"] = d, nan
        good = nan == 0 and d <= tol
        ok &= good
        print(f"  {name:16s} {n:18s} max abs diff {d:.3g} (limit {tol:g}; |torch| max {scale:.3g}; NaN {nan}): "
              f"{verdict(good)}")
    for n in roles["labels"]:
        same = ref[n].shape == got[n].shape
        agree = float((ref[n] == got[n]).mean()) if same else 0.0
        fig[f"{n}_agreement"] = agree
        good = agree >= min_agree
        ok &= good
        print(f"  {name:16s} {n:18s} identical pixels {agree:.6%} (limit {min_agree:.3%}): {verdict(good)}")
    if not enforce:
        return True, fig
    return ok, fig


def cmd_check(a) -> None:
    torch.set_num_threads(a.threads)
    feeds, meta = load_inputs(a.out)
    wrapper, inputs, out_names, _ = setup(a)
    for n, v in inputs.items():
        if not np.array_equal(v.numpy(), feeds[n]):
            raise SystemExit(f"export_onnx.py: {inputs_path(a.out)} holds another {n} than this seed makes")
    roles = ROLES[a.model]
    t0 = time.perf_counter()
    with torch.no_grad():
        ref = dict(zip(out_names, (o.numpy() for o in wrapper(*(inputs[n] for n in meta["inputs"])))))
    print(f"torch {torch.__version__}: {time.perf_counter() - t0:.1f} s; {json.dumps(meta)}")
    for n in roles["exact"]:
        print(f"  torch {n}: {ref[n].tolist()}")
    report = {"onnx": os.path.abspath(a.out), "meta": meta, "tolerance": a.tol,
              "min_label_agreement": a.min_label_agreement, "results": {}}
    passed = True
    sides = [("onnxruntime", lambda: run_ort(a.out, feeds, a.threads)),
             ("openvino f32", lambda: run_openvino(a.out, feeds, a.threads, "f32", out_names))]
    if a.bf16:
        sides.append(("openvino bf16", lambda: run_openvino(a.out, feeds, a.threads, "bf16", out_names)))
    got_f32 = None
    for name, fn in sides:
        t0 = time.perf_counter()
        got, version = fn()
        print(f"{version}: {time.perf_counter() - t0:.1f} s (compile + first frame)")
        enforce = name != "openvino bf16"
        ok, fig = compare(name, ref, got, roles, a.tol, a.min_label_agreement, enforce)
        fig["version"] = version
        if name == "openvino f32":
            got_f32 = got
        if name == "openvino bf16" and got_f32 is not None:
            for n in roles["labels"]:
                agree = float((got[n] == got_f32[n]).mean())
                fig[f"{n}_agreement_vs_openvino_f32"] = agree
                print(f"  {name:16s} {n:18s} identical pixels against OpenVINO f32 {agree:.4%} (reported only)")
        fig["checked"] = "pass" if (ok and enforce) else ("reported only" if not enforce else "FAIL")
        report["results"][name] = fig
        passed &= ok
    report["passed"] = bool(passed)
    with open(check_path(a.out), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"{'PASS' if passed else 'FAIL'}: {check_path(a.out)}")
    if not passed:
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn in (("export", cmd_export), ("check", cmd_check)):
        p = sub.add_parser(name)
        p.add_argument("--model", default="errseg", choices=sorted(MODELS))
        p.add_argument("--variant", default="b", help="errseg: b | l | tiny")
        p.add_argument("--t", type=int, default=150, help="vocabulary size T")
        p.add_argument("--k", type=int, default=32, help="CRM K (classes kept)")
        p.add_argument("--seed", type=int, default=0, help="seed of the random weights and of the input")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--out", required=True, help="path of the .onnx (the inputs and the check report go beside)")
        if name == "export":
            p.add_argument("--opset", type=int, default=None, 
                           help="ONNX opset (default: torch.onnx's own, 20 with torch 2.13)")
        else:
            p.add_argument("--tol", type=float, default=1e-4, help="max abs diff allowed on the float outputs")
            p.add_argument("--min-label-agreement", type=float, default=0.999)
            p.add_argument("--bf16", action="store_true", help="also OpenVINO at bf16 (reported, never fails)")
        p.set_defaults(fn=fn)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
