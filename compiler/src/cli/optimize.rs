//! `ingot optimize`: run the pass pipeline on a text-IR or ONNX model and
//! print the result, with the bisecting aids (`--dump-before/--dump-after`,
//! `--stop-after`) and per-pass statistics.

use super::{irapi, load, verified, CliError};
use ingot_ir::Graph;
use ingot_passes::{optimize, PipelineOptions};
use std::path::Path;

/// What `ingot optimize` was asked to do.
pub struct Request<'a> {
    pub file: &'a Path,
    pub dump_before: Vec<String>,
    pub dump_after: Vec<String>,
    pub stop_after: Option<usize>,
    pub stats: bool,
    pub inline_all: bool,
}

/// Load `.onnx` through the importer, anything else as text IR.
pub(super) fn load_model(path: &Path) -> Result<Graph, CliError> {
    if path.extension().is_some_and(|e| e == "onnx") {
        ingot_compiler::onnx::import_onnx(path).map_err(|e| {
            CliError::user(
                format!("{}: {e}", path.display()),
                "check that the file is an ONNX model (ingot reads the default domain, opsets 7 and up)",
            )
        })
    } else {
        load(path)
    }
}

pub fn run(r: Request) -> Result<(), CliError> {
    let mut g = load_model(r.file)?;
    verified(r.file, &g)?;
    let before = g.order().len();
    let opts = PipelineOptions {
        dump_before: r.dump_before,
        dump_after: r.dump_after,
        stop_after: r.stop_after,
        verify_each: true,
    };
    let report = optimize(&mut g, &opts).map_err(|e| CliError::Internal(e.to_string()))?;
    for (label, dumped) in &report.dumps {
        eprintln!("; ---- {label} ----");
        eprintln!("{}", irapi::print(dumped, r.inline_all).trim_end());
    }
    if r.stats {
        eprintln!(
            "{:>4}  {:<12} {:>7} {:>7} {:>6} {:>10}",
            "run", "pass", "before", "after", "fused", "time"
        );
        for (i, s) in report.stats.iter().enumerate() {
            eprintln!(
                "{:>4}  {:<12} {:>7} {:>7} {:>6} {:>8.3}ms{}",
                i + 1,
                s.pass,
                s.nodes_before,
                s.nodes_after,
                s.fused,
                s.time.as_secs_f64() * 1e3,
                if s.changed { "" } else { "  (no change)" }
            );
        }
        eprintln!(
            "nodes {before} -> {}{}",
            g.order().len(),
            if report.stopped {
                " (stopped by --stop-after)"
            } else {
                ""
            }
        );
    }
    print!("{}", super::with_newline(irapi::print(&g, r.inline_all)));
    Ok(())
}
