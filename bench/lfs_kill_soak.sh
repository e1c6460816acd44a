#!/usr/bin/env bash
# LFS resume after kill -9 (issue 10): a soak, not run by CI.
#
# A bare repo whose one commit holds two LFS pointers (SOAK_LFS_MIB MiB each, default 256;
# incompressible objects from bench_lfs_objects, cached in $BENCH_LFS_CACHE) is served on
# 127.0.0.1 by nginx like bench_start_lfs_upstream does (git http-backend through fcgiwrap,
# bench/lfs_batch_server.py for the Batch API, the objects as files with sendfile), plus an
# access log of every object GET: $body_bytes_sent, what nginx handed to the socket (so an
# upper bound of what mirrord received), summed for the "bytes sent by the upstream".
#
# mirrord (storage on disk under the workdir, [queue] node_id fixed so a restart takes its
# interrupted job back at once) gets the repo with `mirrorctl sync soak --url ... --no-follow`.
# The kill moments are SOAK_KILLS (default 20) points drawn uniformly (seeded awk RNG:
# SOAK_SEED, default 1) in 2%..98% of the objects' bytes, sorted. In each daemon life the
# script polls the run (GET /api/v1/runs/ID every SOAK_POLL_MS, default 50) and sends
# `kill -9` as soon as its lfs_bytes_done reaches the next point (at once if a restart
# resumes past it), then restarts mirrord with the same config and storage root; the new
# daemon requeues the interrupted run itself and resumes from the durable ranges (on the
# same boot also those its .written log vouches for: written, not yet fsynced). Points
# in byte space rather than delays in time: every kill lands inside the LFS phase whatever
# the speed of this machine. A kill "lands" when the run was running in phase "lfs" with
# bytes still to fetch at the last poll before the signal. Right before each kill `ss` sums
# the bytes in flight on the object connections (mirrord's Recv-Q + nginx's Send-Q): sent
# by the upstream, never read by mirrord. After the last restart the sync runs to its end.
#
# SOAK_RATE (default 1m; 0 = unlimited) is nginx's limit_rate per object connection, with
# 64 KiB writes so the flow is smooth: 16 connections x 1 MiB/s make the LFS phase of
# 2 x 256 MiB last ~30 s, long enough to poll. Unlimited loopback fetches 512 MiB in about a
# second here, faster than the 50 ms poll can place kills.
#
# Checks (exit status 1 if one fails):
#   - the run ends "succeeded";
#   - each object is in the store (lfs/objects/ab/cd/<oid>), sha256sum = oid, no .part or
#     quarantined copy left;
#   - SOAK_CLONE=1 (default): `git clone` + `git lfs pull` from mirrord, files byte-identical
#     (cmp) to the upstream's;
#   - object bytes sent by the upstream <= SOAK_MAX_RATIO (default 1.05) x the objects' size.
# Loops are bounded: SOAK_LIFE_TIMEOUT s (default 180) per wait, SOAK_TIME_LIMIT s (default
# 1500) in all. Prints a markdown summary on stdout, progress on stderr. MIRRORD_BIN_DIR and
# BENCH_KEEP=1 as in lib.sh.
#
#   bench/lfs_kill_soak.sh
#   SOAK_LFS_MIB=64 SOAK_KILLS=5 bench/lfs_kill_soak.sh     # quick
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

mib=${SOAK_LFS_MIB:-256}
kills=${SOAK_KILLS:-20}
seed=${SOAK_SEED:-1}
rate=${SOAK_RATE:-1m}
max_ratio=${SOAK_MAX_RATIO:-1.05}
clone_check=${SOAK_CLONE:-1}
life_timeout=${SOAK_LIFE_TIMEOUT:-180}
time_limit=${SOAK_TIME_LIMIT:-1500}
poll_s=$(awk -v m="${SOAK_POLL_MS:-50}" 'BEGIN { printf "%.3f", m / 1000 }')
# Ranged connections per object mirrord opens: [lfs] connections (8) but at most one per
# piece of >= 8 MiB (lfs/object_downloader.h); for the per-connection figure only.
conns=$((mib / 8))
((conns > 8)) && conns=8
((conns < 1)) && conns=1

bench_lfs_init
t_start=$EPOCHSECONDS
deadline=$((t_start + time_limit))
for c in nginx fcgiwrap git-lfs openssl jq curl sha256sum; do
  command -v "$c" >/dev/null || bench_die "$c is needed"
done
[[ -x $MIRRORD_BIN_DIR/mirrord && -x $MIRRORD_BIN_DIR/mirrorctl ]] ||
  bench_die "no $MIRRORD_BIN_DIR/mirrord or mirrorctl (set MIRRORD_BIN_DIR)"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

rate_bytes=$(awk -v r="$rate" 'BEGIN { n = r + 0; u = tolower(substr(r, length(r)))
  if (u == "k") n *= 1024; else if (u == "m") n *= 1048576; print int(n) }')
# The kill points (bytes done), from a seeded RNG of their own (bash's RANDOM also picks ports).
mapfile -t points < <(awk -v s="$seed" -v n="$kills" -v t=$((2 * (mib << 20))) \
  'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%d\n", t * (0.02 + 0.96 * rand()) }' | sort -n)

# --- upstream -------------------------------------------------------------------------
mapfile -t oids < <(bench_lfs_objects "$mib" 2 1)
((${#oids[@]} == 2)) || bench_die "no objects of $mib MiB"
total=$((2 * (mib << 20)))
srv=$BENCH_WORK/srv
mkdir -p "$srv"
bench_lfs_repo "$srv/lfs-soak.git" "${oids[@]}"
cat "$BENCH_LFS_CACHE/objects/${oids[0]}" "$BENCH_LFS_CACHE/objects/${oids[1]}" >/dev/null

updir=$BENCH_WORK/nginx-soak
mkdir -p "$updir/tmp"
port=$(bench_free_port)
sock=$updir/fcgiwrap.sock
objlog=$updir/objects.log
setsid fcgiwrap -c 4 -s "unix:$sock" >"$updir/fcgiwrap.log" 2>&1 </dev/null &
BENCH_PIDS+=(-$!)
setsid python3 "$here/lfs_batch_server.py" "$BENCH_LFS_CACHE/objects" "$updir/batch.port" \
  >"$updir/batch.log" 2>&1 </dev/null &
BENCH_PIDS+=(-$!)
for _ in $(seq 100); do [[ -S $sock && -s $updir/batch.port ]] && break; sleep 0.05; done
[[ -S $sock ]] || bench_die "fcgiwrap did not start: $(cat "$updir/fcgiwrap.log")"
[[ -s $updir/batch.port ]] || bench_die "lfs_batch_server.py did not start: $(cat "$updir/batch.log")"
batch_port=$(cat "$updir/batch.port")
limit_line=
# nginx paces a limited response by sleeping after each write for its size / rate; with its
# default sendfile_max_chunk (2m) that is a 2 MiB burst, then silence, which lines the
# arrivals up with mirrord's 1 MiB commits (a kill between bursts finds everything durable:
# a 2 x 64 MiB trial sent exactly 1.00x). 64 KiB writes make the flow smooth.
((rate_bytes > 0)) && limit_line="limit_rate $rate; sendfile_max_chunk 64k;"
bench_nginx_conf "$updir" <<EOF
  log_format soak '\$msec \$status \$body_bytes_sent \$bytes_sent "\$http_range" \$request_time \$uri';
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 0;
$(bench_lfs_batch_location "$batch_port")
    location /lfs/objects/ {
      alias $BENCH_LFS_CACHE/objects/;
      access_log $objlog soak;
      $limit_line
    }
$(bench_git_backend_location "$srv" "$sock")
  }
EOF
up=http://127.0.0.1:$port
bench_nginx_run "$updir" "$up"
bench_log "upstream $up (objects: $mib MiB x 2, limit_rate ${rate} per connection)"

# --- mirrord --------------------------------------------------------------------------
mdir=$BENCH_WORK/mirrord
cfg=$BENCH_WORK/mirrord.toml
bench_mirrord_config "$cfg" "$mdir" false
printf '\n[queue]\nnode_id = "soak"\n' >>"$cfg"

life=0
start_life() {
  life=$((life + 1))
  bench_start_mirrord "life-$life" "$cfg" 30
}
kill9() {
  kill -KILL "$MIRRORD_PID" 2>/dev/null
  wait "$MIRRORD_PID" 2>/dev/null
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$MIRRORD_PID" ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
  MIRRORD_PID=
}
# The run's JSON (empty if mirrord does not answer).
run_json() { bench_api --max-time 5 "$MIRRORD_URL/api/v1/runs/$run_id" 2>/dev/null; }
# Polls the run until it is running in phase lfs with lfs_bytes_done >= $1 (0; the last
# answer in $run_json_last), or has ended (1: state in $run_state), or the wait timed out (2).
wait_point() {
  local point=$1 limit=$((EPOCHSECONDS + life_timeout)) j
  ((limit > deadline)) && limit=$deadline
  while ((EPOCHSECONDS < limit)); do
    j=$(run_json)
    run_state=$(jq -r '.state // empty' <<<"$j" 2>/dev/null)
    case $run_state in
      succeeded | failed | interrupted) return 1 ;;
    esac
    if [[ $run_state == running ]] &&
      jq -e --argjson p "$point" '.progress.phase == "lfs" and .progress.lfs_bytes_done >= $p' \
        <<<"$j" >/dev/null 2>&1; then
      run_json_last=$j
      return 0
    fi
    sleep "$poll_s"
  done
  return 2
}
# Bytes in flight on the object connections: mirrord's unread Recv-Q + nginx's Send-Q.
in_flight() {
  { ss -Htn state established "( dport = :$port )" | awk '{ s += $1 } END { print s + 0 }'
    ss -Htn state established "( sport = :$port )" | awk '{ s += $2 } END { print s + 0 }'; } |
    awk '{ s += $1 } END { print s + 0 }'
}

start_life
name=soak
out=$("$MIRRORD_BIN_DIR/mirrorctl" --config "$cfg" --server "$MIRRORD_URL" sync "$name" \
  --url "$up/lfs-soak.git" --no-follow 2>&1) || bench_die "mirrorctl sync failed: $out"
run_id=$(grep -o 'queued as run [0-9]*' <<<"$out" | awk '{ print $4 }')
[[ -n $run_id ]] || bench_die "no run id in: $out"
bench_log "mirrord $MIRRORD_URL: $out; kill points (MiB done): $(printf '%s\n' "${points[@]}" | awk '{ printf "%s%d", (NR > 1 ? " " : ""), $1 / 1048576 }')"

kills_done=0
kills_landed=0
flight_total=0
kill_rows=()
run_state=
for i in $(seq 0 $((kills - 1))); do
  wait_point "${points[i]}"
  rc=$?
  ((rc == 1)) && { bench_log "the run ended ($run_state) before kill $((i + 1))"; break; }
  ((rc == 2)) && { bench_log "the run did not reach kill point $((i + 1)) within the time limit"; break; }
  flight=$(in_flight)
  kill9
  kills_done=$((kills_done + 1))
  st=$(jq -r '.state' <<<"$run_json_last")
  ph=$(jq -r '.progress.phase' <<<"$run_json_last")
  done_b=$(jq -r '.progress.lfs_bytes_done' <<<"$run_json_last")
  landed=no
  if [[ $st == running && $ph == lfs ]] && ((done_b < total)); then
    landed=yes
    kills_landed=$((kills_landed + 1))
  fi
  flight_total=$((flight_total + flight))
  ((EPOCHSECONDS < deadline)) || { bench_log "time limit reached"; start_life; break; }
  start_life
  # What the new life resumes from (both objects), once its LFS phase has opened them.
  durable=
  for _ in $(seq 60); do
    if (($(grep -c ': resuming with\|bytes stored' "$MIRRORD_LOG") >= 2)) ||
      ! kill -0 "$MIRRORD_PID" 2>/dev/null; then
      durable=$(grep -o 'resuming with [0-9]*' "$MIRRORD_LOG" | awk '{ s += $3 } END { print s + 0 }')
      break
    fi
    sleep 0.05
  done
  kill_rows+=("$kills_done | $((points[i] >> 20)) | $((done_b >> 20)) | ${durable:+$((durable >> 20))} | $(awk -v d="$done_b" -v r="${durable:-0}" 'BEGIN { printf "%.1f", (d - r) / 1048576 }') | $(awk -v f="$flight" 'BEGIN { printf "%.1f", f / 1048576 }') | $landed")
  bench_log "kill $kills_done at ${done_b} bytes done (point ${points[i]}): $st/$ph, landed: $landed; resumed from ${durable:-?}; in flight ${flight}"
done

# After the last restart the sync runs to its end.
bench_log "letting run $run_id finish"
while ((EPOCHSECONDS < deadline)); do
  j=$(run_json)
  run_state=$(jq -r '.state // empty' <<<"$j" 2>/dev/null)
  case $run_state in succeeded | failed | interrupted) break ;; esac
  sleep 0.5
done
final=$(run_json)
t_end=$EPOCHSECONDS
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
bench_log "run $run_id: $run_state"

# --- checks ---------------------------------------------------------------------------
fail=()
[[ $run_state == succeeded ]] || fail+=("the run ended '$run_state': $(jq -c '{state, error, failure}' <<<"$final" 2>/dev/null)")
verified=0
for oid in "${oids[@]}"; do
  f=$mdir/lfs/objects/${oid:0:2}/${oid:2:2}/$oid
  if [[ ! -f $f ]]; then
    fail+=("object $oid is not in the store")
    continue
  fi
  got=$(sha256sum "$f" | cut -d' ' -f1)
  if [[ $got == "$oid" && $(stat -c %s "$f") == $((mib << 20)) ]]; then
    verified=$((verified + 1))
  else
    fail+=("object $oid in the store hashes to $got ($(stat -c %s "$f") bytes)")
  fi
done
leftovers=$(find "$mdir/lfs/incomplete" "$mdir/lfs/quarantine" -type f 2>/dev/null | sed "s|^$mdir/||" | tr '\n' ' ')
[[ -z $leftovers ]] || fail+=("left in the store: $leftovers")

clone_result="not run (SOAK_CLONE=0)"
if [[ $clone_check == 1 ]]; then
  clone=$BENCH_WORK/clone
  if GIT_LFS_SKIP_SMUDGE=1 git clone -q "$MIRRORD_URL/$name.git" "$clone" 2>"$BENCH_WORK/clone.err" &&
    git -C "$clone" lfs install --local >/dev/null 2>&1 &&
    git -C "$clone" lfs pull >"$BENCH_WORK/lfs-pull.log" 2>&1; then
    same=0
    for n in 1 2; do
      cmp -s "$clone/weights/$n.bin" "$BENCH_LFS_CACHE/objects/${oids[n - 1]}" && same=$((same + 1))
    done
    clone_result="$same of 2 files byte-identical"
    ((same == 2)) || fail+=("clone + git lfs pull from mirrord: only $same of 2 files identical")
  else
    clone_result="failed: $(tail -n 3 "$BENCH_WORK/clone.err" "$BENCH_WORK/lfs-pull.log" | tr '\n' ' ')"
    fail+=("clone + git lfs pull from mirrord $clone_result")
  fi
  rm -rf "$clone"
fi

# Bytes the upstream sent for the objects: nginx logs each GET when it ends (also when the
# client died mid-body); wait until every connection it had has ended (none is left once
# the sync succeeded, but a killed daemon's may take a moment).
sleep 1
read -r reqs body_bytes _ n200 n206 < <(awk '
  { n++; body += $3; all += $4; if ($2 == 200) a++; if ($2 == 206) p++ }
  END { printf "%d %d %d %d %d\n", n, body, all, a, p }' "$objlog")
ratio=$(awk -v a="$body_bytes" -v b="$total" 'BEGIN { printf "%.4f", a / b }')
extra=$((body_bytes - total))
awk -v r="$ratio" -v m="$max_ratio" 'BEGIN { exit !(r <= m) }' ||
  fail+=("the upstream sent ${ratio}x the objects' size (target <= ${max_ratio}x)")

# mirrord's own accounting, from its logs: "LFS object OID: N bytes stored (R received,
# S resumed, Q requests)", and the resume lines.
stored_lines=$(cat "$BENCH_WORK"/mirrord-life-*.log | grep -c 'bytes stored' || true)
resume_lines=$(cat "$BENCH_WORK"/mirrord-life-*.log | grep -c ': resuming with' || true)
quarantine_lines=$(cat "$BENCH_WORK"/mirrord-life-*.log | grep -ci 'quarantin\|verification failed' || true)
# Of the resumed bytes, those the same-boot .written log vouched for ("(M of them written
# before a crash on this boot)"): received before a kill but not yet fsynced.
from_written=$(cat "$BENCH_WORK"/mirrord-life-*.log | grep -o '(\([0-9]*\) of them written before a crash' |
  tr -d '(' | awk '{ s += $1 } END { print s + 0 }')

verdict=met
((${#fail[@]} == 0)) || verdict="NOT met"
echo "### LFS resume after kill -9: 2 x $mib MiB, $kills kills requested (seed $seed)"
echo
echo "Upstream limit_rate $rate per connection (0: none); kills at $kills seeded random points of the LFS bytes, polled every ${poll_s} s. Load average at start: $load_start; at the end: $load_end. Wall time $((t_end - t_start)) s (before the checks)."
echo
echo "| | |"
echo "|---|---:|"
echo "| kills done | $kills_done |"
echo "| kills that landed inside the LFS phase | $kills_landed |"
echo "| daemon lives (starts) | $life |"
echo "| run $run_id final state | $run_state (attempt $(jq -r '.attempt' <<<"$final" 2>/dev/null)) |"
echo "| objects' total size (bytes) | $total |"
echo "| object bytes sent by the upstream (body) | $body_bytes |"
echo "| extra bytes (sent - size) | $extra ($(awk -v e="$extra" 'BEGIN { printf "%.1f", e / 1048576 }') MiB; $(awk -v e="$extra" -v k="$kills_landed" 'BEGIN { if (k) printf "%.2f", e / k / 1048576; else print "n/a" }') MiB per landed kill, $(awk -v e="$extra" -v k="$kills_landed" -v c=$((2 * conns)) 'BEGIN { if (k) printf "%.2f", e / k / c / 1048576; else print "n/a" }') MiB per connection per landed kill with $((2 * conns)) connections) |"
echo "| ratio sent / size (target <= $max_ratio) | $ratio |"
echo "| resumed bytes vouched for by the same-boot .written log (all lives) | $from_written ($(awk -v f="$from_written" 'BEGIN { printf "%.1f", f / 1048576 }') MiB) |"
echo "| in flight at the kills (socket buffers, summed) | $flight_total ($(awk -v f="$flight_total" 'BEGIN { printf "%.1f", f / 1048576 }') MiB) |"
echo "| object GETs (200 / 206) | $reqs ($n200 / $n206) |"
echo "| objects verified in the store (sha256 = oid) | $verified of 2 |"
echo "| clone + git lfs pull from mirrord | $clone_result |"
echo "| mirrord log: 'resuming with' / 'bytes stored' / quarantine or verification-failure lines | $resume_lines / $stored_lines / $quarantine_lines |"
echo
echo "Kills: point = the kill point (MiB of the objects done); done = lfs_bytes_done at the last poll before the signal (MiB); resumed = durable bytes the next life resumed from (MiB, both objects); lost = done - resumed (MiB; the bytes polled as done but not durable); in flight = socket buffers at the kill (MiB)."
echo
echo "| kill | point | done | resumed | lost | in flight | landed |"
echo "|---:|---:|---:|---:|---:|---:|---|"
for r in "${kill_rows[@]}"; do echo "| $r |"; done
echo
echo "Resume lines from mirrord's logs:"
for n in $(seq "$life"); do cat "$BENCH_WORK/mirrord-life-$n.log"; done | grep -o 'LFS object [0-9a-f]\{8\}[0-9a-f]*: \(resuming with\|[0-9]* bytes stored\).*' |
  sed 's/^LFS object \([0-9a-f]\{12\}\)[0-9a-f]*/- \1…/'
echo
echo "Verdict: **$verdict**"
for f in "${fail[@]}"; do echo "- FAILED: $f"; done
((${#fail[@]} == 0))
