#!/usr/bin/env bash
# Full-size ERR-Seg parity: runs the PyTorch reference on the same checkpoint, image, vocabulary and K as a Swift
# dump and compares every intermediate (Scripts/parity/compare_dumps.py).
#
#   Scripts/parity/errseg.sh SWIFT_DUMP_DIR [IMAGE]
#
# SWIFT_DUMP_DIR must hold manifest.json + <name>.bin in the golden layout (names as in
# Scripts/reference/README.md) written by the Swift binary for the same inputs.
# Environment (defaults = ERR-Seg (B) at 640 on ADE-150):
#   SIZE=b  CHECKPOINT=/tmp/errseg_b_random.pth (written with seed 0 if missing)  K=32
#   VOCAB=../shared/data/vocab/ade150.json  REF_DUMP=/tmp/errseg_ref_dump  THREADS=2
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
swift_dump="${1:?usage: errseg.sh SWIFT_DUMP_DIR [IMAGE]}"
image="${2:-$repo/Tests/VocaSegModelsTests/Goldens/errseg_tiny/image_large.png}"
size="${SIZE:-b}"
k="${K:-32}"
vocab="${VOCAB:-$repo/../shared/data/vocab/ade150.json}"
checkpoint="${CHECKPOINT:-/tmp/errseg_${size}_random.pth}"
ref_dump="${REF_DUMP:-/tmp/errseg_ref_dump}"

if [[ ! -f "$checkpoint" ]]; then
  python3 "$repo/Scripts/reference/errseg.py" write-checkpoint --size "$size" --seed 0 --out "$checkpoint"
fi
# TODO(parity): run the Swift binary here once it can dump intermediates, e.g.
#   swift run -c release vocaseg debug-dump --model errseg-$size --checkpoint "$checkpoint" --image "$image" \
#       --vocab "$vocab" --k "$k" --out "$swift_dump"
python3 "$repo/Scripts/reference/errseg.py" run --size "$size" --checkpoint "$checkpoint" --image "$image" \
  --vocab "$vocab" --k "$k" --threads "${THREADS:-2}" --dump "$ref_dump"
python3 "$here/compare_dumps.py" "$ref_dump" "$swift_dump"
