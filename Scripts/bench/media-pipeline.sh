#!/usr/bin/env bash
# Media-side figures for the closing notes, from one run (release build):
#  1. overlay + encode frames/s at 1920x1080 inside the real pipeline, next to plain
#     `ffmpeg -i same.mp4 -c:v libx264 -preset veryfast -crf 20` on the same clip, as a ratio;
#  2. peak RSS of `vocaseg segment` over a 3000-frame input against a 300-frame one (memory must not grow with
#     the input's length).
# The model is ERR-Seg B with seeded random weights at a tiny input size, so that the media path dominates.
set -euo pipefail
cd "$(dirname "$0")/../.."
# VOCASEG_BIN: use an already built release binary instead of building one here.
if [ -z "${VOCASEG_BIN:-}" ]; then swift build -c release --product vocaseg >/dev/null; fi
bin=${VOCASEG_BIN:-.build/release/vocaseg}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
clip=Samples/bench_1080p.mp4
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$clip")

echo "== overlay + encode at 1080p ($clip, $frames frames)"
$bin bench --input "$clip" --weights random --size 64 --classes 5 --frames $((frames - 2)) --warmup 2 \
    --json "$tmp/bench.json" >/dev/null
start=$(date +%s.%N)
ffmpeg -v error -y -i "$clip" -c:v libx264 -preset veryfast -crf 20 -an "$tmp/ffmpeg.mp4"
end=$(date +%s.%N)
python3 - "$tmp/bench.json" "$start" "$end" "$frames" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
stages = {s["stage"]: s for s in r["stages"]}
overlay = stages["overlay"]["p50Milliseconds"]
write = stages["write"]["p50Milliseconds"]
ffmpeg_fps = int(sys.argv[4]) / (float(sys.argv[3]) - float(sys.argv[2]))
ours = 1000.0 / max(overlay, write)   # the two stages run concurrently: the slower one bounds the rate
print(f"overlay p50 {overlay:.1f} ms, encode+write p50 {write:.1f} ms -> {ours:.1f} frames/s through overlay+encode")
print(f"pipeline end to end: {r['endToEndFPS']:.1f} frames/s")
print(f"ffmpeg decode+encode (libx264 veryfast crf 20): {ffmpeg_fps:.1f} frames/s")
print(f"ratio ours/ffmpeg: {ours / ffmpeg_fps:.2f}")
PY

echo "== peak RSS, 300 vs 3000 frames (320x180, model every 10th frame)"
for n in 300 3000; do
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=320x180:rate=30" -frames:v $n -c:v libx264 -preset ultrafast \
        -pix_fmt yuv420p "$tmp/long$n.mp4"
    /usr/bin/time -f "%M" -o "$tmp/rss$n" $bin segment "$tmp/long$n.mp4" --weights random --size 64 \
        --classes "a, b, c" --every 10 -o "$tmp/out$n.mp4" --progress never -q
    echo "$n frames: peak RSS $(( $(cat "$tmp/rss$n") / 1024 )) MiB"
done
