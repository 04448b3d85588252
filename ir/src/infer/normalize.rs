//! Result types for the normalize ops (inference forms only).
//!
//! Every normalize op returns one tensor of its input's type. What is checked
//! here: float dtypes everywhere (the parameters may be another float type
//! than `x`: ONNX allows it and the interpreter computes in f64 anyway), the
//! rank the op needs, per-channel parameters of shape `[C]`, LayerNorm/RmsNorm
//! scale and bias that broadcast (numpy, one direction) to the normalized shape
//! `x.shape[axis..]`, GroupNorm's `num_groups` dividing `C`, LpNorm's `p`.
//! Dims that are symbolic or unknown pass when they may be equal at run time;
//! the interpreter repeats these checks on concrete shapes (it calls this).

use super::{arity, invalid, norm_axis, InferError, InferInput};
use crate::dim::Dim;
use crate::op::Op;
use crate::types::{ShapeDisplay, TensorType};

pub(crate) fn infer(op: &Op, inputs: &[InferInput]) -> Result<Vec<TensorType>, InferError> {
    let (min, max) = match op {
        Op::BatchNorm { .. } => (5, 5),
        Op::InstanceNorm { .. } | Op::GroupNorm { .. } => (3, 3),
        Op::LayerNorm { .. } => (2, 3),
        Op::RmsNorm { .. } => (2, 2),
        Op::LpNorm { .. } | Op::MeanVarianceNorm { .. } | Op::Lrn { .. } => (1, 1),
        _ => unreachable!("{} is not a normalize op", op.name()),
    };
    arity(op, inputs, min, max)?;
    for (i, inp) in inputs.iter().enumerate() {
        if !inp.ty.dtype.is_float() {
            return Err(invalid(
                op,
                format!("operand {i} must be a float tensor, not {}", inp.ty),
            ));
        }
    }
    let x = inputs[0].ty;
    match op {
        Op::BatchNorm { .. } | Op::InstanceNorm { .. } | Op::GroupNorm { .. } => {
            let c = channels(op, x)?;
            let names = ["scale", "bias", "mean", "var"];
            for (inp, name) in inputs[1..].iter().zip(names) {
                per_channel(op, name, inp.ty, &c)?;
            }
            if let Op::GroupNorm { num_groups, .. } = op {
                if *num_groups < 1 {
                    return Err(invalid(
                        op,
                        format!("num_groups = {num_groups} must be positive"),
                    ));
                }
                if let Some(cv) = c.as_known() {
                    if cv % num_groups != 0 {
                        return Err(invalid(
                            op,
                            format!("num_groups = {num_groups} does not divide the {cv} channels of {x}"),
                        ));
                    }
                }
            }
        }
        Op::LayerNorm { axis, .. } | Op::RmsNorm { axis, .. } => {
            let a = norm_axis(*axis, x.rank())
                .map_err(|m| invalid(op, format!("{m} (operand {x})")))?;
            let normalized = &x.shape[a..];
            for (inp, name) in inputs[1..].iter().zip(["scale", "bias"]) {
                broadcasts_to(op, name, inp.ty, normalized)?;
            }
        }
        Op::LpNorm { axis, p } => {
            norm_axis(*axis, x.rank()).map_err(|m| invalid(op, format!("{m} (operand {x})")))?;
            if !matches!(p, 1 | 2) {
                return Err(invalid(op, format!("p = {p}; only 1 and 2 are defined")));
            }
        }
        Op::MeanVarianceNorm { axes } => {
            super::reduce::reduced_axes(axes, x.rank()).map_err(|m| invalid(op, m))?;
        }
        Op::Lrn { size, .. } => {
            channels(op, x)?;
            if *size < 1 {
                return Err(invalid(op, format!("size = {size} must be positive")));
            }
        }
        _ => unreachable!(),
    }
    Ok(vec![x.clone()])
}

/// The channel dim (axis 1) of an `[N, C, ...]` operand.
fn channels(op: &Op, x: &TensorType) -> Result<Dim, InferError> {
    if x.rank() < 2 {
        return Err(invalid(
            op,
            format!("operand must have rank >= 2 (N, C, ...), not {x}"),
        ));
    }
    Ok(x.shape[1].clone())
}

fn per_channel(op: &Op, name: &str, t: &TensorType, c: &Dim) -> Result<(), InferError> {
    match t.shape.as_slice() {
        [d] if d.compatible(c) => Ok(()),
        _ => Err(invalid(
            op,
            format!("{name} must have shape [{c}] (one per channel), not {t}"),
        )),
    }
}

/// `t` broadcasts to `target` without changing `target` (numpy rules, one
/// direction): no more axes, and each trailing dim is 1 or may equal the
/// target's.
fn broadcasts_to(op: &Op, name: &str, t: &TensorType, target: &[Dim]) -> Result<(), InferError> {
    let ok = t.rank() <= target.len()
        && t.shape
            .iter()
            .rev()
            .zip(target.iter().rev())
            .all(|(d, want)| *d == Dim::Known(1) || d.compatible(want));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            op,
            format!(
                "{name} {t} does not broadcast to the normalized shape {}",
                ShapeDisplay(target)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    fn ty(d: DType, dims: &[Dim]) -> TensorType {
        TensorType::new(d, dims.iter().cloned())
    }

    fn run(op: &Op, tys: &[TensorType]) -> Result<Vec<TensorType>, InferError> {
        let ins: Vec<InferInput> = tys.iter().map(InferInput::of_type).collect();
        infer(op, &ins)
    }

    #[test]
    fn per_channel_ops() {
        let n = Dim::var("n");
        let x = ty(DType::F32, &[n.clone(), 4.into(), 5.into(), 5.into()]);
        let c4 = ty(DType::F32, &[4.into()]);
        let c3 = ty(DType::F32, &[3.into()]);
        let bn = Op::BatchNorm { epsilon: 1e-5 };
        let ok = [x.clone(), c4.clone(), c4.clone(), c4.clone(), c4.clone()];
        assert_eq!(run(&bn, &ok).unwrap(), vec![x.clone()]);
        let bad = [x.clone(), c4.clone(), c4.clone(), c3.clone(), c4.clone()];
        assert!(run(&bn, &bad).unwrap_err().to_string().contains("mean"));
        let inn = Op::InstanceNorm { epsilon: 1e-5 };
        assert!(run(&inn, &[x.clone(), c4.clone(), c4.clone()]).is_ok());
        assert!(run(&inn, &[x.clone(), c4.clone()]).is_err());
        let gn = |g| Op::GroupNorm {
            epsilon: 1e-5,
            num_groups: g,
        };
        assert!(run(&gn(2), &[x.clone(), c4.clone(), c4.clone()]).is_ok());
        let e = run(&gn(3), &[x.clone(), c4.clone(), c4.clone()]).unwrap_err();
        assert!(e.to_string().contains("divide"), "{e}");
        assert!(run(&gn(0), &[x.clone(), c4.clone(), c4.clone()]).is_err());
        let v = ty(DType::F32, &[4.into()]);
        assert!(run(&inn, &[v, c4.clone(), c4.clone()]).is_err());
        // Symbolic channels accept any per-channel length.
        let xs = ty(DType::BF16, &[1.into(), Dim::var("c"), 7.into()]);
        assert!(run(&inn, &[xs, c3.clone(), c3.clone()]).is_ok());
        let xi = ty(DType::I32, &[1.into(), 4.into()]);
        assert!(run(&inn, &[xi, c4.clone(), c4]).is_err());
    }

    #[test]
    fn layer_and_rms_norm() {
        let b = Dim::var("b");
        let x = ty(DType::F32, &[b.clone(), 8.into(), 16.into()]);
        let ln = Op::LayerNorm {
            axis: -1,
            epsilon: 1e-5,
        };
        let s16 = ty(DType::F32, &[16.into()]);
        assert_eq!(
            run(&ln, &[x.clone(), s16.clone()]).unwrap(),
            vec![x.clone()]
        );
        assert!(run(&ln, &[x.clone(), s16.clone(), s16.clone()]).is_ok());
        let s8 = ty(DType::F32, &[8.into()]);
        let e = run(&ln, &[x.clone(), s8.clone()]).unwrap_err();
        assert!(e.to_string().contains("normalized shape [16]"), "{e}");
        let ln1 = Op::LayerNorm {
            axis: 1,
            epsilon: 1e-5,
        };
        let s816 = ty(DType::F32, &[8.into(), 16.into()]);
        let s11 = ty(DType::F32, &[1.into(), 1.into()]);
        assert!(run(&ln1, &[x.clone(), s816.clone()]).is_ok());
        assert!(run(&ln1, &[x.clone(), s11]).is_ok());
        assert!(run(&ln, &[x.clone(), s816.clone()]).is_err());
        let rms = Op::RmsNorm {
            axis: 3,
            epsilon: 1e-6,
        };
        assert!(run(&rms, &[x.clone(), s16]).is_err());
    }

    #[test]
    fn single_operand_ops() {
        let x = ty(DType::F64, &[2.into(), 3.into(), 4.into()]);
        assert!(run(&Op::LpNorm { axis: -1, p: 2 }, std::slice::from_ref(&x)).is_ok());
        assert!(run(&Op::LpNorm { axis: -1, p: 3 }, std::slice::from_ref(&x)).is_err());
        let mvn = Op::MeanVarianceNorm { axes: vec![0, 0] };
        assert!(run(&mvn, std::slice::from_ref(&x)).is_err());
        let mvn = Op::MeanVarianceNorm { axes: vec![] };
        assert!(run(&mvn, std::slice::from_ref(&x)).is_ok());
        let lrn = |size| Op::Lrn {
            alpha: 1e-4,
            beta: 0.75,
            bias: 1.0,
            size,
        };
        assert!(run(&lrn(3), std::slice::from_ref(&x)).is_ok());
        assert!(run(&lrn(0), std::slice::from_ref(&x)).is_err());
        let v = ty(DType::F64, &[3.into()]);
        assert!(run(&lrn(3), &[v]).is_err());
    }
}
