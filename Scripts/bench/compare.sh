#!/usr/bin/env bash
# Speed of our ERR-Seg against the PyTorch reference (Scripts/reference/errseg.py) on the same random checkpoint,
# input size, vocabulary size, K and thread count. The two run alternately within one invocation (round r runs
# both; the side that goes first alternates), so that a change in machine load hits both alike. Prints the
# per-frame times of every round, the medians, the ratio ours/PyTorch and our GFLOP/s.
#
#   Scripts/bench/compare.sh [--variant b|l] [--size N] [--classes T] [--crm-k K] [--threads N] [--rounds R]
#                            [--frames F] [--checkpoint PATH] [--out DIR] [--runtimes LIST]
#
# Defaults: B at 640, T = 150, K = 32, 2 threads, 3 rounds of 1 timed frame each (after 1 warm-up frame).
#
# --runtimes: comma-separated sides, default ours,torch (the output of earlier versions). Also: ours-bf16 (ours with
# `--precision bf16`), ort (ONNX Runtime,
# CPU EP), openvino (CPU, f32), openvino-bf16 (CPU, bf16: OpenVINO's own default on a CPU with BF16, reported
# apart because it changes the numbers). These run the reference's per-frame forward exported to ONNX
# (Scripts/reference/export_onnx.py; same seed-0 weights and input as the torch side), exported and checked against
# PyTorch once (class selection identical, logits within 1e-4, label maps >= 99.9 % identical; the run stops if a
# check fails) and cached in VOCASEG_ONNX_CACHE (default /tmp/vocaseg-onnx), keyed by variant, T, K, seed and a
# hash of the reference's sources. Timed by Scripts/reference/runtime_bench.py after 2 warm-up frames (ONNX
# Runtime's second frame is still ~50 % slow). Every round runs every side; the side that goes first rotates from
# round to round.
#
# EOV-Seg: --variant eovseg-s|eovseg-m|eovseg-l compares at the spec's 640×864 input (an 854×640 frame, resized
# and padded by the model; the reference gets the padded tensor) with ADE-150 and its synonyms (T = 404 rows with
# void). Both sides use seeded random weights (ours: `--weights random`; the reference: its in-process random
# model); ours is `vocaseg bench`'s "inference" stage, which includes the post-processing at the frame size
# (masks resized, panoptic inference, semantic map), the reference's its forward plus the same post-processing
# (`eovseg.py bench --frame-width 854`: the original's inference returns both too).
# Environment: VOCASEG_BIN=path (skip the build and use this vocaseg), SCRATCH=.scratch/bench-compare.
#
# What is timed, per frame, warm-up excluded, text encoding excluded on both sides:
#   ours     `vocaseg bench --model CHECKPOINT` stage "inference" (ERRSegModel.segment: backbone + head + label map
#            at the frame size; the official preprocessing is a separate stage and not counted)
#   PyTorch  `errseg.py bench` wall time of forward_intermediates (model input already at the CLIP size; it
#            resizes all T probability maps before the argmax, ours only the K selected ones, as spec §2.10 allows)
# The reference bench builds its random weights in process with seed 0 / fp32, which is exactly what
# `errseg.py write-checkpoint --seed 0` stores, so both run the same weights. The reference has no input-size
# option: --size must be the variant's own (640 for B, 768 for L).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# The reference's Python: the virtual environment `Scripts/setup.sh --reference` makes, unless VOCASEG_PYTHON says.
python="${VOCASEG_PYTHON:-$repo/.venv/bin/python3}"
[ -x "$python" ] || python=python3

variant=b size="" classes=150 k=32 threads=2 rounds=3 frames=1 checkpoint="" out="" runtimes="ours,torch"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --variant) variant="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --classes) classes="$2"; shift 2 ;;
    --crm-k) k="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --checkpoint) checkpoint="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --runtimes) runtimes="$2"; shift 2 ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$variant" in
  b) native=640 ;;
  l) native=768 ;;
  eovseg-s|eovseg-m|eovseg-l) native=640 ;;
  *) echo "compare.sh: --variant must be b, l, eovseg-s, eovseg-m or eovseg-l" >&2; exit 2 ;;
esac
eov=0
[[ "$variant" == eovseg-* ]] && eov=1
size="${size:-$native}"
if [[ "$size" != "$native" ]]; then
  echo "compare.sh: the reference bench runs ERR-Seg ($variant) only at its own size $native, not $size" >&2
  exit 2
fi
for n in "$classes" "$k" "$threads" "$rounds" "$frames"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: counts must be positive integers (got $n)" >&2; exit 2; }
done
IFS=, read -r -a sides <<<"$runtimes"
[[ ${#sides[@]} -gt 0 ]] || { echo "compare.sh: --runtimes is empty" >&2; exit 2; }
onnx_needed=0
for side in "${sides[@]}"; do
  case "$side" in
    ours|ours-bf16|torch) ;;
    ort|openvino|openvino-bf16) onnx_needed=1 ;;
    *) echo "compare.sh: --runtimes takes ours, ours-bf16, torch, ort, openvino, openvino-bf16 (got $side)" >&2; exit 2 ;;
  esac
done
if ((onnx_needed)) && ((eov)); then
  echo "compare.sh: --runtimes ort/openvino is not available for $variant yet (ERR-Seg b and l only)" >&2
  exit 2
fi
checkpoint="${checkpoint:-/tmp/errseg_${variant}_random.pth}"
out="${out:-/tmp/bench-compare-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$out"

if ((eov)); then
  # ADE-150 with its synonyms as a VocaSeg vocabulary file (one class per line, synonyms comma-separated).
  vocab_file="$out/ade150_synonyms.txt"
  grep -v ':invalid_class_id' "$repo/../shared/data/vocab-synonyms/ade20k_150.txt" | cut -d: -f2- >"$vocab_file"
elif [[ ",$runtimes," == *,ours[,-]* && ! -f "$checkpoint" ]]; then
  echo "== writing random checkpoint $checkpoint (seed 0, fp32)"
  "$python" "$repo/Scripts/reference/errseg.py" write-checkpoint --size "$variant" --seed 0 --storage fp32 --out "$checkpoint"
fi
if [[ ",$runtimes," != *,ours[,-]* ]]; then
  bin=""
elif [[ -n "${VOCASEG_BIN:-}" ]]; then
  bin="$VOCASEG_BIN"
else
  scratch="${SCRATCH:-$repo/.scratch/bench-compare}"
  echo "== building vocaseg (release, $scratch)"
  (cd "$repo" && swift build -c release --product vocaseg --scratch-path "$scratch" 2>&1 | grep -E "error|Compiling|Build complete" | tail -3)
  bin="$(cd "$repo" && swift build -c release --scratch-path "$scratch" --show-bin-path)/vocaseg"
fi
[[ -z "$bin" || -x "$bin" ]] || { echo "compare.sh: no vocaseg binary at $bin" >&2; exit 1; }

if ((onnx_needed)); then
  # Export once per variant/T/K/seed and version of the reference's code; check it against PyTorch before any
  # timing (with OpenVINO bf16 too, whose label agreement the summary reports). Not timed.
  refdir="$repo/Scripts/reference"
  src_hash="$(cat "$refdir"/errseg_ref/*.py "$refdir/errseg.py" "$refdir/export_onnx.py" | sha256sum | cut -c1-10)"
  onnx_dir="${VOCASEG_ONNX_CACHE:-/tmp/vocaseg-onnx}"
  onnx="$onnx_dir/errseg-$variant-t$classes-k$k-s0-$src_hash.onnx"
  onnx_check="${onnx%.onnx}.check.json"
  mkdir -p "$onnx_dir"
  if [[ ! -f "$onnx" || ! -f "${onnx%.onnx}.inputs.npz" ]]; then
    echo "== exporting the reference's forward to $onnx"
    "$python" "$refdir/export_onnx.py" export --model errseg --variant "$variant" --t "$classes" --k "$k" --seed 0 \
      --threads "$threads" --out "$onnx" >"$out/export.log" 2>&1 \
      || { echo "compare.sh: ONNX export failed, see $out/export.log" >&2; tail -5 "$out/export.log" >&2; exit 1; }
  fi
  if ! "$python" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["passed"] else 1)' "$onnx_check" 2>/dev/null; then
    echo "== checking ONNX Runtime and OpenVINO against PyTorch on the exported graph"
    if ! "$python" "$refdir/export_onnx.py" check --model errseg --variant "$variant" --t "$classes" --k "$k" --seed 0 \
        --threads "$threads" --bf16 --out "$onnx" >"$out/check.log" 2>&1; then
      grep -E "PASS|FAIL|identical|Error" "$out/check.log" >&2
      echo "compare.sh: the exported graph does not match PyTorch (see $out/check.log); not timing it" >&2
      exit 1
    fi
  fi
  cp "$onnx_check" "$out/onnx_check.json"
fi

if ((eov)); then
  echo "== EOV-Seg ($variant) at 640x864, ADE-150 with synonyms, $threads threads, $rounds rounds x $frames frame(s) after 1 warm-up; logs in $out"
else
  echo "== ERR-Seg ($variant) at $size, T=$classes, K=$k, $threads threads, $rounds rounds x $frames frame(s) after 1 warm-up; logs in $out"
fi
[[ "$runtimes" == "ours,torch" ]] || echo "   runtimes: ${sides[*]}"
run_ours() {  # $1 = round, $2 = fp32 | bf16 (`--precision`; side ours-bf16)
  local precision="${2:-fp32}" name=ours
  [[ "$precision" == bf16 ]] && name=ours-bf16
  if ((eov)); then
    "$bin" bench --model "$variant" --weights random --frame 854x640 --vocab "$vocab_file" --precision "$precision" \
      --threads "$threads" --frames "$frames" --warmup 1 --json "$out/${name}_$1.json" >"$out/${name}_$1.log" 2>&1 \
      || { echo "compare.sh: vocaseg bench failed, see $out/${name}_$1.log" >&2; tail -5 "$out/${name}_$1.log" >&2; exit 1; }
    return
  fi
  "$bin" bench --model "$checkpoint" --weights checkpoint --size "$size" --classes "$classes" --crm-k "$k" \
    --precision "$precision" --threads "$threads" --frames "$frames" --warmup 1 --json "$out/${name}_$1.json" \
    >"$out/${name}_$1.log" 2>&1 \
    || { echo "compare.sh: vocaseg bench failed, see $out/${name}_$1.log" >&2; tail -5 "$out/${name}_$1.log" >&2; exit 1; }
}
run_ref() {
  if ((eov)); then
    "$python" "$repo/Scripts/reference/eovseg.py" bench --size "${variant#eovseg-}" --height 640 --width 864 --frame-width 854 \
      --threads "$threads" --runs "$frames" --warmup 1 --json "$out/ref_$1.json" >"$out/ref_$1.log" 2>&1 \
      || { echo "compare.sh: reference bench failed, see $out/ref_$1.log" >&2; tail -5 "$out/ref_$1.log" >&2; exit 1; }
    return
  fi
  "$python" "$repo/Scripts/reference/errseg.py" bench --size "$variant" --t "$classes" --k "$k" --threads "$threads" \
    --runs "$frames" --warmup 1 --json "$out/ref_$1.json" >"$out/ref_$1.log" 2>&1 \
    || { echo "compare.sh: reference bench failed, see $out/ref_$1.log" >&2; tail -5 "$out/ref_$1.log" >&2; exit 1; }
}
run_runtime() {  # $1 = ort | openvino | openvino-bf16, $2 = round
  local rt=ort precision=f32
  case "$1" in openvino) rt=openvino ;; openvino-bf16) rt=openvino precision=bf16 ;; esac
  "$python" "$repo/Scripts/reference/runtime_bench.py" --onnx "$onnx" --runtime "$rt" --precision "$precision" \
    --threads "$threads" --runs "$frames" --warmup 2 --json "$out/rt_$1_$2.json" >"$out/rt_$1_$2.log" 2>&1 \
    || { echo "compare.sh: $1 bench failed, see $out/rt_$1_$2.log" >&2; tail -5 "$out/rt_$1_$2.log" >&2; exit 1; }
}
run_side() {  # $1 = side, $2 = round
  case "$1" in
    ours) run_ours "$2" ;;
    ours-bf16) run_ours "$2" bf16 ;;
    torch) run_ref "$2" ;;
    *) run_runtime "$1" "$2" ;;
  esac
}
n=${#sides[@]}
for ((r = 1; r <= rounds; r++)); do
  # Rotate: round r starts with side (r-1) mod n (for ours,torch: ours first in odd rounds, as before).
  for ((j = 0; j < n; j++)); do
    side="${sides[$(((r - 1 + j) % n))]}"
    start=$SECONDS
    run_side "$side" "$r"
    label="$side"
    [[ "$side" == torch ]] && label=ref
    echo "   round $r: $label done in $((SECONDS - start)) s (load average $(cut -d' ' -f1 /proc/loadavg))"
  done
done

if [[ "$runtimes" != "ours,torch" ]]; then
  # Any other selection of sides: one table for all of them (the ours,torch summary below is kept as it was).
  "$python" "$here/compare_summary.py" "$out" "$rounds" "$runtimes"
  exit 0
fi

"$python" - "$out" "$rounds" <<'EOF'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ours_ms, ref_ms, ref_cpu, gflop, sgemm = [], [], [], None, []
print(f"\n{'round':>5} {'ours ms/frame':>14} {'PyTorch ms/frame':>17} {'PyTorch CPU ms':>15} {'ours/PyTorch':>13}")
for r in range(1, rounds + 1):
    o = json.load(open(os.path.join(out, f"ours_{r}.json")))
    p = json.load(open(os.path.join(out, f"ref_{r}.json")))
    inf = next(s for s in o["stages"] if s["stage"] == "inference")
    # p50 over this round's timed frames (with one frame: that frame).
    ours_ms.append(inf["p50Milliseconds"])
    ref_ms.extend(p["wall_ms"])
    ref_cpu.extend(p["cpu_ms"])
    sgemm.append(o["machine"]["sgemmGFLOPS"])
    gflop = sum(c["gflop"] for c in o["compute"]) or None
    print(f"{r:5d} {ours_ms[-1]:14.0f} {statistics.median(p['wall_ms']):17.0f} {statistics.median(p['cpu_ms']):15.0f} "
          f"{ours_ms[-1] / statistics.median(p['wall_ms']):13.3f}")
mo, mr, mc = statistics.median(ours_ms), statistics.median(ref_ms), statistics.median(ref_cpu)
print(f"\nmedian per frame: ours {mo:.0f} ms, PyTorch {mr:.0f} ms wall ({mc:.0f} ms CPU, "
      f"{len(ref_ms)} frames; ours over {len(ours_ms)} rounds)")
print(f"ratio ours/PyTorch (wall): {mo / mr:.3f}  (PyTorch/ours = {mr / mo:.2f}x)")
ref_gflop = p.get("gflop_per_frame")
if gflop:
    source = "vocaseg bench's model count"
elif ref_gflop:
    # ERRSegModel reports no multiply-accumulate count to vocaseg bench (no ComputeCostReporting): use PyTorch's
    # FlopCounterMode count of the same forward (same T, K, input size; element-wise ops not counted).
    gflop, source = ref_gflop, "PyTorch FlopCounterMode count of the same forward"
if gflop:
    print(f"ours: {gflop / (mo / 1000):.1f} GFLOP/s at the median ({gflop:.1f} GFLOP/frame, {source}); "
          f"PyTorch: {gflop / (mr / 1000):.1f} GFLOP/s; sgemm ceiling measured by vocaseg bench: "
          f"median {statistics.median(sgemm):.1f} GFLOP/s")
    last = json.load(open(os.path.join(out, f"ours_{rounds}.json")))
    for c in last["compute"]:
        print(f"  {c['stage']:12s} {c['gflop']:8.1f} GFLOP  {c['gflopsAtP50']:7.1f} GFLOP/s at p50 (round {rounds})")
last_o = json.load(open(os.path.join(out, f"ours_{rounds}.json")))
stages = {s["stage"]: s["p50Milliseconds"] for s in last_o["stages"]}
print("ours by stage (round %d, p50 ms): %s" % (rounds, ", ".join(
    f"{k.removeprefix('inference.')} {v:.0f}" for k, v in stages.items() if k.startswith("inference."))))
print("PyTorch by stage (round %d, wall ms): %s" % (rounds, ", ".join(
    f"{st['stage']} {st['wall_ms']:.0f}" for st in p["stages"])))
print(f"settings: {json.dumps(last_o['settings'])}; reference torch {p['torch']}, "
      f"{p['torch_threads']} threads; machine {o['machine']['cpu']}, {o['machine']['cores']} cores")
EOF
