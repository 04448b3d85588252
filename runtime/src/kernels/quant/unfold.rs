//! The unfolded (im2col) input of a quantized convolution, one row at a
//! time, for [`PackedRhs::pack_rows_into`](crate::kernels::qgemm::PackedRhs).
//!
//! The input is first copied into planes bordered with the zero point
//! ([`Padded`]; `i8` inputs flipped to `u8` on the way), so every tap of
//! every window lies inside a plane and reads the zero point in the
//! padding, which stands for a real 0. A row of the unfold for a run of
//! output positions is then, per output row it touches, one plain copy
//! (a strided gather at strides above 1): no bounds tests, no fills.
//! The copy is small next to the unfold itself (`taps` times its size).

use crate::kernels::conv::geom::Geom;

/// Zero-point-bordered planes of one call's input (see the module
/// header): per channel `dims[0] x dims[1] x dims[2]` bytes, the input at
/// offset `(pb[0], pb[1], pb[2])`.
pub(super) struct Padded {
    dims: [usize; 3],
    /// Bytes per channel.
    pub(super) plane: usize,
}

impl Padded {
    /// Planes big enough for every window of `g`: the padded extent, or
    /// the last window's end if that is further.
    pub(super) fn new(g: &Geom) -> Padded {
        let dims: [usize; 3] = std::array::from_fn(|a| {
            let span = (g.o[a].max(1) - 1) * g.s[a] + (g.k[a] - 1) * g.d[a] + 1;
            (g.pb[a] + g.i[a] + g.pe[a]).max(span)
        });
        Padded {
            dims,
            plane: dims.iter().product(),
        }
    }

    /// The padded sizes of the three spatial axes.
    pub(super) fn dims(&self) -> (usize, usize, usize) {
        (self.dims[0], self.dims[1], self.dims[2])
    }

    /// Copy `planes` input planes at `src` into `buf` (`planes *
    /// self.plane` bytes), each byte XORed with `flip`, borders `pad`.
    ///
    /// # Safety
    /// `src` holds `planes` planes of `g`'s input.
    pub(super) unsafe fn fill(
        &self,
        src: *const u8,
        planes: usize,
        g: &Geom,
        flip: u8,
        pad: u8,
        buf: &mut [u8],
    ) {
        let [_, hp, wp] = self.dims;
        let [id, ih, iw] = g.i;
        let bordered = self.plane != g.in_size();
        for (c, dst) in buf.chunks_exact_mut(self.plane).take(planes).enumerate() {
            if bordered {
                dst.fill(pad);
            }
            for z in 0..id {
                for y in 0..ih {
                    let at = ((z + g.pb[0]) * hp + y + g.pb[1]) * wp + g.pb[2];
                    // SAFETY: row `y` of plane `(c, z)` of the input.
                    let row = unsafe {
                        std::slice::from_raw_parts(src.add(((c * id + z) * ih + y) * iw), iw)
                    };
                    for (d, &s) in dst[at..at + iw].iter_mut().zip(row) {
                        *d = s ^ flip;
                    }
                }
            }
        }
    }

    /// Row `r = (c, kd, kh, kw)` of the unfold of the planes at `image`
    /// (one group's channels) for output positions `p0..p1`, into `out`.
    ///
    /// # Safety
    /// `image` holds the group's padded planes, filled for geometry `g`.
    pub(super) unsafe fn row(
        &self,
        image: *const u8,
        g: &Geom,
        r: usize,
        p0: usize,
        p1: usize,
        out: &mut [u8],
    ) {
        let [_, hp, wp] = self.dims;
        let [_, oh, ow] = g.o;
        let taps = g.taps();
        let (c, t) = (r / taps, r % taps);
        let (kd, kh, kw) = (t / (g.k[1] * g.k[2]), (t / g.k[2]) % g.k[1], t % g.k[2]);
        let base = c * self.plane + (kd * g.d[0] * hp + kh * g.d[1]) * wp + kw * g.d[2];
        let (zs, ys, xs) = (g.s[0] * hp * wp, g.s[1] * wp, g.s[2]);
        let (mut z, rest) = (p0 / (oh * ow), p0 % (oh * ow));
        let (mut y, mut x) = (rest / ow, rest % ow);
        let mut d = 0;
        let w = p1 - p0;
        while d < w {
            let run = (w - d).min(ow - x);
            let dst = &mut out[d..d + run];
            // SAFETY: output `(z, y, x..x + run)` reads padded positions
            // `(z s0 + kd d0, y s1 + kh d1, (x + j) s2 + kw d2)`, inside the
            // planes `Padded::new` sized for every window.
            unsafe {
                let src = image.add(base + z * zs + y * ys + x * xs);
                if xs == 1 {
                    copy_run(src, dst);
                } else {
                    let s = std::slice::from_raw_parts(src, (run - 1) * xs + 1);
                    for (j, v) in dst.iter_mut().enumerate() {
                        *v = s[j * xs];
                    }
                }
            }
            d += run;
            x = 0;
            y += 1;
            if y == oh {
                (y, z) = (0, z + 1);
            }
        }
    }
}

/// Copy `dst.len()` bytes from `src`: inline, in overlapping 16/8/4-byte
/// moves, since most runs are one output row (7 to 112 bytes in the
/// usual networks) and a `memcpy` call per run cost more than the copy
/// (a third of the unfold at 56 x 56).
///
/// # Safety
/// `src` holds `dst.len()` bytes, none inside `dst`.
#[inline(always)]
unsafe fn copy_run(src: *const u8, dst: &mut [u8]) {
    #[inline(always)]
    unsafe fn mv<const B: usize>(src: *const u8, dst: *mut u8, at: usize) {
        // SAFETY: the caller keeps `at + B` inside both buffers.
        unsafe {
            dst.add(at)
                .cast::<[u8; B]>()
                .write_unaligned(src.add(at).cast::<[u8; B]>().read_unaligned())
        }
    }
    let n = dst.len();
    let d = dst.as_mut_ptr();
    // SAFETY: every move below ends at or before `n`.
    unsafe {
        if n >= 16 {
            let mut i = 0;
            while i + 16 < n {
                mv::<16>(src, d, i);
                i += 16;
            }
            mv::<16>(src, d, n - 16);
        } else if n >= 8 {
            mv::<8>(src, d, 0);
            mv::<8>(src, d, n - 8);
        } else if n >= 4 {
            mv::<4>(src, d, 0);
            mv::<4>(src, d, n - 4);
        } else {
            for i in 0..n {
                mv::<1>(src, d, i);
            }
        }
    }
}
