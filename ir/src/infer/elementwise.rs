//! Result types for the elementwise ops.
//!
//! Dtype rules follow ONNX (newest opset) with no implicit promotion: the
//! data operands of an op must share one dtype, and each op accepts the
//! dtypes ONNX lists for it (see [`Accepts`]). Shapes broadcast numpy-style
//! through [`super::broadcast`], which understands symbolic dims. Exceptions:
//! `pow` lets the exponent have any numeric dtype (the result has the base's);
//! `prelu` broadcasts the slope *onto* x (the result is x's type); `where`
//! broadcasts three ways; `clip`'s bounds are optional scalars of x's dtype
//! (an empty tensor stands for a missing bound); `max`/`min` take one or
//! more operands (ONNX's variadic form).
//!
//! Errors name the op and the shapes or dtypes involved, e.g.
//! "`add`: shapes [2,3] and [4] do not broadcast (axis 1: 3 vs 4)".

use super::{arity, broadcast, invalid, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::{ShapeDisplay, TensorType};

/// The element types an op accepts for its data operands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Accepts {
    Float,
    SignedOrFloat,
    Numeric,
    Int,
    Bool,
    /// Numeric or bool.
    Any,
}

impl Accepts {
    pub(crate) fn allows(self, d: DType) -> bool {
        match self {
            Accepts::Float => d.is_float(),
            Accepts::SignedOrFloat => d.is_float() || d.is_signed_int(),
            Accepts::Numeric => d.is_numeric(),
            Accepts::Int => d.is_int(),
            Accepts::Bool => d == DType::Bool,
            Accepts::Any => true,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Accepts::Float => "a float type (f32, f16, bf16, f64)",
            Accepts::SignedOrFloat => "a signed integer or float type",
            Accepts::Numeric => "a numeric type",
            Accepts::Int => "an integer type",
            Accepts::Bool => "bool",
            Accepts::Any => "any type",
        }
    }
}

/// The dtypes each elementwise op accepts for its data operands.
pub(crate) fn accepts(op: &Op) -> Accepts {
    use Op::*;
    match op {
        Neg | Relu => Accepts::SignedOrFloat,
        Abs
        | Sign
        | Erf
        | Shrink { .. }
        | Add
        | Sub
        | Mul
        | Div
        | Pow
        | Max
        | Min
        | Less
        | LessOrEqual
        | Greater
        | GreaterOrEqual
        | PRelu
        | Clip
        | Mod { .. } => Accepts::Numeric,
        Exp
        | Log
        | Sqrt
        | Reciprocal
        | Floor
        | Ceil
        | Round
        | Sin
        | Cos
        | Tan
        | Asin
        | Acos
        | Atan
        | Sinh
        | Cosh
        | Asinh
        | Acosh
        | Atanh
        | Tanh
        | Sigmoid
        | Softplus
        | Softsign
        | Mish
        | HardSwish
        | IsNaN
        | IsInf { .. }
        | LeakyRelu { .. }
        | Elu { .. }
        | Selu { .. }
        | Celu { .. }
        | ThresholdedRelu { .. }
        | HardSigmoid { .. }
        | Gelu { .. } => Accepts::Float,
        Not | And | Or | Xor => Accepts::Bool,
        // BitShift took unsigned integers only before opset 28; the newer
        // definition (arithmetic right shift for signed) includes the old.
        BitwiseNot | BitwiseAnd | BitwiseOr | BitwiseXor | BitShift { .. } => Accepts::Int,
        Equal | Where | Cast { .. } => Accepts::Any,
        _ => unreachable!("{} is not an elementwise op", op.name()),
    }
}

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    use Op::*;
    let acc = accepts(op);
    match op {
        Cast { to, .. } => {
            arity(op, inputs, 1, 1)?;
            Ok(vec![inputs[0].ty.with_dtype(*to)])
        }
        IsNaN | IsInf { .. } => {
            arity(op, inputs, 1, 1)?;
            check_dtype(op, 0, inputs[0].ty, acc)?;
            Ok(vec![inputs[0].ty.with_dtype(DType::Bool)])
        }
        Add
        | Sub
        | Mul
        | Div
        | Mod { .. }
        | And
        | Or
        | Xor
        | BitwiseAnd
        | BitwiseOr
        | BitwiseXor
        | BitShift { .. } => {
            arity(op, inputs, 2, 2)?;
            let (a, b) = (inputs[0].ty, inputs[1].ty);
            same_dtype(op, &[a, b], acc)?;
            Ok(vec![TensorType::new(
                a.dtype,
                bcast(op, &a.shape, &b.shape)?,
            )])
        }
        Equal | Less | LessOrEqual | Greater | GreaterOrEqual => {
            arity(op, inputs, 2, 2)?;
            let (a, b) = (inputs[0].ty, inputs[1].ty);
            same_dtype(op, &[a, b], acc)?;
            Ok(vec![TensorType::new(
                DType::Bool,
                bcast(op, &a.shape, &b.shape)?,
            )])
        }
        Pow => {
            arity(op, inputs, 2, 2)?;
            let (a, b) = (inputs[0].ty, inputs[1].ty);
            check_dtype(op, 0, a, acc)?;
            check_dtype(op, 1, b, acc)?;
            Ok(vec![TensorType::new(
                a.dtype,
                bcast(op, &a.shape, &b.shape)?,
            )])
        }
        Max | Min => {
            arity(op, inputs, 1, usize::MAX)?;
            let tys: Vec<&TensorType> = inputs.iter().map(|i| i.ty).collect();
            same_dtype(op, &tys, acc)?;
            let mut shape = tys[0].shape.clone();
            for t in &tys[1..] {
                shape = bcast(op, &shape, &t.shape)?;
            }
            Ok(vec![TensorType::new(tys[0].dtype, shape)])
        }
        PRelu => {
            arity(op, inputs, 2, 2)?;
            let (x, slope) = (inputs[0].ty, inputs[1].ty);
            same_dtype(op, &[x, slope], acc)?;
            if !unidirectional(&slope.shape, &x.shape) {
                return Err(invalid(
                    op,
                    format!(
                        "slope shape {} does not broadcast to x's shape {}",
                        ShapeDisplay(&slope.shape),
                        ShapeDisplay(&x.shape)
                    ),
                ));
            }
            Ok(vec![x.clone()])
        }
        Where => {
            arity(op, inputs, 3, 3)?;
            let (c, x, y) = (inputs[0].ty, inputs[1].ty, inputs[2].ty);
            if c.dtype != DType::Bool {
                return Err(invalid(
                    op,
                    format!("condition (operand 0) must be bool, not {}", c.dtype),
                ));
            }
            if x.dtype != y.dtype {
                return Err(invalid(
                    op,
                    format!(
                        "operands 1 and 2 differ in dtype: {} and {}",
                        x.dtype, y.dtype
                    ),
                ));
            }
            let s = bcast(op, &c.shape, &x.shape)?;
            Ok(vec![TensorType::new(x.dtype, bcast(op, &s, &y.shape)?)])
        }
        Clip => {
            arity(op, inputs, 1, 3)?;
            let x = inputs[0].ty;
            check_dtype(op, 0, x, acc)?;
            for (i, b) in inputs.iter().enumerate().skip(1) {
                let what = if i == 1 { "min" } else { "max" };
                if b.ty.dtype != x.dtype {
                    return Err(invalid(
                        op,
                        format!("{what} is {} but x is {}", b.ty.dtype, x.dtype),
                    ));
                }
                if b.ty.rank() > 1 || b.ty.known_numel().is_some_and(|n| n > 1) {
                    return Err(invalid(
                        op,
                        format!("{what} must be a scalar (or empty for none), not {}", b.ty),
                    ));
                }
            }
            Ok(vec![x.clone()])
        }
        _ => {
            // The remaining ops are unary and keep their operand's type.
            arity(op, inputs, 1, 1)?;
            check_dtype(op, 0, inputs[0].ty, acc)?;
            Ok(vec![inputs[0].ty.clone()])
        }
    }
}

fn check_dtype(op: &Op, i: usize, ty: &TensorType, acc: Accepts) -> Result<(), InferError> {
    if acc.allows(ty.dtype) {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!(
                "operand {i} is {} but this op needs {}",
                ty.dtype,
                acc.describe()
            ),
        ))
    }
}

/// Every type must be accepted and all must share one dtype (ONNX has no
/// implicit promotion).
fn same_dtype(op: &Op, tys: &[&TensorType], acc: Accepts) -> Result<(), InferError> {
    check_dtype(op, 0, tys[0], acc)?;
    for (i, t) in tys.iter().enumerate().skip(1) {
        if t.dtype != tys[0].dtype {
            return Err(invalid(
                op,
                format!(
                    "operands 0 and {i} differ in dtype: {} and {} (no implicit promotion; insert a cast)",
                    tys[0].dtype, t.dtype
                ),
            ));
        }
    }
    Ok(())
}

fn bcast(op: &Op, a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, InferError> {
    broadcast(a, b).map_err(|m| invalid(op, m))
}

/// Whether `from` broadcasts to exactly `to` (ONNX "unidirectional"
/// broadcasting). Symbolic and unknown dims are given the benefit of the
/// doubt; the interpreter checks the actual sizes.
pub(crate) fn unidirectional(from: &[Dim], to: &[Dim]) -> bool {
    if from.len() > to.len() {
        return false;
    }
    let off = to.len() - from.len();
    from.iter()
        .enumerate()
        .all(|(i, d)| match (d, &to[i + off]) {
            (Dim::Known(1), _) => true,
            (Dim::Known(a), Dim::Known(b)) => a == b,
            (a, b) => a.compatible(b),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::ShiftDirection;

    fn t(dtype: DType, dims: &[Dim]) -> TensorType {
        TensorType::new(dtype, dims.iter().cloned())
    }

    fn run(op: &Op, tys: &[TensorType]) -> Result<Vec<TensorType>, InferError> {
        let ins: Vec<InferInput> = tys.iter().map(InferInput::of_type).collect();
        infer(op, &ins)
    }

    fn err(op: &Op, tys: &[TensorType]) -> String {
        run(op, tys).unwrap_err().to_string()
    }

    #[test]
    fn binary_broadcasts_symbolic_shapes() {
        let b = Dim::var("batch");
        let x = t(DType::F32, &[b.clone(), 1.into(), 4.into()]);
        let y = t(DType::F32, &[3.into(), 1.into()]);
        let r = run(&Op::Add, &[x.clone(), y]).unwrap();
        assert_eq!(r, vec![t(DType::F32, &[b.clone(), 3.into(), 4.into()])]);
        let r = run(&Op::Less, &[x.clone(), x.clone()]).unwrap();
        assert_eq!(r[0].dtype, DType::Bool);
        assert_eq!(r[0].shape, x.shape);
    }

    #[test]
    fn broadcast_errors_name_op_and_shapes() {
        let e = err(
            &Op::Add,
            &[
                TensorType::fixed(DType::F32, &[2, 3]),
                TensorType::fixed(DType::F32, &[4]),
            ],
        );
        assert!(
            e.starts_with("`add`: shapes [2,3] and [4] do not broadcast"),
            "{e}"
        );
    }

    #[test]
    fn dtype_rules() {
        let f = TensorType::fixed(DType::F32, &[2]);
        let i = TensorType::fixed(DType::I64, &[2]);
        let u = TensorType::fixed(DType::U8, &[2]);
        let bo = TensorType::fixed(DType::Bool, &[2]);
        assert!(err(&Op::Add, &[f.clone(), i.clone()]).contains("f32 and i64"));
        assert!(err(&Op::Add, &[bo.clone(), bo.clone()]).contains("numeric"));
        assert!(err(&Op::Exp, std::slice::from_ref(&i)).contains("float"));
        assert!(err(&Op::Neg, std::slice::from_ref(&u)).contains("signed"));
        assert!(run(&Op::Neg, std::slice::from_ref(&i)).is_ok());
        assert!(run(&Op::Abs, std::slice::from_ref(&u)).is_ok());
        assert!(err(&Op::And, &[i.clone(), i.clone()]).contains("bool"));
        assert!(err(&Op::BitwiseAnd, &[f.clone(), f.clone()]).contains("integer"));
        let shl = Op::BitShift {
            direction: ShiftDirection::Left,
        };
        assert_eq!(run(&shl, &[i.clone(), i.clone()]).unwrap()[0], i);
        assert_eq!(run(&shl, &[u.clone(), u.clone()]).unwrap()[0], u);
        assert!(err(&shl, &[f.clone(), f.clone()]).contains("integer"));
        assert_eq!(run(&Op::Equal, &[bo.clone(), bo.clone()]).unwrap()[0], bo);
        assert!(err(&Op::Less, &[bo.clone(), bo.clone()]).contains("numeric"));
        // Pow: exponent of another numeric dtype; result is the base's.
        assert_eq!(run(&Op::Pow, &[f.clone(), i.clone()]).unwrap()[0], f);
        assert_eq!(run(&Op::Pow, &[i.clone(), f.clone()]).unwrap()[0], i);
        assert_eq!(run(&Op::IsNaN, std::slice::from_ref(&f)).unwrap()[0], bo);
        let cast = Op::Cast {
            to: DType::I8,
            saturate: true,
        };
        assert_eq!(
            run(&cast, std::slice::from_ref(&bo)).unwrap()[0].dtype,
            DType::I8
        );
        let fm = Op::Mod { fmod: false };
        assert_eq!(run(&fm, &[f.clone(), f.clone()]).unwrap()[0], f);
        assert!(run(&fm, &[i.clone(), i.clone()]).is_ok());
        assert!(run(&Op::Mod { fmod: true }, &[f.clone(), f.clone()]).is_ok());
    }

    #[test]
    fn arity_is_checked() {
        let f = TensorType::fixed(DType::F32, &[2]);
        assert!(matches!(
            run(&Op::Add, std::slice::from_ref(&f)),
            Err(InferError::Arity { given: 1, .. })
        ));
        assert!(matches!(
            run(&Op::Relu, &[f.clone(), f.clone()]),
            Err(InferError::Arity { .. })
        ));
        assert!(run(&Op::Max, &[]).is_err());
        let r = run(
            &Op::Max,
            &[
                f.clone(),
                TensorType::fixed(DType::F32, &[3, 1]),
                TensorType::scalar(DType::F32),
            ],
        )
        .unwrap();
        assert_eq!(r[0], TensorType::fixed(DType::F32, &[3, 2]));
        assert!(run(&Op::Clip, &[f.clone(), f.clone(), f.clone(), f.clone()]).is_err());
    }

    #[test]
    fn where_broadcasts_three_ways() {
        let c = TensorType::fixed(DType::Bool, &[2, 1, 1]);
        let x = TensorType::fixed(DType::I32, &[3, 1]);
        let y = TensorType::fixed(DType::I32, &[4]);
        let r = run(&Op::Where, &[c.clone(), x.clone(), y]).unwrap();
        assert_eq!(r[0], TensorType::fixed(DType::I32, &[2, 3, 4]));
        let y64 = TensorType::fixed(DType::I64, &[4]);
        assert!(err(&Op::Where, &[c.clone(), x.clone(), y64]).contains("i32 and i64"));
        assert!(err(&Op::Where, &[x.clone(), x.clone(), x.clone()]).contains("bool"));
        let bad = TensorType::fixed(DType::I32, &[2, 5]);
        assert!(err(&Op::Where, &[c, x, bad]).contains("[2,3,1] and [2,5]"));
    }

    #[test]
    fn clip_bounds_are_optional_scalars() {
        let x = t(DType::F16, &[Dim::var("n"), 3.into()]);
        let s = TensorType::scalar(DType::F16);
        let empty = TensorType::fixed(DType::F16, &[0]);
        let one = TensorType::fixed(DType::F16, &[1]);
        assert_eq!(run(&Op::Clip, std::slice::from_ref(&x)).unwrap()[0], x);
        assert_eq!(
            run(&Op::Clip, &[x.clone(), empty, s.clone()]).unwrap()[0],
            x
        );
        assert!(run(&Op::Clip, &[x.clone(), one, s.clone()]).is_ok());
        let two = TensorType::fixed(DType::F16, &[2]);
        assert!(err(&Op::Clip, &[x.clone(), two]).contains("scalar"));
        let wrong = TensorType::scalar(DType::F32);
        assert!(err(&Op::Clip, &[x, s, wrong]).contains("max is f32"));
    }

    #[test]
    fn prelu_is_unidirectional() {
        let x = t(DType::F32, &[Dim::var("b"), 3.into(), 4.into()]);
        let ok = TensorType::fixed(DType::F32, &[3, 1]);
        assert_eq!(run(&Op::PRelu, &[x.clone(), ok]).unwrap()[0], x);
        let grows = TensorType::fixed(DType::F32, &[2, 1, 1, 1]);
        assert!(err(&Op::PRelu, &[x.clone(), grows]).contains("slope shape"));
        let bad = TensorType::fixed(DType::F32, &[5]);
        assert!(err(&Op::PRelu, &[x.clone(), bad]).contains("[b,3,4]"));
        // A slope of size 4 cannot broadcast onto an x of size 1 (the result
        // would grow).
        let x1 = TensorType::fixed(DType::F32, &[1]);
        let s4 = TensorType::fixed(DType::F32, &[4]);
        assert!(run(&Op::PRelu, &[x1, s4]).is_err());
    }
}
