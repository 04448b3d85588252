//! The three `MR x NR` micro-kernels of [`super`]: each overwrites a tile
//! with `sum_p A(i, p) * B(p, j)` over one depth slice, for the first `mr`
//! rows (edge rows re-read the last valid row; their sums are discarded).
//! The right operand is one packed panel (`ceil(kc / 4)` groups of `NR x
//! 4` bytes, zero-padded); the left is read in place, or widened first on
//! the AVX2 path. The signedness of `L` says which operand is `u8`.

use super::{Int8, Tile, MR, NR};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// AVX-512 VNNI: 16 zmm accumulators (`MR` rows x two vectors of 16
/// columns); per group of 4 `k`, two panel loads, `MR` broadcasts of 4
/// bytes of a row, `2 MR` `vpdpbusd`.
///
/// # Safety
/// The host has AVX-512F/BW and VNNI; rows `< mr` of the left operand hold
/// `kc` bytes at `a + i * a_rs`; `b` holds `ceil(kc / 4)` groups.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
// Kept out of line: inlined into the epilogue's function, its loop lost
// registers to the epilogue (a depth-24 convolution ran 25% slower).
#[inline(never)]
pub(super) unsafe fn vnni<L: Int8>(
    kc: usize,
    a: *const u8,
    a_rs: usize,
    mr: usize,
    b: *const u8,
    t: &mut Tile,
) {
    // `vpdpbusd` takes its `u8` operand first.
    macro_rules! dot {
        ($acc:expr, $a:expr, $b:expr) => {
            if L::SIGNED {
                _mm512_dpbusd_epi32($acc, $b, $a)
            } else {
                _mm512_dpbusd_epi32($acc, $a, $b)
            }
        };
    }
    let rows: [*const u8; MR] = std::array::from_fn(|i| a.add(i.min(mr - 1) * a_rs));
    let mut acc = [[_mm512_setzero_si512(); 2]; MR];
    let groups = kc / 4;
    for g in 0..groups {
        let bg = b.add(g * NR * 4);
        let b0 = _mm512_loadu_si512(bg.cast());
        let b1 = _mm512_loadu_si512(bg.add(64).cast());
        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
            let av = _mm512_set1_epi32(row.add(4 * g).cast::<i32>().read_unaligned());
            acc[0] = dot!(acc[0], av, b0);
            acc[1] = dot!(acc[1], av, b1);
        }
    }
    let rem = kc % 4;
    if rem != 0 {
        // The last, partial group: its bytes go through a zeroed local so
        // nothing past `kc` is read (the panel's padding is zero anyway).
        let bg = b.add(groups * NR * 4);
        let b0 = _mm512_loadu_si512(bg.cast());
        let b1 = _mm512_loadu_si512(bg.add(64).cast());
        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
            let mut w = [0u8; 4];
            std::ptr::copy_nonoverlapping(row.add(4 * groups), w.as_mut_ptr(), rem);
            let av = _mm512_set1_epi32(i32::from_ne_bytes(w));
            acc[0] = dot!(acc[0], av, b0);
            acc[1] = dot!(acc[1], av, b1);
        }
    }
    for (dst, acc) in t.iter_mut().zip(&acc) {
        _mm512_storeu_si512(dst.as_mut_ptr().cast(), acc[0]);
        _mm512_storeu_si512(dst.as_mut_ptr().add(16).cast(), acc[1]);
    }
}

/// Widen rows `< mr` of a left block (`kc` bytes each, row `i` at `a + i *
/// a_rs`) to `i16` at `out[i * out_rs..]`, zero-padded to `out_rs`, for
/// [`avx2`]. Done once per cache block, so each byte is widened once, not
/// once per panel.
///
/// # Safety
/// The host has AVX2; the rows hold `kc` bytes; `kc <= out_rs` and `out`
/// holds `mr * out_rs`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn widen_avx2<L: Int8>(
    a: *const u8,
    a_rs: usize,
    mr: usize,
    kc: usize,
    out: &mut [i16],
    out_rs: usize,
) {
    for (i, dst) in out.chunks_exact_mut(out_rs).take(mr).enumerate() {
        // SAFETY: row `i < mr` holds `kc` bytes.
        let src = unsafe { std::slice::from_raw_parts(a.add(i * a_rs), kc) };
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = L::widen(s) as i16;
        }
        dst[kc..].fill(0);
    }
}

/// AVX2: `vpmaddwd` on `i16` operands (see the module header of
/// [`super`] for why not `vpmaddubsw`). The tile is computed in 4-row x
/// 8-column pieces: 8 ymm accumulators, two widened panel loads (4 columns
/// x 4 `k` each) and four 64-bit broadcasts of 4 widened `k` of a row per
/// group. Each accumulator lane pair `2c, 2c+1` holds column `c`'s sums
/// over `k = 0, 1 (mod 4)` and `k = 2, 3`, added at the end.
///
/// # Safety
/// The host has AVX2; rows `< mr` of the widened block hold
/// `kc.next_multiple_of(4)` values (zero-padded) at `w + i * w_rs`; `b`
/// holds `ceil(kc / 4)` groups.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avx2<L: Int8>(
    kc: usize,
    w: *const i16,
    w_rs: usize,
    mr: usize,
    b: *const u8,
    t: &mut Tile,
) {
    let groups = kc.div_ceil(4);
    for r0 in (0..mr).step_by(4) {
        let rows: [*const i16; 4] = std::array::from_fn(|i| w.add((r0 + i).min(mr - 1) * w_rs));
        for c0 in (0..NR).step_by(8) {
            let mut acc = [[_mm256_setzero_si256(); 2]; 4];
            for g in 0..groups {
                let bg = b.add(g * NR * 4 + c0 * 4);
                let (b0, b1) = if L::Other::SIGNED {
                    (
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(bg.cast())),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(bg.add(16).cast())),
                    )
                } else {
                    (
                        _mm256_cvtepu8_epi16(_mm_loadu_si128(bg.cast())),
                        _mm256_cvtepu8_epi16(_mm_loadu_si128(bg.add(16).cast())),
                    )
                };
                for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                    let av = _mm256_set1_epi64x(row.add(4 * g).cast::<i64>().read_unaligned());
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(av, b0));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(av, b1));
                }
            }
            for (dst, acc) in t[r0..].iter_mut().zip(&acc) {
                let mut lanes = [0i32; 16];
                _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc[0]);
                _mm256_storeu_si256(lanes.as_mut_ptr().add(8).cast(), acc[1]);
                for (c, pair) in lanes.chunks_exact(2).enumerate() {
                    dst[c0 + c] = pair[0].wrapping_add(pair[1]);
                }
            }
        }
    }
}

/// Portable: plain loops over the packed panel, the left operand's last
/// partial group copied through a zeroed local.
///
/// # Safety
/// Rows `< mr` of the left operand hold `kc` bytes at `a + i * a_rs`; `b`
/// holds `ceil(kc / 4)` groups.
pub(super) unsafe fn scalar<L: Int8>(
    kc: usize,
    a: *const u8,
    a_rs: usize,
    mr: usize,
    b: *const u8,
    t: &mut Tile,
) {
    let groups = kc.div_ceil(4);
    // SAFETY: the panel holds `groups` groups of `NR * 4` bytes.
    let panel = unsafe { std::slice::from_raw_parts(b, groups * NR * 4) };
    for (i, acc) in t.iter_mut().take(mr).enumerate() {
        // SAFETY: row `i < mr` holds `kc` bytes.
        let row = unsafe { std::slice::from_raw_parts(a.add(i * a_rs), kc) };
        *acc = [0; NR];
        for (g, grp) in panel.chunks_exact(NR * 4).enumerate() {
            let mut av = [0i32; 4];
            for (d, &s) in av.iter_mut().zip(&row[4 * g..]) {
                *d = L::widen(s);
            }
            for (s, lane) in acc.iter_mut().zip(grp.chunks_exact(4)) {
                let dot: i32 = av
                    .iter()
                    .zip(lane)
                    .map(|(&x, &y)| x * L::Other::widen(y))
                    .sum();
                *s = s.wrapping_add(dot);
            }
        }
    }
}
