#!/usr/bin/env bash
# Throughput of the shared queue with 1, 2 and 3 workers on this one machine, with the test model (WatchHarness's
# stand-in, which spends --frame-delay seconds per frame in place of inference). The workers share the cores, so
# this measures the queue's overhead (claims, heartbeats, fenced commits, one process per job), not scaling.
#
#   Scripts/bench/farm.sh [JOBS] [FRAMES] [FRAME_DELAY]     # defaults: 24 clips of 25 frames, 0.02 s per frame
#
# Needs a build with the test harness (swift build --build-tests, or -c release: VOCASEG_BUILD=.build/release).
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs="${1:-24}"; frames="${2:-25}"; delay="${3:-0.02}"
build="${VOCASEG_BUILD:-.build/debug}"
for b in vocaseg WatchHarness; do
    [ -x "$build/$b" ] || { echo "farm.sh: $build/$b missing (swift build --build-tests)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/vocaseg-farm-bench.XXXXXX)"
chmod 755 "$work"
trap 'bash Scripts/test-postgres.sh stop "$work/pg" >/dev/null 2>&1; rm -rf "$work"' EXIT
base="$(bash Scripts/test-postgres.sh start "$work/pg")"
printf 'vocabulary: [left, middle, right]\noutputs:\n  jsonl: true\n  overlay:\n    labels: false\n    legend: false\n' \
    > "$work/pipeline.yaml"
mkdir -p "$work/clips"
for i in $(seq 1 "$jobs"); do
    ffmpeg -v error -f lavfi -i "testsrc2=size=320x180:rate=25:duration=$(awk -v f="$frames" 'BEGIN { print f / 25 }')" \
        -vf "hue=h=$((i * 15))" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -y "$work/clips/c$i.mp4"
done
touch -d '1 minute ago' "$work"/clips/*

echo "| workers | jobs | frames | wall s | jobs/min | frames/s |"
echo "|---|---|---|---|---|---|"
for n in 1 2 3; do
    db="farm$n"
    psql "$base" -XAtq -c "CREATE DATABASE $db"
    url="$(printf %s "$base" | sed "s#/postgres?host=#/$db?host=#")"
    rm -rf "$work/inbox" "$work/out"; mkdir -p "$work/inbox" "$work/out"
    cp -p "$work"/clips/*.mp4 "$work/inbox/"
    "$build/vocaseg" watch "$work/inbox" --pipeline "$work/pipeline.yaml" --out "$work/out" --queue "$url" \
        --jobs 0 --once --settle 0 -q 2>/dev/null
    start=$(date +%s.%N)
    pids=()
    for w in $(seq 1 "$n"); do
        "$build/WatchHarness" --queue "$url" --farm-worker --once --name "w$w" --frame-delay "$delay" \
            --lease 30 --heartbeat 10 --poll 0.2 2>"$work/w$n-$w.log" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    end=$(date +%s.%N)
    done_jobs=$(psql "$url" -XAtq -c "SELECT count(*) FROM vocaseg_job WHERE state = 'done'")
    awk -v n="$n" -v j="$done_jobs" -v f="$frames" -v s="$start" -v e="$end" 'BEGIN {
        w = e - s; printf "| %d | %d | %d | %.1f | %.1f | %.1f |\n", n, j, j * f, w, j * 60 / w, j * f / w }'
done
