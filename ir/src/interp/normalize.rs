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

#[cfg(test)]
mod tests {
    //! Expected values come from numpy (the formulas in the header, in f64).
    use super::*;

    /// A [2, 3, 2, 2] input with uneven values.
    fn x() -> Vec<f64> {
        let pat = [0.0, 0.3, -0.7, 1.1];
        (0..24).map(|i| i as f64 * 0.5 - 3.0 + pat[i % 4]).collect()
    }

    fn t(shape: &[usize], v: &[f64]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    fn run(op: &Op, inputs: &[&Tensor]) -> Vec<f64> {
        let r = eval(op, inputs).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
        assert_eq!(r[0].shape(), inputs[0].shape());
        assert_eq!(r[0].dtype(), inputs[0].dtype());
        r[0].to_f64s()
    }

    fn close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 + 1e-9 * w.abs(),
                "element {i}: {g} vs {w}\n{got:?}"
            );
        }
    }

    #[test]
    fn batch_and_instance_norm() {
        let x = t(&[2, 3, 2, 2], &x());
        let (s, b) = (t(&[3], &[1.0, 0.5, -2.0]), t(&[3], &[0.1, -0.2, 0.3]));
        let (m, v) = (t(&[3], &[0.5, -1.0, 2.0]), t(&[3], &[1.0, 4.0, 0.25]));
        let bn = run(&Op::BatchNorm { epsilon: 1e-5 }, &[&x, &s, &b, &m, &v]);
        close(
            &bn[..8],
            &[
                -3.3999825001316912,
                -2.5999865001015903,
                -3.0999840001204033,
                -0.7999955000338634,
                -0.2,
                -2.499995249427567e-07,
                -0.12500009374982185,
                0.44999918750154394,
            ],
        );
        close(
            &bn[20..],
            &[
                -19.699600012009704,
                -22.899536013931257,
                -20.899576012730286,
                -30.09939201825475,
            ],
        );
        let inn = run(&Op::InstanceNorm { epsilon: 1e-5 }, &[&x, &s, &b]);
        close(
            &inn[..12],
            &[
                -0.8172882113951071,
                -0.02395786640474422,
                -0.5197893320237211,
                1.761035409823573,
                -0.6586441056975536,
                -0.26197893320237214,
                -0.5098946660118606,
                0.6305177049117863,
                2.134576422790214,
                0.547915732809488,
                1.5395786640474418,
                -3.022070819647146,
            ],
        );
        // Rank 2: nothing to normalize over, so y = bias.
        let x2 = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let r = run(&Op::InstanceNorm { epsilon: 1e-5 }, &[&x2, &s, &b]);
        close(&r, &[0.1, -0.2, 0.3, 0.1, -0.2, 0.3]);
        let e = eval(
            &Op::BatchNorm { epsilon: 1e-5 },
            &[&x, &s, &b, &m, &t(&[2], &[1., 1.])],
        );
        assert!(e.unwrap_err().contains("var"));
    }

    #[test]
    fn layer_group_rms_norm() {
        let xv = x();
        let x4 = t(&[2, 3, 2, 2], &xv);
        let ls = t(&[2], &[2.0, -1.0]);
        let lb = t(&[2, 1], &[0.5, 0.25]);
        let ln = run(
            &Op::LayerNorm {
                axis: 2,
                epsilon: 1e-5,
            },
            &[&x4, &ls, &lb],
        );
        close(
            &ln[..4],
            &[
                -1.3345764227902142,
                0.6239578664047443,
                -0.9895786640474422,
                -1.411035409823573,
            ],
        );
        close(
            &ln[20..],
            &[
                -1.3345764227902164,
                0.6239578664047452,
                -0.9895786640474444,
                -1.411035409823572,
            ],
        );
        // Without bias the shift is gone.
        let nb = run(
            &Op::LayerNorm {
                axis: -2,
                epsilon: 1e-5,
            },
            &[&x4, &ls],
        );
        close(
            &nb[..2],
            &[-1.3345764227902142 - 0.5, 0.6239578664047443 - 0.5],
        );

        let xg = t(&[2, 6, 2], &xv);
        let s6 = t(&[6], &[1., 2., 3., -1., 0.5, 0.25]);
        let b6 = t(&[6], &[0., 0.1, 0.2, 0.3, 0.4, 0.5]);
        let gn = run(
            &Op::GroupNorm {
                epsilon: 1e-5,
                num_groups: 3,
            },
            &[&xg, &s6, &b6],
        );
        close(
            &gn[..12],
            &[
                -0.9172882113951071,
                -0.12395786640474422,
                -1.1395786640474421,
                3.422070819647146,
                -2.5518646341853217,
                -0.17187359921423284,
                0.9197893320237212,
                -1.3610354098235726,
                -0.05864410569755352,
                0.338021066797628,
                0.3450526669940698,
                0.9152588524558932,
            ],
        );

        let xr = t(&[6, 4], &xv);
        let rs = t(&[4], &[1.0, 2.0, 0.5, -1.0]);
        let rms = run(
            &Op::RmsNorm {
                axis: -1,
                epsilon: 1e-6,
            },
            &[&xr, &rs],
        );
        close(
            &rms[..8],
            &[
                -1.3003593324294902,
                -1.9071936875632525,
                -0.5851616995932706,
                0.17338124432393198,
                -0.9889358692811947,
                -0.3955743477124779,
                -0.3461275542484181,
                -1.5822973908499116,
            ],
        );
    }

    #[test]
    fn lp_mvn_lrn() {
        let lp = t(&[2, 3], &[3.0, -4.0, 0.0, 0.0, 0.0, 0.0]);
        close(
            &run(&Op::LpNorm { axis: 1, p: 2 }, &[&lp]),
            &[0.6, -0.8, 0., 0., 0., 0.],
        );
        close(
            &run(&Op::LpNorm { axis: 0, p: 1 }, &[&lp]),
            &[1., -1., 0., 0., 0., 0.],
        );

        let x4 = t(&[2, 3, 2, 2], &x());
        let mvn = run(
            &Op::MeanVarianceNorm {
                axes: vec![0, 2, 3],
            },
            &[&x4],
        );
        close(
            &mvn[..4],
            &[
                -1.240148047376291,
                -0.9873790186116966,
                -1.145359661589568,
                -0.4186487038913593,
            ],
        );
        close(
            &mvn[12..16],
            &[
                0.6556196683581667,
                0.9083886971227609,
                0.7504080541448894,
                1.4771190118430981,
            ],
        );
        // Constant groups normalize to 0, not NaN.
        let c = t(&[2, 2], &[5.0, 5.0, 1.0, 1.0]);
        close(
            &run(&Op::MeanVarianceNorm { axes: vec![1] }, &[&c]),
            &[0.0; 4],
        );

        let lrn = |size, bias| Op::Lrn {
            alpha: 0.5,
            beta: 0.75,
            bias,
            size,
        };
        let r3 = run(&lrn(3, 1.0), &[&x4]);
        close(
            &r3[..4],
            &[
                -1.4376219845541132,
                -1.4078761345065953,
                -1.4472391048032158,
                -0.30219415875701827,
            ],
        );
        close(
            &r3[8..12],
            &[
                0.8059274488676564,
                1.2978513725085439,
                1.030366694980461,
                1.3812879981977009,
            ],
        );
        let r2 = run(&lrn(2, 2.0), &[&x4]);
        close(
            &r2[4..8],
            &[
                -0.5029733718731741,
                -0.091905851778549,
                -0.34740190852862013,
                0.4237278291750216,
            ],
        );
        close(
            &r2[8..12],
            &[
                0.5443310539518174,
                0.8293593882312469,
                0.6694921868007051,
                1.0394510338389031,
            ],
        );
    }

    #[test]
    fn empty_and_low_precision() {
        let e = Tensor::zeros(crate::DType::F32, &[0, 3, 4]).unwrap();
        let c = t(&[3], &[1., 1., 1.]).to_f64s();
        let c = Tensor::from_f64s(crate::DType::F32, &[3], &c).unwrap();
        assert_eq!(
            run(&Op::InstanceNorm { epsilon: 1e-5 }, &[&e, &c, &c]).len(),
            0
        );
        assert_eq!(
            run(
                &Op::GroupNorm {
                    epsilon: 1e-5,
                    num_groups: 3
                },
                &[&e, &c, &c]
            )
            .len(),
            0
        );
        let e2 = Tensor::zeros(crate::DType::F32, &[2, 3, 0]).unwrap();
        assert_eq!(
            run(
                &Op::Lrn {
                    alpha: 1.0,
                    beta: 1.0,
                    bias: 1.0,
                    size: 3
                },
                &[&e2]
            )
            .len(),
            0
        );
        assert_eq!(
            run(
                &Op::LayerNorm {
                    axis: 1,
                    epsilon: 1e-5
                },
                &[&e, &t(&[1], &[1.0])]
            )
            .len(),
            0
        );
        // bf16 input: computed in f64, rounded once.
        let xb = Tensor::from_f64s(crate::DType::BF16, &[1, 2], &[1.0, 3.0]).unwrap();
        let sb = Tensor::from_f64s(crate::DType::BF16, &[2], &[1.0, 1.0]).unwrap();
        let r = run(
            &Op::LayerNorm {
                axis: -1,
                epsilon: 0.0,
            },
            &[&xb, &sb],
        );
        assert_eq!(r, vec![-1.0, 1.0]);
        let xi = Tensor::from_vec(&[1, 2], vec![1i32, 2]).unwrap();
        assert!(eval(&Op::LpNorm { axis: 1, p: 2 }, &[&xi]).is_err());
    }
}
