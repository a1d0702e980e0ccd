#!/usr/bin/env bash
# Push latency with protected branches: `git push` wall time of small fast-forward pushes to the
# protected default branch (the pre-receive hook runs: `autogit hook pre-receive` and one
# `git merge-base --is-ancestor`) and to an unprotected branch (no hook runs), interleaved, as
# root over smart HTTP against a fresh `autogit serve` (SQLite, no runner).
#
# Usage: bench/push_protection.sh [AUTOGIT_BIN...]   (default: target/release/autogit)
# Give a binary from before protected branches too to compare: each binary gets its own server
# and the same pushes. Knobs: BENCH_PUSHES=40 (per branch), BENCH_WARMUP=3.
# stdout: one Markdown table row per binary and branch (median, p90, min, max in ms).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PUSHES=${BENCH_PUSHES:-40}
WARMUP=${BENCH_WARMUP:-3}
PASSWORD=bench-password-123
[ $# -gt 0 ] || set -- "$ROOT/target/release/autogit"

stats() { # ms values on stdin -> "median | p90 | min | max"
    sort -n | awk '{v[NR]=$1} END {
        m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
        p = v[int(0.9 * NR + 0.999)]
        printf "%.1f | %.1f | %.1f | %.1f", m, p, v[1], v[NR]
    }'
}

measure() {
    local bin=$1 tmp pid url token
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/autogit-push-bench.XXXXXX")
    AUTOGIT_ROOT_PASSWORD=$PASSWORD AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT=0 AUTOGIT_LOG_LEVEL=warn \
        setsid "$bin" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    trap 'kill -- -'"$pid"' 2>/dev/null; rm -rf '"$tmp" EXIT
    for _ in $(seq 600); do
        url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/out")
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "server did not start: $(cat "$tmp/err")" >&2; return 1; }
    token=$("$bin" --data-dir "$tmp/data" admin token create --user root --name bench --scopes api | tail -1)
    curl -sf -H "PRIVATE-TOKEN: $token" -X POST "$url/api/v4/projects" -d name=bench >/dev/null
    local remote=${url/http:\/\//http:\/\/root:$token@}/root/bench.git
    git init -q -b main "$tmp/w"
    cd "$tmp/w"
    git -c user.name=b -c user.email=b@example.com commit -q --allow-empty -m init
    git push -q "$remote" main main:feature
    git branch -q feature
    : >"$tmp/main.ms"
    : >"$tmp/feature.ms"
    for i in $(seq $((PUSHES + WARMUP))); do
        for branch in main feature; do
            git checkout -q "$branch"
            git -c user.name=b -c user.email=b@example.com commit -q --allow-empty -m "$branch $i"
            local start=$EPOCHREALTIME
            git push -q "$remote" "$branch"
            local end=$EPOCHREALTIME
            if [ "$i" -gt "$WARMUP" ]; then
                awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }' >>"$tmp/$branch.ms"
            fi
        done
    done
    cd - >/dev/null
    echo "| $bin | main (protected) | $PUSHES | $(stats <"$tmp/main.ms") |"
    echo "| $bin | feature (unprotected) | $PUSHES | $(stats <"$tmp/feature.ms") |"
    kill -- -"$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"
    trap - EXIT
}

echo "| binary | branch | pushes | median ms | p90 ms | min ms | max ms |"
echo "|---|---|---|---|---|---|---|"
for bin in "$@"; do
    measure "$bin"
done
