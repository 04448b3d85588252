//! The independent plan checker.
//!
//! Recomputes liveness and sizes from the graph alone (it trusts nothing in
//! the plan but the value → offset map and the arena size), then checks,
//! under one binding: every intermediate has exactly one buffer; each is
//! 64-byte aligned, at least as large as its type needs and inside the arena;
//! and no two buffers live at the same step overlap in bytes, unless they are
//! an in-place pair — the result of an elementwise node and an input of it
//! that dies there, of the same byte size, at the same offset.

use super::{Bindings, MemoryPlan, ALIGN};
use ingot_ir::{Graph, Op, Value};
use std::collections::HashMap;

struct Live {
    value: Value,
    def: usize,
    last: usize,
    off: usize,
    /// Bytes the type needs, rounded up to the alignment.
    len: usize,
}

/// Check `plan` against `g` under `bindings`; the error names the values.
pub fn check_plan(g: &Graph, plan: &MemoryPlan, bindings: &Bindings) -> Result<(), String> {
    let env = |name: &str| bindings.get(name).copied();
    let steps = g.order().len();
    let offsets = plan.offsets_for(bindings)?;
    let arena = plan.arena_bytes_for(bindings)?;
    let mut planned: HashMap<Value, usize> = HashMap::new();
    for (b, off) in plan.buffers.iter().zip(&offsets) {
        if planned.insert(b.value, *off).is_some() {
            return Err(format!("{} has two buffers", b.value));
        }
    }

    let mut live: Vec<Live> = vec![];
    let mut at: HashMap<Value, usize> = HashMap::new();
    for (i, &n) in g.order().iter().enumerate() {
        let nd = g.node(n);
        for v in &nd.inputs {
            if let Some(&k) = at.get(v) {
                live[k].last = i;
            }
        }
        if matches!(nd.op, Op::Const { .. }) {
            continue;
        }
        for &v in &nd.outputs {
            let ty = g.ty(v);
            let numel = ty
                .numel()
                .eval(&env)
                .ok_or_else(|| format!("{v}: size of {ty:?} not computable under {bindings:?}"))?;
            let raw = usize::try_from(numel)
                .ok()
                .and_then(|n| n.checked_mul(ty.dtype.size()))
                .ok_or_else(|| format!("{v}: bad size {numel} for {ty:?}"))?;
            let len = raw.div_ceil(ALIGN as usize) * ALIGN as usize;
            let off = planned
                .remove(&v)
                .ok_or_else(|| format!("{v} (result of `{}`) has no buffer", nd.op.name()))?;
            if off % ALIGN as usize != 0 {
                return Err(format!("{v} at offset {off} is not {ALIGN}-byte aligned"));
            }
            if off + len > arena {
                return Err(format!(
                    "{v} at [{off}, {}) lies outside the arena of {arena} bytes",
                    off + len
                ));
            }
            at.insert(v, live.len());
            live.push(Live {
                value: v,
                def: i,
                last: i,
                off,
                len,
            });
        }
    }
    if let Some(v) = planned.keys().next() {
        return Err(format!("{v} has a buffer but is not an intermediate"));
    }
    for v in g.outputs() {
        if let Some(&k) = at.get(v) {
            live[k].last = steps;
        }
    }

    // Sanctioned sharing: result `r` of an in-place capable node, input `a`
    // of it whose last use is that node, same length, same offset.
    let in_place = |a: &Live, r: &Live| {
        let nd = g.node(g.order()[r.def]);
        super::writes_in_place(&nd.op)
            && nd.inputs.contains(&a.value)
            && a.last == r.def
            && a.off == r.off
            && a.len == r.len
    };
    // Views share their operand's bytes while both live: the root of a
    // chain of views at the same offset and length.
    let mut root: Vec<usize> = (0..live.len()).collect();
    for k in 0..live.len() {
        let nd = g.node(g.order()[live[k].def]);
        if !super::is_view(&nd.op) {
            continue;
        }
        if let Some(&a) = nd.inputs.first().and_then(|a| at.get(a)) {
            if live[a].off == live[k].off && live[a].len == live[k].len {
                root[k] = root[a];
            }
        }
    }
    for (i, x) in live.iter().enumerate() {
        for (j, y) in live.iter().enumerate().skip(i + 1) {
            let together = x.def <= y.last && y.def <= x.last;
            let bytes = x.off < y.off + y.len && y.off < x.off + x.len;
            if together && bytes && root[i] != root[j] && !in_place(x, y) && !in_place(y, x) {
                return Err(format!(
                    "{} (steps {}..={}, bytes [{}, {})) overlaps {} (steps {}..={}, bytes [{}, {})) \
                     under {bindings:?}",
                    x.value,
                    x.def,
                    x.last,
                    x.off,
                    x.off + x.len,
                    y.value,
                    y.def,
                    y.last,
                    y.off,
                    y.off + y.len
                ));
            }
        }
    }
    Ok(())
}
