#!/usr/bin/env bash
# The web pages' benchmark (issue 13): starts a release `autogit serve` on a fresh data
# directory, pushes the 20,000-file benchmark repository (bench/make_repo.sh) and runs
# bench/web.py against it (time to first byte per page against git's own commands, log
# streaming into a real Chromium's DOM, page weights, idle RSS). stdout: a Markdown section.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
AUTOGIT_BIN=${AUTOGIT_BIN:-$ROOT/target/release/autogit}
REPO=$("$BENCH_DIR/make_repo.sh")
T=$(mktemp -d)
PID=
trap '[[ -n $PID ]] && kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
AUTOGIT_ROOT_PASSWORD=bench-password-123 AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT=0 AUTOGIT_LOG_LEVEL=warn \
    "$AUTOGIT_BIN" serve --listen 127.0.0.1:0 --data-dir "$T/data" > "$T/out" 2> "$T/err" &
PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$T/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/.*AutoGit listening on \(http:\/\/[^ ]*\).*/\1/p' "$T/out")
TOKEN=$("$AUTOGIT_BIN" --data-dir "$T/data" admin token create --user root --name bench --scopes api | tail -1)
echo "### Web pages ($(date -u +%F), $(nproc) cores, SQLite, \`$AUTOGIT_BIN\`)"
echo
python3 "$BENCH_DIR/web.py" "$URL" "$TOKEN" "$REPO" "$PID" "${BENCH_ROUNDS:-50}"
