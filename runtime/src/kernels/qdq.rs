//! `quantize_linear` (f32 → u8/i8) and `dequantize_linear` (u8/i8/i32 →
//! f32) with per-tensor constant scale and zero point: what is left of a
//! quantized model after `fuse-qdq` (its input's quantize, its outputs'
//! dequantize, and the pairs around ops without an integer kernel).
//!
//! Same arithmetic as the interpreter (`ir/src/interp/quant/linear.rs`):
//! quantize divides and rounds half to even in f32, adds the zero point and
//! saturates (NaN → 0); dequantize multiplies the exact difference
//! `x - zp` by the scale in f64 and rounds once to f32. Per-axis or blocked parameters, other dtypes and
//! non-constant parameters are left to the interpreter (`kernel` returns
//! `None`).

use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{DType, Op, Tensor, TensorType};
use rayon::prelude::*;

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 16;

/// The kernel for `qlinear_add` of two same-shaped operands with constant
/// parameters (broadcasting ones stay on the interpreter).
pub(crate) fn add_kernel(
    in_types: &[TensorType],
    consts: &[Option<Tensor>],
) -> Option<Result<Box<dyn Kernel>, String>> {
    let (a, b) = (in_types.first()?, in_types.get(3)?);
    if a.shape != b.shape || !matches!(a.dtype, DType::U8 | DType::I8) || a.dtype != b.dtype {
        return None;
    }
    let c = |i: usize| consts.get(i)?.as_ref();
    let (sa, za, sb, zb, sc, zc) = (c(1)?, c(2)?, c(4)?, c(5)?, c(6)?, c(7)?);
    let to = zc.dtype();
    if !matches!(to, DType::U8 | DType::I8) {
        return None;
    }
    let f = |t: &Tensor| t.to_f64s()[0] as f32;
    let z = |t: &Tensor| t.to_i64s()[0] as f32;
    Some(Ok(Box::new(QLinearAdd {
        sa: f(sa),
        za: z(za),
        sb: f(sb),
        zb: z(zb),
        sc: f(sc),
        zc: z(zc),
        from: a.dtype,
        to,
    })))
}

/// `c = q(dq(a) + dq(b))`, every step as its op (see the interpreter's
/// `qlinear_add`): `(a - za)` is an integer below 2^9, so its f32 product
/// with the scale is the interpreter's f64 product rounded once.
pub struct QLinearAdd {
    sa: f32,
    za: f32,
    sb: f32,
    zb: f32,
    sc: f32,
    zc: f32,
    from: DType,
    to: DType,
}

/// A byte type read or written by the quantized kernels here.
trait Byte: Copy + Send + Sync {
    fn to_f32(self) -> f32;
}

impl Byte for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl Byte for i8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl QLinearAdd {
    #[inline(always)]
    fn rows<A: Byte, C: Q8>(&self, a: &[A], b: &[A], c: &mut [C]) {
        let (lo, hi) = if self.to == DType::U8 {
            (0.0f32, 255.0f32)
        } else {
            (-128.0, 127.0)
        };
        for ((o, &x), &y) in c.iter_mut().zip(a).zip(b) {
            let s = (x.to_f32() - self.za) * self.sa + (y.to_f32() - self.zb) * self.sb;
            *o = C::from_f32(((s / self.sc).round_ties_even() + self.zc).clamp(lo, hi));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_avx2<A: Byte, C: Q8>(k: &QLinearAdd, a: &[A], b: &[A], c: &mut [C]) {
    k.rows(a, b, c)
}

impl Kernel for QLinearAdd {
    fn describe(&self) -> String {
        format!("qlinear_add {} -> {}", self.from, self.to)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let (Some(a), Some(b), Some(c)) = (ins.first(), ins.get(3), outs.first()) else {
            return Err(KernelError("qlinear_add: needs a, b and a result".into()));
        };
        if a.dtype != self.from
            || b.dtype != self.from
            || c.dtype != self.to
            || a.shape != b.shape
            || a.shape != c.shape
        {
            return Err(KernelError(format!(
                "qlinear_add: {}{:?} + {}{:?} -> {}{:?}, want {} operands and a {} result of one shape",
                a.dtype, a.shape, b.dtype, b.shape, c.dtype, c.shape, self.from, self.to
            )));
        }
        let par = cx.threads > 1 && c.numel() >= 2 * CHUNK;
        macro_rules! go {
            ($a:ty, $c:ty) => {{
                // SAFETY: dtypes and shapes checked; the result never
                // shares an operand's buffer (a quant op is not planned in
                // place: `memory_plan::writes_in_place`).
                let (av, bv): (&[$a], &[$a]) = unsafe { (a.slice(), b.slice()) };
                let cv: &mut [$c] = unsafe { c.slice_mut() };
                let f = |((o, x), y): ((&mut [$c], &[$a]), &[$a])| {
                    #[cfg(target_arch = "x86_64")]
                    if crate::kernels::pack::has_avx2_fma() {
                        // SAFETY: AVX2 and FMA are present.
                        unsafe { add_avx2(self, x, y, o) };
                        return;
                    }
                    self.rows(x, y, o);
                };
                if par {
                    cv.par_chunks_mut(CHUNK)
                        .zip(av.par_chunks(CHUNK))
                        .zip(bv.par_chunks(CHUNK))
                        .for_each(f);
                } else {
                    f(((cv, av), bv));
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

/// The kernel for a per-tensor quantize/dequantize, if `op` is one.
pub(crate) fn kernel(
    op: &Op,
    in_types: &[TensorType],
    consts: &[Option<Tensor>],
) -> Option<Result<Box<dyn Kernel>, String>> {
    let (quantize, block) = match op {
        Op::QuantizeLinear { block_size, .. } => (true, *block_size),
        Op::DequantizeLinear { block_size, .. } => (false, *block_size),
        _ => return None,
    };
    let scale = consts.get(1)?.as_ref()?;
    if block != 0 || scale.numel() != 1 || scale.dtype() != DType::F32 {
        return None;
    }
    let zp = match consts.get(2) {
        Some(Some(z)) if z.numel() == 1 => Some(z),
        Some(_) => return None,
        None => None,
    };
    let x = in_types.first()?.dtype;
    let scale = scale.to_f64s()[0] as f32;
    let zero = zp.map_or(0, |z| z.to_i64s()[0]);
    if quantize {
        let to = zp.map_or(DType::U8, Tensor::dtype);
        if x != DType::F32 || !matches!(to, DType::U8 | DType::I8) {
            return None;
        }
        Some(Ok(Box::new(Quantize {
            scale,
            zero: zero as f64,
            to,
        })))
    } else {
        if !matches!(x, DType::U8 | DType::I8 | DType::I32) {
            return None;
        }
        Some(Ok(Box::new(Dequantize {
            scale,
            zero,
            from: x,
        })))
    }
}

pub struct Quantize {
    scale: f32,
    zero: f64,
    to: DType,
}

pub struct Dequantize {
    scale: f32,
    zero: i64,
    from: DType,
}

fn check(what: &str, x: &Arg, y: &Arg, xt: DType, yt: DType) -> Result<(), KernelError> {
    if x.dtype != xt || y.dtype != yt || x.shape != y.shape {
        return Err(KernelError(format!(
            "{what}: {}{:?} -> {}{:?}, want {xt} -> {yt} of one shape",
            x.dtype, x.shape, y.dtype, y.shape
        )));
    }
    Ok(())
}

impl Kernel for Quantize {
    fn describe(&self) -> String {
        format!("quantize f32 -> {} (per tensor)", self.to)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (ins.first(), outs.first()) else {
            return Err(KernelError("quantize_linear: needs x and a result".into()));
        };
        check("quantize_linear", x, y, DType::F32, self.to)?;
        // SAFETY: dtypes and shapes checked; distinct buffers (the sizes
        // differ, so the plan never aliases them).
        let xv: &[f32] = unsafe { x.slice() };
        let (lo, hi) = if self.to == DType::U8 {
            (0.0f32, 255.0f32)
        } else {
            (-128.0, 127.0)
        };
        let (s, z) = (self.scale, self.zero as f32);
        let par = cx.threads > 1 && xv.len() >= 2 * CHUNK;
        macro_rules! go {
            ($t:ty) => {{
                // SAFETY: as above.
                let yv: &mut [$t] = unsafe { y.slice_mut() };
                let f = |(o, i): (&mut [$t], &[f32])| {
                    #[cfg(target_arch = "x86_64")]
                    if crate::kernels::pack::has_avx2_fma() {
                        // SAFETY: AVX2 and FMA are present.
                        unsafe { quantize_avx2(i, o, s, z, lo, hi) };
                        return;
                    }
                    quantize_rows(i, o, s, z, lo, hi);
                };
                if par {
                    yv.par_chunks_mut(CHUNK)
                        .zip(xv.par_chunks(CHUNK))
                        .for_each(f);
                } else {
                    f((yv, xv));
                }
            }};
        }
        if self.to == DType::U8 {
            go!(u8)
        } else {
            go!(i8)
        }
        Ok(())
    }
}

/// An integer type a quantize writes (`f32 as T` saturates, NaN → 0).
trait Q8: Copy + Send {
    fn from_f32(v: f32) -> Self;
}

impl Q8 for u8 {
    #[inline(always)]
    fn from_f32(v: f32) -> u8 {
        v as u8
    }
}

impl Q8 for i8 {
    #[inline(always)]
    fn from_f32(v: f32) -> i8 {
        v as i8
    }
}

/// `o = sat(round_half_even(i / s) + z)`, NaN → 0. In f32 throughout: the
/// rounded quotient is an integer, so adding the (8-bit) zero point is
/// exact below 2^24 and saturates to the same bound above, as the
/// interpreter's f64 addition does. Written so it vectorizes (divide,
/// round, add, clamp, saturating convert).
#[inline(always)]
fn quantize_rows<T: Q8>(i: &[f32], o: &mut [T], s: f32, z: f32, lo: f32, hi: f32) {
    for (d, &v) in o.iter_mut().zip(i) {
        *d = T::from_f32(((v / s).round_ties_even() + z).clamp(lo, hi));
    }
}

/// [`quantize_rows`] compiled for AVX2 (`round_ties_even` is a libm call
/// without SSE4.1: 0.34 ms for 50k values; one `vroundps` with).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_avx2<T: Q8>(i: &[f32], o: &mut [T], s: f32, z: f32, lo: f32, hi: f32) {
    quantize_rows(i, o, s, z, lo, hi)
}

impl Kernel for Dequantize {
    fn describe(&self) -> String {
        format!("dequantize {} -> f32 (per tensor)", self.from)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (ins.first(), outs.first()) else {
            return Err(KernelError(
                "dequantize_linear: needs x and a result".into(),
            ));
        };
        check("dequantize_linear", x, y, self.from, DType::F32)?;
        // SAFETY: dtypes and shapes checked; distinct buffers.
        let yv: &mut [f32] = unsafe { y.slice_mut() };
        let (s, z) = (self.scale, self.zero);
        let par = cx.threads > 1 && yv.len() >= 2 * CHUNK;
        macro_rules! go {
            ($t:ty) => {{
                // SAFETY: as above.
                let xv: &[$t] = unsafe { x.slice() };
                let f = |(o, i): (&mut [f32], &[$t])| {
                    for (d, &v) in o.iter_mut().zip(i) {
                        *d = ((i64::from(v) - z) as f64 * f64::from(s)) as f32;
                    }
                };
                if par {
                    yv.par_chunks_mut(CHUNK)
                        .zip(xv.par_chunks(CHUNK))
                        .for_each(f);
                } else {
                    f((yv, xv));
                }
            }};
        }
        match self.from {
            DType::U8 => go!(u8),
            DType::I8 => go!(i8),
            _ => go!(i32),
        }
        Ok(())
    }
}
