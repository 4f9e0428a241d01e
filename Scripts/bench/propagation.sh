#!/usr/bin/env bash
# Keyframes and motion-vector propagation, measured: for each motion clip (Scripts/make-samples.sh --motion) and
# each setting, the end-to-end frame rate and how well each frame's labels agree with per-frame inference on that
# frame (pixel agreement, and mean IoU over the classes present in either map).
#
#   Scripts/bench/propagation.sh [N]          N: the keyframe spacing of the every:N settings (default 4)
#
# Settings: per-frame inference (every:1, the reference), hold (--keyframes every:N --propagate hold, what --every N
# did before), propagation (every:N --propagate motion) and auto (--keyframes auto). Model: ERR-Seg B with seeded
# random weights at --size 320 (its label maps follow the image content, though they mean nothing), release build,
# 2 threads. The stand-in model with exact ground truth is measured by the tests:
#   swift test --filter PropagationTests
# Environment: WORK (scratch folder, default /tmp/vocaseg-propagation), VOCASEG_BIN (a built vocaseg), LOCK (flock
# file held around the build and every timed run, default /tmp/vocaseg-build.lock; empty: none).
set -euo pipefail
cd "$(dirname "$0")/../.."
gap="${1:-4}"
work="${WORK:-/tmp/vocaseg-propagation}"
lock="${LOCK-/tmp/vocaseg-build.lock}"
locked() { if [[ -n "$lock" ]]; then flock "$lock" "$@"; else "$@"; fi; }
python="${VOCASEG_PYTHON:-$( [[ -x .venv/bin/python3 ]] && echo .venv/bin/python3 || echo python3 )}"
"$python" -c "import numpy" 2>/dev/null || { echo "propagation.sh: $python has no numpy" >&2; exit 2; }

bin="${VOCASEG_BIN:-}"
if [[ -z "$bin" ]]; then
    locked swift build -c release --product vocaseg >&2
    bin="$(swift build -c release --show-bin-path)/vocaseg"
fi
mkdir -p "$work"
bash Scripts/make-samples.sh --motion "$work/clips" >&2

common=(--weights random --size 320 --classes "cup, saucer, table, coffee, cat, wall, plate, spoon, floor, person"
        --threads 2 --progress never -q)
settings=("per-frame|--keyframes every:1"
          "hold every:$gap|--keyframes every:$gap --propagate hold"
          "propagate every:$gap|--keyframes every:$gap --propagate motion"
          "auto|--keyframes auto")
rows="$work/rows.tsv"
: > "$rows"
for clip in pan_slow pan_fast zoom crossing; do
    for setting in "${settings[@]}"; do
        name="${setting%%|*}"
        read -r -a flags <<< "${setting#*|}"
        out="$work/$clip/${name// /_}"
        rm -rf "$out" && mkdir -p "$out"
        echo "== $clip, $name" >&2
        locked "$bin" segment "$work/clips/$clip.mp4" -o "$out/overlay.mp4" --masks "$out/masks" \
            --jsonl "$out/frames.jsonl" --timings "$out/timings.json" "${common[@]}" "${flags[@]}"
        printf '%s\t%s\t%s\n' "$clip" "$name" "$out" >> "$rows"
    done
done

"$python" - "$rows" <<'PY'
import json, subprocess, sys
import numpy as np

def label_maps(folder):
    """Every label-map PNG of a folder as class indices (pal8 rawvideo: the index plane, then a 1024-byte palette)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "csv=p=0", f"{folder}/000000.png"], capture_output=True, text=True, check=True)
    w, h = map(int, probe.stdout.strip().split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", f"{folder}/%06d.png", "-f", "rawvideo", "-pix_fmt", "pal8",
                          "-"], capture_output=True, check=True).stdout
    frame = w * h + 1024
    n = len(raw) // frame
    return np.frombuffer(raw, np.uint8)[: n * frame].reshape(n, frame)[:, : w * h].reshape(n, h, w)

def agreement(maps, truth):
    pixel = float((maps == truth).mean())
    ious = []
    for a, b in zip(maps, truth):
        for c in np.union1d(np.unique(a), np.unique(b)):
            inter = np.logical_and(a == c, b == c).sum()
            union = np.logical_or(a == c, b == c).sum()
            ious.append(inter / union)
    return pixel, float(np.mean(ious))

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
truth = {}
print("| clip | setting | inferred / frames | frames/s | speed-up | pixel agreement | mean IoU |")
print("|---|---|---|---|---|---|---|")
base_fps = {}
for clip, name, out in rows:
    report = json.load(open(f"{out}/timings.json"))[0]
    fps = report["frames"] / report["wallSeconds"]
    maps = label_maps(f"{out}/masks")
    if name == "per-frame":
        truth[clip], base_fps[clip] = maps, fps
    pixel, miou = agreement(maps, truth[clip])
    print(f"| {clip} | {name} | {report['inferredFrames']} / {report['frames']} | {fps:.2f} | "
          f"{fps / base_fps[clip]:.2f}x | {100 * pixel:.2f} % | {100 * miou:.2f} % |")
PY
