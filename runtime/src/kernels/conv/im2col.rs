//! GEMM-based forward convolution: pointwise (the image is the GEMM's right
//! operand as it stands) and im2col (a column tile of the unfolded image is
//! built in thread-local scratch, then multiplied).
//!
//! Tiles are `[M/group, T]`: one group's output channels by `T` output
//! positions of one image, `T` chosen so the column tile and the output
//! tile stay near L2 size (scratch is at most `C/group * taps * T` floats,
//! never more than one image's columns), and small enough that a single
//! image still splits across the worker threads.

use super::geom::{valid_run, Geom};
use super::{Algo, Job};
use crate::kernels::pack::{self, sgemm, with_scratch, Bound, Grid, Mat};
use crate::kernels::sgemm as own;

/// Floats of column tile (and output tile) aimed for: 512 KiB, half of L2.
const TILE_FLOATS: usize = 1 << 17;

/// Fewest output positions per tile (see [`col_tile`]).
const MIN_COLS: usize = 64;

/// Output positions per tile for GEMM depth `k` and `mg` rows, splitting
/// `blocks` (images x groups) further when threads would otherwise idle.
fn col_tile(k: usize, mg: usize, hw: usize, blocks: usize, threads: usize, flops: f64) -> usize {
    // At least 64 columns (two GEMM micro-panels): narrower tiles stream
    // the whole weight once per tile for a sliver of output (ResNet's
    // 512-channel 3x3 convs have depth 4608 and only 49 positions).
    let mut t = (TILE_FLOATS / k.max(mg).max(1)).max(MIN_COLS) / 32 * 32;
    if threads > 1 && flops >= pack::PAR_MIN_FLOPS && blocks < 4 * threads {
        let per = (4 * threads).div_ceil(blocks);
        t = t.min(hw.div_ceil(per).next_multiple_of(32)).max(MIN_COLS);
    }
    t.clamp(1, hw.max(1))
}

/// Floats of padded input the implicit path may hold (32 MiB); bigger
/// problems unfold tile by tile.
const IMPLICIT_MAX: usize = 1 << 23;

/// Flat output columns per implicit tile aimed for.
const IMPLICIT_COLS: usize = 1024;

thread_local! {
    /// The calling thread's padded input for [`implicit`] (workers read it).
    static PADDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Implicit im2col for 2-D convolutions with equal strides 1 or 2 (every
/// 3x3 and the 7x7 stem of a ResNet): the input is copied once into
/// zero-bordered planes, de-interleaved into `s x s` phase planes of
/// `hq x wq` at stride 2, so output `(y, x)` reads kernel tap `(kh, kw)` of
/// channel `c` at `offs[(c, kh, kw)] + y * wq + x`. Over the flat index
/// `q = y * wq + x` every row of the unfolded matrix is then a contiguous
/// window of the planes, and the GEMM reads it in place through a table of
/// row offsets ([`own::Rhs::Rows`]) instead of materializing `taps` copies
/// of the image (that copy was ~10% of a 3x3 convolution, 16% at stride
/// 2). Columns `ow..wq` of each flat row are computed and dropped.
pub(super) struct Implicit {
    s: usize,
    hq: usize,
    pub(super) wq: usize,
    /// Floats per channel: `s * s * hq * wq`.
    pub(super) chan: usize,
    /// Per unfolded row `(c, kh, kw)` of one group.
    pub(super) offs: Vec<isize>,
}

impl Implicit {
    pub(super) fn plan(g: &Geom, cg: usize, images: usize) -> Option<Implicit> {
        let two_d = g.k[0] == 1 && g.i[0] == 1 && g.o[0] == 1 && g.pb[0] == 0;
        let s = g.s[2];
        // A strided 1x1 reads one phase in four: unfolding copies less.
        if !two_d || g.s[1] != s || !(s == 1 || s == 2) || g.taps() == 1 {
            return None;
        }
        let [_, ih, iw] = g.i;
        let [_, oh, ow] = g.o;
        let (kh, kw, dh, dw) = (g.k[1], g.k[2], g.d[1], g.d[2]);
        let wp = (g.pb[2] + iw).max(s * (ow - 1) + (kw - 1) * dw + 1);
        let hp = (g.pb[1] + ih).max(s * (oh - 1) + (kh - 1) * dh + 1);
        let wq = wp.div_ceil(s);
        // The dropped columns of the last output row read into one more
        // phase row.
        let hq = hp.div_ceil(s).max(oh + (kh - 1) * dh / s + 1);
        let chan = s * s * hq * wq;
        if images.checked_mul(chan)? > IMPLICIT_MAX {
            return None;
        }
        let mut offs = Vec::with_capacity(cg * kh * kw);
        for c in 0..cg {
            for t in 0..kh * kw {
                let (r, q) = ((t / kw) * dh, (t % kw) * dw);
                let phase = (r % s) * s + q % s;
                offs.push((c * chan + phase * hq * wq + (r / s) * wq + q / s) as isize);
            }
        }
        Some(Implicit {
            s,
            hq,
            wq,
            chan,
            offs,
        })
    }

    /// Copy `channels` input planes into `buf` (zeroed first: the
    /// borders), split over the pool when `par` (the copy is a pass over
    /// the input; run serially it held back the second thread).
    ///
    /// # Safety
    /// The host has AVX-512F; `image` holds `channels` planes of `g`'s
    /// input; `buf` holds `channels * chan` floats.
    unsafe fn fill(
        &self,
        image: *const f32,
        channels: usize,
        g: &Geom,
        buf: &mut [f32],
        par: bool,
    ) {
        let [_, ih, iw] = g.i;
        let (pr, pc, s) = (g.pb[1], g.pb[2], self.s);
        let plane = self.hq * self.wq;
        let src = image as usize;
        let one = |(c, dst): (usize, &mut [f32])| {
            dst.fill(0.0);
            for yi in 0..ih {
                let yp = pr + yi;
                // SAFETY: channel `c`'s row `yi` is inside the input; the
                // destination row is inside this channel's padded planes.
                unsafe {
                    let from = (src as *const f32).add((c * ih + yi) * iw);
                    let row = dst
                        .as_mut_ptr()
                        .add((yp % s) * s * plane + (yp / s) * self.wq);
                    if s == 1 {
                        std::ptr::copy_nonoverlapping(from, row.add(pc), iw);
                    } else {
                        super::deinterleave(from, iw, pc, [row, row.add(plane)]);
                    }
                }
            }
        };
        let buf = &mut buf[..channels * self.chan];
        if par {
            use rayon::prelude::*;
            buf.par_chunks_mut(self.chan).enumerate().for_each(one);
        } else {
            buf.chunks_mut(self.chan).enumerate().for_each(one);
        }
    }
}

/// Copy the job's input into the calling thread's zero-bordered planes
/// (see [`Implicit`]) and run `body` with their address.
///
/// # Safety
/// The host has AVX-512F; the job's input holds `n * c` planes of its
/// geometry.
pub(super) unsafe fn with_padded<R>(
    job: &Job,
    imp: &Implicit,
    par: bool,
    body: impl FnOnce(usize) -> R,
) -> R {
    PADDED.with(|cell| {
        let mut own_buf = Vec::new();
        let mut guard = cell.try_borrow_mut();
        let buf = match guard.as_mut() {
            Ok(v) => &mut **v,
            Err(_) => &mut own_buf,
        };
        let len = job.n * job.k.c * imp.chan;
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        let buf = &mut buf[..len];
        // SAFETY: the input holds `n * c` planes; `buf` holds their padded
        // copies; AVX-512F per this function's contract.
        unsafe { imp.fill(job.x, job.n * job.k.c, &job.g, buf, par) };
        body(buf.as_ptr() as usize)
    })
}

/// The implicit-im2col convolution (see [`Implicit`]). Tiles are whole
/// output rows of one group's channels; each multiplies into a local flat
/// tile, then copies its valid columns out, adding the bias.
///
/// # Safety
/// As [`run`]; the host has AVX-512F.
unsafe fn implicit(job: &Job, ep: Option<&Bound>, threads: usize, imp: &Implicit) {
    let kc = job.k;
    let g = &job.g;
    let [_, oh, ow] = g.o;
    let hwo = oh * ow;
    let depth = kc.cg * g.taps();
    let flops = 2.0 * (job.n * kc.m * hwo) as f64 * depth as f64;
    let par_ok = threads > 1 && flops >= pack::PAR_MIN_FLOPS;
    let blocks = job.n * kc.group;
    let mut tiles = (oh * imp.wq).div_ceil(IMPLICIT_COLS).clamp(1, oh);
    if par_ok && blocks * tiles < 4 * threads {
        // Split rows while tiles keep at least `MIN_COLS` flat columns
        // (narrower ones stream the whole weight for a sliver of output:
        // one-row tiles of a 7x7 plane made the 2-thread run 2x slower
        // than 1 thread); below that the channels are split instead.
        tiles = (4 * threads)
            .div_ceil(blocks)
            .min((oh * imp.wq / (2 * MIN_COLS)).max(tiles))
            .min(oh);
    }
    let rows_t = oh.div_ceil(tiles);
    let col_tiles = job.n * oh.div_ceil(rows_t);
    let mut mb = kc.mg;
    if kc.group == 1 && par_ok && col_tiles < 2 * threads {
        let parts = (2 * threads).div_ceil(col_tiles);
        mb = kc.m.div_ceil(parts).next_multiple_of(8).min(kc.m);
    }
    let grid = Grid {
        batch: job.n,
        rows: kc.m,
        cols: hwo,
        mb,
        nb: rows_t * ow,
    };
    let par = par_ok && grid.tiles() > 1;
    with_padded(job, imp, par, |padded| {
        pack::for_each_tile(&grid, par, ep, |tile| {
            let gi = tile.r0 / kc.mg;
            let (y0, y1) = (tile.c0 / ow, tile.c1.div_ceil(ow));
            let (mr, nq) = (tile.r1 - tile.r0, (y1 - y0) * imp.wq);
            with_scratch(mr * nq, |flat| {
                // SAFETY: the tile's rows and output rows are inside image
                // `tile.b`'s output; group `gi`'s planes and every offset
                // (plus the tile's flat columns) are inside `buf`.
                unsafe {
                    let planes = (padded as *const f32)
                        .add((tile.b * kc.c + gi * kc.cg) * imp.chan + y0 * imp.wq);
                    own::sgemm_rhs(
                        mr,
                        nq,
                        depth,
                        flat.as_mut_ptr(),
                        nq,
                        false,
                        (kc.weight.as_ptr().add(tile.r0 * depth), depth as isize, 1),
                        own::Rhs::Rows(planes, imp.offs.as_ptr()),
                        1.0,
                    );
                    for r in 0..mr {
                        let bias = kc.bias.as_ref().map_or(0.0, |b| b[tile.r0 + r]);
                        let out = job.y.add((tile.b * kc.m + tile.r0 + r) * hwo);
                        for y in y0..y1 {
                            let src = &flat[r * nq + (y - y0) * imp.wq..][..ow];
                            let dst = std::slice::from_raw_parts_mut(out.add(y * ow), ow);
                            for (d, &v) in dst.iter_mut().zip(src) {
                                *d = v + bias;
                            }
                        }
                    }
                }
            });
        });
    });
}

/// Run a pointwise or im2col convolution.
///
/// # Safety
/// `job`'s buffers have the shapes its geometry describes.
pub(super) unsafe fn run(job: &Job, ep: Option<&Bound>, threads: usize) {
    let kc = job.k;
    let g = &job.g;
    if kc.algo == Algo::Im2col && own::available() {
        if let Some(imp) = Implicit::plan(g, kc.cg, job.n * kc.c) {
            // SAFETY: AVX-512F checked; buffers per this function's contract.
            unsafe { implicit(job, ep, threads, &imp) };
            return;
        }
    }
    let (hwo, hwi) = (g.out_size(), g.in_size());
    let depth = kc.cg * g.taps();
    let pointwise = kc.algo == Algo::Pointwise;
    let flops = 2.0 * (job.n * kc.m * hwo) as f64 * depth as f64;
    let t = col_tile(depth, kc.mg, hwo, job.n * kc.group, threads, flops);
    // Few column tiles (small feature maps) and one group: split the
    // output channels instead, so every thread gets work.
    let col_tiles = job.n * hwo.div_ceil(t.max(1));
    let mut mb = kc.mg;
    if kc.group == 1 && threads > 1 && flops >= pack::PAR_MIN_FLOPS && col_tiles < 2 * threads {
        let parts = (2 * threads).div_ceil(col_tiles);
        mb = kc.m.div_ceil(parts).next_multiple_of(8).min(kc.m);
    }
    let grid = Grid {
        batch: job.n,
        rows: kc.m,
        cols: hwo,
        mb,
        nb: t,
    };
    let par = threads > 1 && flops >= pack::PAR_MIN_FLOPS && grid.tiles() > 1;
    pack::for_each_tile(&grid, par, ep, |tile| {
        let gi = tile.r0 / kc.mg;
        let w = tile.c1 - tile.c0;
        // SAFETY: the tile is inside image `tile.b`'s output; the input
        // channels of group `gi` are inside image `tile.b`'s input.
        unsafe {
            // Our GEMM adds the bias as it stores; the `gemm` crate's path
            // accumulates onto it written first.
            let own_bias = own::available() && tile.r1 - tile.r0 >= 4;
            let bias = match &kc.bias {
                Some(b) if own_bias => b.as_ptr().add(tile.r0),
                _ => std::ptr::null(),
            };
            let acc = !own_bias && job.init_bias(tile.b, tile.r0, tile.r1, tile.c0, tile.c1);
            let dst = job.y.add((tile.b * kc.m + tile.r0) * hwo + tile.c0);
            let lhs = Mat {
                ptr: kc.weight.as_ptr().add(tile.r0 * depth),
                rs: depth as isize,
                cs: 1,
            };
            let gemm = |rhs: Mat| {
                if own_bias {
                    own::sgemm_bias(
                        tile.r1 - tile.r0,
                        w,
                        depth,
                        dst,
                        hwo,
                        false,
                        (lhs.ptr, lhs.rs, lhs.cs),
                        own::Rhs::Strided(rhs.ptr, rhs.rs, rhs.cs),
                        1.0,
                        bias,
                    )
                } else {
                    sgemm(tile.r1 - tile.r0, w, depth, dst, hwo, acc, lhs, rhs, 1.0)
                }
            };
            let image = job.x.add((tile.b * kc.c + gi * kc.cg) * hwi);
            if pointwise {
                gemm(Mat {
                    ptr: image.add(tile.c0),
                    rs: hwi as isize,
                    cs: 1,
                });
            } else {
                with_scratch(depth * w, |cols| {
                    im2col(image, kc.cg, g, tile.c0, tile.c1, cols);
                    gemm(Mat {
                        ptr: cols.as_ptr(),
                        rs: w as isize,
                        cs: 1,
                    });
                });
            }
        }
    });
}

/// Unfold output positions `p0..p1` of the `channels`-channel `image` into
/// `cols` (`[channels * taps, p1 - p0]` row-major; row `(c, kd, kh, kw)` as
/// in the weight layout), with zeros for taps in the padding.
///
/// # Safety
/// `image` holds `channels * g.in_size()` floats.
unsafe fn im2col(
    image: *const f32,
    channels: usize,
    g: &Geom,
    p0: usize,
    p1: usize,
    cols: &mut [f32],
) {
    let w = p1 - p0;
    let [_, oh, ow] = g.o;
    let [id, ih, iw] = g.i;
    let mut row = 0;
    for c in 0..channels {
        let plane = image.add(c * id * ih * iw);
        for kd in 0..g.k[0] {
            for kh in 0..g.k[1] {
                for kw in 0..g.k[2] {
                    let out = &mut cols[row * w..(row + 1) * w];
                    row += 1;
                    let offw = (kw * g.d[2]) as isize - g.pb[2] as isize;
                    let mut p = p0;
                    while p < p1 {
                        let (z, rest) = (p / (oh * ow), p % (oh * ow));
                        let (y, x) = (rest / ow, rest % ow);
                        let run = (p1 - p).min(ow - x);
                        let seg = &mut out[p - p0..p - p0 + run];
                        p += run;
                        let zi = (z * g.s[0] + kd * g.d[0]) as isize - g.pb[0] as isize;
                        let yi = (y * g.s[1] + kh * g.d[1]) as isize - g.pb[1] as isize;
                        if zi < 0 || zi >= id as isize || yi < 0 || yi >= ih as isize {
                            seg.fill(0.0);
                            continue;
                        }
                        let src = plane.add((zi as usize * ih + yi as usize) * iw);
                        let (lo, hi) = valid_run(x, run, g.s[2], offw, iw);
                        seg[..lo].fill(0.0);
                        seg[hi..].fill(0.0);
                        let first = ((x + lo) * g.s[2]) as isize + offw;
                        let src = src.offset(first);
                        if g.s[2] == 1 {
                            seg[lo..hi].copy_from_slice(std::slice::from_raw_parts(src, hi - lo));
                        } else if g.s[2] == 2 && own::available() {
                            // The stem convolutions' gather, 16 at a time.
                            own::copy_stride2(src, &mut seg[lo..hi]);
                        } else {
                            for (j, v) in seg[lo..hi].iter_mut().enumerate() {
                                *v = *src.add(j * g.s[2]);
                            }
                        }
                    }
                }
            }
        }
    }
}
