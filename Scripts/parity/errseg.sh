#!/usr/bin/env bash
# Full-size ERR-Seg parity, end to end: our Swift model against the PyTorch reference (Scripts/reference/errseg.py)
# on the same random checkpoint, image, vocabulary and K. Goals (issue text): selected classes identical, logits
# max abs diff <= 1e-3, label maps >= 99.9 % identical. Prints every stage's difference, then PASS/FAIL per goal;
# exits non-zero if a goal fails or a step breaks.
#
#   Scripts/parity/errseg.sh [IMAGE]          # default IMAGE = Samples/still.png
#
# Steps: (1) write the random checkpoint (seed 0) unless it exists; (2) decode IMAGE once with Pillow (the
# reference's loader, EXIF orientation applied) to a PPM so both sides start from the same pixels; (3) reference
# run with --dump; (4) `swift test -c release --filter ERRSegParityDump` (Tests/VocaSegModelsTests/
# ERRSegParityDump.swift) with VOCASEG_PARITY_* set, which loads the checkpoint through the real loader,
# preprocesses officially, runs the model and dumps the same names; (5) compare_dumps.py.
#
# Environment (defaults = ERR-Seg (B) at 640 on ADE-150, K = 32):
#   SIZE=b  K=32  THREADS=2  VOCAB=../shared/data/vocab/ade150.json
#   CHECKPOINT=/tmp/errseg_${SIZE}_random.pth   REF_DUMP=/tmp/errseg_parity_ref   SWIFT_DUMP=/tmp/errseg_parity_swift
#   SCRATCH=.scratch/parity (swift build directory)   REUSE_REF=1: keep an existing REF_DUMP (same inputs!)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# The reference's Python: the virtual environment `Scripts/setup.sh --reference` makes, unless VOCASEG_PYTHON says.
python="${VOCASEG_PYTHON:-$repo/.venv/bin/python3}"
[ -x "$python" ] || python=python3
image="${1:-$repo/Samples/still.png}"
size="${SIZE:-b}"
k="${K:-32}"
threads="${THREADS:-2}"
vocab="${VOCAB:-$repo/../shared/data/vocab/ade150.json}"
checkpoint="${CHECKPOINT:-/tmp/errseg_${size}_random.pth}"
ref_dump="${REF_DUMP:-/tmp/errseg_parity_ref}"
swift_dump="${SWIFT_DUMP:-/tmp/errseg_parity_swift}"
scratch="${SCRATCH:-$repo/.scratch/parity}"
ppm="${swift_dump}.input.ppm"

for f in "$image" "$vocab"; do
  [[ -f "$f" ]] || { echo "errseg.sh: $f: no such file" >&2; exit 2; }
done
image="$(cd "$(dirname "$image")" && pwd)/$(basename "$image")"
vocab="$(cd "$(dirname "$vocab")" && pwd)/$(basename "$vocab")"

echo "== ERR-Seg parity: size $size, K $k, threads $threads, image $image, vocab $vocab"
if [[ ! -f "$checkpoint" ]]; then
  echo "== writing random checkpoint $checkpoint"
  "$python" "$repo/Scripts/reference/errseg.py" write-checkpoint --size "$size" --seed 0 --out "$checkpoint"
fi

echo "== decoding the image (Pillow) to $ppm"
"$python" - "$repo/Scripts/reference" "$image" "$ppm" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from errseg_ref.preprocess import load_image_rgb
a = load_image_rgb(sys.argv[2])
with open(sys.argv[3], "wb") as f:
    f.write(b"P6\n%d %d\n255\n" % (a.shape[1], a.shape[0]) + a.tobytes())
EOF

if [[ "${REUSE_REF:-0}" == 1 && -f "$ref_dump/manifest.json" ]]; then
  echo "== reusing reference dump $ref_dump"
else
  echo "== reference (PyTorch) run -> $ref_dump"
  rm -rf "$ref_dump"
  start=$SECONDS
  "$python" "$repo/Scripts/reference/errseg.py" run --size "$size" --checkpoint "$checkpoint" --image "$image" \
    --vocab "$vocab" --k "$k" --threads "$threads" --dump "$ref_dump"
  echo "   reference took $((SECONDS - start)) s"
fi

echo "== Swift run (swift test -c release --filter ERRSegParityDump) -> $swift_dump"
rm -rf "$swift_dump"
start=$SECONDS
log="${swift_dump}.test.log"
set +e
(cd "$repo" && VOCASEG_PARITY_CHECKPOINT="$checkpoint" VOCASEG_PARITY_IMAGE="$ppm" VOCASEG_PARITY_VOCAB="$vocab" \
  VOCASEG_PARITY_OUT="$swift_dump" VOCASEG_PARITY_SIZE="$size" VOCASEG_PARITY_K="$k" VOCASEG_PARITY_THREADS="$threads" \
  swift test -c release -Xswiftc -enable-testing --scratch-path "$scratch" --filter ERRSegParityDump) >"$log" 2>&1
test_status=$?
set -e
grep -E "ERRSegParityDump:|error:|✘|dumpFullSizeStages\(\) (passed|failed|skipped)" "$log" || true
echo "   swift build + run took $((SECONDS - start)) s"
if [[ $test_status -ne 0 || ! -f "$swift_dump/manifest.json" ]]; then
  echo "FAIL  the Swift side failed (swift test exit $test_status; full log: $log)" >&2
  exit 1
fi

echo "== comparison (reference vs Swift)"
"$python" "$here/compare_dumps.py" "$ref_dump" "$swift_dump" --min-label-agreement 0.999 --max-logits-diff 1e-3
