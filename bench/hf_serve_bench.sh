#!/usr/bin/env bash
# Hugging Face endpoint serving (HF_ENDPOINT clients), side by side with real peers:
#
#   metadata  requests per second of mirrord's file-metadata answers and tree listing
#             against nginx serving a static JSON file (the tree's own answer, copied):
#               wrk (BENCH_WRK_THREADS=2, BENCH_WRK_CONNECTIONS=16 keep-alive connections,
#               BENCH_WRK_DURATION=10s per case after an unreported 1 s warm-up):
#                 nginx-json  GET of the static JSON file
#                 probe       GET /org/model/resolve/main/weights/1.bin with Range: bytes=0-0
#                             (@huggingface/hub's fileDownloadInfo probe: every lookup of a
#                             HEAD plus a 1-byte body)
#                 tree        GET /api/models/org/model/tree/main
#               HEAD itself: wrk 4.1 cannot parse an answer to HEAD (it waits for the
#               Content-Length bytes), so HEAD is loaded with ab -i -k (one thread,
#               BENCH_WRK_CONNECTIONS concurrent keep-alive requests, BENCH_AB_REQUESTS):
#                 nginx-head  HEAD of the static JSON file
#                 head        HEAD /org/model/resolve/main/weights/1.bin (what
#                             huggingface_hub's hf_hub_download sends first)
#             Every answer must be 200/206 (wrk: a Lua check counts others; ab: non-2xx and
#             failed counts must be 0).
#   download  one `curl -o /dev/null` of the BENCH_HF_MIB MiB (default 2048) LFS file through
#             /org/model/resolve/main/weights/1.bin against the LFS object URL
#             /org/model.git/info/lfs/objects/OID (what git-lfs downloads), the object in the
#             page cache; wall time, MiB/s. Before the rounds both are hashed against the oid.
#
# BENCH_REPS rounds (default 3), cases interleaved in each round; medians and ratios
# mirrord / peer (requests/s: target >= 0.5; download throughput: target >= 0.95).
# mirrord runs with its defaults (log_level info). Everything on 127.0.0.1; nginx runs in the
# foreground of this script's process group and is stopped at exit.
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

reps=${BENCH_REPS:-3}
mib=${BENCH_HF_MIB:-2048}
seed=${BENCH_HF_SEED:-21}  # 21: the object lfs_fetch_bench.sh caches
duration=${BENCH_WRK_DURATION:-10s}
connections=${BENCH_WRK_CONNECTIONS:-16}
threads=${BENCH_WRK_THREADS:-2}
ab_requests=${BENCH_AB_REQUESTS:-50000}

for c in wrk nginx ab curl sha256sum; do
  command -v "$c" >/dev/null || bench_die "$c is needed (scripts/bootstrap test installs it)"
done
bench_lfs_init
[[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"
load_start=$(cut -d' ' -f1 /proc/loadavg)

# --- An upstream repo with one LFS file, mirrored as org/model.
srv=$BENCH_WORK/srv
mkdir -p "$srv"
oid=$(bench_lfs_objects "$mib" 1 "$seed")
[[ -n $oid ]] || bench_die "no object"
size=$((mib << 20))
bench_lfs_repo "$srv/model.git" "$oid"
bench_start_lfs_upstream "$srv"
bench_mirrord_config "$BENCH_WORK/mirrord.toml" "$BENCH_WORK/mirrord" false
bench_start_mirrord hf "$BENCH_WORK/mirrord.toml"
bench_mirrord_sync org/model "$LFS_UPSTREAM_URL/model.git"
bench_log "mirrord $MIRRORD_URL synced org/model ($mib MiB object) in ${BENCH_WALL}s"

resolve=$MIRRORD_URL/org/model/resolve/main/weights/1.bin
lfs_url=$MIRRORD_URL/org/model.git/info/lfs/objects/$oid
tree_url=$MIRRORD_URL/api/models/org/model/tree/main

# --- The peer: nginx serving the tree's answer as a static file.
ngx=$BENCH_WORK/nginx-json
mkdir -p "$ngx/tmp" "$ngx/www"
curl -sS --fail -o "$ngx/www/tree.json" "$tree_url" || bench_die "GET tree failed"
ngx_port=$(bench_free_port)
bench_nginx_conf "$ngx" <<NGX
  server {
    listen 127.0.0.1:$ngx_port;
    root $ngx/www;
    location = /tree.json { default_type application/json; }
  }
NGX
bench_nginx_run "$ngx" "http://127.0.0.1:$ngx_port"
json_url=http://127.0.0.1:$ngx_port/tree.json
bench_log "static JSON: $(stat -c %s "$ngx/www/tree.json") bytes at $json_url"

# --- Both download URLs must serve the object's bytes; the metadata answers must be right.
for u in "$resolve" "$lfs_url"; do
  got=$(curl -sS --fail "$u" | sha256sum | cut -d' ' -f1)
  [[ $got == "$oid" ]] || bench_die "$u served bytes that hash to $got, not $oid"
done
hdr=$(curl -sS --fail -I "$resolve") || bench_die "HEAD $resolve failed"
grep -qi "^etag: \"$oid\"" <<<"$hdr" || bench_die "HEAD has no ETag $oid: $hdr"
grep -qi "^content-length: $size" <<<"$hdr" || bench_die "HEAD has no Content-Length $size: $hdr"

# wrk with a per-answer status check; WRK_RPS and WRK_BAD from its summary.
lua=$BENCH_WORK/check.lua
cat >"$lua" <<'LUA'
local range = os.getenv("BENCH_RANGE")
if range ~= nil and range ~= "" then wrk.headers["Range"] = range end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 and status ~= 206 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BAD %d\n", bad + summary.errors.status))
end
LUA
run_wrk() {  # URL RANGE DURATION
  local out
  out=$(BENCH_RANGE=$2 wrk -t"$threads" -c"$connections" -d"$3" -s "$lua" "$1" 2>&1) ||
    bench_die "wrk failed: $out"
  WRK_RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  WRK_BAD=$(awk '/^BAD / { print $2 }' <<<"$out")
  local errs
  errs=$(awk '/Socket errors:/ { print }' <<<"$out")
  [[ -z $errs ]] || bench_die "wrk socket errors on $1: $errs"
  [[ $WRK_BAD == 0 ]] || bench_die "$WRK_BAD answers were not 200/206 on $1"
}
run_ab() {  # URL
  local out
  out=$(ab -q -i -k -c "$connections" -n "$ab_requests" "$1" 2>&1) || bench_die "ab failed: $out"
  AB_RPS=$(awk '/^Requests per second:/ { print $4 }' <<<"$out")
  local failed non2xx
  failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
  non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' <<<"$out")
  [[ $failed == 0 && -z $non2xx ]] || bench_die "ab on $1: $failed failed, ${non2xx:-0} non-2xx"
}
run_curl() {  # URL -> CURL_WALL
  local t0 t1 got
  t0=$EPOCHREALTIME
  got=$(curl -sS --fail -o /dev/null -w '%{size_download}' "$1") || bench_die "curl $1 failed"
  t1=$EPOCHREALTIME
  [[ $got == "$size" ]] || bench_die "curl $1 got $got bytes, not $size"
  CURL_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

declare -A rps dl
cat "$BENCH_LFS_CACHE/objects/$oid" >/dev/null
for r in $(seq "$reps"); do
  # Rotate the order so that no case always runs first after a change of load.
  cases=(nginx-json probe tree)
  for ((k = 0; k < (r - 1) % 3; k++)); do cases=("${cases[@]:1}" "${cases[0]}"); done
  for c in "${cases[@]}"; do
    case $c in
      nginx-json) u=$json_url rg= ;;
      probe) u=$resolve rg="bytes=0-0" ;;
      tree) u=$tree_url rg= ;;
    esac
    run_wrk "$u" "$rg" 1s
    run_wrk "$u" "$rg" "$duration"
    rps[$c]+=" $WRK_RPS"
    bench_log "round $r: $c $WRK_RPS req/s"
  done
  heads=(nginx-head head)
  ((r % 2 == 0)) && heads=(head nginx-head)
  for c in "${heads[@]}"; do
    [[ $c == head ]] && u=$resolve || u=$json_url
    run_ab "$u"
    rps[$c]+=" $AB_RPS"
    bench_log "round $r: $c $AB_RPS req/s (ab)"
  done
  downloads=(lfs resolve)
  ((r % 2 == 0)) && downloads=(resolve lfs)
  for c in "${downloads[@]}"; do
    [[ $c == resolve ]] && u=$resolve || u=$lfs_url
    run_curl "$u"
    dl[$c]+=" $CURL_WALL"
    bench_log "round $r: download via $c ${CURL_WALL}s"
  done
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

# $1 is a list of numbers, split on purpose.
# shellcheck disable=SC2086
med() { bench_median $1; }
mibs() { awk -v m="$mib" -v t="$1" 'BEGIN { printf "%.0f", m / t }'; }

echo "### Hugging Face endpoint: metadata requests/s and downloads"
echo
echo "mirrord $("$MIRRORD_BIN_DIR/mirrord" --version 2>/dev/null | head -n 1) against nginx $(dpkg-query -W -f='${Version}' nginx 2>/dev/null) (2 workers) serving the tree's JSON ($(stat -c %s "$ngx/www/tree.json") bytes) as a static file; one repo with one $mib MiB LFS file. wrk $threads threads / $connections connections, $duration per case; ab -i -k -c $connections -n $ab_requests for HEAD. Medians of $reps rounds, cases interleaved; load average $load_start at the start, $load_end at the end (2 cores shared with other work)."
echo
echo "| case | mirrord req/s | peer | peer req/s | ratio (target >= 0.5) |"
echo "|---|---:|---|---:|---:|"
mj=$(med "${rps[nginx-json]}")
mh=$(med "${rps[nginx-head]}")
echo "| HEAD /resolve/ (ab) | $(med "${rps[head]}") | nginx HEAD static JSON (ab) | $mh | $(bench_ratio "$(med "${rps[head]}")" "$mh") |"
echo "| GET /resolve/ Range 0-0 (wrk) | $(med "${rps[probe]}") | nginx GET static JSON (wrk) | $mj | $(bench_ratio "$(med "${rps[probe]}")" "$mj") |"
echo "| GET tree (wrk) | $(med "${rps[tree]}") | nginx GET static JSON (wrk) | $mj | $(bench_ratio "$(med "${rps[tree]}")" "$mj") |"
echo
r_s=$(med "${dl[resolve]}")
l_s=$(med "${dl[lfs]}")
echo "| download of $mib MiB, 1 curl | wall (s) | MiB/s |"
echo "|---|---:|---:|"
echo "| /resolve/ | $r_s | $(mibs "$r_s") |"
echo "| LFS object URL | $l_s | $(mibs "$l_s") |"
echo
echo "Throughput ratio /resolve/ : LFS URL = $(bench_ratio "$l_s" "$r_s") (target >= 0.95)."
echo
echo "Raw values:"
for k in $(printf '%s\n' "${!rps[@]}" | sort); do echo "- $k req/s:${rps[$k]}"; done
for k in $(printf '%s\n' "${!dl[@]}" | sort); do echo "- download $k s:${dl[$k]}"; done
