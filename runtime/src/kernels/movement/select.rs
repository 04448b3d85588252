//! Slice, gather, pad and trilu.
//!
//! Slice clamps exactly as the interpreter (`interp/movement/window.rs`):
//! negative starts/ends count from the end, then clamp to `[0, dim]` for
//! positive steps and `[0, dim-1]` / `[-1, dim-1]` for negative ones; the
//! window becomes one strided copy (negative steps are negative strides).
//! Gather wraps a negative index once and reports an index still outside the
//! axis as an error naming it, before anything is written. Pad treats
//! negative pads as cropping; output coordinate `i` reads source `i - begin`
//! mapped by the mode (constant / edge / reflect / wrap).

use super::strided::{by_size, line, Strided};
use super::{arity, expect_out, fill, ints, norm_axis, par_ranges, strides, SendPtr};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::attr::PadMode;

/// The first index and element count of slicing an axis of size `dim`.
fn slice_axis(start: i64, end: i64, step: i64, dim: usize) -> (i64, usize) {
    if dim == 0 {
        return (0, 0);
    }
    let d = dim as i128;
    let (mut s, mut e, st) = (start as i128, end as i128, step as i128);
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    let count = if st > 0 {
        s = s.clamp(0, d);
        e = e.clamp(0, d);
        (e - s + st - 1).div_euclid(st)
    } else {
        s = s.clamp(0, d - 1);
        e = e.clamp(-1, d - 1);
        (s - e - st - 1).div_euclid(-st)
    };
    (s as i64, count.max(0) as usize)
}

pub struct Slice;

impl Kernel for Slice {
    fn describe(&self) -> String {
        "slice".into()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("slice", ins, outs, 3, 5, 1)?;
        let x = &ins[0];
        let s = x.shape;
        let starts = ints("slice", "starts", &ins[1])?;
        let ends = ints("slice", "ends", &ins[2])?;
        let axes = match ins.get(3) {
            Some(t) => ints("slice", "axes", t)?,
            None => (0..starts.len() as i64).collect(),
        };
        let steps = match ins.get(4) {
            Some(t) => ints("slice", "steps", t)?,
            None => vec![1; starts.len()],
        };
        let n = starts.len();
        if ends.len() != n || axes.len() != n || steps.len() != n {
            return Err(KernelError(format!(
                "slice: starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
            )));
        }
        let st = strides(s);
        let mut out = s.to_vec();
        let mut ss = st.clone();
        let mut seen = vec![false; s.len()];
        let mut base = 0isize;
        for k in 0..n {
            let a = norm_axis("slice", axes[k], s.len())?;
            if std::mem::replace(&mut seen[a], true) || steps[k] == 0 {
                return Err(KernelError(format!(
                    "slice: axes {axes:?} repeat an axis or steps {steps:?} hold 0"
                )));
            }
            let (f, c) = slice_axis(starts[k], ends[k], steps[k], s[a]);
            out[a] = c;
            ss[a] = st[a] * steps[k] as isize;
            if c > 0 {
                base += f as isize * st[a];
            }
        }
        expect_out("slice", &outs[0], x.dtype, &out)?;
        let es = x.dtype.size();
        let plan = Strided::new(&out, &ss, &strides(&out));
        if plan.numel() > 0 {
            // SAFETY: every index `first + i * step` lies in the axis.
            plan.run(
                x.ptr.offset(base * es as isize),
                outs[0].ptr,
                es,
                cx.threads,
            );
        }
        Ok(())
    }
}

pub struct Gather {
    pub axis: i64,
}

impl Kernel for Gather {
    fn describe(&self) -> String {
        format!("gather axis {}", self.axis)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("gather", ins, outs, 2, 2, 1)?;
        let (x, ind, y) = (&ins[0], &ins[1], &outs[0]);
        let s = x.shape;
        let a = norm_axis("gather", self.axis, s.len())?;
        let dim = s[a];
        let idx: Vec<usize> = ints("gather", "indices", ind)?
            .into_iter()
            .enumerate()
            .map(|(k, i)| {
                let j = if i < 0 { i + dim as i64 } else { i };
                if j < 0 || j >= dim as i64 {
                    return Err(KernelError(format!(
                        "gather: index {i} (indices[{k}]) is out of range for axis {a} of size {dim} (data {s:?})"
                    )));
                }
                Ok(j as usize)
            })
            .collect::<Result<_, _>>()?;
        let out: Vec<usize> = s[..a]
            .iter()
            .chain(ind.shape)
            .chain(&s[a + 1..])
            .copied()
            .collect();
        expect_out("gather", y, x.dtype, &out)?;
        let outer: usize = s[..a].iter().product();
        let inner: usize = s[a + 1..].iter().product();
        let es = x.dtype.size();
        let (row, q) = (inner * es, idx.len());
        let (src, dst) = (SendPtr(x.ptr), SendPtr(y.ptr));
        par_ranges(outer * q, y.bytes(), cx.threads, |range| {
            for u in range {
                let (o, k) = (u / q, u % q);
                let s = src.get().add(((o * dim) + idx[k]) * row);
                let d = dst.get().add(u * row);
                if inner == 1 {
                    // SAFETY: one element inside each buffer.
                    line(s, d, 1, 1, 1, es);
                } else {
                    // SAFETY: one row inside each buffer.
                    std::ptr::copy_nonoverlapping(s, d, row);
                }
            }
        });
        Ok(())
    }
}

/// Map a coordinate `j` (maybe outside `0..n`) into `0..n`; `None` = fill.
fn pad_source(j: i64, n: i64, mode: PadMode) -> Option<i64> {
    if (0..n).contains(&j) {
        return Some(j);
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Edge => Some(j.clamp(0, n - 1)),
        PadMode::Wrap => Some(j.rem_euclid(n)),
        PadMode::Reflect if n == 1 => Some(0),
        PadMode::Reflect => {
            let p = 2 * (n - 1);
            let m = j.rem_euclid(p);
            Some(if m >= n { p - m } else { m })
        }
    }
}

pub struct Pad {
    pub mode: PadMode,
}

impl Kernel for Pad {
    fn describe(&self) -> String {
        format!("pad {}", self.mode)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("pad", ins, outs, 2, 3, 1)?;
        let (x, y) = (&ins[0], &outs[0]);
        let s = x.shape;
        let r = s.len();
        let pads = ints("pad", "pads", &ins[1])?;
        if pads.len() != 2 * r {
            return Err(KernelError(format!(
                "pad: pads {pads:?} must have 2 × rank entries for input {s:?}"
            )));
        }
        let es = x.dtype.size();
        let zero = [0u8; 8];
        let value: *const u8 = match ins.get(2) {
            Some(v) if v.numel() > 0 => {
                if v.dtype != x.dtype || v.numel() != 1 {
                    return Err(KernelError(format!(
                        "pad: constant_value must be one {}, not {}{:?}",
                        x.dtype, v.dtype, v.shape
                    )));
                }
                v.ptr
            }
            _ => zero.as_ptr(),
        };
        let mut out = Vec::with_capacity(r);
        for a in 0..r {
            let n = s[a] as i128 + pads[a] as i128 + pads[r + a] as i128;
            let n = usize::try_from(n).map_err(|_| {
                KernelError(format!(
                    "pad: pads {pads:?} remove more than axis {a} of {s:?}"
                ))
            })?;
            if n > 0 && s[a] == 0 && self.mode != PadMode::Constant {
                return Err(KernelError(format!(
                    "pad: cannot {}-pad the empty axis {a} of {s:?}",
                    self.mode
                )));
            }
            out.push(n);
        }
        expect_out("pad", y, x.dtype, &out)?;
        if y.numel() == 0 {
            return Ok(());
        }
        let (st, dst) = (strides(s), strides(&out));
        if self.mode == PadMode::Constant {
            // Fill everything, then copy the part of `x` that survives.
            fill(y.ptr, y.numel(), value, es);
            let (mut dims, mut sb, mut db) = (vec![], 0isize, 0isize);
            for a in 0..r {
                let begin = pads[a];
                let lo = (-begin).max(0);
                let hi = (s[a] as i64).min(out[a] as i64 - begin);
                dims.push((hi - lo).max(0) as usize);
                sb += lo as isize * st[a];
                db += (lo + begin) as isize * dst[a];
            }
            let plan = Strided::new(&dims, &st, &dst);
            if plan.numel() > 0 {
                // SAFETY: the window lies inside both buffers.
                plan.run(
                    x.ptr.offset(sb * es as isize),
                    y.ptr.offset(db * es as isize),
                    es,
                    cx.threads,
                );
            }
            return Ok(());
        }
        // Edge / reflect / wrap: a source index per output coordinate.
        let maps: Vec<Vec<isize>> = (0..r)
            .map(|a| {
                (0..out[a] as i64)
                    .map(|i| {
                        let j = pad_source(i - pads[a], s[a] as i64, self.mode).unwrap_or(0);
                        j as isize * st[a]
                    })
                    .collect()
            })
            .collect();
        gather_maps(x.ptr, y.ptr, &out, &maps, es, cx.threads);
        Ok(())
    }
}

/// `y[i0, .., ir] = x[maps[0][i0] + .. + maps[r][ir]]` (source offsets in
/// elements), rows in parallel.
///
/// # Safety
/// Every mapped offset lies in `x`; `y` holds `out` elements.
unsafe fn gather_maps(
    x: *mut u8,
    y: *mut u8,
    out: &[usize],
    maps: &[Vec<isize>],
    es: usize,
    threads: usize,
) {
    let r = out.len();
    if r == 0 {
        line(x, y, 1, 1, 1, es);
        return;
    }
    let last = &maps[r - 1];
    let w = out[r - 1];
    let rows: usize = out[..r - 1].iter().product();
    let (src, dst) = (SendPtr(x), SendPtr(y));
    par_ranges(rows, rows * w * es, threads, |range| {
        for row in range {
            let (mut o, mut base) = (row, 0isize);
            for a in (0..r - 1).rev() {
                base += maps[a][o % out[a]];
                o /= out[a];
            }
            by_size!(es, T, {
                let s = src.get().offset(base * es as isize) as *const T;
                let d = dst.get().add(row * w * es) as *mut T;
                for (j, &m) in last.iter().enumerate() {
                    // SAFETY: see the function contract.
                    d.add(j).write_unaligned(s.offset(m).read_unaligned());
                }
            });
        }
    });
}

pub struct Trilu {
    pub upper: bool,
}

impl Kernel for Trilu {
    fn describe(&self) -> String {
        format!("trilu upper={}", self.upper)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("trilu", ins, outs, 1, 2, 1)?;
        let (x, y) = (&ins[0], &outs[0]);
        let s = x.shape;
        if s.len() < 2 {
            return Err(KernelError(format!("trilu: needs rank ≥ 2, not {s:?}")));
        }
        let k = match ins.get(1) {
            Some(t) => match ints("trilu", "k", t)?.as_slice() {
                [k] => *k,
                v => {
                    return Err(KernelError(format!(
                        "trilu: k must hold one element, holds {}",
                        v.len()
                    )))
                }
            },
            None => 0,
        };
        expect_out("trilu", y, x.dtype, s)?;
        let (rows, cols) = (s[s.len() - 2], s[s.len() - 1]);
        let es = x.dtype.size();
        let zero = [0u8; 8];
        let upper = self.upper;
        let (src, dst) = (SendPtr(x.ptr), SendPtr(y.ptr));
        let n_rows = x.numel() / cols.max(1);
        par_ranges(n_rows, x.bytes(), cx.threads, |range| {
            for row in range {
                // Kept columns: j - i >= k (upper) or j - i <= k (lower).
                let i = (row % rows) as i64;
                let (lo, hi) = if upper {
                    ((i + k).clamp(0, cols as i64), cols as i64)
                } else {
                    (0, (i + k + 1).clamp(0, cols as i64))
                };
                let (lo, hi) = (lo as usize, hi.max(lo) as usize);
                let (s, d) = (
                    src.get().add(row * cols * es),
                    dst.get().add(row * cols * es),
                );
                // SAFETY: all three parts lie in this row of both buffers.
                fill(d, lo, zero.as_ptr(), es);
                std::ptr::copy_nonoverlapping(s.add(lo * es), d.add(lo * es), (hi - lo) * es);
                fill(d.add(hi * es), cols - hi, zero.as_ptr(), es);
            }
        });
        Ok(())
    }
}
