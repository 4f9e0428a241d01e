#!/usr/bin/env bash
# Builds the libFuzzer harnesses of Fuzz/ and runs each for a while. See Fuzz/README.md.
#
#   Scripts/fuzz.sh [--time SECONDS] [--no-build] [HARNESS...]
#
# HARNESS is one of: media image checkpoint-zip unpickler safetensors pipeline (default: all).
# Each run starts from Fuzz/Corpus/<harness> (read-only, in git) plus a scratch corpus that grows across runs in
# .build-fuzz/corpus/<harness> (outside git). Crashes, hangs, leaks and out-of-memory inputs are kept in
# .build-fuzz/artifacts/<harness>/, the fuzzer's log in .build-fuzz/logs/<harness>.log.
#
# On a shared machine set VOCASEG_BUILD_LOCK to a lock file: the build and each harness run then take it with
# flock, one at a time, so that other builds get their turn between harnesses.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(media image checkpoint-zip unpickler safetensors pipeline)
seconds=60
build=1
harnesses=()
while (($#)); do
    case "$1" in
        --time) seconds="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) harnesses+=("$1"); shift ;;
    esac
done
((${#harnesses[@]})) || harnesses=("${all[@]}")
for h in "${harnesses[@]}"; do
    [[ " ${all[*]} " == *" $h "* ]] || { echo "fuzz.sh: unknown harness '$h' (one of: ${all[*]})" >&2; exit 2; }
done

scratch=.build-fuzz
locked() {
    if [[ -n "${VOCASEG_BUILD_LOCK:-}" ]]; then flock "$VOCASEG_BUILD_LOCK" "$@"; else "$@"; fi
}

if ((build)); then
    # SwiftPM passes --sanitize=fuzzer and --sanitize=address to swiftc as two flags, and the driver keeps only the
    # last one, so Swift code would get ASan but no coverage instrumentation. The combined -Xswiftc flag fixes the
    # compile; --sanitize still makes SwiftPM link libFuzzer's main instead of the executables' own entry points.
    locked swift build --package-path Fuzz --scratch-path "$scratch" -c release \
        --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address
fi
bin="$scratch/release"

# The Swift runtime's own crash backtracer runs inside the crashing process and trips ASan; libFuzzer and ASan
# print the stack themselves.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0}"

status=0
for h in "${harnesses[@]}"; do
    corpus="$scratch/corpus/$h"
    artifacts="$scratch/artifacts/$h"
    log="$scratch/logs/$h.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    echo "== fuzz-$h: ${seconds}s (log $log)"
    # -timeout: one input taking longer is a hang; -rss_limit_mb: a small file that makes a reader allocate gigabytes
    # is a finding too; -max_len: larger inputs are slow to mutate and rarely reach more.
    rc=0
    locked "$bin/fuzz-$h" "$corpus" "Fuzz/Corpus/$h" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done [0-9]+ runs' "$log" || true
    if ((rc)); then
        status=1
        echo "fuzz-$h: FOUND something (exit $rc); inputs in $artifacts/, details:"
        grep -E 'ERROR|SUMMARY|Fatal error|Test unit written' "$log" | head -n 8
    fi
done
exit "$status"
