#!/usr/bin/env bash
# Downloads the authors' released ERR-Seg checkpoints into the model directory, where `vocaseg --model errseg-b`
# (or errseg-l) looks for them. Needs access to Hugging Face (the build and CI machines have none).
#
#   Scripts/fetch-weights.sh errseg-b        # → $VOCASEG_MODELS/errseg-b/model_final.pth
#   Scripts/fetch-weights.sh errseg-l
#   ERRSEG_B_URL=... Scripts/fetch-weights.sh errseg-b   # if the file lives elsewhere on the authors' page
#
# The file layout on https://huggingface.co/lchen1019/ERR-Seg could not be checked from here; the defaults below
# follow the authors' README (one model_final.pth per variant). After downloading, `vocaseg inspect` confirms that
# the file is ERR-Seg B or L with all its tensors.
set -euo pipefail

MODELS_DIR="${VOCASEG_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/vocaseg/models}"
REPO_URL="https://huggingface.co/lchen1019/ERR-Seg/resolve/main"

case "${1:-}" in
    errseg-b) url="${ERRSEG_B_URL:-$REPO_URL/ERR-Seg-B/model_final.pth}" ;;
    errseg-l) url="${ERRSEG_L_URL:-$REPO_URL/ERR-Seg-L/model_final.pth}" ;;
    *) echo "usage: $0 errseg-b|errseg-l" >&2; exit 2 ;;
esac

target="$MODELS_DIR/$1/model_final.pth"
mkdir -p "$(dirname "$target")"
tmp="$target.partial"
echo "fetch-weights: $url → $target"
if ! curl --fail --location --retry 3 --continue-at - --output "$tmp" "$url"; then
    echo "fetch-weights: download failed; get model_final.pth for $1 from https://huggingface.co/lchen1019/ERR-Seg and put it at $target" >&2
    exit 4
fi
mv "$tmp" "$target"
if command -v vocaseg >/dev/null 2>&1; then vocaseg inspect "$target" | tail -1; fi
