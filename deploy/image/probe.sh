#!/usr/bin/env bash
# Runs the image deploy/image/build.sh wrote, the way the Deployment runs it, without a
# container runtime (this project's CI machines cannot start one): unpacks the layers of the
# oci-archive into a root filesystem, checks the image's configuration against
# deploy/deployment.yaml, then runs its entrypoint as uid/gid 65532 chrooted there, with
# deploy/config.yaml on loopback ports, an HMAC secret and the image's own store directory,
# and asks it what the kubelet and hook ask: /healthz, /healthz/ready, POST /help. Checks
# `--version`, a clean stop on SIGTERM, and that the archive weighs at most 20 MB.
#
#   bash deploy/image/probe.sh OUT.tar
#
# Needs root (chroot, the layer's owners), python3, curl and readelf. Only 127.0.0.1; the
# ports are free ones the kernel hands out. The process it starts is stopped on exit.
set -euo pipefail

MAX_BYTES=20000000 # 20 MB: what a pull of the image costs, compressed as a registry keeps it

if [[ $# -ne 1 ]]; then
    echo "usage: $0 IMAGE.tar" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
archive="$(realpath "$1")"
if [[ $EUID -ne 0 ]]; then
    echo "deploy/image/probe.sh: run as root (chroot, files owned by uid 65532)" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/scalability-gate-probe.XXXXXX")"
pid=""
stop() {
    # SIGTERM as the kubelet sends it; SIGKILL if it outlives the grace period.
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    local rc=0
    wait "$pid" || rc=$?
    pid=""
    return "$rc"
}
cleanup() {
    stop || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "deploy/image/probe.sh: FAILED: $*" >&2
    if [[ -s "$work/plugin.log" ]]; then
        echo "--- the plugin's log (last 40 lines)" >&2
        tail -n 40 "$work/plugin.log" >&2
    fi
    exit 1
}
ok() { echo "ok: $*"; }

size="$(stat -c %s "$archive")"
echo "== probe: $archive: $size bytes ($(numfmt --to=iec-i --suffix=B "$size"))"

echo "== probe: unpack the oci-archive's layers into a root filesystem"
mkdir -p "$work/oci" "$work/rootfs"
tar -xf "$archive" -C "$work/oci"
# index.json -> manifest -> config and layers; every layer must be compressed.
python3 - "$work/oci" >"$work/layout" <<'PY' || fail "the archive is not a one-image OCI layout"
import json, os, sys
oci = sys.argv[1]
blob = lambda d: os.path.join(oci, "blobs", *d.split(":", 1))
index = json.load(open(os.path.join(oci, "index.json")))
assert len(index["manifests"]) == 1, "one image per archive"
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
print("config", blob(manifest["config"]["digest"]))
for layer in manifest["layers"]:
    media = layer["mediaType"]
    assert media.endswith("+gzip") or media.endswith("+zstd"), f"uncompressed layer: {media}"
    print("layer", blob(layer["digest"]), layer["size"], media)
PY
config_json="$(awk '$1 == "config" {print $2}' "$work/layout")"
layers=0
while read -r _ path bytes media; do
    # grep without -q reads to the end: no SIGPIPE for tar to turn into a pipefail.
    if tar -tzf "$path" | grep '\(^\|/\)\.wh\.' >/dev/null; then
        fail "a layer deletes files (whiteouts): the image is not built from scratch in one layer"
    fi
    tar -xzf "$path" -C "$work/rootfs" --same-owner --same-permissions --numeric-owner
    echo "layer $(basename "$path" | cut -c1-12): $bytes bytes ($media)"
    layers=$((layers + 1))
done < <(awk '$1 == "layer"' "$work/layout")
echo "unpacked: $layers layer(s), $(du -sb "$work/rootfs" | cut -f1) bytes on disk"

echo "== probe: the image's configuration against deploy/deployment.yaml"
run_as="$(sed -n 's/^ *runAsUser: *\([0-9]*\)$/\1/p' deploy/deployment.yaml | head -n1):$(sed -n 's/^ *runAsGroup: *\([0-9]*\)$/\1/p' deploy/deployment.yaml | head -n1)"
deploy_ports="$(sed -n 's/^ *containerPort: *\([0-9][0-9]*\) *$/\1/p' deploy/deployment.yaml | sort -n | tr '\n' ' ')"
python3 - "$config_json" "$run_as" "$deploy_ports" >"$work/entry" <<'PY' || fail "image configuration"
import json, sys
cfg = json.load(open(sys.argv[1]))["config"]
run_as, ports = sys.argv[2], sorted(int(p) for p in sys.argv[3].split())
exposed = sorted(int(p.split("/")[0]) for p in cfg.get("ExposedPorts", {}))
errors = []
if cfg.get("User") != run_as:
    errors.append(f"User {cfg.get('User')!r}, the Deployment runs as {run_as}")
if exposed != ports:
    errors.append(f"exposes {exposed}, the Deployment's containerPorts are {ports}")
if cfg.get("Entrypoint") != ["/usr/local/bin/scalability-gate"]:
    errors.append(f"Entrypoint {cfg.get('Entrypoint')}")
if (cfg.get("Cmd") or [""])[0] != "serve":
    errors.append(f"Cmd {cfg.get('Cmd')}")
for e in errors:
    print("image configuration:", e, file=sys.stderr)
if errors:
    sys.exit(1)
# The entrypoint and its default arguments, one a line, for the run below.
print("\n".join(cfg["Entrypoint"] + cfg["Cmd"]))
PY
ok "user $run_as, ports ${deploy_ports% }, entrypoint $(tr '\n' ' ' <"$work/entry")"

rootfs="$work/rootfs"
binary="$rootfs/usr/local/bin/scalability-gate"
sections="$(readelf -S -W "$binary")"
# Debug information and the symbol table; not .debug_gdb_scripts, a few loaded bytes that
# name gdb's pretty-printers, which strip keeps.
unstripped="$(grep -o -E ' \.(debug_[a-z_]+|symtab) ' <<<"$sections" | grep -v -x ' .debug_gdb_scripts ' || true)"
[[ -z "$unstripped" ]] || fail "the binary is not stripped:$(tr -d '\n' <<<"$unstripped")"

grep -q ' \.gnu_debuglink ' <<<"$sections" || fail "the binary has no .gnu_debuglink to its debug file"
ok "binary stripped ($(stat -c %s "$binary") bytes), with a .gnu_debuglink"
[[ "$(stat -c %u:%g "$rootfs/var/lib/scalability-gate")" == "65532:65532" ]] ||
    fail "/var/lib/scalability-gate is not owned by 65532:65532"
[[ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ]] || fail "no CA certificates"
grep -q '^nonroot:x:65532:65532:' "$rootfs/etc/passwd" || fail "no user 65532 in /etc/passwd"
grep -q '^nonroot:x:65532:' "$rootfs/etc/group" || fail "no group 65532 in /etc/group"
ok "store directory owned by 65532, CA certificates, /etc/passwd and /etc/group"

# As the kubelet runs it: the image's user, an empty environment but for the Deployment's.
in_image=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/nonroot RUST_LOG=info
    "$(command -v chroot)" --userspec=65532:65532 --groups=65532 "$rootfs")

echo "== probe: --version"
want="scalability-gate $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
got="$("${in_image[@]}" /usr/local/bin/scalability-gate --version)" || fail "--version failed in the image"
[[ "$got" == "$want" ]] || fail "--version printed '$got', Cargo.toml says '$want'"
ok "$got"

echo "== probe: serve, on loopback"
# Five free ports: four listeners and one where nothing listens (GitHub, Deck, GCS).
read -r http health metrics grpc closed < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')
nowhere="http://127.0.0.1:$closed"
install -d -m 0755 "$rootfs/etc/scalability-gate" "$rootfs/etc/webhook"
sed -e "s/^listen: \"0.0.0.0:8888\"/listen: \"127.0.0.1:$http\"/" \
    -e "s/^health_listen: \"0.0.0.0:8081\"/health_listen: \"127.0.0.1:$health\"/" \
    -e "s/^metrics_listen: \"0.0.0.0:9090\"/metrics_listen: \"127.0.0.1:$metrics\"/" \
    -e "s/^grpc_listen: \"0.0.0.0:9000\"/grpc_listen: \"127.0.0.1:$grpc\"/" \
    -e "s#^  endpoints: \[.*\]#  endpoints: [\"$nowhere\"]#" \
    -e "s#url: \"https://[^\"]*\"#url: \"$nowhere\"#g" \
    deploy/config.yaml >"$rootfs/etc/scalability-gate/config.yaml"
# Every address now loopback: a deploy/config.yaml the substitutions miss fails here.
if sed -e 's/[[:space:]]#.*$//' "$rootfs/etc/scalability-gate/config.yaml" |
    grep -n -E '0\.0\.0\.0|https?://[a-z]'; then
    fail "deploy/config.yaml changed: the probe's loopback substitutions above missed these lines"
fi
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$rootfs/etc/webhook/hmac"
chown 65532:65532 "$rootfs/etc/webhook/hmac"
chmod 0400 "$rootfs/etc/webhook/hmac"

mapfile -t entry <"$work/entry"
"${in_image[@]}" "${entry[@]}" --dry-run=true >"$work/plugin.log" 2>&1 &
pid=$!
echo "started: ${entry[*]} --dry-run=true (pid $pid, chroot $rootfs, uid 65532)"
# Up within the Deployment's startupProbe budget (60 x 2 s).
up=""
for _ in $(seq 1200); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" || true; pid=""; fail "the plugin exited while starting"; }
    if curl -fsS --max-time 2 "http://127.0.0.1:$health/healthz/ready" >/dev/null 2>&1; then
        up=yes
        break
    fi
    sleep 0.1
done
[[ -n "$up" ]] || fail "not ready within 120 s"

body="$(curl -fsS --max-time 10 "http://127.0.0.1:$health/healthz")" || fail "GET /healthz"
ok "GET /healthz: $body"
body="$(curl -fsS --max-time 10 "http://127.0.0.1:$health/healthz/ready")" || fail "GET /healthz/ready"
ok "GET /healthz/ready: $body"
curl -fsS --max-time 10 -X POST -H 'content-type: application/json' --data null \
    "http://127.0.0.1:$http/help" >"$work/help.json" || fail "POST /help"
python3 -c '
import json, sys
help = json.load(open(sys.argv[1]))
assert isinstance(help.get("Commands"), list) and help["Commands"], "no Commands"
print(len(help["Commands"]), "commands")
' "$work/help.json" >"$work/help.txt" || fail "POST /help: not Prow's PluginHelp JSON: $(head -c 300 "$work/help.json")"
ok "POST /help: $(cat "$work/help.txt")"
curl -fsS --max-time 10 "http://127.0.0.1:$metrics/metrics" >"$work/metrics.txt" || fail "GET /metrics"
grep -q '^# TYPE ' "$work/metrics.txt" || fail "GET /metrics: no Prometheus text"
ok "GET /metrics"
grep -q '"dry_run":true\|dry_run=true' "$work/plugin.log" || fail "the ready line does not say dry_run true"
ok "dry-run, as the Deployment starts it"

echo "== probe: SIGTERM"
rc=0
stop || rc=$?
[[ $rc -eq 0 ]] || fail "exit status $rc after SIGTERM (want 0: drained and flushed)"
ok "stopped cleanly on SIGTERM"
[[ -n "$(find "$rootfs/var/lib/scalability-gate" -mindepth 1 -user 65532 -print -quit)" ]] ||
    fail "nothing written to the store by uid 65532"
ok "store written by uid 65532 ($(du -sb "$rootfs/var/lib/scalability-gate" | cut -f1) bytes)"

echo "== probe: size"
echo "image: $size bytes ($(numfmt --to=iec-i --suffix=B "$size"), $(numfmt --to=si --suffix=B "$size")); at most $MAX_BYTES"
if ((size > MAX_BYTES)); then
    fail "the image weighs $size bytes, more than $MAX_BYTES"
fi
ok "image within 20 MB"
echo "probe: all checks passed"
