//! Semantics of the recurrent ops and sequence algorithms.
//!
//! - `rnn`, `gru`, `lstm` (see [`layer`]): ONNX's recurrent layers, run one
//!   batch entry and one direction at a time in f64, the carried states
//!   rounded to the element type after every step.
//! - `unique`, `cum_prod`, `det`, `tf_idf_vectorizer` (see [`seq`]).
//!
//! Operands are validated by calling shape inference on their concrete types
//! (and values), so the interpreter and the verifier accept the same things.

mod layer;
mod seq;
#[cfg(test)]
mod tests;

use crate::infer::InferInput;
use crate::op::Op;
use crate::tensor::Tensor;
use crate::types::TensorType;

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let tys: Vec<TensorType> = inputs.iter().map(|t| t.ty()).collect();
    let ins: Vec<InferInput> = tys
        .iter()
        .zip(inputs)
        .map(|(ty, &t)| InferInput {
            ty,
            konst: Some(t),
            dims: None,
        })
        .collect();
    crate::infer::infer(op, &ins).map_err(|e| e.to_string())?;
    match op {
        Op::Rnn { .. } | Op::Gru { .. } | Op::Lstm { .. } => layer::eval(op, inputs),
        Op::Unique { axis, sorted } => seq::unique(inputs[0], *axis, *sorted),
        Op::CumProd { exclusive, reverse } => {
            seq::cum_prod(inputs[0], inputs[1], *exclusive, *reverse)
        }
        Op::Det => seq::det(inputs[0]),
        Op::TfIdfVectorizer {
            mode,
            min_gram_length,
            max_gram_length,
            max_skip_count,
            ngram_counts,
            ngram_indexes,
            pool,
            weights,
        } => {
            // Inference checked that the sizes are positive and the pool
            // layout consistent.
            let a = seq::TfIdf {
                mode,
                min_gram: *min_gram_length as usize,
                max_gram: *max_gram_length as usize,
                max_skip: *max_skip_count as usize,
                ngram_counts,
                ngram_indexes,
                pool,
                weights,
            };
            seq::tf_idf(inputs[0], &a)
        }
        _ => unreachable!("{} is not a recurrent op", op.name()),
    }
}
