//! Values of shape computations.
//!
//! Exporters compute shapes with small integer subgraphs (`Shape → Gather →
//! Concat → Reshape`, plus arithmetic). This module tells the builder and the
//! passes what such a value holds — a vector of [`Dim`]s, symbolic when the
//! dims are — so Reshape/Expand/Slice can get precise result types, and the
//! whole subgraph can later fold away.

use super::{const_dims, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::graph::{Graph, Value};
use crate::op::{Op, OpGroup};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// How deep [`known_dims`] follows producers; shape subgraphs are shallow.
const MAX_DEPTH: usize = 32;

/// The elements of a rank-0/1 integer value of `g`, when the compiler can
/// know them: constants, and values computed from shapes (`shape %x` and the
/// Gather/Concat/Slice/arithmetic exporters wrap around it).
pub fn known_dims(g: &Graph, v: Value) -> Option<Vec<Dim>> {
    known_dims_at(g, v, 0, &mut HashMap::new())
}

type Memo = HashMap<Value, Option<Vec<Dim>>>;

fn known_dims_at(g: &Graph, v: Value, depth: usize, memo: &mut Memo) -> Option<Vec<Dim>> {
    if let Some(known) = memo.get(&v) {
        return known.clone();
    }
    let r = compute(g, v, depth, memo);
    memo.insert(v, r.clone());
    r
}

fn compute(g: &Graph, v: Value, depth: usize, memo: &mut Memo) -> Option<Vec<Dim>> {
    let ty = g.ty(v);
    // Booleans (0/1) take part: exporters spell "use the input dim where
    // the target says -1" as Where(Equal(shape, -1), ..).
    if depth > MAX_DEPTH || ty.rank() > 1 || !(ty.dtype.is_int() || ty.dtype == DType::Bool) {
        return None;
    }
    if let Some(t) = g.const_value(v) {
        return const_or_bool_dims(t);
    }
    let nd = g.node(g.producer(v)?);
    if nd.outputs.len() != 1 {
        return None;
    }
    let dims: Vec<Option<Vec<Dim>>> = nd
        .inputs
        .iter()
        .map(|&u| known_dims_at(g, u, depth + 1, memo))
        .collect();
    let ins: Vec<InferInput> = nd
        .inputs
        .iter()
        .zip(&dims)
        .map(|(&u, d)| InferInput {
            ty: g.ty(u),
            konst: g.const_value(u),
            dims: d.as_deref(),
        })
        .collect();
    eval_dims(&nd.op, &ins)
}

/// A constant's elements as dims; booleans as 0/1.
fn const_or_bool_dims(t: &Tensor) -> Option<Vec<Dim>> {
    if t.dtype() == DType::Bool && t.rank() <= 1 {
        return Some(
            t.to_bools()
                .into_iter()
                .map(|b| Dim::Known(b as i64))
                .collect(),
        );
    }
    const_dims(t)
}

/// The value of a small integer result computed from known operand values.
pub fn eval_dims(op: &Op, ins: &[InferInput]) -> Option<Vec<Dim>> {
    if op.group() == OpGroup::Movement {
        return super::movement::eval_dims(op, ins);
    }
    let d = |i: usize| ins.get(i).and_then(|x| x.dims);
    let zip = |f: &dyn Fn(&Dim, &Dim) -> Dim| -> Option<Vec<Dim>> {
        let (a, b) = (d(0)?, d(1)?);
        let n = a.len().max(b.len());
        if !(a.len() == n || a.len() == 1) || !(b.len() == n || b.len() == 1) {
            return None;
        }
        let pick = |v: &[Dim], i: usize| v[if v.len() == 1 { 0 } else { i }].clone();
        Some((0..n).map(|i| f(&pick(a, i), &pick(b, i))).collect())
    };
    match op {
        Op::Const { value } => const_or_bool_dims(value),
        // Sizes are never negative, so a symbolic size differs from any
        // negative constant (the `-1` of reshape targets).
        Op::Equal => zip(&|a, b| match (a, b) {
            (Dim::Known(x), Dim::Known(y)) => Dim::Known((x == y) as i64),
            (Dim::Sym(_), Dim::Known(k)) | (Dim::Known(k), Dim::Sym(_)) if *k < 0 => Dim::Known(0),
            (x, y) if x == y && !matches!(x, Dim::Unknown) => Dim::Known(1),
            _ => Dim::Unknown,
        }),
        Op::Where => {
            let (c, a, b) = (d(0)?, d(1)?, d(2)?);
            let n = c.len().max(a.len()).max(b.len());
            let ok = |v: &[Dim]| v.len() == n || v.len() == 1;
            if !(ok(c) && ok(a) && ok(b)) {
                return None;
            }
            let pick = |v: &[Dim], i: usize| v[if v.len() == 1 { 0 } else { i }].clone();
            Some(
                (0..n)
                    .map(|i| match pick(c, i) {
                        Dim::Known(0) => pick(b, i),
                        Dim::Known(_) => pick(a, i),
                        _ => Dim::Unknown,
                    })
                    .collect(),
            )
        }
        Op::Cast { to, .. } if to.is_int() => d(0).map(<[Dim]>::to_vec),
        Op::Add => zip(&|a, b| a.add(b)),
        Op::Sub => zip(&|a, b| a.sub(b)),
        Op::Mul => zip(&|a, b| a.mul(b)),
        // Shape arithmetic is on non-negative sizes, where truncation is floor.
        Op::Div => zip(&|a, b| a.floor_div(b)),
        Op::Neg => d(0).map(|v| v.iter().map(|x| Dim::Known(0).sub(x)).collect()),
        Op::Max | Op::Min => zip(&|a, b| match (a, b) {
            (Dim::Known(x), Dim::Known(y)) => {
                Dim::Known(if *op == Op::Max { *x.max(y) } else { *x.min(y) })
            }
            (x, y) if x == y => x.clone(),
            _ => Dim::Unknown,
        }),
        _ => None,
    }
}
