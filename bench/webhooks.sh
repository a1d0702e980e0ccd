#!/usr/bin/env bash
# The webhook benchmark (issue 14): starts a release `autogit serve` on a fresh data directory and
# runs bench/webhooks.py against it: push → POST received at a local receiver with 50 hooks on the
# project (the push itself measured in the same run as the baseline), and 1,000 pushes while the
# receiver is down for a minute (every delivery must arrive once it is back, in order per hook).
# BACKOFF=60 is GitLab's schedule (the default); stdout: a Markdown section.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
AUTOGIT_BIN=${AUTOGIT_BIN:-$ROOT/target/release/autogit}
T=$(mktemp -d)
PID=
trap '[[ -n $PID ]] && kill $PID 2>/dev/null; wait 2>/dev/null; [[ -n ${KEEP_LOG:-} ]] && cp "$T/err" "$KEEP_LOG"; rm -rf "$T"' EXIT
AUTOGIT_ROOT_PASSWORD=bench-password-123 AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT=0 AUTOGIT_LOG_LEVEL=${LOG_LEVEL:-warn} \
    AUTOGIT_WEBHOOKS_BACKOFF_SECONDS=${BACKOFF:-60} \
    "$AUTOGIT_BIN" serve --listen 127.0.0.1:0 --data-dir "$T/data" > "$T/out" 2> "$T/err" &
PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$T/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/.*AutoGit listening on \(http:\/\/[^ ]*\).*/\1/p' "$T/out")
TOKEN=$("$AUTOGIT_BIN" --data-dir "$T/data" admin token create --user root --name bench --scopes api | tail -1)
echo "### Webhooks ($(date -u +%F), $(nproc) cores, SQLite, \`$AUTOGIT_BIN\`, backoff unit ${BACKOFF:-60} s)"
echo
python3 "$BENCH_DIR/webhooks.py" "$URL" "$TOKEN" "$T/work" "${ROUNDS:-30}" "${OUTAGE_PUSHES:-1000}" "${OUTAGE_SECONDS:-60}"
