#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for SECONDS (default 60), printing the executions
# libFuzzer did. `run.sh [SECONDS] [TARGET...]`. Exits 1 when a target found a crash (its input is
# written under fuzz/artifacts/<target>/), 2 when cargo-fuzz is missing, 3 when the build fails.
# See README.md.
#
# Stable Rust: `-s none` builds without AddressSanitizer, whose `-Zsanitizer` flag is nightly-only
# (the parsers are safe Rust; coverage, debug assertions and overflow checks stay on). Set
# FUZZ_SANITIZER=address to use ASan on a nightly toolchain.
set -euo pipefail

seconds="${1:-60}"
shift || true
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

sanitizer="${FUZZ_SANITIZER:-none}"
host=$(rustc -vV | sed -n 's/^host: //p')
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Built once, then each binary is run directly (as `cargo fuzz run` does, without its rebuild).
start=$(date +%s)
build=(cargo fuzz build -s "$sanitizer" --target "$host")
if [ "${#targets[@]}" -eq 1 ]; then build+=("${targets[0]}"); fi
if ! "${build[@]}"; then
    echo "the fuzz targets did not build" >&2
    exit 3
fi
echo "built ${#targets[@]} target(s) in $(($(date +%s) - start)) s"

# The corpus a run grows, and the temporary directories the targets make, stay under target/:
# corpus/ holds only the committed seeds.
work="$PWD/target/fuzz-work"
mkdir -p "$work/tmp"
export TMPDIR="$work/tmp"

status=0
for target in "${targets[@]}"; do
    mkdir -p "$work/corpus/$target" "artifacts/$target"
    log="$work/$target.log"
    # -timeout: an input running 10 s is a hang, reported as a crash.
    if "target/$host/release/$target" -artifact_prefix="artifacts/$target/" -max_total_time="$seconds" \
        -timeout=10 -print_final_stats=1 "$work/corpus/$target" "corpus/$target" >"$log" 2>&1; then
        done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
        echo "$target: ${done_line:-no 'Done' line, see $log} (corpus grown to $(find "$work/corpus/$target" -type f | wc -l) inputs)"
    else
        status=1
        echo "$target: CRASH after $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs; log $log"
        grep -E 'panicked at|Test unit written to|SUMMARY' "$log" || tail -n 40 "$log"
    fi
done
rm -rf "$work/tmp"
exit "$status"
