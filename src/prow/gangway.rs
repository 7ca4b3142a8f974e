//! The Gangway client: polls `Prow/ListJobExecutions{job_name}` for each gated job, and
//! starts a periodic through `Prow/CreateJobExecution` (for `/scalability-rerun`).
//!
//! The API key (from `sources.gangway.api_key_file`) is sent as the `x-api-key` metadata
//! header: Gangway itself does not read keys; it sits behind Google Cloud Endpoints
//! (ESPv2), which validates `x-api-key` and passes the caller's identity on as
//! `x-endpoint-api-consumer-type` / `x-endpoint-api-consumer-number` metadata, which
//! Gangway checks against its allow-list. Without a key nothing is sent (a Gangway
//! reached directly inside the cluster).
//!
//! A `JobExecution`'s `id` is the ProwJob's name, not its build id: the build id is the
//! last segment of `gcs_path` (or of `job_url`), as with crier's reports.

use anyhow::Context;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel as GrpcChannel, Endpoint};

use crate::model::{BuildId, Channel, JobName, Run, RunResult, Timestamp};
use crate::pb::gangway::prow_client::ProwClient;
use crate::pb::gangway::{
    CreateJobExecutionRequest, JobExecution, JobExecutionStatus, JobExecutionType,
    ListJobExecutionsRequest,
};

/// The metadata header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Adds the API key to every call.
#[derive(Clone)]
pub struct ApiKey(Option<AsciiMetadataValue>);

impl tonic::service::Interceptor for ApiKey {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(key) = &self.0 {
            req.metadata_mut().insert(API_KEY_HEADER, key.clone());
        }
        Ok(req)
    }
}

/// A Gangway client.
#[derive(Clone)]
pub struct Gangway {
    client: ProwClient<InterceptedService<GrpcChannel, ApiKey>>,
}

impl Gangway {
    /// A client of `address` (`host:port` or an `http://` URL: plain gRPC, as inside the
    /// cluster), connecting lazily. `api_key` is the
    /// key itself (already read from its file), or empty for none.
    pub fn new(address: &str, api_key: &str) -> anyhow::Result<Self> {
        let url = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let endpoint = Endpoint::from_shared(url.clone())
            .with_context(|| format!("gangway address {url}"))?
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(30));
        let key = if api_key.is_empty() {
            None
        } else {
            Some(
                api_key
                    .parse()
                    .context("the Gangway API key is not ASCII")?,
            )
        };
        let client = ProwClient::with_interceptor(endpoint.connect_lazy(), ApiKey(key));
        Ok(Self { client })
    }

    /// The finished periodic runs of `job` that Gangway knows.
    pub async fn list_runs(&self, job: &str) -> anyhow::Result<Vec<Run>> {
        Ok(self
            .list_executions(job)
            .await?
            .iter()
            .filter_map(to_run)
            .collect())
    }

    /// Every execution of `job` Gangway knows, finished or not (the rerun executor looks
    /// here for one it created before a crash).
    pub async fn list_executions(&self, job: &str) -> anyhow::Result<Vec<JobExecution>> {
        let response = self
            .client
            .clone()
            .list_job_executions(ListJobExecutionsRequest {
                job_name: job.to_string(),
                status: JobExecutionStatus::Unspecified as i32,
            })
            .await
            .with_context(|| format!("Gangway ListJobExecutions {job}"))?;
        Ok(response
            .into_inner()
            .job_execution
            .into_iter()
            .filter(|e| e.job_name == job)
            .collect())
    }

    /// Starts a run of the periodic `job` (no refs: Gangway refuses them for periodics).
    pub async fn create_periodic(&self, job: &str) -> anyhow::Result<JobExecution> {
        let response = self
            .client
            .clone()
            .create_job_execution(CreateJobExecutionRequest {
                job_name: job.to_string(),
                job_execution_type: JobExecutionType::Periodic as i32,
            })
            .await
            .with_context(|| format!("Gangway CreateJobExecution {job}"))?;
        Ok(response.into_inner())
    }
}

/// The build id of an execution: the last, numeric segment of `gcs_path` (or of
/// `job_url`); `None` while Gangway does not know it yet (a just-created execution).
pub fn build_of(e: &JobExecution) -> Option<BuildId> {
    [&e.gcs_path, &e.job_url]
        .into_iter()
        .filter_map(|p| p.trim_end_matches('/').rsplit('/').next())
        .find(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()))
        .map(BuildId::new)
}

/// The run a job execution is, when it is a finished periodic.
pub fn to_run(e: &JobExecution) -> Option<Run> {
    let periodic = matches!(
        JobExecutionType::try_from(e.job_type),
        Ok(JobExecutionType::Periodic | JobExecutionType::Unspecified)
    );
    if !periodic {
        return None;
    }
    let result = match JobExecutionStatus::try_from(e.job_status).ok()? {
        JobExecutionStatus::Success => RunResult::Success,
        JobExecutionStatus::Failure => RunResult::Failure,
        JobExecutionStatus::Aborted => RunResult::Aborted,
        JobExecutionStatus::Error => RunResult::Error,
        _ => return None,
    };
    let build = build_of(e)
        .map(|b| b.0)
        .or_else(|| (!e.id.is_empty()).then(|| e.id.clone()))?;
    let time = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| Timestamp(t.seconds));
    Some(Run {
        job: JobName::new(&e.job_name),
        build_id: BuildId::new(build),
        result,
        started_at: time(&e.create_time),
        finished_at: time(&e.completion_time),
        url: e.job_url.clone(),
        gcs_path: e.gcs_path.clone(),
        commits: Default::default(),
        channel: Channel::Gangway,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use prost::encoding::{WireType, encode_key, encode_varint};

    fn put_str(buf: &mut Vec<u8>, tag: u32, s: &str) {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(s.len() as u64, buf);
        buf.extend_from_slice(s.as_bytes());
    }

    fn put_varint(buf: &mut Vec<u8>, tag: u32, v: u64) {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(v, buf);
    }

    fn put_msg(buf: &mut Vec<u8>, tag: u32, m: &[u8]) {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(m.len() as u64, buf);
        buf.extend_from_slice(m);
    }

    /// A `JobExecution` written field by field with the numbers of Prow's real
    /// `gangway.proto` (including the `refs` and `pod_spec_options` we do not declare).
    fn real_job_execution() -> Vec<u8> {
        let mut refs = Vec::new();
        put_str(&mut refs, 1, "kubernetes"); // Refs.org
        put_str(&mut refs, 2, "kubernetes"); // Refs.repo
        let mut ts = Vec::new();
        put_varint(&mut ts, 1, 1_764_000_000); // Timestamp.seconds
        let mut done = Vec::new();
        put_varint(&mut done, 1, 1_764_003_600);
        let mut e = Vec::new();
        put_str(&mut e, 1, "0f5a6f1e-uuid"); // id
        put_str(&mut e, 2, "ci-kubernetes-e2e-gce-scale-performance-100"); // job_name
        put_varint(&mut e, 3, 1); // job_type PERIODIC
        put_varint(&mut e, 4, 4); // job_status FAILURE
        put_msg(&mut e, 5, &refs); // refs (unknown to us)
        put_str(
            &mut e,
            7,
            "gs://kubernetes-ci-logs/logs/ci-kubernetes-e2e-gce-scale-performance-100/1861234567890123456",
        );
        put_msg(&mut e, 8, &ts); // create_time
        put_msg(&mut e, 9, &done); // completion_time
        put_str(
            &mut e,
            10,
            "https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/ci-kubernetes-e2e-gce-scale-performance-100/1861234567890123456",
        );
        let mut list = Vec::new();
        put_msg(&mut list, 1, &e); // JobExecutions.job_execution
        list
    }

    #[test]
    fn decodes_bytes_encoded_with_the_real_field_numbers() {
        let list =
            crate::pb::gangway::JobExecutions::decode(real_job_execution().as_slice()).unwrap();
        assert_eq!(list.job_execution.len(), 1);
        let e = &list.job_execution[0];
        assert_eq!(e.job_status, JobExecutionStatus::Failure as i32);
        assert_eq!(e.job_type, JobExecutionType::Periodic as i32);
        let run = to_run(e).unwrap();
        assert_eq!(run.build_id.as_str(), "1861234567890123456");
        assert_eq!(run.result, RunResult::Failure);
        assert_eq!(run.started_at, Some(Timestamp(1_764_000_000)));
        assert_eq!(run.finished_at, Some(Timestamp(1_764_003_600)));
        assert_eq!(run.channel, Channel::Gangway);
    }

    #[test]
    fn requests_encode_with_the_real_field_numbers() {
        let req = ListJobExecutionsRequest {
            job_name: "j".into(),
            status: JobExecutionStatus::Success as i32,
        };
        let mut want = Vec::new();
        put_str(&mut want, 1, "j");
        put_varint(&mut want, 2, 3);
        assert_eq!(req.encode_to_vec(), want);
        let create = CreateJobExecutionRequest {
            job_name: "j".into(),
            job_execution_type: JobExecutionType::Periodic as i32,
        };
        let mut want = Vec::new();
        put_str(&mut want, 1, "j");
        put_varint(&mut want, 2, 1);
        assert_eq!(create.encode_to_vec(), want);
    }

    #[test]
    fn unfinished_and_non_periodic_executions_are_not_runs() {
        let mut e = JobExecution {
            job_name: "j".into(),
            gcs_path: "gs://b/logs/j/12".into(),
            job_type: JobExecutionType::Periodic as i32,
            job_status: JobExecutionStatus::Pending as i32,
            ..Default::default()
        };
        assert!(to_run(&e).is_none());
        e.job_status = JobExecutionStatus::Success as i32;
        assert_eq!(to_run(&e).unwrap().build_id.as_str(), "12");
        e.job_type = JobExecutionType::Presubmit as i32;
        assert!(to_run(&e).is_none());
    }
}
