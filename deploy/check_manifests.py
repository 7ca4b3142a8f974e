#!/usr/bin/env python3
"""Checks the rendered kustomize base (deploy/) against the Kubernetes API and the plugin.

Run by deploy/test.sh; reads the output of `kubectl kustomize deploy`:

1. every object validates against the Kubernetes API's OpenAPI schemas, offline and
   strictly (unknown fields are errors), for each version given with --kube-version;
2. the configuration in the generated ConfigMap loads with the real binary
   (`scalability-gate serve <the container's args> --check-config`), and the effective
   configuration it prints is what the manifests are checked against: listener ports vs
   container ports, probes, the Service and the scrape annotation; secret, config and
   store paths vs volume mounts; the drain bound vs terminationGracePeriodSeconds;
3. the pod runs as Prow's plugins should (one replica, Recreate, non-root, read-only
   root filesystem, no capabilities, RuntimeDefault seccomp, no API token, resources);
4. the container build file runs as the same user and exposes the same ports;
5. gRPC writes are guarded: api.token_file is set and mounted from the API token Secret,
   and the NetworkPolicy admits the gRPC port only from a namespace chosen by its labels
   while the webhook, health and metrics ports stay open to every source.

Every failed check is printed; the exit status is 1 when any failed, 2 on unusable input.
"""

from __future__ import annotations

import argparse
import copy
import os
import posixpath
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

import kubernetes_validate
import yaml

# Prow's conventions: the file names inside the mounted Secrets, the secret
# names hook's plugins share, and the ConfigMap Prow keeps its own config in.
HMAC_SECRET = ("hmac-token", "hmac")
GITHUB_SECRET = ("github-token", "oauth")
PROW_CONFIG_MAP = ("config", "config.yaml")
API_SECRET = ("scalability-gate-api-token", "token")
SERVICE_HTTP_PORT = 80
# Time the store needs to flush after the queue drained, on top of the drain bound.
FLUSH_MARGIN_SECONDS = 10


@dataclass
class Report:
    """Collects the outcome of every check."""

    passed: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failures.append(what)
            print(f"FAIL  {what}")
        return ok


def die(message: str) -> None:
    print(f"check_manifests: {message}", file=sys.stderr)
    sys.exit(2)


def one(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o.get("kind") == kind]
    if len(found) != 1:
        die(f"expected exactly one {kind} in the rendered base, found {len(found)}")
    return found[0]


def port_of(listen: str) -> int:
    """The port of a `host:port` listen address as the binary prints it."""
    return int(str(listen).rsplit(":", 1)[1])


def validate_schemas(report: Report, objects: list[dict], versions: list[str]) -> None:
    for version in versions:
        for obj in objects:
            name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
                report.check(True, f"{name} is valid against Kubernetes {version} (strict)")
            except kubernetes_validate.SchemaNotFoundError:
                report.check(False, f"{name}: no Kubernetes {version} schema for this kind")
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path)
                report.check(
                    False, f"{name} invalid against Kubernetes {version}: {path}: {error.message}"
                )


def flag_value(args: list[str], flag: str) -> str | None:
    """The value of `--flag=V` or `--flag V` in a container's args."""
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def effective_config(binary: str, args: list[str], config_text: str) -> dict:
    """Runs the binary with the container's own args on the ConfigMap's content.

    `--check-config` insists on a readable HMAC secret file (a plugin that cannot verify a
    webhook must not start), and the Secret exists only in the cluster. So the check runs
    with a throw-away token through `--hmac-secret-file`, and the path the pod reads is
    taken from where the pod gets it: its own `--hmac-secret-file` flag, else the file's
    `hmac_secret_file`, which the deployed config must then name explicitly.
    """
    raw = yaml.safe_load(config_text)
    if not isinstance(raw, dict):
        die("the ConfigMap's config is not a YAML map")
    pod_hmac = flag_value(args, "--hmac-secret-file") or raw.get("hmac_secret_file")
    if not pod_hmac:
        die("the deployed config must name hmac_secret_file (or the args --hmac-secret-file)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(config_text)
        hmac = os.path.join(tmp, "hmac")
        with open(hmac, "w", encoding="utf-8") as f:
            f.write("check-manifests-throw-away-token\n")
        argv = [binary]
        skip_next = False
        for arg in args:
            if skip_next:
                skip_next = False
                continue
            if arg in ("--config", "--hmac-secret-file"):
                skip_next = True
            elif not arg.startswith(("--config=", "--hmac-secret-file=")):
                argv.append(arg)
        argv += [f"--config={path}", f"--hmac-secret-file={hmac}", "--check-config"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCALABILITY_GATE")}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            die(
                f"the ConfigMap's config does not load: {' '.join(argv)} exited "
                f"{done.returncode}:\n{done.stderr}"
            )
        loaded = yaml.safe_load(done.stdout)
        if not isinstance(loaded, dict):
            die(f"--check-config printed no configuration:\n{done.stdout}")
        if loaded.get("hmac_secret_file") != hmac:
            die("--hmac-secret-file did not reach the effective configuration")
        loaded["hmac_secret_file"] = pod_hmac
        return loaded


def mount_for(container: dict, path: str) -> dict | None:
    """The volume mount that holds `path` (the longest mountPath prefix), if any."""
    best = None
    for mount in container.get("volumeMounts", []):
        mount_path = mount["mountPath"].rstrip("/") or "/"
        if path == mount_path or path.startswith(mount_path + "/"):
            if best is None or len(mount_path) > len(best["mountPath"]):
                best = mount
    return best


def file_in_volume(volume: dict, file_name: str) -> bool:
    """Whether a Secret/ConfigMap volume projects a file of that name at its root."""
    source = volume.get("secret") or volume.get("configMap") or {}
    items = source.get("items")
    if items is None:
        return True  # every key becomes a file; the key is checked by the caller's name
    return any(item.get("path") == file_name for item in items)


def check_file_mount(
    report: Report,
    container: dict,
    volumes: dict[str, dict],
    key: str,
    path: str,
    want: tuple[str, str, str] | None,
) -> None:
    """`path` (from config key `key`) is on a read-only mount of the wanted source."""
    mount = mount_for(container, path)
    if not report.check(mount is not None, f"{key} {path} is on a volume mount"):
        return
    volume = volumes.get(mount["name"], {})
    report.check(mount.get("readOnly") is True, f"{key}: mount {mount['mountPath']} is read-only")
    if want is None:
        return
    kind, name, file_name = want
    source = volume.get(kind, {})
    actual = source.get("secretName") if kind == "secret" else source.get("name")
    report.check(
        actual == name, f"{key}: {mount['mountPath']} comes from {kind} {name!r} (is {actual!r})"
    )
    report.check(
        posixpath.dirname(path) == mount["mountPath"].rstrip("/")
        and posixpath.basename(path) == file_name
        and file_in_volume(volume, file_name),
        f"{key}: {path} is key {file_name!r} of {kind} {name!r} at the mount's root",
    )


def resolve_port(container: dict, port: Any) -> int | None:
    """A probe's or Service's target port, by name or number, as a container port number."""
    for p in container.get("ports", []):
        if p.get("name") == port or p.get("containerPort") == port:
            return p["containerPort"]
    return None


def check_deployment(
    report: Report,
    objects: list[dict],
    binary: str,
    drain_seconds: int,
) -> tuple[dict, dict]:
    deployment = one(objects, "Deployment")
    service = one(objects, "Service")
    pvc = one(objects, "PersistentVolumeClaim")
    account = one(objects, "ServiceAccount")
    config_map = one(objects, "ConfigMap")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    containers = pod["containers"]
    if len(containers) != 1:
        die(f"expected one container in the Deployment, found {len(containers)}")
    container = containers[0]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}

    namespaces = {o["metadata"].get("namespace") for o in objects}
    report.check(
        len(namespaces) == 1 and None not in namespaces,
        f"every object is in one namespace (hook's): {sorted(map(str, namespaces))}",
    )

    # Shape: one writer, nothing overlapping.
    report.check(spec.get("replicas") == 1, "one replica (sled has one writer)")
    report.check(spec.get("strategy", {}).get("type") == "Recreate", "strategy Recreate")

    # The configuration the pod runs with, through the real binary.
    args = container.get("args", [])
    report.check(args[:1] == ["serve"], f"the container runs `serve` (args {args})")
    config_arg = next(
        (a.split("=", 1)[1] for a in args if a.startswith("--config=")),
        args[args.index("--config") + 1] if "--config" in args else None,
    )
    if config_arg is None:
        die("the container's args give no --config")
    mount = mount_for(container, config_arg)
    if mount is None:
        die(f"--config {config_arg} is on no volume mount")
    config_volume = volumes.get(mount["name"], {})
    report.check(
        config_volume.get("configMap", {}).get("name") == config_map["metadata"]["name"],
        f"--config {config_arg} is mounted from the generated ConfigMap "
        f"{config_map['metadata']['name']}",
    )
    config_key = posixpath.basename(config_arg)
    if config_key not in config_map.get("data", {}):
        die(f"ConfigMap {config_map['metadata']['name']} has no key {config_key}")
    config = effective_config(binary, args, config_map["data"][config_key])
    report.check(True, f"the ConfigMap's {config_key} loads with `serve --check-config`")
    report.check(
        "--dry-run=true" in args and config.get("dry_run") is True,
        "the base deploys in dry-run (--dry-run=true; going live is an explicit change)",
    )

    # Ports: listeners ↔ container ports ↔ probes ↔ Service ↔ scrape annotation.
    named = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    wanted = {
        "http": port_of(config["listen"]),
        "health": port_of(config["health_listen"]),
        "metrics": port_of(config["metrics_listen"]),
        "grpc": port_of(config["grpc_listen"]),
    }
    for name, number in wanted.items():
        report.check(
            named.get(name) == number,
            f"container port {name} is {number} (is {named.get(name)})",
        )
    for probe_name, path in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/healthz/ready"),
    ]:
        probe = container.get(probe_name)
        if not report.check(probe is not None, f"{probe_name} is set"):
            continue
        get = probe.get("httpGet", {})
        report.check(
            get.get("path") == path and resolve_port(container, get.get("port")) == wanted["health"],
            f"{probe_name} is GET {path} on the health port {wanted['health']} "
            f"(is {get.get('path')} on {get.get('port')})",
        )
    service_ports = {p.get("name"): p for p in service["spec"].get("ports", [])}
    for name, service_port in [
        ("http", SERVICE_HTTP_PORT),
        ("grpc", wanted["grpc"]),
        ("metrics", wanted["metrics"]),
    ]:
        port = service_ports.get(name, {})
        report.check(
            port.get("port") == service_port
            and resolve_port(container, port.get("targetPort")) == wanted[name],
            f"Service port {name} {service_port} → container {wanted[name]} "
            f"(is {port.get('port')} → {port.get('targetPort')})",
        )
    report.check(
        service["metadata"]["name"] == "scalability-gate",
        "the Service is scalability-gate (plugins.yaml's endpoint defaults to http://<name>)",
    )
    pod_labels = spec["template"]["metadata"].get("labels", {})
    selector = service["spec"].get("selector", {})
    report.check(
        bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items()),
        f"the Service selects the pod ({selector})",
    )
    report.check(
        spec["selector"].get("matchLabels") == {"app": "scalability-gate"},
        "the Deployment selects app=scalability-gate, as Prow's components",
    )
    annotations = spec["template"]["metadata"].get("annotations", {})
    report.check(
        annotations.get("prometheus.io/port") == str(wanted["metrics"])
        and annotations.get("prometheus.io/path") == "/metrics",
        "the scrape annotations name the metrics port and /metrics",
    )

    # Files: every path the config names is mounted from where Prow keeps it.
    check_file_mount(
        report, container, volumes, "hmac_secret_file", config["hmac_secret_file"],
        ("secret", *HMAC_SECRET),
    )
    check_file_mount(
        report, container, volumes, "github.token_file", config["github"]["token_file"],
        ("secret", *GITHUB_SECRET),
    )
    api_token = config.get("api", {}).get("token_file", "")
    if report.check(bool(api_token), "api.token_file is set (gRPC writes need the API token)"):
        check_file_mount(
            report, container, volumes, "api.token_file", api_token, ("secret", *API_SECRET)
        )
    prow_config = config.get("tide", {}).get("prow_config", "")
    if prow_config:
        check_file_mount(
            report, container, volumes, "tide.prow_config", prow_config,
            ("configMap", *PROW_CONFIG_MAP),
        )
        mount = mount_for(container, prow_config)
        if mount is not None:
            report.check(
                volumes[mount["name"]].get("configMap", {}).get("optional") is True,
                "Prow's config ConfigMap is optional (the plugin starts without it)",
            )
    for key, path in other_files(config):
        check_file_mount(report, container, volumes, key, path, None)

    store = config["store_path"]
    store_mount = mount_for(container, store)
    report.check(
        store_mount is not None
        and store_mount["mountPath"].rstrip("/") == store.rstrip("/")
        and not store_mount.get("readOnly", False),
        f"store_path {store} is a writable mount of its own",
    )
    if store_mount is not None:
        claim = volumes.get(store_mount["name"], {}).get("persistentVolumeClaim", {})
        report.check(
            claim.get("claimName") == pvc["metadata"]["name"],
            f"the store is PersistentVolumeClaim {pvc['metadata']['name']}",
        )
    report.check(
        pvc["spec"].get("accessModes") == ["ReadWriteOnce"],
        "the store's claim is ReadWriteOnce (one writer)",
    )
    tmp = mount_for(container, "/tmp")
    report.check(
        tmp is not None and not tmp.get("readOnly", False) and "emptyDir" in volumes[tmp["name"]],
        "/tmp is a writable emptyDir",
    )
    for m in container.get("volumeMounts", []):
        report.check(m["name"] in volumes, f"mount {m['mountPath']} has its volume {m['name']}")

    # Shutdown: drain, then flush, inside the grace period.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    report.check(
        grace >= drain_seconds + FLUSH_MARGIN_SECONDS,
        f"terminationGracePeriodSeconds {grace} ≥ drain {drain_seconds}s + flush "
        f"{FLUSH_MARGIN_SECONDS}s",
    )

    # Security, as a plugin with a GitHub token should run.
    pod_sc = pod.get("securityContext", {})
    sc = container.get("securityContext", {})
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    report.check(
        pod_sc.get("runAsNonRoot") is True and isinstance(uid, int) and uid > 0,
        f"runs as non-root with a fixed uid ({uid})",
    )
    report.check(
        pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault"
    )
    report.check(sc.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
    report.check(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
    report.check(sc.get("capabilities", {}).get("drop") == ["ALL"], "every capability dropped")
    report.check(
        pod.get("serviceAccountName") == account["metadata"]["name"]
        and pod.get("automountServiceAccountToken") is False
        and account.get("automountServiceAccountToken") is False,
        "own ServiceAccount, no API token mounted",
    )
    report.check(
        pod.get("enableServiceLinks") is False,
        "no Service env vars (SCALABILITY_GATE_* is the plugin's config prefix)",
    )
    resources = container.get("resources", {})
    for side in ("requests", "limits"):
        report.check(
            {"cpu", "memory"} <= set(resources.get(side, {})), f"cpu and memory {side} set"
        )
    image = container.get("image", "")
    report.check(
        ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"),
        f"the image has a pinned tag ({image})",
    )
    return pod, config


def admits(rule: dict, port: int, container: dict) -> bool:
    """Whether a NetworkPolicy ingress rule admits TCP `port` (no `ports`: every port)."""
    ports = rule.get("ports")
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        raw = p.get("port", port)
        number = raw if isinstance(raw, int) else resolve_port(container, raw)
        end = p.get("endPort", number)
        if number is not None and number <= port <= (end or number):
            return True
    return False


def check_network_policy(report: Report, objects: list[dict], pod: dict, config: dict) -> None:
    """gRPC only from the chosen namespace; http, health and metrics from everywhere."""
    policies = [o for o in objects if o.get("kind") == "NetworkPolicy"]
    if not report.check(len(policies) == 1, f"one NetworkPolicy (found {len(policies)})"):
        return
    spec = policies[0]["spec"]
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    selector = spec.get("podSelector", {}).get("matchLabels", {})
    report.check(
        bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())
        and not spec.get("podSelector", {}).get("matchExpressions"),
        f"the NetworkPolicy selects the pod ({selector})",
    )
    report.check("Ingress" in spec.get("policyTypes", []), "the NetworkPolicy governs Ingress")
    container = pod["containers"][0]
    rules = spec.get("ingress", [])
    grpc = port_of(config["grpc_listen"])
    grpc_rules = [r for r in rules if admits(r, grpc, container)]
    report.check(bool(grpc_rules), f"gRPC {grpc} is admitted from somewhere")
    for rule in grpc_rules:
        peers = rule.get("from") or []
        narrow = bool(peers) and all(
            set(peer) <= {"namespaceSelector", "podSelector"}
            and peer.get("namespaceSelector", {}).get("matchLabels")
            and not peer.get("namespaceSelector", {}).get("matchExpressions")
            for peer in peers
        )
        report.check(
            narrow,
            f"gRPC {grpc} is admitted only from namespaces chosen by label (rule from {peers})",
        )
    for name, key in [("http", "listen"), ("health", "health_listen"), ("metrics", "metrics_listen")]:
        port = port_of(config[key])
        report.check(
            any(admits(r, port, container) and not r.get("from") for r in rules),
            f"{name} {port} stays open to every source (hook, Pub/Sub push, kubelet, Prometheus)",
        )


def other_files(config: dict) -> list[tuple[str, str]]:
    """Every other non-empty `*_file` path in the config (push token, Gangway key ...)."""
    known = {"hmac_secret_file", "github.token_file", "api.token_file"}
    found = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                key = f"{prefix}{k}"
                if isinstance(v, str) and k.endswith("_file") and v and key not in known:
                    found.append((key, v))
                else:
                    walk(v, key + ".")

    walk(config, "")
    return found


def check_containerfile(report: Report, path: str, pod: dict, config: dict) -> None:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # Join continuation lines, drop comments.
    lines = [
        line.strip()
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    if not stages:
        die(f"{path} has no FROM")
    final = lines[stages[-1]:]
    builder = lines[: stages[-1]]
    report.check(
        any("cargo build --release --locked" in line for line in builder),
        "the image builds with `cargo build --release --locked`",
    )
    report.check(len(stages) >= 2, "multi-stage: the runtime stage holds no toolchain")
    user = next((line.split()[1] for line in reversed(final) if line.upper().startswith("USER ")), "")
    uid, _, gid = user.partition(":")
    pod_sc = pod.get("securityContext", {})
    report.check(
        uid.isdigit() and int(uid) == pod_sc.get("runAsUser")
        and (not gid or int(gid) == pod_sc.get("runAsGroup")),
        f"the image's USER {user} is the Deployment's runAsUser/runAsGroup",
    )
    exposed = {
        int(p.split("/")[0])
        for line in final
        if line.upper().startswith("EXPOSE ")
        for p in line.split()[1:]
    }
    ports = {port_of(config[k]) for k in ("listen", "health_listen", "metrics_listen", "grpc_listen")}
    report.check(ports <= exposed, f"the image exposes {sorted(ports)} (exposes {sorted(exposed)})")
    entry = next((line for line in final if line.upper().startswith("ENTRYPOINT ")), "")
    report.check(
        entry.split(None, 1)[-1].startswith("[") and "scalability-gate" in entry,
        "the image's ENTRYPOINT is the binary, exec form (signals reach it)",
    )


def check_live_overlay(
    report: Report, base: list[dict], live: list[dict], versions: list[str]
) -> None:
    """examples/deploy-live differs from the base only in the image and `--dry-run`."""
    validate_schemas(report, live, versions)

    def normalized(objects: list[dict], dry_run: str) -> list[dict]:
        out = copy.deepcopy(objects)
        for obj in out:
            if obj.get("kind") == "Deployment":
                for container in obj["spec"]["template"]["spec"]["containers"]:
                    container["image"] = "<image>"
                    container["args"] = [
                        a for a in container.get("args", []) if a != f"--dry-run={dry_run}"
                    ]
        return sorted(out, key=lambda o: (o["kind"], o["metadata"]["name"]))

    deployment = one(live, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    report.check(
        "--dry-run=false" in container.get("args", [])
        and "--dry-run=true" not in container.get("args", []),
        "the live overlay runs with --dry-run=false",
    )
    report.check(
        container.get("image") != one(base, "Deployment")["spec"]["template"]["spec"][
            "containers"
        ][0].get("image"),
        f"the live overlay sets its own image ({container.get('image')})",
    )
    report.check(
        normalized(base, "true") == normalized(live, "false"),
        "the live overlay changes nothing else",
    )


def check_docs(report: Report, path: str, versions: list[str]) -> None:
    """Every YAML example in the operations guide parses; Kubernetes objects validate."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)
    documents = [body for lang, body in blocks if lang == "yaml"]
    # Objects applied with `kubectl apply -f - <<'EOF' ... EOF` inside shell examples.
    for lang, body in blocks:
        if lang == "sh":
            documents += re.findall(r"<<'EOF'\n(.*?)\nEOF", body, flags=re.S)
    report.check(bool(documents), f"{path} has YAML examples")
    for i, body in enumerate(documents):
        try:
            loaded = [d for d in yaml.safe_load_all(body) if d is not None]
        except yaml.YAMLError as error:
            report.check(False, f"{path}: YAML example {i + 1} does not parse: {error}")
            continue
        report.check(True, f"{path}: YAML example {i + 1} parses")
        objects = [d for d in loaded if isinstance(d, dict) and "apiVersion" in d and "kind" in d]
        if objects:
            validate_schemas(report, objects, versions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered", help="output of `kubectl kustomize deploy`")
    parser.add_argument("--binary", required=True, help="the scalability-gate binary")
    parser.add_argument("--containerfile", required=True)
    parser.add_argument("--consumer-rs", required=True, help="src/consumer.rs (DRAIN_TIMEOUT)")
    parser.add_argument("--kube-version", action="append", required=True)
    parser.add_argument("--live-overlay", help="rendered examples/deploy-live, to compare")
    parser.add_argument("--docs", help="docs/operations.md: check its YAML examples")
    opts = parser.parse_args()

    with open(opts.rendered, encoding="utf-8") as f:
        objects = [o for o in yaml.safe_load_all(f) if o]
    if not objects:
        die(f"{opts.rendered} holds no object")
    with open(opts.consumer_rs, encoding="utf-8") as f:
        drain = re.search(r"DRAIN_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", f.read())
    if drain is None:
        die(f"no `DRAIN_TIMEOUT: Duration = Duration::from_secs(N)` in {opts.consumer_rs}")

    report = Report()
    validate_schemas(report, objects, opts.kube_version)
    pod, config = check_deployment(report, objects, opts.binary, int(drain.group(1)))
    check_containerfile(report, opts.containerfile, pod, config)
    check_network_policy(report, objects, pod, config)
    if opts.live_overlay:
        with open(opts.live_overlay, encoding="utf-8") as f:
            live = [o for o in yaml.safe_load_all(f) if o]
        check_live_overlay(report, objects, live, opts.kube_version)
    if opts.docs:
        check_docs(report, opts.docs, opts.kube_version)

    print(f"manifests: {report.passed} passed, {len(report.failures)} failed")
    if report.failures:
        for failure in report.failures:
            print(f"  failed: {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
