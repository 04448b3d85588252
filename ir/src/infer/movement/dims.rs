//! [`eval_dims`]: the values of small integer results (shape vectors) that
//! movement ops compute from operand values known at compile time — how
//! `shape → gather → concat → reshape` subgraphs resolve symbolically.
//!
//! Guarantees: `Some(v)` only when the result is a rank-0/1 integer tensor
//! whose elements are exactly `v` (row-major; a scalar gives one element);
//! `None` whenever anything is unknown or the op would fail.

use super::select::static_slice_count;
use super::{known_ints, shape_window, values};
use crate::dim::Dim;
use crate::infer::{norm_axis, InferInput};
use crate::op::Op;

/// Results this long or longer are not worth tracking element by element.
const MAX_LEN: usize = 64;

/// The elements of the (first) result of `op`, when they follow from what is
/// known about its operands. Covers shape, size, identity, gather (axis 0 of
/// a vector), concat, slice, squeeze/unsqueeze and reshape of scalars and
/// vectors, constant_of_shape and range.
pub fn eval_dims(op: &Op, inputs: &[InferInput]) -> Option<Vec<Dim>> {
    let v = match (op, inputs) {
        (Op::Shape { start, end }, [x]) => {
            let (s, e) = shape_window(*start, *end, x.ty.rank());
            x.ty.shape[s..e].to_vec()
        }
        (Op::Size, [x]) => vec![x.ty.numel()],
        (Op::Identity, [x]) => values(x)?,
        (Op::Gather { axis }, [d, i]) => {
            if d.ty.rank() != 1 || i.ty.rank() > 1 || norm_axis(*axis, 1).is_err() {
                return None;
            }
            let dv = values(d)?;
            let n = dv.len() as i64;
            known_ints(i)?
                .iter()
                .map(|&k| {
                    let k = if k < 0 { k + n } else { k };
                    (0..n).contains(&k).then(|| dv[k as usize].clone())
                })
                .collect::<Option<_>>()?
        }
        (Op::Concat { .. }, ins) if !ins.is_empty() => {
            let mut out = vec![];
            for i in ins {
                if i.ty.rank() != 1 {
                    return None;
                }
                out.extend(values(i)?);
            }
            out
        }
        (Op::Slice, [x, rest @ ..]) if x.ty.rank() == 1 && (2..=4).contains(&rest.len()) => {
            let xv = values(x)?;
            let ints: Vec<Vec<i64>> = rest.iter().map(known_ints).collect::<Option<_>>()?;
            let (starts, ends) = (&ints[0], &ints[1]);
            if starts.len() != 1 || ends.len() != 1 {
                return None;
            }
            let ax = ints.get(2).map_or(0, |a| a.first().copied().unwrap_or(-99));
            let step = ints.get(3).map_or(1, |s| s.first().copied().unwrap_or(0));
            if norm_axis(ax, 1).is_err() || step == 0 {
                return None;
            }
            let n = xv.len() as i64;
            let count = static_slice_count(starts[0], ends[0], step, n);
            if count == 0 {
                return Some(vec![]);
            }
            let first = if starts[0] < 0 {
                starts[0] + n
            } else {
                starts[0]
            };
            let first = if step > 0 {
                first.clamp(0, n)
            } else {
                first.clamp(0, n - 1)
            };
            (0..count)
                .map(|i| xv[(first + i * step) as usize].clone())
                .collect()
        }
        (Op::Squeeze { .. }, [x]) if x.ty.rank() == 1 => values(x)?,
        (Op::Unsqueeze { axes }, [x]) if x.ty.rank() + axes.len() <= 1 => values(x)?,
        (Op::Reshape { .. }, [x, s]) if x.ty.rank() <= 1 => {
            let xv = values(x)?;
            let shape = known_ints(s)?;
            let fits = match shape.as_slice() {
                [] => xv.len() == 1,
                [k] => *k == -1 || *k == xv.len() as i64 || (*k == 0 && x.ty.rank() == 1),
                _ => false,
            };
            if !fits {
                return None;
            }
            xv
        }
        (Op::ConstantOfShape { value }, [s]) => {
            if !value.dtype().is_int() || value.numel() != 1 {
                return None;
            }
            let n = match known_ints(s)?.as_slice() {
                [] => 1,
                [n] => usize::try_from(*n).ok().filter(|&n| n <= MAX_LEN)?,
                _ => return None,
            };
            vec![Dim::Known(value.to_i64s()[0]); n]
        }
        (Op::Range, [s, l, d]) if s.ty.dtype.is_int() => {
            let [s, l, d] = [s, l, d].map(|i| known_ints(i).and_then(|v| v.first().copied()));
            let (s, l, d) = (s?, l?, d?);
            if d == 0 {
                return None;
            }
            let n = static_range_len(s, l, d).filter(|&n| n <= MAX_LEN)?;
            (0..n as i64).map(|i| Dim::Known(s + i * d)).collect()
        }
        _ => return None,
    };
    (v.len() <= MAX_LEN || matches!(op, Op::Shape { .. })).then_some(v)
}

fn static_range_len(s: i64, l: i64, d: i64) -> Option<usize> {
    let (s, l, d) = (s as i128, l as i128, d as i128);
    let (q, m) = ((l - s) / d, (l - s) % d);
    let n = q + i128::from(m != 0 && (m > 0) == (d > 0));
    usize::try_from(n.max(0)).ok()
}
