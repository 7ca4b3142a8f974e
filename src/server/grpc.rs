//! The gRPC listener: `grpc.health.v1` now; the `scalability_gate.v1` services join here.

use std::future::Future;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::App;
use crate::pb::scalability_gate::v1::results_server::ResultsServer;

/// Serves gRPC on `listener` until `stop` resolves.
pub async fn serve(
    app: App,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(ResultsServer::new(super::results::ResultsService::new(app)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop)
        .await?;
    Ok(())
}
