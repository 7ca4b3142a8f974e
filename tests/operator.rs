//! What an operator meets through the binary before and around a deploy: `--check-config`
//! refusing what cannot start on this machine, `check-tide` on the example Prow config as
//! docs/operations.md describes it, and output into a closed pipe ending quietly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn gate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
}

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A loadable config in `dir` with `extra` appended (top-level keys) and the store at
/// `store`.
fn write_config(dir: &Path, store: &Path, extra: &str) -> PathBuf {
    let hmac = dir.join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let config = format!(
        "dry_run: true\nhmac_secret_file: {hmac}\nstore_path: {store}\n\
         github:\n  token_file: {token}\n\
         jobs:\n  - name: ci-kubernetes-e2e-gce-scale-performance-100\n    scopes:\n\
         \x20     - repo: kubernetes/kubernetes\n        branch: master\n{extra}",
        hmac = hmac.display(),
        store = store.display(),
        token = dir.join("no-token").display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

fn check_config(config: &Path) -> Output {
    gate()
        .args(["serve", "--check-config", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn check_config_refuses_a_store_that_cannot_be_written_or_created() {
    let dir = tempfile::tempdir().unwrap();
    // /proc takes no new files, whoever asks (root included).
    let config = write_config(dir.path(), Path::new("/proc/scalability-gate-store"), "");
    let out = check_config(&config);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("store_path"), "{stderr}");
    assert!(stderr.contains("cannot be created"), "{stderr}");
    assert!(out.stdout.is_empty(), "no configuration printed on refusal");

    // A file where the directory should be.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let config = write_config(dir.path(), &file, "");
    let out = check_config(&config);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is not a directory"));

    // A store that does not exist yet under a writable directory passes, and stays
    // uncreated: the check opens nothing.
    let store = dir.path().join("new/store");
    let config = write_config(dir.path(), &store, "");
    let out = check_config(&config);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!store.exists() && !dir.path().join("new").exists());
}

#[test]
fn check_config_refuses_two_listeners_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for (extra, keys) in [
        (
            "listen: 127.0.0.1:18888\ngrpc_listen: 127.0.0.1:18888\n",
            ["listen", "grpc_listen"],
        ),
        (
            "health_listen: 0.0.0.0:18081\nmetrics_listen: 127.0.0.1:18081\n",
            ["health_listen", "metrics_listen"],
        ),
    ] {
        let config = write_config(dir.path(), &store, extra);
        let out = check_config(&config);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        for key in keys {
            assert!(stderr.contains(key), "{key} not named in {stderr}");
        }
        assert!(stderr.contains("collide"), "{stderr}");
    }
    // Distinct ports, and port 0 twice (each picks a free one), pass.
    let config = write_config(
        dir.path(),
        &store,
        "listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:18090\n",
    );
    let out = check_config(&config);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn check_config_refuses_secret_files_that_exist_but_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // A directory exists but cannot be read as a file, for root too.
    let unreadable = dir.path().join("a-directory");
    std::fs::create_dir(&unreadable).unwrap();
    let config = write_config(
        dir.path(),
        &store,
        &format!("api:\n  token_file: {}\n", unreadable.display()),
    );
    let out = check_config(&config);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("api.token_file"), "{stderr}");
    assert!(stderr.contains("cannot be read"), "{stderr}");

    // The GitHub token file the same way.
    let config = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            &format!("token_file: {}\n", dir.path().join("no-token").display()),
            &format!("token_file: {}\n", unreadable.display()),
        )
        .replace(
            &format!("api:\n  token_file: {}\n", unreadable.display()),
            "",
        );
    let path = dir.path().join("github.yaml");
    std::fs::write(&path, config).unwrap();
    let out = check_config(&path);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("github.token_file"), "{stderr}");

    // A missing API token file is a warning only: writes are refused until it exists.
    let config = write_config(
        dir.path(),
        &store,
        &format!(
            "api:\n  token_file: {}\n",
            dir.path().join("missing").display()
        ),
    );
    let out = check_config(&config);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: api.token_file"), "{stderr}");
}

/// docs/operations.md, "Before you deploy" and step 3: on the example Prow config,
/// `check-tide` exits 1 naming the uncovered query; `--fix` adds the label to that query
/// alone; the fixed config passes.
#[test]
fn check_tide_on_the_example_prow_config_runs_as_documented() {
    let prow = project("examples/prow-config.yaml");
    let ours = project("examples/config.yaml");
    let out = gate()
        .arg("check-tide")
        .arg("--prow-config")
        .arg(&prow)
        .arg("--config")
        .arg(&ours)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("tide.queries[0] (repos: kubernetes/kubernetes): excludes the label"),
        "{stdout}"
    );
    assert!(
        stdout.contains("`check-tide --fix` adds the label to tide.queries[1]\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains("uncovered: kubernetes/kubernetes@master: tide.queries[1]")
            && !stderr.contains("tide.queries[0]"),
        "{stderr}"
    );

    let fixed = gate()
        .arg("check-tide")
        .arg("--prow-config")
        .arg(&prow)
        .arg("--config")
        .arg(&ours)
        .arg("--fix")
        .output()
        .unwrap();
    assert!(
        text(&fixed.stderr)
            .contains("added do-not-merge/scalability-regression to tide.queries[1].missingLabels"),
        "{}",
        text(&fixed.stderr)
    );
    let original = std::fs::read_to_string(&prow).unwrap();
    let fixed_text = text(&fixed.stdout);
    let removed: Vec<&str> = original
        .lines()
        .filter(|l| !fixed_text.lines().any(|f| f == *l))
        .collect();
    assert!(removed.is_empty(), "--fix dropped lines: {removed:?}");
    assert_eq!(
        fixed_text.lines().count(),
        original.lines().count() + 1,
        "one line added:\n{fixed_text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.fixed.yaml");
    std::fs::write(&path, &fixed_text).unwrap();
    let out = gate()
        .arg("check-tide")
        .arg("--prow-config")
        .arg(&path)
        .arg("--config")
        .arg(&ours)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A pipe whose reader is gone before anything is written: the write end, for a child's
/// stdout. (A helper process holds the read end and exits; nothing else has it.)
fn closed_pipe() -> Stdio {
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let writer = reader.stdin.take().unwrap();
    assert!(reader.wait().unwrap().success());
    Stdio::from(writer)
}

#[test]
fn output_into_a_closed_pipe_exits_0_without_a_panic() {
    let runs = [
        vec![
            "check-tide".to_string(),
            "--json".into(),
            "--prow-config".into(),
            project("examples/prow-config.yaml").display().to_string(),
            "--config".into(),
            project("examples/config.yaml").display().to_string(),
        ],
        vec![
            "simulate".to_string(),
            "--config".into(),
            project("examples/config.yaml").display().to_string(),
            "--events".into(),
            project("examples/events.yaml").display().to_string(),
        ],
    ];
    for args in runs {
        let out = gate()
            .args(&args)
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// The README's `simulate` transcript is what `simulate` prints on the examples. Run with
/// `BLESS_README=1` to write the current output into the README instead.
#[test]
fn the_readme_simulate_transcript_is_what_simulate_prints() {
    let out = gate()
        .arg("simulate")
        .arg("--config")
        .arg(project("examples/config.yaml"))
        .arg("--events")
        .arg(project("examples/events.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);

    let readme_path = project("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let command = "cargo run --features fake -- simulate --config examples/config.yaml --events examples/events.yaml\n```\n\n```text\n";
    let start = readme
        .find(command)
        .expect("the README's simulate command and transcript")
        + command.len();
    let end = start + readme[start..].find("```\n").expect("the transcript's end");
    if std::env::var("BLESS_README").is_ok_and(|v| v == "1") {
        let blessed = format!("{}{printed}{}", &readme[..start], &readme[end..]);
        std::fs::write(&readme_path, blessed).unwrap();
        return;
    }
    let shown = &readme[start..end];
    if shown != printed {
        let first = shown
            .lines()
            .zip(printed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(shown.lines().count().min(printed.lines().count()));
        panic!(
            "README.md's simulate transcript drifted from `simulate` (first difference at its \
             line {}):\n  README:  {:?}\n  printed: {:?}\nrun `BLESS_README=1 cargo test --test operator` \
             to regenerate it",
            first + 1,
            shown.lines().nth(first),
            printed.lines().nth(first)
        );
    }
}

/// Every key of the configuration, as paths (`sources.deck.url`, `jobs[].name`): leaves of
/// the serialized config with one job, lists of maps walked as `[]`.
fn config_keys() -> Vec<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, value, out);
                }
            }
            serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                out.push(prefix.to_string());
                for item in items {
                    walk(&format!("{prefix}[]"), item, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let mut config = scalability_gate::config::Config::default();
    config.jobs = vec![scalability_gate::config::JobConfig::new(
        "job", "org/repo", "master",
    )];
    let mut keys = Vec::new();
    walk("", &serde_json::to_value(&config).unwrap(), &mut keys);
    keys.sort();
    keys.dedup();
    keys
}

/// The README's configuration table names every key of the config type and no other: a
/// key is documented by its own row or by a row of a list it is part of (`jobs[].scopes`
/// covers `jobs[].scopes[].repo`).
#[test]
fn the_readme_config_table_names_every_config_key() {
    let readme = std::fs::read_to_string(project("README.md")).unwrap();
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("the README's Configuration section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |"))
        .map(|(key, _)| key.to_string())
        .collect();
    assert!(rows.len() > 20, "the table's rows: {rows:?}");
    let keys = config_keys();
    let covered = |key: &str| {
        rows.iter()
            .any(|row| key == row || key.starts_with(&format!("{row}[].")))
    };
    let undocumented: Vec<&String> = keys.iter().filter(|k| !covered(k)).collect();
    assert!(
        undocumented.is_empty(),
        "config keys missing from README.md's table: {undocumented:?}"
    );
    let unknown: Vec<&String> = rows.iter().filter(|r| !keys.contains(r)).collect();
    assert!(
        unknown.is_empty(),
        "README.md's table names keys the config does not have: {unknown:?}"
    );
}
