//! Convolution and transposed convolution, N-D, in f64.
//!
//! - `conv %x, %w[, %b]`: `x: [N, C, D...]`, `w: [M, C/group, k...]`,
//!   `b: [M]`. Output channel `m` of group `g = m / (M/group)` is
//!   `y[n,m,o] = b[m] + sum_{c,k} x[n, g*C/group + c, o*s - pb + k*d] * w[m,c,k]`,
//!   where taps that fall in the padding read zero. Sizes and pads come from
//!   `window.rs` (explicit pads, `same_upper`/`same_lower`, `valid`).
//! - `conv_transpose %x, %w[, %b]`: `w: [C, M/group, k...]`; every input
//!   element scatters `x[n,c,i] * w[c,m,k]` to output position
//!   `i*s + k*d - pb` of channel `g*M/group + m` (positions outside the
//!   output are dropped), then `b` is added.
//!
//! The loops here are `pub(crate)` so the quantized convolutions can run them
//! on zero-point-adjusted values (exact in f64 for 8-bit operands).

use super::window::{conv_geometry, conv_transpose_geometry, ConvAttrs, Geometry};
use super::{checked_numel, dims, sizes};
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

/// Conv or ConvTranspose on float operands of dtype `dt`.
pub(crate) fn eval(op: &Op, dt: DType, inputs: &[&Tensor]) -> Result<Tensor, String> {
    let (x, w) = (inputs[0], inputs[1]);
    let bias = inputs.get(2).map(|b| dims(b.shape()));
    let (xd, wd) = (dims(x.shape()), dims(w.shape()));
    let (geom, group, transposed) = match op {
        Op::Conv {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
        } => {
            let a = ConvAttrs {
                strides,
                pads,
                dilations,
                group: *group,
                auto_pad: *auto_pad,
            };
            (conv_geometry(&xd, &wd, bias.as_deref(), a)?, *group, false)
        }
        Op::ConvTranspose {
            strides,
            pads,
            dilations,
            group,
            auto_pad,
            output_padding,
            output_shape,
        } => {
            let a = ConvAttrs {
                strides,
                pads,
                dilations,
                group: *group,
                auto_pad: *auto_pad,
            };
            let g = conv_transpose_geometry(
                &xd,
                &wd,
                bias.as_deref(),
                a,
                output_padding,
                output_shape,
            )?;
            (g, *group, true)
        }
        _ => unreachable!("{} is not a convolution", op.name()),
    };
    let (xv, wv) = (x.to_f64s(), w.to_f64s());
    let bv = inputs.get(2).map(|b| b.to_f64s());
    let data = ConvData {
        x: &xv,
        x_shape: x.shape(),
        w: &wv,
        w_shape: w.shape(),
        bias: bv.as_deref(),
        group: group as usize,
    };
    let (shape, y) = if transposed {
        conv_transpose_f64(&data, &geom)?
    } else {
        conv_f64(&data, &geom)?
    };
    Tensor::from_f64s(dt, &shape, &y).map_err(|e| e.to_string())
}

/// Operands of a convolution, already converted to f64 and checked by
/// [`conv_geometry`] / [`conv_transpose_geometry`].
pub(crate) struct ConvData<'a> {
    pub x: &'a [f64],
    pub x_shape: &'a [usize],
    pub w: &'a [f64],
    pub w_shape: &'a [usize],
    pub bias: Option<&'a [f64]>,
    pub group: usize,
}

/// Row-major multi-index of flat index `f` in `shape`, written to `idx`.
fn unravel(mut f: usize, shape: &[usize], idx: &mut [usize]) {
    for (i, &d) in shape.iter().enumerate().rev() {
        idx[i] = f % d;
        f /= d;
    }
}

/// The checked result shape and `(strides, dilations, pads_begin)` per axis.
type Static = (Vec<usize>, Vec<i64>, Vec<i64>, Vec<i64>);

fn static_geometry(g: &Geometry) -> Result<Static, String> {
    let shape = sizes(&g.shape)?;
    checked_numel(&shape)?;
    let pb = g.static_axes()?.into_iter().map(|(_, p, _)| p).collect();
    Ok((
        shape,
        g.window.strides.clone(),
        g.window.dilations.clone(),
        pb,
    ))
}

/// Forward convolution; returns the result shape and values.
pub(crate) fn conv_f64(d: &ConvData, g: &Geometry) -> Result<(Vec<usize>, Vec<f64>), String> {
    let (shape, s, dil, pb) = static_geometry(g)?;
    let (nb, c) = (d.x_shape[0], d.x_shape[1]);
    let (m, cg) = (d.w_shape[0], d.w_shape[1]);
    let mg = m / d.group;
    let (in_sp, k_sp, out_sp) = (&d.x_shape[2..], &d.w_shape[2..], &shape[2..]);
    let in_n: usize = in_sp.iter().product();
    let k_n: usize = k_sp.iter().product();
    let out_n: usize = out_sp.iter().product();
    let in_strides = super::super::strides(in_sp);
    let mut y = Vec::with_capacity(checked_numel(&shape)?);
    let (mut oi, mut ki) = (vec![0; out_sp.len()], vec![0; k_sp.len()]);
    for n in 0..nb {
        for mm in 0..m {
            let grp = mm / mg;
            let x0 = (n * c + grp * cg) * in_n;
            let w0 = mm * cg * k_n;
            for o in 0..out_n {
                unravel(o, out_sp, &mut oi);
                let mut acc = d.bias.map_or(0.0, |b| b[mm]);
                'taps: for kf in 0..k_n {
                    unravel(kf, k_sp, &mut ki);
                    let mut p = 0usize;
                    for j in 0..in_sp.len() {
                        let q = oi[j] as i64 * s[j] - pb[j] + ki[j] as i64 * dil[j];
                        if q < 0 || q >= in_sp[j] as i64 {
                            continue 'taps;
                        }
                        p += q as usize * in_strides[j];
                    }
                    for ch in 0..cg {
                        acc += d.x[x0 + ch * in_n + p] * d.w[w0 + ch * k_n + kf];
                    }
                }
                y.push(acc);
            }
        }
    }
    Ok((shape, y))
}

/// Transposed convolution; returns the result shape and values.
pub(crate) fn conv_transpose_f64(
    d: &ConvData,
    g: &Geometry,
) -> Result<(Vec<usize>, Vec<f64>), String> {
    let (shape, s, dil, pb) = static_geometry(g)?;
    let (nb, c) = (d.x_shape[0], d.x_shape[1]);
    let mg = d.w_shape[1];
    let m = shape[1];
    let cg = c / d.group;
    let (in_sp, k_sp, out_sp) = (&d.x_shape[2..], &d.w_shape[2..], &shape[2..]);
    let in_n: usize = in_sp.iter().product();
    let k_n: usize = k_sp.iter().product();
    let out_n: usize = out_sp.iter().product();
    let out_strides = super::super::strides(out_sp);
    let mut y = vec![0.0; checked_numel(&shape)?];
    if let Some(b) = d.bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v = b[(i / out_n.max(1)) % m];
        }
    }
    let (mut ii, mut ki) = (vec![0; in_sp.len()], vec![0; k_sp.len()]);
    for n in 0..nb {
        for ci in 0..c {
            let grp = ci / cg;
            let y0 = (n * m + grp * mg) * out_n;
            for i in 0..in_n {
                unravel(i, in_sp, &mut ii);
                let xv = d.x[(n * c + ci) * in_n + i];
                'taps: for kf in 0..k_n {
                    unravel(kf, k_sp, &mut ki);
                    let mut p = 0usize;
                    for j in 0..in_sp.len() {
                        let q = ii[j] as i64 * s[j] + ki[j] as i64 * dil[j] - pb[j];
                        if q < 0 || q >= out_sp[j] as i64 {
                            continue 'taps;
                        }
                        p += q as usize * out_strides[j];
                    }
                    for mm in 0..mg {
                        y[y0 + mm * out_n + p] += xv * d.w[(ci * mg + mm) * k_n + kf];
                    }
                }
            }
        }
    }
    Ok((shape, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::AutoPad;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    fn seq(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        t(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
    }

    fn conv(s: &[i64], p: &[i64], d: &[i64], group: i64, auto_pad: AutoPad) -> Op {
        Op::Conv {
            strides: s.to_vec(),
            pads: p.to_vec(),
            dilations: d.to_vec(),
            group,
            auto_pad,
        }
    }

    fn run(op: &Op, ins: &[&Tensor]) -> Result<Tensor, String> {
        super::super::eval(op, ins).map(|mut v| v.remove(0))
    }

    #[test]
    fn one_by_one_conv_is_a_matmul() {
        // x: [1, 3, 2, 2], w: [2, 3, 1, 1]: y[m, p] = sum_c w[m, c] x[c, p].
        let x = seq(&[1, 3, 2, 2]);
        let w = t(&[2, 3, 1, 1], &[1., 0., -1., 0.5, 0.5, 0.5]);
        let b = t(&[2], &[100., 0.]);
        let y = run(&conv(&[], &[], &[], 1, AutoPad::NotSet), &[&x, &w, &b]).unwrap();
        let xm = t(&[3, 4], x.as_slice::<f32>().unwrap());
        let wm = t(&[2, 3], w.as_slice::<f32>().unwrap());
        let mm = run(&Op::MatMul, &[&wm, &xm]).unwrap().to_f64s();
        let want: Vec<f64> = mm
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i < 4 { 100. } else { 0. })
            .collect();
        assert_eq!(y.shape(), &[1, 2, 2, 2]);
        assert_eq!(y.to_f64s(), want);
    }

    #[test]
    fn depthwise_dilated_asymmetric() {
        // Depthwise (group = C = 2), 1-D, kernel 2, dilation 2, pads (1, 0).
        let x = t(&[1, 2, 4], &[1., 2., 3., 4., 10., 20., 30., 40.]);
        let w = t(&[2, 1, 2], &[1., 1., 1., -1.]);
        let y = run(&conv(&[], &[1, 0], &[2], 2, AutoPad::NotSet), &[&x, &w]).unwrap();
        // Positions -1..2 with taps at p and p+2: out = floor((4+1-3)/1)+1 = 3.
        // ch0: (0+2, 1+3, 2+4) = 2, 4, 6; ch1: (0-20, 10-30, 20-40).
        assert_eq!(y.shape(), &[1, 2, 3]);
        assert_eq!(y.to_f64s(), vec![2., 4., 6., -20., -20., -20.]);
    }

    #[test]
    fn grouped_conv_uses_its_own_channels() {
        // group 2: out channel 0 sees in channel 0, out channel 1 sees channel 1.
        let x = t(&[1, 2, 3], &[1., 2., 3., 4., 5., 6.]);
        let w = t(&[2, 1, 1], &[2., 3.]);
        let y = run(&conv(&[], &[], &[], 2, AutoPad::NotSet), &[&x, &w]).unwrap();
        assert_eq!(y.to_f64s(), vec![2., 4., 6., 12., 15., 18.]);
    }

    #[test]
    fn auto_pad_same_puts_the_odd_pad_where_asked() {
        // 1-D, in 4, k 2, s 1: out 4, total pad 1.
        let x = t(&[1, 1, 4], &[1., 2., 3., 4.]);
        let w = t(&[1, 1, 2], &[1., 10.]);
        let up = run(&conv(&[], &[], &[], 1, AutoPad::SameUpper), &[&x, &w]).unwrap();
        assert_eq!(up.to_f64s(), vec![21., 32., 43., 4.]);
        let lo = run(&conv(&[], &[], &[], 1, AutoPad::SameLower), &[&x, &w]).unwrap();
        assert_eq!(lo.to_f64s(), vec![10., 21., 32., 43.]);
        let valid = run(&conv(&[2], &[], &[], 1, AutoPad::Valid), &[&x, &w]).unwrap();
        assert_eq!(valid.to_f64s(), vec![21., 43.]);
    }

    #[test]
    fn empty_batch_and_errors() {
        let x = Tensor::zeros(DType::F32, &[0, 2, 5, 5]).unwrap();
        let w = seq(&[4, 2, 3, 3]);
        let y = run(&conv(&[], &[], &[], 1, AutoPad::NotSet), &[&x, &w]).unwrap();
        assert_eq!(y.shape(), &[0, 4, 3, 3]);
        let x = seq(&[1, 3, 5, 5]);
        let e = run(&conv(&[], &[], &[], 1, AutoPad::NotSet), &[&x, &w]).unwrap_err();
        assert!(e.contains("[1,3,5,5]") && e.contains("[4,2,3,3]"), "{e}");
        let xi = Tensor::from_slice(&[1, 1, 1], &[1i32]).unwrap();
        assert!(run(&conv(&[], &[], &[], 1, AutoPad::NotSet), &[&xi, &xi])
            .unwrap_err()
            .contains("float"));
    }

    #[test]
    fn conv_transpose_scatters() {
        let ct = |s: &[i64], p: &[i64], op: &[i64], os: &[i64], auto_pad| Op::ConvTranspose {
            strides: s.to_vec(),
            pads: p.to_vec(),
            dilations: vec![],
            group: 1,
            auto_pad,
            output_padding: op.to_vec(),
            output_shape: os.to_vec(),
        };
        let x = t(&[1, 1, 3], &[1., 2., 3.]);
        let w = t(&[1, 1, 2], &[1., 10.]);
        // Full output (s 2): 1, 10, 2, 20, 3, 30; output_padding 1 adds a 0.
        let y = run(&ct(&[2], &[], &[1], &[], AutoPad::NotSet), &[&x, &w]).unwrap();
        assert_eq!(y.to_f64s(), vec![1., 10., 2., 20., 3., 30., 0.]);
        // Pads crop (1, 1): 10, 2, 20, 3.
        let y = run(&ct(&[2], &[1, 1], &[], &[], AutoPad::NotSet), &[&x, &w]).unwrap();
        assert_eq!(y.to_f64s(), vec![10., 2., 20., 3.]);
        // output_shape 5 with NOTSET: total pad 1, begin gets it.
        let y = run(&ct(&[2], &[], &[], &[5], AutoPad::NotSet), &[&x, &w]).unwrap();
        assert_eq!(y.to_f64s(), vec![10., 2., 20., 3., 30.]);
        // same_upper: out = 6 = full, no pads. Stride 1 overlaps: 1, 12, 23, 30.
        let y = run(&ct(&[], &[], &[], &[], AutoPad::SameUpper), &[&x, &w]).unwrap();
        assert_eq!(y.to_f64s(), vec![1., 12., 23.]);
        let y = run(&ct(&[], &[], &[], &[], AutoPad::SameLower), &[&x, &w]).unwrap();
        assert_eq!(y.to_f64s(), vec![12., 23., 30.]);
    }
}
