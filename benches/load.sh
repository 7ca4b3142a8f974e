#!/usr/bin/env bash
# Webhook load from a second process over loopback: our plugin against a Go peer.
#
# Builds the plugin in release and the Go peer (benches/peer, standard library only),
# starts each on 127.0.0.1 with the same fresh HMAC token, and drives both with wrk
# (benches/load/webhook.lua) with the SAME signed payload: a real GitHub webhook read at
# run time from the shared fixtures (never copied into the repository), a fresh
# X-GitHub-Delivery per request. Prints, for both, requests/s, p50/p90/p99 latency,
# non-2xx answers, RSS idle (after ready) and peak (VmHWM after the load), and our
# figures as ratios to the peer's.
#
# Our plugin runs in dry-run, its GitHub endpoint a closed loopback port and no token,
# Deck, GCS and every other result source off: nothing leaves the machine. Its answers by
# outcome (accepted, queue full, ...) are read from its own metrics after the run.
#
#   bash benches/load.sh
#
# Knobs (environment): CONNECTIONS (16), THREADS (1: wrk shares the cores with the
# server), DURATION (10s), WARMUP (2s), FIXTURE (github-webhooks/issue_comment.created.json,
# relative to FIXTURES = ../shared/fixtures), EVENT (from the fixture's file name),
# BASE_PORT (18800: our plugin takes BASE_PORT..+3, the peer +10), NO_BUILD=1 (use the
# binaries already built), KEEP=1 (keep the work directory with the logs).
#
# wrk is closed-loop: its latencies are those of requests it managed to send (no
# coordinated-omission correction). Figures depend on the machine: docs/performance.md
# names the one they were taken on.

set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FIXTURES="${FIXTURES:-$ROOT/../shared/fixtures}"
FIXTURE="${FIXTURE:-github-webhooks/issue_comment.created.json}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-1}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
BASE_PORT="${BASE_PORT:-18800}"

BODY="$FIXTURES/$FIXTURE"
EVENT="${EVENT:-$(basename "$FIXTURE" | cut -d. -f1)}"
[ -r "$BODY" ] || { echo "load.sh: fixture $BODY not readable (set FIXTURES or FIXTURE)" >&2; exit 2; }

# --- tools, work directory, build (benches/load/setup.sh) ----------------------------
# shellcheck source=benches/load/setup.sh
source "$ROOT/benches/load/setup.sh"
load_setup scalability-gate-load

# --- the shared secret and the signed payload ----------------------------------------
TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$TOKEN" > "$WORK/hmac"
SIGNATURE="sha256=$(openssl dgst -sha256 -hmac "$TOKEN" < "$BODY" | awk '{print $NF}')"
# Gate the fixture's own repository, so the event goes the whole way through the gate.
REPO="$(grep -o '"full_name": *"[^"]*"' "$BODY" | tail -1 | sed 's/.*: *"\(.*\)"/\1/')"
REPO="${REPO:-kubernetes/kubernetes}"

cat > "$WORK/config.yaml" <<EOF
listen: "127.0.0.1:$BASE_PORT"
health_listen: "127.0.0.1:$((BASE_PORT + 1))"
metrics_listen: "127.0.0.1:$((BASE_PORT + 2))"
grpc_listen: "127.0.0.1:$((BASE_PORT + 3))"
dry_run: true
hmac_secret_file: $WORK/hmac
store_path: $WORK/store
github:
  endpoints: ["http://127.0.0.1:9"]   # discard port: nothing listens, nothing leaves
  token_file: $WORK/no-token
jobs:
  - name: ci-kubernetes-e2e-gce-scale-performance-100
    scopes:
      - repo: $REPO
        branch: master
sources:
  deck: { url: "" }
  gcs: { url: "" }
EOF

# --- helpers -------------------------------------------------------------------------
kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$2/status"; }

wait_for() { # wait_for URL PID: polls until URL answers 200, at most 60 s
  local deadline=$((SECONDS + 60))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ]; do
    kill -0 "$2" 2>/dev/null || { echo "load.sh: server exited before ready" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "load.sh: $1 not ready within 60 s" >&2; return 1; }
    sleep 0.05
  done
}

declare -A FIG
run_load() { # run_load NAME URL PID
  local name="$1" url="$2" pid="$3"
  sleep 1 # let start-up allocations settle before reading the idle figure
  FIG[$name.rss_idle]="$(kb VmRSS "$pid")"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout 5s -s "$ROOT/benches/load/webhook.lua" \
    "$url" -- "$BODY" "$SIGNATURE" "$EVENT" > "$WORK/$name.warmup.txt"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s -s "$ROOT/benches/load/webhook.lua" \
    "$url" -- "$BODY" "$SIGNATURE" "$EVENT" > "$WORK/$name.wrk.txt"
  FIG[$name.rss_after]="$(kb VmRSS "$pid")"
  FIG[$name.rss_peak]="$(kb VmHWM "$pid")"
  local line
  line="$(grep '^RESULT ' "$WORK/$name.wrk.txt")"
  for kv in ${line#RESULT }; do FIG[$name.${kv%%=*}]="${kv#*=}"; done
}

# --- our plugin ----------------------------------------------------------------------
"$OURS" serve --config "$WORK/config.yaml" > "$WORK/ours.log" 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")
wait_for "http://127.0.0.1:$((BASE_PORT + 1))/healthz/ready" "$OURS_PID"
run_load ours "http://127.0.0.1:$BASE_PORT/hook" "$OURS_PID"
curl -s "http://127.0.0.1:$((BASE_PORT + 2))/metrics" > "$WORK/ours.metrics"
kill "$OURS_PID"
wait "$OURS_PID" 2>/dev/null || true

# --- the Go peer ---------------------------------------------------------------------
PEER_ADDR="127.0.0.1:$((BASE_PORT + 10))"
"$PEER" -listen "$PEER_ADDR" -hmac-secret-file "$WORK/hmac" > "$WORK/peer.log" 2>&1 &
PEER_PID=$!
PIDS+=("$PEER_PID")
wait_for "http://$PEER_ADDR/healthz" "$PEER_PID"
run_load peer "http://$PEER_ADDR/hook" "$PEER_PID"
kill "$PEER_PID"
wait "$PEER_PID" 2>/dev/null || true

# --- report --------------------------------------------------------------------------
row() { # row LABEL KEY SCALE UNIT
  awk -v l="$1" -v o="${FIG[ours.$2]}" -v p="${FIG[peer.$2]}" -v s="$3" -v u="$4" 'BEGIN {
    r = (p > 0) ? sprintf("%.2f", o / p) : "-"
    printf "%-22s %12.2f %12.2f %10s  %s\n", l, o / s, p / s, r, u }'
}
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "payload: $FIXTURE ($(wc -c < "$BODY") bytes, X-GitHub-Event: $EVENT, repo $REPO), one fresh delivery id per request"
echo "load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION over loopback after a $WARMUP warm-up; same HMAC token and signed body for both"
echo
printf '%-22s %12s %12s %10s\n' "" "ours" "Go peer" "ours/peer"
row "requests/s" rps 1 ""
row "latency p50" p50_us 1000 ms
row "latency p90" p90_us 1000 ms
row "latency p99" p99_us 1000 ms
row "RSS idle (ready)" rss_idle 1024 MiB
row "RSS after load" rss_after 1024 MiB
row "RSS peak (VmHWM)" rss_peak 1024 MiB
printf '%-22s %12s %12s\n' "requests" "${FIG[ours.requests]}" "${FIG[peer.requests]}"
printf '%-22s %12s %12s\n' "non-2xx answers" "${FIG[ours.non2xx]}" "${FIG[peer.non2xx]}"
for k in connect_errors read_errors write_errors timeouts; do
  printf '%-22s %12s %12s\n' "socket $k" "${FIG[ours.$k]}" "${FIG[peer.$k]}"
done
echo
echo "our webhook outcomes over warm-up + run (scalability_gate_webhooks_total):"
grep '^scalability_gate_webhooks_total' "$WORK/ours.metrics" | sed 's/^/  /' || echo "  (none)"
