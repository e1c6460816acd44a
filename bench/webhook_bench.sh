#!/usr/bin/env bash
# (f) GitHub webhook throughput: signed push deliveries per second into mirrord's
# POST /webhooks/github, and their latency, against nginx answering the same requests.
#
# Load: wrk (BENCH_WRK_THREADS=2 threads, BENCH_WRK_CONNECTIONS=16 keep-alive connections,
# BENCH_WRK_DURATION=15s per case, after an unreported BENCH_WRK_WARMUP=2s run) with
# bench/webhook_wrk.lua: every request is a ~7 kB GitHub-shaped push payload
# (bench/webhook_lib.sh) with Content-Type application/json, X-GitHub-Event: push, a valid
# X-Hub-Signature-256 (HMAC-SHA256 of the fixed body, computed once with openssl) and its
# own X-GitHub-Delivery (mirrord answers a redelivery "duplicate" without doing the work,
# so every delivery id is new). Cases, each one wrk run:
#
#   nginx     the peer: nginx (2 workers, as lib.sh configures it) answering
#             `return 202` to the same POST: the HTTP floor of this machine and client.
#   ignored   a push for a repository mirrord does not mirror: 202 "ignored" after the
#             signature check, the JSON parse, the delivery record (redelivery
#             detection) and the lookup of mirrors of that upstream.
#   queued    a push for the repository mirrord mirrors: 202 "queued", i.e. the above plus
#             a sync request, which coalesces into the one queued sync of the repo. Its
#             upstream is a local git http-backend (lib.sh), so the syncs that do run
#             meanwhile are cheap no-op fetches (they compete for the same 2 cores).
#
# Every answer is checked in wrk: status 202 and, for mirrord, the expected body
# ("ignored", or a queued run). Any other answer or socket error fails the benchmark.
# mirrord runs with its defaults (log_level info: it logs every delivery), its
# poller effectively off (default_poll_interval 1d) and SQLite as the job queue.
# BENCH_ROUNDS (default 1) repeats the three cases, rotating their order; medians are
# reported. Reported per case: requests/s, p50/p99/max latency (wrk --latency), non-202
# answers and socket errors, mirrord's CPU time per delivery (user + system of the daemon
# during the wrk run, syncs included, over the deliveries it counted), mirrord / nginx
# ratios, the deliveries mirrord counted (mirrord_webhook_deliveries_total, which must match
# what wrk completed) and the syncs that ran.
#
# Prints a markdown section on stdout; progress on stderr. MIRRORD_BIN_DIR as in lib.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/webhook_lib.sh"

duration=${BENCH_WRK_DURATION:-15s}
warmup=${BENCH_WRK_WARMUP:-2s}
connections=${BENCH_WRK_CONNECTIONS:-16}
threads=${BENCH_WRK_THREADS:-2}
rounds=${BENCH_ROUNDS:-1}

command -v wrk >/dev/null || bench_die "wrk is needed (Debian package wrk)"
command -v nginx >/dev/null || bench_die "nginx is needed"
[[ -x $MIRRORD_BIN_DIR/mirrord ]] || bench_die "no $MIRRORD_BIN_DIR/mirrord (set MIRRORD_BIN_DIR)"
bench_init
load_start=$(cut -d' ' -f1 /proc/loadavg)

# --- The upstream of the mirrored repository: a few commits, served by git http-backend.
mkdir -p "$BENCH_WORK/upstream" "$BENCH_WORK/src"
git init -q "$BENCH_WORK/src"
for i in 1 2 3; do
  echo "revision $i" >"$BENCH_WORK/src/config.json"
  git -C "$BENCH_WORK/src" add -A && git -C "$BENCH_WORK/src" commit -q -m "revision $i"
done
git clone -q --bare "$BENCH_WORK/src" "$BENCH_WORK/upstream/model.git" || bench_die "bare clone failed"
bench_start_git_http "$BENCH_WORK/upstream"
upstream_url=$GIT_HTTP_URL/model.git
head_sha=$(git -C "$BENCH_WORK/upstream/model.git" rev-parse refs/heads/main)
parent_sha=$(git -C "$BENCH_WORK/upstream/model.git" rev-parse refs/heads/main~1)

# --- mirrord, with the webhook secret, mirroring the upstream.
secret_file=$BENCH_WORK/webhook.secret
openssl rand -hex 32 >"$secret_file"
cfg=$BENCH_WORK/mirrord.toml
bench_mirrord_config "$cfg" "$BENCH_WORK/mirrord" true
sed -i 's/^stall_timeout = .*/&\ndefault_poll_interval = "1d"/' "$cfg"
printf '\n[webhooks.github]\nsecret_file = "%s"\n' "$secret_file" >>"$cfg"
bench_start_mirrord webhook "$cfg"
bench_log "mirrord $MIRRORD_URL (pid $MIRRORD_PID); registering and syncing lab/model from $upstream_url"
bench_mirrord_sync lab/model "$upstream_url"

# --- The peer: nginx answering 202 on the same path.
ngx=$BENCH_WORK/nginx-peer
mkdir -p "$ngx/tmp"
ngx_port=$(bench_free_port)
bench_nginx_conf "$ngx" <<EOF
  server {
    listen 127.0.0.1:$ngx_port;
    client_max_body_size 25m;
    location = /webhooks/github {
      default_type application/json;
      return 202 '{"status":"ignored"}\n';
    }
  }
EOF
nginx_url=http://127.0.0.1:$ngx_port
bench_nginx_run "$ngx" "$nginx_url"

# --- Payloads: the same push, for a repository mirrord does not mirror and for the one it
# does (matched by clone_url, as GitHub sends it).
pushed_at=$EPOCHSECONDS
webhook_push_payload lab/not-mirrored "$GIT_HTTP_URL/not-mirrored.git" refs/heads/main \
  "$parent_sha" "$head_sha" "$pushed_at" >"$BENCH_WORK/ignored.json"
webhook_push_payload lab/model "$upstream_url" refs/heads/main \
  "$parent_sha" "$head_sha" "$pushed_at" >"$BENCH_WORK/queued.json"
declare -A sig
for c in ignored queued; do
  sig[$c]=$(webhook_sign "$secret_file" "$BENCH_WORK/$c.json") || bench_die "signing failed"
done
# One delivery of each through curl first: the payloads must be accepted as intended.
webhook_send "$MIRRORD_URL" "${sig[ignored]}" "$BENCH_WORK/ignored.json" check-ignored
[[ $WEBHOOK_STATUS == 202 && $WEBHOOK_BODY == *'"status":"ignored"'* ]] ||
  bench_die "the 'ignored' payload was answered $WEBHOOK_STATUS $WEBHOOK_BODY"
webhook_send "$MIRRORD_URL" "${sig[queued]}" "$BENCH_WORK/queued.json" check-queued
[[ $WEBHOOK_STATUS == 202 && $WEBHOOK_BODY == *'"run_id":'* ]] ||
  bench_die "the 'queued' payload was answered $WEBHOOK_STATUS $WEBHOOK_BODY"
bench_log "payload $(stat -c %s "$BENCH_WORK/queued.json") bytes; both kinds accepted as intended"

# --- Helpers.
metrics() { curl -sS --max-time 10 "$MIRRORD_URL/metrics"; }
# Sum of a metric's samples whose line matches the ERE $2 (all of them without $2).
metric_sum() {
  awk -v name="$1" -v re="${2:-}" '
    index($0, name) == 1 && (substr($0, length(name) + 1, 1) ~ /[{ ]/) && (re == "" || $0 ~ re) {
      s += $NF } END { printf "%.0f\n", s }' "$3"
}

# Waits until mirrord has settled: no sync running or queued (the queued case leaves syncs
# behind) and no delivery counted for 0.5 s (wrk stops with a request in flight on every
# connection; mirrord still handles those).
wait_idle() {
  local m=$BENCH_WORK/metrics.idle last=-1 now
  for _ in $(seq 240); do
    metrics >"$m" || bench_die "GET /metrics failed"
    now=$(metric_sum mirrord_webhook_deliveries_total "" "$m")
    if [[ $(metric_sum mirrord_syncs_running "" "$m") == 0 &&
          $(metric_sum mirrord_sync_queue_depth "" "$m") == 0 && $now == "$last" ]]; then
      return 0
    fi
    last=$now
    sleep 0.5
  done
  bench_die "mirrord did not become idle within 120 s"
}

declare -A rps p50 p99 pmax cpu counted syncs
add() { local -n arr=$1; arr[$2]+="${arr[$2]:+ }$3"; }

run_wrk() {  # CASE URL DURATION TAG -> sets W_* from WRK_RESULT
  local case=$1 url=$2 dur=$3 tag=$4
  local body=$BENCH_WORK/$case.json status_expect=
  [[ $case == nginx ]] && body=$BENCH_WORK/ignored.json
  case $case in
    ignored) status_expect='"status":"ignored"' ;;
    queued) status_expect='"run_id":' ;;
  esac
  local sigv=${sig[ignored]}
  [[ $case == queued ]] && sigv=${sig[queued]}
  local out=$BENCH_WORK/wrk-$tag.out
  WEBHOOK_BODY_FILE=$body WEBHOOK_SIGNATURE=$sigv WEBHOOK_EVENT=push WEBHOOK_RUN=$tag \
    WEBHOOK_STATUS=202 WEBHOOK_EXPECT=$status_expect \
    wrk -t"$threads" -c"$connections" -d"$dur" --timeout 10s --latency \
    -s "$here/webhook_wrk.lua" "$url/webhooks/github" >"$out" 2>&1 ||
    bench_die "wrk failed on $case: $(tail -n 5 "$out")"
  local line
  line=$(grep '^WRK_RESULT ' "$out") || bench_die "wrk printed no result on $case: $(tail -n 5 "$out")"
  unset W_requests W_duration_us W_p50_us W_p99_us W_max_us W_bad W_connect W_read W_write W_timeout W_status
  local kv
  for kv in ${line#WRK_RESULT }; do printf -v "W_${kv%%=*}" '%s' "${kv#*=}"; done
  local errors=$((W_connect + W_read + W_write + W_timeout + W_status))
  if ((W_bad > 0 || errors > 0)); then
    bench_die "$case: $W_bad unexpected answers, socket errors connect $W_connect read $W_read write $W_write timeout $W_timeout, status>=400 $W_status; first: $(grep '^WRK_BAD_SAMPLE' "$out" | cut -d' ' -f2-)"
  fi
  ((W_requests > 0)) || bench_die "$case: no request completed"
}

measure() {  # CASE ROUND
  local case=$1 round=$2 url=$MIRRORD_URL
  [[ $case == nginx ]] && url=$nginx_url
  [[ $case != nginx ]] && wait_idle
  run_wrk "$case" "$url" "$warmup" "warm-$case-$round-$RANDOM"
  [[ $case != nginx ]] && wait_idle
  local before=$BENCH_WORK/metrics.before after=$BENCH_WORK/metrics.after cpu0=0 cpu1
  if [[ $case != nginx ]]; then
    metrics >"$before" || bench_die "GET /metrics failed"
    cpu0=$(bench_cpu_secs "$MIRRORD_PID")
  fi
  run_wrk "$case" "$url" "$duration" "$case-$round-$RANDOM$RANDOM"
  local secs r
  secs=$(awk -v d="$W_duration_us" 'BEGIN { printf "%.3f", d / 1e6 }')
  r=$(awk -v n="$W_requests" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  add rps "$case" "$r"
  add p50 "$case" "$(awk -v u="$W_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')"
  add p99 "$case" "$(awk -v u="$W_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')"
  add pmax "$case" "$(awk -v u="$W_max_us" 'BEGIN { printf "%.1f", u / 1000 }')"
  local note=""
  if [[ $case != nginx ]]; then
    cpu1=$(bench_cpu_secs "$MIRRORD_PID")
    wait_idle
    metrics >"$after" || bench_die "GET /metrics failed"
    local n_all n_ok n_other n_syncs
    n_all=$(( $(metric_sum mirrord_webhook_deliveries_total "" "$after") -
              $(metric_sum mirrord_webhook_deliveries_total "" "$before") ))
    n_ok=$(( $(metric_sum mirrord_webhook_deliveries_total "event=\"push\",outcome=\"$case\"" "$after") -
             $(metric_sum mirrord_webhook_deliveries_total "event=\"push\",outcome=\"$case\"" "$before") ))
    n_other=$((n_all - n_ok))
    n_syncs=$(( $(metric_sum mirrord_syncs_total "" "$after") - $(metric_sum mirrord_syncs_total "" "$before") ))
    ((n_other == 0)) || bench_die "$case: mirrord counted $n_other deliveries with another outcome"
    # wrk counts the answers it read; mirrord may have handled a few more, whose answers
    # were still in flight when wrk stopped (at most one per connection).
    ((n_ok >= W_requests && n_ok <= W_requests + connections)) ||
      bench_die "$case: wrk completed $W_requests requests but mirrord counted $n_ok deliveries"
    add counted "$case" "$n_ok"
    add syncs "$case" "$n_syncs"
    add cpu "$case" "$(awk -v a="$cpu0" -v b="$cpu1" -v n="$n_ok" 'BEGIN { printf "%.0f", (b - a) * 1e6 / n }')"
    note=", mirrord counted $n_ok deliveries ($case), $n_syncs syncs ran, CPU $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }') s"
  fi
  bench_log "  $case: $W_requests requests in ${secs}s = $r/s, p50 $W_p50_us us, p99 $W_p99_us us$note"
}

cases=(nginx ignored queued)
for round in $(seq "$rounds"); do
  bench_log "round $round/$rounds: wrk -t$threads -c$connections -d$duration each"
  for k in 0 1 2; do
    measure "${cases[$(((k + round - 1) % 3))]}" "$round"
  done
done

# --- Report.
med() { bench_median $1; }
# A / B with three significant digits (the ratios here span 0.001 to 1000).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3g", a / b; else print "n/a" }'; }
echo "## GitHub webhook deliveries: mirrord vs nginx \`return 202\`"
echo
echo "wrk $(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }') \`-t$threads -c$connections -d$duration --latency\`," \
  "$rounds round(s), medians; signed ~$(( ($(stat -c %s "$BENCH_WORK/queued.json") + 512) / 1024 )) kB push" \
  "payload, a new X-GitHub-Delivery per request; $(nproc) cores shared by client and server" \
  "(1-minute load average $load_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end)."
echo
echo "| case | requests/s | p50 ms | p99 ms | max ms | non-202 + errors | mirrord CPU µs/delivery | req/s vs nginx | p50 vs nginx | p99 vs nginx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
n_rps=$(med "${rps[nginx]}") n_p50=$(med "${p50[nginx]}") n_p99=$(med "${p99[nginx]}")
printf '| nginx `return 202` | %.0f | %.2f | %.2f | %.1f | 0 | – | 1 | 1 | 1 |\n' \
  "$n_rps" "$n_p50" "$n_p99" "$(med "${pmax[nginx]}")"
for c in ignored queued; do
  label="mirrord, push to an unmirrored repo (202 ignored)"
  [[ $c == queued ]] && label="mirrord, push to the mirrored repo (202 queued)"
  printf '| %s | %.0f | %.2f | %.2f | %.1f | 0 | %.0f | %s | %s | %s |\n' "$label" \
    "$(med "${rps[$c]}")" "$(med "${p50[$c]}")" "$(med "${p99[$c]}")" "$(med "${pmax[$c]}")" \
    "$(med "${cpu[$c]}")" \
    "$(ratio "$(med "${rps[$c]}")" "$n_rps")" "$(ratio "$(med "${p50[$c]}")" "$n_p50")" \
    "$(ratio "$(med "${p99[$c]}")" "$n_p99")"
done
echo
echo "Deliveries mirrord counted (mirrord_webhook_deliveries_total, per measured run and round; every one" \
  "202 with the expected outcome, none duplicate or refused): ignored ${counted[ignored]}," \
  "queued ${counted[queued]}. Syncs that ran during the queued runs (coalesced into one queued" \
  "sync per repo at a time): ${syncs[queued]}."
echo
