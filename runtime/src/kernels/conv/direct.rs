//! Convolutions that are not a single GEMM per tile: depthwise (one input
//! channel per group, a direct loop) and transposed (GEMM into column
//! scratch, then col2im scatter-add).
//!
//! On AVX-512 hosts, 2-D depthwise convolutions with equal strides 1 or 2
//! go through a flattened, zero-bordered copy of the input (see [`Flat`]):
//! one branch-free vector loop per band of rows, no per-row edge cases.
//! Otherwise the depthwise loop keeps one output row in L1 and, per kernel tap, adds
//! `w * input_row[shifted]` over the tap's valid output range (computed, not
//! tested per element), so the inner loop is a branch-free, vectorizable
//! multiply-add. It is compiled twice: generic and with AVX2+FMA, chosen at
//! run time.

use super::geom::{valid_run, Geom};
use super::Job;
use crate::kernels::pack::{self, sgemm, with_scratch, Bound, Grid, Mat};

/// Output floats per depthwise tile (several channels of small images).
const DW_TILE: usize = 1 << 14;

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// One channel: `out = bias + sum over taps of w * input`.
#[inline(always)]
unsafe fn dw_plane<const FMA: bool>(
    inp: *const f32,
    w: &[f32],
    bias: f32,
    out: *mut f32,
    g: &Geom,
) {
    let [od, oh, ow] = g.o;
    let [id, ih, iw] = g.i;
    let (kh_n, kw_n) = (g.k[1], g.k[2]);
    let sx = g.s[2];
    for z in 0..od {
        for y in 0..oh {
            let row = std::slice::from_raw_parts_mut(out.add((z * oh + y) * ow), ow);
            if g.k == [1, 3, 3] && row3x3::<FMA>(inp, w, bias, row, g, y) {
                continue;
            }
            row.fill(bias);
            for kd in 0..g.k[0] {
                let zi = (z * g.s[0] + kd * g.d[0]) as isize - g.pb[0] as isize;
                if zi < 0 || zi >= id as isize {
                    continue;
                }
                for kh in 0..kh_n {
                    let yi = (y * g.s[1] + kh * g.d[1]) as isize - g.pb[1] as isize;
                    if yi < 0 || yi >= ih as isize {
                        continue;
                    }
                    let src = inp.add((zi as usize * ih + yi as usize) * iw);
                    for kw in 0..kw_n {
                        let wv = w[(kd * kh_n + kh) * kw_n + kw];
                        let off = (kw * g.d[2]) as isize - g.pb[2] as isize;
                        let (lo, hi) = valid_run(0, ow, sx, off, iw);
                        if lo == hi {
                            continue;
                        }
                        let s0 = src.offset((lo * sx) as isize + off);
                        if sx == 1 {
                            let s = std::slice::from_raw_parts(s0, hi - lo);
                            for (o, &i) in row[lo..hi].iter_mut().zip(s) {
                                *o = madd::<FMA>(wv, i, *o);
                            }
                        } else {
                            let s = std::slice::from_raw_parts(s0, (hi - lo - 1) * sx + 1);
                            for (j, o) in row[lo..hi].iter_mut().enumerate() {
                                *o = madd::<FMA>(wv, s[j * sx], *o);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A 3x3 (2-D) output row whose three input rows are all inside: the nine
/// taps in one pass over the positions where every tap is inside (one
/// store per output instead of nine), the edges tap by tap. Returns false
/// (nothing written) when an input row is in the padding.
#[inline(always)]
unsafe fn row3x3<const FMA: bool>(
    inp: *const f32,
    w: &[f32],
    bias: f32,
    row: &mut [f32],
    g: &Geom,
    y: usize,
) -> bool {
    let (ih, iw, ow, sx) = (g.i[1], g.i[2], g.o[2], g.s[2]);
    let mut src = [inp; 3];
    for (kh, s) in src.iter_mut().enumerate() {
        let yi = (y * g.s[1] + kh * g.d[1]) as isize - g.pb[1] as isize;
        if yi < 0 || yi >= ih as isize {
            return false;
        }
        *s = inp.add(yi as usize * iw);
    }
    let off: [isize; 3] = std::array::from_fn(|kw| (kw * g.d[2]) as isize - g.pb[2] as isize);
    let (mut lo, mut hi) = (0, ow);
    for &o in &off {
        let (l, h) = valid_run(0, ow, sx, o, iw);
        (lo, hi) = (lo.max(l), hi.min(h));
    }
    let w: [f32; 9] = std::array::from_fn(|i| w[i]);
    let edge = |x: usize| -> f32 {
        let mut acc = bias;
        for kh in 0..3 {
            for kw in 0..3 {
                let ix = (x * sx) as isize + off[kw];
                if ix >= 0 && ix < iw as isize {
                    acc = madd::<FMA>(w[kh * 3 + kw], *src[kh].offset(ix), acc);
                }
            }
        }
        acc
    };
    if lo >= hi {
        for (x, o) in row.iter_mut().enumerate() {
            *o = edge(x);
        }
        return true;
    }
    for x in (0..lo).chain(hi..ow) {
        row[x] = edge(x);
    }
    // Interior: every tap inside, so unchecked, branch-free and vectorizable.
    let b = (lo * sx) as isize;
    let t: [*const f32; 9] = std::array::from_fn(|i| src[i / 3].offset(b + off[i % 3]));
    let dst = row[lo..hi].as_mut_ptr();
    #[cfg(target_arch = "x86_64")]
    if (sx == 1 || sx == 2) && FMA && crate::kernels::sgemm::available() {
        interior3x3_avx512(&t, &w, bias, dst, hi - lo, sx);
        return true;
    }
    if sx == 1 {
        for j in 0..hi - lo {
            // Two independent chains halve the FMA latency per output.
            let (mut a, mut c) = (bias, 0.0);
            for i in 0..4 {
                a = madd::<FMA>(w[i], *t[i].add(j), a);
                c = madd::<FMA>(w[i + 4], *t[i + 4].add(j), c);
            }
            *dst.add(j) = madd::<FMA>(w[8], *t[8].add(j), a) + c;
        }
    } else {
        for j in 0..hi - lo {
            // Two independent chains halve the FMA latency per output.
            let (mut a, mut c) = (bias, 0.0);
            for i in 0..4 {
                a = madd::<FMA>(w[i], *t[i].add(j * sx), a);
                c = madd::<FMA>(w[i + 4], *t[i + 4].add(j * sx), c);
            }
            *dst.add(j) = madd::<FMA>(w[8], *t[8].add(j * sx), a) + c;
        }
    }
    true
}

/// The interior of a 3x3 row at stride 1 or 2, 16 outputs per step (the
/// auto-vectorized loops above stay scalar: nine input pointers and the
/// output may alias as far as the compiler knows, and stride 2 is a
/// gather). Same products and order as the portable loops:
/// `(bias + w0*x0 + .. + w3*x3) + w8*x8 + (w4*x4 + .. + w7*x7)`. Loads are
/// masked to the inputs the outputs use.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn interior3x3_avx512(
    t: &[*const f32; 9],
    w: &[f32; 9],
    bias: f32,
    dst: *mut f32,
    n: usize,
    sx: usize,
) {
    use std::arch::x86_64::*;
    let lanes = |k: usize| -> __mmask16 {
        if k >= 16 {
            0xffff
        } else {
            ((1u32 << k) - 1) as u16
        }
    };
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let wv: [__m512; 9] = std::array::from_fn(|i| _mm512_set1_ps(w[i]));
    let b = _mm512_set1_ps(bias);
    let mut j = 0;
    while j < n {
        let cnt = (n - j).min(16);
        let load = |p: *const f32| -> __m512 {
            if sx == 1 {
                _mm512_maskz_loadu_ps(lanes(cnt), p.add(j))
            } else {
                let need = 2 * cnt - 1;
                let lo = _mm512_maskz_loadu_ps(lanes(need), p.add(2 * j));
                let hi = _mm512_maskz_loadu_ps(lanes(need.saturating_sub(16)), p.add(2 * j + 16));
                _mm512_permutex2var_ps(lo, evens, hi)
            }
        };
        let mut a = b;
        let mut c = _mm512_setzero_ps();
        for i in 0..4 {
            a = _mm512_fmadd_ps(wv[i], load(t[i]), a);
            c = _mm512_fmadd_ps(wv[i + 4], load(t[i + 4]), c);
        }
        let r = _mm512_add_ps(_mm512_fmadd_ps(wv[8], load(t[8]), a), c);
        _mm512_mask_storeu_ps(dst.add(j), lanes(cnt), r);
        j += 16;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dw_plane_avx2(inp: *const f32, w: &[f32], bias: f32, out: *mut f32, g: &Geom) {
    dw_plane::<true>(inp, w, bias, out, g)
}

/// Depthwise convolution (`C/group == 1`; output channel `m` reads input
/// channel `m / (M/group)`).
///
/// # Safety
/// `job`'s buffers have the shapes its geometry describes.
pub(super) unsafe fn depthwise(job: &Job, ep: Option<&Bound>, threads: usize) {
    let kc = job.k;
    let g = &job.g;
    let (hwo, hwi, taps) = (g.out_size(), g.in_size(), g.taps());
    let grid = Grid {
        batch: job.n,
        rows: kc.m,
        cols: hwo,
        mb: (DW_TILE / hwo.max(1)).clamp(1, kc.m.div_ceil(4 * threads).max(1)),
        nb: hwo,
    };
    let flops = 2.0 * (job.n * kc.m * hwo * taps) as f64;
    let par = threads > 1 && flops >= pack::PAR_MIN_FLOPS / 4.0 && grid.tiles() > 1;
    let fast = pack::has_avx2_fma();
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = Flat::plan(g).filter(|_| crate::kernels::sgemm::available()) {
        let scratch = f.scratch(g);
        pack::for_each_tile(&grid, par, ep, |t| {
            with_scratch(scratch, |buf| {
                let (pad, tmp) = buf.split_at_mut(f.len + FLAT_SLACK);
                pad.fill(0.0);
                for r in t.r0..t.r1 {
                    let ci = r / kc.mg;
                    let w = &kc.weight[r * taps..(r + 1) * taps];
                    let bias = kc.bias.as_ref().map_or(0.0, |b| b[r]);
                    // SAFETY: channel `ci` of image `t.b` and output
                    // channel `r` lie inside the buffers; this tile owns
                    // output channel `r`; the host has AVX-512F.
                    unsafe {
                        let inp = job.x.add((t.b * kc.c + ci) * hwi);
                        let out = job.y.add((t.b * kc.m + r) * hwo);
                        dw_flat_avx512(&f, inp, pad, w, bias, out, tmp, g);
                    }
                }
            })
        });
        return;
    }
    pack::for_each_tile(&grid, par, ep, |t| {
        for r in t.r0..t.r1 {
            let ci = r / kc.mg;
            let w = &kc.weight[r * taps..(r + 1) * taps];
            let bias = kc.bias.as_ref().map_or(0.0, |b| b[r]);
            // SAFETY: channel `ci` of image `t.b` and output channel `r`
            // lie inside the buffers; this tile owns output channel `r`.
            unsafe {
                let inp = job.x.add((t.b * kc.c + ci) * hwi);
                let out = job.y.add((t.b * kc.m + r) * hwo);
                #[cfg(target_arch = "x86_64")]
                if fast {
                    dw_plane_avx2(inp, w, bias, out, g);
                    continue;
                }
                let _ = fast;
                dw_plane::<false>(inp, w, bias, out, g);
            }
        }
    });
}

/// Floats of slack after a [`Flat`] buffer (every read is masked to the
/// buffer; kept as a guard band).
const FLAT_SLACK: usize = 16;

/// The flattened depthwise layout (2-D, equal strides 1 or 2): a band of
/// input rows copied into a zero-bordered buffer, so every output reads
/// every tap at a fixed offset with no bounds to test. Bands of `band`
/// output rows keep the buffer near 16 KiB, in L1 (a whole 112x112 plane
/// would not be); their halo rows are copied twice.
///
/// Stride 1: rows of pitch `wp`; output `(y, x)` of a band reads tap `t`
/// at `y * wp + x + off[t]`, so a band is one branch-free vector loop over
/// `q = y * wp + x` (columns `ow..wp` of each row computed and dropped)
/// instead of a row at a time with per-row edge cases (on 7x7 planes that
/// setup cost ~20 cycles per output).
///
/// Stride 2: each padded row is stored de-interleaved, its even columns
/// then its odd columns (`half` each, pitch `2 * half`), so output `(y, x)`
/// reads tap `t` at `2 * y * pitch + x + off[t]`: unit-stride loads, the
/// gather done once per input element while copying instead of once per
/// tap. One vector loop per output row, written in place.
struct Flat {
    /// Stride 1: padded row width. Stride 2: `2 * half`.
    pitch: usize,
    /// Stride 2: floats per parity half-row.
    half: usize,
    /// Output rows per band, and input rows a band reads.
    band: usize,
    band_in: usize,
    /// Buffer floats (whole rows).
    len: usize,
    /// Per tap, where it reads relative to its output's base.
    offs: Vec<usize>,
}

/// Buffer floats a band aims for: 16 KiB, half of L1.
const BAND_FLOATS: usize = 1 << 12;

impl Flat {
    /// The layout for `g`, or `None` for 3-D windows and unequal or other
    /// strides (left to [`dw_plane`]).
    fn plan(g: &Geom) -> Option<Flat> {
        let two_d = g.k[0] == 1 && g.i[0] == 1 && g.o[0] == 1 && g.pb[0] == 0;
        let s = g.s[2];
        if !two_d || g.s[1] != s || !(s == 1 || s == 2) {
            return None;
        }
        let [_, _, iw] = g.i;
        let [_, oh, ow] = g.o;
        let (kh, kw, dh, dw) = (g.k[1], g.k[2], g.d[1], g.d[2]);
        // Padded width: the input and every column a window reaches.
        let wp = (g.pb[2] + iw).max(s * (ow - 1) + (kw - 1) * dw + 1);
        let (pitch, half) = if s == 1 {
            (wp, 0)
        } else {
            let half = wp.div_ceil(2);
            (2 * half, half)
        };
        let offs: Vec<usize> = (0..kh * kw)
            .map(|t| {
                let (r, c) = (t / kw, (t % kw) * dw);
                r * dh * pitch + if s == 1 { c } else { (c % 2) * half + c / 2 }
            })
            .collect();
        let max_off = offs.iter().copied().max().unwrap_or(0);
        let halo = (kh - 1) * dh;
        let band = (BAND_FLOATS / pitch)
            .saturating_sub(halo + 1)
            .div_euclid(s)
            .clamp(1, oh);
        let band_in = (band - 1) * s + halo + 1;
        // Last element read: the flat loop's at stride 1 (its dropped
        // columns reach into the next row), the last row's last output
        // otherwise.
        let last = if s == 1 {
            band * pitch - 1 + max_off
        } else {
            2 * (band - 1) * pitch + ow - 1 + max_off
        };
        let len = (last + 1).max(band_in * pitch).div_ceil(pitch) * pitch;
        Some(Flat {
            pitch,
            half,
            band,
            band_in,
            len,
            offs,
        })
    }

    /// Scratch floats a channel needs: the buffer, its slack, and at
    /// stride 1 a band's flat outputs.
    fn scratch(&self, g: &Geom) -> usize {
        self.len
            + FLAT_SLACK
            + if g.s[2] == 1 {
                self.band * self.pitch
            } else {
                0
            }
    }

    /// Copy the input rows of the band starting at output row `y0` into
    /// `pad`: inside rows into the inside columns (the border columns are
    /// zero and never written), rows in the vertical padding zeroed.
    ///
    /// # Safety
    /// `inp` holds the `ih x iw` plane of `g`; the host has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn fill(&self, inp: *const f32, g: &Geom, y0: usize, pad: &mut [f32]) {
        let [_, ih, iw] = g.i;
        let pc = g.pb[2];
        for r in 0..self.band_in {
            let yi = (y0 * g.s[1] + r) as isize - g.pb[1] as isize;
            let row = &mut pad[r * self.pitch..(r + 1) * self.pitch];
            if yi < 0 || yi >= ih as isize {
                // A single band's padding rows were zeroed with the buffer
                // and are never written.
                if self.band < g.o[1] {
                    row.fill(0.0);
                }
                continue;
            }
            let src = inp.add(yi as usize * iw);
            let row = row.as_mut_ptr();
            if g.s[2] == 1 {
                copy_avx512(src, row.add(pc), iw);
            } else {
                super::deinterleave(src, iw, pc, [row, row.add(self.half)]);
            }
        }
    }
}

/// One depthwise channel, band by band through a [`Flat`] buffer `pad`:
/// `out = bias + sum over taps of w * input`, products added in tap order.
/// Stride 1: a band's flat loop into `tmp` (`band * pitch` floats), then
/// compacted (straight into `out` when the pitch is the output width);
/// stride 2: a loop per output row, in place.
///
/// # Safety
/// The host has AVX-512F; `inp` holds the input plane of `g`; `pad` holds
/// `f.len + FLAT_SLACK` floats with zero border columns; `out` holds the
/// `oh x ow` output plane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_flat_avx512(
    f: &Flat,
    inp: *const f32,
    pad: &mut [f32],
    w: &[f32],
    bias: f32,
    out: *mut f32,
    tmp: &mut [f32],
    g: &Geom,
) {
    let [_, oh, ow] = g.o;
    let mut y0 = 0;
    while y0 < oh {
        let rows = f.band.min(oh - y0);
        f.fill(inp, g, y0, pad);
        let p = pad.as_ptr();
        let dst = out.add(y0 * ow);
        if g.s[2] == 2 {
            for y in 0..rows {
                dw_run_avx512(p.add(2 * y * f.pitch), f, w, bias, dst.add(y * ow), ow);
            }
        } else if f.pitch == ow {
            dw_run_avx512(p, f, w, bias, dst, rows * f.pitch);
        } else {
            dw_run_avx512(p, f, w, bias, tmp.as_mut_ptr(), rows * f.pitch);
            for y in 0..rows {
                copy_avx512(tmp.as_ptr().add(y * f.pitch), dst.add(y * ow), ow);
            }
        }
        y0 += rows;
    }
}

/// Copy `n` floats, 16 at a time (rows of 7 to 56 floats: a `memcpy`
/// call costs more than the copy).
///
/// # Safety
/// The host has AVX-512F; the ranges are valid and do not overlap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn copy_avx512(src: *const f32, dst: *mut f32, n: usize) {
    use std::arch::x86_64::*;
    let mut j = 0;
    while j < n {
        let k = (n - j).min(16);
        let m: __mmask16 = if k >= 16 {
            0xffff
        } else {
            ((1u32 << k) - 1) as u16
        };
        _mm512_mask_storeu_ps(dst.add(j), m, _mm512_maskz_loadu_ps(m, src.add(j)));
        j += 16;
    }
}

/// `dst[j] = bias + sum_t w[t] * p[j + offs[t]]` for `j < n`: four
/// vectors of 16 in flight (four FMA chains), the last ones masked, so a
/// 7x7 plane (63 flat outputs) is one pass, not four serial chains.
/// (Loading each input row once and shifting it in registers with
/// `valignd` measured no faster: on MobileNet's planes the loop is bound
/// by moving the planes through L2/L3, not by its loads.)
///
/// # Safety
/// The host has AVX-512F; `p` holds every element read; `dst` holds `n`
/// floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dw_run_avx512(p: *const f32, f: &Flat, w: &[f32], bias: f32, dst: *mut f32, n: usize) {
    use std::arch::x86_64::*;
    let lanes = |k: usize| -> __mmask16 {
        if k >= 16 {
            0xffff
        } else {
            ((1u32 << k) - 1) as u16
        }
    };
    let b = _mm512_set1_ps(bias);
    let mut j = 0;
    while j < n {
        let m: [__mmask16; 4] = std::array::from_fn(|v| lanes(n.saturating_sub(j + 16 * v)));
        let mut acc = [b; 4];
        for (&off, &wt) in f.offs.iter().zip(w) {
            let wv = _mm512_set1_ps(wt);
            for (v, a) in acc.iter_mut().enumerate() {
                let x = _mm512_maskz_loadu_ps(m[v], p.add(j + 16 * v + off));
                *a = _mm512_fmadd_ps(wv, x, *a);
            }
        }
        for (v, a) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(dst.add(j + 16 * v), m[v], *a);
        }
        j += 64;
    }
}

/// Transposed convolution: per image and group, `cols = W_g^T . x_g` in
/// column tiles, each scattered into the output (initialized with the bias).
///
/// # Safety
/// `job`'s buffers have the shapes its geometry describes.
pub(super) unsafe fn transposed(job: &Job, ep: Option<&Bound>, threads: usize) {
    let kc = job.k;
    let g = &job.g;
    let (hwo, hwi, taps) = (g.out_size(), g.in_size(), g.taps());
    let rows_w = kc.mg * taps;
    let grid = Grid {
        batch: job.n,
        rows: kc.m,
        cols: hwo,
        mb: kc.mg,
        nb: hwo,
    };
    let flops = 2.0 * (job.n * kc.c * rows_w * hwi) as f64;
    let par = threads > 1 && flops >= pack::PAR_MIN_FLOPS && grid.tiles() > 1;
    let tj = ((1usize << 17) / rows_w.max(1)).clamp(16, hwi.max(16));
    pack::for_each_tile(&grid, par, ep, |t| {
        let gi = t.r0 / kc.mg;
        // SAFETY: group `gi` of image `t.b` and its output channels lie in
        // the buffers; this tile owns those output channels.
        unsafe {
            if !job.init_bias(t.b, t.r0, t.r1, 0, hwo) {
                std::slice::from_raw_parts_mut(job.y.add((t.b * kc.m + t.r0) * hwo), kc.mg * hwo)
                    .fill(0.0);
            }
            let image = job.x.add((t.b * kc.c + gi * kc.cg) * hwi);
            let lhs = Mat {
                ptr: kc.weight.as_ptr().add(gi * rows_w * kc.cg),
                rs: kc.cg as isize,
                cs: 1,
            };
            let out = job.y.add((t.b * kc.m + t.r0) * hwo);
            let mut j0 = 0;
            while j0 < hwi {
                let j1 = (j0 + tj).min(hwi);
                let w = j1 - j0;
                with_scratch(rows_w * w, |cols| {
                    let rhs = Mat {
                        ptr: image.add(j0),
                        rs: hwi as isize,
                        cs: 1,
                    };
                    sgemm(rows_w, w, kc.cg, cols.as_mut_ptr(), w, false, lhs, rhs, 1.0);
                    col2im(cols, kc.mg, g, j0, j1, out);
                });
                j0 = j1;
            }
        }
    });
}

/// Add `cols` (`[mg * taps, j1 - j0]`, input positions `j0..j1`) into the
/// `[mg, out...]` block `out`: input position `i` with tap `k` lands on
/// output `i*s + k*d - pb`, dropped when outside.
///
/// # Safety
/// `out` holds `mg * g.out_size()` floats.
unsafe fn col2im(cols: &[f32], mg: usize, g: &Geom, j0: usize, j1: usize, out: *mut f32) {
    let w = j1 - j0;
    let [od, oh, ow] = g.o;
    let [_, ih, iw] = g.i;
    let mut row = 0;
    for m in 0..mg {
        let plane = out.add(m * od * oh * ow);
        for kd in 0..g.k[0] {
            for kh in 0..g.k[1] {
                for kw in 0..g.k[2] {
                    let src = &cols[row * w..(row + 1) * w];
                    row += 1;
                    let offw = (kw * g.d[2]) as isize - g.pb[2] as isize;
                    let mut j = j0;
                    while j < j1 {
                        let (z, rest) = (j / (ih * iw), j % (ih * iw));
                        let (y, x) = (rest / iw, rest % iw);
                        let run = (j1 - j).min(iw - x);
                        let seg = &src[j - j0..j - j0 + run];
                        j += run;
                        let zo = (z * g.s[0] + kd * g.d[0]) as isize - g.pb[0] as isize;
                        let yo = (y * g.s[1] + kh * g.d[1]) as isize - g.pb[1] as isize;
                        if zo < 0 || zo >= od as isize || yo < 0 || yo >= oh as isize {
                            continue;
                        }
                        let dst = plane.add((zo as usize * oh + yo as usize) * ow);
                        let (lo, hi) = valid_run(x, run, g.s[2], offw, ow);
                        for (jj, &v) in seg.iter().enumerate().take(hi).skip(lo) {
                            let xo = ((x + jj) * g.s[2]) as isize + offw;
                            *dst.offset(xo) += v;
                        }
                    }
                }
            }
        }
    }
}
