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

use super::contract::contraction_kernel;
use super::jit::compile_elementwise;
use ingot_ir::{Graph, Op, Tensor, TensorType, Value};
use ingot_runtime::kernels::Epilogue;
use ingot_runtime::{Kernel, RangeKernel};
use std::collections::HashMap;
use std::sync::Arc;

/// A kernel for a fused contraction node with operands `outer` (the node's
/// inputs, which the body's inputs stand for), and the outer values its
/// step must receive, in order.
pub fn contraction_with_epilogue(
    outer_graph: &Graph,
    body: &Graph,
    outer: &[Value],
) -> Result<(Box<dyn Kernel>, Vec<Value>), String> {
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
    let in_types: Vec<TensorType> = c_ops.iter().map(|&v| outer_graph.ty(v).clone()).collect();
    let consts: Vec<Option<Tensor>> = c_ops
        .iter()
        .map(|&v| outer_graph.const_value(v).cloned())
        .collect();
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
        let k: Arc<dyn RangeKernel> = compile_elementwise(&epi).map_err(|e| e.to_string())?;
        let base = c_ops.len();
        Some(Epilogue::new(k, (base..base + extras.len()).collect()))
    };
    let kernel = contraction_kernel(&cnode.op, &in_types, &consts, 1, epilogue)
        .ok_or_else(|| format!("`{}` has no contraction kernel", cnode.op.name()))??;
    let mut ins = c_ops;
    ins.extend(extras);
    Ok((kernel, ins))
}

/// A fused body the JIT does not take, run as its own small program of
/// native kernels (each body node lowered like a top-level node) on one
/// thread. Operands are copied in and results copied out, which is cheap
/// next to the interpreter this replaces.
pub struct BodyKernel {
    model: ingot_runtime::Model,
    what: String,
}

impl BodyKernel {
    pub fn new(body: &Graph, kind: &str) -> Result<BodyKernel, String> {
        // The inner executor binds symbolic dims from its inputs' shapes,
        // which works for plain symbols (`batch`) only; a body whose input
        // is `batch*2` could not size its buffers at run time.
        let plain = |d: &ingot_ir::Dim| match d {
            ingot_ir::Dim::Known(_) => true,
            ingot_ir::Dim::Sym(_) => {
                let vs = d.vars();
                vs.len() == 1 && *d == ingot_ir::Dim::var(&vs[0])
            }
            ingot_ir::Dim::Unknown => false,
        };
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
        let (program, stats) = super::lower::lower(body, &plan, true)?;
        if stats.native < stats.steps {
            return Err(format!(
                "{} of the {} body steps have no native kernel",
                stats.steps - stats.native,
                stats.steps
            ));
        }
        Ok(BodyKernel {
            model: ingot_runtime::Model::new(program, 1)?,
            what: format!("{kind} body as {} native steps", stats.steps),
        })
    }
}

impl Kernel for BodyKernel {
    fn describe(&self) -> String {
        self.what.clone()
    }

    unsafe fn run(
        &self,
        ins: &[ingot_runtime::Arg],
        outs: &[ingot_runtime::Arg],
        _cx: &ingot_runtime::Ctx,
    ) -> Result<(), ingot_runtime::KernelError> {
        let inputs = ins
            .iter()
            .map(|a| {
                // SAFETY: the executor hands live buffers of their shape.
                let bytes = unsafe { std::slice::from_raw_parts(a.ptr as *const u8, a.bytes()) };
                Tensor::from_bytes(a.dtype, a.shape, bytes).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.model.run(&inputs).map_err(|e| e.to_string())?;
        for (o, t) in outs.iter().zip(&results) {
            if t.shape() != o.shape || t.dtype() != o.dtype {
                return Err(format!(
                    "body result {}{:?} does not match the planned {}{:?}",
                    t.dtype(),
                    t.shape(),
                    o.dtype,
                    o.shape
                )
                .into());
            }
            // SAFETY: `o` is a live, exclusive buffer of exactly these bytes.
            unsafe { std::ptr::copy_nonoverlapping(t.bytes().as_ptr(), o.ptr, o.bytes()) };
        }
        Ok(())
    }
}
