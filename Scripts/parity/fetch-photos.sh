#!/usr/bin/env bash
# Puts real photographs for parity and agreement runs into DIR, as RGB PNGs, taken at run time from the
# scikit-image wheel on PyPI (its bundled sample data; nothing is committed):
#   coffee.png     600x400  CC0, Rachel Michetti
#   chelsea.png    451x300  CC0, Stefan van der Walt
#   astronaut.png  512x512  public domain, NASA
#   rocket.png     640x427  public domain, SpaceX (rocket.jpg in the wheel)
# Photos already in DIR are kept.
#
#   Scripts/parity/fetch-photos.sh DIR [NAME...]     # default NAMEs: all four
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${VOCASEG_PYTHON:-$repo/.venv/bin/python3}"
[ -x "$python" ] || python=python3
[[ $# -ge 1 ]] || { echo "usage: fetch-photos.sh DIR [coffee|chelsea|astronaut|rocket ...]" >&2; exit 2; }
dir="$1"; shift
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(coffee chelsea astronaut rocket)
mkdir -p "$dir"
missing=()
for n in "${names[@]}"; do
  case "$n" in coffee|chelsea|astronaut|rocket) ;; *) echo "fetch-photos.sh: unknown photo $n" >&2; exit 2 ;; esac
  [[ -s "$dir/$n.png" ]] || missing+=("$n")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "== fetching ${missing[*]} from the scikit-image wheel -> $dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "scikit-image==0.26.0"
"$python" - "$tmp" "$dir" "${missing[@]}" <<'PY'
import glob, io, os, sys, zipfile
from PIL import Image
wheel = glob.glob(os.path.join(sys.argv[1], "scikit_image-*.whl"))[0]
files = {"coffee": "coffee.png", "chelsea": "chelsea.png", "astronaut": "astronaut.png", "rocket": "rocket.jpg"}
with zipfile.ZipFile(wheel) as z:
    for name in sys.argv[3:]:
        photo = Image.open(io.BytesIO(z.read("skimage/data/" + files[name]))).convert("RGB")
        target = os.path.join(sys.argv[2], name + ".png")
        photo.save(target + ".partial.png")
        os.replace(target + ".partial.png", target)
        print(f"   {name}.png {photo.size[0]}x{photo.size[1]}")
PY
