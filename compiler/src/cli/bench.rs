//! `ingot bench`: compile a model for the CPU and time it on seeded random
//! inputs — compile-time breakdown, which steps run native code and which
//! fall back to the interpreter, latency percentiles, and (with
//! `--profile N`) the N slowest steps.
//!
//! Latencies are wall times of whole `run` calls after `--warmup` runs;
//! compare with another runtime only side by side in one process window
//! (`bench/bench.py` does that with ONNX Runtime).

use super::optimize::load_model;
use super::{inputs, verified, CliError};
use ingot_compiler::cpu::{compile, CompileOptions};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Request<'a> {
    pub file: &'a Path,
    pub dims: Vec<(String, i64)>,
    pub seed: u64,
    pub threads: usize,
    pub iters: usize,
    pub warmup: usize,
    pub profile: usize,
    pub check: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(r: Request) -> Result<(), CliError> {
    let t0 = Instant::now();
    let g = load_model(r.file)?;
    let import = t0.elapsed();
    verified(r.file, &g)?;
    let env = inputs::bind_dims(&inputs::graph_inputs(&g), &r.dims)?;
    let ins = inputs::make_inputs(&inputs::graph_inputs(&g), &env, r.seed)?;
    let opts = CompileOptions {
        threads: r.threads,
        ..Default::default()
    };
    let model = compile(&g, &opts).map_err(|e| {
        CliError::user(
            format!("{}: {e}", r.file.display()),
            "`ingot optimize --stats` shows where the pipeline stops",
        )
    })?;
    let rep = model.report();
    let st = &rep.lower_stats;
    println!(
        "compile: {:.1} ms (import {:.1}, passes {:.1}, plan {:.1}, lower {:.1})",
        ms(import + rep.total()),
        ms(import),
        ms(rep.passes),
        ms(rep.plan),
        ms(rep.lower)
    );
    println!(
        "steps: {} ({} native, {} interpreter){}",
        st.steps,
        st.native,
        st.steps - st.native,
        if st.fallback.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = st
                .fallback
                .iter()
                .map(|(o, n)| format!("{o} x{n}"))
                .collect();
            format!(" — interpreter: {}", list.join(", "))
        }
    );
    for why in &st.rejected {
        println!("  fell back: {why}");
    }
    let run = || {
        model.run(&ins).map_err(|e| {
            CliError::user(
                format!("{}: {e}", r.file.display()),
                "check the --dim values against the model's inputs",
            )
        })
    };
    let outs = run()?;
    if r.check {
        let want = ingot_ir::interp::run(model.graph(), &ins)
            .map_err(|e| CliError::Internal(format!("interpreter: {e}")))?;
        let mut worst = 0f64;
        for (a, b) in outs.iter().zip(&want) {
            for (x, y) in a.to_f64s().iter().zip(b.to_f64s()) {
                if x.is_finite() && y.is_finite() {
                    worst = worst.max((x - y).abs());
                }
            }
        }
        println!("check: max |native - interpreter| = {worst:.3e}");
    }
    for _ in 0..r.warmup {
        run()?;
    }
    let mut times: Vec<f64> = Vec::with_capacity(r.iters);
    for _ in 0..r.iters.max(1) {
        let t = Instant::now();
        run()?;
        times.push(ms(t.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "latency ({} threads, {} runs): median {:.3} ms, min {:.3}, p90 {:.3}",
        model.runtime().threads(),
        times.len(),
        pct(0.5),
        times[0],
        pct(0.9)
    );
    if r.profile > 0 {
        let (_, step_times) = model
            .profile(&ins)
            .map_err(|e| CliError::Internal(e.to_string()))?;
        let steps = &model.runtime().program().steps;
        let total: f64 = step_times.iter().map(|&d| ms(d)).sum();
        let mut rows: Vec<(f64, usize)> = step_times
            .iter()
            .enumerate()
            .map(|(i, &d)| (ms(d), i))
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        println!("profile (one run, {total:.3} ms in steps):");
        for &(t, i) in rows.iter().take(r.profile) {
            println!(
                "  {t:8.3} ms {:5.1}%  {}  [{}]",
                100.0 * t / total.max(1e-9),
                steps[i].label,
                steps[i].describe()
            );
        }
    }
    Ok(())
}
