//! `qlinear_global_average_pool` (onnxruntime's com.microsoft
//! QLinearGlobalAveragePool): the mean of each `(n, c)` plane of an 8-bit
//! tensor, computed on the integers.

use super::saturate;
use crate::tensor::Tensor;

/// `qlinear_global_average_pool %x, %x_scale, %x_zp, %y_scale, %y_zp`: per
/// plane, `acc = Σ (x - x_zp)` exactly (i64), then
/// `y = saturate(round(acc as f32 · M) + y_zp)` with the f32 multiplier
/// `M = x_scale / (y_scale · count)`, `count` the plane's size.
pub(super) fn qlinear_global_average_pool(
    channels_last: bool,
    ins: &[&Tensor],
) -> Result<Tensor, String> {
    let x = ins[0];
    // Shape inference (checked by the caller) guarantees rank ≥ 3.
    let shape = x.shape();
    let r = shape.len();
    let (n, c) = if channels_last {
        (shape[0], shape[r - 1])
    } else {
        (shape[0], shape[1])
    };
    let spatial = if channels_last {
        &shape[1..r - 1]
    } else {
        &shape[2..]
    };
    let count: usize = spatial.iter().product();
    let sx = ins[1].to_f64s()[0] as f32;
    let zx = ins[2].to_i64s()[0];
    let sy = ins[3].to_f64s()[0] as f32;
    let (zy, out) = (ins[4].to_i64s()[0] as f32, ins[4].dtype());
    let mult = sx / (sy * count as f32);
    let xv = x.to_i64s();
    let mut y = Vec::with_capacity(n * c);
    for b in 0..n {
        for ch in 0..c {
            // NCHW: the plane is contiguous; NHWC: every c-th element.
            let acc: i64 = (0..count)
                .map(|s| {
                    let i = if channels_last {
                        (b * count + s) * c + ch
                    } else {
                        (b * c + ch) * count + s
                    };
                    xv[i] - zx
                })
                .sum();
            let v = (acc as f32 * mult).round_ties_even() + zy;
            y.push(saturate(f64::from(v), out));
        }
    }
    let mut out_shape = shape.to_vec();
    for d in out_shape
        .iter_mut()
        .skip(if channels_last { 1 } else { 2 })
        .take(spatial.len())
    {
        *d = 1;
    }
    Tensor::from_i64s(out, &out_shape, &y).map_err(|e| e.to_string())
}
