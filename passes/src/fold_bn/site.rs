//! Contractions that can absorb a per-output-channel affine map `y*s + t`.
//!
//! Shared by `fold-bn` and `fold-affine`. A *site* is a contraction whose
//! result feeds exactly one node (the follower to fold) and is not a graph
//! output, with a constant f32/f64/f16 weight and a constant (or no) bias:
//! `conv` (weight `[M, C/g, k..]`, channel axis 0), `conv_transpose` (weight
//! `[C, M/g, k..]`: output channel `(c / (C/g))·(M/g) + j`), `gemm` (`b` is
//! `[K,N]`, or `[N,K]` with `trans_b`; `c` must not vary along M) and a
//! rank-2 `matmul` with a rank-2 weight, optionally followed by `add` of a
//! per-channel constant (its bias). The output channel is axis 1 of the
//! result in every case.
//!
//! [`apply`] computes `W' = W·s` and `b' = b·s + t` in f64, rounds once to
//! the weight dtype, and rewires the site to new constants placed before it.

use ingot_ir::{DType, Graph, Node, Op, Tensor, Value};

/// `y ↦ y·scale[c] + shift[c]` per output channel `c`.
pub(crate) struct AffineMap {
    pub scale: Vec<f64>,
    pub shift: Vec<f64>,
}

impl AffineMap {
    pub fn is_finite(&self) -> bool {
        self.scale.iter().chain(&self.shift).all(|v| v.is_finite())
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Conv,
    ConvTranspose { group: usize },
    Gemm { trans_b: bool },
    MatMul,
}

/// A contraction found by [`find_site`].
pub(crate) struct Site {
    node: Node,
    kind: Kind,
    /// Output channels.
    channels: usize,
    /// The effective per-channel bias, if the site has one.
    bias: Option<Vec<f64>>,
    /// A matmul's bias `add` and the index of its constant operand.
    bias_add: Option<(Node, usize)>,
    /// The value the follower reads.
    out: Value,
}

impl Site {
    /// Whether the site can absorb a shift without a new node (a bare
    /// matmul cannot: folding an `add` into it would only move the `add`).
    pub fn has_bias_slot(&self) -> bool {
        !matches!(self.kind, Kind::MatMul) || self.bias_add.is_some()
    }

    pub fn channels(&self) -> usize {
        self.channels
    }
}

/// Whether `v` feeds only `user` (once or more) and is not a graph output.
fn sole_user(g: &Graph, v: Value, user: Node) -> bool {
    !g.outputs().contains(&v)
        && g.order()
            .iter()
            .all(|&n| n == user || !g.node(n).inputs.contains(&v))
}

fn foldable_dtype(dt: DType) -> bool {
    matches!(dt, DType::F32 | DType::F64 | DType::F16)
}

/// The values of `t` per output channel, if `t` broadcasts against a result
/// of rank `rank` with `c` channels on axis 1 and is constant along the other
/// axes (no more axes than the result; every dim 1 but the channel one).
pub(crate) fn per_channel(t: &Tensor, rank: usize, c: usize) -> Option<Vec<f64>> {
    let r = t.rank();
    if r > rank {
        return None;
    }
    let ok = t.shape().iter().enumerate().all(|(d, &n)| {
        let axis = rank - r + d;
        n == 1 || (axis == 1 && n == c)
    });
    let v = t.to_f64s();
    match v.len() {
        _ if !ok => None,
        1 => Some(vec![v[0]; c]),
        n if n == c => Some(v),
        _ => None,
    }
}

/// The site whose result `v` is, read only by `follower`.
pub(crate) fn find_site(g: &Graph, v: Value, follower: Node) -> Option<Site> {
    let fo = g.node(follower).outputs.first()?;
    if g.ty(*fo) != g.ty(v) || !sole_user(g, v, follower) {
        return None;
    }
    let p = g.producer(v)?;
    let nd = g.node(p);
    if let Op::Add = nd.op {
        let k = nd.inputs.iter().position(|&u| g.const_value(u).is_some())?;
        let u = nd.inputs[1 - k];
        let mut site = contraction(g, u)?;
        if !matches!(site.kind, Kind::MatMul) || !sole_user(g, u, p) {
            return None;
        }
        let c = g.const_value(nd.inputs[k]).expect("found above");
        if c.dtype() != g.ty(v).dtype {
            return None;
        }
        site.bias = Some(per_channel(c, 2, site.channels)?);
        site.bias_add = Some((p, k));
        site.out = v;
        return Some(site);
    }
    contraction(g, v)
}

/// `v` as the result of a contraction with constant weight and bias.
fn contraction(g: &Graph, v: Value) -> Option<Site> {
    let node = g.producer(v)?;
    let nd = g.node(node);
    let w = g.const_value(*nd.inputs.get(1)?)?;
    let ws = w.shape();
    if !foldable_dtype(w.dtype()) || g.ty(v).dtype != w.dtype() || ws.is_empty() {
        return None;
    }
    let (kind, channels) = match &nd.op {
        Op::Conv { .. } => (Kind::Conv, ws[0]),
        Op::ConvTranspose { group, .. } => {
            let group = usize::try_from(*group).ok().filter(|&g| g > 0)?;
            if ws.len() < 2 || ws[0] % group != 0 {
                return None;
            }
            (Kind::ConvTranspose { group }, ws[1].checked_mul(group)?)
        }
        Op::Gemm { trans_b, .. } if ws.len() == 2 => {
            let c = if *trans_b { ws[0] } else { ws[1] };
            (Kind::Gemm { trans_b: *trans_b }, c)
        }
        Op::MatMul if ws.len() == 2 && g.ty(v).rank() == 2 => (Kind::MatMul, ws[1]),
        _ => return None,
    };
    if channels == 0 {
        return None;
    }
    let bias = match (&nd.op, nd.inputs.get(2)) {
        (_, None) => None,
        // `c` is not read when beta == 0 (whatever its shape or values).
        (Op::Gemm { beta, .. }, Some(_)) if *beta == 0.0 => None,
        (Op::Gemm { beta, .. }, Some(&b)) => {
            let vals = per_channel(g.const_value(b)?, 2, channels)?;
            Some(vals.iter().map(|x| f64::from(*beta) * x).collect())
        }
        (_, Some(&b)) => {
            let c = g.const_value(b)?;
            (c.shape() == [channels]).then_some(())?;
            Some(c.to_f64s())
        }
    };
    Some(Site {
        node,
        kind,
        channels,
        bias,
        bias_add: None,
        out: v,
    })
}

/// The output channel of each weight element, in row-major order.
fn weight_channel(kind: Kind, ws: &[usize]) -> impl Fn(usize) -> usize + '_ {
    let inner: usize = ws[2.min(ws.len())..].iter().product();
    move |i| match kind {
        Kind::Conv => i / (ws[1..].iter().product::<usize>().max(1)),
        Kind::ConvTranspose { group } => {
            let (c, j) = (i / (ws[1] * inner), (i / inner) % ws[1]);
            (c / (ws[0] / group)) * ws[1] + j
        }
        Kind::Gemm { trans_b: true } => i / ws[1],
        Kind::Gemm { trans_b: false } | Kind::MatMul => i % ws[1],
    }
}

/// Fold `map` into `site`; returns the value that now computes the
/// follower's result. New nodes are scheduled before the site (constants)
/// or before `follower` (a matmul's new bias `add`); the follower itself is
/// left for the caller to remove.
pub(crate) fn apply(g: &mut Graph, site: &Site, map: &AffineMap, follower: Node) -> Value {
    let nd = g.node(site.node);
    let w = g
        .const_value(nd.inputs[1])
        .expect("site weight is constant");
    let (dt, ws) = (w.dtype(), w.shape().to_vec());
    let ch = weight_channel(site.kind, &ws);
    let wv: Vec<f64> = w
        .to_f64s()
        .iter()
        .enumerate()
        .map(|(i, x)| x * map.scale[ch(i)])
        .collect();
    let new_w = Tensor::from_f64s(dt, &ws, &wv).expect("same shape as the weight");
    let c = site.channels;
    let b: Vec<f64> = (0..c)
        .map(|i| site.bias.as_ref().map_or(0.0, |b| b[i]) * map.scale[i] + map.shift[i])
        .collect();
    let need_bias = site.bias.is_some() || map.shift.iter().any(|&t| t != 0.0);
    let mut new = vec![];
    // A pure shift (fold-affine's `add`) leaves the weight as it is.
    if map.scale.iter().any(|&s| s != 1.0) {
        let wc = g.add_const(new_w);
        new.push(g.producer(wc).expect("const has a node"));
        g.node_mut(site.node).inputs[1] = wc;
    }
    let mut out = site.out;
    if need_bias {
        let bt = Tensor::from_f64s(dt, &[c], &b).expect("c elements");
        let bc = g.add_const(bt);
        new.push(g.producer(bc).expect("const has a node"));
        match (site.kind, site.bias_add) {
            (Kind::MatMul, Some((add, k))) => g.node_mut(add).inputs[k] = bc,
            (Kind::MatMul, None) => {
                let ty = g.ty(site.out).clone();
                let an = g.push_node(Op::Add, vec![site.out, bc], vec![ty]);
                g.set_loc(an, g.node(follower).loc.clone());
                move_before(g, &[an], follower);
                out = g.node(an).outputs[0];
            }
            _ => {
                let nd = g.node_mut(site.node);
                if nd.inputs.len() > 2 {
                    nd.inputs[2] = bc;
                } else {
                    nd.inputs.push(bc);
                }
                if let Op::Gemm { beta, .. } = &mut nd.op {
                    *beta = 1.0;
                }
            }
        }
    }
    move_before(g, &new, site.node);
    out
}

/// Reschedule `nodes` (in this order) right before `anchor`.
pub(crate) fn move_before(g: &mut Graph, nodes: &[Node], anchor: Node) {
    let mut order: Vec<Node> = g
        .order()
        .iter()
        .copied()
        .filter(|n| !nodes.contains(n))
        .collect();
    let at = order
        .iter()
        .position(|&n| n == anchor)
        .expect("anchor is scheduled");
    order.splice(at..at, nodes.iter().copied());
    g.set_order(order);
}

/// Give `old`'s name (if any) to `new`, which replaces it: graph outputs and
/// ONNX tensor names survive the rewrite.
pub(crate) fn transfer_name(g: &mut Graph, old: Value, new: Value) {
    if let Some(name) = g.name_of(old).map(str::to_string) {
        g.set_name_unique(old, &format!("{name}.folded"));
        g.set_name(new, &name).expect("the name was just freed");
    }
}
