//! Start-up time to ready with a full store: seeds a real sled store with 10,000 runs (50
//! gated jobs × 200 runs, `history.retention`'s default, recorded through
//! `Store::record_run` as the consumer does), then starts the release binary on it several
//! times and measures from spawn until `GET /healthz/ready` answers 200, and the resident
//! memory (VmRSS) a second after ready. The same is measured on an empty store, for a
//! ratio that holds on any machine.
//!
//! The plugin runs in dry-run with every result source off and its GitHub endpoint a
//! closed loopback port: nothing leaves the machine. Each start is stopped with SIGTERM
//! (the graceful path, which flushes the store), so every start opens a cleanly closed
//! store, as after a rolling update. One unmeasured start per store comes first (it waits
//! out the lock this process held while seeding, and warms the page cache).
//!
//! Run: `cargo bench --bench startup` (`STARTUP_REPS`, default 7, sets the repetitions).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scalability_gate::Store;
use scalability_gate::model::{
    BuildId, Channel, CommitSha, JobName, RepoName, Run, RunResult, Timestamp,
};

const JOBS: usize = 50;
/// `history.retention`'s default: a store in steady state holds this many runs per job.
const RUNS_PER_JOB: usize = 200;
/// How long one start may take before the bench gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const BINARY: &str = env!("CARGO_BIN_EXE_scalability-gate");

fn job(i: usize) -> String {
    format!("ci-kubernetes-e2e-gce-scale-performance-{i:03}")
}

/// One run as the Deck poller records it after GCS filled in the tested commit.
fn run(job_index: usize, n: usize) -> Run {
    let job = job(job_index);
    let build = 1_860_000_000_000_000_000u64 + (job_index * RUNS_PER_JOB + n) as u64;
    let started = 1_760_000_000 + (n as i64) * 3_600;
    let mut commits = std::collections::BTreeMap::new();
    commits.insert(
        RepoName::new("kubernetes", "kubernetes"),
        CommitSha::new(format!("{:040x}", build)),
    );
    Run {
        job: JobName::new(&job),
        build_id: BuildId::new(build.to_string()),
        result: if n % 9 == 0 {
            RunResult::Failure
        } else {
            RunResult::Success
        },
        started_at: Some(Timestamp(started)),
        finished_at: Some(Timestamp(started + 2_400)),
        url: format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{job}/{build}"),
        gcs_path: format!("gs://kubernetes-ci-logs/logs/{job}/{build}"),
        commits,
        channel: Channel::Deck,
    }
}

fn seed(path: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let store = Store::open(path)?;
    for n in 0..RUNS_PER_JOB {
        for j in 0..JOBS {
            store.record_run(&run(j, n), RUNS_PER_JOB)?;
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(store.flush())?;
    let recorded: usize = (0..JOBS)
        .map(|j| store.runs(&JobName::new(job(j))).map(|r| r.len()))
        .sum::<anyhow::Result<usize>>()?;
    anyhow::ensure!(
        recorded == JOBS * RUNS_PER_JOB,
        "seeded {recorded} runs, expected {}",
        JOBS * RUNS_PER_JOB
    );
    Ok(started.elapsed())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn write_config(dir: &Path, store: &Path) -> (std::path::PathBuf, u16) {
    let health = free_port();
    let jobs: String = (0..JOBS)
        .map(|j| {
            format!(
                "  - name: {}\n    scopes:\n      - repo: kubernetes/kubernetes\n        branch: master\n",
                job(j)
            )
        })
        .collect();
    let config = format!(
        "listen: \"127.0.0.1:{}\"\nhealth_listen: \"127.0.0.1:{health}\"\n\
         metrics_listen: \"127.0.0.1:{}\"\ngrpc_listen: \"127.0.0.1:{}\"\n\
         dry_run: true\nhmac_secret_file: {}\nstore_path: {}\n\
         github:\n  endpoints: [\"http://127.0.0.1:9\"]\n  token_file: {}\n\
         sources:\n  deck: {{ url: \"\" }}\n  gcs: {{ url: \"\" }}\njobs:\n{jobs}",
        free_port(),
        free_port(),
        free_port(),
        dir.join("hmac").display(),
        store.display(),
        dir.join("no-token").display(),
    );
    std::fs::write(dir.join("hmac"), "startup-bench-token\n").expect("write hmac");
    let path = dir.join(format!("config-{health}.yaml"));
    std::fs::write(&path, config).expect("write config");
    (path, health)
}

/// True when `GET /healthz/ready` on `port` answers 200 now.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream
        .write_all(b"GET /healthz/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

#[path = "common/procfs.rs"]
mod procfs;

fn stop(mut child: Child) {
    // SIGTERM, the graceful path (std's Child::kill would be SIGKILL).
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// One start: (time to ready, VmRSS one second after ready in KiB).
fn start_once(dir: &Path, store: &Path) -> (Duration, u64) {
    let (config, health) = write_config(dir, store);
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the plugin");
    loop {
        if ready(health) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the plugin exited before ready: {status}");
        }
        if started.elapsed() > READY_TIMEOUT {
            stop(child);
            panic!("not ready within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let rss = procfs::status_kb(&child.id().to_string(), "VmRSS:");
    stop(child);
    (elapsed, rss)
}

struct Summary {
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    rss_mib: f64,
}

fn measure(name: &str, dir: &Path, store: &Path, reps: usize) -> Summary {
    let _ = start_once(dir, store); // unmeasured
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..reps {
        let (t, r) = start_once(dir, store);
        times.push(t.as_secs_f64() * 1e3);
        rss.push(r);
    }
    times.sort_by(f64::total_cmp);
    rss.sort_unstable();
    let summary = Summary {
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        max_ms: times[times.len() - 1],
        rss_mib: rss[rss.len() / 2] as f64 / 1024.0,
    };
    let all: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
    println!(
        "{name:<28} ready in median {:>7.1} ms (min {:.1}, max {:.1}; all ms: {})  idle RSS {:.1} MiB",
        summary.median_ms,
        summary.min_ms,
        summary.max_ms,
        all.join(" "),
        summary.rss_mib,
    );
    summary
}

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::var("STARTUP_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
        .max(1);
    let dir = tempfile::tempdir()?;
    let full = dir.path().join("store-10k");
    let empty = dir.path().join("store-empty");
    let seeding = seed(&full)?;
    let size: u64 = walk_size(&full);
    println!(
        "seeded {} runs ({JOBS} jobs × {RUNS_PER_JOB}) through Store::record_run in {:.2} s; store on disk {:.1} MiB",
        JOBS * RUNS_PER_JOB,
        seeding.as_secs_f64(),
        size as f64 / (1024.0 * 1024.0)
    );
    println!("binary: {BINARY}; {reps} measured starts per store after one unmeasured");
    let full_summary = measure("store with 10,000 runs", dir.path(), &full, reps);
    let empty_summary = measure("empty store", dir.path(), &empty, reps);
    println!(
        "ratios full/empty: time to ready {:.2}, idle RSS {:.2}",
        full_summary.median_ms / empty_summary.median_ms,
        full_summary.rss_mib / empty_summary.rss_mib
    );
    Ok(())
}

fn walk_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
