//! Window geometry for the conv and pool kernels, resolved from run-time
//! input shapes (the compile-time shapes may be symbolic).
//!
//! The formulas are the interpreter's (`ir/src/infer/contraction/window.rs`,
//! not public): explicit pads `out = floor((in + pb + pe - span) / s) + 1`
//! (`ceil_mode` rounds up but drops a last window starting in the right
//! padding); `same_upper`/`same_lower` `out = ceil(in / s)` with the total
//! padding split evenly, the odd element at the end (upper) or beginning
//! (lower); `valid` no padding. Transposed convolution: see
//! [`Spec::transposed`].
//!
//! Every window is normalized to three spatial axes by prepending axes of
//! size 1 (kernel 1, stride 1, no padding), so 1-D, 2-D and 3-D share one
//! loop nest.

use crate::kernel::KernelError;
use ingot_ir::attr::AutoPad;

/// Window attributes, checked and normalized to three axes.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    /// Number of real spatial axes (1..=3).
    pub nsp: usize,
    pub k: [usize; 3],
    pub s: [usize; 3],
    pub d: [usize; 3],
    /// Explicit pads, begins then ends (zeros under `same_*`/`valid`).
    pub pads: [usize; 6],
    pub auto_pad: AutoPad,
    pub ceil: bool,
}

/// A window resolved against one input: sizes and pads per axis.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub i: [usize; 3],
    pub o: [usize; 3],
    pub k: [usize; 3],
    pub s: [usize; 3],
    pub d: [usize; 3],
    pub pb: [usize; 3],
    pub pe: [usize; 3],
}

impl Geom {
    pub(crate) fn in_size(&self) -> usize {
        self.i.iter().product()
    }
    pub(crate) fn out_size(&self) -> usize {
        self.o.iter().product()
    }
    pub(crate) fn taps(&self) -> usize {
        self.k.iter().product()
    }
}

fn e(msg: String) -> KernelError {
    KernelError(msg)
}

/// Lift `v` (one entry per real axis) to three axes, filling with `fill`.
pub(crate) fn lift<T: Copy>(v: &[T], fill: T) -> [T; 3] {
    let mut out = [fill; 3];
    out[3 - v.len()..].copy_from_slice(v);
    out
}

impl Spec {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        op: &str,
        kernel: &[usize],
        strides: &[i64],
        pads: &[i64],
        dilations: &[i64],
        auto_pad: AutoPad,
        ceil: bool,
    ) -> Result<Spec, KernelError> {
        let n = kernel.len();
        if !(1..=3).contains(&n) {
            return Err(e(format!(
                "{op}: {n} spatial axes; the CPU kernel handles 1 to 3"
            )));
        }
        let per_axis = |name: &str, v: &[i64]| -> Result<[usize; 3], KernelError> {
            if v.is_empty() {
                return Ok([1; 3]);
            }
            if v.len() != n || v.iter().any(|&x| x < 1) {
                return Err(e(format!(
                    "{op}: `{name}` {v:?} must have {n} entries >= 1"
                )));
            }
            let u: Vec<usize> = v.iter().map(|&x| x as usize).collect();
            Ok(lift(&u, 1))
        };
        let s = per_axis("strides", strides)?;
        let d = per_axis("dilations", dilations)?;
        let mut p = [0usize; 6];
        if !pads.is_empty() {
            if pads.len() != 2 * n || pads.iter().any(|&x| x < 0) {
                return Err(e(format!(
                    "{op}: `pads` {pads:?} must have {} entries >= 0",
                    2 * n
                )));
            }
            for a in 0..n {
                p[3 - n + a] = pads[a] as usize;
                p[6 - n + a] = pads[n + a] as usize;
            }
        }
        if kernel.contains(&0) {
            return Err(e(format!("{op}: kernel {kernel:?} has an empty axis")));
        }
        Ok(Spec {
            nsp: n,
            k: lift(kernel, 1),
            s,
            d,
            pads: p,
            auto_pad,
            ceil,
        })
    }

    fn span(&self, a: usize) -> usize {
        (self.k[a] - 1) * self.d[a] + 1
    }

    /// Geometry of a forward (conv or pool) window over spatial `input`.
    pub(crate) fn forward(&self, op: &str, input: &[usize]) -> Result<Geom, KernelError> {
        let i = lift(input, 1);
        let (mut o, mut pb, mut pe) = ([1; 3], [0; 3], [0; 3]);
        for a in 0..3 {
            let (x, s, ext) = (i[a], self.s[a], self.span(a));
            let (b, en) = match self.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    o[a] = x.div_ceil(s);
                    let total = ((o[a].max(1) - 1) * s + ext).saturating_sub(x);
                    let small = total / 2;
                    (pb[a], pe[a]) = if self.auto_pad == AutoPad::SameUpper {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    continue;
                }
                AutoPad::Valid => (0, 0),
                AutoPad::NotSet => (self.pads[a], self.pads[3 + a]),
            };
            let padded = x + b + en;
            if padded < ext {
                return Err(e(format!(
                    "{op}: input {input:?}: the window spans {ext} on an axis of padded size {padded}"
                )));
            }
            let room = padded - ext;
            o[a] = if self.ceil && self.auto_pad == AutoPad::NotSet && s > 1 {
                let up = room.div_ceil(s) + 1;
                // A last window starting in the right padding is dropped.
                if (up - 1) * s >= x + b {
                    up - 1
                } else {
                    up
                }
            } else {
                room / s + 1
            };
            (pb[a], pe[a]) = (b, en);
        }
        Ok(Geom {
            i,
            o,
            k: self.k,
            s: self.s,
            d: self.d,
            pb,
            pe,
        })
    }

    /// Geometry of a transposed convolution over spatial `input`, whose
    /// result has spatial size `out` (given by the executor). The pads are
    /// those cropped from the full output `s*(in-1) + output_padding + span`:
    /// explicit under `notset` without `output_shape`, else the total
    /// `full - out` split as for `same_*` (clamped at 0: extra elements hold
    /// only the bias). `o` in the result is the real output size.
    pub(crate) fn transposed(
        &self,
        op: &str,
        input: &[usize],
        output_padding: &[i64],
        has_output_shape: bool,
        out: &[usize],
    ) -> Result<Geom, KernelError> {
        let i = lift(input, 1);
        let o = lift(out, 1);
        let n = self.nsp;
        if !output_padding.is_empty()
            && (output_padding.len() != n || output_padding.iter().any(|&p| p < 0))
        {
            return Err(e(format!(
                "{op}: `output_padding` {output_padding:?} must have {n} entries >= 0"
            )));
        }
        let op_pad: Vec<usize> = output_padding.iter().map(|&p| p as usize).collect();
        let op_pad = if op_pad.is_empty() {
            [0; 3]
        } else {
            lift(&op_pad, 0)
        };
        let (mut pb, mut pe) = ([0; 3], [0; 3]);
        for a in 0..3 {
            if i[a] == 0 {
                return Err(e(format!("{op}: empty input {input:?}")));
            }
            let full = self.s[a] * (i[a] - 1) + op_pad[a] + self.span(a);
            let auto = has_output_shape
                || matches!(self.auto_pad, AutoPad::SameUpper | AutoPad::SameLower);
            if a < 3 - n || (!auto && self.auto_pad == AutoPad::Valid) {
                // Prepended axes and `valid`: nothing cropped.
            } else if auto {
                let total = full.saturating_sub(o[a]);
                let small = total / 2;
                (pb[a], pe[a]) = if self.auto_pad == AutoPad::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            } else {
                (pb[a], pe[a]) = (self.pads[a], self.pads[3 + a]);
            }
            if !auto && (full < pb[a] + pe[a] || full - pb[a] - pe[a] != o[a]) {
                return Err(e(format!(
                    "{op}: input {input:?} with pads {:?} gives spatial size {} on axis {a}, \
                     but the result is {out:?}",
                    self.pads,
                    full as i64 - (pb[a] + pe[a]) as i64
                )));
            }
        }
        Ok(Geom {
            i,
            o,
            k: self.k,
            s: self.s,
            d: self.d,
            pb,
            pe,
        })
    }
}

/// For output positions `o0..o0+run` on an axis of input size `n`, tap
/// offset `off` (= `k*d - pb`) and stride `s`: the sub-range `lo..hi` of
/// `0..run` whose taps `(o0+j)*s + off` fall inside `0..n`.
#[inline]
pub(crate) fn valid_run(o0: usize, run: usize, s: usize, off: isize, n: usize) -> (usize, usize) {
    // First o with o*s + off >= 0, and first o with o*s + off >= n.
    let first = |bound: isize| -> usize {
        let need = bound - off;
        if need <= 0 {
            0
        } else {
            (need as usize).div_ceil(s)
        }
    };
    let (a, b) = (first(0), first(n as isize));
    let lo = a.saturating_sub(o0).min(run);
    let hi = b.saturating_sub(o0).min(run).max(lo);
    (lo, hi)
}
