#!/usr/bin/env bash
# SED on video: does carrying CER's survivors from one frame to the next (`--cer-refresh N`: later frames start from
# the classes that survived the first CER point of the frame where the choice was made, re-chosen every N inferred
# frames and at scene cuts) pay? For each N, runs `vocaseg segment` over the same clip and reports:
#   ms/frame      p50 of the inference stage (from --timings)
#   changed       pixels whose label differs from the previous frame's, mean over frames (label flicker)
#   agreement     pixels whose label equals the N = 1 run's on the same frame (N = 1 is the original behaviour)
#   candidates    classes the frames started from, mean (from the JSON lines' `selected`: the final survivors)
#
#   Scripts/bench/sed-video.sh [CLIP] [--refresh "1 4 8 16"] [--frames F] [--size S] [--vocab FILE] [--weights W]
#
# Defaults: Samples/clip_640x360_aac.mp4 cut to its first 24 frames, refresh 1 4 8 16, network input 384 (a quarter
# of the 768 work, the trade-off is the same), ADE-150 with synonyms, seeded random weights (the only ones here;
# with random weights SED's CER keeps most classes, so the speed-up from seeding is a floor). VOCASEG_BIN overrides
# the binary (default .build/release/vocaseg). Runs hold LOCK (/tmp/vocaseg-build.lock).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${VOCASEG_PYTHON:-$repo/.venv/bin/python3}"
[ -x "$python" ] || python=python3
clip="$repo/Samples/clip_640x360_aac.mp4" refresh="1 4 8 16" frames=24 size=384 weights=random vocab=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --refresh) refresh="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --vocab) vocab="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "sed-video.sh: unknown option $1" >&2; exit 2 ;;
    *) clip="$1"; shift ;;
  esac
done
bin="${VOCASEG_BIN:-$repo/.build/release/vocaseg}"
[[ -x "$bin" ]] || { echo "sed-video.sh: no vocaseg at $bin (swift build -c release)" >&2; exit 1; }
lock="${LOCK-/tmp/vocaseg-build.lock}"
out="$(mktemp -d /tmp/sed-video.XXXXXX)"
if [[ -z "$vocab" ]]; then
  vocab="$out/ade150.txt"
  grep -v ':invalid_class_id' "$repo/../shared/data/vocab-synonyms/ade20k_150.txt" | sed 's/^[0-9]*://' >"$vocab"
fi
cut="$out/clip.mp4"
ffmpeg -v error -i "$clip" -frames:v "$frames" -an -c:v libx264 -crf 18 "$cut"
echo "== SED (B) at $size on $(basename "$clip") (first $frames frames), refresh $refresh; work in $out"
for n in $refresh; do
  args=(segment "$cut" --model sed-b --weights "$weights" --size "$size" --vocab "$vocab" --cer-refresh "$n"
        -o "$out/r$n.mp4" --masks "$out/r$n.masks" --jsonl "$out/r$n.jsonl" --timings "$out/r$n.timings.json" -q)
  if [[ -n "$lock" ]]; then flock "$lock" "$bin" "${args[@]}"; else "$bin" "${args[@]}"; fi
  echo "   refresh $n done"
done
"$python" - "$out" $refresh <<'EOF'
import glob, json, os, sys
import numpy as np
from PIL import Image
out, ns = sys.argv[1], sys.argv[2:]
def masks(n):
    files = sorted(glob.glob(os.path.join(out, f"r{n}.masks", "*.png")))
    return [np.array(Image.open(f)) for f in files]
base = masks(ns[0])
print(f"\n{'refresh':>7} {'ms/frame':>9} {'changed':>8} {'agreement':>10} {'kept classes':>13}")
for n in ns:
    m = masks(n)
    t = json.load(open(os.path.join(out, f"r{n}.timings.json")))
    stages = (t[0] if isinstance(t, list) else t)["timings"]
    inf = next(s for s in stages if s["stage"] == "inference")
    changed = np.mean([np.mean(a != b) for a, b in zip(m, m[1:])]) if len(m) > 1 else 0.0
    agree = np.mean([np.mean(a == b) for a, b in zip(m, base)])
    kept = [len(json.loads(l).get("selected", [])) for l in open(os.path.join(out, f"r{n}.jsonl")) if '"type":"header"' not in l]
    print(f"{n:>7} {inf['p50Milliseconds']:9.0f} {100 * changed:7.2f}% {100 * agree:9.2f}% {np.mean(kept):13.1f}")
EOF
