#!/usr/bin/env bash
# Speed of our SED against the PyTorch reference (Scripts/reference/sed.py) on the same random checkpoint (official
# layout, float32), the same photograph, the same vocabulary and the same thread count, with CER off and on. The
# two sides run alternately within one invocation (round r runs both; the side that goes first alternates), so that
# a change in machine load hits both alike. Prints every round, the medians, the ratio ours/PyTorch, the classes
# each CER point kept on both sides (they must agree: same weights, picture and text), our GFLOP/s per stage and
# peak RSS of both sides.
#
#   Scripts/bench/sed.sh [--size b|l] [--vocab ade150|ade847|FILE] [--cer off|K] [--threads N] [--rounds R]
#                        [--frames F] [--out DIR] [--text-from-ours]
#
# Defaults: B, ade150 (ADE-150 with synonyms), CER k = 8, 2 threads, 2 rounds of 1 timed frame (after 1 warm-up).
# `--vocab ade847` is ADE-847 with synonyms (847 classes; its text bank takes the reference ~1 h to encode the
# first time, cached after). A FILE is a synonyms text file (one class per line, synonyms comma-separated).
# `--text-from-ours` (the default for ade847) lets the reference take the text bank our first run computed
# (`sed.py import-text-bank`, from our cache in WORK/vocaseg-cache) instead of encoding the 107k prompts itself:
# text is outside the timed frame on both sides, and the same bank makes both sides' CER keep the same classes.
#
# What is timed per frame, text encoding excluded on both sides (each caches its text bank):
#   ours     `vocaseg bench --model CHECKPOINT --still PHOTO --vocab …` stage "inference": SEDModel.segment, i.e.
#            backbone, cost map, decoder with CER, and the label map at the photo's size (preprocessing is a
#            separate stage, not counted)
#   PyTorch  `sed.py bench --checkpoint … --image PHOTO`: the reference's `segment` (mapper resize, forward,
#            resize of the probabilities to the photo's size and argmax)
# The photo is scikit-image's coffee.png (CC0), fetched as Scripts/parity/sed.sh does (WORK, shared with it).
# Environment: VOCASEG_BIN (default .build/release/vocaseg, built if missing), VOCASEG_PYTHON, WORK=/tmp/sed_parity,
# LOCK=/tmp/vocaseg-build.lock (each run holds it, so that builds elsewhere do not distort the figures).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${VOCASEG_PYTHON:-$repo/.venv/bin/python3}"
[ -x "$python" ] || python=python3
size=b vocab=ade150 cer=8 threads=2 rounds=2 frames=1 out="" text_from_ours=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="$2"; shift 2 ;;
    --vocab) vocab="$2"; shift 2 ;;
    --cer) cer="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --text-from-ours) text_from_ours=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "sed.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$size" == b || "$size" == l ]] || { echo "sed.sh: --size must be b or l" >&2; exit 2; }
[[ "$cer" == off || "$cer" =~ ^[1-9][0-9]*$ ]] || { echo "sed.sh: --cer must be off or a positive k" >&2; exit 2; }
work="${WORK:-/tmp/sed_parity}"
lock="${LOCK-/tmp/vocaseg-build.lock}"
out="${out:-/tmp/sed-bench-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$work" "$out"
locked() { if [[ -n "$lock" ]]; then flock "$lock" "$@"; else "$@"; fi; }

# The photo, as the parity script gets it.
photo="$work/coffee.png"
if [[ ! -f "$photo" ]]; then
  tmp="$(mktemp -d)"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "scikit-image==0.24.0"
  unzip -q -o -j "$tmp"/scikit_image-*.whl 'skimage/data/coffee.png' -d "$work"
  rm -rf "$tmp"
fi
case "$vocab" in
  ade150) synonyms="$repo/../shared/data/vocab-synonyms/ade20k_150.txt" ;;
  ade847) synonyms="$repo/../shared/data/vocab-synonyms/ade20k_847.txt"; text_from_ours="${text_from_ours:-1}" ;;
  *) synonyms="$vocab" ;;
esac
[[ -f "$synonyms" ]] || { echo "sed.sh: no vocabulary file $synonyms" >&2; exit 2; }
tag="$(basename "$synonyms" .txt)"
# One class per line with its synonyms joined by ", " (SED's separator): a vocaseg vocabulary file and the
# reference's JSON, from the same lines.
vocab_txt="$out/$tag.txt" vocab_json="$work/${tag}_synonyms.json"
"$python" - "$synonyms" "$vocab_txt" "$vocab_json" <<'EOF'
import json, sys
src, txt, js = sys.argv[1:4]
names = []
for line in open(src, encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith("#") or ":invalid_class_id" in line:
        continue
    if ":" in line.split(",")[0]:
        line = line.split(":", 1)[1]
    names.append(", ".join(s.strip() for s in line.split(",") if s.strip()))
open(txt, "w", encoding="utf-8").write("\n".join(names) + "\n")
json.dump({"classes": names}, open(js, "w", encoding="utf-8"))
print(f"vocabulary: {len(names)} classes")
EOF
checkpoint="$work/sed_${size}_random.pth"
if [[ ! -f "$checkpoint" ]]; then
  echo "== writing random checkpoint $checkpoint (seed 0, float32)"
  locked "$python" "$repo/Scripts/reference/sed.py" write-checkpoint --size "$size" --seed 0 --storage float32 --out "$checkpoint"
fi
bin="${VOCASEG_BIN:-$repo/.build/release/vocaseg}"
if [[ ! -x "$bin" ]]; then
  (cd "$repo" && locked swift build -c release --product vocaseg 2>&1 | tail -1)
fi
cer_ours=(--cer-k "$cer") cer_ref=(--cer-k "$cer")
[[ "$cer" == off ]] && { cer_ours=(--cer off); cer_ref=(); }
text_cache="$work/text_bank_${size}_${tag}.pt"

echo "== SED ($size), $tag, CER $cer, $threads threads, $rounds rounds x $frames frame(s) after 1 warm-up; logs in $out"
export VOCASEG_CACHE="$work/vocaseg-cache"
run_ours() {
  locked "$bin" bench --model "$checkpoint" --weights checkpoint --still "$photo" --vocab "$vocab_txt" "${cer_ours[@]}" \
    --threads "$threads" --frames "$frames" --warmup 1 --json "$out/ours_$1.json" >"$out/ours_$1.log" 2>&1 \
    || { echo "sed.sh: vocaseg bench failed, see $out/ours_$1.log" >&2; tail -5 "$out/ours_$1.log" >&2; exit 1; }
}
run_ref() {
  if [[ -n "$text_from_ours" && ! -f "$text_cache" ]]; then
    # Our newest cache file is the bank of our first round (the warm-up encodes the vocabulary).
    ours_bank="$(ls -t "$VOCASEG_CACHE"/text-embeddings/*.bin | head -1)"
    locked "$python" "$repo/Scripts/reference/sed.py" import-text-bank --size "$size" --checkpoint "$checkpoint" \
      --vocab "$vocab_json" --from "$ours_bank" --text-cache "$text_cache"
  fi
  locked "$python" "$repo/Scripts/reference/sed.py" bench --size "$size" --checkpoint "$checkpoint" --image "$photo" \
    --vocab "$vocab_json" --text-cache "$text_cache" "${cer_ref[@]}" --threads "$threads" --runs "$frames" \
    --warmup 1 --json "$out/ref_$1.json" >"$out/ref_$1.log" 2>&1 \
    || { echo "sed.sh: reference bench failed, see $out/ref_$1.log" >&2; tail -5 "$out/ref_$1.log" >&2; exit 1; }
}
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order="ours ref"; else order="ref ours"; fi
  for side in $order; do
    start=$SECONDS
    "run_$side" "$r"
    echo "   round $r: $side done in $((SECONDS - start)) s (load average $(cut -d' ' -f1 /proc/loadavg))"
  done
done

"$python" - "$out" "$rounds" <<'EOF'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ours, ref = [], []
print(f"\n{'round':>5} {'ours ms/frame':>14} {'PyTorch ms/frame':>17} {'ours/PyTorch':>13}")
for r in range(1, rounds + 1):
    o = json.load(open(os.path.join(out, f"ours_{r}.json")))
    p = json.load(open(os.path.join(out, f"ref_{r}.json")))
    ours.append(next(s for s in o["stages"] if s["stage"] == "inference")["p50Milliseconds"])
    ref.append(statistics.median(p["wall_ms"]))
    print(f"{r:5d} {ours[-1]:14.0f} {ref[-1]:17.0f} {ours[-1] / ref[-1]:13.3f}")
mo, mr = statistics.median(ours), statistics.median(ref)
print(f"{'median':>5} {mo:14.0f} {mr:17.0f} {mo / mr:13.3f}")
print(f"\nclasses per stage: ours (candidates, then CER points 1-3) {o.get('classesPerStage')}, "
      f"reference (CER points 1-3) {p.get('survivors')}")
print(f"ours (last round), per stage p50 ms:")
for s in o["stages"]:
    if s["stage"].startswith("inference."):
        print(f"   {s['stage']:28s} {s['p50Milliseconds']:9.0f}")
print("ours GFLOP/s:")
for c in o["compute"]:
    print(f"   {c['stage']:28s} {c['gflop']:7.1f} GFLOP  {c['gflopsAtP50']:6.1f} GFLOP/s  {100 * c['fractionOfSgemm']:4.0f} % of sgemm")
rss = p.get("peak_rss_bytes")
print(f"sgemm ceiling {o['machine']['sgemmGFLOPS']:.0f} GFLOP/s; peak RSS: ours {o['peakRSSBytes'] / 2**20:.0f} MiB, "
      + (f"reference {rss / 2**20:.0f} MiB" if rss else "reference not recorded"))
print("reference per stage ms:", ", ".join(f"{k} {v:.0f}" for k, v in p["stages_ms"].items()))
EOF
