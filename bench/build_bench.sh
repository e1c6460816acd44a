#!/usr/bin/env bash
# Build stage: mirrord's image build straight from its verified store, against the daemonless
# flow a lab would script, and pulling the image from mirrord against docker-registry.
#
# Model (BENCH_BUILD_MIB, default 2048): a repo whose commit holds two LFS weight files of
# that size (incompressible, from the LFS bench cache, see lib.sh) plus a 50 MiB binary
# (BENCH_BUILD_BIN_MIB) standing in for the inference server, on a one-layer base image made
# with umoci and pushed with skopeo to a local `docker-registry` (distribution 2.8). The
# upstream is nginx + git http-backend + the LFS batch server of lib.sh; mirrord mirrors the
# repo first (not timed). Then, per round (BENCH_REPS, default 3; medians are reported):
#
#   first build   mirrord: a fresh storage root per round; the sync that publishes the model
#                 queues its build job, timed from the sync's end to the build run's end as
#                 seen by polling GET /api/v1/builds/NAME/runs/ID every 20 ms (the image is
#                 served then; the job is claimed as the sync publishes, so the few ms of
#                 the sync's own tail the build overlaps are not counted), pulling the base
#                 through the distribution API and hashing each tar layer once.
#                 peer: `skopeo copy` of the base from the registry into an OCI layout,
#                 `umoci insert` of the binary and of each weight file (one layer each, as
#                 mirrord makes them), `skopeo copy` of the result to the registry.
#   rebuild       one weight file changed upstream (a second commit; mirrord syncs it, not
#                 timed); mirrord builds again; the peer re-runs its script over the new files
#                 (the registry already holds the unchanged layers when their bytes repeat).
#   extra disk    bytes mirrord's storage root grew by during the first build (everything
#                 but the LFS objects: catalog, OCI metadata, layer digest cache), against
#                 the weights' size.
#   RSS           mirrord's peak RSS (VmHWM reset before the build) during each build, and its
#                 RSS when the build starts (after the sync): the difference is the build's.
#   pull          `skopeo copy docker://... dir:` of the built image from mirrord, and of the
#                 same image copied unchanged into docker-registry; bytes/s of the image size,
#                 and each server's CPU seconds per pull. Both read from the page cache (each
#                 image pulled once before timing). BENCH_PULL_REPS rounds (default 5),
#                 alternating who goes first. The copy lands in a tmpfs directory when
#                 /dev/shm has room for it (BENCH_PULL_DIR=DIR to choose): the client's own
#                 disk writeback is the same for both servers and only adds noise. Also
#                 `curl` of the largest layer to /dev/null, one stream, which the server
#                 rather than skopeo's hashing bounds.
#
# BENCH_BUILD_PEER=0 runs mirrord's builds only (no peer, no pulls) and prints their times,
# extra disk and peak RSS: for RSS against the binary's size (BENCH_BUILD_BIN_MIB).
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

mib=${BENCH_BUILD_MIB:-2048}
bin_mib=${BENCH_BUILD_BIN_MIB:-50}
reps=${BENCH_REPS:-3}
pull_reps=${BENCH_PULL_REPS:-5}
peer=${BENCH_BUILD_PEER:-1}

bench_lfs_init
for c in docker-registry skopeo umoci openssl git-lfs; do
  command -v "$c" >/dev/null || bench_die "$c is needed (scripts/bootstrap installs it)"
done
[[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"

secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
# The storage root without the LFS objects and the git mirrors (what a sync writes): the
# build job starts as its sync publishes, so the build's share is measured around both.
du_bytes() { du -sb --exclude=lfs --exclude=repos "$1" | cut -f1; }

# --- inputs -----------------------------------------------------------------------------
mapfile -t w < <(bench_lfs_objects "$mib" 2 21)
mapfile -t w2 < <(bench_lfs_objects "$mib" 1 22)
mapfile -t b < <(bench_lfs_objects "$bin_mib" 1 23)
((${#w[@]} == 2 && ${#w2[@]} == 1 && ${#b[@]} == 1)) || bench_die "generating the inputs failed"
objects=$BENCH_LFS_CACHE/objects
binary=$objects/${b[0]}
chmod 0755 "$binary"
bin_sha=${b[0]}
cat "$objects/${w[0]}" "$objects/${w[1]}" "$objects/${w2[0]}" "$binary" >/dev/null

srv=$BENCH_WORK/srv
work=$BENCH_WORK/model-work
mkdir -p "$srv" "$work/weights"
pointer() {
  printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n' \
    "$1" "$(stat -c %s "$objects/$1")"
}
git init -q "$work"
echo '*.bin filter=lfs diff=lfs merge=lfs -text' >"$work/.gitattributes"
echo '{"architectures": ["Bench"]}' >"$work/config.json"
pointer "${w[0]}" >"$work/weights/1.bin"
pointer "${w[1]}" >"$work/weights/2.bin"
{ git -C "$work" add -A && git -C "$work" commit -q -m v1; } || bench_die "commit v1 failed"
pointer "${w2[0]}" >"$work/weights/2.bin"
{ git -C "$work" commit -q -am v2; } || bench_die "commit v2 failed"
# The upstream holds both commits; each round points main at v1, then at v2.
git clone -q --bare "$work" "$srv/model.git" || bench_die "bare clone failed"
bench_start_lfs_upstream "$srv"
up=$LFS_UPSTREAM_URL

# The registry (base images, the peer's pushes, the pull comparison).
reg_dir=$BENCH_WORK/registry
reg_port=$(bench_free_port)
reg=127.0.0.1:$reg_port
mkdir -p "$reg_dir/data"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
  "$reg_dir/data" "$reg" >"$reg_dir/config.yml"
setsid docker-registry serve "$reg_dir/config.yml" >"$reg_dir/log" 2>&1 </dev/null &
reg_pid=$!
BENCH_PIDS+=("-$reg_pid")
bench_wait_http "http://$reg/v2/" 20 || bench_die "docker-registry did not start: $(tail -n 5 "$reg_dir/log")"

base_src=$BENCH_WORK/base-src
base_layout=$BENCH_WORK/base-layout
mkdir -p "$base_src/etc" "$base_src/bin"
echo "bench base 1" >"$base_src/etc/base-release"
head -c $((4 << 20)) "$binary" >"$base_src/bin/tool"
tar --numeric-owner -C "$base_src" -cf "$BENCH_WORK/base.tar" etc bin
for cmd in "umoci init --layout $base_layout" "umoci new --image $base_layout:base" \
  "umoci raw add-layer --image $base_layout:base $BENCH_WORK/base.tar" \
  "skopeo copy -q --dest-tls-verify=false oci:$base_layout:base docker://$reg/base:v1"; do
  $cmd >"$BENCH_WORK/base.log" 2>&1 || bench_die "$cmd failed: $(tail -n 5 "$BENCH_WORK/base.log")"
done

weights_bytes=$((2 * (mib << 20)))
image_tag=main

# --- mirrord ------------------------------------------------------------------------------
# A fresh daemon and storage root per round (the sync is not timed).
mcfg=$BENCH_WORK/mirrord.toml
mroot=$BENCH_WORK/mirrord-root
bench_mirrord_config "$mcfg" "$mroot" false
cat >>"$mcfg" <<EOF

[registries.local]
url = "http://$reg"
insecure = true

[[repos]]
name = "org/model"
url = "$up/model.git"

[[builds]]
name = "lab/model"
repo = "org/model"
base = "$reg/base:v1"
entrypoint = ["/usr/local/bin/serve"]
ports = ["8000"]

[[builds.files]]
source = "$binary"
dest = "/usr/local/bin/serve"
mode = "0755"
sha256 = "$bin_sha"
EOF
# Sets SYNC_DONE (when the sync ended) and BUILD_RUN (the build job the sync queued for the
# new commit on main).
mirrord_sync() {
  local out=$BENCH_WORK/sync.ndjson
  bench_api -N -X POST "$MIRRORD_URL/api/v1/repos/org/model:sync?follow=1" >"$out" ||
    bench_die "sync failed: $(tail -n 2 "$out")"
  SYNC_DONE=$EPOCHREALTIME
  echo 5 >"/proc/$MIRRORD_PID/clear_refs"  # VmHWM := current RSS, for the build
  START_RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$MIRRORD_PID/status")
  grep -q '"state":"succeeded"' <(tail -n 1 "$out") || bench_die "sync did not succeed: $(tail -n 1 "$out")"
  BUILD_RUN=$(bench_api "$MIRRORD_URL/api/v1/queue" |
    jq -r '[.jobs[] | select(.kind == "build" and .build == "lab/model")][0].run_id // empty')
  [[ -n $BUILD_RUN ]] || bench_die "the sync queued no build of lab/model"
}

# Follows the build the last sync queued to its end; sets BENCH_WALL, BENCH_RSS_KB, BUILD_JSON.
mirrord_build() {
  local state
  while :; do
    BUILD_JSON=$(bench_api "$MIRRORD_URL/api/v1/builds/lab/model/runs/$BUILD_RUN") ||
      bench_die "build run $BUILD_RUN: $BUILD_JSON"
    state=$(jq -r .state <<<"$BUILD_JSON")
    [[ $state == succeeded ]] && break
    [[ $state == failed || $state == interrupted ]] &&
      bench_die "build failed: $(jq -r .error <<<"$BUILD_JSON") $(tail -n 5 "$MIRRORD_LOG")"
    sleep 0.02
  done
  BENCH_WALL=$(secs_since "$SYNC_DONE")
  BENCH_RSS_KB=$(bench_vmhwm_kb "$MIRRORD_PID")
}

# --- peer ---------------------------------------------------------------------------------
peer_src=$BENCH_WORK/peer-src
mkdir -p "$peer_src"
# The peer's files: a checkout of the model (hard links to the same bytes).
peer_files() {
  rm -rf "$peer_src/model"
  mkdir -p "$peer_src/model"
  cp "$work/config.json" "$peer_src/model/config.json"
  ln "$objects/$1" "$peer_src/model/1.bin"
  ln "$objects/$2" "$peer_src/model/2.bin"
}
peer_build() {
  local layout=$BENCH_WORK/peer-layout t0 cmd
  rm -rf "$layout"
  t0=$EPOCHREALTIME
  for cmd in "skopeo copy -q --src-tls-verify=false docker://$reg/base:v1 oci:$layout:model" \
    "umoci insert --image $layout:model $binary /usr/local/bin/serve" \
    "umoci insert --image $layout:model $peer_src/model/config.json /models/org/model/config.json" \
    "umoci insert --image $layout:model $peer_src/model/1.bin /models/org/model/weights/1.bin" \
    "umoci insert --image $layout:model $peer_src/model/2.bin /models/org/model/weights/2.bin" \
    "umoci config --image $layout:model --config.entrypoint /usr/local/bin/serve --config.exposedports 8000" \
    "skopeo copy -q --dest-tls-verify=false oci:$layout:model docker://$reg/peer/model:v1"; do
    $cmd >"$BENCH_WORK/peer.log" 2>&1 || bench_die "$cmd failed: $(tail -n 5 "$BENCH_WORK/peer.log")"
  done
  BENCH_WALL=$(secs_since "$t0")
}

declare -A t
for r in $(seq "$reps"); do
  bench_log "round $r: mirrord first build"
  git -C "$srv/model.git" update-ref refs/heads/main "$(git -C "$work" rev-parse HEAD~1)"
  bench_stop_mirrord
  rm -rf "$mroot"
  mkdir -p "$mroot"
  bench_start_mirrord build "$mcfg" 30
  d0=$(du_bytes "$mroot")
  mirrord_sync
  mirrord_build
  d1=$(du_bytes "$mroot")
  # Blobs of 1 MiB or more are the base's layers, the binary's layer and the preflight
  # bundle (kept once per store); the rest is what the build wrote about the weights.
  large=$(find "$mroot/oci" -type f -size +1M -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  t[m.meta]+=" $((d1 - d0 - large))"
  t[m.first]+=" $BENCH_WALL"
  t[m.first.rss]+=" $BENCH_RSS_KB"
  t[m.first.rss0]+=" $START_RSS_KB"
  t[m.disk]+=" $((d1 - d0))"
  bench_log "mirrord first build ${BENCH_WALL}s, RSS $(bench_mib "$START_RSS_KB") -> $(bench_mib "$BENCH_RSS_KB") MiB, +$((d1 - d0)) bytes"

  if ((peer)); then
    bench_log "round $r: peer first build"
    # A fresh registry repository per round: nothing of the image is there yet.
    rm -rf "$reg_dir/data/docker/registry/v2/repositories/peer"
    peer_files "${w[0]}" "${w[1]}"
    sync
    peer_build
    t[p.first]+=" $BENCH_WALL"
    bench_log "peer first build ${BENCH_WALL}s"
  fi

  bench_log "round $r: rebuild after one shard changed"
  git -C "$srv/model.git" update-ref refs/heads/main "$(git -C "$work" rev-parse HEAD)"
  mirrord_sync
  mirrord_build
  t[m.re]+=" $BENCH_WALL"
  t[m.re.rss]+=" $BENCH_RSS_KB"
  t[m.re.rss0]+=" $START_RSS_KB"
  bench_log "mirrord rebuild ${BENCH_WALL}s, RSS $(bench_mib "$START_RSS_KB") -> $(bench_mib "$BENCH_RSS_KB") MiB"
  if ((peer)); then
    peer_files "${w[0]}" "${w2[0]}"
    sync
    peer_build
    t[p.re]+=" $BENCH_WALL"
    bench_log "peer rebuild ${BENCH_WALL}s"
  fi
done

med() { bench_median ${t[$1]}; }
if ((!peer)); then
  cat <<EOF
### Build stage, mirrord only: 2 x $mib MiB weights + a $bin_mib MiB binary on a small base ($(date -u +%Y-%m-%d), commit $(git -C "$BENCH_ROOT" rev-parse --short HEAD))

\`BENCH_BUILD_PEER=0 BENCH_BUILD_MIB=$mib BENCH_BUILD_BIN_MIB=$bin_mib BENCH_REPS=$reps bench/build_bench.sh\`, $(nproc) cores; medians of $reps rounds.

| | mirrord |
|---|---|
| first build | $(med m.first) s |
| rebuild, one shard changed | $(med m.re) s |
| extra disk of a first build, all | $(med m.disk) bytes |
| peak RSS (first, rebuild) | $(bench_mib "$(med m.first.rss)") MiB, $(bench_mib "$(med m.re.rss)") MiB |
| RSS at the build's start (first, rebuild) | $(bench_mib "$(med m.first.rss0)") MiB, $(bench_mib "$(med m.re.rss0)") MiB |

Rounds: first${t[m.first]} s; rebuild${t[m.re]} s; RSS kB at start -> peak: first${t[m.first.rss0]} ->${t[m.first.rss]}, rebuild${t[m.re.rss0]} ->${t[m.re.rss]}.
EOF
  exit 0
fi

# --- pull ---------------------------------------------------------------------------------
# The last build's image, put unchanged into docker-registry through its own push API (same
# blobs, same manifest bytes, same digests; `skopeo copy` to a registry would gzip the
# uncompressed layers).
pull_dir=$BENCH_WORK/pulled
skopeo copy -q --src-tls-verify=false "docker://${MIRRORD_URL#http://}/lab/model:$image_tag" \
  "dir:$pull_dir" >"$BENCH_WORK/copy.log" 2>&1 || bench_die "pull from mirrord failed: $(tail -n 5 "$BENCH_WORK/copy.log")"
for f in "$pull_dir"/*; do
  name=$(basename "$f")
  [[ $name == manifest.json || $name == version ]] && continue
  loc=$(curl -sS -o /dev/null -D - -X POST "http://$reg/v2/copy/model/blobs/uploads/" |
    awk 'tolower($1) == "location:" { sub(/\r$/, "", $2); print $2 }')
  [[ $loc == /* ]] && loc=http://$reg$loc
  [[ $loc == *\?* ]] && sep='&' || sep='?'
  curl -sS --fail -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
    -T "$f" "$loc${sep}digest=sha256:$name" || bench_die "pushing blob $name to docker-registry failed"
done
curl -sS --fail -o /dev/null -X PUT -H "Content-Type: $(jq -r .mediaType "$pull_dir/manifest.json")" \
  --data-binary "@$pull_dir/manifest.json" "http://$reg/v2/copy/model/manifests/v1" ||
  bench_die "pushing the manifest to docker-registry failed"
# Where the timed copies land (see the header).
if [[ -n ${BENCH_PULL_DIR:-} ]]; then
  pull_base=$BENCH_PULL_DIR
elif (($(df --output=avail -B1 /dev/shm 2>/dev/null | tail -n 1 || echo 0) > 2 * $(du -sb "$pull_dir" | cut -f1))); then
  bench_lfs_tmpdir /dev/shm
  pull_base=$BENCH_LFS_TMPDIR
else
  pull_base=$BENCH_WORK
fi
big=$(jq -r '.layers | max_by(.size) | .digest' "$pull_dir/manifest.json")  # one curl stream
rm -rf "$pull_dir"
# pull SRC SERVER_PID: sets BENCH_WALL, PULL_BYTES and PULL_CPU (the server's CPU seconds).
pull() {
  local src=$1 out=$pull_base/pull t0 c0
  rm -rf "$out"
  c0=$(bench_cpu_secs "$2")
  t0=$EPOCHREALTIME
  skopeo copy -q --src-tls-verify=false "docker://$src" "dir:$out" >"$BENCH_WORK/pull.log" 2>&1 ||
    bench_die "pull of $src failed: $(tail -n 5 "$BENCH_WORK/pull.log")"
  BENCH_WALL=$(secs_since "$t0")
  PULL_CPU=$(awk -v a="$c0" -v b="$(bench_cpu_secs "$2")" 'BEGIN { printf "%.2f", b - a }')
  PULL_BYTES=$(du -sb "$out" | cut -f1)
  rm -rf "$out"
}
msrc=${MIRRORD_URL#http://}/lab/model:$image_tag
rsrc=$reg/copy/model:v1
pull "$msrc" "$MIRRORD_PID"
pull "$rsrc" "$reg_pid"  # warm both
for r in $(seq "$pull_reps"); do
  if ((r % 2)); then order=(m r); else order=(r m); fi
  for who in "${order[@]}"; do
    if [[ $who == m ]]; then
      pull "$msrc" "$MIRRORD_PID"
      blob=$MIRRORD_URL/v2/lab/model/blobs/$big
    else
      pull "$rsrc" "$reg_pid"
      blob=http://$reg/v2/copy/model/blobs/$big
    fi
    t[pull.$who]+=" $BENCH_WALL"
    t[pull.$who.cpu]+=" $PULL_CPU"
    bench_log "pull from $who: ${BENCH_WALL}s, $PULL_BYTES bytes, server CPU ${PULL_CPU}s"
    bench_measure curl -sS --fail -o /dev/null "$blob" || bench_die "GET $blob failed"
    t[stream.$who]+=" $BENCH_WALL"
  done
done
bytes=$PULL_BYTES

mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", b / s / 1048576 }'; }
mf=$(med m.first) pf=$(med p.first) mr=$(med m.re) pr=$(med p.re)
pm=$(med pull.m) prg=$(med pull.r) disk=$(med m.disk) meta=$(med m.meta)

cat <<EOF
### Build stage: 2 x $mib MiB weights + a $bin_mib MiB binary on a small base ($(date -u +%Y-%m-%d), commit $(git -C "$BENCH_ROOT" rev-parse --short HEAD))

\`BENCH_BUILD_MIB=$mib BENCH_BUILD_BIN_MIB=$bin_mib BENCH_REPS=$reps BENCH_PULL_REPS=$pull_reps bench/build_bench.sh\`, $(nproc) cores; medians of $reps rounds.

| | mirrord | peer (umoci insert + skopeo copy to docker-registry) | ratio (target) |
|---|---|---|---|
| first build | ${mf} s | ${pf} s | $(bench_ratio "$mf" "$pf")x (<= 0.5x) |
| rebuild, one shard changed | ${mr} s | ${pr} s | $(bench_ratio "$mr" "$pr")x (<= 0.1x) |
| extra disk of a first build, all | ${disk} bytes | | $(awk -v d="$disk" -v w="$weights_bytes" 'BEGIN { printf "%.4f%%", 100 * d / w }') of the weights |
| of which not base, binary or preflight bundle | ${meta} bytes | | $(awk -v d="$meta" -v w="$weights_bytes" 'BEGIN { printf "%.4f%%", 100 * d / w }') of the weights (<= 1%) |
| mirrord peak RSS (first, rebuild) | $(bench_mib "$(med m.first.rss)") MiB, $(bench_mib "$(med m.re.rss)") MiB | | |
| mirrord RSS at the build's start (first, rebuild) | $(bench_mib "$(med m.first.rss0)") MiB, $(bench_mib "$(med m.re.rss0)") MiB | | |

| pull (\`skopeo copy docker://... dir:\`, $bytes bytes) | mirrord | docker-registry | ratio (target) |
|---|---|---|---|
| time | ${pm} s | ${prg} s | |
| throughput | $(mbps "$pm") MiB/s | $(mbps "$prg") MiB/s | $(bench_ratio "$prg" "$pm")x (>= 1.0x) |
| server CPU per pull | $(med pull.m.cpu) s | $(med pull.r.cpu) s | |
| largest layer, one \`curl\` stream to /dev/null | $(med stream.m) s | $(med stream.r) s | $(bench_ratio "$(med stream.r)" "$(med stream.m)")x |

Pulls: medians of $pull_reps rounds, copies written to $([[ $pull_base == /dev/shm/* ]] && echo "tmpfs (/dev/shm)" || echo "$pull_base").
Rounds (s): mirrord first ${t[m.first]}; peer first ${t[p.first]}; mirrord rebuild ${t[m.re]}; peer rebuild ${t[p.re]}; pulls mirrord ${t[pull.m]}, docker-registry ${t[pull.r]}; server CPU mirrord ${t[pull.m.cpu]}, docker-registry ${t[pull.r.cpu]}; curl streams mirrord ${t[stream.m]}, docker-registry ${t[stream.r]}.
EOF
