#!/usr/bin/env bash
# Git LFS fetch: mirrord against git-lfs, curl and aria2c, on the same objects of the same
# local upstream; verified-ingest throughput against the SHA-256 limit; mirrord's peak RSS.
#
# Upstream: one bare repo per object size (BENCH_LFS_MIB, default "256 2048" MiB) whose
# single commit holds two LFS pointers, served by nginx: git through fcgiwrap + git
# http-backend, the Batch API by bench/lfs_batch_server.py (hrefs to nginx's own URLs), the
# objects from files with sendfile (all in the page cache before the first run). The objects
# are incompressible and generated once into $BENCH_LFS_CACHE (default
# /var/tmp/mirrord-bench-lfs; 2 x (256 + 2048) MiB by default; delete it when done).
#
# Clients, each fetching both objects of a repo, interleaved (order rotated per round):
#   mirrord         `POST /api/v1/repos/NAME:sync?follow=1` (what `mirrorctl sync` does) of a
#                   newly registered repo: git fetch, pointer scan, LFS phase (defaults: 8
#                   ranged connections per object, 4 objects at a time, SHA-256 while the
#                   bytes arrive, fdatasync every 16 MiB and before the rename into the
#                   store), publication. Reported: the whole sync (wall time until the API
#                   said "succeeded") and the LFS phase, from mirrord's log: the "N to fetch"
#                   line to the last "bytes stored" line (millisecond stamps). The objects are
#                   deleted from the store after each run.
#   git lfs fetch   in a clone of the same repo (cloned once, outside the timing; defaults:
#                   lfs.concurrenttransfers=8, so both objects at once, one connection each;
#                   it verifies SHA-256 while copying). .git/lfs/objects is emptied per run.
#   curl            both hrefs one after the other (one curl, two URLs, one connection).
#   aria2c          -x8 -s8 -j2 --file-allocation=falloc, both objects at once: 8 ranged
#                   connections per object, like mirrord; no verification.
#   aria2c+sha256   the same with --checksum=sha-256=OID per object: aria2c verifies after
#                   the download, reading the file again.
# The peers do not fsync; mirrord does (durability). So each peer run is followed by
# `sync FILE...` of what it wrote, timed separately ("+ fsync"): on a disk, peer + fsync is
# the comparison that delivers the same guarantee. `sync` also runs between all runs.
#
# Storage media (BENCH_LFS_MEDIA, default "disk tmpfs"): disk = the peers' output and
# mirrord's storage under /tmp (the root disk); tmpfs = both under /dev/shm (fsync is free:
# this measures the software, network and hashing, not the disk). Each medium runs on plain
# loopback and then, if `tc qdisc add dev lo root netem delay 25ms` (BENCH_LFS_DELAY_MS; 0
# skips it) is allowed here, again with that delay on every packet through lo (50 ms RTT);
# the qdisc is removed at the end and on any exit. Needs root for tc only.
#
# Reported: medians of BENCH_REPS (default 3) runs, ratios mirrord LFS phase / peer (time:
# below 1 means mirrord is faster), the hashing limit (`openssl dgst -sha256` of one object,
# and of both at once, from the page cache) against mirrord's verified-ingest rate, and
# mirrord's peak RSS (VmHWM, reset at the start of each sync) per object size.
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

reps=${BENCH_REPS:-3}
sizes=${BENCH_LFS_MIB:-"256 2048"}
media=${BENCH_LFS_MEDIA:-"disk tmpfs"}
delay_ms=${BENCH_LFS_DELAY_MS:-25}
tools=(mirrord git-lfs curl aria2c aria2c+sha256)

bench_lfs_init
for c in aria2c git-lfs openssl; do
  command -v "$c" >/dev/null || bench_die "$c is needed (scripts/bootstrap installs it)"
done
[[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"

srv=$BENCH_WORK/srv
mkdir -p "$srv"
declare -A oids
for mib in $sizes; do
  mapfile -t o < <(bench_lfs_objects "$mib" 2 1)
  ((${#o[@]} == 2)) || bench_die "no objects of $mib MiB"
  oids[$mib]="${o[*]}"
  bench_lfs_repo "$srv/lfs-$mib.git" "${o[@]}"
  cat "$BENCH_LFS_CACHE/objects/${o[0]}" "$BENCH_LFS_CACHE/objects/${o[1]}" >/dev/null
done
bench_start_lfs_upstream "$srv"
up=$LFS_UPSTREAM_URL
bench_log "upstream $up"

declare -A t rss_kb mrss_kb
netem_note=
seq_no=0

# Checks that FILE... (the first half of the arguments) have the sizes of the objects OID...
# (the second half).
check_files() {
  local n=$(($# / 2)) i
  local -a files=("${@:1:n}") want=("${@:n+1}")
  for i in $(seq 0 $((n - 1))); do
    [[ $(stat -c %s "${files[i]}" 2>/dev/null) == $(stat -c %s "$BENCH_LFS_CACHE/objects/${want[i]}") ]] ||
      bench_die "${files[i]} is missing or has the wrong size"
  done
}

# Runs TOOL once on condition COND (dir DIR) for the objects of MIB; appends to t[].
run_tool() {
  local cond=$1 dir=$2 mib=$3 tool=$4
  local -a o
  read -ra o <<<"${oids[$mib]}"
  local url1=$up/lfs/objects/${o[0]} url2=$up/lfs/objects/${o[1]}
  local out=$dir/out key=$cond.$mib.$tool
  local -a files=()
  rm -rf "$out"
  mkdir -p "$out"
  case $tool in
    mirrord)
      local name=lfs-$mib-$((++seq_no)) last lfs_secs cpu0
      cpu0=$(bench_cpu_secs "$MIRRORD_PID")
      bench_mirrord_sync "$name" "$up/lfs-$mib.git"
      t[$key.cpu]+=" $(awk -v a="$cpu0" -v b="$(bench_cpu_secs "$MIRRORD_PID")" 'BEGIN { printf "%.2f", b - a }')"
      last=$(tail -n 1 "$BENCH_WORK/sync-$$.ndjson")
      grep -q "\"lfs_bytes_fetched\":$((2 * (mib << 20)))," <<<"$last" ||
        bench_die "mirrord did not fetch both objects: $last"
      lfs_secs=$(bench_log_secs "$MIRRORD_LOG" "lfs $name: .* to fetch" \
        "LFS object [0-9a-f]+: [0-9]+ bytes stored")
      t[$key]+=" $BENCH_WALL"
      t[$key.lfs]+=" $lfs_secs"
      t[$key.daemon]+=" $BENCH_DAEMON_SECS"
      mrss_kb[$cond.$mib]+=" $BENCH_RSS_KB"
      bench_log "$cond, 2 x $mib MiB: mirrord sync ${BENCH_WALL}s, LFS phase ${lfs_secs}s, peak RSS $(bench_mib "$BENCH_RSS_KB") MiB"
      local oid
      for oid in "${o[@]}"; do files+=("$MIRRORD_STORAGE/lfs/objects/${oid:0:2}/${oid:2:2}/$oid"); done
      check_files "${files[@]}" "${o[@]}"
      rm -f "${files[@]}"
      ;;
    git-lfs)
      local clone=$dir/clone-$mib
      rm -rf "$clone/.git/lfs/objects" "$clone/.git/lfs/tmp" "$clone/.git/lfs/incomplete"
      bench_measure_cpu git -C "$clone" lfs fetch >"$dir/git-lfs.log" 2>&1 ||
        bench_die "git lfs fetch failed: $(tail -n 5 "$dir/git-lfs.log")"
      local oid
      for oid in "${o[@]}"; do files+=("$clone/.git/lfs/objects/${oid:0:2}/${oid:2:2}/$oid"); done
      ;;
    curl)
      files=("$out/1" "$out/2")
      bench_measure_cpu curl -sS --fail -o "${files[0]}" "$url1" -o "${files[1]}" "$url2" ||
        bench_die "curl failed"
      ;;
    aria2c | aria2c+sha256)
      local list=$dir/aria2.list i
      : >"$list"
      for i in 0 1; do
        printf '%s\n  out=%s\n' "$up/lfs/objects/${o[i]}" "$((i + 1))" >>"$list"
        [[ $tool == aria2c+sha256 ]] && printf '  checksum=sha-256=%s\n' "${o[i]}" >>"$list"
        files+=("$out/$((i + 1))")
      done
      bench_measure_cpu aria2c -q -x8 -s8 -j2 --file-allocation=falloc --allow-overwrite=true \
        --auto-file-renaming=false --console-log-level=error -d "$out" -i "$list" ||
        bench_die "aria2c failed"
      ;;
  esac
  if [[ $tool != mirrord ]]; then
    local wall=$BENCH_WALL rss=$BENCH_RSS_KB cpu=$BENCH_CPU
    check_files "${files[@]}" "${o[@]}"
    bench_fsync "${files[@]}"
    t[$key]+=" $wall"
    t[$key.fsync]+=" $BENCH_WALL"
    t[$key.cpu]+=" $cpu"
    rss_kb[$cond.$mib.$tool]+=" $rss"
    bench_log "$cond, 2 x $mib MiB: $tool ${wall}s + fsync ${BENCH_WALL}s, peak RSS $(bench_mib "$rss") MiB"
    rm -f "${files[@]}"
  fi
  rm -rf "$out"
  sync
}

# One storage medium: its own mirrord and clones, loopback then (if allowed) delayed.
conditions=()
for medium in $media; do
  case $medium in
    disk) base=$BENCH_WORK ;;
    tmpfs) bench_lfs_tmpdir /dev/shm; base=$BENCH_LFS_TMPDIR ;;
    *) bench_die "unknown medium $medium (disk or tmpfs)" ;;
  esac
  dir=$base/$medium
  mkdir -p "$dir"
  bench_mirrord_config "$dir/mirrord.toml" "$dir/mirrord" false
  bench_start_mirrord "$medium" "$dir/mirrord.toml"
  bench_log "mirrord $MIRRORD_URL, storage on $medium ($(df --output=source "$dir" | tail -n 1))"
  for mib in $sizes; do
    GIT_LFS_SKIP_SMUDGE=1 git clone -q "$up/lfs-$mib.git" "$dir/clone-$mib" ||
      bench_die "git clone for git lfs failed"
  done
  delays=(0)
  ((delay_ms > 0)) && delays+=("$delay_ms")
  for d in "${delays[@]}"; do
    cond=$medium
    if ((d > 0)); then
      if ! bench_netem_on "$d"; then
        netem_note=${BENCH_NETEM_ERROR%.}
        bench_log "no delayed runs: $netem_note"
        continue
      fi
      cond="$medium, +${d} ms per packet"
    fi
    conditions+=("$cond")
    for r in $(seq "$reps"); do
      for mib in $sizes; do
        for k in $(seq 0 $((${#tools[@]} - 1))); do
          run_tool "$cond" "$dir" "$mib" "${tools[(k + r - 1) % ${#tools[@]}]}"
        done
      done
    done
    bench_netem_off
  done
  bench_stop_mirrord
  rm -rf "$dir"
done

# The hashing limit: openssl over the page-cached objects, one alone and both at once.
declare -A hash_secs
for mib in $sizes; do
  read -ra o <<<"${oids[$mib]}"
  for r in $(seq "$reps"); do
    bench_measure_cpu openssl dgst -sha256 -out /dev/null "$BENCH_LFS_CACHE/objects/${o[0]}"
    hash_secs[$mib.one]+=" $BENCH_WALL"
    hash_secs[$mib.one.cpu]+=" $BENCH_CPU"
    t0=$EPOCHREALTIME
    openssl dgst -sha256 -out /dev/null "$BENCH_LFS_CACHE/objects/${o[0]}" &
    p1=$!
    openssl dgst -sha256 -out /dev/null "$BENCH_LFS_CACHE/objects/${o[1]}" &
    p2=$!
    wait "$p1" "$p2"
    hash_secs[$mib.two]+=" $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')"
  done
done

# $1 is a list of numbers, split on purpose.
# shellcheck disable=SC2086
med() { if [[ -n ${1// /} ]]; then bench_median $1; else echo n/a; fi; }
rate() { awk -v m="$1" -v s="$2" 'BEGIN { if (s + 0 > 0) printf "%.0f", m / s; else print "n/a" }'; }
ratio() { if [[ $1 == n/a || $2 == n/a ]]; then echo n/a; else bench_ratio "$1" "$2"; fi; }
plus() {
  if [[ $1 == n/a || $2 == n/a ]]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; fi
}
# shellcheck disable=SC2086
maxkb() { printf '%s\n' $1 | sort -n | tail -n 1; }

echo "### Git LFS: fetching two objects from a local upstream"
echo
echo "Upstream: nginx $(dpkg-query -W -f='${Version}' nginx 2>/dev/null) (sendfile) for the objects, bench/lfs_batch_server.py for the Batch API, git http-backend for the repo. Objects: two incompressible ones per size, in the page cache."
echo "Peers: git-lfs $(git lfs version | awk '{ print $1 }' | cut -d/ -f2), curl $(curl --version | awk 'NR == 1 { print $2 }'), aria2 $(aria2c --version | awk 'NR == 1 { print $3 }'), OpenSSL $(openssl version | awk '{ print $2 }')."
echo "Medians of $reps runs. Ratio = mirrord's LFS phase / the peer's time (below 1: mirrord faster). \"+ fsync\": the peer's time plus \`sync\` of the files it wrote (mirrord makes its objects durable itself)."
if [[ -n $netem_note ]]; then
  echo
  echo "No delayed runs: $netem_note."
fi
for cond in "${conditions[@]}"; do
  for mib in $sizes; do
    echo
    echo "#### $cond: 2 x $mib MiB"
    echo
    echo "| client | time (s) | + fsync (s) | MiB/s (with fsync) | ratio | ratio vs + fsync | CPU (s) | peak RSS (MiB) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    total=$((2 * mib))
    k=$cond.$mib.mirrord
    m_lfs=$(med "${t[$k.lfs]:-}")
    m_sync=$(med "${t[$k]:-}")
    m_rss=$(bench_mib "$(maxkb "${mrss_kb[$cond.$mib]:-0}")")
    echo "| mirrord, LFS phase (log) | $m_lfs | (included) | $(rate "$total" "$m_lfs") | | | | $m_rss (daemon) |"
    echo "| mirrord, whole sync (API) | $m_sync | (included) | $(rate "$total" "$m_sync") | | | $(med "${t[$k.cpu]:-}") | |"
    for tool in "${tools[@]:1}"; do
      k=$cond.$mib.$tool
      p=$(med "${t[$k]:-}")
      f=$(med "${t[$k.fsync]:-}")
      pf=$(plus "$p" "$f")
      label=$tool
      case $tool in
        git-lfs) label="git lfs fetch" ;;
        curl) label="curl, one object after the other" ;;
        aria2c) label="aria2c -x8 -s8" ;;
        aria2c+sha256) label="aria2c -x8 -s8 --checksum=sha-256" ;;
      esac
      echo "| $label | $p | $pf | $(rate "$total" "$pf") | $(ratio "$m_lfs" "$p") | $(ratio "$m_lfs" "$pf") | $(med "${t[$k.cpu]:-}") | $(bench_mib "$(maxkb "${rss_kb[$k]:-0}")") |"
    done
  done
done

echo
echo "### Git LFS: verified ingest against the SHA-256 limit"
echo
echo "\`openssl dgst -sha256\` of the objects from the page cache (one; both at once on the 2 cores) against mirrord's LFS phase (download, SHA-256 and durable storage of both objects). MiB/s, medians."
echo
hdr="| | "
sep="|---|"
for mib in $sizes; do hdr+="2 x $mib MiB | "; sep+="---:|"; done
echo "$hdr"
echo "$sep"
row="| openssl dgst -sha256, one object: MiB/s |"
for mib in $sizes; do row+=" $(rate "$mib" "$(med "${hash_secs[$mib.one]}")") |"; done
echo "$row"
row="| openssl dgst -sha256, both objects at once: MiB/s |"
for mib in $sizes; do row+=" $(rate "$((2 * mib))" "$(med "${hash_secs[$mib.two]}")") |"; done
echo "$row"
row="| openssl dgst -sha256: MiB per CPU second |"
for mib in $sizes; do row+=" $(rate "$mib" "$(med "${hash_secs[$mib.one.cpu]}")") |"; done
echo "$row"
for cond in "${conditions[@]}"; do
  row="| mirrord LFS phase, $cond: MiB/s (x) |"
  for mib in $sizes; do
    m=$(rate "$((2 * mib))" "$(med "${t[$cond.$mib.mirrord.lfs]:-}")")
    row+=" $m ($(ratio "$m" "$(rate "$((2 * mib))" "$(med "${hash_secs[$mib.two]}")")")x) |"
  done
  echo "$row"
  row="| mirrord whole sync, $cond: MiB per CPU second |"
  for mib in $sizes; do row+=" $(rate "$((2 * mib))" "$(med "${t[$cond.$mib.mirrord.cpu]:-}")") |"; done
  echo "$row"
done
echo
echo "(x: mirrord's rate / openssl's with both objects at once. CPU seconds are user + system time of the process tree; mirrord's cover the whole sync.)"

echo
echo "### Git LFS: mirrord's peak RSS while fetching"
echo
echo "VmHWM of the daemon during each sync (reset at its start), largest of the runs, MiB."
echo
hdr="| condition | "
sep="|---|"
for mib in $sizes; do hdr+="2 x $mib MiB | "; sep+="---:|"; done
echo "$hdr"
echo "$sep"
for cond in "${conditions[@]}"; do
  row="| $cond |"
  for mib in $sizes; do row+=" $(bench_mib "$(maxkb "${mrss_kb[$cond.$mib]:-0}")") |"; done
  echo "$row"
done
echo
echo "Raw times (s):"
printf '%s\n' "${!t[@]}" | sort | while IFS= read -r k; do echo "- $k:${t[$k]}"; done
printf '%s\n' "${!hash_secs[@]}" | sort | while IFS= read -r k; do echo "- sha256 $k:${hash_secs[$k]}"; done
echo
echo "Peak RSS per run (kB):"
printf '%s\n' "${!mrss_kb[@]}" | sort | while IFS= read -r k; do echo "- $k.mirrord:${mrss_kb[$k]}"; done
printf '%s\n' "${!rss_kb[@]}" | sort | while IFS= read -r k; do echo "- $k:${rss_kb[$k]}"; done
