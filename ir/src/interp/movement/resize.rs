//! Resize: nearest / linear / cubic interpolation, separable per axis, as the
//! ONNX reference implementation (`onnx/reference/ops/op_resize.py`) does.
//!
//! `resize %x, %roi, %scales, %sizes`: exactly one of scales and sizes is
//! non-empty, with one entry per resized axis (`axes`, default all). With
//! scales, `out = floor(scale * in)`; with sizes, `scale = out / in` and a
//! keep-aspect-ratio policy other than `stretch` picks the min/max scale over
//! the axes and rounds `scale * in + 0.5` down.
//!
//! Each axis maps output coordinate `y` to source coordinate `x` by the
//! coordinate transformation mode, takes the `n` taps nearest `x` (ties to
//! the left; indices clamped to the input, i.e. edge padding) and weights them
//! by the mode's coefficients at `ratio = x - floor(x)` (1 when `x` is an
//! integer, as the reference does). Arithmetic is f64; integer results round
//! half to even and saturate. Unlike the reference we do not clip float
//! results to the dtype's finite range (an infinite input stays infinite).
//! Axes that shrink are resized first so no intermediate is larger than the
//! input or the output (the result is the same up to f64 rounding).

use super::{arity, axes_of, index_values, terr};
use crate::attr::{AspectPolicy, CoordMode, NearestMode, ResizeMode};
use crate::op::Op;
use crate::tensor::Tensor;

struct Params {
    mode: ResizeMode,
    coord: CoordMode,
    nearest: NearestMode,
    a: f64,
    exclude_outside: bool,
    extrapolation: f64,
    antialias: bool,
}

/// Python's `math.isclose` with its default relative tolerance.
fn isclose(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn float_values(t: &Tensor, what: &str) -> Result<Vec<f64>, String> {
    if !t.dtype().is_float() {
        return Err(format!("{what} must be a float tensor, not {}", t.dtype()));
    }
    Ok(t.to_f64s())
}

/// The output size and scale of every axis.
pub(super) fn plan(
    s: &[usize],
    axes: &[usize],
    scales: Option<&[f64]>,
    sizes: Option<&[i64]>,
    policy: AspectPolicy,
) -> Result<(Vec<usize>, Vec<f64>), String> {
    let r = s.len();
    let mut out = s.to_vec();
    let mut scale = vec![1.0f64; r];
    match (scales, sizes) {
        (Some(_), Some(_)) => return Err("give scales or sizes, not both".into()),
        (None, None) => return Err("one of scales and sizes must be non-empty".into()),
        (Some(sc), None) => {
            if sc.len() != axes.len() {
                return Err(format!("scales {sc:?} need one entry per axis {axes:?}"));
            }
            for (&a, &v) in axes.iter().zip(sc) {
                let n = (v * s[a] as f64).floor();
                if v.is_nan() || v <= 0.0 || !n.is_finite() || n >= (1u64 << 53) as f64 {
                    return Err(format!(
                        "scale {v} for axis {a} must be positive and finite"
                    ));
                }
                scale[a] = v;
                out[a] = n as usize;
            }
        }
        (None, Some(sz)) => {
            if sz.len() != axes.len() {
                return Err(format!("sizes {sz:?} need one entry per axis {axes:?}"));
            }
            for (&a, &v) in axes.iter().zip(sz) {
                out[a] =
                    usize::try_from(v).map_err(|_| format!("sizes {sz:?} has a negative entry"))?;
                scale[a] = v as f64 / s[a] as f64;
            }
            if policy != AspectPolicy::Stretch && !axes.is_empty() {
                let pick = axes.iter().map(|&a| scale[a]);
                let k = if policy == AspectPolicy::NotLarger {
                    pick.fold(f64::INFINITY, f64::min)
                } else {
                    pick.fold(f64::NEG_INFINITY, f64::max)
                };
                for &a in axes {
                    scale[a] = k;
                    let n = (k * s[a] as f64 + 0.5).floor();
                    if !n.is_finite() {
                        return Err(format!("cannot keep the aspect ratio of {s:?}"));
                    }
                    out[a] = n as usize;
                }
            }
        }
    }
    for &a in axes {
        if s[a] == 0 && out[a] > 0 {
            return Err(format!(
                "cannot resize the empty axis {a} of {s:?} to {}",
                out[a]
            ));
        }
    }
    Ok((out, scale))
}

pub(super) fn resize(op: &Op, x: &[&Tensor]) -> Result<Tensor, String> {
    let Op::Resize {
        mode,
        coordinate_transformation_mode,
        nearest_mode,
        cubic_coeff_a,
        exclude_outside,
        extrapolation_value,
        antialias,
        keep_aspect_ratio_policy,
        axes,
    } = op
    else {
        unreachable!("resize::resize called with {}", op.name())
    };
    arity(x, 1, 4)?;
    let p = Params {
        mode: *mode,
        coord: *coordinate_transformation_mode,
        nearest: *nearest_mode,
        a: f64::from(*cubic_coeff_a),
        exclude_outside: *exclude_outside,
        extrapolation: f64::from(*extrapolation_value),
        antialias: *antialias,
    };
    if p.antialias && p.mode == ResizeMode::Nearest {
        return Err("antialias is not defined for mode nearest".into());
    }
    let s = x[0].shape();
    let r = s.len();
    let axes = if axes.is_empty() {
        (0..r).collect()
    } else {
        axes_of(axes, r)?
    };
    let given = |k: usize| x.get(k).filter(|t| t.numel() > 0);
    let roi = given(1).map(|t| float_values(t, "roi")).transpose()?;
    let scales = given(2).map(|t| float_values(t, "scales")).transpose()?;
    let sizes = given(3).map(|t| index_values(t, "sizes")).transpose()?;
    let (out, scale) = plan(
        s,
        &axes,
        scales.as_deref(),
        sizes.as_deref(),
        *keep_aspect_ratio_policy,
    )?;
    // Full-rank roi: [begins..., ends...], untouched axes [0, 1].
    let roi = match roi {
        None => None,
        Some(v) if v.len() == 2 * axes.len() => {
            let mut full = vec![0.0; r];
            full.extend(vec![1.0; r]);
            for (i, &a) in axes.iter().enumerate() {
                full[a] = v[i];
                full[r + a] = v[axes.len() + i];
            }
            Some(full)
        }
        Some(v) => return Err(format!("roi {v:?} needs 2 entries per axis {axes:?}")),
    };
    if p.coord == CoordMode::TfCropAndResize && roi.is_none() {
        return Err("tf_crop_and_resize needs a roi".into());
    }
    let dt = x[0].dtype();
    Tensor::zeros(dt, &out).map_err(terr)?;
    let mut data = x[0].to_f64s();
    let mut cur = s.to_vec();
    let order = axes
        .iter()
        .filter(|&&a| out[a] < s[a])
        .chain(axes.iter().filter(|&&a| out[a] >= s[a]));
    for &a in order {
        let trivial_roi = roi
            .as_ref()
            .is_none_or(|v| isclose(v[a], 0.0) && isclose(v[a + r], 1.0));
        if isclose(scale[a], 1.0) && out[a] == cur[a] && trivial_roi {
            continue;
        }
        let axis_roi = roi.as_ref().map(|v| (v[a], v[a + r]));
        data = resize_axis(&data, &cur, a, out[a], scale[a], axis_roi, &p)?;
        cur[a] = out[a];
    }
    if dt.is_int() {
        data.iter_mut().for_each(|v| *v = v.round_ties_even());
    }
    Tensor::from_f64s(dt, &out, &data).map_err(terr)
}

/// Source coordinate of output index `y`, and whether it lies outside the
/// input (only tf_crop_and_resize extrapolates).
fn source_coord(
    p: &Params,
    y: f64,
    scale: f64,
    in_n: usize,
    out_n: usize,
    roi: Option<(f64, f64)>,
) -> (f64, bool) {
    let inw = in_n as f64;
    // The reference compares the unrounded output width with 1.
    let ow = scale * inw;
    match p.coord {
        CoordMode::AlignCorners if ow == 1.0 => (0.0, false),
        CoordMode::AlignCorners => (y * (inw - 1.0) / (ow - 1.0), false),
        CoordMode::Asymmetric => (y / scale, false),
        CoordMode::TfCropAndResize => {
            let (r0, r1) = roi.unwrap_or((0.0, 1.0));
            let x = if ow == 1.0 {
                (r1 - r0) * (inw - 1.0) / 2.0
            } else {
                y * (r1 - r0) * (inw - 1.0) / (ow - 1.0)
            };
            let x = x + r0 * (inw - 1.0);
            (x, x < 0.0 || x > inw - 1.0)
        }
        CoordMode::PytorchHalfPixel if ow == 1.0 => (-0.5, false),
        CoordMode::PytorchHalfPixel | CoordMode::HalfPixel => ((y + 0.5) / scale - 0.5, false),
        CoordMode::HalfPixelSymmetric => {
            let adjustment = out_n as f64 / ow;
            let center = inw / 2.0;
            let offset = center * (1.0 - adjustment);
            (offset + (y + 0.5) / scale - 0.5, false)
        }
    }
}

fn cubic(x: f64, a: f64) -> f64 {
    let x = x.abs();
    let (x2, x3) = (x * x, x * x * x);
    if x <= 1.0 {
        (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
    } else if x < 2.0 {
        a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
    } else {
        0.0
    }
}

fn normalized(c: Vec<f64>) -> Vec<f64> {
    let s: f64 = c.iter().sum();
    c.into_iter().map(|v| v / s).collect()
}

/// Tap weights for `ratio` in (0, 1]; the taps start at `floor(x) - n/2 + 1`.
fn coeffs(p: &Params, ratio: f64, scale: f64) -> Vec<f64> {
    let a = p.a;
    match (p.mode, p.antialias) {
        (ResizeMode::Nearest, _) => {
            let hi = match p.nearest {
                _ if ratio == 1.0 => true,
                NearestMode::RoundPreferFloor => ratio > 0.5,
                NearestMode::RoundPreferCeil => ratio >= 0.5,
                NearestMode::Floor => false,
                NearestMode::Ceil => true,
            };
            vec![f64::from(u8::from(!hi)), f64::from(u8::from(hi))]
        }
        (ResizeMode::Linear, false) => vec![1.0 - ratio, ratio],
        (ResizeMode::Linear, true) => {
            let sc = scale.min(1.0);
            let start = (-1.0 / sc).floor() as i64 + 1;
            let n = 2 - 2 * start;
            normalized(
                (start..start + n)
                    .map(|i| (1.0 - ((i as f64 - ratio) * sc).abs()).clamp(0.0, 1.0))
                    .collect(),
            )
        }
        (ResizeMode::Cubic, false) => {
            let (r, q) = (ratio, 1.0 - ratio);
            vec![
                ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0,
                ((a * (q + 1.0) - 5.0 * a) * (q + 1.0) + 8.0 * a) * (q + 1.0) - 4.0 * a,
            ]
        }
        (ResizeMode::Cubic, true) => {
            let sc = scale.min(1.0);
            let i_start = (-2.0 / sc).floor() as i64 + 1;
            let i_end = 2 - i_start;
            normalized(
                (i_start..i_end)
                    .map(|i| cubic(sc * (i as f64 - ratio), a))
                    .collect(),
            )
        }
    }
}

/// Resize axis `axis` of `data` (shape `shape`) to `out_n` elements.
fn resize_axis(
    data: &[f64],
    shape: &[usize],
    axis: usize,
    out_n: usize,
    scale: f64,
    roi: Option<(f64, f64)>,
    p: &Params,
) -> Result<Vec<f64>, String> {
    let in_n = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut res = vec![0.0; outer * out_n * inner];
    if out_n == 0 || outer * inner == 0 {
        return Ok(res);
    }
    for y in 0..out_n {
        let (x, extrapolated) = source_coord(p, y as f64, scale, in_n, out_n, roi);
        let fl = x.floor();
        let ratio = if x == fl { 1.0 } else { x - fl };
        let mut c = coeffs(p, ratio, scale);
        let n = c.len() as i64;
        // The n taps nearest x, ties to the smaller index (as the reference's
        // edge-padded neighbour search).
        let pad = (n + 1) / 2;
        let xp = x + pad as f64;
        let pp = xp.floor();
        let frac = xp - pp;
        let off = if n % 2 == 0 {
            if frac == 0.0 {
                -(n / 2)
            } else {
                -(n / 2) + 1
            }
        } else if frac <= 0.5 {
            -((n - 1) / 2)
        } else {
            -((n - 1) / 2) + 1
        };
        let start = pp as i64 + off - pad;
        let idx: Vec<i64> = (0..n).map(|t| start + t).collect();
        if p.exclude_outside {
            for (w, &i) in c.iter_mut().zip(&idx) {
                if i < 0 || i >= in_n as i64 {
                    *w = 0.0;
                }
            }
            let sum: f64 = c.iter().sum();
            let sum = if sum == 0.0 { 1.0 } else { sum };
            c.iter_mut().for_each(|w| *w /= sum);
        }
        let idx: Vec<usize> = idx
            .iter()
            .map(|&i| i.clamp(0, in_n as i64 - 1) as usize)
            .collect();
        for o in 0..outer {
            for i in 0..inner {
                let v = if extrapolated {
                    p.extrapolation
                } else {
                    let at = |t: usize| c[t] * data[(o * in_n + idx[t]) * inner + i];
                    (1..idx.len()).fold(at(0), |acc, t| acc + at(t))
                };
                res[(o * out_n + y) * inner + i] = v;
            }
        }
    }
    Ok(res)
}
