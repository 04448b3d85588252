//! Result types of the ops that build or re-view shapes: reshape, flatten,
//! transpose, squeeze, unsqueeze, expand, tile, shape, range,
//! constant_of_shape, eye_like, depth_to_space, space_to_depth.

use super::{axes, product, scalar_like, shape_window, values, vector_len};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::infer::{arity, broadcast, invalid, InferError, InferInput};
use crate::op::Op;
use crate::tensor::Tensor;
use crate::types::{ShapeDisplay, TensorType};

/// `numerator / denominator` over products of dims, cancelling equal symbolic
/// factors first so `[batch, seq, 768] / [batch, 768]` is `seq`. `Err` when
/// the sizes are static and do not divide; `Unknown` when the quotient is not
/// expressible.
pub(super) fn divide(num: &[Dim], den: &[Dim]) -> Result<Dim, String> {
    let split = |ds: &[Dim]| -> Option<(i64, Vec<Dim>)> {
        let mut k = 1i64;
        let mut sym = vec![];
        for d in ds {
            match d {
                Dim::Known(v) => k = k.checked_mul(*v)?,
                Dim::Sym(_) => sym.push(d.clone()),
                Dim::Unknown => return None,
            }
        }
        Some((k, sym))
    };
    let (Some((nk, mut ns)), Some((dk, ds))) = (split(num), split(den)) else {
        return Ok(Dim::Unknown);
    };
    let mut rest = vec![];
    for d in ds {
        match ns.iter().position(|n| *n == d) {
            Some(p) => {
                ns.remove(p);
            }
            None => rest.push(d),
        }
    }
    let ns = product(&ns);
    if !rest.is_empty() {
        // Only a whole symbolic quotient equal to the numerator divides.
        return Ok(ns
            .mul(&Dim::Known(nk))
            .floor_div(&product(&rest).mul(&Dim::Known(dk))));
    }
    if dk == 0 {
        return Err("cannot infer a dim when the others multiply to 0".into());
    }
    if nk % dk == 0 {
        return Ok(ns.mul(&Dim::Known(nk / dk)));
    }
    if ns == Dim::Known(1) {
        return Err(format!("{nk} elements do not divide into groups of {dk}"));
    }
    Ok(ns.mul(&Dim::Known(nk)).floor_div(&Dim::Known(dk)))
}

/// Output dims of reshape given the (possibly symbolic) shape values.
pub(super) fn reshape_dims(
    input: &[Dim],
    shape: &[Dim],
    allowzero: bool,
) -> Result<Vec<Dim>, String> {
    let mut out = Vec::with_capacity(shape.len());
    let mut infer_at = None;
    for (i, d) in shape.iter().enumerate() {
        out.push(match d {
            Dim::Known(-1) => {
                if infer_at.replace(i).is_some() {
                    return Err(format!(
                        "shape {} has more than one -1",
                        ShapeDisplay(shape)
                    ));
                }
                Dim::Known(1)
            }
            Dim::Known(0) if !allowzero => input.get(i).cloned().ok_or_else(|| {
                format!(
                    "shape[{i}] = 0 copies input axis {i}, but the input {} has rank {}",
                    ShapeDisplay(input),
                    input.len()
                )
            })?,
            Dim::Known(k) if *k < 0 => return Err(format!("shape[{i}] = {k} is negative")),
            d => d.clone(),
        });
    }
    if let Some(k) = infer_at {
        if allowzero && shape.contains(&Dim::Known(0)) {
            return Err(format!(
                "shape {} has both 0 and -1, which allowzero makes ambiguous",
                ShapeDisplay(shape)
            ));
        }
        let others: Vec<Dim> = (0..out.len())
            .filter(|&j| j != k)
            .map(|j| out[j].clone())
            .collect();
        out[k] = divide(input, &others).map_err(|m| {
            format!(
                "cannot infer the -1 of shape {} for input {}: {m}",
                ShapeDisplay(shape),
                ShapeDisplay(input)
            )
        })?;
    }
    let (a, b) = (product(input), product(&out));
    if let (Some(x), Some(y)) = (a.as_known(), b.as_known()) {
        if x != y {
            return Err(format!(
                "cannot reshape {} ({x} elements) to {} ({y} elements)",
                ShapeDisplay(input),
                ShapeDisplay(&out)
            ));
        }
    }
    Ok(out)
}

pub(super) fn reshape(
    op: &Op,
    inputs: &[InferInput],
    allowzero: bool,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let x = inputs[0].ty;
    let n = vector_len(op, &inputs[1], "shape")?;
    let dims = match values(&inputs[1]) {
        Some(v) => reshape_dims(&x.shape, &v, allowzero).map_err(|m| invalid(op, m))?,
        None => {
            let n = n.ok_or_else(|| {
                invalid(
                    op,
                    format!("shape operand {} has an unknown length", inputs[1].ty),
                )
            })?;
            vec![Dim::Unknown; n]
        }
    };
    Ok(x.with_shape(dims))
}

pub(super) fn flatten(op: &Op, inputs: &[InferInput], ax: i64) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    let r = x.rank() as i64;
    if ax < -r || ax > r {
        return Err(invalid(
            op,
            format!("axis {ax} is out of range [-{r}, {r}]"),
        ));
    }
    let a = if ax < 0 { ax + r } else { ax } as usize;
    Ok(x.with_shape(vec![product(&x.shape[..a]), product(&x.shape[a..])]))
}

pub(super) fn transpose(
    op: &Op,
    inputs: &[InferInput],
    perm: &[i64],
) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    let r = x.rank();
    let p: Vec<usize> = if perm.is_empty() {
        (0..r).rev().collect()
    } else if perm.len() != r {
        return Err(invalid(
            op,
            format!("perm {perm:?} has {} entries for {x}", perm.len()),
        ));
    } else {
        axes(op, perm, r)?
    };
    Ok(x.with_shape(p.iter().map(|&a| x.shape[a].clone()).collect()))
}

pub(super) fn squeeze(
    op: &Op,
    inputs: &[InferInput],
    list: &[i64],
) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    let drop = if list.is_empty() {
        if x.shape.contains(&Dim::Unknown) {
            return Err(invalid(
                op,
                format!("cannot tell which dims of {x} are 1; give the axes"),
            ));
        }
        (0..x.rank())
            .filter(|&a| x.shape[a] == Dim::Known(1))
            .collect()
    } else {
        axes(op, list, x.rank())?
    };
    for &a in &drop {
        if let Dim::Known(k) = x.shape[a] {
            if k != 1 {
                return Err(invalid(
                    op,
                    format!("cannot squeeze axis {a} of {x}: its size is {k}"),
                ));
            }
        }
    }
    let dims = (0..x.rank())
        .filter(|a| !drop.contains(a))
        .map(|a| x.shape[a].clone());
    Ok(x.with_shape(dims.collect()))
}

pub(super) fn unsqueeze(
    op: &Op,
    inputs: &[InferInput],
    list: &[i64],
) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    let r = x.rank() + list.len();
    let new = axes(op, list, r)?;
    let mut rest = x.shape.iter();
    let dims = (0..r).map(|a| {
        if new.contains(&a) {
            Dim::Known(1)
        } else {
            rest.next().cloned().expect("ranks add up")
        }
    });
    Ok(x.with_shape(dims.collect()))
}

pub(super) fn expand(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let x = inputs[0].ty;
    let n = vector_len(op, &inputs[1], "shape")?;
    if let Some(v) = values(&inputs[1]) {
        if let Some(k) = v.iter().filter_map(Dim::as_known).find(|&k| k < 0) {
            return Err(invalid(op, format!("shape has a negative dim {k}")));
        }
        return broadcast(&x.shape, &v)
            .map(|s| x.with_shape(s))
            .map_err(|m| invalid(op, m));
    }
    let n = n.ok_or_else(|| {
        invalid(
            op,
            format!("shape operand {} has an unknown length", inputs[1].ty),
        )
    })?;
    // The shape's values are unknown, but where the input's dim is not 1 the
    // result must equal it.
    let r = n.max(x.rank());
    let dims = (0..r).map(
        |i| match (i + x.rank()).checked_sub(r).map(|j| &x.shape[j]) {
            Some(d @ Dim::Known(k)) if *k != 1 => d.clone(),
            Some(d @ Dim::Sym(_)) => d.clone(),
            _ => Dim::Unknown,
        },
    );
    Ok(x.with_shape(dims.collect()))
}

pub(super) fn tile(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 2, 2)?;
    let x = inputs[0].ty;
    if let Some(n) = vector_len(op, &inputs[1], "repeats")? {
        if n != x.rank() {
            return Err(invalid(op, format!("repeats has {n} entries for {x}")));
        }
    }
    let dims = match values(&inputs[1]) {
        Some(v) => x.shape.iter().zip(&v).map(|(d, r)| d.mul(r)).collect(),
        None => vec![Dim::Unknown; x.rank()],
    };
    Ok(x.with_shape(dims))
}

pub(super) fn shape(
    op: &Op,
    inputs: &[InferInput],
    start: i64,
    end: Option<i64>,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    let (s, e) = shape_window(start, end, inputs[0].ty.rank());
    Ok(TensorType::fixed(DType::I64, &[e - s]))
}

/// `count = max(ceil((limit - start) / delta), 0)` from static values.
fn range_count_f64(s: f64, l: f64, d: f64) -> Option<i64> {
    let n = ((l - s) / d).ceil().max(0.0);
    (d != 0.0 && n.is_finite() && n < i64::MAX as f64).then_some(n as i64)
}

pub(super) fn range(op: &Op, inputs: &[InferInput]) -> Result<TensorType, InferError> {
    arity(op, inputs, 3, 3)?;
    let dt = inputs[0].ty.dtype;
    for (inp, what) in inputs.iter().zip(["start", "limit", "delta"]) {
        scalar_like(op, inp, what)?;
        if inp.ty.dtype != dt || !dt.is_numeric() {
            return Err(invalid(
                op,
                format!("{what} is {}, but start is {dt}", inp.ty),
            ));
        }
    }
    let count = if let [Some(s), Some(l), Some(d)] = [0, 1, 2].map(|k| inputs[k].konst) {
        if dt.is_float() {
            let f = |t: &Tensor| t.to_f64s()[0];
            let n = range_count_f64(f(s), f(l), f(d))
                .ok_or_else(|| invalid(op, "delta is 0 or the range is infinite"))?;
            Dim::Known(n)
        } else {
            int_range_count(op, &[s, l, d].map(|t| Dim::Known(t.to_i64s()[0])))?
        }
    } else if dt.is_int() {
        match [0, 1, 2].map(|k| values(&inputs[k]).and_then(|v| v.first().cloned())) {
            [Some(s), Some(l), Some(d)] => int_range_count(op, &[s, l, d])?,
            _ => Dim::Unknown,
        }
    } else {
        Dim::Unknown
    };
    Ok(TensorType::new(dt, [count]))
}

/// `ceil((limit - start) / delta)` on (possibly symbolic) integers; a
/// symbolic count is assumed non-negative (`range 0, seq, 1` is `seq`).
fn int_range_count(op: &Op, v: &[Dim; 3]) -> Result<Dim, InferError> {
    let [s, l, d] = v;
    let n = match d.as_known() {
        Some(0) => return Err(invalid(op, "delta is 0")),
        Some(k) if k > 0 => l.sub(s).ceil_div(&Dim::Known(k)),
        Some(k) => s.sub(l).ceil_div(&Dim::Known(k.checked_neg().unwrap_or(0))),
        None => Dim::Unknown,
    };
    Ok(match n {
        Dim::Known(k) => Dim::Known(k.max(0)),
        n => n,
    })
}

pub(super) fn constant_of_shape(
    op: &Op,
    inputs: &[InferInput],
    value: &Tensor,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    if value.numel() != 1 {
        return Err(invalid(
            op,
            format!("value must hold one element, not {}", value.ty()),
        ));
    }
    let n = vector_len(op, &inputs[0], "shape")?;
    let dims = match values(&inputs[0]) {
        Some(v) => {
            if let Some(k) = v.iter().filter_map(Dim::as_known).find(|&k| k < 0) {
                return Err(invalid(op, format!("shape has a negative dim {k}")));
            }
            v
        }
        None => vec![
            Dim::Unknown;
            n.ok_or_else(|| invalid(
                op,
                format!("shape operand {} has an unknown length", inputs[0].ty)
            ))?
        ],
    };
    Ok(TensorType::new(value.dtype(), dims))
}

pub(super) fn eye_like(
    op: &Op,
    inputs: &[InferInput],
    dtype: Option<DType>,
) -> Result<TensorType, InferError> {
    arity(op, inputs, 1, 1)?;
    let x = inputs[0].ty;
    if x.rank() != 2 {
        return Err(invalid(op, format!("eye_like needs a 2-D input, not {x}")));
    }
    Ok(x.with_dtype(dtype.unwrap_or(x.dtype)))
}

fn block(op: &Op, inputs: &[InferInput], b: i64) -> Result<i64, InferError> {
    arity(op, inputs, 1, 1)?;
    if b < 1 {
        return Err(invalid(op, format!("blocksize {b} must be at least 1")));
    }
    if inputs[0].ty.rank() != 4 {
        return Err(invalid(
            op,
            format!("needs a 4-D [N,C,H,W] input, not {}", inputs[0].ty),
        ));
    }
    Ok(b)
}

/// `d / k`, an error when `d` is static and not divisible.
fn exact_div(op: &Op, d: &Dim, k: i64, what: &str) -> Result<Dim, InferError> {
    if let Some(v) = d.as_known() {
        if v % k != 0 {
            return Err(invalid(op, format!("{what} {v} is not divisible by {k}")));
        }
    }
    Ok(d.floor_div(&Dim::Known(k)))
}

pub(super) fn depth_to_space(
    op: &Op,
    inputs: &[InferInput],
    b: i64,
) -> Result<TensorType, InferError> {
    let b = block(op, inputs, b)?;
    let s = &inputs[0].ty.shape;
    let bb = b
        .checked_mul(b)
        .ok_or_else(|| invalid(op, "blocksize is too large"))?;
    let bd = Dim::Known(b);
    let c = exact_div(op, &s[1], bb, "channels")?;
    Ok(inputs[0]
        .ty
        .with_shape(vec![s[0].clone(), c, s[2].mul(&bd), s[3].mul(&bd)]))
}

pub(super) fn space_to_depth(
    op: &Op,
    inputs: &[InferInput],
    b: i64,
) -> Result<TensorType, InferError> {
    let b = block(op, inputs, b)?;
    let s = &inputs[0].ty.shape;
    let bb = b
        .checked_mul(b)
        .ok_or_else(|| invalid(op, "blocksize is too large"))?;
    let h = exact_div(op, &s[2], b, "height")?;
    let w = exact_div(op, &s[3], b, "width")?;
    Ok(inputs[0]
        .ty
        .with_shape(vec![s[0].clone(), s[1].mul(&Dim::Known(bb)), h, w]))
}
