#!/usr/bin/env bash
# Builds `autogit-bench/runner-base:1`: a minimal glibc root filesystem for the docker pool
# provider (bench/README.md, part (e)). The provider bind-mounts the host's `autogit` binary
# into the container and runs `sh -c 'autogit runner register … && exec autogit runner run'`;
# the runner's shell executor needs `bash` and `git` (fetch over HTTP: `git-remote-http`,
# libcurl), and an instance whose runner uses the docker executor removes its build directory
# with `rm`. The image holds exactly those (plus `uname`), copied from this machine with the
# libraries `ldd` lists, and is made with `docker import` (nothing is pulled). Also used by
# bins/autogit/tests/docker_pool.rs (BENCH_RUNNER_IMAGE names the image).
#
#   bench/runner-image.sh [AUTOGIT_BIN]     # default target/release/autogit
set -euo pipefail
cd "$(dirname "$0")/.."

image="${BENCH_RUNNER_IMAGE:-autogit-bench/runner-base:1}"
bin="${1:-${AUTOGIT_BIN:-target/release/autogit}}"
git_bin=/usr/bin/git
exec_path="$("$git_bin" --exec-path)"
command -v docker >/dev/null || { echo "runner-image.sh: docker is needed" >&2; exit 1; }
[[ -x "$bin" ]] || { echo "runner-image.sh: $bin not found (cargo build --release -p autogit)" >&2; exit 1; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,usr/local/bin,etc,tmp,builds,root,dev,proc,sys}
chmod 1777 "$root/tmp"

# A file and its directory, keeping the path (and symlinks resolved into plain files).
copy() {
    local f="$1"
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
}
# The shared libraries (and the loader) a program needs.
copy_libs() {
    ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
        [[ -e "$root$lib" ]] || copy "$lib"
    done
}

copy /usr/bin/bash
ln -s /usr/bin/bash "$root/bin/bash"
ln -s /usr/bin/bash "$root/bin/sh"
copy "$git_bin"
copy_libs /usr/bin/bash
for tool in rm uname; do
    path="$(command -v "$tool")"
    copy "$path"
    copy_libs "$path"
done
copy_libs "$git_bin"
copy_libs "$bin"
# git's helpers (same inode links as on the host); its builtins are links to `git` itself.
mkdir -p "$root$(dirname "$exec_path")"
cp -a "$exec_path" "$root$exec_path"
for helper in "$exec_path"/git-remote-http "$exec_path"/git-http-fetch; do
    [[ -e "$helper" ]] && copy_libs "$helper"
done
[[ -d /usr/share/git-core/templates ]] && { mkdir -p "$root/usr/share/git-core"; cp -a /usr/share/git-core/templates "$root/usr/share/git-core/"; }
# Resolver and name-service files for glibc (the container uses the host's network).
for f in /etc/nsswitch.conf /etc/host.conf; do [[ -e "$f" ]] && copy "$f"; done
for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
    [[ -e "$lib" ]] && copy "$lib"
done
# CA certificates, for an https:// coordinator.
[[ -e /etc/ssl/certs/ca-certificates.crt ]] && copy /etc/ssl/certs/ca-certificates.crt
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"

tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' -c 'ENV HOME=/root' -c 'WORKDIR /' - "$image" >/dev/null
echo "$image: $(du -sh "$root" | cut -f1) root filesystem" >&2
# Smoke test: the runner binary, bash and git start in it.
docker run --rm -v "$(realpath "$bin"):/usr/local/bin/autogit:ro" "$image" \
    sh -c 'autogit --version >/dev/null && bash -c true && rm -f /tmp/none && uname -m >/dev/null && git --version' >&2
