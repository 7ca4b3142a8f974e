#!/usr/bin/env bash
# Builds the fuzz corpora in fuzz/corpus/<target>/ from the shared fixtures (read at run
# time from ../shared/fixtures beside the project, never copied into the repository) and
# from the small seeds of our own in fuzz/seeds/<target>/. Idempotent: files already in a
# corpus (what earlier runs found) are kept. Under CI=true missing fixtures are an error.
set -euo pipefail
cd "$(dirname "$0")"
fixtures="$(cd .. && pwd)/../shared/fixtures"

targets=(command webhook hmac tide_config prowjobs culprit markers crier gcs_metadata push)
targets+=(junit)   # the JUnit parser (seeds: e2e-form files of our own)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cp seeds/"$t"/* "corpus/$t/"
done

if [ ! -d "$fixtures" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "seed.sh: $fixtures is missing, and CI=true requires it" >&2
    exit 1
  fi
  echo "seed.sh: skipping the fixtures: $fixtures is missing" >&2
  exit 0
fi

n=0
add() { # add TARGET NAME [PREFIX] < content
  local out="corpus/$1/fixture-$2"
  { [ -z "${3:-}" ] || printf '%s' "$3"; cat; } >"$out"
  n=$((n + 1))
}

# Webhooks: "<X-GitHub-Event>\n<body>", the event named by the file (issue_comment.created.json).
for f in "$fixtures"/github-webhooks/*.json; do
  name="$(basename "$f")"
  add webhook "$name" "${name%%.*}"$'\n' <"$f"
  # The same JSON as a prowjobs.js body (first byte: how it is cut into reads): unknown
  # keys and deep nesting, to be skipped.
  add prowjobs "$name" $'\x05' <"$f"
  # Comment bodies and titles are Markdown: command lines, quotes, code.
  add command "$name" <"$f"
  # PR titles and bodies for revert detection, issue bodies for markers: the same JSON.
  add culprit "$name" <"$f"
  add markers "$name" <"$f"
done
# The fixture READMEs are Markdown with code spans and tables.
for f in "$fixtures"/*/README.md; do
  add command "$(basename "$(dirname "$f")")-README.md" <"$f"
done
# Prow's real config excerpts: the Tide config parser, and YAML maps for the HMAC file.
for f in "$fixtures"/prow/*.yaml; do
  add tide_config "$(basename "$f")" <"$f"
  add hmac "$(basename "$f")" <"$f"
done
echo "seed.sh: $n fixture seeds from $fixtures, plus fuzz/seeds/"
