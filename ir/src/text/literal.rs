//! Scalar literals: how numbers print, and how a parsed number becomes the
//! bytes of one tensor element.
//!
//! Floats print so that they parse back to the same bits (NaN aside): f32,
//! f16 and bf16 through their exact f32 value with Rust's shortest
//! round-trip `{:?}`, f64 with `{:?}`; always with a `.` or an exponent, or
//! as `nan`, `inf`, `-inf`. f16/bf16 parse through f32, which holds them
//! exactly. Integers are range checked per dtype (300 is not a u8).

use crate::dtype::DType;
use crate::half::{bf16, f16};
use crate::tensor::Tensor;
use std::fmt::Write;

/// A number or boolean as written, before a dtype gives it meaning.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    /// Digits, with the sign written before them.
    Int {
        neg: bool,
        digits: String,
    },
    Float {
        neg: bool,
        text: String,
    },
    Nan,
    Inf {
        neg: bool,
    },
    Bool(bool),
}

impl Scalar {
    /// How the literal reads in an error message.
    pub fn describe(&self) -> String {
        let sign = |neg: bool| if neg { "-" } else { "" };
        match self {
            Scalar::Int { neg, digits } => format!("`{}{digits}`", sign(*neg)),
            Scalar::Float { neg, text } => format!("`{}{text}`", sign(*neg)),
            Scalar::Nan => "`nan`".into(),
            Scalar::Inf { neg } => format!("`{}inf`", sign(*neg)),
            Scalar::Bool(b) => format!("`{b}`"),
        }
    }

    pub fn is_float(&self) -> bool {
        matches!(
            self,
            Scalar::Float { .. } | Scalar::Nan | Scalar::Inf { .. }
        )
    }

    /// The value as an integer, if it is one that fits in i64.
    pub fn to_i64(&self) -> Result<i64, String> {
        match self {
            Scalar::Int { neg, digits } => {
                let v = int_value(*neg, digits)?;
                i64::try_from(v).map_err(|_| format!("{} does not fit in i64", self.describe()))
            }
            _ => Err(format!("expected an integer, found {}", self.describe())),
        }
    }

    /// The value as a float of the given precision (parsed as `f64` then
    /// narrowed would round twice, so f32 parses as f32).
    pub fn to_f32(&self) -> Result<f32, String> {
        match self {
            Scalar::Int { neg, digits } | Scalar::Float { neg, text: digits } => {
                let v: f32 = digits
                    .parse()
                    .map_err(|_| format!("invalid number {}", self.describe()))?;
                Ok(if *neg { -v } else { v })
            }
            Scalar::Nan => Ok(f32::NAN),
            Scalar::Inf { neg } => Ok(if *neg {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            }),
            Scalar::Bool(_) => Err(format!("expected a number, found {}", self.describe())),
        }
    }

    pub fn to_f64(&self) -> Result<f64, String> {
        match self {
            Scalar::Int { neg, digits } | Scalar::Float { neg, text: digits } => {
                let v: f64 = digits
                    .parse()
                    .map_err(|_| format!("invalid number {}", self.describe()))?;
                Ok(if *neg { -v } else { v })
            }
            Scalar::Nan => Ok(f64::NAN),
            Scalar::Inf { neg } => Ok(if *neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }),
            Scalar::Bool(_) => Err(format!("expected a number, found {}", self.describe())),
        }
    }
}

/// Signed value of `digits`, as i128 so that every i64 and u64 fits.
fn int_value(neg: bool, digits: &str) -> Result<i128, String> {
    // 39 digits can overflow i128; anything that long is out of every range.
    let v: i128 = if digits.len() > 38 {
        return Err(format!("integer `{digits}` is out of range"));
    } else {
        digits
            .parse()
            .map_err(|_| format!("invalid integer `{digits}`"))?
    };
    Ok(if neg { -v } else { v })
}

/// Append the little-endian bytes of `s` as one element of `dtype`.
pub(crate) fn push_elem(dtype: DType, s: &Scalar, out: &mut Vec<u8>) -> Result<(), String> {
    fn int<T: TryFrom<i128>>(dtype: DType, s: &Scalar) -> Result<T, String> {
        match s {
            Scalar::Int { neg, digits } => T::try_from(int_value(*neg, digits)?)
                .map_err(|_| format!("{} is out of range for {dtype}", s.describe())),
            _ => Err(format!(
                "expected an integer for {dtype}, found {}",
                s.describe()
            )),
        }
    }
    match dtype {
        DType::Bool => match s {
            Scalar::Bool(b) => out.push(u8::from(*b)),
            Scalar::Int { neg: false, digits } if digits == "0" || digits == "1" => {
                out.push(u8::from(digits == "1"))
            }
            _ => {
                return Err(format!(
                    "expected `true` or `false`, found {}",
                    s.describe()
                ))
            }
        },
        DType::F32 => out.extend(s.to_f32()?.to_le_bytes()),
        DType::F64 => out.extend(s.to_f64()?.to_le_bytes()),
        DType::F16 => out.extend(f16::from_f32(s.to_f32()?).to_le_bytes()),
        DType::BF16 => out.extend(bf16::from_f32(s.to_f32()?).to_le_bytes()),
        DType::I8 => out.extend(int::<i8>(dtype, s)?.to_le_bytes()),
        DType::U8 => out.extend(int::<u8>(dtype, s)?.to_le_bytes()),
        DType::I16 => out.extend(int::<i16>(dtype, s)?.to_le_bytes()),
        DType::I32 => out.extend(int::<i32>(dtype, s)?.to_le_bytes()),
        DType::I64 => out.extend(int::<i64>(dtype, s)?.to_le_bytes()),
    }
    Ok(())
}

/// An f32 as the text format writes it.
pub(crate) fn fmt_f32(x: f32) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        // `{:?}` is the shortest text that parses back to the same f32, and
        // always has a `.` or an exponent.
        format!("{x:?}")
    }
}

/// An f64 as the text format writes it.
pub(crate) fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

/// Write `[v0, v1, ...]`, the row-major elements of `t`.
pub(crate) fn write_elems(out: &mut String, t: &Tensor) {
    out.push('[');
    let bytes = t.bytes();
    let size = t.dtype().size();
    for (i, b) in bytes.chunks_exact(size).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let mut a = [0u8; 8];
        a[..size].copy_from_slice(b);
        let _ = match t.dtype() {
            DType::F32 => write!(
                out,
                "{}",
                fmt_f32(f32::from_le_bytes([a[0], a[1], a[2], a[3]]))
            ),
            DType::F64 => write!(out, "{}", fmt_f64(f64::from_le_bytes(a))),
            DType::F16 => write!(
                out,
                "{}",
                fmt_f32(f16::from_le_bytes([a[0], a[1]]).to_f32())
            ),
            DType::BF16 => write!(
                out,
                "{}",
                fmt_f32(bf16::from_le_bytes([a[0], a[1]]).to_f32())
            ),
            DType::I8 => write!(out, "{}", a[0] as i8),
            DType::U8 => write!(out, "{}", a[0]),
            DType::I16 => write!(out, "{}", i16::from_le_bytes([a[0], a[1]])),
            DType::I32 => write!(out, "{}", i32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            DType::I64 => write!(out, "{}", i64::from_le_bytes(a)),
            DType::Bool => write!(out, "{}", a[0] != 0),
        };
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(neg: bool, d: &str) -> Scalar {
        Scalar::Int {
            neg,
            digits: d.into(),
        }
    }

    #[test]
    fn floats_print_exactly_and_recognizably() {
        for x in [
            0.1f32,
            1.0,
            -0.0,
            1e-7,
            3.4028235e38,
            f32::MIN_POSITIVE / 3.0,
            16777217.0,
        ] {
            let s = fmt_f32(x);
            assert!(s.contains('.') || s.contains('e'), "{s}");
            assert_eq!(s.parse::<f32>().unwrap().to_bits(), x.to_bits(), "{s}");
        }
        assert_eq!(fmt_f32(f32::NAN), "nan");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_f64(1e300), "1e300");
        // Every f16 survives the trip through its f32 spelling.
        for bits in (0u16..=u16::MAX).step_by(7) {
            let h = f16::from_bits(bits);
            if h.is_nan() {
                continue;
            }
            let mut out = vec![];
            let s = fmt_f32(h.to_f32());
            let sc = match s.strip_prefix('-') {
                Some("inf") => Scalar::Inf { neg: true },
                Some(t) => Scalar::Float {
                    neg: true,
                    text: t.into(),
                },
                None if s == "inf" => Scalar::Inf { neg: false },
                None => Scalar::Float {
                    neg: false,
                    text: s.clone(),
                },
            };
            push_elem(DType::F16, &sc, &mut out).unwrap();
            assert_eq!(out, bits.to_le_bytes(), "{s}");
        }
    }

    #[test]
    fn integers_are_range_checked() {
        let mut out = vec![];
        assert!(push_elem(DType::U8, &int(false, "300"), &mut out)
            .unwrap_err()
            .contains("out of range for u8"));
        assert!(push_elem(DType::U8, &int(true, "1"), &mut out).is_err());
        push_elem(DType::I64, &int(true, "9223372036854775808"), &mut out).unwrap();
        assert_eq!(out, i64::MIN.to_le_bytes());
        assert!(push_elem(DType::I64, &int(false, "9223372036854775808"), &mut vec![]).is_err());
        assert!(push_elem(DType::I32, &int(false, &"9".repeat(60)), &mut vec![]).is_err());
        assert!(push_elem(DType::I32, &Scalar::Nan, &mut vec![]).is_err());
        assert!(push_elem(DType::Bool, &int(false, "2"), &mut vec![]).is_err());
    }

    #[test]
    fn elements_print_per_dtype() {
        let t = Tensor::from_vec(&[3], vec![1i8, -2, 3]).unwrap();
        let mut s = String::new();
        write_elems(&mut s, &t);
        assert_eq!(s, "[1, -2, 3]");
        let t = Tensor::from_bools(&[2], &[true, false]).unwrap();
        s.clear();
        write_elems(&mut s, &t);
        assert_eq!(s, "[true, false]");
        let t = Tensor::from_vec(&[2], vec![bf16::from_f32(0.1), bf16::from_f32(-1.5)]).unwrap();
        s.clear();
        write_elems(&mut s, &t);
        assert_eq!(s, "[0.100097656, -1.5]");
    }
}
