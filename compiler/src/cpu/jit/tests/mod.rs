//! Tests of the JIT kernels against the reference interpreter.
//!
//! Shared helpers: random inputs, running a kernel on tensors (optionally
//! in place or on pieces of the output), comparing with a tolerance.

#[cfg(test)]
mod bench;
mod elementwise;
mod math;
mod reduce;

use ingot_ir::{interp, DType, Graph, Tensor};
use ingot_runtime::{Arg, Ctx, Kernel, RangeKernel};

/// A small deterministic generator (xorshift).
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [lo, hi).
    pub(crate) fn f(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
}

/// A random tensor of `dtype` and `shape` (floats in [lo, hi)).
pub(crate) fn random(rng: &mut Rng, dtype: DType, shape: &[usize], lo: f32, hi: f32) -> Tensor {
    let n: usize = shape.iter().product();
    match dtype {
        DType::F32 => Tensor::from_vec(shape, (0..n).map(|_| rng.f(lo, hi)).collect()).unwrap(),
        DType::Bool => {
            let b: Vec<bool> = (0..n).map(|_| rng.next() & 1 == 1).collect();
            Tensor::from_bools(shape, &b).unwrap()
        }
        _ => {
            let v: Vec<i64> = (0..n).map(|_| (rng.next() % 200) as i64 - 100).collect();
            Tensor::from_i64s(dtype, shape, &v).unwrap()
        }
    }
}

pub(crate) fn arg(t: &Tensor) -> Arg<'_> {
    Arg {
        ptr: t.bytes().as_ptr() as *mut u8,
        dtype: t.dtype(),
        shape: t.shape(),
    }
}

/// Output tensors shaped and typed as the interpreter's results.
fn outputs_like(want: &[Tensor]) -> Vec<Tensor> {
    want.iter()
        .map(|t| Tensor::zeros(t.dtype(), t.shape()).unwrap())
        .collect()
}

/// Run `k` whole on `ins`, results shaped like `like`.
pub(crate) fn run(k: &dyn Kernel, ins: &[Tensor], like: &[Tensor], threads: usize) -> Vec<Tensor> {
    let mut outs = outputs_like(like);
    for o in &mut outs {
        o.bytes_mut();
    }
    let a: Vec<Arg> = ins.iter().map(arg).collect();
    let o: Vec<Arg> = outs.iter().map(arg).collect();
    // SAFETY: every Arg points to a live tensor of its dtype and shape; the
    // outputs are uniquely owned.
    unsafe { k.run(&a, &o, &Ctx { threads }) }.unwrap();
    outs
}

/// Run `k` on the pieces `cuts` of the output (run_range), results like `like`.
pub(crate) fn run_pieces(
    k: &dyn RangeKernel,
    ins: &[Tensor],
    like: &[Tensor],
    cuts: &[usize],
) -> Vec<Tensor> {
    let mut outs = outputs_like(like);
    for o in &mut outs {
        o.bytes_mut();
    }
    let a: Vec<Arg> = ins.iter().map(arg).collect();
    let o: Vec<Arg> = outs.iter().map(arg).collect();
    for w in cuts.windows(2) {
        // SAFETY: as in `run`; pieces are within the output.
        unsafe { k.run_range(&a, &o, w[0], w[1]) };
    }
    outs
}

/// The interpreter's outputs for `body` on `ins`.
pub(crate) fn reference(body: &Graph, ins: &[Tensor]) -> Vec<Tensor> {
    interp::run(body, ins).unwrap_or_else(|e| panic!("interp: {e}"))
}

/// Assert `got` matches `want`: same dtype and shape; floats within
/// `abs + rel·|want|` (NaN matches NaN), other types exactly.
pub(crate) fn assert_close(got: &[Tensor], want: &[Tensor], abs: f64, rel: f64, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.dtype(), w.dtype(), "{ctx}");
        assert_eq!(g.shape(), w.shape(), "{ctx}");
        if w.dtype().is_float() {
            for (i, (a, b)) in g.to_f64s().iter().zip(w.to_f64s()).enumerate() {
                let ok =
                    (a.is_nan() && b.is_nan()) || a == &b || (a - b).abs() <= abs + rel * b.abs();
                assert!(ok, "{ctx}: element {i}: jit {a} vs interp {b}");
            }
        } else {
            assert_eq!(g.bytes(), w.bytes(), "{ctx}");
        }
    }
}
