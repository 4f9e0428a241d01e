#!/usr/bin/env bash
# How far `--precision bf16` moves the results from fp32: the same model, weights, vocabulary and pictures run at
# both precisions, then per picture the share of pixels whose label is the same and whether the model's class
# selection (ERR-Seg's CRM `selected_ids`, where the JSON lines carry one) is identical.
#
#   Scripts/bench/precision-agreement.sh [--models errseg-b,sed-b,eovseg-s] [--weights random|checkpoint]
#                                        [--vocab FILE] [--out DIR] [PICTURE...]
#
# Defaults: the three models above with seeded random weights (`--weights random`; with `checkpoint` the model
# names resolve to the released checkpoints in the model folder, see the README), ADE-150 with its synonyms
# (../shared/data/vocab-synonyms), and the parity photographs (Scripts/parity/fetch-photos.sh: coffee, chelsea,
# astronaut, rocket) plus Samples/still.png. Needs a CPU with AVX512_BF16 (otherwise both runs are fp32 and the
# script says so). VOCASEG_BIN=path skips the release build.
#
# Random weights say how much the rounding moves logits that are NOT trained: their class scores are close
# together, so a small change flips more labels than it would with a trained model's separated scores. Treat the
# figures as a bound to re-measure with real weights, not as the accuracy cost of bf16.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${VOCASEG_PYTHON:-$repo/.venv/bin/python3}"
[ -x "$python" ] || python=python3

models="errseg-b,sed-b,eovseg-s" weights=random vocab="" out=""
pictures=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    --vocab) vocab="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "precision-agreement.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) pictures+=("$1"); shift ;;
  esac
done
out="${out:-/tmp/precision-agreement-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$out/pictures"
if [[ -z "$vocab" ]]; then
  vocab="$out/ade150_synonyms.txt"
  grep -v ':invalid_class_id' "$repo/../shared/data/vocab-synonyms/ade20k_150.txt" | cut -d: -f2- >"$vocab"
fi
if [[ ${#pictures[@]} -eq 0 ]]; then
  "$repo/Scripts/parity/fetch-photos.sh" "$out/pictures"
  cp "$repo/Samples/still.png" "$out/pictures/still.png"
else
  for p in "${pictures[@]}"; do
    [[ -f "$p" ]] || { echo "precision-agreement.sh: $p: no such file" >&2; exit 2; }
    cp "$p" "$out/pictures/"
  done
fi
if [[ -n "${VOCASEG_BIN:-}" ]]; then
  bin="$VOCASEG_BIN"
else
  echo "== building vocaseg (release)"
  (cd "$repo" && swift build -c release --product vocaseg 2>&1 | grep -E "error|Build of" | tail -2)
  bin="$(cd "$repo" && swift build -c release --show-bin-path)/vocaseg"
fi

IFS=',' read -r -a model_list <<<"$models"
for model in "${model_list[@]}"; do
  for precision in fp32 bf16; do
    dir="$out/$model/$precision"
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== $model $precision"
    "$bin" segment "$out/pictures" -o "$dir/overlays/" --model "$model" --weights "$weights" --vocab "$vocab" \
      --precision "$precision" --masks "$dir/masks" --jsonl "$dir/results.jsonl" --progress never >"$dir/log.txt" 2>&1 \
      || { echo "precision-agreement.sh: vocaseg segment failed, see $dir/log.txt" >&2; tail -3 "$dir/log.txt" >&2; exit 1; }
  done
done

"$python" - "$out" "${model_list[@]}" <<'PY'
import json, os, sys
import numpy as np
from PIL import Image

out, models = sys.argv[1], sys.argv[2:]

def frames(path):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    return lines[0], {f.get("image", str(f.get("index"))): f for f in lines[1:] if f.get("type") != "header"}

print(f"\n{'model':10s} {'picture':16s} {'labels equal':>13s} {'selection':>10s}")
for model in models:
    header, f32 = frames(os.path.join(out, model, "fp32", "results.jsonl"))
    hb, b16 = frames(os.path.join(out, model, "bf16", "results.jsonl"))
    ran = hb.get("model_settings", {}).get("precision", "fp32")
    if ran != "bf16":
        print(f"{model}: the bf16 run ran at {ran} (no AVX512_BF16 here?), nothing to compare")
        continue
    total_equal = total_pixels = 0
    same_selection = selections = 0
    for name in sorted(f32):
        stem = os.path.splitext(name)[0]
        a = np.array(Image.open(os.path.join(out, model, "fp32", "masks", stem + ".png")))
        b = np.array(Image.open(os.path.join(out, model, "bf16", "masks", stem + ".png")))
        assert a.shape == b.shape, (name, a.shape, b.shape)
        equal = int((a == b).sum())
        total_equal += equal
        total_pixels += a.size
        sel = "-"
        if "selected_ids" in f32[name] and "selected_ids" in b16.get(name, {}):
            same = f32[name]["selected_ids"] == b16[name]["selected_ids"]
            sel = "identical" if same else "differs"
            same_selection += same
            selections += 1
        print(f"{model:10s} {stem:16s} {100 * equal / a.size:12.2f}% {sel:>10s}")
    summary = f"{model:10s} {'all':16s} {100 * total_equal / total_pixels:12.2f}%"
    if selections:
        summary += f" {same_selection}/{selections} identical"
    print(summary)
PY
