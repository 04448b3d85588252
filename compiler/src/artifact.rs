//! Writing `.ingot` artifacts from a compiled model (the format and the
//! loader are in `ingot_runtime::artifact`; `docs/artifact.md`).
//!
//! An artifact's code must run without a code generator, so compile for
//! it with [`artifact_options`]: a named CPU level and every access pattern
//! a run may meet.

use crate::cpu::{CompileOptions, CompiledModel, CpuLevel};
pub use ingot_runtime::artifact::{load, ArtifactError, Loaded, Meta};
use std::path::Path;

/// `opts` adjusted for an artifact whose code targets `cpu`.
pub fn artifact_options(opts: &CompileOptions, cpu: CpuLevel) -> CompileOptions {
    CompileOptions {
        cpu,
        aot: true,
        ..opts.clone()
    }
}

fn contents(model: &CompiledModel) -> ingot_runtime::artifact::Contents<'_> {
    let p = model.parts();
    ingot_runtime::artifact::Contents {
        cpu: p.cpu,
        spec: &p.spec,
        consts: &p.consts,
        code: &p.code,
    }
}

/// The artifact bytes of `model`.
pub fn to_bytes(model: &CompiledModel) -> Result<Vec<u8>, ArtifactError> {
    ingot_runtime::artifact::to_bytes(&contents(model))
}

/// Write `model` to `path`; returns the file's size.
pub fn write(model: &CompiledModel, path: &Path) -> Result<u64, ArtifactError> {
    ingot_runtime::artifact::write(path, &contents(model))
}
