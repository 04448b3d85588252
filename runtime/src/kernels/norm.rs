//! f32 normalizations that stay unfused: `layer_norm`, `batch_norm`
//! (inference), `instance_norm`, `group_norm`.
//!
//! Assumptions: `x` is f32 (else [`kernel`] returns `None`); parameters
//! (scale, bias, mean, var) are f32 of the shapes shape inference accepts:
//! one per channel, or broadcasting to `x.shape[axis..]` for layer_norm.
//!
//! Guarantees: the interpreter's formulas (`interp/normalize.rs`) with the
//! statistics in f64 (mean, then the population variance in a second pass)
//! and `(x - mean) * inv * scale + bias` in f64, rounded once: results are
//! within `1e-5 * max(1, |want|)` of the interpreter (in practice a few f64
//! ulps, from reassociating sums). Rows run in parallel above the size
//! threshold.

use super::movement::{arity, expect_out, par_ranges, SendPtr};
use super::reduce::f32s;
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{DType, Op};

/// Build a normalization kernel for an f32 operand; `None` if not handled.
pub(crate) fn kernel(op: &Op, dt: DType) -> Option<Result<Box<dyn Kernel>, String>> {
    if dt != DType::F32 {
        return None;
    }
    let kind = match op {
        Op::LayerNorm { axis, epsilon } => Kind::Layer(*axis, *epsilon),
        Op::BatchNorm { epsilon } => Kind::Batch(*epsilon),
        Op::InstanceNorm { epsilon } => Kind::Instance(*epsilon),
        Op::GroupNorm {
            epsilon,
            num_groups,
        } => Kind::Group(*epsilon, *num_groups),
        _ => return None,
    };
    Some(Ok(Box::new(Norm { kind })))
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Layer(i64, f32),
    Batch(f32),
    Instance(f32),
    Group(f32, i64),
}

struct Norm {
    kind: Kind,
}

/// Mean and `1 / sqrt(var + eps)` of a row, in f64.
fn stats(x: &[f32], eps: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let mut p = [0f64; 4];
    x.iter()
        .enumerate()
        .for_each(|(k, &v)| p[k & 3] += f64::from(v));
    let mean = ((p[0] + p[1]) + (p[2] + p[3])) / n;
    let mut q = [0f64; 4];
    x.iter().enumerate().for_each(|(k, &v)| {
        let d = f64::from(v) - mean;
        q[k & 3] += d * d;
    });
    let var = ((q[0] + q[1]) + (q[2] + q[3])) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// One parameter operand as f64, expanded to `len` values by `at(j)`.
unsafe fn param(
    op: &str,
    what: &str,
    a: &Arg,
    len: usize,
    at: impl Fn(usize) -> usize,
) -> Result<Vec<f64>, KernelError> {
    if a.dtype != DType::F32 {
        return Err(KernelError(format!(
            "{op}: {what} must be f32, not {}",
            a.dtype
        )));
    }
    let v = f32s(a);
    (0..len)
        .map(|j| {
            v.get(at(j)).map(|&x| f64::from(x)).ok_or_else(|| {
                KernelError(format!("{op}: {what} of shape {:?} is too small", a.shape))
            })
        })
        .collect()
}

impl Kernel for Norm {
    fn describe(&self) -> String {
        format!("{:?}", self.kind)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let op = match self.kind {
            Kind::Layer(..) => "layer_norm",
            Kind::Batch(_) => "batch_norm",
            Kind::Instance(_) => "instance_norm",
            Kind::Group(..) => "group_norm",
        };
        let (lo, hi) = match self.kind {
            Kind::Layer(..) => (2, 3),
            Kind::Batch(_) => (5, 5),
            _ => (3, 3),
        };
        arity(op, ins, outs, lo, hi, 1)?;
        let xa = &ins[0];
        let s = xa.shape;
        if xa.dtype != DType::F32 {
            return Err(KernelError(format!(
                "{op}: built for f32, given {}",
                xa.dtype
            )));
        }
        expect_out(op, &outs[0], DType::F32, s)?;
        if !matches!(self.kind, Kind::Layer(..)) && s.len() < 2 {
            return Err(KernelError(format!(
                "{op}: x must be [N, C, ...], not {s:?}"
            )));
        }
        let x = f32s(xa);
        if x.is_empty() {
            return Ok(());
        }
        let y = SendPtr(outs[0].ptr);
        let x = &x[..];
        // Every kind is "rows of `cols` elements, each normalized with its own
        // statistics (or the channel's, for batch_norm), then scaled".
        match self.kind {
            Kind::Layer(axis, eps) => {
                let a = super::movement::norm_axis(op, axis, s.len())?;
                let norm = &s[a..];
                let cols: usize = norm.iter().product();
                let expand = |t: &Arg, what: &str| -> Result<Vec<f64>, KernelError> {
                    let st =
                        super::movement::broadcast_strides(t.shape, norm).ok_or_else(|| {
                            KernelError(format!(
                                "{op}: {what} {:?} does not broadcast to {norm:?}",
                                t.shape
                            ))
                        })?;
                    param(op, what, t, cols, |j| {
                        let (mut r, mut off) = (j, 0isize);
                        for k in (0..norm.len()).rev() {
                            off += (r % norm[k]) as isize * st[k];
                            r /= norm[k];
                        }
                        off as usize
                    })
                };
                let scale = expand(&ins[1], "scale")?;
                let bias = match ins.get(2) {
                    Some(b) => expand(b, "bias")?,
                    None => vec![0.0; cols],
                };
                rows(x, y, cols, cx.threads, |_, src, dst| {
                    let (mean, inv) = stats(src, f64::from(eps));
                    for j in 0..src.len() {
                        dst[j] = ((f64::from(src[j]) - mean) * inv * scale[j] + bias[j]) as f32;
                    }
                });
            }
            Kind::Batch(eps) => {
                let (c, spatial) = (s[1], s[2..].iter().product::<usize>());
                let p: Vec<Vec<f64>> = ["scale", "bias", "mean", "var"]
                    .iter()
                    .enumerate()
                    .map(|(k, w)| param(op, w, &ins[k + 1], c, |j| j))
                    .collect::<Result<_, _>>()?;
                let inv: Vec<f64> = (0..c)
                    .map(|ch| 1.0 / (p[3][ch] + f64::from(eps)).sqrt())
                    .collect();
                rows(x, y, spatial, cx.threads, |row, src, dst| {
                    let ch = row % c;
                    let (m, k, b) = (p[2][ch], inv[ch] * p[0][ch], p[1][ch]);
                    for j in 0..src.len() {
                        dst[j] = ((f64::from(src[j]) - m) * k + b) as f32;
                    }
                });
            }
            Kind::Instance(eps) => {
                let (c, spatial) = (s[1], s[2..].iter().product::<usize>());
                let scale = param(op, "scale", &ins[1], c, |j| j)?;
                let bias = param(op, "bias", &ins[2], c, |j| j)?;
                rows(x, y, spatial, cx.threads, |row, src, dst| {
                    let ch = row % c;
                    let (mean, inv) = stats(src, f64::from(eps));
                    for j in 0..src.len() {
                        dst[j] = ((f64::from(src[j]) - mean) * inv * scale[ch] + bias[ch]) as f32;
                    }
                });
            }
            Kind::Group(eps, groups) => {
                let (c, spatial) = (s[1], s[2..].iter().product::<usize>());
                let g = usize::try_from(groups)
                    .ok()
                    .filter(|&g| g > 0 && c % g == 0)
                    .ok_or_else(|| {
                        KernelError(format!(
                            "{op}: num_groups {groups} does not divide the {c} channels"
                        ))
                    })?;
                let scale = param(op, "scale", &ins[1], c, |j| j)?;
                let bias = param(op, "bias", &ins[2], c, |j| j)?;
                let per = c / g;
                rows(x, y, per * spatial, cx.threads, |row, src, dst| {
                    let (mean, inv) = stats(src, f64::from(eps));
                    let c0 = (row % g) * per;
                    for j in 0..src.len() {
                        let ch = c0 + j / spatial;
                        dst[j] = ((f64::from(src[j]) - mean) * inv * scale[ch] + bias[ch]) as f32;
                    }
                });
            }
        }
        Ok(())
    }
}

/// Apply `f(row index, source row, result row)` to each row of `cols`
/// elements, in parallel above the threshold.
///
/// # Safety
/// `y` holds `x.len()` f32s (maybe misaligned) and does not overlap `x`.
unsafe fn rows(
    x: &[f32],
    y: SendPtr,
    cols: usize,
    threads: usize,
    f: impl Fn(usize, &[f32], &mut [f32]) + Sync,
) {
    let n = x.len() / cols.max(1);
    par_ranges(n, x.len() * 8, threads, |r| {
        let mut buf = vec![0f32; cols];
        for row in r {
            f(row, &x[row * cols..(row + 1) * cols], &mut buf);
            // SAFETY: row `row` of the result belongs to this range only.
            std::ptr::copy_nonoverlapping(
                buf.as_ptr() as *const u8,
                y.get().add(row * cols * 4),
                cols * 4,
            );
        }
    });
}
