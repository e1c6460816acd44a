#!/usr/bin/env bash
# Assembles the preflight bundle the build stage puts into GPU images under /.mirrord/preflight:
#   bin/mirrord-preflight          stripped
#   lib/ld-linux-x86-64.so.2, libc.so.6, libm.so.6, libdl.so.2, libpthread.so.0, librt.so.1
# The binary runs through this private loader and C library (the image's own may be older
# than the one it was built against, or absent: scratch), and the NVIDIA libraries it
# dlopens resolve their C-library needs from the same folder.
#   make_bundle.sh PREFLIGHT_BINARY OUT_DIR
set -euo pipefail
bin=${1:?binary}; out=${2:?output dir}
rm -rf "$out.tmp"; mkdir -p "$out.tmp/bin" "$out.tmp/lib"
strip -o "$out.tmp/bin/mirrord-preflight" "$bin"
loader=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
cp -L "$loader" "$out.tmp/lib/"
# What the binary links (the C library; in a sanitizer build also its runtimes), and what
# the NVIDIA libraries it loads link.
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r l; do
  cp -L "$l" "$out.tmp/lib/"
done
libdir=$(dirname "$(readlink -f "$(ldd "$bin" | awk '/libc.so.6/{print $3}')")")
for l in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1; do
  cp -L "$libdir/$l" "$out.tmp/lib/"
done
chmod 0755 "$out.tmp/bin/mirrord-preflight" "$out.tmp/lib/"*
rm -rf "$out"; mv "$out.tmp" "$out"
