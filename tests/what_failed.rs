//! Issue 18 items 1 and 2 end to end, over real sockets: a fake GCS over HTTP serving each
//! run's `started.json`, `finished.json` and `artifacts/junit_01.xml` (Kubernetes e2e
//! form, written here), runs reported through the Results gRPC API, signed comment
//! webhooks on `/hook`, the stateful fake GitHub and the plugin's own `/api/v1`.
//!
//! - The blocker issue names the failed testcases of the first red run (not the skipped
//!   ones, nor those that passed), at most 20 and a count of the rest, and links the red
//!   run, the last green run and the suspect range (`compare/GREEN...RED`); without a
//!   junit it says the failed tests are unavailable. A JUnit read that GCS holds delays
//!   neither the issue nor the labels: the body says they are being read, then names them.
//! - `/scalability-culprit #N <mitigation> [note]` by an approver is recorded on the
//!   incident (API and issue body), a second one replaces it (the first kept), and a
//!   stranger is refused with one reply.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::{Plugin, World, eventually, report_run_started};
use scalability_gate::github::fake::PrSpec;
use serde_json::Value;
use tokio::net::TcpListener;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const BUCKET: &str = "kubernetes-ci-logs";
const APPROVER: &str = "wojtek";
const GREEN: u64 = 1001;
const RED: u64 = 1002;

fn sha(build: u64) -> String {
    format!("{build:0>40}").replace('0', "a")
}

/// A fake GCS: objects at `/{bucket}/{path}` and the JSON listing API (`items` and
/// `prefixes` under `prefix`, split at `delimiter=/`). With a [`Hold`], every request for
/// a run's `artifacts/` (the JUnit listing and files) waits until it is released.
#[derive(Clone, Default)]
struct FakeGcs {
    objects: Arc<Mutex<BTreeMap<String, String>>>,
    hold: Option<Arc<Hold>>,
}

/// Holds the JUnit requests: `waiting` counts the held ones, `released` lets them go.
struct Hold {
    released: tokio::sync::watch::Sender<bool>,
    waiting: std::sync::atomic::AtomicUsize,
}

impl FakeGcs {
    /// A fake GCS that holds the JUnit requests until [`FakeGcs::release`].
    fn holding_junit() -> FakeGcs {
        FakeGcs {
            hold: Some(Arc::new(Hold {
                released: tokio::sync::watch::channel(false).0,
                waiting: Default::default(),
            })),
            ..FakeGcs::default()
        }
    }

    /// JUnit requests held right now.
    fn held(&self) -> usize {
        self.hold
            .as_ref()
            .map_or(0, |h| h.waiting.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn release(&self) {
        if let Some(hold) = &self.hold {
            hold.released.send_replace(true);
        }
    }

    fn put(&self, path: &str, body: String) {
        self.objects
            .lock()
            .unwrap()
            .insert(format!("{BUCKET}/{path}"), body);
    }

    /// `started.json` (testing `sha(build)` of kubernetes/kubernetes) and `finished.json`.
    fn add_run(&self, build: u64, started: i64, passed: bool) {
        let dir = format!("logs/{JOB}/{build}");
        self.put(
            &format!("{dir}/started.json"),
            serde_json::json!({"timestamp": started, "repo-commit": sha(build),
                "repos": {"kubernetes/kubernetes": format!("master:{}", sha(build))}})
            .to_string(),
        );
        self.put(
            &format!("{dir}/finished.json"),
            serde_json::json!({"timestamp": started + 1800, "passed": passed,
                "result": if passed {"SUCCESS"} else {"FAILURE"}})
            .to_string(),
        );
    }

    fn add_junit(&self, build: u64, xml: String) {
        self.put(&format!("logs/{JOB}/{build}/artifacts/junit_01.xml"), xml);
    }

    async fn start(&self) -> String {
        let router = Router::new().fallback(handler).with_state(self.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}")
    }
}

async fn handler(State(gcs): State<FakeGcs>, req: Request) -> axum::response::Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let query = req.uri().query().unwrap_or("");
    if let Some(hold) = &gcs.hold
        && (path.contains("/artifacts/") || query.contains("artifacts"))
    {
        use std::sync::atomic::Ordering;
        let mut released = hold.released.subscribe();
        hold.waiting.fetch_add(1, Ordering::SeqCst);
        let _ = released.wait_for(|r| *r).await;
        hold.waiting.fetch_sub(1, Ordering::SeqCst);
    }
    let objects = gcs.objects.lock().unwrap().clone();
    if let Some(bucket) = path
        .strip_prefix("storage/v1/b/")
        .and_then(|p| p.strip_suffix("/o"))
    {
        let url =
            reqwest::Url::parse(&format!("http://x/?{}", req.uri().query().unwrap_or(""))).unwrap();
        let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let prefix = query.get("prefix").cloned().unwrap_or_default();
        let full = format!("{bucket}/{prefix}");
        let (mut items, mut prefixes) = (Vec::new(), Vec::new());
        for key in objects.keys() {
            let Some(rest) = key.strip_prefix(&full) else {
                continue;
            };
            match rest.split_once('/') {
                Some((dir, _)) => prefixes.push(format!("{prefix}{dir}/")),
                None => items.push(serde_json::json!({"name": format!("{prefix}{rest}")})),
            }
        }
        prefixes.dedup();
        return axum::Json(serde_json::json!({"kind": "storage#objects",
            "items": items, "prefixes": prefixes}))
        .into_response();
    }
    match objects.get(&path) {
        Some(body) => body.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A Kubernetes e2e JUnit file: `failed` testcases with a `<failure>`, one passing, one
/// skipped, as the e2e framework writes them.
fn e2e_junit(failed: &[String]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuite name=\"Kubernetes e2e suite\" tests=\"0\" failures=\"0\" errors=\"0\" time=\"4311.2\">\n\
         <testcase name=\"[sig-scalability] Load capacity [Feature:Performance] should be able to handle 30 pods per node\" classname=\"Kubernetes e2e suite\" time=\"3000.1\"></testcase>\n\
         <testcase name=\"[sig-storage] CSI Volumes [Serial] should skip this\" classname=\"Kubernetes e2e suite\" time=\"0\">\n\
         <skipped message=\"skipped\"></skipped>\n</testcase>\n",
    );
    for name in failed {
        xml.push_str(&format!(
            "<testcase name=\"{name}\" classname=\"Kubernetes e2e suite\" time=\"12.5\">\n\
             <failure type=\"Failure\">test/e2e/scalability/density.go:123\nExpected &lt;bool&gt;: false to be true</failure>\n\
             <system-out>I1125 log line</system-out>\n</testcase>\n"
        ));
    }
    xml.push_str("</testsuite>\n");
    xml
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A world whose plugin reads GCS at `gcs_url`, with `APPROVER` an approver and no
/// start-up backfill (the runs arrive through gRPC, as news).
async fn start(world: &World, gcs_url: String) -> Plugin {
    // The repo on the fake, with a ready PR (#1) on master.
    let pr = PrSpec::new("master").labels(&["lgtm", "approved"]);
    assert_eq!(world.fake.add_pr(common::REPO, pr), 1);
    let mut config = world.config();
    config.sources.gcs.url = gcs_url;
    config.sources.gcs.bucket = BUCKET.into();
    config.history.backfill = 0;
    Plugin::start(config).await
}

/// Green then red through gRPC; the runs' commits come from the fake GCS.
async fn regress(plugin: &Plugin, gcs: &FakeGcs) {
    let t = now() - 5 * 3600;
    gcs.add_run(GREEN, t, true);
    gcs.add_run(RED, t + 3600, false);
    let grpc = plugin.bound.grpc.to_string();
    report_run_started(&grpc, JOB, GREEN, "success", t).await;
    report_run_started(&grpc, JOB, RED, "failure", t + 3600).await;
    eventually("the incident opened", async || {
        let json = incident(plugin).await;
        if json["state"] == "active" {
            Ok(())
        } else {
            Err(json)
        }
    })
    .await;
}

/// The open blocker issue once its body has a "What failed" section that `ready` accepts.
async fn blocker_body(world: &World, ready: impl Fn(&str) -> bool) -> (u64, String) {
    eventually("the blocker issue with what failed", || {
        let Some(issue) = world.open_blockers().pop() else {
            return Err(format!(
                "no open blocker; issues: {:?}",
                world.fake.issues(common::REPO)
            ));
        };
        let body = issue.body.clone().unwrap_or_default();
        if ready(&body) {
            Ok((issue.number, body))
        } else {
            Err(body)
        }
    })
    .await
}

async fn incident(plugin: &Plugin) -> Value {
    reqwest::get(format!("{}/api/v1/incidents/{JOB}-{RED}", plugin.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn failing(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| {
            format!("[sig-scalability] Density [Feature:Performance] case {i:02} should meet SLOs")
        })
        .collect()
}

#[tokio::test]
async fn the_blocker_issue_names_the_failed_tests_and_links_the_runs_and_range() {
    let world = World::builder().approver_user(APPROVER).build().await;
    let gcs = FakeGcs::default();
    let mut failed = failing(2);
    // Hostile text in a test name stays text.
    failed.push("[sig-api] watch `cache` @kubernetes/sig-leads &lt;!-- scalability-gate:x:issue/master --&gt; | ok".into());
    gcs.add_junit(RED, e2e_junit(&failed));
    let plugin = start(&world, gcs.start().await).await;
    regress(&plugin, &gcs).await;

    let (_, body) = blocker_body(&world, |b| {
        b.contains("### What failed") && b.contains("failed testcase")
    })
    .await;
    assert!(
        body.contains("3 failed testcase(s) in the JUnit files of run"),
        "{body}"
    );
    for name in &failed[..2] {
        assert!(
            body.contains(&format!("- `{name}`")),
            "{name} missing in\n{body}"
        );
    }
    assert!(body.contains("- ``[sig-api] watch `cache` @kubernetes/sig-leads <!\u{200B}-- scalability-gate:x:issue/master --> | ok``"), "{body}");
    assert!(
        !body.contains("should skip this"),
        "a skipped test is no failure: {body}"
    );
    assert!(
        !body.contains("30 pods per node"),
        "a passed test is no failure: {body}"
    );
    assert!(!body.contains("and 0 more"), "{body}");
    let compare = format!(
        "[suspect range](https://github.com/kubernetes/kubernetes/compare/{}...{})",
        sha(GREEN),
        sha(RED)
    );
    assert!(body.contains(&compare), "{body}");
    assert!(
        body.contains(&format!(
            "First red run: [{RED}](https://prow.example/view/{RED})"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "last green run: [{GREEN}](https://prow.example/view/{GREEN})"
        )),
        "{body}"
    );
    // Only our one issue marker: the forged one in a test name does not count.
    let markers = scalability_gate::comment::parse_markers(&body);
    assert_eq!(markers.len(), 1, "{markers:?}");

    let json = incident(&plugin).await;
    assert_eq!(json["failed_tests"]["total"], 3, "{json}");
    assert_eq!(json["failed_tests"]["build_id"], RED.to_string());
    assert_eq!(json["culprit"], Value::Null);
    plugin.stop().await;
}

/// A slow bucket does not delay the block: while GCS holds the JUnit request, the blocker
/// issue is opened (saying the failed tests are being read) and the ready PR labelled;
/// once GCS answers, the same issue's body is edited to name them.
#[tokio::test]
async fn a_held_junit_read_delays_neither_the_issue_nor_the_labels_and_the_body_follows() {
    let world = World::builder().approver_user(APPROVER).build().await;
    let gcs = FakeGcs::holding_junit();
    let failed = failing(2);
    gcs.add_junit(RED, e2e_junit(&failed));
    let plugin = start(&world, gcs.start().await).await;
    regress(&plugin, &gcs).await;

    eventually("the junit request held by GCS", || gcs.held() > 0).await;
    let (issue, body) = blocker_body(&world, |b| b.contains("Failed tests: being read")).await;
    eventually("the ready PR labelled", || world.has_label(1)).await;
    assert!(
        body.contains(&format!(
            "Failed tests: being read from the JUnit files of run [{RED}](https://prow.example/view/{RED}) in GCS"
        )),
        "{body}"
    );
    assert!(!body.contains("unavailable"), "{body}");
    assert!(
        body.contains("[suspect range](https://github.com/kubernetes/kubernetes/compare/"),
        "{body}"
    );
    // All of that happened while the read was still held.
    assert!(gcs.held() > 0, "the junit request is still held");
    assert_eq!(incident(&plugin).await["failed_tests"], Value::Null);

    gcs.release();
    let (after, body) = blocker_body(&world, |b| b.contains("failed testcase(s)")).await;
    assert_eq!(after, issue, "the same issue, edited");
    assert!(
        body.contains("2 failed testcase(s) in the JUnit files of run"),
        "{body}"
    );
    for name in &failed {
        assert!(
            body.contains(&format!("- `{name}`")),
            "{name} missing in\n{body}"
        );
    }
    assert!(!body.contains("being read"), "{body}");
    assert_eq!(world.open_blockers().len(), 1);
    let json = incident(&plugin).await;
    assert_eq!(json["failed_tests"]["total"], 2, "{json}");
    plugin.stop().await;
}

#[tokio::test]
async fn more_than_twenty_failures_show_twenty_and_a_count() {
    let world = World::builder().approver_user(APPROVER).build().await;
    let gcs = FakeGcs::default();
    gcs.add_junit(RED, e2e_junit(&failing(27)));
    let plugin = start(&world, gcs.start().await).await;
    regress(&plugin, &gcs).await;
    let (_, body) = blocker_body(&world, |b| b.contains("failed testcase(s)")).await;
    let listed = body
        .lines()
        .filter(|l| l.starts_with("- `[sig-scalability] Density"))
        .count();
    assert_eq!(listed, 20, "{body}");
    assert!(body.contains("27 failed testcase(s)"), "{body}");
    assert!(body.contains("- and 7 more"), "{body}");
    assert!(body.contains("case 20 should"), "{body}");
    assert!(!body.contains("case 21 should"), "{body}");
    plugin.stop().await;
}

#[tokio::test]
async fn without_a_junit_the_failed_tests_are_unavailable() {
    let world = World::builder().approver_user(APPROVER).build().await;
    let gcs = FakeGcs::default();
    let plugin = start(&world, gcs.start().await).await;
    regress(&plugin, &gcs).await;
    let (_, body) = blocker_body(&world, |b| b.contains("Failed tests: unavailable (`")).await;
    assert!(
        body.contains("Failed tests: unavailable (`no junit files`)."),
        "{body}"
    );
    assert!(
        body.contains("[suspect range](https://github.com/kubernetes/kubernetes/compare/"),
        "{body}"
    );
    let json = incident(&plugin).await;
    assert_eq!(json["failed_tests"]["files_read"], 0, "{json}");
    assert_eq!(json["state"], "active", "{json}");
    plugin.stop().await;
}

#[tokio::test]
async fn an_approver_records_the_culprit_a_second_replaces_it_a_stranger_is_refused() {
    let world = World::builder().approver_user(APPROVER).build().await;
    let gcs = FakeGcs::default();
    gcs.add_junit(RED, e2e_junit(&failing(1)));
    let plugin = start(&world, gcs.start().await).await;
    regress(&plugin, &gcs).await;
    let (issue, _) = blocker_body(&world, |b| b.contains("failed testcase(s)")).await;

    world
        .comment(
            &plugin.url(),
            issue,
            APPROVER,
            "/scalability-culprit #4242 revert reverted in #4300",
        )
        .await;
    let json = eventually("the culprit recorded", async || {
        let json = incident(&plugin).await;
        if json["culprit"]["pr"] == 4242 {
            Ok(json)
        } else {
            Err(json)
        }
    })
    .await;
    assert_eq!(json["culprit"]["mitigation"], "revert", "{json}");
    assert_eq!(json["culprit"]["note"], "reverted in #4300", "{json}");
    assert_eq!(json["culprit"]["by"], APPROVER, "{json}");
    assert_eq!(json["culprit"]["suspect"], false, "{json}");
    let body = eventually("the issue body shows the culprit", || {
        let body = world
            .fake
            .issue(common::REPO, issue)?
            .body
            .unwrap_or_default();
        body.contains("### Culprit").then_some(body)
    })
    .await;
    assert!(
        body.contains("#4242 with mitigation `revert`, recorded by `wojtek`"),
        "{body}"
    );
    assert!(body.contains("(not among the suspects)"), "{body}");
    assert!(body.contains("`reverted in #4300`"), "{body}");
    let reply = world.comment_with(issue, "as the culprit of").await;
    assert!(reply.contains("recorded #4242 as the culprit"), "{reply}");
    assert!(reply.contains("not among the suspects"), "{reply}");

    world
        .comment(
            &plugin.url(),
            issue,
            APPROVER,
            "/scalability-culprit #4243 feature-off",
        )
        .await;
    let json = eventually("the culprit replaced", async || {
        let json = incident(&plugin).await;
        if json["culprit"]["pr"] == 4243 {
            Ok(json)
        } else {
            Err(json)
        }
    })
    .await;
    assert_eq!(json["culprit"]["mitigation"], "feature-off", "{json}");
    assert_eq!(json["culprit"]["note"], Value::Null, "{json}");
    assert_eq!(json["culprit_history"][0]["pr"], 4242, "{json}");
    eventually(
        "the issue body shows the replacement and the earlier one",
        || {
            let body = world
                .fake
                .issue(common::REPO, issue)?
                .body
                .unwrap_or_default();
            (body.contains("#4243 with mitigation `feature-off`")
                && body.contains("Recorded before (replaced):\n- #4242 with mitigation `revert`"))
            .then_some(())
        },
    )
    .await;

    // A stranger: one reply saying who may, nothing changed.
    world
        .comment(
            &plugin.url(),
            issue,
            "mallory",
            "/scalability-culprit #1 flake\n/scalability-culprit #2 other",
        )
        .await;
    let refusal = world
        .comment_with(issue, "you are not allowed to use `/scalability-culprit`")
        .await;
    assert!(refusal.contains("@mallory"), "{refusal}");
    // A bad mitigation word from an approver: a parse error reply, nothing changed.
    world
        .comment(
            &plugin.url(),
            issue,
            APPROVER,
            "/scalability-culprit #7 reverted",
        )
        .await;
    let error = world
        .comment_with(issue, "the mitigation must be one of")
        .await;
    assert!(error.contains("(not `reverted`)"), "{error}");
    let refusals = world
        .replies(issue)
        .iter()
        .filter(|r| r.contains("@mallory"))
        .count();
    assert_eq!(refusals, 1);
    let json = incident(&plugin).await;
    assert_eq!(json["culprit"]["pr"], 4243, "{json}");
    assert_eq!(
        json["culprit_history"].as_array().unwrap().len(),
        1,
        "{json}"
    );

    // The gRPC incident message and the dashboard carry it too.
    use scalability_gate::pb::scalability_gate::v1::ListIncidentsRequest;
    use scalability_gate::pb::scalability_gate::v1::gate_client::GateClient;
    let mut grpc = GateClient::connect(format!("http://{}", plugin.bound.grpc))
        .await
        .unwrap();
    let listed = grpc
        .list_incidents(ListIncidentsRequest {
            include_lifted: false,
        })
        .await
        .unwrap()
        .into_inner();
    let culprit = listed.incidents[0].culprit.clone().expect("a culprit");
    assert_eq!(
        (
            culprit.pr.as_str(),
            culprit.number,
            culprit.mitigation.as_str()
        ),
        ("kubernetes/kubernetes#4243", 4243, "feature-off")
    );
    assert!(!culprit.suspect);
    assert_eq!(listed.incidents[0].culprit_history[0].number, 4242);
    let page = reqwest::get(plugin.url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(
            "<dt>Culprit</dt><dd><a href=\"https://github.com/kubernetes/kubernetes/pull/4243\""
        ),
        "{page}"
    );
    assert!(page.contains("feature-off (by wojtek"), "{page}");
    assert!(page.contains("1 recorded before"), "{page}");

    // The audit log has each.
    let status: Value = reqwest::get(format!("{}/api/v1/status", plugin.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audit = status["audit"].to_string();
    assert!(
        audit.contains("culprit kubernetes/kubernetes#4243 (feature-off)"),
        "{audit}"
    );
    assert!(audit.contains("not among the suspects"), "{audit}");
    plugin.stop().await;
}

/// A culprit recorded on the blocker issue after the unblock closed it: the incident and
/// the closed issue's body show it, and the issue stays closed.
#[tokio::test]
async fn a_culprit_after_the_unblock_shows_on_the_closed_issue() {
    let world = World::builder().approver_user(APPROVER).build().await;
    let gcs = FakeGcs::default();
    gcs.add_junit(RED, e2e_junit(&failing(1)));
    let plugin = start(&world, gcs.start().await).await;
    regress(&plugin, &gcs).await;
    let (issue, _) = blocker_body(&world, |b| b.contains("failed testcase(s)")).await;
    world
        .comment(
            &plugin.url(),
            issue,
            APPROVER,
            "/scalability-unblock reverted",
        )
        .await;
    eventually("the blocker issue closed", || {
        world.open_blockers().is_empty()
    })
    .await;
    let closed = world.fake.issue(common::REPO, issue).unwrap();
    assert!(!closed.body.unwrap_or_default().contains("### Culprit"));
    world
        .comment(
            &plugin.url(),
            issue,
            APPROVER,
            "/scalability-culprit #77 flake",
        )
        .await;
    let body = eventually("the closed issue's body shows the culprit", || {
        let body = world
            .fake
            .issue(common::REPO, issue)?
            .body
            .unwrap_or_default();
        body.contains("#77 with mitigation `flake`").then_some(body)
    })
    .await;
    assert!(body.contains("### Culprit"), "{body}");
    assert!(world.open_blockers().is_empty(), "the issue stays closed");
    let json = incident(&plugin).await;
    assert_eq!(json["state"], "lifted", "{json}");
    assert_eq!(json["culprit"]["mitigation"], "flake", "{json}");
    plugin.stop().await;
}
