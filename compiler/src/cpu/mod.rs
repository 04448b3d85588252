//! The CPU backend: compile a graph once, then run it many times.
//!
//! ```no_run
//! use ingot_compiler::cpu::{compile_onnx, CompileOptions};
//! let model = compile_onnx("model.onnx".as_ref(), &CompileOptions::default())?;
//! # let inputs: Vec<ingot_ir::Tensor> = vec![];
//! let outputs = model.run(&inputs)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `compile` = the pass pipeline, memory planning (sizes are functions of
//! the symbolic dims, so one compile serves every batch size), then
//! lowering each node to a native kernel (JIT code through Cranelift, or a
//! micro-kernel) or, where none exists, the reference interpreter.
//! [`CompiledModel`] is `Send + Sync`; concurrent `run`s each take their own
//! arena.

mod fused;
pub mod jit;
pub mod lower;
pub mod select;

use crate::onnx::{import_onnx, OnnxError};
use ingot_ir::{Graph, Tensor};
use ingot_passes::memory_plan::plan_memory_partial;
use ingot_passes::pipeline::{optimize, PipelineOptions, PipelineReport};
use ingot_passes::PassError;
use ingot_runtime::spec::{build_program_lenient, ProgramSpec};
use ingot_runtime::{Model, RunError};
pub use jit::CpuLevel;
use std::path::Path;
use std::time::{Duration, Instant};

pub use lower::LowerStats;

/// How to compile.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Worker threads for one run (0 = one per core).
    pub threads: usize,
    /// Run the optimization pipeline (off: lower the graph as given).
    pub optimize: bool,
    /// Use native kernels (off: every step runs on the interpreter, which
    /// is how to tell a backend bug from a pass bug).
    pub native: bool,
    /// Dumps and `stop_after` for the pipeline.
    pub pipeline: PipelineOptions,
    /// The CPU level generated code targets (`Host` for in-memory use; a
    /// named level for artifacts that travel).
    pub cpu: CpuLevel,
    /// Also generate code for the access patterns a run may meet besides
    /// the predicted ones (artifacts cannot generate code when they run).
    pub aot: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            threads: 0,
            optimize: true,
            native: true,
            pipeline: PipelineOptions::default(),
            cpu: CpuLevel::Host,
            aot: false,
        }
    }
}

/// Why compiling failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Import(#[from] OnnxError),
    #[error("pass `{}`: {}", .0.pass, .0.msg)]
    Pass(PassError),
    #[error("lowering: {0}")]
    Lower(String),
}

/// Where compile time went, and what was built.
#[derive(Clone, Debug, Default)]
pub struct CompileReport {
    pub import: Duration,
    pub passes: Duration,
    pub plan: Duration,
    pub lower: Duration,
    pub pipeline: PipelineReport,
    pub lower_stats: LowerStats,
}

impl CompileReport {
    pub fn total(&self) -> Duration {
        self.import + self.passes + self.plan + self.lower
    }
}

/// A compiled model: run it from any number of threads.
pub struct CompiledModel {
    model: Model,
    graph: Graph,
    report: CompileReport,
    parts: Parts,
}

/// What an artifact of this model stores.
pub struct Parts {
    pub cpu: CpuLevel,
    pub spec: ProgramSpec,
    pub consts: Vec<Tensor>,
    pub code: Vec<Vec<u8>>,
}

impl CompiledModel {
    /// Run on `inputs` (graph input order); dtypes, ranks and fixed dims
    /// are checked, symbolic dims bound.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        self.model.run(inputs)
    }

    /// Run once, returning per-step wall times (step order of
    /// [`CompiledModel::runtime`]'s program).
    pub fn profile(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Vec<Duration>), RunError> {
        self.model.profile(inputs)
    }

    /// The optimized graph the program was lowered from.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn report(&self) -> &CompileReport {
        &self.report
    }

    pub fn runtime(&self) -> &Model {
        &self.model
    }

    /// The plan, constants and machine code (what `crate::artifact` writes).
    pub fn parts(&self) -> &Parts {
        &self.parts
    }
}

/// Compile `graph` for the CPU.
pub fn compile(graph: &Graph, opts: &CompileOptions) -> Result<CompiledModel, CompileError> {
    let mut report = CompileReport::default();
    compile_into(graph.clone(), opts, &mut report)
}

/// Import an ONNX file and compile it.
pub fn compile_onnx(path: &Path, opts: &CompileOptions) -> Result<CompiledModel, CompileError> {
    let t0 = Instant::now();
    let g = import_onnx(path)?;
    let mut report = CompileReport {
        import: t0.elapsed(),
        ..Default::default()
    };
    compile_into(g, opts, &mut report)
}

fn compile_into(
    mut g: Graph,
    opts: &CompileOptions,
    report: &mut CompileReport,
) -> Result<CompiledModel, CompileError> {
    let t0 = Instant::now();
    if opts.optimize {
        report.pipeline = optimize(&mut g, &opts.pipeline).map_err(CompileError::Pass)?;
    }
    let t1 = Instant::now();
    let plan = plan_memory_partial(&g);
    let t2 = Instant::now();
    let mut sink =
        jit::Sink::new(opts.cpu, opts.aot).map_err(|e| CompileError::Lower(e.to_string()))?;
    let lowered = lower::lower(&g, &plan, opts.native, &mut sink).map_err(CompileError::Lower)?;
    let (mut spec, fallbacks, mut stats) = (lowered.spec, lowered.fallbacks, lowered.stats);
    let (code, blobs) = sink.finish().map_err(CompileError::Lower)?;
    let consts = std::mem::take(&mut spec.consts);
    let (program, refused) = build_program_lenient(&mut spec, consts.clone(), &code, &fallbacks)
        .map_err(CompileError::Lower)?;
    for (i, why) in refused {
        let op = match &fallbacks[i].kind {
            ingot_runtime::spec::KernelSpec::Fallback(op) => op.name(),
            _ => "?",
        };
        stats.demote(op, why);
    }
    let model = Model::new(program, opts.threads).map_err(CompileError::Lower)?;
    let t3 = Instant::now();
    report.passes = t1 - t0;
    report.plan = t2 - t1;
    report.lower = t3 - t2;
    report.lower_stats = stats;
    Ok(CompiledModel {
        model,
        graph: g,
        report: std::mem::take(report),
        parts: Parts {
            cpu: opts.cpu,
            spec,
            consts,
            code: blobs,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn compiled_model_is_send_and_sync() {
        assert_send_sync::<CompiledModel>();
    }
}
