//! Does the block really hold? `check-tide` run as the real binary on Kubernetes' real Tide
//! config (exit codes 0/1/2, `--fix` round trip), and the plugin's own check of
//! `tide.prow_config` at start-up and on change, seen through its metrics.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Plugin, eventually, shared_fixtures, test_config};

const LABEL: &str = "do-not-merge/scalability-regression";

/// Our configuration gating both branches the excerpt treats differently.
const OURS: &str = "\
label: do-not-merge/scalability-regression
tide:
  blocker_label: tide/merge-blocker
jobs:
  - name: ci-kubernetes-e2e-gce-scale-performance-100
    scopes:
      - repo: kubernetes/kubernetes
        branch: master
  - name: ci-kubernetes-e2e-gce-scale-performance-1-36
    scopes:
      - repo: kubernetes/kubernetes
        branch: release-1.36
";

fn excerpt() -> Option<PathBuf> {
    shared_fixtures().map(|d| d.join("prow/config-tide-excerpt.yaml"))
}

fn check_tide(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
        .arg("check-tide")
        .args(args)
        .env_remove("SCALABILITY_GATE_CONFIG")
        .output()
        .expect("running scalability-gate")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

/// The lines of `output` not in `input`, if `output` is `input` with whole lines inserted.
fn inserted_lines(input: &str, output: &str) -> Option<Vec<String>> {
    let mut want = input.split_inclusive('\n').peekable();
    let mut inserted = Vec::new();
    for line in output.split_inclusive('\n') {
        if want.peek() == Some(&line) {
            want.next();
        } else {
            inserted.push(line.to_string());
        }
    }
    want.peek().is_none().then_some(inserted)
}

#[test]
fn the_real_excerpt_lacks_the_label_and_the_check_fails() {
    let Some(prow) = excerpt() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ours = write(dir.path(), "ours.yaml", OURS);
    let out = check_tide(&["--prow-config", prow.to_str().unwrap(), "--config", &ours]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    // master merges through the second query (includedBranches: master, release-1.37);
    // release-1.36 through the first (excludedBranches: master, release-1.37).
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].contains("kubernetes/kubernetes@master") && lines[0].contains("tide.queries[1]"),
        "{stderr}"
    );
    assert!(lines[0].contains("milestone: v1.37"), "{stderr}");
    assert!(
        lines[1].contains("kubernetes/kubernetes@release-1.36")
            && lines[1].contains("tide.queries[0]"),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("blocker issues: honoured"), "{stdout}");
    assert!(
        stdout.contains("kubernetes/kubernetes@master: NOT HELD"),
        "{stdout}"
    );

    // One scope on the command line: only the query covering master is named.
    let out = check_tide(&[
        "--prow-config",
        prow.to_str().unwrap(),
        "--scope",
        "kubernetes/kubernetes@master",
    ]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("tide.queries[1]"), "{stderr}");
    assert!(!stderr.contains("tide.queries[0]"), "{stderr}");
}

#[test]
fn fix_inserts_only_the_label_and_the_result_passes() {
    let Some(prow) = excerpt() else { return };
    let original = std::fs::read_to_string(&prow).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours = write(dir.path(), "ours.yaml", OURS);
    let out = check_tide(&[
        "--prow-config",
        prow.to_str().unwrap(),
        "--config",
        &ours,
        "--fix",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let fixed = text(&out.stdout);
    let inserted = inserted_lines(&original, &fixed).expect("every original line kept");
    assert_eq!(
        inserted,
        vec![format!("    - {LABEL}\n"), format!("    - {LABEL}\n")],
        "exactly one line per query"
    );
    // Each inserted right after the last item of that query's missingLabels list.
    let fixed_lines: Vec<&str> = fixed.lines().collect();
    let at: Vec<usize> = (0..fixed_lines.len())
        .filter(|&i| fixed_lines[i].ends_with(LABEL))
        .collect();
    assert_eq!(at.len(), 2);
    for i in at {
        assert_eq!(fixed_lines[i - 1], "    - do-not-merge/work-in-progress");
    }
    let stderr = text(&out.stderr);
    assert!(stderr.contains("tide.queries[0].missingLabels"), "{stderr}");
    assert!(stderr.contains("tide.queries[1].missingLabels"), "{stderr}");

    // The fixed config passes, with our config and with every query checked.
    let fixed_path = write(dir.path(), "fixed.yaml", &fixed);
    let out = check_tide(&["--prow-config", &fixed_path, "--config", &ours]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty());
    assert!(text(&out.stdout).contains("result: the block holds"));
    let out = check_tide(&["--prow-config", &fixed_path]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));

    // Fixing a fixed config changes nothing.
    let out = check_tide(&["--prow-config", &fixed_path, "--fix"]);
    assert_eq!(code(&out), 0);
    assert_eq!(text(&out.stdout), fixed);
}

#[test]
fn unreadable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", "tide:\n  queries: []\n");
    let bad_yaml = write(dir.path(), "bad.yaml", "tide: [\n");
    let bad_shape = write(dir.path(), "shape.yaml", "tide:\n  queries: 7\n");
    let ours_bad = write(dir.path(), "ours.yaml", "jobs: []\n");
    let missing = dir.path().join("missing.yaml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--prow-config", missing.to_str().unwrap()],
            "reading Prow's config",
        ),
        (vec!["--prow-config", &bad_yaml], "not valid YAML"),
        (vec!["--prow-config", &bad_shape], "tide.queries"),
        (vec!["--prow-config", &good, "--config", &ours_bad], "jobs"),
        (vec!["--prow-config", &good, "--scope", "nope"], "--scope"),
    ];
    for (args, want) in cases {
        let out = check_tide(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn fix_refuses_a_shape_it_cannot_edit() {
    let dir = tempfile::tempdir().unwrap();
    let prow = write(
        dir.path(),
        "prow.yaml",
        "tide:\n  queries:\n  - {repos: [o/r], missingLabels: [do-not-merge]}\n",
    );
    let out = check_tide(&["--prow-config", &prow, "--scope", "o/r@main", "--fix"]);
    assert_eq!(code(&out), 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("edit this by hand"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing half-edited on stdout");
}

#[test]
fn blocker_issues_not_honoured_fail_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let prow = write(
        dir.path(),
        "prow.yaml",
        &format!("tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [{LABEL}]\n"),
    );
    let out = check_tide(&["--prow-config", &prow, "--scope", "o/r@main"]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("blocker issues ignored"), "{stderr}");
    assert!(text(&out.stdout).contains("the label holds"));
    // Label-only mode: our config opens no blocker issues, so the check passes.
    let ours = write(
        dir.path(),
        "ours.yaml",
        "tide: {blocker_label: \"\"}\njobs:\n- name: j\n  scopes: [{repo: o/r, branch: main}]\n",
    );
    let out = check_tide(&["--prow-config", &prow, "--config", &ours]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("blocker issues: not used"));
}

#[test]
fn json_report() {
    let Some(prow) = excerpt() else { return };
    let out = check_tide(&[
        "--prow-config",
        prow.to_str().unwrap(),
        "--scope",
        "kubernetes/kubernetes@master",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["label"], LABEL);
    assert_eq!(report["blocker"]["state"], "honoured");
    let scope = &report["scopes"][0];
    assert_eq!(scope["scope"]["repo"], "kubernetes/kubernetes");
    assert_eq!(scope["queries"][0]["index"], 1);
    assert_eq!(scope["queries"][0]["excludes_label"], false);
}

/// Polls `/metrics` until `line` is there (or fails after the harness's timeout).
async fn wait_for_metric(plugin: &Plugin, line: &str) {
    let url = format!("http://{}/metrics", plugin.bound.metrics);
    eventually(&format!("metric line {line:?}"), async || {
        let scrape = match reqwest::get(&url).await {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(error) => return Err(error.to_string()),
        };
        if scrape.lines().any(|l| l == line) {
            Ok(())
        } else {
            Err(scrape)
        }
    })
    .await;
}

#[tokio::test]
async fn the_plugin_checks_prow_config_at_startup_and_on_change() {
    let Some(prow) = excerpt() else { return };
    let original = std::fs::read_to_string(&prow).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mounted = dir.path().join("config.yaml");
    std::fs::write(&mounted, &original).unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret").unwrap();
    let mut config = test_config(&dir.path().join("store"), &hmac);
    config.tide.prow_config = mounted.to_str().unwrap().to_string();
    config.tide.recheck_interval = Duration::from_millis(50);
    let plugin = Plugin::start(config.clone()).await;

    let metric =
        "scalability_gate_tide_scope_uncovered{repo=\"kubernetes/kubernetes\",branch=\"master\"}";
    wait_for_metric(&plugin, &format!("{metric} 1")).await;

    // The operator applies the fix; Prow's ConfigMap mount changes in place.
    let params = scalability_gate::prow::tide::params_from_config(&config);
    let fixed = scalability_gate::prow::tide::fix(&original, &params).unwrap();
    std::fs::write(&mounted, &fixed.text).unwrap();
    wait_for_metric(&plugin, &format!("{metric} 0")).await;

    // And back: a config that loses the label is noticed too.
    std::fs::write(&mounted, &original).unwrap();
    wait_for_metric(&plugin, &format!("{metric} 1")).await;
    plugin.stop().await;
}

/// A fake Deck serving `/tide.js` with a body the test changes, counting requests.
struct FakeDeck {
    url: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
}

impl FakeDeck {
    async fn start(body: String) -> FakeDeck {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(body));
        let state = shared.clone();
        let app = axum::Router::new().route(
            "/tide.js",
            axum::routing::get(move || {
                let state = state.clone();
                async move { state.lock().unwrap().clone() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeDeck { url, body: shared }
    }

    fn serve(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }
}

/// `/tide.js` as Deck serves it (Tide's `PoolForDeck`, Go field names, nil slices as null).
fn tide_js(action: &str, success: &[u64], blockers: &[u64]) -> String {
    let prs: Vec<serde_json::Value> = success
        .iter()
        .map(|n| serde_json::json!({"Title": format!("PR {n}"), "Number": n, "HeadRefOID": "abc", "Mergeable": "MERGEABLE"}))
        .collect();
    let blockers: Vec<serde_json::Value> = blockers
        .iter()
        .map(|n| serde_json::json!({"Number": n, "Title": "Merge blocker branch:master", "URL": "https://github.com/x"}))
        .collect();
    serde_json::json!({
        "Queries": ["is:pr state:open repo:\"kubernetes/kubernetes\""],
        "TideQueries": [{"repos": ["kubernetes/kubernetes"]}],
        "Pools": [
            {"Org": "kubernetes", "Repo": "kubernetes", "Branch": "master",
             "SuccessPRs": prs, "PendingPRs": null, "MissingPRs": null, "BatchPending": null,
             "Action": action, "Target": null, "Blockers": blockers, "Error": "", "TenantIDs": null},
            {"Org": "kubernetes", "Repo": "kubernetes", "Branch": "release-1.36",
             "SuccessPRs": [{"Title": "t", "Number": 99, "HeadRefOID": "d", "Mergeable": ""}],
             "PendingPRs": null, "MissingPRs": null, "BatchPending": null,
             "Action": "MERGE", "Target": null, "Blockers": null, "Error": "", "TenantIDs": null}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn live_check_reads_tide_js_during_an_incident() {
    use scalability_gate::model::{
        Cause, Exemption, ExemptionKind, Incident, IncidentId, IncidentState, JobName, Login,
        PrNumber, RepoName, Scope, Timestamp,
    };

    let deck = FakeDeck::start(tide_js("MERGE", &[101, 102], &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("store");
    let scope = Scope {
        repo: RepoName::new("kubernetes", "kubernetes"),
        branch: "master".into(),
    };
    {
        // An active incident on master, with #102 exempt; written before the plugin starts.
        let store = scalability_gate::Store::open(&store_path).unwrap();
        store
            .put_incident(&Incident {
                id: IncidentId::new("ci-scale-100-7"),
                job: JobName::new("ci-kubernetes-e2e-gce-scale-performance-100"),
                opened_at: Timestamp(1_700_000_000),
                cause: Cause::Manual {
                    by: Login::new("approver"),
                    reason: "test".into(),
                },
                scopes: vec![scope.clone()],
                scopes_left_open: vec![],
                state: IncidentState::Active,
                folded_runs: Vec::new(),
                recovered_by: None,
                exemptions: vec![Exemption {
                    repo: scope.repo.clone(),
                    pr: PrNumber(102),
                    kind: ExemptionKind::Revert,
                    by: Login::new("approver"),
                    reason: "revert".into(),
                    at: Timestamp(1_700_000_100),
                }],
                breaches: Vec::new(),
                searches: Vec::new(),
                reverts: Vec::new(),
                reruns: Vec::new(),
                escalations: Vec::new(),
                lifts: Vec::new(),
                reblocks: Vec::new(),
                failed_tests: None,
                culprit: None,
                culprit_history: Vec::new(),
                suspects: Vec::new(),
                issue_opened_at: None,
            })
            .unwrap();
        store.flush().await.unwrap();
    }
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret").unwrap();
    let mut config = test_config(&store_path, &hmac);
    config.tide.deck_url = format!("{}/", deck.url);
    config.tide.recheck_interval = Duration::from_millis(50);
    let plugin = Plugin::start(config).await;

    let metric =
        "scalability_gate_tide_pool_would_merge{repo=\"kubernetes/kubernetes\",branch=\"master\"}";
    // #101 is in the pool and not exempt: Tide would still merge it.
    wait_for_metric(&plugin, &format!("{metric} 1")).await;
    // Only the exempt revert left in the pool: the block holds.
    deck.serve(tide_js("MERGE", &[102], &[]));
    wait_for_metric(&plugin, &format!("{metric} 0")).await;
    // Back to leaking, then a blocker issue makes Tide report BLOCKED: holds again.
    deck.serve(tide_js("TRIGGER", &[101], &[]));
    wait_for_metric(&plugin, &format!("{metric} 1")).await;
    deck.serve(tide_js("BLOCKED", &[101], &[42]));
    wait_for_metric(&plugin, &format!("{metric} 0")).await;
    // release-1.36 is not blocked: its pool is never judged.
    let scrape = plugin.metrics().await;
    assert!(!scrape.contains("branch=\"release-1.36\""), "{scrape}");
    plugin.stop().await;
}
