//! `qlinear_matmul` and `matmul_integer` with a constant 2-D `b`: the
//! "weights right" GEMM, `u8` activations `[rows x K]` times `i8` weights
//! packed once here.
//!
//! Every leading axis of `a` is a row (`[B, S, K] x [K, N]` is one
//! `[B*S, K]` GEMM); a 1-D `a` is one row whose axis the result drops. The
//! weight is packed in column blocks of [`COLS`], so a tile of the output
//! is a run of whole blocks and a single row (a batch-1 GEMV) still splits
//! across threads by columns. An `i8` `a` is flipped to `u8` tile by tile
//! in scratch. Per-row scales or zero points of `a` (legal ONNX, rare)
//! are refused; so is a batched or runtime `b`.

use super::{chans, constant, opt_constant, shifted_weight, subtract_cols, with_bytes, Act, Out};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use crate::kernels::pack::{self, err, Grid};
use crate::kernels::qgemm::{qgemm_ptr, DstPtr, PackedRhs, Requant};
use ingot_ir::{Op, Tensor, TensorType};

/// Columns per packed block of `b` (a multiple of the GEMM's panel width).
const COLS: usize = 256;

/// A quantized matmul with a constant `b`.
pub struct QMatMulKernel {
    name: &'static str,
    a: Act,
    k: usize,
    n: usize,
    /// `b - b_zp` in column blocks of [`COLS`].
    blocks: Vec<PackedRhs<i8>>,
    /// Per column `a_zp * sum_p b[p, j]` (the zero-point correction).
    corr: Vec<i32>,
    out: Out,
}

impl QMatMulKernel {
    /// `op` is `Op::QLinearMatMul` or `Op::MatMulInteger`, with operand
    /// types `in_types` and constant values `consts` (see the module
    /// header for what must be constant).
    pub fn new(
        op: &Op,
        in_types: &[TensorType],
        consts: &[Option<Tensor>],
    ) -> Result<QMatMulKernel, KernelError> {
        let name = op.name();
        // Operand positions: (b, a_zp, b_zp); QLinearMatMul adds scales.
        let (ib, iaz, ibz) = match op {
            Op::QLinearMatMul => (3, 2, 5),
            Op::MatMulInteger => (1, 2, 3),
            _ => return err(format!("QMatMulKernel built from {name}")),
        };
        let a_ty = in_types
            .first()
            .ok_or_else(|| KernelError(format!("{name}: operand a missing")))?;
        let b = constant(name, consts, ib, "b")?;
        let a_zp = opt_constant(name, in_types, consts, iaz, "a's zero point")?;
        let b_zp = opt_constant(name, in_types, consts, ibz, "b's zero point")?;
        let a = Act::new(name, "a", a_ty, a_zp)?;
        let &[k, n] = b.shape() else {
            return err(format!(
                "{name}: b is {:?}; the kernel takes a 2-D b (no batch axes)",
                b.shape()
            ));
        };
        if a_ty.rank() == 0 {
            return err(format!("{name}: a is a scalar"));
        }
        if let Some(ka) = a_ty.shape[a_ty.rank() - 1]
            .as_known()
            .filter(|&ka| ka as usize != k)
        {
            return err(format!(
                "{name}: a has {ka} columns but b is {:?}",
                b.shape()
            ));
        }
        let w = shifted_weight(name, b, b_zp, n, |i| i % n.max(1))?;
        let out = match op {
            Op::QLinearMatMul => Out::quant(
                name,
                constant(name, consts, 1, "a's scale")?,
                constant(name, consts, 4, "b's scale")?,
                constant(name, consts, 6, "y's scale")?,
                constant(name, consts, 7, "y's zero point")?,
                n,
            )?,
            _ => Out::I32,
        };
        let blocks: Vec<PackedRhs<i8>> = (0..n)
            .step_by(COLS)
            .map(|j0| PackedRhs::pack(&w[j0.min(w.len())..], k, COLS.min(n - j0), n))
            .collect();
        let corr = blocks
            .iter()
            .flat_map(|b| b.col_sums())
            .map(|s| s.wrapping_mul(a.zp))
            .collect();
        Ok(QMatMulKernel {
            name,
            a,
            k,
            n,
            blocks,
            corr,
            out,
        })
    }

    /// Rows per tile and column blocks per tile: whole when serial, else
    /// about `2 * threads` tiles, split where it re-reads least (each row
    /// part reads all of its columns of `b`, each column part all of its
    /// rows of `a`), rows in multiples of the GEMM's 8.
    fn plan(&self, rows: usize, threads: usize) -> Grid {
        let (k, n) = (self.k, self.n);
        let whole = Grid {
            batch: 1,
            rows,
            cols: n,
            mb: rows.max(1),
            nb: n.max(1),
        };
        let ops = 2.0 * (rows * n) as f64 * k.max(1) as f64;
        if threads <= 1 || ops < pack::PAR_MIN_FLOPS {
            return whole;
        }
        let want = 2 * threads;
        let (max_r, max_c) = (rows.div_ceil(8).max(1), self.blocks.len().max(1));
        let (mut best, mut cost_best) = ((1, 1), usize::MAX);
        for r in 1..=want.min(max_r) {
            let c = want.div_ceil(r).min(max_c);
            let cost = r * n + c * rows;
            if r * c >= threads && cost < cost_best {
                (best, cost_best) = ((r, c), cost);
            }
        }
        let (r, c) = best;
        Grid {
            mb: rows.div_ceil(r).next_multiple_of(8).min(rows.max(1)),
            nb: (self.blocks.len().div_ceil(c) * COLS).min(n.max(1)),
            ..whole
        }
    }
}

impl Kernel for QMatMulKernel {
    fn describe(&self) -> String {
        format!(
            "{} qgemm {}x{} ({} a -> {})",
            self.name,
            self.k,
            self.n,
            self.a.dtype,
            self.out.dtype()
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let name = self.name;
        let (Some(a), Some(y)) = (ins.first(), outs.first()) else {
            return err(format!("{name}: needs operand a and one result"));
        };
        self.a.check(name, "a", a)?;
        let sa = a.shape;
        let (k, n) = (self.k, self.n);
        if sa.last() != Some(&k) {
            return err(format!("{name}: a is {sa:?}; its last axis must be {k}"));
        }
        // A 1-D `a` is one row whose axis the result drops.
        let mut want = sa[..sa.len() - 1].to_vec();
        want.push(n);
        if y.shape != want.as_slice() || y.dtype != self.out.dtype() {
            return err(format!(
                "{name}: a{sa:?} gives {}{want:?}, but the result is {}{:?}",
                self.out.dtype(),
                y.dtype,
                y.shape
            ));
        }
        let rows: usize = sa[..sa.len() - 1].iter().product();
        if rows == 0 || n == 0 {
            return Ok(());
        }
        let grid = self.plan(rows, cx.threads);
        let (a_addr, y_addr) = (a.ptr as usize, y.ptr as usize);
        let esize = y.dtype.size();
        let body = |t: pack::Tile| {
            let mr = t.r1 - t.r0;
            // SAFETY: rows `r0..r1` of `a` (shape checked above).
            let src =
                unsafe { std::slice::from_raw_parts((a_addr as *const u8).add(t.r0 * k), mr * k) };
            let tile = |lhs: &[u8]| {
                for (bi, b) in self.blocks.iter().enumerate() {
                    let j0 = bi * COLS;
                    if j0 < t.c0 || j0 >= t.c1 {
                        continue;
                    }
                    // SAFETY: the tile's rows and this block's columns are
                    // inside the result, written by this tile only.
                    unsafe { self.block(lhs, mr, b, j0, (y_addr + t.r0 * n * esize) as *mut u8) };
                }
            };
            if self.a.flip == 0 {
                tile(src);
            } else {
                with_bytes(mr * k, |buf| {
                    for (d, &s) in buf.iter_mut().zip(src) {
                        *d = s ^ self.a.flip;
                    }
                    tile(buf);
                });
            }
        };
        // SAFETY: tiles are disjoint blocks of the result.
        unsafe { pack::for_each_tile(&grid, pack::parallel(&grid, cx.threads), None, body) };
        Ok(())
    }
}

impl QMatMulKernel {
    /// `mr` rows of `lhs` times column block `b` (columns `j0..`) into the
    /// result rows at `y` (row stride `n`).
    ///
    /// # Safety
    /// `y` holds `mr` rows of the result (of its dtype), not touched by
    /// anyone else during the call.
    unsafe fn block(&self, lhs: &[u8], mr: usize, b: &PackedRhs<i8>, j0: usize, y: *mut u8) {
        let (n, j1) = (self.n, j0 + b.n());
        let corr = chans(&self.corr, j0, j1);
        match &self.out {
            Out::I32 => {
                let c = (y as *mut i32).add(j0);
                // SAFETY: the caller's rows, `b.n()` columns from `j0`.
                unsafe {
                    qgemm_ptr(
                        mr,
                        lhs,
                        self.k,
                        b,
                        DstPtr::I32 {
                            c,
                            rs: n,
                            accumulate: false,
                        },
                    );
                    subtract_cols(c, n, mr, b.n(), corr);
                }
            }
            Out::Quant { dtype, mult, q } => {
                let rq = Requant {
                    zp_corr: corr,
                    scale: chans(mult, j0, j1),
                    bias: &[],
                };
                let (c, rs, q) = (y.add(j0), n, *q);
                let dst = if *dtype == ingot_ir::DType::I8 {
                    DstPtr::I8 {
                        c: c.cast(),
                        rs,
                        rq,
                        q,
                    }
                } else {
                    DstPtr::U8 { c, rs, rq, q }
                };
                // SAFETY: as above.
                unsafe { qgemm_ptr(mr, lhs, self.k, b, dst) };
            }
        }
    }
}
