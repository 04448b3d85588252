//! Unary elementwise ops and Cast.
//!
//! Floats compute in f64 and round once to the result dtype. Integers use
//! wrapping i64 arithmetic (Neg/Abs of the minimum value wrap to itself).
//! Erf and Shrink on integers compute in f64 and convert back as Cast does
//! (truncate toward zero, saturate). Activations keep NaN inputs as NaN.

use super::data::{load, store, Data};
use super::math;
use crate::attr::GeluApprox;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

type FloatFn = Box<dyn Fn(f64) -> f64>;

pub(super) fn eval(op: &Op, x: &Tensor) -> Result<Tensor, String> {
    let out = match (load(x), op) {
        (Data::B(v), Op::Not) => Data::B(v.into_iter().map(|b| !b).collect()),
        (Data::F(v), Op::IsNaN) => Data::B(v.into_iter().map(f64::is_nan).collect()),
        (
            Data::F(v),
            Op::IsInf {
                detect_negative,
                detect_positive,
            },
        ) => Data::B(
            v.into_iter()
                .map(|x| {
                    (x == f64::INFINITY && *detect_positive)
                        || (x == f64::NEG_INFINITY && *detect_negative)
                })
                .collect(),
        ),
        (Data::F(v), _) => Data::F(v.into_iter().map(float_fn(op)?).collect()),
        (Data::I(v), Op::Erf | Op::Shrink { .. }) => {
            let f = float_fn(op)?;
            Data::F(v.into_iter().map(|i| f(i as f64)).collect())
        }
        (Data::I(v), _) => Data::I(v.into_iter().map(int_fn(op)?).collect()),
        (d, _) => return Err(no_semantics(op, &d)),
    };
    let dtype = match op {
        Op::IsNaN | Op::IsInf { .. } => DType::Bool,
        _ => x.dtype(),
    };
    store(dtype, x.shape(), out)
}

/// Cast: every conversion is [`store`]'s (see `data.rs`). `saturate` only
/// changes float8 conversions in ONNX, and Ingot has no float8 types.
pub(super) fn cast(x: &Tensor, to: DType) -> Result<Tensor, String> {
    store(to, x.shape(), load(x))
}

fn no_semantics(op: &Op, d: &Data) -> String {
    let form = match d {
        Data::F(_) => "floats",
        Data::I(_) => "integers",
        Data::B(_) => "bools",
    };
    format!("`{}` is not defined on {form}", op.name())
}

fn float_fn(op: &Op) -> Result<FloatFn, String> {
    use Op::*;
    Ok(match *op {
        Neg => Box::new(|x: f64| -x),
        Abs => Box::new(f64::abs),
        Sign => Box::new(math::sign),
        Exp => Box::new(f64::exp),
        Log => Box::new(f64::ln),
        Sqrt => Box::new(f64::sqrt),
        Reciprocal => Box::new(f64::recip),
        Floor => Box::new(f64::floor),
        Ceil => Box::new(f64::ceil),
        Round => Box::new(f64::round_ties_even),
        Sin => Box::new(f64::sin),
        Cos => Box::new(f64::cos),
        Tan => Box::new(f64::tan),
        Asin => Box::new(f64::asin),
        Acos => Box::new(f64::acos),
        Atan => Box::new(f64::atan),
        Sinh => Box::new(f64::sinh),
        Cosh => Box::new(f64::cosh),
        Asinh => Box::new(f64::asinh),
        Acosh => Box::new(f64::acosh),
        Atanh => Box::new(f64::atanh),
        Tanh => Box::new(f64::tanh),
        Sigmoid => Box::new(math::sigmoid),
        // `x < 0` is false for NaN and -0.0, which pass through.
        Relu => Box::new(|x: f64| if x < 0.0 { 0.0 } else { x }),
        Erf => Box::new(math::erf),
        Softplus => Box::new(math::softplus),
        Softsign => Box::new(|x: f64| x / (1.0 + x.abs())),
        Mish => Box::new(|x: f64| x * math::softplus(x).tanh()),
        HardSwish => Box::new(|x: f64| x * hard_sigmoid(x, 1.0 / 6.0, 0.5)),
        LeakyRelu { alpha } => {
            let a = f64::from(alpha);
            Box::new(move |x| if x < 0.0 { a * x } else { x })
        }
        Elu { alpha } => {
            let a = f64::from(alpha);
            Box::new(move |x| if x < 0.0 { a * x.exp_m1() } else { x })
        }
        Selu { alpha, gamma } => {
            let (a, g) = (f64::from(alpha), f64::from(gamma));
            Box::new(move |x| {
                if x <= 0.0 {
                    g * (a * x.exp() - a)
                } else {
                    g * x
                }
            })
        }
        Celu { alpha } => {
            let a = f64::from(alpha);
            // max(0, x) + min(0, a·(e^(x/a) - 1)), NaN kept.
            Box::new(move |x| {
                if x.is_nan() {
                    x
                } else {
                    x.max(0.0) + (a * (x / a).exp_m1()).min(0.0)
                }
            })
        }
        ThresholdedRelu { alpha } => {
            let a = f64::from(alpha);
            Box::new(move |x| if x > a || x.is_nan() { x } else { 0.0 })
        }
        HardSigmoid { alpha, beta } => {
            let (a, b) = (f64::from(alpha), f64::from(beta));
            Box::new(move |x| hard_sigmoid(x, a, b))
        }
        Gelu { approximate } => match approximate {
            GeluApprox::None => Box::new(math::gelu),
            GeluApprox::Tanh => Box::new(math::gelu_tanh),
        },
        Shrink { bias, lambd } => {
            let (b, l) = (f64::from(bias), f64::from(lambd));
            Box::new(move |x| {
                if x < -l {
                    x + b
                } else if x > l {
                    x - b
                } else if x.is_nan() {
                    x
                } else {
                    0.0
                }
            })
        }
        _ => return Err(format!("`{}` is not defined on floats", op.name())),
    })
}

/// max(0, min(1, a·x + b)), NaN kept.
fn hard_sigmoid(x: f64, a: f64, b: f64) -> f64 {
    math::clamp_f(a * x + b, Some(0.0), Some(1.0))
}

fn int_fn(op: &Op) -> Result<fn(i64) -> i64, String> {
    Ok(match op {
        Op::Neg => i64::wrapping_neg,
        Op::Abs => i64::wrapping_abs,
        Op::Sign => i64::signum,
        Op::Relu => |x| x.max(0),
        Op::BitwiseNot => |x| !x,
        _ => return Err(format!("`{}` is not defined on integers", op.name())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    fn f32s(v: &[f32]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    fn run(op: &Op, x: &Tensor) -> Tensor {
        super::super::eval(op, &[x]).unwrap().remove(0)
    }

    #[test]
    fn relu_keeps_nan_and_negative_zero() {
        let r = run(&Op::Relu, &f32s(&[-1.0, -0.0, 2.5, f32::NAN]));
        let v = r.as_slice::<f32>().unwrap();
        assert_eq!(v[0].to_bits(), 0.0f32.to_bits());
        assert_eq!(v[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(v[2], 2.5);
        assert!(v[3].is_nan());
        let i = Tensor::from_vec(&[3], vec![-5i8, 0, 7]).unwrap();
        assert_eq!(run(&Op::Relu, &i).to_i64s(), vec![0, 0, 7]);
    }

    #[test]
    fn integer_unary_wraps() {
        let i = Tensor::from_vec(&[3], vec![i8::MIN, -3, 4]).unwrap();
        assert_eq!(run(&Op::Neg, &i).to_i64s(), vec![-128, 3, -4]);
        assert_eq!(run(&Op::Abs, &i).to_i64s(), vec![-128, 3, 4]);
        assert_eq!(run(&Op::Sign, &i).to_i64s(), vec![-1, -1, 1]);
        let u = Tensor::from_vec(&[3], vec![0u8, 5, 255]).unwrap();
        assert_eq!(run(&Op::Abs, &u).to_i64s(), vec![0, 5, 255]);
        assert_eq!(run(&Op::Sign, &u).to_i64s(), vec![0, 1, 1]);
        assert_eq!(run(&Op::BitwiseNot, &u).to_i64s(), vec![255, 250, 0]);
        let s = Tensor::from_vec(&[2], vec![0i32, -1]).unwrap();
        assert_eq!(run(&Op::BitwiseNot, &s).to_i64s(), vec![-1, 0]);
    }

    #[test]
    fn round_is_half_to_even_and_float_types_round_once() {
        let r = run(&Op::Round, &f32s(&[0.5, 1.5, 2.5, -0.5, -2.5, 2.4]));
        assert_eq!(r.to_f64s(), vec![0.0, 2.0, 2.0, -0.0, -2.0, 2.0]);
        assert!(r.as_slice::<f32>().unwrap()[3].is_sign_negative());
        // f16: sqrt(2) rounded once to the nearest f16.
        let h = Tensor::from_vec(&[1], vec![f16::from_f32(2.0)]).unwrap();
        let r = run(&Op::Sqrt, &h);
        assert_eq!(r.dtype(), DType::F16);
        assert_eq!(r.as_slice::<f16>().unwrap()[0], f16::from_f64(2f64.sqrt()));
        let b = Tensor::from_vec(&[1], vec![bf16::from_f32(1.0)]).unwrap();
        let r = run(&Op::Exp, &b);
        assert_eq!(r.as_slice::<bf16>().unwrap()[0].to_f64(), 2.71875);
        // f32 exp is the f64 value rounded once.
        let r = run(&Op::Exp, &f32s(&[1.0]));
        assert_eq!(r.as_slice::<f32>().unwrap()[0], std::f64::consts::E as f32);
    }

    #[test]
    fn activations_with_attributes() {
        let x = f32s(&[-2.0, -0.5, 0.0, 1.0, f32::NAN]);
        let r = run(&Op::LeakyRelu { alpha: 0.1 }, &x).to_f64s();
        assert_eq!(r[0], f64::from(-2.0f32 * 0.1));
        assert_eq!(r[3], 1.0);
        assert!(r[4].is_nan());
        let r = run(&Op::ThresholdedRelu { alpha: 0.5 }, &x).to_f64s();
        assert_eq!(&r[..4], &[0.0, 0.0, 0.0, 1.0]);
        assert!(r[4].is_nan());
        let r = run(
            &Op::HardSigmoid {
                alpha: 0.5,
                beta: 0.5,
            },
            &x,
        )
        .to_f64s();
        assert_eq!(&r[..4], &[0.0, 0.25, 0.5, 1.0]);
        assert!(r[4].is_nan());
        let r = run(&Op::HardSwish, &f32s(&[-4.0, 0.0, 1.5, 4.0])).to_f64s();
        assert_eq!(r, vec![-0.0, 0.0, 1.5 * 0.75, 4.0]);
        let r = run(&Op::Celu { alpha: 2.0 }, &f32s(&[-2.0, 3.0])).to_f64s();
        assert_eq!(r[0], f64::from((2.0 * (-1f64).exp_m1()) as f32));
        assert_eq!(r[1], 3.0);
        let r = run(
            &Op::Shrink {
                bias: 1.5,
                lambd: 1.0,
            },
            &f32s(&[-2.0, -1.0, 0.5, 3.0]),
        )
        .to_f64s();
        assert_eq!(r, vec![-0.5, 0.0, 0.0, 1.5]);
        let i = Tensor::from_vec(&[3], vec![-3i32, 0, 3]).unwrap();
        let r = run(
            &Op::Shrink {
                bias: 0.5,
                lambd: 1.0,
            },
            &i,
        );
        assert_eq!(r.to_i64s(), vec![-2, 0, 2]);
    }

    #[test]
    fn predicates_give_bool() {
        let x = f32s(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0]);
        assert_eq!(run(&Op::IsNaN, &x).dtype(), DType::Bool);
        assert_eq!(
            run(&Op::IsNaN, &x).to_bools(),
            vec![true, false, false, false]
        );
        let inf = |n, p| Op::IsInf {
            detect_negative: n,
            detect_positive: p,
        };
        assert_eq!(run(&inf(true, true), &x).dtype(), DType::Bool);
        assert_eq!(
            run(&inf(true, true), &x).to_bools(),
            vec![false, true, true, false]
        );
        assert_eq!(
            run(&inf(false, true), &x).to_bools(),
            vec![false, true, false, false]
        );
        let b = Tensor::from_bools(&[2], &[true, false]).unwrap();
        assert_eq!(run(&Op::Not, &b).to_bools(), vec![false, true]);
    }

    #[test]
    fn cast_conversions() {
        let c = |to| Op::Cast { to, saturate: true };
        let x = f32s(&[-1.7, 2.9, 1e10, f32::NAN, -0.0]);
        assert_eq!(
            run(&c(DType::I32), &x).to_i64s(),
            vec![-1, 2, i32::MAX as i64, 0, 0]
        );
        assert_eq!(run(&c(DType::U8), &x).to_i64s(), vec![0, 2, 255, 0, 0]);
        assert_eq!(
            run(&c(DType::Bool), &x).to_bools(),
            vec![true, true, true, true, false]
        );
        let i = Tensor::from_vec(&[2], vec![300i64, -1]).unwrap();
        assert_eq!(run(&c(DType::U8), &i).to_i64s(), vec![44, 255]);
        assert_eq!(run(&c(DType::I8), &i).to_i64s(), vec![44, -1]);
        let b = Tensor::from_bools(&[2], &[true, false]).unwrap();
        assert_eq!(run(&c(DType::F16), &b).to_f64s(), vec![1.0, 0.0]);
        // f32 → f16 rounds to nearest even, overflows to inf.
        let x = f32s(&[1.0 + 2f32.powi(-11), 65520.0, 1e-8]);
        assert_eq!(
            run(&c(DType::F16), &x).to_f64s(),
            vec![1.0, f64::INFINITY, 0.0]
        );
        let big = Tensor::from_vec(&[1], vec![16777217i64]).unwrap();
        assert_eq!(run(&c(DType::F32), &big).to_f64s(), vec![16777216.0]);
    }

    #[test]
    fn empty_tensors_and_wrong_dtypes() {
        let e = Tensor::zeros(DType::F32, &[0, 3]).unwrap();
        let r = run(&Op::Exp, &e);
        assert_eq!(r.shape(), &[0, 3]);
        let i = Tensor::from_vec(&[1], vec![1i64]).unwrap();
        let err = super::super::eval(&Op::Exp, &[&i]).unwrap_err();
        assert!(err.contains("i64") && err.contains("float"), "{err}");
        assert!(super::super::eval(&Op::Exp, &[]).is_err());
    }
}
