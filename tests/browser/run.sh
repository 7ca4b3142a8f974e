#!/usr/bin/env bash
# A real-browser test of the dashboard: starts the plugin binary on a temporary config,
# reports a green then a red run of the gated job through the Pub/Sub push endpoint (the
# real path: detector → gate → store), then loads GET / in headless Chromium and asserts
# what a person sees; saves a phone-sized screenshot under target/browser/.
# Exits non-zero on any failure. Needs /usr/bin/chromium (Debian's `chromium`).
set -euo pipefail
cd "$(dirname "$0")/../.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
JOB=ci-kubernetes-e2e-gce-scale-performance-100
OUT=target/browser
mkdir -p "$OUT"
WORK="$(mktemp -d)"
PLUGIN_PID=""
cleanup() {
  if [ -n "$PLUGIN_PID" ]; then kill "$PLUGIN_PID" 2>/dev/null || true; wait "$PLUGIN_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "browser test FAILED: $*" >&2; [ -f "$WORK/plugin.log" ] && tail -30 "$WORK/plugin.log" >&2; exit 1; }

echo "== building the plugin"
cargo build --locked --quiet --bin scalability-gate
BIN=target/debug/scalability-gate

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
HTTP=$(free_port); HEALTH=$(free_port); METRICS=$(free_port); GRPC=$(free_port)
echo "secret" > "$WORK/hmac"
echo "push-token" > "$WORK/push-token"
cat > "$WORK/config.yaml" <<YAML
listen: "127.0.0.1:$HTTP"
health_listen: "127.0.0.1:$HEALTH"
metrics_listen: "127.0.0.1:$METRICS"
grpc_listen: "127.0.0.1:$GRPC"
dry_run: true
hmac_secret_file: $WORK/hmac
store_path: $WORK/store
github:
  endpoints: ["http://127.0.0.1:9"]
  token_file: $WORK/no-token
tide:
  deck_url: "https://prow.k8s.io"
jobs:
  - name: $JOB
    scopes:
      - repo: kubernetes/kubernetes
        branch: master
sources:
  deck: { url: "" }
  gcs: { url: "" }
  pubsub_push: { token_file: "$WORK/push-token" }
YAML

echo "== starting the plugin on 127.0.0.1:$HTTP"
"$BIN" serve --config "$WORK/config.yaml" > "$WORK/plugin.log" 2>&1 &
PLUGIN_PID=$!
ready=""
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$HEALTH/healthz/ready" >/dev/null 2>&1; then ready=yes; break; fi
  kill -0 "$PLUGIN_PID" 2>/dev/null || fail "the plugin exited"
  sleep 0.1
done
[ -n "$ready" ] || fail "the plugin was not ready within 10 s"

push() { # build status publishTime
  local data
  data=$(printf '{"status":"%s","url":"https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/%s/%s","gcs_path":"gs://kubernetes-ci-logs/logs/%s/%s","job_type":"periodic","job_name":"%s"}' \
    "$2" "$JOB" "$1" "$JOB" "$1" "$JOB" | base64 -w0)
  curl -fsS -X POST -H 'Content-Type: application/json' \
    "http://127.0.0.1:$HTTP/pubsub/push?token=push-token" \
    -d "{\"message\":{\"data\":\"$data\",\"attributes\":{},\"messageId\":\"m-$1\",\"publishTime\":\"$3\"},\"subscription\":\"projects/p/subscriptions/s\"}" >/dev/null \
    || fail "push of run $1 refused"
}
echo "== reporting run 1001 (success) then run 1002 (failure)"
push 1001 success 2026-11-25T10:00:00Z
push 1002 failure 2026-11-25T12:00:00Z

incident=""
for _ in $(seq 1 100); do
  incident=$(curl -fsS "http://127.0.0.1:$HTTP/api/v1/status" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["incidents"][0]["id"] if s["incidents"] else "")')
  [ -n "$incident" ] && break
  sleep 0.1
done
[ -n "$incident" ] || fail "no incident opened within 10 s"
echo "incident: $incident"

chrome() {
  timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --hide-scrollbars --user-data-dir="$WORK/chrome" "$@" 2>>"$WORK/chrome.log"
}

echo "== loading the dashboard in headless Chromium"
chrome --dump-dom "http://127.0.0.1:$HTTP/" > "$OUT/dashboard.html" || fail "chromium --dump-dom failed"
# What a person reads: the page text, tags stripped.
python3 - "$OUT/dashboard.html" "$JOB" "$incident" <<'PY' || fail "the dashboard does not show the incident"
import html, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
job, incident = sys.argv[2], sys.argv[3]
text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(style|title)[^>]*>.*?</\1>", " ", dom, flags=re.S))))
wants = [
    "BLOCKED: 1 active incident",
    "merges blocked on kubernetes/kubernetes@master",
    "Active incidents",
    job,
    incident,
    "kubernetes/kubernetes branch master",
    "first red run 1002 after last green run 1001",
    "Tide merge pool",
    "✗ blocked",
    "Gated jobs",
    "History",
    "Audit log",
    "The gate's figures (30 days)",
]
missing = [w for w in wants if w not in text]
links = re.findall(r'href="([^"]+)"', dom)
for want in ["https://prow.k8s.io/tide",
             f"https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{job}/1002"]:
    if want not in links:
        missing.append("link " + want)
if 'aria-label="run 1002: failure (red)"' not in dom:
    missing.append("labelled red run in the strip")
if missing:
    print("missing: " + "; ".join(missing), file=sys.stderr)
    print(text[:3000], file=sys.stderr)
    sys.exit(1)
print("the dashboard shows: " + "; ".join(wants))
PY

echo "== phone-sized screenshot"
rm -f "$OUT/dashboard-phone.png"
chrome --screenshot="$OUT/dashboard-phone.png" --window-size=412,1400 "http://127.0.0.1:$HTTP/" >/dev/null || fail "chromium --screenshot failed"
[ -s "$OUT/dashboard-phone.png" ] || fail "no screenshot written"
echo "screenshot: $OUT/dashboard-phone.png"
echo "browser test passed"
