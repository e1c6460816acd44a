#!/usr/bin/env bash
# (g) Push-to-servable latency: how long after a one-commit push upstream the mirror serves
# the new commit, for mirrord driven by a GitHub push webhook and for the best a hand-rolled
# webhook receiver calling git can do. Target: p95 under 1 s on loopback.
#
# Upstream: a modest synthetic repository (bench/make_repo.sh with BENCH_PUSH_COMMITS=400,
# BENCH_PUSH_FILES=300, BENCH_PUSH_BIN_MB=4, BENCH_PUSH_BRANCHES=3: ~565 commits, ~6,000
# objects, 5 MiB packed), one bare copy per side, served by nginx + fcgiwrap +
# git http-backend on 127.0.0.1 (lib.sh). Each side has its own working clone; a push is
# one commit changing one small file, `git push` into the bare directory (local transport).
# t0 is taken the moment that push returns.
#
#   mirrord (maintenance on)   mirrord with the default `[sync] maintenance = true`, and
#   mirrord (maintenance off)  a second daemon with `maintenance = false`. Each mirrors its
#                              upstream as lab/model (registered and first synced with
#                              `mirrorctl sync lab/model --url URL`), with a webhook secret
#                              and its poller effectively off (default_poll_interval 1d).
#                              After the push: one signed `push` delivery (payload with
#                              repository.clone_url = the mirrored URL, ref, before, after =
#                              the new commit, repository.pushed_at), then, every
#                              BENCH_PUSH_POLL_MS (default 10) ms, one
#                              GET /lab/model.git/info/refs?service=git-upload-pack through
#                              mirrord (what `git fetch` asks first) until refs/heads/main is
#                              the new commit: t1 is the end of that request. The delivery and
#                              the polling are inside the measured time, both sent by bash
#                              itself over /dev/tcp (no process started while timing); the
#                              signature is computed before the push (GitHub's side).
#                              Then the script waits for the sync run to end (t2, reported
#                              too) before the next push, so no run overlaps a measurement.
#   git (peer)                 `git fetch --prune origin '+refs/*:refs/*'` in a
#                              `git clone --mirror` of the upstream over the same smart HTTP:
#                              t1 is when it returns (the commit is in the mirror); no
#                              webhook, no polling: what a receiver calling git takes at best.
#
# BENCH_PUSH_REPS pushes per side (default 30), interleaved (the side order rotates every
# repetition). Reported: p50, p95 (nearest rank), max and mean of t1 - t0 per side, the
# ratios of mirrord's p50 and p95 to git's, mirrord's t2 - t0 (the end of the sync run, after
# maintenance when it is on), and what mirrord's own histograms recorded
# (mirrord_push_to_servable_seconds, mirrord_sync_trigger_to_servable_seconds{trigger="webhook"}).
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/webhook_lib.sh"

reps=${BENCH_PUSH_REPS:-30}
poll_ms=${BENCH_PUSH_POLL_MS:-10}
name=lab/model

[[ -x $MIRRORD_BIN_DIR/mirrord && -x $MIRRORD_BIN_DIR/mirrorctl ]] ||
  bench_die "no $MIRRORD_BIN_DIR/mirrord or mirrorctl (set MIRRORD_BIN_DIR)"
cache=$(BENCH_COMMITS=${BENCH_PUSH_COMMITS:-400} BENCH_FILES=${BENCH_PUSH_FILES:-300} \
  BENCH_BIN_MB=${BENCH_PUSH_BIN_MB:-4} BENCH_BRANCHES=${BENCH_PUSH_BRANCHES:-3} \
  BENCH_INCR_COMMITS=5 BENCH_INCR_BIN_MB=1 BENCH_INCR_STEPS=1 "$here/make_repo.sh") ||
  bench_die "make_repo failed"
bench_init
load_start=$(cut -d' ' -f1 /proc/loadavg)

sides=(on off git)
declare -A side_label=([on]="mirrord (maintenance on)" [off]="mirrord (maintenance off)"
  [git]="git fetch into a mirror clone")

mkdir -p "$BENCH_WORK/upstream"
for s in "${sides[@]}"; do
  cp -a "$cache/base.git" "$BENCH_WORK/upstream/up-$s.git"
  git clone -q "$BENCH_WORK/upstream/up-$s.git" "$BENCH_WORK/work-$s" || bench_die "clone failed"
  git -C "$BENCH_WORK/work-$s" checkout -q main || bench_die "no branch main in the repository"
done
bench_start_git_http "$BENCH_WORK/upstream"
bench_log "upstream $GIT_HTTP_URL/up-{on,off,git}.git: $(cat "$cache/info")"

secret_file=$BENCH_WORK/webhook.secret
openssl rand -hex 32 >"$secret_file"

declare -A d_url
for s in on off; do
  maint=true
  [[ $s == off ]] && maint=false
  cfg=$BENCH_WORK/mirrord-$s.toml
  bench_mirrord_config "$cfg" "$BENCH_WORK/mirrord-$s" "$maint"
  sed -i 's/^stall_timeout = .*/&\ndefault_poll_interval = "1d"/' "$cfg"
  printf '\n[webhooks.github]\nsecret_file = "%s"\n' "$secret_file" >>"$cfg"
  bench_start_mirrord "push-$s" "$cfg"
  d_url[$s]=$MIRRORD_URL
  bench_log "mirrord (maintenance $maint) at $MIRRORD_URL: mirrorctl sync $name --url $GIT_HTTP_URL/up-$s.git"
  "$MIRRORD_BIN_DIR/mirrorctl" --config "$cfg" --server "$MIRRORD_URL" \
    sync "$name" --url "$GIT_HTTP_URL/up-$s.git" >"$BENCH_WORK/mirrorctl-$s.log" 2>&1 ||
    bench_die "mirrorctl sync failed: $(tail -n 5 "$BENCH_WORK/mirrorctl-$s.log")"
done
bench_log "git clone --mirror $GIT_HTTP_URL/up-git.git"
git clone -q --mirror "$GIT_HTTP_URL/up-git.git" "$BENCH_WORK/peer.git" || bench_die "git clone --mirror failed"

# The measuring loop starts no process: sleeps, clocks and HTTP requests are bash builtins
# (a fork costs milliseconds on a loaded 2-core machine and would count as mirrord's time).
# A sleep: read with a timeout on a FIFO nobody writes to.
mkfifo "$BENCH_WORK/sleep.fifo"
exec {sleep_fd}<>"$BENCH_WORK/sleep.fifo"
printf -v poll_sleep '%d.%03d' $((poll_ms / 1000)) $((poll_ms % 1000))
nap() { read -r -t "$poll_sleep" -u "$sleep_fd" _ || true; }
# Microseconds since the epoch, into the variable named $1.
now_us() { printf -v "$1" '%s' "${EPOCHREALTIME//[.,]/}"; }
# Seconds from $1 to $2 (microseconds), three decimals.
secs() { printf '%d.%03d' $((($2 - $1) / 1000000)) $(((($2 - $1) % 1000000) / 1000)); }

# GET http://HOST:PORT$2 as HTTP/1.0 (the answer ends at EOF, never chunked); the answer's
# lines go to the array HTTP_LINES, the status to HTTP_STATUS (000 on failure).
http_get() {
  local hostport=${1#http://} fd line
  HTTP_STATUS=000 HTTP_LINES=()
  { exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport##*:}"; } 2>/dev/null || return 0
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$hostport" >&"$fd"
  if IFS= read -r -t 10 -u "$fd" line; then
    line=${line#HTTP/1.? }
    HTTP_STATUS=${line%% *}
    mapfile -t -u "$fd" HTTP_LINES 2>/dev/null
  fi
  exec {fd}<&-
}

# One commit in side S's working clone, not yet pushed; sets OLD and NEW.
commit_one() {
  local s=$1 i=$2 w=$BENCH_WORK/work-$s
  OLD=$(git -C "$w" rev-parse HEAD)
  printf '{"revision": %d, "side": "%s", "at": "%s"}\n' "$i" "$s" "$EPOCHREALTIME" >"$w/bench-config.json"
  git -C "$w" add bench-config.json && git -C "$w" commit -q -m "bench push $i" ||
    bench_die "commit failed"
  NEW=$(git -C "$w" rev-parse HEAD)
}

push() { git -C "$BENCH_WORK/work-$1" push -q origin HEAD:refs/heads/main || bench_die "push failed"; }

declare -A lat done_lat checks send polling
declare -A webhook_runs=([on]=0 [off]=0)
add() { local -n arr=$1; arr[$2]+="${arr[$2]:+ }$3"; }

step_mirrord() {  # SIDE REP
  local s=$1 i=$2 url=${d_url[$1]}
  commit_one "$s" "$i"
  local t0 tp t1 t2 n=0 line found c at sec
  # repository.pushed_at is the second of the push (GitHub sends whole seconds): the
  # payload and its signature are prepared for this second and the next, before the push,
  # and the one of the second in which the push returned is sent.
  local -A body sig
  sec=$EPOCHSECONDS
  for at in "$sec" $((sec + 1)); do
    body[$at]=$BENCH_WORK/push-$s-$at.json
    webhook_push_payload "$name" "$GIT_HTTP_URL/up-$s.git" refs/heads/main "$OLD" "$NEW" \
      "$at" >"${body[$at]}"
    sig[$at]=$(webhook_sign "$secret_file" "${body[$at]}") || bench_die "signing failed"
  done
  push "$s"
  now_us t0
  at=$((t0 / 1000000))
  if [[ -z ${body[$at]:-} ]]; then  # the push took more than a second: sign now
    body[$at]=$BENCH_WORK/push-$s-$at.json
    webhook_push_payload "$name" "$GIT_HTTP_URL/up-$s.git" refs/heads/main "$OLD" "$NEW" \
      "$at" >"${body[$at]}"
    sig[$at]=$(webhook_sign "$secret_file" "${body[$at]}") || bench_die "signing failed"
  fi
  webhook_send "$url" "${sig[$at]}" "${body[$at]}" "push-$s-$i-$RANDOM$RANDOM"
  now_us tp
  [[ $WEBHOOK_STATUS == 202 && $WEBHOOK_BODY == *'"run_id":'* ]] ||
    bench_die "${side_label[$s]}: the push delivery was answered $WEBHOOK_STATUS $WEBHOOK_BODY"
  webhook_runs[$s]=$((webhook_runs[$s] + 1))
  local want="$NEW refs/heads/main"
  while :; do
    n=$((n + 1))
    http_get "$url" "/$name.git/info/refs?service=git-upload-pack"
    now_us t1
    [[ $HTTP_STATUS == 200 ]] || bench_die "GET /$name.git/info/refs answered $HTTP_STATUS"
    found=0
    for line in "${HTTP_LINES[@]}"; do [[ $line == *"$want"* ]] && found=1; done
    ((found)) && break
    ((t1 - t0 > 60000000)) && bench_die "${side_label[$s]}: $NEW not served after 60 s"
    nap
  done
  # The run ends (maintenance included) when the trigger-to-servable histogram counts it.
  local series='mirrord_sync_trigger_to_servable_seconds_count{trigger="webhook"} '
  while :; do
    http_get "$url" /metrics
    now_us t2
    c=0
    for line in "${HTTP_LINES[@]}"; do [[ $line == "$series"* ]] && c=${line#"$series"}; done
    ((${c%%.*} >= webhook_runs[$s])) && break
    ((t2 - t0 > 60000000)) && bench_die "${side_label[$s]}: the sync run did not end within 60 s"
    nap
  done
  add lat "$s" "$(secs "$t0" "$t1")"
  add done_lat "$s" "$(secs "$t0" "$t2")"
  add checks "$s" "$n"
  add send "$s" "$(secs "$t0" "$tp")"
  add polling "$s" "$(secs "$tp" "$t1")"
  rm -f "$BENCH_WORK/push-$s-"*.json
  bench_log "  $i ${side_label[$s]}: servable after $(secs "$t0" "$t1") s (delivery answered after $(secs "$t0" "$tp") s, $n checks), run ended after $(secs "$t0" "$t2") s"
}

step_git() {  # REP
  local i=$1 t0 t1
  commit_one git "$i"
  push git
  now_us t0
  git -C "$BENCH_WORK/peer.git" fetch -q --prune origin '+refs/*:refs/*' || bench_die "git fetch failed"
  now_us t1
  [[ $(git -C "$BENCH_WORK/peer.git" rev-parse refs/heads/main) == "$NEW" ]] ||
    bench_die "git fetch did not bring $NEW"
  add lat git "$(secs "$t0" "$t1")"
  bench_log "  $i ${side_label[git]}: $(secs "$t0" "$t1") s"
}
bench_log "$reps one-commit pushes per side, interleaved"
for i in $(seq "$reps"); do
  for k in 0 1 2; do
    s=${sides[$(((k + i - 1) % 3))]}
    if [[ $s == git ]]; then step_git "$i"; else step_mirrord "$s" "$i"; fi
  done
done

# --- Report.
# Nearest-rank percentile P of the values.
pct() {
  local p=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ v[NR] = $1 } END {
    r = int(p / 100 * NR); if (r < p / 100 * NR) r++; if (r < 1) r = 1; print v[r] }'
}
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.3f\n", s / NR }'; }
ms_of() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
# Sum of the values of $1 over the sum of those of $2, in ms.
sum_ratio_ms() {
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); for (i = 1; i <= n; i++) s += x[i]
    n = split(b, y, " "); for (i = 1; i <= n; i++) c += y[i]; printf "%.0f", (c > 0 ? s * 1000 / c : 0) }'
}

echo "## Push to servable: mirrord (GitHub webhook) vs \`git fetch\` into a mirror clone"
echo
echo "One-commit pushes into a $(sed 's/^gen_history.pl [^:]*: //' "$cache/info")" \
  "upstream on 127.0.0.1 (git http-backend behind nginx), $reps per side, interleaved;" \
  "seconds from the push's return to the new commit being served. mirrord's figure includes" \
  "the signed delivery (answered after $(ms_of "$(pct 50 ${send[on]} ${send[off]})") ms, p50)" \
  "and polling its info/refs every ${poll_ms} ms (a check every" \
  "$(sum_ratio_ms "${polling[on]} ${polling[off]}" "${checks[on]} ${checks[off]}") ms on average," \
  "the check included); git's is the fetch alone. $(nproc) cores, shared by everything" \
  "(1-minute load average $load_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end)."
echo
echo "| side | p50 s | p95 s | max s | mean s | p50 vs git | p95 vs git | run ended, p50 / p95 s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
g50=$(pct 50 ${lat[git]}) g95=$(pct 95 ${lat[git]})
for s in "${sides[@]}"; do
  v50=$(pct 50 ${lat[$s]}) v95=$(pct 95 ${lat[$s]})
  ended="–"
  [[ $s != git ]] && ended="$(pct 50 ${done_lat[$s]}) / $(pct 95 ${done_lat[$s]})"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${side_label[$s]}" "$v50" "$v95" \
    "$(pct 100 ${lat[$s]})" "$(mean ${lat[$s]})" "$(bench_ratio "$v50" "$g50")" \
    "$(bench_ratio "$v95" "$g95")" "$ended"
done
echo
echo "mirrord's own histograms after the run (count, mean = sum / count, share of observations" \
  "in the ≤ 0.25 s and ≤ 1 s buckets):"
echo
echo "| daemon | histogram | count | mean s | ≤ 0.25 s | ≤ 1 s |"
echo "|---|---|---:|---:|---:|---:|"
for s in on off; do
  m=$BENCH_WORK/metrics-$s
  curl -sS --max-time 10 "${d_url[$s]}/metrics" >"$m" || bench_die "GET /metrics failed"
  for h in 'mirrord_push_to_servable_seconds|' 'mirrord_sync_trigger_to_servable_seconds|trigger="webhook"'; do
    hname=${h%%|*} hlabel=${h#*|}
    awk -v n="$hname" -v l="$hlabel" -v who="${side_label[$s]}" '
      function lab(extra) { return l == "" ? "{" extra "}" : (extra == "" ? "{" l "}" : "{" l "," extra "}") }
      function key(suffix, extra) { return n suffix (l == "" && extra == "" ? "" : lab(extra)) }
      $1 == key("_count", "") { c = $2 } $1 == key("_sum", "") { s = $2 }
      $1 == key("_bucket", "le=\"0.25\"") { b1 = $2 } $1 == key("_bucket", "le=\"1\"") { b2 = $2 }
      END {
        printf "| %s | `%s%s` | %d | %s | %s | %s |\n", who, n, (l == "" ? "" : "{" l "}"), c,
          (c > 0 ? sprintf("%.3f", s / c) : "–"), (c > 0 ? sprintf("%.0f%%", 100 * b1 / c) : "–"),
          (c > 0 ? sprintf("%.0f%%", 100 * b2 / c) : "–")
      }' "$m"
  done
done
echo
echo "In daemon/repo_sync.cc maintenance (commit-graph, repack with bitmaps) runs after" \
  "the refs are published, so it is outside the time to servable; it lengthens the run (last" \
  "column). mirrord's histograms end at the same point (the refs published), and" \
  "\`mirrord_push_to_servable_seconds\` starts at the payload's repository.pushed_at," \
  "which has whole-second resolution (up to 1 s more than the push took)."
echo
