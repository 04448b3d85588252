//! Constant, If and Loop.
//!
//! An If whose condition is a compile-time constant is replaced by its taken
//! branch (its nodes are converted straight into the enclosing graph).
//! Otherwise both branches become closed IR subgraphs taking the same
//! captures. Loop becomes `loop %max_trip, %cond, %carried..., %captures...`
//! with absent trip count / condition made explicit.

use super::Cx;
use crate::onnx::import::free_names;
use crate::onnx::tensor::tensor_from_proto;
use crate::onnx::OnnxError;
use ingot_ir::{DType, Dim, Op, Tensor, TensorType, Value};

pub(super) fn converter(op_type: &str) -> Option<super::Convert> {
    Some(match op_type {
        "Constant" => constant,
        "If" => if_op,
        "Loop" => loop_op,
        _ => return None,
    })
}

fn constant(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let at = &cx.attrs;
    let t = if let Some(t) = cx.a(at.tensor_opt("value"))? {
        tensor_from_proto(t, None)?
    } else if let Some(f) = cx.a(at.float_opt("value_float"))? {
        Tensor::scalar(f)
    } else if let Some(v) = cx.a(at.floats_opt("value_floats"))? {
        Tensor::from_vec(&[v.len()], v).map_err(|e| cx.err(e.to_string()))?
    } else if let Some(i) = cx.a(at.int_opt("value_int"))? {
        Tensor::scalar(i)
    } else if let Some(v) = cx.a(at.ints_opt("value_ints"))? {
        Tensor::from_vec(&[v.len()], v).map_err(|e| cx.err(e.to_string()))?
    } else if at.has("value_string") || at.has("value_strings") {
        return Err(OnnxError::UnsupportedType(format!(
            "string Constant `{}`",
            cx.label
        )));
    } else if at.has("sparse_value") {
        return Err(OnnxError::UnsupportedType(format!(
            "sparse Constant `{}`",
            cx.label
        )));
    } else {
        return Err(cx.err("Constant has no value attribute"));
    };
    Ok(vec![cx.constant(t)])
}

fn if_op(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let cond = cx.req(0)?;
    let then_g = cx.a(cx.attrs.graph("then_branch"))?;
    let else_g = cx.a(cx.attrs.graph("else_branch"))?;
    if let Some(t) = cx.konst(cond) {
        let taken = match t.to_bools().as_slice() {
            [b] => *b,
            v => return Err(cx.err(format!("condition holds {} elements, not one", v.len()))),
        };
        return cx.imp.inline_subgraph(if taken { then_g } else { else_g });
    }
    let mut names = free_names(then_g);
    for n in free_names(else_g) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let label = cx.label.to_string();
    let (then_ir, caps) = cx
        .imp
        .convert_subgraph(then_g, &format!("{label}.then"), &[], &names)?;
    let (else_ir, caps2) =
        cx.imp
            .convert_subgraph(else_g, &format!("{label}.else"), &[], &names)?;
    debug_assert_eq!(caps, caps2, "same names give the same captures");
    let mut ins = vec![cond];
    ins.extend(caps);
    cx.add(
        Op::If {
            then_branch: Box::new(then_ir),
            else_branch: Box::new(else_ir),
        },
        &ins,
    )
}

fn loop_op(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let body = cx.a(cx.attrs.graph("body"))?;
    let max_trip = match cx.input(0)? {
        Some(m) => m,
        None => cx.constant(Tensor::scalar(i64::MAX)),
    };
    let cond = match cx.input(1)? {
        Some(c) => c,
        None => cx.constant(Tensor::from_bools(&[], &[true]).expect("scalar")),
    };
    let carried: Vec<Value> = (2..cx.n_inputs())
        .map(|i| cx.req(i))
        .collect::<Result<_, _>>()?;
    if body.input.len() != 2 + carried.len() {
        return Err(cx.err(format!(
            "the body takes {} inputs; expected 2 + {} carried",
            body.input.len(),
            carried.len()
        )));
    }
    // Body inputs: iteration (i64 scalar), condition (bool scalar), carried
    // values typed as declared when that agrees with the initial value, else
    // with the initial dtype and rank and unknown dims (they may change
    // between iterations).
    let mut fixed = vec![
        Some(TensorType::scalar(DType::I64)),
        Some(TensorType::scalar(DType::Bool)),
    ];
    for (k, &v) in carried.iter().enumerate() {
        let init = cx.ty(v);
        let declared = cx.imp.value_type(&body.input[2 + k], false).ok();
        fixed.push(Some(match declared {
            Some(d) if d.dtype == init.dtype && d.rank() == init.rank() => d,
            _ => TensorType::new(init.dtype, vec![Dim::Unknown; init.rank()]),
        }));
    }
    let label = cx.label.to_string();
    let names = free_names(body);
    let (body_ir, caps) =
        cx.imp
            .convert_subgraph(body, &format!("{label}.body"), &fixed, &names)?;
    let mut ins = vec![max_trip, cond];
    ins.extend(&carried);
    ins.extend(caps);
    cx.add(
        Op::Loop {
            body: Box::new(body_ir),
            num_carried: carried.len() as i64,
        },
        &ins,
    )
}
