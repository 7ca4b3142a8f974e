//! The gRPC listener: `grpc.health.v1`, reflection and the `scalability_gate.v1` services.
//! Health, reflection and reads are open; every write of `Gate` and `Results` checks the
//! one [`ApiToken`] built here from `api.token_file`.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use super::auth::ApiToken;
use crate::App;
use crate::pb::scalability_gate::v1::gate_server::GateServer;
use crate::pb::scalability_gate::v1::results_server::ResultsServer;

/// Server reflection over our own API and health, so `grpcurl` works without the protos.
fn reflection() -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    Ok(reflection_builder().build_v1()?)
}

/// The same reflection as `grpc.reflection.v1alpha`, which clients older than the v1
/// service ask for (grpcurl before 1.8.8, many language runtimes).
fn reflection_v1alpha() -> anyhow::Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
> {
    Ok(reflection_builder().build_v1alpha()?)
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::scalability_gate::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Serves gRPC on `listener` until `stop` resolves.
pub async fn serve(
    app: App,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let token = Arc::new(ApiToken::new(&app.config.api.token_file));
    match token.path() {
        None => tracing::info!("api.token_file is empty: gRPC writes are refused"),
        Some(path) if !path.is_file() => tracing::warn!(
            path = %path.display(),
            "api.token_file is not readable yet: gRPC writes are refused until it is"
        ),
        Some(_) => {}
    }
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection()?)
        .add_service(reflection_v1alpha()?)
        .add_service(GateServer::new(super::gate_api::GateService::new(
            app.clone(),
            token.clone(),
        )))
        .add_service(ResultsServer::new(super::results::ResultsService::new(
            app, token,
        )))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop)
        .await?;
    Ok(())
}
