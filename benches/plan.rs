//! Throughput of the pure decisions: the detector over a job's history at the default
//! retention (200 runs), the gate's `decide` for a run and for a command, and the
//! reconciler's planning (`plan_labels`, `plan_lift`, `coverage`) over 1,000 and 10,000 open
//! PRs, on one thread. Everything here is what the consumer and the reconciler compute per
//! event or per pass, with no I/O: the figures bound what the plugin's own CPU costs next
//! to the GitHub round trips it plans.
//!
//! Each measurement warms up, then takes [`SAMPLES`] samples of about [`SAMPLE_FOR`] each and
//! prints the median ops/s and time per op, with the spread (slowest and fastest sample
//! against the median).
//!
//! Run: `cargo bench --bench plan`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use scalability_gate::config::LabelPrs;
use scalability_gate::core::command;
use scalability_gate::core::detector::{self, Outcome};
use scalability_gate::core::gate::{
    Approval, ApproverList, CommentInput, Ctx, GateJob, Input, LabelMode, Policy, State, decide,
};
use scalability_gate::core::tide::ReadyRule;
use scalability_gate::github::types::{GitRef, Label, PullRequest, User};
use scalability_gate::model::{
    BuildId, Cause, Channel, CommitSha, Exemption, ExemptionKind, Incident, IncidentId,
    IncidentState, JobName, Login, PrNumber, RepoName, Run, RunRef, RunResult, Scope, Timestamp,
};
use scalability_gate::reconcile::{coverage, exempt_on, plan_labels, plan_lift};

/// Runs per job kept by the store (`history.retention`'s default).
const RETENTION: usize = 200;
const LABEL: &str = "do-not-merge/scalability-regression";
const REPO: &str = "kubernetes/kubernetes";
const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";

/// Samples per measurement (the median is printed).
const SAMPLES: usize = 7;
/// About how long one sample runs.
const SAMPLE_FOR: Duration = Duration::from_millis(250);
/// How long the warm-up runs (also sizes the batches).
const WARM_UP: Duration = Duration::from_millis(200);

/// Warms `op` up, then times [`SAMPLES`] batches of it and prints the median and spread.
fn measure<T>(name: &str, mut op: impl FnMut() -> T) {
    let started = Instant::now();
    let mut warm: u64 = 0;
    while started.elapsed() < WARM_UP {
        black_box(op());
        warm += 1;
    }
    let per_op = started.elapsed().as_secs_f64() / warm as f64;
    let batch = ((SAMPLE_FOR.as_secs_f64() / per_op) as u64).max(1);
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                black_box(op());
            }
            t.elapsed().as_secs_f64() / batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let median = samples[SAMPLES / 2];
    let (fast, slow) = (samples[0], samples[SAMPLES - 1]);
    println!(
        "{name:<52} {ops:>12.0} ops/s {time:>12}/op  spread -{lo:.1}% +{hi:.1}%",
        ops = 1.0 / median,
        time = human(median),
        lo = (median - fast) / median * 100.0,
        hi = (slow - median) / median * 100.0,
    );
}

/// A duration in seconds, in the unit that reads best.
fn human(secs: f64) -> String {
    if secs < 1e-6 {
        format!("{:.0} ns", secs * 1e9)
    } else if secs < 1e-3 {
        format!("{:.2} µs", secs * 1e6)
    } else {
        format!("{:.2} ms", secs * 1e3)
    }
}

fn repo() -> RepoName {
    RepoName::parse(REPO).expect("repo name")
}

fn scope(repo: &str, branch: &str) -> Scope {
    Scope {
        repo: RepoName::parse(repo).expect("repo name"),
        branch: branch.into(),
    }
}

/// A run of build `n` of `JOB`, started every 2 hours as the 100-node job is.
fn run(n: u64, result: RunResult) -> Run {
    let build = 1_800_000_000_000_000_000 + n;
    let started = 1_700_000_000 + n as i64 * 7200;
    let mut commits = BTreeMap::new();
    commits.insert(repo(), CommitSha::new(format!("{:040x}", n * 7919)));
    Run {
        job: JobName::new(JOB),
        build_id: BuildId::new(build.to_string()),
        result,
        started_at: Some(Timestamp(started)),
        finished_at: Some(Timestamp(started + 5400)),
        url: format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{JOB}/{build}"),
        gcs_path: format!("gs://kubernetes-ci-logs/logs/{JOB}/{build}"),
        commits,
        channel: Channel::Deck,
    }
}

/// A realistic history of [`RETENTION`] runs, oldest first: mostly green, an aborted or
/// errored run now and then, and a few red streaks; the last run is green.
fn history() -> Vec<Run> {
    (0..RETENTION as u64)
        .map(|n| {
            let result = match n {
                _ if n == RETENTION as u64 - 1 => RunResult::Success,
                _ if n % 37 == 0 => RunResult::Aborted,
                _ if n % 53 == 0 => RunResult::Error,
                _ if n % 41 < 3 => RunResult::Failure,
                _ => RunResult::Success,
            };
            run(n, result)
        })
        .collect()
}

fn run_ref(r: &Run) -> RunRef {
    RunRef::from(r)
}

/// `n` incidents of distinct jobs, `active` of them active, each over two scopes, with a
/// couple of exemptions each.
fn incidents(n: usize, active: usize) -> Vec<Incident> {
    (0..n)
        .map(|i| {
            let first_red = run(1000 + i as u64, RunResult::Failure);
            let last_green = run(999 + i as u64, RunResult::Success);
            let mut incident = Incident::new(
                IncidentId::new(format!("job-{i}-{}", first_red.build_id)),
                JobName::new(format!("job-{i}")),
                Timestamp(1_700_000_000 + i as i64),
                Cause::Regression {
                    first_red: run_ref(&first_red),
                    last_green: run_ref(&last_green),
                },
                vec![
                    scope(REPO, if i % 3 == 0 { "master" } else { "release-1.34" }),
                    scope("kubernetes/perf-tests", "master"),
                ],
            );
            if i >= active {
                incident.state = IncidentState::Lifted {
                    by: "wojtek-t".into(),
                    reason: "reverted".into(),
                    at: Timestamp(1_700_100_000),
                };
            }
            incident.exemptions = (0..2)
                .map(|e| Exemption {
                    repo: repo(),
                    pr: PrNumber(130_000 + (i * 10 + e) as u64),
                    kind: ExemptionKind::Approver,
                    by: Login::new("wojtek-t"),
                    reason: "revert".into(),
                    at: Timestamp(1_700_000_500),
                })
                .collect();
            incident
        })
        .collect()
}

fn policy(jobs: usize) -> Policy {
    Policy {
        jobs: (0..jobs)
            .map(|i| GateJob {
                name: JobName::new(if i == 0 {
                    JOB.to_string()
                } else {
                    format!("job-{}", i - 1)
                }),
                scopes: vec![
                    scope(REPO, "master"),
                    scope("kubernetes/perf-tests", "master"),
                ],
                auto_unblock_on_recovery: i > 0,
                infer_scopes: false,
            })
            .collect(),
        approvers: ApproverList {
            users: vec!["wojtek-t".into(), "mborsz".into()],
            teams: vec!["kubernetes/sig-scalability-leads".into()],
        },
        label: LABEL.into(),
        label_mode: LabelMode::Ready,
        ready_labels: vec!["lgtm".into(), "approved".into()],
        ready_rules: BTreeMap::new(),
        // Fields added later keep their defaults.
        ..Policy::default()
    }
}

fn label(name: &str) -> Label {
    Label {
        name: name.into(),
        color: "ededed".into(),
        description: None,
    }
}

/// `n` open PRs on master as Kubernetes has them: a handful of labels each, 4% ready
/// (`lgtm` and `approved`), and `labelled` of every 100 already carrying our label.
fn prs(n: usize, labelled: usize) -> Vec<PullRequest> {
    (0..n)
        .map(|i| {
            let mut labels: Vec<Label> = [
                "cncf-cla: yes",
                "kind/feature",
                "sig/node",
                "size/M",
                "release-note-none",
                "needs-priority",
            ]
            .iter()
            .map(|l| label(l))
            .collect();
            if i % 25 == 0 {
                labels.extend([label("lgtm"), label("approved")]);
            } else if i % 5 == 0 {
                labels.push(label("approved"));
            }
            if i % 100 < labelled {
                labels.push(label(LABEL));
            }
            PullRequest {
                number: 120_000 + i as u64,
                title: format!("Fix the thing number {i}"),
                state: "open".into(),
                user: User {
                    login: format!("author-{}", i % 300),
                    kind: Some("User".into()),
                },
                labels,
                base: GitRef {
                    branch: "master".into(),
                    sha: format!("{:040x}", i),
                },
                head: GitRef {
                    branch: format!("fix-{i}"),
                    sha: format!("{:040x}", i * 31),
                },
                created_at: Some("2026-01-01T00:00:00Z".into()),
                updated_at: None,
                merged_at: None,
            }
        })
        .collect()
}

fn detector_benches() {
    let history = history();
    let last = RETENTION as u64;
    let green = run(last, RunResult::Success);
    let red = run(last, RunResult::Failure);
    let duplicate = history[RETENTION - 1].clone();
    let mut late = run(last - 10, RunResult::Failure);
    late.build_id = BuildId::new("late-1");
    assert_eq!(detector::detect(&history, &green, 1), Outcome::None);
    assert!(matches!(
        detector::detect(&history, &red, 1),
        Outcome::Regression { .. }
    ));
    println!("detector::detect, history of {RETENTION} runs (retention):");
    measure("  green after green (nothing)", || {
        detector::detect(black_box(&history), black_box(&green), 1)
    });
    measure("  red after green (regression)", || {
        detector::detect(black_box(&history), black_box(&red), 1)
    });
    measure("  red, failures_to_confirm 3 (pending)", || {
        detector::detect(black_box(&history), black_box(&red), 3)
    });
    measure("  late red before the latest green", || {
        detector::detect(black_box(&history), black_box(&late), 1)
    });
    measure("  duplicate build (already in history)", || {
        detector::detect(black_box(&history), black_box(&duplicate), 1)
    });
}

fn gate_benches() {
    let policy = policy(30);
    let ctx = Ctx {
        now: Timestamp(1_800_000_000),
        policy: &policy,
        issue_incident: None,
    };
    // The consumer hands the gate every active incident and the one the input names.
    let state = State {
        incidents: incidents(5, 3),
    };
    let first_red = run_ref(&run(500, RunResult::Failure));
    let last_green = run_ref(&run(499, RunResult::Success));
    let regression = Input::Regression {
        job: JobName::new(JOB),
        first_red,
        last_green,
    };
    let recovery = Input::Recovery {
        job: JobName::new("job-0"),
        green: run_ref(&run(1100, RunResult::Success)),
    };
    let body =
        "Reverted in #130001, the job is green again.\n\n/scalability-unblock reverted #129876\n";
    let comment = |body: &str, is_approver: bool| CommentInput {
        repo: repo(),
        number: PrNumber(130_500),
        is_pr: true,
        base: scalability_gate::core::gate::PrBase::Branch("master".into()),
        author: Login::new(if is_approver { "wojtek-t" } else { "someone" }),
        approval: if is_approver {
            Approval::Approver
        } else {
            Approval::NotApprover
        },
        comment_id: 2_400_000_000,
        commands: command::parse(body),
    };
    let unblock = Input::Comment(comment(body, true));
    let refused = Input::Comment(comment(body, false));
    let status = Input::Comment(comment("/scalability-status", false));
    assert!(!decide(&state, &regression, &ctx).incidents.is_empty());
    assert!(!decide(&state, &unblock, &ctx).incidents.is_empty());
    println!("gate::decide, 3 active incidents (+2 lifted), 30 gated jobs:");
    measure("  regression (opens an incident)", || {
        decide(black_box(&state), black_box(&regression), &ctx)
    });
    measure("  recovery (auto-unblock lifts)", || {
        decide(black_box(&state), black_box(&recovery), &ctx)
    });
    measure("  /scalability-unblock by an approver", || {
        decide(black_box(&state), black_box(&unblock), &ctx)
    });
    measure("  /scalability-unblock refused", || {
        decide(black_box(&state), black_box(&refused), &ctx)
    });
    measure("  /scalability-status", || {
        decide(black_box(&state), black_box(&status), &ctx)
    });
    measure("  parse + decide /scalability-unblock", || {
        let input = Input::Comment(comment(black_box(body), true));
        decide(black_box(&state), &input, &ctx)
    });
}

fn reconcile_benches() {
    let repo = repo();
    let required = ReadyRule::from_labels(&["lgtm".to_string(), "approved".to_string()]);
    let all_incidents = incidents(50, 5);
    let covered = coverage(&all_incidents);
    let master = scope(REPO, "master");
    let blocking = covered.get(&master).cloned().unwrap_or_default();
    assert!(!blocking.is_empty());
    println!("reconcile planning (ready = lgtm+approved, 4% of PRs):");
    measure("  coverage, 50 incidents (5 active), 2 scopes each", || {
        coverage(black_box(&all_incidents))
    });
    for n in [1_000, 10_000] {
        let fresh = prs(n, 0);
        let labelled = prs(n, 100);
        let ready_done = prs(n, 0)
            .into_iter()
            .map(|mut pr| {
                if pr.labels.iter().any(|l| l.name == "lgtm") {
                    pr.labels.push(label(LABEL));
                }
                pr
            })
            .collect::<Vec<_>>();
        let plan = |prs: &[PullRequest], mode| {
            plan_labels(&repo, prs, LABEL, mode, &required, |pr| {
                exempt_on(&blocking, &repo, pr)
            })
        };
        assert_eq!(plan(&fresh, LabelPrs::Ready).len(), n / 25);
        assert_eq!(plan(&fresh, LabelPrs::All).len(), n);
        assert!(plan(&ready_done, LabelPrs::Ready).is_empty());
        assert_eq!(plan_lift(&repo, &labelled, LABEL, &required).len(), n);
        measure(
            &format!("  plan_labels ready, {n} PRs, none labelled"),
            || plan(black_box(&fresh), LabelPrs::Ready),
        );
        measure(&format!("  plan_labels ready, {n} PRs, converged"), || {
            plan(black_box(&ready_done), LabelPrs::Ready)
        });
        measure(
            &format!("  plan_labels all, {n} PRs, none labelled"),
            || plan(black_box(&fresh), LabelPrs::All),
        );
        measure(&format!("  plan_lift, {n} PRs, all labelled"), || {
            plan_lift(&repo, black_box(&labelled), LABEL, &required)
        });
    }
}

fn main() {
    println!(
        "one thread; median of {SAMPLES} samples of ~{} ms after {} ms warm-up",
        SAMPLE_FOR.as_millis(),
        WARM_UP.as_millis()
    );
    detector_benches();
    gate_benches();
    reconcile_benches();
}
