#!/usr/bin/env bash
# Git LFS serving: one object from mirrord against nginx serving the very same file.
#
# mirrord mirrors a repo with one LFS object of BENCH_LFS_SERVE_MIB MiB (default 2048; the
# first object of bench_lfs_objects, shared with lfs_fetch_bench.sh's cache) from the local
# upstream of lfs_fetch_bench.sh, storage under /tmp. Then, per round (BENCH_REPS, default 3)
# and client count (BENCH_LFS_CLIENTS, default "1 16"), interleaved:
#   mirrord   GET /NAME.git/info/lfs/objects/OID (the href its Batch API hands out;
#             from the blob store: to this loopback client a copy through a 4 MiB
#             buffer, within the daemon's 64 MiB copy budget, past it sendfile)
#   nginx     GET of the same file of mirrord's blob store (2 workers, sendfile on,
#             tcp_nopush on, default sendfile_max_chunk)
# N concurrent `curl -o /dev/null` clients, wall time until the last one has finished; every
# client must receive the whole object. Before the rounds, one download from each server is
# hashed and must match the oid. The object is in the page cache throughout.
# Reported: medians, aggregate MiB/s, ratio mirrord / nginx (time: target <= 1.11, i.e. at
# least 0.9x nginx's throughput), the CPU seconds each server used, and mirrord's peak RSS
# (VmHWM, reset before the rounds).
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

reps=${BENCH_REPS:-3}
mib=${BENCH_LFS_SERVE_MIB:-2048}
clients=${BENCH_LFS_CLIENTS:-"1 16"}

bench_lfs_init
[[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"

srv=$BENCH_WORK/srv
mkdir -p "$srv"
oid=$(bench_lfs_objects "$mib" 1 1)
[[ -n $oid ]] || bench_die "no object"
size=$((mib << 20))
bench_lfs_repo "$srv/serve.git" "$oid"
bench_start_lfs_upstream "$srv"

bench_mirrord_config "$BENCH_WORK/mirrord.toml" "$BENCH_WORK/mirrord" false
bench_start_mirrord serve "$BENCH_WORK/mirrord.toml"
bench_mirrord_sync serve "$LFS_UPSTREAM_URL/serve.git"
bench_log "mirrord $MIRRORD_URL synced the $mib MiB object in ${BENCH_WALL}s"
store_file=$MIRRORD_STORAGE/lfs/objects/${oid:0:2}/${oid:2:2}/$oid
[[ $(stat -c %s "$store_file" 2>/dev/null) == "$size" ]] || bench_die "not in the store: $store_file"
bench_start_static_http "$MIRRORD_STORAGE/lfs/objects"
nginx_pgid=${BENCH_PIDS[-1]#-}

# The href mirrord's Batch API hands out must be the URL measured here.
declare -A url
url[mirrord]=$MIRRORD_URL/serve.git/info/lfs/objects/$oid
url[nginx]=$STATIC_HTTP_URL/files/${oid:0:2}/${oid:2:2}/$oid
href=$(curl -sS --fail -X POST -H 'Accept: application/vnd.git-lfs+json' \
  -H 'Content-Type: application/vnd.git-lfs+json' \
  -d "{\"operation\":\"download\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}" \
  "$MIRRORD_URL/serve.git/info/lfs/objects/batch" | grep -o '"href":"[^"]*"' | cut -d'"' -f4)
[[ $href == "${url[mirrord]}" ]] || bench_die "mirrord's batch href is '$href', not ${url[mirrord]}"
cat "$store_file" >/dev/null
for s in mirrord nginx; do
  got=$(curl -sS --fail "${url[$s]}" | sha256sum | cut -d' ' -f1)
  [[ $got == "$oid" ]] || bench_die "$s served bytes that hash to $got, not $oid"
done

# CPU seconds used so far by the server S (mirrord: the daemon; nginx: its process group).
server_cpu() {
  if [[ $1 == mirrord ]]; then
    bench_cpu_secs "$MIRRORD_PID"
  else
    local p sum=0
    for p in $(ps -e -o pid=,pgid= | awk -v g="$nginx_pgid" '$2 == g { print $1 }'); do
      sum=$(awk -v a="$sum" -v b="$(bench_cpu_secs "$p")" 'BEGIN { print a + b }')
    done
    echo "$sum"
  fi
}

declare -A wall cpu
echo 5 >"/proc/$MIRRORD_PID/clear_refs"  # VmHWM := current RSS
rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$MIRRORD_PID/status")
for r in $(seq "$reps"); do
  for n in $clients; do
    for s in mirrord nginx; do
      pids=()
      c0=$(server_cpu "$s")
      t0=$EPOCHREALTIME
      for i in $(seq "$n"); do
        curl -sS --fail -o /dev/null -w '%{size_download}\n' "${url[$s]}" >"$BENCH_WORK/client.$i" &
        pids+=($!)
      done
      fail=0
      for p in "${pids[@]}"; do wait "$p" || fail=1; done
      t1=$EPOCHREALTIME
      ((fail)) && bench_die "a client of $s failed"
      for i in $(seq "$n"); do
        [[ $(cat "$BENCH_WORK/client.$i") == "$size" ]] || bench_die "client $i of $s got a short body"
      done
      w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
      wall[$n.$s]+=" $w"
      cpu[$n.$s]+=" $(awk -v a="$c0" -v b="$(server_cpu "$s")" 'BEGIN { printf "%.2f", b - a }')"
      bench_log "round $r: $n client(s) from $s: ${w}s"
    done
  done
done
rss_peak=$(bench_vmhwm_kb "$MIRRORD_PID")

# $1 is a list of numbers, split on purpose.
# shellcheck disable=SC2086
med() { bench_median $1; }

echo "### Git LFS: serving one $mib MiB object"
echo
echo "mirrord's object URL (from its blob store; to a loopback client copied through a 4 MiB buffer within a 64 MiB budget, sendfile past it) against nginx $(dpkg-query -W -f='${Version}' nginx 2>/dev/null) (2 workers, sendfile on) serving the same file; N concurrent \`curl -o /dev/null\` on loopback, the file in the page cache."
echo "Wall time until every client has its $mib MiB, median of $reps rounds; MiB/s is the aggregate. Ratio = mirrord / nginx (time; target <= 1.11, i.e. >= 0.9x nginx's throughput). CPU: seconds the server used (median); the curl clients use the rest of the 2 cores."
echo
echo "| clients | mirrord (s) | MiB/s | CPU (s) | nginx (s) | MiB/s | CPU (s) | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for n in $clients; do
  m=$(med "${wall[$n.mirrord]}")
  g=$(med "${wall[$n.nginx]}")
  echo "| $n | $m | $(awk -v x="$((n * mib))" -v t="$m" 'BEGIN { printf "%.0f", x / t }') | $(med "${cpu[$n.mirrord]}") | $g | $(awk -v x="$((n * mib))" -v t="$g" 'BEGIN { printf "%.0f", x / t }') | $(med "${cpu[$n.nginx]}") | $(bench_ratio "$m" "$g") |"
done
echo
echo "mirrord's RSS: $(bench_mib "$rss_before") MiB before the rounds, peak $(bench_mib "$rss_peak") MiB during them (VmHWM)."
echo
echo "Raw wall times (s) and server CPU (s):"
for k in $(printf '%s\n' "${!wall[@]}" | sort -n); do echo "- $k:${wall[$k]} (CPU${cpu[$k]})"; done
