# Shared helpers for the benchmarks. Source it; it needs bash.
#
#   bench_init                      temp workdir ($BENCH_WORK) and the cleanup trap
#   bench_free_port                 prints a free TCP port on 127.0.0.1
#   bench_start_git_http DIR        nginx + fcgiwrap + git http-backend serving the bare repos
#                                   under DIR; sets GIT_HTTP_URL (http://127.0.0.1:PORT)
#   bench_measure CMD...            runs CMD; sets BENCH_WALL (s) and BENCH_RSS_KB (peak RSS
#                                   of the largest process of CMD's tree, from wait4)
#   bench_start_mirrord NAME CFG [S] starts mirrord (waits up to S s, default 10, for it to
#                                   listen); sets MIRRORD_PID and MIRRORD_URL
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
# The nginx location serving the git repositories under $1 through git http-backend behind
# fcgiwrap's socket $2 (for a bench_nginx_conf server block). Packs stream through memory
# buffers, never spooled to temp files.
bench_git_backend_location() {
  cat <<EOF
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:$2;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $1;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_read_timeout 600s;
      fastcgi_max_temp_file_size 0;
      fastcgi_buffers 64 64k;
    }
EOF
}

# The nginx location handing LFS Batch API requests to lfs_batch_server.py on port $1.
bench_lfs_batch_location() {
  cat <<EOF
    location ~ /info/lfs/ {
      proxy_pass http://127.0.0.1:$1;
      proxy_set_header Host \$http_host;
    }
EOF
}

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
$(bench_git_backend_location "$root" "$sock")
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
  local name=$1 cfg=$2 timeout_s=${3:-10}
  local log=$BENCH_WORK/mirrord-$name.log
  [[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"
  "$MIRRORD_BIN_DIR/mirrord" --config "$cfg" >"$log" 2>&1 </dev/null &
  MIRRORD_PID=$!
  BENCH_PIDS+=($MIRRORD_PID)
  MIRRORD_LOG=$log
  MIRRORD_URL=
  for _ in $(seq $((timeout_s * 20))); do
    MIRRORD_URL=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -n 1 | sed 's/^listening on //')
    [[ -n $MIRRORD_URL ]] && break
    kill -0 "$MIRRORD_PID" 2>/dev/null || bench_die "mirrord exited: $(tail -n 20 "$log")"
    sleep 0.05
  done
  [[ -n $MIRRORD_URL ]] || bench_die "mirrord did not report its address within $timeout_s s: $(tail -n 20 "$log")"
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

# ---------------------------------------------------------------------------------------
# Git LFS helpers (lfs_fetch_bench.sh, lfs_serve_bench.sh)
#
#   bench_lfs_objects MIB COUNT SEED   COUNT incompressible objects of MIB MiB, generated once
#                                      into $BENCH_LFS_CACHE (default /var/tmp/mirrord-bench-lfs,
#                                      outside the repository); prints their oids, one a line.
#                                      The object files are $BENCH_LFS_CACHE/objects/<oid>.
#   bench_lfs_repo DIR OID...          creates the bare repo DIR (branch main, one commit) whose
#                                      tree holds an LFS pointer per OID (weights/<n>.bin) and a
#                                      .gitattributes tracking *.bin
#   bench_start_lfs_upstream GITROOT   nginx serving the bare repos under GITROOT (fcgiwrap +
#                                      git http-backend), the LFS Batch API of every repo
#                                      (lfs_batch_server.py behind nginx) and the objects of
#                                      $BENCH_LFS_CACHE/objects at /lfs/objects/ with sendfile;
#                                      sets LFS_UPSTREAM_URL (http://127.0.0.1:PORT)
#   bench_start_static_http ROOT       nginx (2 workers, sendfile on) serving the files under
#                                      ROOT at /files/; sets STATIC_HTTP_URL
#   bench_netem_on MS, bench_netem_off `tc qdisc add dev lo root netem delay MSms`, removed by
#                                      bench_netem_off and by the EXIT trap. on: 1 (reason in
#                                      BENCH_NETEM_ERROR) where the kernel or the container
#                                      refuses it, or when lo already has a root qdisc
#   bench_log_secs LOG FROM TO         seconds between the first line of mirrord's log LOG
#                                      matching the ERE FROM and the last later line matching
#                                      the ERE TO (n/a if none); the log stamps milliseconds
#   bench_fsync FILE...                fsyncs the files (GNU sync FILE...); sets BENCH_WALL
#   bench_measure_cpu CMD...           bench_measure, plus BENCH_CPU: CPU seconds (user + system)
#                                      of CMD and its waited-for descendants
#   bench_cpu_secs PID                 CPU seconds (user + system) PID has used so far
#   bench_lfs_init                     bench_init, with an EXIT trap that also undoes
#                                      bench_netem_on and removes bench_lfs_tmpdir's directories
#   bench_lfs_tmpdir BASE              a directory under BASE (e.g. /dev/shm) removed at exit;
#                                      sets BENCH_LFS_TMPDIR

BENCH_LFS_CACHE=${BENCH_LFS_CACHE:-/var/tmp/mirrord-bench-lfs}
BENCH_NETEM=0

bench_lfs_objects() {
  local mib=$1 count=$2 seed=$3 i oid tmp
  local index=$BENCH_LFS_CACHE/index
  mkdir -p "$BENCH_LFS_CACHE/objects" || bench_die "cannot create $BENCH_LFS_CACHE"
  touch "$index"
  for i in $(seq "$count"); do
    oid=$(awk -v k="$mib $seed $i" '$1 " " $2 " " $3 == k { print $4 }' "$index" | tail -n 1)
    if [[ -z $oid || ! -f $BENCH_LFS_CACHE/objects/$oid ]]; then
      bench_log "generating a $mib MiB object (seed $seed, #$i) into $BENCH_LFS_CACHE"
      tmp=$BENCH_LFS_CACHE/objects/tmp.$$
      # AES-CTR keystream: incompressible, the same bytes for the same seed, fast.
      openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:mirrord-bench-$seed-$i" \
        </dev/zero 2>/dev/null | head -c $((mib << 20)) >"$tmp"
      [[ $(stat -c %s "$tmp" 2>/dev/null) == $((mib << 20)) ]] ||
        bench_die "generating a $mib MiB object failed"
      oid=$(sha256sum "$tmp" | cut -d' ' -f1)
      mv "$tmp" "$BENCH_LFS_CACHE/objects/$oid"
      echo "$mib $seed $i $oid" >>"$index"
    fi
    echo "$oid"
  done
}

bench_lfs_repo() {
  local dir=$1 oid n=0
  shift
  local work=$BENCH_WORK/lfs-repo.$$
  rm -rf "$work"
  git init -q "$work" || bench_die "git init failed"
  mkdir -p "$work/weights"
  echo '*.bin filter=lfs diff=lfs merge=lfs -text' >"$work/.gitattributes"
  for oid in "$@"; do
    n=$((n + 1))
    printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n' \
      "$oid" "$(stat -c %s "$BENCH_LFS_CACHE/objects/$oid")" >"$work/weights/$n.bin"
  done
  # Plain git (no LFS filter configured): the pointer files are committed as they are.
  { git -C "$work" add -A && git -C "$work" commit -q -m weights; } ||
    bench_die "committing the pointers failed"
  rm -rf "$dir"
  git clone -q --bare "$work" "$dir" || bench_die "bare clone failed"
  rm -rf "$work"
}

# Writes the nginx.conf of a bench_start_* server into DIR: the common http{} settings plus
# the server block read from stdin.
bench_nginx_conf() {
  local dir=$1 t
  {
    printf 'user root;\nworker_processes 2;\ndaemon off;\npid %s/nginx.pid;\n' "$dir"
    printf 'error_log %s/error.log warn;\nevents { worker_connections 1024; }\n' "$dir"
    printf 'http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n'
    printf '  default_type application/octet-stream;\n'
    for t in client_body proxy fastcgi uwsgi scgi; do
      printf '  %s_temp_path %s/tmp/%s;\n' "$t" "$dir" "$t"
    done
    cat
    printf '}\n'
  } >"$dir/nginx.conf"
}

# Starts the nginx of DIR (config from bench_nginx_conf) and waits for URL.
bench_nginx_run() {
  local dir=$1 url=$2
  setsid nginx -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/nginx.out" 2>&1 </dev/null &
  BENCH_PIDS+=(-$!)
  bench_wait_http "$url/" 20 || bench_die "nginx did not start: $(cat "$dir/error.log")"
}

bench_start_lfs_upstream() {
  local root=$1
  local dir=$BENCH_WORK/nginx-$((++BENCH_NGINX_SEQ))
  local port sock batch_port
  mkdir -p "$dir/tmp"
  port=$(bench_free_port)
  sock=$dir/fcgiwrap.sock
  setsid fcgiwrap -c 16 -s "unix:$sock" >"$dir/fcgiwrap.log" 2>&1 </dev/null &
  BENCH_PIDS+=(-$!)
  setsid python3 "$BENCH_ROOT/bench/lfs_batch_server.py" "$BENCH_LFS_CACHE/objects" \
    "$dir/batch.port" >"$dir/batch.log" 2>&1 </dev/null &
  BENCH_PIDS+=(-$!)
  for _ in $(seq 100); do [[ -S $sock && -s $dir/batch.port ]] && break; sleep 0.05; done
  [[ -S $sock ]] || bench_die "fcgiwrap did not start: $(cat "$dir/fcgiwrap.log")"
  [[ -s $dir/batch.port ]] || bench_die "lfs_batch_server.py did not start: $(cat "$dir/batch.log")"
  batch_port=$(cat "$dir/batch.port")
  bench_nginx_conf "$dir" <<EOF
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 0;
$(bench_lfs_batch_location "$batch_port")
    location /lfs/objects/ {
      alias $BENCH_LFS_CACHE/objects/;
    }
$(bench_git_backend_location "$root" "$sock")
  }
EOF
  LFS_UPSTREAM_URL=http://127.0.0.1:$port
  bench_nginx_run "$dir" "$LFS_UPSTREAM_URL"
}

bench_start_static_http() {
  local root=$1
  local dir=$BENCH_WORK/nginx-$((++BENCH_NGINX_SEQ))
  local port
  mkdir -p "$dir/tmp"
  port=$(bench_free_port)
  bench_nginx_conf "$dir" <<EOF
  server {
    listen 127.0.0.1:$port;
    location /files/ {
      alias $root/;
    }
  }
EOF
  STATIC_HTTP_URL=http://127.0.0.1:$port
  bench_nginx_run "$dir" "$STATIC_HTTP_URL"
}

bench_netem_on() {
  BENCH_NETEM_ERROR=
  if ! command -v tc >/dev/null; then
    BENCH_NETEM_ERROR="no tc (Debian package iproute2)"
    return 1
  fi
  # Never replace a qdisc someone else put on lo (its default is "noqueue").
  local current
  current=$(tc qdisc show dev lo | head -n 1)
  if [[ -n $current && $current != "qdisc noqueue"* ]]; then
    BENCH_NETEM_ERROR="lo already has a root qdisc ($current); not touching it"
    return 1
  fi
  local err
  if ! err=$(tc qdisc add dev lo root netem delay "${1}ms" 2>&1); then
    BENCH_NETEM_ERROR="\`tc qdisc add dev lo root netem delay ${1}ms\` is refused on this machine: $err"
    return 1
  fi
  BENCH_NETEM=1
  # A netem left on lo would slow every local connection of the machine: remove it on any
  # exit (INT and TERM exit through this trap as well, see bench_init).
  trap bench_lfs_exit EXIT
  bench_log "netem: ${1} ms delay on every packet through lo"
}

bench_netem_off() {
  ((BENCH_NETEM)) || return 0
  if tc qdisc del dev lo root 2>/dev/null; then
    bench_log "netem removed from lo"
  else
    bench_log "WARNING: removing the netem qdisc from lo failed: run 'tc qdisc del dev lo root'"
  fi
  BENCH_NETEM=0
}

bench_log_secs() {
  local log=$1 from=$2 to=$3
  awk -v from="$from" -v to="$to" '
    function secs(ts, a) { split(substr(ts, 12, 12), a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
    !started && $0 ~ from { started = 1; t0 = secs($1); next }
    started && $0 ~ to { t1 = secs($1); found = 1 }
    END {
      if (!found) { print "n/a"; exit }
      d = t1 - t0; if (d < 0) d += 86400
      printf "%.3f\n", d
    }' "$log"
}

bench_fsync() {
  local t0 t1
  t0=$EPOCHREALTIME
  sync "$@"
  t1=$EPOCHREALTIME
  BENCH_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# LFS benchmarks: bench_init plus an EXIT trap that also removes the netem qdisc (if
# bench_netem_on added it) and the directories made by bench_lfs_tmpdir.
BENCH_LFS_DIRS=()
bench_lfs_exit() {
  bench_netem_off
  local d
  for d in "${BENCH_LFS_DIRS[@]}"; do rm -rf "$d"; done
  bench_cleanup
}
bench_lfs_init() {
  bench_init
  trap bench_lfs_exit EXIT
}
# Makes a directory under BASE (e.g. /dev/shm) that the EXIT trap removes; sets
# BENCH_LFS_TMPDIR to it.
bench_lfs_tmpdir() {
  BENCH_LFS_TMPDIR=$(mktemp -d "$1/mirrord-bench-lfs.XXXXXX") ||
    bench_die "cannot create a directory in $1"
  BENCH_LFS_DIRS+=("$BENCH_LFS_TMPDIR")
}

bench_measure_cpu() {
  local out=$BENCH_WORK/time-cpu.$$ t0 t1 rc=0
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%M %U %S' -o "$out" "$@" || rc=$?
  t1=$EPOCHREALTIME
  BENCH_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  read -r BENCH_RSS_KB BENCH_CPU < <(tail -n 1 "$out" | awk '{ printf "%s %.2f\n", $1, $2 + $3 }')
  return $rc
}

bench_cpu_secs() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}
