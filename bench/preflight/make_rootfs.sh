#!/usr/bin/env bash
# Assembles a minimal image rootfs for the preflight GPU runs (bench/preflight/gpu_run.sh),
# laid out as the build stage lays out GPU images: the preflight bundle under
# /.mirrord/preflight (its own loader and C library: the rootfs has none of its own, like a
# scratch image) and a static stand-in for the inference binary. No NVIDIA library:
# gpu_run.sh copies the host driver's in, as the NVIDIA container runtime injects them.
#   bench/preflight/make_rootfs.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=${1:?build dir}; out=${2:?output dir}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"; mkdir -p "$out"/{bin,.mirrord,etc/mirrord,models/demo,dev,proc,sys,tmp}
cp -a "$build/lib/mirrord/preflight" "$out/.mirrord/preflight"
cc -static -O2 -o "$out/bin/model-server" "$here/model_server_standin.c"
echo "rootfs in $out: $(du -sh "$out" | cut -f1)"
