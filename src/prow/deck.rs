//! The Deck poller: `GET {deck}/prowjobs.js?omit=annotations,labels,decoration_config,pod_spec`
//! every `interval`, keeping the finished periodic runs of gated jobs.
//!
//! The body (`{"items":[ProwJob, ...]}`, tens of MB on prow.k8s.io) is never held whole:
//! the response streams through a bounded channel into a blocking thread, where a serde
//! visitor walks `items` one ProwJob at a time, decodes each into a small [`DeckItem`]
//! and keeps only those that matter. Memory stays at a few chunks plus one item.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;

use anyhow::Context;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::{BuildId, Channel, JobName, Run, RunResult, Timestamp};

/// What Deck is asked to leave out (the bulk of each ProwJob).
pub const PROWJOBS_PATH: &str = "/prowjobs.js?omit=annotations,labels,decoration_config,pod_spec";

/// Response chunks buffered between the network and the parser, at most.
const CHUNKS_IN_FLIGHT: usize = 16;

/// A body larger than this is refused (prow.k8s.io serves about 50 MB).
pub const MAX_BODY_BYTES: u64 = 1 << 30;

/// The part of a ProwJob we read; everything else is skipped unparsed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeckItem {
    pub spec: Spec,
    pub status: Status,
}

/// `ProwJob.spec`, the fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Spec {
    pub job: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `ProwJob.status`, the fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Status {
    pub state: String,
    pub build_id: String,
    pub url: String,
    #[serde(rename = "startTime")]
    pub start_time: String,
    #[serde(rename = "completionTime")]
    pub completion_time: String,
}

impl DeckItem {
    /// The run this item is, when it is a finished periodic of a gated job.
    pub fn to_run(&self, gated: &HashSet<String>) -> Option<Run> {
        if self.spec.kind != "periodic" || !gated.contains(&self.spec.job) {
            return None;
        }
        let result = RunResult::from_prow_state(&self.status.state)?;
        if self.status.build_id.is_empty() {
            return None;
        }
        Some(Run {
            job: JobName::new(&self.spec.job),
            build_id: BuildId::new(&self.status.build_id),
            result,
            started_at: Timestamp::parse_rfc3339(&self.status.start_time),
            finished_at: Timestamp::parse_rfc3339(&self.status.completion_time),
            url: self.status.url.clone(),
            gcs_path: String::new(),
            commits: Default::default(),
            channel: Channel::Deck,
        })
    }
}

/// Counts of one parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    pub items: usize,
    pub kept: usize,
}

/// Stream-parses a `{"items":[...]}` body from `reader`, handing each finished periodic
/// run of a gated job to `keep`. Other top-level keys are skipped.
pub fn parse_prowjobs<R: Read>(
    reader: R,
    gated: &HashSet<String>,
    mut keep: impl FnMut(Run),
) -> anyhow::Result<ParseStats> {
    let mut stats = ParseStats::default();
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, reader));
    Top {
        gated,
        keep: &mut keep,
        stats: &mut stats,
    }
    .deserialize(&mut de)
    .context("parsing prowjobs.js")?;
    de.end().context("trailing data after prowjobs.js")?;
    Ok(stats)
}

struct Top<'a, F> {
    gated: &'a HashSet<String>,
    keep: &'a mut F,
    stats: &'a mut ParseStats,
}

impl<'de, F: FnMut(Run)> DeserializeSeed<'de> for Top<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Run)> Visitor<'de> for Top<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"an object {"items": [...]}"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(Items {
                    gated: self.gated,
                    keep: &mut *self.keep,
                    stats: &mut *self.stats,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Items<'a, F> {
    gated: &'a HashSet<String>,
    keep: &'a mut F,
    stats: &'a mut ParseStats,
}

impl<'de, F: FnMut(Run)> DeserializeSeed<'de> for Items<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Run)> Visitor<'de> for Items<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of ProwJobs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<DeckItem>()? {
            self.stats.items += 1;
            if let Some(run) = item.to_run(self.gated) {
                self.stats.kept += 1;
                (self.keep)(run);
            }
        }
        Ok(())
    }
}

/// A blocking [`Read`] over chunks sent from an async task.
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    /// A reader and the sender its producer feeds (at most `capacity` chunks in flight).
    pub fn new(
        capacity: usize,
    ) -> (
        tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
        ChannelReader,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        (
            tx,
            ChannelReader {
                rx,
                current: Bytes::new(),
            },
        )
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Fetches and parses Deck's prowjobs once: the finished periodic runs of gated jobs.
pub async fn poll_once(
    http: &reqwest::Client,
    deck_url: &str,
    gated: &HashSet<String>,
) -> anyhow::Result<(Vec<Run>, ParseStats)> {
    let url = format!("{}{PROWJOBS_PATH}", deck_url.trim_end_matches('/'));
    let mut response = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        anyhow::bail!("GET {url}: {}", response.status());
    }
    let (tx, reader) = ChannelReader::new(CHUNKS_IN_FLIGHT);
    let gated = gated.clone();
    let parser = tokio::task::spawn_blocking(move || {
        let mut runs = Vec::new();
        let stats = parse_prowjobs(reader, &gated, |run| runs.push(run))?;
        anyhow::Ok((runs, stats))
    });
    let mut total: u64 = 0;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e))).await;
                break;
            }
        };
        total += chunk.len() as u64;
        if total > MAX_BODY_BYTES {
            let _ = tx
                .send(Err(std::io::Error::other("prowjobs.js body too large")))
                .await;
            break;
        }
        if tx.send(Ok(chunk)).await.is_err() {
            break; // the parser stopped (bad JSON): its error tells why
        }
    }
    drop(tx);
    parser.await.context("prowjobs.js parser task")?
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";

    fn gated() -> HashSet<String> {
        [JOB.to_string()].into()
    }

    fn item(job: &str, kind: &str, state: &str, build: &str) -> serde_json::Value {
        serde_json::json!({
            "kind": "ProwJob", "metadata": {"name": "x", "creationTimestamp": "2026-11-25T10:00:00Z"},
            "spec": {"type": kind, "agent": "kubernetes", "cluster": "k8s-infra", "job": job,
                     "refs": {"org": "kubernetes", "repo": "kubernetes", "pulls": [{"number": 1}]}},
            "status": {"state": state, "build_id": build, "url": format!("https://prow/view/{build}"),
                       "startTime": "2026-11-25T10:00:00Z", "completionTime": "2026-11-25T11:00:00.5Z",
                       "prev_report_states": {"gcsk8sreporter": state}}
        })
    }

    #[test]
    fn keeps_only_finished_periodics_of_gated_jobs() {
        let body = serde_json::json!({"items": [
            item(JOB, "periodic", "failure", "2"),
            item(JOB, "periodic", "pending", "3"),
            item(JOB, "presubmit", "success", "4"),
            item("ci-kubernetes-e2e-gce-scale-performance-100-1-37", "periodic", "success", "5"),
            item(JOB, "periodic", "aborted", "6"),
            item(JOB, "periodic", "success", ""),
        ], "extra": {"ignored": [1, 2, {"a": null}]}})
        .to_string();
        let mut runs = Vec::new();
        let stats = parse_prowjobs(body.as_bytes(), &gated(), |r| runs.push(r)).unwrap();
        assert_eq!(stats, ParseStats { items: 6, kept: 2 });
        assert_eq!(runs[0].build_id.as_str(), "2");
        assert_eq!(runs[0].result, RunResult::Failure);
        assert_eq!(
            runs[0].started_at,
            Timestamp::parse_rfc3339("2026-11-25T10:00:00Z")
        );
        assert!(runs[0].finished_at.is_some());
        assert_eq!(runs[1].result, RunResult::Aborted);
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        for body in [
            "",
            "[]",
            r#"{"items": {}}"#,
            r#"{"items": [1]}"#,
            r#"{"items": ["#,
            "{} x",
        ] {
            assert!(
                parse_prowjobs(body.as_bytes(), &gated(), |_| {}).is_err(),
                "{body}"
            );
        }
        let stats = parse_prowjobs(r#"{"items": []}"#.as_bytes(), &gated(), |_| {}).unwrap();
        assert_eq!(stats.items, 0);
    }

    #[test]
    fn channel_reader_yields_chunks_in_order() {
        let (tx, mut reader) = ChannelReader::new(2);
        let producer = std::thread::spawn(move || {
            for part in ["{\"it", "ems\":", "[]}"] {
                tx.blocking_send(Ok(Bytes::from(part))).unwrap();
            }
        });
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        producer.join().unwrap();
        assert_eq!(text, r#"{"items":[]}"#);
    }
}
