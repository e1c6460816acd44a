# Shared helpers for the benchmarks. Source it; it needs bash.
#
#   bench_init                      temp workdir ($BENCH_WORK) and the cleanup trap
#   bench_free_port                 prints a free TCP port on 127.0.0.1
#   bench_start_git_http DIR        nginx + fcgiwrap + git http-backend serving the bare repos
#                                   under DIR; sets GIT_HTTP_URL (http://127.0.0.1:PORT)
#   bench_measure CMD...            runs CMD; sets BENCH_WALL (s) and BENCH_RSS_KB (peak RSS
#                                   of the largest process of CMD's tree, from wait4)
#   bench_start_mirrord NAME CFG    starts mirrord; sets MIRRORD_PID and MIRRORD_URL
#   bench_stop_mirrord              stops it (SIGTERM, then SIGKILL after 20 s)
#   bench_mirrord_sync NAME URL     registers NAME (if needed) and syncs it, waiting for the
#                                   end; sets BENCH_WALL, BENCH_RSS_KB (peak of the daemon
#                                   process during the sync), BENCH_CHILD_RSS_KB (largest
#                                   child it spawned, sampled), BENCH_PHASES, BENCH_DAEMON_SECS
#                                   (the duration mirrord logs for the run)
#   bench_median N...               prints the median
#   bench_ratio A B                 prints A/B with two decimals
#
# Environment: MIRRORD_BIN_DIR (default <repo>/build/bin), BENCH_KEEP=1 keeps the workdir.
# Everything listens on 127.0.0.1 only. Nothing here touches system services or configs.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIRRORD_BIN_DIR=${MIRRORD_BIN_DIR:-$BENCH_ROOT/build/bin}
BENCH_PIDS=()
BENCH_NGINX_SEQ=0

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { bench_log "FATAL: $*"; exit 1; }

bench_cleanup() {
  local pid
  # Entries are PIDs, or -PGID for process groups we started with setsid.
  for pid in "${BENCH_PIDS[@]}"; do
    kill -TERM -- "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 -- "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
  if [[ -n ${BENCH_WORK:-} && -d $BENCH_WORK ]]; then
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
      bench_log "kept $BENCH_WORK"
    else
      rm -rf "$BENCH_WORK"
    fi
  fi
}

bench_init() {
  BENCH_WORK=$(mktemp -d /tmp/mirrord-bench.XXXXXX)
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  # Clones must not pick up the caller's git config, credentials or proxies.
  export GIT_CONFIG_NOSYSTEM=1 HOME=$BENCH_WORK/home GIT_TERMINAL_PROMPT=0
  unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
  export no_proxy=127.0.0.1,localhost
  mkdir -p "$HOME"
  git config --global user.name bench
  git config --global user.email bench@localhost
  git config --global init.defaultBranch main
  if [[ ! -x /usr/bin/time ]]; then
    bench_die "/usr/bin/time (Debian package 'time') is needed for peak RSS"
  fi
}

bench_free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  bench_die "no free port"
}

# Waits until URL answers HTTP at all (any status). $2: seconds.
bench_wait_http() {
  local url=$1 limit=${2:-20}
  for _ in $(seq $((limit * 10))); do
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# nginx (2 workers, its own config in the workdir) -> fcgiwrap (unix socket, 16 preforked
# workers so 8 concurrent clients never queue behind one) -> git http-backend.
bench_start_git_http() {
  local root=$1
  local dir=$BENCH_WORK/nginx-$((++BENCH_NGINX_SEQ))
  local port sock
  mkdir -p "$dir/tmp"
  port=$(bench_free_port)
  sock=$dir/fcgiwrap.sock
  # Its own session: the preforked workers outlive a killed parent, so the whole process
  # group is stopped at cleanup.
  setsid fcgiwrap -c 16 -s "unix:$sock" >"$dir/fcgiwrap.log" 2>&1 </dev/null &
  BENCH_PIDS+=(-$!)
  for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
  [[ -S $sock ]] || bench_die "fcgiwrap did not start: $(cat "$dir/fcgiwrap.log")"
  cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  fastcgi_temp_path $dir/tmp/fastcgi;
  proxy_temp_path $dir/tmp/proxy;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 0;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:$sock;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $root;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_read_timeout 600s;
      # Stream packs through memory buffers, never spool them to temp files.
      fastcgi_max_temp_file_size 0;
      fastcgi_buffers 64 64k;
    }
  }
}
EOF
  setsid nginx -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/nginx.out" 2>&1 </dev/null &
  BENCH_PIDS+=(-$!)
  GIT_HTTP_URL=http://127.0.0.1:$port
  bench_wait_http "$GIT_HTTP_URL/" 20 || bench_die "nginx did not start: $(cat "$dir/error.log")"
}

# Runs a command; BENCH_WALL = wall seconds, BENCH_RSS_KB = ru_maxrss from wait4 (the
# largest single process of the command and its waited-for descendants).
bench_measure() {
  local rss_file=$BENCH_WORK/time.$$ t0 t1
  t0=$EPOCHREALTIME
  local rc=0
  /usr/bin/time -f '%M' -o "$rss_file" "$@" || rc=$?
  t1=$EPOCHREALTIME
  BENCH_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  BENCH_RSS_KB=$(tail -n 1 "$rss_file")
  return $rc
}

bench_vmhwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Samples the descendants of PID every 0.2 s until the file $2 disappears; writes the largest
# VmHWM seen among them (kB) to $3. Catches the git processes mirrord spawns.
bench_sample_children() {
  local root=$1 flag=$2 out=$3
  local max=0
  while [[ -e $flag ]]; do
    max=$(ps -e -o pid=,ppid= | awk -v root="$root" -v max="$max" '
      { parent[$1] = $2; pids[NR] = $1 }
      END {
        for (i = 1; i <= NR; i++) {
          p = pids[i]; q = parent[p]; d = 0
          for (n = 0; n < 32 && q > 1; n++) { if (q == root) { d = 1; break } q = parent[q] }
          if (!d) continue
          f = "/proc/" p "/status"
          while ((getline line < f) > 0) {
            if (line ~ /^VmHWM:/) { split(line, a, " "); if (a[2] + 0 > max) max = a[2] + 0 }
          }
          close(f)
        }
        print max
      }')
    sleep 0.2
  done
  echo "$max" >"$out"
}

# Starts mirrord with config file CFG; waits for its "listening on http://..." line.
bench_start_mirrord() {
  local name=$1 cfg=$2
  local log=$BENCH_WORK/mirrord-$name.log
  [[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"
  "$MIRRORD_BIN_DIR/mirrord" --config "$cfg" >"$log" 2>&1 </dev/null &
  MIRRORD_PID=$!
  BENCH_PIDS+=($MIRRORD_PID)
  MIRRORD_LOG=$log
  MIRRORD_URL=
  for _ in $(seq 200); do
    MIRRORD_URL=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -n 1 | sed 's/^listening on //')
    [[ -n $MIRRORD_URL ]] && break
    kill -0 "$MIRRORD_PID" 2>/dev/null || bench_die "mirrord exited: $(tail -n 20 "$log")"
    sleep 0.05
  done
  [[ -n $MIRRORD_URL ]] || bench_die "mirrord did not report its address: $(tail -n 20 "$log")"
  MIRRORD_STORAGE=$(awk -F'"' '/^root *=/ { print $2 }' "$cfg")
  MIRRORD_TOKEN=$(cat "$MIRRORD_STORAGE/admin.token")
}

bench_stop_mirrord() {
  [[ -n ${MIRRORD_PID:-} ]] || return 0
  kill -TERM "$MIRRORD_PID" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$MIRRORD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$MIRRORD_PID" 2>/dev/null || true
  wait "$MIRRORD_PID" 2>/dev/null || true
  local keep=()
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$MIRRORD_PID" ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
  MIRRORD_PID=
}

# Writes a mirrord config for a benchmark daemon: storage under DIR, a free port.
# $3: maintenance (true|false).
bench_mirrord_config() {
  local cfg=$1 dir=$2 maint=$3
  mkdir -p "$dir"
  cat >"$cfg" <<EOF
[server]
listen = "127.0.0.1:0"
log_level = "info"
read_timeout = "600s"

[storage]
root = "$dir"

[sync]
maintenance = $maint
stall_timeout = "600s"
EOF
}

bench_api() {
  curl -sS --fail-with-body -H "Authorization: Bearer $MIRRORD_TOKEN" "$@"
}

# Registers NAME -> URL (idempotent) and runs one sync, following it to the end.
bench_mirrord_sync() {
  local name=$1 url=$2
  local out=$BENCH_WORK/sync-$$.ndjson flag=$BENCH_WORK/sampling.$$ child=$BENCH_WORK/child.$$
  bench_api -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"$name\",\"url\":\"$url\"}" "$MIRRORD_URL/api/v1/repos" ||
    bench_die "registering $name failed"
  echo 5 >"/proc/$MIRRORD_PID/clear_refs"  # VmHWM := current RSS
  touch "$flag"
  bench_sample_children "$MIRRORD_PID" "$flag" "$child" &
  local sampler=$!
  local t0 t1
  t0=$EPOCHREALTIME
  # Each streamed line is stamped with its arrival time (phase durations, +-0.25 s).
  bench_api -N -X POST "$MIRRORD_URL/api/v1/repos/$name:sync?follow=1" |
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$out"
  t1=$EPOCHREALTIME
  rm -f "$flag"
  wait "$sampler"
  BENCH_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  BENCH_RSS_KB=$(bench_vmhwm_kb "$MIRRORD_PID")
  BENCH_CHILD_RSS_KB=$(cat "$child")
  local last
  last=$(tail -n 1 "$out" | cut -d' ' -f2-)
  if ! grep -q '"state":"succeeded"' <<<"$last"; then
    bench_die "sync of $name did not succeed: $last"
  fi
  # The daemon's own measure of the run (from its log), without the API's polling latency.
  local run_id
  run_id=$(grep -o '"run_id":[0-9]*' "$out" | head -n 1 | cut -d: -f2)
  BENCH_DAEMON_SECS=
  for _ in $(seq 20); do  # the log line may land a moment after the API's last line
    BENCH_DAEMON_SECS=$(grep -o "sync $name (run $run_id) succeeded in [0-9.]* s" "$MIRRORD_LOG" |
      tail -n 1 | awk '{ printf "%.3f", $(NF - 1) }')
    [[ -n $BENCH_DAEMON_SECS ]] && break
    sleep 0.1
  done
  # First arrival time of each phase, relative to the start: "fetching=0.3 publishing=41.2 ..."
  BENCH_PHASES=$(awk -v t0="$t0" '
    { if (match($0, /"phase":"[a-z-]*"/)) { p = substr($0, RSTART + 9, RLENGTH - 10)
        if (!(p in seen)) { seen[p] = 1; printf "%s%s=%.1f", sep, p, $1 - t0; sep = " " } } }
    END { print "" }' "$out")
}

bench_median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

bench_mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
