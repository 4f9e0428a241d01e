#!/usr/bin/env bash
# Installs everything VocaSeg needs on a fresh Debian 12 machine: the FFmpeg, OpenBLAS and FreeType development
# packages, a font, the ffmpeg/ffprobe tools (tests check outputs with them), SQLite, the PostgreSQL server and
# client (the shared job queue's tests start a private server; Scripts/test-postgres.sh), curl (the metrics tests
# scrape with it), and the CLIP tokenizer vocabulary (taken from the open_clip_torch wheel on PyPI into the model directory).
#
#   Scripts/setup.sh              # system packages + tokenizer vocabulary
#   Scripts/setup.sh --reference  # also the Python packages of Scripts/reference (PyTorch CPU, open_clip, timm,
#                                 # and onnx/onnxruntime/openvino for Scripts/bench/compare.sh --runtimes)
#                                 # in a virtual environment at .venv/ (Debian's Python refuses pip outside one)
set -euo pipefail

OPEN_CLIP_VERSION=3.3.0
MODELS_DIR="${VOCASEG_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/vocaseg/models}"
want_reference=0
for arg in "$@"; do
    case "$arg" in
        --reference) want_reference=1 ;;
        *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(
    pkg-config
    libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libswresample-dev libavfilter-dev
    ffmpeg
    libopenblas-dev
    libfreetype-dev fonts-dejavu-core
    zlib1g-dev
    libsqlite3-dev
    postgresql postgresql-client curl
    python3-pip python3-venv
    qemu-user
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The CLIP BPE vocabulary ships inside the open_clip_torch wheel; take just that file.
vocab="$MODELS_DIR/clip/bpe_simple_vocab_16e6.txt.gz"
if [ ! -s "$vocab" ]; then
    echo "setup: fetching the CLIP tokenizer vocabulary (open_clip_torch $OPEN_CLIP_VERSION) into $MODELS_DIR/clip"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "open_clip_torch==$OPEN_CLIP_VERSION"
    mkdir -p "$MODELS_DIR/clip"
    python3 - "$tmp" "$vocab" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "open_clip_torch-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("open_clip/bpe_simple_vocab_16e6.txt.gz")
tmp = sys.argv[2] + ".partial"
with open(tmp, "wb") as f:
    f.write(data)
os.replace(tmp, sys.argv[2])
PY
fi

if [ "$want_reference" -eq 1 ]; then
    venv="$(cd "$(dirname "$0")/.." && pwd)/.venv"
    [ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet -r "$(dirname "$0")/reference/requirements.txt"
    "$venv/bin/python3" -m pip install --quiet --no-deps -r "$(dirname "$0")/reference/requirements-nodeps.txt"
    # ONNX export and the other runtimes compared by Scripts/bench/compare.sh --runtimes (ONNX Runtime, OpenVINO).
    "$venv/bin/python3" -m pip install --quiet -r "$(dirname "$0")/reference/requirements-runtimes.txt"
    echo "setup: reference packages in $venv (the scripts use it; VOCASEG_PYTHON overrides)"
fi
echo "setup: done (models directory: $MODELS_DIR)"
