//! Rewriting the prepared f32 graph into onnxruntime's QDQ layout.
//!
//! For each quantized site (see `sites.rs`), in schedule order (a
//! contraction shown):
//!
//! ```text
//! x ─ quantize_linear(s_x, zp_x: u8) ─ dequantize_linear ─┐
//! w_i8 const ─ dequantize_linear(s_w: f32[C], zp: i8[C] zeros, axis) ─┤
//! b_i32 const ─ dequantize_linear(s_x·s_w: f32[C], zp: i32[C] zeros, axis=0) ─┤
//!                                                        conv|gemm|matmul ─ quantize_linear(s_y, zp_y) ─ dequantize_linear ─ users
//! ```
//!
//! - The activation pair on `x` is shared by every quantized user of `x`,
//!   and only they read it (an f32 user keeps the exact value). When `x`
//!   already is a dequantized output of an earlier site, it is used as is.
//! - When `x` comes through value-preserving movement ops (max pool,
//!   flatten, reshape, transpose, squeeze, unsqueeze, identity) from a
//!   dequantized output, its pair reuses that output's scale and zero point,
//!   as onnxruntime does, so an integer backend can run those ops on u8.
//! - An `add` site gets a pair on each operand (shared as above) and on
//!   its output, so `fuse-qdq` makes it a `qlinear_add`; a pool site
//!   likewise becomes `qlinear_global_average_pool`. Both are quantized
//!   only when an operand already is (a dequantized output, or one through
//!   movement ops): there they save a dequantize/quantize pair between
//!   integer kernels, elsewhere they would only add one.
//! - The output pair replaces every use of the output (f32 users included:
//!   they now read the dequantized value, as an integer backend will give
//!   them). A ReLU that was the output's only user is dropped when the
//!   output's zero point is 0: QuantizeLinear's saturation is then exactly
//!   the ReLU. A graph output keeps its name: the pair's result takes it and
//!   the contraction's result becomes `<name>_QuantizeLinear_Input`.
//!
//! [`Form::Simulated`] builds the same arithmetic from f32 ops (div, round,
//! add, clip, sub, mul for each pair; weights and biases as their
//! dequantized f32 constants) so that the sensitivity runs compile to native
//! code; its results equal the QDQ form's (QuantizeLinear divides in f32 and
//! rounds half to even, like `div` + `round`; the rest is exact in f32).

use super::range::ActParams;
use super::sites::{Kind, Site};
use super::QuantizeError;
use ingot_ir::{Graph, Node, Op, Tensor, Value};
use std::collections::{HashMap, HashSet};

/// What the rewrite builds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Form {
    /// QuantizeLinear/DequantizeLinear nodes and integer constants.
    Qdq,
    /// The same numbers from f32 ops, for fast sensitivity runs.
    Simulated,
}

/// Which sites to quantize and with what.
pub struct Plan<'a> {
    pub sites: &'a [Site],
    /// Per site: quantize it (false: leave it f32).
    pub quantized: Vec<bool>,
    /// Parameters of every site's `x` and `out`, by prepared-graph value.
    pub params: &'a HashMap<Value, ActParams>,
    pub per_channel: bool,
    pub fold_relu: bool,
}

/// What was done to one site.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub input: ActParams,
    pub output: ActParams,
    /// Smallest and largest weight scale, and how many there are.
    pub weight_scales: (f32, f32, usize),
    pub relu_dropped: bool,
    /// Bias values that did not fit i32 and were saturated.
    pub bias_saturated: usize,
}

/// The rewritten graph (verified, compacted) and, per site, what was
/// applied (`None` for sites left f32).
pub fn rewrite(
    prepared: &Graph,
    plan: &Plan,
    form: Form,
) -> Result<(Graph, Vec<Option<Applied>>), QuantizeError> {
    let mut r = Rewriter {
        g: prepared.clone(),
        form,
        dq_params: HashMap::new(),
        input_pairs: HashMap::new(),
    };
    let mut applied = vec![];
    for (s, &q) in plan.sites.iter().zip(&plan.quantized) {
        applied.push(if q { r.site(s, plan)? } else { None });
    }
    let mut g = r.g;
    reschedule(&mut g);
    ingot_passes::dce::dce(&mut g);
    let g = g.compact();
    ingot_ir::verify(&g).map_err(|e| {
        QuantizeError::Internal(format!("the quantized graph does not verify:\n{e}"))
    })?;
    Ok((g, applied))
}

struct Rewriter {
    g: Graph,
    form: Form,
    /// Dequantized values (pair results) and their parameters.
    dq_params: HashMap<Value, ActParams>,
    /// f32 value → the pair result its quantized users read.
    input_pairs: HashMap<Value, Value>,
}

fn param<'a>(plan: &'a Plan, v: Value) -> Result<&'a ActParams, QuantizeError> {
    plan.params
        .get(&v)
        .ok_or_else(|| QuantizeError::Internal(format!("no parameters for {v}")))
}

impl Rewriter {
    fn add(&mut self, op: Op, inputs: &[Value]) -> Result<Value, QuantizeError> {
        let name = op.name();
        self.g
            .add_node(op, inputs)
            .map(|v| v[0])
            .map_err(|e| QuantizeError::Internal(format!("building `{name}`: {e}")))
    }

    fn constant(&mut self, t: Tensor, name: &str) -> Value {
        let v = self.g.add_const(t);
        self.g.set_name_unique(v, name);
        v
    }

    /// The dequantized value quantized users of the activation `x` read:
    /// `x` itself when it already is one, else the pair made for it
    /// (shared by every quantized user), with the parameters of the value
    /// it comes from through movement ops when there is one, else its own.
    fn input(
        &mut self,
        x: Value,
        plan: &Plan,
        observed: Value,
    ) -> Result<(Value, ActParams), QuantizeError> {
        if let Some(&p) = self.dq_params.get(&x) {
            return Ok((x, p));
        }
        if let Some(&d) = self.input_pairs.get(&x) {
            return Ok((d, self.dq_params[&d]));
        }
        let p = match self.shared_params(x) {
            Some(p) => p,
            None => *param(plan, observed)?,
        };
        let base = self.g.name_of(x).unwrap_or("act").to_string();
        let d = self.pair(x, p, &base, false)?;
        self.input_pairs.insert(x, d);
        Ok((d, p))
    }

    /// Quantize one site; `None` when it is an `add` or a pool none of
    /// whose operands is quantized yet (quantizing it would only add
    /// quantize/dequantize work around an f32 op).
    fn site(&mut self, s: &Site, plan: &Plan) -> Result<Option<Applied>, QuantizeError> {
        let ins = self.g.node(s.node).inputs.clone();
        if s.weight().is_none() && !ins.iter().any(|&v| self.shared_params(v).is_some()) {
            return Ok(None);
        }
        // Inputs (the prepared graph's operands are the observed values).
        let (xq, input) = self.input(ins[0], plan, s.x)?;
        self.g.node_mut(s.node).inputs[0] = xq;
        if let Kind::Add { b } = s.kind {
            let (bq, _) = self.input(ins[1], plan, b)?;
            self.g.node_mut(s.node).inputs[1] = bq;
        }
        let (weight_scales, bias_saturated) = match s.kind {
            Kind::Contraction {
                weight,
                w_axis,
                bias,
            } => self.weight_and_bias(s, weight, w_axis, bias, input.scale, plan)?,
            _ => ((0.0, 0.0, 0), 0),
        };

        // Output.
        let output = *param(plan, s.out)?;
        let mut relu_dropped = false;
        let (v, name) = match s.relu {
            Some(r) if plan.fold_relu && output.zero_point == 0 => {
                let r_out = self.g.node(r).outputs[0];
                let r_name = self.g.name_of(r_out).map(str::to_string);
                let was_output = self.g.outputs().contains(&r_out);
                self.g.replace_uses(r_out, s.y);
                self.g.remove_nodes(&[r]);
                relu_dropped = true;
                let name = r_name.unwrap_or_else(|| "act".into());
                if !was_output {
                    // The contraction's result now is the tensor the ReLU
                    // made, and takes its name (as onnxruntime does).
                    self.g.set_name_unique(s.y, &name);
                }
                (s.y, name)
            }
            _ => {
                let n = self.g.name_of(s.out).unwrap_or("act").to_string();
                (s.out, n)
            }
        };
        self.pair(v, output, &name, true)?;
        Ok(Some(Applied {
            input,
            output,
            weight_scales,
            relu_dropped,
            bias_saturated,
        }))
    }

    /// Replace a contraction's weight by its i8 dequantized form and its
    /// bias by an i32 one at scale `s_x · s_w[c]`; returns the weight
    /// scales' range and count, and how many bias values saturated.
    fn weight_and_bias(
        &mut self,
        s: &Site,
        weight: Value,
        w_axis: usize,
        bias: Option<Value>,
        x_scale: f32,
        plan: &Plan,
    ) -> Result<((f32, f32, usize), usize), QuantizeError> {
        let w = self
            .g
            .const_value(weight)
            .expect("sites have constant weights");
        let (wq, scales) = quantize_weight(w, w_axis, plan.per_channel)?;
        let wname = self
            .g
            .name_of(weight)
            .map_or_else(|| format!("{}.weight", s.name), str::to_string);
        // onnxruntime's names: `w_quantized`, `w_scale`, `w_zero_point`.
        let wv = self.dequantized_const(wq, &scales, w_axis as i64, &wname, "")?;
        self.g.node_mut(s.node).inputs[1] = wv;
        let weight_scales = (
            scales.iter().copied().fold(f32::INFINITY, f32::min),
            scales.iter().copied().fold(0.0, f32::max),
            scales.len(),
        );
        let mut bias_saturated = 0;
        if let Some(b) = bias {
            let bt = self.g.const_value(b).expect("sites have constant biases");
            let bs: Vec<f32> = (0..bt.numel())
                .map(|c| x_scale * scales[if scales.len() == 1 { 0 } else { c }])
                .collect();
            let vals = bt.as_slice::<f32>().map_err(internal)?;
            let q: Vec<i32> = vals
                .iter()
                .zip(&bs)
                .map(|(&v, &s)| {
                    let r = (f64::from(v) / f64::from(s)).round_ties_even();
                    if r > f64::from(i32::MAX) || r < f64::from(i32::MIN) {
                        bias_saturated += 1;
                    }
                    r.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
                })
                .collect();
            let bq = Tensor::from_vec(bt.shape(), q).map_err(internal)?;
            let bname = self
                .g
                .name_of(b)
                .map_or_else(|| format!("{}.bias", s.name), str::to_string);
            // onnxruntime's: `b_quantized`, `b_quantized_scale`, ...
            let bv = self.dequantized_const(bq, &bs, 0, &bname, "_quantized")?;
            self.g.node_mut(s.node).inputs[2] = bv;
        }
        Ok((weight_scales, bias_saturated))
    }

    /// The parameters of the dequantized value `x` comes from through
    /// value-preserving movement ops, if any.
    fn shared_params(&self, mut v: Value) -> Option<ActParams> {
        loop {
            if let Some(&p) = self.dq_params.get(&v) {
                return Some(p);
            }
            let n = self.g.producer(v)?;
            let nd = self.g.node(n);
            let transparent = match nd.op {
                Op::MaxPool { .. } => nd.outputs[0] == v,
                Op::Flatten { .. }
                | Op::Reshape { .. }
                | Op::Transpose { .. }
                | Op::Squeeze { .. }
                | Op::Unsqueeze { .. }
                | Op::Identity => true,
                _ => false,
            };
            if !transparent {
                return None;
            }
            v = nd.inputs[0];
        }
    }

    /// Quantize then dequantize `v` with `p`. `replace`: every user of `v`
    /// (and the graph outputs) reads the result instead. Returns the result.
    fn pair(
        &mut self,
        v: Value,
        p: ActParams,
        base: &str,
        replace: bool,
    ) -> Result<Value, QuantizeError> {
        // `reader`: the pair's node that reads `v` (and must keep reading
        // it once the other users are redirected).
        let (d, reader) = match self.form {
            Form::Qdq => {
                let s = self.constant(Tensor::scalar(p.scale), &format!("{base}_scale"));
                let z = self.constant(Tensor::scalar(p.zero_point), &format!("{base}_zero_point"));
                let q = self.add(
                    Op::QuantizeLinear {
                        axis: 1,
                        block_size: 0,
                        saturate: true,
                    },
                    &[v, s, z],
                )?;
                self.g
                    .set_name_unique(q, &format!("{base}_QuantizeLinear_Output"));
                let d = self.add(
                    Op::DequantizeLinear {
                        axis: 1,
                        block_size: 0,
                    },
                    &[q, s, z],
                )?;
                (d, q)
            }
            Form::Simulated => {
                let zp = f32::from(p.zero_point);
                let s = self.g.add_const(Tensor::scalar(p.scale));
                let z = self.g.add_const(Tensor::scalar(zp));
                let lo = self.g.add_const(Tensor::scalar(0f32));
                let hi = self.g.add_const(Tensor::scalar(255f32));
                let div = self.add(Op::Div, &[v, s])?;
                let t = self.add(Op::Round, &[div])?;
                let t = self.add(Op::Add, &[t, z])?;
                let t = self.add(Op::Clip, &[t, lo, hi])?;
                let t = self.add(Op::Sub, &[t, z])?;
                let d = self.add(Op::Mul, &[t, s])?;
                (d, div)
            }
        };
        let reader = self.g.producer(reader).expect("a node result");
        if replace {
            self.g.replace_uses(v, d);
            self.g.node_mut(reader).inputs[0] = v;
            if self.g.outputs().contains(&d) {
                self.g
                    .set_name_unique(v, &format!("{base}_QuantizeLinear_Input"));
                self.g.set_name_unique(d, base);
            } else {
                self.g
                    .set_name_unique(d, &format!("{base}_DequantizeLinear_Output"));
            }
        } else {
            self.g
                .set_name_unique(d, &format!("{base}_DequantizeLinear_Output"));
        }
        self.dq_params.insert(d, p);
        Ok(d)
    }

    /// A weight or bias: `dequantize_linear(q, scale, zeros, axis)` (QDQ)
    /// or the f32 constant that computes (simulated). The constants are
    /// named `<base>_quantized` and `<base><suffix>_scale`/`_zero_point`.
    fn dequantized_const(
        &mut self,
        q: Tensor,
        scales: &[f32],
        axis: i64,
        base: &str,
        suffix: &str,
    ) -> Result<Value, QuantizeError> {
        let shape: Vec<usize> = if scales.len() == 1 {
            vec![]
        } else {
            vec![scales.len()]
        };
        match self.form {
            Form::Qdq => {
                let zp = Tensor::zeros(q.dtype(), &shape).map_err(internal)?;
                let qv = self.constant(q, &format!("{base}_quantized"));
                let sv = self.constant(
                    Tensor::from_slice(&shape, scales).map_err(internal)?,
                    &format!("{base}{suffix}_scale"),
                );
                let zv = self.constant(zp, &format!("{base}{suffix}_zero_point"));
                let d = self.add(
                    Op::DequantizeLinear {
                        axis,
                        block_size: 0,
                    },
                    &[qv, sv, zv],
                )?;
                self.g
                    .set_name_unique(d, &format!("{base}_DequantizeLinear_Output"));
                Ok(d)
            }
            Form::Simulated => {
                let t = ingot_ir::interp::eval_op(
                    &Op::DequantizeLinear {
                        axis,
                        block_size: 0,
                    },
                    &[&q, &Tensor::from_slice(&shape, scales).map_err(internal)?],
                )
                .map_err(|e| QuantizeError::Internal(format!("dequantizing {base}: {e}")))?;
                let t = t.into_iter().next().expect("one result");
                Ok(self.constant(t, &format!("{base}_fake")))
            }
        }
    }
}

fn internal(e: impl std::fmt::Display) -> QuantizeError {
    QuantizeError::Internal(e.to_string())
}

/// Symmetric i8 weights: per output channel along `axis` (or one scale for
/// the whole tensor), `scale = max|w| / 127`, values in [-127, 127].
pub fn quantize_weight(
    w: &Tensor,
    axis: usize,
    per_channel: bool,
) -> Result<(Tensor, Vec<f32>), QuantizeError> {
    let vals = w.as_slice::<f32>().map_err(internal)?;
    let shape = w.shape();
    let (channels, inner) = if per_channel {
        (shape[axis], shape[axis + 1..].iter().product::<usize>())
    } else {
        (1, vals.len().max(1))
    };
    let chan = |i: usize| (i / inner) % channels;
    let mut absmax = vec![0f32; channels];
    for (i, &v) in vals.iter().enumerate() {
        let c = chan(i);
        absmax[c] = absmax[c].max(v.abs());
    }
    let scales: Vec<f32> = absmax
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q: Vec<i8> = vals
        .iter()
        .enumerate()
        .map(|(i, &v)| (v / scales[chan(i)]).round_ties_even().clamp(-127.0, 127.0) as i8)
        .collect();
    Ok((Tensor::from_vec(shape, q).map_err(internal)?, scales))
}

/// Put every node after the producers of its operands, keeping the old
/// order where it already is (new nodes land just before their first user).
fn reschedule(g: &mut Graph) {
    let order = g.order().to_vec();
    let mut placed: HashSet<Node> = HashSet::new();
    let mut out = Vec::with_capacity(order.len());
    for root in order {
        let mut stack = vec![(root, false)];
        while let Some((n, expanded)) = stack.pop() {
            if placed.contains(&n) {
                continue;
            }
            if expanded {
                placed.insert(n);
                out.push(n);
                continue;
            }
            stack.push((n, true));
            for &v in g.node(n).inputs.iter().rev() {
                if let Some(p) = g.producer(v) {
                    if !placed.contains(&p) {
                        stack.push((p, false));
                    }
                }
            }
        }
    }
    g.set_order(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_symmetric_per_channel() {
        let w = Tensor::from_vec(&[2, 3], vec![1.0f32, -0.5, 0.25, 0.0, 0.0, 0.0]).unwrap();
        let (q, s) = quantize_weight(&w, 0, true).unwrap();
        assert_eq!(s, vec![1.0 / 127.0, 1.0]);
        assert_eq!(q.as_slice::<i8>().unwrap(), &[127, -64, 32, 0, 0, 0]);
        // Along axis 1 (Gemm without transB, MatMul): one scale per column.
        let (_, s) = quantize_weight(&w, 1, true).unwrap();
        assert_eq!(s, vec![1.0 / 127.0, 0.5 / 127.0, 0.25 / 127.0]);
        let (_, s) = quantize_weight(&w, 0, false).unwrap();
        assert_eq!(s, vec![1.0 / 127.0]);
    }
}
