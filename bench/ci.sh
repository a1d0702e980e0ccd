#!/usr/bin/env bash
# CI coordinator benchmarks (bench/README.md, "ci.sh"): builds the release binaries, starts real
# `autogit serve` processes and drives their runner job API with simulated runners. Prints a
# Markdown section for BENCHMARKS.md on stdout (also written to bench/work/ci-results.md);
# progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    cargo build --release -p autogit -p autogit-bench-ci >&2
fi
command -v git >/dev/null || { echo "ci.sh: git is needed" >&2; exit 1; }

export AUTOGIT_BIN="${AUTOGIT_BIN:-target/release/autogit}"
export BENCH_TMPDIR="${BENCH_TMPDIR:-bench/work/ci}"
mkdir -p "$BENCH_TMPDIR"

tool="${BENCH_CI_TOOL:-target/release/autogit-bench-ci}"
results="bench/work/ci-results.md"
"$tool" > "$results.tmp"
mv "$results.tmp" "$results"
cat "$results"
