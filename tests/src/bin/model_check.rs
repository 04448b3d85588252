//! Real exported models on the reference interpreter vs onnxruntime.
//!
//! `model_check [<models-dir>] [--filter <substr>]` imports every
//! `<models-dir>/<name>/model.onnx` (made by `scripts/export_models.py`, by
//! default into `.cache/models`), runs `ingot_ir::interp::run` on every
//! `test_data_set_<n>/input_<k>.pb` and compares with onnxruntime's
//! `output_<k>.pb`: dtype and shape exactly, values within rtol 1e-3,
//! atol 1e-4 (`|got - want| <= atol + rtol * |want|`, NaN only against NaN).
//!
//! Prints one line per model with the max absolute and max relative error
//! (relative to `max(|want|, 1e-6)`) and the import/run times; exits 1 if
//! any model fails, 2 on bad usage or a missing folder.

use ingot_compiler::onnx;
use ingot_ir::Tensor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-4;

/// Worst errors over one output.
#[derive(Default)]
struct Errors {
    max_abs: f64,
    max_rel: f64,
    bad: usize,
    first_bad: Option<(usize, f64, f64)>,
}

fn compare(got: &Tensor, want: &Tensor) -> Result<Errors, String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!(
            "got {}{:?}, expected {}{:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    let mut e = Errors::default();
    for (i, (a, b)) in got.to_f64s().into_iter().zip(want.to_f64s()).enumerate() {
        let ok = if a.is_nan() || b.is_nan() {
            a.is_nan() && b.is_nan()
        } else if a.is_infinite() || b.is_infinite() {
            a == b
        } else {
            let d = (a - b).abs();
            e.max_abs = e.max_abs.max(d);
            e.max_rel = e.max_rel.max(d / b.abs().max(1e-6));
            d <= ATOL + RTOL * b.abs()
        };
        if !ok {
            e.bad += 1;
            e.first_bad.get_or_insert((i, a, b));
        }
    }
    Ok(e)
}

fn read_pb(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    onnx::read_tensor_pb(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn numbered(dir: &Path, prefix: &str) -> Result<Vec<Tensor>, String> {
    (0..)
        .map(|k| dir.join(format!("{prefix}_{k}.pb")))
        .take_while(|p| p.exists())
        .map(|p| read_pb(&p))
        .collect()
}

/// Check one model folder; `Ok` holds the report line of a passing model,
/// `Err` that of a failing one.
fn check(dir: &Path) -> Result<String, String> {
    let t0 = Instant::now();
    let g = onnx::import_onnx(&dir.join("model.onnx")).map_err(|e| format!("import: {e}"))?;
    let t_import = t0.elapsed().as_secs_f64();
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test_data_set_"))
        })
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err(format!("no test_data_set_* in {}", dir.display()));
    }
    let (mut max_abs, mut max_rel, mut t_run) = (0f64, 0f64, 0f64);
    let mut failures = vec![];
    for data in &sets {
        let set = data.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let inputs = numbered(data, "input")?;
        let expected = numbered(data, "output")?;
        if expected.is_empty() {
            return Err(format!("no outputs in {}", data.display()));
        }
        let t1 = Instant::now();
        let outs = ingot_ir::interp::run(&g, &inputs).map_err(|e| format!("{set}: run: {e}"))?;
        t_run += t1.elapsed().as_secs_f64();
        if outs.len() != expected.len() {
            return Err(format!(
                "{set}: {} outputs, expected {}",
                outs.len(),
                expected.len()
            ));
        }
        for (k, (got, want)) in outs.iter().zip(&expected).enumerate() {
            let e = compare(got, want).map_err(|m| format!("{set}: output {k}: {m}"))?;
            max_abs = max_abs.max(e.max_abs);
            max_rel = max_rel.max(e.max_rel);
            if let Some((i, a, b)) = e.first_bad {
                failures.push(format!(
                    "{set}: output {k}: {} of {} elements differ; first at {i}: got {a}, expected {b}",
                    e.bad,
                    want.numel()
                ));
            }
        }
    }
    let line = format!(
        "max abs {max_abs:.2e}, max rel {max_rel:.2e}; {} data sets; {} nodes; import {t_import:.1}s, run {t_run:.1}s",
        sets.len(),
        g.order().len()
    );
    if failures.is_empty() {
        Ok(line)
    } else {
        Err(format!("{line}; {}", failures.join("; ")))
    }
}

fn main() -> ExitCode {
    let mut root = PathBuf::from(".cache/models");
    let mut filter = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--filter" => filter = args.next(),
            "-h" | "--help" => {
                eprintln!("usage: model_check [<models-dir>] [--filter <substr>]");
                return ExitCode::from(2);
            }
            _ => root = PathBuf::from(a),
        }
    }
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("model.onnx").exists())
            .filter(|p| {
                filter.as_deref().is_none_or(|f| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.contains(f))
                })
            })
            .collect(),
        Err(e) => {
            eprintln!(
                "model_check: cannot read {}: {e} (run scripts/export_models.py)",
                root.display()
            );
            return ExitCode::from(2);
        }
    };
    dirs.sort();
    if dirs.is_empty() {
        eprintln!("model_check: no <name>/model.onnx under {}", root.display());
        return ExitCode::from(2);
    }
    let mut failed = 0;
    for d in &dirs {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        match check(d) {
            Ok(line) => println!("PASS {name}: {line}"),
            Err(line) => {
                failed += 1;
                println!("FAIL {name}: {line}");
            }
        }
    }
    println!(
        "{} of {} models match onnxruntime (rtol {RTOL:e}, atol {ATOL:e})",
        dirs.len() - failed,
        dirs.len()
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
