//! Soak: the release binary (`scalability-gate serve`) as a separate process against the
//! in-process fake GitHub (nothing leaves the machine), fed a steady mix of signed webhooks
//! (`issue_comment`: chatter, edits, bots, `/scalability-status` and approvers'
//! `/scalability-unblock`; `pull_request`: labeled, unlabeled, synchronize, opened,
//! edited; a few events the plugin ignores; some deliveries sent twice) and job results
//! over gRPC (`scalability_gate.v1.Results/ReportJobResult`: mostly green, a red streak
//! now and then that opens an incident, blocks the branch and lifts it on recovery,
//! aborted runs, builds reported twice). Every `SOAK_SAMPLE_SECS` it samples the plugin's
//! RSS (`/proc/<pid>/status`), its CPU time, the store's size on disk, and the incidents
//! and audit records the plugin's `/api/v1/status` shows, prints a table, and at the end
//! says whether RSS, store size, CPU and those counts are flat after the warm-up:
//! retention (run history, delivery ids, audit records, lifted incidents) must bound them.
//!
//! The payloads are generated here in GitHub's shape; nothing is copied from fixtures.
//!
//! Run: `cargo bench --bench soak` (about 5 minutes), or longer:
//! `SOAK_SECS=600 cargo bench --bench soak`. Knobs (environment):
//! `SOAK_SECS` (300), `SOAK_SAMPLE_SECS` (15), `SOAK_WARMUP_SECS` (the time to fill the
//! delivery-id memory at the webhook rate, plus 30 s), `SOAK_WEBHOOKS_PER_SEC` (100),
//! `SOAK_RESULTS_PER_SEC` (6), `SOAK_COMMANDS_PER_MIN` (30), `SOAK_REGRESSION_EVERY`
//! (runs of a job between red streaks, 120), `SOAK_AUDIT_RETENTION` and
//! `SOAK_INCIDENT_RETENTION` (the plugin's `history.audit_retention` and
//! `history.incident_retention`; their defaults). The status API shows at most 50 lifted
//! incidents and 50 audit records, so the live counts are exact only below that: set the
//! caps lower (e.g. 40 and 20) to watch them hold during the run; the census at the end
//! counts the store itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scalability_gate::Store;
use scalability_gate::config::{Config, JobConfig, ScopeConfig};
use scalability_gate::github::fake::{FakeGithub, PrSpec};
use scalability_gate::model::JobName;
use scalability_gate::pb::scalability_gate::v1::ReportJobResultRequest;
use scalability_gate::pb::scalability_gate::v1::results_client::ResultsClient;
use scalability_gate::store::DELIVERIES_KEPT;

const KEY: &str = "soak-hmac-key";
const REPO: &str = "kubernetes/kubernetes";
const OPEN_PRS: usize = 300;
const READY_EVERY: usize = 15;
const APPROVER: &str = "soak-approver";
const JOBS: [&str; 3] = [
    "ci-kubernetes-e2e-gce-scale-performance-100",
    "ci-kubernetes-e2e-gce-scale-correctness-100",
    "ci-kubernetes-kubemark-500-gce",
];
/// Red runs in a row that make a red streak.
const STREAK: u64 = 3;
/// Fake GitHub's answer time.
const LATENCY: Duration = Duration::from_millis(10);
/// How long the plugin gets to start and to stop.
const START_STOP: Duration = Duration::from_secs(30);

/// The knobs, from the environment.
struct Settings {
    secs: u64,
    sample_secs: u64,
    warmup_secs: u64,
    webhooks_per_sec: u64,
    results_per_sec: u64,
    commands_per_min: u64,
    regression_every: u64,
    audit_retention: usize,
    incident_retention: usize,
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        let secs = env_u64("SOAK_SECS", 300);
        let webhooks_per_sec = env_u64("SOAK_WEBHOOKS_PER_SEC", 100).max(1);
        let fill = DELIVERIES_KEPT as u64 / webhooks_per_sec + 30;
        Self {
            secs,
            sample_secs: env_u64("SOAK_SAMPLE_SECS", 15).max(1),
            warmup_secs: env_u64("SOAK_WARMUP_SECS", fill),
            webhooks_per_sec,
            results_per_sec: env_u64("SOAK_RESULTS_PER_SEC", 6).max(1),
            commands_per_min: env_u64("SOAK_COMMANDS_PER_MIN", 30),
            regression_every: env_u64("SOAK_REGRESSION_EVERY", 120).max(STREAK + 2),
            audit_retention: env_u64(
                "SOAK_AUDIT_RETENTION",
                Config::default().history.audit_retention as u64,
            )
            .max(1) as usize,
            incident_retention: env_u64(
                "SOAK_INCIDENT_RETENTION",
                Config::default().history.incident_retention as u64,
            )
            .max(1) as usize,
        }
    }
}

/// A free loopback port (bound then released; the plugin binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// What the driver counts while it sends.
#[derive(Default)]
struct Sent {
    webhooks: AtomicU64,
    duplicates: AtomicU64,
    commands: AtomicU64,
    results: AtomicU64,
    /// Answered 503: the plugin's event queue was full (hook does not retry those).
    queue_full: AtomicU64,
    refused: AtomicU64,
}

/// One sample of the plugin process.
struct Sample {
    at: f64,
    rss_kb: u64,
    hwm_kb: u64,
    cpu_secs: f64,
    store_bytes: u64,
    webhooks: u64,
    results: u64,
    /// Active incidents, lifted incidents and audit records the status API shows.
    counts: Option<Counts>,
}

/// What `/api/v1/status` shows: active incidents, lifted ones (at most 50), audit
/// records (at most 50).
#[derive(Clone, Copy)]
struct Counts {
    active: usize,
    lifted: usize,
    audit: usize,
}

/// The counts from the plugin's status API (`None` when it does not answer).
async fn counts(http: &reqwest::Client, url: &str) -> Option<Counts> {
    let status: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
    let len = |key: &str| status[key].as_array().map(Vec::len);
    Some(Counts {
        active: len("incidents")?,
        lifted: len("history")?,
        audit: len("audit")?,
    })
}

/// `VmRSS` and `VmHWM` of `pid`, in kB.
fn rss(pid: u32) -> (u64, u64) {
    let pid = pid.to_string();
    (
        procfs::status_kb(&pid, "VmRSS:"),
        procfs::status_kb(&pid, "VmHWM:"),
    )
}

#[path = "common/procfs.rs"]
mod procfs;

/// User + system CPU seconds of `pid` (clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the paren: state is field 3, utime field 14, stime field 15.
    (tick(11) + tick(12)) as f64 / 100.0
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A deterministic pseudo-random sequence (xorshift), so every soak sends the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Filler of the size GitHub's payloads carry besides what the plugin reads (the full
/// repository and user objects, the PR body).
fn padding() -> String {
    "GitHub sends the whole repository object with every event. ".repeat(80)
}

fn repository() -> serde_json::Value {
    serde_json::json!({
        "id": 20580498, "name": "kubernetes", "full_name": REPO,
        "owner": {"login": "kubernetes", "type": "Organization"},
        "private": false, "description": padding(),
    })
}

fn user(login: &str) -> serde_json::Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    serde_json::json!({"login": login, "type": kind, "site_admin": false})
}

/// An `issue_comment` payload on PR `number`.
fn issue_comment(action: &str, number: u64, id: u64, author: &str, body: &str) -> Vec<u8> {
    serde_json::json!({
        "action": action,
        "issue": {
            "number": number, "title": format!("Fix the thing number {number}"),
            "labels": [{"name": "kind/bug"}, {"name": "sig/scalability"}],
            "state": "open", "user": user("someone"), "body": padding(),
            "pull_request": {"url": format!("https://api.github.com/repos/{REPO}/pulls/{number}")},
        },
        "comment": {
            "id": id, "body": body, "user": user(author),
            "html_url": format!("https://github.com/{REPO}/pull/{number}#issuecomment-{id}"),
            "created_at": "2026-11-25T12:00:00Z",
        },
        "repository": repository(),
        "sender": user(author),
    })
    .to_string()
    .into_bytes()
}

/// A `pull_request` payload for PR `number`.
fn pull_request(action: &str, number: u64, labels: &[&str], label: Option<&str>) -> Vec<u8> {
    let mut payload = serde_json::json!({
        "action": action,
        "number": number,
        "pull_request": {
            "number": number, "title": format!("Fix the thing number {number}"),
            "state": "open", "user": user("someone"), "body": padding(),
            "labels": labels.iter().map(|l| serde_json::json!({"name": l})).collect::<Vec<_>>(),
            "base": {"ref": "master", "sha": "1111111111111111111111111111111111111111"},
            "head": {"ref": format!("fix-{number}"), "sha": format!("{:040x}", number * 7919)},
            "merged": false, "merged_at": null, "merge_commit_sha": null, "merged_by": null,
        },
        "repository": repository(),
        "sender": user("someone"),
    });
    if let Some(label) = label {
        payload["label"] = serde_json::json!({"name": label});
    }
    if action == "edited" {
        payload["changes"] = serde_json::json!({"title": {"from": "old title"}});
    }
    payload.to_string().into_bytes()
}

/// Signs and posts one webhook as Prow's hook does; returns the status (0: no answer).
async fn post(
    http: &reqwest::Client,
    url: &str,
    event: &str,
    delivery: &str,
    body: Vec<u8>,
) -> u16 {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).expect("any key");
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    http.post(url)
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .header("User-Agent", "ProwHook")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Sends webhooks at the configured rate until `stop`.
async fn send_webhooks(
    url: String,
    settings: Arc<Settings>,
    prs: Arc<Vec<u64>>,
    sent: Arc<Sent>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tick =
        tokio::time::interval(Duration::from_micros(1_000_000 / settings.webhooks_per_sec));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let command_every = match settings.commands_per_min {
        0 => u64::MAX,
        n => (settings.webhooks_per_sec * 60 / n).max(1),
    };
    let mut n: u64 = 0;
    let mut comment_id: u64 = 3_000_000_000;
    let mut last: Option<(String, String, Vec<u8>)> = None;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let pr = prs[rng.below(prs.len() as u64) as usize];
        comment_id += 1;
        let author = format!("contributor-{}", rng.below(500));
        let (event, body) = if n % command_every == 0 {
            sent.commands.fetch_add(1, Ordering::Relaxed);
            if rng.below(4) == 0 {
                let body = "Reverted, the job is fine.\n/scalability-unblock soak\n";
                (
                    "issue_comment",
                    issue_comment("created", pr, comment_id, APPROVER, body),
                )
            } else {
                (
                    "issue_comment",
                    issue_comment("created", pr, comment_id, &author, "/scalability-status"),
                )
            }
        } else {
            match rng.below(100) {
                0..=59 => {
                    let body = format!(
                        "LGTM overall, one nit on line {}.\n\n```\n/scalability-unblock\n```",
                        rng.below(400)
                    );
                    (
                        "issue_comment",
                        issue_comment("created", pr, comment_id, &author, &body),
                    )
                }
                60..=64 => (
                    "issue_comment",
                    issue_comment("edited", pr, comment_id, &author, "/scalability-status"),
                ),
                65..=69 => (
                    "issue_comment",
                    issue_comment("created", pr, comment_id, "k8s-ci-robot[bot]", "/retest"),
                ),
                70..=79 => {
                    let label = ["lgtm", "approved", "kind/bug"][rng.below(3) as usize];
                    (
                        "pull_request",
                        pull_request("labeled", pr, &["lgtm", "approved", label], Some(label)),
                    )
                }
                80..=84 => (
                    "pull_request",
                    pull_request("unlabeled", pr, &["approved"], Some("lgtm")),
                ),
                85..=89 => (
                    "pull_request",
                    pull_request("synchronize", pr, &["kind/bug"], None),
                ),
                90..=91 => ("pull_request", pull_request("opened", pr, &[], None)),
                92..=94 => (
                    "pull_request",
                    pull_request("edited", pr, &["lgtm", "approved"], None),
                ),
                _ => {
                    let event = ["status", "check_run", "push"][rng.below(3) as usize];
                    (
                        event,
                        serde_json::json!({"repository": repository()})
                            .to_string()
                            .into_bytes(),
                    )
                }
            }
        };
        // Now and then hook delivers the same event twice (a retry after a reset).
        let (event, delivery, body) = match last.take() {
            Some(previous) if rng.below(50) == 0 => {
                sent.duplicates.fetch_add(1, Ordering::Relaxed);
                previous
            }
            _ => (event.to_string(), format!("soak-{n:016x}"), body),
        };
        let status = post(&http, &url, &event, &delivery, body.clone()).await;
        sent.webhooks.fetch_add(1, Ordering::Relaxed);
        match status {
            200 => {}
            503 => {
                sent.queue_full.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                sent.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        last = Some((event, delivery, body));
    }
}

/// The gRPC API token (`api.token_file`): reporting a result is a write.
const API_TOKEN: &str = "soak-api-token";

/// Reports job results over gRPC at the configured rate until `stop`.
async fn send_results(
    endpoint: String,
    settings: Arc<Settings>,
    sent: Arc<Sent>,
    stop: Arc<AtomicBool>,
) {
    let mut client = ResultsClient::connect(endpoint)
        .await
        .expect("gRPC connects");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut tick =
        tokio::time::interval(Duration::from_micros(1_000_000 / settings.results_per_sec));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut runs = [0u64; JOBS.len()];
    let base = 1_790_000_000i64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let j = rng.below(JOBS.len() as u64) as usize;
        // A build reported twice now and then (two channels seeing the same run).
        let again = runs[j] > 0 && rng.below(20) == 0;
        if !again {
            runs[j] += 1;
        }
        let n = runs[j];
        // The result follows from the build alone, so a build reported twice keeps it.
        let result = if n % settings.regression_every >= settings.regression_every - STREAK {
            "failure"
        } else if (n * 2_654_435_761 + j as u64) % 25 == 0 {
            "aborted"
        } else {
            "success"
        };
        let build = 1_990_000_000_000_000_000u64 + j as u64 * 1_000_000_000 + n;
        let started = base + n as i64 * 60;
        let mut commits = std::collections::HashMap::new();
        commits.insert(REPO.to_string(), format!("{:040x}", n * 104_729 + j as u64));
        let request = ReportJobResultRequest {
            job_name: JOBS[j].into(),
            build_id: build.to_string(),
            result: result.into(),
            started_at: started,
            finished_at: started + 50,
            url: format!(
                "https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{}/{build}",
                JOBS[j]
            ),
            gcs_path: format!("gs://kubernetes-ci-logs/logs/{}/{build}", JOBS[j]),
            commits,
        };
        let mut request = tonic::Request::new(request);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {API_TOKEN}").parse().expect("ASCII token"),
        );
        if client.report_job_result(request).await.is_err() {
            sent.refused.fetch_add(1, Ordering::Relaxed);
        }
        sent.results.fetch_add(1, Ordering::Relaxed);
    }
}

/// The plugin's configuration: every listener on loopback, GitHub at the fake, a budget the
/// soak never reaches (the pacing is measured by `benches/block.rs`), no Prow sources.
fn config(dir: &Path, fake: &FakeGithub, ports: &Ports, settings: &Settings) -> Config {
    let mut c = Config {
        listen: format!("127.0.0.1:{}", ports.listen).parse().unwrap(),
        health_listen: format!("127.0.0.1:{}", ports.health).parse().unwrap(),
        metrics_listen: format!("127.0.0.1:{}", ports.metrics).parse().unwrap(),
        grpc_listen: format!("127.0.0.1:{}", ports.grpc).parse().unwrap(),
        dry_run: false,
        hmac_secret_file: dir.join("hmac"),
        store_path: dir.join("store"),
        jobs: JOBS
            .iter()
            .map(|name| JobConfig {
                name: name.to_string(),
                scopes: vec![ScopeConfig {
                    repo: REPO.into(),
                    branch: "master".into(),
                }],
                failures_to_confirm: 2,
                auto_unblock_on_recovery: true,
                infer_scopes: false,
                suspects: Default::default(),
                max_silence: None,
            })
            .collect(),
        ..Config::default()
    };
    c.github.endpoints = vec![fake.url()];
    c.github.token_file = dir.join("token");
    c.api.token_file = dir.join("api-token").display().to_string();
    c.github.mutations_per_minute = 6000;
    c.github.mutations_per_hour = 360_000;
    c.approvers.teams = vec![];
    c.approvers.users = vec![APPROVER.into()];
    c.sources.deck.url = String::new();
    c.sources.gcs.url = String::new();
    c.history.audit_retention = settings.audit_retention;
    c.history.incident_retention = settings.incident_retention;
    c
}

struct Ports {
    listen: u16,
    health: u16,
    metrics: u16,
    grpc: u16,
}

/// Starts `scalability-gate serve` and waits until it is ready.
async fn start_plugin(config_path: &Path, ports: &Ports, log: &Path) -> Child {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_scalability-gate"));
    let log = std::fs::File::create(log).expect("log file");
    let mut child = Command::new(&binary)
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let ready = format!("http://127.0.0.1:{}/healthz/ready", ports.health);
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(&ready).send().await
            && r.status().is_success()
        {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the plugin exited before it was ready ({status}); see its log");
        }
        if started.elapsed() > START_STOP {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the plugin was not ready within {START_STOP:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends SIGTERM and waits (bounded) for a clean exit.
fn stop_plugin(mut child: Child) -> String {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return format!(
                "{status} after SIGTERM ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        if started.elapsed() > START_STOP {
            let _ = child.kill();
            let _ = child.wait();
            return "did not stop within 30 s of SIGTERM: killed".into();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One counter or gauge from the plugin's `/metrics` (summed over labels).
async fn metric(http: &reqwest::Client, url: &str, name: &str) -> f64 {
    let Ok(r) = http.get(url).send().await else {
        return f64::NAN;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |sum, v| sum + v)
}

/// What the store holds after the soak, read with the plugin stopped, beside what
/// retention allows.
fn census(path: &Path, settings: &Settings) {
    let store = match Store::open(path) {
        Ok(store) => store,
        Err(e) => {
            println!("store census: cannot open the store: {e:#}");
            return;
        }
    };
    let runs: Vec<String> = JOBS
        .iter()
        .map(|j| {
            let n = store.runs(&JobName::new(*j)).map_or(0, |r| r.len());
            format!("{n}")
        })
        .collect();
    let incidents = store.all_incidents().unwrap_or_default();
    let active = incidents.iter().filter(|i| i.is_active()).count();
    let lifted = incidents.len() - active;
    let cleaned = incidents
        .iter()
        .filter(|i| !i.is_active() && store.is_cleaned(&i.id).unwrap_or(false))
        .count();
    println!(
        "store census: runs per job [{}] (retention {}), incidents {} ({} active, {} lifted of which {} cleaned up; incident_retention {}), audit records {} (audit_retention {}), replies pending {}",
        runs.join(", "),
        Config::default().history.retention,
        incidents.len(),
        active,
        lifted,
        cleaned,
        settings.incident_retention,
        store.audit_log(usize::MAX).map_or(0, |a| a.len()),
        settings.audit_retention,
        store.pending_replies().map_or(0, |r| r.len()),
    );
}

/// CPU % over the thirds of the window after the warm-up: flat when the last third's is
/// within a quarter (or one point) of the first third's. Printed, not part of the verdict
/// line (it moves with whatever else the machine runs).
fn cpu_verdict(samples: &[Sample], warmup: f64) {
    let Some(start) = samples.iter().position(|s| s.at >= warmup) else {
        return;
    };
    // Each interval's CPU %, from the sample at the warm-up's end on.
    let rates: Vec<f64> = samples[start..]
        .windows(2)
        .map(|w| (w[1].cpu_secs - w[0].cpu_secs) / (w[1].at - w[0].at) * 100.0)
        .collect();
    if rates.len() < 3 {
        return;
    }
    let third = rates.len() / 3;
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(&rates[..third]), mean(&rates[rates.len() - third..]));
    let flat = last - first <= (first * 0.25).max(1.0);
    println!(
        "  {:<12} first third {first:>5.1} %  last third {last:>5.1} %  → {}",
        "CPU",
        if flat { "flat" } else { "GROWING" }
    );
}

/// The counts the status API showed after the warm-up, against the caps.
fn count_verdict(after: &[&Sample], settings: &Settings) {
    let counts: Vec<Counts> = after.iter().filter_map(|s| s.counts).collect();
    let (Some(first), Some(last)) = (counts.first(), counts.last()) else {
        println!("  counts: the status API did not answer");
        return;
    };
    let max = |f: fn(&Counts) -> usize| counts.iter().map(f).max().unwrap_or(0);
    println!(
        "  {:<12} lifted first {} last {} max {} (cap {}), active max {}, audit first {} last {} max {} (cap {}; the API shows at most 50 of each)",
        "counts",
        first.lifted,
        last.lifted,
        max(|c| c.lifted),
        settings.incident_retention,
        max(|c| c.active),
        first.audit,
        last.audit,
        max(|c| c.audit),
        settings.audit_retention,
    );
}

/// A megabyte as the table prints it (MiB, as `/proc` counts kB of 1024 bytes).
const MB: f64 = 1024.0 * 1024.0;

/// Least-squares slope of `ys` over `xs`, per unit of x.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let num: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

/// Flat: the last post-warm-up sample is within `tolerance` (fraction) or `slack` (bytes)
/// of the first, and the whole window's spread too.
fn verdict(what: &str, at: &[f64], values: &[f64], tolerance: f64, slack: f64) -> bool {
    let first = values[0];
    let last = *values.last().unwrap();
    let max = values.iter().cloned().fold(f64::MIN, f64::max);
    let allowed = (first * tolerance).max(slack);
    let flat = last - first <= allowed && max - first <= allowed;
    let per_min = slope(at, values) * 60.0;
    println!(
        "  {what:<12} first {:>8.1} MB  last {:>8.1} MB  max {:>8.1} MB  trend {:>+7.3} MB/min  → {}",
        first / MB,
        last / MB,
        max / MB,
        per_min / MB,
        if flat { "flat" } else { "GROWING" }
    );
    flat
}

fn main() {
    let settings = Arc::new(Settings::from_env());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(soak(settings));
}

async fn soak(settings: Arc<Settings>) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("hmac"), format!("{KEY}\n")).unwrap();
    let fake = FakeGithub::start().await.expect("fake GitHub");
    std::fs::write(dir.path().join("token"), fake.token()).unwrap();
    std::fs::write(dir.path().join("api-token"), format!("{API_TOKEN}\n")).unwrap();
    fake.set_login("scalability-gate-bot");
    fake.add_label(REPO, "lgtm");
    let prs: Vec<u64> = (0..OPEN_PRS)
        .map(|i| {
            let spec = PrSpec::new("master");
            let spec = if i % READY_EVERY == 0 {
                spec.labels(&["lgtm", "approved", "sig/scalability"])
            } else {
                spec.labels(&["kind/feature", "sig/node"])
            };
            fake.add_pr(REPO, spec)
        })
        .collect();
    fake.set_latency(LATENCY);
    let ports = Ports {
        listen: free_port(),
        health: free_port(),
        metrics: free_port(),
        grpc: free_port(),
    };
    let config_path = dir.path().join("config.yaml");
    let config = config(dir.path(), &fake, &ports, &settings);
    std::fs::write(
        &config_path,
        serde_yaml::to_string(&config).expect("config as YAML"),
    )
    .unwrap();
    let log_path = dir.path().join("plugin.log");
    let child = start_plugin(&config_path, &ports, &log_path).await;
    let pid = child.id();
    println!(
        "soak: release plugin pid {pid} against the in-process fake GitHub ({} ms per request), {OPEN_PRS} open PRs",
        LATENCY.as_millis()
    );
    println!(
        "  {} s, sample every {} s, warm-up {} s; {} webhooks/s (~{} KB each), {} results/s over {} jobs, {} commands/min, red streak every {} runs of a job; audit_retention {}, incident_retention {}",
        settings.secs,
        settings.sample_secs,
        settings.warmup_secs,
        settings.webhooks_per_sec,
        issue_comment("created", 1, 1, "a", "b").len() / 1024,
        settings.results_per_sec,
        JOBS.len(),
        settings.commands_per_min,
        settings.regression_every,
        settings.audit_retention,
        settings.incident_retention,
    );

    let sent = Arc::new(Sent::default());
    let stop = Arc::new(AtomicBool::new(false));
    let hook_url = format!("http://127.0.0.1:{}/hook", ports.listen);
    let webhooks = tokio::spawn(send_webhooks(
        hook_url,
        settings.clone(),
        Arc::new(prs),
        sent.clone(),
        stop.clone(),
    ));
    let results = tokio::spawn(send_results(
        format!("http://127.0.0.1:{}", ports.grpc),
        settings.clone(),
        sent.clone(),
        stop.clone(),
    ));

    let store = dir.path().join("store");
    let metrics_url = format!("http://127.0.0.1:{}/metrics", ports.metrics);
    let status_url = format!("http://127.0.0.1:{}/api/v1/status", ports.listen);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    println!(
        "{:>6} {:>9} {:>8} {:>9} {:>9} {:>7} {:>9} {:>6} {:>10} {:>6} {:>6} {:>5}",
        "t (s)",
        "webhooks",
        "results",
        "RSS MB",
        "peak MB",
        "CPU %",
        "store MB",
        "queue",
        "transitions",
        "active",
        "lifted",
        "audit"
    );
    let mut next = Duration::ZERO;
    loop {
        let now = started.elapsed();
        if now >= next {
            let (rss_kb, hwm_kb) = rss(pid);
            let sample = Sample {
                at: now.as_secs_f64(),
                rss_kb,
                hwm_kb,
                cpu_secs: cpu_secs(pid),
                store_bytes: dir_size(&store),
                webhooks: sent.webhooks.load(Ordering::Relaxed),
                results: sent.results.load(Ordering::Relaxed),
                counts: counts(&http, &status_url).await,
            };
            let cpu = samples.last().map_or(0.0, |p: &Sample| {
                (sample.cpu_secs - p.cpu_secs) / (sample.at - p.at) * 100.0
            });
            let shown = |f: fn(&Counts) -> usize| {
                sample
                    .counts
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |c| f(c).to_string())
            };
            println!(
                "{:>6.0} {:>9} {:>8} {:>9.1} {:>9.1} {:>7.1} {:>9.2} {:>6} {:>10} {:>6} {:>6} {:>5}",
                sample.at,
                sample.webhooks,
                sample.results,
                sample.rss_kb as f64 / 1024.0,
                sample.hwm_kb as f64 / 1024.0,
                cpu,
                sample.store_bytes as f64 / MB,
                metric(&http, &metrics_url, "scalability_gate_queue_depth").await,
                metric(&http, &metrics_url, "scalability_gate_transitions_total").await,
                shown(|c| c.active),
                shown(|c| c.lifted),
                shown(|c| c.audit),
            );
            samples.push(sample);
            next += Duration::from_secs(settings.sample_secs);
        }
        if now >= Duration::from_secs(settings.secs) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(10), webhooks).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), results).await;

    let duplicates_seen = metric(
        &http,
        &metrics_url,
        "scalability_gate_deliveries_duplicate_total",
    )
    .await;
    let runs = metric(&http, &metrics_url, "scalability_gate_runs_recorded_total").await;
    let transitions = metric(&http, &metrics_url, "scalability_gate_transitions_total").await;
    let outcome = stop_plugin(child);
    let errors = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"ERROR\""))
        .count();
    println!(
        "sent {} webhooks ({} duplicate deliveries, {} commands), {} results; {} answered 503 (queue full), {} other failures",
        sent.webhooks.load(Ordering::Relaxed),
        sent.duplicates.load(Ordering::Relaxed),
        sent.commands.load(Ordering::Relaxed),
        sent.results.load(Ordering::Relaxed),
        sent.queue_full.load(Ordering::Relaxed),
        sent.refused.load(Ordering::Relaxed),
    );
    println!(
        "plugin: {runs} runs recorded, {transitions} transitions, {duplicates_seen} duplicate deliveries dropped; GitHub saw {} requests ({} mutations), {} issues; {errors} ERROR log lines; exit: {outcome}",
        fake.request_count(),
        fake.mutation_count(),
        fake.issues(REPO)
            .iter()
            .filter(|i| i.pull_request.is_none())
            .count(),
    );

    census(&store, &settings);

    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= settings.warmup_secs as f64)
        .collect();
    if after.len() < 3 {
        println!(
            "verdict: too short to judge (fewer than 3 samples after the {} s warm-up)",
            settings.warmup_secs
        );
        return;
    }
    let at: Vec<f64> = after.iter().map(|s| s.at).collect();
    println!(
        "after the {} s warm-up ({} samples):",
        settings.warmup_secs,
        after.len()
    );
    let rss: Vec<f64> = after.iter().map(|s| s.rss_kb as f64 * 1024.0).collect();
    let disk: Vec<f64> = after.iter().map(|s| s.store_bytes as f64).collect();
    let rss_flat = verdict("RSS", &at, &rss, 0.10, 4.0 * MB);
    let disk_flat = verdict("store size", &at, &disk, 0.10, 2.0 * MB);
    cpu_verdict(&samples, settings.warmup_secs as f64);
    count_verdict(&after, &settings);
    println!(
        "verdict: {}",
        match (rss_flat, disk_flat) {
            (true, true) => "RSS and store size are flat after warm-up",
            (false, true) => "RSS GROWS after warm-up",
            (true, false) => "store size GROWS after warm-up",
            (false, false) => "RSS and store size GROW after warm-up",
        }
    );
}
