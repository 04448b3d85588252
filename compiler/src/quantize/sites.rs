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
//! A [`Site`] is a `conv`, `gemm` or `matmul` whose weight is a constant
//! (the second operand: Conv's W, Gemm's B, MatMul's B) and whose first
//! operand is an f32 activation. Everything else stays f32 and is listed
//! with the reason.

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

/// One quantizable layer.
#[derive(Clone, Debug)]
pub struct Site {
    /// The contraction node.
    pub node: Node,
    /// The ONNX node name (or the output's name): how reports name it.
    pub name: String,
    /// `conv`, `gemm` or `matmul`.
    pub op: &'static str,
    /// The activation operand (operand 0).
    pub x: Value,
    /// The constant weight (operand 1) and its output-channel axis.
    pub weight: Value,
    pub w_axis: usize,
    /// A constant bias that can be quantized to i32 (Conv's B `[M]`; Gemm's
    /// C `[N]` when alpha = beta = 1). Other biases stay f32.
    pub bias: Option<Value>,
    /// The contraction's result.
    pub y: Value,
    /// A ReLU that is `y`'s only user: the quantized output is its result,
    /// and the rewrite may drop it (QuantizeLinear with zero point 0
    /// saturates at 0).
    pub relu: Option<Node>,
    /// The tensor whose range quantizes the output: `y`, or the ReLU's result.
    pub out: Value,
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
        for v in [s.x, s.out] {
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
    users: &std::collections::HashMap<Value, Vec<Node>>,
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
    let relu = match users.get(&y).map(Vec::as_slice) {
        Some(&[u]) if g.node(u).op == Op::Relu && !g.outputs().contains(&y) => Some(u),
        _ => None,
    };
    Ok(Site {
        node: n,
        name: node_name(g, n),
        op,
        x,
        weight,
        w_axis,
        bias,
        y,
        relu,
        out: relu.map_or(y, |r| g.node(r).outputs[0]),
    })
}
