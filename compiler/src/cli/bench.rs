//! `ingot bench`: load a model (compile text IR / ONNX for the CPU, or load
//! an `.ingot` artifact) and time it — compile (or load) time, which steps
//! run native code and which fall back to the interpreter, latency
//! percentiles, throughput, peak memory, and (with `--profile N`) the N
//! slowest steps. `--json` prints the numbers as one JSON object.
//!
//! Latencies are wall times of whole `run` calls after `--warmup` runs;
//! compare with another runtime only side by side in one process window
//! (`bench/bench.py` does that with ONNX Runtime).

use super::model::{self, Runnable};
use super::CliError;
use ingot_ir::Dim;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Request<'a> {
    pub file: &'a Path,
    pub files: Vec<(String, PathBuf)>,
    pub dims: Vec<(String, i64)>,
    pub batch: Option<i64>,
    pub seed: u64,
    pub threads: usize,
    pub target: String,
    pub iters: usize,
    pub warmup: usize,
    pub profile: usize,
    pub check: bool,
    pub json: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Peak resident set size of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `--batch N` as `--dim` bindings: the leading dim of every input that
/// is a plain symbol. A fixed leading dim other than N is an error.
fn batch_dims(
    sig: &super::inputs::InputSig,
    n: i64,
    dims: &mut Vec<(String, i64)>,
) -> Result<(), CliError> {
    if n < 1 {
        return Err(CliError::user(
            format!("--batch {n}"),
            "the batch size must be at least 1",
        ));
    }
    for (name, ty) in sig {
        match ty.shape.first() {
            Some(Dim::Known(k)) if *k != n => {
                return Err(CliError::user(
                    format!("--batch {n}: input `{name}` has a fixed leading dim of {k} ({ty})"),
                    "export the model with a dynamic batch dim, or leave out --batch",
                ))
            }
            Some(d) => {
                if let Some(v) = d.as_var().filter(|v| !dims.iter().any(|(s, _)| s == v)) {
                    dims.push((v, n));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub fn run(r: Request) -> Result<(), CliError> {
    let m = model::load(r.file, &r.target, false, r.threads)?;
    let sig = m.inputs();
    let mut dims = r.dims.clone();
    if let Some(n) = r.batch {
        batch_dims(&sig, n, &mut dims)?;
    }
    // Random inputs: a symbolic dim nobody gave is 1 (said on stderr).
    if r.files.is_empty() {
        for (_, ty) in &sig {
            for v in ty.shape.iter().flat_map(Dim::vars) {
                if !dims.iter().any(|(s, _)| *s == *v) {
                    eprintln!("note: symbolic dim `{v}` is not given; using {v}=1 (--dim {v}=N or --batch N to choose)");
                    dims.push((v.to_string(), 1));
                }
            }
        }
    }
    let ins = model::make_inputs(&sig, &r.files, &dims, r.seed)?;
    let samples = r
        .batch
        .map(|n| n as usize)
        .or_else(|| ins.first().and_then(|t| t.shape().first().copied()))
        .unwrap_or(1)
        .max(1);
    let say = |s: String| {
        if !r.json {
            println!("{s}");
        }
    };
    let mut steps_native = None;
    match &m.model {
        Runnable::Compiled(c) => {
            let rep = c.report();
            let st = &rep.lower_stats;
            say(format!(
                "compile: {:.1} ms (passes {:.1}, plan {:.1}, lower {:.1}; the rest is import)",
                ms(m.load_time),
                ms(rep.passes),
                ms(rep.plan),
                ms(rep.lower)
            ));
            let fb = if st.fallback.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = st
                    .fallback
                    .iter()
                    .map(|(o, n)| format!("{o} x{n}"))
                    .collect();
                format!(" — interpreter: {}", list.join(", "))
            };
            say(format!(
                "steps: {} ({} native, {} interpreter){fb}",
                st.steps,
                st.native,
                st.steps - st.native
            ));
            for why in &st.rejected {
                say(format!("  fell back: {why}"));
            }
            steps_native = Some((st.steps, st.native));
        }
        Runnable::Artifact(a) => {
            let p = a.model.program();
            let native = p.steps.iter().filter(|s| !s.is_fallback()).count();
            say(format!(
                "load: {:.2} ms ({}, code for {})",
                ms(m.load_time),
                a.meta.compiler,
                a.meta.cpu.name()
            ));
            say(format!(
                "steps: {} ({native} native, {} interpreter)",
                p.steps.len(),
                p.steps.len() - native
            ));
            steps_native = Some((p.steps.len(), native));
        }
        Runnable::Interp(_) => {}
    }
    let outs = m.run(&ins)?;
    if r.check {
        let Runnable::Compiled(c) = &m.model else {
            return Err(CliError::user(
                "--check needs a model to compile (text IR or ONNX), not an artifact",
                "run --check on the source model",
            ));
        };
        let want = ingot_ir::interp::run(c.graph(), &ins)
            .map_err(|e| CliError::Internal(format!("interpreter: {e}")))?;
        let mut worst = 0f64;
        for (a, b) in outs.iter().zip(&want) {
            for (x, y) in a.to_f64s().iter().zip(b.to_f64s()) {
                if x.is_finite() && y.is_finite() {
                    worst = worst.max((x - y).abs());
                }
            }
        }
        say(format!("check: max |native - interpreter| = {worst:.3e}"));
    }
    let iters = r.iters.max(1);
    let bar = if r.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new((r.warmup + iters) as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("warmup");
    for _ in 0..r.warmup {
        m.run(&ins)?;
        bar.inc(1);
    }
    bar.set_message("timing");
    let mut times: Vec<f64> = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        m.run(&ins)?;
        times.push(ms(t.elapsed()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let (median, p90, p99) = (pct(0.5), pct(0.9), pct(0.99));
    let throughput = samples as f64 * 1e3 / median.max(1e-9);
    let arena = m.arena_bytes(&ins);
    let rss = peak_rss().unwrap_or(0);
    let threads = match &m.model {
        Runnable::Compiled(c) => c.runtime().threads(),
        Runnable::Artifact(a) => a.model.threads(),
        Runnable::Interp(_) => 1,
    };
    if r.json {
        let mut o = serde_json::json!({
            "model": r.file.display().to_string(),
            "compile_ms": ms(m.load_time),
            "median_ms": median,
            "min_ms": times[0],
            "p90_ms": p90,
            "p99_ms": p99,
            "iters": times.len(),
            "threads": threads,
            "batch": samples,
            "throughput_per_s": throughput,
            "peak_rss_bytes": rss,
            "arena_bytes": arena,
        });
        if let Some((s, n)) = steps_native {
            o["steps"] = s.into();
            o["native_steps"] = n.into();
        }
        println!("{o}");
    } else {
        println!(
            "latency ({threads} threads, {} runs): median {median:.3} ms, min {:.3}, p90 {p90:.3}, p99 {p99:.3}",
            times.len(),
            times[0],
        );
        println!(
            "throughput: {throughput:.1} samples/s (batch {samples}); memory: peak RSS {:.1} MiB, arena {arena} bytes",
            rss as f64 / (1 << 20) as f64
        );
    }
    if r.profile > 0 {
        let prof = match &m.model {
            Runnable::Compiled(c) => Some((c.profile(&ins), c.runtime().program())),
            Runnable::Artifact(a) => Some((a.model.profile(&ins), a.model.program())),
            Runnable::Interp(_) => None,
        };
        if let Some((res, program)) = prof {
            let (_, step_times) = res.map_err(|e| CliError::Internal(e.to_string()))?;
            let total: f64 = step_times.iter().map(|&d| ms(d)).sum();
            let mut rows: Vec<(f64, usize)> = step_times
                .iter()
                .enumerate()
                .map(|(i, &d)| (ms(d), i))
                .collect();
            rows.sort_by(|a, b| b.0.total_cmp(&a.0));
            let out = |s: String| {
                if r.json {
                    eprintln!("{s}")
                } else {
                    println!("{s}")
                }
            };
            out(format!("profile (one run, {total:.3} ms in steps):"));
            for &(t, i) in rows.iter().take(r.profile) {
                out(format!(
                    "  {t:8.3} ms {:5.1}%  {}  [{}]",
                    100.0 * t / total.max(1e-9),
                    program.steps[i].label,
                    program.steps[i].describe()
                ));
            }
        }
    }
    Ok(())
}
