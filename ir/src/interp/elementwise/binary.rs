//! Binary, variadic (Max, Min) and ternary (Where, Clip) elementwise ops.
//!
//! Operands broadcast numpy-style. Floats compute in f64 and round once;
//! integers compute in wrapping i64 and wrap into the result dtype, which
//! equals wrapping arithmetic in the narrow type. Integer Div truncates
//! toward zero; integer Div and Mod by zero give 0. Pow with an integer base
//! and a float exponent computes in f64 and converts as Cast does; with an
//! integer exponent it multiplies exactly (wrapping), see [`math::pow_i`].
//! BitShift: a shift amount outside `0..bits` (negative, or at least the bit
//! width) shifts every bit out: 0, except a right shift of a negative signed
//! value, which is arithmetic and gives -1 (ONNX opset 28). Left shifts wrap.
//! Float Mod with fmod=0 is Python's (numpy's) `%`: the result takes the
//! divisor's sign, a zero result is a signed zero with the divisor's sign.

use super::data::{load, store, Data};
use super::math;
use crate::attr::ShiftDirection;
use crate::dtype::DType;
use crate::interp::{broadcast_map, broadcast_shape};
use crate::op::Op;
use crate::tensor::Tensor;

/// The broadcast result shape of `ts` and, per operand, the flat index of
/// its element for each result element.
pub(super) fn broadcast_all(ts: &[&Tensor]) -> Result<(Vec<usize>, Vec<Vec<usize>>), String> {
    let mut shape = ts.first().map(|t| t.shape().to_vec()).unwrap_or_default();
    for t in ts.iter().skip(1) {
        shape = broadcast_shape(&shape, t.shape())?;
    }
    if shape.contains(&0) {
        // Empty: no maps needed (and the product of the other dims may not
        // even fit a usize).
        return Ok((shape, vec![vec![]; ts.len()]));
    }
    if shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .is_none()
    {
        return Err(format!("result shape {shape:?} is too large"));
    }
    let maps = ts
        .iter()
        .map(|t| broadcast_map(&shape, t.shape()))
        .collect();
    Ok((shape, maps))
}

fn zip<A: Copy, B: Copy, R>(x: &[A], y: &[B], m: &[Vec<usize>], f: impl Fn(A, B) -> R) -> Vec<R> {
    m[0].iter()
        .zip(&m[1])
        .map(|(&i, &j)| f(x[i], y[j]))
        .collect()
}

/// Binary ops, including PRelu (whose result shape is x's; the verifier has
/// checked that the slope broadcasts onto it).
pub(super) fn eval(op: &Op, a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
    use Op::*;
    let (shape, m) = broadcast_all(&[a, b])?;
    let out_dtype = match op {
        Equal | Less | LessOrEqual | Greater | GreaterOrEqual | And | Or | Xor => DType::Bool,
        _ => a.dtype(),
    };
    let out = match (load(a), load(b)) {
        (Data::F(x), Data::F(y)) => match op {
            Pow => Data::F(zip(&x, &y, &m, f64::powf)),
            _ => match cmp_fn(op) {
                Some(c) => Data::B(zip(&x, &y, &m, |p, q| c(p.partial_cmp(&q)))),
                None => Data::F(zip(&x, &y, &m, float_fn(op)?)),
            },
        },
        (Data::I(x), Data::I(y)) => match op {
            Pow => Data::I(zip(&x, &y, &m, math::pow_i)),
            BitShift { direction } => {
                let bits = 8 * a.dtype().size() as i64;
                // Values are sign- or zero-extended into i64, so `>>` on the
                // i64 is the narrow type's arithmetic (signed) or logical
                // (unsigned) shift; left shifts wrap when stored back.
                let f = move |v: i64, s: i64| match direction {
                    ShiftDirection::Left if (0..bits).contains(&s) => v << s,
                    ShiftDirection::Right if (0..bits).contains(&s) => v >> s,
                    ShiftDirection::Right if v < 0 => -1,
                    _ => 0,
                };
                Data::I(zip(&x, &y, &m, f))
            }
            _ => match cmp_fn(op) {
                Some(c) => Data::B(zip(&x, &y, &m, |p, q| c(Some(p.cmp(&q))))),
                None => Data::I(zip(&x, &y, &m, int_fn(op)?)),
            },
        },
        // Pow's exponent may have another type than its base.
        (Data::F(x), Data::I(y)) if *op == Pow => Data::F(zip(&x, &y, &m, |p, q| p.powf(q as f64))),
        (Data::I(x), Data::F(y)) if *op == Pow => {
            Data::F(zip(&x, &y, &m, |p, q| (p as f64).powf(q)))
        }
        (Data::B(x), Data::B(y)) => {
            let f: fn(bool, bool) -> bool = match op {
                And => |p, q| p && q,
                Or => |p, q| p || q,
                Xor => |p, q| p != q,
                Equal => |p, q| p == q,
                _ => return Err(format!("`{}` is not defined on bools", op.name())),
            };
            Data::B(zip(&x, &y, &m, f))
        }
        _ => {
            return Err(format!(
                "`{}` is not defined on {} and {}",
                op.name(),
                a.dtype(),
                b.dtype()
            ))
        }
    };
    store(out_dtype, &shape, out)
}

type Cmp = fn(Option<std::cmp::Ordering>) -> bool;

/// Comparisons, on the ordering of two elements (`None`: a NaN is involved,
/// and every comparison is false, as IEEE says).
fn cmp_fn(op: &Op) -> Option<Cmp> {
    use std::cmp::Ordering::*;
    Some(match op {
        Op::Equal => |o| o == Some(Equal),
        Op::Less => |o| o == Some(Less),
        Op::LessOrEqual => |o| matches!(o, Some(Less | Equal)),
        Op::Greater => |o| o == Some(Greater),
        Op::GreaterOrEqual => |o| matches!(o, Some(Greater | Equal)),
        _ => return None,
    })
}

fn float_fn(op: &Op) -> Result<fn(f64, f64) -> f64, String> {
    use Op::*;
    Ok(match op {
        Add => |a, b| a + b,
        Sub => |a, b| a - b,
        Mul => |a, b| a * b,
        Div => |a, b| a / b,
        // f64's `%` is C's fmod, exact.
        Mod { fmod: true } => |a, b| a % b,
        Mod { fmod: false } => math::mod_f,
        Max => math::max_f,
        Min => math::min_f,
        PRelu => |x, s| if x < 0.0 { s * x } else { x },
        _ => return Err(format!("`{}` is not defined on floats", op.name())),
    })
}

fn int_fn(op: &Op) -> Result<fn(i64, i64) -> i64, String> {
    use Op::*;
    Ok(match op {
        Add => i64::wrapping_add,
        Sub => i64::wrapping_sub,
        Mul => i64::wrapping_mul,
        Div => math::div_i,
        Mod { fmod: true } => math::fmod_i,
        Mod { fmod: false } => math::mod_i,
        Max => |a, b| a.max(b),
        Min => |a, b| a.min(b),
        BitwiseAnd => |a, b| a & b,
        BitwiseOr => |a, b| a | b,
        BitwiseXor => |a, b| a ^ b,
        PRelu => |x, s| if x < 0 { s.wrapping_mul(x) } else { x },
        _ => return Err(format!("`{}` is not defined on integers", op.name())),
    })
}

/// Max and Min over one or more operands.
pub(super) fn variadic(op: &Op, ts: &[&Tensor]) -> Result<Tensor, String> {
    let (shape, m) = broadcast_all(ts)?;
    let n = m[0].len();
    let data: Vec<Data> = ts.iter().map(|t| load(t)).collect();
    let out = match &data[0] {
        Data::F(_) => {
            let f = float_fn(op)?;
            let cols: Vec<&Vec<f64>> = data.iter().filter_map(as_f).collect();
            Data::F(fold(n, &cols, &m, f))
        }
        Data::I(_) => {
            let f = int_fn(op)?;
            let cols: Vec<&Vec<i64>> = data.iter().filter_map(as_i).collect();
            Data::I(fold(n, &cols, &m, f))
        }
        Data::B(_) => return Err(format!("`{}` is not defined on bools", op.name())),
    };
    store(ts[0].dtype(), &shape, out)
}

fn as_f(d: &Data) -> Option<&Vec<f64>> {
    match d {
        Data::F(v) => Some(v),
        _ => None,
    }
}

fn as_i(d: &Data) -> Option<&Vec<i64>> {
    match d {
        Data::I(v) => Some(v),
        _ => None,
    }
}

fn fold<T: Copy>(n: usize, cols: &[&Vec<T>], m: &[Vec<usize>], f: fn(T, T) -> T) -> Vec<T> {
    (0..n)
        .map(|o| {
            let first = cols[0][m[0][o]];
            cols.iter()
                .zip(m)
                .skip(1)
                .fold(first, |acc, (c, mk)| f(acc, c[mk[o]]))
        })
        .collect()
}

/// `where %cond, %x, %y`: copies whole elements (bit patterns included).
pub(super) fn where_(c: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor, String> {
    let (shape, m) = broadcast_all(&[c, x, y])?;
    let cond = c.to_bools();
    let size = x.dtype().size();
    let (xb, yb) = (x.bytes(), y.bytes());
    let mut bytes = Vec::with_capacity(m[0].len() * size);
    for o in 0..m[0].len() {
        let (src, i) = if cond[m[0][o]] {
            (xb, m[1][o])
        } else {
            (yb, m[2][o])
        };
        bytes.extend_from_slice(&src[i * size..(i + 1) * size]);
    }
    Tensor::from_bytes(x.dtype(), &shape, &bytes).map_err(|e| e.to_string())
}

/// `clip %x[, %min[, %max]]`: an empty bound is absent. NaN stays NaN; with
/// min > max every element becomes max (ONNX).
pub(super) fn clip(ts: &[&Tensor]) -> Result<Tensor, String> {
    let x = ts[0];
    let bound = |k: usize| -> Result<Option<Data>, String> {
        match ts.get(k) {
            Some(t) if t.numel() > 1 => Err(format!(
                "{} must hold at most one element, holds {}",
                if k == 1 { "min" } else { "max" },
                t.numel()
            )),
            Some(t) if t.numel() == 1 => Ok(Some(load(t))),
            _ => Ok(None),
        }
    };
    let (lo, hi) = (bound(1)?, bound(2)?);
    let out = match load(x) {
        Data::F(v) => {
            let lo = lo.as_ref().and_then(as_f).map(|v| v[0]);
            let hi = hi.as_ref().and_then(as_f).map(|v| v[0]);
            Data::F(v.into_iter().map(|e| math::clamp_f(e, lo, hi)).collect())
        }
        Data::I(v) => {
            let lo = lo.as_ref().and_then(as_i).map(|v| v[0]);
            let hi = hi.as_ref().and_then(as_i).map(|v| v[0]);
            Data::I(
                v.into_iter()
                    .map(|e| {
                        let e = lo.map_or(e, |l| e.max(l));
                        hi.map_or(e, |h| e.min(h))
                    })
                    .collect(),
            )
        }
        Data::B(_) => return Err("`clip` is not defined on bools".into()),
    };
    store(x.dtype(), x.shape(), out)
}
