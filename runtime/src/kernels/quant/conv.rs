//! `qlinear_conv` and `conv_integer` on NCHW tensors with 1 to 3 spatial
//! axes, strides, pads (explicit or `auto_pad`), dilations and groups.
//!
//! The algorithm is chosen at construction from the weight's shape:
//! - **depthwise** (one input channel per group): a direct `i32` loop
//!   (see `direct.rs`); it is memory-bound, and a GEMM per channel would
//!   be `1 x taps` deep.
//! - **pointwise** (all kernel sizes 1, strides 1, no padding) and
//!   **im2col** (everything else): per tile of one group's output channels
//!   and a run of output positions of one image, the unfolded input
//!   (`[C/group * taps, T]`, `u8`) is generated four rows at a time
//!   straight into the GEMM's packed panels
//!   ([`PackedRhs::pack_rows_into`]), then the `i8` weights (read in
//!   place, "weights left") multiply it and the GEMM's epilogue
//!   requantizes while the tile is hot. Padding taps take the input's zero
//!   point, which stands for a real 0.
//!
//! The im2col rows are read from a copy of the input bordered with the
//! zero point (see `unfold.rs`). The packed tile is sized to stay in L2
//! (`T` positions of `C/group * taps` bytes), so the unfold is one pass of
//! writes and the GEMM reads it back from cache.

use super::direct;
use super::unfold::Padded;
use super::{chans, constant, opt_constant, shifted_weight, subtract_rows, Act, Out};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use crate::kernels::conv::geom::{Geom, Spec};
use crate::kernels::pack::{self, err, Grid};
use crate::kernels::qgemm::{qgemm_ptr, DstPtr, PackedRhs, Requant};
use ingot_ir::{DType, Op, Tensor, TensorType};
use std::cell::RefCell;

/// Bytes of packed tile aimed for: half of a Zen 4 core's 1 MiB L2.
const TILE_BYTES: usize = 1 << 19;
/// Fewest output positions per tile: narrower ones stream the whole
/// weight for a sliver of output.
const MIN_COLS: usize = 64;
/// Most output positions per tile.
const MAX_COLS: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Algo {
    Pointwise,
    Depthwise,
    Im2col,
}

/// A quantized convolution with constant weights, scales, zero points and
/// bias.
pub struct QConvKernel {
    pub(super) name: &'static str,
    pub(super) spec: Spec,
    pub(super) algo: Algo,
    pub(super) group: usize,
    /// Input channels, output channels, and their per-group counts.
    pub(super) c: usize,
    pub(super) m: usize,
    pub(super) cg: usize,
    pub(super) mg: usize,
    pub(super) x: Act,
    /// `w - w_zp` as `[M, C/group * taps]` (the ONNX layout).
    pub(super) weight: Vec<i8>,
    /// Per output channel, the correction `zx * sum(w) - bias` (every path
    /// sums `w x` with padding read as `zx`).
    pub(super) corr: Vec<i32>,
    pub(super) out: Out,
}

impl QConvKernel {
    /// `op` is `Op::QLinearConv` or `Op::ConvInteger`, with operand types
    /// `in_types` and constant values `consts`. Errors say what is not
    /// supported, so the caller can fall back to the interpreter.
    pub fn new(
        op: &Op,
        in_types: &[TensorType],
        consts: &[Option<Tensor>],
    ) -> Result<QConvKernel, KernelError> {
        let name = op.name();
        let (strides, pads, dilations, group, auto_pad) = match op {
            Op::QLinearConv {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
            }
            | Op::ConvInteger {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
            } => (strides, pads, dilations, *group, *auto_pad),
            _ => return err(format!("QConvKernel built from {name}")),
        };
        let linear = matches!(op, Op::QLinearConv { .. });
        // Operand positions: (w, x_zp, w_zp).
        let (iw, ixz, iwz) = if linear { (3, 2, 5) } else { (1, 2, 3) };
        let x_ty = in_types
            .first()
            .ok_or_else(|| KernelError(format!("{name}: operand x missing")))?;
        let w = constant(name, consts, iw, "the weight")?;
        let x_zp = opt_constant(name, in_types, consts, ixz, "x's zero point")?;
        let w_zp = opt_constant(name, in_types, consts, iwz, "the weight's zero point")?;
        let x = Act::new(name, "x", x_ty, x_zp)?;
        let ws = w.shape();
        if ws.len() < 3 || x_ty.rank() != ws.len() {
            return err(format!(
                "{name}: weight {ws:?} and input of rank {} must both have rank 3 to 5",
                x_ty.rank()
            ));
        }
        if group < 1 {
            return err(format!("{name}: group {group} must be >= 1"));
        }
        let g = group as usize;
        let m = ws[0];
        if !m.is_multiple_of(g) {
            return err(format!(
                "{name}: weight {ws:?} has output channels not divisible by group {g}"
            ));
        }
        let (cg, mg, c) = (ws[1], m / g, ws[1] * g);
        if let Some(cx) = x_ty.shape[1].as_known().filter(|&cx| cx as usize != c) {
            return err(format!(
                "{name}: input has {cx} channels, weight {ws:?} with group {g} expects {c}"
            ));
        }
        let spec = Spec::new(name, &ws[2..], strides, pads, dilations, auto_pad, false)?;
        let depth = cg * ws[2..].iter().product::<usize>();
        let weight = shifted_weight(name, w, w_zp, m, |i| i / depth.max(1))?;
        let bias = if linear {
            match opt_constant(name, in_types, consts, 8, "the bias")? {
                Some(b) => super::bias_i32(name, b, m)?,
                None => vec![0; m],
            }
        } else {
            vec![0; m]
        };
        let corr = (0..m)
            .map(|r| {
                let s: i32 = weight[r * depth..(r + 1) * depth]
                    .iter()
                    .map(|&v| v as i32)
                    .sum();
                x.zp.wrapping_mul(s).wrapping_sub(bias[r])
            })
            .collect();
        let out = if linear {
            Out::quant(
                name,
                constant(name, consts, 1, "x's scale")?,
                constant(name, consts, 4, "the weight's scale")?,
                constant(name, consts, 6, "y's scale")?,
                constant(name, consts, 7, "y's zero point")?,
                m,
            )?
        } else {
            Out::I32
        };
        let taps = depth / cg.max(1);
        let no_pad = auto_pad == ingot_ir::attr::AutoPad::Valid
            || (auto_pad == ingot_ir::attr::AutoPad::NotSet && spec.pads.iter().all(|&p| p == 0));
        let algo = if taps == 1 && spec.s == [1; 3] && no_pad {
            Algo::Pointwise
        } else if cg == 1 {
            Algo::Depthwise
        } else {
            Algo::Im2col
        };
        Ok(QConvKernel {
            name,
            spec,
            algo,
            group: g,
            c,
            m,
            cg,
            mg,
            x,
            weight,
            corr,
            out,
        })
    }
}

impl Kernel for QConvKernel {
    fn describe(&self) -> String {
        let k: Vec<String> = self.spec.k[3 - self.spec.nsp..]
            .iter()
            .map(|k| k.to_string())
            .collect();
        let algo = match self.algo {
            Algo::Pointwise => "pointwise qgemm",
            Algo::Depthwise => "depthwise direct",
            Algo::Im2col => "im2col+qgemm",
        };
        format!(
            "{} {} {}->{} g{} {algo} ({} -> {})",
            self.name,
            k.join("x"),
            self.c,
            self.m,
            self.group,
            self.x.dtype,
            self.out.dtype()
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let name = self.name;
        let (Some(x), Some(y)) = (ins.first(), outs.first()) else {
            return err(format!("{name}: needs an input and one result"));
        };
        self.x.check(name, "x", x)?;
        let (xs, ys) = (x.shape, y.shape);
        if xs.len() != self.spec.nsp + 2 || xs[1] != self.c {
            return err(format!(
                "{name}: input {xs:?} must be [N, {}, {} spatial axes]",
                self.c, self.spec.nsp
            ));
        }
        let geom = self.spec.forward(name, &xs[2..])?;
        let mut want = vec![xs[0], self.m];
        want.extend_from_slice(&geom.o[3 - self.spec.nsp..]);
        if ys != want.as_slice() || y.dtype != self.out.dtype() {
            return err(format!(
                "{name}: input {xs:?} gives {}{want:?}, but the result is {}{ys:?}",
                self.out.dtype(),
                y.dtype
            ));
        }
        if y.numel() == 0 {
            return Ok(());
        }
        let job = Job {
            k: self,
            g: geom,
            x: x.ptr as *const u8,
            y: y.ptr,
            n: xs[0],
        };
        match self.algo {
            // SAFETY: the shapes were checked against the geometry above.
            Algo::Depthwise => unsafe { direct::depthwise(&job, cx.threads) },
            // SAFETY: as above.
            Algo::Pointwise | Algo::Im2col => unsafe { gemm(&job, cx.threads) },
        }
        Ok(())
    }
}

/// One call's resolved problem.
pub(super) struct Job<'a> {
    pub(super) k: &'a QConvKernel,
    pub(super) g: Geom,
    pub(super) x: *const u8,
    /// The result, of the output's dtype.
    pub(super) y: *mut u8,
    /// Batch size.
    pub(super) n: usize,
}

// SAFETY: the pointers are the call's buffers, alive for the whole call;
// tiles write disjoint parts of `y`.
unsafe impl Send for Job<'_> {}
unsafe impl Sync for Job<'_> {}

/// Bytes of padded input one call holds at once (64 MiB); bigger batches
/// go a chunk of images at a time (one image always fits).
const PADDED_MAX: usize = 1 << 26;

thread_local! {
    /// The calling thread's packed tile of unfolded input.
    static PACKED: RefCell<PackedRhs<u8>> = RefCell::new(PackedRhs::default());
    /// The calling thread's padded input (its tiles, on any worker, read it).
    static PADDED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Output positions per tile for GEMM depth `k`, splitting `blocks`
/// (images x groups) further when threads would otherwise idle.
fn col_tile(k: usize, hw: usize, blocks: usize, threads: usize, ops: f64) -> usize {
    let mut t = (TILE_BYTES / k.max(1)).clamp(MIN_COLS, MAX_COLS) / 32 * 32;
    if threads > 1 && ops >= pack::PAR_MIN_FLOPS && blocks < 4 * threads {
        let per = (4 * threads).div_ceil(blocks);
        t = t.min(hw.div_ceil(per).next_multiple_of(32)).max(MIN_COLS);
    }
    t.clamp(1, hw.max(1))
}

/// The pointwise and im2col convolutions (see the module header), a
/// chunk of images at a time when the im2col path's padded copy of the
/// whole batch would pass [`PADDED_MAX`].
///
/// # Safety
/// `job`'s buffers have the shapes its geometry describes.
unsafe fn gemm(job: &Job, threads: usize) {
    let kc = job.k;
    let g = &job.g;
    let (hwo, hwi) = (g.out_size(), g.in_size());
    let depth = kc.cg * g.taps();
    let ops = 2.0 * (job.n * kc.m * hwo) as f64 * depth as f64;
    let t = col_tile(depth, hwo, job.n * kc.group, threads, ops);
    // Few column tiles (small feature maps) and one group: split the
    // output channels instead, so every thread gets work.
    let col_tiles = job.n * hwo.div_ceil(t);
    let mut mb = kc.mg;
    if kc.group == 1 && threads > 1 && ops >= pack::PAR_MIN_FLOPS && col_tiles < 2 * threads {
        let parts = (2 * threads).div_ceil(col_tiles);
        mb = kc.m.div_ceil(parts).next_multiple_of(8).min(kc.m);
    }
    let padded = (kc.algo == Algo::Im2col).then(|| Padded::new(g));
    let chunk = match &padded {
        Some(p) => (PADDED_MAX / (kc.c * p.plane).max(1)).clamp(1, job.n),
        None => job.n,
    };
    let flip = kc.x.flip;
    PADDED.with(|cell| {
        let mut own = Vec::new();
        let mut guard = cell.try_borrow_mut();
        let buf = match guard.as_mut() {
            Ok(v) => &mut **v,
            Err(_) => &mut own,
        };
        for b0 in (0..job.n).step_by(chunk) {
            let images = chunk.min(job.n - b0);
            // The planes the tiles read: the padded copy, or the input.
            let (src, chan) = match &padded {
                Some(p) => {
                    let len = images * kc.c * p.plane;
                    if buf.len() < len {
                        buf.resize(len, 0);
                    }
                    // SAFETY: images `b0..b0 + images` are inside the input.
                    unsafe {
                        let x = job.x.add(b0 * kc.c * hwi);
                        p.fill(x, images * kc.c, g, flip, kc.x.zp as u8, &mut buf[..len]);
                    }
                    (buf.as_ptr(), p.plane)
                }
                // SAFETY: as above.
                None => (unsafe { job.x.add(b0 * kc.c * hwi) }, hwi),
            };
            let src = src as usize;
            let grid = Grid {
                batch: images,
                rows: kc.m,
                cols: hwo,
                mb,
                nb: t,
            };
            let par = threads > 1 && ops >= pack::PAR_MIN_FLOPS && grid.tiles() > 1;
            let body = |tile: pack::Tile| {
                let gi = tile.r0 / kc.mg;
                let (c0, c1) = (tile.c0, tile.c1);
                // SAFETY: group `gi`'s planes of image `tile.b` of the
                // chunk are inside `src`.
                let image = unsafe { (src as *const u8).add((tile.b * kc.c + gi * kc.cg) * chan) };
                let fill = |r: usize, dst: &mut [u8]| match &padded {
                    // SAFETY: the planes were filled for `g` above.
                    Some(p) => unsafe { p.row(image, g, r, c0, c1, dst) },
                    None => {
                        // SAFETY: channel `r` of the group, positions
                        // `c0..c1`.
                        let s =
                            unsafe { std::slice::from_raw_parts(image.add(r * hwi + c0), c1 - c0) };
                        for (d, &v) in dst.iter_mut().zip(s) {
                            *d = v ^ flip;
                        }
                    }
                };
                PACKED.with(|cell| {
                    let mut own = PackedRhs::default();
                    let mut guard = cell.try_borrow_mut();
                    let packed = match guard.as_mut() {
                        Ok(p) => &mut **p,
                        Err(_) => &mut own,
                    };
                    packed.pack_rows_into(depth, c1 - c0, fill);
                    // SAFETY: rows `r0..r1` and columns `c0..c1` of image
                    // `b0 + tile.b`'s output belong to this tile alone.
                    unsafe {
                        tile_gemm(job, packed, b0 + tile.b, tile.r0, tile.r1, c0, hwo, depth)
                    };
                });
            };
            // SAFETY: every tile writes only its own rows and columns.
            unsafe { pack::for_each_tile(&grid, par, None, body) };
        }
    });
}

/// Weights rows `r0..r1` times the packed tile, into image `b`'s output
/// from column `c0`, through the output's epilogue.
///
/// # Safety
/// The output rows `r0..r1`, columns `c0..c0 + packed.n()` of image `b`
/// are inside the result and belong to the caller.
#[allow(clippy::too_many_arguments)]
unsafe fn tile_gemm(
    job: &Job,
    packed: &PackedRhs<u8>,
    b: usize,
    r0: usize,
    r1: usize,
    c0: usize,
    hwo: usize,
    depth: usize,
) {
    let kc = job.k;
    let lhs = &kc.weight[r0 * depth..r1 * depth];
    let at = (b * kc.m + r0) * hwo + c0;
    let corr = chans(&kc.corr, r0, r1);
    match &kc.out {
        Out::I32 => {
            // SAFETY: the caller's tile of an `i32` result.
            unsafe {
                let c = (job.y as *mut i32).add(at);
                let dst = DstPtr::I32 {
                    c,
                    rs: hwo,
                    accumulate: false,
                };
                qgemm_ptr(r1 - r0, lhs, depth, packed, dst);
                subtract_rows(c, hwo, r1 - r0, packed.n(), corr);
            }
        }
        Out::Quant { dtype, mult, q } => {
            let rq = Requant {
                zp_corr: corr,
                scale: chans(mult, r0, r1),
                bias: &[],
            };
            // SAFETY: the caller's tile of a one-byte result.
            let c = unsafe { job.y.add(at) };
            let (rs, q) = (hwo, *q);
            let dst = if *dtype == DType::I8 {
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
            unsafe { qgemm_ptr(r1 - r0, lhs, depth, packed, dst) };
        }
    }
}
