//! Semantics of the normalize ops (inference forms), computed in f64 and
//! rounded once to `x`'s element type. Variances are population variances
//! (divide by the count), computed in two passes. `x` is `[N, C, ...]` where
//! an op is per channel.
//!
//! - `batch_norm %x, %scale, %bias, %mean, %var`:
//!   `(x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c]`.
//! - `instance_norm %x, %scale, %bias`: the same with mean and variance of
//!   each `(n, c)` over the spatial axes (none for rank 2: then `y = bias`).
//! - `layer_norm %x, %scale[, %bias]`: mean and variance over `axis..rank`;
//!   scale and bias broadcast to `x.shape[axis..]`.
//! - `group_norm %x, %scale, %bias` (opset 21): mean and variance over each
//!   group of `C / num_groups` channels (and the spatial axes); scale and bias
//!   per channel.
//! - `rms_norm %x, %scale`: `x / sqrt(mean(x^2 over axis..rank) + eps) * scale`.
//! - `lp_norm`: `x / ||x||_p` along `axis`, p in {1, 2} (p = 1 sums |x|; ONNX's
//!   reference forgets the abs). A zero norm gives 0, as ONNX's reference and
//!   onnxruntime do, not 0/0.
//! - `mean_variance_norm`: `(x - mean) / (sqrt(var) + 1e-9)` over `axes`
//!   (empty: all), the constant from ONNX's function body.
//! - `lrn`: `x / (bias + alpha / size * sum(x^2 over the channel window))^beta`,
//!   window `[c - floor((size-1)/2), c + ceil((size-1)/2)]` clipped to `0..C`.
//!
//! Operands are checked by shape inference first (`super::reduce::validate`).

use super::reduce::{axes_mask, plan, validate};
use super::{broadcast_map, norm_axis};
use crate::op::Op;
use crate::tensor::Tensor;

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    validate(op, inputs)?;
    let x = inputs[0];
    let v = x.to_f64s();
    let p: Vec<Vec<f64>> = inputs[1..].iter().map(|t| t.to_f64s()).collect();
    let shape = x.shape();
    let out = match op {
        Op::BatchNorm { epsilon } => {
            let eps = f64::from(*epsilon);
            let (c, spatial) = (shape[1], shape[2..].iter().product::<usize>());
            let (scale, bias, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
            v.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let ch = (i / spatial) % c;
                    (x - mean[ch]) / (var[ch] + eps).sqrt() * scale[ch] + bias[ch]
                })
                .collect()
        }
        Op::InstanceNorm { epsilon } => {
            let (c, spatial) = (shape[1], shape[2..].iter().product::<usize>());
            let mut out = vec![0.0; v.len()];
            // Row `r` is channel `r % C` of sample `r / C`.
            let rows = v.chunks(spatial.max(1)).zip(out.chunks_mut(spatial.max(1)));
            for (row, (src, dst)) in rows.enumerate() {
                let ch = row % c;
                standardize(src, dst, f64::from(*epsilon), |_| p[0][ch], |_| p[1][ch]);
            }
            out
        }
        Op::GroupNorm {
            epsilon,
            num_groups,
        } => {
            let (c, spatial) = (shape[1], shape[2..].iter().product::<usize>());
            // Checked positive and dividing C by inference.
            let groups = *num_groups as usize;
            let per_group = (c / groups) * spatial;
            let mut out = vec![0.0; v.len()];
            // A group's elements are contiguous: row `r` is group `r % G` of
            // sample `r / G`. (An empty group means an empty `x`.)
            let rows = v
                .chunks(per_group.max(1))
                .zip(out.chunks_mut(per_group.max(1)));
            for (row, (src, dst)) in rows.enumerate() {
                let ch = |j: usize| (row % groups) * (c / groups) + j / spatial;
                standardize(
                    src,
                    dst,
                    f64::from(*epsilon),
                    |j| p[0][ch(j)],
                    |j| p[1][ch(j)],
                );
            }
            out
        }
        Op::LayerNorm { axis, epsilon } | Op::RmsNorm { axis, epsilon } => {
            let a = norm_axis(*axis, x.rank())?;
            let normalized = &shape[a..];
            let cols: usize = normalized.iter().product();
            // Inference checked that scale and bias broadcast to `normalized`.
            let maps: Vec<Vec<usize>> = inputs[1..]
                .iter()
                .map(|t| broadcast_map(normalized, t.shape()))
                .collect();
            let eps = f64::from(*epsilon);
            let mut out = vec![0.0; v.len()];
            for (src, dst) in v.chunks(cols.max(1)).zip(out.chunks_mut(cols.max(1))) {
                let scale = |j: usize| p[0][maps[0][j]];
                if let Op::RmsNorm { .. } = op {
                    let ms = src.iter().map(|x| x * x).sum::<f64>() / src.len() as f64;
                    let rms = (ms + eps).sqrt();
                    for (j, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
                        *d = s / rms * scale(j);
                    }
                } else {
                    let bias = |j: usize| p.get(1).map_or(0.0, |b| b[maps[1][j]]);
                    standardize(src, dst, eps, scale, bias);
                }
            }
            out
        }
        Op::LpNorm { axis, p: order } => {
            let a = norm_axis(*axis, x.rank())?;
            let (len, inner) = (shape[a], shape[a + 1..].iter().product::<usize>());
            let mut out = vec![0.0; v.len()];
            let lanes = if len * inner == 0 { 0 } else { v.len() / len };
            for lane in 0..lanes {
                let (o, i) = (lane / inner, lane % inner);
                let at = |k: usize| (o * len + k) * inner + i;
                let norm = if *order == 1 {
                    (0..len).map(|k| v[at(k)].abs()).sum::<f64>()
                } else {
                    (0..len).map(|k| v[at(k)] * v[at(k)]).sum::<f64>().sqrt()
                };
                for k in 0..len {
                    out[at(k)] = if norm == 0.0 { 0.0 } else { v[at(k)] / norm };
                }
            }
            out
        }
        Op::MeanVarianceNorm { axes } => {
            let pl = plan(shape, &axes_mask(axes, x.rank())?);
            let n = pl.count as f64;
            let mut mean = vec![0.0; pl.groups];
            for (&g, &x) in pl.group_of.iter().zip(&v) {
                mean[g] += x;
            }
            mean.iter_mut().for_each(|m| *m /= n);
            let mut var = vec![0.0; pl.groups];
            for (&g, &x) in pl.group_of.iter().zip(&v) {
                var[g] += (x - mean[g]) * (x - mean[g]);
            }
            pl.group_of
                .iter()
                .zip(&v)
                .map(|(&g, &x)| (x - mean[g]) / ((var[g] / n).sqrt() + 1e-9))
                .collect()
        }
        Op::Lrn {
            alpha,
            beta,
            bias,
            size,
        } => {
            let (c, spatial) = (shape[1], shape[2..].iter().product::<usize>());
            // Checked positive by inference.
            let size = *size as usize;
            let (below, above) = ((size - 1) / 2, size / 2);
            let (alpha, beta, bias) = (f64::from(*alpha), f64::from(*beta), f64::from(*bias));
            let mut out = vec![0.0; v.len()];
            for (i, o) in out.iter_mut().enumerate() {
                let (n, ch, s) = (i / (c * spatial), (i / spatial) % c, i % spatial);
                let lo = ch.saturating_sub(below);
                let hi = (ch + above).min(c - 1);
                let sq: f64 = (lo..=hi)
                    .map(|cc| v[(n * c + cc) * spatial + s].powi(2))
                    .sum();
                *o = v[i] / (bias + alpha / size as f64 * sq).powf(beta);
            }
            out
        }
        _ => unreachable!("{} is not a normalize op", op.name()),
    };
    Ok(vec![
        Tensor::from_f64s(x.dtype(), shape, &out).map_err(|e| e.to_string())?
    ])
}

/// `dst[j] = (src[j] - mean) / sqrt(var + eps) * scale(j) + bias(j)` with the
/// mean and population variance of `src`.
fn standardize(
    src: &[f64],
    dst: &mut [f64],
    eps: f64,
    scale: impl Fn(usize) -> f64,
    bias: impl Fn(usize) -> f64,
) {
    let n = src.len() as f64;
    let mean = src.iter().sum::<f64>() / n;
    let var = src.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for (j, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
        *d = (s - mean) * inv * scale(j) + bias(j);
    }
}
