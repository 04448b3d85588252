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

use super::{CodeGen, EwSpec};
use crate::code::{CodeFn, CodeImage};
use crate::kernel::{Arg, Ctx, Kernel, KernelError, RangeKernel};
use ingot_ir::DType;
use rayon::prelude::*;
use std::sync::{Arc, Mutex, RwLock};

/// Outputs at least this large are split across threads (workers spin
/// during a run, so 16K elements already pay: BERT-tiny 2 threads 1.43 →
/// 1.30 ms against 64K).
pub const PAR_MIN: usize = 1 << 14;

/// A compiled `fused {kind="elementwise"}` body.
pub struct ElementwiseKernel {
    spec: EwSpec,
    primary: (Vec<bool>, CodeFn),
    others: Mutex<Vec<(Vec<bool>, CodeFn)>>,
    gen: Option<Arc<dyn CodeGen>>,
    /// The last operand shapes `run_range` saw, with their layout and code:
    /// an epilogue is called once per tile row with the same shapes, and
    /// recomputing the layout each time cost ~15% of MobileNetV2.
    last: RwLock<Option<Arc<Resolved>>>,
}

/// A layout and its code for one set of operand shapes.
struct Resolved {
    shapes: Vec<Vec<usize>>,
    layout: Layout,
    code: Option<CodeFn>,
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
    /// The kernel for `spec`, whose functions are in `code`; `gen`
    /// compiles patterns met at run time that `spec` lacks.
    pub fn new(
        spec: EwSpec,
        code: &Arc<CodeImage>,
        gen: Option<Arc<dyn CodeGen>>,
    ) -> Result<ElementwiseKernel, String> {
        let mut fns = vec![];
        for (pat, i) in &spec.variants {
            if pat.len() != spec.inputs.len() {
                return Err(format!(
                    "elementwise pattern {pat:?} does not fit {} inputs",
                    spec.inputs.len()
                ));
            }
            let f = code
                .func(*i)
                .ok_or_else(|| format!("elementwise kernel: no function {i} in the code"))?;
            fns.push((pat.clone(), f));
        }
        if spec.outputs.is_empty() {
            return Err("elementwise kernel without outputs".into());
        }
        let mut fns = fns.into_iter();
        let primary = fns.next().ok_or("elementwise kernel without code")?;
        Ok(ElementwiseKernel {
            primary,
            others: Mutex::new(fns.collect()),
            gen,
            spec,
            last: RwLock::new(None),
        })
    }

    pub fn spec(&self) -> &EwSpec {
        &self.spec
    }

    fn layout(&self, ins: &[Arg], outs: &[Arg]) -> Result<Layout, KernelError> {
        let p = &self.spec;
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
        for (j, (a, &t)) in outs.iter().zip(&p.outputs).enumerate() {
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

    fn code(&self, contig: &[bool]) -> Result<Option<CodeFn>, KernelError> {
        let relevant = |a: &[bool], b: &[bool]| {
            (0..a.len()).all(|k| self.spec.inputs[k].is_none() || a[k] == b[k])
        };
        if relevant(contig, &self.primary.0) {
            return Ok(None);
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = others.iter().find(|(p, _)| relevant(p, contig)) {
            return Ok(Some(c.clone()));
        }
        let Some(gen) = &self.gen else {
            return Err(KernelError(format!(
                "jit elementwise: no code for access pattern {contig:?} (contiguous inputs) in \
                 this artifact; these shapes need a recompile"
            )));
        };
        let bytes = gen
            .elementwise(self.spec.gen_id, contig)
            .map_err(KernelError)?;
        // SAFETY: the code generator's output has the kernel ABI and no
        // external references (its contract).
        let c = unsafe { CodeFn::single(&bytes) }.map_err(KernelError)?;
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
        code: &CodeFn,
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
        let code = extra.as_ref().unwrap_or(&self.primary.1);
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

fn check_dtype(a: &Arg, t: DType, what: &str, k: usize) -> Result<(), KernelError> {
    if a.dtype != t {
        return Err(KernelError(format!(
            "jit elementwise: {what} {k} is {}, compiled for {t}",
            a.dtype,
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

impl Kernel for ElementwiseKernel {
    fn describe(&self) -> String {
        format!("jit elementwise ({} ops)", self.spec.ops)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        self.run_checked(ins, outs, cx)
    }
}

impl ElementwiseKernel {
    /// The layout and code for these operand shapes (cached: an epilogue
    /// sees the same shapes on every tile).
    fn resolve(&self, ins: &[Arg], outs: &[Arg]) -> Result<Arc<Resolved>, KernelError> {
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
        if let Some(r) = cached {
            return Ok(r);
        }
        let layout = self.layout(ins, outs)?;
        let code = self.code(&layout.contig)?;
        let shapes = ins.iter().chain(outs).map(|a| a.shape.to_vec()).collect();
        let r = Arc::new(Resolved {
            shapes,
            layout,
            code,
        });
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
        Ok(r)
    }
}

impl RangeKernel for ElementwiseKernel {
    fn describe(&self) -> String {
        Kernel::describe(self)
    }

    fn prepare(&self, ins: &[Arg], outs: &[Arg]) -> Result<(), KernelError> {
        self.resolve(ins, outs).map(|_| ())
    }

    /// Panics if the operands do not match the compiled body: `prepare`,
    /// which callers run first with the same shapes, reports that as an
    /// error.
    unsafe fn run_range(&self, ins: &[Arg], outs: &[Arg], begin: usize, end: usize) {
        if begin >= end {
            return;
        }
        let r = self
            .resolve(ins, outs)
            .unwrap_or_else(|e| panic!("run_range without a successful prepare: {e}"));
        let code = r.code.as_ref().unwrap_or(&self.primary.1);
        self.range(ins, outs, &r.layout, code, begin, end);
    }
}

/// Merge the loop axes `axes` of `shape` (size-1 axes are dropped) where
/// every operand's element strides (`full[k][axis]`) stay linear across
/// the pair; returns the merged dims and each operand's strides over them
/// (one stride-0 axis of size 1 when nothing is left).
pub fn merge_axes(
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
