//! crier's Pub/Sub report message (Prow `pkg/pubsub/reporter`'s `ReportMessage`), as it
//! arrives through a pull subscription or a push envelope, and its mapping to our [`Run`].
//!
//! The message carries no times and, for periodics, usually no `runid` (that field is the
//! `prow.k8s.io/pubsub.runID` label a job may carry, not the build id). The build id is
//! the last segment of `gcs_path` (`gs://bucket/logs/job/<build>`), else of `url`, else
//! `runid`. The time Pub/Sub published the message (when crier reported the final state)
//! stands in as the finish time until GCS or Deck tell the start time.

use serde::{Deserialize, Serialize};

use crate::Config;
use crate::model::{BuildId, Channel, JobName, Run, RunResult, Timestamp};

/// One of crier's Pub/Sub reports. Unknown fields are ignored, as crier may add some;
/// `status` and `job_name` are required (crier always sends them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReportMessage {
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub runid: String,
    /// Prow's `ProwJobState`: triggered, pending, success, failure, aborted, error.
    pub status: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub gcs_path: String,
    /// Prow `Refs` (absent for periodics); kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refs: Option<serde_json::Value>,
    /// periodic, postsubmit, presubmit, batch.
    #[serde(default)]
    pub job_type: String,
    pub job_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// What a report means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A finished run of a gated job.
    Run(Box<Run>),
    /// Acknowledged and ignored, with why (not periodic, not gated, not final, ...).
    Ignored(&'static str),
}

/// Why a report could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CrierError {
    #[error("not a crier report message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("report of {job} has no build id (no gcs_path, url or runid)")]
    NoBuildId { job: String },
}

impl ReportMessage {
    /// Decodes the JSON `data` of a Pub/Sub message.
    pub fn from_json(data: &[u8]) -> Result<Self, CrierError> {
        Ok(serde_json::from_slice(data)?)
    }

    /// The build id: the last segment of `gcs_path`, else of `url`, else `runid`.
    pub fn build_id(&self) -> Option<String> {
        [&self.gcs_path, &self.url]
            .into_iter()
            .filter_map(|path| last_segment(path))
            .find(|seg| seg.chars().all(|c| c.is_ascii_digit()))
            .or_else(|| (!self.runid.is_empty()).then(|| self.runid.clone()))
    }

    /// Maps the report to a run of a gated periodic job, or says why it is ignored.
    /// `published_at` is the Pub/Sub publish time, used as the finish time.
    pub fn to_report(
        &self,
        config: &Config,
        channel: Channel,
        published_at: Option<Timestamp>,
    ) -> Result<Report, CrierError> {
        if !self.job_type.is_empty() && self.job_type != "periodic" {
            return Ok(Report::Ignored("not a periodic job"));
        }
        if config.job(&self.job_name).is_none() {
            return Ok(Report::Ignored("not a gated job"));
        }
        let Some(result) = RunResult::from_prow_state(&self.status) else {
            return Ok(Report::Ignored("not a final state"));
        };
        let build_id = self.build_id().ok_or_else(|| CrierError::NoBuildId {
            job: self.job_name.clone(),
        })?;
        Ok(Report::Run(Box::new(Run {
            job: JobName::new(&self.job_name),
            build_id: BuildId::new(build_id),
            result,
            started_at: None,
            finished_at: published_at,
            url: self.url.clone(),
            gcs_path: self.gcs_path.clone(),
            commits: Default::default(),
            channel,
        })))
    }
}

fn last_segment(path: &str) -> Option<String> {
    let seg = path.trim_end_matches('/').rsplit('/').next()?;
    (!seg.is_empty()).then(|| seg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobConfig;

    const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";

    fn config() -> Config {
        Config {
            jobs: vec![JobConfig::new(JOB, "kubernetes/kubernetes", "master")],
            ..Config::default()
        }
    }

    fn message(status: &str, job: &str, job_type: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "project": "k8s-prow", "topic": "prowjobs", "runid": "",
            "status": status,
            "url": format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{job}/1861234567890123456"),
            "gcs_path": format!("gs://kubernetes-ci-logs/logs/{job}/1861234567890123456"),
            "job_type": job_type, "job_name": job,
        }))
        .unwrap()
    }

    #[test]
    fn final_periodic_of_a_gated_job_is_a_run() {
        let m = ReportMessage::from_json(&message("failure", JOB, "periodic")).unwrap();
        let Report::Run(run) = m
            .to_report(&config(), Channel::PubsubPush, Some(Timestamp(7)))
            .unwrap()
        else {
            panic!("not a run");
        };
        assert_eq!(run.build_id.as_str(), "1861234567890123456");
        assert_eq!(run.result, RunResult::Failure);
        assert_eq!(run.finished_at, Some(Timestamp(7)));
        assert_eq!(run.channel, Channel::PubsubPush);
        assert!(run.gcs_path.starts_with("gs://kubernetes-ci-logs/logs/"));
    }

    #[test]
    fn the_rest_is_ignored_with_a_reason() {
        let c = config();
        for (status, job, kind, why) in [
            ("pending", JOB, "periodic", "not a final state"),
            ("triggered", JOB, "periodic", "not a final state"),
            (
                "success",
                "ci-kubernetes-e2e-gce-scale-performance-100-1-37",
                "periodic",
                "not a gated job",
            ),
            ("success", JOB, "presubmit", "not a periodic job"),
        ] {
            let m = ReportMessage::from_json(&message(status, job, kind)).unwrap();
            assert_eq!(
                m.to_report(&c, Channel::PubsubPull, None).unwrap(),
                Report::Ignored(why)
            );
        }
    }

    #[test]
    fn bad_data_is_an_error_not_a_panic() {
        assert!(ReportMessage::from_json(b"not json").is_err());
        assert!(ReportMessage::from_json(b"[1,2]").is_err());
        assert!(ReportMessage::from_json(br#"["not", "a", "report"]"#).is_err());
        assert!(ReportMessage::from_json(br#"{"project": "p"}"#).is_err());
        let m = ReportMessage {
            status: "success".into(),
            job_type: "periodic".into(),
            job_name: JOB.into(),
            ..Default::default()
        };
        assert!(matches!(
            m.to_report(&config(), Channel::PubsubPull, None),
            Err(CrierError::NoBuildId { .. })
        ));
    }

    #[test]
    fn runid_is_the_fallback_build_id() {
        let m = ReportMessage {
            runid: "abc".into(),
            ..Default::default()
        };
        assert_eq!(m.build_id().as_deref(), Some("abc"));
    }
}
