# Sourced by benches/load.sh and benches/load_table.sh: the tools they need (installed
# with apt-get when missing), a work directory removed on exit (kept with KEEP=1) with
# every process in PIDS killed, and the release plugin and Go peer built (NO_BUILD=1
# uses the binaries already built). Expects ROOT; sets WORK, PIDS, OURS and PEER.

need() { # need COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null 2>&1 && return
  echo "$(basename "$0"): installing $2 (for $1)" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}

load_cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}

load_setup() { # load_setup WORK-DIRECTORY-PREFIX
  need wrk wrk
  need go golang-go
  need openssl openssl
  need curl curl
  WORK="$(mktemp -d -t "$1.XXXXXX")"
  PIDS=()
  trap load_cleanup EXIT
  OURS="${OURS:-$ROOT/target/release/scalability-gate}"
  PEER="$ROOT/target/release/scalability-gate-peer"
  if [ "${NO_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release --locked --quiet --bin scalability-gate)
    (cd "$ROOT/benches/peer" && go build -trimpath -o "$PEER" .)
  fi
  [ -x "$PEER" ] || (cd "$ROOT/benches/peer" && go build -trimpath -o "$PEER" .)
}
