//! How `ingot run` shows a tensor: its name, declared type and actual shape,
//! summary statistics, and the first few values.
//!
//! Floats print in their own precision (an `f32` as the shortest decimal that
//! reads back as the same `f32`), so the numbers can be pasted into a
//! filetest. NaNs are counted, not folded into min/max/mean.

use ingot_ir::{DType, Tensor, TensorType};
use std::fmt::Write;

/// A report for one tensor, several lines, ending in a newline.
pub fn describe(label: &str, declared: &TensorType, t: &Tensor, show: usize) -> String {
    let mut s = String::new();
    let shape: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let _ = writeln!(
        s,
        "{label}: {declared} = {}[{}]",
        t.dtype(),
        shape.join(",")
    );
    let _ = writeln!(s, "  {}", stats(t));
    let shown = t.numel().min(show);
    let vals: Vec<String> = (0..shown).map(|i| element(t, i)).collect();
    let more = if t.numel() > shown { ", ..." } else { "" };
    let _ = writeln!(s, "  [{}{more}]", vals.join(", "));
    s
}

/// `min .. max .. mean`, counting NaNs, or a count of trues for booleans.
fn stats(t: &Tensor) -> String {
    if t.numel() == 0 {
        return "empty".to_string();
    }
    if t.dtype() == DType::Bool {
        let trues = t.to_bools().iter().filter(|&&b| b).count();
        return format!("{trues} of {} true", t.numel());
    }
    let vals = t.to_f64s();
    let finite: Vec<f64> = vals.iter().copied().filter(|v| !v.is_nan()).collect();
    let nans = vals.len() - finite.len();
    let mut s = if finite.is_empty() {
        "all NaN".to_string()
    } else {
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = finite.iter().sum::<f64>() / finite.len() as f64;
        // The mean of integers is fractional; show it at f32 precision.
        let mean_dtype = if t.dtype() == DType::F64 {
            DType::F64
        } else {
            DType::F32
        };
        format!(
            "min {}  max {}  mean {}",
            number(t.dtype(), min),
            number(t.dtype(), max),
            number(mean_dtype, mean)
        )
    };
    if nans > 0 && !finite.is_empty() {
        let _ = write!(s, "  ({nans} NaN)");
    }
    s
}

/// Element `i`, written as the text format writes literals.
fn element(t: &Tensor, i: usize) -> String {
    match t.dtype() {
        DType::Bool => t.to_bools()[i].to_string(),
        d if d.is_int() => t.to_i64s()[i].to_string(),
        d => number(d, t.to_f64s()[i]),
    }
}

/// A float in the precision of `dtype`: `1.5`, `nan`, `-inf`, `0.1` for the
/// f32 nearest 0.1. Integer dtypes print as integers.
fn number(dtype: DType, v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if dtype.is_int() {
        return format!("{}", v as i64);
    }
    // f16 and bf16 values are exact in f32, so f32's shortest form is theirs.
    let s = if dtype == DType::F64 {
        format!("{v:?}")
    } else {
        format!("{:?}", v as f32)
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_in_their_precision_and_nans_are_counted() {
        let t = Tensor::from_vec(&[2, 2], vec![0.1f32, -2.0, f32::NAN, 3.5]).unwrap();
        let r = describe("%y", &t.ty(), &t, 3);
        assert!(r.starts_with("%y: f32[2,2] = f32[2,2]\n"), "{r}");
        assert!(r.contains("min -2.0  max 3.5"), "{r}");
        assert!(r.contains("(1 NaN)"), "{r}");
        assert!(r.contains("[0.1, -2.0, nan, ...]"), "{r}");
    }

    #[test]
    fn ints_bools_and_empty() {
        let t = Tensor::from_vec(&[3], vec![3i64, -1, 7]).unwrap();
        let r = describe("out0", &t.ty(), &t, 8);
        assert!(r.contains("min -1  max 7  mean 3.0"), "{r}");
        let t = Tensor::from_vec(&[3], vec![1i32, 1, 2]).unwrap();
        assert!(describe("i", &t.ty(), &t, 8).contains("mean 1.3333334"));
        assert!(r.contains("[3, -1, 7]"), "{r}");
        let b = Tensor::from_bools(&[2], &[true, false]).unwrap();
        assert!(describe("b", &b.ty(), &b, 8).contains("1 of 2 true"));
        let e = Tensor::zeros(DType::F32, &[0, 4]).unwrap();
        let r = describe("e", &e.ty(), &e, 8);
        assert!(r.contains("empty") && r.contains("[]"), "{r}");
    }
}
