#!/usr/bin/env bash
# Bytes mirrord receives on an incremental sync, against `git fetch` on the same upstream:
# the check that fetch negotiation works (an incremental sync must receive about what the
# change weighs, not the whole repository). Uses the small synthetic repository.
#
#   MIRRORD_BIN_DIR=build/bin bench/fetch_bytes_probe.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
cache=$(BENCH_COMMITS=500 BENCH_FILES=300 BENCH_BIN_MB=20 "$here/make_repo.sh") ||
  bench_die "make_repo failed"
bench_init
mkdir -p "$BENCH_WORK/upstream"
cp -a "$cache/base.git" "$BENCH_WORK/upstream/big.git"
bench_start_git_http "$BENCH_WORK/upstream"
url=$GIT_HTTP_URL/big.git
bench_mirrord_config "$BENCH_WORK/m.toml" "$BENCH_WORK/m" false
bench_start_mirrord m "$BENCH_WORK/m.toml"
bench_mirrord_sync big "$url"
git clone -q --mirror "$url" "$BENCH_WORK/gitm"
git -C "$BENCH_WORK/upstream/big.git" fast-import --quiet <"$cache/incr-1.fi"
bench_mirrord_sync big "$url"
before=$(ls "$BENCH_WORK/gitm/objects/pack/"*.pack)
git -C "$BENCH_WORK/gitm" fetch -q --prune
for p in "$BENCH_WORK/gitm/objects/pack/"*.pack; do
  grep -qxF "$p" <<<"$before" || echo "git fetch received a pack of $(stat -c %s "$p") bytes"
done
echo "mirrord syncs (initial, incremental):"
grep -o 'sync big (run [0-9]*) succeeded in .*' "$MIRRORD_LOG"
echo "pack directories after the incremental step:"
du -sh "$BENCH_WORK/m/repos/big.git/objects/pack" "$BENCH_WORK/gitm/objects/pack"
