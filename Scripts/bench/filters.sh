#!/usr/bin/env bash
# Extra decode cost per 1080p frame of the filter stage: the same 1080p content as progressive SDR H.264, as HDR10
# (PQ, HEVC 10-bit), as HLG and as interlaced H.264, each segmented with the model run on the first frame only
# (--keyframes every:100000 --propagate hold), so the decode stage's p50 (decode + filter + RGB conversion) is what differs.
#   Scripts/bench/filters.sh [FRAMES]        (VOCASEG_BIN picks the binary; default .build/release/vocaseg)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${VOCASEG_BIN:-$ROOT/.build/release/vocaseg}"
FRAMES="${1:-50}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
FF=(ffmpeg -hide_banner -loglevel error -nostdin -y)
src=(-f lavfi -i "testsrc2=size=1920x1080:rate=25" -frames:v "$FRAMES")
"${FF[@]}" "${src[@]}" -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p "$dir/sdr.mp4"
"${FF[@]}" "${src[@]}" -vf "interlace=scan=tff,format=yuv420p" -c:v libx264 -preset veryfast -crf 23 \
    -flags:v +ildct+ilme -field_order tt "$dir/interlaced.mp4"
for hdr in pq:smpte2084 hlg:arib-std-b67; do
    name=${hdr%%:*} trc=${hdr#*:}
    "${FF[@]}" "${src[@]}" \
        -vf "format=yuv444p,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv,zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt2020,zscale=t=$trc:m=bt2020nc:r=tv,format=yuv420p10le" \
        -c:v libx265 -preset ultrafast -x265-params "log-level=error:colorprim=bt2020:transfer=$trc:colormatrix=bt2020nc" \
        -color_primaries bt2020 -color_trc "$trc" -colorspace bt2020nc -color_range tv "$dir/$name.mp4"
done
decode_p50() { # input, extra flags…: the decode stage's p50 in ms
    "$BIN" segment "$1" "${@:2}" --model errseg-b --weights random --size 320 --classes "sky, tree" \
        --keyframes every:100000 --propagate hold --progress never --timings "$dir/t.json" -o "$dir/out.mp4" >/dev/null 2>&1
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; s=[x for x in d["timings"] if x["stage"]=="decode"][0]; print("%.2f" % s["p50Milliseconds"])' "$dir/t.json"
}
printf '| input (1080p, %s frames) | decode p50 ms (filter on) | decode p50 ms (filter off) | extra per frame |\n|---|---|---|---|\n' "$FRAMES"
for c in "pq:--hdr tonemap:--hdr off" "hlg:--hdr tonemap:--hdr off" "interlaced:--deinterlace auto:--deinterlace off" "sdr:--hdr tonemap:--hdr off"; do
    IFS=: read -r name on off <<<"$c"
    # shellcheck disable=SC2086
    a=$(decode_p50 "$dir/$name.mp4" $on); b=$(decode_p50 "$dir/$name.mp4" $off)
    printf '| %s | %s | %s | %s |\n' "$name" "$a" "$b" "$(python3 -c "print('%.2f ms' % ($a - $b))")"
done
