//! The epilogue of [`super`]'s micro-tiles: `i32` sums stored (or added),
//! or requantized per channel ([`Requant`], [`super::Quantize`]) to `f32` or
//! bytes while the tile is hot.
//!
//! Plain Rust with fixed-length loops over `NR` lanes, inlined into each
//! path's tile function and vectorized with its target features. Zen 4
//! punishes what LLVM does to it by default, so the shape of the code is
//! deliberate: one loop per case (no run-time tests inside the row loop,
//! which made LLVM spill rows through the stack, and reloading a 512-bit
//! spill stalls), and the narrowing to bytes written per path
//! ([`Narrow`]).

use super::{Final, Out, Requant, Tile, NR};

/// How a row of quantized values (each in `-128..=255`) becomes bytes:
/// the low byte of each.
pub(super) trait Narrow {
    /// # Safety
    /// The host runs the implementation's instructions.
    unsafe fn narrow(v: &[i32; NR]) -> [u8; NR];
}

/// Whatever the compiler makes of `as u8`.
pub(super) struct Portable;

impl Narrow for Portable {
    #[inline(always)]
    unsafe fn narrow(v: &[i32; NR]) -> [u8; NR] {
        v.map(|x| x as u8)
    }
}

/// Two register-to-register `vpmovdb`. Left to itself LLVM wrote each
/// half to the stack with the memory form and reloaded the 32 bytes as
/// one, a failed store forward on every row (40% of a depth-24 GEMM).
#[cfg(target_arch = "x86_64")]
pub(super) struct NarrowAvx512;

#[cfg(target_arch = "x86_64")]
impl Narrow for NarrowAvx512 {
    #[inline(always)]
    unsafe fn narrow(v: &[i32; NR]) -> [u8; NR] {
        // SAFETY: the caller's host has AVX-512F/BW.
        unsafe { narrow_avx512(v) }
    }
}

/// # Safety
/// The host has AVX-512F/BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
#[inline]
unsafe fn narrow_avx512(v: &[i32; NR]) -> [u8; NR] {
    use std::arch::x86_64::*;
    // SAFETY: 32 `i32` at `v`; a `__m256i` is 32 bytes.
    unsafe {
        let lo = _mm512_cvtepi32_epi8(_mm512_loadu_si512(v.as_ptr().cast()));
        let hi = _mm512_cvtepi32_epi8(_mm512_loadu_si512(v.as_ptr().add(16).cast()));
        std::mem::transmute::<__m256i, [u8; NR]>(_mm256_set_m128i(hi, lo))
    }
}

/// Write the first `mr x nr` of `t` through `out`. Fixed-length loops over
/// `NR` lanes vectorize in each caller's target features; rows move in
/// and out through [`load`] and [`store`], which touch only `nr` lanes.
///
/// # Safety
/// `out`'s pointers hold `mr` rows of `nr` at their strides.
#[inline(always)]
pub(super) unsafe fn finish<N: Narrow>(t: &Tile, mr: usize, nr: usize, out: &Out) {
    match *out {
        Out::I32 { c, ldc, add } => {
            for (i, row) in t.iter().take(mr).enumerate() {
                let ci = c.add(i * ldc);
                let mut v = *row;
                if add {
                    // SAFETY: row `i < mr` of the tile, `nr` wide.
                    let old = unsafe { load(ci, nr) };
                    for (v, o) in v.iter_mut().zip(old) {
                        *v = v.wrapping_add(o);
                    }
                }
                // SAFETY: as above.
                unsafe { store(ci, &v, nr) };
            }
        }
        Out::Final {
            prior,
            rq,
            ch0,
            per_row,
            dst,
        } => {
            // One loop per case, so each keeps its values in registers:
            // a run-time test inside the row loop made LLVM spill the
            // row through the stack, and on Zen 4 reloading a 512-bit
            // spill stalls (the epilogue took 70% of a depth-24 GEMM).
            let unit = matches!(dst, Final::Byte(_, _, q) if q.scale == 1.0);
            let f = FinalRows {
                t,
                mr,
                nr,
                prior,
                rq,
                ch0,
                dst,
            };
            // SAFETY: `finish`'s contract.
            unsafe {
                match (per_row, unit) {
                    (true, true) => f.rows::<N, true, true>(),
                    (true, false) => f.rows::<N, true, false>(),
                    (false, true) => f.rows::<N, false, true>(),
                    (false, false) => f.rows::<N, false, false>(),
                }
            }
        }
    }
}

/// The requantizing half of [`finish`], its arguments gathered.
struct FinalRows<'t, 'r> {
    t: &'t Tile,
    mr: usize,
    nr: usize,
    prior: Option<(*const i32, usize)>,
    rq: &'r Requant<'r>,
    ch0: usize,
    dst: Final,
}

impl FinalRows<'_, '_> {
    /// `PER_ROW`: one channel per row (else per column); `UNIT`: a byte
    /// destination whose quantization scale is 1 (no division).
    ///
    /// # Safety
    /// As [`finish`].
    #[inline(always)]
    unsafe fn rows<N: Narrow, const PER_ROW: bool, const UNIT: bool>(&self) {
        let (mr, nr, rq) = (self.mr, self.nr, self.rq);
        let (mut zc, mut sc, mut bi) = ([0i32; NR], [1f32; NR], [0f32; NR]);
        if !PER_ROW {
            for j in 0..nr {
                (zc[j], sc[j], bi[j]) = rq.at(self.ch0 + j);
            }
        }
        for (i, row) in self.t.iter().take(mr).enumerate() {
            let (z, s, b) = if PER_ROW {
                rq.at(self.ch0 + i)
            } else {
                (0, 1.0, 0.0)
            };
            let mut v = *row;
            if let Some((p, ld)) = self.prior {
                // SAFETY: row `i < mr` of the scratch tile, `nr` wide.
                let old = unsafe { load(p.add(i * ld), nr) };
                for (v, o) in v.iter_mut().zip(old) {
                    *v = v.wrapping_add(o);
                }
            }
            let mut f = [0f32; NR];
            if PER_ROW {
                for (f, &v) in f.iter_mut().zip(&v) {
                    *f = v.wrapping_sub(z) as f32 * s + b;
                }
            } else {
                for j in 0..NR {
                    f[j] = v[j].wrapping_sub(zc[j]) as f32 * sc[j] + bi[j];
                }
            }
            match self.dst {
                // SAFETY: row `i < mr` of the tile, `nr` wide.
                Final::F32(c, ldc) => unsafe { store(c.add(i * ldc), &f, nr) },
                Final::Byte(c, ldc, q) => {
                    let (lo, hi) = q.bounds();
                    let mut qi = [0i32; NR];
                    for (q32, &f) in qi.iter_mut().zip(&f) {
                        *q32 = if UNIT {
                            // `f / 1.0` is `f`, NaN included.
                            q.apply_unit(f, lo, hi)
                        } else {
                            q.apply(f, lo, hi)
                        };
                    }
                    // SAFETY: the caller's level runs `N`; the row as
                    // above. A full row is narrowed apart from a partial
                    // one so its bytes stay in a register: through
                    // `store`, which takes them by reference, LLVM put
                    // them on the stack and merged both branches into
                    // one `memcpy` call per row (half of a depth-24 GEMM).
                    unsafe {
                        let row = c.add(i * ldc);
                        if nr == NR {
                            row.cast::<[u8; NR]>().write_unaligned(N::narrow(&qi));
                        } else {
                            store(row, &N::narrow(&qi), nr);
                        }
                    }
                }
            }
        }
    }
}

/// The first `nr` values at `src`, the rest zero. A full row is a
/// fixed-size copy (a few vector moves); only edge tiles call `memcpy`.
///
/// # Safety
/// `src` holds `nr <= NR` values.
#[inline(always)]
unsafe fn load<T: Copy + Default>(src: *const T, nr: usize) -> [T; NR] {
    let mut v = [T::default(); NR];
    // SAFETY: `nr` values at `src`; `v` holds `NR`.
    unsafe {
        if nr == NR {
            v = src.cast::<[T; NR]>().read_unaligned();
        } else {
            std::ptr::copy_nonoverlapping(src, v.as_mut_ptr(), nr);
        }
    }
    v
}

/// Write the first `nr` values of `v` at `dst`, as [`load`] reads.
///
/// # Safety
/// `dst` holds `nr <= NR` values.
#[inline(always)]
unsafe fn store<T: Copy>(dst: *mut T, v: &[T; NR], nr: usize) {
    // SAFETY: `nr` values at `dst`.
    unsafe {
        if nr == NR {
            dst.cast::<[T; NR]>().write_unaligned(*v);
        } else {
            std::ptr::copy_nonoverlapping(v.as_ptr(), dst, nr);
        }
    }
}
