#!/usr/bin/env bash
# (a) Mirroring a large repository from a local upstream: mirrord against the git CLI.
#
#   initial:      `git clone --mirror URL`            vs  mirrord: register + sync
#   incremental:  upstream gains a step of commits,
#                 `git fetch --prune` in that mirror  vs  mirrord: sync
#
# Both sides fetch over smart HTTP from the same upstream: the synthetic repository of
# bench/make_repo.sh served by nginx + fcgiwrap + git http-backend on 127.0.0.1. mirrord runs
# twice, with `[sync] maintenance = true` (the default: commit-graph and bitmaps after each
# sync) and `false` (what `git clone --mirror` does: no bitmaps). Each measurement is
# repeated BENCH_REPS times (default 3), each initial one into fresh state, and interleaved
# (git, mirrord on, mirrord off) so drift hits all sides alike; the incremental repetitions
# are successive steps (1, 2, 3) of the same size, each fetched by all three.
#
# Reported: median wall time and median peak RSS, and mirrord / git ratios. Peak RSS is the
# largest single process: for git, ru_maxrss of `git` and its helpers (remote-http,
# index-pack) from wait4; for mirrord, the daemon's VmHWM (reset with clear_refs before the
# sync) or the largest git child it spawned (sampled every 0.2 s), whichever is larger.
# mirrord's wall time is that of the admin API's followed sync (POST ...:sync?follow=1)
# from request to final line; the API polls the run every 0.25 s, so it includes up to
# 0.25 s of polling latency, as `mirrorctl sync` does.
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

reps=${BENCH_REPS:-3}
cache=$("$here/make_repo.sh") || bench_die "make_repo failed"
bench_init

mkdir -p "$BENCH_WORK/upstream"
cp -a "$cache/base.git" "$BENCH_WORK/upstream/big.git"
bench_start_git_http "$BENCH_WORK/upstream"
url=$GIT_HTTP_URL/big.git
bench_log "upstream $url: $(cat "$cache/info")"

have_mirrord=1
[[ -x $MIRRORD_BIN_DIR/mirrord ]] || { have_mirrord=0; bench_log "no $MIRRORD_BIN_DIR/mirrord: git side only"; }

declare -A wall rss phases child dsecs
add() { wall[$1]+="${wall[$1]:+ }$2"; rss[$1]+="${rss[$1]:+ }$3"; }

# Refs of a bare repo, for checking that a mirror equals the upstream.
refs_of() { git -C "$1" for-each-ref --format='%(objectname) %(refname)' refs/heads refs/tags; }

check_mirror() {
  local what=$1 dir=$2
  if ! diff <(refs_of "$BENCH_WORK/upstream/big.git") <(refs_of "$dir") >/dev/null; then
    bench_die "$what: refs differ from the upstream's"
  fi
}

mirrord_repo_dir() { echo "$1/repos/big.git"; }

run_mirrord_sync() {  # KEY MAINT STORAGE -> daemon left running in MIRRORD_PID_<KEY>
  local key=$1
  bench_mirrord_sync big "$url"
  local peak=$BENCH_RSS_KB
  ((BENCH_CHILD_RSS_KB > peak)) && peak=$BENCH_CHILD_RSS_KB
  add "$key" "$BENCH_WALL" "$peak"
  child[$key]+="${child[$key]:+ }$BENCH_RSS_KB/$BENCH_CHILD_RSS_KB"
  dsecs[$key]+="${dsecs[$key]:+ }${BENCH_DAEMON_SECS:-?}"
  phases[$key]=$BENCH_PHASES
  bench_log "  $key: ${BENCH_WALL}s (daemon log: ${BENCH_DAEMON_SECS:-?}s), daemon peak $(bench_mib "$BENCH_RSS_KB") MiB, children $(bench_mib "$BENCH_CHILD_RSS_KB") MiB ($BENCH_PHASES)"
}

declare -A daemon_pid daemon_url daemon_token daemon_storage daemon_log
start_daemon() {  # KEY MAINT ROUND
  local key=$1 maint=$2 dir=$BENCH_WORK/$1-$3
  bench_mirrord_config "$BENCH_WORK/$key-$3.toml" "$dir" "$maint"
  bench_start_mirrord "$key-$3" "$BENCH_WORK/$key-$3.toml"
  daemon_pid[$key]=$MIRRORD_PID daemon_url[$key]=$MIRRORD_URL
  daemon_token[$key]=$MIRRORD_TOKEN daemon_storage[$key]=$dir daemon_log[$key]=$MIRRORD_LOG
}
use_daemon() {
  MIRRORD_PID=${daemon_pid[$1]} MIRRORD_URL=${daemon_url[$1]} MIRRORD_TOKEN=${daemon_token[$1]}
  MIRRORD_LOG=${daemon_log[$1]}
}

# ---- initial mirror ----
for r in $(seq "$reps"); do
  bench_log "initial, round $r/$reps"
  rm -rf "$BENCH_WORK/git-mirror.git"
  sync
  bench_measure git clone -q --mirror "$url" "$BENCH_WORK/git-mirror.git" ||
    bench_die "git clone --mirror failed"
  add git_init "$BENCH_WALL" "$BENCH_RSS_KB"
  bench_log "  git: ${BENCH_WALL}s, peak $(bench_mib "$BENCH_RSS_KB") MiB"
  check_mirror "git clone --mirror" "$BENCH_WORK/git-mirror.git"
  ((have_mirrord)) || continue
  for m in on off; do
    key=m${m}_init
    [[ $m == on ]] && maint=true || maint=false
    if [[ -n ${daemon_pid[$m]:-} ]]; then use_daemon "$m"; bench_stop_mirrord; fi
    rm -rf "$BENCH_WORK/$m-"*
    sync
    start_daemon "$m" "$maint" "$r"
    use_daemon "$m"
    run_mirrord_sync "$key"
    check_mirror "mirrord (maintenance $m)" "$(mirrord_repo_dir "${daemon_storage[$m]}")"
  done
done

# ---- incremental fetch ----
for k in $(seq "$reps"); do
  bench_log "incremental step $k/$reps"
  "$here/make_repo.sh" apply "$BENCH_WORK/upstream/big.git" "$k" || bench_die "apply $k failed"
  sync
  bench_measure git -C "$BENCH_WORK/git-mirror.git" fetch -q --prune origin ||
    bench_die "git fetch failed"
  add git_incr "$BENCH_WALL" "$BENCH_RSS_KB"
  bench_log "  git: ${BENCH_WALL}s, peak $(bench_mib "$BENCH_RSS_KB") MiB"
  check_mirror "git fetch" "$BENCH_WORK/git-mirror.git"
  ((have_mirrord)) || continue
  for m in on off; do
    use_daemon "$m"
    sync
    run_mirrord_sync "m${m}_incr"
    check_mirror "mirrord (maintenance $m)" "$(mirrord_repo_dir "${daemon_storage[$m]}")"
  done
done

# Layout each side ended with (untimed).
layout() {
  local d=$1
  printf '%s packs, %s MiB, bitmap: %s, commit-graph: %s' \
    "$(ls "$d"/objects/pack/*.pack 2>/dev/null | wc -l)" \
    "$(du -sm "$d/objects" | cut -f1)" \
    "$(ls "$d"/objects/pack/*.bitmap >/dev/null 2>&1 && echo yes || echo no)" \
    "$( [[ -e $d/objects/info/commit-graph || -d $d/objects/info/commit-graphs ]] && echo yes || echo no)"
}
if ((have_mirrord)); then
  for m in on off; do
    d=$(mirrord_repo_dir "${daemon_storage[$m]}")
    git -C "$d" fsck --connectivity-only --no-progress >/dev/null 2>&1 ||
      bench_log "WARNING: git fsck --connectivity-only failed on mirrord's mirror (maintenance $m)"
  done
fi

# ---- report ----
med() { bench_median ${1:-}; }
cell() { [[ -n ${wall[$1]:-} ]] && med "${wall[$1]}" || echo n/a; }
cellm() { [[ -n ${rss[$1]:-} ]] && bench_mib "$(med "${rss[$1]}")" || echo n/a; }
ratio() { [[ $1 == n/a || $2 == n/a ]] && echo n/a || bench_ratio "$1" "$2"; }

echo "### (a) Mirroring from a local upstream over HTTP"
echo
echo "Upstream: $(cat "$cache/info"); served by nginx + fcgiwrap + git http-backend."
echo "Incremental step: 55 commits on two branches, a tag, one binary file of 1-6 MB."
echo "Medians of $reps runs. Ratio = mirrord / git (target: fetch <= 1.2)."
echo
echo "| measurement | git | mirrord, maintenance on | ratio | mirrord, maintenance off | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
for phase in init incr; do
  [[ $phase == init ]] && label="initial mirror" || label="incremental fetch"
  g=$(cell git_$phase); on=$(cell mon_$phase); off=$(cell moff_$phase)
  echo "| $label: wall time (s) | $g | $on | $(ratio "$on" "$g") | $off | $(ratio "$off" "$g") |"
  g=$(cellm git_$phase); on=$(cellm mon_$phase); off=$(cellm moff_$phase)
  echo "| $label: peak RSS (MiB) | $g | $on | $(ratio "$on" "$g") | $off | $(ratio "$off" "$g") |"
done
echo
echo "Raw wall times (s):"
for k in git_init mon_init moff_init git_incr mon_incr moff_incr; do
  [[ -n ${wall[$k]:-} ]] && echo "- $k: ${wall[$k]}"
done
if ((have_mirrord)); then
  echo
  echo "mirrord's own logged sync durations (s), without the API's polling: initial on ${dsecs[mon_init]}; off ${dsecs[moff_init]}; incremental on ${dsecs[mon_incr]}; off ${dsecs[moff_incr]}"
  echo
  echo "mirrord peak RSS per run, daemon/largest child (kB): initial on ${child[mon_init]}; off ${child[moff_init]}; incremental on ${child[mon_incr]}; off ${child[moff_incr]}"
  echo
  echo "mirrord phase start times in its last run (s from request; +-0.25 s): initial on: ${phases[mon_init]}; initial off: ${phases[moff_init]}; incremental on: ${phases[mon_incr]}; incremental off: ${phases[moff_incr]}"
  echo
  echo "Final layouts: git clone --mirror + fetches: $(layout "$BENCH_WORK/git-mirror.git"); mirrord maintenance on: $(layout "$(mirrord_repo_dir "${daemon_storage[on]}")"); off: $(layout "$(mirrord_repo_dir "${daemon_storage[off]}")")."
else
  echo
  echo "mirrord: not measured (no $MIRRORD_BIN_DIR/mirrord)."
fi
