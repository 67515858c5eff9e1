#!/usr/bin/env bash
# Fuzz smoke run: builds every fuzz target, then runs each for
# ${FUZZ_SECONDS:-30} seconds from its seed corpus with the dictionary.
# Run from the repository root:  bash fuzz/smoke.sh
#
# New corpus inputs go to a temporary copy of fuzz/corpus/<target> (libFuzzer
# writes into the first corpus directory it is given), so the committed seeds
# stay as they are. A crash leaves its input in fuzz/artifacts/<target>/ and
# makes this script exit non-zero; see fuzz/README.md for turning it into a
# regression test.
set -euo pipefail

seconds="${FUZZ_SECONDS:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
for target in $targets; do
    corpus="$work/$target"
    mkdir -p "$corpus"
    if [ -d "fuzz/corpus/$target" ]; then
        cp -R "fuzz/corpus/$target/." "$corpus/"
    fi
    log="$work/$target.log"
    echo "== $target: ${seconds}s"
    if cargo +nightly fuzz run "$target" "$corpus" -- \
        -dict=fuzz/code.dict \
        -max_total_time="$seconds" \
        -rss_limit_mb=2048 \
        -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        echo "   ok: ${runs:-?} runs, ${speed:-?} exec/s"
    else
        echo "   FAILED; last lines of the log:"
        tail -n 40 "$log" | sed 's/^/   | /'
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz smoke: crash or error in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz smoke: all targets ran ${seconds}s without a crash"
