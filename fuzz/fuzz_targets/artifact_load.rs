#![no_main]
//! The `.ingot` loader on arbitrary bytes: every input must be a clean
//! error (or a loaded model, for an unmodified artifact from the corpus),
//! never a panic, a crash or an unbounded allocation. Checksums stop
//! mutated files early, so the same bytes also go straight to the plan
//! decoder and validator (what runs once the checksums pass).

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let _ = ingot_runtime::artifact::load_shared(Arc::new(data.to_vec()), 1);
    let _ = ingot_runtime::artifact::check_plan_bytes(data);
});
