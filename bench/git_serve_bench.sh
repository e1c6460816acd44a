#!/usr/bin/env bash
# (b) Serving clones: mirrord against git http-backend behind nginx + fcgiwrap.
#
# mirrord mirrors the synthetic repository of bench/make_repo.sh (maintenance on, the
# default) and serves it. The peer serves the same objects from a bare repository with the
# same kind of layout: `git clone --mirror` of the upstream, then `git repack -a -d -b` and
# `git commit-graph write --reachable` (one pack, bitmaps, commit-graph), so the comparison
# is between servers, not pack layouts. The "plain" peer serves the `git clone --mirror`
# result as it is (no bitmaps, no commit-graph): the unfair comparison, for reference; by
# default only with raw pack downloads, to keep the run short (BENCH_PLAIN=0 skips it,
# BENCH_PLAIN=2 adds its clones too).
#
# Per round (BENCH_REPS, default 3) and server (interleaved): 1 and 8 (BENCH_CLIENTS)
# concurrent full `git clone --no-checkout` into /dev/shm (removed after); wall time until
# every client has finished. Checkout is left out: it is the client writing its work tree,
# the same for every server. Then the same with a raw pack download: one protocol-v0
# upload-pack POST wanting every ref, read by curl into /dev/null, which takes the client's
# index-pack out and leaves the server's work. Reported: medians and mirrord / nginx ratios
# (target <= 1.1).
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

reps=${BENCH_REPS:-3}
clients=${BENCH_CLIENTS:-"1 8"}
plain=${BENCH_PLAIN:-1}
cache=$("$here/make_repo.sh") || bench_die "make_repo failed"
bench_init

srv=$BENCH_WORK/srv
mkdir -p "$srv"
cp -a "$cache/base.git" "$srv/upstream.git"
bench_start_git_http "$srv"
nginx_url=$GIT_HTTP_URL
bench_log "nginx $nginx_url"

git clone -q --mirror "$nginx_url/upstream.git" "$srv/fair.git" || bench_die "clone failed"
git -C "$srv/fair.git" repack -a -d -b -q || bench_die "repack failed"
git -C "$srv/fair.git" commit-graph write --reachable --no-progress || bench_die "commit-graph failed"
if ((plain)); then
  git clone -q --mirror "$nginx_url/upstream.git" "$srv/plain.git" || bench_die "clone failed"
fi

declare -A url
url[nginx]=$nginx_url/fair.git
((plain)) && url[nginx_plain]=$nginx_url/plain.git
servers=()
mirrord_dir=
if [[ -x $MIRRORD_BIN_DIR/mirrord ]]; then
  bench_mirrord_config "$BENCH_WORK/mirrord.toml" "$BENCH_WORK/mirrord" true
  bench_start_mirrord serve "$BENCH_WORK/mirrord.toml"
  bench_log "mirrord $MIRRORD_URL: mirroring"
  bench_mirrord_sync big "$nginx_url/upstream.git"
  bench_log "  synced in ${BENCH_WALL}s ($BENCH_PHASES)"
  mirrord_dir=$BENCH_WORK/mirrord/repos/big.git
  url[mirrord]=$MIRRORD_URL/big.git
  servers+=(mirrord)
else
  bench_log "no $MIRRORD_BIN_DIR/mirrord: nginx side only"
fi
servers+=(nginx)
((plain)) && servers+=(nginx_plain)

# Every server must advertise the same refs, or the comparison is void.
for s in "${servers[@]}"; do
  git ls-remote "${url[$s]}" 'refs/heads/*' 'refs/tags/*' >"$BENCH_WORK/refs.$s" ||
    bench_die "ls-remote $s failed"
  cmp -s "$BENCH_WORK/refs.$s" "$BENCH_WORK/refs.nginx" 2>/dev/null || [[ $s == mirrord ]] ||
    bench_die "$s advertises other refs than nginx"
done
if [[ -n $mirrord_dir ]] && ! cmp -s "$BENCH_WORK/refs.mirrord" "$BENCH_WORK/refs.nginx"; then
  bench_die "mirrord advertises other refs than nginx: $(diff "$BENCH_WORK/refs.mirrord" "$BENCH_WORK/refs.nginx" | head -5)"
fi

# The raw upload-pack request: protocol v0, every advertised ref (tags as tag objects).
req=$BENCH_WORK/upload-pack.req
{
  first=1
  while read -r sha; do
    if ((first)); then
      line="want $sha multi_ack_detailed side-band-64k thin-pack ofs-delta no-progress agent=git/2.39.5"$'\n'
      first=0
    else
      line="want $sha"$'\n'
    fi
    printf '%04x%s' $((${#line} + 4)) "$line"
  done < <(cut -f1 "$BENCH_WORK/refs.nginx" | sort -u)
  printf '0000'
  printf '0009done\n'
} >"$req"

clone_one() {  # URL DIR LOG
  git clone -q --no-checkout "$1" "$2" 2>"$3"
}
raw_one() {  # URL OUT
  curl -sS --fail -X POST --data-binary "@$req" \
    -H 'Content-Type: application/x-git-upload-pack-request' \
    -H 'Accept: application/x-git-upload-pack-result' \
    -o /dev/null -w '%{size_download}\n' "$1/git-upload-pack" >"$2"
}

declare -A wall bytes
# Runs N concurrent clients of KIND against server S; sets BENCH_WALL.
run_clients() {
  local kind=$1 s=$2 n=$3 i t0 t1 fail=0
  local pids=()
  rm -rf /dev/shm/mirrord-bench-clone.*
  sync
  t0=$EPOCHREALTIME
  for i in $(seq "$n"); do
    if [[ $kind == clone ]]; then
      clone_one "${url[$s]}" "/dev/shm/mirrord-bench-clone.$i" "$BENCH_WORK/client.$i.log" &
    else
      raw_one "${url[$s]}" "$BENCH_WORK/client.$i.size" &
    fi
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || fail=1; done
  t1=$EPOCHREALTIME
  ((fail)) && bench_die "$kind from $s with $n clients failed: $(cat "$BENCH_WORK"/client.*.log 2>/dev/null | head -5)"
  BENCH_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  if [[ $kind == clone ]]; then
    git -C /dev/shm/mirrord-bench-clone.1 rev-parse -q --verify refs/heads/main >/dev/null ||
      bench_die "clone from $s has no main"
  else
    bytes[$s]=$(cat "$BENCH_WORK/client.1.size")
  fi
  rm -rf /dev/shm/mirrord-bench-clone.* "$BENCH_WORK"/client.*
}

for r in $(seq "$reps"); do
  for kind in clone raw; do
    for n in $clients; do
      for s in "${servers[@]}"; do
        [[ $s == nginx_plain && $kind == clone && $plain != 2 ]] && continue
        run_clients "$kind" "$s" "$n"
        wall[$kind.$n.$s]+="${wall[$kind.$n.$s]:+ }$BENCH_WALL"
        bench_log "round $r: $kind x$n from $s: ${BENCH_WALL}s"
      done
    done
  done
done

layout() {
  local d=$1
  printf '%s pack(s), bitmap: %s, commit-graph: %s' \
    "$(ls "$d"/objects/pack/*.pack 2>/dev/null | wc -l)" \
    "$(ls "$d"/objects/pack/*.bitmap >/dev/null 2>&1 && echo yes || echo no)" \
    "$( [[ -e $d/objects/info/commit-graph || -d $d/objects/info/commit-graphs ]] && echo yes || echo no)"
}

cell() { [[ -n ${wall[$1]:-} ]] && bench_median ${wall[$1]} || echo n/a; }
ratio() { [[ $1 == n/a || $2 == n/a ]] && echo n/a || bench_ratio "$1" "$2"; }

echo "### (b) Serving clones: mirrord vs git http-backend behind nginx + fcgiwrap"
echo
echo "Repository: $(cat "$cache/info")."
echo "Layouts: nginx: $(layout "$srv/fair.git")$( ((plain)) && echo "; nginx, plain: $(layout "$srv/plain.git")")$( [[ -n $mirrord_dir ]] && echo "; mirrord: $(layout "$mirrord_dir")")."
echo "Wall time until all clients finished, median of $reps rounds. Ratio = mirrord / nginx (target <= 1.1)."
echo
hdr="| clients | mirrord (s) | nginx (s) | ratio |"
sep="|---|---:|---:|---:|"
if ((plain)); then hdr+=" nginx, plain mirror (s) | ratio vs plain |"; sep+="---:|---:|"; fi
echo "$hdr"
echo "$sep"
for kind in clone raw; do
  for n in $clients; do
    [[ $kind == clone ]] && label="git clone --no-checkout x$n" || label="raw pack download x$n"
    m=$(cell "$kind.$n.mirrord"); g=$(cell "$kind.$n.nginx")
    row="| $label | $m | $g | $(ratio "$m" "$g") |"
    if ((plain)); then p=$(cell "$kind.$n.nginx_plain"); row+=" $p | $(ratio "$m" "$p") |"; fi
    echo "$row"
  done
done
echo
echo "Raw pack size per client (bytes): $(for s in "${servers[@]}"; do printf '%s %s; ' "$s" "${bytes[$s]:-n/a}"; done)"
echo
echo "Raw wall times (s):"
for k in $(printf '%s\n' "${!wall[@]}" | sort); do echo "- $k: ${wall[$k]}"; done
