//! ONNX Gemm on f32: `y = alpha * op(a) . op(b) + beta * c`, `op` transposing
//! when `trans_a`/`trans_b`, `c` broadcasting one way to `[M, N]`.
//!
//! A constant `b` is stored as `[K, N]` row-major whatever `trans_b` says,
//! and a constant `c` is stored pre-multiplied by `beta`. Each output tile is
//! first set to `beta * c` (broadcast) and the product accumulated onto it,
//! so the bias costs no extra pass. `beta == 0` never reads `c` (NaN in an
//! unused `c` does not leak), as in the interpreter.

use super::pack::{self, arg_f32, err, sgemm, want_f32, Epilogue, Mat};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{Op, Tensor, TensorType};

/// `gemm %a, %b[, %c]`.
pub struct GemmKernel {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
    /// Constant `b` as `[K, N]` row-major, with `(K, N)`.
    b: Option<(Vec<f32>, usize, usize)>,
    /// The constant `b` packed for our GEMM (then `b` keeps only its dims).
    panels: Option<Vec<f32>>,
    /// Constant `beta * c` and its shape.
    c: Option<(Vec<f32>, Vec<usize>)>,
    /// Whether the op has a third operand (`ins[2]`, read when not constant).
    has_c: bool,
    epilogue: Option<Epilogue>,
}

impl GemmKernel {
    /// `op` must be `Op::Gemm`; `c` is the type of the third operand when
    /// there is one; `b_const`/`c_const` their values when constant.
    pub fn new(
        op: &Op,
        a: &TensorType,
        b: &TensorType,
        c: Option<&TensorType>,
        b_const: Option<&Tensor>,
        c_const: Option<&Tensor>,
        epilogue: Option<Epilogue>,
    ) -> Result<GemmKernel, KernelError> {
        let &Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } = op
        else {
            return err(format!("GemmKernel built from {}", op.name()));
        };
        want_f32("gemm", "a", a)?;
        want_f32("gemm", "b", b)?;
        let c_ty = c;
        if let Some(c) = c {
            want_f32("gemm", "c", c)?;
        }
        if a.shape.len() != 2 || b.shape.len() != 2 {
            return err("gemm: a and b must be rank 2");
        }
        let b = match b_const {
            Some(t) => {
                let v = pack::tensor_f32("gemm", "b", t)?;
                let &[r, cl] = t.shape() else {
                    return err(format!("gemm: constant b{:?} is not rank 2", t.shape()));
                };
                if trans_b {
                    // Stored [N, K]: transpose once here.
                    let mut kn = vec![0.0; v.len()];
                    for j in 0..r {
                        for kk in 0..cl {
                            kn[kk * r + j] = v[j * cl + kk];
                        }
                    }
                    Some((kn, cl, r))
                } else {
                    Some((v, r, cl))
                }
            }
            None => None,
        };
        let c = match c_const {
            Some(t) if beta != 0.0 => {
                let v = pack::tensor_f32("gemm", "c", t)?;
                Some((v.iter().map(|x| x * beta).collect(), t.shape().to_vec()))
            }
            _ => None,
        };
        let panels = b.as_ref().and_then(|(v, k, n)| pack::panels_for(v, *k, *n));
        // The packed copy serves every call: keep only b's dims.
        let b = match (b, &panels) {
            (Some((_, k, n)), Some(_)) => Some((Vec::new(), k, n)),
            (b, _) => b,
        };
        Ok(GemmKernel {
            alpha,
            beta,
            trans_a,
            trans_b,
            b,
            panels,
            c,
            has_c: c_ty.is_some(),
            epilogue,
        })
    }
}

/// Row and column strides of `c` broadcast to `[m, n]` (0 on broadcast axes).
fn c_strides(s: &[usize], m: usize, n: usize) -> Option<(usize, usize)> {
    let (cr, cc) = match *s {
        [] => (1, 1),
        [c] => (1, c),
        [r, c] => (r, c),
        _ => return None,
    };
    let ok = |d: usize, full: usize| d == full || d == 1;
    if !ok(cr, m) || !ok(cc, n) {
        return None;
    }
    let cs = usize::from(cc != 1);
    let rs = if cr != 1 { cc } else { 0 };
    Some((rs, cs))
}

impl Kernel for GemmKernel {
    fn describe(&self) -> String {
        let ep = match &self.epilogue {
            Some(e) => format!(" + {}", e.kernel.describe()),
            None => String::new(),
        };
        format!(
            "gemm{}{}{}{ep}",
            if self.trans_a { " ta" } else { "" },
            if self.trans_b { " tb" } else { "" },
            if self.b.is_some() { " const b" } else { "" }
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let (Some(a), Some(out)) = (ins.first(), outs.first()) else {
            return err("gemm: needs operand a and one result");
        };
        arg_f32("gemm", "a", a)?;
        arg_f32("gemm", "result", out)?;
        let &[ra, ca] = a.shape else {
            return err(format!("gemm: a{:?} is not rank 2", a.shape));
        };
        let (m, k) = if self.trans_a { (ca, ra) } else { (ra, ca) };
        let lhs = Mat {
            ptr: a.ptr as *const f32,
            rs: if self.trans_a { 1 } else { k as isize },
            cs: if self.trans_a { m as isize } else { 1 },
        };
        let (rhs, kb, n) = match &self.b {
            Some((v, kb, n)) => (
                Mat {
                    ptr: v.as_ptr(),
                    rs: *n as isize,
                    cs: 1,
                },
                *kb,
                *n,
            ),
            None => {
                let b = ins
                    .get(1)
                    .ok_or(KernelError("gemm: operand b missing".into()))?;
                arg_f32("gemm", "b", b)?;
                let &[rb, cb] = b.shape else {
                    return err(format!("gemm: b{:?} is not rank 2", b.shape));
                };
                let (kb, n) = if self.trans_b { (cb, rb) } else { (rb, cb) };
                let mat = Mat {
                    ptr: b.ptr as *const f32,
                    rs: if self.trans_b { 1 } else { n as isize },
                    cs: if self.trans_b { kb as isize } else { 1 },
                };
                (mat, kb, n)
            }
        };
        if kb != k || out.shape != [m, n] {
            return err(format!(
                "gemm: a{:?} (trans {}) and b of [K={kb}, N={n}] (trans {}) do not give result {:?}",
                a.shape, self.trans_a, self.trans_b, out.shape
            ));
        }
        // beta * c, as a pointer with broadcast strides; None: start from 0.
        let mut scaled = Vec::new();
        let c: Option<(*const f32, usize, usize)> = if self.beta == 0.0 {
            None
        } else if let Some((v, s)) = &self.c {
            let (rs, cs) = c_strides(s, m, n).ok_or_else(|| {
                KernelError(format!("gemm: c{s:?} does not broadcast to [{m}, {n}]"))
            })?;
            Some((v.as_ptr(), rs, cs))
        } else if let Some(ca) = ins.get(2).filter(|_| self.has_c) {
            arg_f32("gemm", "c", ca)?;
            let (rs, cs) = c_strides(ca.shape, m, n).ok_or_else(|| {
                KernelError(format!(
                    "gemm: c{:?} does not broadcast to [{m}, {n}]",
                    ca.shape
                ))
            })?;
            scaled.extend(ca.slice::<f32>().iter().map(|x| x * self.beta));
            Some((scaled.as_ptr(), rs, cs))
        } else {
            None
        };
        let ep = pack::bind(&self.epilogue, ins, *out)?;
        let grid = pack::plan(1, m, n, k, cx.threads);
        let o_addr = out.ptr as usize;
        let c_addr = c.map(|(p, rs, cs)| (p as usize, rs, cs));
        let (lhs_addr, rhs_addr) = (lhs.ptr as usize, rhs.ptr as usize);
        let alpha = self.alpha;
        pack::for_each_tile(&grid, pack::parallel(&grid, cx.threads), ep.as_ref(), |t| {
            // SAFETY: the tile lies inside out ([m, n] checked above); a, b
            // and c are read at offsets their checked shapes cover.
            unsafe {
                let dst = (o_addr as *mut f32).add(t.r0 * n + t.c0);
                let w = t.c1 - t.c0;
                if let Some((cp, rs, cs)) = c_addr {
                    for r in t.r0..t.r1 {
                        let row = std::slice::from_raw_parts_mut(dst.add((r - t.r0) * n), w);
                        let src = (cp as *const f32).add(r * rs);
                        for (j, d) in row.iter_mut().enumerate() {
                            *d = *src.add((t.c0 + j) * cs);
                        }
                    }
                }
                let l = Mat {
                    ptr: (lhs_addr as *const f32).offset(t.r0 as isize * lhs.rs),
                    ..lhs
                };
                let r = Mat {
                    ptr: (rhs_addr as *const f32).offset(t.c0 as isize * rhs.cs),
                    ..rhs
                };
                let mt = t.r1 - t.r0;
                let acc = c_addr.is_some();
                let packed = match &self.panels {
                    Some(p) => pack::sgemm_panels(mt, w, k, dst, n, acc, l, p, t.c0, alpha),
                    None => false,
                };
                assert!(
                    packed || self.panels.is_none(),
                    "tiles start on panel boundaries"
                );
                if !packed {
                    sgemm(mt, w, k, dst, n, acc, l, r, alpha);
                }
            }
        });
        Ok(())
    }
}
