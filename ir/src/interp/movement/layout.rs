//! Ops that only re-view or re-order elements: reshape, flatten, squeeze,
//! unsqueeze (same bytes, new shape), transpose, expand, tile, concat, split,
//! depth_to_space and space_to_depth (element copies on raw bytes).

use super::{arity, axes_of, axis_of, build, flat_of, terr, vector};
use crate::attr::DepthToSpaceMode;
use crate::interp::{broadcast_shape, strides};
use crate::tensor::Tensor;

/// The output dims of `reshape`: 0 copies the input dim (unless `allowzero`),
/// one -1 is inferred from the element count.
pub(super) fn reshape_dims(
    input: &[usize],
    shape: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(shape.len());
    let mut infer_at = None;
    for (i, &s) in shape.iter().enumerate() {
        let d = match s {
            -1 => {
                if infer_at.replace(i).is_some() {
                    return Err(format!("shape {shape:?} has more than one -1"));
                }
                1
            }
            0 if !allowzero => *input.get(i).ok_or_else(|| {
                format!(
                    "shape[{i}] = 0 copies input axis {i}, but the input {input:?} has rank {}",
                    input.len()
                )
            })?,
            s if s < 0 => return Err(format!("shape[{i}] = {s} is negative")),
            s => usize::try_from(s).map_err(|_| format!("shape[{i}] = {s} is too large"))?,
        };
        out.push(d);
    }
    let numel: usize = input.iter().product();
    if let Some(k) = infer_at {
        if allowzero && shape.contains(&0) {
            return Err(format!(
                "shape {shape:?} has both 0 and -1, which allowzero makes ambiguous"
            ));
        }
        let rest = out
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&r| r != 0 && numel.is_multiple_of(r))
            .ok_or_else(|| format!("cannot infer the -1 in shape {shape:?} for input {input:?}"))?;
        out[k] = numel / rest;
    }
    let total = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if total != Some(numel) {
        return Err(format!(
            "cannot reshape {input:?} ({numel} elements) to {out:?} (shape operand {shape:?})"
        ));
    }
    Ok(out)
}

pub(super) fn reshape(x: &[&Tensor], allowzero: bool) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    let shape = vector(x[1], "shape")?;
    if x[1].rank() != 1 {
        return Err(format!("shape must be 1-D, not {:?}", x[1].shape()));
    }
    let dims = reshape_dims(x[0].shape(), &shape, allowzero)?;
    x[0].reshaped(&dims).map_err(terr)
}

pub(super) fn flatten(x: &[&Tensor], axis: i64) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let r = x[0].rank();
    // Flatten's axis may equal the rank (everything goes to the outer dim).
    let ri = r as i64;
    if axis < -ri || axis > ri {
        return Err(format!("axis {axis} is out of range [-{r}, {r}]"));
    }
    let a = if axis < 0 { axis + ri } else { axis } as usize;
    let s = x[0].shape();
    let outer: usize = s[..a].iter().product();
    let inner: usize = s[a..].iter().product();
    x[0].reshaped(&[outer, inner]).map_err(terr)
}

/// The permutation `perm` names (empty: reverse), checked.
pub(super) fn perm_of(perm: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    if perm.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    if perm.len() != rank {
        return Err(format!(
            "perm {perm:?} has {} entries for rank {rank}",
            perm.len()
        ));
    }
    axes_of(perm, rank)
}

pub(super) fn transpose(x: &[&Tensor], perm: &[i64]) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let s = x[0].shape();
    let p = perm_of(perm, s.len())?;
    let st = strides(s);
    let out_shape: Vec<usize> = p.iter().map(|&a| s[a]).collect();
    let pst: Vec<usize> = p.iter().map(|&a| st[a]).collect();
    build(x[0], &out_shape, None, |i| Ok(Some(flat_of(i, &pst))))
}

pub(super) fn squeeze(x: &[&Tensor], axes: &[i64]) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let s = x[0].shape();
    let drop = if axes.is_empty() {
        (0..s.len()).filter(|&a| s[a] == 1).collect()
    } else {
        axes_of(axes, s.len())?
    };
    for &a in &drop {
        if s[a] != 1 {
            return Err(format!(
                "cannot squeeze axis {a} of shape {s:?}: its size is {}, not 1",
                s[a]
            ));
        }
    }
    let dims: Vec<usize> = (0..s.len())
        .filter(|a| !drop.contains(a))
        .map(|a| s[a])
        .collect();
    x[0].reshaped(&dims).map_err(terr)
}

pub(super) fn unsqueeze(x: &[&Tensor], axes: &[i64]) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let s = x[0].shape();
    let r = s.len() + axes.len();
    let new = axes_of(axes, r)?;
    let mut rest = s.iter();
    let dims: Vec<usize> = (0..r)
        .map(|a| {
            if new.contains(&a) {
                1
            } else {
                *rest.next().expect("rank adds up")
            }
        })
        .collect();
    x[0].reshaped(&dims).map_err(terr)
}

pub(super) fn expand(x: &[&Tensor]) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    let shape = vector(x[1], "shape")?;
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("shape {shape:?} has a negative dim")))
        .collect::<Result<_, _>>()?;
    let s = x[0].shape();
    let out = broadcast_shape(s, &shape)
        .map_err(|_| format!("cannot expand {s:?} to {shape:?}: shapes do not broadcast"))?;
    let st = strides(s);
    let off = out.len() - s.len();
    build(x[0], &out, None, |i| {
        Ok(Some(
            (0..s.len())
                .filter(|&k| s[k] != 1)
                .map(|k| i[k + off] * st[k])
                .sum(),
        ))
    })
}

pub(super) fn tile(x: &[&Tensor]) -> Result<Tensor, String> {
    arity(x, 2, 2)?;
    let reps = vector(x[1], "repeats")?;
    let s = x[0].shape();
    if reps.len() != s.len() {
        return Err(format!(
            "repeats {reps:?} has {} entries for input of rank {}",
            reps.len(),
            s.len()
        ));
    }
    let out: Vec<usize> = s
        .iter()
        .zip(&reps)
        .map(|(&d, &r)| {
            usize::try_from(r)
                .ok()
                .and_then(|r| d.checked_mul(r))
                .ok_or_else(|| format!("repeats {reps:?} must be non-negative and small enough"))
        })
        .collect::<Result<_, _>>()?;
    let st = strides(s);
    build(x[0], &out, None, |i| {
        Ok(Some(
            i.iter()
                .zip(s)
                .zip(&st)
                .map(|((&j, &d), &t)| (j % d) * t)
                .sum(),
        ))
    })
}

/// Copies `parts` (each `[outer, len_i * inner]` in bytes) side by side.
fn interleave(out: &mut [u8], outer: usize, parts: &[(&[u8], usize)]) {
    let row: usize = parts.iter().map(|p| p.1).sum();
    for o in 0..outer {
        let mut at = o * row;
        for &(bytes, n) in parts {
            out[at..at + n].copy_from_slice(&bytes[o * n..(o + 1) * n]);
            at += n;
        }
    }
}

pub(super) fn concat(x: &[&Tensor], axis: i64) -> Result<Tensor, String> {
    arity(x, 1, usize::MAX)?;
    let first = x[0].shape();
    let a = axis_of(axis, first.len())?;
    let mut out_shape = first.to_vec();
    out_shape[a] = 0;
    for (i, t) in x.iter().enumerate() {
        let s = t.shape();
        let same = s.len() == first.len()
            && (0..s.len()).all(|k| k == a || s[k] == first[k])
            && t.dtype() == x[0].dtype();
        if !same {
            return Err(format!(
                "operand {i} is {}{s:?}, which does not concatenate with {}{first:?} on axis {a}",
                t.dtype(),
                x[0].dtype()
            ));
        }
        out_shape[a] += s[a];
    }
    let es = x[0].dtype().size();
    let outer: usize = first[..a].iter().product();
    let inner: usize = first[a + 1..].iter().product::<usize>() * es;
    let mut out = Tensor::zeros(x[0].dtype(), &out_shape).map_err(terr)?;
    let parts: Vec<(&[u8], usize)> = x
        .iter()
        .map(|t| (t.bytes(), t.shape()[a] * inner))
        .collect();
    interleave(out.bytes_mut(), outer, &parts);
    Ok(out)
}

pub(super) fn split(x: &[&Tensor], axis: i64, splits: &[i64]) -> Result<Vec<Tensor>, String> {
    arity(x, 1, 1)?;
    let s = x[0].shape();
    let a = axis_of(axis, s.len())?;
    let sizes: Vec<usize> = splits
        .iter()
        .map(|&n| usize::try_from(n).map_err(|_| format!("splits {splits:?} has a negative entry")))
        .collect::<Result<_, _>>()?;
    if splits.is_empty() || sizes.iter().sum::<usize>() != s[a] {
        return Err(format!(
            "splits {splits:?} must sum to the size {} of axis {a} of {s:?}",
            s[a]
        ));
    }
    let es = x[0].dtype().size();
    let outer: usize = s[..a].iter().product();
    let inner: usize = s[a + 1..].iter().product::<usize>() * es;
    let row = s[a] * inner;
    let src = x[0].bytes();
    let mut start = 0;
    let mut outs = Vec::with_capacity(sizes.len());
    for &n in &sizes {
        let mut shape = s.to_vec();
        shape[a] = n;
        let mut t = Tensor::zeros(x[0].dtype(), &shape).map_err(terr)?;
        let dst = t.bytes_mut();
        let w = n * inner;
        for o in 0..outer {
            let from = o * row + start * inner;
            dst[o * w..(o + 1) * w].copy_from_slice(&src[from..from + w]);
        }
        start += n;
        outs.push(t);
    }
    Ok(outs)
}

fn blocksize_of(b: i64) -> Result<usize, String> {
    usize::try_from(b)
        .ok()
        .filter(|&b| b >= 1)
        .ok_or_else(|| format!("blocksize {b} must be at least 1"))
}

fn nchw<'a>(t: &'a Tensor, op: &str) -> Result<&'a [usize], String> {
    let s = t.shape();
    if s.len() != 4 {
        return Err(format!("{op} needs a 4-D [N,C,H,W] input, not {s:?}"));
    }
    Ok(s)
}

pub(super) fn depth_to_space(
    x: &[&Tensor],
    blocksize: i64,
    mode: DepthToSpaceMode,
) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let b = blocksize_of(blocksize)?;
    let s = nchw(x[0], "depth_to_space")?;
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let bb = b * b;
    if c % bb != 0 {
        return Err(format!(
            "channels {c} of {s:?} are not divisible by blocksize² = {bb}"
        ));
    }
    let co = c / bb;
    let out = [n, co, h * b, w * b];
    let st = strides(s);
    build(x[0], &out, None, |i| {
        let (oc, oh, ow) = (i[1], i[2], i[3]);
        let (bi, bj) = (oh % b, ow % b);
        let ic = match mode {
            // DCR: the block offset is the outer part of the channel.
            DepthToSpaceMode::Dcr => (bi * b + bj) * co + oc,
            // CRD: the output channel is the outer part.
            DepthToSpaceMode::Crd => oc * bb + bi * b + bj,
        };
        Ok(Some(flat_of(&[i[0], ic, oh / b, ow / b], &st)))
    })
}

pub(super) fn space_to_depth(
    x: &[&Tensor],
    blocksize: i64,
    mode: DepthToSpaceMode,
) -> Result<Tensor, String> {
    arity(x, 1, 1)?;
    let b = blocksize_of(blocksize)?;
    let s = nchw(x[0], "space_to_depth")?;
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    if h % b != 0 || w % b != 0 {
        return Err(format!(
            "height and width of {s:?} are not divisible by blocksize {b}"
        ));
    }
    let out = [n, c * b * b, h / b, w / b];
    let st = strides(s);
    build(x[0], &out, None, |i| {
        let (blk, ic) = match mode {
            // DCR: the block offset is the outer part of the channel.
            DepthToSpaceMode::Dcr => (i[1] / c, i[1] % c),
            // CRD: the input channel is the outer part.
            DepthToSpaceMode::Crd => (i[1] % (b * b), i[1] / (b * b)),
        };
        let (bi, bj) = (blk / b, blk % b);
        Ok(Some(flat_of(
            &[i[0], ic, i[2] * b + bi, i[3] * b + bj],
            &st,
        )))
    })
}
