//! Literals ↔ tensors: building interpreter inputs from `; run:` literals,
//! comparing outputs with expected literals, and writing tensors back as
//! literals (for diffs and for bless).
//!
//! An expected literal is first converted to the actual output's dtype (as an
//! input would be), so `0.1` expected of an f32 output means the f32 nearest
//! 0.1. Exact comparison: NaN matches NaN, -0.0 matches 0.0. Approximate:
//! |a-b| <= 1e-6 + 1e-5*|b| with b expected, NaN matches NaN, and infinities
//! match only themselves. Integer literals must fit the dtype; a float
//! literal is never silently truncated into an integer tensor.

use super::directive::{Literal, Scalar};
use ingot_ir::{DType, Tensor};

/// How many values a diff shows around the first mismatch.
const DIFF_WINDOW: usize = 8;

/// The tensor a literal denotes, given the dtype and shape it must have.
pub fn to_tensor(lit: &Literal, dtype: DType, shape: &[usize]) -> Result<Tensor, String> {
    let n: usize = shape.iter().product();
    if lit.vals.len() != n {
        return Err(format!(
            "the literal has {} value(s) but {dtype}{shape:?} holds {n}",
            lit.vals.len()
        ));
    }
    let built = if dtype.is_float() {
        let v = lit
            .vals
            .iter()
            .map(|s| match *s {
                Scalar::Int(i) => Ok(i as f64),
                Scalar::Float(x) => Ok(x),
                Scalar::Bool(b) => Err(format!("`{b}` is not a {dtype} value")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Tensor::from_f64s(dtype, shape, &v)
    } else {
        let v = lit
            .vals
            .iter()
            .map(|s| int_value(*s, dtype))
            .collect::<Result<Vec<_>, _>>()?;
        Tensor::from_i64s(dtype, shape, &v)
    };
    built.map_err(|e| e.to_string())
}

/// An integer or bool literal value, checked to fit `dtype`.
fn int_value(s: Scalar, dtype: DType) -> Result<i64, String> {
    let (lo, hi) = match dtype {
        DType::Bool => (0, 1),
        DType::I8 => (i8::MIN as i64, i8::MAX as i64),
        DType::U8 => (0, u8::MAX as i64),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    match s {
        Scalar::Bool(b) if dtype == DType::Bool => Ok(i64::from(b)),
        Scalar::Int(i) if (lo..=hi).contains(&i) => Ok(i),
        Scalar::Int(i) => Err(format!("{i} does not fit {dtype}")),
        Scalar::Float(x) => Err(format!("`{}` is not a {dtype} value", float_text(x))),
        Scalar::Bool(b) => Err(format!("`{b}` is not a {dtype} value")),
    }
}

/// The first flat index where `actual` and `expected` (same dtype and
/// element count) differ, if any.
pub fn first_mismatch(actual: &Tensor, expected: &Tensor, approx: bool) -> Option<usize> {
    if actual.dtype().is_float() || approx {
        let (a, b) = (actual.to_f64s(), expected.to_f64s());
        a.iter().zip(&b).position(|(&x, &y)| !close(x, y, approx))
    } else {
        // Integers compare exactly, without a round trip through f64.
        let (a, b) = (actual.to_i64s(), expected.to_i64s());
        a.iter().zip(&b).position(|(x, y)| x != y)
    }
}

fn close(a: f64, b: f64, approx: bool) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    // `==` also covers equal infinities and -0.0 == 0.0. An infinite
    // expectation would make the tolerance infinite: only equality counts.
    a == b || (approx && b.is_finite() && (a - b).abs() <= 1e-6 + 1e-5 * b.abs())
}

/// A float as the text format writes it (`1.0`, `1e-7`, `nan`, `-inf`).
pub fn float_text(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

/// Each element as literal text, in the shortest form that reads back as
/// the same value of the tensor's dtype.
pub fn elem_texts(t: &Tensor) -> Vec<String> {
    match t.dtype() {
        DType::Bool => t.to_bools().iter().map(|b| b.to_string()).collect(),
        DType::F64 => t.to_f64s().into_iter().map(float_text).collect(),
        // f32, f16 and bf16 values are exact f32s; f32's shortest form reads
        // back to the same value in each.
        d if d.is_float() => t
            .to_f64s()
            .into_iter()
            .map(|x| {
                let f = x as f32;
                if f.is_finite() {
                    format!("{f:?}")
                } else {
                    float_text(x)
                }
            })
            .collect(),
        _ => t.to_i64s().iter().map(|v| v.to_string()).collect(),
    }
}

/// The literal text of a whole tensor: `[1.0, 2.0]`, or typed
/// `f32[2,1] [1.0, 2.0]`.
pub fn literal_text(t: &Tensor, typed: bool) -> String {
    let vals = format!("[{}]", elem_texts(t).join(", "));
    if typed {
        let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
        format!("{}[{}] {vals}", t.dtype(), dims.join(","))
    } else {
        vals
    }
}

/// Up to `2 * DIFF_WINDOW + 1` elements around `at`, with `...` where cut.
pub fn window_text(t: &Tensor, at: usize) -> String {
    let all = elem_texts(t);
    let lo = at.saturating_sub(DIFF_WINDOW);
    let hi = (at + DIFF_WINDOW + 1).min(all.len());
    let mut s = String::from("[");
    if lo > 0 {
        s.push_str("..., ");
    }
    s.push_str(&all[lo..hi].join(", "));
    if hi < all.len() {
        s.push_str(", ...");
    }
    s.push(']');
    s
}

/// The multi-index of flat index `i` in `shape`, as `[1, 0, 2]`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = i % d;
            i /= d;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(vals: &[Scalar]) -> Literal {
        Literal {
            ty: None,
            vals: vals.to_vec(),
        }
    }

    #[test]
    fn literals_convert_to_the_dtype_they_need() {
        use Scalar::*;
        let t = to_tensor(&lit(&[Int(1), Float(0.1)]), DType::F32, &[2]).unwrap();
        assert_eq!(t.as_slice::<f32>().unwrap(), &[1.0, 0.1f32]);
        let t = to_tensor(&lit(&[Int(-128), Int(127)]), DType::I8, &[1, 2]).unwrap();
        assert_eq!(t.to_i64s(), vec![-128, 127]);
        assert_eq!(t.shape(), &[1, 2]);
        let t = to_tensor(&lit(&[Bool(true), Int(0)]), DType::Bool, &[2]).unwrap();
        assert_eq!(t.to_bools(), vec![true, false]);
        let big = to_tensor(&lit(&[Int(i64::MAX)]), DType::I64, &[]).unwrap();
        assert_eq!(big.to_i64s(), vec![i64::MAX]);

        let err = |l: Literal, d, s: &[usize]| to_tensor(&l, d, s).unwrap_err();
        assert!(err(lit(&[Int(256)]), DType::U8, &[1]).contains("256 does not fit u8"));
        assert!(err(lit(&[Float(1.5)]), DType::I32, &[1]).contains("`1.5` is not a i32"));
        assert!(err(lit(&[Int(2)]), DType::Bool, &[1]).contains("does not fit bool"));
        assert!(err(lit(&[Bool(true)]), DType::F32, &[1]).contains("`true` is not a f32"));
        assert!(
            err(lit(&[Int(1)]), DType::F32, &[2, 2]).contains("1 value(s) but f32[2, 2] holds 4")
        );
    }

    #[test]
    fn exact_and_approximate_comparison() {
        let f = |v: &[f32]| Tensor::from_vec(&[v.len()], v.to_vec()).unwrap();
        let nan = f32::NAN;
        assert_eq!(
            first_mismatch(&f(&[1.0, nan, -0.0]), &f(&[1.0, nan, 0.0]), false),
            None
        );
        assert_eq!(
            first_mismatch(&f(&[1.0, nan]), &f(&[1.0, 2.0]), false),
            Some(1)
        );
        assert_eq!(
            first_mismatch(&f(&[1.0, 2.0]), &f(&[1.0, nan]), true),
            Some(1)
        );
        assert_eq!(
            first_mismatch(&f(&[1.0, 1.0 + 1e-6]), &f(&[1.0, 1.0]), false),
            Some(1)
        );
        assert_eq!(
            first_mismatch(&f(&[1.0, 1.0 + 1e-6]), &f(&[1.0, 1.0]), true),
            None
        );
        assert_eq!(
            first_mismatch(&f(&[1.0, 1.001]), &f(&[1.0, 1.0]), true),
            Some(1)
        );
        // The tolerance scales with the expected value.
        assert_eq!(first_mismatch(&f(&[1000.005]), &f(&[1000.0]), true), None);
        assert_eq!(
            first_mismatch(&f(&[f32::INFINITY]), &f(&[f32::INFINITY]), true),
            None
        );
        assert_eq!(
            first_mismatch(&f(&[f32::MAX]), &f(&[f32::INFINITY]), true),
            Some(0)
        );
        let i = |v: &[i64]| Tensor::from_vec(&[v.len()], v.to_vec()).unwrap();
        // Exact for integers beyond f64's 53 bits.
        assert_eq!(
            first_mismatch(&i(&[i64::MAX]), &i(&[i64::MAX - 1]), false),
            Some(0)
        );
    }

    #[test]
    fn tensors_print_as_literals_that_read_back() {
        let t = Tensor::from_vec(&[2, 2], vec![0.1f32, -0.0, f32::NAN, f32::NEG_INFINITY]).unwrap();
        assert_eq!(literal_text(&t, false), "[0.1, -0.0, nan, -inf]");
        assert_eq!(literal_text(&t, true), "f32[2,2] [0.1, -0.0, nan, -inf]");
        let s = Tensor::scalar(7i64);
        assert_eq!(literal_text(&s, true), "i64[] [7]");
        let b = Tensor::from_bools(&[2], &[true, false]).unwrap();
        assert_eq!(literal_text(&b, false), "[true, false]");
        let h = Tensor::from_f64s(DType::F16, &[1], &[0.1]).unwrap();
        let back = to_tensor(
            &lit(&[Scalar::Float(elem_texts(&h)[0].parse().unwrap())]),
            DType::F16,
            &[1],
        )
        .unwrap();
        assert_eq!(back, h);
        let d = Tensor::from_vec(&[1], vec![0.1f64]).unwrap();
        assert_eq!(literal_text(&d, false), "[0.1]");
    }

    #[test]
    fn diffs_show_a_window_and_the_index() {
        let t = Tensor::from_vec(&[40], (0..40).collect::<Vec<i64>>()).unwrap();
        assert_eq!(
            window_text(&t, 20),
            "[..., 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, ...]"
        );
        assert_eq!(window_text(&t, 0), "[0, 1, 2, 3, 4, 5, 6, 7, 8, ...]");
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
