//! The gRPC listener: `grpc.health.v1` now; the `scalability_gate.v1` services join here.

use std::future::Future;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::App;
use crate::pb::scalability_gate::v1::gate_server::GateServer;
use crate::pb::scalability_gate::v1::results_server::ResultsServer;

/// Server reflection over our own API and health, so `grpcurl` works without the protos.
fn reflection() -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    Ok(tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::scalability_gate::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?)
}

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
        .add_service(reflection()?)
        .add_service(GateServer::new(super::gate_api::GateService::new(
            app.clone(),
        )))
        .add_service(ResultsServer::new(super::results::ResultsService::new(app)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop)
        .await?;
    Ok(())
}
