//! The strided-copy engine under every data-movement kernel.
//!
//! A copy is described by a shape and, per axis, a source and a destination
//! stride in *elements* (source strides may be 0 for broadcasting or negative
//! for reversed slices). [`Strided::new`] drops size-1 axes and merges
//! adjacent axes that stay together in both layouts, so e.g. a transpose that
//! keeps the innermost axis becomes a loop of row `memcpy`s. `run` then picks
//! one of three inner loops:
//! - rows: the innermost axis is contiguous on both sides → `memcpy`;
//! - tiles: the destination's innermost axis is strided in the source but
//!   some other axis is contiguous there (a real transpose) → 2-D blocks
//!   small enough to stay in L1, so neither side is walked with a big stride;
//! - elements: anything else (broadcast fills, stepped slices).
//!
//! Assumptions: every element the plan touches lies inside the buffers, the
//! destination elements are distinct (no two source elements land on the
//! same place), and source and destination do not overlap. Under those, work
//! split across threads writes disjoint memory.
//!
//! Guarantees: bytes are copied unchanged (any dtype; NaN payloads survive).

use super::{par_ranges, SendPtr};

/// A planned strided copy (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Strided {
    dims: Vec<usize>,
    ss: Vec<isize>,
    ds: Vec<isize>,
}

/// Destination-inner / source-contiguous tile edge, in elements.
const TILE: usize = 32;

impl Strided {
    /// Plan a copy of `dims`-shaped elements (strides in elements).
    pub fn new(dims: &[usize], ss: &[isize], ds: &[isize]) -> Strided {
        debug_assert!(dims.len() == ss.len() && dims.len() == ds.len());
        if dims.contains(&0) {
            return Strided {
                dims: vec![0],
                ss: vec![0],
                ds: vec![0],
            };
        }
        let mut p = Strided {
            dims: vec![],
            ss: vec![],
            ds: vec![],
        };
        for a in 0..dims.len() {
            if dims[a] == 1 {
                continue;
            }
            let n = dims[a] as isize;
            if let Some(k) = p.dims.len().checked_sub(1) {
                if p.ss[k] == ss[a] * n && p.ds[k] == ds[a] * n {
                    p.dims[k] *= dims[a];
                    p.ss[k] = ss[a];
                    p.ds[k] = ds[a];
                    continue;
                }
            }
            p.dims.push(dims[a]);
            p.ss.push(ss[a]);
            p.ds.push(ds[a]);
        }
        p
    }

    /// Number of elements copied.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// Copy. `src` / `dst` point at the element with multi-index 0.
    ///
    /// # Safety
    /// See the module assumptions; `es` is the element size in bytes.
    pub unsafe fn run(&self, src: *const u8, dst: *mut u8, es: usize, threads: usize) {
        let total = self.numel();
        if total == 0 {
            return;
        }
        let r = self.dims.len();
        let (src, dst) = (SendPtr(src as *mut u8), SendPtr(dst));
        if r == 0 {
            // SAFETY: one element on each side, distinct buffers.
            std::ptr::copy_nonoverlapping(src.get(), dst.get(), es);
            return;
        }
        let (nl, sl, dl) = (self.dims[r - 1], self.ss[r - 1], self.ds[r - 1]);
        let bytes = total * es;
        if r == 1 && sl == 1 && dl == 1 {
            // One contiguous block: split the memcpy itself.
            let chunk = 1 << 16;
            par_ranges(bytes.div_ceil(chunk), bytes, threads, |range| {
                let b = range.start * chunk;
                let e = (range.end * chunk).min(bytes);
                // SAFETY: [b, e) lies in both buffers (module assumptions).
                std::ptr::copy_nonoverlapping(src.get().add(b), dst.get().add(b), e - b);
            });
            return;
        }
        let tile_axis = (dl == 1 && sl != 0 && nl >= 4)
            .then(|| (0..r - 1).find(|&a| self.ss[a] == 1 && self.dims[a] >= 4))
            .flatten();
        // Axes walked by the outer odometer.
        let outer: Vec<usize> = (0..r - 1).filter(|&a| Some(a) != tile_axis).collect();
        let odims: Vec<usize> = outer.iter().map(|&a| self.dims[a]).collect();
        let oss: Vec<isize> = outer.iter().map(|&a| self.ss[a]).collect();
        let ods: Vec<isize> = outer.iter().map(|&a| self.ds[a]).collect();
        let m: usize = odims.iter().product();
        match tile_axis {
            Some(p) => {
                let (np, dp) = (self.dims[p], self.ds[p]);
                let blocks = np.div_ceil(TILE);
                par_ranges(m * blocks, bytes, threads, |range| {
                    for u in range {
                        let (o, blk) = (u / blocks, u % blocks);
                        let (so, d0) = offsets(o, &odims, &oss, &ods);
                        let i0 = blk * TILE;
                        let i1 = (i0 + TILE).min(np);
                        let s = src.get().offset((so + i0 as isize) * es as isize);
                        let d = dst.get().offset((d0 + i0 as isize * dp) * es as isize);
                        // SAFETY: the block lies inside the planned region.
                        tile(s, d, i1 - i0, nl, sl, dp, es);
                    }
                });
            }
            None => {
                par_ranges(m, bytes, threads, |range| {
                    let mut idx = vec![0usize; odims.len()];
                    let (mut so, mut d0) = offsets(range.start, &odims, &oss, &ods);
                    unflatten(range.start, &odims, &mut idx);
                    for _ in range {
                        let s = src.get().offset(so * es as isize);
                        let d = dst.get().offset(d0 * es as isize);
                        if sl == 1 && dl == 1 {
                            // SAFETY: one row inside both regions.
                            std::ptr::copy_nonoverlapping(s, d, nl * es);
                        } else {
                            // SAFETY: as above, strided.
                            line(s, d, nl, sl, dl, es);
                        }
                        step(&mut idx, &odims, &oss, &ods, &mut so, &mut d0);
                    }
                });
            }
        }
    }
}

/// Source and destination offsets of flat outer index `o`.
fn offsets(mut o: usize, dims: &[usize], ss: &[isize], ds: &[isize]) -> (isize, isize) {
    let (mut s, mut d) = (0isize, 0isize);
    for a in (0..dims.len()).rev() {
        let i = (o % dims[a]) as isize;
        o /= dims[a];
        s += i * ss[a];
        d += i * ds[a];
    }
    (s, d)
}

fn unflatten(mut o: usize, dims: &[usize], idx: &mut [usize]) {
    for a in (0..dims.len()).rev() {
        idx[a] = o % dims[a];
        o /= dims[a];
    }
}

/// Advance the odometer by one, keeping the offsets in step.
fn step(
    idx: &mut [usize],
    dims: &[usize],
    ss: &[isize],
    ds: &[isize],
    so: &mut isize,
    d0: &mut isize,
) {
    for a in (0..dims.len()).rev() {
        idx[a] += 1;
        *so += ss[a];
        *d0 += ds[a];
        if idx[a] < dims[a] {
            return;
        }
        *so -= ss[a] * dims[a] as isize;
        *d0 -= ds[a] * dims[a] as isize;
        idx[a] = 0;
    }
}

macro_rules! by_size {
    ($es:expr, $T:ident, $body:block) => {
        match $es {
            1 => {
                type $T = u8;
                $body
            }
            2 => {
                type $T = u16;
                $body
            }
            4 => {
                type $T = u32;
                $body
            }
            8 => {
                type $T = u64;
                $body
            }
            _ => unreachable!("element size {} is not 1, 2, 4 or 8", $es),
        }
    };
}
pub(crate) use by_size;

/// `n` elements, source stride `ss`, destination stride `ds` (elements).
///
/// # Safety
/// Every touched element is inside its buffer.
pub(crate) unsafe fn line(s: *const u8, d: *mut u8, n: usize, ss: isize, ds: isize, es: usize) {
    by_size!(es, T, {
        let (s, d) = (s as *const T, d as *mut T);
        if ss == 0 {
            // SAFETY: caller's contract.
            let v = s.read_unaligned();
            for j in 0..n as isize {
                d.offset(j * ds).write_unaligned(v);
            }
        } else {
            for j in 0..n as isize {
                d.offset(j * ds)
                    .write_unaligned(s.offset(j * ss).read_unaligned());
            }
        }
    })
}

/// A `rows × cols` block: `d[i * dp + j] = s[i + j * sl]`, walked in
/// `TILE`-wide column strips so the strided reads stay in L1.
///
/// # Safety
/// Every touched element is inside its buffer.
unsafe fn tile(
    s: *const u8,
    d: *mut u8,
    rows: usize,
    cols: usize,
    sl: isize,
    dp: isize,
    es: usize,
) {
    by_size!(es, T, {
        let (s, d) = (s as *const T, d as *mut T);
        let mut j0 = 0;
        while j0 < cols {
            let j1 = (j0 + TILE).min(cols);
            for i in 0..rows as isize {
                let (si, di) = (s.offset(i), d.offset(i * dp));
                for j in j0 as isize..j1 as isize {
                    // SAFETY: caller's contract.
                    di.offset(j)
                        .write_unaligned(si.offset(j * sl).read_unaligned());
                }
            }
            j0 = j1;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_axes_that_stay_together() {
        // [12,128,64] -> [128,12,64]: rows of 64 stay contiguous.
        let p = Strided::new(&[128, 12, 64], &[64, 8192, 1], &[768, 64, 1]);
        assert_eq!(p.dims, vec![128, 12, 64]);
        // Identity permutation becomes one block; size-1 axes vanish.
        let p = Strided::new(&[2, 1, 3, 4], &[12, 12, 4, 1], &[12, 12, 4, 1]);
        assert_eq!((p.dims, p.ss, p.ds), (vec![24], vec![1], vec![1]));
        assert_eq!(Strided::new(&[3, 0], &[1, 1], &[1, 1]).numel(), 0);
    }

    #[test]
    fn transposes_with_tiles_and_threads() {
        for (r, c, threads) in [(3, 5, 1), (67, 45, 1), (300, 517, 4)] {
            let src: Vec<u32> = (0..(r * c) as u32).collect();
            let mut dst = vec![0u32; r * c];
            let p = Strided::new(&[c, r], &[1, c as isize], &[r as isize, 1]);
            // SAFETY: both buffers hold r*c u32s.
            unsafe { p.run(src.as_ptr() as _, dst.as_mut_ptr() as _, 4, threads) };
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(dst[j * r + i], src[i * c + j]);
                }
            }
        }
    }
}
