//! Shared harness for the `movement_*` differential tests: build the native
//! kernel for an op, run it and the interpreter (`ingot_ir::interp::eval_op`,
//! the oracle) on the same operands, and compare.
#![allow(dead_code)]

use ingot_ir::interp::eval_op;
use ingot_ir::{DType, Op, Tensor, TensorType};
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::{Arg, Ctx, KernelError};

/// How results are compared.
#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    /// Byte for byte.
    Exact,
    /// f32 results: `|a - b| <= tol * max(1, |b|)`, NaN matches NaN.
    Close(f64),
}

/// Run `op`'s native kernel on `inputs` with `threads` workers, writing
/// results of the given types (every byte pre-filled with 0xAB so an
/// element the kernel forgets shows up).
pub fn run_kernel(
    op: &Op,
    inputs: &[&Tensor],
    out: &[(DType, Vec<usize>)],
    threads: usize,
) -> Result<Vec<Tensor>, KernelError> {
    let in_types: Vec<TensorType> = inputs.iter().map(|t| t.ty()).collect();
    let consts: Vec<Option<Tensor>> = inputs.iter().map(|_| None).collect();
    let out_types: Vec<TensorType> = out.iter().map(|(d, s)| TensorType::fixed(*d, s)).collect();
    let k = movement_kernel(op, &in_types, &consts, &out_types)
        .unwrap_or_else(|| panic!("`{}` is not handled", op.name()))
        .unwrap_or_else(|e| panic!("building `{}`: {e}", op.name()));
    let mut bufs: Vec<Vec<u64>> = out
        .iter()
        .map(|(d, s)| {
            let n = s.iter().product::<usize>() * d.size();
            vec![0xABAB_ABAB_ABAB_ABABu64; n.div_ceil(8)]
        })
        .collect();
    let args_in: Vec<Arg> = inputs
        .iter()
        .map(|t| Arg {
            ptr: t.bytes().as_ptr() as *mut u8,
            dtype: t.dtype(),
            shape: t.shape(),
        })
        .collect();
    let args_out: Vec<Arg> = bufs
        .iter_mut()
        .zip(out)
        .map(|(b, (d, s))| Arg {
            ptr: b.as_mut_ptr() as *mut u8,
            dtype: *d,
            shape: s,
        })
        .collect();
    let cx = Ctx { threads };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    // SAFETY: every Arg points at a live buffer of its dtype and shape.
    pool.install(|| unsafe { k.run(&args_in, &args_out, &cx) })?;
    Ok(bufs
        .iter()
        .zip(out)
        .map(|(b, (d, s))| {
            let n = s.iter().product::<usize>() * d.size();
            let bytes: &[u8] = &bytemuck_bytes(b)[..n];
            Tensor::from_bytes(*d, s, bytes).unwrap()
        })
        .collect())
}

fn bytemuck_bytes(v: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding; the slice covers the same memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len() * 8) }
}

/// Compare the kernel with the interpreter on `inputs` (threads 1 and 4).
/// Returns the interpreter's results.
pub fn check(op: &Op, inputs: &[&Tensor], cmp: Cmp) -> Vec<Tensor> {
    let want = eval_op(op, inputs)
        .unwrap_or_else(|e| panic!("interpreter rejects `{}` on {inputs:?}: {e}", op.name()));
    let out: Vec<(DType, Vec<usize>)> = want
        .iter()
        .map(|t| (t.dtype(), t.shape().to_vec()))
        .collect();
    for threads in [1, 4] {
        let got = run_kernel(op, inputs, &out, threads)
            .unwrap_or_else(|e| panic!("kernel `{}` failed on {inputs:?}: {e}", op.name()));
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            compare(op, inputs, k, g, w, cmp);
        }
    }
    want
}

fn compare(op: &Op, inputs: &[&Tensor], k: usize, g: &Tensor, w: &Tensor, cmp: Cmp) {
    match cmp {
        Cmp::Exact => {
            if g != w {
                let at = g.bytes().iter().zip(w.bytes()).position(|(a, b)| a != b);
                panic!(
                    "`{}` result {k} differs (first byte {at:?}) on {:?}\n got {g:?}\nwant {w:?}",
                    op.name(),
                    inputs
                        .iter()
                        .map(|t| (t.dtype(), t.shape().to_vec()))
                        .collect::<Vec<_>>()
                );
            }
        }
        Cmp::Close(tol) => {
            assert_eq!(g.shape(), w.shape());
            assert_eq!(g.dtype(), w.dtype());
            for (i, (a, b)) in g.to_f64s().iter().zip(w.to_f64s()).enumerate() {
                let ok = (a.is_nan() && b.is_nan())
                    || a == &b
                    || (a - b).abs() <= tol * b.abs().max(1.0);
                assert!(
                    ok,
                    "`{}` result {k} element {i}: {a} vs {b} on {:?}",
                    op.name(),
                    inputs
                        .iter()
                        .map(|t| t.shape().to_vec())
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

/// A tensor of `dtype` with distinct, deterministic, mixed-sign values.
pub fn tensor(dtype: DType, shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f64> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 2001) as f64 / 100.0 - 10.0
        })
        .collect();
    Tensor::from_f64s(dtype, shape, &v).unwrap()
}

pub fn i64s(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

pub fn vec_i64(v: &[i64]) -> Tensor {
    i64s(&[v.len()], v)
}
