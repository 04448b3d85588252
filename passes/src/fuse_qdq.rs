//! Rewrite QDQ-form quantized graphs onto integer kernels.
//!
//! onnxruntime's `quantize_static` (QDQ format) and `ingot quantize` both
//! write a quantized model as float ops wrapped in `dequantize_linear` /
//! `quantize_linear` pairs: `q(op(dq(x), dq(w), dq(b)))`. Run as written,
//! every quantized tensor is dequantized, computed on in f32 and quantized
//! again. This pass turns the patterns into the integer ops they mean:
//!
//! - `q(conv(dq(x), dq(w)[, b]))` → `qlinear_conv` (the i32 bias taken
//!   from `dq(b)` when its scale is `x_scale·w_scale`, else requantized
//!   from the f32 bias); a `relu` between the conv and `q` is dropped when
//!   `q`'s zero point is its type's minimum (then `q` already clamps at
//!   real 0: `q(relu(y)) = max(q(y), zp)` and `q(y) >= zp`);
//! - `q(matmul(dq(a), dq(b)))` → `qlinear_matmul` (b per column or per
//!   tensor);
//! - `q(add(dq(a), dq(b)))` → `qlinear_add` (onnxruntime's com.microsoft
//!   op; defined as exactly this group, so the rewrite is bit-exact), with
//!   the same `relu` rule;
//! - `q(global_average_pool(dq(x)))` → `qlinear_global_average_pool`
//!   (onnxruntime's com.microsoft op: the integer plane sum requantized
//!   once); also through one moving op in between, `q(flatten(gap(dq(x))))`
//!   → `flatten(qlinear_global_average_pool(x))` (ResNet's head as
//!   `ingot quantize` writes it: a per-tensor `q` commutes with an op that
//!   only moves values);
//! - `q(gemm(dq(a), dq(b)[, c]))` → `qgemm` (onnxruntime's com.microsoft
//!   op, with its i32 bias); a `gemm` of two dequantized operands whose
//!   result stays f32 becomes an f32-result `qgemm`;
//! - `q(op(dq(x)))` with the same scale and zero point on both sides, for
//!   ops that only move or select values (`max_pool`, `flatten`, `reshape`,
//!   `transpose`, `squeeze`, `unsqueeze`, `identity`)
//!   → `op(x)` on the integers (exact: dequantization is monotonic and
//!   `q(dq(x)) = x`);
//! - `q(dq(x))` with the same scale and zero point → `x`.
//!
//! Together they leave no `dequantize_linear`/`quantize_linear` pair
//! between two integer kernels; what remains quantizes the model's inputs,
//! dequantizes its outputs, and wraps ops without an integer kernel (a
//! residual `add`). Finally every `dequantize_linear` of constants (a
//! weight that fed no integer kernel) is folded into an f32 constant, of
//! any size, so nothing dequantizes weights at run time.
//!
//! Requirements checked before each rewrite: per-tensor activation scales
//! and zero points (constants), weights constant with zero points of 0
//! (symmetric, what both quantizers write; the integer kernels take no
//! weight zero point), the float result read only by the `q` (or relu).
//! The rewrites are exact with respect to the interpreter's definitions of
//! the QLinear ops, which follow onnxruntime's fused kernels (requantize
//! the i32 accumulator with one f32 multiplier); they differ from running
//! the QDQ graph op by op by at most one quantization step, as
//! onnxruntime's own fused kernels do.

use crate::{Changed, Pass, PassCx, PassError};
use ingot_ir::interp::eval_op;
use ingot_ir::{DType, Graph, Node, Op, Tensor, Value};
use std::collections::HashMap;

pub struct FuseQdq;

impl Pass for FuseQdq {
    fn name(&self) -> &'static str {
        "fuse-qdq"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        Ok(fuse_qdq(g))
    }
}

/// Apply the rewrites until none matches, then fold constant dequantizes.
pub fn fuse_qdq(g: &mut Graph) -> bool {
    let mut changed = false;
    loop {
        let users = g.users();
        let found = g
            .order()
            .iter()
            .find_map(|&n| rewrite(g, n, &users).map(|r| (n, r)));
        let Some((n, r)) = found else {
            break;
        };
        apply(g, n, r);
        changed = true;
    }
    changed | fold_dequant_consts(g)
}

/// What replaces the value a node defines.
enum Rewrite {
    /// An existing value.
    Value(Value),
    /// A new node, and the node whose source location it takes (the
    /// contraction or moving op, not the `quantize_linear` it ends at).
    Node(Op, Vec<Operand>, Node),
    /// New nodes in order, each able to read the one before
    /// ([`Operand::Prev`]); the last one's result replaces. Location as
    /// for `Node`.
    Nodes(Vec<(Op, Vec<Operand>)>, Node),
}

/// An operand of a new node: an existing value, or a constant to make.
enum Operand {
    V(Value),
    Make(Tensor),
    /// The result of the previous node of a [`Rewrite::Nodes`].
    Prev,
}

impl From<Value> for Operand {
    fn from(v: Value) -> Operand {
        Operand::V(v)
    }
}

fn apply(g: &mut Graph, n: Node, r: Rewrite) {
    let old = g.node(n).outputs[0];
    let new = match r {
        Rewrite::Value(v) => v,
        Rewrite::Node(op, operands, loc_of) => {
            return apply(g, n, Rewrite::Nodes(vec![(op, operands)], loc_of));
        }
        Rewrite::Nodes(nodes, loc_of) => {
            let before = g.num_node_slots();
            let mut prev: Option<Value> = None;
            for (op, operands) in nodes {
                let ins: Vec<Value> = operands
                    .into_iter()
                    .map(|o| match o {
                        Operand::V(v) => v,
                        Operand::Make(t) => g.add_const(t),
                        Operand::Prev => prev.expect("a node before"),
                    })
                    .collect();
                let outs = g
                    .add_node(op, &ins)
                    .expect("rewrites are built from verified operands");
                prev = Some(outs[0]);
            }
            // Schedule the new node (and any constants made for it) where
            // the node it replaces was.
            let fresh: Vec<Node> = (before..g.num_node_slots()).map(Node::from_index).collect();
            let mut order: Vec<Node> = Vec::with_capacity(g.order().len());
            for &m in g.order() {
                if fresh.contains(&m) {
                    continue;
                }
                if m == n {
                    order.extend(&fresh);
                }
                order.push(m);
            }
            g.set_order(order);
            if let Some(loc) = g.node(loc_of).loc.clone() {
                for &f in &fresh {
                    g.set_loc(f, Some(loc.clone()));
                }
            }
            prev.expect("at least one node")
        }
    };
    g.replace_uses(old, new);
    if let Some(name) = g.name_of(old).map(str::to_string) {
        g.remove_nodes(&[n]);
        if g.name_of(new).is_none() {
            g.set_name_unique(new, &name);
        }
    } else {
        g.remove_nodes(&[n]);
    }
}

/// The rewrite for node `n`, if it is a `quantize_linear` (or an f32
/// `gemm` of dequantized operands) that matches.
fn rewrite(g: &Graph, n: Node, users: &HashMap<Value, Vec<Node>>) -> Option<Rewrite> {
    let nd = g.node(n);
    if let Op::Gemm { .. } = nd.op {
        // A quantized result is the `quantize_linear` rule's (below).
        let quantized = users.get(&nd.outputs[0]).is_some_and(|u| {
            u.iter()
                .any(|&m| matches!(g.node(m).op, Op::QuantizeLinear { .. }))
        });
        return if quantized { None } else { gemm(g, n, None) };
    }
    let Op::QuantizeLinear { block_size: 0, .. } = nd.op else {
        return None;
    };
    let (y, ys, yz) = (nd.inputs[0], nd.inputs[1], *nd.inputs.get(2)?);
    let q = QParams::of(g, ys, yz)?;
    let p = g.producer(y)?;
    let pd = g.node(p);
    // Only the quantize reads the float result (and it is no graph output).
    let sole =
        |v: Value, by: Node| users.get(&v).is_some_and(|u| u == &[by]) && !g.outputs().contains(&v);
    match &pd.op {
        Op::DequantizeLinear { block_size: 0, .. } => {
            let d = Dq::of(g, p)?;
            (d.params == q && g.ty(d.x).dtype == q.dtype).then_some(Rewrite::Value(d.x))
        }
        Op::MaxPool { .. }
        | Op::Flatten { .. }
        | Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity => {
            if !sole(y, n) || pd.outputs[1..].iter().any(|v| users.contains_key(v)) {
                return None;
            }
            let from = g.producer(pd.inputs[0])?;
            if matches!(g.node(from).op, Op::GlobalAveragePool) {
                // q(move(gap(dq(x)))) = move(q(gap(dq(x)))).
                sole(pd.inputs[0], p).then_some(())?;
                let Some(Rewrite::Node(op, ins, _)) = global_average_pool(g, from, &q) else {
                    return None;
                };
                let mut moved: Vec<Operand> = pd.inputs.iter().map(|&v| v.into()).collect();
                moved[0] = Operand::Prev;
                return Some(Rewrite::Nodes(
                    vec![(op, ins), (pd.op.clone(), moved)],
                    from,
                ));
            }
            let d = Dq::of(g, from)?;
            if d.params != q || g.ty(d.x).dtype != q.dtype {
                return None;
            }
            let mut ins: Vec<Operand> = pd.inputs.iter().map(|&v| v.into()).collect();
            ins[0] = d.x.into();
            Some(Rewrite::Node(pd.op.clone(), ins, p))
        }
        Op::Relu if q.zp == q.dtype_min() && sole(y, n) => {
            let c = g.producer(pd.inputs[0])?;
            sole(pd.inputs[0], p).then_some(())?;
            match g.node(c).op {
                Op::Add => add(g, c, &q),
                _ => contraction(g, c, &q),
            }
        }
        Op::Conv { .. } | Op::MatMul | Op::Gemm { .. } if sole(y, n) => contraction(g, p, &q),
        Op::Add if sole(y, n) => add(g, p, &q),
        Op::GlobalAveragePool if sole(y, n) => global_average_pool(g, p, &q),
        _ => None,
    }
}

/// The integer op for contraction `c` (conv, matmul or gemm) whose result
/// is quantized with `q`.
fn contraction(g: &Graph, c: Node, q: &QParams) -> Option<Rewrite> {
    let cd = g.node(c);
    match &cd.op {
        Op::Conv {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        } => {
            let x = Dq::of(g, g.producer(cd.inputs[0])?)?;
            let w = Weight::of(g, cd.inputs[1], 0)?;
            let mut ins = vec![x.x.into(), x.params.scale_v.into(), x.params.zp()];
            ins.extend([w.q.into(), w.scale.into(), w.zp.into()]);
            ins.extend([q.scale_v.into(), q.zp()]);
            let op = Op::QLinearConv {
                strides: strides.clone(),
                pads: pads.clone(),
                dilations: dilations.clone(),
                group: *group,
                auto_pad: *auto_pad,
            };
            if let Some(&b) = cd.inputs.get(2) {
                ins.push(bias(g, b, x.params.scale, &w.scales, w.channels)?);
            }
            Some(Rewrite::Node(op, ins, c))
        }
        Op::MatMul => {
            let a = Dq::of(g, g.producer(cd.inputs[0])?)?;
            let rank = g.ty(cd.inputs[1]).rank();
            if rank != 2 || g.ty(cd.inputs[0]).rank() < 2 {
                return None;
            }
            let b = Weight::of(g, cd.inputs[1], 1)?;
            let ins = vec![
                a.x.into(),
                a.params.scale_v.into(),
                a.params.zp(),
                b.q.into(),
                b.scale.into(),
                b.zp.into(),
                q.scale_v.into(),
                q.zp(),
            ];
            Some(Rewrite::Node(Op::QLinearMatMul, ins, c))
        }
        Op::Gemm { .. } => gemm(g, c, Some(q)),
        _ => None,
    }
}

/// `q(add(dq(a), dq(b)))` → `qlinear_add` (a residual connection).
fn add(g: &Graph, n: Node, q: &QParams) -> Option<Rewrite> {
    let nd = g.node(n);
    let a = Dq::of(g, g.producer(nd.inputs[0])?)?;
    let b = Dq::of(g, g.producer(nd.inputs[1])?)?;
    if a.params.dtype != b.params.dtype {
        return None;
    }
    let ins = vec![
        a.x.into(),
        a.params.scale_v.into(),
        a.params.zp(),
        b.x.into(),
        b.params.scale_v.into(),
        b.params.zp(),
        q.scale_v.into(),
        q.zp(),
    ];
    Some(Rewrite::Node(Op::QLinearAdd, ins, n))
}

/// `q(global_average_pool(dq(x)))` → `qlinear_global_average_pool` (NCHW;
/// rank 3 or more, as the integer op requires).
fn global_average_pool(g: &Graph, n: Node, q: &QParams) -> Option<Rewrite> {
    let nd = g.node(n);
    let x = Dq::of(g, g.producer(nd.inputs[0])?)?;
    if g.ty(x.x).rank() < 3 {
        return None;
    }
    let ins = vec![
        x.x.into(),
        x.params.scale_v.into(),
        x.params.zp(),
        q.scale_v.into(),
        q.zp(),
    ];
    let op = Op::QLinearGlobalAveragePool {
        channels_last: false,
    };
    Some(Rewrite::Node(op, ins, n))
}

/// `gemm(dq(a), dq(b)[, c])` → `qgemm`, quantized with `q` or f32.
fn gemm(g: &Graph, c: Node, q: Option<&QParams>) -> Option<Rewrite> {
    let cd = g.node(c);
    let Op::Gemm {
        alpha,
        beta,
        trans_a,
        trans_b,
    } = cd.op
    else {
        return None;
    };
    let a = Dq::of(g, g.producer(cd.inputs[0])?)?;
    let axis = if trans_b { 0 } else { 1 };
    let b = Weight::of(g, cd.inputs[1], axis)?;
    let mut ins = vec![
        a.x.into(),
        a.params.scale_v.into(),
        a.params.zp(),
        b.q.into(),
        b.scale.into(),
        b.zp.into(),
    ];
    let c_bias = match cd.inputs.get(2) {
        Some(&bv) if beta != 0.0 => {
            // gemm adds beta·c to alpha·a·b: in units of the accumulator
            // (a_scale·b_scale, before qgemm's alpha) that is c·beta/alpha.
            let scale: Vec<f32> = b.scales.iter().map(|&s| s * alpha / beta).collect();
            Some(bias(g, bv, a.params.scale, &scale, b.channels)?)
        }
        _ => None,
    };
    if let Some(q) = q {
        let zeros = || {
            Tensor::zeros(DType::I32, &[b.channels])
                .map(Operand::Make)
                .ok()
        };
        ins.push(c_bias.or_else(zeros)?);
        ins.extend([q.scale_v.into(), q.zp()]);
    } else {
        ins.extend(c_bias);
    }
    let op = Op::QGemm {
        alpha,
        trans_a,
        trans_b,
    };
    Some(Rewrite::Node(op, ins, c))
}

/// Per-tensor quantization parameters held by constants.
#[derive(Clone, Copy, Debug)]
struct QParams {
    scale: f32,
    zp: i64,
    dtype: DType,
    scale_v: Value,
    /// `None`: the `dequantize_linear` had no zero point (0 of its type).
    zp_v: Option<Value>,
}

impl PartialEq for QParams {
    fn eq(&self, o: &QParams) -> bool {
        self.scale.to_bits() == o.scale.to_bits() && self.zp == o.zp && self.dtype == o.dtype
    }
}

impl QParams {
    fn of(g: &Graph, scale: Value, zp: Value) -> Option<QParams> {
        let (s, z) = (g.const_value(scale)?, g.const_value(zp)?);
        if s.numel() != 1 || z.numel() != 1 || s.dtype() != DType::F32 {
            return None;
        }
        let dtype = z.dtype();
        if !matches!(dtype, DType::U8 | DType::I8) {
            return None;
        }
        let scale_f = s.to_f64s()[0] as f32;
        (scale_f > 0.0 && scale_f.is_finite()).then_some(QParams {
            scale: scale_f,
            zp: z.to_i64s()[0],
            dtype,
            scale_v: scale,
            zp_v: Some(zp),
        })
    }

    /// The zero point operand (a made 0 of the type when there was none).
    fn zp(&self) -> Operand {
        match self.zp_v {
            Some(v) => v.into(),
            None => Operand::Make(Tensor::zeros(self.dtype, &[]).expect("a scalar")),
        }
    }

    fn dtype_min(&self) -> i64 {
        if self.dtype == DType::U8 {
            0
        } else {
            -128
        }
    }
}

/// A per-tensor `dequantize_linear` of an 8-bit activation.
struct Dq {
    x: Value,
    params: QParams,
}

impl Dq {
    fn of(g: &Graph, d: Node) -> Option<Dq> {
        let nd = g.node(d);
        let Op::DequantizeLinear { block_size: 0, .. } = nd.op else {
            return None;
        };
        let x = nd.inputs[0];
        let dt = g.ty(x).dtype;
        if !matches!(dt, DType::U8 | DType::I8) || g.const_value(x).is_some() {
            return None;
        }
        let params = match nd.inputs.get(2) {
            Some(&z) => QParams::of(g, nd.inputs[1], z)?,
            // No zero point: 0 of x's type, made when the rewrite needs it.
            None => {
                let s = g.const_value(nd.inputs[1])?;
                if s.numel() != 1 || s.dtype() != DType::F32 {
                    return None;
                }
                QParams {
                    scale: s.to_f64s()[0] as f32,
                    zp: 0,
                    dtype: dt,
                    scale_v: nd.inputs[1],
                    zp_v: None,
                }
            }
        };
        Some(Dq { x, params })
    }
}

/// A constant symmetric 8-bit weight behind a `dequantize_linear`, scales
/// per tensor or per channel along `axis`.
struct Weight {
    q: Value,
    scale: Value,
    zp: Value,
    /// The scale per output channel (one entry for per-tensor).
    scales: Vec<f32>,
    /// Output channels (the size of `axis`).
    channels: usize,
}

impl Weight {
    fn of(g: &Graph, w: Value, axis: usize) -> Option<Weight> {
        let d = g.producer(w)?;
        let nd = g.node(d);
        let Op::DequantizeLinear {
            axis: dq_axis,
            block_size: 0,
        } = nd.op
        else {
            return None;
        };
        let q = nd.inputs[0];
        let qt = g.const_value(q)?;
        if qt.dtype() != DType::I8 || qt.shape().len() <= axis {
            return None;
        }
        let channels = qt.shape()[axis];
        let st = g.const_value(nd.inputs[1])?;
        if st.dtype() != DType::F32 {
            return None;
        }
        let rank = qt.shape().len() as i64;
        let per_channel = st.numel() > 1 || st.shape().len() == 1;
        if per_channel && (st.numel() != channels || dq_axis.rem_euclid(rank) != axis as i64) {
            return None;
        }
        let zp = *nd.inputs.get(2)?;
        let zt = g.const_value(zp)?;
        if zt.to_i64s().iter().any(|&z| z != 0) || zt.numel() != st.numel() {
            return None;
        }
        Some(Weight {
            q,
            scale: nd.inputs[1],
            zp,
            scales: st.to_f64s().iter().map(|&s| s as f32).collect(),
            channels,
        })
    }
}

/// The bias `b` of a contraction with input scale `sx` and weight scales
/// `sw` (one or `channels`), as an i32 operand in units of `sx·sw`: the
/// quantized constant itself when `b` dequantizes one with exactly that
/// scale (what both quantizers write), else the float bias requantized.
fn bias(g: &Graph, b: Value, sx: f32, sw: &[f32], channels: usize) -> Option<Operand> {
    let acc_scale = |m: usize| sx * sw[if sw.len() == 1 { 0 } else { m }];
    if let Some(d) = g.producer(b) {
        let nd = g.node(d);
        if let Op::DequantizeLinear { block_size: 0, .. } = nd.op {
            let qt = g.const_value(nd.inputs[0])?;
            let st = g.const_value(nd.inputs[1])?;
            let zero_zp = match nd.inputs.get(2) {
                Some(&z) => g.const_value(z)?.to_i64s().iter().all(|&v| v == 0),
                None => true,
            };
            let scales: Vec<f32> = st.to_f64s().iter().map(|&s| s as f32).collect();
            let same = qt.dtype() == DType::I32
                && qt.shape() == [channels]
                && zero_zp
                && (0..channels).all(|m| {
                    let s = scales[if scales.len() == 1 { 0 } else { m }];
                    s.to_bits() == acc_scale(m).to_bits()
                });
            if same {
                return Some(nd.inputs[0].into());
            }
        }
    }
    let bt = match g.const_value(b) {
        Some(t) => t.clone(),
        None => {
            let d = g.producer(b)?;
            let nd = g.node(d);
            let args: Option<Vec<&Tensor>> = nd.inputs.iter().map(|&v| g.const_value(v)).collect();
            eval_op(&nd.op, &args?).ok()?.remove(0)
        }
    };
    if bt.numel() != channels && bt.numel() != 1 {
        return None;
    }
    let vals = bt.to_f64s();
    let q: Vec<i64> = (0..channels)
        .map(|m| {
            let v = vals[if vals.len() == 1 { 0 } else { m }];
            (v / f64::from(acc_scale(m)))
                .round_ties_even()
                .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64
        })
        .collect();
    Tensor::from_i64s(DType::I32, &[channels], &q)
        .ok()
        .map(Operand::Make)
}

/// Fold every `dequantize_linear` whose operands are all constants into an
/// f32 constant, whatever its size (a dequantized weight must exist in f32
/// for its float consumer anyway; folding it keeps the work off the run).
fn fold_dequant_consts(g: &mut Graph) -> bool {
    let mut changed = false;
    for n in g.order().to_vec() {
        let nd = g.node(n);
        if !matches!(nd.op, Op::DequantizeLinear { .. }) {
            continue;
        }
        let args: Option<Vec<&Tensor>> = nd.inputs.iter().map(|&v| g.const_value(v)).collect();
        let Some(args) = args else {
            continue;
        };
        let Ok(mut r) = eval_op(&nd.op, &args) else {
            continue;
        };
        let old = nd.outputs[0];
        let c = g.add_const(r.remove(0));
        let cn = g.producer(c).expect("a constant's node");
        let mut order: Vec<Node> = g.order().iter().copied().filter(|&m| m != cn).collect();
        let at = order.iter().position(|&m| m == n).expect("scheduled");
        order.insert(at, cn);
        g.set_order(order);
        g.replace_uses(old, c);
        if let Some(name) = g.name_of(old).map(str::to_string) {
            g.remove_nodes(&[n]);
            g.set_name_unique(c, &name);
        } else {
            g.remove_nodes(&[n]);
        }
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests;
