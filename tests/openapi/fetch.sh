#!/usr/bin/env bash
# Puts GitHub's published OpenAPI description of api.github.com into an ignored cache, for
# the conformance check of the fake GitHub (tests/openapi.rs). Never commit the file.
#
#   bash tests/openapi/fetch.sh            # -> target/openapi/api.github.com.json
#   OPENAPI_SPEC=/some/path.json bash tests/openapi/fetch.sh
#
# Source: the npm package @octokit/openapi, which carries generated/api.github.com.json
# built from github/rest-api-description. Pinned to 23.0.2, the newest release when the
# check was written (tagged `latest` at the time): a pinned version keeps CI reproducible
# (a new upstream description cannot turn CI red on its own), and moving it is a one-line
# change here, made on purpose, with the errata in tests/openapi.rs reviewed alongside.
# The tarball's integrity is checked against the hash npm published for that version.
# Idempotent: does nothing when the file for this version is already in place.
set -euo pipefail
cd "$(dirname "$0")/../.."

version="23.0.2"
integrity="sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
out="${OPENAPI_SPEC:-target/openapi/api.github.com.json}"
stamp="$out.version"

if [ -s "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  echo "present: $out (@octokit/openapi $version)"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to fetch @octokit/openapi" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@octokit/openapi@$version" >/dev/null)
tarball="$work/octokit-openapi-$version.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$integrity" ]; then
  echo "error: @octokit/openapi $version: integrity $actual, expected $integrity" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/generated/api.github.com.json
mkdir -p "$(dirname "$out")"
mv "$work/package/generated/api.github.com.json" "$out.tmp"
mv "$out.tmp" "$out"
echo "$version" >"$stamp"
echo "fetched: $out (@octokit/openapi $version)"
