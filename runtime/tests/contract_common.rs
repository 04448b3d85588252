//! Helpers shared by the contraction kernel tests (included as a module by
//! each `contract_*.rs`; as its own test target it holds no tests).
//!
//! Runs a kernel on `Tensor`s inside a rayon pool of the requested size and
//! compares with the interpreter's result under a stated tolerance.
#![allow(dead_code)]

use ingot_ir::{DType, Dim, Op, Tensor, TensorType};
use ingot_runtime::{Arg, Ctx, Kernel, RangeKernel};

/// Deterministic values in [-1, 1) (xorshift), so failures reproduce.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

pub fn tensor(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(shape, values(n, seed)).unwrap()
}

/// The static type of a tensor shape.
pub fn ty(shape: &[usize]) -> TensorType {
    TensorType::new(DType::F32, shape.iter().map(|&d| Dim::Known(d as i64)))
}

/// Run `k` on `ins`, giving a result of `out_shape`, on `threads` workers.
pub fn run(k: &dyn Kernel, ins: &[&Tensor], out_shape: &[usize], threads: usize) -> Tensor {
    try_run(k, ins, out_shape, threads).unwrap()
}

pub fn try_run(
    k: &dyn Kernel,
    ins: &[&Tensor],
    out_shape: &[usize],
    threads: usize,
) -> Result<Tensor, String> {
    let mut out = Tensor::zeros(DType::F32, out_shape).unwrap();
    // Fill with garbage so a kernel that forgets to write shows up.
    out.as_mut_slice::<f32>().unwrap().fill(f32::NAN);
    let args: Vec<Arg> = ins
        .iter()
        .map(|t| Arg {
            ptr: t.bytes().as_ptr() as *mut u8,
            dtype: t.dtype(),
            shape: t.shape(),
        })
        .collect();
    let oshape = out.shape().to_vec();
    let optr = out.bytes_mut().as_mut_ptr();
    let outs = [Arg {
        ptr: optr,
        dtype: DType::F32,
        shape: &oshape,
    }];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    // SAFETY: the args point to live tensors of their dtype and shape; the
    // result does not overlap the operands.
    pool.install(|| unsafe { k.run(&args, &outs, &Ctx { threads }) })
        .map_err(|e| e.0)?;
    Ok(out)
}

/// The interpreter's single result of `op` on `ins`.
pub fn oracle(op: &Op, ins: &[&Tensor]) -> Tensor {
    ingot_ir::interp::eval_op(op, ins).unwrap().remove(0)
}

/// `|a-b| <= tol * max(1, |b|)` elementwise (NaN matches NaN), with shapes equal.
pub fn assert_close(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    let (g, w) = (got.to_f64s(), want.to_f64s());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * b.abs().max(1.0);
        assert!(
            ok,
            "{what}: element {i} of {:?}: got {a}, want {b}",
            got.shape()
        );
    }
}

/// Epilogue for tests: `out = max(0, out + residual)`, `residual` having the
/// result's shape.
pub struct ReluAdd;

impl RangeKernel for ReluAdd {
    fn describe(&self) -> String {
        "relu(x + r)".into()
    }

    unsafe fn run_range(&self, ins: &[Arg], outs: &[Arg], begin: usize, end: usize) {
        let (x, r) = (ins[0].ptr as *const f32, ins[1].ptr as *const f32);
        let o = outs[0].ptr as *mut f32;
        for i in begin..end {
            *o.add(i) = (*x.add(i) + *r.add(i)).max(0.0);
        }
    }
}

/// What `ReluAdd` does, on the oracle's result.
pub fn relu_add(y: &Tensor, r: &Tensor) -> Tensor {
    let v: Vec<f32> = y
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .zip(r.as_slice::<f32>().unwrap())
        .map(|(a, b)| (a + b).max(0.0))
        .collect();
    Tensor::from_vec(y.shape(), v).unwrap()
}
