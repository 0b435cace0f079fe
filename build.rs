//! Compiles `proto/` with protox (a pure-Rust protobuf compiler) so that neither the
//! developers' machines nor CI need a `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["deploysim.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
