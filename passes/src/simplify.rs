//! Algebraic simplification: a table of exact local rewrite rules.
//!
//! Each rule looks at one node (and the nodes feeding it) and either forwards
//! an existing value in place of the node's result, or rewrites the node in
//! place to a cheaper op on earlier operands. Rules (see `RULES`):
//!
//! - `x * 1`, `1 * x`, `x / 1`, `x - 0`, `x + (-0.0)` and `(-0.0) + x`
//!   (integers: `x + 0`, `0 + x`) → `x`. `x + 0.0` is *not* rewritten for
//!   floats: `-0.0 + 0.0 = +0.0`, so it changes the sign of zero.
//! - `identity x`, `cast x` to its own dtype, `transpose` by the identity
//!   permutation, and `reshape`/`expand`/`slice` (positive steps)/one-operand
//!   `concat` whose result type equals the operand's → `x`.
//! - `transpose(transpose(x, p), q)` → `transpose(x, p∘q)`.
//! - `reshape(reshape(x, s1), s2)` → `reshape(x, s2)` when `s2` is a constant
//!   without 0 entries (or `allowzero`): then it never reads the middle shape.
//! - `cast(cast(x, T1), T2)` → `cast(x, T2)` when `T1` holds every value of
//!   `x`'s dtype exactly (f16/bf16 → f32 → f64, i8 → i16 → i32 → i64, u8 →
//!   wider signed): the interpreter's cast depends only on the value.
//! - `matmul(transpose(a), b)` / `matmul(a, transpose(b))` with rank-2
//!   operands and a plain 2-D transpose → `gemm {alpha=1, beta=0, trans_a /
//!   trans_b}`, which accumulates in the same order (`alpha * acc` with
//!   alpha 1 is exact).
//!
//! Assumes a verified graph. Guarantees: bit-exact results (every rule is an
//! identity of the interpreter's semantics, NaN and signed zero included);
//! types of surviving values are unchanged; a forwarded value only replaces a
//! result of equal type without unknown (`?`) dims, so broadcasting cannot
//! hide behind it. A named graph output is forwarded only when its name can
//! move to the forwarded value (unnamed, not a graph input or output);
//! otherwise the node stays. Nodes made dead are left to DCE. The pass runs
//! its rules to a fixed point, so a second run changes nothing.

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{DType, Dim, Graph, Node, Op, Tensor, Value};
use std::collections::HashSet;

pub struct Simplify;

impl Pass for Simplify {
    fn name(&self) -> &'static str {
        "simplify"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        Ok(simplify(g))
    }
}

/// What a rule does to the node it matched.
enum Rewrite {
    /// Use this value instead of the node's (single) result.
    Forward(Value),
    /// Replace the node's op and operands; its result keeps its value and type.
    Replace(Op, Vec<Value>),
}

type Rule = fn(&Graph, Node) -> Option<Rewrite>;

/// The rules, tried in order on every node; the first that matches applies.
const RULES: &[(&str, Rule)] = &[
    ("mul-one", mul_one),
    ("add-neg-zero", add_zero),
    ("sub-zero", sub_zero),
    ("div-one", div_one),
    ("identity", |g, n| {
        matches!(g.node(n).op, Op::Identity).then(|| same_type(g, n, 0))?
    }),
    ("cast-same", |g, n| {
        let x = *g.node(n).inputs.first()?;
        matches!(g.node(n).op, Op::Cast { to, .. } if to == g.ty(x).dtype)
            .then(|| same_type(g, n, 0))?
    }),
    ("cast-cast", cast_cast),
    ("transpose-identity", |g, n| {
        let Op::Transpose { perm } = &g.node(n).op else {
            return None;
        };
        let p = perm_of(perm, g.ty(g.node(n).inputs[0]).rank())?;
        p.iter()
            .enumerate()
            .all(|(i, &a)| i == a)
            .then(|| same_type(g, n, 0))?
    }),
    ("transpose-transpose", transpose_transpose),
    ("reshape-reshape", reshape_reshape),
    ("reshape-same", |g, n| {
        matches!(g.node(n).op, Op::Reshape { .. }).then(|| same_type(g, n, 0))?
    }),
    ("expand-same", |g, n| {
        matches!(g.node(n).op, Op::Expand).then(|| same_type(g, n, 0))?
    }),
    ("slice-whole", slice_whole),
    ("concat-one", |g, n| {
        let nd = g.node(n);
        (matches!(nd.op, Op::Concat { .. }) && nd.inputs.len() == 1).then(|| same_type(g, n, 0))?
    }),
    ("matmul-transpose", matmul_transpose),
];

/// Forward operand `i` when it has exactly the node's result type, with no
/// unknown dims (equal symbolic dims are equal at run time).
fn same_type(g: &Graph, n: Node, i: usize) -> Option<Rewrite> {
    let nd = g.node(n);
    let (x, out) = (*nd.inputs.get(i)?, *nd.outputs.first()?);
    let (tx, to) = (g.ty(x), g.ty(out));
    (nd.outputs.len() == 1 && tx == to && !tx.shape.iter().any(|d| matches!(d, Dim::Unknown)))
        .then_some(Rewrite::Forward(x))
}

/// Whether `v` is a constant whose every element satisfies `f` (as f64 with
/// the sign of zero kept, or as an integer for integer dtypes).
fn const_all(g: &Graph, v: Value, f: impl Fn(Elem) -> bool) -> bool {
    let Some(t) = g.const_value(v) else {
        return false;
    };
    match t.dtype() {
        DType::Bool => false,
        d if d.is_int() => t.to_i64s().into_iter().all(|x| f(Elem::Int(x))),
        _ => t.to_f64s().into_iter().all(|x| f(Elem::Float(x))),
    }
}

#[derive(Copy, Clone)]
enum Elem {
    Int(i64),
    Float(f64),
}

fn is_one(e: Elem) -> bool {
    match e {
        Elem::Int(x) => x == 1,
        Elem::Float(x) => x == 1.0,
    }
}

/// The additive identity that is exact for every `x`: `-0.0` for floats.
fn is_add_identity(e: Elem) -> bool {
    match e {
        Elem::Int(x) => x == 0,
        Elem::Float(x) => x == 0.0 && x.is_sign_negative(),
    }
}

/// `x - z = x` exactly for `z = +0.0` (and integer 0).
fn is_sub_identity(e: Elem) -> bool {
    match e {
        Elem::Int(x) => x == 0,
        Elem::Float(x) => x == 0.0 && x.is_sign_positive(),
    }
}

/// A binary op with operand `keep` forwarded when the other one is a
/// constant satisfying `f` (the result type check rules out broadcasting
/// that would change the shape).
fn binary_unit(g: &Graph, n: Node, keep: usize, f: fn(Elem) -> bool) -> Option<Rewrite> {
    let nd = g.node(n);
    if nd.inputs.len() != 2 || !const_all(g, nd.inputs[1 - keep], f) {
        return None;
    }
    same_type(g, n, keep)
}

fn mul_one(g: &Graph, n: Node) -> Option<Rewrite> {
    matches!(g.node(n).op, Op::Mul)
        .then(|| binary_unit(g, n, 0, is_one).or_else(|| binary_unit(g, n, 1, is_one)))?
}

fn add_zero(g: &Graph, n: Node) -> Option<Rewrite> {
    matches!(g.node(n).op, Op::Add).then(|| {
        binary_unit(g, n, 0, is_add_identity).or_else(|| binary_unit(g, n, 1, is_add_identity))
    })?
}

fn sub_zero(g: &Graph, n: Node) -> Option<Rewrite> {
    matches!(g.node(n).op, Op::Sub).then(|| binary_unit(g, n, 0, is_sub_identity))?
}

fn div_one(g: &Graph, n: Node) -> Option<Rewrite> {
    matches!(g.node(n).op, Op::Div).then(|| binary_unit(g, n, 0, is_one))?
}

/// The live node producing `v` with its op, if any.
fn def(g: &Graph, v: Value) -> Option<(&Op, &[Value])> {
    let nd = g.node(g.producer(v)?);
    Some((&nd.op, &nd.inputs))
}

/// Whether every value of `from` is exactly representable in `mid`.
fn holds_exactly(from: DType, mid: DType) -> bool {
    use DType::*;
    matches!(
        (from, mid),
        (F16 | BF16, F32 | F64)
            | (F32, F64)
            | (I8, I16 | I32 | I64)
            | (I16, I32 | I64)
            | (I32, I64)
            | (U8, I16 | I32 | I64)
    )
}

fn cast_cast(g: &Graph, n: Node) -> Option<Rewrite> {
    let nd = g.node(n);
    let Op::Cast { .. } = nd.op else { return None };
    let (Op::Cast { to: mid, .. }, ins) = def(g, nd.inputs[0])? else {
        return None;
    };
    let x = *ins.first()?;
    holds_exactly(g.ty(x).dtype, *mid).then(|| Rewrite::Replace(nd.op.clone(), vec![x]))
}

/// The permutation `perm` names for `rank` (empty: reverse), normalized.
fn perm_of(perm: &[i64], rank: usize) -> Option<Vec<usize>> {
    if perm.is_empty() {
        return Some((0..rank).rev().collect());
    }
    if perm.len() != rank {
        return None;
    }
    let r = i64::try_from(rank).ok()?;
    let p: Vec<usize> = perm
        .iter()
        .map(|&a| usize::try_from(if a < 0 { a + r } else { a }).ok())
        .collect::<Option<_>>()?;
    let mut seen = vec![false; rank];
    for &a in &p {
        if a >= rank || std::mem::replace(&mut seen[a], true) {
            return None;
        }
    }
    Some(p)
}

fn transpose_transpose(g: &Graph, n: Node) -> Option<Rewrite> {
    let nd = g.node(n);
    let Op::Transpose { perm: q } = &nd.op else {
        return None;
    };
    let (Op::Transpose { perm: p }, ins) = def(g, nd.inputs[0])? else {
        return None;
    };
    let x = *ins.first()?;
    let rank = g.ty(x).rank();
    let (p, q) = (perm_of(p, rank)?, perm_of(q, rank)?);
    // out[j] = mid[q[j]] = x[p[q[j]]].
    let perm = q.iter().map(|&j| p[j] as i64).collect();
    Some(Rewrite::Replace(Op::Transpose { perm }, vec![x]))
}

fn reshape_reshape(g: &Graph, n: Node) -> Option<Rewrite> {
    let nd = g.node(n);
    let Op::Reshape { allowzero } = nd.op else {
        return None;
    };
    let shape = *nd.inputs.get(1)?;
    let (Op::Reshape { .. }, ins) = def(g, nd.inputs[0])? else {
        return None;
    };
    let x = *ins.first()?;
    let s = g.const_value(shape)?;
    // A 0 entry copies the operand's dim, which would now be `x`'s.
    (allowzero || !s.to_i64s().contains(&0))
        .then(|| Rewrite::Replace(nd.op.clone(), vec![x, shape]))
}

fn slice_whole(g: &Graph, n: Node) -> Option<Rewrite> {
    let nd = g.node(n);
    if !matches!(nd.op, Op::Slice) {
        return None;
    }
    // With positive steps, a result as long as the operand on every axis can
    // only be the whole operand in order; a negative step would reverse it.
    let positive = match nd.inputs.get(4) {
        None => true,
        Some(&s) => g.const_value(s).is_some_and(steps_positive),
    };
    positive.then(|| same_type(g, n, 0))?
}

fn steps_positive(t: &Tensor) -> bool {
    t.dtype().is_int() && t.to_i64s().iter().all(|&s| s > 0)
}

fn matmul_transpose(g: &Graph, n: Node) -> Option<Rewrite> {
    let nd = g.node(n);
    if !matches!(nd.op, Op::MatMul) || nd.inputs.len() != 2 {
        return None;
    }
    let out = nd.outputs[0];
    if !g.ty(out).dtype.is_float() || nd.inputs.iter().any(|&v| g.ty(v).rank() != 2) {
        return None;
    }
    let plain = |v: Value| match def(g, v)? {
        (Op::Transpose { perm }, ins)
            if perm_of(perm, 2)? == [1, 0] && g.ty(ins[0]).rank() == 2 =>
        {
            Some(ins[0])
        }
        _ => None,
    };
    let (a, b) = (nd.inputs[0], nd.inputs[1]);
    let (ta, tb) = (plain(a), plain(b));
    if ta.is_none() && tb.is_none() {
        return None;
    }
    let op = Op::Gemm {
        alpha: 1.0,
        beta: 0.0,
        trans_a: ta.is_some(),
        trans_b: tb.is_some(),
    };
    Some(Rewrite::Replace(op, vec![ta.unwrap_or(a), tb.unwrap_or(b)]))
}

/// Most sweeps over the graph; each rewrite removes a node or shortens a
/// chain, so real graphs converge in a few.
const MAX_SWEEPS: usize = 64;

/// Apply the rules to `g` and its subgraphs until none matches; returns
/// whether anything changed.
pub fn simplify(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut removed = HashSet::new();
    for _ in 0..MAX_SWEEPS {
        let mut any = false;
        for n in g.order().to_vec() {
            // A node forwarded away this sweep is no longer scheduled.
            if removed.contains(&n) {
                continue;
            }
            let Some(rw) = RULES.iter().find_map(|(_, rule)| rule(g, n)) else {
                continue;
            };
            let forward = matches!(rw, Rewrite::Forward(_));
            if apply(g, n, rw) {
                any = true;
                if forward {
                    removed.insert(n);
                }
            }
        }
        changed |= any;
        if !any {
            break;
        }
    }
    for n in g.order().to_vec() {
        for sub in g.node_mut(n).op.subgraphs_mut() {
            changed |= simplify(sub);
        }
    }
    changed
}

/// Apply `rw` to node `n`; false when it cannot apply (output naming).
fn apply(g: &mut Graph, n: Node, rw: Rewrite) -> bool {
    match rw {
        Rewrite::Replace(op, inputs) => {
            let nd = g.node_mut(n);
            nd.op = op;
            nd.inputs = inputs;
        }
        Rewrite::Forward(x) => {
            let old = g.node(n).outputs[0];
            let name = g.name_of(old).map(str::to_string);
            let is_output = g.outputs().contains(&old);
            let x_free =
                g.name_of(x).is_none() && !g.inputs().contains(&x) && !g.outputs().contains(&x);
            if is_output && name.is_some() && !x_free {
                return false;
            }
            g.replace_uses(old, x);
            g.remove_nodes(&[n]);
            if let (true, Some(name)) = (is_output, name) {
                g.set_name(x, &name).expect("the name was freed");
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::TensorType;

    #[test]
    fn keeps_plus_zero_and_moves_output_names() {
        let t = TensorType::fixed(DType::F32, &[2]);
        let mut g = Graph::new("f");
        let x = g.add_input("x", t.clone()).unwrap();
        let pz = g.add_const(Tensor::scalar(0.0f32));
        let nz = g.add_const(Tensor::scalar(-0.0f32));
        let a = g.add_node(Op::Add, &[x, pz]).unwrap()[0];
        let b = g.add_node(Op::Add, &[a, nz]).unwrap()[0];
        g.set_name(b, "y").unwrap();
        g.set_outputs(vec![b]);
        assert!(simplify(&mut g));
        assert_eq!(g.outputs(), &[a], "x + 0.0 stays, + -0.0 goes");
        assert_eq!(g.name_of(a), Some("y"));
        assert!(!simplify(&mut g), "idempotent");
        ingot_ir::verify(&g).unwrap();
    }
}
