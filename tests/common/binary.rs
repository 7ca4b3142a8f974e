//! The plugin's own binary as a child process, for tests that kill it or stop it as
//! Kubernetes does.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{TIMEOUT, eventually};

/// `scalability-gate serve --config <file>` as a child process, with the addresses it
/// logged once ready. Dropping it kills a process still running.
pub struct Binary {
    child: Child,
    /// `http://127.0.0.1:PORT` of the main listener.
    pub url: String,
    /// `127.0.0.1:PORT` of the gRPC listener.
    pub grpc: String,
    /// Every line it logged so far (stderr).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// `127.0.0.1:PORT` of the metrics listener.
    pub metrics: String,
}

impl Binary {
    /// Starts the binary on `config` and waits until it logs that it is ready.
    pub fn spawn(config: &Path) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("plugin binary starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        // Reads stderr to the end so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                if line.contains("scalability-gate is ready") {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    let field = |k: &str| v["fields"][k].as_str().unwrap_or("").to_string();
                    let _ = tx.send((field("listen"), field("grpc"), field("metrics")));
                }
            }
        });
        let (listen, grpc, metrics) = rx
            .recv_timeout(TIMEOUT)
            .expect("the plugin logged its addresses");
        Binary {
            child,
            url: format!("http://{listen}"),
            grpc,
            log,
            metrics,
        }
    }

    /// The lines it logged so far that contain `needle`.
    pub fn logged(&self, needle: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// SIGKILL, and the process reaped.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, as Kubernetes stops a pod: the process drains, flushes its store and
    /// exits 0 within [`TIMEOUT`].
    pub async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let status = eventually("the plugin stopped on SIGTERM", || {
            self.child.try_wait().expect("child status")
        })
        .await;
        assert!(status.success(), "the plugin exited cleanly: {status}");
        // A graceful stop is not a death: no task is said to have died on the way out.
        eventually("the last line logged", || {
            (!self.logged("\"message\":\"stopped\"").is_empty()).then_some(())
        })
        .await;
        let died = self.logged("task died");
        assert!(died.is_empty(), "a task died while stopping: {died:?}");
    }
}

impl Drop for Binary {
    /// A test that failed half-way leaves no process behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
