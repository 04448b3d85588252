//! Recurrent layers and sequence algorithms: RNN, GRU, LSTM, Unique, CumProd,
//! Det, TfIdfVectorizer (integer pools), the window functions, and Scan (see
//! [`scan`]).
//!
//! The layers map onto the IR's `rnn`/`gru`/`lstm` with ONNX's defaults made
//! explicit: the activation list (duplicated for the second direction when
//! only one set is given, as onnxruntime does), `clip = inf` when absent, and
//! empty constants for absent middle operands. The windows decompose as
//! ONNX's function bodies do: `a0 - a1·cos(2πn/N) + a2·cos(4πn/N)` in f32
//! with `N` the size (periodic) or size - 1, then a cast to `output_datatype`.

mod scan;

use super::Cx;
use crate::onnx::OnnxError;
use ingot_ir::{AttrValue, DType, Op, Tensor, Value};

pub(super) fn converter(op_type: &str) -> Option<super::Convert> {
    Some(match op_type {
        "RNN" | "GRU" | "LSTM" => layer,
        "Unique" => unique,
        "CumProd" => cum_prod,
        "Det" => det,
        "HannWindow" | "HammingWindow" | "BlackmanWindow" => window,
        "Scan" => scan::scan,
        "TfIdfVectorizer" => tf_idf,
        _ => return None,
    })
}

/// ONNX activation spellings (compared case-insensitively) → IR names.
const ACTIVATIONS: &[(&str, &str)] = &[
    ("sigmoid", "sigmoid"),
    ("tanh", "tanh"),
    ("relu", "relu"),
    ("affine", "affine"),
    ("leakyrelu", "leaky_relu"),
    ("thresholdedrelu", "thresholded_relu"),
    ("scaledtanh", "scaled_tanh"),
    ("hardsigmoid", "hard_sigmoid"),
    ("elu", "elu"),
    ("softsign", "softsign"),
    ("softplus", "softplus"),
];

fn layer(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let w = cx.req(1)?;
    let r = cx.req(2)?;
    let op_type = cx.op_type().to_string();
    let (defaults, max_inputs): (&[&str], usize) = match op_type.as_str() {
        "RNN" => (&["tanh"], 6),
        "GRU" => (&["sigmoid", "tanh"], 6),
        _ => (&["sigmoid", "tanh", "tanh"], 8),
    };
    let direction = cx.a(cx.attrs.string("direction", "forward"))?;
    let dirs = if direction == "bidirectional" { 2 } else { 1 };
    let want = defaults.len() * dirs;
    let mut acts: Vec<String> = match cx.attrs.get("activations") {
        Some(a) if !a.strings.is_empty() => a
            .strings
            .iter()
            .map(|s| {
                let s = String::from_utf8_lossy(s).to_ascii_lowercase();
                ACTIVATIONS
                    .iter()
                    .find(|a| a.0 == s)
                    .map(|a| a.1.to_string())
                    .ok_or_else(|| cx.unsupported(format!("activation {s:?}")))
            })
            .collect::<Result<_, _>>()?,
        _ => defaults.iter().map(|s| s.to_string()).collect(),
    };
    let dup = dirs == 2 && acts.len() == defaults.len();
    if dup {
        acts.extend(acts.clone());
    }
    let params = |name: &str| -> Result<Vec<f32>, OnnxError> {
        let mut v = cx.a(cx.attrs.floats_opt(name))?.unwrap_or_default();
        if dup && v.len() == defaults.len() {
            v.extend(v.clone());
        }
        if !v.is_empty() && v.len() != want {
            return Err(cx.unsupported(format!(
                "{name} with {} value(s) for {want} activation(s)",
                v.len()
            )));
        }
        Ok(v)
    };
    let alpha = params("activation_alpha")?;
    let beta = params("activation_beta")?;
    let clip = cx.a(cx.attrs.float_opt("clip"))?.unwrap_or(f32::INFINITY);
    let layout = cx.a(cx.attrs.int("layout", 0))?;
    if let (Some(hs), Some(&h)) = (
        cx.a(cx.attrs.int_opt("hidden_size"))?,
        cx.ty(r).shape.get(2).and_then(|d| d.as_known()).as_ref(),
    ) {
        if hs != h {
            return Err(cx.err(format!("hidden_size = {hs} but R's last dim is {h}")));
        }
    }
    let mut attrs = vec![
        ("direction", AttrValue::Str(direction)),
        ("activations", AttrValue::Str(acts.join(","))),
        ("activation_alpha", AttrValue::Floats(alpha)),
        ("activation_beta", AttrValue::Floats(beta)),
        ("clip", AttrValue::Float(clip)),
        ("layout", AttrValue::Int(layout)),
    ];
    let name = match op_type.as_str() {
        "RNN" => "rnn",
        "GRU" => {
            let lbr = cx.a(cx.attrs.bool("linear_before_reset", false))?;
            attrs.push(("linear_before_reset", AttrValue::Bool(lbr)));
            "gru"
        }
        _ => {
            let f = cx.a(cx.attrs.bool("input_forget", false))?;
            attrs.push(("input_forget", AttrValue::Bool(f)));
            "lstm"
        }
    };
    let op = super::op_from(cx, name, attrs)?;
    // Absent middle operands become empty constants; trailing ones are left out.
    let dt = cx.ty(x).dtype;
    let mut ins = vec![x, w, r];
    let given: Vec<Option<Value>> = (3..max_inputs.min(cx.n_inputs()))
        .map(|i| cx.input(i))
        .collect::<Result<_, _>>()?;
    let last = given.iter().rposition(Option::is_some).map_or(0, |p| p + 1);
    for (k, v) in given[..last].iter().enumerate() {
        ins.push(match v {
            Some(v) => *v,
            None => {
                let edt = if k == 1 { DType::I32 } else { dt };
                let t = Tensor::zeros(edt, &[0]).map_err(|e| cx.err(e.to_string()))?;
                cx.constant(t)
            }
        });
    }
    cx.add(op, &ins)
}

fn unique(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let axis = cx.a(cx.attrs.int_opt("axis"))?;
    let sorted = cx.a(cx.attrs.bool("sorted", true))?;
    cx.add(Op::Unique { axis, sorted }, &[x])
}

fn cum_prod(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let axis = cx.req(1)?;
    let exclusive = cx.a(cx.attrs.bool("exclusive", false))?;
    let reverse = cx.a(cx.attrs.bool("reverse", false))?;
    Ok(vec![
        cx.add1(Op::CumProd { exclusive, reverse }, &[x, axis])?
    ])
}

fn det(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    Ok(vec![cx.add1(Op::Det, &[x])?])
}

fn window(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let size = cx.req(0)?;
    let periodic = cx.a(cx.attrs.bool("periodic", true))?;
    let to = cx.a(cx.attrs.int("output_datatype", 1))?;
    let to = cx.dtype(to)?;
    // The coefficients of ONNX's function bodies (Hamming's are 25/46, 21/46).
    let (a0, a1, a2): (f32, f32, f32) = match cx.op_type() {
        "HannWindow" => (0.5, 0.5, 0.0),
        "HammingWindow" => (25.0 / 46.0, 21.0 / 46.0, 0.0),
        _ => (0.42, 0.5, 0.08),
    };
    let f = DType::F32;
    let cast = |to| Op::Cast { to, saturate: true };
    let n = cx.add1(cast(f), &[size])?;
    let one = cx.const_scalar(f, 1.0)?;
    let denom = if periodic {
        n
    } else {
        cx.add1(Op::Sub, &[n, one])?
    };
    let tau = cx.const_scalar(f, std::f64::consts::TAU)?;
    let inc = cx.add1(Op::Div, &[tau, denom])?;
    let zero = cx.const_scalar(f, 0.0)?;
    let range = cx.add1(Op::Range, &[zero, n, one])?;
    let ang = cx.add1(Op::Mul, &[range, inc])?;
    let term = |cx: &mut Cx, k: f64, a: f32| -> Result<Value, OnnxError> {
        let ang = if k == 1.0 {
            ang
        } else {
            let kc = cx.const_scalar(f, k)?;
            cx.add1(Op::Mul, &[ang, kc])?
        };
        let c = cx.add1(Op::Cos, &[ang])?;
        let ac = cx.const_scalar(f, f64::from(a))?;
        cx.add1(Op::Mul, &[ac, c])
    };
    let a0c = cx.const_scalar(f, f64::from(a0))?;
    let t1 = term(cx, 1.0, a1)?;
    let mut y = cx.add1(Op::Sub, &[a0c, t1])?;
    if a2 != 0.0 {
        let t2 = term(cx, 2.0, a2)?;
        y = cx.add1(Op::Add, &[y, t2])?;
    }
    if to != f {
        y = cx.add1(cast(to), &[y])?;
    }
    Ok(vec![y])
}

fn tf_idf(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    if cx.attrs.has("pool_strings") {
        return Err(OnnxError::UnsupportedType(format!(
            "string pool of TfIdfVectorizer `{}`",
            cx.label
        )));
    }
    let at = &cx.attrs;
    let op = Op::TfIdfVectorizer {
        mode: cx.a(at.string("mode", "TF"))?,
        min_gram_length: cx.a(at.int("min_gram_length", 1))?,
        max_gram_length: cx.a(at.int("max_gram_length", 1))?,
        max_skip_count: cx.a(at.int("max_skip_count", 0))?,
        ngram_counts: cx.a(at.ints("ngram_counts"))?,
        ngram_indexes: cx.a(at.ints("ngram_indexes"))?,
        pool: cx.a(at.ints("pool_int64s"))?,
        weights: cx.a(at.floats_opt("weights"))?.unwrap_or_default(),
    };
    Ok(vec![cx.add1(op, &[x])?])
}
