//! INT8 GEMM for quantized inference: `C (i32) = (accumulate ? C : 0) +
//! A · B` with one operand `u8` and the other `i8`, optionally finished by
//! a per-channel requantization to `f32`, `u8` or `i8` while each tile is
//! hot. The destination is a slice ([`qgemm`]) or, for callers that split
//! one matrix into tiles over threads, a pointer ([`qgemm_ptr`]).
//!
//! Two cases, told apart by the left operand's type ([`Int8::Other`] is
//! the right one's): **weights left** (`i8` weights `[m x k]` times `u8`
//! activations, as a convolution over im2col'd columns; one channel per
//! row) and **weights right** (`u8` activations `[m x k]` times `i8`
//! weights, as `x · W`; one channel per column). The `u8` side must be the
//! unsigned operand of `vpdpbusd`, so the kernels swap operands by case.
//!
//! The right operand is packed ([`PackedRhs`]): `k` is rounded up to a
//! multiple of 4 with zeros and the columns cut into panels of [`NR`]; a
//! panel stores `k/4` groups of `NR` lanes x 4 bytes, so one 512-bit load
//! is 16 columns x 4 consecutive `k`, which is what `vpdpbusd` multiplies
//! against a broadcast of 4 consecutive `k` of one row of the left
//! operand. The left operand is read in place at any row stride; the last
//! group of a row whose length is not a multiple of 4 is copied through a
//! local so nothing past the row is read.
//!
//! Paths, chosen at run time ([`Level`]), all exact and bit-identical:
//! 1. AVX-512 VNNI: an `MR x NR = 8 x 32` micro-kernel with 16 zmm
//!    accumulators; per group of 4 `k`: two loads, eight broadcasts, 16
//!    `vpdpbusd` (the non-saturating form: each lane adds four `u8 x i8`
//!    products, `|.| <= 4 * 255 * 128`, to an `i32`).
//! 2. AVX2: `vpmaddubsw` would be the obvious instruction, but it adds two
//!    `u8 x i8` products into a *saturating* `i16` (`2 * 255 * 127 >
//!    32767`), silently wrong on real data. Instead both operands are
//!    widened to `i16` (`vpmovzxbw` / `vpmovsxbw`) and multiplied with
//!    `vpmaddwd`, which adds two `i16 x i16` products into an `i32`: here
//!    each product is in `[-32640, 32385]`, so the pair sum is exact (the
//!    instruction only wraps for `-32768 * -32768 * 2`). The left block is
//!    widened once per cache block, the right operand per load.
//! 3. Scalar: plain loops, the path for hosts without either (and, being
//!    obviously correct, a second reference in the tests).
//!
//! Every path adds exact products with wrapping `i32` additions, so for
//! `k <= 65536` (where `|sum| <= 65536 * 255 * 128 < 2^31`) the result is
//! the exact sum, and beyond it all paths agree modulo 2^32.
//!
//! Blocking follows `sgemm.rs` (Goto / BLIS): `NC` columns, then `MC` rows,
//! then `KC`-deep slices (a multiple of 4), then `NR`-column panels and
//! `MR`-row tiles, so a `KC x NR` panel of the right operand stays in
//! cache across the tiles of a block. Partial sums of a requantized output
//! live in a thread-local `MC x NC` `i32` block between depth slices;
//! nothing is allocated per call once the scratch has grown.
//!
//! Measured on one Zen 4 core (the `qgemm_bench` test): VNNI 430-445
//! GOPS with `i32` output at 64x3136x576 and 64x1024x784, about one
//! `vpdpbusd` per cycle; 400-428 with the `u8` epilogue; AVX2 about 150;
//! scalar about 5.5; our f32 GEMM 65-94 GFLOP/s on the same shapes.
//!
//! The epilogue ([`Requant`], [`Quantize`]) is one piece of plain Rust
//! inlined into each path's tile function (compiled with that path's
//! target features), so its `f32` arithmetic — a separate multiply and
//! add, never fused — is the same on every path. Only the last step, the
//! narrowing of quantized values to bytes, is written per path (see
//! `Narrow`): it moves bits, no arithmetic.

mod epilogue;
mod micro;
mod pack;
#[cfg(test)]
mod tests;

#[cfg(target_arch = "x86_64")]
use epilogue::NarrowAvx512;
use epilogue::{finish, Portable};
use pack::bytes;
pub use pack::{pack_rhs_s8, pack_rhs_u8, row_sums_s8, PackedRhs};

use std::cell::RefCell;

/// Columns per panel of a [`PackedRhs`].
pub const NR: usize = 32;
/// Rows per micro-tile.
const MR: usize = 8;
/// Deepest slice of `k` per block (split evenly: `k = 1100` is two slices
/// of 552). A `KC x NR` panel is all of a 32 KiB L1, yet measured faster
/// than 512 or 768 on Zen 4 (434 vs 410 GOPS at 64x3136x576): it streams
/// well, and a `k` that fits one slice skips the `i32` round trip.
const KC: usize = 1024;
/// Rows per block.
const MC: usize = 128;
/// Columns per block (a multiple of `NR`); with `MC` it sizes the `i32`
/// scratch (256 KiB), kept well inside L2.
const NC: usize = 512;

/// An `i32` micro-tile as the kernels hand it to the epilogue.
type Tile = [[i32; NR]; MR];

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
}

/// A one-byte operand type, `u8` or `i8`.
pub trait Int8: sealed::Sealed + Copy + Default + Send + Sync + 'static {
    /// The other operand's type in a product with this one on the left.
    type Other: Int8;
    /// Whether the type is `i8`.
    const SIGNED: bool;
    /// The value of a byte holding this type.
    fn widen(byte: u8) -> i32 {
        if Self::SIGNED {
            byte as i8 as i32
        } else {
            byte as i32
        }
    }
}

impl Int8 for u8 {
    type Other = i8;
    const SIGNED: bool = false;
}

impl Int8 for i8 {
    type Other = u8;
    const SIGNED: bool = true;
}

/// Which implementation runs the micro-kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// AVX-512F/BW + VNNI (`vpdpbusd`).
    Avx512Vnni,
    /// AVX2 (`vpmaddwd` on operands widened to `i16`).
    Avx2,
    /// Portable scalar code.
    Scalar,
}

impl Level {
    /// Every level, fastest first.
    pub const ALL: [Level; 3] = [Level::Avx512Vnni, Level::Avx2, Level::Scalar];

    /// The level's name as [`level`] reports it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Avx512Vnni => "avx512-vnni",
            Level::Avx2 => "avx2",
            Level::Scalar => "scalar",
        }
    }

    /// Whether this host can run the level.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            Level::Scalar => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest level this host can run (what [`qgemm`] uses).
    pub fn best() -> Level {
        Level::ALL
            .into_iter()
            .find(|l| l.available())
            .unwrap_or(Level::Scalar)
    }
}

/// The name of the level [`qgemm`] runs on this host: `"avx512-vnni"`,
/// `"avx2"` or `"scalar"`.
pub fn level() -> &'static str {
    Level::best().name()
}

/// How an `i32` sum becomes a real number, per output channel `ch` (a row
/// when the left operand is `i8`, a column when it is `u8`):
/// `f = (acc - zp_corr[ch]) as f32 * scale[ch] + bias[ch]`, with the
/// subtraction wrapping, the product and sum rounded separately.
///
/// Each slice holds one value per channel or one for all; `zp_corr` and
/// `bias` may also be empty (zero).
#[derive(Clone, Copy, Debug)]
pub struct Requant<'a> {
    /// Zero-point correction, e.g. `z * sums[ch]` (see
    /// [`PackedRhs::col_sums`], [`row_sums_s8`]).
    pub zp_corr: &'a [i32],
    /// Product of the two operands' scales.
    pub scale: &'a [f32],
    pub bias: &'a [f32],
}

impl Requant<'_> {
    fn check(&self, channels: usize) {
        let ok = |len: usize, empty: bool| len == 1 || len == channels || (empty && len == 0);
        assert!(
            ok(self.zp_corr.len(), true)
                && ok(self.scale.len(), false)
                && ok(self.bias.len(), true),
            "requant: {channels} channels, but {} zero-point corrections, {} scales, {} biases",
            self.zp_corr.len(),
            self.scale.len(),
            self.bias.len()
        );
    }

    /// `(zp_corr, scale, bias)` of channel `ch`.
    #[inline(always)]
    fn at(&self, ch: usize) -> (i32, f32, f32) {
        fn pick<V: Copy>(s: &[V], ch: usize, none: V) -> V {
            match s.len() {
                0 => none,
                1 => s[0],
                _ => s[ch],
            }
        }
        (
            pick(self.zp_corr, ch, 0),
            pick(self.scale, ch, 1.0),
            pick(self.bias, ch, 0.0),
        )
    }
}

/// Quantization of a [`Requant`] result to `u8` or `i8`:
/// `q = clamp(round_half_even(f / scale) + zero_point, lo, hi)`; `lo` and
/// `hi` (inside the output type's range) also express a fused ReLU or
/// Clip. A NaN `f / scale` gives `lo`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantize {
    pub scale: f32,
    pub zero_point: i32,
    pub lo: i32,
    pub hi: i32,
}

impl Quantize {
    /// Clamping before rounding gives the same result (rounding is
    /// monotone and `lo - zp`, `hi - zp` are integers) and bounds the
    /// value, so the conversion needs no saturation logic. The result is
    /// in `lo..=hi`, so its low byte is the `u8` or `i8` it stands for.
    #[inline(always)]
    fn apply(self, f: f32, lo: f32, hi: f32) -> i32 {
        let x = (f / self.scale).max(lo).min(hi);
        // SAFETY: `x` lies in `[lo - zp, hi - zp]` (NaN became `lo` in
        // `max`), finite and within `i32`: `|zero_point| <= 2^24` is
        // checked by `qgemm_ptr_at`.
        let r: i32 = unsafe { x.round_ties_even().to_int_unchecked() };
        r + self.zero_point
    }

    /// [`Quantize::apply`] for `scale == 1`, without the division.
    #[inline(always)]
    fn apply_unit(self, f: f32, lo: f32, hi: f32) -> i32 {
        let x = f.max(lo).min(hi);
        // SAFETY: as in `apply`.
        let r: i32 = unsafe { x.round_ties_even().to_int_unchecked() };
        r + self.zero_point
    }

    /// The clamp bounds `apply` takes, relative to the zero point.
    fn bounds(self) -> (f32, f32) {
        (
            (self.lo - self.zero_point) as f32,
            (self.hi - self.zero_point) as f32,
        )
    }

    /// Panics unless the bounds are ordered and inside `range`.
    fn check(self, range: std::ops::RangeInclusive<i32>) {
        assert!(
            self.lo <= self.hi
                && range.contains(&self.lo)
                && range.contains(&self.hi)
                && self.zero_point.unsigned_abs() <= 1 << 24,
            "qgemm: quantization bounds {}..={} / zero point {} make no sense for outputs in {range:?}",
            self.lo,
            self.hi,
            self.zero_point
        );
    }
}

/// Where [`qgemm`] writes its `m x n` result, row `i` at `c[i * rs]`;
/// nothing else in `c` is touched.
pub enum Dst<'a> {
    /// The raw sums: `c = (accumulate ? c : 0) + A · B`, wrapping.
    I32 {
        c: &'a mut [i32],
        rs: usize,
        accumulate: bool,
    },
    /// `f` of [`Requant`].
    F32 {
        c: &'a mut [f32],
        rs: usize,
        rq: Requant<'a>,
    },
    /// `f` of [`Requant`], quantized by [`Quantize`] (bounds in `0..=255`).
    U8 {
        c: &'a mut [u8],
        rs: usize,
        rq: Requant<'a>,
        q: Quantize,
    },
    /// `f` of [`Requant`], quantized by [`Quantize`] (bounds in
    /// `-128..=127`).
    I8 {
        c: &'a mut [i8],
        rs: usize,
        rq: Requant<'a>,
        q: Quantize,
    },
}

/// [`Dst`] by pointer, for [`qgemm_ptr`]: a caller whose threads write
/// disjoint tiles of one matrix cannot hand each a `&mut` slice (a tile's
/// rows interleave with its neighbours', so the slices would overlap).
#[derive(Clone, Copy)]
pub enum DstPtr<'a> {
    I32 {
        c: *mut i32,
        rs: usize,
        accumulate: bool,
    },
    F32 {
        c: *mut f32,
        rs: usize,
        rq: Requant<'a>,
    },
    U8 {
        c: *mut u8,
        rs: usize,
        rq: Requant<'a>,
        q: Quantize,
    },
    I8 {
        c: *mut i8,
        rs: usize,
        rq: Requant<'a>,
        q: Quantize,
    },
}

/// `dst <- A · B` on the fastest [`Level`] of this host, where `A` is
/// `m x rhs.k()` with row `i` at `lhs[i * lhs_rs]`. See [`qgemm_at`].
pub fn qgemm<L: Int8>(m: usize, lhs: &[L], lhs_rs: usize, rhs: &PackedRhs<L::Other>, dst: Dst<'_>) {
    qgemm_at(Level::best(), m, lhs, lhs_rs, rhs, dst)
}

/// [`qgemm`] on `level` (the tests run every available one). Panics if
/// the host cannot run `level`, or if an operand, the destination or the
/// epilogue's slices are too short for the shapes.
pub fn qgemm_at<L: Int8>(
    level: Level,
    m: usize,
    lhs: &[L],
    lhs_rs: usize,
    rhs: &PackedRhs<L::Other>,
    dst: Dst<'_>,
) {
    let n = rhs.n();
    let fits = |rs: usize, len: usize| m == 0 || n == 0 || (m - 1) * rs + n <= len;
    let (rs, len, ptr) = match dst {
        Dst::I32 { c, rs, accumulate } => (
            rs,
            c.len(),
            DstPtr::I32 {
                c: c.as_mut_ptr(),
                rs,
                accumulate,
            },
        ),
        Dst::F32 { c, rs, rq } => (
            rs,
            c.len(),
            DstPtr::F32 {
                c: c.as_mut_ptr(),
                rs,
                rq,
            },
        ),
        Dst::U8 { c, rs, rq, q } => (
            rs,
            c.len(),
            DstPtr::U8 {
                c: c.as_mut_ptr(),
                rs,
                rq,
                q,
            },
        ),
        Dst::I8 { c, rs, rq, q } => (
            rs,
            c.len(),
            DstPtr::I8 {
                c: c.as_mut_ptr(),
                rs,
                rq,
                q,
            },
        ),
    };
    assert!(
        fits(rs, len),
        "qgemm: dst {m} x {n} at row stride {rs} does not fit {len}"
    );
    // SAFETY: the destination slice holds every row (checked just above)
    // and is borrowed mutably for the call.
    unsafe { qgemm_ptr_at(level, m, lhs, lhs_rs, rhs, ptr) }
}

/// [`qgemm`] through a raw destination.
///
/// # Safety
/// For every row `i < m`, the `rhs.n()` elements at `c + i * rs` are
/// valid for reads and writes and nothing else accesses them during the
/// call.
pub unsafe fn qgemm_ptr<L: Int8>(
    m: usize,
    lhs: &[L],
    lhs_rs: usize,
    rhs: &PackedRhs<L::Other>,
    dst: DstPtr<'_>,
) {
    // SAFETY: this function's contract.
    unsafe { qgemm_ptr_at(Level::best(), m, lhs, lhs_rs, rhs, dst) }
}

/// [`qgemm_ptr`] on `level`; panics as [`qgemm_at`] (except for the
/// destination's extent, which the caller guarantees).
///
/// # Safety
/// As [`qgemm_ptr`].
pub unsafe fn qgemm_ptr_at<L: Int8>(
    level: Level,
    m: usize,
    lhs: &[L],
    lhs_rs: usize,
    rhs: &PackedRhs<L::Other>,
    dst: DstPtr<'_>,
) {
    assert!(
        level.available(),
        "qgemm: this host cannot run {}",
        level.name()
    );
    let (k, n) = (rhs.k(), rhs.n());
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * lhs_rs + k <= lhs.len(),
        "qgemm: lhs {m} x {k} at row stride {lhs_rs} does not fit {} values",
        lhs.len()
    );
    let channels = if L::SIGNED { m } else { n };
    let stride_ok = |rs: usize| {
        assert!(
            m == 1 || rs >= n,
            "qgemm: dst rows of {n} overlap at row stride {rs}"
        )
    };
    let (sink, rq) = match dst {
        DstPtr::I32 { c, rs, accumulate } => {
            stride_ok(rs);
            (Sink::I32(c, rs, accumulate), None)
        }
        DstPtr::F32 { c, rs, rq } => {
            stride_ok(rs);
            rq.check(channels);
            (Sink::Final(Final::F32(c, rs)), Some(rq))
        }
        DstPtr::U8 { c, rs, rq, q } => {
            stride_ok(rs);
            q.check(0..=255);
            rq.check(channels);
            (Sink::Final(Final::Byte(c, rs, q)), Some(rq))
        }
        DstPtr::I8 { c, rs, rq, q } => {
            stride_ok(rs);
            q.check(-128..=127);
            rq.check(channels);
            (Sink::Final(Final::Byte(c.cast(), rs, q)), Some(rq))
        }
    };
    let job = Job {
        level,
        m,
        n,
        k,
        a: bytes(lhs).as_ptr(),
        a_rs: lhs_rs,
        b: bytes(rhs.as_slice()).as_ptr(),
    };
    SCRATCH.with(|s| {
        let mut guard = s.try_borrow_mut();
        let mut own = Scratch::default();
        let scratch = match guard.as_mut() {
            Ok(g) => &mut **g,
            Err(_) => &mut own,
        };
        // SAFETY: the checks above bound every tile `drive` addresses by
        // the operand slices behind `job`; the caller guarantees `sink`'s
        // rows; `level` is available.
        unsafe { drive::<L>(&job, sink, rq.as_ref(), scratch) }
    })
}

#[derive(Default)]
struct Scratch {
    /// Partial `i32` sums of an `MC x NC` block between depth slices.
    acc: Vec<i32>,
    /// The AVX2 path's left block widened to `i16`.
    wide: Vec<i16>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { acc: Vec::new(), wide: Vec::new() })
    };
}

/// One call's operands as raw pointers, checked by `qgemm_at`.
struct Job {
    level: Level,
    m: usize,
    n: usize,
    k: usize,
    a: *const u8,
    a_rs: usize,
    b: *const u8,
}

/// The final destination, as raw pointers with row strides.
#[derive(Clone, Copy)]
enum Sink {
    I32(*mut i32, usize, bool),
    Final(Final),
}

#[derive(Clone, Copy)]
enum Final {
    F32(*mut f32, usize),
    /// `u8` or `i8` (the same bytes: see [`Quantize::apply`]).
    Byte(*mut u8, usize, Quantize),
}

/// Where one micro-tile's sums go.
#[derive(Clone, Copy)]
enum Out<'r> {
    /// Stored at `c` (row stride `ldc`), or added to it when `add`.
    I32 { c: *mut i32, ldc: usize, add: bool },
    /// Added to `prior` (earlier slices' sums, if any), then requantized;
    /// `ch0` is the channel of the tile's first row (`per_row`) or column.
    Final {
        prior: Option<(*const i32, usize)>,
        rq: &'r Requant<'r>,
        ch0: usize,
        per_row: bool,
        dst: Final,
    },
}

/// One micro-tile's operands: `kc` deep, `mr <= MR` rows (row `i` of the
/// left operand at `a + i * a_rs`, or widened at `wide + i * wide_rs`),
/// `nr <= NR` columns of the panel at `b`.
#[derive(Clone, Copy)]
struct TileArgs {
    kc: usize,
    a: *const u8,
    a_rs: usize,
    wide: *const i16,
    wide_rs: usize,
    b: *const u8,
    mr: usize,
    nr: usize,
}

/// The blocked loops (see the module header).
///
/// # Safety
/// `job`'s pointers hold the `m x k` and packed `k x n` operands, `sink`
/// holds `m x n` at its stride, `rq` is checked for the channel count and
/// present for a `Final` sink, and `job.level` is available.
unsafe fn drive<L: Int8>(job: &Job, sink: Sink, rq: Option<&Requant<'_>>, s: &mut Scratch) {
    let Job { level, m, n, k, .. } = *job;
    let kp = k.next_multiple_of(4);
    let kc_step = k.div_ceil(k.div_ceil(KC).max(1)).next_multiple_of(4).max(4);
    let slices = k.div_ceil(kc_step).max(1);
    if slices > 1 && matches!(sink, Sink::Final(_)) {
        s.acc.resize(MC * NC, 0);
    }
    let kcw = kc_step.min(kp);
    if level == Level::Avx2 {
        s.wide.resize(MC * kcw, 0);
    }
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for ic in (0..m).step_by(MC) {
            let mc = MC.min(m - ic);
            for slice in 0..slices {
                let pc = slice * kc_step;
                let kc = kc_step.min(k - pc);
                let (first, last) = (slice == 0, slice + 1 == slices);
                let a_blk = job.a.add(ic * job.a_rs + pc);
                if level == Level::Avx2 && kc > 0 {
                    // SAFETY: `level` is available; the block is inside A.
                    micro::widen_avx2::<L>(a_blk, job.a_rs, mc, kc, &mut s.wide, kcw);
                }
                for jr in (0..nc).step_by(NR) {
                    let nr = NR.min(nc - jr);
                    let b = job.b.add(((jc + jr) / NR) * kp * NR + pc * NR);
                    for ir in (0..mc).step_by(MR) {
                        let (i, j) = (ic + ir, jc + jr);
                        let args = TileArgs {
                            kc,
                            a: a_blk.add(ir * job.a_rs),
                            a_rs: job.a_rs,
                            wide: s.wide.as_ptr().add((ir * kcw).min(s.wide.len())),
                            wide_rs: kcw,
                            b,
                            mr: MR.min(mc - ir),
                            nr,
                        };
                        let scratch = s.acc.as_mut_ptr().add((ir * NC + jr).min(s.acc.len()));
                        let out = match (sink, rq) {
                            (Sink::I32(c, ldc, acc), _) => Out::I32 {
                                c: c.add(i * ldc + j),
                                ldc,
                                add: acc || !first,
                            },
                            (Sink::Final(_), _) if !last => Out::I32 {
                                c: scratch,
                                ldc: NC,
                                add: !first,
                            },
                            (Sink::Final(f), Some(rq)) => Out::Final {
                                prior: (!first).then_some((scratch as *const i32, NC)),
                                rq,
                                ch0: if L::SIGNED { i } else { j },
                                per_row: L::SIGNED,
                                dst: match f {
                                    Final::F32(c, ldc) => Final::F32(c.add(i * ldc + j), ldc),
                                    Final::Byte(c, ldc, q) => {
                                        Final::Byte(c.add(i * ldc + j), ldc, q)
                                    }
                                },
                            },
                            (Sink::Final(_), None) => unreachable!("qgemm_at passes a Requant"),
                        };
                        // SAFETY: the tile's rows, columns and depth lie
                        // inside the operands and destination (`drive`'s
                        // contract); `level` is available.
                        run_tile::<L>(level, &args, &out);
                    }
                }
            }
        }
    }
}

/// One micro-tile on `level`.
///
/// # Safety
/// As [`drive`], for this tile.
unsafe fn run_tile<L: Int8>(level: Level, t: &TileArgs, out: &Out) {
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512Vnni => tile_vnni::<L>(t, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => tile_avx2::<L>(t, out),
        _ => {
            let mut tile = [[0; NR]; MR];
            micro::scalar::<L>(t.kc, t.a, t.a_rs, t.mr, t.b, &mut tile);
            finish::<Portable>(&tile, t.mr, t.nr, out);
        }
    }
}

/// The VNNI micro-kernel and the epilogue, built with AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_vnni<L: Int8>(t: &TileArgs, out: &Out) {
    let mut tile = [[0; NR]; MR];
    micro::vnni::<L>(t.kc, t.a, t.a_rs, t.mr, t.b, &mut tile);
    finish::<NarrowAvx512>(&tile, t.mr, t.nr, out);
}

/// The AVX2 micro-kernel and the epilogue, built with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2<L: Int8>(t: &TileArgs, out: &Out) {
    let mut tile = [[0; NR]; MR];
    micro::avx2::<L>(t.kc, t.wide, t.wide_rs, t.mr, t.b, &mut tile);
    finish::<Portable>(&tile, t.mr, t.nr, out);
}
