//! Tests of the configuration: defaults, the example files, overrides, and every key's refusal.

use super::*;

const MINIMAL: &str = "jobs:\n- name: j\n  scopes:\n  - {repo: o/r, branch: master}\n";

fn load_yaml(yaml: &str, env: &[(&str, &str)], o: &Overrides) -> anyhow::Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let env: Vec<_> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_from(Some(&path), &env, o)
}

#[test]
fn defaults_fill_what_the_file_omits() {
    let c = load_yaml(MINIMAL, &[], &Overrides::default()).unwrap();
    assert_eq!(c.listen, addr("0.0.0.0:8888"));
    assert!(c.dry_run);
    assert_eq!(c.jobs[0].failures_to_confirm, 1);
    assert_eq!(
        c.jobs[0],
        JobConfig::new("j", "o/r", "master"),
        "JobConfig::new is a job as the file's defaults make it"
    );
    assert_eq!(c.label_prs, LabelPrs::Ready);
    assert_eq!(c.sources.deck.interval, Duration::from_secs(60));
}

/// Every duration of the file, by its full key: `0s` is refused and names the key. The
/// list is checked against the serialized config, so a new duration cannot be missed.
#[test]
fn every_duration_must_be_positive() {
    let c = load_yaml(MINIMAL, &[], &Overrides::default()).unwrap();
    let mut in_file = Vec::new();
    humane_keys(&serde_json::to_value(&c).unwrap(), "", &mut in_file);
    let mut listed: Vec<String> = c.durations().iter().map(|(k, _)| k.to_string()).collect();
    in_file.sort();
    listed.sort();
    assert_eq!(in_file, listed, "Config::durations lists every duration");
    for key in listed {
        // `a.b.c: 0s` as nested YAML.
        let parts: Vec<&str> = key.split('.').collect();
        let mut yaml = String::from(MINIMAL);
        for (depth, part) in parts.iter().enumerate() {
            let value = if depth + 1 == parts.len() { " 0s" } else { "" };
            yaml.push_str(&format!("{}{part}:{value}\n", "  ".repeat(depth)));
        }
        let err = load_yaml(&yaml, &[], &Overrides::default())
            .expect_err(&key)
            .to_string();
        assert!(
            err.contains(&format!("`{key}`: must be positive")),
            "{key}: {err}"
        );
        // And 1s is fine.
        let ok = yaml.replace(" 0s", " 1s");
        load_yaml(&ok, &[], &Overrides::default()).unwrap_or_else(|e| panic!("{key}: {e:#}"));
    }
}

/// The keys of `tree` whose values are humane durations (`1m`, `30s`, ...).
fn humane_keys(tree: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match tree {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                humane_keys(v, &key, out);
            }
        }
        serde_json::Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                humane_keys(v, &format!("{prefix}[{i}]"), out);
            }
        }
        serde_json::Value::String(text) if humantime::parse_duration(text).is_ok() => {
            out.push(prefix.to_string());
        }
        _ => {}
    }
}

#[test]
fn unknown_key_is_named() {
    let err = load_yaml(
        &format!("{MINIMAL}github:\n  endpont: x\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("github"), "{err}");
    assert!(err.contains("endpont"), "{err}");
}

#[test]
fn invalid_value_is_named() {
    let err = load_yaml(
        &format!("{MINIMAL}label_prs: some\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("label_prs"), "{err}");
    let err = load_yaml(
        &format!("{MINIMAL}sources:\n  deck: {{interval: soon}}\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("sources.deck.interval"), "{err}");
}

#[test]
fn missing_jobs_is_an_error() {
    let err = load_yaml("dry_run: true\n", &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("`jobs`"), "{err}");
    let err = load_yaml("jobs:\n- scopes: []\n", &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("jobs[0]") && err.contains("name"), "{err}");
}

#[test]
fn env_beats_file_and_flags_beat_env() {
    let env = [
        ("SCALABILITY_GATE__GITHUB__MUTATIONS_PER_MINUTE", "7"),
        ("SCALABILITY_GATE__DRY_RUN", "false"),
        ("SCALABILITY_GATE__GITHUB__ENDPOINTS", "http://a,http://b"),
    ];
    let c = load_yaml(MINIMAL, &env, &Overrides::default()).unwrap();
    assert_eq!(c.github.mutations_per_minute, 7);
    assert!(!c.dry_run);
    assert_eq!(c.github.endpoints, vec!["http://a", "http://b"]);
    let flags = Overrides {
        dry_run: Some(true),
        github_endpoints: vec!["http://c".into()],
        port: Some(9999),
        ..Overrides::default()
    };
    let c = load_yaml(MINIMAL, &env, &flags).unwrap();
    assert!(c.dry_run);
    assert_eq!(c.github.endpoints, vec!["http://c"]);
    assert_eq!(c.listen.port(), 9999);
}

#[test]
fn pubsub_emulator_host_comes_from_the_environment_and_subscription_is_checked() {
    let yaml =
        format!("{MINIMAL}sources:\n  pubsub: {{subscription: projects/p/subscriptions/s}}\n");
    let env = [("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")];
    let c = load_yaml(&yaml, &env, &Overrides::default()).unwrap();
    assert_eq!(c.sources.pubsub.emulator_host, "127.0.0.1:8085");
    let err = load_yaml(&yaml, &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sources.pubsub.token_file"), "{err}");
    let bad = format!("{MINIMAL}sources:\n  pubsub: {{subscription: s, emulator_host: h:1}}\n");
    let err = load_yaml(&bad, &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sources.pubsub.subscription"), "{err}");
}

#[test]
fn suspects_and_escalation_have_defaults_and_named_errors() {
    let c = load_yaml(MINIMAL, &[], &Overrides::default()).unwrap();
    assert_eq!(c.jobs[0].suspects, SuspectSignals::default());
    assert_eq!(c.escalation.mention_after, Some(Duration::from_secs(3600)));
    assert_eq!(
        c.escalation.suggest_revert_after,
        Some(Duration::from_secs(4 * 3600))
    );
    assert_eq!(c.escalation.top_suspects, 3);
    let yaml = "jobs:\n- name: j\n  scopes:\n  - {repo: o/r, branch: master}\n  \
                suspects:\n    hot_paths: [pkg/scheduler/]\n    labels: [sig/scalability]\n\
                escalation:\n  mention_after: 30m\n  suggest_revert_after: \"\"\n  top_suspects: 5\n";
    let c = load_yaml(yaml, &[], &Overrides::default()).unwrap();
    assert_eq!(c.jobs[0].suspects.hot_paths, vec!["pkg/scheduler/"]);
    assert_eq!(c.jobs[0].suspects.labels, vec!["sig/scalability"]);
    assert_eq!(c.escalation.mention_after, Some(Duration::from_secs(1800)));
    assert_eq!(c.escalation.suggest_revert_after, None);
    assert_eq!(c.escalation.top_suspects, 5);
    // Serialized and loaded again, "" stays off.
    assert!(c.to_redacted_yaml().contains("suggest_revert_after: ''"));
    let cases = [
        (
            format!("{MINIMAL}  suspects: {{hot_path: [x]}}\n"),
            "jobs[0].suspects",
        ),
        (
            format!("{MINIMAL}  suspects: {{labels: [\"\"]}}\n"),
            "jobs[0].suspects.labels[0]",
        ),
        (
            format!("{MINIMAL}escalation: {{mention_after: soon}}\n"),
            "escalation.mention_after",
        ),
        (
            format!("{MINIMAL}escalation: {{top_suspects: 0}}\n"),
            "escalation.top_suspects",
        ),
        (format!("{MINIMAL}escalation: {{top: 1}}\n"), "escalation"),
        (
            format!("{MINIMAL}  max_silence: twelve hours\n"),
            "jobs[0].max_silence",
        ),
        (
            format!("{MINIMAL}  max_silence: 0s\n"),
            "jobs[0].max_silence",
        ),
    ];
    for (yaml, key) in cases {
        let err = format!(
            "{:#}",
            load_yaml(&yaml, &[], &Overrides::default()).unwrap_err()
        );
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[test]
fn audit_and_incident_retention_have_defaults_and_must_be_positive() {
    let c = load_yaml(MINIMAL, &[], &Overrides::default()).unwrap();
    assert_eq!(c.history.audit_retention, 10_000);
    assert_eq!(c.history.incident_retention, 1_000);
    let yaml = format!("{MINIMAL}history: {{audit_retention: 50, incident_retention: 5}}\n");
    let c = load_yaml(&yaml, &[], &Overrides::default()).unwrap();
    assert_eq!(c.history.audit_retention, 50);
    assert_eq!(c.history.incident_retention, 5);
    for key in ["retention", "audit_retention", "incident_retention"] {
        let yaml = format!("{MINIMAL}history: {{{key}: 0}}\n");
        let err = format!(
            "{:#}",
            load_yaml(&yaml, &[], &Overrides::default()).unwrap_err()
        );
        assert!(err.contains(&format!("`history.{key}`")), "{key}: {err}");
    }
}

#[test]
fn bad_scope_repo_is_named() {
    let yaml = "jobs:\n- name: j\n  scopes:\n  - {repo: nope, branch: master}\n";
    let err = format!(
        "{:#}",
        load_yaml(yaml, &[], &Overrides::default()).unwrap_err()
    );
    assert!(err.contains("jobs[0].scopes[0].repo"), "{err}");
}

#[test]
fn a_github_app_is_checked_at_load_and_each_error_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(
        &key,
        include_str!("../../tests/data/github-app-test-key.pem"),
    )
    .unwrap();
    let yaml = |id: &str, file: &str| {
        format!("{MINIMAL}github:\n  app_id: {id}\n  app_private_key_file: {file:?}\n")
    };
    let key_path = key.display().to_string();
    // A number without quotes, as operators write it.
    let c = load_yaml(&yaml("12345", &key_path), &[], &Overrides::default()).unwrap();
    assert_eq!(c.github.app_id, "12345");
    assert!(c.github.uses_app());
    assert!(!Config::default().github.uses_app());
    // Prow's flags override the file.
    let flags = Overrides {
        github_app_id: Some("777".into()),
        github_app_private_key_path: Some(key.clone()),
        ..Overrides::default()
    };
    let c = load_yaml(MINIMAL, &[], &flags).unwrap();
    assert_eq!(c.github.app_id, "777");
    assert_eq!(c.github.app_private_key_file, key_path);

    let err = |yaml: String| {
        format!(
            "{:#}",
            load_yaml(&yaml, &[], &Overrides::default()).unwrap_err()
        )
    };
    let e = err(yaml("twelve", &key_path));
    assert!(
        e.contains("`github.app_id`") && e.contains("not a number"),
        "{e}"
    );
    let e = err(yaml("1", ""));
    assert!(e.contains("`github.app_private_key_file`"), "{e}");
    let e = err(yaml("\"\"", &key_path));
    assert!(e.contains("`github.app_id`"), "{e}");
    let missing = dir.path().join("absent.pem").display().to_string();
    let e = err(yaml("1", &missing));
    assert!(
        e.contains("`github.app_private_key_file`") && e.contains("absent.pem"),
        "{e}"
    );
    let public = dir.path().join("public.pem");
    std::fs::write(
        &public,
        include_str!("../../tests/data/github-app-test-key.pub.pem"),
    )
    .unwrap();
    let e = err(yaml("1", &public.display().to_string()));
    assert!(
        e.contains("`github.app_private_key_file`") && e.contains("RSA private key"),
        "{e}"
    );
    assert!(!e.contains("MII"), "the key is not echoed: {e}");
}

#[test]
fn max_silence_is_a_humane_duration_and_off_by_default() {
    let c = load_yaml(MINIMAL, &[], &Overrides::default()).unwrap();
    assert_eq!(c.jobs[0].max_silence, None);
    let c = load_yaml(
        &format!("{MINIMAL}  max_silence: 12h\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.jobs[0].max_silence, Some(Duration::from_secs(12 * 3600)));
    let off = load_yaml(
        &format!("{MINIMAL}  max_silence: \"\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(off.jobs[0].max_silence, None);
}

#[test]
fn infer_scopes_and_notify_load_with_defaults_and_unknown_keys_are_named() {
    let c = load_yaml(MINIMAL, &[], &Overrides::default()).unwrap();
    assert!(!c.jobs[0].infer_scopes);
    assert_eq!(c.notify.slack_webhook_file, "");
    let yaml = "jobs:\n- name: j\n  infer_scopes: true\n  scopes:\n  - {repo: o/r, branch: master}\n\
                notify:\n  slack_webhook_file: /etc/slack/url\n";
    let c = load_yaml(yaml, &[], &Overrides::default()).unwrap();
    assert!(c.jobs[0].infer_scopes);
    assert_eq!(c.notify.slack_webhook_file, "/etc/slack/url");
    let err = load_yaml(
        &format!("{MINIMAL}notify:\n  slack_url: x\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("notify") && err.contains("slack_url"), "{err}");
}
