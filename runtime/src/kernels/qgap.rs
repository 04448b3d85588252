//! `qlinear_global_average_pool` (onnxruntime's com.microsoft
//! QLinearGlobalAveragePool) on u8/i8 with constant scales and zero points,
//! NCHW or channels-last.
//!
//! Same arithmetic as the interpreter (`ir/src/interp/quant/pool.rs`): per
//! `(n, c)` plane the exact integer sum `acc = Σ x - count·x_zp`, then
//! `saturate(round_half_even(acc as f32 · M) + y_zp)` with
//! `M = x_scale / (y_scale · count)` in f32, in that order, so results are
//! bit-identical. The bytes are summed into i32 in runs of at most
//! [`RUN`] elements (no overflow: 128·2^20 < 2^31), each run added to an
//! i64, so any plane size is exact. Planes are split across the pool only
//! above `PAR_MIN_BYTES` of input.

use super::movement::PAR_MIN_BYTES;
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{DType, Tensor, TensorType};
use rayon::prelude::*;

/// Elements summed in i32 before the partial sum moves to i64.
const RUN: usize = 1 << 20;

/// The kernel for `qlinear_global_average_pool`, or `None` when a
/// parameter is not a constant or a dtype is not 8-bit (the interpreter
/// then runs it).
pub(crate) fn kernel(
    channels_last: bool,
    in_types: &[TensorType],
    consts: &[Option<Tensor>],
) -> Option<Result<Box<dyn Kernel>, String>> {
    let from = in_types.first()?.dtype;
    let c = |i: usize| consts.get(i)?.as_ref();
    let (sx, zx, sy, zy) = (c(1)?, c(2)?, c(3)?, c(4)?);
    let to = zy.dtype();
    let q8 = |d: DType| matches!(d, DType::U8 | DType::I8);
    if !q8(from) || !q8(to) || [sx, zx, sy, zy].iter().any(|t| t.numel() != 1) {
        return None;
    }
    Some(Ok(Box::new(QLinearGap {
        sx: sx.to_f64s()[0] as f32,
        zx: zx.to_i64s()[0],
        sy: sy.to_f64s()[0] as f32,
        zy: zy.to_i64s()[0] as f32,
        from,
        to,
        channels_last,
    })))
}

pub struct QLinearGap {
    sx: f32,
    zx: i64,
    sy: f32,
    zy: f32,
    from: DType,
    to: DType,
    channels_last: bool,
}

/// An 8-bit type read or written here (`f32 as T` saturates, NaN → 0).
trait Q8: Copy + Send + Sync {
    fn widen(self) -> i32;
    fn from_f32(v: f32) -> Self;
}

impl Q8 for u8 {
    #[inline(always)]
    fn widen(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> u8 {
        v as u8
    }
}

impl Q8 for i8 {
    #[inline(always)]
    fn widen(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> i8 {
        v as i8
    }
}

/// The exact sum of a contiguous plane (written so it vectorizes).
#[inline(always)]
fn plane_sum<A: Q8>(x: &[A]) -> i64 {
    x.chunks(RUN)
        .map(|run| i64::from(run.iter().map(|&v| v.widen()).sum::<i32>()))
        .sum()
}

impl QLinearGap {
    /// `y` for a plane whose bytes sum to `sum`.
    #[inline(always)]
    fn requant<C: Q8>(&self, sum: i64, count: usize, mult: f32) -> C {
        let (lo, hi) = if self.to == DType::U8 {
            (0.0f32, 255.0f32)
        } else {
            (-128.0, 127.0)
        };
        let acc = sum - self.zx * count as i64;
        C::from_f32(((acc as f32 * mult).round_ties_even() + self.zy).clamp(lo, hi))
    }

    /// NCHW: one contiguous plane of `count > 0` bytes per output element.
    fn nchw<A: Q8, C: Q8>(&self, x: &[A], y: &mut [C], count: usize, mult: f32, par: bool) {
        let f = |(o, p): (&mut C, &[A])| *o = self.requant(plane_sum(p), count, mult);
        if par {
            // Enough planes per task to be worth a hand-off.
            let min = (PAR_MIN_BYTES / 4 / count).max(1);
            y.par_iter_mut()
                .zip(x.par_chunks(count))
                .with_min_len(min)
                .for_each(f);
        } else {
            y.iter_mut().zip(x.chunks(count)).for_each(f);
        }
    }

    /// Channels last: per batch, `count > 0` rows of `c > 0` bytes summed
    /// column-wise (vectorized across channels). Split across the pool by
    /// batch only.
    fn nhwc<A: Q8, C: Q8>(
        &self,
        x: &[A],
        y: &mut [C],
        c: usize,
        count: usize,
        mult: f32,
        par: bool,
    ) {
        let f = |(o, xb): (&mut [C], &[A])| {
            let mut total = vec![0i64; c];
            let mut run = vec![0i32; c];
            for (i, row) in xb.chunks(c).enumerate() {
                for (r, &v) in run.iter_mut().zip(row) {
                    *r += v.widen();
                }
                if (i + 1) % RUN == 0 || i + 1 == count {
                    for (t, r) in total.iter_mut().zip(run.iter_mut()) {
                        *t += i64::from(*r);
                        *r = 0;
                    }
                }
            }
            for (o, &t) in o.iter_mut().zip(&total) {
                *o = self.requant(t, count, mult);
            }
        };
        if par {
            y.par_chunks_mut(c).zip(x.par_chunks(count * c)).for_each(f);
        } else {
            y.chunks_mut(c).zip(x.chunks(count * c)).for_each(f);
        }
    }
}

impl Kernel for QLinearGap {
    fn describe(&self) -> String {
        format!(
            "qlinear_global_average_pool {} -> {} ({})",
            self.from,
            self.to,
            if self.channels_last { "nhwc" } else { "nchw" }
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let name = "qlinear_global_average_pool";
        let (Some(x), Some(y)) = (ins.first(), outs.first()) else {
            return Err(KernelError(format!("{name}: needs x and a result")));
        };
        let r = x.shape.len();
        let spatial = match (r, self.channels_last) {
            (0..=2, _) => None,
            (_, false) => Some(2..r),
            (_, true) => Some(1..r - 1),
        };
        let want: Option<Vec<usize>> = spatial.clone().map(|s| {
            let mut w = x.shape.to_vec();
            w[s].fill(1);
            w
        });
        let (Some(spatial), Some(want)) = (spatial, want) else {
            return Err(KernelError(format!(
                "{name}: x {}{:?} must have rank 3 or more",
                x.dtype, x.shape
            )));
        };
        if x.dtype != self.from || y.dtype != self.to || y.shape != want.as_slice() {
            return Err(KernelError(format!(
                "{name}: {}{:?} -> {}{:?}, want {} x and a {}{:?} result",
                x.dtype, x.shape, y.dtype, y.shape, self.from, self.to, want
            )));
        }
        let count: usize = x.shape[spatial].iter().product();
        let c = if self.channels_last {
            x.shape[r - 1]
        } else {
            x.shape[1]
        };
        let mult = self.sx / (self.sy * count as f32);
        let par = cx.threads > 1 && x.numel() >= PAR_MIN_BYTES && y.numel() > 1;
        macro_rules! go {
            ($a:ty, $c:ty) => {{
                // SAFETY: dtypes and shapes checked; the result never
                // shares x's buffer (a quant op is not planned in place:
                // `memory_plan::writes_in_place`).
                let xv: &[$a] = unsafe { x.slice() };
                let yv: &mut [$c] = unsafe { y.slice_mut() };
                if count == 0 || c == 0 {
                    // Empty planes: the interpreter's formula on a zero sum.
                    yv.fill(self.requant(0, 0, mult));
                } else if self.channels_last {
                    self.nhwc(xv, yv, c, count, mult, par);
                } else {
                    self.nchw(xv, yv, count, mult, par);
                }
            }};
        }
        match (self.from, self.to) {
            (DType::U8, DType::U8) => go!(u8, u8),
            (DType::U8, _) => go!(u8, i8),
            (_, DType::U8) => go!(i8, u8),
            _ => go!(i8, i8),
        }
        Ok(())
    }
}
