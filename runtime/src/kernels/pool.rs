//! Pooling on f32 NCHW tensors with 1 to 3 spatial axes: `max_pool` (values
//! only), `average_pool` (`count_include_pad`, `ceil_mode`, pads, dilations),
//! `global_average_pool`, `global_max_pool`.
//!
//! Semantics are the interpreter's (`ir/src/interp/pool.rs`): max takes the
//! largest inside tap and NaN wins; a window with no inside tap gives
//! `-inf`. Average divides the sum of inside taps by their count, or with
//! `count_include_pad` by inside + declared-padding taps (taps that
//! `ceil_mode` pushed past the end padding never count); an empty window is
//! 0/0 = NaN. Sums are f32 (tolerance vs the f64 interpreter: see tests).
//!
//! Each plane is computed an output row at a time: per tap, the valid output
//! range is computed up front and the inner loop is a branch-free max/add
//! over it (compiled generic and with AVX2, chosen at run time). Planes are
//! split across threads when the work is big enough.

use super::conv::geom::{valid_run, Geom, Spec};
use super::pack::{self, arg_f32, err, want_f32, Grid};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{DType, Op, TensorType};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Max,
    Avg { count_include_pad: bool },
    GlobalMax,
    GlobalAvg,
}

/// A pooling op.
pub struct PoolKernel {
    kind: Kind,
    /// The window (absent for global pools).
    spec: Option<Spec>,
    /// `u8`/`i8` for max pools of quantized values (else f32).
    int: Option<DType>,
}

impl PoolKernel {
    /// `op` is one of the four pools; `with_indices` says whether max_pool's
    /// second result (indices) is used — not supported here.
    pub fn new(op: &Op, x: &TensorType, with_indices: bool) -> Result<PoolKernel, KernelError> {
        let name = op.name();
        let int = matches!(x.dtype, DType::U8 | DType::I8).then_some(x.dtype);
        if int.is_none() || !matches!(op, Op::MaxPool { .. }) {
            want_f32(name, "input", x)?;
        }
        if !(3..=5).contains(&x.shape.len()) {
            return err(format!(
                "{name}: input rank {} is not 3 to 5",
                x.shape.len()
            ));
        }
        let ks = |k: &[i64]| -> Result<Vec<usize>, KernelError> {
            if k.len() != x.shape.len() - 2 || k.iter().any(|&v| v < 1) {
                return err(format!(
                    "{name}: kernel_shape {k:?} does not fit input rank {}",
                    x.shape.len()
                ));
            }
            Ok(k.iter().map(|&v| v as usize).collect())
        };
        let (kind, spec) = match op {
            Op::MaxPool {
                kernel_shape,
                strides,
                pads,
                dilations,
                ceil_mode,
                auto_pad,
                ..
            } => {
                if with_indices {
                    return err("max_pool: the indices result is not supported by the CPU kernel");
                }
                let spec = Spec::new(
                    name,
                    &ks(kernel_shape)?,
                    strides,
                    pads,
                    dilations,
                    *auto_pad,
                    *ceil_mode,
                )?;
                (Kind::Max, Some(spec))
            }
            Op::AveragePool {
                kernel_shape,
                strides,
                pads,
                dilations,
                ceil_mode,
                auto_pad,
                count_include_pad,
            } => {
                let spec = Spec::new(
                    name,
                    &ks(kernel_shape)?,
                    strides,
                    pads,
                    dilations,
                    *auto_pad,
                    *ceil_mode,
                )?;
                let kind = Kind::Avg {
                    count_include_pad: *count_include_pad,
                };
                (kind, Some(spec))
            }
            Op::GlobalMaxPool => (Kind::GlobalMax, None),
            Op::GlobalAveragePool => (Kind::GlobalAvg, None),
            _ => return err(format!("PoolKernel built from {name}")),
        };
        Ok(PoolKernel { kind, spec, int })
    }
}

impl PoolKernel {
    /// Max pooling of `u8`/`i8` values (a quantized model's pools run on
    /// the integers: dequantization is monotonic). Windows wholly in the
    /// padding give the type's minimum.
    ///
    /// # Safety
    /// `x` and `out` are live buffers of `T` with their shapes.
    unsafe fn run_int<T: Copy + Ord + Send + Sync + Bounded>(
        &self,
        x: &Arg,
        out: &Arg,
        cx: &Ctx,
    ) -> Result<(), KernelError> {
        let xs = x.shape;
        if !(3..=5).contains(&xs.len()) {
            return err(format!("pool: input {xs:?} is not rank 3 to 5"));
        }
        let (planes, hwi) = (xs[0] * xs[1], xs[2..].iter().product::<usize>());
        // SAFETY: per this function's contract.
        let (xv, yv) = unsafe { (x.slice::<T>(), out.slice_mut::<T>()) };
        let Some(spec) = &self.spec else {
            return err("pool: integer pools are windowed max pools only");
        };
        let g = spec.forward("pool", &xs[2..])?;
        let mut want = xs[..2].to_vec();
        want.extend_from_slice(&g.o[3 - spec.nsp..]);
        if out.shape != want.as_slice() {
            return err(format!(
                "pool: input {xs:?} gives {want:?}, result is {:?}",
                out.shape
            ));
        }
        let hwo = g.out_size();
        let par = cx.threads > 1 && (planes * hwo * g.taps()) as f64 >= pack::PAR_MIN_FLOPS / 4.0;
        let one = |(p, o): (usize, &mut [T])| {
            // SAFETY: plane `p` of the input has `hwi` elements.
            unsafe { plane_int(xv[p * hwi..].as_ptr(), o, &g) };
        };
        if par {
            use rayon::prelude::*;
            yv.par_chunks_mut(hwo).enumerate().for_each(one);
        } else {
            yv.chunks_mut(hwo).enumerate().for_each(one);
        }
        Ok(())
    }
}

/// The smallest value of an integer type.
pub(crate) trait Bounded {
    const LOWEST: Self;
}

impl Bounded for u8 {
    const LOWEST: u8 = 0;
}

impl Bounded for i8 {
    const LOWEST: i8 = i8::MIN;
}

/// One plane of an integer max pool.
///
/// # Safety
/// `inp` holds the input plane of `g`; `out` is its output plane.
unsafe fn plane_int<T: Copy + Ord + Bounded>(inp: *const T, out: &mut [T], g: &Geom) {
    let row_max = |row: &mut [T], src: *const T, sx: usize| {
        for (j, o) in row.iter_mut().enumerate() {
            // SAFETY: `windows` hands a source holding the row's taps.
            *o = (*o).max(unsafe { *src.add(j * sx) });
        }
    };
    windows(inp, out.as_mut_ptr(), g, T::LOWEST, row_max, |_, _, _| {});
}

#[inline(always)]
fn nanmax(r: f32, v: f32) -> f32 {
    // NaN wins, and once the running value is NaN it stays.
    if v > r || v.is_nan() {
        v
    } else {
        r
    }
}

/// How many taps of a window of `k` taps (dilation `d`) at output `o` count
/// on an axis of size `n` with pads `pb`, `pe`: inside taps, or with
/// `pad` also those in the declared padding.
fn tap_count(o: usize, g: &Geom, a: usize, pad: bool) -> usize {
    let (lo, hi) = if pad {
        (-(g.pb[a] as isize), (g.i[a] + g.pe[a]) as isize)
    } else {
        (0, g.i[a] as isize)
    };
    (0..g.k[a])
        .filter(|&k| {
            let p = (o * g.s[a] + k * g.d[a]) as isize - g.pb[a] as isize;
            (lo..hi).contains(&p)
        })
        .count()
}

/// The loop nest of one windowed-pool plane, for any element type: each
/// output row starts at `init`, `row_op(row, src, sx)` folds `src[j * sx]`
/// into `row[j]` for every `j` of each tap's valid run, then
/// `finish(row, z, y)` completes the row.
///
/// # Safety
/// `inp` holds the input plane of `g`; `out` its output plane.
#[inline(always)]
unsafe fn windows<T: Copy>(
    inp: *const T,
    out: *mut T,
    g: &Geom,
    init: T,
    row_op: impl Fn(&mut [T], *const T, usize),
    finish: impl Fn(&mut [T], usize, usize),
) {
    let [od, oh, ow] = g.o;
    let [id, ih, iw] = g.i;
    let sx = g.s[2];
    for z in 0..od {
        for y in 0..oh {
            let row = std::slice::from_raw_parts_mut(out.add((z * oh + y) * ow), ow);
            row.fill(init);
            for kd in 0..g.k[0] {
                let zi = (z * g.s[0] + kd * g.d[0]) as isize - g.pb[0] as isize;
                if zi < 0 || zi >= id as isize {
                    continue;
                }
                for kh in 0..g.k[1] {
                    let yi = (y * g.s[1] + kh * g.d[1]) as isize - g.pb[1] as isize;
                    if yi < 0 || yi >= ih as isize {
                        continue;
                    }
                    let src = inp.add((zi as usize * ih + yi as usize) * iw);
                    for kw in 0..g.k[2] {
                        let off = (kw * g.d[2]) as isize - g.pb[2] as isize;
                        let (lo, hi) = valid_run(0, ow, sx, off, iw);
                        if lo == hi {
                            continue;
                        }
                        row_op(&mut row[lo..hi], src.offset((lo * sx) as isize + off), sx);
                    }
                }
            }
            finish(row, z, y);
        }
    }
}

/// One plane of an f32 windowed pool. `counts` holds the per-axis divisors
/// for average pooling (concatenated d, h, w), unused for max.
#[inline(always)]
unsafe fn plane<const MAX: bool>(
    inp: *const f32,
    out: *mut f32,
    g: &Geom,
    counts: &[f32],
    row_op: impl Fn(&mut [f32], *const f32, usize),
) {
    let [od, oh, _] = g.o;
    let init = if MAX { f32::NEG_INFINITY } else { 0.0 };
    windows(inp, out, g, init, row_op, |row, z, y| {
        if !MAX {
            let cz = counts[z] * counts[od + y];
            for (x, o) in row.iter_mut().enumerate() {
                *o /= cz * counts[od + oh + x];
            }
        }
    });
}

/// `row[j] = max or sum (row[j], src[j * sx])`, one element at a time.
///
/// # Safety
/// `src` holds `(row.len() - 1) * sx + 1` floats.
#[inline(always)]
unsafe fn row_scalar<const MAX: bool>(row: &mut [f32], src: *const f32, sx: usize) {
    for (j, o) in row.iter_mut().enumerate() {
        let v = *src.add(j * sx);
        *o = if MAX { nanmax(*o, v) } else { *o + v };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn plane_avx2<const MAX: bool>(inp: *const f32, out: *mut f32, g: &Geom, counts: &[f32]) {
    plane::<MAX>(inp, out, g, counts, |r, s, sx| row_scalar::<MAX>(r, s, sx))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn plane_avx512<const MAX: bool>(inp: *const f32, out: *mut f32, g: &Geom, counts: &[f32]) {
    plane::<MAX>(inp, out, g, counts, |r, s, sx| row_avx512::<MAX>(r, s, sx))
}

/// [`row_scalar`] 16 lanes at a time for strides 1 and 2 (a stride-2 row
/// is gathered with two masked loads and a lane permute, reading only the
/// elements it uses). Max keeps [`nanmax`]'s semantics: `max(v, o)` keeps
/// `o` on ties (so `max(0, -0) = 0` as in the scalar code), and lanes where
/// either side is NaN take `o + v`, a NaN.
///
/// # Safety
/// As [`row_scalar`]; the host has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn row_avx512<const MAX: bool>(row: &mut [f32], src: *const f32, sx: usize) {
    use std::arch::x86_64::*;
    if sx > 2 {
        return row_scalar::<MAX>(row, src, sx);
    }
    let lanes = |k: usize| -> __mmask16 {
        if k >= 16 {
            0xffff
        } else {
            ((1u32 << k) - 1) as u16
        }
    };
    let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let (n, dst) = (row.len(), row.as_mut_ptr());
    let mut j = 0;
    while j < n {
        let cnt = (n - j).min(16);
        let m = lanes(cnt);
        let v = if sx == 1 {
            _mm512_maskz_loadu_ps(m, src.add(j))
        } else {
            let need = 2 * cnt - 1;
            let a = _mm512_maskz_loadu_ps(lanes(need), src.add(2 * j));
            let b = _mm512_maskz_loadu_ps(lanes(need.saturating_sub(16)), src.add(2 * j + 16));
            _mm512_permutex2var_ps(a, idx, b)
        };
        let o = _mm512_maskz_loadu_ps(m, dst.add(j));
        let r = if MAX {
            let hi = _mm512_max_ps(v, o);
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(o, v);
            _mm512_mask_add_ps(hi, nan, o, v)
        } else {
            _mm512_add_ps(o, v)
        };
        _mm512_mask_storeu_ps(dst.add(j), m, r);
        j += 16;
    }
}

/// Reduce one plane to one value.
fn global(v: &[f32], max: bool) -> f32 {
    let mut acc = [if max { f32::NEG_INFINITY } else { 0.0 }; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] = if max {
                nanmax(acc[i], c[i])
            } else {
                acc[i] + c[i]
            };
        }
    }
    for (i, &x) in chunks.remainder().iter().enumerate() {
        acc[i] = if max { nanmax(acc[i], x) } else { acc[i] + x };
    }
    if max {
        acc.into_iter().fold(f32::NEG_INFINITY, nanmax)
    } else {
        acc.iter().sum::<f32>() / v.len() as f32
    }
}

impl Kernel for PoolKernel {
    fn describe(&self) -> String {
        let k = self
            .spec
            .as_ref()
            .map(|s| {
                let k: Vec<String> = s.k[3 - s.nsp..].iter().map(|k| k.to_string()).collect();
                format!(" {}", k.join("x"))
            })
            .unwrap_or_default();
        format!("pool {:?}{k}", self.kind)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let (Some(x), Some(out)) = (ins.first(), outs.first()) else {
            return err("pool: needs an input and one result");
        };
        if let Some(dt) = self.int {
            if x.dtype != dt || out.dtype != dt {
                return err(format!(
                    "pool: built for {dt}, given {} -> {}",
                    x.dtype, out.dtype
                ));
            }
            // SAFETY: forwarded; dtypes checked.
            return unsafe {
                if dt == DType::U8 {
                    self.run_int::<u8>(x, out, cx)
                } else {
                    self.run_int::<i8>(x, out, cx)
                }
            };
        }
        arg_f32("pool", "input", x)?;
        arg_f32("pool", "result", out)?;
        let xs = x.shape;
        if !(3..=5).contains(&xs.len()) {
            return err(format!("pool: input {xs:?} is not rank 3 to 5"));
        }
        let planes = xs[0] * xs[1];
        let hwi: usize = xs[2..].iter().product();
        let xp = x.ptr as *const f32;
        let yp = out.ptr as *mut f32;
        let Some(spec) = &self.spec else {
            let mut want = xs[..2].to_vec();
            want.resize(xs.len(), 1);
            if out.shape != want.as_slice() {
                return err(format!(
                    "pool: input {xs:?} gives {want:?}, result is {:?}",
                    out.shape
                ));
            }
            let max = self.kind == Kind::GlobalMax;
            // SAFETY: the input holds `planes * hwi` floats, the result `planes`.
            let (xv, yv) = (x.slice::<f32>(), out.slice_mut::<f32>());
            for (p, y) in yv.iter_mut().enumerate() {
                *y = global(&xv[p * hwi..(p + 1) * hwi], max);
            }
            return Ok(());
        };
        let g = spec.forward("pool", &xs[2..])?;
        let mut want = xs[..2].to_vec();
        want.extend_from_slice(&g.o[3 - spec.nsp..]);
        if out.shape != want.as_slice() {
            return err(format!(
                "pool: input {xs:?} gives {want:?}, result is {:?}",
                out.shape
            ));
        }
        let hwo = g.out_size();
        let counts: Vec<f32> = match self.kind {
            Kind::Avg { count_include_pad } => (0..3)
                .flat_map(|a| {
                    (0..g.o[a]).map(move |o| tap_count(o, &g, a, count_include_pad) as f32)
                })
                .collect(),
            _ => Vec::new(),
        };
        let max = self.kind == Kind::Max;
        let work = (planes * hwo * g.taps()) as f64;
        let grid = Grid {
            batch: 1,
            rows: planes,
            cols: hwo,
            mb: ((1 << 14) / hwo.max(1)).clamp(1, planes.div_ceil(4 * cx.threads).max(1)),
            nb: hwo,
        };
        let par = cx.threads > 1 && work >= pack::PAR_MIN_FLOPS / 4.0;
        let fast = pack::has_avx2_fma();
        let wide = crate::kernels::sgemm::available();
        let (xa, ya) = (xp as usize, yp as usize);
        pack::for_each_tile(&grid, par, None, |t| {
            for p in t.r0..t.r1 {
                // SAFETY: plane `p` lies inside both buffers (shapes checked).
                unsafe {
                    let (i, o) = (
                        (xa as *const f32).add(p * hwi),
                        (ya as *mut f32).add(p * hwo),
                    );
                    #[cfg(target_arch = "x86_64")]
                    if wide {
                        if max {
                            plane_avx512::<true>(i, o, &g, &counts);
                        } else {
                            plane_avx512::<false>(i, o, &g, &counts);
                        }
                        continue;
                    }
                    #[cfg(target_arch = "x86_64")]
                    if fast {
                        if max {
                            plane_avx2::<true>(i, o, &g, &counts);
                        } else {
                            plane_avx2::<false>(i, o, &g, &counts);
                        }
                        continue;
                    }
                    let _ = (fast, wide);
                    if max {
                        plane::<true>(i, o, &g, &counts, |r, s, sx| row_scalar::<true>(r, s, sx));
                    } else {
                        plane::<false>(i, o, &g, &counts, |r, s, sx| row_scalar::<false>(r, s, sx));
                    }
                }
            }
        });
        Ok(())
    }
}
