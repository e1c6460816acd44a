#!/usr/bin/env bash
# Runs every benchmark and prints one markdown report for BENCHMARKS.md (progress goes to
# stderr):
#
#   bench/run_all.sh > /tmp/bench.md
#   MIRRORD_BIN_DIR=build-bench/bin bench/run_all.sh > /tmp/bench.md
#
# Runs as any user (root not needed); needs git, nginx, fcgiwrap, curl, procps and
# GNU time (/usr/bin/time), wrk. The git part takes ~15 minutes on 2 cores (plus ~1.5 minutes once to build
# the synthetic repository into /tmp/mirrord-bench-cache).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${MIRRORD_BIN_DIR:-$root/build/bin}
export MIRRORD_BIN_DIR=$bin

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
cmdline="bench/run_all.sh"
[[ $(nice) != 0 ]] && cmdline="nice -n $(nice) $cmdline"
[[ $bin != "$root/build/bin" ]] && cmdline="MIRRORD_BIN_DIR=${bin#"$root"/} $cmdline"
for v in BENCH_REPS BENCH_CLIENTS BENCH_PLAIN BENCH_SEED BENCH_COMMITS BENCH_FILES BENCH_BIN_MB \
         BENCH_BRANCHES BENCH_INCR_COMMITS BENCH_INCR_BIN_MB; do
  [[ -n ${!v:-} ]] && cmdline="$v=${!v} $cmdline"
done
for v in BENCH_LFS_MIB BENCH_LFS_MEDIA BENCH_LFS_DELAY_MS BENCH_LFS_SERVE_MIB BENCH_LFS_CLIENTS \
         BENCH_LFS_CACHE BENCH_SKIP_LFS BENCH_WRK_DURATION BENCH_WRK_CONNECTIONS BENCH_PUSH_REPS \
         BENCH_POLL_REPOS BENCH_SKIP_POLL; do
  [[ -n ${!v:-} ]] && cmdline="$v=${!v} $cmdline"
done

start=$(date -u +%Y-%m-%dT%H:%MZ)
echo "## Results"
echo
echo "Command: \`$cmdline\` (run $start, mirrord at commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null)$( [[ -n $(git -C "$root" status --porcelain 2>/dev/null | grep -v '^??' | head -1) ]] && echo ' plus local changes'), $( [[ -x $bin/mirrord ]] && echo "binaries from ${bin#"$root"/}" || echo "no mirrord binary"))."
echo
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, $(uname -sr), all traffic on loopback (127.0.0.1)."
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine competes for the 2 cores; every comparison is interleaved so it hits both sides alike)."
echo "Peers: git $(git --version | awk '{ print $3 }'), nginx $(ver nginx), fcgiwrap $(ver fcgiwrap), curl $(ver curl); mirrord links libgit2 $(ver libgit2-1.5)."
echo

"$here/git_fetch_bench.sh" || echo "(git_fetch_bench.sh failed: exit $?)"
echo
"$here/git_serve_bench.sh" || echo "(git_serve_bench.sh failed: exit $?)"
echo
# Git LFS (another ~35 minutes with 2 GiB objects; also needs git-lfs, aria2c, openssl,
# python3; 4.5 GiB of generated objects stay in $BENCH_LFS_CACHE, /var/tmp/mirrord-bench-lfs by
# default, for the next run). BENCH_SKIP_LFS=1 skips them.
if [[ ${BENCH_SKIP_LFS:-0} != 1 ]]; then
  "$here/lfs_fetch_bench.sh" || echo "(lfs_fetch_bench.sh failed: exit $?)"
  echo
  "$here/lfs_serve_bench.sh" || echo "(lfs_serve_bench.sh failed: exit $?)"
  echo
fi
# Sync triggers (~5 minutes; needs wrk): webhook deliveries under load, push-to-servable.
"$here/webhook_bench.sh" || echo "(webhook_bench.sh failed: exit $?)"
echo
"$here/push_latency_bench.sh" || echo "(push_latency_bench.sh failed: exit $?)"
echo
# One polling cycle over BENCH_POLL_REPOS (default 10,000) repositories: a long set-up the
# first time (cached in /var/tmp/mirrord-bench-poll). BENCH_SKIP_POLL=1 skips it.
if [[ ${BENCH_SKIP_POLL:-0} != 1 ]]; then
  "$here/poll_bench.sh" || echo "(poll_bench.sh failed: exit $?)"
  echo
fi
echo "Finished $(date -u +%Y-%m-%dT%H:%MZ); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
