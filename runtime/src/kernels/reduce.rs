//! f32 reductions that stay unfused: `reduce_{sum,mean,max,min,prod,l1,l2,
//! sum_square,log_sum}` over any axes (keepdims both ways), `arg_max` /
//! `arg_min`, and `softmax` / `log_softmax` over any axis.
//!
//! Assumptions: the operand is f32 (other dtypes are left to the
//! interpreter: [`kernel`] returns `None`).
//!
//! Guarantees (tolerance against the interpreter, which accumulates in f64
//! and rounds once): sums accumulate in f64 with a few partial sums, so
//! results are within `1e-6 * max(1, |want|)` (the stated bound is `1e-5`);
//! max/min and arg-reductions are exact (NaN handling, tie rules and empty
//! axes as the interpreter: NaN sticks / wins, ties to the first index unless
//! `select_last_index`, an empty arg axis is an error). Softmax uses a
//! polynomial exp (relative error < 3e-7 on `[-87, 0]`, 0 below) and is within
//! `1e-5 * max(1, |want|)`; a lane holding NaN or +inf, or only -inf, is NaN as
//! in the interpreter.

use super::movement::{arity, expect_out, norm_axis, par_ranges, SendPtr};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{DType, Op};

/// Build a reduction kernel for an f32 operand; `None` if not handled.
pub(crate) fn kernel(op: &Op, dt: DType) -> Option<Result<Box<dyn Kernel>, String>> {
    if dt != DType::F32 {
        return None;
    }
    let red = |kind, axes: &Vec<i64>, keepdims: &bool| -> Box<dyn Kernel> {
        Box::new(Reduce {
            kind,
            axes: axes.clone(),
            keepdims: *keepdims,
        })
    };
    let k = match op {
        Op::ReduceSum { axes, keepdims } => red(Kind::Sum, axes, keepdims),
        Op::ReduceMean { axes, keepdims } => red(Kind::Mean, axes, keepdims),
        Op::ReduceMax { axes, keepdims } => red(Kind::Max, axes, keepdims),
        Op::ReduceMin { axes, keepdims } => red(Kind::Min, axes, keepdims),
        Op::ReduceProd { axes, keepdims } => red(Kind::Prod, axes, keepdims),
        Op::ReduceL1 { axes, keepdims } => red(Kind::L1, axes, keepdims),
        Op::ReduceL2 { axes, keepdims } => red(Kind::L2, axes, keepdims),
        Op::ReduceSumSquare { axes, keepdims } => red(Kind::SumSquare, axes, keepdims),
        Op::ReduceLogSum { axes, keepdims } => red(Kind::LogSum, axes, keepdims),
        Op::ArgMax {
            axis,
            keepdims,
            select_last_index,
        }
        | Op::ArgMin {
            axis,
            keepdims,
            select_last_index,
        } => Box::new(ArgBest {
            max: matches!(op, Op::ArgMax { .. }),
            axis: *axis,
            keepdims: *keepdims,
            last: *select_last_index,
        }),
        Op::Softmax { axis } => Box::new(Softmax {
            axis: *axis,
            log: false,
        }),
        Op::LogSoftmax { axis } => Box::new(Softmax {
            axis: *axis,
            log: true,
        }),
        _ => return None,
    };
    Some(Ok(k))
}

#[derive(Copy, Clone, Debug, PartialEq)]
enum Kind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
}

impl Kind {
    fn init(self) -> f64 {
        match self {
            Kind::Prod => 1.0,
            Kind::Max => f64::NEG_INFINITY,
            Kind::Min => f64::INFINITY,
            _ => 0.0,
        }
    }

    #[inline(always)]
    fn step(self, a: f64, x: f64) -> f64 {
        match self {
            Kind::Sum | Kind::Mean | Kind::LogSum => a + x,
            Kind::Prod => a * x,
            Kind::L1 => a + x.abs(),
            Kind::L2 | Kind::SumSquare => a + x * x,
            // NaN sticks: once the accumulator is NaN nothing replaces it.
            Kind::Max if !a.is_nan() && (x.is_nan() || x > a) => x,
            Kind::Min if !a.is_nan() && (x.is_nan() || x < a) => x,
            Kind::Max | Kind::Min => a,
        }
    }

    fn finish(self, a: f64, count: usize) -> f32 {
        (match self {
            Kind::Mean => a / count as f64,
            Kind::L2 => a.sqrt(),
            Kind::LogSum => a.ln(),
            _ => a,
        }) as f32
    }

    /// Fold a contiguous run into `a` (8 partial sums for the additive kinds).
    #[inline(always)]
    fn row(self, a: f64, x: &[f32]) -> f64 {
        if matches!(self, Kind::Max | Kind::Min | Kind::Prod) {
            return x.iter().fold(a, |a, &v| self.step(a, f64::from(v)));
        }
        let mut p = [0f64; 8];
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                p[k] = self.step(p[k], f64::from(c[k]));
            }
        }
        let tail = rest.iter().fold(0.0, |s, &v| self.step(s, f64::from(v)));
        a + (((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))) + tail
    }
}

/// Accumulate `x` (segments `segs`, outermost first, `(len, reduced)`) into
/// `acc` (the kept segments, row-major).
fn walk(kind: Kind, x: &[f32], acc: &mut [f64], segs: &[(usize, bool)]) {
    match segs {
        [] => acc[0] = kind.step(acc[0], f64::from(x[0])),
        [(_, true)] => acc[0] = kind.row(acc[0], x),
        [(_, false)] => {
            for (a, &v) in acc.iter_mut().zip(x) {
                *a = kind.step(*a, f64::from(v));
            }
        }
        [(n, red), rest @ ..] => {
            let xi = x.len() / n;
            let ai = if *red { acc.len() } else { acc.len() / n };
            for i in 0..*n {
                let a = if *red {
                    &mut acc[..]
                } else {
                    &mut acc[i * ai..(i + 1) * ai]
                };
                walk(kind, &x[i * xi..(i + 1) * xi], a, rest);
            }
        }
    }
}

/// Read an f32 operand, copying it only if it is misaligned.
///
/// # Safety
/// `a` points to a live f32 buffer of its shape.
pub(crate) unsafe fn f32s<'a>(a: &Arg<'a>) -> std::borrow::Cow<'a, [f32]> {
    if (a.ptr as usize).is_multiple_of(4) {
        std::borrow::Cow::Borrowed(a.slice::<f32>())
    } else {
        let p = a.ptr as *const f32;
        std::borrow::Cow::Owned((0..a.numel()).map(|i| p.add(i).read_unaligned()).collect())
    }
}

/// Check the dtype and give the f32 data.
unsafe fn input<'a>(op: &str, a: &Arg<'a>) -> Result<std::borrow::Cow<'a, [f32]>, KernelError> {
    if a.dtype != DType::F32 {
        return Err(KernelError(format!(
            "{op}: built for f32, given {}",
            a.dtype
        )));
    }
    Ok(f32s(a))
}

/// Write f32 results to a possibly misaligned buffer.
unsafe fn store(y: &Arg, v: &[f32]) {
    std::ptr::copy_nonoverlapping(v.as_ptr() as *const u8, y.ptr, v.len() * 4);
}

struct Reduce {
    kind: Kind,
    axes: Vec<i64>,
    keepdims: bool,
}

impl Kernel for Reduce {
    fn describe(&self) -> String {
        format!("reduce {:?} {:?}", self.kind, self.axes)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let op = "reduce";
        arity(op, ins, outs, 1, 1, 1)?;
        let (xa, y) = (&ins[0], &outs[0]);
        let s = xa.shape;
        let mut mask = vec![self.axes.is_empty(); s.len()];
        for &a in &self.axes {
            let k = norm_axis(op, a, s.len())?;
            if std::mem::replace(&mut mask[k], true) {
                return Err(KernelError(format!(
                    "{op}: axis {a} is listed twice in {:?}",
                    self.axes
                )));
            }
        }
        let out: Vec<usize> = (0..s.len())
            .filter_map(|a| match (mask[a], self.keepdims) {
                (true, true) => Some(1),
                (true, false) => None,
                _ => Some(s[a]),
            })
            .collect();
        expect_out(op, y, DType::F32, &out)?;
        let x = input(op, xa)?;
        let count: usize = (0..s.len()).filter(|&a| mask[a]).map(|a| s[a]).product();
        let mut acc = vec![self.kind.init(); y.numel()];
        if !x.is_empty() {
            let mut segs: Vec<(usize, bool)> = vec![];
            for a in (0..s.len()).filter(|&a| s[a] != 1) {
                match segs.last_mut() {
                    Some((n, r)) if *r == mask[a] => *n *= s[a],
                    _ => segs.push((s[a], mask[a])),
                }
            }
            let kind = self.kind;
            match segs.split_first() {
                Some((&(n, false), rest))
                    if cx.threads > 1 && x.len() * 4 >= super::movement::PAR_MIN_BYTES =>
                {
                    let (xi, ai) = (x.len() / n, acc.len() / n);
                    let accp = SendPtr(acc.as_mut_ptr() as *mut u8);
                    let x = &x[..];
                    par_ranges(n, x.len() * 4, cx.threads, |r| {
                        // SAFETY: each range owns acc[r.start*ai .. r.end*ai].
                        let a = std::slice::from_raw_parts_mut(
                            (accp.get() as *mut f64).add(r.start * ai),
                            r.len() * ai,
                        );
                        for (k, i) in r.enumerate() {
                            walk(
                                kind,
                                &x[i * xi..(i + 1) * xi],
                                &mut a[k * ai..(k + 1) * ai],
                                rest,
                            );
                        }
                    });
                }
                _ => walk(kind, &x, &mut acc, &segs),
            }
        }
        let r: Vec<f32> = acc.iter().map(|&a| self.kind.finish(a, count)).collect();
        store(y, &r);
        Ok(())
    }
}

/// `[outer, len, inner]` around axis `a`.
fn lanes(s: &[usize], a: usize) -> (usize, usize, usize) {
    (s[..a].iter().product(), s[a], s[a + 1..].iter().product())
}

struct ArgBest {
    max: bool,
    axis: i64,
    keepdims: bool,
    last: bool,
}

impl Kernel for ArgBest {
    fn describe(&self) -> String {
        format!(
            "arg_{} axis {}",
            if self.max { "max" } else { "min" },
            self.axis
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], _cx: &Ctx) -> Result<(), KernelError> {
        let op = if self.max { "arg_max" } else { "arg_min" };
        arity(op, ins, outs, 1, 1, 1)?;
        let s = ins[0].shape;
        let a = norm_axis(op, self.axis, s.len())?;
        let mut out = s.to_vec();
        if self.keepdims {
            out[a] = 1;
        } else {
            out.remove(a);
        }
        expect_out(op, &outs[0], DType::I64, &out)?;
        let x = input(op, &ins[0])?;
        let (outer, len, inner) = lanes(s, a);
        if len == 0 && outer * inner > 0 {
            return Err(KernelError(format!("{op}: axis {a} of {s:?} is empty")));
        }
        let mut res = vec![0i64; outer * inner];
        let mut best = vec![0f32; inner];
        for o in 0..outer.min(if len == 0 { 0 } else { outer }) {
            let blk = &x[o * len * inner..(o + 1) * len * inner];
            let idx = &mut res[o * inner..(o + 1) * inner];
            best.copy_from_slice(&blk[..inner]);
            for k in 1..len {
                for i in 0..inner {
                    let (v, b) = (blk[k * inner + i], best[i]);
                    let nan_wins = v.is_nan() && !b.is_nan();
                    let better = nan_wins || if self.max { v > b } else { v < b };
                    let eq = (v.is_nan() && b.is_nan()) || v == b;
                    if better || (self.last && eq) {
                        best[i] = v;
                        idx[i] = k as i64;
                    }
                }
            }
        }
        std::ptr::copy_nonoverlapping(res.as_ptr() as *const u8, outs[0].ptr, res.len() * 8);
        Ok(())
    }
}

/// `e^x` for f32 without a libm call, so loops vectorize: Cephes' expf
/// (range reduction by ln 2, degree-6 polynomial). Relative error < 3e-7
/// for `x` in `[-87, 88]`; 0 below -87.33 (true value < 1.2e-38).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LO: f32 = -87.336_55;
    let xc = x.clamp(LO, 88.0);
    // Round to nearest with the 1.5 * 2^23 trick (no libm `round` on SSE2).
    let fx = xc * std::f32::consts::LOG2_E + 12_582_912.0 - 12_582_912.0;
    let r = xc - fx * 0.693_359_4 + fx * 2.121_944_4e-4;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r2 + r + 1.0;
    let scale = f32::from_bits((((fx as i32) + 127) as u32) << 23);
    if x < LO {
        0.0
    } else {
        y * scale
    }
}

struct Softmax {
    axis: i64,
    log: bool,
}

impl Kernel for Softmax {
    fn describe(&self) -> String {
        format!(
            "{} axis {}",
            if self.log { "log_softmax" } else { "softmax" },
            self.axis
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let op = if self.log { "log_softmax" } else { "softmax" };
        arity(op, ins, outs, 1, 1, 1)?;
        let s = ins[0].shape;
        let a = norm_axis(op, self.axis, s.len())?;
        expect_out(op, &outs[0], DType::F32, s)?;
        let x = input(op, &ins[0])?;
        let (outer, len, inner) = lanes(s, a);
        if x.is_empty() {
            return Ok(());
        }
        let (x, y, log) = (&x[..], SendPtr(outs[0].ptr), self.log);
        let block = len * inner;
        par_ranges(outer, x.len() * 8, cx.threads, |r| {
            let mut buf = vec![0f32; block];
            let (mut lane, mut res) = (vec![0f32; len], vec![0f32; len]);
            for o in r {
                let src = &x[o * block..(o + 1) * block];
                if inner == 1 {
                    softmax_lane(src, &mut buf, log);
                } else {
                    // A strided lane: gather, compute, scatter.
                    for i in 0..inner {
                        (0..len).for_each(|k| lane[k] = src[k * inner + i]);
                        softmax_lane(&lane, &mut res, log);
                        (0..len).for_each(|k| buf[k * inner + i] = res[k]);
                    }
                }
                // SAFETY: block `o` of the result belongs to this range only.
                std::ptr::copy_nonoverlapping(
                    buf.as_ptr() as *const u8,
                    y.get().add(o * block * 4),
                    block * 4,
                );
            }
        });
        Ok(())
    }
}

/// Softmax (or log-softmax) of one contiguous lane into `y`.
fn softmax_lane(x: &[f32], y: &mut [f32], log: bool) {
    // `f32::max` skips NaN, as the interpreter's f64 fold does.
    let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    if m.is_infinite() || x.iter().any(|v| v.is_nan()) {
        y.iter_mut().for_each(|v| *v = f32::NAN);
        return;
    }
    let mut sum = [0f64; 4];
    for (k, (d, &v)) in y.iter_mut().zip(x).enumerate() {
        *d = exp_f32(v - m);
        sum[k & 3] += f64::from(*d);
    }
    let sum = (sum[0] + sum[1]) + (sum[2] + sum[3]);
    if log {
        let ls = sum.ln() as f32;
        y.iter_mut().zip(x).for_each(|(d, &v)| *d = (v - m) - ls);
    } else {
        let inv = (1.0 / sum) as f32;
        y.iter_mut().for_each(|d| *d *= inv);
    }
}
