#!/usr/bin/env bash
# One polling cycle over many unchanged repositories: mirrord's poller against a cron
# script running `git ls-remote` on every upstream.
#
# Upstream: BENCH_POLL_REPOS (default 10000) tiny bare repositories bench/r00001.git ... (one
# template, 2 commits, branches main and dev, tag v1, hard-linked N times: identical content,
# distinct names), served by nginx + fcgiwrap + git http-backend on 127.0.0.1 (lib.sh).
#
# Setup (slow, done once per N and cached): mirrord with all N as [[repos]] entries (upstream
# "bench", `[upstreams.bench] url = "<upstream>/{repo}.git"`), `[sync] maintenance = false`,
# concurrency BENCH_POLL_SETUP_CONCURRENCY (default 16) and a 365-day poll interval; mirrord
# queues the first sync of each at start; setup ends when every repo is "ready"
# (mirrord_repos{state="ready"} = N). The upstream and mirrord's storage root (catalog.sqlite,
# repos/) are kept in BENCH_POLL_CACHE (default /var/tmp/mirrord-bench-poll)/n<N>; a re-run
# reuses them (BENCH_POLL_REBUILD=1 builds them again). The URL is resolved from the config at
# each start, so the upstream's new port needs no catalog change. Each measurement runs on a
# copy of the storage root (catalog copied, repos/ a symlink to the cached mirrors, which
# polls only read), so the cache stays as built.
#
# mirrord: restarted on that state with the same N [[repos]] and `default_poll_interval =
# BENCH_POLL_INTERVAL` (default "2s"). The poller gives a repo seen for the first time a due
# time uniform in [start, start + interval) and looks for due repos once a second, so within
# ~interval + 1 s every first poll is queued on its 8-thread pool (FIFO), which then works
# through them as fast as it can. A repo's next poll is due 0.9-1.1 intervals after its first
# was queued, i.e. queued behind every first poll: the first N completed polls are one poll of
# each repo. mirrord_polls_total{result=...} is sampled every 0.5 s (every 0.1 s until the
# polls start). Wall time: from the last sample with at most N/500 polls done to the first
# with >= N (the start within 0.1 s, the end within 0.5 s). The allowance: a due time that
# falls on the poller's start to the millisecond (1 in 2000 at "2s") is polled at once, before
# the first tick. Should the first sample come later than that, the window starts at the
# "listening" line, which precedes the first tick (1 s after the poller's start). CPU:
# mirrord's utime + stime (+ reaped children) from /proc/PID/stat over the same window.
# Checked: every poll "unchanged", no sync (mirrord_syncs_total stays 0 and the catalog gains
# no sync run), or the benchmark fails.
# Also reported: mirrord's start-up with N [[repos]] (exec to "listening"; the poller starts
# then), its peak RSS (VmHWM), and the catalog size (catalog.sqlite + WAL) after the cycle.
#
# Peer: `xargs -P8 -n1 git ls-remote URL` over the same N URLs (what a cron script checking
# for changes would do; 8 at a time like the poller's pool), under /usr/bin/time: wall time and
# CPU (user + system of xargs and every git process it waited for). git uses protocol v2 here
# (two requests per repo: info/refs and ls-refs); mirrord (libgit2) reads the v0
# advertisement (one request). Every ls-remote must succeed and list every ref.
#
# Upstream CPU, both sides: `perf stat -e task-clock` attached over the window to every
# process of the nginx and fcgiwrap process groups (lib.sh starts each with setsid): nginx's
# and fcgiwrap's long-lived workers, and, through inherited counters, every git http-backend
# and git upload-pack they fork for a request (fcgiwrap's reaping leaves no trace in its
# cutime, so summing /proc/PID/stat would miss them). For mirrord it is attached before the
# poller's first tick and stopped at the N-th poll (at most 8 polls more are in flight).
#
# Runs: BENCH_POLL_REPS (default 1) rounds of (peer, mirrord), alternating the order; medians.
# BENCH_POLL_PROFILE=1 adds a profiled mirrord cycle (not in the timings): fsync/fdatasync
# counts (perf stat tracepoints), the webhook_deliveries table's size (the poller records a
# "poll:<repo>:<interval>" key there per poll), and a perf profile of the daemon.
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

n=${BENCH_POLL_REPOS:-10000}
interval=${BENCH_POLL_INTERVAL:-2s}
reps=${BENCH_POLL_REPS:-1}
setup_conc=${BENCH_POLL_SETUP_CONCURRENCY:-16}
cache=${BENCH_POLL_CACHE:-/var/tmp/mirrord-bench-poll}/n$n
profile=${BENCH_POLL_PROFILE:-0}
peer_conc=8  # the poller's pool (UpstreamPoller's default concurrency, not configurable)
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "BENCH_POLL_REPOS must be a positive integer"
[[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"
command -v sqlite3 >/dev/null || bench_die "sqlite3 (Debian package sqlite3) is needed"
command -v python3 >/dev/null || bench_die "python3 is needed (setup)"
command -v perf >/dev/null || bench_die "perf (Debian package linux-perf) is needed for the upstream's CPU"
bench_init

hz=$(getconf CLK_TCK)
repo_name() { printf 'bench/r%05d' "$1"; }
all_names() { seq -f 'bench/r%05g' 1 "$n"; }

# ---------------------------------------------------------------------------------------
# Helpers

# CPU seconds of PID: utime + stime + cutime + cstime.
poll_pid_cpu() {
  awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13 + $14 + $15) / hz }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}

# Upstream CPU: `perf stat -e task-clock` attached to every process of the nginx and fcgiwrap
# process groups. Counters are inherited by the processes they fork afterwards and added back
# when those exit, so each request's git http-backend and git upload-pack are counted even
# though fcgiwrap does not wait for them in a way that shows in its cutime.
upstream_cpu_start() {
  local pids
  pids=$(ps -e -o pid=,pgid= | awk -v groups="$UPSTREAM_PGIDS" '
    BEGIN { n = split(groups, g, " "); for (i = 1; i <= n; i++) want[g[i]] = 1 }
    $2 in want { printf "%s%s", sep, $1; sep = "," }')
  [[ -n $pids ]] || bench_die "no upstream process found"
  UP_PERF_OUT=$BENCH_WORK/upstream-perf.$((++UP_PERF_SEQ))
  perf stat -x, -e task-clock -p "$pids" -o "$UP_PERF_OUT" 2>/dev/null &
  UP_PERF_PID=$!
  sleep 0.3  # attached by then
  kill -0 "$UP_PERF_PID" 2>/dev/null || bench_die "perf stat could not attach to the upstream"
}
upstream_cpu_stop() {  # prints CPU seconds
  kill -INT "$UP_PERF_PID" 2>/dev/null
  wait "$UP_PERF_PID" 2>/dev/null
  awk -F, '$3 ~ /^task-clock/ { printf "%.2f\n", $1 / 1000; found = 1 }
    END { if (!found) print "?" }' "$UP_PERF_OUT"
}
UP_PERF_SEQ=0

# Sum of the samples of one metric family (all label sets), or of one labelled series.
metric() {  # FILE NAME [LABELS]
  awk -v name="$2" -v labels="${3:-}" '
    labels == "" && ($1 == name || index($1, name "{") == 1) { s += $2 }
    labels != "" && $1 == name "{" labels "}" { s += $2 }
    END { printf "%d\n", s }' "$1"
}

fetch_metrics() {  # OUT
  curl -sS --max-time 10 -o "$1" "$MIRRORD_URL/metrics" || bench_die "GET /metrics failed"
}

secs_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
sub_f() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# mirrord config: storage ROOT, poll interval, sync concurrency, all N repos as [[repos]].
write_config() {  # FILE ROOT INTERVAL CONCURRENCY
  {
    cat <<EOF
[server]
listen = "127.0.0.1:0"
log_level = "info"

[storage]
root = "$2"

[sync]
maintenance = false
concurrency = $4
per_host_concurrency = $4
default_poll_interval = "$3"
stall_timeout = "120s"

[upstreams.bench]
url = "$GIT_HTTP_URL/{repo}.git"
EOF
    all_names | awk '{ printf "\n[[repos]]\nname = \"%s\"\nupstream = \"bench\"\n", $0 }'
  } >"$1"
}

# bench_start_mirrord with a longer wait: with N [[repos]] mirrord registers (or checks) every
# one before it listens. Sets MIRRORD_START_SECS (exec to the "listening" line).
start_mirrord() {  # NAME CFG
  local t0=$EPOCHREALTIME
  bench_start_mirrord "$1" "$2" $((600 + n / 5))
  MIRRORD_LISTEN_T=$EPOCHREALTIME
  MIRRORD_START_CPU=$(poll_pid_cpu "$MIRRORD_PID")
  MIRRORD_START_SECS=$(secs_between "$t0" "$MIRRORD_LISTEN_T")
}

# Upstream: nginx + fcgiwrap serving ROOT; UPSTREAM_PGIDS = their process groups.
start_upstream() {  # ROOT
  local before=${#BENCH_PIDS[@]} i
  bench_start_git_http "$1"
  UPSTREAM_PGIDS=
  for ((i = before; i < ${#BENCH_PIDS[@]}; i++)); do
    UPSTREAM_PGIDS+="${UPSTREAM_PGIDS:+ }${BENCH_PIDS[i]#-}"
  done
}

# The template upstream: 2 commits, branches main and dev, tag v1, packed.
make_template() {  # DIR
  local work=$BENCH_WORK/template-work
  git init -q "$work" || bench_die "git init failed"
  echo "a model card" >"$work/README.md"
  git -C "$work" add README.md && git -C "$work" commit -q -m first || bench_die "commit failed"
  git -C "$work" tag v1
  git -C "$work" branch dev
  echo "config: {}" >"$work/config.json"
  git -C "$work" add config.json && git -C "$work" commit -q -m second || bench_die "commit failed"
  git clone -q --bare --no-local --template= "$work" "$1" || bench_die "bare clone failed"
  git -C "$1" config --unset remote.origin.url
  git -C "$1" repack -adq && git -C "$1" pack-refs --all --prune || bench_die "repack failed"
  rm -rf "$work"
}

# ---------------------------------------------------------------------------------------
# Setup: N upstream repos and a mirrord state where all N are "ready" (cached).

setup_cache() {
  local t0 t_copy
  bench_log "setup: building $n upstream repos and mirroring them into $cache"
  rm -rf "$cache"
  mkdir -p "$cache/upstream/bench" || bench_die "cannot create $cache"
  t0=$EPOCHREALTIME
  make_template "$BENCH_WORK/template.git"
  # Hard-linked copies, made in one process (a cp per repo costs minutes at 10,000).
  all_names | python3 -c '
import os, sys
src, root = sys.argv[1], sys.argv[2]
for name in sys.stdin.read().split():
    dst = os.path.join(root, name + ".git")
    for d, dirs, files in os.walk(src):
        out = os.path.join(dst, os.path.relpath(d, src))
        os.makedirs(out, exist_ok=True)
        for f in files:
            os.link(os.path.join(d, f), os.path.join(out, f))
' "$BENCH_WORK/template.git" "$cache/upstream" || bench_die "copying the template failed"
  t_copy=$(secs_between "$t0" "$EPOCHREALTIME")
  bench_log "setup: $n upstream repos in ${t_copy} s"

  start_upstream "$cache/upstream"
  local cfg=$BENCH_WORK/setup.toml state=$cache/state.tmp
  mkdir -p "$state"
  write_config "$cfg" "$state" 365d "$setup_conc"
  t0=$EPOCHREALTIME
  start_mirrord setup "$cfg"
  local t_register=$MIRRORD_START_SECS
  bench_log "setup: mirrord registered $n repos and queued their first syncs in ${t_register} s"
  local m=$BENCH_WORK/setup.metrics ready=0 failed=0 last_log=$SECONDS last_ready=-1 still=$SECONDS
  while :; do
    fetch_metrics "$m"
    ready=$(metric "$m" mirrord_repos 'state="ready"')
    failed=$(metric "$m" mirrord_syncs_total 'outcome="failed"')
    ((failed == 0)) || bench_die "setup: $failed syncs failed: $(grep -m 3 'failed after' "$MIRRORD_LOG")"
    ((ready >= n)) && break
    if ((ready != last_ready)); then last_ready=$ready; still=$SECONDS; fi
    ((SECONDS - still > 300)) && bench_die "setup: no repo became ready in 300 s ($ready of $n)"
    if ((SECONDS - last_log >= 30)); then
      bench_log "setup: $ready of $n ready"
      last_log=$SECONDS
    fi
    sleep 1
  done
  local t_setup
  t_setup=$(secs_between "$t0" "$EPOCHREALTIME")
  local cpu
  cpu=$(poll_pid_cpu "$MIRRORD_PID")
  bench_log "setup: all $n ready ${t_setup} s after mirrord's start (mirrord CPU ${cpu} s)"
  bench_stop_mirrord
  stop_upstream
  mv "$state" "$cache/state" || bench_die "mv failed"
  printf 'repos=%s\ncopy_secs=%s\nregister_secs=%s\nsetup_secs=%s\nsetup_cpu=%s\nconcurrency=%s\nbuilt=%s\n' \
    "$n" "$t_copy" "$t_register" "$t_setup" "$cpu" "$setup_conc" "$(date -u +%Y-%m-%dT%H:%MZ)" \
    >"$cache/setup.info"
}

# Stops the upstream started by start_upstream (a new one gets a new port and fresh counters).
stop_upstream() {
  local pg keep=() p
  for pg in $UPSTREAM_PGIDS; do
    kill -TERM -- "-$pg" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$pg" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pg" 2>/dev/null || true
  done
  for p in "${BENCH_PIDS[@]}"; do [[ " $UPSTREAM_PGIDS " == *" ${p#-} "* ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
  UPSTREAM_PGIDS=
}

if [[ ${BENCH_POLL_REBUILD:-0} == 1 || ! -f $cache/setup.info || ! -d $cache/state ]]; then
  setup_cache
  setup_how="built now"
else
  setup_how="reused from the cache (built $(awk -F= '$1 == "built" { print $2 }' "$cache/setup.info"))"
  bench_log "setup: reusing $cache"
fi
setup_secs=$(awk -F= '$1 == "setup_secs" { print $2 }' "$cache/setup.info")
register_secs=$(awk -F= '$1 == "register_secs" { print $2 }' "$cache/setup.info")
copy_secs=$(awk -F= '$1 == "copy_secs" { print $2 }' "$cache/setup.info")
setup_cpu=$(awk -F= '$1 == "setup_cpu" { print $2 }' "$cache/setup.info")
setup_conc_used=$(awk -F= '$1 == "concurrency" { print $2 }' "$cache/setup.info")

# Warm the page cache for both sides alike (upstream repos, mirrord's catalog).
find "$cache/upstream" -type f -exec cat {} + >/dev/null 2>&1
cat "$cache"/state/catalog.sqlite* >/dev/null 2>&1
start_upstream "$cache/upstream"
bench_log "upstream $GIT_HTTP_URL (process groups $UPSTREAM_PGIDS)"

# Refs each ls-remote must list (HEAD included).
refs_per_repo=$(git ls-remote "$GIT_HTTP_URL/$(repo_name 1).git" | wc -l)
((refs_per_repo > 0)) || bench_die "git ls-remote of the first repo listed nothing"
all_names | sed "s|^|$GIT_HTTP_URL/|; s|\$|.git|" >"$BENCH_WORK/urls"

# ---------------------------------------------------------------------------------------
# One side each.

declare -A res  # "<side>.<what>" -> space-separated values, one per repetition
add() { res[$1]+="${res[$1]:+ }$2"; }

run_peer() {
  local up t0 t1 rc=0 out=$BENCH_WORK/peer.out tf=$BENCH_WORK/peer.time
  upstream_cpu_start
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S %M' -o "$tf" \
    xargs -P "$peer_conc" -n 1 git ls-remote <"$BENCH_WORK/urls" >"$out" 2>"$BENCH_WORK/peer.err" ||
    rc=$?
  t1=$EPOCHREALTIME
  up=$(upstream_cpu_stop)
  ((rc == 0)) || bench_die "git ls-remote failed (xargs exit $rc): $(head -n 3 "$BENCH_WORK/peer.err")"
  local lines
  lines=$(wc -l <"$out")
  ((lines == n * refs_per_repo)) || bench_die "git ls-remote listed $lines refs, expected $((n * refs_per_repo))"
  local wall cpu
  wall=$(secs_between "$t0" "$t1")
  cpu=$(tail -n 1 "$tf" | awk '{ printf "%.2f", $1 + $2 }')
  add peer.wall "$wall"
  add peer.cpu "$cpu"
  add peer.up "$up"
  add peer.rss "$(tail -n 1 "$tf" | awk '{ print $3 }')"
  bench_log "  git ls-remote x$n: ${wall} s, client CPU ${cpu} s, upstream CPU ${up} s"
}

# A private storage root for one mirrord run: everything copied but repos/, which is a
# symlink to the cached mirrors (polls never write there; hard-linking 10,000 mirrors takes
# minutes). SQLite writes in place: the catalog is a copy.
copy_state() {  # DIR
  local t0=$EPOCHREALTIME f
  rm -rf "$1"
  mkdir -p "$1" || bench_die "cannot create $1"
  for f in "$cache/state"/* "$cache/state"/.[!.]*; do
    [[ -e $f && ${f##*/} != repos ]] || continue
    cp -a "$f" "$1/" || bench_die "copying $f failed"
  done
  ln -s "$cache/state/repos" "$1/repos" || bench_die "symlink failed"
  bench_log "  state copied in $(secs_between "$t0" "$EPOCHREALTIME") s"
}

sync_runs() { sqlite3 -readonly "$1/catalog.sqlite" 'SELECT count(*) FROM sync_runs' 2>/dev/null || echo '?'; }

# Starts mirrord on a copy of the state and follows one cycle of N polls. With PROFILE=1
# perf counts fsyncs and samples stacks during the window (reported apart).
run_mirrord() {  # LABEL PROFILE
  local label=$1 prof=$2
  local state=$BENCH_WORK/state-$label cfg=$BENCH_WORK/$label.toml
  copy_state "$state"
  local runs_before
  runs_before=$(sync_runs "$state")
  write_config "$cfg" "$state" "$interval" 4
  # The upstream is idle until the poller's first tick (1 s after its start, just before
  # mirrord listens): its counter is attached first.
  upstream_cpu_start
  start_mirrord "$label" "$cfg"
  local start_cpu=$MIRRORD_START_CPU
  local perf_pids=()
  if ((prof)); then
    perf stat -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_pwrite64 \
      -p "$MIRRORD_PID" -o "$BENCH_WORK/perf-stat.txt" 2>/dev/null &
    perf_pids+=($!)
    perf record -q -F 499 -g -p "$MIRRORD_PID" -o "$BENCH_WORK/perf.data" >/dev/null 2>&1 &
    perf_pids+=($!)
  fi
  # Window start: the last sample with at most N/500 polls (see the header); if the first
  # sample already has more, the "listening" line, which precedes the first tick.
  local m=$BENCH_WORK/$label.metrics polls=0 t c t0=$MIRRORD_LISTEN_T c0=$MIRRORD_START_CPU t1 c1
  local sampled=0 early=$((n / 500))
  local deadline=$((SECONDS + 600 + n / 5)) last_polls=-1 still=$SECONDS last_log=$SECONDS
  while :; do
    fetch_metrics "$m"
    t=$EPOCHREALTIME
    polls=$(metric "$m" mirrord_polls_total)
    c=$(poll_pid_cpu "$MIRRORD_PID")
    if ((sampled < 2 && polls <= early)); then
      t0=$t c0=$c sampled=1
      sleep 0.1
      continue
    fi
    if ((sampled == 0)); then
      bench_log "  note: $polls polls before the first sample; the window starts at \"listening\""
    fi
    sampled=2
    if ((polls >= n)); then
      t1=$t c1=$c
      break
    fi
    if ((polls != last_polls)); then last_polls=$polls; still=$SECONDS; fi
    ((SECONDS - still > 60)) && bench_die "mirrord: no poll completed in 60 s ($polls of $n; skipped polls are not counted)"
    ((SECONDS > deadline)) && bench_die "mirrord: $polls of $n polls after $((SECONDS - still)) s"
    if ((SECONDS - last_log >= 15)); then
      bench_log "  mirrord: $polls of $n polls"
      last_log=$SECONDS
    fi
    sleep 0.5
  done
  local up pid
  up=$(upstream_cpu_stop)
  for pid in "${perf_pids[@]}"; do kill -INT "$pid" 2>/dev/null; done
  for pid in "${perf_pids[@]}"; do wait "$pid" 2>/dev/null; done
  local unchanged changed failed syncs
  unchanged=$(metric "$m" mirrord_polls_total 'result="unchanged"')
  changed=$(metric "$m" mirrord_polls_total 'result="changed"')
  failed=$(metric "$m" mirrord_polls_total 'result="failed"')
  syncs=$(metric "$m" mirrord_syncs_total)
  local rss catalog_bytes
  rss=$(bench_vmhwm_kb "$MIRRORD_PID")
  catalog_bytes=$(cat "$state"/catalog.sqlite "$state"/catalog.sqlite-wal 2>/dev/null | wc -c)
  bench_stop_mirrord
  local runs_after deliveries
  runs_after=$(sync_runs "$state")
  deliveries=$(sqlite3 -readonly "$state/catalog.sqlite" \
    "SELECT count(*) FROM webhook_deliveries WHERE delivery_id LIKE 'poll:%'" 2>/dev/null || echo '?')
  if ((changed != 0 || failed != 0 || syncs != 0)) || [[ $runs_after != "$runs_before" ]]; then
    bench_die "mirrord: polls unchanged=$unchanged changed=$changed failed=$failed, syncs=$syncs, sync runs in the catalog $runs_before -> $runs_after: the upstream was not unchanged or a poll failed ($(grep -m 3 'poll' "$MIRRORD_LOG"))"
  fi
  local wall cpu
  wall=$(secs_between "$t0" "$t1")
  cpu=$(sub_f "$c1" "$c0")
  bench_log "  mirrord: $polls polls in ${wall} s, CPU ${cpu} s, upstream CPU ${up} s, start ${MIRRORD_START_SECS} s, peak RSS $(bench_mib "$rss") MiB"
  if ((prof)); then
    PROF_POLLS=$polls PROF_WALL=$wall PROF_CPU=$cpu PROF_DELIVERIES=$deliveries PROF_CATALOG=$catalog_bytes
    return
  fi
  add mirrord.wall "$wall"
  add mirrord.cpu "$cpu"
  add mirrord.up "$up"
  add mirrord.polls "$polls"
  add mirrord.rss "$rss"
  add mirrord.start "$MIRRORD_START_SECS"
  add mirrord.startcpu "$start_cpu"
  add mirrord.catalog "$catalog_bytes"
  add mirrord.deliveries "$deliveries"
}

bench_log "measuring: $n repos, poll interval $interval, $reps round(s)"
for ((rep = 1; rep <= reps; rep++)); do
  bench_log "round $rep of $reps"
  if ((rep % 2)); then
    run_peer
    run_mirrord "m$rep" 0
  else
    run_mirrord "m$rep" 0
    run_peer
  fi
done

if ((profile)); then
  bench_log "profiled mirrord cycle (perf stat + perf record)"
  run_mirrord prof 1
fi

# ---------------------------------------------------------------------------------------
# Report

med() { bench_median ${res[$1]}; }
fmt() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
m_wall=$(med mirrord.wall) p_wall=$(med peer.wall)
m_cpu=$(med mirrord.cpu) p_cpu=$(med peer.cpu)
m_up=$(med mirrord.up) p_up=$(med peer.up)
m_tot=$(awk -v a="$m_cpu" -v b="$m_up" 'BEGIN { printf "%.2f", a + b }')
p_tot=$(awk -v a="$p_cpu" -v b="$p_up" 'BEGIN { printf "%.2f", a + b }')
rate() { awk -v n="$n" -v w="$1" 'BEGIN { if (w > 0) printf "%.0f", n / w; else print "n/a" }'; }
ms_per() { awk -v n="$n" -v c="$1" 'BEGIN { printf "%.2f", 1000 * c / n }'; }

echo "### Polling $n unchanged repositories (bench/poll_bench.sh)"
echo
echo "One poll of each of $n tiny upstream repositories (2 commits, $((refs_per_repo - 1)) refs + HEAD; nginx + fcgiwrap + git http-backend on 127.0.0.1), nothing changed upstream. mirrord: its poller (8 threads) after a restart with \`default_poll_interval = \"$interval\"\`, so that every repo is due at once; peer: \`xargs -P$peer_conc -n1 git ls-remote URL\` over the same $n URLs. Median of $reps round(s), interleaved. CPU is user + system; upstream CPU is nginx + fcgiwrap + git http-backend/upload-pack."
echo
echo "| | wall (s) | polls/s | client CPU (s) | client CPU per repo (ms) | upstream CPU (s) | client + upstream CPU (s) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
echo "| mirrord poller | $(fmt "$m_wall") | $(rate "$m_wall") | $(fmt "$m_cpu") | $(ms_per "$m_cpu") | $(fmt "$m_up") | $m_tot |"
echo "| git ls-remote, xargs -P$peer_conc | $(fmt "$p_wall") | $(rate "$p_wall") | $(fmt "$p_cpu") | $(ms_per "$p_cpu") | $(fmt "$p_up") | $p_tot |"
echo "| mirrord / git | $(bench_ratio "$m_wall" "$p_wall") | | $(bench_ratio "$m_cpu" "$p_cpu") | | $(bench_ratio "$m_up" "$p_up") | $(bench_ratio "$m_tot" "$p_tot") |"
echo
echo "- Every mirrord poll was \"unchanged\" and no sync ran (checked: mirrord_syncs_total and the catalog's sync runs). Walls per round: mirrord ${res[mirrord.wall]}, git ${res[peer.wall]} s. mirrord's wall is read from /metrics every 0.5 s (+-0.5 s)."
echo "- mirrord peak RSS (VmHWM, start-up included): $(bench_mib "$(med mirrord.rss)") MiB; git ls-remote's largest process: $(bench_mib "$(med peer.rss)") MiB."
echo "- Catalog after the cycle (catalog.sqlite + WAL): $(bench_mib $(($(med mirrord.catalog) / 1024))) MiB ($(med mirrord.catalog) bytes); poll keys left in webhook_deliveries after the cycle: ${res[mirrord.deliveries]}."
echo "- mirrord start-up with $n \`[[repos]]\` already registered (exec to \"listening\"): $(fmt "$(med mirrord.start)") s, $(fmt "$(med mirrord.startcpu)") s CPU; not in the cycle's numbers."
echo "- Setup ($setup_how): $n upstream repos hard-linked in ${copy_secs} s; mirrord with $n new \`[[repos]]\` took ${register_secs} s to register them and start listening, and ${setup_secs} s from its start until all were \"ready\" (sync concurrency $setup_conc_used, maintenance off; mirrord CPU ${setup_cpu} s, $(ms_per "$setup_cpu") ms per sync)."
if ((profile)); then
  fsyncs=$(awk '/sys_enter_fsync/ { gsub(",", "", $1); print $1 }' "$BENCH_WORK/perf-stat.txt")
  fdatasyncs=$(awk '/sys_enter_fdatasync/ { gsub(",", "", $1); print $1 }' "$BENCH_WORK/perf-stat.txt")
  pwrites=$(awk '/sys_enter_pwrite64/ { gsub(",", "", $1); print $1 }' "$BENCH_WORK/perf-stat.txt")
  per() { awk -v a="${1:-0}" -v b="$PROF_POLLS" 'BEGIN { printf "%.2f", a / b }'; }
  echo
  echo "Profiled cycle (perf attached; $PROF_POLLS polls in $PROF_WALL s, $PROF_CPU s CPU): fsync ${fsyncs:-?} ($(per "$fsyncs") per poll), fdatasync ${fdatasyncs:-?} ($(per "$fdatasyncs") per poll), pwrite64 ${pwrites:-?} ($(per "$pwrites") per poll) by mirrord from \"listening\" to the end of the cycle; poll keys in webhook_deliveries after it: $PROF_DELIVERIES; catalog $PROF_CATALOG bytes. Hottest symbols (self time, share of mirrord's samples):"
  echo
  echo '```'
  top_symbols() {
    perf report -i "$BENCH_WORK/perf.data" --no-children --sort dso,symbol --stdio "$@" 2>/dev/null |
      grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//' |
      cut -c 1-150
  }
  top_symbols | head -n 25
  echo '```'
  echo
  echo "In mirrord's own code (share of all samples):"
  echo
  echo '```'
  top_symbols --dsos mirrord | head -n 12
  echo '```'
fi
