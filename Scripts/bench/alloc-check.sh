#!/usr/bin/env bash
# Do steady-state frames map new memory? Runs `vocaseg bench` (random ERR-Seg weights, synthetic frame) twice under
# strace, with N and 2N timed frames, and counts the anonymous mmap calls of 1 MiB or more. glibc serves every
# allocation above its mmap threshold (at most 32 MiB) with a fresh mapping, which the kernel then has to fault in
# and zero page by page; if the count grows with the frame count, some per-frame buffer should come from a
# BufferPool. Allocations below the threshold are recycled through malloc's free lists and do not show here.
#
#   Scripts/bench/alloc-check.sh [--model errseg-b] [--size 640] [--classes 150] [--crm-k 32] [--frames N]
#
# Environment: VOCASEG_BIN=path of a release vocaseg (default: builds one in .scratch/alloc-check).
# Needs strace (apt install strace). Exit status 1 when the larger run mapped more than the smaller one.
set -euo pipefail
cd "$(dirname "$0")/../.."

model=errseg-b size=640 classes=150 k=32 frames=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --classes) classes="$2"; shift 2 ;;
    --crm-k) k="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "alloc-check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v strace >/dev/null || { echo "alloc-check.sh: strace is not installed (apt install strace)" >&2; exit 2; }
bin="${VOCASEG_BIN:-}"
if [[ -z "$bin" ]]; then
  swift build -c release --scratch-path .scratch/alloc-check --product vocaseg >&2
  bin=.scratch/alloc-check/release/vocaseg
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count_large_maps() {  # $1 = timed frames
  strace -f -e trace=mmap -o "$work/trace" "$bin" bench --model "$model" --weights random --size "$size" \
    --classes "$classes" --crm-k "$k" --threads 2 --frames "$1" --warmup 1 >/dev/null 2>&1
  # malloc's own large blocks: mmap(NULL, SIZE, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) with
  # SIZE ≥ 1 MiB (thread stacks carry MAP_STACK and arena reservations PROT_NONE; neither is counted)
  grep -F 'PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)' "$work/trace" \
    | awk -F'[(,]' '$2 ~ /NULL/ && $3 + 0 >= 1048576 { n++ } END { print n + 0 }'
}
small=$(count_large_maps "$frames")
large=$(count_large_maps $((2 * frames)))
echo "anonymous mmaps of >= 1 MiB: $small with $frames timed frames, $large with $((2 * frames)) ($model at $size, T=$classes, K=$k)"
if (( large > small )); then
  echo "steady-state frames map new memory: $(( (large - small) )) more mappings for $frames more frames" >&2
  exit 1
fi
echo "no new mappings in steady state"
