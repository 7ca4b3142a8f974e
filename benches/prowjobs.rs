//! Benchmark of the Deck poller's parse + filter: a synthetic 30,000-item `prowjobs.js`
//! of realistic shape (≈50 MB; pod_spec, decoration_config, labels and annotations
//! omitted as Deck's `omit=` does; mostly presubmits with refs, a few periodics of the
//! gated job), served over local HTTP and read with the same `deck::poll_once` the poller
//! uses. Prints MB/s and peak memory (VmHWM). The body is written to a temporary file item
//! by item and streamed from it, so the high-water mark measures the parser, not the
//! generator.
//!
//! Run: `cargo bench --bench prowjobs`.

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use scalability_gate::prow::deck;

const ITEMS: usize = 30_000;
const GATED: &str = "ci-kubernetes-e2e-gce-scale-performance-100";

#[path = "common/procfs.rs"]
mod procfs;

fn status_kb(field: &str) -> u64 {
    procfs::status_kb("self", field)
}

fn time(s: u64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_000 + s),
    )
    .to_string()
}

/// One ProwJob as Deck lists it with `omit=annotations,labels,decoration_config,pod_spec`.
fn item(i: usize) -> serde_json::Value {
    let periodic = i % 500 == 0;
    let (job, kind) = if periodic {
        let job = if i % 1000 == 0 {
            GATED.to_string()
        } else {
            format!("ci-kubernetes-e2e-gce-scale-correctness-{}", i % 7)
        };
        (job, "periodic")
    } else if i % 10 == 1 {
        (
            format!("post-kubernetes-push-image-{}", i % 13),
            "postsubmit",
        )
    } else {
        (
            format!(
                "pull-kubernetes-e2e-gce-{}",
                ["ubuntu", "cos", "network-proxy", "storage-snapshot"][i % 4]
            ),
            "presubmit",
        )
    };
    let state = [
        "success", "failure", "pending", "aborted", "success", "error",
    ][i % 6];
    let build = 1_861_000_000_000_000_000u64 + i as u64;
    let name = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        i * 2654435761usize % (1 << 32),
        i % 65536,
        i % 4096,
        (i * 7) % 4096,
        i * 31337
    );
    let pr = 120_000 + i % 5000;
    let refs = serde_json::json!({
        "org": "kubernetes", "repo": "kubernetes",
        "repo_link": "https://github.com/kubernetes/kubernetes",
        "base_ref": "master", "base_sha": format!("{:040x}", i * 1_000_003),
        "base_link": format!("https://github.com/kubernetes/kubernetes/commit/{:040x}", i * 1_000_003),
        "pulls": [{
            "number": pr, "author": format!("contributor-{}", i % 900),
            "sha": format!("{:040x}", i * 7_777_777),
            "title": "Fix scheduler queueing hints for pods with inter-pod affinity so that they are requeued promptly after node updates",
            "head_ref": format!("fix-branch-{i}"),
            "link": format!("https://github.com/kubernetes/kubernetes/pull/{pr}"),
            "commit_link": format!("https://github.com/kubernetes/kubernetes/pull/{pr}/commits/{:040x}", i * 7_777_777),
            "author_link": format!("https://github.com/contributor-{}", i % 900)
        }]
    });
    let mut spec = serde_json::json!({
        "type": kind, "agent": "kubernetes", "cluster": "k8s-infra-prow-build",
        "namespace": "test-pods", "job": job, "report": true,
        "context": format!("pull-kubernetes-e2e-gce-{}", i % 4),
        "rerun_command": format!("/test {job}"),
        "max_concurrency": 0,
        "rerun_auth_config": {"github_team_slugs": [{"org": "kubernetes", "slug": "sig-testing"}]},
        "prowjob_defaults": {"tenant_id": "GlobalDefaultID"},
        "reporter_config": {"slack": {"channel": "sig-scalability-alerts", "job_states_to_report": ["failure", "error"]}}
    });
    if periodic {
        spec["extra_refs"] = serde_json::json!([{"org": "kubernetes", "repo": "perf-tests", "base_ref": "master", "path_alias": "k8s.io/perf-tests", "workdir": false}]);
    } else {
        spec["refs"] = refs;
    }
    let done = state != "pending";
    let mut status = serde_json::json!({
        "startTime": time(i as u64 * 3), "pendingTime": time(i as u64 * 3 + 20),
        "state": state,
        "description": if done { "Job succeeded." } else { "Job triggered." },
        "url": format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/pr-logs/pull/{pr}/{job}/{build}"),
        "pod_name": name, "build_id": build.to_string(),
        "prev_report_states": {"gcsk8sreporter": state, "gcsreporter": state, "github-reporter": state, "pubsub-reporter": state}
    });
    if done {
        status["completionTime"] = serde_json::Value::String(time(i as u64 * 3 + 3600));
    }
    serde_json::json!({
        "kind": "ProwJob", "apiVersion": "prow.k8s.io/v1",
        "metadata": {
            "name": name, "namespace": "default", "uid": name,
            "resourceVersion": (1_000_000_000 + i).to_string(), "generation": 3,
            "creationTimestamp": time(i as u64 * 3)
        },
        "spec": spec, "status": status
    })
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prowjobs.js");
    let mut gated_runs = 0;
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        out.write_all(b"{\"items\":[").unwrap();
        for i in 0..ITEMS {
            if i > 0 {
                out.write_all(b",").unwrap();
            }
            let it = item(i);
            if it["spec"]["job"] == GATED && it["status"]["state"] != "pending" {
                gated_runs += 1;
            }
            serde_json::to_writer(&mut out, &it).unwrap();
        }
        out.write_all(b"]}").unwrap();
        out.flush().unwrap();
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mb = bytes as f64 / 1e6;
    println!("prowjobs.js: {ITEMS} items, {mb:.1} MB, {gated_runs} finished runs of the gated job");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let served = path.clone();
        let router = Router::new().route(
            "/prowjobs.js",
            axum::routing::get(move || {
                let served = served.clone();
                async move {
                    let file = tokio::fs::File::open(served).await.unwrap();
                    let stream = futures::stream::unfold(file, |mut file| async move {
                        use tokio::io::AsyncReadExt;
                        let mut buf = vec![0u8; 64 * 1024];
                        match file.read(&mut buf).await {
                            Ok(0) => None,
                            Ok(n) => {
                                buf.truncate(n);
                                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), file))
                            }
                            Err(e) => Some((Err(e), file)),
                        }
                    });
                    Body::from_stream(stream)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let gated: HashSet<String> = [GATED.to_string()].into();
        let http = reqwest::Client::new();
        // One warm-up pass, then three measured ones.
        deck::poll_once(&http, &url, &gated).await.unwrap();
        let hwm_before = status_kb("VmHWM:");
        let rss_before = status_kb("VmRSS:");
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let (runs, stats) = deck::poll_once(&http, &url, &gated).await.unwrap();
            let took = started.elapsed().as_secs_f64();
            best = best.min(took);
            assert_eq!(stats.items, ITEMS);
            assert_eq!(runs.len(), gated_runs);
            println!(
                "pass: {took:.3} s, {:.0} MB/s, {} items, {} kept",
                mb / took,
                stats.items,
                stats.kept
            );
        }
        let hwm_after = status_kb("VmHWM:");
        println!(
            "best: {:.0} MB/s over HTTP (parse + filter of {mb:.1} MB in {best:.3} s)",
            mb / best
        );
        println!(
            "memory: VmRSS before {} MB; VmHWM before {} MB, after {} MB (growth {} KB) for a {mb:.0} MB body",
            rss_before / 1024,
            hwm_before / 1024,
            hwm_after / 1024,
            hwm_after.saturating_sub(hwm_before)
        );
    });
}
