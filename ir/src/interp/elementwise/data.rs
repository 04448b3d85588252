//! The interpreter's working forms of element data, and exact conversions
//! back into tensors.
//!
//! Every element type fits exactly in one of three forms: floats (f16, bf16,
//! f32, f64) in `f64`, integers (i8..i64, u8) in `i64`, and bools. Ops compute
//! on these forms and store once into the result dtype, so each result is
//! rounded exactly once:
//! - `f64 → f32` is Rust's `as` (round to nearest, ties to even).
//! - `f64 → f16/bf16` goes through f32 with *round to odd*, then to nearest
//!   even. This gives the correctly rounded result; the `half` crate's own
//!   `from_f64` does not (it rounds through f32 with f16c, or drops the low
//!   mantissa word), which matters for results that are within 2^-40 of a tie.
//! - `f64 → integer` saturates, NaN → 0 (Rust's `as`); `i64 → integer` wraps
//!   (two's complement), which makes wrapping i64 arithmetic equal to
//!   wrapping arithmetic in the narrow type.
//! - to bool: nonzero (NaN included) is true.

use crate::dtype::DType;
use crate::infer::{InferError, InferInput};
use crate::op::Op;
use crate::tensor::Tensor;
use crate::types::TensorType;
use half::{bf16, f16};

/// Elements in the form the interpreter computes on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    F(Vec<f64>),
    I(Vec<i64>),
    B(Vec<bool>),
}

/// A tensor's elements in their working form (exact for every dtype).
pub(crate) fn load(t: &Tensor) -> Data {
    match t.dtype() {
        DType::Bool => Data::B(t.to_bools()),
        d if d.is_float() => Data::F(t.to_f64s()),
        _ => Data::I(t.to_i64s()),
    }
}

/// Build a tensor of `dtype` from data in any form, converting as the module
/// header says (this is also Cast's definition).
pub(crate) fn store(dtype: DType, shape: &[usize], d: Data) -> Result<Tensor, String> {
    match d {
        Data::F(v) => from_f64s(dtype, shape, &v),
        Data::I(v) => Tensor::from_i64s(dtype, shape, &v).map_err(|e| e.to_string()),
        Data::B(v) if dtype == DType::Bool => {
            Tensor::from_bools(shape, &v).map_err(|e| e.to_string())
        }
        Data::B(v) => {
            let v: Vec<i64> = v.into_iter().map(i64::from).collect();
            Tensor::from_i64s(dtype, shape, &v).map_err(|e| e.to_string())
        }
    }
}

/// A tensor of `dtype` from f64 values, each rounded once (correctly) to the
/// dtype.
pub(crate) fn from_f64s(dtype: DType, shape: &[usize], v: &[f64]) -> Result<Tensor, String> {
    let r = match dtype {
        DType::F16 => Tensor::from_vec(shape, v.iter().map(|&x| to_f16(x)).collect()),
        DType::BF16 => Tensor::from_vec(shape, v.iter().map(|&x| to_bf16(x)).collect()),
        _ => Tensor::from_f64s(dtype, shape, v),
    };
    r.map_err(|e| e.to_string())
}

/// `v` rounded to f32 toward zero, with the last bit set when inexact
/// ("round to odd"). Rounding that again to a format with at least two bits
/// less precision gives the correctly rounded result.
fn round_to_odd_f32(v: f64) -> f32 {
    let r = v as f32;
    if !r.is_finite() || f64::from(r) == v {
        // Exact, NaN, or beyond f32's range (which is beyond f16's and
        // rounds to infinity in bf16 too).
        return r;
    }
    let mut bits = r.to_bits();
    if f64::from(r).abs() > v.abs() {
        // Rounded away from zero: step the magnitude back (sign-magnitude).
        bits -= 1;
    }
    f32::from_bits(bits | 1)
}

/// The f16 nearest to `v` (ties to even).
pub(crate) fn to_f16(v: f64) -> f16 {
    f16::from_f32(round_to_odd_f32(v))
}

/// The bf16 nearest to `v` (ties to even).
pub(crate) fn to_bf16(v: f64) -> bf16 {
    bf16::from_f32(round_to_odd_f32(v))
}

/// Check `op` on the static types of `inputs` with shape inference, so the
/// interpreter rejects exactly what the verifier rejects (wrong arity, dtype,
/// non-broadcasting shapes) with the same message, and can rely on it after.
pub(crate) fn validate(op: &Op, inputs: &[&Tensor]) -> Result<Vec<TensorType>, String> {
    let tys: Vec<TensorType> = inputs.iter().map(|t| t.ty()).collect();
    let ins: Vec<InferInput> = tys.iter().map(InferInput::of_type).collect();
    crate::infer::infer(op, &ins).map_err(|e| match e {
        // The caller names the op already.
        InferError::Invalid { msg, .. } => msg,
        e => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounds_once() {
        // Just above the tie between 1 and 1 + 2^-10: the nearest f16 is the
        // upper one. Rounding through f32 first would land on the tie and
        // then go to even (1.0).
        let v = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(to_f16(v).to_f64(), 1.0 + 2f64.powi(-10));
        // Exact ties go to even.
        assert_eq!(to_f16(1.0 + 2f64.powi(-11)).to_f64(), 1.0);
        assert_eq!(
            to_f16(1.0 + 3.0 * 2f64.powi(-11)).to_f64(),
            1.0 + 2f64.powi(-9)
        );
        // Overflow, underflow, signs, NaN.
        assert_eq!(to_f16(65520.0).to_f64(), f64::INFINITY);
        assert_eq!(to_f16(65519.0).to_f64(), 65504.0);
        assert_eq!(to_f16(1e300).to_f64(), f64::INFINITY);
        assert!(to_f16(-1e-30).is_sign_negative() && to_f16(-1e-30).to_f64() == 0.0);
        assert_eq!(to_f16(2f64.powi(-24)).to_f64(), 2f64.powi(-24));
        assert_eq!(
            to_f16(2f64.powi(-25) + 2f64.powi(-60)).to_f64(),
            2f64.powi(-24)
        );
        assert_eq!(to_f16(2f64.powi(-25)).to_f64(), 0.0);
        assert!(to_f16(f64::NAN).is_nan());
    }

    #[test]
    fn bf16_rounds_once() {
        let v = 1.0 + 2f64.powi(-8) + 2f64.powi(-40);
        assert_eq!(to_bf16(v).to_f64(), 1.0 + 2f64.powi(-7));
        assert_eq!(to_bf16(1.0 + 2f64.powi(-8)).to_f64(), 1.0);
        assert_eq!(to_bf16(-3.0).to_f64(), -3.0);
        assert_eq!(to_bf16(1e39).to_f64(), f64::INFINITY);
    }

    #[test]
    fn store_converts_between_forms() {
        let t = store(DType::I8, &[3], Data::F(vec![300.0, -2.9, f64::NAN])).unwrap();
        assert_eq!(t.to_i64s(), vec![127, -2, 0]);
        let t = store(DType::U8, &[2], Data::I(vec![256 + 7, -1])).unwrap();
        assert_eq!(t.to_i64s(), vec![7, 255]);
        let t = store(DType::F32, &[2], Data::B(vec![true, false])).unwrap();
        assert_eq!(t.to_f64s(), vec![1.0, 0.0]);
        let t = store(DType::Bool, &[2], Data::F(vec![f64::NAN, -0.0])).unwrap();
        assert_eq!(t.to_bools(), vec![true, false]);
        assert!(store(DType::F32, &[3], Data::F(vec![1.0])).is_err());
    }
}
