//! Any byte string fed to the ONNX importer gives a graph or an error, never
//! a panic, an abort, or an allocation the input did not justify. A graph
//! that imports must also verify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = ingot_compiler::onnx::import_onnx_bytes(data, None) {
        ingot_ir::verify(&g).expect("an imported graph verifies");
    }
});
