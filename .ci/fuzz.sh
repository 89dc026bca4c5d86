#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/, runs each for FUZZ_SECONDS seconds
# (default 20), one at a time and single-process, on a temporary copy of its seed corpus (the
# checked-in corpus never grows), and prints one line per target: target, seconds, executions.
# Exits non-zero if any target crashes; the crashing input stays in fuzz/artifacts/<target>/
# (git-ignored) and is printed in hex.
#
#   FUZZ_SECONDS=60 .ci/fuzz.sh               # longer
#   FUZZ_TARGETS="length_be lines" .ci/fuzz.sh  # some targets only
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
# No sanitizer (the crates forbid unsafe code; libFuzzer's coverage guidance is what matters), but
# debug assertions and overflow checks on, so arithmetic overflow in the library is a crash.
FLAGS=(--sanitizer none --debug-assertions)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

echo "== build"
build_start=$(date +%s)
cargo +nightly fuzz build "${FLAGS[@]}"
echo "built in $(( $(date +%s) - build_start ))s"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

summary=()
crashed=()
for t in $targets; do
    mkdir -p "$work/corpus/$t"
    if [ -d "fuzz/corpus/$t" ]; then
        cp -R "fuzz/corpus/$t/." "$work/corpus/$t/"
    fi
    extra=()
    if [ -f "fuzz/$t.dict" ]; then
        extra+=("-dict=fuzz/$t.dict")
    fi
    log="$work/$t.log"
    echo "== $t (${FUZZ_SECONDS}s)"
    start=$(date +%s)
    # -jobs/-workers stay at 1: one fuzzer process at a time.
    if cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$work/corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 "${extra[@]}" \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        crashed+=("$t")
    fi
    secs=$(( $(date +%s) - start ))
    # libFuzzer's final stats: "Done N runs in S second(s)", or after a crash the
    # -print_final_stats line "stat::number_of_executed_units: N".
    execs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    line=$(printf '%-20s %5ss %12s execs  %s' "$t" "$secs" "${execs:-?}" "$status")
    echo "$line"
    summary+=("$line")
    if [ "$status" != ok ]; then
        # The panic message and libFuzzer's crash report, without the stack traces.
        sed -n '/panicked at/,/^stack backtrace/p' "$log" | head -n 30
        sed -n '/^SUMMARY: libFuzzer/,/^Base64/p' "$log"
        for f in fuzz/artifacts/"$t"/*; do
            [ -f "$f" ] || continue
            echo "-- $f"
            od -A d -t x1 "$f" | head -n 40
        done
    fi
done

echo
echo "== fuzz summary (FUZZ_SECONDS=$FUZZ_SECONDS)"
printf '%s\n' "${summary[@]}"
if [ "${#crashed[@]}" -gt 0 ]; then
    echo "fuzz: ${#crashed[@]} target(s) crashed: ${crashed[*]}"
    exit 1
fi
echo "fuzz: all ${#summary[@]} targets ran without a crash"
