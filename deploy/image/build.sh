#!/usr/bin/env bash
# Builds the scalability-gate container image without a container registry: buildah from
# scratch, holding the stripped release binary, the shared libraries it links and the
# dynamic loader (as `ldd` lists them on this machine), the machine's CA certificates,
# user and group 65532, and the store directory that user owns. The same layout as
# deploy/Containerfile builds on distroless/cc-debian12:nonroot (docs/operations.md).
#
#   bash deploy/image/build.sh OUT.tar
#
# Writes OUT.tar, an `oci-archive` with gzip-compressed layers (as a registry stores
# them: load it with `podman load -i OUT.tar`, push it with
# `skopeo copy oci-archive:OUT.tar docker://REGISTRY/scalability-gate:TAG`), and beside it
# OUT.debug, the binary's debug information (`gdb` finds it through the binary's
# .gnu_debuglink when the two sit in one directory). deploy/image/probe.sh runs the image.
#
# Needs root (buildah with the vfs driver, files owned by 65532), cargo, binutils and
# buildah; installs buildah with apt-get when it is missing. Honours CARGO_TARGET_DIR.
# Idempotent: each run builds in a storage of its own, removed on exit, and replaces OUT.
set -euo pipefail

if [[ $# -ne 1 || "$1" != *.tar ]]; then
    echo "usage: $0 OUT.tar" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
out="$(realpath -m "$1")"
debug_out="${out%.tar}.debug"
mkdir -p "$(dirname "$out")"

if [[ $EUID -ne 0 ]]; then
    echo "deploy/image/build.sh: run as root (buildah's vfs storage, files owned by uid 65532)" >&2
    exit 1
fi
if ! command -v buildah >/dev/null; then
    echo "== image: installing buildah (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null
fi
for tool in objcopy strip ldd; do
    command -v "$tool" >/dev/null || {
        echo "deploy/image/build.sh: $tool not found (binutils, libc-bin)" >&2
        exit 1
    }
done

# The Deployment's ports (containerPort lines): the image exposes exactly those.
mapfile -t ports < <(sed -n 's/^ *containerPort: *\([0-9][0-9]*\) *$/\1/p' deploy/deployment.yaml)
if [[ ${#ports[@]} -eq 0 ]]; then
    echo "deploy/image/build.sh: no containerPort in deploy/deployment.yaml" >&2
    exit 1
fi

echo "== image: cargo build --release --locked --bin scalability-gate"
cargo build --release --locked --bin scalability-gate
bin="${CARGO_TARGET_DIR:-target}/release/scalability-gate"
version="$("$bin" --version | awk '{print $2}')"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# Reproducible timestamps: the commit's time, as SOURCE_DATE_EPOCH when set.
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/scalability-gate-image.XXXXXX")"
# A storage of our own: nothing shared with other buildah users, nothing left behind.
bah=(buildah --storage-driver vfs --root "$work/storage" --runroot "$work/run")
ctr=""
cleanup() {
    if [[ -n "$ctr" ]]; then
        "${bah[@]}" umount "$ctr" >/dev/null 2>&1 || true
        "${bah[@]}" rm "$ctr" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== image: root filesystem in $work/rootfs"
root="$work/rootfs"
install -d -m 0755 "$root"/{etc/ssl/certs,usr/local/bin,var/lib,home}
install -d -m 1777 "$root/tmp"

# The binary, stripped; its debug information (with the symbol table) kept outside the
# image, linked by name and CRC from the stripped binary.
install -m 0755 "$bin" "$root/usr/local/bin/scalability-gate"
objcopy --only-keep-debug "$bin" "$work/$(basename "$debug_out")"
strip --strip-all "$root/usr/local/bin/scalability-gate"
(cd "$work" && objcopy --add-gnu-debuglink="$(basename "$debug_out")" "$root/usr/local/bin/scalability-gate")
chmod 0644 "$work/$(basename "$debug_out")"

# The shared libraries and the loader, from `ldd`: "name => /path (addr)" or "/path (addr)".
# cp -L: the files themselves at the paths the loader looks them up by.
libs=()
while read -r lib; do
    libs+=("$lib")
    install -d "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
if [[ ${#libs[@]} -eq 0 ]]; then
    echo "deploy/image/build.sh: ldd listed no libraries for $bin (a static binary needs none, but this one links glibc)" >&2
    exit 1
fi

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
# Users and groups as distroless's: root, nobody, and nonroot = 65532, the Deployment's.
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
GROUP
# glibc's resolver: /etc/hosts (Kubernetes writes it) before DNS.
echo "hosts: files dns" >"$root/etc/nsswitch.conf"
chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf}
install -d -m 0700 -o 65532 -g 65532 "$root/home/nonroot"
# The store's default path, for runs without a volume (the Deployment mounts one here).
install -d -m 0750 -o 65532 -g 65532 "$root/var/lib/scalability-gate"
# Every file the same time, so that the layer depends only on the contents.
find "$root" -exec touch -h -d "@$epoch" {} +

echo "== image: buildah from scratch (vfs storage in $work)"
ctr="$("${bah[@]}" from scratch)"
mnt="$("${bah[@]}" mount "$ctr")"
cp -a "$root/." "$mnt/"
"${bah[@]}" umount "$ctr" >/dev/null

port_args=()
for p in "${ports[@]}"; do port_args+=(--port "$p/tcp"); done
"${bah[@]}" config \
    --os linux \
    --user 65532:65532 \
    --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    "${port_args[@]}" \
    --entrypoint '["/usr/local/bin/scalability-gate"]' \
    --cmd '["serve", "--config=/etc/scalability-gate/config.yaml"]' \
    --label org.opencontainers.image.title=scalability-gate \
    --label "org.opencontainers.image.description=Prow external plugin that blocks merges on scalability regressions of periodic jobs" \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    "$ctr"

echo "== image: buildah commit to oci-archive:$out (gzip layers)"
"${bah[@]}" commit --quiet --format oci --disable-compression=false --timestamp "$epoch" \
    "$ctr" "oci-archive:$work/image.tar:scalability-gate:$version" >/dev/null
mv -f "$work/image.tar" "$out"
mv -f "$work/$(basename "$debug_out")" "$debug_out"

size="$(stat -c %s "$out")"
echo "image: $out ($size bytes, $(numfmt --to=iec-i --suffix=B "$size")), scalability-gate:$version"
echo "binary: $(stat -c %s "$bin") bytes unstripped, $(stat -c %s "$root/usr/local/bin/scalability-gate") bytes stripped; debug information in $debug_out"
echo "libraries: ${libs[*]}"
