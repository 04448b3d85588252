//! Semantics of the elementwise ops.
//!
//! Operands are first checked with shape inference (arity, dtypes,
//! broadcasting), so the interpreter accepts exactly what the verifier does.
//! Then every element is computed in an exact working form (f64 for floats,
//! wrapping i64 for integers, bool) and stored once into the result dtype —
//! see `data.rs` for the conversions, which are also Cast's definition:
//! float → int truncates toward zero and saturates, NaN → 0 (ONNX leaves
//! out-of-range values undefined); int → int wraps; → bool is "nonzero"
//! (NaN is true); float → float rounds to nearest even, once.
//!
//! Floats follow IEEE (x/0 = ±inf, 0/0 = NaN); Max/Min/Clip/activations keep
//! NaN. Integer overflow wraps; integer Div and Mod by zero give 0.

mod binary;
pub(crate) mod data;
mod math;
mod unary;

use crate::op::Op;
use crate::tensor::Tensor;

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    use Op::*;
    data::validate(op, inputs)?;
    let out = match op {
        Cast { to, .. } => unary::cast(inputs[0], *to)?,
        Where => binary::where_(inputs[0], inputs[1], inputs[2])?,
        Clip => binary::clip(inputs)?,
        Max | Min => binary::variadic(op, inputs)?,
        Add
        | Sub
        | Mul
        | Div
        | Pow
        | Mod { .. }
        | Equal
        | Less
        | LessOrEqual
        | Greater
        | GreaterOrEqual
        | And
        | Or
        | Xor
        | BitwiseAnd
        | BitwiseOr
        | BitwiseXor
        | BitShift { .. }
        | PRelu => binary::eval(op, inputs[0], inputs[1])?,
        _ => unary::eval(op, inputs[0])?,
    };
    Ok(vec![out])
}

#[cfg(test)]
mod tests;
