//! `scalability_gate.v1.Results`: any CI system reports a finished run of a gated job.
//! The request is validated (exact gated job name, a build id, a known result, commits as
//! `org/repo` → sha) and enqueued on the ordered queue like every other channel. It is a
//! write: it needs the API token ([`super::auth::ApiToken`]), checked before anything else.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::ApiToken;
use crate::App;
use crate::bus::{Input, QueueError};
use crate::model::{BuildId, Channel, CommitSha, JobName, RepoName, Run, RunResult, Timestamp};
use crate::pb::scalability_gate::v1::results_server::Results;
use crate::pb::scalability_gate::v1::{ReportJobResultRequest, ReportJobResultResponse};

/// The `Results` service.
pub struct ResultsService {
    app: App,
    token: Arc<ApiToken>,
    /// Fills reported runs from GCS like every other channel.
    enricher: crate::prow::gcs::Enricher,
}

impl ResultsService {
    /// The service; `token` is the API token shared with `Gate`.
    pub fn new(app: App, token: Arc<ApiToken>) -> Self {
        let enricher = crate::prow::gcs::Enricher::new(&app.config, &app.gcs_credentials);
        Self {
            app,
            token,
            enricher,
        }
    }
}

/// Validates a request into a run (channel `Api`).
pub fn to_run(app: &App, req: &ReportJobResultRequest) -> Result<Run, Status> {
    if app.config.job(&req.job_name).is_none() {
        return Err(Status::invalid_argument(format!(
            "job_name {:?} is not a gated job",
            req.job_name
        )));
    }
    if req.build_id.trim().is_empty() {
        return Err(Status::invalid_argument("build_id is required"));
    }
    let Some(result) = RunResult::from_prow_state(&req.result) else {
        return Err(Status::invalid_argument(format!(
            "result {:?} is not one of success, failure, aborted, error",
            req.result
        )));
    };
    let mut commits = BTreeMap::new();
    for (repo, sha) in &req.commits {
        let repo = RepoName::parse(repo).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if sha.trim().is_empty() {
            return Err(Status::invalid_argument(format!("empty commit for {repo}")));
        }
        commits.insert(repo, CommitSha::new(sha.trim()));
    }
    let time = |t: i64| (t > 0).then_some(Timestamp(t));
    Ok(Run {
        job: JobName::new(&req.job_name),
        build_id: BuildId::new(req.build_id.trim()),
        result,
        started_at: time(req.started_at),
        finished_at: time(req.finished_at),
        url: req.url.clone(),
        gcs_path: req.gcs_path.clone(),
        commits,
        channel: Channel::Api,
    })
}

#[tonic::async_trait]
impl Results for ResultsService {
    async fn report_job_result(
        &self,
        request: Request<ReportJobResultRequest>,
    ) -> Result<Response<ReportJobResultResponse>, Status> {
        self.token.authorize(request.metadata())?;
        let mut run = to_run(&self.app, request.get_ref())?;
        self.enricher.enrich(&mut run).await;
        let known = self
            .app
            .store
            .run(&run.job, run.build_id.as_str())
            .map_err(|e| {
                tracing::error!(error = format!("{e:#}"), "reading history");
                Status::internal("reading history")
            })?
            .is_some();
        match self.app.queue.try_send(Input::Run(Box::new(run))) {
            Ok(()) => Ok(Response::new(ReportJobResultResponse { recorded: !known })),
            Err(QueueError::Full) => Err(Status::unavailable("the event queue is full")),
            Err(QueueError::Closed) => Err(Status::unavailable("shutting down")),
        }
    }
}
