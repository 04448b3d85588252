//! Memory planning: liveness over the schedule, then buffer assignment into
//! one arena whose layout is a function of the symbolic dims.
//!
//! What is planned: every result of a live top-level node that is not a
//! `const`. Graph inputs and constants live outside the arena; graph outputs
//! live in it until the end of the schedule. If/Loop bodies are the business
//! of whoever runs them (their outer operands, captures included, are
//! ordinary node inputs, so liveness here is complete).
//!
//! Liveness: a buffer is live over the closed interval [def, last use] of
//! schedule indices (a node reads its inputs while writing its results, so a
//! result and an input dying at the same node are both live there). A result
//! nobody uses is live at its definition only; an output is live to
//! `steps` (one past the last node).
//!
//! Sizes are `Dim`s: `numel * dtype size` rounded up to [`ALIGN`] bytes, so
//! every offset (a sum of sizes) is aligned for every binding.
//!
//! In-place: an elementwise node (or fused elementwise kernel) whose input
//! dies at it, with the same numel and element size as the result, hands
//! its buffer to the result. Views (reshape, flatten, squeeze, unsqueeze,
//! identity) always share their operand's buffer, and the shared slot lives
//! until both are dead. Such chains share one *slot*; slots are what get
//! placed.
//!
//! Placement is in `assign.rs` (greedy by size with best fit for static
//! slots, an offset tree for symbolic ones). The plan is data: the graph is
//! not changed. It is not a `Pass`: a pass reports only "changed", and a plan
//! that can fail (unknown dims) has no place to go in `PassCx`; callers call
//! [`plan_memory`] after `optimize`.
//!
//! Guarantees (asserted by [`check_plan`], which recomputes liveness from the
//! graph on its own): for every binding of the symbolic dims, no two
//! simultaneously live buffers overlap except the in-place pairs, which share
//! exactly; every buffer is 64-byte aligned and inside the arena; the arena
//! is at most the sum of the buffer sizes.

mod assign;
mod check;
#[cfg(test)]
mod tests;

pub use check::check_plan;

use ingot_ir::{Dim, Graph, Op, TensorType, Value};
use std::collections::HashMap;

/// Byte alignment of every buffer.
pub const ALIGN: i64 = 64;

/// Bindings of symbolic dims (`batch` → 8).
pub type Bindings = HashMap<String, i64>;

/// One intermediate value's buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    pub value: Value,
    /// Aligned size in bytes.
    pub bytes: Dim,
    /// Schedule index of the defining node.
    pub start: usize,
    /// Schedule index of the last use (`steps` for a graph output).
    pub end: usize,
    /// The slot (arena region) that holds it.
    pub slot: usize,
}

/// A region of the arena, held by one buffer or an in-place chain of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub bytes: Dim,
    pub start: usize,
    pub end: usize,
    /// Offset in the arena, as a function of the symbolic dims.
    pub offset: Dim,
    /// The values sharing this slot, in schedule order.
    pub values: Vec<Value>,
}

/// A memory plan for one graph.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    /// Number of nodes in the schedule.
    pub steps: usize,
    pub buffers: Vec<Buffer>,
    pub slots: Vec<Slot>,
    /// (input, result) pairs where the result reuses the input's buffer.
    pub in_place: Vec<(Value, Value)>,
    /// Values left out of the arena because their size is data dependent
    /// (only with [`plan_memory_partial`]): the executor holds them on the
    /// heap. Also `max_pool`'s indices when nothing reads them: the native
    /// kernel does not compute them, and the interpreter's copy lives on the
    /// heap for one step.
    pub dynamic: Vec<Value>,
}

/// Sizes for one binding, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryReport {
    /// Bytes the planned arena needs.
    pub arena_bytes: usize,
    /// Maximum over schedule steps of the bytes of live slots: no plan with
    /// these in-place decisions can use less.
    pub lower_bound: usize,
    /// Sum of all intermediate buffers' sizes (what no reuse would cost).
    pub sum_bytes: usize,
    pub buffers: usize,
    pub in_place: usize,
}

/// Ops whose single result may take the buffer of an operand that dies at
/// the node: their kernels read each element before writing that index.
pub fn writes_in_place(op: &Op) -> bool {
    op.is_elementwise() || matches!(op, Op::Fused { kind, .. } if kind == "elementwise")
}

/// Ops whose result is their first operand's bytes unchanged (a view):
/// the result always shares the operand's buffer.
pub fn is_view(op: &Op) -> bool {
    matches!(
        op,
        Op::Reshape { .. }
            | Op::Flatten { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Identity
    )
}

/// A value's buffer size: numel times element size, rounded up to [`ALIGN`].
pub fn aligned_bytes(ty: &TensorType) -> Option<Dim> {
    let n = ty.numel();
    if matches!(n, Dim::Unknown) {
        return None;
    }
    let raw = n.mul(&Dim::from(ty.dtype.size()));
    let a = Dim::Known(ALIGN);
    match raw.ceil_div(&a).mul(&a) {
        Dim::Unknown => None,
        d => Some(d),
    }
}

/// Evaluate a size or offset under `bindings`; negative or unbound is an error.
pub(crate) fn eval(
    d: &Dim,
    bindings: &Bindings,
    what: &dyn Fn() -> String,
) -> Result<usize, String> {
    let v = d
        .eval(&|name| bindings.get(name).copied())
        .ok_or_else(|| format!("{}: `{d:?}` needs a binding for {:?}", what(), d.vars()))?;
    usize::try_from(v)
        .map_err(|_| format!("{}: `{d:?}` is negative ({v}) under {bindings:?}", what()))
}

/// Plan the arena for `g`'s schedule. Fails when an intermediate's size is
/// not a function of the input dims (`?` dims).
pub fn plan_memory(g: &Graph) -> Result<MemoryPlan, String> {
    plan(g, false)
}

/// Plan the arena for every value whose size is a function of the input
/// dims; the others are listed in [`MemoryPlan::dynamic`].
pub fn plan_memory_partial(g: &Graph) -> MemoryPlan {
    plan(g, true).expect("partial planning leaves unsized values out instead of failing")
}

fn plan(g: &Graph, partial: bool) -> Result<MemoryPlan, String> {
    let steps = g.order().len();
    let users = g.users();
    let read = |v: &Value| users.contains_key(v) || g.outputs().contains(v);
    let mut dynamic = vec![];
    let mut buffers: Vec<Buffer> = vec![];
    let mut index: HashMap<Value, usize> = HashMap::new();
    for (i, &n) in g.order().iter().enumerate() {
        let nd = g.node(n);
        for v in &nd.inputs {
            if let Some(&b) = index.get(v) {
                buffers[b].end = buffers[b].end.max(i);
            }
        }
        if matches!(nd.op, Op::Const { .. }) {
            continue;
        }
        for (k, &v) in nd.outputs.iter().enumerate() {
            let ty = g.ty(v);
            if k > 0 && matches!(nd.op, Op::MaxPool { .. }) && !read(&v) {
                dynamic.push(v);
                continue;
            }
            if partial && aligned_bytes(ty).is_none() {
                dynamic.push(v);
                continue;
            }
            let bytes = aligned_bytes(ty).ok_or_else(|| {
                format!(
                    "memory planning: {v} (result of `{}`) has type {ty:?}, whose size is not a \
                     function of the input dims; give its dims or bound them",
                    nd.op.name()
                )
            })?;
            index.insert(v, buffers.len());
            buffers.push(Buffer {
                value: v,
                bytes,
                start: i,
                end: i,
                slot: usize::MAX,
            });
        }
    }
    for v in g.outputs() {
        if let Some(&b) = index.get(v) {
            buffers[b].end = steps;
        }
    }

    // In-place chains, in schedule order: a result joins the slot of an
    // input whose buffer (and slot) ends at this node.
    let mut slots: Vec<Slot> = vec![];
    let mut in_place = vec![];
    for b in 0..buffers.len() {
        let v = buffers[b].value;
        let i = buffers[b].start;
        let nd = g.node(g.order()[i]);
        let mut joined = None;
        // A view (reshape and friends) shares its operand's bytes whether or
        // not the operand dies here; the slot lives as long as either.
        if is_view(&nd.op) {
            if let Some(&ai) = nd.inputs.first().and_then(|a| index.get(a)) {
                if buffers[ai].bytes == buffers[b].bytes {
                    joined = Some((nd.inputs[0], buffers[ai].slot));
                }
            }
        } else if writes_in_place(&nd.op) && nd.outputs.len() == 1 {
            for a in &nd.inputs {
                let Some(&ai) = index.get(a) else { continue };
                let s = buffers[ai].slot;
                let same_size = g.ty(*a).numel() == g.ty(v).numel()
                    && g.ty(*a).dtype.size() == g.ty(v).dtype.size();
                if buffers[ai].end == i && slots[s].end == i && same_size {
                    joined = Some((*a, s));
                    break;
                }
            }
        }
        match joined {
            Some((a, s)) => {
                slots[s].end = slots[s].end.max(buffers[b].end);
                slots[s].values.push(v);
                buffers[b].slot = s;
                in_place.push((a, v));
            }
            None => {
                buffers[b].slot = slots.len();
                slots.push(Slot {
                    bytes: buffers[b].bytes.clone(),
                    start: i,
                    end: buffers[b].end,
                    offset: Dim::Known(0),
                    values: vec![v],
                });
            }
        }
    }
    assign::assign(&mut slots);
    Ok(MemoryPlan {
        steps,
        buffers,
        slots,
        in_place,
        dynamic,
    })
}

impl MemoryPlan {
    /// Each buffer's byte offset (in `buffers` order) under `bindings`.
    pub fn offsets_for(&self, bindings: &Bindings) -> Result<Vec<usize>, String> {
        self.buffers
            .iter()
            .map(|b| {
                eval(&self.slots[b.slot].offset, bindings, &|| {
                    format!("offset of {}", b.value)
                })
            })
            .collect()
    }

    /// Bytes the arena needs under `bindings`.
    pub fn arena_bytes_for(&self, bindings: &Bindings) -> Result<usize, String> {
        let mut top = 0usize;
        for (i, s) in self.slots.iter().enumerate() {
            let what = || format!("slot {i}");
            let end = eval(&s.offset, bindings, &what)?
                .checked_add(eval(&s.bytes, bindings, &what)?)
                .ok_or("arena size overflows usize")?;
            top = top.max(end);
        }
        Ok(top)
    }

    /// Maximum over steps of the bytes of live slots under `bindings`.
    pub fn lower_bound_for(&self, bindings: &Bindings) -> Result<usize, String> {
        // Difference array over steps 0..=steps.
        let mut delta = vec![0i128; self.steps + 2];
        for (i, s) in self.slots.iter().enumerate() {
            let n = eval(&s.bytes, bindings, &|| format!("slot {i}"))? as i128;
            delta[s.start] += n;
            delta[s.end + 1] -= n;
        }
        let (mut cur, mut best) = (0i128, 0i128);
        for d in delta {
            cur += d;
            best = best.max(cur);
        }
        usize::try_from(best).map_err(|_| "live bytes overflow usize".to_string())
    }

    /// Sum of every buffer's size under `bindings`.
    pub fn sum_bytes_for(&self, bindings: &Bindings) -> Result<usize, String> {
        let mut sum = 0usize;
        for b in &self.buffers {
            sum = sum
                .checked_add(eval(&b.bytes, bindings, &|| {
                    format!("size of {}", b.value)
                })?)
                .ok_or("sum of sizes overflows usize")?;
        }
        Ok(sum)
    }

    /// Arena, lower bound and sum of sizes under `bindings`.
    pub fn report(&self, bindings: &Bindings) -> Result<MemoryReport, String> {
        Ok(MemoryReport {
            arena_bytes: self.arena_bytes_for(bindings)?,
            lower_bound: self.lower_bound_for(bindings)?,
            sum_bytes: self.sum_bytes_for(bindings)?,
            buffers: self.buffers.len(),
            in_place: self.in_place.len(),
        })
    }
}
