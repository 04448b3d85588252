//! `qgemm` (onnxruntime's com.microsoft QGemm) on the INT8 GEMM: `u8`
//! activations times a constant symmetric `i8` weight, packed once here,
//! with the i32 bias, the activation zero point and the requantization
//! folded into [`qgemm::Requant`] so the output tile is finished while hot.
//!
//! Per output column `j`: `acc = sum_p a[i,p] * b[p,j]` (raw `u8 x i8`), then
//! `(acc - (a_zp * colsum_b[j] - c[j])) as f32 * mult[j]` with
//! `mult[j] = alpha * a_scale * b_scale[j] / y_scale` rounded half to even
//! plus `y_zp` (u8 result), or `* alpha * a_scale * b_scale[j]` (f32
//! result) — term for term the interpreter's definition, so results are
//! bit-identical. Supported: `a` u8 (per-tensor zero point), `b` a constant
//! i8 with zero points 0 (per tensor or per column), `c` a constant i32 of
//! `N` entries (or one), result u8 or f32, `trans_a` false; anything else
//! is an error at construction, and the step runs on the interpreter.

use super::qgemm::{self, Dst, PackedRhs, Quantize, Requant};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{DType, Op, Tensor, TensorType};
use rayon::prelude::*;

pub struct QGemmKernel {
    k: usize,
    n: usize,
    b: PackedRhs<i8>,
    a_zp: u8,
    /// Per column: `a_zp * colsum_b - c`.
    zp_corr: Vec<i32>,
    /// Per column multiplier (see the module docs).
    scale: Vec<f32>,
    /// `Some(y_zp)` for a u8 result.
    y_zp: Option<u8>,
}

fn err<T>(msg: String) -> Result<T, KernelError> {
    Err(KernelError(msg))
}

fn konst<'a>(
    consts: &'a [Option<Tensor>],
    i: usize,
    what: &str,
) -> Result<&'a Tensor, KernelError> {
    consts
        .get(i)
        .and_then(|c| c.as_ref())
        .ok_or_else(|| KernelError(format!("qgemm: {what} is not a constant")))
}

/// One value per column from a one-element or `n`-long tensor.
fn per_col(t: &Tensor, n: usize, what: &str) -> Result<Vec<f64>, KernelError> {
    let v = t.to_f64s();
    match v.len() {
        1 => Ok(vec![v[0]; n]),
        l if l == n => Ok(v),
        l => err(format!("qgemm: {what} has {l} entries, want 1 or {n}")),
    }
}

impl QGemmKernel {
    /// `in_types`/`consts` are the op's operands (see `ir/src/op.rs`).
    pub fn new(
        op: &Op,
        in_types: &[TensorType],
        consts: &[Option<Tensor>],
    ) -> Result<QGemmKernel, KernelError> {
        let Op::QGemm {
            alpha,
            trans_a,
            trans_b,
        } = *op
        else {
            return err(format!("QGemmKernel built from {}", op.name()));
        };
        if trans_a {
            return err("qgemm: a transposed a is not supported".into());
        }
        let a = in_types
            .first()
            .ok_or_else(|| KernelError("qgemm: no operands".into()))?;
        if a.dtype != DType::U8 {
            return err(format!("qgemm: a is {}, only u8 is supported", a.dtype));
        }
        let b = konst(consts, 3, "b")?;
        if b.dtype() != DType::I8 || b.shape().len() != 2 {
            return err(format!(
                "qgemm: b must be an i8 matrix, not {} {:?}",
                b.dtype(),
                b.shape()
            ));
        }
        let (k, n) = if trans_b {
            (b.shape()[1], b.shape()[0])
        } else {
            (b.shape()[0], b.shape()[1])
        };
        let bv = b.as_slice::<i8>().map_err(|e| KernelError(e.to_string()))?;
        let rows: Vec<i8> = if trans_b {
            let mut t = vec![0i8; k * n];
            for j in 0..n {
                for p in 0..k {
                    t[p * n + j] = bv[j * k + p];
                }
            }
            t
        } else {
            bv.to_vec()
        };
        let packed = qgemm::pack_rhs_s8(&rows, k, n, n);
        let sa = konst(consts, 1, "a's scale")?.to_f64s()[0] as f32;
        let a_zp = konst(consts, 2, "a's zero point")?.to_i64s()[0];
        let sb: Vec<f32> = per_col(konst(consts, 4, "b's scale")?, n, "b's scale")?
            .iter()
            .map(|&v| v as f32)
            .collect();
        if per_col(konst(consts, 5, "b's zero point")?, n, "b's zero point")?
            .iter()
            .any(|&z| z != 0.0)
        {
            return err("qgemm: b's zero point must be 0 (symmetric weights)".into());
        }
        let c: Vec<i64> = match consts.get(6) {
            None => vec![0; n],
            Some(None) => return err("qgemm: c is not a constant".into()),
            Some(Some(c)) => {
                let v = c.to_i64s();
                match v.len() {
                    1 => vec![v[0]; n],
                    l if l == n => v,
                    l => return err(format!("qgemm: c has {l} entries, want 1 or {n}")),
                }
            }
        };
        let sums = packed.col_sums();
        let zp_corr: Vec<i32> = (0..n)
            .map(|j| {
                (a_zp as i32)
                    .wrapping_mul(sums[j])
                    .wrapping_sub(c[j] as i32)
            })
            .collect();
        let (scale, y_zp) = match (consts.get(7), consts.get(8)) {
            (None, _) => ((0..n).map(|j| alpha * sa * sb[j]).collect(), None),
            (Some(Some(ys)), z) => {
                let sy = ys.to_f64s()[0] as f32;
                let zp = match z {
                    None => 0,
                    Some(Some(z)) if z.dtype() == DType::U8 => z.to_i64s()[0] as u8,
                    Some(Some(z)) => {
                        return err(format!("qgemm: a {} result is not supported", z.dtype()))
                    }
                    Some(None) => return err("qgemm: y's zero point is not a constant".into()),
                };
                ((0..n).map(|j| alpha * sa * sb[j] / sy).collect(), Some(zp))
            }
            (Some(None), _) => return err("qgemm: y's scale is not a constant".into()),
        };
        Ok(QGemmKernel {
            k,
            n,
            b: packed,
            a_zp: a_zp as u8,
            zp_corr,
            scale,
            y_zp,
        })
    }
}

/// Rows per parallel task: enough work to pay for the split.
const ROWS_PER_TASK: usize = 16;

impl Kernel for QGemmKernel {
    fn describe(&self) -> String {
        format!(
            "qgemm u8 x i8 {}x{} ({}, {})",
            self.k,
            self.n,
            qgemm::level(),
            if self.y_zp.is_some() { "u8" } else { "f32" }
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let (Some(a), Some(y)) = (ins.first(), outs.first()) else {
            return err("qgemm: needs an input and a result".into());
        };
        let (k, n) = (self.k, self.n);
        if a.dtype != DType::U8 || a.shape.len() != 2 || a.shape[1] != k {
            return err(format!(
                "qgemm: a is {}{:?}, want u8[M, {k}]",
                a.dtype, a.shape
            ));
        }
        let m = a.shape[0];
        let want = if self.y_zp.is_some() {
            DType::U8
        } else {
            DType::F32
        };
        if y.dtype != want || y.shape != [m, n] {
            return err(format!(
                "qgemm: result is {}{:?}, want {want}[{m}, {n}]",
                y.dtype, y.shape
            ));
        }
        if m == 0 || n == 0 {
            return Ok(());
        }
        let _ = self.a_zp;
        // SAFETY: shapes checked above; the executor keeps the buffers
        // alive, the result distinct from the operand.
        let av: &[u8] = unsafe { a.slice() };
        let rq = || Requant {
            zp_corr: &self.zp_corr,
            scale: &self.scale,
            bias: &[],
        };
        let block = |r0: usize, r1: usize, out: Dst| {
            qgemm::qgemm::<u8>(r1 - r0, &av[r0 * k..r1 * k], k, &self.b, out);
        };
        let tasks = if cx.threads > 1 && (m * n * k) as f64 >= 2e6 {
            m.div_ceil(ROWS_PER_TASK)
        } else {
            1
        };
        let rows = m.div_ceil(tasks);
        match self.y_zp {
            Some(zp) => {
                // SAFETY: as above; u8[m, n].
                let yv: &mut [u8] = unsafe { y.slice_mut() };
                let q = Quantize {
                    scale: 1.0,
                    zero_point: i32::from(zp),
                    lo: 0,
                    hi: 255,
                };
                yv.par_chunks_mut(rows * n)
                    .with_max_len(1)
                    .enumerate()
                    .for_each(|(t, c)| {
                        let r0 = t * rows;
                        let rs = n;
                        block(r0, r0 + c.len() / n, Dst::U8 { c, rs, rq: rq(), q });
                    });
            }
            None => {
                // SAFETY: as above; f32[m, n].
                let yv: &mut [f32] = unsafe { y.slice_mut() };
                yv.par_chunks_mut(rows * n)
                    .with_max_len(1)
                    .enumerate()
                    .for_each(|(t, c)| {
                        let r0 = t * rows;
                        let rs = n;
                        block(r0, r0 + c.len() / n, Dst::F32 { c, rs, rq: rq() });
                    });
            }
        }
        Ok(())
    }
}
