//! MatMul with numpy semantics on f32: a 1-D `a` is a row `[1, K]`, a 1-D
//! `b` a column `[K, 1]` (the added axis is dropped from the result), and the
//! leading (batch) axes broadcast.
//!
//! A constant `b` is copied at construction so `run` reads only the
//! activation. When `b` has no batch (the common weight case), every batch
//! entry of `a` shares it and the whole `a` is one `[batch*M, K]` matrix, so
//! a transformer's `[B, S, D] x [D, F]` is a single GEMM cut into row
//! blocks. Otherwise each output batch entry is its own GEMM, reading `a`
//! and `b` at broadcast offsets.
//!
//! Numerics: f32 products and sums in the `gemm` crate's order (reassociated
//! relative to the interpreter's f64 sum).

use super::pack::{self, arg_f32, err, sgemm, want_f32, Epilogue, Mat};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{Tensor, TensorType};

/// `matmul %a, %b`, with `b` optionally a constant.
pub struct MatMulKernel {
    b: Option<(Vec<f32>, Vec<usize>)>,
    /// A constant 2-D `b` packed for our GEMM (then `b` keeps only its
    /// shape).
    panels: Option<Vec<f32>>,
    epilogue: Option<Epilogue>,
}

impl MatMulKernel {
    /// `a`, `b`: the operand types (f32, rank >= 1); `b_const`: `b`'s value
    /// when it is a constant; `epilogue`: elementwise work on the result.
    pub fn new(
        a: &TensorType,
        b: &TensorType,
        b_const: Option<&Tensor>,
        epilogue: Option<Epilogue>,
    ) -> Result<MatMulKernel, KernelError> {
        want_f32("matmul", "a", a)?;
        want_f32("matmul", "b", b)?;
        if a.shape.is_empty() || b.shape.is_empty() {
            return err("matmul: operands must have rank >= 1 (scalars are not matrices)");
        }
        let b = match b_const {
            Some(t) => Some((pack::tensor_f32("matmul", "b", t)?, t.shape().to_vec())),
            None => None,
        };
        let panels = match &b {
            Some((v, s)) if s.len() == 2 => pack::panels_for(v, s[0], s[1]),
            _ => None,
        };
        // The packed copy serves every call: keep only b's shape, so the
        // weight is not held twice.
        let b = match (b, &panels) {
            (Some((_, s)), Some(_)) => Some((Vec::new(), s)),
            (b, _) => b,
        };
        Ok(MatMulKernel {
            b,
            panels,
            epilogue,
        })
    }
}

/// The batch axes of a matmul operand of shape `s` (none for rank <= 2).
fn batch_of(s: &[usize]) -> &[usize] {
    &s[..s.len().saturating_sub(2)]
}

/// numpy broadcast of two batch shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let x = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let y = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            match (x, y) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// Element offset of the matrix that output batch entry `idx` reads from an
/// operand with batch shape `inb` (right-aligned against `outb`, size-1
/// axes broadcast) and matrices of `mat` elements.
fn batch_offset(mut idx: usize, outb: &[usize], inb: &[usize], mat: usize) -> usize {
    let (mut off, mut stride) = (0, mat);
    for i in (0..outb.len()).rev() {
        let o = idx % outb[i];
        idx /= outb[i];
        let j = i + inb.len();
        if j >= outb.len() {
            let d = inb[j - outb.len()];
            if d != 1 {
                off += o * stride;
            }
            stride *= d;
        }
    }
    off
}

impl Kernel for MatMulKernel {
    fn describe(&self) -> String {
        let b = if self.b.is_some() {
            "const b"
        } else {
            "runtime b"
        };
        let ep = match &self.epilogue {
            Some(e) => format!(" + {}", e.kernel.describe()),
            None => String::new(),
        };
        format!("matmul gemm ({b}){ep}")
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let (Some(a), Some(out)) = (ins.first(), outs.first()) else {
            return err("matmul: needs operand a and one result");
        };
        arg_f32("matmul", "a", a)?;
        arg_f32("matmul", "result", out)?;
        let (bp, sb): (*const f32, &[usize]) = match &self.b {
            Some((v, s)) => (v.as_ptr(), s),
            None => {
                let b = ins
                    .get(1)
                    .ok_or(KernelError("matmul: operand b missing".into()))?;
                arg_f32("matmul", "b", b)?;
                (b.ptr as *const f32, b.shape)
            }
        };
        let sa = a.shape;
        if sa.is_empty() || sb.is_empty() {
            return err(format!("matmul: scalar operand a{sa:?} b{sb:?}"));
        }
        let (m, k) = match sa {
            [k] => (1, *k),
            _ => (sa[sa.len() - 2], sa[sa.len() - 1]),
        };
        let (kb, n) = match sb {
            [k] => (*k, 1),
            _ => (sb[sb.len() - 2], sb[sb.len() - 1]),
        };
        let (ab, bb) = (batch_of(sa), batch_of(sb));
        let outb = match broadcast(ab, bb) {
            Some(o) if kb == k => o,
            _ => return err(format!("matmul: a{sa:?} and b{sb:?} do not match")),
        };
        let mut want = outb.clone();
        want.extend((sa.len() > 1).then_some(m));
        want.extend((sb.len() > 1).then_some(n));
        if out.shape != want.as_slice() {
            return err(format!(
                "matmul: result is {:?} but a{sa:?} x b{sb:?} gives {want:?}",
                out.shape
            ));
        }
        let batch: usize = outb.iter().product();
        let shared_b = bb.iter().product::<usize>() == 1;
        // A shared b lets all of a (whose batch is then the output's) be one
        // tall matrix.
        let (nb, rows) = if shared_b { (1, batch * m) } else { (batch, m) };
        let ap = a.ptr as *const f32;
        let op = out.ptr as *mut f32;
        let ep = pack::bind(&self.epilogue, ins, *out)?;
        let grid = pack::plan(nb, rows, n, k, cx.threads);
        let (a_addr, b_addr, o_addr) = (ap as usize, bp as usize, op as usize);
        pack::for_each_tile(&grid, pack::parallel(&grid, cx.threads), ep.as_ref(), |t| {
            let (ao, bo) = if shared_b {
                (0, 0)
            } else {
                (
                    batch_offset(t.b, &outb, ab, m * k),
                    batch_offset(t.b, &outb, bb, k * n),
                )
            };
            // SAFETY: the offsets stay inside a, b and the tile of out that
            // the shape checks above sized; tiles are disjoint.
            unsafe {
                let lhs = Mat {
                    ptr: (a_addr as *const f32).add(ao + t.r0 * k),
                    rs: k as isize,
                    cs: 1,
                };
                let rhs = Mat {
                    ptr: (b_addr as *const f32).add(bo + t.c0),
                    rs: n as isize,
                    cs: 1,
                };
                let dst = (o_addr as *mut f32).add((t.b * rows + t.r0) * n + t.c0);
                let (mt, nt) = (t.r1 - t.r0, t.c1 - t.c0);
                let packed = match &self.panels {
                    Some(p) => pack::sgemm_panels(mt, nt, k, dst, n, false, lhs, p, t.c0, 1.0),
                    None => false,
                };
                assert!(
                    packed || self.panels.is_none(),
                    "tiles start on panel boundaries"
                );
                if !packed {
                    sgemm(mt, nt, k, dst, n, false, lhs, rhs, 1.0);
                }
            }
        });
        Ok(())
    }
}
