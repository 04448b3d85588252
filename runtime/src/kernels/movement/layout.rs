//! Reshape family (a contiguous copy), transpose, expand, tile, concat and
//! split, all as plans for the strided-copy engine.
//!
//! Assumptions: results never overlap operands (these are not elementwise
//! ops, so the memory plan never aliases them); Copy tolerates an exact alias
//! anyway (a later optimisation will alias reshapes).

use super::strided::Strided;
use super::{arity, expect_out, ints, norm_axis, strides};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};

/// Reshape, flatten, squeeze, unsqueeze, identity: same bytes, new shape.
pub struct Copy {
    op: &'static str,
}

impl Copy {
    pub fn new(op: &'static str) -> Copy {
        Copy { op }
    }
}

impl Kernel for Copy {
    fn describe(&self) -> String {
        format!("{} (copy)", self.op)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity(self.op, ins, outs, 1, 2, 1)?;
        let (x, y) = (&ins[0], &outs[0]);
        if x.numel() != y.numel() || x.dtype != y.dtype {
            return Err(KernelError(format!(
                "{}: cannot copy {}{:?} into a {}{:?} result",
                self.op, x.dtype, x.shape, y.dtype, y.shape
            )));
        }
        if x.ptr != y.ptr {
            let n = x.numel() as isize;
            // SAFETY: both buffers hold `n` elements and are distinct.
            Strided::new(&[n as usize], &[1], &[1]).run(x.ptr, y.ptr, x.dtype.size(), cx.threads);
        }
        Ok(())
    }
}

pub struct Transpose {
    pub perm: Vec<i64>,
}

impl Kernel for Transpose {
    fn describe(&self) -> String {
        format!("transpose {:?}", self.perm)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("transpose", ins, outs, 1, 1, 1)?;
        let x = &ins[0];
        let r = x.shape.len();
        let perm: Vec<usize> = if self.perm.is_empty() {
            (0..r).rev().collect()
        } else {
            let p: Vec<usize> = self
                .perm
                .iter()
                .map(|&a| norm_axis("transpose", a, r))
                .collect::<Result<_, _>>()?;
            let mut seen = vec![false; r];
            for &a in &p {
                if std::mem::replace(&mut seen[a], true) {
                    return Err(KernelError(format!(
                        "transpose: perm {:?} repeats axis {a}",
                        self.perm
                    )));
                }
            }
            if p.len() != r {
                return Err(KernelError(format!(
                    "transpose: perm {:?} does not fit input {:?}",
                    self.perm, x.shape
                )));
            }
            p
        };
        let out: Vec<usize> = perm.iter().map(|&a| x.shape[a]).collect();
        expect_out("transpose", &outs[0], x.dtype, &out)?;
        let st = strides(x.shape);
        let ss: Vec<isize> = perm.iter().map(|&a| st[a]).collect();
        let plan = Strided::new(&out, &ss, &strides(&out));
        // SAFETY: the plan visits each element of both buffers once.
        plan.run(x.ptr, outs[0].ptr, x.dtype.size(), cx.threads);
        Ok(())
    }
}

/// Source strides of `inp` broadcast (right-aligned) to `out`: 0 on
/// broadcast axes. `None` if `inp` does not broadcast to `out`.
pub(crate) fn broadcast_strides(inp: &[usize], out: &[usize]) -> Option<Vec<isize>> {
    if inp.len() > out.len() {
        return None;
    }
    let off = out.len() - inp.len();
    let st = strides(inp);
    (0..out.len())
        .map(|a| match a.checked_sub(off) {
            None => Some(0),
            Some(k) if inp[k] == out[a] => Some(st[k]),
            Some(k) if inp[k] == 1 => Some(0),
            Some(_) => None,
        })
        .collect()
}

pub struct Expand;

impl Kernel for Expand {
    fn describe(&self) -> String {
        "expand".into()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("expand", ins, outs, 2, 2, 1)?;
        let (x, y) = (&ins[0], &outs[0]);
        let shape = ints("expand", "shape", &ins[1])?;
        // The result is broadcast(x, shape): check the buffer agrees.
        let r = x.shape.len().max(shape.len());
        let dim = |s: &[usize], a: usize| {
            if a + s.len() >= r {
                s[a + s.len() - r]
            } else {
                1
            }
        };
        let sh: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        let ok = shape.iter().all(|&d| d >= 0)
            && y.shape.len() == r
            && (0..r).all(|a| {
                let (p, q) = (dim(x.shape, a), dim(&sh, a));
                y.shape[a] == if p == 1 { q } else { p } && (q == 1 || q == p || p == 1)
            });
        if !ok || y.dtype != x.dtype {
            return Err(KernelError(format!(
                "expand: cannot expand {}{:?} to {shape:?} into a {}{:?} result",
                x.dtype, x.shape, y.dtype, y.shape
            )));
        }
        let ss = broadcast_strides(x.shape, y.shape).expect("checked above");
        // SAFETY: destinations are distinct; sources stay inside `x`.
        Strided::new(y.shape, &ss, &strides(y.shape)).run(x.ptr, y.ptr, x.dtype.size(), cx.threads);
        Ok(())
    }
}

pub struct Tile;

impl Kernel for Tile {
    fn describe(&self) -> String {
        "tile".into()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("tile", ins, outs, 2, 2, 1)?;
        let (x, y) = (&ins[0], &outs[0]);
        let reps = ints("tile", "repeats", &ins[1])?;
        let s = x.shape;
        let out: Option<Vec<usize>> = (reps.len() == s.len())
            .then(|| {
                s.iter()
                    .zip(&reps)
                    .map(|(&d, &r)| usize::try_from(r).ok().and_then(|r| d.checked_mul(r)))
                    .collect()
            })
            .flatten();
        let Some(out) = out else {
            return Err(KernelError(format!(
                "tile: repeats {reps:?} do not fit input {s:?}"
            )));
        };
        expect_out("tile", y, x.dtype, &out)?;
        // Output axis a of size r*d splits into [r, d]: the repeat reads
        // source stride 0.
        let (st, dst) = (strides(s), strides(&out));
        let mut dims = Vec::with_capacity(2 * s.len());
        let (mut ss, mut ds) = (vec![], vec![]);
        for a in 0..s.len() {
            dims.extend([out[a] / s[a].max(1), s[a]]);
            ss.extend([0, st[a]]);
            ds.extend([dst[a] * s[a] as isize, dst[a]]);
        }
        // SAFETY: destinations are distinct; sources stay inside `x`.
        Strided::new(&dims, &ss, &ds).run(x.ptr, y.ptr, x.dtype.size(), cx.threads);
        Ok(())
    }
}

/// `[outer, axis, inner]` view of a shape around axis `a`.
fn around(s: &[usize], a: usize) -> (usize, usize) {
    (s[..a].iter().product(), s[a + 1..].iter().product())
}

pub struct Concat {
    pub axis: i64,
}

impl Kernel for Concat {
    fn describe(&self) -> String {
        format!("concat axis {}", self.axis)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("concat", ins, outs, 1, usize::MAX, 1)?;
        let first = ins[0].shape;
        let a = norm_axis("concat", self.axis, first.len())?;
        let mut out = first.to_vec();
        out[a] = 0;
        for (i, t) in ins.iter().enumerate() {
            let s = t.shape;
            let same = s.len() == first.len()
                && (0..s.len()).all(|k| k == a || s[k] == first[k])
                && t.dtype == ins[0].dtype;
            if !same {
                return Err(KernelError(format!(
                    "concat: operand {i} is {}{s:?}, which does not concatenate with {}{first:?} on axis {a}",
                    t.dtype, ins[0].dtype
                )));
            }
            out[a] += s[a];
        }
        let y = &outs[0];
        expect_out("concat", y, ins[0].dtype, &out)?;
        let (outer, inner) = around(&out, a);
        let es = y.dtype.size();
        let row = (out[a] * inner) as isize;
        let mut at = 0usize;
        for t in ins {
            let w = t.shape[a] * inner;
            let plan = Strided::new(&[outer, w], &[w as isize, 1], &[row, 1]);
            // SAFETY: part `t` fills columns [at, at + w) of each output row.
            plan.run(t.ptr, y.ptr.add(at * es), es, cx.threads);
            at += w;
        }
        Ok(())
    }
}

pub struct Split {
    pub axis: i64,
    pub splits: Vec<i64>,
}

impl Kernel for Split {
    fn describe(&self) -> String {
        format!("split axis {} {:?}", self.axis, self.splits)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("split", ins, outs, 1, 1, self.splits.len())?;
        let x = &ins[0];
        let s = x.shape;
        let a = norm_axis("split", self.axis, s.len())?;
        let sum = self
            .splits
            .iter()
            .try_fold(0usize, |acc, &n| usize::try_from(n).ok().map(|n| acc + n));
        if sum != Some(s[a]) {
            return Err(KernelError(format!(
                "split: splits {:?} do not sum to axis {a} of {s:?}",
                self.splits
            )));
        }
        let (outer, inner) = around(s, a);
        let es = x.dtype.size();
        let row = (s[a] * inner) as isize;
        let mut at = 0usize;
        for (y, &n) in outs.iter().zip(&self.splits) {
            let mut shape = s.to_vec();
            shape[a] = n as usize;
            expect_out("split", y, x.dtype, &shape)?;
            let w = n as usize * inner;
            let plan = Strided::new(&[outer, w], &[row, 1], &[w as isize, 1]);
            // SAFETY: result `y` takes columns [at, at + w) of each input row.
            plan.run(x.ptr.add(at * es), y.ptr, es, cx.threads);
            at += w;
        }
        Ok(())
    }
}
