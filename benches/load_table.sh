#!/usr/bin/env bash
# Webhook throughput at 1, 8, 32 and 64 connections, in one run, as one table: plain
# deliveries (a comment without a command: verify, decode, queue), command deliveries (a
# comment carrying a command: also kept in the store's durable inbox and flushed before
# the 200, through the store's group commit) and the Go peer (benches/peer: verify and
# decode, keeps nothing), each driven by wrk over loopback with the same signed payloads.
#
#   bash benches/load_table.sh
#
# Every 200 our plugin answers a command delivery is a kept command: the inbox entry is
# flushed to disk before the answer. The table counts deliveries answered 2xx a second;
# a command the full inbox or queue cannot take is answered 503 (refused, never lost:
# GitHub redelivers) and counted apart (non-2xx, and every answer a second). Between
# cells the script waits until the plugin's queue and inbox are empty.
#
# Knobs (environment): CONCURRENCY ("1 8 32 64"), DURATION (5s per cell), WARMUP (1s),
# THREADS (1), FIXTURE (github-webhooks/issue_comment.created.json under FIXTURES =
# ../shared/fixtures), BASE_PORT (18900), NO_BUILD=1, KEEP=1 (keep the work directory).
# Needs wrk, go, openssl, curl, python3 (installed with apt-get when missing).

set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FIXTURES="${FIXTURES:-$ROOT/../shared/fixtures}"
FIXTURE="${FIXTURE:-github-webhooks/issue_comment.created.json}"
CONCURRENCY="${CONCURRENCY:-1 8 32 64}"
THREADS="${THREADS:-1}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-1s}"
BASE_PORT="${BASE_PORT:-18900}"
BODY="$FIXTURES/$FIXTURE"
[ -r "$BODY" ] || { echo "load_table.sh: fixture $BODY not readable" >&2; exit 2; }

# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"
need python3 python3
load_setup scalability-gate-load-table

# The two payloads, written at run time from the fixture (never kept in the repository):
# the comment as it is, and the same comment carrying a command.
python3 - "$BODY" "$WORK" <<'EOF'
import json, sys
src, work = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
open(f"{work}/plain.json", "wb").write(raw)
event = json.loads(raw)
event["comment"]["body"] = "/scalability-unblock load test"
open(f"{work}/command.json", "w").write(json.dumps(event))
print(event["comment"]["user"]["login"], event["repository"]["full_name"],
      file=open(f"{work}/who", "w"))
EOF
read -r AUTHOR REPO < "$WORK/who"

TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$TOKEN" > "$WORK/hmac"
sign() { echo "sha256=$(openssl dgst -sha256 -hmac "$TOKEN" < "$1" | awk '{print $NF}')"; }
PLAIN_SIG="$(sign "$WORK/plain.json")"
COMMAND_SIG="$(sign "$WORK/command.json")"

# The commenter is an approver listed by login: deciding needs no GitHub (dry-run, no
# token, GitHub a closed port). Nothing is blocked, so the command changes nothing.
cat > "$WORK/config.yaml" <<EOF
listen: "127.0.0.1:$BASE_PORT"
health_listen: "127.0.0.1:$((BASE_PORT + 1))"
metrics_listen: "127.0.0.1:$((BASE_PORT + 2))"
grpc_listen: "127.0.0.1:$((BASE_PORT + 3))"
dry_run: true
hmac_secret_file: $WORK/hmac
store_path: $WORK/store
github:
  endpoints: ["http://127.0.0.1:9"]
  token_file: $WORK/no-token
approvers:
  teams: []
  users: ["$AUTHOR"]
jobs:
  - name: ci-kubernetes-e2e-gce-scale-performance-100
    scopes:
      - repo: $REPO
        branch: master
sources:
  deck: { url: "" }
  gcs: { url: "" }
EOF

wait_for() {
  local deadline=$((SECONDS + 60))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ]; do
    kill -0 "$2" 2>/dev/null || { echo "load_table.sh: server exited before ready" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "load_table.sh: $1 not ready in 60 s" >&2; return 1; }
    sleep 0.05
  done
}

declare -A RPS OK NON2XX
# Waits (at most 120 s) until our consumer has drained the queue and the inbox, so each
# cell starts from an empty backlog.
drain() {
  local deadline=$((SECONDS + 120)) m
  while [ $SECONDS -lt $deadline ]; do
    m="$(curl -s "http://127.0.0.1:$((BASE_PORT + 2))/metrics" || true)"
    if echo "$m" | grep -qE '^scalability_gate_inbox_entries 0$' &&
       ! echo "$m" | grep -qE '^scalability_gate_queue_depth [1-9]'; then
      return
    fi
    sleep 0.2
  done
  echo "load_table.sh: backlog not drained in 120 s" >&2
}
drive() { # drive NAME URL BODY SIGNATURE CONNECTIONS
  local name="$1" url="$2" body="$3" sig="$4" c="$5" line requests=0 seconds=1
  wrk -t"$THREADS" -c"$c" -d"$WARMUP" --timeout 5s -s "$ROOT/benches/load/webhook.lua" \
    "$url" -- "$body" "$sig" issue_comment > /dev/null
  wrk -t"$THREADS" -c"$c" -d"$DURATION" --timeout 5s -s "$ROOT/benches/load/webhook.lua" \
    "$url" -- "$body" "$sig" issue_comment > "$WORK/$name.$c.txt"
  line="$(grep '^RESULT ' "$WORK/$name.$c.txt")"
  for kv in ${line#RESULT }; do
    case "${kv%%=*}" in
      rps) RPS[$name.$c]="${kv#*=}" ;;
      non2xx) NON2XX[$name.$c]="${kv#*=}" ;;
      requests) requests="${kv#*=}" ;;
      seconds) seconds="${kv#*=}" ;;
    esac
  done
  # Deliveries answered 2xx a second (for commands: kept in the inbox and flushed).
  OK[$name.$c]="$(awk -v r="$requests" -v e="${NON2XX[$name.$c]}" -v s="$seconds" 'BEGIN { printf "%.0f", (r - e) / s }')"
}

"$OURS" serve --config "$WORK/config.yaml" > "$WORK/ours.log" 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")
wait_for "http://127.0.0.1:$((BASE_PORT + 1))/healthz/ready" "$OURS_PID"
for c in $CONCURRENCY; do
  drain
  drive plain "http://127.0.0.1:$BASE_PORT/hook" "$WORK/plain.json" "$PLAIN_SIG" "$c"
  drain
  drive command "http://127.0.0.1:$BASE_PORT/hook" "$WORK/command.json" "$COMMAND_SIG" "$c"
done
drain
curl -s "http://127.0.0.1:$((BASE_PORT + 2))/metrics" > "$WORK/ours.metrics"
kill "$OURS_PID"
wait "$OURS_PID" 2>/dev/null || true

PEER_ADDR="127.0.0.1:$((BASE_PORT + 10))"
"$PEER" -listen "$PEER_ADDR" -hmac-secret-file "$WORK/hmac" > "$WORK/peer.log" 2>&1 &
PEER_PID=$!
PIDS+=("$PEER_PID")
wait_for "http://$PEER_ADDR/healthz" "$PEER_PID"
for c in $CONCURRENCY; do
  drive peer "http://$PEER_ADDR/hook" "$WORK/plain.json" "$PLAIN_SIG" "$c"
done
kill "$PEER_PID"
wait "$PEER_PID" 2>/dev/null || true

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "payload: $FIXTURE; command: the same comment saying /scalability-unblock; wrk -t$THREADS, $DURATION per cell after $WARMUP warm-up, loopback"
echo
printf '%-11s %13s %15s %13s %11s %16s %16s\n' connections "plain 2xx/s" "command 2xx/s" "Go peer 2xx/s" "plain/peer" "command answers/s" "non-2xx p/c/g"
for c in $CONCURRENCY; do
  awk -v c="$c" -v p="${OK[plain.$c]}" -v k="${OK[command.$c]}" -v g="${OK[peer.$c]}" \
      -v a="${RPS[command.$c]}" -v e="${NON2XX[plain.$c]}/${NON2XX[command.$c]}/${NON2XX[peer.$c]}" 'BEGIN {
    printf "%-11s %13.0f %15.0f %13.0f %11.2f %16.0f %16s\n", c, p, k, g, (g > 0 ? p / g : 0), a, e }'
done
echo
echo "our webhook outcomes (scalability_gate_webhooks_total) and inbox counters:"
grep -E '^scalability_gate_(webhooks_total|inbox)' "$WORK/ours.metrics" | sed 's/^/  /' || echo "  (none)"
