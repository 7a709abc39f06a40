//! Compiles `proto/` into Rust (feature `serve` only) with protox, a pure-Rust protobuf
//! compiler, so building needs no `protoc` binary and downloads nothing.

fn main() {
    #[cfg(feature = "serve")]
    if let Err(e) = compile_protos() {
        // A build script reports failure by panicking; the message names the proto problem.
        panic!("compiling proto/: {e}");
    }
}

#[cfg(feature = "serve")]
fn compile_protos() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/motionseg/v1/motionseg.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
