#!/usr/bin/env bash
# Full-size SED parity, end to end: our Swift model against the PyTorch reference (Scripts/reference/sed.py) on the
# same random checkpoint (official key names, float32), photograph and vocabulary (ADE-150 with synonyms: 150
# classes, 403 synonyms, x 80 templates), with CER off and with CER top-k 8 (the README's "fast" setting), at
# SED (B) and SED (L). Goals (issue text), printed as PASS/FAIL per run:
#   logits max abs diff <= 1e-3 (the issue's goal), output probabilities max abs diff <= 1e-4 (at the decoder's
#   192x192 and resized to the photo's size);
#   with CER the survivors at all three rejection points identical; label maps >= 99.9 % identical.
# NaN counts as a failure unless the reference has NaN at the same place. Every stage's difference is printed too.
# Exits non-zero if a goal fails or a step breaks.
#
#   Scripts/parity/sed.sh [IMAGE]                 # SIZES="b l" CER_KS="off 8" by default
#   SIZES=b CER_KS=8 Scripts/parity/sed.sh        # one size, CER only
#
# IMAGE default: scikit-image's `coffee.png` (a CC0 photograph, "No copyright restrictions. CC0 by the
# photographer (Rachel Michetti)", 600x400), taken at run time from the scikit-image wheel on PyPI
# (`pip download --no-deps`, as Scripts/parity/eovseg.sh does); nothing is committed. The mapper resizes it to
# 960x640, the network squashes that to 768x768, the output is resized back to 600x400.
#
# Steps: (1) the photo is decoded once with Pillow to a PPM that both sides read; (2) the vocabulary JSON
# {"classes": [...]} is written from ../shared/data/vocab-synonyms/ade20k_150.txt (each line's synonyms joined
# with ", ", SED's separator); (3) per size, the random checkpoint (`sed.py write-checkpoint --size S --seed 0
# --storage float32`, 723 MB for B, ~1.4 GB for L) is written unless it exists; (4) per size and CER mode, the
# reference run with --dump (the text bank [150,80,E] is computed once per size and kept in a cache file: ~7 min
# for B and ~15 min for L on 2 threads); (5) `swift test -c release --filter SEDParityDump`
# (Tests/VocaSegModelsTests/SEDParityDump.swift) with VOCASEG_SED_PARITY_* set: production loader, tokenizer and
# prompt ensemble, preprocessing, forward, post-processing, the same tensor names dumped; (6) compare_dumps.py
# --model sed. Long steps run under `flock /tmp/vocaseg-build.lock` (shared machine).
#
# The Swift dump needs at least the goal tensors: CER off `probs` [T,192,192], `output` [T,H0,W0], `labels`
# [H0,W0] int32; CER on `cer.survivors1..3` [Ni] int32 (ascending class indices), `cer.probs`, `cer.output`,
# `cer.labels`. Any other name of the reference dump (input, res2..res5, dense, text, corr, corr_embed,
# corr_guidance.i, app_guidance.i, head0, decoderN(.cnext|.attn), headN, logits, cer.headN, cer.logits) is compared
# when present, to locate a difference.
#
# Environment (defaults):
#   SIZES="b l"  CER_KS="off 8"  THREADS=2  VOCAB_SYNONYMS=../shared/data/vocab-synonyms/ade20k_150.txt
#   WORK=/tmp/sed_parity (photo, PPM, vocabulary JSON, text-bank caches, dumps)
#   CHECKPOINT_DIR=$WORK (sed_${size}_random.pth)   SCRATCH=.scratch/parity (swift build directory)
#   REUSE_REF=1: keep existing reference dumps (same inputs!)   LOCK=/tmp/vocaseg-build.lock (empty: no flock)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${VOCASEG_PYTHON:-$repo/.venv/bin/python3}"
[ -x "$python" ] || python=python3
sizes="${SIZES:-b l}"
cer_ks="${CER_KS:-off 8}"
threads="${THREADS:-2}"
synonyms="${VOCAB_SYNONYMS:-$repo/../shared/data/vocab-synonyms/ade20k_150.txt}"
work="${WORK:-/tmp/sed_parity}"
ckpt_dir="${CHECKPOINT_DIR:-$work}"
scratch="${SCRATCH:-$repo/.scratch/parity}"
lock="${LOCK-/tmp/vocaseg-build.lock}"
locked() { if [[ -n "$lock" ]]; then flock "$lock" "$@"; else "$@"; fi; }
mkdir -p "$work" "$ckpt_dir"
[[ -f "$synonyms" ]] || { echo "sed.sh: $synonyms: no such file" >&2; exit 2; }

image="${1:-}"
if [[ -z "$image" ]]; then
  image="$work/coffee.png"
  if [[ ! -s "$image" ]]; then
    echo "== fetching the photo (scikit-image wheel: skimage/data/coffee.png, CC0) -> $image"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "scikit-image==0.26.0"
    "$python" - "$tmp" "$image" <<'EOF'
import glob, io, os, sys, zipfile
from PIL import Image
wheel = glob.glob(os.path.join(sys.argv[1], "scikit_image-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    photo = Image.open(io.BytesIO(z.read("skimage/data/coffee.png"))).convert("RGB")
assert photo.size == (600, 400), photo.size
photo.save(sys.argv[2] + ".partial.png")
os.replace(sys.argv[2] + ".partial.png", sys.argv[2])
EOF
  fi
fi
[[ -f "$image" ]] || { echo "sed.sh: $image: no such file" >&2; exit 2; }
image="$(cd "$(dirname "$image")" && pwd)/$(basename "$image")"
ppm="$work/$(basename "${image%.*}").ppm"
vocab="$work/ade20k_150_synonyms.json"

echo "== SED parity: sizes [$sizes], CER [$cer_ks], threads $threads, image $image"
echo "== decoding the image (Pillow) to $ppm; vocabulary JSON $vocab"
"$python" - "$repo" "$image" "$ppm" "$synonyms" "$vocab" <<'EOF'
import json, sys
repo, image, ppm, synonyms, vocab = sys.argv[1:]
sys.path[:0] = [repo + "/Scripts/reference"]
from errseg_ref.preprocess import load_image_rgb
from sed_ref.text import load_vocab, synonyms as split
a = load_image_rgb(image)
with open(ppm, "wb") as f:
    f.write(b"P6\n%d %d\n255\n" % (a.shape[1], a.shape[0]) + a.tobytes())
names = load_vocab(synonyms)
with open(vocab, "w", encoding="utf-8") as f:
    json.dump({"classes": names}, f, indent=0)
print(f"   {a.shape[1]}x{a.shape[0]} pixels; {len(names)} classes, {sum(len(split(n)) for n in names)} synonyms")
EOF

failed=()
for size in $sizes; do
  checkpoint="$ckpt_dir/sed_${size}_random.pth"
  if [[ ! -f "$checkpoint" ]]; then
    echo "== writing the random checkpoint $checkpoint (seed 0, float32)"
    locked "$python" "$repo/Scripts/reference/sed.py" write-checkpoint --size "$size" --seed 0 --storage float32 \
      --out "$checkpoint"
  fi
  for k in $cer_ks; do
    tag="${size}_cer${k}"
    ref_dump="$work/ref_$tag"
    swift_dump="$work/swift_$tag"
    cer_args=()
    cer_env=""
    if [[ "$k" != off ]]; then cer_args=(--cer-k "$k"); cer_env="$k"; fi
    if [[ "${REUSE_REF:-0}" == 1 && -f "$ref_dump/manifest.json" ]]; then
      echo "== [$tag] reusing reference dump $ref_dump"
    else
      echo "== [$tag] reference (PyTorch) run -> $ref_dump"
      rm -rf "$ref_dump"
      start=$SECONDS
      locked "$python" "$repo/Scripts/reference/sed.py" run --size "$size" --checkpoint "$checkpoint" --image "$ppm" \
        --vocab "$vocab" "${cer_args[@]}" --threads "$threads" --text-cache "$work/text_bank_${size}.pt" \
        --dump "$ref_dump"
      echo "   reference took $((SECONDS - start)) s (load + text bank or its cache + forward + dump)"
    fi

    echo "== [$tag] Swift run (swift test -c release --filter SEDParityDump) -> $swift_dump"
    rm -rf "$swift_dump"
    start=$SECONDS
    log="${swift_dump}.test.log"
    set +e
    # VOCASEG_WITHOUT_FARM: the dump needs no queue (PostgreSQL/NIO) code, and leaving it out saves most of a
    # fresh release build.
    (cd "$repo" && locked env VOCASEG_WITHOUT_FARM=1 VOCASEG_SED_PARITY_CHECKPOINT="$checkpoint" VOCASEG_SED_PARITY_SIZE="$size" \
      VOCASEG_SED_PARITY_IMAGE="$ppm" VOCASEG_SED_PARITY_VOCAB="$vocab" VOCASEG_SED_PARITY_CER_K="$cer_env" \
      VOCASEG_SED_PARITY_OUT="$swift_dump" VOCASEG_SED_PARITY_THREADS="$threads" \
      swift test -c release -Xswiftc -enable-testing --scratch-path "$scratch" --filter SEDParityDump) >"$log" 2>&1
    test_status=$?
    set -e
    grep -E "SEDParityDump:|error:|✘|\((passed|failed|skipped)" "$log" | tail -20 || true
    echo "   swift build + run took $((SECONDS - start)) s"
    if [[ $test_status -ne 0 || ! -f "$swift_dump/manifest.json" ]]; then
      echo "FAIL  [$tag] the Swift side failed (swift test exit $test_status; full log: $log)" >&2
      failed+=("$tag")
      continue
    fi

    echo "== [$tag] comparison (reference vs Swift)"
    if ! "$python" "$here/compare_dumps.py" "$ref_dump" "$swift_dump" --model sed --max-probs-diff 1e-4 \
        --max-logits-diff 1e-3 --min-label-agreement 0.999; then
      failed+=("$tag")
    fi
  done
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "SED PARITY FAILED: ${failed[*]}"
  exit 1
fi
echo "SED PARITY OK: sizes [$sizes], CER [$cer_ks]"
