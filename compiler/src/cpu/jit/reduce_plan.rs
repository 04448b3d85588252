//! The analysis behind a row-reduction loop nest (`reduce_gen.rs`): which
//! registers vary along the row, how many reduction levels each depends on
//! (its stage), which are needed, and which values a reduction pass should
//! park in an output row for the final pass (spills).
//!
//! Guarantees: a register of stage `p` depends only on reductions of stage
//! ≤ `p`, so pass `p` can accumulate every stage-`p` reduction at once; a
//! spill is only chosen for a full f32 output when the pattern allows it
//! (no output overlaps an input).

use super::prog::{node_cost, Prog, Reg, Ty, E};
use super::reduce_gen::Pattern;

/// The classification of every register.
pub(crate) struct Plan {
    pub varying: Vec<bool>,
    pub stage: Vec<usize>,
    pub needed: Vec<bool>,
    pub passes: usize,
}

fn operands(e: &E) -> Vec<Reg> {
    match *e {
        E::Un(_, x) | E::Cast(x) | E::Reduce(_, x) => vec![x],
        E::Bin(_, x, y) => vec![x, y],
        E::Select(c, x, y) => vec![c, x, y],
        _ => vec![],
    }
}

pub(crate) fn plan(prog: &Prog, pat: &Pattern) -> Plan {
    let n = prog.nodes.len();
    let (mut varying, mut stage) = (vec![false; n], vec![0; n]);
    for (r, (e, _)) in prog.nodes.iter().enumerate() {
        match *e {
            E::Load(k) => varying[r] = pat.contig[k],
            E::Reduce(_, x) => stage[r] = stage[x] + 1,
            _ => {
                for x in operands(e) {
                    varying[r] |= varying[x];
                    stage[r] = stage[r].max(stage[x]);
                }
            }
        }
    }
    let mut needed = vec![false; n];
    for &r in &prog.outputs {
        needed[r] = true;
    }
    for r in (0..n).rev() {
        if needed[r] {
            for x in operands(&prog.nodes[r].0) {
                needed[x] = true;
            }
        }
    }
    let passes = (0..n)
        .filter(|&r| needed[r] && matches!(prog.nodes[r].0, E::Reduce(..)))
        .map(|r| stage[r])
        .max()
        .unwrap_or(0);
    Plan {
        varying,
        stage,
        needed,
        passes,
    }
}

/// The varying registers a loop must evaluate per element to get `roots`
/// (not looking through the registers in `stop`).
pub(crate) fn in_loop(prog: &Prog, plan: &Plan, roots: &[Reg], stop: &[bool]) -> Vec<bool> {
    let mut set = vec![false; prog.nodes.len()];
    for &r in roots {
        set[r] = plan.varying[r];
    }
    for r in (0..set.len()).rev() {
        if set[r] && !stop[r] {
            for x in operands(&prog.nodes[r].0) {
                set[x] |= plan.varying[x];
            }
        }
    }
    set
}

/// A varying value a reduction pass stores into a full output's row, so
/// the final pass loads it instead of recomputing it (softmax's `exp`).
#[derive(Clone, Debug)]
pub(crate) struct Spill {
    pub reg: Reg,
    pub out: usize,
    pub pass: usize,
}

/// Pick, per full f32 output, the costliest value (≥ 10 instructions, e.g.
/// an `exp`) that both a reduction pass and the output need.
pub(crate) fn spills(
    prog: &Prog,
    plan: &Plan,
    pat: &Pattern,
    pass_roots: &[Vec<Reg>],
) -> Vec<Spill> {
    if !pat.spill {
        return vec![];
    }
    let n = prog.nodes.len();
    let none = vec![false; n];
    let cost = |r: Reg| -> usize {
        let set = in_loop(prog, plan, &[r], &none);
        (0..n)
            .filter(|&x| set[x])
            .map(|x| node_cost(&prog.nodes[x].0))
            .sum()
    };
    let sets: Vec<Vec<bool>> = pass_roots
        .iter()
        .map(|roots| in_loop(prog, plan, roots, &none))
        .collect();
    let mut out = vec![];
    for (j, &o) in prog.outputs.iter().enumerate() {
        if !pat.full[j] || prog.ty(o) != Ty::F32 {
            continue;
        }
        let anc = in_loop(prog, plan, &[o], &none);
        let mut best: Option<(usize, Spill)> = None;
        for (p, set) in sets.iter().enumerate() {
            for r in (0..n).filter(|&r| anc[r] && set[r] && prog.ty(r) == Ty::F32) {
                let c = cost(r);
                if c >= 10 && best.as_ref().is_none_or(|b| c >= b.0) {
                    let s = Spill {
                        reg: r,
                        out: j,
                        pass: p + 1,
                    };
                    best = Some((c, s));
                }
            }
        }
        out.extend(best.map(|b| b.1));
    }
    out
}
