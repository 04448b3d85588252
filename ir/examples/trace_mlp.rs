//! Trace a small MLP (4 → 8 → 3, softmax) with the tracer, print its IR, and
//! run it on a batch of two inputs with the reference interpreter.
//!
//! Weights come from a fixed-seed linear congruential generator, so the
//! output is the same on every machine. Run with
//! `cargo run -p ingot-ir --example trace_mlp`.

use ingot_ir::trace::{trace, TraceError};
use ingot_ir::{interp, DType, Dim, Tensor, TensorType};

/// A tiny deterministic generator (Knuth's MMIX LCG); good enough for
/// example weights, and needs no dependency.
struct Lcg(u64);

impl Lcg {
    /// A float in [-1, 1) from the top 24 bits (exact in f32).
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / (1u64 << 23) as f32 - 1.0
    }

    /// A tensor of `shape` with values in [-scale, scale).
    fn tensor(&mut self, shape: &[usize], scale: f32) -> Result<Tensor, TraceError> {
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.next() * scale).collect();
        Ok(Tensor::from_vec(shape, data)?)
    }
}

fn main() -> std::process::ExitCode {
    // Print errors with `Display` (the default `Result` main uses `Debug`).
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Lcg(42);
    let (w1, b1) = (rng.tensor(&[4, 8], 0.5)?, rng.tensor(&[8], 0.1)?);
    let (w2, b2) = (rng.tensor(&[8, 3], 0.5)?, rng.tensor(&[3], 0.1)?);

    let x_ty = TensorType::new(DType::F32, [Dim::var("batch"), 4.into()]);
    let g = trace("mlp", &[("x", x_ty)], |tr, ins| {
        // `weight` shares the tensor's storage (an `Arc`); nothing is copied.
        let (w1, b1) = (tr.weight("w1", w1.clone()), tr.weight("b1", b1.clone()));
        let (w2, b2) = (tr.weight("w2", w2.clone()), tr.weight("b2", b2.clone()));
        let h = ins[0].matmul(&w1)?.add(&b1)?.relu();
        let logits = (h.matmul(&w2)? + &b2)?;
        Ok(vec![logits.softmax(-1)?.named("probs")?])
    })?;
    println!("{g}");

    let x = Tensor::from_vec(&[2, 4], vec![0.5f32, -1.0, 0.25, 2.0, 1.0, 0.0, -0.5, 0.75])?;
    let outs = interp::run(&g, &[x])?;
    for (v, t) in g.outputs().iter().zip(&outs) {
        let name = g.name_of(*v).unwrap_or("?");
        println!("%{name}: {}", t.ty());
        let width = t.shape().last().copied().unwrap_or(1).max(1);
        for row in t.as_slice::<f32>()?.chunks(width) {
            let sum: f32 = row.iter().sum();
            println!("  {row:?} (sum {sum})");
        }
    }
    Ok(())
}
