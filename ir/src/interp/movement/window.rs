//! Ops that select or extend a window of the input: slice, pad, trilu,
//! eye_like, reverse_sequence.
//!
//! Slice clamps as ONNX does (negative starts/ends count from the end, then
//! clamp to `[0, dim]` for positive steps and `[0, dim-1]` / `[-1, dim-1]`
//! for negative steps, so INT_MAX / INT_MIN mean "to the end"). Pad treats
//! negative pads as cropping: output element `i` of an axis reads source
//! coordinate `i - begin`, mapped into the input by the mode, which is "pad,
//! then crop" with every mode reading the original boundaries.

use super::{arity, axes_of, build, flat_of, index_values, single, terr, vector};
use crate::attr::PadMode;
use crate::dtype::DType;
use crate::interp::strides;
use crate::tensor::Tensor;

/// The first index and element count of slicing an axis of size `dim`.
pub(super) fn slice_axis(start: i64, end: i64, step: i64, dim: usize) -> (i64, usize) {
    if dim == 0 {
        return (0, 0);
    }
    let d = dim as i128;
    let (mut s, mut e, st) = (start as i128, end as i128, step as i128);
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    let count = if st > 0 {
        s = s.max(0).min(d);
        e = e.max(0).min(d);
        (e - s + st - 1).div_euclid(st)
    } else {
        s = s.min(d - 1).max(0);
        e = e.min(d - 1).max(-1);
        (s - e - st - 1).div_euclid(-st)
    };
    (s as i64, count.max(0) as usize)
}

pub(super) fn slice(x: &[&Tensor]) -> Result<Tensor, String> {
    arity(x, 3, 5)?;
    let s = x[0].shape();
    let starts = vector(x[1], "starts")?;
    let ends = vector(x[2], "ends")?;
    let axes = match x.get(3) {
        Some(t) => vector(t, "axes")?,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match x.get(4) {
        Some(t) => vector(t, "steps")?,
        None => vec![1; starts.len()],
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
        ));
    }
    let axes = axes_of(&axes, s.len())?;
    // (first, step) per input axis; untouched axes keep everything.
    let mut first = vec![0i64; s.len()];
    let mut step = vec![1i64; s.len()];
    let mut out = s.to_vec();
    for (k, &a) in axes.iter().enumerate() {
        if steps[k] == 0 {
            return Err(format!("steps[{k}] is 0"));
        }
        let (f, n) = slice_axis(starts[k], ends[k], steps[k], s[a]);
        first[a] = f;
        step[a] = steps[k];
        out[a] = n;
    }
    let st = strides(s);
    build(x[0], &out, None, |i| {
        let mut flat = 0i64;
        for a in 0..i.len() {
            flat += (first[a] + i[a] as i64 * step[a]) * st[a] as i64;
        }
        Ok(Some(flat as usize))
    })
}

/// Map a coordinate `j` (may be outside `0..n`) into `0..n` by `mode`;
/// `None` for constant padding.
fn pad_source(j: i64, n: i64, mode: PadMode) -> Option<i64> {
    if (0..n).contains(&j) {
        return Some(j);
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Edge => Some(j.clamp(0, n - 1)),
        PadMode::Wrap => Some(j.rem_euclid(n)),
        PadMode::Reflect => {
            if n == 1 {
                return Some(0);
            }
            let p = 2 * (n - 1);
            let m = j.rem_euclid(p);
            Some(if m >= n { p - m } else { m })
        }
    }
}

pub(super) fn pad(x: &[&Tensor], mode: PadMode) -> Result<Tensor, String> {
    arity(x, 2, 3)?;
    let s = x[0].shape();
    let r = s.len();
    let pads = vector(x[1], "pads")?;
    if pads.len() != 2 * r {
        return Err(format!(
            "pads {pads:?} must have 2 × rank = {} entries for input {s:?}",
            2 * r
        ));
    }
    let dt = x[0].dtype();
    let fill = match x.get(2) {
        Some(v) if v.numel() > 0 => {
            if v.dtype() != dt || v.numel() != 1 {
                return Err(format!(
                    "constant_value must be one {dt}, not {}{:?}",
                    v.dtype(),
                    v.shape()
                ));
            }
            v.bytes().to_vec()
        }
        _ => vec![0; dt.size()],
    };
    let mut out = Vec::with_capacity(r);
    for a in 0..r {
        let n = s[a] as i128 + pads[a] as i128 + pads[r + a] as i128;
        let n = usize::try_from(n).map_err(|_| {
            format!(
                "pads {pads:?} remove more than the {} elements of axis {a}",
                s[a]
            )
        })?;
        if n > 0 && s[a] == 0 && mode != PadMode::Constant {
            return Err(format!("cannot {mode}-pad the empty axis {a} of {s:?}"));
        }
        out.push(n);
    }
    let st = strides(s);
    build(x[0], &out, Some(&fill), |i| {
        let mut flat = 0usize;
        for a in 0..r {
            match pad_source(i[a] as i64 - pads[a], s[a] as i64, mode) {
                Some(j) => flat += j as usize * st[a],
                None => return Ok(None),
            }
        }
        Ok(Some(flat))
    })
}

pub(super) fn trilu(x: &[&Tensor], upper: bool) -> Result<Tensor, String> {
    arity(x, 1, 2)?;
    let s = x[0].shape();
    if s.len() < 2 {
        return Err(format!("trilu needs rank ≥ 2, not {s:?}"));
    }
    let k = match x.get(1) {
        Some(t) => single(t, "k")?,
        None => 0,
    };
    let zero = vec![0u8; x[0].dtype().size()];
    let (rows, cols) = (s.len() - 2, s.len() - 1);
    let st = strides(s);
    build(x[0], s, Some(&zero), |i| {
        let diff = i[cols] as i64 - i[rows] as i64;
        let keep = if upper { diff >= k } else { diff <= k };
        Ok(keep.then(|| flat_of(i, &st)))
    })
}

pub(super) fn eye_like(x: &[&Tensor], dtype: Option<DType>, k: i64) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let s = x[0].shape();
    if s.len() != 2 {
        return Err(format!("eye_like needs a 2-D input, not {s:?}"));
    }
    let dt = dtype.unwrap_or(x[0].dtype());
    let one = Tensor::from_i64s(dt, &[], &[1]).map_err(terr)?;
    let mut out = Tensor::zeros(dt, s).map_err(terr)?;
    let es = dt.size();
    let bytes = out.bytes_mut();
    for r in 0..s[0] {
        let c = r as i64 + k;
        if (0..s[1] as i64).contains(&c) {
            let at = (r * s[1] + c as usize) * es;
            bytes[at..at + es].copy_from_slice(one.bytes());
        }
    }
    Ok(out)
}

pub(super) fn reverse_sequence(
    x: &[&Tensor],
    batch_axis: i64,
    time_axis: i64,
) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    let s = x[0].shape();
    if s.len() < 2 {
        return Err(format!("reverse_sequence needs rank ≥ 2, not {s:?}"));
    }
    let ax = axes_of(&[batch_axis, time_axis], s.len())?;
    let (b, t) = (ax[0], ax[1]);
    let lens = index_values(x[1], "sequence_lens")?;
    if x[1].rank() != 1 || lens.len() != s[b] {
        return Err(format!(
            "sequence_lens must be 1-D with one entry per batch ({}), not {:?}",
            s[b],
            x[1].shape()
        ));
    }
    for (i, &l) in lens.iter().enumerate() {
        if l < 0 || l as u64 > s[t] as u64 {
            return Err(format!(
                "sequence_lens[{i}] = {l} is outside [0, {}] (time axis {t})",
                s[t]
            ));
        }
    }
    let st = strides(s);
    build(x[0], s, None, |i| {
        let len = lens[i[b]] as usize;
        let mut j = i.to_vec();
        if i[t] < len {
            j[t] = len - 1 - i[t];
        }
        Ok(Some(flat_of(&j, &st)))
    })
}
