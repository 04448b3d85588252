//! Result types for the recurrent ops and sequence algorithms: `rnn`, `gru`,
//! `lstm`, `unique`, `cum_prod`, `det`.
//!
//! Assumptions: the recurrent layers follow ONNX's operand layout (`x` is
//! `[seq, batch, input]`, or `[batch, seq, input]` with `layout = 1`; weights
//! are `[directions, gates*hidden, input|hidden]`); an operand with zero
//! elements stands for an absent optional one (the IR's "empty constant"
//! convention for missing middle operands).
//! Guarantees: sequence and batch dims of `x` and the hidden size of `r` are
//! carried into the results unchanged (symbolic ones stay symbolic);
//! data-dependent sizes (`unique`'s count) are `?`. The interpreter validates
//! its operands by calling this function, so the checks here are the only ones.

use super::{arity, invalid, norm_axis, InferError, InferInput};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::types::TensorType;

/// The activation names the recurrent layers accept (their meaning and
/// alpha/beta defaults are in the interpreter).
const ACTIVATIONS: &[&str] = &[
    "sigmoid",
    "tanh",
    "relu",
    "affine",
    "leaky_relu",
    "thresholded_relu",
    "scaled_tanh",
    "hard_sigmoid",
    "elu",
    "softsign",
    "softplus",
];

/// Which recurrent cell an op is, with its shared attributes.
struct RnnSpec<'a> {
    /// Gate blocks stacked in `w`/`r`: 1 (rnn), 3 (gru), 4 (lstm).
    gates: usize,
    /// Activation functions per direction: 1, 2, 3.
    acts_per_dir: usize,
    lstm: bool,
    direction: &'a str,
    activations: &'a str,
    alpha: &'a [f32],
    beta: &'a [f32],
    clip: f32,
    layout: i64,
}

impl<'a> RnnSpec<'a> {
    /// The spec of a recurrent op (`None` for any other op).
    fn of(op: &'a Op) -> Option<RnnSpec<'a>> {
        let (gates, acts_per_dir, lstm, d, a, al, be, clip, layout) = match op {
            Op::Rnn {
                direction,
                activations,
                activation_alpha,
                activation_beta,
                clip,
                layout,
            } => (
                1,
                1,
                false,
                direction,
                activations,
                activation_alpha,
                activation_beta,
                clip,
                layout,
            ),
            Op::Gru {
                direction,
                activations,
                activation_alpha,
                activation_beta,
                clip,
                layout,
                ..
            } => (
                3,
                2,
                false,
                direction,
                activations,
                activation_alpha,
                activation_beta,
                clip,
                layout,
            ),
            Op::Lstm {
                direction,
                activations,
                activation_alpha,
                activation_beta,
                clip,
                layout,
                ..
            } => (
                4,
                3,
                true,
                direction,
                activations,
                activation_alpha,
                activation_beta,
                clip,
                layout,
            ),
            _ => return None,
        };
        Some(RnnSpec {
            gates,
            acts_per_dir,
            lstm,
            direction: d,
            activations: a,
            alpha: al,
            beta: be,
            clip: *clip,
            layout: *layout,
        })
    }

    /// 1 or 2, or an error for an unknown direction.
    fn directions(&self) -> Result<usize, String> {
        match self.direction {
            "forward" | "reverse" => Ok(1),
            "bidirectional" => Ok(2),
            d => Err(format!(
                "direction {d:?} is not \"forward\", \"reverse\" or \"bidirectional\""
            )),
        }
    }

    /// Check the activations: one per gate function and direction, every
    /// name known, alpha/beta lists empty or aligned with the names.
    fn check_activations(&self) -> Result<(), String> {
        let names: Vec<&str> = self.activations.split(',').collect();
        let want = self.acts_per_dir * self.directions()?;
        if names.len() != want {
            return Err(format!(
                "activations {:?} lists {} function(s); this op needs {want}",
                self.activations,
                names.len()
            ));
        }
        for (what, l) in [
            ("activation_alpha", self.alpha),
            ("activation_beta", self.beta),
        ] {
            if !l.is_empty() && l.len() != want {
                return Err(format!(
                    "{what} has {} value(s); it must be empty or have one per activation ({want})",
                    l.len()
                ));
            }
        }
        if let Some(n) = names.iter().find(|n| !ACTIVATIONS.contains(n)) {
            return Err(format!(
                "unknown activation {n:?}; expected one of {}",
                ACTIVATIONS.join(", ")
            ));
        }
        Ok(())
    }
}

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    if let Some(spec) = RnnSpec::of(op) {
        return recurrent_layer(op, &spec, inputs);
    }
    match op {
        Op::Unique { axis, .. } => {
            arity(op, inputs, 1, 1)?;
            let x = inputs[0].ty;
            let i64s = |shape: Vec<Dim>| TensorType::new(DType::I64, shape);
            match axis {
                None => Ok(vec![
                    x.with_shape(vec![Dim::Unknown]),
                    i64s(vec![Dim::Unknown]),
                    i64s(vec![x.numel()]),
                    i64s(vec![Dim::Unknown]),
                ]),
                Some(a) => {
                    let a = norm_axis(*a, x.rank()).map_err(|m| invalid(op, m))?;
                    let mut shape = x.shape.clone();
                    shape[a] = Dim::Unknown;
                    Ok(vec![
                        x.with_shape(shape),
                        i64s(vec![Dim::Unknown]),
                        i64s(vec![x.shape[a].clone()]),
                        i64s(vec![Dim::Unknown]),
                    ])
                }
            }
        }
        Op::CumProd { .. } => {
            arity(op, inputs, 2, 2)?;
            let x = inputs[0].ty;
            if !x.dtype.is_numeric() {
                return Err(invalid(op, format!("operand must be numeric, not {x}")));
            }
            let ax = inputs[1].ty;
            if !matches!(ax.dtype, DType::I32 | DType::I64) || ax.known_numel() != Some(1) {
                return Err(invalid(
                    op,
                    format!("axis operand must be one i32 or i64 element, not {ax}"),
                ));
            }
            match inputs[1].konst.map(|t| t.to_i64s()).as_deref() {
                Some(&[a]) => {
                    norm_axis(a, x.rank()).map_err(|m| invalid(op, m))?;
                }
                _ if x.rank() == 0 => {
                    return Err(invalid(op, "operand is a scalar; it has no axis"));
                }
                _ => {}
            }
            Ok(vec![x.clone()])
        }
        Op::Det => {
            arity(op, inputs, 1, 1)?;
            let x = inputs[0].ty;
            let r = x.rank();
            if !x.dtype.is_float() || r < 2 || !x.shape[r - 2].compatible(&x.shape[r - 1]) {
                return Err(invalid(
                    op,
                    format!("operand must be float square matrices [..., M, M], not {x}"),
                ));
            }
            Ok(vec![x.with_shape(x.shape[..r - 2].to_vec())])
        }
        Op::TfIdfVectorizer { .. } => {
            arity(op, inputs, 1, 1)?;
            let x = inputs[0].ty;
            if !matches!(x.dtype, DType::I32 | DType::I64) || !matches!(x.rank(), 1 | 2) {
                return Err(invalid(
                    op,
                    format!("operand must be i32/i64 tokens [C] or [B,C], not {x}"),
                ));
            }
            let width = check_tf_idf(op).map_err(|m| invalid(op, m))?;
            let mut shape = x.shape[..x.rank() - 1].to_vec();
            shape.push(Dim::from(width));
            Ok(vec![TensorType::new(DType::F32, shape)])
        }
        _ => unreachable!("{} is not a recurrent op", op.name()),
    }
}

/// Check a `tf_idf_vectorizer`'s attributes; returns the output width.
fn check_tf_idf(op: &Op) -> Result<usize, String> {
    let Op::TfIdfVectorizer {
        mode,
        min_gram_length: lo,
        max_gram_length: hi,
        max_skip_count,
        ngram_counts,
        ngram_indexes,
        pool,
        weights,
    } = op
    else {
        unreachable!("{} is not tf_idf_vectorizer", op.name())
    };
    if !matches!(mode.as_str(), "TF" | "IDF" | "TFIDF") {
        return Err(format!("mode {mode:?} is not \"TF\", \"IDF\" or \"TFIDF\""));
    }
    if *lo < 1 || lo > hi || *max_skip_count < 0 {
        return Err(format!(
            "need 1 <= min_gram_length ({lo}) <= max_gram_length ({hi}) and max_skip_count ({max_skip_count}) >= 0"
        ));
    }
    let mut id = 0usize;
    for (i, &start) in ngram_counts.iter().enumerate() {
        let end = ngram_counts
            .get(i + 1)
            .copied()
            .unwrap_or(pool.len() as i64);
        let size = i + 1;
        let (s, e) = match (usize::try_from(start), usize::try_from(end)) {
            (Ok(s), Ok(e)) if s <= e && e <= pool.len() => (s, e),
            _ => {
                return Err(format!(
                    "ngram_counts {ngram_counts:?} do not split a pool of {}",
                    pool.len()
                ))
            }
        };
        if (e - s) % size != 0 {
            return Err(format!(
                "the {} pool entries for {size}-grams are not a whole number of {size}-grams",
                e - s
            ));
        }
        id += (e - s) / size;
    }
    if id != ngram_indexes.len() {
        return Err(format!(
            "ngram_indexes has {} entries but the pool holds {id} n-grams",
            ngram_indexes.len()
        ));
    }
    if let Some(bad) = ngram_indexes.iter().find(|&&c| c < 0) {
        return Err(format!("ngram_indexes holds {bad}"));
    }
    let width = ngram_indexes.iter().max().map_or(0, |&m| m as usize + 1);
    if !weights.is_empty() && weights.len() < width {
        return Err(format!(
            "weights has {} entries; the output has {width} columns",
            weights.len()
        ));
    }
    Ok(width)
}

/// Whether an optional operand is present (given, with elements).
fn present<'a>(i: Option<&InferInput<'a>>) -> Option<&'a TensorType> {
    i.map(|i| i.ty).filter(|t| t.known_numel() != Some(0))
}

fn recurrent_layer(
    op: &Op,
    spec: &RnnSpec,
    inputs: &[InferInput],
) -> Result<Vec<TensorType>, InferError> {
    let max = if spec.lstm { 8 } else { 6 };
    arity(op, inputs, 3, max)?;
    let bad = |m: String| invalid(op, m);
    let dirs = spec.directions().map_err(bad)?;
    spec.check_activations().map_err(bad)?;
    if spec.clip.is_nan() || spec.clip <= 0.0 {
        return Err(bad(format!("clip must be positive, not {}", spec.clip)));
    }
    if !matches!(spec.layout, 0 | 1) {
        return Err(bad(format!("layout must be 0 or 1, not {}", spec.layout)));
    }
    let (x, w, r) = (inputs[0].ty, inputs[1].ty, inputs[2].ty);
    if !x.dtype.is_float() || x.rank() != 3 {
        return Err(bad(format!("x must be a rank-3 float tensor, not {x}")));
    }
    let (seq, batch) = if spec.layout == 0 {
        (&x.shape[0], &x.shape[1])
    } else {
        (&x.shape[1], &x.shape[0])
    };
    if r.rank() != 3 || r.dtype != x.dtype {
        return Err(bad(format!(
            "r must be {}[dirs, gates*hidden, hidden], not {r}",
            x.dtype
        )));
    }
    let hidden = &r.shape[2];
    let dirs_d = Dim::from(dirs);
    let gh = Dim::from(spec.gates).mul(hidden);
    let expect = |name: &str, t: &TensorType, dims: &[&Dim]| -> Result<(), InferError> {
        let ok = t.dtype == x.dtype
            && t.rank() == dims.len()
            && t.shape.iter().zip(dims).all(|(a, b)| a.compatible(b));
        if ok {
            return Ok(());
        }
        let want: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        Err(invalid(
            op,
            format!("{name} must be {}[{}], not {t}", x.dtype, want.join(",")),
        ))
    };
    expect("w", w, &[&dirs_d, &gh, &x.shape[2]])?;
    expect("r", r, &[&dirs_d, &gh, hidden])?;
    if let Some(b) = present(inputs.get(3)) {
        expect("b", b, &[&dirs_d, &Dim::from(2).mul(&gh)])?;
    }
    if let Some(s) = present(inputs.get(4)) {
        if !matches!(s.dtype, DType::I32 | DType::I64)
            || s.rank() != 1
            || !s.shape[0].compatible(batch)
        {
            return Err(bad(format!(
                "seq_lens must be i32[{batch}] or i64[{batch}], not {s}"
            )));
        }
    }
    let state = |d: &Dim| -> Vec<Dim> {
        if spec.layout == 0 {
            vec![d.clone(), batch.clone(), hidden.clone()]
        } else {
            vec![batch.clone(), d.clone(), hidden.clone()]
        }
    };
    let st = state(&dirs_d);
    let st_ref: Vec<&Dim> = st.iter().collect();
    for (k, name) in [(5, "h0"), (6, "c0")] {
        if let Some(h) = present(inputs.get(k)) {
            expect(name, h, &st_ref)?;
        }
    }
    if let Some(p) = present(inputs.get(7)) {
        expect("p", p, &[&dirs_d, &Dim::from(3).mul(hidden)])?;
    }
    let y = if spec.layout == 0 {
        vec![seq.clone(), dirs_d.clone(), batch.clone(), hidden.clone()]
    } else {
        vec![batch.clone(), seq.clone(), dirs_d.clone(), hidden.clone()]
    };
    let mut res = vec![x.with_shape(y), x.with_shape(st.clone())];
    if spec.lstm {
        res.push(x.with_shape(st));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    fn ty(d: DType, s: &[Dim]) -> TensorType {
        TensorType::new(d, s.iter().cloned())
    }

    fn lstm(direction: &str, acts: &str, layout: i64) -> Op {
        Op::Lstm {
            direction: direction.into(),
            activations: acts.into(),
            activation_alpha: vec![],
            activation_beta: vec![],
            clip: f32::INFINITY,
            layout,
            input_forget: false,
        }
    }

    #[test]
    fn lstm_keeps_symbolic_dims() {
        let (s, b) = (Dim::var("seq"), Dim::var("batch"));
        let x = ty(DType::F32, &[s.clone(), b.clone(), 5.into()]);
        let w = ty(DType::F32, &[2.into(), 12.into(), 5.into()]);
        let r = ty(DType::F32, &[2.into(), 12.into(), 3.into()]);
        let ins = [&x, &w, &r].map(InferInput::of_type);
        let op = lstm("bidirectional", "sigmoid,tanh,tanh,sigmoid,tanh,tanh", 0);
        let res = infer(&op, &ins).unwrap();
        assert_eq!(res[0], ty(DType::F32, &[s, 2.into(), b.clone(), 3.into()]));
        assert_eq!(res[1], ty(DType::F32, &[2.into(), b.clone(), 3.into()]));
        assert_eq!(res.len(), 3);
        // Batch-major layout swaps the first two axes of x and the states.
        let xb = ty(DType::F32, &[b.clone(), 7.into(), 5.into()]);
        let op = lstm("bidirectional", "sigmoid,tanh,tanh,sigmoid,tanh,tanh", 1);
        let res = infer(&op, &[&xb, &w, &r].map(InferInput::of_type)).unwrap();
        assert_eq!(
            res[0],
            ty(DType::F32, &[b.clone(), 7.into(), 2.into(), 3.into()])
        );
        assert_eq!(res[2], ty(DType::F32, &[b, 2.into(), 3.into()]));
    }

    #[test]
    fn lstm_rejects_bad_operands() {
        let x = ty(DType::F32, &[4.into(), 2.into(), 5.into()]);
        let w = ty(DType::F32, &[1.into(), 12.into(), 5.into()]);
        let r = ty(DType::F32, &[1.into(), 12.into(), 3.into()]);
        let ok = lstm("forward", "sigmoid,tanh,tanh", 0);
        let e = |op: &Op, ins: &[&TensorType]| {
            let ins: Vec<InferInput> = ins.iter().map(|t| InferInput::of_type(t)).collect();
            infer(op, &ins).unwrap_err().to_string()
        };
        // Wrong gate count in w (3 gates of 3, not 4).
        let w9 = ty(DType::F32, &[1.into(), 9.into(), 5.into()]);
        assert!(e(&ok, &[&x, &w9, &r]).contains("w must be"));
        assert!(e(&lstm("sideways", "sigmoid,tanh,tanh", 0), &[&x, &w, &r]).contains("direction"));
        assert!(e(&lstm("forward", "sigmoid,tanh", 0), &[&x, &w, &r]).contains("needs 3"));
        assert!(e(&lstm("forward", "sigmoid,tanh,cosh", 0), &[&x, &w, &r]).contains("cosh"));
        // Bias of the wrong length; an empty one means "absent".
        let b = ty(DType::F32, &[1.into(), 12.into()]);
        assert!(e(&ok, &[&x, &w, &r, &b]).contains("b must be"));
        let empty = ty(DType::F32, &[0.into()]);
        let ins = [&x, &w, &r, &empty].map(InferInput::of_type);
        assert_eq!(infer(&ok, &ins).unwrap().len(), 3);
        // seq_lens must be one integer per batch entry.
        let sl = ty(DType::F32, &[2.into()]);
        assert!(e(&ok, &[&x, &w, &r, &empty, &sl]).contains("seq_lens"));
    }

    #[test]
    fn unique_cum_prod_det_shapes() {
        let x = ty(DType::F32, &[Dim::var("n"), 4.into()]);
        let u = Op::Unique {
            axis: None,
            sorted: true,
        };
        let res = infer(&u, &[InferInput::of_type(&x)]).unwrap();
        assert_eq!(res[0], ty(DType::F32, &[Dim::Unknown]));
        assert_eq!(res[2].shape, vec![Dim::var("n").mul(&4.into())]);
        let u = Op::Unique {
            axis: Some(-1),
            sorted: false,
        };
        let res = infer(&u, &[InferInput::of_type(&x)]).unwrap();
        assert_eq!(res[0], ty(DType::F32, &[Dim::var("n"), Dim::Unknown]));
        assert_eq!(res[2].shape, vec![Dim::Known(4)]);
        let u = Op::Unique {
            axis: Some(2),
            sorted: false,
        };
        assert!(infer(&u, &[InferInput::of_type(&x)]).is_err());

        let cp = Op::CumProd {
            exclusive: false,
            reverse: false,
        };
        let k = Tensor::scalar(3i64);
        let kty = k.ty();
        let kin = InferInput {
            ty: &kty,
            konst: Some(&k),
            dims: None,
        };
        let e = infer(&cp, &[InferInput::of_type(&x), kin]).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");

        let m = ty(DType::F32, &[Dim::var("b"), 3.into(), 3.into()]);
        let res = infer(&Op::Det, &[InferInput::of_type(&m)]).unwrap();
        assert_eq!(res[0], ty(DType::F32, &[Dim::var("b")]));
        let bad = ty(DType::F32, &[3.into(), 2.into()]);
        assert!(infer(&Op::Det, &[InferInput::of_type(&bad)]).is_err());
    }
}
