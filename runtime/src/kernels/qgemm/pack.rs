//! Packing of [`super`]'s right operand, and the operand sums that
//! zero-point corrections need. A panel of `NR` columns stores `ceil(k /
//! 4)` groups of `NR` lanes x 4 consecutive `k` (zero-padded), the layout
//! one `vpdpbusd` multiplies; full groups are interleaved with SSE2
//! unpacks because a convolution packs its activations tile by tile.

use super::{Int8, NR};
use std::cell::RefCell;

pub(super) fn bytes<T: Int8>(s: &[T]) -> &[u8] {
    // SAFETY: `T` is `u8` or `i8` (sealed): same size and alignment, and
    // every bit pattern is valid for both.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) }
}

pub(super) fn bytes_mut<T: Int8>(s: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `bytes`.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

fn from_bytes_mut<T: Int8>(s: &mut [u8]) -> &mut [T] {
    // SAFETY: as in `bytes`.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

thread_local! {
    /// Four rows of [`PackedRhs::pack_rows_into`], padded to whole panels.
    static ROWS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A right operand `[k x n]` packed for the micro-kernels (see the module
/// header for the layout). Repacking into the same value with
/// [`PackedRhs::pack_into`] reuses its allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedRhs<T> {
    data: Vec<T>,
    k: usize,
    n: usize,
}

impl<T: Int8> PackedRhs<T> {
    /// Pack the row-major `[k x n]` matrix whose row `p` starts at
    /// `src[p * row_stride]`.
    pub fn pack(src: &[T], k: usize, n: usize, row_stride: usize) -> PackedRhs<T> {
        let mut p = PackedRhs {
            data: Vec::new(),
            k: 0,
            n: 0,
        };
        p.pack_into(src, k, n, row_stride);
        p
    }

    /// [`PackedRhs::pack`] into `self`, reusing its buffer: no allocation
    /// once it has held a matrix of this size. Panics if `src` is too
    /// short for `k` rows of `n` at `row_stride`.
    pub fn pack_into(&mut self, src: &[T], k: usize, n: usize, row_stride: usize) {
        if k > 0 && n > 0 {
            assert!(
                (k == 1 || row_stride >= n) && (k - 1) * row_stride + n <= src.len(),
                "pack: {k} x {n} at row stride {row_stride} does not fit {} values",
                src.len()
            );
        }
        let len = n.div_ceil(NR) * k.next_multiple_of(4) * NR;
        // Every byte is rewritten below; `resize` only zeroes growth.
        self.data.resize(len, T::default());
        pack_bytes(bytes(src), k, n, row_stride, bytes_mut(&mut self.data));
        self.k = k;
        self.n = n;
    }

    /// Pack the `[k x n]` matrix whose row `p` the call `row(p, dst)`
    /// writes into `dst` (`n` values; rows are asked for in order, each
    /// once, none when the matrix is empty). Rows go four at a time through a small thread-local buffer
    /// straight into the panels, so a producer such as a convolution's
    /// im2col writes into L1 and the unfolded matrix never exists whole:
    /// one pass over the packed bytes instead of an unfold and a pack.
    /// Reuses `self`'s buffer as [`PackedRhs::pack_into`] does.
    pub fn pack_rows_into(&mut self, k: usize, n: usize, mut row: impl FnMut(usize, &mut [T])) {
        let panel = k.div_ceil(4) * NR * 4;
        let len = n.div_ceil(NR) * panel;
        self.data.resize(len, T::default());
        self.k = k;
        self.n = n;
        if len == 0 {
            return;
        }
        // Rows are padded to whole panels with zeros (never written by
        // `row`), so every panel interleaves as a full one.
        let np = n.next_multiple_of(NR);
        let out = bytes_mut(&mut self.data);
        ROWS.with(|cell| {
            let mut own = Vec::new();
            let mut guard = cell.try_borrow_mut();
            let buf = match guard.as_mut() {
                Ok(b) => &mut **b,
                Err(_) => &mut own,
            };
            buf.clear();
            buf.resize(4 * np, 0);
            for g in 0..k.div_ceil(4) {
                let p0 = 4 * g;
                let rows = 4.min(k - p0);
                for q in 0..4 {
                    let r = &mut buf[q * np..q * np + n];
                    if q < rows {
                        row(p0 + q, from_bytes_mut(r));
                    } else {
                        r.fill(0);
                    }
                }
                for (pj, dst) in out.chunks_exact_mut(panel).enumerate() {
                    let r = |q: usize| -> &[u8; NR] {
                        buf[q * np + pj * NR..][..NR].try_into().unwrap()
                    };
                    let dst = (&mut dst[g * NR * 4..][..NR * 4]).try_into().unwrap();
                    interleave4([r(0), r(1), r(2), r(3)], dst);
                }
            }
        });
    }

    /// Rows (`k`, before padding).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The packed values: `ceil(n / NR)` panels of `ceil(k / 4)` groups of
    /// `NR x 4` values.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }
}

impl PackedRhs<i8> {
    /// `sum_p B(p, j)` for every column `j`: with `u8` activations of zero
    /// point `z` on the left, the real product is `acc - z * sums[j]`.
    pub fn col_sums(&self) -> Vec<i32> {
        let mut sums = vec![0i32; self.n];
        let panel = self.k.div_ceil(4) * NR * 4;
        if panel == 0 {
            return sums;
        }
        for (pj, p) in self.data.chunks_exact(panel).enumerate() {
            let cols = &mut sums[pj * NR..(pj * NR + NR).min(self.n)];
            for g in p.chunks_exact(NR * 4) {
                for (s, lane) in cols.iter_mut().zip(g.chunks_exact(4)) {
                    *s += lane.iter().map(|&v| v as i32).sum::<i32>();
                }
            }
        }
        sums
    }
}

/// Pack `u8` activations `[k x n]` (row `p` at `src[p * row_stride]`), as
/// the right operand of the weights-left case.
pub fn pack_rhs_u8(src: &[u8], k: usize, n: usize, row_stride: usize) -> PackedRhs<u8> {
    PackedRhs::pack(src, k, n, row_stride)
}

/// Pack `i8` weights `[k x n]` (row `p` at `src[p * row_stride]`), as the
/// right operand of the weights-right case.
pub fn pack_rhs_s8(src: &[i8], k: usize, n: usize, row_stride: usize) -> PackedRhs<i8> {
    PackedRhs::pack(src, k, n, row_stride)
}

/// `sum_p A(i, p)` for every row of `i8` weights `[m x k]` (row `i` at
/// `a[i * row_stride]`): with `u8` activations of zero point `z` on the
/// right, the real product is `acc - z * sums[i]`. Panics if `a` is too
/// short.
pub fn row_sums_s8(a: &[i8], m: usize, k: usize, row_stride: usize) -> Vec<i32> {
    (0..m)
        .map(|i| {
            a[i * row_stride..i * row_stride + k]
                .iter()
                .map(|&v| v as i32)
                .sum()
        })
        .collect()
}

/// Interleave `src` into panels: see [`PackedRhs::as_slice`]. Four full
/// rows of a full panel go through [`interleave4`]; edges are copied one
/// byte at a time with zeros written for padding, so `out` needs no
/// clearing first.
fn pack_bytes(src: &[u8], k: usize, n: usize, rs: usize, out: &mut [u8]) {
    let panel = k.div_ceil(4) * NR * 4;
    if panel == 0 {
        return;
    }
    for (pj, dst_panel) in out.chunks_exact_mut(panel).enumerate() {
        let j0 = pj * NR;
        let cols = NR.min(n - j0);
        for (g, dst) in dst_panel.chunks_exact_mut(NR * 4).enumerate() {
            let p0 = 4 * g;
            let rows = 4.min(k - p0);
            if cols == NR && rows == 4 {
                let row =
                    |q: usize| -> &[u8; NR] { src[(p0 + q) * rs + j0..][..NR].try_into().unwrap() };
                interleave4([row(0), row(1), row(2), row(3)], dst.try_into().unwrap());
            } else {
                for (c, lane) in dst.chunks_exact_mut(4).enumerate() {
                    for (q, d) in lane.iter_mut().enumerate() {
                        *d = if c < cols && q < rows {
                            src[(p0 + q) * rs + j0 + c]
                        } else {
                            0
                        };
                    }
                }
            }
        }
    }
}

/// `dst[4c + q] = rows[q][c]`: one group of a panel. On x86-64 this is two
/// rounds of byte and word unpacks (SSE2, always present): a convolution
/// packs its im2col'd activations tile by tile, so this is on its path.
fn interleave4(rows: [&[u8; NR]; 4], dst: &mut [u8; NR * 4]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        for h in 0..NR / 16 {
            // SAFETY: SSE2 is part of x86-64; every load reads 16 bytes at
            // `16h < NR` of a row of `NR`, every store writes 16 at
            // `64h + 16s < 4 NR` of `dst`.
            unsafe {
                let ld = |q: usize| _mm_loadu_si128(rows[q].as_ptr().add(16 * h).cast());
                let (a, b, c, d) = (ld(0), ld(1), ld(2), ld(3));
                let (ab0, ab1) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
                let (cd0, cd1) = (_mm_unpacklo_epi8(c, d), _mm_unpackhi_epi8(c, d));
                let o = dst.as_mut_ptr().add(64 * h);
                _mm_storeu_si128(o.cast(), _mm_unpacklo_epi16(ab0, cd0));
                _mm_storeu_si128(o.add(16).cast(), _mm_unpackhi_epi16(ab0, cd0));
                _mm_storeu_si128(o.add(32).cast(), _mm_unpacklo_epi16(ab1, cd1));
                _mm_storeu_si128(o.add(48).cast(), _mm_unpackhi_epi16(ab1, cd1));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (c, lane) in dst.chunks_exact_mut(4).enumerate() {
        for (q, d) in lane.iter_mut().enumerate() {
            *d = rows[q][c];
        }
    }
}
