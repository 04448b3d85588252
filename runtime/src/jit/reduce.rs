//! The row-reduction kernel object: concrete shapes → the row space S →
//! per-operand row strides → calls of the JIT'd row loop (`reduce_gen.rs`).
//!
//! At run time S is the broadcast of every operand's shape (inputs aligned
//! to S, or to R' = S[..k] when they feed per-row values; outputs of rank k
//! padded with trailing 1s), checked against the dims the body's types
//! know. Rows are the elements of S[..k]; a row is the `len` = Π S[k..]
//! elements of the trailing axes. Within a row an input is contiguous (its
//! trailing strides are S's), per-row (trailing strides 0), or otherwise
//! broadcast (gamma `[C]` of a norm over `[H, C]`): the last kind is gathered
//! into a contiguous scratch buffer first. The outer axes are merged where
//! every operand's strides allow (the attention mask `[B,1,1,T]` on
//! `[B,H,T,T]` gives B calls of H·T rows); the innermost merged axis is the
//! JIT loop's, the others are looped here. Rows split across rayon when
//! `cx.threads > 1` and S has ≥ [`PAR_MIN`] elements.
//!
//! Tolerance vs the interpreter (which accumulates in f64): sums are f32
//! partial sums (16 lanes, then the tail), so a reduction of `n` terms has
//! relative error ≲ (n/16 + 6)·6e-8 of Σ|terms|; with the `exp`/`log` of
//! `math.rs` (≤ 2e-7) softmax, log_softmax, layer_norm and rms_norm rows up
//! to 4096 stay within `|a-b| <= 1e-5·max(1,|b|)` on inputs of moderate
//! spread (tested). Max/min, and everything else, are exact.

use super::ew::merge_axes;
use super::{CodeGen, Pattern, ReduceSpec, Space, PAR_MIN};
use crate::code::{CodeFn, CodeImage};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::Dim;
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// A compiled `fused {kind="reduce"}` body.
pub struct ReduceKernel {
    rp: ReduceSpec,
    primary: (Pattern, CodeFn),
    others: Mutex<Vec<(Pattern, CodeFn)>>,
    gen: Option<Arc<dyn CodeGen>>,
}

/// One run's geometry: merged outer dims, per-operand outer strides
/// (elements), element sizes, and the gathered copies of inputs.
struct Layout {
    dims: Vec<usize>,
    strides: Vec<Vec<usize>>,
    sizes: Vec<usize>,
    ptrs: Vec<*mut u8>,
    len: usize,
    rows: usize,
    pat: Pattern,
    _scratch: Vec<Vec<u8>>,
}

// SAFETY: the raw pointers address the caller's buffers (valid for the whole
// `run`, which is when the layout lives) or `_scratch`, owned here; threads
// only read inputs and write disjoint rows of outputs.
unsafe impl Sync for Layout {}

/// Whether an output's bytes overlap a used input's (then no output may
/// hold intermediate values before the last pass).
fn overlap(ins: &[Arg], outs: &[Arg], p: &ReduceSpec) -> bool {
    let span = |a: &Arg, size: usize| {
        let b = a.ptr as usize;
        (b, b + a.shape.iter().product::<usize>() * size)
    };
    outs.iter().zip(&p.outputs).any(|(o, t)| {
        let (ob, oe) = span(o, t.size());
        ins.iter().zip(&p.inputs).any(|(i, t)| {
            t.is_some_and(|t| {
                let (ib, ie) = span(i, t.size());
                ib < oe && ob < ie
            })
        })
    })
}

fn err(msg: String) -> KernelError {
    KernelError(format!("jit reduce: {msg}"))
}

/// Row-major element strides of `shape`.
fn contiguous(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![0; shape.len()];
    let mut acc = 1;
    for a in (0..shape.len()).rev() {
        st[a] = acc;
        acc *= shape[a];
    }
    st
}

/// `shape` right-aligned to rank `rank`, padded with `pad` trailing 1s
/// (`None` if it is longer).
fn aligned(shape: &[usize], rank: usize, pad: usize) -> Option<Vec<usize>> {
    let lead = rank.checked_sub(shape.len())?;
    let mut v = vec![1; lead];
    v.extend_from_slice(shape);
    v.extend(std::iter::repeat_n(1, pad));
    Some(v)
}

impl ReduceKernel {
    /// The kernel for `spec`, whose functions are in `code`; `gen`
    /// compiles patterns met at run time that `spec` lacks.
    pub fn new(
        spec: ReduceSpec,
        code: &Arc<CodeImage>,
        gen: Option<Arc<dyn CodeGen>>,
    ) -> Result<ReduceKernel, String> {
        let (r, k) = (spec.s.len(), spec.k);
        if k > r
            || spec.in_space.len() != spec.inputs.len()
            || spec.out_space.len() != spec.outputs.len()
        {
            return Err(format!(
                "reduce kernel: inconsistent spec (k={k}, rank {r}, {} inputs / {} spaces, {} outputs / {} spaces)",
                spec.inputs.len(),
                spec.in_space.len(),
                spec.outputs.len(),
                spec.out_space.len()
            ));
        }
        let mut fns = vec![];
        for (pat, i) in &spec.variants {
            if pat.contig.len() != spec.inputs.len() || pat.full.len() != spec.outputs.len() {
                return Err(format!("reduce pattern {pat:?} does not fit the body"));
            }
            let f = code
                .func(*i)
                .ok_or_else(|| format!("reduce kernel: no function {i} in the code"))?;
            fns.push((pat.clone(), f));
        }
        let mut fns = fns.into_iter();
        let primary = fns.next().ok_or("reduce kernel without code")?;
        Ok(ReduceKernel {
            rp: spec,
            primary,
            others: Mutex::new(fns.collect()),
            gen,
        })
    }

    pub fn spec(&self) -> &ReduceSpec {
        &self.rp
    }

    /// The operands' shapes aligned to rank r (inputs, then outputs).
    fn aligned_shapes(&self, ins: &[Arg], outs: &[Arg]) -> Result<Vec<Vec<usize>>, KernelError> {
        let (r, k) = (self.rp.s.len(), self.rp.k);
        let spaces = self
            .rp
            .in_space
            .iter()
            .chain(self.rp.out_space.iter().map(|o| &o.0));
        ins.iter()
            .chain(outs)
            .zip(spaces)
            .enumerate()
            .map(|(i, (a, sp))| {
                let al = match sp {
                    Space::Row => aligned(a.shape, r, 0),
                    Space::Dropped => aligned(a.shape, k, r - k),
                };
                al.ok_or_else(|| err(format!("operand {i} has rank {} > {r}", a.shape.len())))
            })
            .collect()
    }

    fn layout(&self, ins: &[Arg], outs: &[Arg]) -> Result<Layout, KernelError> {
        let p = &self.rp;
        if ins.len() != p.inputs.len() || outs.len() != p.outputs.len() {
            return Err(err(format!(
                "expected {} input(s) and {} output(s), got {} and {}",
                p.inputs.len(),
                p.outputs.len(),
                ins.len(),
                outs.len()
            )));
        }
        for (j, (a, t)) in ins.iter().zip(&p.inputs).enumerate() {
            if let Some(t) = t.filter(|&t| t != a.dtype) {
                return Err(err(format!("input {j} is {}, compiled for {t}", a.dtype)));
            }
        }
        for (j, (a, &t)) in outs.iter().zip(&p.outputs).enumerate() {
            if t != a.dtype {
                return Err(err(format!("output {j} is {}, compiled for {t}", a.dtype)));
            }
        }
        let (r, k) = (self.rp.s.len(), self.rp.k);
        let al = self.aligned_shapes(ins, outs)?;
        // S: the broadcast of every used operand.
        let mut s = vec![1usize; r];
        for (i, sh) in al.iter().enumerate() {
            if i < ins.len() && p.inputs[i].is_none() {
                continue;
            }
            for (d, &x) in s.iter_mut().zip(sh) {
                if x != 1 {
                    if *d != 1 && *d != x {
                        return Err(err(format!(
                            "operand {i} of shape {sh:?} does not fit {s:?}"
                        )));
                    }
                    *d = x;
                }
            }
        }
        for (a, d) in self.rp.s.iter().enumerate() {
            if matches!(d, Dim::Known(n) if *n as usize != s[a]) {
                return Err(err(format!(
                    "row space {s:?} differs from the body's {:?}",
                    self.rp.s
                )));
            }
        }
        let rows: usize = s[..k].iter().product();
        let len: usize = s[k..].iter().product();
        let sst = contiguous(&s);
        let rst = contiguous(&s[..k]);
        let mut pat = Pattern {
            contig: vec![true; ins.len()],
            full: vec![true; outs.len()],
            spill: !overlap(ins, outs, p),
        };
        let mut full_strides: Vec<Vec<usize>> = vec![];
        let mut sizes = vec![];
        let mut ptrs = vec![];
        let mut scratch = vec![];
        for (i, a) in ins.iter().enumerate() {
            sizes.push(p.inputs[i].map_or(1, |t| t.size()));
            if p.inputs[i].is_none() {
                full_strides.push(vec![0; r]);
                ptrs.push(a.ptr);
                continue;
            }
            let sh = &al[i];
            let st: Vec<usize> = contiguous(sh)
                .iter()
                .zip(sh)
                .map(|(&x, &d)| if d == 1 { 0 } else { x })
                .collect();
            let inner = (k..r).filter(|&a| s[a] != 1);
            let contig = inner.clone().all(|a| st[a] == sst[a]);
            let splat = inner.clone().all(|a| st[a] == 0);
            pat.contig[i] = if len == 1 {
                self.primary.0.contig[i]
            } else {
                !splat
            };
            if splat || contig {
                full_strides.push(st);
                ptrs.push(a.ptr);
                continue;
            }
            // Gather one row's pattern (or all of S when it varies per row).
            let per_row = (0..k).any(|a| st[a] != 0);
            let n = if per_row { rows * len } else { len };
            let z = sizes[i];
            let mut buf = vec![0u8; n * z];
            let mut idx = vec![0usize; r];
            for e in 0..n {
                let mut rem = e;
                for a in (0..r).rev() {
                    idx[a] = rem % s[a];
                    rem /= s[a];
                }
                let off: usize = idx.iter().zip(&st).map(|(x, y)| x * y).sum();
                // SAFETY: `off` indexes the input, whose shape broadcasts to S.
                let src = unsafe { std::slice::from_raw_parts(a.ptr.add(off * z), z) };
                buf[e * z..(e + 1) * z].copy_from_slice(src);
            }
            // The copy is contiguous: S's strides, or none across rows.
            let mut st = sst.clone();
            if !per_row {
                st[..k].fill(0);
            }
            full_strides.push(st);
            ptrs.push(buf.as_mut_ptr());
            scratch.push(buf);
        }
        for (j, a) in outs.iter().enumerate() {
            let sh = &al[ins.len() + j];
            let is_full = *sh == s;
            let is_row = sh[..k] == s[..k] && sh[k..].iter().all(|&d| d == 1);
            if !is_full && !is_row {
                return Err(err(format!(
                    "output {j} of shape {:?} is not S or R of {s:?}",
                    a.shape
                )));
            }
            pat.full[j] = if len == 1 {
                self.primary.0.full[j]
            } else {
                is_full
            };
            let mut st = if pat.full[j] {
                sst.clone()
            } else {
                rst.clone()
            };
            st.resize(r, 0);
            full_strides.push(st);
            sizes.push(p.outputs[j].size());
            ptrs.push(a.ptr);
        }
        // Outer axes: drop 1s, merge neighbours that stay linear for all.
        let (dims, strides) = merge_axes(&s, &full_strides, (0..k).collect());
        Ok(Layout {
            dims,
            strides,
            sizes,
            ptrs,
            len,
            rows,
            pat,
            _scratch: scratch,
        })
    }

    fn code(&self, pat: &Pattern) -> Result<Option<CodeFn>, KernelError> {
        let relevant = |a: &Pattern, b: &Pattern| {
            a.full == b.full
                && a.spill == b.spill
                && (0..a.contig.len())
                    .all(|k| self.rp.inputs[k].is_none() || a.contig[k] == b.contig[k])
        };
        if relevant(pat, &self.primary.0) {
            return Ok(None);
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = others.iter().find(|(p, _)| relevant(p, pat)) {
            return Ok(Some(c.clone()));
        }
        let Some(gen) = &self.gen else {
            return Err(err(format!(
                "no code for access pattern {pat:?} in this artifact; these shapes need a recompile"
            )));
        };
        let bytes = gen.reduce(self.rp.gen_id, pat).map_err(err)?;
        // SAFETY: the code generator's output has the kernel ABI and no
        // external references (its contract).
        let c = unsafe { CodeFn::single(&bytes) }.map_err(err)?;
        others.push((pat.clone(), c.clone()));
        Ok(Some(c))
    }

    /// Compute rows `[begin, end)`.
    ///
    /// # Safety
    /// As [`Kernel::run`]; `begin <= end <= rows`.
    unsafe fn range(&self, l: &Layout, code: &CodeFn, begin: usize, end: usize) {
        let n = l.dims.len();
        let inner = l.dims[n - 1];
        let rs: Vec<i64> = l
            .strides
            .iter()
            .zip(&l.sizes)
            .map(|(s, &z)| (s[n - 1] * z) as i64)
            .collect();
        let mut ptrs = l.ptrs.clone();
        let mut pos = begin;
        while pos < end {
            let (mut rest, j) = (pos / inner, pos % inner);
            let mut off: Vec<usize> = l.strides.iter().map(|s| j * s[n - 1]).collect();
            for a in (0..n - 1).rev() {
                let ia = rest % l.dims[a];
                rest /= l.dims[a];
                off.iter_mut()
                    .zip(&l.strides)
                    .for_each(|(o, s)| *o += ia * s[a]);
            }
            for (k, p) in ptrs.iter_mut().enumerate() {
                *p = l.ptrs[k].wrapping_add(off[k] * l.sizes[k]);
            }
            let rows = (inner - j).min(end - pos);
            // SAFETY: every pointer addresses row `pos` of its operand; the
            // `rows` rows stay inside the current run of the innermost
            // merged axis, where each operand advances by its stride.
            code.call(rows, l.len, &ptrs, &rs);
            pos += rows;
        }
    }

    unsafe fn run_checked(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let l = self.layout(ins, outs)?;
        if l.rows == 0 {
            return Ok(());
        }
        let extra = self.code(&l.pat)?;
        let code = extra.as_ref().unwrap_or(&self.primary.1);
        let rows = l.rows;
        if cx.threads > 1 && rows >= 2 && rows * l.len >= PAR_MIN {
            let chunks = (cx.threads * 4).min(rows);
            let per = rows.div_ceil(chunks);
            (0..rows.div_ceil(per)).into_par_iter().for_each(|c| {
                let (b, e) = (c * per, ((c + 1) * per).min(rows));
                // SAFETY: chunks write disjoint rows of the outputs.
                unsafe { self.range(&l, code, b, e) }
            });
        } else {
            self.range(&l, code, 0, rows);
        }
        Ok(())
    }
}

impl Kernel for ReduceKernel {
    fn describe(&self) -> String {
        format!("jit reduce ({} ops)", self.rp.ops)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        self.run_checked(ins, outs, cx)
    }
}
