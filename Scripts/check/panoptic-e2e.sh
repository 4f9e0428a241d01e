#!/bin/sh
# End-to-end check of the COCO panoptic output: builds the tests, runs the stand-in panoptic model over the whole
# synthetic shapes clip through `segment` with every output (PanopticOutputTests, keeping its folders), inferring
# every frame and every 3rd frame, then checks each folder and its JSON lines' RLE masks with coco_panoptic.py
# (panoptic format rules + pycocotools).
#
#   Scripts/check/panoptic-e2e.sh [DIR]
#
# DIR (default: a new temporary folder) receives every-1/ and every-3/, each with out.mp4, masks/, panoptic/ and
# out.jsonl, and is kept. Set
# VOCASEG_BUILD_LOCK to a lock file to serialise the build with others on a shared machine (runs under flock).
# Needs .venv with numpy, pillow and pycocotools (see coco_panoptic.py).
set -eu
cd "$(dirname "$0")/../.."
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/vocaseg-panoptic.XXXXXX")}
python=.venv/bin/python
if [ ! -x "$python" ]; then
    echo "panoptic-e2e.sh: $python not found: python3 -m venv .venv && .venv/bin/pip install numpy pillow pycocotools" >&2
    exit 2
fi
locked() {
    # The build and the test share SwiftPM's build folder with any other build on the machine.
    if [ -n "${VOCASEG_BUILD_LOCK:-}" ]; then flock "$VOCASEG_BUILD_LOCK" "$@"; else "$@"; fi
}
# A stale output would be checked instead of this run's: start from empty folders.
rm -rf "$dir/every-1" "$dir/every-3"
locked swift build --build-tests
VOCASEG_KEEP_PANOPTIC=$dir locked swift test --skip-build \
    --filter 'PanopticOutputTests/theWholeClipWithEveryOutputCanBeKeptForTheCOCOCheck'
status=0
for run in every-1 every-3; do
    if [ ! -f "$dir/$run/panoptic/panoptic.json" ]; then
        echo "panoptic-e2e.sh: the test wrote no $dir/$run/panoptic/panoptic.json" >&2
        exit 1
    fi
    echo "$python Scripts/check/coco_panoptic.py $dir/$run/panoptic --jsonl $dir/$run/out.jsonl"
    "$python" Scripts/check/coco_panoptic.py "$dir/$run/panoptic" --jsonl "$dir/$run/out.jsonl" || status=1
done
exit $status
