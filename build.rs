//! Compiles the protos in `proto/` with protox (pure Rust: no system protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/scalability_gate/v1/results.proto",
        "proto/scalability_gate/v1/gate.proto",
        "proto/prow/gangway.proto",
        "proto/google/pubsub/v1/pubsub.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    // Our own API's descriptors, for gRPC server reflection (grpcurl).
    let ours = [
        "proto/scalability_gate/v1/results.proto",
        "proto/scalability_gate/v1/gate.proto",
    ];
    let encoded = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .include_source_info(true)
        .open_files(ours)?
        .encode_file_descriptor_set();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("scalability_gate_v1_descriptor.bin"), encoded)?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
