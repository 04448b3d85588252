//! Load an `.ingot` artifact and run it, with nothing but `ingot-runtime`:
//! no passes, no Cranelift, no ONNX importer in this binary.
//!
//! ```text
//! cargo run --release -p ingot-runtime --example run_artifact -- model.ingot [--dim NAME=N]... [--runs N]
//! ```
//!
//! Inputs are seeded pseudo-random values (floats in [-1, 1), integers in
//! [0, 10)). Prints the load time, the first run's time (which includes
//! sizing the arena and first-touch page faults of the mapped weights), the
//! median of the following runs, and a summary of every output.

use ingot_runtime::artifact::load;
use ingot_runtime::{DType, Tensor};
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut dims: HashMap<String, i64> = HashMap::new();
    let mut runs = 10usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dim" => {
                let d = args.next().ok_or("--dim needs NAME=N")?;
                let (k, v) = d.split_once('=').ok_or("--dim needs NAME=N")?;
                dims.insert(k.into(), v.parse().map_err(|e| format!("--dim {d}: {e}"))?);
            }
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--runs needs a number")?;
            }
            _ if path.is_none() => path = Some(a),
            _ => return Err(format!("unexpected argument `{a}`")),
        }
    }
    let path = path.ok_or("usage: run_artifact MODEL.ingot [--dim NAME=N]... [--runs N]")?;
    let t0 = Instant::now();
    let loaded = load(path.as_ref(), 1).map_err(|e| format!("{path}: {e}"))?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let prog = loaded.model.program();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut inputs = vec![];
    for &b in &prog.inputs {
        let info = &prog.bufs[b];
        let shape = info
            .ty
            .shape
            .iter()
            .map(|d| {
                d.eval(&|s| dims.get(s).copied())
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| format!("input `{}`: give dim `{d:?}` with --dim", info.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n: usize = shape.iter().product();
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let t = match info.ty.dtype {
            DType::F32 => {
                let v: Vec<f32> = (0..n)
                    .map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                    .collect();
                Tensor::from_vec(&shape, v)
            }
            DType::I64 => Tensor::from_vec(&shape, (0..n).map(|_| (next() % 10) as i64).collect()),
            DType::I32 => Tensor::from_vec(&shape, (0..n).map(|_| (next() % 10) as i32).collect()),
            d => {
                return Err(format!(
                    "input `{}`: dtype {d} is not generated here",
                    info.name
                ))
            }
        };
        inputs.push(t.map_err(|e| e.to_string())?);
    }
    let t1 = Instant::now();
    let outs = loaded.model.run(&inputs).map_err(|e| e.to_string())?;
    let first_ms = t1.elapsed().as_secs_f64() * 1e3;
    let mut times = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        loaded.model.run(&inputs).map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "{}: {} ({}), {} functions, {} bytes of weights",
        path, loaded.meta.model, loaded.meta.compiler, loaded.functions, loaded.weight_bytes
    );
    println!(
        "load {load_ms:.2} ms, first run {first_ms:.2} ms, median of {runs} runs {median:.2} ms, \
         load + first run - median = {:.2} ms",
        load_ms + first_ms - median
    );
    for (&b, t) in prog.outputs.iter().zip(&outs) {
        let v = t.to_f64s();
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let first: Vec<String> = v.iter().take(5).map(|x| format!("{x:.6}")).collect();
        println!(
            "output `{}` {}{:?}: min {lo:.6} max {hi:.6} [{}...]",
            prog.bufs[b].name,
            t.dtype(),
            t.shape(),
            first.join(", ")
        );
    }
    Ok(())
}
