#!/usr/bin/env bash
# Assembles a minimal image rootfs for the preflight GPU runs (bench/preflight/gpu_run.sh):
# mirrord-preflight, the C library it links (from this Debian host), and a static stand-in
# for the inference binary. No NVIDIA library: gpu_run.sh copies the host driver's in, as
# the NVIDIA container runtime injects them.
#   bench/preflight/make_rootfs.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=${1:?build dir}; out=${2:?output dir}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"; mkdir -p "$out"/{bin,lib64,lib/x86_64-linux-gnu,etc/mirrord,models/demo,dev,proc,sys,tmp}
strip -o "$out/bin/mirrord-preflight" "$build/bin/mirrord-preflight"
cc -static -O2 -o "$out/bin/model-server" "$here/model_server_standin.c"
cp -L /lib64/ld-linux-x86-64.so.2 "$out/lib64/"
for l in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1; do
  cp -L "/lib/x86_64-linux-gnu/$l" "$out/lib/x86_64-linux-gnu/"
done
echo "rootfs in $out: $(du -sh "$out" | cut -f1)"
