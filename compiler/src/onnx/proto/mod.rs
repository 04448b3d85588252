//! Prost types for ONNX's protobuf schema (`compiler/proto/onnx.proto`, from
//! onnx 1.23.2, Apache-2.0). `onnx.rs` is generated; regenerate it with
//! `cargo run --manifest-path compiler/proto/gen/Cargo.toml` after changing the
//! schema. Never edit it by hand.

#![allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]

include!("onnx.rs");
