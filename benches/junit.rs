//! Benchmark of the JUnit reader: a synthetic ≈50 MB JUnit file in the Kubernetes e2e
//! form (thousands of skipped testcases, passing ones with `<system-out>`, a few dozen
//! failures with long messages and CDATA output), parsed from a file with
//! `junit::parse_junit`, then read over local HTTP with `Gcs::failed_tests_with` as the
//! blocker issue reads a run's artifacts. Prints MB/s (median of several runs) and peak
//! memory (VmHWM before and after). The file is written to a temporary directory piece by
//! piece, so the high-water mark measures the parser, not the generator.
//!
//! Run: `cargo bench --bench junit`.

use std::io::Write;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use scalability_gate::config::GcsSource;
use scalability_gate::prow::gcs::Gcs;
use scalability_gate::prow::junit::{self, Limits};

#[path = "common/procfs.rs"]
mod procfs;

const TARGET_BYTES: u64 = 50_000_000;
const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const BUILD: &str = "1861000000000000001";

fn status_kb(field: &str) -> u64 {
    procfs::status_kb("self", field)
}

/// Writes the e2e-form file; returns (testcases, failures).
fn generate(out: &mut impl Write) -> std::io::Result<(usize, usize)> {
    let log_line = "I1125 10:00:00.000000   12345 load.go:123] STEP: Scaling deployment test-abc &amp; waiting for 3000 pods &lt;phase=Running&gt;\n";
    let mut written: u64 = 0;
    put(
        out,
        &mut written,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"0\" failures=\"0\" time=\"36000\">\n",
    )?;
    put(
        out,
        &mut written,
        "  <testsuite name=\"Kubernetes e2e suite\" package=\"/home/prow/go/src/k8s.io/kubernetes/test/e2e\" tests=\"0\" failures=\"0\" time=\"36000\">\n",
    )?;
    put(
        out,
        &mut written,
        "    <properties><property name=\"SuiteSucceeded\" value=\"false\"></property></properties>\n",
    )?;
    let (mut cases, mut failures) = (0, 0);
    let mut i = 0usize;
    let passed_output = log_line.repeat(60);
    let failed_output = log_line.repeat(400);
    while written < TARGET_BYTES {
        let sig = [
            "scalability",
            "node",
            "apps",
            "network",
            "storage",
            "api-machinery",
        ][i % 6];
        let name = format!(
            "[sig-{sig}] Feature {i} [Serial] should keep {i} pods &lt;Running&gt; under load [Feature:Performance]"
        );
        let case = match i % 50 {
            0 => {
                failures += 1;
                format!(
                    "    <testcase classname=\"Kubernetes e2e suite\" name=\"{name}\" time=\"3500.5\">\n      <failure type=\"Failure\">[FAILED] Timed out after 3600.000s.&#xA;Expected&#xA;    &lt;int&gt;: 12&#xA;to equal&#xA;    &lt;int&gt;: 0\nIn [It] at: test/e2e/scalability/load.go:123\n{failed_output}</failure>\n      <system-out><![CDATA[{}]]></system-out>\n    </testcase>\n",
                    failed_output
                        .replace("&amp;", "&")
                        .replace("&lt;", "<")
                        .replace("&gt;", ">")
                )
            }
            1..=9 => format!(
                "    <testcase classname=\"Kubernetes e2e suite\" name=\"{name}\" time=\"120.25\">\n      <system-out>{passed_output}</system-out>\n    </testcase>\n"
            ),
            _ => format!(
                "    <testcase classname=\"Kubernetes e2e suite\" name=\"{name}\" time=\"0\">\n      <skipped message=\"skipped\"></skipped>\n    </testcase>\n"
            ),
        };
        put(out, &mut written, &case)?;
        cases += 1;
        i += 1;
    }
    put(out, &mut written, "  </testsuite>\n</testsuites>\n")?;
    Ok((cases, failures))
}

/// Writes `s`, counting it in `written`.
fn put(out: &mut impl Write, written: &mut u64, s: &str) -> std::io::Result<()> {
    *written += s.len() as u64;
    out.write_all(s.as_bytes())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("junit_01.xml");
    let (cases, failures) = {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        let counts = generate(&mut out).expect("write");
        out.flush().unwrap();
        counts
    };
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mb = bytes as f64 / 1e6;
    println!("junit: {cases} testcases, {failures} failed, {mb:.1} MB");

    let limits = Limits::default();
    // Warm-up (page cache), then measured runs.
    let first = junit::parse_junit(std::fs::File::open(&path).unwrap(), &limits);
    assert_eq!(first.failed, failures);
    assert_eq!(first.testcases, cases);
    assert_eq!(first.names.len(), limits.max_names.min(failures));
    assert!(
        first.notes.is_empty() && !first.truncated,
        "{:?}",
        first.notes
    );
    let hwm_before = status_kb("VmHWM:");
    let mut rates = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let got = junit::parse_junit(std::fs::File::open(&path).unwrap(), &limits);
        let took = started.elapsed().as_secs_f64();
        assert_eq!(got, first);
        println!("file pass: {took:.3} s, {:.0} MB/s", mb / took);
        rates.push(mb / took);
    }
    let hwm_file = status_kb("VmHWM:");
    println!(
        "parse_junit from a file: median {:.0} MB/s; VmHWM {} kB before, {} kB after (+{} kB)",
        median(rates),
        hwm_before,
        hwm_file,
        hwm_file.saturating_sub(hwm_before)
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let served = path.clone();
        let listing = serde_json::json!({"kind": "storage#objects", "items": [
            {"name": format!("logs/{JOB}/{BUILD}/artifacts/junit_01.xml"), "size": bytes.to_string()}
        ]});
        let router = Router::new()
            .route(
                "/storage/v1/b/bucket/o",
                axum::routing::get(move || {
                    let listing = listing.clone();
                    async move { axum::Json(listing) }
                }),
            )
            .route(
                &format!("/bucket/logs/{JOB}/{BUILD}/artifacts/junit_01.xml"),
                axum::routing::get(move || {
                    let served = served.clone();
                    async move {
                        let file = tokio::fs::File::open(served).await.unwrap();
                        Body::from_stream(file_stream(file))
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let gcs = Gcs::new(&GcsSource {
            url,
            bucket: "bucket".into(),
            ..GcsSource::default()
        })
        .unwrap()
        .unwrap();
        let hwm_before = status_kb("VmHWM:");
        let mut rates = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let got = gcs.failed_tests_with(JOB, BUILD, &limits).await;
            let took = started.elapsed().as_secs_f64();
            assert_eq!(got.total_failed, failures, "{:?}", got.notes);
            assert_eq!(got.files_read, 1);
            assert!(got.notes.is_empty(), "{:?}", got.notes);
            println!("http pass: {took:.3} s, {:.0} MB/s", mb / took);
            rates.push(mb / took);
        }
        let hwm_after = status_kb("VmHWM:");
        println!(
            "Gcs::failed_tests over local HTTP: median {:.0} MB/s; VmHWM {} kB before, {} kB after (+{} kB)",
            median(rates),
            hwm_before,
            hwm_after,
            hwm_after.saturating_sub(hwm_before)
        );
    });
}

/// The file as a stream of 64 KiB chunks.
fn file_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}
