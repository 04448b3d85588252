//! Shared machinery of the contraction and pooling kernels: the fused
//! epilogue, operand checks, constant-weight packing, thread-local scratch,
//! the `gemm` crate call, and the tile scheduler.
//!
//! Every contraction here writes an output viewed as `[batch, rows, cols]`
//! row-major (MatMul: `[batch, M, N]`; Conv: `[N, C_out, spatial]`). Work is
//! cut into tiles of `mb` rows x `nb` columns of one batch entry; a tile is
//! computed, then the epilogue runs on exactly that tile's flat ranges (one
//! range when the tile spans whole rows, else one per row) while it is hot.
//!
//! Guarantees: tiles are disjoint, so running them on several threads is
//! race-free; small problems (under [`PAR_MIN_FLOPS`]) never touch rayon.

use crate::kernel::{Arg, KernelError, RangeKernel};
use ingot_ir::{DType, Tensor, TensorType};
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::Arc;

/// Below this many flops a contraction runs on the calling thread: waking
/// the pool costs more than it saves (a 128x128x128 matmul is 4 MFLOP).
pub(crate) const PAR_MIN_FLOPS: f64 = 2e6;

/// Elementwise work fused after a contraction: `kernel.run_range` is called
/// on each finished tile with `ins = [result, ins[extra[0]], ...]` (indices
/// into the `ins` the contraction kernel receives) and `outs = [result]`, so
/// it rewrites the result in place.
#[derive(Clone)]
pub struct Epilogue {
    pub kernel: Arc<dyn RangeKernel>,
    pub extra: Vec<usize>,
}

impl Epilogue {
    pub fn new(kernel: Arc<dyn RangeKernel>, extra: Vec<usize>) -> Epilogue {
        Epilogue { kernel, extra }
    }

    /// Resolve the extra operands of one `run` call.
    pub(crate) fn bind<'a>(&self, ins: &[Arg<'a>], out: Arg<'a>) -> Result<Bound<'a>, KernelError> {
        let mut args = Vec::with_capacity(1 + self.extra.len());
        args.push(out);
        for &i in &self.extra {
            let a = ins.get(i).ok_or_else(|| {
                KernelError(format!(
                    "epilogue {}: extra operand {i} missing ({} operands given)",
                    self.kernel.describe(),
                    ins.len()
                ))
            })?;
            args.push(*a);
        }
        self.kernel.prepare(&args, std::slice::from_ref(&out))?;
        Ok(Bound {
            kernel: self.kernel.clone(),
            ins: args,
            out,
        })
    }
}

/// An epilogue with its operands for one call.
pub(crate) struct Bound<'a> {
    kernel: Arc<dyn RangeKernel>,
    ins: Vec<Arg<'a>>,
    out: Arg<'a>,
}

impl Bound<'_> {
    /// # Safety
    /// `begin <= end <= numel(out)`, and no other thread touches the range.
    pub(crate) unsafe fn apply(&self, begin: usize, end: usize) {
        if begin < end {
            self.kernel
                .run_range(&self.ins, std::slice::from_ref(&self.out), begin, end);
        }
    }
}

/// Bind an optional epilogue.
pub(crate) fn bind<'a>(
    ep: &Option<Epilogue>,
    ins: &[Arg<'a>],
    out: Arg<'a>,
) -> Result<Option<Bound<'a>>, KernelError> {
    ep.as_ref().map(|e| e.bind(ins, out)).transpose()
}

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, KernelError> {
    Err(KernelError(msg.into()))
}

/// Check that a compile-time operand type is f32.
pub(crate) fn want_f32(op: &str, what: &str, t: &TensorType) -> Result<(), KernelError> {
    if t.dtype != DType::F32 {
        return err(format!(
            "{op}: {what} is {}; the CPU kernel handles f32 only",
            t.dtype
        ));
    }
    Ok(())
}

/// Check a run-time argument: f32 with the expected rank range.
pub(crate) fn arg_f32(op: &str, what: &str, a: &Arg) -> Result<(), KernelError> {
    if a.dtype != DType::F32 {
        return err(format!("{op}: {what} is {}{:?}, not f32", a.dtype, a.shape));
    }
    Ok(())
}

/// The f32 values of a constant.
/// Constant f32 data a kernel keeps: a constant's own storage, shared (no
/// copy: a loaded artifact's weights stay in its file mapping), or a
/// rearranged copy.
pub(crate) enum F32Buf {
    Shared(Tensor),
    Owned(Vec<f32>),
}

impl F32Buf {
    /// `t`'s f32 elements, shared.
    pub(crate) fn shared(op: &str, what: &str, t: &Tensor) -> Result<F32Buf, KernelError> {
        match t.as_slice::<f32>() {
            Ok(_) => Ok(F32Buf::Shared(t.clone())),
            Err(_) => err(format!(
                "{op}: constant {what} is {}{:?}, not f32",
                t.dtype(),
                t.shape()
            )),
        }
    }
}

impl std::ops::Deref for F32Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            F32Buf::Shared(t) => t.as_slice::<f32>().expect("checked to be f32 when built"),
            F32Buf::Owned(v) => v,
        }
    }
}

pub(crate) fn tensor_f32(op: &str, what: &str, t: &Tensor) -> Result<Vec<f32>, KernelError> {
    match t.as_slice::<f32>() {
        Ok(s) => Ok(s.to_vec()),
        Err(_) => err(format!(
            "{op}: constant {what} is {}{:?}, not f32",
            t.dtype(),
            t.shape()
        )),
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on `len` floats of this thread's scratch (contents unspecified).
/// The buffer is kept for the next call; a nested call gets a fresh one.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0.0);
            }
            f(&mut v[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Constant `rhs` packed for our GEMM (see `sgemm::pack_panels`), when
/// this host runs it: `[k, n]` row-major in, `None` out elsewhere.
pub(crate) fn panels_for(b: &[f32], k: usize, n: usize) -> Option<Vec<f32>> {
    super::sgemm::available().then(|| super::sgemm::pack_panels(b, k, n))
}

/// [`sgemm`] with a `rhs` packed by [`panels_for`], entered at column
/// `c0`; `false` (nothing done) when `c0` is not a panel boundary (tiles
/// from [`plan`] always are).
///
/// # Safety
/// As [`sgemm`]; `panels` packs a `[k, >= c0 + n]` matrix.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_panels(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    acc: bool,
    lhs: Mat,
    panels: &[f32],
    c0: usize,
    scale: f32,
) -> bool {
    use super::sgemm::{sgemm_rhs, Rhs, PANEL};
    if !c0.is_multiple_of(PANEL) {
        return false;
    }
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 {
        if !acc {
            for r in 0..m {
                std::slice::from_raw_parts_mut(dst.add(r * dst_rs), n).fill(0.0);
            }
        }
        return true;
    }
    let start = panels.as_ptr().add((c0 / PANEL) * k * PANEL);
    // SAFETY: `panels` exists only where the host has AVX-512F; the panel
    // range covers columns c0..c0+n.
    unsafe {
        sgemm_rhs(
            m,
            n,
            k,
            dst,
            dst_rs,
            acc,
            (lhs.ptr, lhs.rs, lhs.cs),
            Rhs::Panels(start, k),
            scale,
        )
    };
    true
}

/// A read-only strided matrix operand.
#[derive(Clone, Copy)]
pub(crate) struct Mat {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

// SAFETY: a `Mat` is a read-only view; the kernels that make one keep the
// buffer alive and unwritten for the whole call.
unsafe impl Send for Mat {}
unsafe impl Sync for Mat {}

/// `dst[m x n] (row stride dst_rs, unit column stride) = (acc ? dst : 0) +
/// scale * lhs[m x k] . rhs[k x n]`, on the calling thread.
///
/// # Safety
/// Every pointer covers its strided matrix; `dst` overlaps neither operand.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    acc: bool,
    lhs: Mat,
    rhs: Mat,
    scale: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            for r in 0..m {
                std::slice::from_raw_parts_mut(dst.add(r * dst_rs), n).fill(0.0);
            }
        }
        return;
    }
    // Fewer rows than half a micro-tile waste most of its FMAs: the `gemm`
    // crate's small-matrix path wins there (measured 0.9 vs 2.4 us for
    // 1x128x128).
    if m >= 4 && super::sgemm::available() {
        // SAFETY: AVX-512F is present; operand and destination contracts are
        // this function's own.
        unsafe {
            super::sgemm::sgemm(
                m,
                n,
                k,
                dst,
                dst_rs,
                acc,
                (lhs.ptr, lhs.rs, lhs.cs),
                (rhs.ptr, rhs.rs, rhs.cs),
                scale,
            )
        };
        return;
    }
    // gemm computes dst = alpha*dst + beta*lhs.rhs.
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        acc,
        lhs.ptr,
        lhs.cs,
        lhs.rs,
        rhs.ptr,
        rhs.cs,
        rhs.rs,
        1.0f32,
        scale,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// How an output `[batch, rows, cols]` is cut into tiles.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    pub batch: usize,
    pub rows: usize,
    pub cols: usize,
    pub mb: usize,
    pub nb: usize,
}

/// One tile: batch entry `b`, rows `r0..r1`, columns `c0..c1`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tile {
    pub b: usize,
    pub r0: usize,
    pub r1: usize,
    pub c0: usize,
    pub c1: usize,
}

impl Grid {
    fn row_blocks(&self) -> usize {
        self.rows.div_ceil(self.mb.max(1))
    }
    fn col_blocks(&self) -> usize {
        self.cols.div_ceil(self.nb.max(1))
    }
    pub(crate) fn tiles(&self) -> usize {
        self.batch * self.row_blocks() * self.col_blocks()
    }
    fn tile(&self, t: usize) -> Tile {
        let (rb, cb) = (self.row_blocks(), self.col_blocks());
        let (b, rest) = (t / (rb * cb), t % (rb * cb));
        let (ri, ci) = (rest / cb, rest % cb);
        let (mb, nb) = (self.mb.max(1), self.nb.max(1));
        Tile {
            b,
            r0: ri * mb,
            r1: ((ri + 1) * mb).min(self.rows),
            c0: ci * nb,
            c1: ((ci + 1) * nb).min(self.cols),
        }
    }
}

/// Run `body` on every tile of `grid` (in parallel when `parallel` and there
/// is more than one), then the epilogue on the tile's flat ranges.
///
/// # Safety
/// `body` must write only its own tile; the epilogue's output has
/// `grid.batch * grid.rows * grid.cols` elements.
pub(crate) unsafe fn for_each_tile(
    grid: &Grid,
    parallel: bool,
    ep: Option<&Bound>,
    body: impl Fn(Tile) + Sync,
) {
    let run = |t: usize| {
        let tile = grid.tile(t);
        body(tile);
        if let Some(ep) = ep {
            let base = tile.b * grid.rows;
            if tile.c0 == 0 && tile.c1 == grid.cols {
                ep.apply((base + tile.r0) * grid.cols, (base + tile.r1) * grid.cols);
            } else {
                for r in tile.r0..tile.r1 {
                    let row = (base + r) * grid.cols;
                    ep.apply(row + tile.c0, row + tile.c1);
                }
            }
        }
    };
    let n = grid.tiles();
    if parallel && n > 1 {
        (0..n).into_par_iter().for_each(run);
    } else {
        (0..n).for_each(run);
    }
}

/// Split `[rows, cols]` per batch entry into tiles: whole problems when
/// serial, else about `2 * threads` tiles of at least ~0.5 MFLOP each. The
/// GEMM re-packs `b` (`k x cols`) per row block and `a` (`rows x k`) per
/// column block, so the split minimizes `row_blocks * cols + col_blocks *
/// rows`: a wide `b` is cut by columns, a tall `a` by rows.
pub(crate) fn plan(batch: usize, rows: usize, cols: usize, k: usize, threads: usize) -> Grid {
    let whole = Grid {
        batch,
        rows,
        cols,
        mb: rows.max(1),
        nb: cols.max(1),
    };
    let flops = 2.0 * (batch * rows * cols) as f64 * k.max(1) as f64;
    if threads <= 1 || flops < PAR_MIN_FLOPS {
        return whole;
    }
    let want = (2 * threads).min((flops / 5e5) as usize).max(threads);
    if batch >= want {
        return whole;
    }
    let per = want.div_ceil(batch);
    // Row blocks of at least 8 rows, column blocks of at least 64 columns.
    let (max_r, max_c) = (rows.div_ceil(8).max(1), cols.div_ceil(64).max(1));
    let (mut r_best, mut c_best, mut cost_best) = (1, 1, usize::MAX);
    for r in 1..=per.min(max_r) {
        let c = per.div_ceil(r).min(max_c);
        let cost = r * cols + c * rows;
        if cost < cost_best {
            (r_best, c_best, cost_best) = (r, c, cost);
        }
    }
    let mb = rows.div_ceil(r_best);
    // Multiples of 32 columns: packed constant operands are entered at a
    // panel boundary.
    let nb = cols.div_ceil(c_best).next_multiple_of(32).min(cols.max(1));
    Grid { mb, nb, ..whole }
}

/// Whether a grid is worth splitting across threads.
pub(crate) fn parallel(grid: &Grid, threads: usize) -> bool {
    threads > 1 && grid.tiles() > 1
}

/// Whether the AVX2+FMA builds of the direct loops can run here.
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
