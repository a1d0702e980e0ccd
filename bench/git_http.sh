#!/usr/bin/env bash
# Git-over-HTTP benchmark: AutoGit against `git clone file://` (the limit) and
# `git http-backend` behind nginx + fcgiwrap (the usual smart-HTTP setup),
# plus the idle memory of `autogit serve`. See bench/README.md.
#
# stdout: a Markdown section for BENCHMARKS.md (also written to
# bench/work/results.md). Everything else (progress, hyperfine) goes to stderr.
# Typical duration: ~3 min at full size, ~30 s with BENCH_QUICK=1.
#
# Knobs (environment):
#   BENCH_QUICK=1          small repository (2,000 files / 300 commits)
#   BENCH_FILES, BENCH_COMMITS, BENCH_SEED   repository shape (make_repo.sh)
#   BENCH_RUNS=5           timed runs per measurement (median, min, max reported)
#   BENCH_WARMUP=1         untimed warm-up runs (clone/fetch; never for push)
#   BENCH_FETCH_COMMITS=50 size of the incremental-fetch delta, in commits
#   BENCH_CLONE_FLAGS=     extra `git clone` flags, e.g. "--no-checkout"
#   BENCH_IDLE_WAIT=5      seconds between the clone and the idle RSS reading
#   BENCH_SKIP_AUTOGIT=1   only the baselines (no autogit binary needed)
#   AUTOGIT_BIN=target/release/autogit
#   AUTOGIT_BUILD=release  build profile to report when it can't be told from the path
#   BENCH_TIMER=interleaved  or "hyperfine" (installed if missing): see measure_group
#   BENCH_NO_INSTALL=1     never apt-get install missing tools
#   BENCH_KEEP=1           keep bench/work/run (servers' data, logs) after the run
#   BENCH_TMPDIR=          where clients write (default: a tmpfs under /dev/shm)
# shellcheck disable=SC2155 # `local x=$(q ...)`: q (printf %q) cannot fail
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
WORK=${BENCH_WORK:-$BENCH_DIR/work}
RUN=$WORK/run
RESULTS=$WORK/results.md
CLIENT_TMP= # set by pick_client_tmp

QUICK=${BENCH_QUICK:-0}
RUNS=${BENCH_RUNS:-5}
WARMUP=${BENCH_WARMUP:-1}
FETCH_COMMITS=${BENCH_FETCH_COMMITS:-50}
CLONE_FLAGS=${BENCH_CLONE_FLAGS:-}
IDLE_WAIT=${BENCH_IDLE_WAIT:-5}
SKIP_AUTOGIT=${BENCH_SKIP_AUTOGIT:-0}
AUTOGIT_BIN=${AUTOGIT_BIN:-$ROOT/target/release/autogit}
TIMER=${BENCH_TIMER:-interleaved}
ROOT_PASSWORD=bench-password-123
export LC_ALL=C # '.' as the decimal separator in $EPOCHREALTIME and awk

# Targets from the performance issue.
TARGET_CLONE_VS_FILE=1.10
TARGET_CLONE_VS_BACKEND=1.00
TARGET_IDLE_RSS_MIB=30

log() { echo "[bench $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
q() { printf '%q' "$1"; }

# ---------------------------------------------------------------------------
# Process management. Every server is started with setsid so that it leads its
# own process group: stopping the group also stops fcgiwrap's preforked
# children, nginx's workers and any git child of autogit. The EXIT trap stops
# them all, whatever way the script ends.
# ---------------------------------------------------------------------------
GROUPS_STARTED=()

start_bg() { # start_bg VAR LOGFILE CMD... ; VAR receives the pid (= pgid)
    local var=$1 logfile=$2
    shift 2
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    printf -v "$var" '%s' "$!"
    GROUPS_STARTED+=("$!")
}

alive() { # alive PID: running and not a zombie
    [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

stop_group() { # stop_group PID: TERM the group, KILL it after 10 s, reap
    local pid=$1 i
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Orphaned group members (fcgiwrap/nginx workers) are reaped by init;
    # give that a moment so that nothing of ours is left when we return.
    for ((i = 0; i < 50; i++)); do
        pgrep -g "$pid" >/dev/null || break
        sleep 0.1
    done
}

cleanup() {
    local rc=$? pid
    for pid in "${GROUPS_STARTED[@]}"; do
        stop_group "$pid"
    done
    if [[ $rc != 0 ]]; then
        log "failed (exit $rc); logs are in $RUN/logs"
        if [[ -d $RUN/logs ]]; then tail -n 20 "$RUN"/logs/*.log >&2 2>/dev/null || true; fi
    fi
    [[ -n $CLIENT_TMP && $CLIENT_TMP != "$RUN"/* ]] && rm -rf "$CLIENT_TMP"
    if [[ ${BENCH_KEEP:-0} != 1 && $rc == 0 ]]; then
        rm -rf "$RUN"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
install_deps() {
    local need=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
    command -v fcgiwrap >/dev/null || [[ -x /usr/sbin/fcgiwrap ]] || need+=(fcgiwrap)
    command -v curl >/dev/null || need+=(curl)
    if [[ $TIMER == hyperfine ]] && ! command -v hyperfine >/dev/null; then
        need+=(hyperfine)
    fi
    ((${#need[@]})) || return 0
    if [[ ${BENCH_NO_INSTALL:-0} == 1 || $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
        ((${#need[@]} == 0)) || die "missing tools: ${need[*]} (install them, or run as root with apt-get)"
        return 0
    fi
    log "installing ${need[*]} with apt-get"
    # Debian's postinst would start a system-wide nginx on port 80; a
    # temporary policy-rc.d forbids starting services during the install.
    local policy=/usr/sbin/policy-rc.d own_policy=0 ok=1
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    apt-get update -qq >&2 || ok=0
    ((ok)) && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || ok=0; }
    ((own_policy)) && rm -f "$policy"
    ((ok)) || die "apt-get install ${need[*]} failed"
}

# An isolated git configuration: the user's ~/.gitconfig (protocol.version,
# credential helpers, fsmonitor, ...) must not change what is measured.
setup_git_env() {
    export HOME=$RUN/home
    export GIT_CONFIG_NOSYSTEM=1
    export GIT_CONFIG_GLOBAL=$HOME/.gitconfig
    export GIT_TERMINAL_PROMPT=0
    unset GIT_DIR GIT_WORK_TREE GIT_PROTOCOL GIT_TRACE GIT_TRACE_PACKET || true
    mkdir -p "$HOME"
    cat >"$GIT_CONFIG_GLOBAL" <<'EOF'
[init]
	defaultBranch = main
[credential]
	helper =
[gc]
	auto = 0
[maintenance]
	auto = false
[advice]
	detachedHead = false
[safe]
	directory = *
EOF
}

# Client-side scratch space (clone destinations, fetch copies). A checkout
# of thousands of files into ext4 right after deleting the previous one
# varies by 3-5x from run to run (journal, discard); a tmpfs removes that
# noise, which is the client's, not the server's. Servers keep their data on
# disk under bench/work/run.
pick_client_tmp() {
    local need_kb=$1 avail
    if [[ -n ${BENCH_TMPDIR:-} ]]; then
        CLIENT_TMP=$BENCH_TMPDIR/autogit-bench.$$
    elif [[ -d /dev/shm && -w /dev/shm ]] && avail=$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }') &&
        ((avail > need_kb)); then
        CLIENT_TMP=/dev/shm/autogit-bench.$$
    else
        CLIENT_TMP=$RUN/tmp
    fi
    mkdir -p "$CLIENT_TMP"
    log "client scratch space: $CLIENT_TMP"
}

# ---------------------------------------------------------------------------
# Measurement.
#
#   measure_group WARMUP VERIFY_FN  ID LABEL PREPARE CMD  [ID LABEL PREPARE CMD]...
#
# Times the CMD of each entry BENCH_RUNS times; PREPARE runs (untimed) before
# each run, VERIFY_FN ID (a function of this script) after it. Both strings
# are bash commands. Sets MED, MIN, MAX and LABEL for each ID and keeps the
# raw times in $RUN/times/ID.
#
# Default timer: interleaved rounds (A B C, B C A, C A B, ...). The machine's
# cores are shared (other people's builds come and go); measuring all runs of
# A and then all runs of B would turn a burst of background load into a
# difference between A and B, while rounds spread it over all of them.
# BENCH_TIMER=hyperfine runs each entry as one hyperfine series instead.
# ---------------------------------------------------------------------------
declare -A MED MIN MAX LABEL

measure_group() {
    local warmup=$1 verify=$2 ids=() labels=() preps=() cmds=()
    shift 2
    while (($#)); do
        ids+=("$1") labels+=("$2") preps+=("$3") cmds+=("$4")
        shift 4
    done
    local n=${#ids[@]} r j k t0 t1 id
    mkdir -p "$RUN/times"
    local IFS=,
    log "measuring: ${labels[*]} ($RUNS runs, $warmup warm-up, $TIMER)"
    IFS=$' \t\n'
    for id in "${ids[@]}"; do : >"$RUN/times/$id"; done
    if [[ $TIMER == hyperfine ]]; then
        for ((k = 0; k < n; k++)); do
            id=${ids[k]}
            hyperfine --shell bash --style basic --runs "$RUNS" --warmup "$warmup" \
                --prepare "${preps[k]}" --export-json "$RUN/times/$id.json" -n "${labels[k]}" "${cmds[k]}" >&2
            python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["results"][0]["times"]]' \
                "$RUN/times/$id.json" >"$RUN/times/$id"
            "$verify" "$id"
        done
    else
        for ((r = 0; r < warmup + RUNS; r++)); do
            for ((j = 0; j < n; j++)); do
                k=$(((j + r) % n)) # rotate the order every round
                bash -c "${preps[k]}" || die "${ids[k]}: prepare step failed: ${preps[k]}"
                t0=$EPOCHREALTIME
                bash -c "${cmds[k]}" || die "${ids[k]}: command failed: ${cmds[k]}"
                t1=$EPOCHREALTIME
                ((r < warmup)) || awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }' >>"$RUN/times/${ids[k]}"
                "$verify" "${ids[k]}"
            done
        done
    fi
    for ((k = 0; k < n; k++)); do
        id=${ids[k]}
        MED[$id]=$(sort -g "$RUN/times/$id" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        MIN[$id]=$(sort -g "$RUN/times/$id" | head -n1)
        MAX[$id]=$(sort -g "$RUN/times/$id" | tail -n1)
        LABEL[$id]=${labels[k]}
        log "  ${labels[k]}: median $(fmt_s "${MED[$id]}") s, min $(fmt_s "${MIN[$id]}") s, max $(fmt_s "${MAX[$id]}") s"
    done
}

fmt_s() { awk -v x="$1" 'BEGIN { printf "%.3f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; } # kB -> MiB

# ---------------------------------------------------------------------------
# Repositories
# ---------------------------------------------------------------------------
refs_of() { git ls-remote "$1" | sort; } # URL or path -> "sha<TAB>ref" lines

check_same_refs() { # check_same_refs WHAT EXPECTED_URL ACTUAL_URL
    if ! diff <(refs_of "$2" | grep -v 'HEAD$') <(refs_of "$3" | grep -v 'HEAD$') >&2; then
        die "$1: refs differ from the source"
    fi
}

storage_desc() { # one-line description of how a bare repo is stored
    local packs bitmaps size
    packs=$(find "$1" -path '*/objects/pack/*.pack' | wc -l)
    bitmaps=$(find "$1" -path '*/objects/pack/*.bitmap' | wc -l)
    size=$(du -sm "$1" | cut -f1)
    echo "$packs pack(s), ${size} MiB on disk, bitmap: $([[ $bitmaps -gt 0 ]] && echo yes || echo no)"
}

push_all() { # push_all SRC_GIT_DIR URL: every branch and tag in one push (one pack)
    git --git-dir "$1" push -q "$2" 'refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*'
}

new_backend_repo() { # an empty bare repo that accepts anonymous pushes
    rm -rf "$1"
    git init -q --bare "$1"
    git --git-dir "$1" config http.receivepack true
}

# ---------------------------------------------------------------------------
# Baseline server: nginx -> fcgiwrap -> git http-backend
# ---------------------------------------------------------------------------
# shellcheck disable=SC2034 # FCGI_PID is set through start_bg
NGINX_URL='' NGINX_PID='' FCGI_PID=''
NGINX_ROOT=$RUN/backend-repos

free_port() { # a random loopback port nobody listens on
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

start_backend() {
    local dir=$RUN/nginx sock=$RUN/nginx/fcgiwrap.sock backend tries port user_line=''
    backend=$(git --exec-path)/git-http-backend
    [[ -x $backend ]] || die "no git-http-backend at $backend"
    mkdir -p "$dir" "$NGINX_ROOT"
    local fcgiwrap_bin nginx_bin
    fcgiwrap_bin=$(command -v fcgiwrap || echo /usr/sbin/fcgiwrap)
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    # -c 4: a few preforked workers, so that the two requests of a v0
    # exchange or a client's parallel requests never queue.
    start_bg FCGI_PID "$RUN/logs/fcgiwrap.log" "$fcgiwrap_bin" -c 4 -s "unix:$sock"
    for ((tries = 0; tries < 50; tries++)); do
        [[ -S $sock ]] && break
        sleep 0.1
    done
    [[ -S $sock ]] || die "fcgiwrap did not create $sock"
    # As root, nginx would switch its workers to 'nobody', who can't read the
    # repositories or the socket; keep them as the invoking user.
    [[ $(id -u) == 0 ]] && user_line="user root;"
    for ((tries = 0; tries < 5; tries++)); do
        port=$(free_port)
        sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@SOCK@|$sock|g" \
            -e "s|@HTTP_BACKEND@|$backend|g" -e "s|@PROJECT_ROOT@|$NGINX_ROOT|g" \
            -e "s|@USER_LINE@|$user_line|g" "$BENCH_DIR/nginx.conf.tmpl" >"$dir/nginx.conf"
        start_bg NGINX_PID "$RUN/logs/nginx.log" "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
        local i
        for ((i = 0; i < 50; i++)); do
            curl -s -o /dev/null "http://127.0.0.1:$port/" && break
            alive "$NGINX_PID" || break
            sleep 0.1
        done
        if alive "$NGINX_PID" && curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            NGINX_URL=http://127.0.0.1:$port
            log "nginx + fcgiwrap + git http-backend on $NGINX_URL"
            return
        fi
        stop_group "$NGINX_PID" # port taken meanwhile? try another one
    done
    cat "$dir/error.log" >&2 || true
    die "nginx did not start"
}

# ---------------------------------------------------------------------------
# AutoGit
# ---------------------------------------------------------------------------
AG_URL='' AG_PID='' AG_TOKEN='' AG_DATA=$RUN/autogit-data

start_autogit() { # start_autogit LOGNAME: start, wait for "listening on", set AG_URL/AG_PID
    local logfile=$RUN/logs/$1.log i
    AUTOGIT_ROOT_PASSWORD=$ROOT_PASSWORD start_bg AG_PID "$logfile" \
        "$AUTOGIT_BIN" serve --data-dir "$AG_DATA" --listen 127.0.0.1:0
    AG_URL=
    for ((i = 0; i < 600; i++)); do
        AG_URL=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$logfile" 2>/dev/null | head -n1 | sed 's/^listening on //') || true
        [[ -n $AG_URL ]] && break
        alive "$AG_PID" || { cat "$logfile" >&2; die "autogit serve exited during startup"; }
        sleep 0.05
    done
    [[ -n $AG_URL ]] || { cat "$logfile" >&2; die "autogit serve printed no 'listening on http://127.0.0.1:PORT' within 30 s"; }
    log "autogit serve (pid $AG_PID) on $AG_URL"
}

rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; } # rss_kb PID VmRSS|VmHWM

ag_api() { # ag_api METHOD PATH [curl args...] -> body on stdout, fails on HTTP >= 400
    local method=$1 path=$2
    shift 2
    curl -fsS -X "$method" -H "PRIVATE-TOKEN: $AG_TOKEN" "$AG_URL/api/v4$path" "$@"
}

ag_create_project() { # ag_create_project NAME VISIBILITY -> "namespace/path"
    local body
    body=$(ag_api POST /projects -d "name=$1" -d "visibility=$2") ||
        die "creating project $1 failed"
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["path_with_namespace"])' "$body" 2>/dev/null ||
        echo "root/$1"
}

# http://root:TOKEN@127.0.0.1:PORT (for pushes: anonymous users can't push)
ag_cred_url() {
    local tok
    tok=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$AG_TOKEN")
    echo "${AG_URL/http:\/\//http://root:$tok@}"
}

build_profile() {
    local real
    real=$(readlink -f "$AUTOGIT_BIN")
    case $real in
    */target/release/* | */target/*/release/*) echo release ;;
    */target/debug/* | */target/*/debug/*) echo "debug (NOT representative)" ;;
    *) echo "${AUTOGIT_BUILD:-unknown (set AUTOGIT_BUILD)}" ;;
    esac
}

# protocol_seen URL: which protocol version the server answers a v2 client with
protocol_seen() {
    local trace
    trace=$(GIT_TRACE_PACKET=1 git -c protocol.version=2 ls-remote "$1" 2>&1 >/dev/null) || true
    if [[ $trace == *"< version 2"* ]]; then
        echo v2
    else
        echo "v0 (v2 NOT negotiated)"
    fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
main() {
    local started LOAD_START LOAD_END
    started=$(date +%s)
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    [[ $TIMER == interleaved || $TIMER == hyperfine ]] || die "BENCH_TIMER must be interleaved or hyperfine"
    [[ $SKIP_AUTOGIT == 1 || -x $AUTOGIT_BIN ]] ||
        die "no autogit binary at $AUTOGIT_BIN (cargo build --release, set AUTOGIT_BIN, or BENCH_SKIP_AUTOGIT=1)"
    command -v python3 >/dev/null || die "python3 is required"
    install_deps

    rm -rf "$RUN"
    mkdir -p "$RUN/logs" "$RUN/tmp" "$WORK"
    setup_git_env

    # 1. The source repository (cached across runs).
    local SRC
    SRC=$(BENCH_WORK=$WORK "$BENCH_DIR/make_repo.sh")
    declare -A ST
    local k v
    while IFS='=' read -r k v; do ST[$k]=$v; done <"$SRC/bench-stats"
    local MAIN_A
    MAIN_A=$(git --git-dir "$SRC" rev-parse main)
    # A clone, a worktree (~ a pack's worth) and a fetch base + copy.
    pick_client_tmp "$(awk -v m="${ST[pack_mb]}" 'BEGIN { printf "%d", (m * 6 + 512) * 1024 }')"

    # 2. Servers, each loaded with the source by one (untimed) push, so that
    # every server stores the pack a push produces.
    start_backend
    local BK_REPO=$NGINX_ROOT/bench.git BK_URL=$NGINX_URL/bench.git
    new_backend_repo "$BK_REPO"
    log "loading the source into http-backend (push)"
    push_all "$SRC" "$BK_URL"
    check_same_refs "http-backend" "$SRC" "$BK_URL"
    local BK_PROTO BK_STORAGE AG_STORAGE=''
    BK_STORAGE=$(storage_desc "$BK_REPO")
    BK_PROTO=$(protocol_seen "$BK_URL")
    [[ $BK_PROTO == v2 ]] || die "nginx/http-backend does not negotiate protocol v2; check nginx.conf.tmpl"
    # The file:// limit reads the very same repository the backend serves, so
    # the two baselines differ only by the transport.
    local FILE_URL=file://$BK_REPO

    local AG_PROJECT='' AG_CLONE_URL='' AG_PROTO='' AG_PROFILE='' AG_VERSION=''
    local RSS_START='' HWM_START='' RSS_RESTART='' HWM_RESTART='' RSS_IDLE='' HWM_IDLE='' RSS_END='' HWM_END='' AG_CHILDREN=0
    if [[ $SKIP_AUTOGIT != 1 ]]; then
        AG_PROFILE=$(build_profile)
        # (in a scratch cwd, in case an unknown flag fell back to a default
        # command that writes a data dir into the current directory)
        AG_VERSION=$(cd "$RUN/tmp" && timeout 5 "$AUTOGIT_BIN" --version 2>/dev/null | head -n1) || AG_VERSION=
        mkdir -p "$AG_DATA"
        start_autogit autogit-1
        RSS_START=$(rss_kb "$AG_PID" VmRSS) HWM_START=$(rss_kb "$AG_PID" VmHWM)
        # The admin CLI works on the same SQLite data dir (WAL) while the server runs.
        AG_TOKEN=$(AUTOGIT_ROOT_PASSWORD=$ROOT_PASSWORD "$AUTOGIT_BIN" admin token create --data-dir "$AG_DATA" \
            --user root --name bench --scopes api,write_repository 2>>"$RUN/logs/admin.log" | tail -n1)
        [[ $AG_TOKEN =~ ^[^[:space:]]+$ ]] || die "admin token create printed no token"
        AG_PROJECT=$(ag_create_project bench public)
        AG_CLONE_URL=$AG_URL/$AG_PROJECT.git
        log "loading the source into AutoGit (push to $AG_CLONE_URL)"
        push_all "$SRC" "$(ag_cred_url)/$AG_PROJECT.git"
        check_same_refs "AutoGit" "$SRC" "$AG_CLONE_URL"
        AG_STORAGE=$(storage_desc "$AG_DATA")

        # 4. Memory. Restart so that the idle reading is "startup + one clone",
        # not inflated by the big push above.
        stop_group "$AG_PID"
        start_autogit autogit-2
        AG_CLONE_URL=$AG_URL/$AG_PROJECT.git
        RSS_RESTART=$(rss_kb "$AG_PID" VmRSS) HWM_RESTART=$(rss_kb "$AG_PID" VmHWM)
        git clone -q "$AG_CLONE_URL" "$CLIENT_TMP/first-clone"
        [[ $(git -C "$CLIENT_TMP/first-clone" rev-parse HEAD) == "$MAIN_A" ]] || die "AutoGit clone: wrong HEAD"
        rm -rf "$CLIENT_TMP/first-clone"
        sleep "$IDLE_WAIT"
        RSS_IDLE=$(rss_kb "$AG_PID" VmRSS) HWM_IDLE=$(rss_kb "$AG_PID" VmHWM)
        AG_CHILDREN=$( (pgrep -P "$AG_PID" || true) | wc -l)
        log "autogit RSS: start $(mib "$RSS_START") MiB, restart $(mib "$RSS_RESTART") MiB, idle $(mib "$RSS_IDLE") MiB (HWM $(mib "$HWM_IDLE"))"
        AG_PROTO=$(protocol_seen "$AG_CLONE_URL")
    fi

    # 3a. Full clones, into a fresh directory every run.
    local DEST=$CLIENT_TMP/clone
    local PREP_CLONE="rm -rf $(q "$DEST")"
    verify_clone() {
        [[ $(git -C "$DEST" rev-parse HEAD) == "$MAIN_A" ]] || die "$1: cloned HEAD is not main"
        rm -rf "$DEST"
    }
    local CL="git clone -q $CLONE_FLAGS" CL0="git -c protocol.version=0 clone -q $CLONE_FLAGS"
    local AG=()
    [[ $SKIP_AUTOGIT == 1 ]] || AG=(clone_v2_autogit "AutoGit" "$PREP_CLONE" "$CL $(q "$AG_CLONE_URL") $(q "$DEST")")
    measure_group "$WARMUP" verify_clone \
        clone_v2_file "file://" "$PREP_CLONE" "$CL --no-local $(q "$FILE_URL") $(q "$DEST")" \
        clone_v2_backend "nginx + http-backend" "$PREP_CLONE" "$CL $(q "$BK_URL") $(q "$DEST")" \
        "${AG[@]}"
    [[ $SKIP_AUTOGIT == 1 ]] || AG=(clone_v0_autogit "AutoGit" "$PREP_CLONE" "$CL0 $(q "$AG_CLONE_URL") $(q "$DEST")")
    measure_group "$WARMUP" verify_clone \
        clone_v0_backend "nginx + http-backend" "$PREP_CLONE" "$CL0 $(q "$BK_URL") $(q "$DEST")" \
        "${AG[@]}"

    # 3b. Incremental fetch. Each run starts from a copy of the same clone of
    # the pre-delta state, so every run transfers the same delta (a repo
    # that already has the objects would skip the transfer).
    local BASE=$CLIENT_TMP/fetch-base.git DELTA=$RUN/delta.git FDEST=$CLIENT_TMP/fetch.git
    git clone -q --bare --no-local "$FILE_URL" "$BASE"
    git init -q --bare "$DELTA"
    echo "$SRC/objects" >"$DELTA/objects/info/alternates"
    python3 "$BENCH_DIR/gen_repo.py" --extend "$FETCH_COMMITS" --git-dir "$DELTA" --from "$MAIN_A" |
        git --git-dir "$DELTA" fast-import --quiet --done
    local MAIN_B DELTA_OBJECTS
    MAIN_B=$(git --git-dir "$DELTA" rev-parse main)
    DELTA_OBJECTS=$(git --git-dir "$DELTA" rev-list --objects "$MAIN_A..$MAIN_B" | wc -l)
    log "fetch delta: $FETCH_COMMITS commits, $DELTA_OBJECTS objects"
    git --git-dir "$DELTA" push -q "$BK_URL" main:main
    [[ $SKIP_AUTOGIT == 1 ]] || git --git-dir "$DELTA" push -q "$(ag_cred_url)/$AG_PROJECT.git" main:main
    local PREP_FETCH="rm -rf $(q "$FDEST") && cp -a $(q "$BASE") $(q "$FDEST")"
    local FE="git --git-dir $(q "$FDEST") fetch -q"
    local REFSPECS="'+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'"
    verify_fetch() {
        [[ $(git --git-dir "$FDEST" rev-parse main) == "$MAIN_B" ]] || die "$1: fetch did not bring the delta"
        rm -rf "$FDEST"
    }
    [[ $SKIP_AUTOGIT == 1 ]] || AG=(fetch_autogit "AutoGit" "$PREP_FETCH" "$FE $(q "$AG_CLONE_URL") $REFSPECS")
    measure_group "$WARMUP" verify_fetch \
        fetch_file "file://" "$PREP_FETCH" "$FE $(q "$FILE_URL") $REFSPECS" \
        fetch_backend "nginx + http-backend" "$PREP_FETCH" "$FE $(q "$BK_URL") $REFSPECS" \
        "${AG[@]}"
    rm -rf "$BASE"

    # 3c. Push of the whole repository into an empty repository/project. No
    # warm-up: each run is a full-size push.
    local PUSH_REPO=$NGINX_ROOT/push.git CTR=$RUN/push-counter ns=${AG_PROJECT%/*}
    local PUSHCMD="git --git-dir $(q "$SRC") push -q"
    local HEADS_TAGS="'refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*'"
    verify_push() {
        if [[ $1 == push_backend ]]; then
            check_same_refs "http-backend push" "$SRC" "$PUSH_REPO"
        else
            check_same_refs "AutoGit push" "$SRC" "$(ag_cred_url)/$ns/push-$(cat "$CTR").git"
        fi
    }
    if [[ $SKIP_AUTOGIT != 1 ]]; then
        # Each AutoGit run pushes into a new empty project push-N: the prepare
        # step creates it and records N in a file the timed command reads.
        echo 0 >"$CTR"
        local PREP_AG_PUSH="n=\$((\$(cat $(q "$CTR")) + 1)) && echo \$n >$(q "$CTR") && curl -fsS -o /dev/null -X POST -H $(q "PRIVATE-TOKEN: $AG_TOKEN") $(q "$AG_URL/api/v4/projects") -d name=push-\$n -d visibility=private"
        AG=(push_autogit "AutoGit" "$PREP_AG_PUSH" "$PUSHCMD \"$(ag_cred_url)/$ns/push-\$(cat $(q "$CTR")).git\" $HEADS_TAGS")
    fi
    measure_group 0 verify_push \
        push_backend "nginx + http-backend" \
        "rm -rf $(q "$PUSH_REPO") && git init -q --bare $(q "$PUSH_REPO") && git --git-dir $(q "$PUSH_REPO") config http.receivepack true" \
        "$PUSHCMD $(q "$NGINX_URL/push.git") $HEADS_TAGS" \
        "${AG[@]}"
    rm -rf "$PUSH_REPO"
    if [[ $SKIP_AUTOGIT != 1 ]]; then
        local n
        for ((n = 1; n <= $(cat "$CTR"); n++)); do # free the disk; best effort
            ag_api DELETE "/projects/${ns}%2Fpush-$n" -o /dev/null 2>/dev/null || true
        done
        RSS_END=$(rss_kb "$AG_PID" VmRSS) HWM_END=$(rss_kb "$AG_PID" VmHWM)
    fi
    LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

    # 5. Report.
    local elapsed=$(($(date +%s) - started))
    report >"$RUN/results.md"
    cp "$RUN/results.md" "$RESULTS"
    cat "$RUN/results.md"
    log "done in ${elapsed}s; results also in $RESULTS"
}

# ---------------------------------------------------------------------------
# Markdown report (uses main's locals through bash's dynamic scoping)
# ---------------------------------------------------------------------------
row() { # row ID [FILE_ID] [BACKEND_ID]: one table row with ratios
    local id=$1 f=${2:-} b=${3:-} rf=— rb=—
    [[ -n ${MED[$id]:-} ]] || return 0
    [[ -n $f && -n ${MED[$f]:-} ]] && rf="$(ratio "${MED[$id]}" "${MED[$f]}")×"
    [[ -n $b && -n ${MED[$b]:-} ]] && rb="$(ratio "${MED[$id]}" "${MED[$b]}")×"
    echo "| ${LABEL[$id]} | $(fmt_s "${MED[$id]}") | $(fmt_s "${MIN[$id]}") | $(fmt_s "${MAX[$id]}") | $rf | $rb |"
}

table_head() {
    echo "| Server | median (s) | min (s) | max (s) | ÷ file:// | ÷ http-backend |"
    echo "|---|---:|---:|---:|---:|---:|"
}

check_row() { # check_row WHAT TARGET_TEXT MEASURED_TEXT OK(0/1) 
    echo "| $1 | $2 | $3 | $([[ $4 == 1 ]] && echo "✅ pass" || echo "❌ FAIL") |"
}

report() {
    local mode="full"
    [[ $QUICK == 1 ]] && mode="quick (BENCH_QUICK=1)"
    local timer="interleaved rounds (bash, \$EPOCHREALTIME)"
    [[ $TIMER == hyperfine ]] && timer="$(hyperfine --version), one series per server"
    echo "## Git over HTTP: AutoGit vs git http-backend vs file://"
    echo
    echo "Generated by \`bench/git_http.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $mode mode, in ${elapsed}s."
    echo
    echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); load average (1/5/15 min) at start $LOAD_START, at end $LOAD_END"
    echo "- $(git --version); $(nginx -v 2>&1 | sed 's/^nginx version: //'), fcgiwrap, \`git http-backend\`; timing: $timer"
    if [[ $SKIP_AUTOGIT == 1 ]]; then
        echo "- AutoGit: **skipped** (BENCH_SKIP_AUTOGIT=1)"
    else
        echo "- AutoGit: \`${AUTOGIT_BIN#"$ROOT"/}\`${AG_VERSION:+ ($AG_VERSION)}, build: **$AG_PROFILE**; protocol answered to a v2 client: $AG_PROTO"
    fi
    echo "- Repository (deterministic, seed ${BENCH_SEED:-20240601}): ${ST[files]} files at HEAD, ${ST[commits_main]} commits on main (${ST[commits_all]} in all), ${ST[branches]} branches, ${ST[tags]} tags, ${ST[objects]} objects, pack **${ST[pack_mb]} MiB**; generated in ${ST[gen_seconds]} s (fast-import + repack, cached)"
    echo "- Served copies (each loaded by one push): http-backend and file:// read the same repo: $BK_STORAGE$([[ $SKIP_AUTOGIT == 1 ]] || echo "; AutoGit data dir: $AG_STORAGE")"
    echo "- Servers' data on disk ($(df -PT "$RUN" | awk 'NR == 2 { print $2 }')); clients write to $(if [[ $CLIENT_TMP == /dev/shm/* ]]; then echo "a tmpfs"; else df -PT "$CLIENT_TMP" | awk 'NR == 2 { print $2 }'; fi). Loopback only."
    echo "- Each figure: $RUNS timed runs after $WARMUP warm-up (none for push); median, minimum and maximum in seconds. Clones are normal clones with checkout into a fresh directory${CLONE_FLAGS:+ (flags: \`$CLONE_FLAGS\`)}."
    echo
    echo "### Full clone, protocol v2 (git's default)"
    echo
    table_head
    row clone_v2_file
    row clone_v2_backend clone_v2_file
    row clone_v2_autogit clone_v2_file clone_v2_backend
    echo
    echo "### Full clone, protocol v0 (\`-c protocol.version=0\`)"
    echo
    table_head
    row clone_v0_backend clone_v2_file
    row clone_v0_autogit clone_v2_file clone_v0_backend
    echo
    echo "(÷ file:// uses the protocol v2 file:// clone.)"
    echo
    echo "### Incremental fetch ($FETCH_COMMITS new commits, $DELTA_OBJECTS objects)"
    echo
    table_head
    row fetch_file
    row fetch_backend fetch_file
    row fetch_autogit fetch_file fetch_backend
    echo
    echo "### Push of the whole repository (all branches and tags) into an empty repository"
    echo
    table_head
    row push_backend
    row push_autogit "" push_backend
    echo
    if [[ $SKIP_AUTOGIT != 1 ]]; then
        echo "### \`autogit serve\` memory (MiB, from /proc/PID/status)"
        echo
        echo "| Moment | VmRSS | VmHWM |"
        echo "|---|---:|---:|"
        echo "| right after start, empty data dir | $(mib "$RSS_START") | $(mib "$HWM_START") |"
        echo "| right after restart, repository loaded, before any request | $(mib "$RSS_RESTART") | $(mib "$HWM_RESTART") |"
        echo "| **idle**: one clone, then ${IDLE_WAIT} s | **$(mib "$RSS_IDLE")** | $(mib "$HWM_IDLE") |"
        echo "| after all the benchmarks above | $(mib "$RSS_END") | $(mib "$HWM_END") |"
        echo
        [[ $AG_CHILDREN == 0 ]] || echo "Note: $AG_CHILDREN child process(es) of autogit were alive at the idle reading (not counted)."
        [[ $AG_CHILDREN == 0 ]] || echo
    fi
    echo "### Targets"
    echo
    echo "| Check | Target | Measured | Result |"
    echo "|---|---|---:|---|"
    if [[ $SKIP_AUTOGIT == 1 ]]; then
        echo "| all AutoGit targets | | skipped | — |"
    else
        local r
        r=$(ratio "${MED[clone_v2_autogit]}" "${MED[clone_v2_file]}")
        check_row "clone v2: AutoGit ÷ file://" "≤ ${TARGET_CLONE_VS_FILE}×" "${r}×" "$(le "$r" "$TARGET_CLONE_VS_FILE" && echo 1 || echo 0)"
        r=$(ratio "${MED[clone_v2_autogit]}" "${MED[clone_v2_backend]}")
        check_row "clone v2: AutoGit ÷ http-backend" "≤ ${TARGET_CLONE_VS_BACKEND}×" "${r}×" "$(le "$r" "$TARGET_CLONE_VS_BACKEND" && echo 1 || echo 0)"
        r=$(ratio "${MED[clone_v0_autogit]}" "${MED[clone_v0_backend]}")
        check_row "clone v0: AutoGit ÷ http-backend" "≤ ${TARGET_CLONE_VS_BACKEND}×" "${r}×" "$(le "$r" "$TARGET_CLONE_VS_BACKEND" && echo 1 || echo 0)"
        r=$(mib "$RSS_IDLE")
        check_row "idle RSS of \`autogit serve\`" "≤ ${TARGET_IDLE_RSS_MIB} MiB" "$r MiB" "$(le "$r" "$TARGET_IDLE_RSS_MIB" && echo 1 || echo 0)"
    fi
    echo
    echo "Ratios compare medians; fetch and push ratios are informational (no target)."
}

main "$@"
