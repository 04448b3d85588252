//! From a tensor's statistics to its quantization parameters: the four
//! calibration methods choose a range `[lo, hi]`, and the range becomes a
//! u8 scale and zero point.
//!
//! All methods return a range inside the data's `[min, max]`, and every
//! range is widened to include zero before it becomes parameters, so zero
//! is exact (padding, ReLU) and a nonnegative tensor gets zero point 0 —
//! which is what lets the rewrite drop a ReLU and let QuantizeLinear's
//! saturation do its work, as onnxruntime does.
//!
//! The histogram methods search one threshold `t` on |x| and clip the data
//! to `[max(min, -t), min(max, t)]`:
//! - **entropy** (TensorRT's calibrator): the `t` minimizing KL(P‖Q), where
//!   P is the histogram clipped at the range (outliers added to the edge
//!   bins) and Q is the in-range histogram merged into the levels of the u8
//!   quantizer that range gives (each level's count spread evenly over its
//!   nonempty bins). TensorRT merges into 128 fixed levels; merging by the
//!   real quantizer's levels counts the 256 levels a nonnegative tensor
//!   gets, and does the same for a two-sided one. Values exactly 0 form a
//!   level of their own: they stay exact at any range, and a ReLU output's
//!   spike at 0 smeared over level 0 would otherwise dominate KL and pull
//!   every threshold down (to 2.2σ on a half-normal, against 4.5σ on a
//!   normal).
//! - **mse**: the `t` minimizing Σ count · (c − dq(q(c)))² over the bins
//!   (c: bin center), clipping error included.
//! - **percentile**: each tail loses `100 − p` percent of the values
//!   (`symmetric`: the threshold is the p-th percentile of |x|).
//!
//! Candidates for `t` start where the range holds at least 256 bins (one
//! per level; below that, the histogram cannot tell the quantizer's
//! rounding apart from the data) and go up to max |x| in at most 512 steps.

use super::histogram::TensorStats;
use super::Method;

/// Per-tensor u8 parameters of an activation: `q = clamp(round(x/s) + zp, 0, 255)`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ActParams {
    pub scale: f32,
    pub zero_point: u8,
}

impl ActParams {
    /// Parameters whose grid covers `[lo, hi]` widened to include 0, in f32
    /// as onnxruntime computes them. An all-zero range gets scale 1.
    pub fn from_range(lo: f64, hi: f64) -> ActParams {
        let (lo, hi) = ((lo as f32).min(0.0), (hi as f32).max(0.0));
        let scale = (hi - lo) / 255.0;
        if !(scale > 0.0 && scale.is_finite()) {
            return ActParams {
                scale: 1.0,
                zero_point: 0,
            };
        }
        let zp = (-lo / scale).round_ties_even().clamp(0.0, 255.0);
        ActParams {
            scale,
            zero_point: zp as u8,
        }
    }

    /// `dq(q(x))`, computed as QuantizeLinear and DequantizeLinear do.
    pub fn fake(&self, x: f64) -> f64 {
        let q = ((x as f32) / self.scale).round_ties_even() + f32::from(self.zero_point);
        let q = q.clamp(0.0, 255.0);
        f64::from(q - f32::from(self.zero_point)) * f64::from(self.scale)
    }
}

/// The range `method` chooses for a tensor with statistics `s`.
pub fn choose(s: &TensorStats, method: Method, percentile: f64, symmetric: bool) -> (f64, f64) {
    if s.count == 0 || s.hist.width == 0.0 {
        return (s.min, s.max);
    }
    match method {
        Method::MinMax => (s.min, s.max),
        Method::Percentile => percentile_range(s, percentile, symmetric),
        Method::Entropy => search(s, kl_divergence),
        Method::Mse => search(s, squared_error),
    }
}

fn percentile_range(s: &TensorStats, p: f64, symmetric: bool) -> (f64, f64) {
    let w = s.hist.width;
    let total = s.count as f64;
    let tail = total * (1.0 - p / 100.0);
    if symmetric {
        // |x| of bin k (k ≥ 0) and of bin -k-1 fall in [k·w, (k+1)·w].
        let mut abs = vec![0u64; 0];
        for (c, n) in s.hist.bins() {
            let k = (c.abs() / w).floor() as usize;
            if abs.len() <= k {
                abs.resize(k + 1, 0);
            }
            abs[k] += n;
        }
        let mut below = total;
        let mut t = s.absmax();
        for (k, &n) in abs.iter().enumerate().rev() {
            below -= n as f64;
            if below < total - tail {
                t = (k + 1) as f64 * w;
                break;
            }
        }
        return (s.min.max(-t), s.max.min(t));
    }
    let bins: Vec<(f64, u64)> = s.hist.bins().collect();
    // Lower edge: the bin where the lower tail's count is reached.
    let mut acc = 0.0;
    let mut lo = s.min;
    for &(c, n) in &bins {
        acc += n as f64;
        if acc > tail {
            lo = c - w / 2.0;
            break;
        }
    }
    let mut acc = 0.0;
    let mut hi = s.max;
    for &(c, n) in bins.iter().rev() {
        acc += n as f64;
        if acc > tail {
            hi = c + w / 2.0;
            break;
        }
    }
    (lo.max(s.min), hi.min(s.max))
}

/// The clipped range for threshold `t`.
fn clipped(s: &TensorStats, t: f64) -> (f64, f64) {
    (s.min.max(-t), s.max.min(t))
}

/// The range whose threshold minimizes `cost` (ties: the widest).
fn search(s: &TensorStats, cost: fn(&TensorStats, f64, f64) -> f64) -> (f64, f64) {
    let w = s.hist.width;
    let top = (s.absmax() / w).ceil().max(1.0) as usize;
    // A one-sided tensor's range starts at zero: 256 bins need t = 256·w;
    // a two-sided one spreads them over both signs.
    let one_sided = s.min >= 0.0 || s.max <= 0.0;
    let low = if one_sided { 256 } else { 128 }.min(top);
    let step = ((top - low) / 512).max(1);
    let mut best = (f64::INFINITY, (s.min, s.max));
    let mut k = top;
    loop {
        let t = k as f64 * w;
        let (lo, hi) = clipped(s, t);
        let c = cost(s, lo, hi);
        if c < best.0 {
            best = (c, (lo, hi));
        }
        if k < low + step {
            break;
        }
        k -= step;
    }
    best.1
}

fn squared_error(s: &TensorStats, lo: f64, hi: f64) -> f64 {
    let p = ActParams::from_range(lo, hi);
    s.hist
        .bins()
        .map(|(c, n)| {
            let e = c - p.fake(c);
            n as f64 * e * e
        })
        .sum()
}

/// KL(P‖Q) for the range `[lo, hi]`, as described in the module header.
fn kl_divergence(s: &TensorStats, lo: f64, hi: f64) -> f64 {
    let p = ActParams::from_range(lo, hi);
    let w = s.hist.width;
    // In-range bins, as (level, count); outliers go to the edge bins of P.
    let mut bins: Vec<(i64, f64, f64)> = vec![]; // (level, p count, in-range count)
    let (mut below, mut above) = (0.0, 0.0);
    for (c, n) in s.hist.bins() {
        let mut n = n as f64;
        if c > 0.0 && c < w && s.exact_zeros > 0 {
            // Bin 0: exact zeros are a level of their own (the quantizer
            // keeps them exact at any range), not part of level 0.
            n -= s.exact_zeros as f64;
            let z = s.exact_zeros as f64;
            bins.push((i64::MIN, z, z));
        }
        // A bin holding an edge of the range is inside it.
        if c + w / 2.0 < lo {
            below += n;
        } else if c - w / 2.0 > hi {
            above += n;
        } else {
            let level = ((c as f32) / p.scale).round_ties_even() as i64;
            bins.push((level, n, n));
        }
    }
    if bins.is_empty() {
        return f64::INFINITY;
    }
    bins[0].1 += below;
    let last = bins.len() - 1;
    bins[last].1 += above;
    // Q: each level's in-range count spread over the level's bins that P
    // has (P's zeros stay zeros in Q, as TensorRT does).
    let mut q = vec![0.0; bins.len()];
    let mut i = 0;
    while i < bins.len() {
        let mut j = i;
        while j < bins.len() && bins[j].0 == bins[i].0 {
            j += 1;
        }
        let total: f64 = bins[i..j].iter().map(|b| b.2).sum();
        let nonzero = bins[i..j].iter().filter(|b| b.1 > 0.0).count();
        for k in i..j {
            if bins[k].1 > 0.0 {
                q[k] = total / nonzero as f64;
            }
        }
        i = j;
    }
    let pv: Vec<f64> = bins.iter().map(|b| b.1).collect();
    let (pv, q) = (smooth(&pv), smooth(&q));
    pv.iter()
        .zip(&q)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, b)| a * (a / b).ln())
        .sum()
}

/// Normalize, then move a little mass onto the empty bins (TensorRT's
/// `smooth_distribution`), so KL stays finite where Q lost a bin P has.
fn smooth(d: &[f64]) -> Vec<f64> {
    let sum: f64 = d.iter().sum();
    let zeros = d.iter().filter(|v| **v == 0.0).count();
    let nonzeros = d.len() - zeros;
    if sum == 0.0 || nonzeros == 0 {
        return vec![1.0 / d.len() as f64; d.len()];
    }
    let eps = 1e-4;
    let take = eps * zeros as f64 / nonzeros as f64;
    d.iter()
        .map(|&v| {
            let v = v / sum;
            if v == 0.0 {
                eps
            } else {
                (v - take).max(eps * 1e-3)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(xs: &[f32]) -> TensorStats {
        let mut s = TensorStats::default();
        s.add(xs);
        s
    }

    /// A long-tailed nonnegative tensor: most values small, a few outliers.
    fn long_tail() -> Vec<f32> {
        let mut v: Vec<f32> = (0..20000)
            .map(|i| ((i * 7919) % 10007) as f32 / 10007.0)
            .collect();
        v.extend([20.0, 25.0, 30.0]);
        v
    }

    #[test]
    fn params_include_zero_and_nonnegative_ranges_get_zero_point_zero() {
        let p = ActParams::from_range(0.5, 2.0);
        assert_eq!(p.zero_point, 0);
        assert_eq!(p.scale, 2.0 / 255.0);
        let p = ActParams::from_range(-1.0, 3.0);
        assert_eq!(p.zero_point, 64);
        assert_eq!(p.fake(0.0), 0.0);
        assert_eq!(ActParams::from_range(0.0, 0.0).scale, 1.0);
        // Saturation clips.
        let p = ActParams::from_range(0.0, 1.0);
        assert_eq!(p.fake(-5.0), 0.0);
        assert!((p.fake(7.0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn minmax_is_the_data_range() {
        let s = stats(&[-1.5, 0.25, 4.0]);
        assert_eq!(choose(&s, Method::MinMax, 99.9, false), (-1.5, 4.0));
    }

    #[test]
    fn histogram_methods_clip_outliers_but_keep_the_bulk() {
        let s = stats(&long_tail());
        for m in [Method::Percentile, Method::Entropy, Method::Mse] {
            let (lo, hi) = choose(&s, m, 99.9, false);
            assert_eq!(lo, 0.0, "{m:?}");
            assert!(hi < 30.0 && hi > 0.9, "{m:?}: hi {hi}");
        }
        // Percentile 100 keeps everything.
        let (_, hi) = choose(&s, Method::Percentile, 100.0, false);
        assert_eq!(hi, 30.0);
    }

    #[test]
    fn mse_clips_a_lone_outlier_where_it_pays() {
        // A million values in [0, 1) and one at 50: the error is
        // (50 - t)² + 1e6·(t/255)²/12, least at t ≈ 22.
        let mut v: Vec<f32> = (0..1_000_000)
            .map(|i: u64| ((i * 7919) % 100_003) as f32 / 100_003.0)
            .collect();
        v.push(50.0);
        let s = stats(&v);
        let (lo, hi) = choose(&s, Method::Mse, 0.0, false);
        assert_eq!(lo, 0.0);
        assert!(hi > 18.0 && hi < 26.0, "{hi}");
        let mse = |hi| squared_error(&s, 0.0, hi);
        assert!(mse(hi) < mse(50.0) && mse(hi) < mse(1.0));
        // With a thousand such outliers, clipping no longer pays.
        v.extend(std::iter::repeat_n(50.0, 1000));
        let (_, hi) = choose(&stats(&v), Method::Mse, 0.0, false);
        assert!(hi > 45.0, "{hi}");
    }

    #[test]
    fn symmetric_percentile_uses_one_threshold() {
        let mut v: Vec<f32> = (0..10000).map(|i| (i as f32 / 5000.0) - 1.0).collect();
        v.push(-50.0);
        v.push(9.0);
        let s = stats(&v);
        let (lo, hi) = choose(&s, Method::Percentile, 99.9, true);
        assert!(lo > -2.0 && hi < 2.0 && hi > 0.9, "{lo} {hi}");
        assert!((lo + hi).abs() < 1e-9, "symmetric: {lo} {hi}");
    }

    /// Normal samples (Box-Muller over a seeded LCG).
    fn normal(n: usize) -> Vec<f32> {
        let mut seed = 12345u64;
        let mut u = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (a, b) = (u(), u());
                ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
            })
            .collect()
    }

    #[test]
    fn entropy_is_not_pulled_down_by_a_relus_zeros() {
        let v = normal(200_000);
        let relu: Vec<f32> = v.iter().map(|x| x.max(0.0)).collect();
        let (_, t) = choose(&stats(&v), Method::Entropy, 0.0, false);
        let (lo, t_relu) = choose(&stats(&relu), Method::Entropy, 0.0, false);
        assert_eq!(lo, 0.0);
        // Both around 4.5 sigma; with the zeros smeared over level 0 the
        // ReLU's threshold fell to about 2.2.
        assert!(t > 3.5 && t_relu > 3.5, "{t} {t_relu}");
    }
}
