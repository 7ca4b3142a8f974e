//! docs/operations.md walked through as a reader with only the project would: every
//! command of its `sh` blocks that needs no cluster, registry or root runs as written, in
//! order, in a scratch directory laid out as the guide assumes (`config.yaml` copied from
//! `deploy/config.yaml`, the project's `examples/`, Prow's config at the placeholder
//! `path/to/prow/config.yaml`). A command nobody has classified fails the test, so a new
//! one cannot slip in unchecked.

use std::path::Path;
use std::process::Command;

/// Commands that need what a test machine does not have, by how they start, and why.
const NEEDS_A_CLUSTER: &[(&str, &str)] = &[
    ("kubectl ", "a Kubernetes cluster"),
    (
        "curl ",
        "the plugin in the cluster, through kubectl port-forward",
    ),
    (
        "grpcurl ",
        "the plugin in the cluster, from Prow's namespace",
    ),
    (
        "NS=",
        "sets the namespace of the kubectl commands that follow",
    ),
    ("cd overlays/", "the operator's own overlay"),
    (
        "kustomize ",
        "the operator's own overlay and the standalone kustomize",
    ),
    ("skopeo ", "a container registry"),
    ("podman ", "a container engine and registry"),
    ("docker ", "a container engine and registry"),
    (
        "bash deploy/image/build.sh",
        "root, buildah and a release build; .ci/run builds and probes the image",
    ),
];

/// Each command that runs, by how it starts, and the exit statuses the guide gives it.
const RUNS: &[(&str, &[i32])] = &[
    // "Before you deploy": the example Prow config lacks the label in one query.
    (
        "scalability-gate check-tide --prow-config examples/prow-config.yaml",
        &[1],
    ),
    (
        "scalability-gate serve --config config.yaml --check-config",
        &[0],
    ),
    (
        "cargo run --features fake -- simulate --config config.yaml",
        &[0],
    ),
    // Step 3 on the example as Prow's config: with --fix the report is of the fixed
    // config, which holds; without, 1 (a query lacks the label).
    (
        "scalability-gate check-tide --prow-config path/to/prow/config.yaml --config config.yaml --fix",
        &[0],
    ),
    (
        "scalability-gate check-tide --prow-config path/to/prow/config.yaml",
        &[1],
    ),
    // The files differ by the added line.
    ("diff -u path/to/prow/config.yaml config.fixed.yaml", &[1]),
    ("head -c 32 /dev/urandom", &[0]),
];

/// The commands of the `sh` blocks of `markdown`: continuation lines joined, comments and
/// here-document bodies left out.
fn commands(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut heredoc: Option<String> = None;
    let mut pending = String::new();
    for line in markdown.lines() {
        if !in_block {
            in_block = line == "```sh";
            continue;
        }
        if line == "```" {
            in_block = false;
            continue;
        }
        if let Some(end) = &heredoc {
            if line == end {
                heredoc = None;
            }
            continue;
        }
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(start) = trimmed.find("<<'") {
            let word = &trimmed[start + 3..];
            heredoc = word.split('\'').next().map(str::to_string);
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(trimmed);
        out.push(std::mem::take(&mut pending));
    }
    out
}

#[test]
fn every_command_of_the_operations_guide_that_needs_no_cluster_runs_as_written() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(project.join("docs/operations.md")).unwrap();
    let commands = commands(&guide);
    assert!(commands.len() > 20, "{commands:#?}");

    // The reader's working directory: a checkout's examples and deploy/, their config.yaml
    // copied from deploy/config.yaml, and Prow's config where the guide's placeholder is.
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    for name in ["examples", "deploy"] {
        std::os::unix::fs::symlink(project.join(name), dir.join(name)).unwrap();
    }
    std::fs::copy(project.join("deploy/config.yaml"), dir.join("config.yaml")).unwrap();
    std::fs::create_dir_all(dir.join("path/to/prow")).unwrap();
    std::fs::copy(
        project.join("examples/prow-config.yaml"),
        dir.join("path/to/prow/config.yaml"),
    )
    .unwrap();
    // `scalability-gate` is the binary this test is built with (it has the `fake`
    // feature, as `cargo run --features fake` builds it).
    let binary = Path::new(env!("CARGO_BIN_EXE_scalability-gate"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut ran = 0;
    for command in &commands {
        if NEEDS_A_CLUSTER
            .iter()
            .any(|(start, _)| command.starts_with(start))
        {
            continue;
        }
        let Some((_, statuses)) = RUNS.iter().find(|(start, _)| command.starts_with(start)) else {
            panic!(
                "docs/operations.md has a command this test does not know: {command:?}; \
                 add it to RUNS (with its exit statuses) or to NEEDS_A_CLUSTER (with why)"
            );
        };
        let shell = command.replace("cargo run --features fake --", "scalability-gate");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&shell)
            .current_dir(dir)
            .env("PATH", &path)
            .env_remove("SCALABILITY_GATE_CONFIG")
            .output()
            .unwrap();
        let status = out.status.code().unwrap_or(-1);
        assert!(
            statuses.contains(&status),
            "`{command}` exited {status}, the guide says {statuses:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 7, "only {ran} commands ran");
    // What the commands left behind is what the guide says they make.
    let fixed = std::fs::read_to_string(dir.join("config.fixed.yaml")).unwrap();
    assert!(fixed.contains("- do-not-merge/scalability-regression"));
    let token = std::fs::read_to_string(dir.join("api-token")).unwrap();
    assert!(token.len() >= 40 && token.chars().all(|c| c.is_ascii_alphanumeric()));
}

#[test]
fn the_walk_sees_continuations_comments_and_here_documents() {
    let markdown = "text\n```sh\n# a comment\na \\\n  --b\nc <<'EOF'\nnot a command\nEOF\nd\n```\n```yaml\ne: f\n```\n";
    assert_eq!(commands(markdown), ["a --b", "c <<'EOF'", "d"]);
}
