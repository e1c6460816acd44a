#!/usr/bin/env bash
# The preflight on a real GPU host (run there as root): chroot into a rootfs made by
# make_rootfs.sh, with the host driver's libnvidia-ml/libcuda copied in and /dev, /proc,
# /sys bound, as the NVIDIA container runtime sets a container up. Writes two 2 GiB weight
# files and the manifest, then runs: a passing start that execs the model server; cuda>=99.0;
# a memory need above the card's; a flipped byte (sample and full); no NVIDIA library. Times
# full verification against sha256sum run in parallel (xargs -P, all cores) on the same files.
#   bench/preflight/gpu_run.sh ROOTFS [WEIGHT_MIB]
set -uo pipefail
root=${1:?rootfs}; mib=${2:-2048}
models=/models/demo
log() { echo "== $*"; }
drv=$(dirname "$(ldconfig -p | awk '/libnvidia-ml.so.1 /{print $NF; exit}')" 2>/dev/null)
[[ -n "$drv" && -e "$drv/libnvidia-ml.so.1" ]] || drv=/usr/local/nvidia/lib64
log "driver libraries from $drv"; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free --format=csv
mkdir -p "$root/usr/local/nvidia/lib64"
for l in libnvidia-ml.so.1 libcuda.so.1; do cp -L "$drv/$l" "$root/usr/local/nvidia/lib64/" || log "missing $l"; done
# As the runtime does for images that set it: the driver's folder on the library path.
[[ -n ${NO_MOUNT:-} ]] || for d in dev proc sys; do mount --bind "/$d" "$root/$d" || log "mount --bind /$d failed"; done

log "writing 2 x $mib MiB of weights"
for i in 1 2; do
  dd if=/dev/urandom of="$root$models/model-0000$i-of-00002.safetensors" bs=1M count="$mib" status=none
done
sample() {  # file offset length -> sha256 of that range
  tail -c +$(($2 + 1)) "$1" | head -c "$3" | sha256sum | cut -d' ' -f1
}
write_manifest() {  # require min_gpu_memory -> the manifest on stdout
  echo "mirrord-preflight-manifest 1"
  [[ -n "$1" ]] && echo "require_cuda $1"
  echo "min_gpu_memory $2"; echo "gpu_count 1"
  for f in "$root$models"/*.safetensors; do
    echo "file $(stat -c %s "$f") $(sha256sum "$f" | cut -d' ' -f1) ${f#"$root"}"
  done
  local i=0 size len=$((1 << 20))
  for f in "$root$models"/*.safetensors; do
    size=$(stat -c %s "$f")
    for off in 0 $((size / 2 - len / 2)) $((size - len)); do
      echo "sample $i $off $len $(sample "$f" "$off" "$len")"
    done
    i=$((i + 1))
  done
}
weights=$((2 * mib * 1048576))
need=$((weights + weights / 5))
write_manifest "cuda>=12.1" "$need" > "$root/etc/mirrord/preflight.manifest"
write_manifest "cuda>=99.0" "$need" > "$root/etc/mirrord/cuda99.manifest"
write_manifest "cuda>=12.1" $((1 << 50)) > "$root/etc/mirrord/huge.manifest"
cat "$root/etc/mirrord/preflight.manifest"

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
run() {  # name, env... command...
  local name=$1; shift
  log "$name"
  local start=$EPOCHREALTIME
  env -i PATH=/bin LD_LIBRARY_PATH=/usr/local/nvidia/lib64 NVIDIA_VISIBLE_DEVICES=all "$@"
  local rc=$?
  echo "exit $rc, $(since "$start") s"
}
CHROOT=$(command -v chroot)
# The entrypoint the build stage writes: the bundle's loader runs the preflight.
PF=(/.mirrord/preflight/lib/ld-linux-x86-64.so.2 --library-path /.mirrord/preflight/lib
    /.mirrord/preflight/bin/mirrord-preflight)
entry=("$CHROOT" "$root" "${PF[@]}" -- /bin/model-server "$models")
run "pass (sample)" "${entry[@]}"
run "pass (full, warm cache)" PREFLIGHT_VERIFY=full "${entry[@]}"
run "cuda>=99.0" PREFLIGHT_MANIFEST=/etc/mirrord/cuda99.manifest "${entry[@]}"
run "memory need above the card's" PREFLIGHT_MANIFEST=/etc/mirrord/huge.manifest "${entry[@]}"

log "timing: full verify vs sha256sum -P$(nproc), warm page cache, 3 runs each"
for r in 1 2 3; do
  s=$EPOCHREALTIME; ls "$root$models"/*.safetensors | xargs -P"$(nproc)" -n1 sha256sum >/dev/null
  t1=$(since "$s")
  s=$EPOCHREALTIME; env -i LD_LIBRARY_PATH=/usr/local/nvidia/lib64 PREFLIGHT_VERIFY=full "$CHROOT" "$root" "${PF[@]}" 2>/dev/null
  t2=$(since "$s")
  echo "run $r: sha256sum ${t1}s  preflight-full ${t2}s"
done
s=$EPOCHREALTIME; env -i LD_LIBRARY_PATH=/usr/local/nvidia/lib64 PREFLIGHT_VERIFY=sample "$CHROOT" "$root" "${PF[@]}" 2>/dev/null
echo "sample mode (checks + 6 MiB hashed): $(since "$s") s"

f="$root$models/model-00002-of-00002.safetensors"
off=$((mib * 1048576 / 2))  # inside the middle sample
orig=$(dd if="$f" bs=1 skip=$off count=1 status=none | od -An -tx1 | tr -d ' ')
printf "\\x$(printf '%02x' $((0x$orig ^ 0xff)))" | dd of="$f" bs=1 seek=$off conv=notrunc status=none
run "flipped byte (sample)" "${entry[@]}"
run "flipped byte (full)" PREFLIGHT_VERIFY=full "${entry[@]}"
printf "\\x$orig" | dd of="$f" bs=1 seek=$off conv=notrunc status=none

rm -f "$root/usr/local/nvidia/lib64/"*
run "no NVIDIA library in the image" "${entry[@]}"
for d in dev proc sys; do umount "$root/$d" 2>/dev/null; done

log "sample mode over 100 GiB: 20 sparse files of 5 GiB (holes read as zeros; whole-file hashes not needed by sample mode, so the manifest carries placeholders)"
big="$root/models/big"; mkdir -p "$big"
zeros=$(head -c $((1 << 20)) /dev/zero | sha256sum | cut -d' ' -f1)
{
  echo "mirrord-preflight-manifest 1"; echo "min_gpu_memory 0"; echo "gpu_count 0"
  for i in $(seq -w 1 20); do
    truncate -s 5G "$big/shard-$i.safetensors"
    echo "file $((5 << 30)) $(printf 'a%.0s' $(seq 64)) /models/big/shard-$i.safetensors"
  done
  for i in $(seq 0 19); do
    for off in 0 $(((5 << 30) / 2 - (1 << 19))) $(((5 << 30) - (1 << 20))); do
      echo "sample $i $off $((1 << 20)) $zeros"
    done
  done
} > "$root/etc/mirrord/big.manifest"
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
run "sample mode, 100 GiB in 20 files" PREFLIGHT_MANIFEST=/etc/mirrord/big.manifest "$CHROOT" "$root" "${PF[@]}"
rm -rf "$big"
