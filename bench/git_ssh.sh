#!/usr/bin/env bash
# git-over-SSH benchmark: AutoGit's built-in SSH server against OpenSSH's sshd running
# git-upload-pack / git-receive-pack on the same machine, same repository (make_repo.sh's), same
# client (OpenSSH + git), measured interleaved in one run; plus the idle RSS of `autogit serve`
# with its SSH listener on. Run as root (sshd needs it). See bench/README.md.
#
# stdout: a Markdown section for BENCHMARKS.md. Progress goes to stderr.
# Knobs: BENCH_QUICK=1 (small repository), BENCH_RUNS=5, AUTOGIT_BIN=target/release/autogit,
#        BENCH_TMPDIR= (where clients write; default a tmpfs under /dev/shm).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RUNS=${BENCH_RUNS:-5}
AUTOGIT_BIN=${AUTOGIT_BIN:-$ROOT/target/release/autogit}
export LC_ALL=C
log() { echo "[bench-ssh $(date +%T)] $*" >&2; }
[[ $(id -u) == 0 ]] || { log "run as root: sshd needs it"; exit 1; }
[[ -x /usr/sbin/sshd ]] || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >&2; }
[[ -x $AUTOGIT_BIN ]] || { log "no $AUTOGIT_BIN: cargo build --release -p autogit"; exit 1; }

REPO=$("$BENCH_DIR/make_repo.sh")
BASE=${BENCH_TMPDIR:-/dev/shm}
T=$(mktemp -d "$BASE/autogit-bench-ssh.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$T/client"
export GIT_SSH_COMMAND="ssh -i $T/client -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"

# OpenSSH: its own host key, the client key authorized for root, no PAM, no other door.
mkdir -p "$T/sshd"
ssh-keygen -q -t ed25519 -N '' -f "$T/sshd/host"
cp "$T/client.pub" "$T/sshd/authorized_keys"
SSHD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/sshd/config" <<CFG
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $T/sshd/host
AuthorizedKeysFile $T/sshd/authorized_keys
PidFile $T/sshd/pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
CFG
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$T/sshd/config" 2> "$T/sshd/log" & PIDS+=($!)

# AutoGit with its SSH listener.
mkdir -p "$T/autogit"
AUTOGIT_ROOT_PASSWORD=bench-password-123 AUTOGIT_SSH_LISTEN=127.0.0.1:0 AUTOGIT_CI_BUILTIN_RUNNER_CONCURRENT=0 \
    AUTOGIT_LOG_LEVEL=warn setsid "$AUTOGIT_BIN" serve --listen 127.0.0.1:0 --data-dir "$T/autogit/data" > "$T/autogit/out" 2> "$T/autogit/err" & PIDS+=($!)
AUTOGIT_PID=${PIDS[-1]}
for _ in $(seq 1 100); do grep -q "listening on" "$T/autogit/out" 2>/dev/null && break; sleep 0.1; done
HTTP=$(sed -n 's/.*AutoGit listening on http:\/\/\([^ ]*\).*/\1/p' "$T/autogit/out")
AG_PORT=$(sed -n 's/^SSH server on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/autogit/out")
TOKEN=$("$AUTOGIT_BIN" --data-dir "$T/autogit/data" admin token create --user root --name bench --scopes api | tail -1)
api() { curl -sf -H "PRIVATE-TOKEN: $TOKEN" "$@"; }
api -X POST "http://$HTTP/api/v4/user/keys" --data-urlencode title=bench --data-urlencode "key=$(cat "$T/client.pub")" > /dev/null
for _ in $(seq 1 50); do [[ -f $T/sshd/pid ]] && break; sleep 0.1; done
sleep 3
RSS_START_KIB=$(awk '/^VmRSS/{print $2}' "/proc/$AUTOGIT_PID/status")

new_targets() { # $1 = name: an empty AutoGit project and an empty bare repository for sshd
    api -X POST "http://$HTTP/api/v4/projects" -d "name=$1" > /dev/null
    git init -q --bare "$T/sshd/$1.git"
}
AG_URL() { echo "ssh://git@127.0.0.1:$AG_PORT/root/$1.git"; }
OS_URL() { echo "ssh://root@127.0.0.1:$SSHD_PORT$T/sshd/$1.git"; }

# The source repository's main branch and tags, pushed once to both for the clone runs.
new_targets src
git -C "$REPO" push -q "$(AG_URL src)" 'refs/heads/main:refs/heads/main'
git -C "$REPO" push -q "$(OS_URL src)" 'refs/heads/main:refs/heads/main'
PACK_MIB=$(du -sm "$REPO/objects/pack" | cut -f1)

now() { echo "$EPOCHREALTIME"; }
declare -A TIMES
run() { # $1 = label, rest = command; appends the seconds taken
    local t0; t0=$(now); "${@:2}" > /dev/null 2>&1 || { log "$1 failed"; exit 1; }
    TIMES[$1]+="$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.3f ", b-a}')"
}
for i in $(seq 1 "$RUNS"); do
    log "run $i/$RUNS"
    rm -rf "$T/c1" "$T/c2"
    order=(autogit openssh); (( i % 2 == 0 )) && order=(openssh autogit)
    for who in "${order[@]}"; do
        if [[ $who == autogit ]]; then run clone_autogit git clone -q --no-checkout "$(AG_URL src)" "$T/c1"
        else run clone_openssh git clone -q --no-checkout "$(OS_URL src)" "$T/c2"; fi
    done
    new_targets "p$i"
    for who in "${order[@]}"; do
        if [[ $who == autogit ]]; then run push_autogit git -C "$REPO" push -q "$(AG_URL "p$i")" 'refs/heads/main:refs/heads/main'
        else run push_openssh git -C "$REPO" push -q "$(OS_URL "p$i")" 'refs/heads/main:refs/heads/main'; fi
    done
done
sleep 5
RSS_KIB=$(awk '/^VmRSS/{print $2}' "/proc/$AUTOGIT_PID/status")

median() { tr ' ' '\n' <<< "$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
range() { tr ' ' '\n' <<< "$1" | grep -v '^$' | sort -n | awk 'NR==1{lo=$1} {hi=$1} END{printf "%s–%s", lo, hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
C_AG=$(median "${TIMES[clone_autogit]}"); C_OS=$(median "${TIMES[clone_openssh]}")
P_AG=$(median "${TIMES[push_autogit]}"); P_OS=$(median "${TIMES[push_openssh]}")
cat <<MD
### git over SSH: AutoGit's built-in server vs OpenSSH sshd + git ($(date -u +%F), $(nproc) cores)

Repository: make_repo.sh's ($(basename "$REPO"), pack ${PACK_MIB} MiB, branch \`main\`). Client: OpenSSH
$(ssh -V 2>&1 | cut -d' ' -f1 | cut -d_ -f2) + git $(git --version | cut -d' ' -f3), Ed25519 key; $RUNS interleaved runs each, median (min–max) in seconds.
AutoGit: \`$AUTOGIT_BIN\` (release), \`git clone --no-checkout\`; a push is the whole \`main\` into an empty project.

| | AutoGit | OpenSSH + git | AutoGit ÷ OpenSSH | target |
|---|---|---|---|---|
| clone | $C_AG ($(range "${TIMES[clone_autogit]}")) | $C_OS ($(range "${TIMES[clone_openssh]}")) | $(ratio "$C_AG" "$C_OS") | ≤ 1.05 |
| push | $P_AG ($(range "${TIMES[push_autogit]}")) | $P_OS ($(range "${TIMES[push_openssh]}")) | $(ratio "$P_AG" "$P_OS") | ≤ 1.05 |

Idle RSS of \`autogit serve\` with the SSH listener on: $(awk -v k="$RSS_START_KIB" 'BEGIN{printf "%.1f", k/1024}') MiB after start (target ≤ 22 MiB); $(awk -v k="$RSS_KIB" 'BEGIN{printf "%.1f", k/1024}') MiB 5 s after the last of the runs above.
MD
