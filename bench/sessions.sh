#!/usr/bin/env bash
# Starts a release `autogit serve` on a fresh data directory (SQLite, or PostgreSQL with
# BENCH_POSTGRES_URL) and runs bench/sessions.py against it. stdout: a Markdown section.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
AUTOGIT_BIN=${AUTOGIT_BIN:-$ROOT/target/release/autogit}
T=$(mktemp -d)
PID=
trap '[[ -n $PID ]] && kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
[[ -n ${BENCH_POSTGRES_URL:-} ]] && export AUTOGIT_DATABASE_URL=$BENCH_POSTGRES_URL
AUTOGIT_ROOT_PASSWORD=bench-password-123 AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT=0 AUTOGIT_LOG_LEVEL=warn \
    "$AUTOGIT_BIN" serve --listen 127.0.0.1:0 --data-dir "$T/data" > "$T/out" 2> "$T/err" &
PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$T/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/.*AutoGit listening on \(http:\/\/[^ ]*\).*/\1/p' "$T/out")
TOKEN=$("$AUTOGIT_BIN" --data-dir "$T/data" admin token create --user root --name bench --scopes api | tail -1)
DB=SQLite; [[ -n ${BENCH_POSTGRES_URL:-} ]] && DB=PostgreSQL
echo "### Browser sessions ($(date -u +%F), $(nproc) cores, $DB, \`$AUTOGIT_BIN\`)"
echo
python3 "$BENCH_DIR/sessions.py" "$URL" "$TOKEN" "${BENCH_ROUNDS:-10}"
