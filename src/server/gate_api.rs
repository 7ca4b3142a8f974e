//! The admin gRPC API `scalability_gate.v1.Gate`. Reads (`GetStatus`, `ListIncidents`)
//! come from the same read model as the dashboard. Mutations (`Block`, `Unblock`,
//! `Exempt`) need `authorization: Bearer <token>` matching `api.token_file`, checked by
//! [`super::auth::ApiToken`] as for `Results/ReportJobResult`, and are enqueued on the ordered
//! queue like every other input: the consumer decides them with the gate, writes them and
//! audits them as `grpc:<actor>`. One writer, one path.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::ApiToken;
use crate::App;
use crate::bus::Input;
use crate::bus::admin::{AdminError, AdminRequest};
use crate::model::{Cause, IncidentId, PrNumber, RepoName, Scope};
use crate::pb::scalability_gate::v1 as pb;
use crate::status::{self, IncidentView};

/// The `Gate` service over the running plugin.
pub struct GateService {
    app: App,
    token: Arc<ApiToken>,
}

impl GateService {
    /// The service; `token` is the API token shared with `Results`.
    pub fn new(app: App, token: Arc<ApiToken>) -> Self {
        Self { app, token }
    }

    /// Checks the bearer token of a mutating call (the one check of [`super::auth`]).
    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        self.token.authorize(request.metadata())
    }

    async fn mutate(
        &self,
        request: AdminRequest,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.app
            .queue
            .send(Input::Admin { request, done })
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let decision = answer
            .await
            .map_err(|_| Status::unavailable("the plugin is shutting down"))?
            .map_err(|error| match error.downcast_ref::<AdminError>() {
                Some(AdminError::UnknownIncident(_)) => Status::not_found(error.to_string()),
                Some(AdminError::NotInScope(..)) => Status::failed_precondition(error.to_string()),
                Some(AdminError::NoTarget) => Status::invalid_argument(error.to_string()),
                None => Status::internal(format!("{error:#}")),
            })?;
        let outcome = decision
            .audit
            .first()
            .map(|a| a.outcome.clone())
            .unwrap_or_default();
        let incident_ids = decision
            .incidents
            .iter()
            .map(|i| i.id.to_string())
            .collect::<Vec<_>>();
        if incident_ids.is_empty() {
            // Nothing changed: say why, with a status a client can act on.
            return Err(if outcome.starts_with("refused: unknown job") {
                Status::not_found(outcome)
            } else {
                Status::failed_precondition(outcome)
            });
        }
        Ok(Response::new(pb::MutationResponse {
            incident_ids,
            outcome,
        }))
    }
}

/// The scope `repo` and `branch` name: both or neither.
fn scope_of(repo: &str, branch: &str) -> Result<Option<Scope>, Status> {
    match (repo.trim(), branch.trim()) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err(Status::invalid_argument(
            "repo and branch go together: give both or neither",
        )),
        (repo, branch) => Ok(Some(Scope {
            repo: RepoName::parse(repo).map_err(|e| Status::invalid_argument(e.to_string()))?,
            branch: branch.to_string(),
        })),
    }
}

fn internal(error: anyhow::Error) -> Status {
    tracing::error!(error = format!("{error:#}"), "reading the status failed");
    Status::internal("reading the status failed; see the plugin's logs")
}

fn figures_to_pb(f: &crate::core::figures::Figures) -> pb::Figures {
    pb::Figures {
        incidents: f.incidents,
        active: f.active,
        reblocks: f.reblocks,
        false_blocks: f.false_blocks,
        time_to_block_p50_seconds: f.time_to_block_seconds.p50,
        time_to_block_max_seconds: f.time_to_block_seconds.max,
        blocked_seconds_total: f.blocked_seconds.total,
    }
}

fn to_pb(view: &IncidentView) -> pb::Incident {
    let cause = match &view.cause {
        Cause::Regression {
            first_red,
            last_green,
        } => format!(
            "green to red: first red run {} after last green run {}",
            first_red.build_id, last_green.build_id
        ),
        Cause::Manual { by, reason } => format!("blocked by hand by {by}: {reason}"),
    };
    let lifted = view.lifted.clone();
    pb::Incident {
        id: view.id.to_string(),
        job: view.job.to_string(),
        state: view.state.to_string(),
        opened_at: view.opened_at.0,
        duration_seconds: view.duration_seconds,
        scopes: view
            .scopes
            .iter()
            .map(|s| format!("{}@{}", s.repo, s.branch))
            .collect(),
        cause,
        lifted_by: lifted.as_ref().map(|l| l.by.clone()).unwrap_or_default(),
        lifted_reason: lifted
            .as_ref()
            .map(|l| l.reason.clone())
            .unwrap_or_default(),
        lifted_at: lifted.as_ref().map_or(0, |l| l.at.0),
        suspects: view
            .suspects
            .iter()
            .map(|s| format!("{}#{}", s.repo, s.pr.0))
            .collect(),
        json: serde_json::to_string(view).unwrap_or_default(),
        resolved_how: view.resolved_how.unwrap_or_default().to_string(),
        reblocks: view.reblocks as u32,
        lifts: view
            .lifts
            .iter()
            .map(|l| {
                format!("{} {} {}", l.by, l.at.0, l.reason)
                    .trim_end()
                    .to_string()
            })
            .collect(),
        culprit: view.culprit.as_ref().map(culprit_pb),
        culprit_history: view.culprit_history.iter().map(culprit_pb).collect(),
    }
}

/// A recorded culprit as the gRPC message.
fn culprit_pb(c: &crate::model::Culprit) -> pb::Culprit {
    pb::Culprit {
        pr: format!("{}#{}", c.repo, c.pr.0),
        number: c.pr.0,
        mitigation: c.mitigation.as_str().to_string(),
        note: c.note.clone().unwrap_or_default(),
        by: c.by.to_string(),
        at: c.at.0,
        suspect: c.suspect,
    }
}

#[tonic::async_trait]
impl pb::gate_server::Gate for GateService {
    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let status = status::snapshot(&self.app).map_err(internal)?;
        Ok(Response::new(pb::GetStatusResponse {
            json: serde_json::to_string(&status).map_err(|e| internal(e.into()))?,
            active_incidents: status
                .incidents
                .iter()
                .filter(|i| i.state == "active")
                .count() as u32,
            blocked_jobs: status
                .jobs
                .iter()
                .filter(|j| j.blocked)
                .map(|j| j.name.to_string())
                .collect(),
            summary: Some(figures_to_pb(&status.summary.all)),
            summary_jobs: status
                .summary
                .jobs
                .iter()
                .map(|(job, f)| (job.clone(), figures_to_pb(f)))
                .collect(),
            stale_jobs: status
                .jobs
                .iter()
                .filter(|j| j.stale)
                .map(|j| j.name.to_string())
                .collect(),
        }))
    }

    async fn list_incidents(
        &self,
        request: Request<pb::ListIncidentsRequest>,
    ) -> Result<Response<pb::ListIncidentsResponse>, Status> {
        let status = status::snapshot(&self.app).map_err(internal)?;
        let mut incidents: Vec<pb::Incident> = status.incidents.iter().map(to_pb).collect();
        if request.get_ref().include_lifted {
            incidents.extend(status.history.iter().map(to_pb));
        }
        Ok(Response::new(pb::ListIncidentsResponse { incidents }))
    }

    async fn block(
        &self,
        request: Request<pb::BlockRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        if r.job.trim().is_empty() {
            return Err(Status::invalid_argument("job is required"));
        }
        self.mutate(AdminRequest::Block {
            actor: r.actor,
            job: r.job.trim().to_string(),
            reason: r.reason,
        })
        .await
    }

    async fn unblock(
        &self,
        request: Request<pb::UnblockRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let incident = Some(r.incident_id.trim())
            .filter(|id| !id.is_empty())
            .map(IncidentId::new);
        let scope = scope_of(&r.repo, &r.branch)?;
        if incident.is_none() && scope.is_none() {
            return Err(Status::invalid_argument(
                "incident_id, or repo and branch, is required",
            ));
        }
        self.mutate(AdminRequest::Unblock {
            actor: r.actor,
            incident,
            scope,
            reason: r.reason,
        })
        .await
    }

    async fn exempt(
        &self,
        request: Request<pb::ExemptRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let repo =
            RepoName::parse(r.repo.trim()).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if r.pr == 0 {
            return Err(Status::invalid_argument("pr is required"));
        }
        let branch = Some(r.branch.trim())
            .filter(|b| !b.is_empty())
            .map(str::to_string);
        self.mutate(AdminRequest::Exempt {
            actor: r.actor,
            repo,
            pr: PrNumber(r.pr),
            branch,
            reason: r.reason,
        })
        .await
    }
}
