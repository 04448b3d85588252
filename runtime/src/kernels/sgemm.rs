//! Our single-precision GEMM: `dst = (acc ? dst : 0) + scale * lhs · rhs`
//! with strided operands, for hosts with AVX-512F (the `gemm` crate serves
//! the others; see `pack::sgemm`).
//!
//! Blocking after Goto / BLIS — `NC`-column blocks, `KC`-deep slices,
//! `MC`-row blocks, then an `MR x NR = 8 x 32` micro-kernel holding its
//! accumulators in 16 zmm registers (per step of `k`: two row loads of
//! `rhs`, eight broadcasts of `lhs`, 16 FMAs) — but without copying the
//! operands when their layout already suits the micro-kernel: `lhs` is
//! only ever broadcast element by element, so it is read in place whatever
//! its strides (weights are never repacked per call), and `rhs` is read in
//! place when its rows are contiguous (`cs == 1`) and few rows of `lhs`
//! would reuse a packed copy, with masked loads for the last partial
//! panel; otherwise it is packed per block. Constant weights come packed
//! once at compile time ([`pack_panels`]). Edge rows
//! re-read the last valid `lhs` row and are discarded; edge tiles go
//! through a local tile, so nothing outside `dst`'s `m x n` is touched.
//!
//! Why not the `gemm` crate everywhere: the convolution and matmul kernels
//! call GEMM on tiles of a few hundred columns, where its per-call set-up
//! dominated (measured 74-88 GFLOP/s on ResNet-18's 3x3 convs, against a
//! single-core peak near 116).
//!
//! Summation order: each output element accumulates its products in `k`
//! order within a `KC` slice, slices in order; results differ from the
//! interpreter's f64 sums by rounding only.

use std::arch::x86_64::*;
use std::cell::RefCell;

const MR: usize = 8;
const NR: usize = 32;
const KC: usize = 256;
const MC: usize = 128;
const NC: usize = 2048;

thread_local! {
    static PACKS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether this host runs [`sgemm`].
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// `dst[i*dst_rs + j] = (acc ? dst : 0) + scale * sum_p a(i,p) * b(p,j)`
/// where `a(i,p) = *a.add(i*a_rs + p*a_cs)` and likewise `b`.
///
/// # Safety
/// The host has AVX-512F ([`available`]); the operands hold the elements
/// their strides address for `m x k` and `k x n`; `dst` holds `m` rows of
/// `n` at stride `dst_rs` and overlaps neither operand.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    acc: bool,
    a: (*const f32, isize, isize),
    b: (*const f32, isize, isize),
    scale: f32,
) {
    // SAFETY: forwarded.
    unsafe {
        sgemm_rhs(
            m,
            n,
            k,
            dst,
            dst_rs,
            acc,
            a,
            Rhs::Strided(b.0, b.1, b.2),
            scale,
        )
    }
}

/// Where `rhs` comes from.
#[derive(Clone, Copy)]
pub(crate) enum Rhs {
    /// Element `(p, j)` at `ptr + p*rs + j*cs`.
    Strided(*const f32, isize, isize),
    /// Packed by [`pack_panels`]: the panel holding this call's column 0
    /// starts at `ptr`; `usize` is the packed matrix's total depth.
    Panels(*const f32, usize),
    /// Row `p` starts at `ptr + offs[p]`, columns contiguous: an implicit
    /// im2col, where each row of the unfolded image is a shifted window of
    /// a padded plane (`offs` holds `k` entries).
    Rows(*const f32, *const isize),
}

/// Columns per panel of [`pack_panels`]: a packed `rhs` can only be
/// entered at a multiple of this.
pub(crate) const PANEL: usize = NR;

/// Pack a constant row-major `[k, n]` matrix into `NR`-column panels, each
/// `k` rows of `NR` values (zero-padded): the micro-kernel then reads one
/// contiguous stream per panel instead of `k` rows a full row apart (rows
/// 4 KiB apart all fall in one L1 set; measured 75 vs 108 GFLOP/s).
pub(crate) fn pack_panels(b: &[f32], k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n.div_ceil(NR) * k * NR];
    for (pj, j0) in (0..n).step_by(NR).enumerate() {
        let cols = NR.min(n - j0);
        for p in 0..k {
            let dst = pj * k * NR + p * NR;
            out[dst..dst + cols].copy_from_slice(&b[p * n + j0..p * n + j0 + cols]);
        }
    }
    out
}

/// [`sgemm`] with `rhs` from `b`.
///
/// # Safety
/// As [`sgemm`]; a `Panels` source holds the `n` columns from its start.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_rhs(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    acc: bool,
    a: (*const f32, isize, isize),
    b: Rhs,
    scale: f32,
) {
    // SAFETY: forwarded.
    unsafe { sgemm_bias(m, n, k, dst, dst_rs, acc, a, b, scale, std::ptr::null()) }
}

/// [`sgemm_rhs`] that, when `!acc` and `bias` is not null, adds
/// `bias[i]` to every element of row `i` as the first depth slice is
/// stored (`dst = bias + scale * lhs · rhs`): no separate pass writing the
/// bias over the output first.
///
/// # Safety
/// As [`sgemm_rhs`]; a non-null `bias` holds `m` floats.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_bias(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    acc: bool,
    a: (*const f32, isize, isize),
    b: Rhs,
    scale: f32,
    bias: *const f32,
) {
    PACKS.with(|p| {
        let mut guard = p.try_borrow_mut();
        let mut own = Vec::new();
        let pb = match guard.as_mut() {
            Ok(g) => &mut **g,
            Err(_) => &mut own,
        };
        // Pack a strided rhs when its rows are not contiguous, or when its
        // row stride crowds a few L1 sets (rows a large power of two apart,
        // as in a 112x112 image) and enough micro-tile rows reuse the
        // copy, which is paid once per `m / MR` uses.
        let strided = match b {
            Rhs::Strided(ptr, rs, cs) if cs != 1 || (m >= 4 * MR && few_sets(rs)) => {
                Some((ptr, rs, cs))
            }
            _ => None,
        };
        if strided.is_some() {
            pb.resize(NC.next_multiple_of(NR) * KC, 0.0);
        }
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                if let Some(sb) = strided {
                    pack_b(sb, pc, kc, jc, nc, pb);
                }
                let accumulate = acc || pc > 0;
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    for jr in (0..nc).step_by(NR) {
                        let nr = NR.min(nc - jr);
                        let (bp, b_rs) = match b {
                            _ if strided.is_some() => {
                                (pb.as_ptr().add((jr / NR) * kc * NR), NR as isize)
                            }
                            Rhs::Strided(ptr, rs, _) => {
                                (ptr.offset(pc as isize * rs + (jc + jr) as isize), rs)
                            }
                            Rhs::Panels(ptr, depth) => (
                                ptr.add(((jc + jr) / NR) * depth * NR + pc * NR),
                                NR as isize,
                            ),
                            Rhs::Rows(ptr, _) => (ptr.add(jc + jr), 0),
                        };
                        let rows = match b {
                            Rhs::Rows(_, offs) => Some(offs.add(pc)),
                            _ => None,
                        };
                        for ir in (0..mc).step_by(MR) {
                            let mr = MR.min(mc - ir);
                            let ap = a.0.offset((ic + ir) as isize * a.1 + pc as isize * a.2);
                            let c = dst.add((ic + ir) * dst_rs + jc + jr);
                            let tile = Tile {
                                c,
                                ldc: dst_rs,
                                mr,
                                nr,
                                accumulate,
                                scale,
                                bias: if accumulate || bias.is_null() {
                                    std::ptr::null()
                                } else {
                                    bias.add(ic + ir)
                                },
                            };
                            // SAFETY: the caller guarantees AVX-512F; the
                            // tile lies inside `dst`; `lhs` rows read are
                            // `< mr` (edge rows repeat the last one) and
                            // `rhs` columns are masked to `nr`.
                            unsafe {
                                match rows {
                                    Some(offs) => {
                                        micro::<true>(kc, (ap, a.1, a.2), (bp, 0, offs), &tile)
                                    }
                                    None => micro::<false>(
                                        kc,
                                        (ap, a.1, a.2),
                                        (bp, b_rs, std::ptr::null()),
                                        &tile,
                                    ),
                                }
                            };
                        }
                    }
                }
            }
        }
    })
}

/// `dst[j] = src[2 * j]` for every `j < dst.len()`, 16 at a time with
/// two masked loads and a lane permute (stride-2 convolutions unfold their
/// input this way). Reads only the elements it copies.
///
/// # Safety
/// The host has AVX-512F; `src` holds `2 * dst.len() - 1` floats.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn copy_stride2(src: *const f32, dst: &mut [f32]) {
    let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let n = dst.len();
    let mut j = 0;
    while j < n {
        let cnt = (n - j).min(16);
        let need = 2 * cnt - 1;
        let lanes = |k: usize| -> __mmask16 {
            if k >= 16 {
                0xffff
            } else {
                ((1u32 << k) - 1) as u16
            }
        };
        let a = _mm512_maskz_loadu_ps(lanes(need), src.add(2 * j));
        let b = _mm512_maskz_loadu_ps(lanes(need.saturating_sub(16)), src.add(2 * j + 16));
        let r = _mm512_permutex2var_ps(a, idx, b);
        _mm512_mask_storeu_ps(dst.as_mut_ptr().add(j), lanes(cnt), r);
        j += 16;
    }
}

/// Whether rows `rs` floats apart map to fewer than 16 of the 64 sets of
/// a 32 KiB 8-way L1 (64-byte lines).
fn few_sets(rs: isize) -> bool {
    let lines = (rs.unsigned_abs() * 4 / 64) % 64;
    let g = if lines == 0 {
        64
    } else {
        1 << lines.trailing_zeros().min(6)
    };
    64 / g < 16
}

/// Where a micro-kernel writes: `mr x nr` at `c` (row stride `ldc`),
/// `c = (accumulate ? c : 0) + scale * product`.
struct Tile {
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    accumulate: bool,
    scale: f32,
    /// Row `i`'s bias at `bias + i` (null: none; never with `accumulate`).
    bias: *const f32,
}

/// Pack depths `p0..p0+kc`, columns `j0..j0+nc` of `b` into `NR`-column
/// panels, each `kc` rows of `NR` values, zero-padded.
unsafe fn pack_b(
    b: (*const f32, isize, isize),
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    out: &mut [f32],
) {
    let (ptr, rs, cs) = b;
    for (pj, jr) in (0..nc).step_by(NR).enumerate() {
        let panel = &mut out[pj * kc * NR..(pj + 1) * kc * NR];
        let cols = NR.min(nc - jr);
        for p in 0..kc {
            let row = ptr.offset((p0 + p) as isize * rs + (j0 + jr) as isize * cs);
            let dst = &mut panel[p * NR..(p + 1) * NR];
            if cs == 1 {
                dst[..cols].copy_from_slice(std::slice::from_raw_parts(row, cols));
            } else {
                for (j, d) in dst[..cols].iter_mut().enumerate() {
                    *d = *row.offset(j as isize * cs);
                }
            }
            dst[cols..].fill(0.0);
        }
    }
}

/// The `MR x NR` micro-kernel: `lhs` element `(i, p)` at
/// `a + i*a_rs + p*a_cs`, `rhs` row `p` at `b + p*b_rs`, or with `ROWS` at
/// `b + offs[p]` (32 contiguous values, masked to `tile.nr`).
#[target_feature(enable = "avx512f")]
unsafe fn micro<const ROWS: bool>(
    kc: usize,
    a: (*const f32, isize, isize),
    b: (*const f32, isize, *const isize),
    tile: &Tile,
) {
    let (ap, a_rs, a_cs) = a;
    let (bp, b_rs, offs) = b;
    let lanes = |n: usize| -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as u16
        }
    };
    let m0 = lanes(tile.nr);
    let m1 = lanes(tile.nr.saturating_sub(16));
    let rows: [*const f32; MR] =
        std::array::from_fn(|i| ap.offset(i.min(tile.mr - 1) as isize * a_rs));
    let mut t = [[_mm512_setzero_ps(); 2]; MR];
    for p in 0..kc {
        let br = if ROWS {
            bp.offset(*offs.add(p))
        } else {
            bp.offset(p as isize * b_rs)
        };
        let b0 = _mm512_maskz_loadu_ps(m0, br);
        let b1 = _mm512_maskz_loadu_ps(m1, br.add(16));
        let off = p as isize * a_cs;
        for (i, row) in t.iter_mut().enumerate() {
            let ai = _mm512_set1_ps(*rows[i].offset(off));
            row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
        }
    }
    let s = _mm512_set1_ps(tile.scale);
    for (i, row) in t.iter().take(tile.mr).enumerate() {
        let ci = tile.c.add(i * tile.ldc);
        let (mut v0, mut v1) = if tile.bias.is_null() {
            (_mm512_mul_ps(row[0], s), _mm512_mul_ps(row[1], s))
        } else {
            let b = _mm512_set1_ps(*tile.bias.add(i));
            (_mm512_fmadd_ps(row[0], s, b), _mm512_fmadd_ps(row[1], s, b))
        };
        if tile.accumulate {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci.add(16)));
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci.add(16), m1, v1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], scale: f32) -> Vec<f64> {
        let mut c = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
                c[i * n + j] *= scale as f64;
            }
        }
        c
    }

    #[test]
    fn stride2_copy_reads_only_what_it_copies() {
        if !available() {
            eprintln!("skipped: no AVX-512F on this host");
            return;
        }
        for n in [1, 2, 15, 16, 17, 31, 32, 33, 100] {
            let src: Vec<f32> = (0..2 * n - 1).map(|i| i as f32).collect();
            let mut dst = vec![-1f32; n];
            // SAFETY: AVX-512F checked; `src` has 2n-1 floats.
            unsafe { copy_stride2(src.as_ptr(), &mut dst) };
            let want: Vec<f32> = (0..n).map(|j| (2 * j) as f32).collect();
            assert_eq!(dst, want, "n = {n}");
        }
    }

    #[test]
    fn matches_a_plain_product_on_odd_shapes_and_strides() {
        if !available() {
            eprintln!("skipped: no AVX-512F on this host");
            return;
        }
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((seed >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        };
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 17, 5),
            (8, 32, 256),
            (9, 33, 257),
            (130, 70, 300),
            (17, 2100, 31),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let want = reference(m, n, k, &a, &b, 0.5);
            for acc in [false, true] {
                let mut c = vec![1.0f32; m * (n + 3)];
                // SAFETY: AVX-512F checked; buffers sized for the strides.
                unsafe {
                    sgemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        n + 3,
                        acc,
                        (a.as_ptr(), k as isize, 1),
                        (b.as_ptr(), n as isize, 1),
                        0.5,
                    )
                };
                for i in 0..m {
                    for j in 0..n {
                        let w = want[i * n + j] + if acc { 1.0 } else { 0.0 };
                        let g = c[i * (n + 3) + j] as f64;
                        assert!(
                            (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                            "{m}x{n}x{k} acc={acc} ({i},{j}): {g} vs {w}"
                        );
                    }
                    // The padding columns are untouched.
                    assert!(c[i * (n + 3) + n..(i + 1) * (n + 3)]
                        .iter()
                        .all(|&v| v == 1.0));
                }
            }
            // Transposed lhs (column-major strides).
            let at: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect();
            let mut c = vec![0f32; m * n];
            // SAFETY: as above.
            unsafe {
                sgemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    n,
                    false,
                    (at.as_ptr(), 1, m as isize),
                    (b.as_ptr(), n as isize, 1),
                    0.5,
                )
            };
            for (g, w) in c.iter().zip(&want) {
                assert!((*g as f64 - w).abs() <= 1e-4 * w.abs().max(1.0));
            }
            // Transposed rhs (column-strided: the packed path).
            let bt: Vec<f32> = (0..n * k).map(|x| b[(x % k) * n + x / k]).collect();
            let mut c = vec![0f32; m * n];
            // SAFETY: as above.
            unsafe {
                sgemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    n,
                    false,
                    (a.as_ptr(), k as isize, 1),
                    (bt.as_ptr(), 1, k as isize),
                    0.5,
                )
            };
            for (g, w) in c.iter().zip(&want) {
                assert!((*g as f64 - w).abs() <= 1e-4 * w.abs().max(1.0));
            }
        }
    }
}
