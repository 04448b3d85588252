//! Quantized contractions on the INT8 GEMM ([`super::qgemm`]):
//! `qlinear_conv` and `conv_integer` ([`QConvKernel`]), `qlinear_matmul`
//! and `matmul_integer` ([`QMatMulKernel`]).
//!
//! Semantics are the interpreter's (`ir/src/interp/quant`): exact integer
//! sums of zero-point-shifted operands (plus the `i32` bias), wrapped to
//! `i32`, then either returned (`*_integer`) or requantized per output
//! channel as `round_half_even((acc as f32) * m) + y_zp`, saturated, with
//! the multiplier `m = s_x * s_w[ch] / s_y` computed in `f32` in that order.
//! Every result here is bit-identical to the interpreter's.
//!
//! How the operands meet the GEMM:
//! - **Activations** are `u8`; `i8` ones are moved there by flipping the
//!   sign bit (`x + 128`, exact) with their zero point moved alongside
//!   ([`Act`]).
//! - **Weights** must be constants, stored as `i8` with zero point 0: a
//!   weight whose values minus its zero point (per tensor or per output
//!   channel) all fit `i8` is shifted once at construction (the common
//!   symmetric `i8` case needs nothing; symmetric `u8` weights with zero
//!   point 128 fit too); others are refused.
//! - **Zero points and bias** fold into one per-channel correction:
//!   `sum (x - zx) w + b = sum x w - (zx * sum w - b)`, the GEMM's
//!   [`Requant::zp_corr`](super::qgemm::Requant).
//!
//! Scales and zero points must be constants too. Whatever a kernel does
//! not handle is refused at construction with an error saying why; the
//! caller then runs the op on the interpreter.

mod conv;
mod direct;
mod matmul;
#[cfg(test)]
mod tests;
mod unfold;

pub use conv::QConvKernel;
pub use matmul::QMatMulKernel;

use super::pack::err;
use super::qgemm::Quantize;
use crate::kernel::{Arg, KernelError};
use ingot_ir::{DType, Tensor, TensorType};
use std::cell::RefCell;

/// An 8-bit activation operand as the GEMM sees it (`u8`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Act {
    /// The operand's own type (`u8` or `i8`).
    dtype: DType,
    /// XORed into every byte: `0x80` maps `i8` to `u8` as `x + 128`.
    flip: u8,
    /// The zero point, moved to the `u8` domain (`0..=255`); it is also
    /// the value of padding taps, which stand for a real 0.
    zp: i32,
}

impl Act {
    /// The activation of type `t` with zero point `zp` (one element, or
    /// none for 0).
    fn new(op: &str, what: &str, t: &TensorType, zp: Option<&Tensor>) -> Result<Act, KernelError> {
        let flip = match t.dtype {
            DType::U8 => 0,
            DType::I8 => 0x80,
            d => {
                return err(format!(
                    "{op}: {what} is {d}; the quantized kernels take u8 or i8"
                ))
            }
        };
        let z = match zp {
            None => 0,
            Some(z) => single_int(op, &format!("{what}'s zero point"), z)?,
        };
        Ok(Act {
            dtype: t.dtype,
            flip,
            zp: z + if flip != 0 { 128 } else { 0 },
        })
    }

    /// Check a run-time operand against the compile-time type.
    fn check(&self, op: &str, what: &str, a: &Arg) -> Result<(), KernelError> {
        if a.dtype != self.dtype {
            return err(format!(
                "{op}: {what} is {}{:?}, but the kernel was built for {}",
                a.dtype, a.shape, self.dtype
            ));
        }
        Ok(())
    }
}

/// What leaves the `i32` accumulator.
#[derive(Clone, Debug)]
pub(crate) enum Out {
    /// `conv_integer` / `matmul_integer`: the sum itself.
    I32,
    /// `qlinear_*`: requantized to `dtype` (`u8` or `i8`) with one
    /// multiplier per channel (or one for all); `q` has scale 1, y's zero
    /// point and the type's full range.
    Quant {
        dtype: DType,
        mult: Vec<f32>,
        q: Quantize,
    },
}

impl Out {
    /// The requantizing output: `mult[ch] = sx * sw[ch] / sy` in `f32`, in
    /// that order (the interpreter's), for `channels` channels.
    fn quant(
        op: &str,
        sx: &Tensor,
        sw: &Tensor,
        sy: &Tensor,
        zy: &Tensor,
        channels: usize,
    ) -> Result<Out, KernelError> {
        let sx = single_float(op, "the input's scale", sx)?;
        let sy = single_float(op, "y's scale", sy)?;
        let sw = floats(op, "the weight's scale", sw, channels)?;
        let (lo, hi) = match zy.dtype() {
            DType::U8 => (0, 255),
            DType::I8 => (-128, 127),
            d => return err(format!("{op}: y's zero point is {d}, not u8 or i8")),
        };
        let zp = single_int(op, "y's zero point", zy)?;
        let mult: Vec<f32> = sw.iter().map(|&w| sx * w / sy).collect();
        // A NaN product saturates to 0 in the interpreter but to `lo` in
        // the GEMM's clamp; infinite or NaN multipliers only come from
        // degenerate scales, so leave those to the interpreter.
        if let Some(m) = mult.iter().find(|m| !m.is_finite()) {
            return err(format!(
                "{op}: requantization multiplier {m} (scales x {sx}, y {sy}) is not finite"
            ));
        }
        Ok(Out::Quant {
            dtype: zy.dtype(),
            mult,
            q: Quantize {
                scale: 1.0,
                zero_point: zp,
                lo,
                hi,
            },
        })
    }

    fn dtype(&self) -> DType {
        match self {
            Out::I32 => DType::I32,
            Out::Quant { dtype, .. } => *dtype,
        }
    }
}

/// The GEMM epilogue's formula on one sum (see `qgemm::Quantize::apply`),
/// for the loops that do not go through the GEMM: `f = (acc - corr) as
/// f32 * mult`, clamped to the output range relative to the zero point,
/// rounded half to even, plus the zero point. Equal to the interpreter's
/// `round(f) + zp`, saturated, because clamping first changes nothing
/// (the bounds are integers) and `f` is never NaN (finite multipliers).
#[inline(always)]
pub(crate) fn requant(acc: i32, corr: i32, mult: f32, q: &Quantize) -> i32 {
    let f = acc.wrapping_sub(corr) as f32 * mult;
    let x = f
        .max((q.lo - q.zero_point) as f32)
        .min((q.hi - q.zero_point) as f32);
    // SAFETY: `x` is finite and within `i32` (clamped to the output
    // range; `f` is not NaN). The unchecked conversion vectorizes, the
    // saturating `as` does not.
    unsafe { x.round_ties_even().to_int_unchecked::<i32>() + q.zero_point }
}

/// The value of a one-element integer constant.
fn single_int(op: &str, what: &str, t: &Tensor) -> Result<i32, KernelError> {
    match t.to_i64s().as_slice() {
        [v] => i32::try_from(*v).or_else(|_| err(format!("{op}: {what} {v} is out of range"))),
        _ => err(format!(
            "{op}: {what} has shape {:?}; the kernel takes one value (per tensor)",
            t.shape()
        )),
    }
}

fn single_float(op: &str, what: &str, t: &Tensor) -> Result<f32, KernelError> {
    match t.to_f64s().as_slice() {
        [v] => Ok(*v as f32),
        _ => err(format!(
            "{op}: {what} has shape {:?}; the kernel takes one value (per tensor)",
            t.shape()
        )),
    }
}

/// A float constant with one value or one per channel, as `f32` (the
/// interpreter converts the same way).
fn floats(op: &str, what: &str, t: &Tensor, channels: usize) -> Result<Vec<f32>, KernelError> {
    let v: Vec<f32> = t.to_f64s().iter().map(|&v| v as f32).collect();
    if v.len() == 1 || (v.len() == channels && t.rank() == 1) {
        Ok(v)
    } else {
        err(format!(
            "{op}: {what} has shape {:?}; it must hold one value or {channels}",
            t.shape()
        ))
    }
}

/// A constant weight minus its zero point, as `i8`: `channel(i)` is the
/// channel of element `i`, which picks a per-channel zero point. Refused
/// when a shifted value leaves `i8` (asymmetric `u8` weights, say).
fn shifted_weight(
    op: &str,
    w: &Tensor,
    zp: Option<&Tensor>,
    channels: usize,
    channel: impl Fn(usize) -> usize,
) -> Result<Vec<i8>, KernelError> {
    if !matches!(w.dtype(), DType::U8 | DType::I8) {
        return err(format!(
            "{op}: the weight is {}{:?}, not u8 or i8",
            w.dtype(),
            w.shape()
        ));
    }
    let z = match zp {
        None => vec![0],
        Some(z) => {
            let v = z.to_i64s();
            if v.len() != 1 && (v.len() != channels || z.rank() != 1) {
                return err(format!(
                    "{op}: the weight's zero point has shape {:?}; it must hold one value or {channels}",
                    z.shape()
                ));
            }
            v
        }
    };
    let mut out = Vec::with_capacity(w.numel());
    for (i, v) in w.to_i64s().into_iter().enumerate() {
        let s = v - z[if z.len() == 1 { 0 } else { channel(i) }];
        match i8::try_from(s) {
            Ok(s) => out.push(s),
            Err(_) => {
                return err(format!(
                    "{op}: the {} weight {:?} minus its zero point has value {s} outside i8; \
                     the kernel takes weights that are symmetric about their zero point",
                    w.dtype(),
                    w.shape()
                ))
            }
        }
    }
    Ok(out)
}

/// The `i32` bias of `qlinear_conv` (`channels` values).
fn bias_i32(op: &str, b: &Tensor, channels: usize) -> Result<Vec<i32>, KernelError> {
    match b.as_slice::<i32>() {
        Ok(v) if v.len() == channels => Ok(v.to_vec()),
        _ => err(format!(
            "{op}: the bias is {}{:?}; it must be i32[{channels}]",
            b.dtype(),
            b.shape()
        )),
    }
}

/// One value of a per-channel slice (or the only one).
#[inline(always)]
fn at<T: Copy>(v: &[T], ch: usize) -> T {
    if v.len() == 1 {
        v[0]
    } else {
        v[ch]
    }
}

/// Channels `c0..c1` of a per-channel slice (the whole slice when it holds
/// one value for all), as a GEMM call on those channels wants it.
fn chans<T>(v: &[T], c0: usize, c1: usize) -> &[T] {
    if v.len() <= 1 {
        v
    } else {
        &v[c0..c1]
    }
}

thread_local! {
    static BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on `len` bytes of this thread's scratch (contents unspecified);
/// a nested call gets a fresh buffer.
fn with_bytes<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    BYTES.with(|s| match s.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0);
            }
            f(&mut v[..len])
        }
        Err(_) => f(&mut vec![0; len]),
    })
}

/// Subtract `corr[r]` (per row, or one for all) from `rows` rows of `cols`
/// `i32` at `c` (row stride `rs`): the zero-point correction of an
/// integer result, applied to a tile the GEMM just wrote.
///
/// # Safety
/// The rows are valid and owned by the caller for the call.
unsafe fn subtract_rows(c: *mut i32, rs: usize, rows: usize, cols: usize, corr: &[i32]) {
    if corr.iter().all(|&v| v == 0) {
        return;
    }
    for r in 0..rows {
        // SAFETY: row `r` of the caller's tile.
        let row = unsafe { std::slice::from_raw_parts_mut(c.add(r * rs), cols) };
        let z = at(corr, r);
        for v in row {
            *v = v.wrapping_sub(z);
        }
    }
}

/// Subtract `corr[j]` (per column) from each of `rows` rows of `cols` `i32`
/// at `c` (row stride `rs`).
///
/// # Safety
/// As [`subtract_rows`].
unsafe fn subtract_cols(c: *mut i32, rs: usize, rows: usize, cols: usize, corr: &[i32]) {
    if corr.iter().all(|&v| v == 0) {
        return;
    }
    for r in 0..rows {
        // SAFETY: row `r` of the caller's tile.
        let row = unsafe { std::slice::from_raw_parts_mut(c.add(r * rs), cols) };
        for (j, v) in row.iter_mut().enumerate() {
            *v = v.wrapping_sub(at(corr, j));
        }
    }
}

/// The constant operand `i`, or an error naming it.
fn constant<'a>(
    op: &str,
    consts: &'a [Option<Tensor>],
    i: usize,
    what: &str,
) -> Result<&'a Tensor, KernelError> {
    consts.get(i).and_then(|t| t.as_ref()).ok_or_else(|| {
        KernelError(format!(
            "{op}: {what} (operand {i}) is not a constant; the native kernel packs it once \
             when built, so it must be known then"
        ))
    })
}

/// The optional constant operand `i`: `None` when absent, an error when
/// present but computed at run time.
fn opt_constant<'a>(
    op: &str,
    in_types: &[TensorType],
    consts: &'a [Option<Tensor>],
    i: usize,
    what: &str,
) -> Result<Option<&'a Tensor>, KernelError> {
    if i >= in_types.len() {
        return Ok(None);
    }
    constant(op, consts, i, what).map(Some)
}
