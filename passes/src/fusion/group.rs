//! The machinery every fusion pass shares: growing groups over the schedule
//! ([`Planner`]), the acyclicity check that keeps fused nodes schedulable,
//! and turning groups into `fused` nodes ([`apply_groups`]).
//!
//! Assumptions: the graph verifies (SSA, topological schedule). Groups are
//! sets of schedule positions grown greedily from producer to consumer: a
//! node joins (and merges) groups of its producers. A merge is allowed only
//! if no path leaves the merged set and comes back (checked by reachability
//! over the current groups, so two groups can never end up feeding each
//! other); which merges make sense is the calling pass's policy.
//!
//! Guarantees of [`apply_groups`]: the body keeps the original ops, operand
//! order, names, locations and result types, so results are bit-exact;
//! values used outside the group, returned or unused become results, the
//! group's external inputs its operands in first-use order; one-element
//! constants used by elementwise members are copied into the body (weights
//! never are); the schedule is a stable topological order (each fused node
//! sits at its last member's position unless an external user of an early
//! member must move after it). The acyclicity check is O(nodes) per
//! candidate merge, quadratic at worst.

use ingot_ir::{Dim, Graph, Node, Op, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// `v`'s shape when no dim is `?` (an unknown size equals nothing, so such
/// values never fuse).
pub fn known_shape(g: &Graph, v: Value) -> Option<&[Dim]> {
    let shape = &g.ty(v).shape;
    (!shape.iter().any(|d| matches!(d, Dim::Unknown))).then_some(&shape[..])
}

/// Groups under construction over one graph's schedule. Group ids are
/// positions: a group is named by the position of the node that last grew it.
pub struct Planner<'g> {
    pub g: &'g Graph,
    pub order: Vec<Node>,
    pub pos: HashMap<Node, usize>,
    /// Users of each position's results, as sorted positions.
    succ: Vec<Vec<usize>>,
    /// The group of each position.
    pub group: Vec<usize>,
    /// Each group's member positions (sorted; empty once merged away).
    pub members: Vec<Vec<usize>>,
}

impl<'g> Planner<'g> {
    pub fn new(g: &'g Graph) -> Planner<'g> {
        let order = g.order().to_vec();
        let pos: HashMap<Node, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let users = g.users();
        let succ = order
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
        let n = order.len();
        Planner {
            g,
            order,
            pos,
            succ,
            group: (0..n).collect(),
            members: (0..n).map(|i| vec![i]).collect(),
        }
    }

    /// The schedule position of `v`'s producer, if a live node makes it.
    pub fn producer_pos(&self, v: Value) -> Option<usize> {
        self.g.producer(v).and_then(|p| self.pos.get(&p).copied())
    }

    /// The distinct groups producing node `i`'s operands, in operand order.
    pub fn producer_groups(&self, i: usize) -> Vec<usize> {
        let mut out = vec![];
        for &v in &self.g.node(self.order[i]).inputs {
            if let Some(j) = self.producer_pos(v) {
                let gj = self.group[j];
                if gj != self.group[i] && !out.contains(&gj) {
                    out.push(gj);
                }
            }
        }
        out
    }

    /// The member positions of `i`'s group plus those of `groups`, sorted.
    pub fn union(&self, i: usize, groups: &[usize]) -> Vec<usize> {
        let mut set = self.members[self.group[i]].clone();
        for &k in groups {
            set.extend(&self.members[k]);
        }
        set.sort_unstable();
        set.dedup();
        set
    }

    /// Whether the set of positions (whole groups, all at positions `<= last`)
    /// can become one node: nothing reachable from its outside successors is
    /// in it. Positions after `last` are untouched singletons that cannot
    /// reach back, so the search stops there.
    pub fn stays_acyclic(&self, set: &[usize], last: usize) -> bool {
        let inside: HashSet<usize> = set.iter().copied().collect();
        let mut stack: Vec<usize> = set
            .iter()
            .flat_map(|&m| &self.succ[m])
            .copied()
            .filter(|s| !inside.contains(s) && *s <= last)
            .collect();
        let mut seen: HashSet<usize> = HashSet::new();
        while let Some(x) = stack.pop() {
            if inside.contains(&x) {
                return false;
            }
            if !seen.insert(self.group[x]) {
                continue;
            }
            for &m in &self.members[self.group[x]] {
                stack.extend(self.succ[m].iter().copied().filter(|&s| s <= last));
            }
        }
        true
    }

    /// Merge `groups` into `i`'s group (which must be `i`'s singleton or a
    /// group already named `i`); the result is named `i`.
    pub fn merge(&mut self, i: usize, groups: &[usize]) {
        let set = self.union(i, groups);
        let old = self.group[i];
        for &k in groups.iter().chain(std::iter::once(&old)) {
            if k != i {
                self.members[k].clear();
            }
        }
        for &m in &set {
            self.group[m] = i;
        }
        self.members[i] = set;
    }

    /// The groups (sorted positions) that `keep` accepts, in the order of
    /// their last member.
    pub fn finish(self, keep: impl Fn(&[usize]) -> bool) -> Vec<Vec<usize>> {
        self.members
            .into_iter()
            .filter(|m| !m.is_empty() && keep(m))
            .collect()
    }
}

/// Turn each group (sorted schedule positions of `g`) into one
/// `fused {kind}` node; returns how many nodes were fused.
pub fn apply_groups(g: &mut Graph, groups: &[Vec<usize>], kind: &str) -> Result<usize, String> {
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
        let (f, consts) = fuse_group(g, &nodes, kind, first_id + k)?;
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
fn fuse_group(
    g: &mut Graph,
    nodes: &[Node],
    kind: &str,
    id: usize,
) -> Result<(Node, Vec<Node>), String> {
    let in_group: HashSet<Node> = nodes.iter().copied().collect();
    let users = g.users();
    let mut body = Graph::new(format!("fused_{id}"));
    let mut map: HashMap<Value, Value> = HashMap::new();
    let mut operands = vec![];
    let mut consts = vec![];
    // Names the body must keep free for the members' results.
    let mut used: HashSet<String> = nodes
        .iter()
        .flat_map(|&n| g.node(n).outputs.clone())
        .filter_map(|v| g.name_of(v).map(str::to_string))
        .collect();
    for &n in nodes {
        let nd = g.node(n).clone();
        // Only elementwise members take copied scalars: a contraction body
        // must start with its contraction, and reductions' operands are
        // parameters the kernel reads as tensors.
        let copy_scalars = nd.op.is_elementwise();
        let mut args = vec![];
        for &v in &nd.inputs {
            if let Some(&b) = map.get(&v) {
                args.push(b);
                continue;
            }
            let scalar = g.const_value(v).filter(|t| copy_scalars && t.numel() == 1);
            let b = match scalar {
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
        kind: kind.into(),
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
