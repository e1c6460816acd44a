#!/usr/bin/env bash
# Push: mirrord's registry client (deploy/registry_pusher.h, driven by
# build/tests/tools/push_probe without the daemon) against `skopeo copy oci:DIR docker://`
# of the same image, both into a fresh local `docker-registry` (distribution 2.8) per push.
#
# Model: the build bench's (BENCH_BUILD_MIB, default 2048): two incompressible LFS weight
# files of that size from the LFS bench cache (lib.sh), imported into a mirrord store and
# built into an image (scratch base, no preflight: one layer per weight file plus the small
# files' layer) by BuildImage in-process; not timed.
# The peer's input is that image laid out on disk: pushed once by mirrord to a scratch
# registry and copied out with `skopeo copy --dest-oci-accept-uncompressed-layers` (the
# layers stay uncompressed tar, the digests mirrord's). skopeo 1.9 has no way to push a
# layer uncompressed to a docker:// destination (`--dest-compress` only acts on dir:): it
# gzips every layer on the way, so its pushed digests differ; that is the tool a lab has.
#
# Per round (BENCH_REPS, default 3, interleaved, the order alternating; medians reported):
#   mirrord   push_probe push of the image to an empty registry
#   skopeo    skopeo copy oci:LAYOUT docker://REGISTRY/... to an empty registry
# then a re-push: the next revision (one weight file changed) pushed by mirrord to the
# registry holding the first: bytes sent (blob bytes, as the client counts them) against
# the changed layer's size.
#
# Prints a markdown section on stdout; progress on stderr. Needs build/tests/tools/push_probe
# (ninja -C build push_probe). Run under `flock /work/wt/bench.lock` on a shared machine.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

mib=${BENCH_BUILD_MIB:-2048}
reps=${BENCH_REPS:-3}
probe=${PUSH_PROBE:-$here/../build/tests/tools/push_probe}

bench_lfs_init
for c in docker-registry skopeo git; do
  command -v "$c" >/dev/null || bench_die "$c is needed (scripts/bootstrap installs it)"
done
[[ -x $probe ]] || bench_die "no $probe (ninja -C build push_probe)"

mapfile -t w < <(bench_lfs_objects "$mib" 2 21)
mapfile -t w2 < <(bench_lfs_objects "$mib" 1 22)
((${#w[@]} == 2 && ${#w2[@]} == 1)) || bench_die "generating the inputs failed"
objects=$BENCH_LFS_CACHE/objects

# --- the model, built into a store --------------------------------------------------------
work=$BENCH_WORK/model-work
mkdir -p "$work/weights"
pointer() {
  printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n' \
    "$1" "$(stat -c %s "$objects/$1")"
}
git init -q -b main "$work"
echo '*.bin filter=lfs diff=lfs merge=lfs -text' >"$work/.gitattributes"
echo '{"architectures": ["Bench"]}' >"$work/config.json"
pointer "${w[0]}" >"$work/weights/1.bin"
pointer "${w[1]}" >"$work/weights/2.bin"
{ git -C "$work" add -A && git -C "$work" commit -q -m v1; } || bench_die "commit v1 failed"
git clone -q --mirror "$work" "$BENCH_WORK/v1.git" || bench_die "mirror v1 failed"
pointer "${w2[0]}" >"$work/weights/2.bin"
{ git -C "$work" commit -q -am v2; } || bench_die "commit v2 failed"
git clone -q --mirror "$work" "$BENCH_WORK/v2.git" || bench_die "mirror v2 failed"

store=$BENCH_WORK/store
bench_log "building the images (hashing $((3 * mib)) MiB of layers, not timed)"
read -r d1 _ < <("$probe" build "$store" "$BENCH_WORK/v1.git" bench "$objects/${w[0]}" \
  "$objects/${w[1]}") || bench_die "build v1 failed"
read -r d2 _ < <("$probe" build "$store" "$BENCH_WORK/v2.git" bench "$objects/${w2[0]}") ||
  bench_die "build v2 failed"
[[ $d1 == sha256:* && $d2 == sha256:* ]] || bench_die "no image digests"
image_bytes=$(du -sbL --apparent-size "$objects/${w[0]}" "$objects/${w[1]}" | awk '{ s += $1 } END { print s }')

# --- registries -----------------------------------------------------------------------------
reg_pid=
start_registry() {  # a fresh, empty one; sets reg
  local dir=$BENCH_WORK/registry port
  rm -rf "$dir" && mkdir -p "$dir/data"
  port=$(bench_free_port)
  reg=127.0.0.1:$port
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$dir/data" "$reg" >"$dir/config.yml"
  setsid docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
  reg_pid=$!
  BENCH_PIDS+=(-$reg_pid)
  bench_wait_http "http://$reg/v2/" 20 || bench_die "docker-registry did not start"
}
stop_registry() {
  kill -TERM -- -"$reg_pid" 2>/dev/null
  wait "$reg_pid" 2>/dev/null
  rm -rf "$BENCH_WORK/registry"
}

# The peer's input: the image on disk, layers uncompressed.
layout=$BENCH_WORK/layout
start_registry
"$probe" push "$store" bench "$d1" "http://$reg" bench/model v1 >/dev/null || bench_die "seed push failed"
skopeo copy -q --src-tls-verify=false --dest-oci-accept-uncompressed-layers \
  "docker://$reg/bench/model:v1" "oci:$layout:v1" || bench_die "laying out the image failed"
stop_registry
sync

secs_mirrord=() secs_skopeo=() skopeo_types=
run_mirrord() {
  start_registry
  local out
  out=$("$probe" push "$store" bench "$d1" "http://$reg" bench/model v1) || bench_die "push failed"
  secs_mirrord+=("$(echo "$out" | cut -d' ' -f1)")
  bench_log "mirrord push: $out"
  stop_registry
}
run_skopeo() {
  start_registry
  local t0=$EPOCHREALTIME
  skopeo copy -q --dest-tls-verify=false "oci:$layout:v1" "docker://$reg/bench/model:v1" ||
    bench_die "skopeo copy failed"
  secs_skopeo+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')")
  # What skopeo made of the uncompressed layers (evidence for the table, not assumed).
  skopeo_types=$(skopeo inspect --raw --tls-verify=false "docker://$reg/bench/model:v1" |
    grep -o '"mediaType":"[^"]*layer[^"]*"' | cut -d'"' -f4 | sort | uniq -c | awk '{ printf "%s× %s ", $1, $2 }')
  bench_log "skopeo copy: ${secs_skopeo[-1]} s"
  stop_registry
}
for r in $(seq "$reps"); do
  if ((r % 2)); then run_mirrord; run_skopeo; else run_skopeo; run_mirrord; fi
done

# Re-push after one shard changed.
start_registry
"$probe" push "$store" bench "$d1" "http://$reg" bench/model v1 >/dev/null || bench_die "push v1 failed"
read -r re_secs re_bytes re_up re_skip _ _ < <("$probe" push "$store" bench "$d2" "http://$reg" bench/model v2) ||
  bench_die "push v2 failed"
stop_registry
shard=$(stat -c %s "$objects/${w2[0]}")

med_m=$(bench_median "${secs_mirrord[@]}")
med_s=$(bench_median "${secs_skopeo[@]}")
mibs() { awk -v b="$image_bytes" -v s="$1" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
cat <<MD
## Push

\`flock /work/wt/bench.lock bench/push_bench.sh\` (BENCH_BUILD_MIB=$mib, $reps rounds, interleaved;
medians). Image: 2 × $mib MiB weight layers (uncompressed tar) + metadata, into an empty local
docker-registry (distribution 2.8) each time.

| | seconds (median) | MiB/s | rounds |
|---|---|---|---|
| mirrord push | $med_m | $(mibs "$med_m") | ${secs_mirrord[*]} |
| skopeo copy oci: → docker:// (skopeo $(skopeo --version | awk '{ print $3 }')) | $med_s | $(mibs "$med_s") | ${secs_skopeo[*]} |

Layers as skopeo pushed them: ${skopeo_types:-?}(mirrord's: uncompressed tar, the digests it serves).

Throughput ratio mirrord / skopeo: **$(bench_ratio "$med_s" "$med_m")×**.

Re-push of the next revision (one $mib MiB shard changed): $re_up blobs uploaded, $re_skip skipped,
$re_bytes blob bytes sent for a $shard-byte shard ($(awk -v a="$re_bytes" -v b="$shard" 'BEGIN { printf "%.4f", a / b }')× the shard), in $re_secs s.
MD
