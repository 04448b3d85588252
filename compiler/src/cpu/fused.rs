//! Lowering `fused` nodes: elementwise bodies to JIT kernels, and
//! `contraction` bodies to a contraction micro-kernel whose epilogue (the
//! elementwise rest of the body) is a JIT [`RangeKernel`] run on each output
//! tile while it is in cache.
//!
//! A contraction step's operands are re-ordered for the kernel: first the
//! contraction's own operands in op order (weights included: the kernel
//! packed them at compile time and ignores them at run time), then the
//! values the epilogue reads. The epilogue body's inputs are the
//! contraction result followed by those values.
//!
//! [`RangeKernel`]: ingot_runtime::RangeKernel

use super::jit::Sink;
use ingot_ir::{Graph, Op, Value};
use ingot_runtime::spec::KernelSpec;
use std::collections::HashMap;

/// The kernel for a fused contraction node with operands `outer` (the
/// node's inputs, which the body's inputs stand for), and the outer values
/// its step must receive, in order.
pub fn contraction_with_epilogue(
    body: &Graph,
    outer: &[Value],
    sink: &mut Sink,
) -> Result<(KernelSpec, Vec<Value>), String> {
    let order = body.order();
    let first = *order
        .iter()
        .find(|&&n| !matches!(body.node(n).op, Op::Const { .. }))
        .ok_or("contraction body has no nodes")?;
    let cnode = body.node(first);
    let acc = cnode.outputs[0];
    // Body value → outer value, for body inputs.
    let to_outer: HashMap<Value, Value> = body
        .inputs()
        .iter()
        .copied()
        .zip(outer.iter().copied())
        .collect();
    let outer_of = |v: Value| -> Result<Value, String> {
        to_outer
            .get(&v)
            .copied()
            .ok_or_else(|| format!("contraction operand {v} is not a body input"))
    };
    let c_ops: Vec<Value> = cnode
        .inputs
        .iter()
        .map(|&v| outer_of(v))
        .collect::<Result<_, _>>()?;
    let [out] = body.outputs() else {
        return Err("contraction body must have one output".into());
    };
    if body.ty(*out).dtype != body.ty(acc).dtype || body.ty(*out).shape != body.ty(acc).shape {
        return Err(format!(
            "epilogue changes the result type ({} → {})",
            body.ty(acc),
            body.ty(*out)
        ));
    }
    // The epilogue: every node after the contraction, reading the result
    // and whatever other body inputs it needs.
    let mut epi = Graph::new(format!("{}_epilogue", body.name));
    let mut map: HashMap<Value, Value> = HashMap::new();
    map.insert(
        acc,
        epi.add_input("acc", body.ty(acc).clone())
            .map_err(|e| e.to_string())?,
    );
    let mut extras: Vec<Value> = vec![];
    for &n in order {
        if n == first {
            continue;
        }
        let nd = body.node(n);
        let mut args = vec![];
        for &v in &nd.inputs {
            if let Some(&m) = map.get(&v) {
                args.push(m);
                continue;
            }
            let o = outer_of(v)?;
            let m = epi
                .add_input(&format!("x{}", extras.len()), body.ty(v).clone())
                .map_err(|e| e.to_string())?;
            extras.push(o);
            map.insert(v, m);
            args.push(m);
        }
        let tys = nd.outputs.iter().map(|&v| body.ty(v).clone()).collect();
        let en = epi.push_node(nd.op.clone(), args, tys);
        for (&o, &e) in nd.outputs.iter().zip(&epi.node(en).outputs.clone()) {
            map.insert(o, e);
        }
    }
    epi.set_outputs(vec![map[out]]);
    let epilogue = if epi.order().is_empty() {
        None
    } else {
        let spec = sink.elementwise(&epi).map_err(|e| e.to_string())?;
        let base = c_ops.len();
        Some((spec, (base..base + extras.len()).collect()))
    };
    let spec = KernelSpec::Op {
        op: cnode.op.clone(),
        n_inputs: c_ops.len(),
        n_outputs: 1,
        epilogue,
    };
    let mut ins = c_ops;
    ins.extend(extras);
    Ok((spec, ins))
}

/// A fused body the JIT does not take, as its own small program of native
/// kernels (each body node lowered like a top-level node), run on one
/// thread (`ingot_runtime::spec::BodyKernel`).
pub fn body_program(body: &Graph, kind: &str, sink: &mut Sink) -> Result<KernelSpec, String> {
    // The inner executor binds symbolic dims from its inputs' shapes,
    // which works for plain symbols (`batch`) only; a body whose input
    // is `batch*2` could not size its buffers at run time.
    let plain = |d: &ingot_ir::Dim| d.as_known().is_some() || d.as_var().is_some();
    let compound = body
        .inputs()
        .iter()
        .find(|&&v| !body.ty(v).shape.iter().all(plain));
    if let Some(&v) = compound {
        return Err(format!(
            "body input {v} has type {}, whose dims are not plain symbols",
            body.ty(v)
        ));
    }
    let plan = ingot_passes::memory_plan::plan_memory_partial(body);
    let lowered = super::lower::lower(body, &plan, true, sink)?;
    let stats = &lowered.stats;
    if stats.native < stats.steps {
        return Err(format!(
            "{} of the {} body steps have no native kernel",
            stats.steps - stats.native,
            stats.steps
        ));
    }
    Ok(KernelSpec::Body {
        what: format!("{kind} body as {} native steps", stats.steps),
        program: Box::new(lowered.spec),
    })
}
