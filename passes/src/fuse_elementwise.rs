//! Elementwise fusion: chains and trees of elementwise ops become one
//! `fused {kind="elementwise"}` node whose body is the original ops.
//!
//! Grouping is greedy, producer→consumer, in schedule order. A node joins
//! (and merges) the groups of its elementwise producers when every member's
//! single result has the same shape (no `?` dims: an unknown size equals
//! nothing) and the merge keeps the graph of groups acyclic: no path may
//! leave the merged set and come back (checked by reachability over the
//! current groups, so two groups can never end up feeding each other).
//! Groups of two or more nodes become one fused node; values used outside the
//! group, returned, or unused are its results, the group's external inputs its
//! operands in first-use order. Scalar constants (one element) are copied
//! into the body; larger constants stay external operands (weights are never
//! copied). Only the top-level graph is fused, not If/Loop bodies.
//!
//! Guarantees: the body keeps the original ops, operand order and result
//! types, so results are bit-exact; the schedule is a stable topological
//! order (each fused node sits at its last member's position unless an
//! external user of an early member must move after it); names of values
//! that stay visible move to the fused node's results. The check is
//! O(nodes) per candidate merge, quadratic at worst.

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::{Dim, Graph, Node, Op, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

pub struct FuseElementwise;

impl Pass for FuseElementwise {
    fn name(&self) -> &'static str {
        "fuse-elementwise"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassCx) -> Result<Changed, PassError> {
        let fused = fuse_elementwise(g).map_err(|msg| PassError {
            pass: self.name(),
            msg,
        })?;
        cx.fused += fused;
        Ok(fused > 0)
    }
}

/// The result shape a node fuses under, if it is a fusion candidate.
fn key(g: &Graph, n: Node) -> Option<&[Dim]> {
    let nd = g.node(n);
    if !nd.op.is_elementwise() || nd.outputs.len() != 1 {
        return None;
    }
    let shape = &g.ty(nd.outputs[0]).shape;
    (!shape.iter().any(|d| matches!(d, Dim::Unknown))).then_some(&shape[..])
}

/// Groups of schedule positions (each sorted, two or more members), in the
/// order of their last member.
pub fn plan_groups(g: &Graph) -> Vec<Vec<usize>> {
    let order = g.order();
    let pos: HashMap<Node, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let users = g.users();
    let succ: Vec<Vec<usize>> = order
        .iter()
        .map(|&n| {
            let mut s: Vec<usize> = g
                .node(n)
                .outputs
                .iter()
                .flat_map(|v| users.get(v).into_iter().flatten())
                .map(|u| pos[u])
                .collect();
            s.sort_unstable();
            s.dedup();
            s
        })
        .collect();
    // group[i]: the group of position i; members[k]: group k's positions.
    let mut group: Vec<usize> = (0..order.len()).collect();
    let mut members: Vec<Vec<usize>> = (0..order.len()).map(|i| vec![i]).collect();
    for (i, &n) in order.iter().enumerate() {
        let Some(shape) = key(g, n) else { continue };
        let mut set = vec![i];
        let mut taken: HashSet<usize> = HashSet::from([i]);
        for &v in &g.node(n).inputs {
            let Some(j) = g.producer(v).and_then(|p| pos.get(&p).copied()) else {
                continue;
            };
            let gj = group[j];
            if taken.contains(&gj) || key(g, order[j]) != Some(shape) {
                continue;
            }
            let mut trial = set.clone();
            trial.extend(&members[gj]);
            if stays_acyclic(&trial, i, &group, &members, &succ) {
                set = trial;
                taken.insert(gj);
            }
        }
        set.sort_unstable();
        for &m in &set {
            group[m] = i;
        }
        for &k in &taken {
            if k != i {
                members[k].clear();
            }
        }
        members[i] = set;
    }
    members.into_iter().filter(|m| m.len() >= 2).collect()
}

/// Whether merging the groups in `set` (whole groups, all at positions
/// `<= last`) creates no cycle: nothing reachable from outside successors of
/// `set` is in `set`. Positions after `last` are untouched singletons that
/// cannot reach back, so the search stops there.
fn stays_acyclic(
    set: &[usize],
    last: usize,
    group: &[usize],
    members: &[Vec<usize>],
    succ: &[Vec<usize>],
) -> bool {
    let inside: HashSet<usize> = set.iter().copied().collect();
    let mut stack: Vec<usize> = set
        .iter()
        .flat_map(|&m| &succ[m])
        .copied()
        .filter(|s| !inside.contains(s) && *s <= last)
        .collect();
    let mut seen: HashSet<usize> = HashSet::new();
    while let Some(x) = stack.pop() {
        if inside.contains(&x) {
            return false;
        }
        if !seen.insert(group[x]) {
            continue;
        }
        for &m in &members[group[x]] {
            stack.extend(succ[m].iter().copied().filter(|&s| s <= last));
        }
    }
    true
}

/// Fuse `g`'s elementwise groups; returns how many nodes were fused.
pub fn fuse_elementwise(g: &mut Graph) -> Result<usize, String> {
    let groups = plan_groups(g);
    if groups.is_empty() {
        return Ok(0);
    }
    let order = g.order().to_vec();
    // Schedule key of each surviving node: its position; a fused node's is
    // its last member's.
    let mut rank: HashMap<Node, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let first_id = order
        .iter()
        .filter(|&&n| matches!(g.node(n).op, Op::Fused { .. }))
        .count();
    let mut copied_consts = HashSet::new();
    let mut fused = 0;
    for (k, positions) in groups.iter().enumerate() {
        let nodes: Vec<Node> = positions.iter().map(|&p| order[p]).collect();
        let (f, consts) = fuse_group(g, &nodes, first_id + k)?;
        copied_consts.extend(consts);
        rank.insert(f, *positions.last().expect("groups are non-empty"));
        fused += nodes.len();
    }
    // Scalar constants now copied into bodies and used nowhere else go.
    let users = g.users();
    let dead: Vec<Node> = copied_consts
        .into_iter()
        .filter(|&c| {
            g.node(c)
                .outputs
                .iter()
                .all(|v| !users.contains_key(v) && !g.outputs().contains(v))
        })
        .collect();
    g.remove_nodes(&dead);
    let order = stable_topo(g, &rank)?;
    g.set_order(order);
    Ok(fused)
}

/// Replace the group `nodes` (in schedule order) by one fused node appended
/// to the arena; returns it and the scalar constants copied into its body.
fn fuse_group(g: &mut Graph, nodes: &[Node], id: usize) -> Result<(Node, Vec<Node>), String> {
    let in_group: HashSet<Node> = nodes.iter().copied().collect();
    let users = g.users();
    let mut body = Graph::new(format!("fused_{id}"));
    let mut map: HashMap<Value, Value> = HashMap::new();
    let mut operands = vec![];
    let mut consts = vec![];
    // Names the body must keep free for the members' results.
    let mut used: HashSet<String> = nodes
        .iter()
        .filter_map(|&n| g.name_of(g.node(n).outputs[0]).map(str::to_string))
        .collect();
    for &n in nodes {
        let nd = g.node(n).clone();
        let mut args = vec![];
        for &v in &nd.inputs {
            if let Some(&b) = map.get(&v) {
                args.push(b);
                continue;
            }
            let b = match g.const_value(v).filter(|t| t.numel() == 1) {
                Some(t) => {
                    consts.push(g.producer(v).expect("constants have a producer"));
                    body.add_const(t.clone())
                }
                None => {
                    let base = g
                        .name_of(v)
                        .map_or_else(|| format!("in{}", operands.len()), str::to_string);
                    let mut name = base.clone();
                    let mut k = 1;
                    while used.contains(&name) {
                        name = format!("{base}.{k}");
                        k += 1;
                    }
                    used.insert(name.clone());
                    operands.push(v);
                    body.add_input(&name, g.ty(v).clone())?
                }
            };
            map.insert(v, b);
            args.push(b);
        }
        let tys = nd.outputs.iter().map(|&v| g.ty(v).clone()).collect();
        let bn = body.push_node(nd.op.clone(), args, tys);
        body.set_loc(bn, nd.loc.clone());
        for (&o, &b) in nd.outputs.iter().zip(&body.node(bn).outputs.clone()) {
            if let Some(name) = g.name_of(o) {
                body.set_name(b, name)?;
            }
            map.insert(o, b);
        }
    }
    // Results: member values used outside the group or returned, and dead
    // ends (unused values stay results, so a dead group is still a valid
    // node with outputs, left for DCE).
    let exposed: Vec<Value> = nodes
        .iter()
        .flat_map(|&n| g.node(n).outputs.clone())
        .filter(|v| {
            g.outputs().contains(v)
                || users
                    .get(v)
                    .is_none_or(|us| us.iter().any(|u| !in_group.contains(u)))
        })
        .collect();
    body.set_outputs(exposed.iter().map(|v| map[v]).collect());
    let tys = exposed.iter().map(|&v| g.ty(v).clone()).collect();
    let op = Op::Fused {
        kind: "elementwise".into(),
        body: Box::new(body),
    };
    let f = g.push_node(op, operands, tys);
    let results = g.node(f).outputs.clone();
    let names: Vec<Option<String>> = exposed
        .iter()
        .map(|&v| g.name_of(v).map(str::to_string))
        .collect();
    for (&old, &new) in exposed.iter().zip(&results) {
        g.replace_uses(old, new);
    }
    g.remove_nodes(nodes);
    for (name, &r) in names.iter().zip(&results) {
        if let Some(name) = name {
            g.set_name(r, name)?;
        }
    }
    Ok((f, consts))
}

/// The live nodes in a topological order, earliest `rank` first among the
/// ready ones (so untouched parts keep their order).
fn stable_topo(g: &Graph, rank: &HashMap<Node, usize>) -> Result<Vec<Node>, String> {
    let live = g.order();
    let is_live: HashSet<Node> = live.iter().copied().collect();
    let mut indeg: HashMap<Node, usize> = HashMap::new();
    let mut succ: HashMap<Node, Vec<Node>> = HashMap::new();
    for &n in live {
        let preds: HashSet<Node> = g
            .node(n)
            .inputs
            .iter()
            .filter_map(|&v| g.producer(v))
            .filter(|p| is_live.contains(p))
            .collect();
        indeg.insert(n, preds.len());
        for p in preds {
            succ.entry(p).or_default().push(n);
        }
    }
    let mut ready: BinaryHeap<Reverse<(usize, Node)>> = live
        .iter()
        .filter(|n| indeg[n] == 0)
        .map(|&n| Reverse((rank[&n], n)))
        .collect();
    let mut out = Vec::with_capacity(live.len());
    while let Some(Reverse((_, n))) = ready.pop() {
        out.push(n);
        for &s in succ.get(&n).into_iter().flatten() {
            let d = indeg.get_mut(&s).expect("live node");
            *d -= 1;
            if *d == 0 {
                ready.push(Reverse((rank[&s], s)));
            }
        }
    }
    if out.len() != live.len() {
        return Err("fusion created a cycle (internal error)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{interp, verify, DType, Tensor, TensorType};

    fn ty(dims: &[usize]) -> TensorType {
        TensorType::fixed(DType::F32, dims)
    }

    fn unary(g: &mut Graph, op: Op, x: Value) -> Value {
        g.add_node(op, &[x]).unwrap()[0]
    }

    #[test]
    fn chain_becomes_one_node_with_same_results() {
        let mut g = Graph::new("f");
        let x = g.add_input("x", ty(&[3])).unwrap();
        let a = unary(&mut g, Op::Neg, x);
        let b = unary(&mut g, Op::Relu, a);
        let c = unary(&mut g, Op::Exp, b);
        g.set_outputs(vec![c]);
        let before = g.clone();
        let mut cx = PassCx::default();
        assert!(FuseElementwise.run(&mut g, &mut cx).unwrap());
        assert_eq!(cx.fused, 3);
        assert_eq!(g.order().len(), 1);
        let Op::Fused { kind, body } = &g.node(g.order()[0]).op else {
            panic!("expected a fused node:\n{g}");
        };
        assert_eq!(kind, "elementwise");
        assert_eq!(body.order().len(), 3);
        assert_eq!(body.name, "fused_0");
        verify::verify(&g).unwrap();
        let input = [Tensor::from_vec(&[3], vec![-1.0f32, 0.5, 2.0]).unwrap()];
        assert_eq!(
            interp::run(&before, &input).unwrap()[0].bytes(),
            interp::run(&g, &input).unwrap()[0].bytes()
        );
        assert!(!FuseElementwise.run(&mut g, &mut cx).unwrap());
    }

    #[test]
    fn tree_with_shared_operands_fuses_into_one_exact_node() {
        // Two chains sharing values merge into one tree-shaped group.
        let mut g = Graph::new("f");
        let x = g.add_input("x", ty(&[2])).unwrap();
        let a1 = unary(&mut g, Op::Neg, x);
        let b2 = unary(&mut g, Op::Abs, x);
        let b1 = unary(&mut g, Op::Relu, a1);
        let a2 = g.add_node(Op::Add, &[a1, b2]).unwrap()[0];
        let b3 = g.add_node(Op::Mul, &[b1, b2]).unwrap()[0];
        g.set_outputs(vec![a2, b3]);
        let before = g.clone();
        assert_eq!(fuse_elementwise(&mut g).unwrap(), 5);
        assert_eq!(g.order().len(), 1);
        verify::verify(&g).unwrap();
        let input = [Tensor::from_vec(&[2], vec![-1.0f32, 3.0]).unwrap()];
        let (p, q) = (
            interp::run(&before, &input).unwrap(),
            interp::run(&g, &input).unwrap(),
        );
        assert!(p.iter().zip(&q).all(|(a, b)| a.bytes() == b.bytes()));
    }

    #[test]
    fn unknown_dims_and_single_nodes_are_left_alone() {
        let mut g = Graph::new("f");
        let t = TensorType::new(DType::F32, [Dim::Unknown]);
        let x = g.add_input("x", t.clone()).unwrap();
        let a = g.push_node(Op::Neg, vec![x], vec![t.clone()]);
        let a = g.node(a).outputs[0];
        let b = g.push_node(Op::Relu, vec![a], vec![t]);
        let b = g.node(b).outputs[0];
        g.set_outputs(vec![b]);
        assert_eq!(fuse_elementwise(&mut g).unwrap(), 0);
        let mut h = Graph::new("f");
        let x = h.add_input("x", ty(&[2])).unwrap();
        let y = unary(&mut h, Op::Neg, x);
        h.set_outputs(vec![y]);
        assert_eq!(fuse_elementwise(&mut h).unwrap(), 0);
    }
}
