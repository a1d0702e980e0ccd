#!/usr/bin/env bash
# Each attempt must fail inside the job sandbox. DATA_DIR and SERVER_PID are the server's,
# passed as CI variables by the test.
leak() { echo "LEAK: $*"; }
blocked() { echo "BLOCKED: $*"; }

if ls "$DATA_DIR" >/dev/null 2>&1; then leak "data directory listed"; else blocked "data directory"; fi
if cat "$DATA_DIR/autogit.db" >/dev/null 2>&1; then leak "database file read"; else blocked "database file"; fi
if ls "$DATA_DIR/repositories/@hashed" >/dev/null 2>&1; then leak "repositories listed"; else blocked "repositories"; fi
others=""
while read -r repo; do
    [ "$repo" = "$CI_PROJECT_DIR/.git" ] || others="$others $repo"
done < <(find / \( -path /proc -o -path /sys -o -path /usr \) -prune -o -name '*.git' -type d -print 2>/dev/null)
if [ -n "$others" ]; then leak "repositories found:$others (own: $CI_PROJECT_DIR)"; else blocked "other repositories"; fi
if cat "/proc/$SERVER_PID/environ" 2>/dev/null | grep -qa AUTOGIT; then leak "server environment"; else blocked "server environment"; fi
if grep -qa AUTOGIT_ROOT_PASSWORD /proc/*/environ 2>/dev/null; then leak "an environment with the root password"; else blocked "process environments"; fi
if pgrep -f "autogit serve" >/dev/null; then leak "server process visible"; else blocked "server process"; fi
for port in 5432 6379 2375; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then leak "loopback port $port"; else blocked "loopback port $port"; fi
done
if [ -e /var/run/docker.sock ] || [ -e /run/docker.sock ]; then leak "docker socket"; else blocked "docker socket"; fi
if [ "$(id -u)" = 0 ]; then leak "root inside"; else blocked "root"; fi
exit 0
