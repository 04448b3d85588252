//! `ingot bisect`: find where a model's outputs go wrong.
//!
//! 1. Passes: the unoptimized graph on the reference interpreter is the
//!    reference. The pipeline runs once, keeping the graph after every pass
//!    run; each is interpreted on the same inputs, and the first whose
//!    outputs differ beyond the tolerance is named, with the first node
//!    (in schedule order) whose value differs from the graph before that
//!    pass (values keep their identity across passes).
//! 2. Backend: the model compiled for the CPU runs step by step, each
//!    step's results compared with the interpreter's values on the
//!    optimized graph; the first step that differs is named with its
//!    kernel.

use super::model::{self, Runnable};
use super::{interp_error, CliError};
use ingot_compiler::cpu::{compile, CompileOptions};
use ingot_ir::{DType, Graph, Tensor, Value};
use ingot_passes::pipeline::{optimize, PipelineOptions, PASS_NAMES};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct Request<'a> {
    pub file: &'a Path,
    pub files: Vec<(String, PathBuf)>,
    pub dims: Vec<(String, i64)>,
    pub seed: u64,
    pub rtol: f64,
    pub atol: f64,
}

/// Why two tensors differ, or `None` when they agree within tolerance
/// (floats: |a - b| <= atol + rtol·|b|, NaN equal to NaN; others exact).
pub fn differ(a: &Tensor, b: &Tensor, rtol: f64, atol: f64) -> Option<String> {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return Some(format!(
            "{}{:?} vs {}{:?}",
            a.dtype(),
            a.shape(),
            b.dtype(),
            b.shape()
        ));
    }
    let float = matches!(
        a.dtype(),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16
    );
    let (x, y) = (a.to_f64s(), b.to_f64s());
    let mut worst: Option<(usize, f64)> = None;
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        let bad = if float {
            !(p == q || (p.is_nan() && q.is_nan()) || (p - q).abs() <= atol + rtol * q.abs())
        } else {
            p != q
        };
        if bad {
            let d = if (p - q).is_nan() {
                f64::INFINITY
            } else {
                (p - q).abs()
            };
            if worst.is_none_or(|(_, w)| d > w) {
                worst = Some((i, d));
            }
        }
    }
    worst.map(|(i, d)| format!("element {i}: {} vs {} (|diff| {d:.3e})", x[i], y[i]))
}

fn describe_value(g: &Graph, v: Value) -> String {
    let name = g
        .name_of(v)
        .map_or_else(|| v.to_string(), |n| format!("%{n}"));
    match g.producer(v) {
        Some(n) => {
            let nd = g.node(n);
            let loc = nd
                .loc
                .as_ref()
                .map(|l| format!(" at {l:?}"))
                .unwrap_or_default();
            format!("{name} = node {n} `{}`{loc}", nd.op.name())
        }
        None => format!("{name} (graph input)"),
    }
}

pub fn run(r: Request) -> Result<(), CliError> {
    let m = model::load(r.file, "cpu", true, 1)?;
    let Runnable::Interp(g0) = &m.model else {
        return Err(CliError::user(
            "bisect needs a model to compile (text IR or ONNX), not an artifact",
            "run bisect on the model the artifact was compiled from",
        ));
    };
    let ins = model::make_inputs(&m.inputs(), &r.files, &r.dims, r.seed)?;
    let reference = ingot_ir::interp::run(g0, &ins).map_err(|e| interp_error(r.file, e))?;
    println!(
        "reference: {} on the interpreter, unoptimized ({} nodes)",
        r.file.display(),
        g0.order().len()
    );

    // 1. Passes.
    let mut g = g0.clone();
    let opts = PipelineOptions {
        dump_after: PASS_NAMES.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let report = optimize(&mut g, &opts)
        .map_err(|e| CliError::Internal(format!("pass `{}` failed: {}", e.pass, e.msg)))?;
    let mut prev: (String, Graph) = ("the unoptimized graph".into(), g0.clone());
    let mut broken = false;
    for (k, (label, gk)) in report.dumps.iter().enumerate() {
        let outs = ingot_ir::interp::run(gk, &ins).map_err(|e| {
            CliError::Internal(format!(
                "{label} (pass run {}): the graph fails to run: {e}",
                k + 1
            ))
        })?;
        let bad = outs
            .iter()
            .zip(&reference)
            .enumerate()
            .find_map(|(i, (a, b))| differ(a, b, r.rtol, r.atol).map(|d| (i, d)));
        if let Some((i, d)) = bad {
            println!(
                "passes: outputs diverge {label} (pass run {} of {}): output {i}: {d}",
                k + 1,
                report.dumps.len()
            );
            let before =
                ingot_ir::interp::run_all(&prev.1, &ins).map_err(|e| interp_error(r.file, e))?;
            let after = ingot_ir::interp::run_all(gk, &ins).map_err(|e| interp_error(r.file, e))?;
            let first = gk
                .order()
                .iter()
                .flat_map(|&n| gk.node(n).outputs.clone())
                .find_map(|v| {
                    let (a, b) = (after.get(&v)?, before.get(&v)?);
                    differ(a, b, r.rtol, r.atol).map(|d| (v, d))
                });
            match first {
                Some((v, d)) => println!(
                    "  first value that differs from {}: {}: {d}",
                    prev.0,
                    describe_value(gk, v)
                ),
                None => println!(
                    "  no value kept from {} differs; the divergence comes from nodes the pass created",
                    prev.0
                ),
            }
            broken = true;
            break;
        }
        prev = (label.clone(), gk.clone());
    }
    if !broken {
        println!(
            "passes: all {} pass runs keep the outputs within tolerance (rtol {}, atol {})",
            report.dumps.len(),
            r.rtol,
            r.atol
        );
    }

    // 2. Backend vs interpreter, on the optimized graph.
    let model = compile(
        g0,
        &CompileOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .map_err(|e| {
        CliError::user(
            format!("{}: {e}", r.file.display()),
            "`ingot optimize --stats` shows where the pipeline stops",
        )
    })?;
    let og = model.graph();
    let want = ingot_ir::interp::run_all(og, &ins).map_err(|e| interp_error(r.file, e))?;
    let by_name: HashMap<String, Value> = want
        .keys()
        .map(|&v| {
            (
                og.name_of(v).map_or_else(|| v.to_string(), str::to_string),
                v,
            )
        })
        .collect();
    let (_, steps) = model
        .runtime()
        .run_traced(&ins)
        .map_err(|e| CliError::Internal(format!("the compiled model failed: {e}")))?;
    let program = model.runtime().program();
    // Results nothing reads are not computed (max_pool's indices).
    let read: std::collections::HashSet<usize> = program
        .steps
        .iter()
        .flat_map(|s| s.ins.iter().copied())
        .chain(program.outputs.iter().copied())
        .collect();
    for (step, outs) in program.steps.iter().zip(&steps) {
        for (&b, t) in step.outs.iter().zip(outs) {
            let Some(v) = by_name
                .get(&program.bufs[b].name)
                .filter(|_| read.contains(&b))
            else {
                continue;
            };
            if let Some(d) = differ(t, &want[v], r.rtol, r.atol) {
                println!(
                    "backend: step {} [{}] differs from the interpreter at {}: {d}",
                    step.label,
                    step.describe(),
                    describe_value(og, *v)
                );
                return Ok(());
            }
        }
    }
    println!(
        "backend: all {} steps match the interpreter on the optimized graph",
        program.steps.len()
    );
    Ok(())
}
