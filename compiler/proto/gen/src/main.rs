//! Generates `compiler/src/onnx/proto/onnx.rs` (prost types for ONNX's
//! protobuf schema) from `compiler/proto/onnx.proto`, in pure Rust (protox
//! parses the schema; no system `protoc`). The output is committed so that
//! building the compiler needs neither protox nor prost-build.

use std::path::PathBuf;

fn main() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = here.parent().expect("proto/").to_path_buf();
    let out_dir = proto_dir
        .parent()
        .expect("compiler/")
        .join("src/onnx/proto");
    let fds = protox::compile([proto_dir.join("onnx.proto")], [&proto_dir]).expect("parse onnx.proto");
    std::fs::create_dir_all(&out_dir).expect("create output folder");
    let mut cfg = prost_build::Config::new();
    cfg.out_dir(&out_dir);
    cfg.compile_fds(fds).expect("generate Rust");
    println!("wrote {}", out_dir.join("onnx.rs").display());
}
