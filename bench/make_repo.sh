#!/usr/bin/env bash
# Builds (once) the synthetic upstream repository the benchmarks use, and applies its
# incremental steps.
#
#   bench/make_repo.sh                  ensures the cache; prints the cache directory, which
#                                       holds base.git (bare, repacked with bitmaps and a
#                                       commit-graph, like a hosting site keeps it) and
#                                       incr-1.fi .. incr-K.fi (fast-import streams)
#   bench/make_repo.sh apply DIR K      adds incremental step K to the bare repo DIR (which
#                                       must hold the base and steps 1..K-1)
#
# Parameters (environment; the cache is keyed by all of them and by the generator's hash):
#   BENCH_SEED=1 BENCH_COMMITS=3000 BENCH_FILES=2000 BENCH_BIN_MB=350 BENCH_BRANCHES=8
#   BENCH_INCR_COMMITS=50 BENCH_INCR_BIN_MB=6 BENCH_INCR_STEPS=3
# Defaults give ~4,300 commits, ~44,000 objects, 39 refs, ~365 MB packed; each incremental
# step adds 55 commits, a tag and one binary file of up to 6 MB.
# Cache: /tmp/mirrord-bench-cache (BENCH_CACHE). First build ~1 minute, then instant.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
seed=${BENCH_SEED:-1}
commits=${BENCH_COMMITS:-3000}
files=${BENCH_FILES:-2000}
bin_mb=${BENCH_BIN_MB:-350}
branches=${BENCH_BRANCHES:-8}
incr_commits=${BENCH_INCR_COMMITS:-50}
incr_bin_mb=${BENCH_INCR_BIN_MB:-6}
incr_steps=${BENCH_INCR_STEPS:-3}
cache_root=${BENCH_CACHE:-/tmp/mirrord-bench-cache}

gen_args=(--seed "$seed" --commits "$commits" --files "$files" --bin-mb "$bin_mb"
          --branches "$branches" --incr-commits "$incr_commits" --incr-bin-mb "$incr_bin_mb")
gen_hash=$(sha256sum "$here/gen_history.pl" | cut -c1-12)
key="s$seed-c$commits-f$files-b$bin_mb-br$branches-i${incr_commits}x$incr_bin_mb-$gen_hash"
cache=$cache_root/repo-$key

git_q() { GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git "$@"; }

if [[ ${1:-} == apply ]]; then
  dir=$2 k=$3
  "$0" >/dev/null
  if [[ ! -f $cache/incr-$k.fi ]]; then
    perl "$here/gen_history.pl" incr "$k" "${gen_args[@]}" >"$cache/incr-$k.fi.tmp"
    mv "$cache/incr-$k.fi.tmp" "$cache/incr-$k.fi"
  fi
  git_q -C "$dir" fast-import --quiet <"$cache/incr-$k.fi"
  exit 0
fi

if [[ ! -f $cache/ready ]]; then
  echo "make_repo: building $cache (once)" >&2
  rm -rf "$cache"
  mkdir -p "$cache"
  tmp=$cache/base.git.tmp
  git_q init -q --bare "$tmp"
  git_q -C "$tmp" symbolic-ref HEAD refs/heads/main
  # Random binary content never deltas; don't let repack search for deltas in it.
  echo '*.bin -delta' >"$tmp/info/attributes"
  perl "$here/gen_history.pl" base "${gen_args[@]}" | git_q -C "$tmp" fast-import --quiet
  git_q -C "$tmp" -c pack.threads=0 repack -a -d -f -b -q
  git_q -C "$tmp" commit-graph write --reachable --no-progress
  git_q -C "$tmp" pack-refs --all
  for k in $(seq "$incr_steps"); do
    perl "$here/gen_history.pl" incr "$k" "${gen_args[@]}" >"$cache/incr-$k.fi"
  done
  mv "$tmp" "$cache/base.git"
  {
    echo "gen_history.pl ${gen_args[*]}:"
    echo "$(git_q -C "$cache/base.git" rev-list --all --count) commits,"
    echo "$(git_q -C "$cache/base.git" for-each-ref | wc -l) refs,"
    git_q -C "$cache/base.git" count-objects -v |
      awk '/^in-pack:/ { o = $2 } /^size-pack:/ { s = $2 } END { printf "%d objects, %.0f MiB packed\n", o, s / 1024 }'
  } | tr '\n' ' ' | sed 's/ $/\n/' >"$cache/info"
  touch "$cache/ready"
  cat "$cache/info" >&2
fi
echo "$cache"
