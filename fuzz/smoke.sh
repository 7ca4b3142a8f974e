#!/usr/bin/env bash
# CI smoke of the fuzz targets: installs cargo-fuzz if missing (pinned), builds the
# corpora (seed.sh), then runs every target for a fixed number of executions from a fixed
# seed, failing on any crash (panic, failed property, timeout or out-of-memory).
#
# It runs on the stable toolchain: `--sanitizer none` passes no `-Z` flag, so no nightly
# is needed (AddressSanitizer would need `-Zsanitizer`, i.e. nightly or
# RUSTC_BOOTSTRAP=1; the crate forbids unsafe code, so the smoke goes without it).
# `--dev` keeps the cold build short (cargo-fuzz's release build uses one codegen unit).
#
#   FUZZ_RUNS=N   executions per target after the seeds (default 1000)
#   FUZZ_SEED=N   libFuzzer's random seed (default 1: the same runs every time)
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
runs="${FUZZ_RUNS:-1000}"
seed="${FUZZ_SEED:-1}"
targets=(command webhook hmac tide_config prowjobs culprit markers crier gcs_metadata push)
targets+=(junit)   # the JUnit parser (seeds: e2e-form files of our own)

if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

echo "== fuzz format (the fuzz crate is not in the main workspace's cargo fmt)"
cargo fmt -- --check

echo "== fuzz corpora"
bash seed.sh

flags=(--dev --sanitizer none)
echo "== fuzz build"
cargo fuzz build "${flags[@]}"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  start=$SECONDS
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: 2 GB is a leak or a bomb.
  if cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
    -runs="$runs" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1; then
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    echo "fuzz $t: ${execs:-?} executions, seed $seed, $((SECONDS - start)) s, no crash"
  else
    tail -n 40 "$log" >&2
    echo "fuzz target $t crashed; the input is in fuzz/artifacts/$t/" >&2
    echo "(reproduce: cargo fuzz run ${flags[*]} $t fuzz/artifacts/$t/<file>)" >&2
    exit 1
  fi
done
echo "== fuzz smoke: every target ran $runs executions without a crash"
