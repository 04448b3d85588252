//! What calibration remembers about one activation tensor: its range and a
//! histogram of its values, accumulated over every calibration sample.
//!
//! The histogram's bins are aligned at zero: bin `k` holds values in
//! `[k·w, (k+1)·w)`, and only the span of bins that ever received a value is
//! stored (at most [`MAX_BINS`]). When a new batch does not fit, the width
//! doubles and neighbouring bins merge pairwise — exactly, because the old
//! edges are all edges of the new bins (zero stays an edge). onnxruntime's
//! `HistogramCalibrater` instead re-bins approximately or lets the bin
//! count grow; doubling keeps the memory bounded and the counts exact, at
//! the price of using between half and all of the bins for the data's
//! range. The first batch sets the width so its range (including zero)
//! fills the bins.
//!
//! Non-finite values (NaN, ±inf) are counted but kept out of the range and
//! the histogram: one inf would otherwise make every finite value land in
//! one bin.

use serde::{Deserialize, Serialize};

/// Most bins a histogram keeps; the data's range always spans at least half.
pub const MAX_BINS: usize = 4096;

/// Range and histogram of one tensor's values over the calibration set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorStats {
    /// Smallest and largest finite value seen (0 and 0 before any).
    pub min: f64,
    pub max: f64,
    /// Finite values seen.
    pub count: u64,
    /// NaN and infinite values seen (not in the range or the histogram).
    #[serde(default)]
    pub nonfinite: u64,
    /// Values exactly 0 (in the histogram too, in bin 0). ReLU outputs are
    /// often half zeros; the quantizer keeps them exact, so the entropy
    /// method counts them as a level of their own rather than smear that
    /// spike over level 0.
    #[serde(default)]
    pub exact_zeros: u64,
    pub hist: Histogram,
}

/// Zero-aligned bins of width `width`; `counts[i]` is bin `first + i`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin width; 0 until a nonzero value arrives (zeros wait in `zeros`).
    pub width: f64,
    pub first: i64,
    pub counts: Vec<u64>,
    /// Zeros seen while `width` was still 0; they join bin 0 once it is set.
    #[serde(default)]
    pub zeros: u64,
}

impl TensorStats {
    /// Add a batch of values.
    pub fn add(&mut self, xs: &[f32]) {
        let (mut lo, mut hi, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0u64);
        for &x in xs {
            if x == 0.0 {
                self.exact_zeros += 1;
            }
            if x.is_finite() {
                let x = f64::from(x);
                lo = lo.min(x);
                hi = hi.max(x);
                n += 1;
            }
        }
        self.nonfinite += xs.len() as u64 - n;
        if n == 0 {
            return;
        }
        if self.count == 0 {
            (self.min, self.max) = (lo, hi);
        } else {
            self.min = self.min.min(lo);
            self.max = self.max.max(hi);
        }
        self.count += n;
        self.hist.add(xs, lo, hi);
    }

    /// The largest magnitude seen.
    pub fn absmax(&self) -> f64 {
        self.min.abs().max(self.max.abs())
    }
}

impl Histogram {
    /// Bin index of `x` (the same expression everywhere, so a batch's
    /// extremes and its values agree on their bins).
    fn bin(&self, x: f64) -> i64 {
        (x / self.width).floor() as i64
    }

    /// The bins, as (center, count) pairs, with the waiting zeros.
    pub fn bins(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let zeros = (self.zeros > 0).then_some((0.0, self.zeros));
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                (
                    (self.first + i as i64) as f64 * self.width + self.width / 2.0,
                    c,
                )
            })
            .chain(zeros)
    }

    /// Add the finite values of `xs`, whose finite range is `[lo, hi]`.
    fn add(&mut self, xs: &[f32], lo: f64, hi: f64) {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        if self.width == 0.0 {
            if hi == lo {
                // All zeros: no width to choose yet.
                self.zeros += xs.iter().filter(|x| x.is_finite()).count() as u64;
                return;
            }
            // Two bins of slack: `floor` puts `hi` in the bin past it when
            // it lies on an edge.
            self.width = (hi - lo) / (MAX_BINS - 2) as f64;
            self.first = self.bin(lo);
            self.counts = vec![0; 1];
        }
        self.cover(self.bin(lo), self.bin(hi));
        let inv = 1.0 / self.width;
        let first = self.first;
        for &x in xs {
            if x.is_finite() {
                // `x * inv` may round differently from `x / width`; clamp to
                // the covered span rather than trust the last ulp.
                let k = (f64::from(x) * inv).floor() as i64 - first;
                let k = k.clamp(0, self.counts.len() as i64 - 1) as usize;
                self.counts[k] += 1;
            }
        }
        self.flush_zeros();
    }

    fn flush_zeros(&mut self) {
        if self.zeros > 0 && self.width > 0.0 {
            self.cover(0, 0);
            let k = (-self.first) as usize;
            self.counts[k] += std::mem::take(&mut self.zeros);
        }
    }

    /// Grow the stored span to include bins `lo..=hi`, doubling the width
    /// until it fits in [`MAX_BINS`].
    fn cover(&mut self, mut lo: i64, mut hi: i64) {
        loop {
            let start = lo.min(self.first);
            let end = hi.max(self.first + self.counts.len() as i64 - 1);
            if (end - start + 1) as usize <= MAX_BINS {
                if start < self.first {
                    let mut v = vec![0; (self.first - start) as usize];
                    v.extend_from_slice(&self.counts);
                    self.counts = v;
                    self.first = start;
                }
                self.counts.resize((end - self.first + 1) as usize, 0);
                return;
            }
            self.double();
            lo = lo.div_euclid(2);
            hi = hi.div_euclid(2);
        }
    }

    /// Double the width: old bin `k` lies inside new bin `floor(k / 2)`.
    fn double(&mut self) {
        let first = self.first.div_euclid(2);
        let last = (self.first + self.counts.len() as i64 - 1).div_euclid(2);
        let mut counts = vec![0; (last - first + 1) as usize];
        for (i, &c) in self.counts.iter().enumerate() {
            counts[((self.first + i as i64).div_euclid(2) - first) as usize] += c;
        }
        self.width *= 2.0;
        self.first = first;
        self.counts = counts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(h: &Histogram) -> u64 {
        h.counts.iter().sum::<u64>() + h.zeros
    }

    #[test]
    fn first_batch_fills_the_bins_and_counts_every_value() {
        let xs: Vec<f32> = (0..1000).map(|i| i as f32 / 100.0 - 2.0).collect();
        let mut s = TensorStats::default();
        s.add(&xs);
        assert_eq!(
            (s.min, s.max, s.count),
            (-2.0, f64::from(999f32 / 100.0 - 2.0), 1000)
        );
        assert_eq!(total(&s.hist), 1000);
        assert!(s.hist.counts.len() <= MAX_BINS && s.hist.counts.len() > MAX_BINS - 4);
        // Every value sits in the bin whose span holds it.
        for (c, _) in s.hist.bins() {
            assert!(c >= -2.0 - s.hist.width && c <= 10.0 + s.hist.width);
        }
    }

    #[test]
    fn growing_range_doubles_the_width_exactly() {
        let mut s = TensorStats::default();
        s.add(&[0.5, 1.0, 0.25]);
        let w = s.hist.width;
        s.add(&[-3.0, 7.5]);
        assert!(s.hist.width >= w * 2.0);
        assert_eq!(
            (s.hist.width / w).log2().fract(),
            0.0,
            "a power-of-two growth"
        );
        assert_eq!(total(&s.hist), 5);
        assert!(s.hist.counts.len() <= MAX_BINS);
        assert_eq!((s.min, s.max), (-3.0, 7.5));
        // The data's range covers at least half the bins.
        let span = (s.max - s.min.min(0.0)) / s.hist.width;
        assert!(span >= (MAX_BINS / 2) as f64 - 2.0, "{span}");
    }

    #[test]
    fn zeros_wait_for_a_width_and_nonfinite_values_are_counted_apart() {
        let mut s = TensorStats::default();
        s.add(&[0.0, 0.0, f32::NAN]);
        assert_eq!((s.count, s.nonfinite, s.hist.zeros), (2, 1, 2));
        s.add(&[1.0, f32::INFINITY]);
        assert_eq!((s.count, s.nonfinite, s.hist.zeros), (3, 2, 0));
        assert_eq!(total(&s.hist), 3);
        assert_eq!(s.max, 1.0);
        // Zeros joined bin 0, which starts at 0.
        let zero_bin = s.hist.counts[(-s.hist.first) as usize];
        assert_eq!(zero_bin, 2);
    }
}
