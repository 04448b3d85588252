//! QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear.
//!
//! Scale layouts (checked by shape inference): one element (per tensor), 1-D
//! along `axis` (per axis), or `block_size > 0` (blocked: element `i` along
//! `axis` uses scale entry `i / block_size`). The zero point has the scale's
//! shape.

use super::{saturate, DType};
use crate::interp::elementwise::data::from_f64s;
use crate::interp::norm_axis;
use crate::tensor::Tensor;

/// For each element of x, the index of its scale / zero point.
fn param_index(
    x: &[usize],
    scale: &Tensor,
    axis: i64,
    block_size: i64,
) -> Result<Vec<usize>, String> {
    let n: usize = x.iter().product();
    if block_size == 0 && scale.numel() == 1 {
        return Ok(vec![0; n]);
    }
    let a = norm_axis(axis, x.len())?;
    let d = x[a];
    let inner: usize = x[a + 1..].iter().product();
    // Per axis is blocked with blocks of one and nothing outside the axis.
    let (bs, outer_len) = if block_size == 0 {
        (1, 0)
    } else {
        (block_size as usize, scale.shape()[a])
    };
    Ok((0..n)
        .map(|i| {
            let c = (i / inner) % d;
            if block_size == 0 {
                c
            } else {
                let outer = i / (inner * d);
                (outer * outer_len + c / bs) * inner + i % inner
            }
        })
        .collect())
}

pub(super) fn quantize(
    x: &Tensor,
    scale: &Tensor,
    zp: Option<&Tensor>,
    axis: i64,
    block_size: i64,
) -> Result<Tensor, String> {
    let out = zp.map_or(DType::U8, Tensor::dtype);
    let idx = param_index(x.shape(), scale, axis, block_size)?;
    let (xs, ss) = (x.to_f64s(), scale.to_f64s());
    let zs = zp.map_or_else(|| vec![0; ss.len()], Tensor::to_i64s);
    let wide = x.dtype() == DType::F64 || scale.dtype() == DType::F64;
    let q: Vec<i64> = xs
        .iter()
        .zip(&idx)
        .map(|(&v, &k)| {
            let r = if wide {
                (v / ss[k]).round_ties_even()
            } else {
                f64::from((v as f32 / ss[k] as f32).round_ties_even())
            };
            saturate(r + zs[k] as f64, out)
        })
        .collect();
    Tensor::from_i64s(out, x.shape(), &q).map_err(|e| e.to_string())
}

pub(super) fn dequantize(
    x: &Tensor,
    scale: &Tensor,
    zp: Option<&Tensor>,
    axis: i64,
    block_size: i64,
) -> Result<Tensor, String> {
    let idx = param_index(x.shape(), scale, axis, block_size)?;
    let (xs, ss) = (x.to_i64s(), scale.to_f64s());
    let zs = zp.map_or_else(|| vec![0; ss.len()], Tensor::to_i64s);
    let y: Vec<f64> = xs
        .iter()
        .zip(&idx)
        .map(|(&v, &k)| (v - zs[k]) as f64 * ss[k])
        .collect();
    from_f64s(scale.dtype(), x.shape(), &y)
}

/// ONNX DynamicQuantizeLinear, in f32 as ONNX's reference computes it:
/// the range [min(0, min x), max(0, max x)] maps onto 0..=255;
/// `scale = range / 255` (1/255 for an all-zero range);
/// `zp = round(saturate(0 - min / scale))`; `y = saturate(round(x / scale) + zp)`.
/// NaNs are ignored when finding the range.
pub(super) fn dynamic(x: &Tensor) -> Result<Vec<Tensor>, String> {
    let xs = x.as_slice::<f32>().map_err(|e| e.to_string())?;
    let (lo, hi) = xs
        .iter()
        .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = if hi == lo { 1.0 } else { hi - lo };
    let scale = range / 255.0;
    let zp = (0.0 - lo / scale).clamp(0.0, 255.0).round_ties_even();
    let y: Vec<u8> = xs
        .iter()
        .map(|&v| saturate(f64::from((v / scale).round_ties_even() + zp), DType::U8) as u8)
        .collect();
    Ok(vec![
        Tensor::from_vec(x.shape(), y).map_err(|e| e.to_string())?,
        Tensor::scalar(scale),
        Tensor::scalar(zp as u8),
    ])
}

/// `qlinear_add %a, %a_scale, %a_zp, %b, %b_scale, %b_zp, %c_scale, %c_zp`:
/// `quantize(dequantize(a) + dequantize(b))` with the per-tensor
/// parameters, each step as its op computes it.
pub(super) fn qlinear_add(ins: &[&Tensor]) -> Result<Tensor, String> {
    let scale = |t: &Tensor| t.to_f64s()[0] as f32;
    let zero = |t: &Tensor| t.to_i64s()[0];
    let (a, b) = (ins[0], ins[3]);
    let (sa, za, sb, zb) = (scale(ins[1]), zero(ins[2]), scale(ins[4]), zero(ins[5]));
    let (sc, zc, out) = (scale(ins[6]), zero(ins[7]), ins[7].dtype());
    let shape = crate::interp::broadcast_shape(a.shape(), b.shape())?;
    let (ma, mb) = (
        crate::interp::broadcast_map(&shape, a.shape()),
        crate::interp::broadcast_map(&shape, b.shape()),
    );
    let (av, bv) = (a.to_i64s(), b.to_i64s());
    let y: Vec<i64> = ma
        .iter()
        .zip(&mb)
        .map(|(&i, &j)| {
            let da = ((av[i] - za) as f64 * f64::from(sa)) as f32;
            let db = ((bv[j] - zb) as f64 * f64::from(sb)) as f32;
            let r = f64::from(((da + db) / sc).round_ties_even());
            saturate(r + zc as f64, out)
        })
        .collect();
    Tensor::from_i64s(out, &shape, &y).map_err(|e| e.to_string())
}
