//! Reduction fusion: a row reduction takes its elementwise producers and
//! consumers into one `fused {kind="reduce"}` node — softmax, layernorm and
//! RMSnorm become one kernel however the exporter spelled them (one op, or
//! ReduceMax/Sub/Exp/ReduceSum/Div, or ReduceMean/Sub/Pow/ReduceMean/Add/
//! Sqrt/Div/Mul/Add), and the scale and mask feeding an attention softmax
//! join it.
//!
//! Rule (general, no pattern list). A *seed* is a reduction over trailing
//! axes `[k, r)` of an input of shape S (rank r, no `?` dims): reduce_sum/
//! mean/max/min/sum_square/l2 over exactly those axes (any keepdims),
//! softmax/log_softmax on axis r-1, layer_norm at axis k. Its signature is
//! (S, k); the reduced shapes are R (S with axes ≥ k set to 1) and R' (S
//! without them). Groups grow greedily from producer to consumer (see
//! `group.rs`) over seeds and elementwise nodes with one result of known
//! shape; a merge is kept when all seeds in it share one signature, the
//! merge keeps the group graph acyclic, and every member fits the row space:
//! - an elementwise member's result is S, R or R'; an operand made inside
//!   the group has the result's shape, or is R where the result is S (a
//!   per-row value broadcast along the row);
//! - a seed's operand made inside the group is its input 0, of shape S;
//! - contested chains: an elementwise node that contraction fusion would
//!   take as an epilogue (see `contraction.rs`) joins only a group whose
//!   reduction is over the last axis alone (k = r-1: softmax, layernorm,
//!   a mean over the hidden size). That row is the contraction's output
//!   row, and the row kernel (masked softmax, residual + layernorm) is the
//!   better home; a reduction over several axes (a conv's global average
//!   pool over H, W) leaves bias, ReLU and residual add to the conv, whose
//!   epilogue runs while the tile is hot.
//!
//! Groups without a seed are left to elementwise fusion. Every group with a
//! seed becomes a fused node, even a lone softmax, so the backend compiles
//! all row reductions through one kind of kernel.
//!
//! Guarantees: bodies satisfy the `reduce` contract (docs/passes.md); results
//! are bit-exact (the body holds the original ops); idempotent.

use super::contraction;
use super::group::{apply_groups, known_shape, Planner};
use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Dim, Graph, Node, Op};
use std::collections::HashSet;

pub struct FuseReduce;

impl Pass for FuseReduce {
    fn name(&self) -> &'static str {
        "fuse-reduce"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassCx) -> Result<Changed, PassError> {
        let fused = fuse_reduce(g).map_err(|msg| PassError {
            pass: self.name(),
            msg,
        })?;
        cx.fused += fused;
        Ok(fused > 0)
    }
}

/// A row space: shape S and the first reduced axis k (`k < rank`).
#[derive(Clone, Debug, PartialEq)]
pub struct Sig {
    pub s: Vec<Dim>,
    pub k: usize,
}

impl Sig {
    /// S with the reduced axes kept as 1.
    fn keep(&self) -> Vec<Dim> {
        let mut r = self.s.clone();
        r[self.k..].fill(Dim::Known(1));
        r
    }

    /// S without the reduced axes.
    fn dropped(&self) -> &[Dim] {
        &self.s[..self.k]
    }
}

/// What a node is to this pass.
enum Role<'g> {
    Seed(Sig),
    Elementwise(&'g [Dim]),
}

/// The first axis of `axes` when they are exactly the trailing axes
/// `[k, rank)` (empty means all axes).
fn trailing(axes: &[i64], rank: usize) -> Option<usize> {
    let r = rank as i64;
    let mut a: Vec<i64> = axes
        .iter()
        .map(|&x| if x < 0 { x + r } else { x })
        .collect();
    if a.is_empty() {
        return Some(0);
    }
    a.sort_unstable();
    let k = a[0];
    let expected: Vec<i64> = (k..r).collect();
    (k >= 0 && a == expected).then_some(k as usize)
}

/// The signature of `n` when it is a seed.
pub fn seed_sig(g: &Graph, n: Node) -> Option<Sig> {
    let nd = g.node(n);
    if nd.outputs.len() != 1 || nd.inputs.is_empty() {
        return None;
    }
    known_shape(g, nd.outputs[0])?;
    let s = known_shape(g, nd.inputs[0])?.to_vec();
    let r = s.len();
    let norm = |axis: i64| -> Option<usize> {
        let a = if axis < 0 { axis + r as i64 } else { axis };
        (0..r as i64).contains(&a).then_some(a as usize)
    };
    let k = match &nd.op {
        Op::ReduceSum { axes, .. }
        | Op::ReduceMean { axes, .. }
        | Op::ReduceMax { axes, .. }
        | Op::ReduceMin { axes, .. }
        | Op::ReduceSumSquare { axes, .. }
        | Op::ReduceL2 { axes, .. } => trailing(axes, r)?,
        Op::Softmax { axis } | Op::LogSoftmax { axis } => norm(*axis).filter(|&a| a + 1 == r)?,
        Op::LayerNorm { axis, .. } => norm(*axis)?,
        _ => return None,
    };
    (r > 0 && k < r).then_some(Sig { s, k })
}

fn role(g: &Graph, n: Node) -> Option<Role<'_>> {
    if let Some(sig) = seed_sig(g, n) {
        return Some(Role::Seed(sig));
    }
    let nd = g.node(n);
    if !nd.op.is_elementwise() || nd.outputs.len() != 1 {
        return None;
    }
    known_shape(g, nd.outputs[0]).map(Role::Elementwise)
}

/// Whether the positions in `set` may form one group: `Some(sig)` (the
/// seeds' common signature, `None` for a seedless group whose members share
/// one shape) when they may.
fn fits(
    p: &Planner,
    roles: &[Option<Role>],
    epilogue: &HashSet<usize>,
    set: &[usize],
) -> Option<Option<Sig>> {
    let mut sig: Option<&Sig> = None;
    for &m in set {
        if let Some(Role::Seed(s)) = &roles[m] {
            if sig.is_some_and(|t| t != s) {
                return None;
            }
            sig = Some(s);
        }
    }
    let Some(sig) = sig else {
        // Seedless: one shape, as in elementwise fusion.
        let shape = |m: usize| match &roles[m] {
            Some(Role::Elementwise(y)) => Some(*y),
            _ => None,
        };
        let first = shape(set[0]);
        return set.iter().all(|&m| shape(m) == first).then_some(None);
    };
    let (s, keep, dropped) = (&sig.s[..], sig.keep(), sig.dropped());
    let last_axis_only = sig.k + 1 == s.len();
    let g = p.g;
    let inside: HashSet<Node> = set.iter().map(|&m| p.order[m]).collect();
    let made_inside = |v| g.producer(v).is_some_and(|n| inside.contains(&n));
    for &m in set {
        let nd = g.node(p.order[m]);
        match roles[m].as_ref()? {
            Role::Seed(_) => {
                for (idx, &v) in nd.inputs.iter().enumerate() {
                    if made_inside(v) && (idx != 0 || g.ty(v).shape != s) {
                        return None;
                    }
                }
            }
            Role::Elementwise(y) => {
                let contested = !last_axis_only && epilogue.contains(&m);
                if contested || (*y != s && *y != keep && *y != dropped) {
                    return None;
                }
                for &v in &nd.inputs {
                    let ps = &g.ty(v).shape[..];
                    if made_inside(v) && ps != *y && !(*y == s && ps == keep) {
                        return None;
                    }
                }
            }
        }
    }
    Some(Some(sig.clone()))
}

/// Groups of schedule positions that contain a seed, in the order of their
/// last member.
pub fn plan_groups(g: &Graph) -> Vec<Vec<usize>> {
    let mut p = Planner::new(g);
    let roles: Vec<Option<Role>> = p.order.iter().map(|&n| role(g, n)).collect();
    // What contraction fusion would take as epilogues (all but the first
    // member of each of its groups), for the contested-chain rule.
    let epilogue: HashSet<usize> = contraction::plan_groups(g)
        .into_iter()
        .flat_map(|m| m.into_iter().skip(1))
        .collect();
    for i in 0..p.order.len() {
        if roles[i].is_none() {
            continue;
        }
        let mut taken = vec![];
        for gj in p.producer_groups(i) {
            // A group's id is one of its members: a role there means the
            // group is made of role nodes.
            if roles[gj].is_none() {
                continue;
            }
            let mut trial = taken.clone();
            trial.push(gj);
            let set = p.union(i, &trial);
            if fits(&p, &roles, &epilogue, &set).is_some() && p.stays_acyclic(&set, i) {
                taken = trial;
            }
        }
        p.merge(i, &taken);
    }
    p.finish(|m| m.iter().any(|&i| matches!(roles[i], Some(Role::Seed(_)))))
}

/// Fuse `g`'s row reductions with their neighbours; returns how many nodes
/// were fused.
pub fn fuse_reduce(g: &mut Graph) -> Result<usize, String> {
    let groups = plan_groups(g);
    apply_groups(g, &groups, "reduce")
}

#[cfg(test)]
mod tests;
