#!/usr/bin/env bash
# Regenerates the media samples under Samples/ with the ffmpeg CLI (FFmpeg 5.1) from deterministic lavfi sources.
# Idempotent: every output is rewritten from scratch; running it twice gives the same set of files.
# Each sample exists to exercise one thing the media layer must get right; Samples/README.md says which.
# `-bitexact` / `-fflags +bitexact` and `-threads 1` keep files reproducible for a given FFmpeg/x264 build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/Samples"
mkdir -p "$OUT"
cd "$OUT"

FF=(ffmpeg -hide_banner -loglevel error -nostdin -y)
BITEXACT=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1)
X264=(-c:v libx264 -preset veryfast -threads 1)

# `make-samples.sh --motion DIR`: the clips with real camera and object motion that Scripts/bench/propagation.sh
# measures keyframes and motion-vector propagation on, written to DIR (not to Samples/: they are larger than the
# media samples and only the benchmark reads them). Made from photographs that scikit-image ships (coffee.png and
# chelsea.png: "No copyright restrictions, CC0"), taken from its wheel on PyPI. All 448x320, 25 fps, 60 frames,
# H.264 with B-frames as x264 places them (its defaults: adaptive B-frames, 3 references):
#   pan_slow.mp4  the photo, doubled to 1200x800, panned 3 px per frame to the left;
#   pan_fast.mp4  the same panned 12 px per frame;
#   zoom.mp4      zooming in from 1x to 1.6x on the photo's centre;
#   crossing.mp4  a still background with two cut-outs of the second photo crossing it in opposite directions.
if [[ "${1:-}" == "--motion" ]]; then
    dir="${2:?usage: make-samples.sh --motion DIR}"
    mkdir -p "$dir"
    if [[ ! -s "$dir/coffee.png" || ! -s "$dir/chelsea.png" ]]; then
        tmp="$(mktemp -d)"
        trap 'rm -rf "$tmp"' EXIT
        python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "scikit-image==0.26.0"
        python3 - "$tmp" "$dir" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "scikit_image-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in ("coffee.png", "chelsea.png"):
        target = os.path.join(sys.argv[2], name)
        with open(target + ".partial", "wb") as f:
            f.write(z.read("skimage/data/" + name))
        os.replace(target + ".partial", target)
PY
    fi
    MOTION=(-frames:v 60 -r 25 -c:v libx264 -preset medium -crf 20 -pix_fmt yuv420p -threads 1 "${BITEXACT[@]}")
    "${FF[@]}" -loop 1 -framerate 25 -i "$dir/coffee.png" \
        -vf "scale=1200:800,crop=448:320:x=3*n:y=240" "${MOTION[@]}" "$dir/pan_slow.mp4"
    "${FF[@]}" -loop 1 -framerate 25 -i "$dir/coffee.png" \
        -vf "scale=1200:800,crop=448:320:x=12*n:y=240" "${MOTION[@]}" "$dir/pan_fast.mp4"
    "${FF[@]}" -loop 1 -framerate 25 -i "$dir/coffee.png" \
        -vf "scale=1200:800,zoompan=z='1+0.6*on/59':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=448x320:fps=25" \
        "${MOTION[@]}" "$dir/zoom.mp4"
    "${FF[@]}" -loop 1 -framerate 25 -i "$dir/coffee.png" -loop 1 -framerate 25 -i "$dir/chelsea.png" \
        -filter_complex "[0:v]scale=448:320:force_original_aspect_ratio=increase,crop=448:320[bg];\
[1:v]crop=140:120:150:40,split[a][b];[b]hflip[c];\
[bg][a]overlay=x='-140+8*n':y=40[t];[t][c]overlay=x='448-7*n':y=170" \
        "${MOTION[@]}" "$dir/crossing.mp4"
    echo "motion clips in $dir"
    exit 0
fi

# 1. 640x360, 25 fps, 3 s, H.264 + AAC mono sine: the general decode and audio-copy round-trip sample.
"${FF[@]}" -f lavfi -i "testsrc2=size=640x360:rate=25:duration=3" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=3" \
    "${X264[@]}" -crf 28 -pix_fmt yuv420p -c:a aac -b:a 64k -ac 1 "${BITEXACT[@]}" -shortest \
    clip_640x360_aac.mp4

# 2. Rotation: 320x180 coded picture whose track header (tkhd) carries a display matrix saying "rotate 90°
#    clockwise", as phones write for portrait video. FFmpeg 5.1's CLI cannot write one (the `rotate` tag is
#    ignored by its mp4 muxer; `-display_rotation` only arrived in 6.0), so the matrix is patched into the tkhd
#    box, which is exactly where cameras put it. ffprobe then reports rotation -90 (counter-clockwise degrees).
#    smptebars makes the orientation checkable (distinct colours in each corner).
#    A second file carries a horizontal-flip matrix (mirror) to exercise flips.
set_tkhd_matrix() { # file a b c d tx ty (16.16 fixed point, QuickTime order a b u c d v x y w)
    python3 - "$@" <<'PY'
import struct, sys
path, a, b, c, d, tx, ty = sys.argv[1], *map(int, sys.argv[2:])
data = bytearray(open(path, "rb").read())
at = data.find(b"tkhd") - 4          # the only track is the video track
version = data[at + 8]
matrix_at = at + (60 if version == 1 else 48)
struct.pack_into(">9i", data, matrix_at, a, b, 0, c, d, 0, tx, ty, 1 << 30)
open(path, "wb").write(data)
PY
}
"${FF[@]}" -f lavfi -i "smptebars=size=320x180:rate=25:duration=1" \
    "${X264[@]}" -crf 30 -pix_fmt yuv420p "${BITEXACT[@]}" \
    rotated_90.mp4
set_tkhd_matrix rotated_90.mp4 0 65536 -65536 0 $((180 << 16)) 0
"${FF[@]}" -f lavfi -i "smptebars=size=320x180:rate=25:duration=0.2" \
    "${X264[@]}" -crf 30 -pix_fmt yuv420p "${BITEXACT[@]}" \
    hflip.mp4
set_tkhd_matrix hflip.mp4 -65536 0 0 65536 $((320 << 16)) 0

# 3. Variable frame rate: 30 frames whose timestamps follow an irregular pattern (gaps of 1, 2 and 3 ticks of
#    1/30 s; pts = N + floor(N/2) + floor(N/3) ticks). `-fps_mode passthrough` stops ffmpeg from duplicating/dropping frames to make the rate constant.
"${FF[@]}" -f lavfi -i "testsrc2=size=320x240:rate=30:duration=1" \
    -vf "setpts='(N+floor(N/2)+floor(N/3))/30/TB'" -fps_mode passthrough -video_track_timescale 90000 \
    "${X264[@]}" -crf 30 -pix_fmt yuv420p "${BITEXACT[@]}" \
    vfr.mp4

# 4. Odd size: 641x479 cannot be 4:2:0 subsampled evenly; use 4:4:4 (High 4:4:4 profile) so the odd size is kept.
#    testsrc2 rounds its size down to even numbers, so the odd size comes from a scale filter.
"${FF[@]}" -f lavfi -i "testsrc2=size=640x480:rate=25:duration=0.4" -vf "scale=641:479" \
    "${X264[@]}" -crf 30 -pix_fmt yuv444p "${BITEXACT[@]}" \
    odd_641x479.mp4

# 5. 10-bit: H.264 High 10 (Debian's libx264 builds both depths into one library).
"${FF[@]}" -f lavfi -i "testsrc2=size=320x240:rate=25:duration=0.4" \
    "${X264[@]}" -crf 28 -pix_fmt yuv420p10le "${BITEXACT[@]}" \
    tenbit_yuv420p10.mp4

# 6. Still images: the same mandelbrot picture as PNG (rgb24) and JPEG (full-range yuvj420p).
"${FF[@]}" -f lavfi -i "mandelbrot=size=320x240:rate=1" -frames:v 1 -pix_fmt rgb24 "${BITEXACT[@]}" still.png
"${FF[@]}" -f lavfi -i "mandelbrot=size=320x240:rate=1" -frames:v 1 -q:v 3 "${BITEXACT[@]}" still.jpg

# 7. Image sequence: five numbered PNGs for the image2 demuxer (`seq/frame_%04d.png`).
rm -rf seq && mkdir seq
"${FF[@]}" -f lavfi -i "testsrc2=size=160x120:rate=5:duration=1" -pix_fmt rgb24 "${BITEXACT[@]}" \
    -start_number 1 seq/frame_%04d.png

# 8. Folder with numbers that sort differently as text and naturally (img2 before img10).
rm -rf folder && mkdir folder
for n in 1 2 10; do
    # Each picture is a flat grey whose level encodes its natural position (1 → 40, 2 → 80, 10 → 120).
    case $n in 1) level=0x282828 ;; 2) level=0x505050 ;; 10) level=0x787878 ;; esac
    "${FF[@]}" -f lavfi -i "color=c=${level}:size=64x48:rate=1" -frames:v 1 -pix_fmt rgb24 "${BITEXACT[@]}" \
        "folder/img${n}.png"
done

# 9. 1920x1080, 25 fps, 2 s, low-complexity content at a high CRF so it stays small: for decode/encode speed.
"${FF[@]}" -f lavfi -i "testsrc2=size=1920x1080:rate=25:duration=2" \
    "${X264[@]}" -crf 38 -pix_fmt yuv420p "${BITEXACT[@]}" \
    bench_1080p.mp4

# 10. HDR: the same SDR testsrc2 really PQ-encoded (HDR10) and HLG-encoded, as a phone's HEVC 10-bit: tagged
#     BT.709, linearised by zscale with SDR white at 100 cd/m², primaries converted to BT.2020, then the PQ or HLG
#     transfer and the BT.2020 matrix, coded by x265 with the matching VUI (and, for PQ, content light level
#     metadata of 1000/400 cd/m² as HDR10 files carry). So the code values are PQ/HLG, not only the tags.
for hdr in pq:smpte2084 hlg:arib-std-b67; do
    name=${hdr%%:*} trc=${hdr#*:}
    extra=""; [[ $name == pq ]] && extra=":max-cll=1000,400"
    "${FF[@]}" -f lavfi -i "testsrc2=size=320x240:rate=25:duration=0.4" \
        -vf "format=yuv444p,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv,zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt2020,zscale=t=$trc:m=bt2020nc:r=tv,format=yuv420p10le" \
        -c:v libx265 -preset fast -x265-params "log-level=error:pools=1:frame-threads=1:colorprim=bt2020:transfer=$trc:colormatrix=bt2020nc:range=limited$extra" \
        -color_primaries bt2020 -color_trc "$trc" -colorspace bt2020nc -color_range tv "${BITEXACT[@]}" \
        "hdr_${name}.mp4"
done

# 11. Interlaced: 352x288 (a CIF frame), 50 fields/s woven into 12 frames top field first by the interlace
#     filter, coded as interlaced H.264 (+ildct+ilme, after the bitexact flags, which would replace them), field
#     order tt in the stream.
"${FF[@]}" -f lavfi -i "testsrc2=size=352x288:rate=50:duration=0.48" \
    -vf "interlace=scan=tff:lowpass=complex,format=yuv420p" "${X264[@]}" -crf 26 -field_order tt \
    "${BITEXACT[@]}" -flags:v +bitexact+ildct+ilme interlaced_tff.mp4

# Sanity checks the tests also rely on.
rot=$(ffprobe -v error -select_streams v:0 -show_entries stream_side_data=rotation -of csv=p=0 rotated_90.mp4)
[[ "$rot" == "-90" || "$rot" == "90" ]] || { echo "rotated_90.mp4: no display matrix (got '$rot')" >&2; exit 1; }
durations=$(ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp -of csv=p=0 vfr.mp4 | awk 'NR>1{print $1-p} {p=$1}' | sort -u | wc -l)
[[ "$durations" -gt 1 ]] || { echo "vfr.mp4: frame-to-frame pts steps are all equal" >&2; exit 1; }

cat > README.md <<'MD'
# Media samples

Made by `Scripts/make-samples.sh` with the ffmpeg CLI (FFmpeg 5.1, libx264) from deterministic lavfi sources;
rerun it to regenerate them (it rewrites every file). The media tests (`Tests/VocaSegMediaTests`) decode each one
and compare with `ffprobe`/`ffmpeg`.

| File | What it is | What it exercises |
|---|---|---|
| `clip_640x360_aac.mp4` | 640x360, 25 fps, 3 s (75 frames) testsrc2, H.264 yuv420p + AAC mono 440 Hz sine | general decode; audio copied bit-identically by `VideoWriter` |
| `rotated_90.mp4` | 320x180 coded smptebars, 25 frames, tkhd display matrix "rotate 90° clockwise" (ffprobe: rotation -90) | upright 180x320 output, orientation |
| `hflip.mp4` | 320x180 coded smptebars, 5 frames, mirror display matrix | flips (ffprobe reports rotation -180; the matrix is a horizontal mirror) |
| `vfr.mp4` | 320x240, 30 frames, pts = N + ⌊N/2⌋ + ⌊N/3⌋ ticks of 1/30 s, time base 1/90000 | variable frame rate: irregular pts kept through decode and encode |
| `odd_641x479.mp4` | 641x479, 10 frames, H.264 High 4:4:4 (4:2:0 cannot hold odd sizes) | odd sizes; writer pads to 642x480 |
| `tenbit_yuv420p10.mp4` | 320x240, 10 frames, H.264 High 10, yuv420p10le | high bit depth conversion |
| `still.png`, `still.jpg` | 320x240 mandelbrot; PNG rgb24, JPEG yuvj420p (full range) | single images |
| `seq/frame_0001.png` … `frame_0005.png` | 160x120 testsrc2 frames | image2 pattern `seq/frame_%04d.png` |
| `folder/img1.png`, `img2.png`, `img10.png` | 64x48 flat greys, brighter with the number | folder input in natural order (img2 before img10) |
| `bench_1080p.mp4` | 1920x1080, 25 fps, 2 s (50 frames) testsrc2 at crf 38 | decode/encode speed |
| `hdr_pq.mp4`, `hdr_hlg.mp4` | 320x240, 10 frames, HEVC Main 10, BT.2020, really PQ- / HLG-encoded from SDR with zscale | HDR tone mapping to SDR BT.709 |
| `interlaced_tff.mp4` | 352x288, 12 interlaced frames (top field first), H.264 +ildct+ilme | deinterlacing with bwdif, field order tags |

FFmpeg 5.1's CLI cannot write a display matrix (its mp4 muxer ignores the `rotate` tag and `-display_rotation`
only arrived in 6.0), so the script patches the matrix into the track header (`tkhd`), where cameras write it.

`Scripts/make-samples.sh --motion DIR` writes the motion clips of `Scripts/bench/propagation.sh` (pans, a zoom and
objects crossing, made from scikit-image's CC0 photographs) into DIR instead; they are not kept here.
MD

du -ch "$OUT"/* | tail -1
