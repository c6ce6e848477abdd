#!/bin/sh
# Builds the libFuzzer targets and runs each for SECONDS (default 30).
#
#   tests/fuzz/run-fuzzers.sh [SECONDS] [TARGET...]
#
# Environment:
#   BUILD_DIR   the fuzz build tree (default: build-fuzz at the repository root)
#   JOBS        parallel fuzzing processes per target (default 1)
#   FUZZ_ARGS   extra libFuzzer flags, e.g. "-max_len=65536"
#
# The tree is configured once with clang-14, -Dfuzz=true, ASan+UBSan, and the
# libraries instrumented for coverage (-fsanitize=fuzzer-no-link).  Each run
# starts from the committed seeds (tests/fuzz/corpus/<target>) plus whatever
# earlier runs found (BUILD_DIR/corpus/<target>, where new inputs go: the
# committed seeds are never written to).  Crashes, leaks, timeouts and
# failed invariants land in BUILD_DIR/artifacts/<target>/; reproduce one with
#
#   BUILD_DIR/tests/fuzz/<target> BUILD_DIR/artifacts/<target>/crash-...
#
# Exit status: 0 when no target crashed, 1 otherwise, 2 on a build problem.
set -eu

SECONDS_PER_TARGET=${1:-30}
[ $# -gt 0 ] && shift
case "$SECONDS_PER_TARGET" in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2;; esac

FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$FUZZ_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build-fuzz}
JOBS=${JOBS:-1}
FUZZ_ARGS=${FUZZ_ARGS:-}

ALL_TARGETS="fuzz_command_parser fuzz_session_preauth fuzz_session_csync fuzz_session_imap fuzz_sasl_base64 fuzz_config"
TARGETS=${*:-$ALL_TARGETS}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    setup_log=$(mktemp)
    CC=clang-14 CXX=clang++-14 meson setup "$BUILD_DIR" "$REPO" \
        -Dfuzz=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dcpp_args=-fsanitize=fuzzer-no-link >"$setup_log" 2>&1 || {
        cat "$setup_log" >&2
        rm -f "$setup_log"
        exit 2
    }
    rm -f "$setup_log"
fi
ninja_targets=""
for t in $TARGETS; do ninja_targets="$ninja_targets tests/fuzz/$t"; done
# shellcheck disable=SC2086  # one word per target
ninja -C "$BUILD_DIR" $ninja_targets >"$BUILD_DIR/fuzz-build.log" 2>&1 || {
    tail -40 "$BUILD_DIR/fuzz-build.log" >&2
    exit 2
}

dict_for() {
    case "$1" in
        fuzz_session_*) echo "$FUZZ_DIR/fuzz_session.dict" ;;
        *) echo "$FUZZ_DIR/$1.dict" ;;
    esac
}

# UBSan reports become crashes; LSan runs after each input that leaks.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$FUZZ_DIR/lsan.supp:print_suppressions=0}"

failed=0
printf '%-22s %12s %8s %8s  %s\n' target executions exec/s crashes result
for t in $TARGETS; do
    work="$BUILD_DIR/corpus/$t"
    artifacts="$BUILD_DIR/artifacts/$t"
    log="$BUILD_DIR/logs/$t.log"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    before=$(find "$artifacts" -type f | wc -l)
    dict=$(dict_for "$t")
    dict_arg=""
    [ -f "$dict" ] && dict_arg="-dict=$dict"
    parallel=""
    [ "$JOBS" -gt 1 ] && parallel="-jobs=$JOBS -workers=$JOBS"
    status=0
    # Run where the per-worker logs (fuzz-N.log, with -jobs) can be found again.
    rundir="$BUILD_DIR/logs/$t.run"
    rm -rf "$rundir" && mkdir -p "$rundir"
    # shellcheck disable=SC2086  # FUZZ_ARGS, dict_arg and parallel are word lists
    (cd "$rundir" && "$BUILD_DIR/tests/fuzz/$t" $dict_arg $parallel $FUZZ_ARGS \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$work" "$FUZZ_DIR/corpus/$t") >"$log" 2>&1 || status=$?
    # libFuzzer's final statistics, summed over the workers when there are several.
    runs=$(cat "$log" "$rundir"/fuzz-*.log 2>/dev/null | sed -n 's/^stat::number_of_executed_units: *//p' | awk '{s+=$1} END {print s+0}')
    speed=$(cat "$log" "$rundir"/fuzz-*.log 2>/dev/null | sed -n 's/^stat::average_exec_per_sec: *//p' | awk '{s+=$1} END {print s+0}')
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))
    result=ok
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        result="FAILED (exit $status, see $log)"
        failed=1
    fi
    printf '%-22s %12s %8s %8s  %s\n' "$t" "$runs" "$speed" "$crashes" "$result"
done
exit $failed
