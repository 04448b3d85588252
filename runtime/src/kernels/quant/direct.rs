//! Depthwise quantized convolution (one input channel per group): a
//! direct loop, since a GEMM per channel would be only `taps` deep and the
//! work is memory-bound anyway.
//!
//! Each input channel is first copied into a plane bordered with the zero
//! point ([`Padded`], flipped to `u8`), in thread-local scratch, so every
//! tap of every window is inside it and the padding reads as a real 0.
//! The sum `sum w x'` needs no edge cases, and the zero point comes out as
//! the per-channel correction the GEMM paths use too (`zx * sum(w) -
//! bias`). Outputs go [`LANES`] at a time, their `i32` sums in one
//! register across the taps, then requantized with the formula of
//! [`requant`] and stored under a mask. Paths, chosen at run time:
//! 1. AVX-512 VNNI + VBMI: taps of one kernel row go four at a time: a
//!    `vpermb` gathers, for each of 16 outputs, the four input bytes its
//!    taps read (from one 64-byte load), and one `vpdpbusd` multiplies
//!    them by the four weights and adds (a 3x3 kernel: 3 steps, not 9).
//! 2. AVX-512 (strides 1 and 2): per tap, a 16-byte load widened to
//!    `i32`, a multiply and an add.
//! 3. Portable Rust (any stride), compiled for AVX2 and generic x86-64.

use super::conv::Job;
use super::unfold::Padded;
use super::{at, requant, with_bytes, Out};
use crate::kernels::pack::{self, Grid};

/// Output values per tile (several channels of small images).
const DW_TILE: usize = 1 << 14;

/// Outputs computed together (one 512-bit vector of `i32`).
const LANES: usize = 16;

/// Run a depthwise convolution.
///
/// # Safety
/// `job`'s buffers have the shapes its geometry describes, and the kernel
/// has one input channel per group.
pub(super) unsafe fn depthwise(job: &Job, threads: usize) {
    let kc = job.k;
    let g = &job.g;
    let hwo = g.out_size();
    let ops = 2.0 * (job.n * kc.m * hwo * g.taps()) as f64;
    let par_ok = threads > 1 && ops >= pack::PAR_MIN_FLOPS;
    let mut mb = (DW_TILE / hwo.max(1)).clamp(1, kc.m);
    if par_ok && job.n * kc.m.div_ceil(mb) < 4 * threads {
        mb = kc.m.div_ceil((4 * threads).div_ceil(job.n)).max(1);
    }
    let grid = Grid {
        batch: job.n,
        rows: kc.m,
        cols: hwo,
        mb,
        nb: hwo,
    };
    let padded = Padded::new(g);
    let (_, hp, wp) = padded.dims();
    let origin =
        |kd: usize, kh: usize, kw: usize| (kd * g.d[0] * hp + kh * g.d[1]) * wp + kw * g.d[2];
    let taps: Vec<usize> = (0..g.taps())
        .map(|t| origin(t / (g.k[1] * g.k[2]), (t / g.k[2]) % g.k[1], t % g.k[2]))
        .collect();
    let mut level = Level::best();
    let groups = match level {
        Level::Vnni => Groups::new(job, &origin),
        _ => None,
    };
    if groups.is_none() && level == Level::Vnni {
        level = Level::Avx512;
    }
    if level == Level::Avx512 && g.s[2] > 2 {
        level = Level::Avx2;
    }
    // Vector loads read past a row's last output: at most 64 bytes
    // (VNNI), or `LANES * stride`.
    let len = padded.plane + 64.max(LANES * g.s[2]);
    let dw = Dw {
        job,
        padded,
        taps,
        groups,
        level,
    };
    let body = |t: pack::Tile| {
        with_bytes(len, |buf| {
            let mut have = usize::MAX;
            for ch in t.r0..t.r1 {
                let ci = ch / kc.mg;
                if ci != have {
                    // SAFETY: input channel `ci` of image `t.b`.
                    unsafe {
                        let src = job.x.add((t.b * kc.c + ci) * g.in_size());
                        let (plane, _) = buf.split_at_mut(dw.padded.plane);
                        dw.padded.fill(src, 1, g, kc.x.flip, kc.x.zp as u8, plane)
                    };
                    have = ci;
                }
                // SAFETY: channel `ch` of image `t.b` is this tile's alone;
                // `buf` holds its padded input plane plus the over-read.
                unsafe { dw.plane(buf, t.b, ch) };
            }
        })
    };
    // SAFETY: every tile writes only its own channels.
    unsafe { pack::for_each_tile(&grid, par_ok && grid.tiles() > 1, None, body) };
}

/// One call's depthwise problem.
struct Dw<'a> {
    job: &'a Job<'a>,
    padded: Padded,
    /// Per tap, its offset in a padded plane from a window's origin.
    taps: Vec<usize>,
    /// The VNNI path's tap groups, when it runs.
    groups: Option<Groups>,
    level: Level,
}

/// Taps of one kernel row in groups of up to four for the VNNI path: per
/// group, its first tap's offset from a window's origin and the `vpermb`
/// index that puts, in `i32` lane `j`, the bytes of output `j`'s taps
/// (`j * stride + q * dilation` from the group's first tap of output 0)
/// within a 64-byte window; per channel and group, the four weights
/// (zero where a group has fewer taps).
struct Groups {
    off: Vec<usize>,
    idx: Vec<[u8; 64]>,
    weights: Vec<i32>,
}

impl Groups {
    /// `None` when a 64-byte window cannot hold a group (strides over 4).
    fn new(job: &Job, origin: &dyn Fn(usize, usize, usize) -> usize) -> Option<Groups> {
        let g = &job.g;
        let (s, d) = (g.s[2], g.d[2]);
        // Lane 15's last tap must be inside the window.
        let reach = 63usize.checked_sub((LANES - 1) * s)?;
        let per = (reach / d + 1).min(4);
        let (mut off, mut idx, mut cols) = (vec![], vec![], vec![]);
        for kd in 0..g.k[0] {
            for kh in 0..g.k[1] {
                for kw0 in (0..g.k[2]).step_by(per) {
                    let n = per.min(g.k[2] - kw0);
                    off.push(origin(kd, kh, kw0));
                    let mut ix = [0u8; 64];
                    for j in 0..LANES {
                        for q in 0..n {
                            ix[4 * j + q] = (j * s + q * d) as u8;
                        }
                    }
                    idx.push(ix);
                    cols.push((kd, kh, kw0, n));
                }
            }
        }
        let kc = job.k;
        let taps = g.taps();
        let mut weights = Vec::with_capacity(kc.m * cols.len());
        for ch in 0..kc.m {
            let w = &kc.weight[ch * taps..(ch + 1) * taps];
            for &(kd, kh, kw0, n) in &cols {
                let mut b = [0i8; 4];
                for (q, b) in b.iter_mut().enumerate().take(n) {
                    *b = w[(kd * g.k[1] + kh) * g.k[2] + kw0 + q];
                }
                weights.push(i32::from_le_bytes(b.map(|v| v as u8)));
            }
        }
        Some(Groups { off, idx, weights })
    }
}

/// The depthwise implementations (see the module header).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Level {
    Vnni,
    Avx512,
    Avx2,
    Generic,
}

#[cfg(test)]
thread_local! {
    /// A level the tests impose on this thread's runs (serial runs only:
    /// parallel tiles run on other threads).
    pub(super) static FORCE: std::cell::Cell<Option<Level>> = const { std::cell::Cell::new(None) };
}

impl Level {
    /// Every level this host runs.
    #[cfg(test)]
    pub(super) fn available() -> Vec<Level> {
        let best = Level::best_detected();
        let all = [Level::Vnni, Level::Avx512, Level::Avx2, Level::Generic];
        let from = all.iter().position(|&l| l == best).unwrap_or(3);
        all[from..].to_vec()
    }

    fn best() -> Level {
        #[cfg(test)]
        if let Some(l) = FORCE.with(|f| f.get()) {
            return l;
        }
        Level::best_detected()
    }

    fn best_detected() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512vl") {
                if has!("avx512vnni") && has!("avx512vbmi") {
                    return Level::Vnni;
                }
                return Level::Avx512;
            }
            if has!("avx2") {
                return Level::Avx2;
            }
        }
        Level::Generic
    }
}

/// The AVX-512 paths' row loop: `$acc` computes the sums of the 16
/// outputs from `x0` of the output row whose window origin is `origin`
/// (names bound by the caller's closure-like arguments); the rest
/// (requantization, masked stores) is shared.
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_rows {
    ($dw:expr, $b:expr, $ch:expr, |$q:ident| $narrow:expr, |$origin:ident, $x0:ident| $acc:expr) => {{
        use std::arch::x86_64::*;
        let (job, kc, g) = ($dw.job, $dw.job.k, &$dw.job.g);
        let [od, oh, ow] = g.o;
        let (_, hp, wp) = $dw.padded.dims();
        let corr = _mm512_set1_epi32(kc.corr[$ch]);
        let out0 = ($b * kc.m + $ch) * g.out_size();
        let quant = match &kc.out {
            Out::I32 => None,
            Out::Quant { mult, q, .. } => Some((
                _mm512_set1_ps(at(mult, $ch)),
                _mm512_set1_ps((q.lo - q.zero_point) as f32),
                _mm512_set1_ps((q.hi - q.zero_point) as f32),
                _mm512_set1_epi32(q.zero_point),
            )),
        };
        for z in 0..od {
            for y in 0..oh {
                let $origin = (z * g.s[0] * hp + y * g.s[1]) * wp;
                let o = out0 + (z * oh + y) * ow;
                for $x0 in (0..ow).step_by(LANES) {
                    let n = LANES.min(ow - $x0);
                    let acc: __m512i = $acc;
                    let mask: u16 = if n == LANES { u16::MAX } else { (1 << n) - 1 };
                    let d = _mm512_sub_epi32(acc, corr);
                    // SAFETY: outputs `x0..x0 + n` of this row of the
                    // caller's channel (the mask keeps the rest).
                    unsafe {
                        match quant {
                            None => _mm512_mask_storeu_epi32(
                                (job.y as *mut i32).add(o + $x0).cast(),
                                mask,
                                d,
                            ),
                            Some((m, lo, hi, zp)) => {
                                // `requant`'s operations, lane for lane.
                                let f = _mm512_mul_ps(_mm512_cvtepi32_ps(d), m);
                                let f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
                                let r = _mm512_roundscale_ps::<
                                    { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
                                >(f);
                                let $q = _mm512_add_epi32(_mm512_cvtps_epi32(r), zp);
                                let (p, v) = (job.y.add(o + $x0), $narrow);
                                // Masked stores are slow on Zen 4: only
                                // a row's last vector takes one.
                                if n == LANES {
                                    _mm_storeu_si128(p.cast(), v);
                                } else {
                                    _mm_mask_storeu_epi8(p.cast(), mask, v);
                                }
                            }
                        }
                    }
                }
            }
        }
    }};
}

impl Dw<'_> {
    /// Output channel `ch` of image `b` from its padded input plane.
    ///
    /// # Safety
    /// As [`Dw::plane_portable`]; `self.level` is available (the VNNI
    /// level with `groups`, the AVX-512 one at strides 1 and 2).
    unsafe fn plane(&self, buf: &[u8], b: usize, ch: usize) {
        match self.level {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the features were detected; the rest is the caller's.
            Level::Vnni => unsafe { self.plane_vnni(buf, b, ch) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Level::Avx512 => unsafe { self.plane_avx512(buf, b, ch) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Level::Avx2 => unsafe { self.plane_avx2(buf, b, ch) },
            // SAFETY: the caller's contract.
            _ => unsafe { self.plane_portable(buf, b, ch) },
        }
    }

    /// # Safety
    /// As [`Dw::plane_portable`]; the host has AVX-512F/BW/VL, VNNI and
    /// VBMI; `self.groups` is set; `buf` has 64 bytes of slack.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
    unsafe fn plane_vnni(&self, buf: &[u8], b: usize, ch: usize) {
        use std::arch::x86_64::*;
        let gr = self.groups.as_ref().expect("the VNNI level has groups");
        let n = gr.off.len();
        let w = &gr.weights[ch * n..(ch + 1) * n];
        let (base, sx) = (buf.as_ptr(), self.job.g.s[2]);
        // The low byte of each lane, by `vpermb`: LLVM folds the
        // `vpmovdb` of the AVX-512 path into a store to memory, which is
        // slow on Zen 4.
        let low: [u8; 64] = std::array::from_fn(|i| (4 * (i % LANES)) as u8);
        // SAFETY: 64 bytes.
        let low = unsafe { _mm512_loadu_si512(low.as_ptr().cast()) };
        avx512_rows!(
            self,
            b,
            ch,
            |q| _mm512_castsi512_si128(_mm512_permutexvar_epi8(low, q)),
            |origin, x0| {
                let mut acc = _mm512_setzero_si512();
                for ((&off, ix), &wq) in gr.off.iter().zip(&gr.idx).zip(w) {
                    // SAFETY: the window starts at a tap of output `x0`,
                    // inside the plane; 64 bytes from it stay in the slack.
                    // The index is 64 bytes.
                    let (win, ix) = unsafe {
                        (
                            _mm512_loadu_si512(base.add(origin + off + x0 * sx).cast()),
                            _mm512_loadu_si512(ix.as_ptr().cast()),
                        )
                    };
                    let xv = _mm512_permutexvar_epi8(ix, win);
                    acc = _mm512_dpbusd_epi32(acc, xv, _mm512_set1_epi32(wq));
                }
                acc
            }
        );
    }

    /// # Safety
    /// As [`Dw::plane_portable`]; the host has AVX-512F/BW/VL; stride 1
    /// or 2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn plane_avx512(&self, buf: &[u8], b: usize, ch: usize) {
        let nt = self.taps.len();
        let w = &self.job.k.weight[ch * nt..(ch + 1) * nt];
        let (base, sx) = (buf.as_ptr(), self.job.g.s[2]);
        debug_assert!(sx == 1 || sx == 2);
        avx512_rows!(self, b, ch, |q| _mm512_cvtepi32_epi8(q), |origin, x0| {
            let mut acc = _mm512_setzero_si512();
            for (&off, &wv) in self.taps.iter().zip(w) {
                // SAFETY: as in `plane_vnni`, reading 16 or 32 bytes.
                let v = unsafe {
                    let p = base.add(origin + off + x0 * sx);
                    if sx == 1 {
                        _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast()))
                    } else {
                        // Even bytes: the low byte of each `u16`.
                        _mm512_and_si512(
                            _mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast())),
                            _mm512_set1_epi32(0xff),
                        )
                    }
                };
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(v, _mm512_set1_epi32(wv as i32)));
            }
            acc
        });
    }

    /// # Safety
    /// As [`Dw::plane_portable`]; the host has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn plane_avx2(&self, buf: &[u8], b: usize, ch: usize) {
        // SAFETY: the caller's contract.
        unsafe { self.plane_portable(buf, b, ch) }
    }

    /// The loop of the module header in portable Rust, any stride.
    ///
    /// # Safety
    /// `buf` holds the padded plane of `ch`'s input channel and `LANES *
    /// stride` more bytes; nobody else touches channel `ch` of image `b`'s
    /// output during the call.
    #[inline(always)]
    unsafe fn plane_portable(&self, buf: &[u8], b: usize, ch: usize) {
        // Stride 1 gets its own copy, with contiguous loads.
        if self.job.g.s[2] == 1 {
            // SAFETY: the caller's contract.
            unsafe { self.rows::<true>(buf, b, ch) }
        } else {
            // SAFETY: the caller's contract.
            unsafe { self.rows::<false>(buf, b, ch) }
        }
    }

    /// [`Dw::plane_portable`] for unit stride (`UNIT`) or any.
    ///
    /// # Safety
    /// As [`Dw::plane_portable`].
    #[inline(always)]
    unsafe fn rows<const UNIT: bool>(&self, buf: &[u8], b: usize, ch: usize) {
        let (job, kc, g) = (self.job, self.job.k, &self.job.g);
        let [od, oh, ow] = g.o;
        let (_, hp, wp) = self.padded.dims();
        let sx = g.s[2];
        let nt = self.taps.len();
        let w = &kc.weight[ch * nt..(ch + 1) * nt];
        let corr = kc.corr[ch];
        let out0 = (b * kc.m + ch) * g.out_size();
        for z in 0..od {
            for y in 0..oh {
                let origin = (z * g.s[0] * hp + y * g.s[1]) * wp;
                let o = out0 + (z * oh + y) * ow;
                for x0 in (0..ow).step_by(LANES) {
                    let n = LANES.min(ow - x0);
                    let mut acc = [0i32; LANES];
                    for (&off, &wv) in self.taps.iter().zip(w) {
                        let wv = wv as i32;
                        let at = origin + off + x0 * sx;
                        let v: [u8; LANES] = if UNIT {
                            buf[at..at + LANES].try_into().unwrap()
                        } else {
                            let s = &buf[at..at + LANES * sx];
                            std::array::from_fn(|j| s[j * sx])
                        };
                        for (a, &v) in acc.iter_mut().zip(&v) {
                            *a = a.wrapping_add(wv * v as i32);
                        }
                    }
                    match &kc.out {
                        Out::I32 => {
                            // SAFETY: outputs `x0..x0 + n` of this row of
                            // the caller's channel.
                            let dst = unsafe {
                                std::slice::from_raw_parts_mut((job.y as *mut i32).add(o + x0), n)
                            };
                            for (d, &a) in dst.iter_mut().zip(&acc) {
                                *d = a.wrapping_sub(corr);
                            }
                        }
                        Out::Quant { mult, q, .. } => {
                            let m = at(mult, ch);
                            let mut qs = [0u8; LANES];
                            for (q8, &a) in qs.iter_mut().zip(&acc) {
                                // `u8` and `i8` results share the byte:
                                // the value is in the type's range.
                                *q8 = requant(a, corr, m, q) as u8;
                            }
                            // SAFETY: as above, bytes.
                            let dst =
                                unsafe { std::slice::from_raw_parts_mut(job.y.add(o + x0), n) };
                            dst.copy_from_slice(&qs[..n]);
                        }
                    }
                }
            }
        }
    }
}
