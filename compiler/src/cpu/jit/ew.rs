//! The elementwise kernel object: concrete shapes → broadcast strides →
//! calls of the JIT'd two-level loop (`ew_gen.rs`).
//!
//! At run time the output shape is read from the `Arg`s; size-1 output axes
//! are dropped and adjacent axes merged wherever every operand's strides
//! allow, so "same shape" becomes one flat row, a bias `[C]` on `[N,C]` rows
//! of `C` with a row stride of 0, and a per-channel `[C,1,1]` on `[N,C,H,W]`
//! rows of `H·W` with the scale splatted. The last two merged axes are the
//! JIT loop's (rows × run); any further outer axes are looped here. Which
//! inputs are contiguous or splat within a run is part of the compiled code:
//! the pattern predicted from the body's types is compiled up front, others
//! on first use (once each). Work splits across rayon for outputs of
//! ≥ [`PAR_MIN`] elements when `cx.threads > 1`.

use super::code::Code;
use super::ew_gen;
use super::prog::{Prog, Ty};
use super::JitError;
use ingot_ir::{Dim, Graph};
use ingot_runtime::{Arg, Ctx, Kernel, KernelError, RangeKernel};
use rayon::prelude::*;
use std::sync::{Arc, Mutex, RwLock};

/// Outputs at least this large are split across threads (workers spin
/// during a run, so 16K elements already pay: BERT-tiny 2 threads 1.43 →
/// 1.30 ms against 64K).
pub const PAR_MIN: usize = 1 << 14;

/// A compiled `fused {kind="elementwise"}` body.
pub struct ElementwiseKernel {
    prog: Prog,
    ops: usize,
    primary: (Vec<bool>, Code),
    others: Mutex<Vec<(Vec<bool>, Arc<Code>)>>,
    /// The last operand shapes `run_range` saw, with their layout and code:
    /// an epilogue is called once per tile row with the same shapes, and
    /// recomputing the layout each time cost ~15% of MobileNetV2.
    last: RwLock<Option<Arc<Resolved>>>,
}

/// A layout and its code for one set of operand shapes.
struct Resolved {
    shapes: Vec<Vec<usize>>,
    layout: Layout,
    code: Option<Arc<Code>>,
}

/// The operands' layout for one run: merged axes and per-operand element
/// strides (inputs, then outputs).
struct Layout {
    dims: Vec<usize>,
    strides: Vec<Vec<usize>>,
    sizes: Vec<usize>,
    contig: Vec<bool>,
}

impl ElementwiseKernel {
    pub(crate) fn new(body: &Graph, prog: Prog) -> Result<ElementwiseKernel, JitError> {
        let contig = predict(body, &prog);
        let code = ew_gen::compile(&prog, &contig)?;
        Ok(ElementwiseKernel {
            ops: body.order().len(),
            prog,
            primary: (contig, code),
            others: Mutex::new(vec![]),
            last: RwLock::new(None),
        })
    }

    fn layout(&self, ins: &[Arg], outs: &[Arg]) -> Result<Layout, KernelError> {
        let p = &self.prog;
        if ins.len() != p.inputs.len() || outs.len() != p.outputs.len() {
            return Err(KernelError(format!(
                "jit elementwise: expected {} input(s) and {} output(s), got {} and {}",
                p.inputs.len(),
                p.outputs.len(),
                ins.len(),
                outs.len()
            )));
        }
        let shape = outs[0].shape;
        let mut sizes = vec![];
        let mut full: Vec<Vec<usize>> = vec![];
        for (k, a) in ins.iter().enumerate() {
            let Some(t) = p.inputs[k] else {
                sizes.push(1);
                full.push(vec![0; shape.len()]);
                continue;
            };
            check_dtype(a, t, "input", k)?;
            full.push(broadcast_strides(a.shape, shape).ok_or_else(|| {
                KernelError(format!(
                    "jit elementwise: input {k} of shape {:?} does not broadcast to {shape:?}",
                    a.shape
                ))
            })?);
            sizes.push(t.size());
        }
        for (j, (a, t)) in outs.iter().zip(p.out_tys()).enumerate() {
            check_dtype(a, t, "output", j)?;
            if a.shape != shape {
                return Err(KernelError(format!(
                    "jit elementwise: output {j} has shape {:?}, output 0 {shape:?}",
                    a.shape
                )));
            }
            full.push(broadcast_strides(shape, shape).expect("same shape"));
            sizes.push(t.size());
        }
        // Drop size-1 axes, then merge neighbours that stay linear for all.
        let (dims, strides) = merge_axes(shape, &full, (0..shape.len()).collect());
        let contig = if dims[dims.len() - 1] == 1 {
            self.primary.0.clone()
        } else {
            strides[..ins.len()]
                .iter()
                .map(|s| s[s.len() - 1] == 1)
                .collect()
        };
        Ok(Layout {
            dims,
            strides,
            sizes,
            contig,
        })
    }

    fn code(&self, contig: &[bool]) -> Result<Option<Arc<Code>>, KernelError> {
        let relevant = |a: &[bool], b: &[bool]| {
            (0..a.len()).all(|k| self.prog.inputs[k].is_none() || a[k] == b[k])
        };
        if relevant(contig, &self.primary.0) {
            return Ok(None);
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = others.iter().find(|(p, _)| relevant(p, contig)) {
            return Ok(Some(c.clone()));
        }
        let c =
            Arc::new(ew_gen::compile(&self.prog, contig).map_err(|e| KernelError(e.to_string()))?);
        others.push((contig.to_vec(), c.clone()));
        Ok(Some(c))
    }

    /// Compute output elements `[begin, end)`.
    ///
    /// # Safety
    /// As [`Kernel::run`]; `begin <= end <= numel`.
    unsafe fn range(
        &self,
        ins: &[Arg],
        outs: &[Arg],
        l: &Layout,
        code: &Code,
        begin: usize,
        end: usize,
    ) {
        let n = l.dims.len();
        let len = l.dims[n - 1];
        let (rows_dim, rs): (usize, Vec<i64>) = if n >= 2 {
            let rs = l
                .strides
                .iter()
                .zip(&l.sizes)
                .map(|(s, &z)| (s[n - 2] * z) as i64)
                .collect();
            (l.dims[n - 2], rs)
        } else {
            (1, vec![0; l.strides.len()])
        };
        let bases: Vec<*mut u8> = ins.iter().chain(outs).map(|a| a.ptr).collect();
        let mut ptrs = bases.clone();
        let mut pos = begin;
        while pos < end {
            // Multi-index of `pos` over the merged dims.
            let (mut rest, j) = (pos / len, pos % len);
            let row = rest % rows_dim;
            let mut off: Vec<usize> = l.strides.iter().map(|s| j * s[n - 1]).collect();
            if n >= 2 {
                off.iter_mut()
                    .zip(&l.strides)
                    .for_each(|(o, s)| *o += row * s[n - 2]);
                rest /= rows_dim;
                for a in (0..n - 2).rev() {
                    let ia = rest % l.dims[a];
                    rest /= l.dims[a];
                    off.iter_mut()
                        .zip(&l.strides)
                        .for_each(|(o, s)| *o += ia * s[a]);
                }
            }
            for (k, p) in ptrs.iter_mut().enumerate() {
                *p = bases[k].wrapping_add(off[k] * l.sizes[k]);
            }
            let (rows, run) = if j != 0 || end - pos < len {
                (1, (len - j).min(end - pos))
            } else {
                ((rows_dim - row).min((end - pos) / len), len)
            };
            // SAFETY: every pointer addresses element `pos` (broadcast) of
            // its operand; `rows` rows of `run` elements stay inside the
            // current plane and inside `[begin, end)` of the output.
            code.call(rows, run, &ptrs, &rs);
            pos += if rows == 1 { run } else { rows * len };
        }
    }

    unsafe fn run_checked(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let Some(first) = outs.first() else {
            return Ok(());
        };
        let numel = first.numel();
        if numel == 0 {
            return Ok(());
        }
        let l = self.layout(ins, outs)?;
        let extra = self.code(&l.contig)?;
        let code = extra.as_deref().unwrap_or(&self.primary.1);
        if cx.threads > 1 && numel >= PAR_MIN {
            let chunks = (cx.threads * 4).min(numel / 4096).max(1);
            let per = numel.div_ceil(chunks).next_multiple_of(64);
            (0..numel.div_ceil(per)).into_par_iter().for_each(|c| {
                let (b, e) = (c * per, ((c + 1) * per).min(numel));
                // SAFETY: chunks write disjoint output ranges.
                unsafe { self.range(ins, outs, &l, code, b, e) }
            });
        } else {
            self.range(ins, outs, &l, code, 0, numel);
        }
        Ok(())
    }
}

fn check_dtype(a: &Arg, t: Ty, what: &str, k: usize) -> Result<(), KernelError> {
    if a.dtype != t.dtype() {
        return Err(KernelError(format!(
            "jit elementwise: {what} {k} is {}, compiled for {}",
            a.dtype,
            t.dtype()
        )));
    }
    Ok(())
}

/// Element strides of `shape` broadcast (numpy, right-aligned) to `out`;
/// broadcast axes get 0. `None` if it does not broadcast.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Option<Vec<usize>> {
    if shape.len() > out.len() {
        return None;
    }
    let off = out.len() - shape.len();
    let mut st = vec![0; out.len()];
    let mut acc = 1;
    for a in (0..shape.len()).rev() {
        let d = shape[a];
        if d != out[a + off] && d != 1 {
            return None;
        }
        st[a + off] = if d == 1 { 0 } else { acc };
        acc *= d;
    }
    Some(st)
}

/// The contiguous/splat pattern the body's types imply for the innermost
/// merged axis: an input is splat when its dim on the innermost non-1
/// output axis is 1 (or missing).
fn predict(body: &Graph, prog: &Prog) -> Vec<bool> {
    let out = body
        .outputs()
        .first()
        .map(|&v| body.ty(v).shape.clone())
        .unwrap_or_default();
    let inner = out.iter().rposition(|d| *d != Dim::Known(1));
    body.inputs()
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let (Some(a), Some(_)) = (inner, prog.inputs[k]) else {
                return true;
            };
            let s = &body.ty(v).shape;
            let off = out.len() as isize - s.len() as isize;
            let ia = a as isize - off;
            ia >= 0 && s[ia as usize] != Dim::Known(1)
        })
        .collect()
}

impl Kernel for ElementwiseKernel {
    fn describe(&self) -> String {
        format!("jit elementwise ({} ops)", self.ops)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        self.run_checked(ins, outs, cx)
    }
}

impl RangeKernel for ElementwiseKernel {
    fn describe(&self) -> String {
        Kernel::describe(self)
    }

    /// Panics if the operands do not match the compiled body (an executor
    /// bug: `run` reports the same mismatch as an error).
    unsafe fn run_range(&self, ins: &[Arg], outs: &[Arg], begin: usize, end: usize) {
        if begin >= end {
            return;
        }
        let same = |r: &Resolved| {
            r.shapes.len() == ins.len() + outs.len()
                && ins
                    .iter()
                    .chain(outs)
                    .zip(&r.shapes)
                    .all(|(a, s)| a.shape == s.as_slice())
        };
        let cached = self
            .last
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|r| same(r))
            .cloned();
        let r = match cached {
            Some(r) => r,
            None => {
                let layout = self
                    .layout(ins, outs)
                    .unwrap_or_else(|e| panic!("run_range: {e}"));
                let code = self.code(&layout.contig).unwrap_or_else(|e| panic!("{e}"));
                let shapes = ins.iter().chain(outs).map(|a| a.shape.to_vec()).collect();
                let r = Arc::new(Resolved {
                    shapes,
                    layout,
                    code,
                });
                *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
                r
            }
        };
        let code = r.code.as_deref().unwrap_or(&self.primary.1);
        self.range(ins, outs, &r.layout, code, begin, end);
    }
}

/// Merge the loop axes `axes` of `shape` (size-1 axes are dropped) where
/// every operand's element strides (`full[k][axis]`) stay linear across
/// the pair; returns the merged dims and each operand's strides over them
/// (one stride-0 axis of size 1 when nothing is left).
pub(crate) fn merge_axes(
    shape: &[usize],
    full: &[Vec<usize>],
    axes: Vec<usize>,
) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut dims: Vec<usize> = vec![];
    let mut strides: Vec<Vec<usize>> = vec![vec![]; full.len()];
    for a in axes.into_iter().filter(|&a| shape[a] != 1) {
        let merge = !dims.is_empty()
            && full
                .iter()
                .zip(&strides)
                .all(|(f, s)| s[s.len() - 1] == f[a] * shape[a]);
        if merge {
            *dims.last_mut().expect("nonempty") *= shape[a];
            for (f, s) in full.iter().zip(&mut strides) {
                *s.last_mut().expect("nonempty") = f[a];
            }
        } else {
            dims.push(shape[a]);
            for (f, s) in full.iter().zip(&mut strides) {
                s.push(f[a]);
            }
        }
    }
    if dims.is_empty() {
        dims.push(1);
        strides.iter_mut().for_each(|s| s.push(0));
    }
    (dims, strides)
}
