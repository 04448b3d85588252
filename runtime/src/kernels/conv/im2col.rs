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

/// Run a pointwise or im2col convolution.
///
/// # Safety
/// `job`'s buffers have the shapes its geometry describes.
pub(super) unsafe fn run(job: &Job, ep: Option<&Bound>, threads: usize) {
    let kc = job.k;
    let g = &job.g;
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
            let acc = job.init_bias(tile.b, tile.r0, tile.r1, tile.c0, tile.c1);
            let dst = job.y.add((tile.b * kc.m + tile.r0) * hwo + tile.c0);
            let lhs = Mat {
                ptr: kc.weight.as_ptr().add(tile.r0 * depth),
                rs: depth as isize,
                cs: 1,
            };
            let image = job.x.add((tile.b * kc.c + gi * kc.cg) * hwi);
            if pointwise {
                let rhs = Mat {
                    ptr: image.add(tile.c0),
                    rs: hwi as isize,
                    cs: 1,
                };
                sgemm(tile.r1 - tile.r0, w, depth, dst, hwo, acc, lhs, rhs, 1.0);
            } else {
                with_scratch(depth * w, |cols| {
                    im2col(image, kc.cg, g, tile.c0, tile.c1, cols);
                    let rhs = Mat {
                        ptr: cols.as_ptr(),
                        rs: w as isize,
                        cs: 1,
                    };
                    sgemm(tile.r1 - tile.r0, w, depth, dst, hwo, acc, lhs, rhs, 1.0);
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
