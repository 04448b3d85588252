//! Channel-vectorized convolution for small output planes (AVX-512).
//!
//! The GEMM paths put output positions along the vector lanes: a 7x7
//! plane (49 positions; 63 flat columns on the implicit path) fills two
//! 32-wide panels, 64 lanes, so a quarter of the work is thrown away, and
//! 14x14 planes lose an eighth. Output channels come in multiples of 32 in
//! the networks that have such planes (ResNet's 512, MobileNet's 160 to
//! 1280 — except 24 or 16), so here the lanes run along the channels
//! instead: `yᵀ = xᵀ · Wᵀ`, an `R x 32` tile (`R` = 7 or 8 positions of one
//! output row by 32 channels), the weight transposed once at build time
//! into 32-channel panels (`[depth][32]`, one contiguous stream per panel,
//! as `sgemm::pack_panels` lays out any constant operand) and the
//! positions broadcast from the input in place (pointwise) or from the
//! implicit path's zero-bordered planes through its row-offset table. The
//! bias starts the accumulators. The whole depth runs in registers, then
//! the tile is transposed in registers on its way into the NCHW output
//! (about 100 instructions against `depth x 16` vector FMAs).
//!
//! Tiles of the parallel grid are whole 32-channel panels by the whole
//! plane — the panel (`depth x 32` floats: 590 KB for a 3x3 conv of 512
//! channels) stays in L2 while every position block of the plane streams
//! it — or, when there are too few panels to go round the threads, by
//! whole rows of the plane.

use super::geom::Geom;
use super::im2col::{with_padded, Implicit};
use super::{Algo, ConvKernel, Job};
use crate::kernels::pack::{self, Bound, Grid};
use crate::kernels::sgemm as own;
use std::arch::x86_64::*;

/// Output channels per panel.
const NC: usize = own::PANEL;

/// Largest output plane (positions per image) this path takes.
const MAX_PLANE: usize = 256;

/// Whether `kc` should use this path for output planes of `g`: one group,
/// at least one full panel of channels, a plane of at most `MAX_PLANE`
/// positions, pointwise or on the implicit path — and fewer lanes wasted
/// than on the GEMM path by enough to pay for the transposed store (a few
/// FMA steps' worth per tile: `1 + 4 / depth`). At 7x7 that is every layer
/// (49 of 64 lanes used there), at 14x14 most (196 of 224). Larger planes
/// stay on the GEMM path: there it wastes little, and for shallow layers
/// (MobileNet's 16->96 at 112x112) it measured far faster.
pub(super) fn eligible(kc: &ConvKernel, g: &Geom) -> bool {
    let hwo = g.out_size();
    if !own::available()
        || !std::arch::is_x86_feature_detected!("avx512vl")
        || kc.group != 1
        || kc.m < NC
        || hwo == 0
        || hwo > MAX_PLANE
    {
        return false;
    }
    let panels = kc.m as f64 / kc.m.next_multiple_of(NC) as f64;
    let [_, oh, ow] = g.o;
    let depth = (kc.cg * g.taps()) as f64;
    let (flat, rows, per_row) = match source_kind(kc, g, 1) {
        Some(Kind::Plane) => (hwo, 1, hwo),
        Some(Kind::Padded(imp)) => (oh * imp.wq, oh, ow),
        // The GEMM path would unfold every window into scratch first (a
        // gather at strides above 2): reading in place wins outright.
        Some(Kind::Direct) => return panels >= 0.75,
        None => return false,
    };
    // Lanes the GEMM path computes: flat columns in 32-wide panels.
    let gemm = hwo as f64 / flat.next_multiple_of(NC) as f64;
    let r = block(per_row);
    let mine = hwo as f64 / (rows * per_row.div_ceil(r) * r) as f64 / (1.0 + 4.0 / depth);
    mine * panels > gemm * 1.03
}

/// How the positions are read.
enum Kind {
    /// Pointwise: the input plane as it stands.
    Plane,
    /// The implicit path's padded planes.
    Padded(Implicit),
    /// No padding, 2-D: windows read in place at any stride (a ViT's
    /// 16x16 patches at stride 16, ResNet's 1x1 stride-2 shortcuts).
    Direct,
}

/// `images`: input planes the implicit path would pad (its size limit).
fn source_kind(kc: &ConvKernel, g: &Geom, images: usize) -> Option<Kind> {
    let two_d = g.k[0] == 1 && g.i[0] == 1 && g.o[0] == 1;
    let unpadded = g.pb == [0; 3] && g.pe == [0; 3];
    match kc.algo {
        Algo::Pointwise => Some(Kind::Plane),
        Algo::Im2col if unpadded && two_d => Some(Kind::Direct),
        Algo::Im2col if kc.implicit_eligible() => {
            Implicit::plan(g, kc.cg, images).map(Kind::Padded)
        }
        _ => None,
    }
}

/// The weight `[M, depth]` as 32-channel panels of `[depth][32]`.
pub(super) fn pack_weight(w: &[f32], m: usize, depth: usize) -> Vec<f32> {
    let mut t = vec![0f32; depth * m];
    for (r, row) in w.chunks_exact(depth).enumerate() {
        for (p, &v) in row.iter().enumerate() {
            t[p * m + r] = v;
        }
    }
    own::pack_panels(&t, depth, m)
}

/// Positions per register tile for rows of `w` output positions: 7 or 8,
/// whichever wastes fewer lanes (8 on ties).
fn block(w: usize) -> usize {
    let waste = |r: usize| w.div_ceil(r) * r - w;
    if waste(7) < waste(8) {
        7
    } else {
        8
    }
}

/// Run the convolution with the panels `wt` from [`pack_weight`].
///
/// Returns `false`, having done nothing, when the padded planes of this
/// batch would exceed the implicit path's limit (the caller then takes the
/// GEMM path).
///
/// # Safety
/// The host has AVX-512F; [`eligible`] holds; `job`'s buffers have the
/// shapes its geometry describes.
pub(super) unsafe fn run(job: &Job, ep: Option<&Bound>, threads: usize, wt: &[f32]) -> bool {
    let kc = job.k;
    let g = &job.g;
    let Some(kind) = source_kind(kc, g, job.n * kc.c) else {
        return false;
    };
    let [_, oh, ow] = g.o;
    let hwo = g.out_size();
    let depth = kc.cg * g.taps();
    let flops = 2.0 * (job.n * kc.m * hwo) as f64 * depth as f64;
    let par_ok = threads > 1 && flops >= pack::PAR_MIN_FLOPS;
    let panels = kc.m.div_ceil(NC);
    let plane = matches!(kind, Kind::Plane);
    // Positions are split in units of whole register blocks (pointwise) or
    // whole output rows.
    let (unit, units) = if plane {
        (block(hwo), hwo.div_ceil(block(hwo)))
    } else {
        (ow, oh)
    };
    // About four tiles per thread: whole panels each, then, when there are
    // too few panels (96 output channels are three), the plane split too.
    let (per, splits) = if par_ok {
        let want = 4 * threads;
        let per = panels.div_ceil(want.div_ceil(job.n)).max(1);
        let row_tiles = job.n * panels.div_ceil(per);
        (per, want.div_ceil(row_tiles).clamp(1, units))
    } else {
        (panels, 1)
    };
    let grid = Grid {
        batch: job.n,
        rows: kc.m,
        cols: hwo,
        mb: per * NC,
        nb: (units.div_ceil(splits) * unit).min(hwo),
    };
    let par = par_ok && grid.tiles() > 1;
    let wt = wt.as_ptr() as usize;
    let tile_body = |src: Source, tile: pack::Tile| {
        for q in tile.r0 / NC..tile.r1.div_ceil(NC) {
            let m0 = q * NC;
            let nr = NC.min(kc.m - m0);
            // SAFETY: panel `q` holds `depth x 32` floats; the tile's
            // channels and every position are inside image `tile.b`'s
            // output; `src` addresses image `tile.b`'s input.
            unsafe {
                let w = (wt as *const f32).add(q * depth * NC);
                let init = bias_lanes(kc.bias.as_deref(), m0, nr);
                let out = job.y.add((tile.b * kc.m + m0) * hwo);
                match src {
                    Source::Plane(x) => {
                        let x = x.add(tile.b * kc.c * g.in_size());
                        let r = block(hwo);
                        for p0 in (tile.c0..tile.c1).step_by(r) {
                            let mr = r.min(tile.c1 - p0);
                            let at = Rows::Strided(x.add(p0), g.in_size() as isize);
                            tile_at(r, depth, at, mr, w, init, out.add(p0), hwo, nr);
                        }
                    }
                    Source::Direct(x, offs) => {
                        let x = x.add(tile.b * kc.c * g.in_size());
                        let [_, _, iw] = g.i;
                        let (sy, sx) = (g.s[1], g.s[2]);
                        let r = block(ow);
                        for y in tile.c0 / ow..tile.c1.div_ceil(ow) {
                            for x0 in (0..ow).step_by(r) {
                                let mr = r.min(ow - x0);
                                let origin = x.add(sy * y * iw + sx * x0);
                                let at = Rows::Table(origin, offs.as_ptr(), sx);
                                let o = out.add(y * ow + x0);
                                tile_at(r, depth, at, mr, w, init, o, hwo, nr);
                            }
                        }
                    }
                    Source::Padded(planes, imp) => {
                        let planes = planes.add(tile.b * kc.c * imp.chan);
                        let r = block(ow);
                        for y in tile.c0 / ow..tile.c1.div_ceil(ow) {
                            for x0 in (0..ow).step_by(r) {
                                let mr = r.min(ow - x0);
                                let at =
                                    Rows::Table(planes.add(y * imp.wq + x0), imp.offs.as_ptr(), 1);
                                let o = out.add(y * ow + x0);
                                tile_at(r, depth, at, mr, w, init, o, hwo, nr);
                            }
                        }
                    }
                }
            }
        }
    };
    match kind {
        Kind::Plane => {
            let src = Source::Plane(job.x);
            pack::for_each_tile(&grid, par, ep, |t| tile_body(src, t));
        }
        Kind::Direct => {
            let offs = direct_offsets(g, kc.cg);
            let src = Source::Direct(job.x, &offs);
            pack::for_each_tile(&grid, par, ep, |t| tile_body(src, t));
        }
        Kind::Padded(imp) => {
            with_padded(job, &imp, par, |padded| {
                let src = Source::Padded(padded as *const f32, &imp);
                pack::for_each_tile(&grid, par, ep, |t| tile_body(src, t));
            });
        }
    }
    true
}

/// Per unfolded row `(c, kh, kw)`: where it reads relative to its
/// position's window origin in an unpadded 2-D input.
fn direct_offsets(g: &Geom, cg: usize) -> Vec<isize> {
    let [_, ih, iw] = g.i;
    let (kh, kw) = (g.k[1], g.k[2]);
    let mut offs = Vec::with_capacity(cg * kh * kw);
    for c in 0..cg {
        for r in 0..kh {
            for q in 0..kw {
                offs.push(((c * ih + r * g.d[1]) * iw + q * g.d[2]) as isize);
            }
        }
    }
    offs
}

/// Where the positions come from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The input as it stands (pointwise): position `p` of channel `c` at
    /// `x + c * plane + p`.
    Plane(*const f32),
    /// The implicit path's padded planes.
    Padded(*const f32, &'a Implicit),
    /// An unpadded input read in place: position `(y, x)`'s window origin
    /// at `x + (s * y) * iw + s * x`, then the offset table.
    Direct(*const f32, &'a [isize]),
}

// SAFETY: the pointers are the call's buffers (read only), alive for the
// whole call.
unsafe impl Send for Source<'_> {}
unsafe impl Sync for Source<'_> {}

/// Depth `p` of a position block starts at `base + p * stride`, or at
/// `base + offs[p]`; the block's positions follow it contiguously, or
/// (table) every `usize`-th element.
#[derive(Clone, Copy)]
enum Rows {
    Strided(*const f32, isize),
    Table(*const f32, *const isize, usize),
}

/// The bias of channels `m0..m0 + nr` as two vectors (zeros past `nr`).
#[target_feature(enable = "avx512f")]
unsafe fn bias_lanes(bias: Option<&[f32]>, m0: usize, nr: usize) -> [__m512; 2] {
    match bias {
        Some(b) => {
            let p = b.as_ptr().add(m0);
            [
                _mm512_maskz_loadu_ps(lanes(nr), p),
                _mm512_maskz_loadu_ps(lanes(nr.saturating_sub(16)), p.add(16)),
            ]
        }
        None => [_mm512_setzero_ps(); 2],
    }
}

fn lanes(k: usize) -> __mmask16 {
    if k >= 16 {
        0xffff
    } else {
        ((1u32 << k) - 1) as u16
    }
}

/// One `mr x nr` block (positions x channels) into `out` (channel `j`,
/// position `i` at `out[j * ld + i]`), with the `r`-position register tile.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn tile_at(
    r: usize,
    depth: usize,
    at: Rows,
    mr: usize,
    w: *const f32,
    init: [__m512; 2],
    out: *mut f32,
    ld: usize,
    nr: usize,
) {
    let mut buf = [0f32; 8 * NC];
    let null = std::ptr::null();
    match (r, at) {
        (7, Rows::Strided(b, s)) => micro::<7, false>(depth, b, s, null, 1, mr, w, init, &mut buf),
        (7, Rows::Table(b, o, ps)) => micro::<7, true>(depth, b, 0, o, ps, mr, w, init, &mut buf),
        (_, Rows::Strided(b, s)) => micro::<8, false>(depth, b, s, null, 1, mr, w, init, &mut buf),
        (_, Rows::Table(b, o, ps)) => micro::<8, true>(depth, b, 0, o, ps, mr, w, init, &mut buf),
    }
    store_transposed(&buf, mr, nr, out, ld);
}

/// `out[j * ld + i] = buf[i * 32 + j]` for `i < mr <= 8`, `j < nr <= 32`:
/// per half of 16 channels, an in-register 8x16 transpose (unpack pairs of
/// rows, shuffle quads; each 128-bit lane then holds four rows of one
/// channel) and two 4-float stores per channel, masked to `mr`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn store_transposed(buf: &[f32; 8 * NC], mr: usize, nr: usize, out: *mut f32, ld: usize) {
    let (lo, hi) = (
        lanes(mr.min(4)) as __mmask8,
        lanes(mr.saturating_sub(4)) as __mmask8,
    );
    for h in 0..nr.div_ceil(16) {
        let r: [__m512; 8] =
            std::array::from_fn(|i| _mm512_loadu_ps(buf.as_ptr().add(i * NC + 16 * h)));
        // t[2q]: rows 2q, 2q+1 interleaved for channels 4L, 4L+1 of lane L;
        // t[2q+1]: the same for channels 4L+2, 4L+3.
        let mut t = [_mm512_setzero_ps(); 8];
        for q in 0..4 {
            t[2 * q] = _mm512_unpacklo_ps(r[2 * q], r[2 * q + 1]);
            t[2 * q + 1] = _mm512_unpackhi_ps(r[2 * q], r[2 * q + 1]);
        }
        // u[k] (rows 0-3) and u[k + 4] (rows 4-7): channel 4L + k in lane L.
        let u = [
            _mm512_shuffle_ps::<0x44>(t[0], t[2]),
            _mm512_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm512_shuffle_ps::<0x44>(t[1], t[3]),
            _mm512_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm512_shuffle_ps::<0x44>(t[4], t[6]),
            _mm512_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm512_shuffle_ps::<0x44>(t[5], t[7]),
            _mm512_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        let lane = |v: __m512, l: usize| match l {
            0 => _mm512_extractf32x4_ps::<0>(v),
            1 => _mm512_extractf32x4_ps::<1>(v),
            2 => _mm512_extractf32x4_ps::<2>(v),
            _ => _mm512_extractf32x4_ps::<3>(v),
        };
        for c in 0..16.min(nr - 16 * h) {
            let (l, k) = (c / 4, c % 4);
            let d = out.add((16 * h + c) * ld);
            _mm_mask_storeu_ps(d, lo, lane(u[k], l));
            if hi != 0 {
                _mm_mask_storeu_ps(d.add(4), hi, lane(u[k + 4], l));
            }
        }
    }
}

/// `R` positions x 32 channels over the whole depth: per step two panel
/// loads, `R` broadcasts, `2R` FMAs. Positions are `ps` elements apart;
/// those past `mr` repeat the last one (in bounds) and are discarded.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn micro<const R: usize, const TABLE: bool>(
    depth: usize,
    base: *const f32,
    stride: isize,
    offs: *const isize,
    ps: usize,
    mr: usize,
    w: *const f32,
    init: [__m512; 2],
    buf: &mut [f32; 8 * NC],
) {
    let idx: [usize; R] = std::array::from_fn(|i| i.min(mr - 1) * ps);
    let mut t = [init; R];
    for p in 0..depth {
        let src = if TABLE {
            base.offset(*offs.add(p))
        } else {
            base.offset(p as isize * stride)
        };
        let b0 = _mm512_loadu_ps(w.add(p * NC));
        let b1 = _mm512_loadu_ps(w.add(p * NC + 16));
        for (i, acc) in t.iter_mut().enumerate() {
            let a = _mm512_set1_ps(*src.add(idx[i]));
            acc[0] = _mm512_fmadd_ps(a, b0, acc[0]);
            acc[1] = _mm512_fmadd_ps(a, b1, acc[1]);
        }
    }
    for (i, acc) in t.iter().enumerate() {
        _mm512_storeu_ps(buf.as_mut_ptr().add(i * NC), acc[0]);
        _mm512_storeu_ps(buf.as_mut_ptr().add(i * NC + 16), acc[1]);
    }
}
