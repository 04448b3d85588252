//! The recurrent layers `rnn`, `gru`, `lstm` (ONNX RNN, GRU, LSTM).
//!
//! Operands `x, w, r[, b, seq_lens, h0(, c0, p)]`; an operand with no elements
//! is absent (zeros for `b`, `h0`, `c0`, `p`; full length for `seq_lens`).
//! Gate blocks in `w`/`r`/`b` follow ONNX: rnn `i`; gru `z, r, h`; lstm
//! `i, o, f, c`; `b` is `[Wb, Rb]`; lstm's peepholes `p` are `[i, o, f]`.
//! With `f, g, h` the direction's activations, `clip(v)` clamping to
//! `[-clip, clip]` and `Wx`/`Rh` a gate block's product plus its bias:
//!
//! - rnn: `H = f(clip(Wx_i + Rh_i))`.
//! - gru: `z = f(clip(Wx_z + Rh_z))`, `r = f(clip(Wx_r + Rh_r))`,
//!   `ĥ = g(clip(Wx_h + R_h·(r∘H) + Rb_h))`, or with `linear_before_reset`
//!   `ĥ = g(clip(Wx_h + r∘Rh_h))`; `H' = (1 - z)∘ĥ + z∘H`.
//! - lstm: `i = f(clip(Wx_i + Rh_i + p_i∘C))`, `f = f(clip(Wx_f + Rh_f + p_f∘C))`
//!   (`1 - i` with `input_forget`), `c = g(clip(Wx_c + Rh_c))`,
//!   `C' = f∘C + i∘c`, `o = f(clip(Wx_o + Rh_o + p_o∘C'))`, `H' = o∘h(C')`.
//!
//! Each batch entry `b` runs `seq_lens[b]` steps (forward: `t = 0, 1, ...`;
//! reverse, and the second direction of bidirectional: from `seq_lens[b] - 1`
//! down to 0). `Y` holds `H'` at each step's `t` and zeros past the entry's
//! length; `Y_h`/`Y_c` hold the last states (the initial ones when the length
//! is 0). Arithmetic is f64; `H` and `C` are rounded to the element type after
//! every step, as a backend that keeps them in that type would.

use crate::attr::AttrValue;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

/// An activation function with its parameters.
#[derive(Clone, Copy)]
struct Act {
    name: &'static str,
    alpha: f64,
    beta: f64,
}

/// `(name, default alpha, default beta)`; inference checked the names.
const DEFAULTS: &[(&str, f64, f64)] = &[
    ("sigmoid", 0.0, 0.0),
    ("tanh", 0.0, 0.0),
    ("relu", 0.0, 0.0),
    ("affine", 1.0, 0.0),
    ("leaky_relu", 0.01, 0.0),
    ("thresholded_relu", 1.0, 0.0),
    ("scaled_tanh", 1.0, 1.0),
    ("hard_sigmoid", 0.2, 0.5),
    ("elu", 1.0, 0.0),
    ("softsign", 0.0, 0.0),
    ("softplus", 0.0, 0.0),
];

impl Act {
    fn apply(self, x: f64) -> f64 {
        let (a, b) = (self.alpha, self.beta);
        match self.name {
            "sigmoid" => 1.0 / (1.0 + (-x).exp()),
            "tanh" => x.tanh(),
            "relu" => x.max(0.0),
            "affine" => a * x + b,
            "leaky_relu" => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            "thresholded_relu" => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            "scaled_tanh" => a * (b * x).tanh(),
            "hard_sigmoid" => (a * x + b).clamp(0.0, 1.0),
            "elu" => {
                if x >= 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            "softsign" => x / (1.0 + x.abs()),
            // log(1 + e^x) without overflow for large x.
            "softplus" => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            n => unreachable!("activation {n:?} passed inference"),
        }
    }
}

/// Which cell, and its cell-specific flag.
#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Rnn,
    Gru { linear_before_reset: bool },
    Lstm { input_forget: bool },
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 3,
            Cell::Lstm { .. } => 4,
        }
    }
    fn acts(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 2,
            Cell::Lstm { .. } => 3,
        }
    }
}

/// One direction's weights, as row-major f64 slices.
struct Weights<'a> {
    w: &'a [f64],
    r: &'a [f64],
    /// `[Wb, Rb]`, or `None` for zeros.
    b: Option<&'a [f64]>,
    p: Option<&'a [f64]>,
    input: usize,
    hidden: usize,
    /// Rows of `w` (gates * hidden): where `Rb` starts in `b`.
    rows: usize,
}

impl Weights<'_> {
    /// Row `row` of `w` times `x`, plus its `Wb` bias.
    fn wx(&self, row: usize, x: &[f64]) -> f64 {
        let w = &self.w[row * self.input..(row + 1) * self.input];
        let bias = self.b.map_or(0.0, |b| b[row]);
        w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + bias
    }
    /// Row `row` of `r` times `h`, plus its `Rb` bias.
    fn rh(&self, row: usize, h: &[f64]) -> f64 {
        let r = &self.r[row * self.hidden..(row + 1) * self.hidden];
        let bias = self.b.map_or(0.0, |b| b[self.rows + row]);
        r.iter().zip(h).map(|(a, b)| a * b).sum::<f64>() + bias
    }
    fn peep(&self, gate: usize, k: usize) -> f64 {
        self.p.map_or(0.0, |p| p[gate * self.hidden + k])
    }
}

pub(super) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let attrs = op.attrs();
    let attr = |name: &str| attrs.iter().find(|a| a.0 == name).map(|a| &a.1);
    let cell = match op {
        Op::Rnn { .. } => Cell::Rnn,
        Op::Gru {
            linear_before_reset,
            ..
        } => Cell::Gru {
            linear_before_reset: *linear_before_reset,
        },
        Op::Lstm { input_forget, .. } => Cell::Lstm {
            input_forget: *input_forget,
        },
        _ => unreachable!("{} is not a recurrent layer", op.name()),
    };
    let (Some(AttrValue::Str(direction)), Some(AttrValue::Str(names))) =
        (attr("direction"), attr("activations"))
    else {
        unreachable!("recurrent layers have string attributes direction and activations")
    };
    let floats = |name: &str| match attr(name) {
        Some(AttrValue::Floats(v)) => v.clone(),
        _ => vec![],
    };
    let (alphas, betas) = (floats("activation_alpha"), floats("activation_beta"));
    let clip = match attr("clip") {
        Some(AttrValue::Float(c)) => f64::from(*c),
        _ => f64::INFINITY,
    };
    let batch_major = matches!(attr("layout"), Some(AttrValue::Int(1)));
    let acts: Vec<Act> = names
        .split(',')
        .enumerate()
        .map(|(i, n)| {
            let &(name, a, b) = DEFAULTS
                .iter()
                .find(|d| d.0 == n)
                .unwrap_or_else(|| unreachable!("activation {n:?} passed inference"));
            Act {
                name,
                alpha: alphas.get(i).map_or(a, |&v| f64::from(v)),
                beta: betas.get(i).map_or(b, |&v| f64::from(v)),
            }
        })
        .collect();
    let dirs = if direction == "bidirectional" { 2 } else { 1 };

    let x = inputs[0];
    let dt = x.dtype();
    let s = x.shape();
    let (seq, batch, input) = if batch_major {
        (s[1], s[0], s[2])
    } else {
        (s[0], s[1], s[2])
    };
    let hidden = inputs[2].shape()[2];
    let given = |k: usize| inputs.get(k).filter(|t| t.numel() > 0).map(|t| t.to_f64s());
    let (xv, w, r) = (x.to_f64s(), inputs[1].to_f64s(), inputs[2].to_f64s());
    let (b, h0, c0, p) = (given(3), given(5), given(6), given(7));
    let lens: Vec<usize> = match inputs.get(4).filter(|t| t.numel() > 0) {
        None => vec![seq; batch],
        Some(t) => t
            .to_i64s()
            .into_iter()
            .map(|l| {
                usize::try_from(l)
                    .ok()
                    .filter(|&l| l <= seq)
                    .ok_or_else(|| format!("seq_lens holds {l}, outside 0..={seq}"))
            })
            .collect::<Result<_, _>>()?,
    };
    let round = rounder(dt);

    // Flat indices in the layout's order.
    let x_at = |t: usize, n: usize| {
        let i = if batch_major {
            n * seq + t
        } else {
            t * batch + n
        };
        i * input
    };
    let state_at = |d: usize, n: usize| {
        let i = if batch_major {
            n * dirs + d
        } else {
            d * batch + n
        };
        i * hidden
    };
    let y_at = |t: usize, d: usize, n: usize| {
        let i = if batch_major {
            (n * seq + t) * dirs + d
        } else {
            (t * dirs + d) * batch + n
        };
        i * hidden
    };

    let g = cell.gates();
    let mut y = vec![0.0; seq * dirs * batch * hidden];
    let mut yh = vec![0.0; dirs * batch * hidden];
    let mut yc = vec![0.0; dirs * batch * hidden];
    for d in 0..dirs {
        let wt = Weights {
            w: &w[d * g * hidden * input..(d + 1) * g * hidden * input],
            r: &r[d * g * hidden * hidden..(d + 1) * g * hidden * hidden],
            b: b.as_deref()
                .map(|b| &b[d * 2 * g * hidden..(d + 1) * 2 * g * hidden]),
            p: p.as_deref()
                .map(|p| &p[d * 3 * hidden..(d + 1) * 3 * hidden]),
            input,
            hidden,
            rows: g * hidden,
        };
        let act = &acts[d * cell.acts()..(d + 1) * cell.acts()];
        let reverse = direction == "reverse" || d == 1;
        for (n, &len) in lens.iter().enumerate() {
            let at = state_at(d, n);
            let init = |s: &Option<Vec<f64>>| {
                s.as_ref()
                    .map_or(vec![0.0; hidden], |v| v[at..at + hidden].to_vec())
            };
            let (mut h, mut c) = (init(&h0), init(&c0));
            for step in 0..len {
                let t = if reverse { len - 1 - step } else { step };
                let xt = &xv[x_at(t, n)..x_at(t, n) + input];
                h = match cell {
                    Cell::Rnn => rnn_step(&wt, act, clip, xt, &h),
                    Cell::Gru {
                        linear_before_reset,
                    } => gru_step(&wt, act, clip, linear_before_reset, xt, &h),
                    Cell::Lstm { input_forget } => {
                        let (hn, cn) = lstm_step(&wt, act, clip, input_forget, round, xt, &h, &c);
                        c = cn;
                        hn
                    }
                };
                h.iter_mut().for_each(|v| *v = round(*v));
                y[y_at(t, d, n)..y_at(t, d, n) + hidden].copy_from_slice(&h);
            }
            yh[at..at + hidden].copy_from_slice(&h);
            yc[at..at + hidden].copy_from_slice(&c);
        }
    }
    let tensor = |shape: &[usize], v: &[f64]| Tensor::from_f64s(dt, shape, v);
    let st: [usize; 3] = if batch_major {
        [batch, dirs, hidden]
    } else {
        [dirs, batch, hidden]
    };
    let ys: [usize; 4] = if batch_major {
        [batch, seq, dirs, hidden]
    } else {
        [seq, dirs, batch, hidden]
    };
    let mut res = vec![tensor(&ys, &y), tensor(&st, &yh)];
    if let Cell::Lstm { .. } = cell {
        res.push(tensor(&st, &yc));
    }
    res.into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// Rounds an f64 to the nearest value of a float dtype.
fn rounder(dt: DType) -> fn(f64) -> f64 {
    match dt {
        DType::F32 => |v| f64::from(v as f32),
        DType::F16 => |v| half::f16::from_f64(v).to_f64(),
        DType::BF16 => |v| half::bf16::from_f64(v).to_f64(),
        _ => |v| v,
    }
}

fn rnn_step(wt: &Weights, act: &[Act], clip: f64, x: &[f64], h: &[f64]) -> Vec<f64> {
    (0..wt.hidden)
        .map(|k| act[0].apply((wt.wx(k, x) + wt.rh(k, h)).clamp(-clip, clip)))
        .collect()
}

fn gru_step(
    wt: &Weights,
    act: &[Act],
    clip: f64,
    linear_before_reset: bool,
    x: &[f64],
    h: &[f64],
) -> Vec<f64> {
    let hs = wt.hidden;
    let gate = |q: usize, k: usize| {
        act[0].apply((wt.wx(q * hs + k, x) + wt.rh(q * hs + k, h)).clamp(-clip, clip))
    };
    let z: Vec<f64> = (0..hs).map(|k| gate(0, k)).collect();
    let r: Vec<f64> = (0..hs).map(|k| gate(1, k)).collect();
    let rh: Vec<f64> = r.iter().zip(h).map(|(a, b)| a * b).collect();
    (0..hs)
        .map(|k| {
            let row = 2 * hs + k;
            let pre = if linear_before_reset {
                wt.wx(row, x) + r[k] * wt.rh(row, h)
            } else {
                // R_h·(r∘H) + Rb_h: `rh` adds the bias once.
                wt.wx(row, x) + wt.rh(row, &rh)
            };
            let cand = act[1].apply(pre.clamp(-clip, clip));
            (1.0 - z[k]) * cand + z[k] * h[k]
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn lstm_step(
    wt: &Weights,
    act: &[Act],
    clip: f64,
    input_forget: bool,
    round: fn(f64) -> f64,
    x: &[f64],
    h: &[f64],
    c: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let hs = wt.hidden;
    let pre = |q: usize, k: usize| wt.wx(q * hs + k, x) + wt.rh(q * hs + k, h);
    let mut hn = vec![0.0; hs];
    let mut cn = vec![0.0; hs];
    for k in 0..hs {
        // Gate blocks: 0 input, 1 output, 2 forget, 3 cell; peepholes i, o, f.
        let i = act[0].apply((pre(0, k) + wt.peep(0, k) * c[k]).clamp(-clip, clip));
        let f = if input_forget {
            1.0 - i
        } else {
            act[0].apply((pre(2, k) + wt.peep(2, k) * c[k]).clamp(-clip, clip))
        };
        let cand = act[1].apply(pre(3, k).clamp(-clip, clip));
        cn[k] = round(f * c[k] + i * cand);
        let o = act[0].apply((pre(1, k) + wt.peep(1, k) * cn[k]).clamp(-clip, clip));
        hn[k] = o * act[2].apply(cn[k]);
    }
    (hn, cn)
}
