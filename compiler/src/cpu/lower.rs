//! Lowering an optimized, memory-planned graph to a [`ProgramSpec`].
//!
//! Every value becomes a buffer: graph inputs and constants keep their
//! storage, planned values get their arena slot, unsized (`?`) values are
//! dynamic. Every non-constant node becomes a step: a native kernel when
//! [`select`](super::select) has one for it, else the reference interpreter
//! (a correct but slow fallback, counted in the compile report). A node
//! with a dynamic result always falls back: native kernels write
//! preallocated buffers.

use super::jit::Sink;
use super::select::{select, Selected};
use ingot_ir::{Graph, Op, Value};
use ingot_passes::memory_plan::MemoryPlan;
use ingot_runtime::spec::{BufSpec, KernelSpec, LocSpec, ProgramSpec, StepSpec};
use std::collections::HashMap;

/// How the steps were lowered, for reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LowerStats {
    pub steps: usize,
    pub native: usize,
    /// `(op name, count)` of steps run by the interpreter.
    pub fallback: Vec<(String, usize)>,
    /// Native kernels that failed to build, with why (they fell back).
    pub rejected: Vec<String>,
}

impl LowerStats {
    /// Count a native step that turned into an interpreter step when its
    /// kernel was built.
    pub fn demote(&mut self, op: &str, why: String) {
        self.native -= 1;
        self.rejected.push(why);
        match self.fallback.iter_mut().find(|(o, _)| o == op) {
            Some((_, c)) => *c += 1,
            None => self.fallback.push((op.to_string(), 1)),
        }
        self.fallback
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }
}

/// A lowered graph.
pub struct Lowered {
    pub spec: ProgramSpec,
    /// Per step: the interpreter form of its node (its op on its operand
    /// and result buffers), for when its kernel refuses to build.
    pub fallbacks: Vec<StepSpec>,
    pub stats: LowerStats,
}

/// Lower `g` (already optimized) with `plan` (from
/// `plan_memory_partial(g)`), compiling generated code into `sink`.
/// `native = false` lowers every step to the interpreter (for bisecting a
/// backend bug).
pub fn lower(
    g: &Graph,
    plan: &MemoryPlan,
    native: bool,
    sink: &mut Sink,
) -> Result<Lowered, String> {
    let mut bufs: Vec<BufSpec> = vec![];
    let mut index: HashMap<Value, usize> = HashMap::new();
    let name = |v: Value| g.name_of(v).map_or_else(|| v.to_string(), str::to_string);
    let mut add = |v: Value, loc: LocSpec, bufs: &mut Vec<BufSpec>| {
        index.insert(v, bufs.len());
        bufs.push(BufSpec {
            ty: g.ty(v).clone(),
            loc,
            name: name(v),
        });
    };
    for (i, &v) in g.inputs().iter().enumerate() {
        add(v, LocSpec::Input(i), &mut bufs);
    }
    let mut consts = vec![];
    for &n in g.order() {
        if let Op::Const { value } = &g.node(n).op {
            add(
                g.node(n).outputs[0],
                LocSpec::Const(consts.len()),
                &mut bufs,
            );
            consts.push(value.clone());
        }
    }
    for b in &plan.buffers {
        add(b.value, LocSpec::Arena(b.slot), &mut bufs);
    }
    for &v in &plan.dynamic {
        add(v, LocSpec::Dynamic, &mut bufs);
    }
    let slots = plan
        .slots
        .iter()
        .map(|s| (s.offset.clone(), s.bytes.clone()))
        .collect();

    let mut stats = LowerStats::default();
    let mut fallback: HashMap<&'static str, usize> = HashMap::new();
    let mut steps = vec![];
    let mut fallbacks = vec![];
    let users = g.users();
    for &n in g.order() {
        let nd = g.node(n);
        if matches!(nd.op, Op::Const { .. }) {
            continue;
        }
        let lookup = |v: &Value| {
            index
                .get(v)
                .copied()
                .ok_or_else(|| format!("{v} (used by {n} `{}`) has no buffer", nd.op.name()))
        };
        let mut outs = nd
            .outputs
            .iter()
            .map(lookup)
            .collect::<Result<Vec<_>, _>>()?;
        let node_outs = outs.clone();
        let label = format!(
            "{n} `{}`{}",
            nd.op.name(),
            nd.loc
                .as_ref()
                .map(|l| format!(" at {l:?}"))
                .unwrap_or_default()
        );
        // max_pool's indices that nothing reads are outside the plan (the
        // native kernel skips them; see `MemoryPlan::dynamic`).
        let unread_indices = matches!(nd.op, Op::MaxPool { .. })
            && nd.outputs.len() > 1
            && !users.contains_key(&nd.outputs[1])
            && !g.outputs().contains(&nd.outputs[1]);
        let planned = if unread_indices {
            &outs[..1]
        } else {
            &outs[..]
        };
        let sized = planned.iter().all(|&b| bufs[b].loc != LocSpec::Dynamic);
        let chosen = if native && sized {
            select(g, n, &users, sink)
        } else {
            Selected::None
        };
        let node_ins = nd
            .inputs
            .iter()
            .map(lookup)
            .collect::<Result<Vec<_>, _>>()?;
        let mut ins = node_ins.clone();
        let kind = match chosen {
            Selected::Spec(k, operands) => {
                stats.native += 1;
                if unread_indices {
                    outs.truncate(1);
                }
                if let Some(operands) = operands {
                    ins = operands.iter().map(lookup).collect::<Result<Vec<_>, _>>()?;
                }
                *k
            }
            Selected::Rejected(why) => {
                stats.rejected.push(format!("{label}: {why}"));
                *fallback.entry(nd.op.name()).or_default() += 1;
                KernelSpec::Fallback(nd.op.clone())
            }
            Selected::None => {
                *fallback.entry(nd.op.name()).or_default() += 1;
                KernelSpec::Fallback(nd.op.clone())
            }
        };
        fallbacks.push(StepSpec {
            kind: KernelSpec::Fallback(nd.op.clone()),
            ins: node_ins,
            outs: node_outs,
            label: label.clone(),
        });
        steps.push(StepSpec {
            kind,
            ins,
            outs,
            label,
        });
    }
    let outputs = g
        .outputs()
        .iter()
        .map(|v| {
            index
                .get(v)
                .copied()
                .ok_or_else(|| format!("graph output {v} has no buffer"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    stats.steps = steps.len();
    let mut fb: Vec<(String, usize)> = fallback
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    fb.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stats.fallback = fb;
    let spec = ProgramSpec {
        name: g.name.clone(),
        inputs: (0..g.inputs().len()).collect(),
        outputs,
        bufs,
        consts,
        slots,
        steps,
    };
    Ok(Lowered {
        spec,
        fallbacks,
        stats,
    })
}
