//! The Pub/Sub pull source: crier's Pub/Sub reporter publishes a `ReportMessage` per
//! ProwJob state change; this subscriber consumes them over gRPC
//! (`google.pubsub.v1.Subscriber/StreamingPull`, tonic, our own minimal proto).
//!
//! Delivery is at least once and nothing is lost:
//! - a message about a finished run of a gated job is filled from GCS (tested commits,
//!   times: the same [`Enricher`] as every other channel; concurrently, but queued in
//!   arrival order), queued for the ordered consumer as [`Input::RunAcked`] and
//!   acknowledged only once the consumer says the run is durably stored; while it waits,
//!   its ack deadline is extended; if applying fails, it is given back (deadline set to
//!   [`NACK_DELAY`]) for a later redelivery;
//! - a message that does not decode is acknowledged at once and logged with its message
//!   id, so it is never redelivered forever; non-final states and jobs that are not gated
//!   are acknowledged and ignored;
//! - a broken stream is reopened with bounded exponential backoff; runs are idempotent by
//!   build id, so a redelivery after a crash changes nothing.
//!
//! Connection: `emulator_host` (from `PUBSUB_EMULATOR_HOST`, as Google's clients do) means
//! plain-text HTTP/2 to that host and no credentials; otherwise TLS to
//! `pubsub.googleapis.com:443` with `Authorization: Bearer` read from `token_file` at each
//! (re)connection. Minting that token (workload identity, a service-account key) is left
//! to something outside the plugin, such as a sidecar that refreshes the file.

use std::collections::HashSet;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::Config;
use crate::bus::{Input, QueueSender};
use crate::model::{Channel as RunChannel, Run};
use crate::pb::google::pubsub::v1::subscriber_client::SubscriberClient;
use crate::pb::google::pubsub::v1::{
    AcknowledgeRequest, ModifyAckDeadlineRequest, PubsubMessage, ReceivedMessage,
    StreamingPullRequest,
};
use crate::prow::crier::{Report, ReportMessage};
use crate::prow::gcs::Enricher;

/// Cloud Pub/Sub's gRPC endpoint, used when no emulator is configured.
pub const GOOGLE_ENDPOINT: &str = "https://pubsub.googleapis.com";

/// The ack deadline asked for on the stream (Pub/Sub allows 10 s to 600 s).
pub const STREAM_ACK_DEADLINE: Duration = Duration::from_secs(60);

/// How often the deadlines of messages still being stored are extended: well inside
/// [`STREAM_ACK_DEADLINE`], so a slow store never lets a message be redelivered.
pub const LEASE_EXTENSION_EVERY: Duration = Duration::from_secs(20);

/// Messages the server may have outstanding on the stream (flow control; the queue is
/// bounded too).
pub const MAX_OUTSTANDING_MESSAGES: i64 = 100;

/// After a failed store, a message is given back for redelivery after this long.
pub const NACK_DELAY: Duration = Duration::from_secs(10);

/// First wait before reopening a broken stream; doubled on each failure up to
/// [`BACKOFF_MAX`], and reset once a stream delivers.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);

/// Longest wait between two attempts to reopen the stream.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How long shutdown waits for runs already queued to be stored and acknowledged.
pub const SHUTDOWN_ACK_WAIT: Duration = Duration::from_secs(5);

/// How long a stream being closed at shutdown may take to end.
const STREAM_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed for one Acknowledge or ModifyAckDeadline call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the subscriber connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Pub/Sub emulator at `host:port`: plain text, no credentials.
    Emulator { host: String },
    /// Cloud Pub/Sub over TLS, with a bearer token read from `token_file`.
    Google { token_file: PathBuf },
}

/// What the subscriber needs, taken from the configuration once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `projects/P/subscriptions/S`.
    pub subscription: String,
    pub target: Target,
    /// The whole configuration: messages about jobs it does not gate are acknowledged
    /// and ignored.
    pub config: Arc<Config>,
}

impl Settings {
    /// The subscriber's settings, or `None` when `sources.pubsub.subscription` is empty.
    pub fn from_config(config: &Arc<Config>) -> Option<Self> {
        let pubsub = &config.sources.pubsub;
        if pubsub.subscription.is_empty() {
            return None;
        }
        let target = if pubsub.emulator_host.is_empty() {
            Target::Google {
                token_file: PathBuf::from(&pubsub.token_file),
            }
        } else {
            Target::Emulator {
                host: pubsub.emulator_host.clone(),
            }
        };
        Some(Self {
            subscription: pubsub.subscription.clone(),
            target,
            config: config.clone(),
        })
    }
}

/// What to do with one received message.
#[derive(Debug, PartialEq)]
pub enum Disposition {
    /// A finished run of a gated job: store it, then acknowledge.
    Store(Box<Run>),
    /// Acknowledge and ignore (not final, not gated, not a periodic).
    Ignore(&'static str),
    /// Acknowledge and log: it will never decode, redelivering it would not help.
    Malformed(String),
}

/// Decides what a message is worth. Pure: no I/O.
pub fn classify(message: &PubsubMessage, config: &Config) -> Disposition {
    let published_at = message
        .publish_time
        .as_ref()
        .map(|t| crate::model::Timestamp(t.seconds));
    let decoded = ReportMessage::from_json(&message.data)
        .and_then(|report| report.to_report(config, RunChannel::PubsubPull, published_at));
    match decoded {
        Ok(Report::Run(run)) => Disposition::Store(run),
        Ok(Report::Ignored(why)) => Disposition::Ignore(why),
        Err(error) => Disposition::Malformed(error.to_string()),
    }
}

/// Adds the bearer token (Cloud Pub/Sub) and the routing header Google's clients send.
#[derive(Clone)]
struct CallHeaders {
    authorization: Option<AsciiMetadataValue>,
    routing: AsciiMetadataValue,
}

impl tonic::service::Interceptor for CallHeaders {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.authorization {
            req.metadata_mut().insert("authorization", token.clone());
        }
        req.metadata_mut()
            .insert("x-goog-request-params", self.routing.clone());
        Ok(req)
    }
}

type Client = SubscriberClient<InterceptedService<Channel, CallHeaders>>;

/// A run queued for the consumer, resolving to whether it was stored.
type Stored = Pin<Box<dyn Future<Output = (String, String, bool)> + Send + Sync>>;

/// A run being filled from GCS, resolving to `(ack_id, message_id, run)`; `None` when
/// the enrichment task failed (the message is given back).
type Enriched = Pin<Box<dyn Future<Output = (String, String, Option<Box<Run>>)> + Send + Sync>>;

/// Messages received and not yet acknowledged.
#[derive(Default)]
struct Leases {
    /// Runs being filled from GCS, in arrival order: queued for the consumer in that order.
    enriching: FuturesOrdered<Enriched>,
    /// Their ack ids.
    enriching_ids: HashSet<String>,
    /// Runs handed to the consumer: each resolves to `(ack_id, message_id, stored)`.
    waiting: FuturesUnordered<Stored>,
    /// The ack ids of both, whose deadlines are extended while they wait.
    ack_ids: HashSet<String>,
}

/// How a stream ended.
enum End {
    /// The plugin is stopping.
    Stopped,
    /// The stream broke after delivering messages: reopen at once.
    Broken(anyhow::Error),
}

/// Consumes the subscription until `stop` turns true. Never returns an error: a failure
/// to connect or a broken stream is logged and retried with backoff.
pub async fn run(
    settings: Settings,
    queue: QueueSender,
    enricher: Enricher,
    stop: watch::Receiver<bool>,
) {
    let mut subscriber = Subscriber {
        settings,
        enricher,
        queue: Some(queue),
        leases: Leases::default(),
        client: None,
    };
    let mut backoff = BACKOFF_MIN;
    tracing::info!(subscription = %subscriber.settings.subscription, "pubsub: subscribing");
    loop {
        match subscriber.stream(&stop).await {
            Ok(End::Stopped) => break,
            Ok(End::Broken(error)) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "pubsub: stream broke; reopening"
                );
                backoff = BACKOFF_MIN;
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    retry_in = ?backoff,
                    "pubsub: cannot pull; retrying"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = crate::supervise::stopped(stop.clone()) => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    subscriber.finish().await;
    tracing::info!("pubsub: stopped");
}

struct Subscriber {
    settings: Settings,
    /// Fills runs from GCS before they are queued.
    enricher: Enricher,
    /// Dropped at shutdown so that the consumer's queue can close.
    queue: Option<QueueSender>,
    leases: Leases,
    /// The connection of the current (or last) stream, for acknowledgements.
    client: Option<Client>,
}

impl Subscriber {
    async fn connect(&self) -> anyhow::Result<Client> {
        let (endpoint, authorization) = match &self.settings.target {
            Target::Emulator { host } => {
                let endpoint = Endpoint::from_shared(format!("http://{host}"))
                    .with_context(|| format!("emulator address {host:?}"))?;
                (endpoint, None)
            }
            Target::Google { token_file } => {
                let token = crate::config::read_secret_file(token_file)
                    .context("reading sources.pubsub.token_file")?;
                let mut value: AsciiMetadataValue =
                    MetadataValue::try_from(format!("Bearer {token}"))
                        .context("the Pub/Sub token is not a valid header value")?;
                value.set_sensitive(true);
                let tls = ClientTlsConfig::new()
                    .with_webpki_roots()
                    .domain_name("pubsub.googleapis.com");
                let endpoint = Endpoint::from_static(GOOGLE_ENDPOINT)
                    .tls_config(tls)
                    .context("TLS for Cloud Pub/Sub")?;
                (endpoint, Some(value))
            }
        };
        let channel = endpoint
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect()
            .await
            .with_context(|| {
                format!(
                    "connecting to Pub/Sub at {}",
                    endpoint_name(&self.settings.target)
                )
            })?;
        let routing = format!(
            "subscription={}",
            self.settings.subscription.replace('/', "%2F")
        );
        let headers = CallHeaders {
            authorization,
            routing: MetadataValue::try_from(routing).context("subscription name")?,
        };
        Ok(SubscriberClient::with_interceptor(channel, headers))
    }

    /// Opens one stream and serves it until it breaks or the plugin stops. An error means
    /// the stream could not be opened or broke before delivering anything.
    async fn stream(&mut self, stop: &watch::Receiver<bool>) -> anyhow::Result<End> {
        let mut client = self.connect().await?;
        self.client = Some(client.clone());
        // Acknowledgements that completed while the stream was down.
        self.settle_ready().await;
        let (tx, rx) = mpsc::channel::<StreamingPullRequest>(16);
        tx.send(StreamingPullRequest {
            subscription: self.settings.subscription.clone(),
            stream_ack_deadline_seconds: STREAM_ACK_DEADLINE.as_secs() as i32,
            client_id: client_id(),
            max_outstanding_messages: MAX_OUTSTANDING_MESSAGES,
            ..Default::default()
        })
        .await
        .context("opening the request stream")?;
        let mut inbound = tokio::select! {
            response = client.streaming_pull(ReceiverStream::new(rx)) => {
                response.context("StreamingPull")?.into_inner()
            }
            _ = crate::supervise::stopped(stop.clone()) => return Ok(End::Stopped),
        };
        let mut delivered = false;
        let mut lease_tick = tokio::time::interval(LEASE_EXTENSION_EVERY);
        lease_tick.tick().await;
        let stopped = crate::supervise::stopped(stop.clone());
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => {
                    self.close(tx, inbound).await;
                    return Ok(End::Stopped);
                }
                message = inbound.message() => {
                    let response = match message {
                        Ok(Some(response)) => response,
                        Ok(None) => {
                            let error = anyhow::anyhow!("the server closed the stream");
                            return if delivered { Ok(End::Broken(error)) } else { Err(error) };
                        }
                        Err(status) => {
                            let error = anyhow::Error::new(status).context("StreamingPull");
                            return if delivered { Ok(End::Broken(error)) } else { Err(error) };
                        }
                    };
                    delivered = true;
                    for received in response.received_messages {
                        self.receive(received).await;
                    }
                }
                Some((ack_id, message_id, run)) = self.leases.enriching.next(),
                    if !self.leases.enriching.is_empty() =>
                {
                    self.enqueue(ack_id, message_id, run).await;
                }
                Some((ack_id, message_id, stored)) = self.leases.waiting.next(),
                    if !self.leases.waiting.is_empty() =>
                {
                    self.settle(ack_id, message_id, stored).await;
                }
                _ = lease_tick.tick() => self.extend_leases(&tx).await,
            }
        }
    }

    /// Ends a stream cleanly at shutdown, as Google's clients do: half-closes the request
    /// side, then lets the server end the stream; messages it still sends meanwhile are
    /// given back at once for redelivery.
    async fn close(
        &mut self,
        tx: mpsc::Sender<StreamingPullRequest>,
        mut inbound: tonic::Streaming<crate::pb::google::pubsub::v1::StreamingPullResponse>,
    ) {
        drop(tx);
        let mut unhandled = Vec::new();
        let closing = async {
            while let Ok(Some(response)) = inbound.message().await {
                unhandled.extend(response.received_messages.into_iter().map(|m| m.ack_id));
            }
        };
        if tokio::time::timeout(STREAM_CLOSE_WAIT, closing)
            .await
            .is_err()
        {
            tracing::debug!("pubsub: the server did not end the stream in time");
        }
        if !unhandled.is_empty() {
            self.modify_deadline(unhandled, Duration::ZERO).await;
        }
    }

    /// Handles one message in arrival order.
    async fn receive(&mut self, received: ReceivedMessage) {
        let ReceivedMessage {
            ack_id, message, ..
        } = received;
        let message = message.unwrap_or_default();
        let message_id = message.message_id.clone();
        match classify(&message, &self.settings.config) {
            Disposition::Store(mut run) => {
                if self.queue.is_none() {
                    return;
                }
                tracing::debug!(message_id, job = %run.job, build = %run.build_id, "pubsub: run received");
                self.leases.ack_ids.insert(ack_id.clone());
                self.leases.enriching_ids.insert(ack_id.clone());
                // Filled in a task of its own (GCS may be slow), so that the stream, the
                // other messages and the deadline extensions go on meanwhile.
                let enricher = self.enricher.clone();
                let filled = tokio::spawn(async move {
                    enricher.enrich(&mut run).await;
                    run
                });
                self.leases.enriching.push_back(Box::pin(async move {
                    (ack_id, message_id, filled.await.ok())
                }));
            }
            Disposition::Ignore(why) => {
                tracing::debug!(message_id, why, "pubsub: message ignored");
                self.acknowledge(vec![ack_id]).await;
            }
            Disposition::Malformed(error) => {
                tracing::warn!(
                    message_id,
                    error,
                    "pubsub: message does not decode; acknowledged and dropped"
                );
                self.acknowledge(vec![ack_id]).await;
            }
        }
    }

    /// Queues a run filled from GCS for the consumer; it is acknowledged once stored.
    async fn enqueue(&mut self, ack_id: String, message_id: String, run: Option<Box<Run>>) {
        self.leases.enriching_ids.remove(&ack_id);
        let (Some(queue), Some(run)) = (&self.queue, run) else {
            tracing::warn!(message_id, "pubsub: run not queued; giving it back");
            self.leases.ack_ids.remove(&ack_id);
            self.modify_deadline(vec![ack_id], NACK_DELAY).await;
            return;
        };
        let (done_tx, done_rx) = oneshot::channel();
        tracing::debug!(message_id, job = %run.job, build = %run.build_id, "pubsub: run queued");
        if let Err(error) = queue.send(Input::RunAcked { run, done: done_tx }).await {
            // Not acknowledged: it comes back after the deadline.
            tracing::warn!(message_id, %error, "pubsub: run not queued");
            self.leases.ack_ids.remove(&ack_id);
            return;
        }
        self.leases.waiting.push(Box::pin(async move {
            let stored = done_rx.await.is_ok();
            (ack_id, message_id, stored)
        }));
    }

    /// Acknowledges a stored run, or gives back one the consumer failed to apply.
    async fn settle(&mut self, ack_id: String, message_id: String, stored: bool) {
        self.leases.ack_ids.remove(&ack_id);
        if stored {
            tracing::debug!(message_id, "pubsub: run stored; acknowledging");
            self.acknowledge(vec![ack_id]).await;
        } else {
            tracing::warn!(
                message_id,
                "pubsub: run not stored; giving it back for redelivery"
            );
            self.modify_deadline(vec![ack_id], NACK_DELAY).await;
        }
    }

    /// Settles every lease that is already done, without waiting.
    async fn settle_ready(&mut self) {
        while let Some(Some((ack_id, message_id, stored))) =
            futures::FutureExt::now_or_never(self.leases.waiting.next())
        {
            self.settle(ack_id, message_id, stored).await;
        }
    }

    /// Extends the deadlines of messages still being stored, on the stream.
    async fn extend_leases(&self, tx: &mpsc::Sender<StreamingPullRequest>) {
        if self.leases.ack_ids.is_empty() {
            return;
        }
        let ids: Vec<String> = self.leases.ack_ids.iter().cloned().collect();
        let seconds = vec![STREAM_ACK_DEADLINE.as_secs() as i32; ids.len()];
        tracing::debug!(count = ids.len(), "pubsub: extending ack deadlines");
        let request = StreamingPullRequest {
            modify_deadline_ack_ids: ids,
            modify_deadline_seconds: seconds,
            ..Default::default()
        };
        if tx.send(request).await.is_err() {
            tracing::debug!("pubsub: stream closed before the deadline extension");
        }
    }

    async fn acknowledge(&self, ack_ids: Vec<String>) {
        let Some(mut client) = self.client.clone() else {
            return;
        };
        let request = AcknowledgeRequest {
            subscription: self.settings.subscription.clone(),
            ack_ids,
        };
        match tokio::time::timeout(CALL_TIMEOUT, client.acknowledge(request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => {
                tracing::warn!(%status, "pubsub: acknowledge failed; the message will be redelivered")
            }
            Err(_) => {
                tracing::warn!("pubsub: acknowledge timed out; the message will be redelivered")
            }
        }
    }

    async fn modify_deadline(&self, ack_ids: Vec<String>, deadline: Duration) {
        let Some(mut client) = self.client.clone() else {
            return;
        };
        let request = ModifyAckDeadlineRequest {
            subscription: self.settings.subscription.clone(),
            ack_ids,
            ack_deadline_seconds: deadline.as_secs() as i32,
        };
        match tokio::time::timeout(CALL_TIMEOUT, client.modify_ack_deadline(request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => tracing::warn!(%status, "pubsub: modifying an ack deadline failed"),
            Err(_) => tracing::warn!("pubsub: modifying an ack deadline timed out"),
        }
    }

    /// At shutdown: lets the queue close, then acknowledges what the consumer stores
    /// within [`SHUTDOWN_ACK_WAIT`]; anything else is given back for redelivery at once.
    async fn finish(&mut self) {
        self.queue = None;
        // Runs still being filled from GCS were never queued: given back at once.
        self.leases.enriching = FuturesOrdered::new();
        let unqueued: Vec<String> = self.leases.enriching_ids.drain().collect();
        for ack_id in &unqueued {
            self.leases.ack_ids.remove(ack_id);
        }
        if !unqueued.is_empty() {
            self.modify_deadline(unqueued, Duration::ZERO).await;
        }
        let deadline = tokio::time::Instant::now() + SHUTDOWN_ACK_WAIT;
        while !self.leases.waiting.is_empty() {
            match tokio::time::timeout_at(deadline, self.leases.waiting.next()).await {
                Ok(Some((ack_id, message_id, stored))) => {
                    self.settle(ack_id, message_id, stored).await
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        left = self.leases.waiting.len(),
                        "pubsub: runs not stored before shutdown are given back for redelivery"
                    );
                    let ack_ids = self.leases.ack_ids.drain().collect();
                    self.modify_deadline(ack_ids, Duration::ZERO).await;
                    break;
                }
            }
        }
    }
}

fn endpoint_name(target: &Target) -> String {
    match target {
        Target::Emulator { host } => format!("emulator {host}"),
        Target::Google { .. } => GOOGLE_ENDPOINT.to_string(),
    }
}

/// One id per process, the same across reconnections, as Pub/Sub asks.
fn client_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let nanos = crate::clock::since_epoch().as_nanos();
        format!("scalability-gate-{}-{nanos}", std::process::id())
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobConfig;

    fn config() -> Arc<Config> {
        Arc::new(Config {
            jobs: vec![JobConfig::new("ci-scale", "o/r", "main")],
            ..Config::default()
        })
    }

    fn message(data: &str) -> PubsubMessage {
        PubsubMessage {
            data: data.as_bytes().to_vec(),
            message_id: "m1".into(),
            publish_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn classifies_reports() {
        let report = |status: &str, job: &str| {
            format!(
                r#"{{"project":"p","topic":"t","runid":"","status":"{status}","url":"https://prow/view/gs/b/logs/{job}/1234","gcs_path":"gs://b/logs/{job}/1234","job_type":"periodic","job_name":"{job}"}}"#
            )
        };
        match classify(&message(&report("failure", "ci-scale")), &config()) {
            Disposition::Store(run) => {
                assert_eq!(run.build_id.as_str(), "1234");
                assert!(run.result.is_red());
                assert_eq!(run.channel, RunChannel::PubsubPull);
                assert_eq!(
                    run.finished_at,
                    Some(crate::model::Timestamp(1_700_000_000))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&message(&report("pending", "ci-scale")), &config()),
            Disposition::Ignore(_)
        ));
        assert!(matches!(
            classify(&message(&report("success", "ci-other")), &config()),
            Disposition::Ignore(_)
        ));
        for bad in [
            "not json",
            "[1,2]",
            "",
            r#"{"status":"success","job_name":"ci-scale","job_type":"periodic"}"#,
        ] {
            assert!(
                matches!(
                    classify(&message(bad), &config()),
                    Disposition::Malformed(_)
                ),
                "{bad}"
            );
        }
    }

    fn subscriber(target: Target) -> Subscriber {
        let config = config();
        let (queue, _rx) = crate::bus::queue(1, Arc::new(crate::telemetry::Metrics::new()));
        Subscriber {
            enricher: Enricher::new(
                &config,
                &crate::gcs_auth::TokenSource::from_config(&config.sources.gcs).unwrap(),
            ),
            settings: Settings {
                subscription: "projects/p/subscriptions/s".into(),
                target,
                config,
            },
            queue: Some(queue),
            leases: Leases::default(),
            client: None,
        }
    }

    #[tokio::test]
    async fn cloud_pubsub_needs_a_readable_token_and_fails_cleanly_without_network() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        let missing = subscriber(Target::Google {
            token_file: token_file.clone(),
        });
        let error = format!("{:#}", missing.connect().await.err().unwrap());
        assert!(error.contains("sources.pubsub.token_file"), "{error}");
        std::fs::write(&token_file, "ya29.not-a-real-token\n").unwrap();
        // TLS and the bearer header are set up; the connection itself fails here (no
        // network in tests) with an error, never a panic.
        let result = missing.connect().await;
        if let Err(error) = result {
            let error = format!("{error:#}");
            assert!(error.contains("connecting to Pub/Sub"), "{error}");
        }
    }

    #[tokio::test]
    async fn waiting_runs_get_their_deadlines_extended_on_the_stream() {
        let mut s = subscriber(Target::Emulator {
            host: "127.0.0.1:1".into(),
        });
        let (tx, mut rx) = mpsc::channel(4);
        s.extend_leases(&tx).await;
        assert!(rx.try_recv().is_err(), "nothing waits, nothing is sent");
        s.leases.ack_ids.extend(["a".to_string(), "b".to_string()]);
        s.extend_leases(&tx).await;
        let request = rx.try_recv().unwrap();
        let mut ids = request.modify_deadline_ack_ids.clone();
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(request.modify_deadline_seconds, [60, 60]);
        assert!(
            request.subscription.is_empty(),
            "only the first request names it"
        );
    }

    #[test]
    fn settings_follow_the_config() {
        let mut config = Config::default();
        assert!(Settings::from_config(&Arc::new(config.clone())).is_none());
        config.sources.pubsub.subscription = "projects/p/subscriptions/s".into();
        config.sources.pubsub.token_file = "/t".into();
        let s = Settings::from_config(&Arc::new(config.clone())).unwrap();
        assert_eq!(
            s.target,
            Target::Google {
                token_file: "/t".into()
            }
        );
        config.sources.pubsub.emulator_host = "127.0.0.1:1".into();
        let s = Settings::from_config(&Arc::new(config)).unwrap();
        assert_eq!(
            s.target,
            Target::Emulator {
                host: "127.0.0.1:1".into()
            }
        );
    }
}
