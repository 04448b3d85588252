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
            (0.0, 255.0)
        } else {
            (-128.0, 127.0)
        };
        let q = |v: f32| -> i32 {
            let r = f64::from((v / self.scale).round_ties_even()) + self.zero;
            if r.is_nan() {
                0
            } else {
                r.clamp(lo, hi) as i32
            }
        };
        let par = cx.threads > 1 && xv.len() >= 2 * CHUNK;
        if self.to == DType::U8 {
            // SAFETY: as above.
            let yv: &mut [u8] = unsafe { y.slice_mut() };
            let f = |(o, i): (&mut [u8], &[f32])| {
                for (d, &v) in o.iter_mut().zip(i) {
                    *d = q(v) as u8;
                }
            };
            if par {
                yv.par_chunks_mut(CHUNK)
                    .zip(xv.par_chunks(CHUNK))
                    .for_each(f);
            } else {
                f((yv, xv));
            }
        } else {
            // SAFETY: as above.
            let yv: &mut [i8] = unsafe { y.slice_mut() };
            let f = |(o, i): (&mut [i8], &[f32])| {
                for (d, &v) in o.iter_mut().zip(i) {
                    *d = q(v) as i8;
                }
            };
            if par {
                yv.par_chunks_mut(CHUNK)
                    .zip(xv.par_chunks(CHUNK))
                    .for_each(f);
            } else {
                f((yv, xv));
            }
        }
        Ok(())
    }
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
