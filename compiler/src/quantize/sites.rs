//! Which layers can be quantized, found on the graph after the f32 cleanup
//! passes.
//!
//! [`prepare`] runs the optimizer's cleanup and folding passes (shape
//! inference, simplification, constant folding, CSE, DCE, batch-norm and
//! affine folding) but no fusion: a batch norm after a conv must be folded
//! into the conv's weights before they are quantized (onnxruntime's
//! `quant_pre_process` does the same), and fused kernels would hide the
//! layers. It then names every activation it will observe, so calibration
//! tables can refer to them; ONNX models name nearly all of them already.
//! The same graph always prepares to the same graph, which is what lets a
//! table made by `calibrate` be applied by a later `quantize`.
//!
//! A [`Site`] is a layer the rewrite can quantize ([`Kind`]):
//! - a `conv`, `gemm` or `matmul` whose weight is a constant (the second
//!   operand: Conv's W, Gemm's B, MatMul's B) and whose first operand is an
//!   f32 activation; contractions that do not qualify stay f32 and are
//!   listed with the reason;
//! - an `add` of two f32 activations of one shape (a residual
//!   join), which runs as `qlinear_add`;
//! - a `global_average_pool` of an f32 activation, which runs as
//!   `qlinear_global_average_pool`.
//!
//! The last two have no weights to shrink: they are quantized so that the
//! integer kernels around them hand each other u8 tensors, with no
//! dequantize/quantize pair in between. The rewrite therefore quantizes
//! them only when an operand already is quantized (see `rewrite.rs`).

use super::QuantizeError;
use ingot_ir::{DType, Graph, Node, Op, Value};
use ingot_passes::const_fold::ConstFold;
use ingot_passes::cse::Cse;
use ingot_passes::dce::Dce;
use ingot_passes::fold_affine::FoldAffine;
use ingot_passes::fold_bn::FoldBn;
use ingot_passes::shape_consts::ShapeConsts;
use ingot_passes::shape_infer::ShapeInfer;
use ingot_passes::simplify::Simplify;
use ingot_passes::{Pass, PassCx};
use std::collections::HashMap;

/// One quantizable layer.
#[derive(Clone, Debug)]
pub struct Site {
    /// The contraction node.
    pub node: Node,
    /// The ONNX node name (or the output's name): how reports name it.
    pub name: String,
    /// `conv`, `gemm`, `matmul`, `add` or `global_average_pool`.
    pub op: &'static str,
    /// The (first) activation operand (operand 0).
    pub x: Value,
    pub kind: Kind,
    /// The node's result.
    pub y: Value,
    /// A ReLU that is `y`'s only user: the quantized output is its result,
    /// and the rewrite may drop it (QuantizeLinear with zero point 0
    /// saturates at 0).
    pub relu: Option<Node>,
    /// The tensor whose range quantizes the output: `y`, or the ReLU's result.
    pub out: Value,
}

/// What a site is.
#[derive(Clone, Debug)]
pub enum Kind {
    /// A contraction with a constant weight.
    Contraction {
        /// The constant weight (operand 1) and its output-channel axis.
        weight: Value,
        w_axis: usize,
        /// A constant bias that can be quantized to i32 (Conv's B `[M]`;
        /// Gemm's C `[N]` when alpha = beta = 1). Other biases stay f32.
        bias: Option<Value>,
    },
    /// `add x, b` of two activations.
    Add { b: Value },
    /// `global_average_pool x`.
    Pool,
}

impl Site {
    /// The activations the node reads.
    pub fn inputs(&self) -> Vec<Value> {
        match self.kind {
            Kind::Add { b } => vec![self.x, b],
            _ => vec![self.x],
        }
    }

    /// The constant weight and its axis, for contractions.
    pub fn weight(&self) -> Option<(Value, usize)> {
        match self.kind {
            Kind::Contraction { weight, w_axis, .. } => Some((weight, w_axis)),
            _ => None,
        }
    }
}

/// The passes `prepare` runs, in order; the second group repeats the first
/// group's cleanup after folding.
fn cleanup() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(Simplify),
        Box::new(ShapeConsts),
        Box::new(ConstFold::default()),
        Box::new(Cse),
        Box::new(Dce),
    ]
}

fn run_to_fixed_point(g: &mut Graph, passes: &[Box<dyn Pass>]) -> Result<(), QuantizeError> {
    let mut cx = PassCx::default();
    // The optimizer's own bound on rounds.
    for _ in 0..8 {
        let mut changed = false;
        for p in passes {
            changed |= p.run(g, &mut cx).map_err(QuantizeError::Prepare)?;
        }
        if !changed {
            break;
        }
    }
    Ok(())
}

/// The f32 graph quantization works on, and its sites (schedule order).
pub fn prepare(graph: &Graph) -> Result<(Graph, Vec<Site>, Vec<Skipped>), QuantizeError> {
    let mut g = graph.clone();
    ShapeInfer
        .run(&mut g, &mut PassCx::default())
        .map_err(QuantizeError::Prepare)?;
    run_to_fixed_point(&mut g, &cleanup())?;
    let mut fold = cleanup();
    fold.insert(0, Box::new(FoldAffine));
    fold.insert(0, Box::new(FoldBn));
    run_to_fixed_point(&mut g, &fold)?;
    let mut g = g.compact();
    let (sites, skipped) = find_sites(&g);
    let mut k = 0;
    for s in &sites {
        for v in s.inputs().into_iter().chain([s.out]) {
            if g.name_of(v).is_none() {
                g.set_name_unique(v, &format!("act{k}"));
                k += 1;
            }
        }
    }
    Ok((g, sites, skipped))
}

/// A contraction left in f32, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub name: String,
    pub op: &'static str,
    pub why: String,
}

/// How reports name a node: its location, else its first result's name,
/// else its entity number.
pub fn node_name(g: &Graph, n: Node) -> String {
    let nd = g.node(n);
    nd.loc
        .clone()
        .or_else(|| g.name_of(nd.outputs[0]).map(str::to_string))
        .unwrap_or_else(|| n.to_string())
}

fn find_sites(g: &Graph) -> (Vec<Site>, Vec<Skipped>) {
    let users = g.users();
    let (mut sites, mut skipped) = (vec![], vec![]);
    for &n in g.order() {
        let nd = g.node(n);
        let op = match &nd.op {
            Op::Conv { .. } => "conv",
            Op::Gemm { .. } => "gemm",
            Op::MatMul => "matmul",
            Op::Add | Op::GlobalAveragePool => {
                sites.extend(follower(g, n, &users));
                continue;
            }
            _ => continue,
        };
        match site(g, n, op, &users) {
            Ok(s) => sites.push(s),
            Err(why) => skipped.push(Skipped {
                name: node_name(g, n),
                op,
                why,
            }),
        }
    }
    (sites, skipped)
}

fn site(
    g: &Graph,
    n: Node,
    op: &'static str,
    users: &HashMap<Value, Vec<Node>>,
) -> Result<Site, String> {
    let nd = g.node(n);
    let (x, weight, y) = (nd.inputs[0], nd.inputs[1], nd.outputs[0]);
    if g.ty(x).dtype != DType::F32 {
        return Err(format!("its input is {}, not f32", g.ty(x).dtype));
    }
    if g.const_value(x).is_some() {
        return Err("its input is a constant".into());
    }
    let Some(w) = g.const_value(weight) else {
        return Err("its weight is computed at run time, not a constant".into());
    };
    if w.dtype() != DType::F32 {
        return Err(format!("its weight is {}, not f32", w.dtype()));
    }
    if w.to_f64s().iter().any(|v| !v.is_finite()) {
        return Err("its weight holds NaN or infinity".into());
    }
    let rank = w.rank();
    let (w_axis, bias) = match &nd.op {
        Op::Conv { .. } => (0, nd.inputs.get(2).copied()),
        Op::Gemm {
            alpha,
            beta,
            trans_b,
            ..
        } => {
            let c = nd.inputs.get(2).copied();
            (
                usize::from(!*trans_b),
                c.filter(|_| *alpha == 1.0 && *beta == 1.0),
            )
        }
        _ => {
            if rank < 2 {
                return Err("its weight is a vector (no output-channel axis)".into());
            }
            (rank - 1, None)
        }
    };
    let channels = w.shape()[w_axis];
    let bias = bias.filter(|&b| {
        g.const_value(b)
            .is_some_and(|t| t.dtype() == DType::F32 && t.shape() == [channels])
    });
    let relu = only_relu(g, y, users);
    Ok(Site {
        node: n,
        name: node_name(g, n),
        op,
        x,
        kind: Kind::Contraction {
            weight,
            w_axis,
            bias,
        },
        y,
        relu,
        out: relu.map_or(y, |r| g.node(r).outputs[0]),
    })
}

/// A ReLU that is `y`'s only user (and `y` no graph output).
fn only_relu(g: &Graph, y: Value, users: &HashMap<Value, Vec<Node>>) -> Option<Node> {
    match users.get(&y).map(Vec::as_slice) {
        Some(&[u]) if g.node(u).op == Op::Relu && !g.outputs().contains(&y) => Some(u),
        _ => None,
    }
}

/// An `add` of two f32 activations of one shape, or a
/// `global_average_pool` of an f32 activation; anything else is not a site
/// (and not worth listing: these are not layers users expect in INT8).
fn follower(g: &Graph, n: Node, users: &HashMap<Value, Vec<Node>>) -> Option<Site> {
    let nd = g.node(n);
    let y = nd.outputs[0];
    let activation = |v: Value| {
        let t = g.ty(v);
        t.dtype == DType::F32 && g.const_value(v).is_none()
    };
    if !nd.inputs.iter().all(|&v| activation(v)) {
        return None;
    }
    let (op, kind, relu) = match nd.op {
        Op::Add => {
            let (a, b) = (nd.inputs[0], nd.inputs[1]);
            if g.ty(a).shape != g.ty(b).shape || g.ty(a).shape != g.ty(y).shape {
                return None;
            }
            ("add", Kind::Add { b }, only_relu(g, y, users))
        }
        Op::GlobalAveragePool if g.ty(nd.inputs[0]).rank() >= 3 => {
            ("global_average_pool", Kind::Pool, None)
        }
        _ => return None,
    };
    Some(Site {
        node: n,
        name: node_name(g, n),
        op,
        x: nd.inputs[0],
        kind,
        y,
        relu,
        out: relu.map_or(y, |r| g.node(r).outputs[0]),
    })
}
