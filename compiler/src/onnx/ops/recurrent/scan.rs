//! Scan (opset 9+) as an IR `loop`.
//!
//! `Scan(states..., scan_inputs...)` with body `(states..., elements...) ->
//! (states..., scan_elements...)` becomes
//! `loop %len, %true, %states..., %scan_inputs..., %captures...` whose body
//! takes element `i` of every scan input with `gather` (index `-1 - i` for a
//! reverse direction), runs the ONNX body's nodes (converted, then copied
//! in), and passes the condition through. The loop stacks the scan outputs
//! along a new leading axis; a reverse output is flipped with `slice` and a
//! non-zero output axis is moved into place with `transpose`. The trip count
//! is the first scan input's length along its scan axis (a constant when
//! static, else read with `shape`); the leading dim of each scan output is
//! declared as that length, which the loop's own inference leaves as `?`.
//!
//! Opset 8's Scan (with a batch axis and `sequence_lens`) is not supported.

use super::super::Cx;
use crate::onnx::import::free_names;
use crate::onnx::OnnxError;
use ingot_ir::{DType, Dim, Graph, Op, Tensor, TensorType, Value};
use std::collections::HashMap;

pub(super) fn scan(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    if cx.opset < 9 {
        return Err(cx.unsupported("Scan before opset 9 (batch axis, sequence_lens)"));
    }
    let body = cx.a(cx.attrs.graph("body"))?;
    let m = usize::try_from(cx.a(cx.attrs.int("num_scan_inputs", 0))?)
        .ok()
        .filter(|&m| m >= 1 && m <= cx.n_inputs())
        .ok_or_else(|| cx.err("num_scan_inputs must be in 1..=the number of inputs"))?;
    let ins: Vec<Value> = (0..cx.n_inputs())
        .map(|i| cx.req(i))
        .collect::<Result<_, _>>()?;
    let n = ins.len() - m;
    let k = body
        .output
        .len()
        .checked_sub(n)
        .ok_or_else(|| cx.err(format!("the body returns fewer than {n} states")))?;
    if body.input.len() != n + m {
        return Err(cx.err(format!(
            "the body takes {} inputs; expected {n} states + {m} scan elements",
            body.input.len()
        )));
    }
    let ints = |cx: &Cx, name: &str, len: usize| -> Result<Vec<i64>, OnnxError> {
        let v = cx.a(cx.attrs.ints_opt(name))?.unwrap_or(vec![0; len]);
        if v.len() != len {
            return Err(cx.err(format!("{name} has {} entries, not {len}", v.len())));
        }
        Ok(v)
    };
    let in_axes = ints(cx, "scan_input_axes", m)?;
    let in_dirs = ints(cx, "scan_input_directions", m)?;
    let out_axes = ints(cx, "scan_output_axes", k)?;
    let out_dirs = ints(cx, "scan_output_directions", k)?;

    // Scan inputs: normalized axes and element types.
    let (states, scans) = ins.split_at(n);
    let mut axes = vec![];
    let mut elem_tys = vec![];
    for (j, &s) in scans.iter().enumerate() {
        let t = cx.ty(s);
        let a = ingot_ir::infer::norm_axis(in_axes[j], t.rank()).map_err(|e| cx.err(e))?;
        let mut shape = t.shape.clone();
        shape.remove(a);
        axes.push(a);
        elem_tys.push(t.with_shape(shape));
    }
    let len_dim = cx.ty(scans[0]).shape[axes[0]].clone();

    // The ONNX body, converted with its inputs typed from the outer values.
    let mut fixed: Vec<Option<TensorType>> = vec![];
    for (j, &s) in states.iter().enumerate() {
        let init = cx.ty(s);
        let declared = cx.imp.value_type(&body.input[j], false).ok();
        fixed.push(Some(match declared {
            Some(d) if d.dtype == init.dtype && d.rank() == init.rank() => d,
            _ => TensorType::new(init.dtype, vec![Dim::Unknown; init.rank()]),
        }));
    }
    fixed.extend(elem_tys.iter().cloned().map(Some));
    let label = cx.label.to_string();
    let names = free_names(body);
    let (inner, caps) = cx
        .imp
        .convert_subgraph(body, &format!("{label}.body"), &fixed, &names)?;

    // The loop body: (i, cond, states..., scan inputs..., captures...).
    let wrap = |e: String| cx.err(format!("building the loop body: {e}"));
    let mut lb = Graph::new(format!("{label}.loop"));
    let iter = lb
        .add_input("i", TensorType::scalar(DType::I64))
        .map_err(wrap)?;
    let cond = lb
        .add_input("cond", TensorType::scalar(DType::Bool))
        .map_err(wrap)?;
    let mut map: HashMap<Value, Value> = HashMap::new();
    let inner_ins = inner.inputs().to_vec();
    for (j, &v) in inner_ins[..n].iter().enumerate() {
        let s = lb
            .add_input(&format!("state{j}"), inner.ty(v).clone())
            .map_err(wrap)?;
        map.insert(v, s);
    }
    let mut fulls = vec![];
    for (j, &s) in scans.iter().enumerate() {
        fulls.push(lb.add_input(&format!("scan{j}"), cx.ty(s)).map_err(wrap)?);
    }
    for (j, &v) in inner_ins[n + m..].iter().enumerate() {
        let c = lb
            .add_input(&format!("capture{j}"), inner.ty(v).clone())
            .map_err(wrap)?;
        map.insert(v, c);
    }
    let infer_err = |e: ingot_ir::InferError| cx.err(format!("building the loop body: {e}"));
    let rev_index = if in_dirs.iter().any(|&d| d != 0) {
        let m1 = lb.add_const(Tensor::scalar(-1i64));
        Some(lb.add_node(Op::Sub, &[m1, iter]).map_err(infer_err)?[0])
    } else {
        None
    };
    for j in 0..m {
        let idx = if in_dirs[j] != 0 {
            rev_index.expect("made above")
        } else {
            iter
        };
        let axis = axes[j] as i64;
        let e = lb
            .add_node(Op::Gather { axis }, &[fulls[j], idx])
            .map_err(infer_err)?[0];
        map.insert(inner_ins[n + j], e);
    }
    copy_nodes(&inner, &mut lb, &mut map);
    let mut outs = vec![cond];
    outs.extend(inner.outputs().iter().map(|v| map[v]));
    lb.set_outputs(outs);

    // The trip count: the first scan input's length.
    let trip = match len_dim.as_known() {
        Some(l) => cx.constant(Tensor::scalar(l)),
        None => {
            let a = axes[0] as i64;
            cx.add1(
                Op::Shape {
                    start: a,
                    end: Some(a + 1),
                },
                &[scans[0]],
            )?
        }
    };
    let yes = cx.constant(Tensor::from_bools(&[], &[true]).expect("scalar"));
    let mut loop_ins = vec![trip, yes];
    loop_ins.extend_from_slice(states);
    loop_ins.extend_from_slice(scans);
    loop_ins.extend(caps);
    let results = cx.add(
        Op::Loop {
            body: Box::new(lb),
            num_carried: n as i64,
        },
        &loop_ins,
    )?;
    let mut out = results[..n].to_vec();
    for (j, &y) in results[n..].iter().enumerate() {
        // Stacked along axis 0; its length is the scan's.
        let mut ty = cx.ty(y);
        if ty.shape[0] == Dim::Unknown {
            ty.shape[0] = len_dim.clone();
            cx.g().set_ty(y, ty.clone());
        }
        let mut y = y;
        if out_dirs[j] != 0 {
            let starts = cx.const_i64s(&[-1]);
            let ends = cx.const_i64s(&[i64::MIN]);
            let axes0 = cx.const_i64s(&[0]);
            let steps = cx.const_i64s(&[-1]);
            y = cx.add1(Op::Slice, &[y, starts, ends, axes0, steps])?;
        }
        let a = ingot_ir::infer::norm_axis(out_axes[j], ty.rank()).map_err(|e| cx.err(e))?;
        if a != 0 {
            // Move axis 0 to position `a`.
            let mut perm: Vec<i64> = (1..=a as i64).collect();
            perm.push(0);
            perm.extend(a as i64 + 1..ty.rank() as i64);
            y = cx.add1(Op::Transpose { perm }, &[y])?;
        }
        out.push(y);
    }
    Ok(out)
}

/// Append `src`'s nodes to `dst`, renaming operands through `map` (which
/// must already bind `src`'s inputs) and binding their results.
fn copy_nodes(src: &Graph, dst: &mut Graph, map: &mut HashMap<Value, Value>) {
    for &nd in src.order() {
        let node = src.node(nd);
        let ins: Vec<Value> = node.inputs.iter().map(|v| map[v]).collect();
        let tys: Vec<TensorType> = node.outputs.iter().map(|&v| src.ty(v).clone()).collect();
        let new = dst.push_node(node.op.clone(), ins, tys);
        dst.set_loc(new, node.loc.clone());
        for (&old, &v) in node.outputs.iter().zip(&dst.node(new).outputs.clone()) {
            map.insert(old, v);
            if let Some(name) = src.name_of(old) {
                dst.set_name_unique(v, name);
            }
        }
    }
}
