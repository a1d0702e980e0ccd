#!/usr/bin/env bash
# Build (once) the deterministic benchmark repository and print its path.
#
#   bench/make_repo.sh                # BENCH_FILES/BENCH_COMMITS/BENCH_SEED or defaults
#   BENCH_QUICK=1 bench/make_repo.sh  # small repo for a quick run
#
# The repository is a bare repo under bench/work/repo-src/, named after its
# parameters, so quick and full sizes are cached side by side. A stamp file
# records the generator's checksum: editing gen_repo.py rebuilds it.
# All progress goes to stderr; stdout is only the repository path.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${BENCH_WORK:-$BENCH_DIR/work}

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    FILES=${BENCH_FILES:-2000}
    COMMITS=${BENCH_COMMITS:-300}
else
    FILES=${BENCH_FILES:-20000}
    COMMITS=${BENCH_COMMITS:-5000}
fi
SEED=${BENCH_SEED:-20240601}

REPO=$WORK/repo-src/${FILES}f-${COMMITS}c-s${SEED}.git
GEN_SUM=$(sha256sum "$BENCH_DIR/gen_repo.py" | cut -c1-16)
STAMP="files=$FILES commits=$COMMITS seed=$SEED gen=$GEN_SUM"

if [[ -f $REPO/bench-stamp && $(cat "$REPO/bench-stamp") == "$STAMP" ]]; then
    echo "make_repo: using cached $REPO" >&2
    echo "$REPO"
    exit 0
fi

command -v python3 >/dev/null || { echo "make_repo: python3 is required" >&2; exit 1; }

echo "make_repo: generating $FILES files / $COMMITS commits (seed $SEED) ..." >&2
tmp=$REPO.tmp.$$
rm -rf "$tmp"
mkdir -p "$(dirname "$REPO")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s.%N)

git init -q --bare --initial-branch=main "$tmp"
# Generator and fast-import run concurrently in a pipe (2 cores: one each).
python3 "$BENCH_DIR/gen_repo.py" --files "$FILES" --commits "$COMMITS" --seed "$SEED" |
    git --git-dir "$tmp" fast-import --quiet --done
# fast-import deltifies each blob only against the blob written just before
# it, whatever its path; a full repack (-f) finds the real deltas and shrinks
# the pack by ~40%. -a -d leaves one pack (+ bitmap: bare repo default), like
# a repository that has been gc'ed.
git --git-dir "$tmp" repack -a -d -f -q
git --git-dir "$tmp" pack-refs --all
git --git-dir "$tmp" symbolic-ref HEAD refs/heads/main

end=$(date +%s.%N)
gen_s=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
pack_bytes=$(du -cb "$tmp"/objects/pack/*.pack | tail -n1 | cut -f1)
{
    echo "files=$(git --git-dir "$tmp" ls-tree -r --name-only main | wc -l)"
    echo "commits_main=$(git --git-dir "$tmp" rev-list --count main)"
    echo "commits_all=$(git --git-dir "$tmp" rev-list --count --all)"
    echo "objects=$(git --git-dir "$tmp" count-objects -v | awk '/^in-pack:/ {print $2}')"
    echo "branches=$(git --git-dir "$tmp" for-each-ref refs/heads | wc -l)"
    echo "tags=$(git --git-dir "$tmp" for-each-ref refs/tags | wc -l)"
    echo "pack_mb=$(awk -v b="$pack_bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
    echo "gen_seconds=$gen_s"
} >"$tmp/bench-stats"
echo "$STAMP" >"$tmp/bench-stamp"

rm -rf "$REPO"
mv "$tmp" "$REPO"
trap - EXIT
echo "make_repo: built $REPO in ${gen_s}s: $(tr '\n' ' ' <"$REPO/bench-stats")" >&2
echo "$REPO"
