//! Spatial sampling: `grid_sample`, `affine_grid`, `deform_conv`.
//!
//! GridSample (after `op_grid_sample.py`): a grid point's normalized
//! coordinates (last grid axis, innermost spatial axis first) map to pixel
//! coordinates — `((n+1)*d - 1)/2`, or `(n+1)/2*(d-1)` with `align_corners` —
//! rounded to f32 as the reference stores them. `nearest` then rounds half to
//! even. A coordinate outside the border region (`[-0.5, d-0.5]`, or
//! `[0, d-1]` with `align_corners`) is clamped to `[0, d-1]` (`border`) or
//! folded back into the region (`reflection`). Interpolation is separable:
//! `linear` uses the 2 and `cubic` the 4 (Keys, a = -0.75) taps around
//! `floor(x)`; a tap outside the input reads 0 (`zeros`), the nearest edge
//! pixel (`border`) or its reflection. Summing the weighted corners equals
//! the reference's nested 1-D passes.
//!
//! DeformConv samples `x` bilinearly (zero outside) at the kernel tap
//! positions moved by `offset`, in pixel coordinates — what the reference
//! computes through GridSample with `align_corners` — and is defined for any
//! spatial rank (the reference only for 2-D).

use super::{buffer, float, full, ints, size, terr, unravel};
use crate::attr::ResizeMode;
use crate::interp::strides;
use crate::tensor::Tensor;

/// What a tap outside the input reads.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Padding {
    Zeros,
    Border,
    Reflection,
}

pub(crate) fn padding(s: &str) -> Result<Padding, String> {
    match s {
        "zeros" => Ok(Padding::Zeros),
        "border" => Ok(Padding::Border),
        "reflection" => Ok(Padding::Reflection),
        _ => Err(format!(
            "padding_mode {s:?} must be \"zeros\", \"border\" or \"reflection\""
        )),
    }
}

/// Folds `x` into `[lo, hi]` by reflecting about the nearer border, as the
/// reference's `_gs_reflect`. A degenerate region (`hi <= lo`) gives `lo`.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let rng = hi - lo;
    if rng <= 0.0 || !x.is_finite() {
        return lo;
    }
    if x < lo {
        let dx = lo - x;
        let n = (dx / rng).trunc();
        let r = dx - n * rng;
        if n % 2.0 == 0.0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / rng).trunc();
        let r = dx - n * rng;
        if n % 2.0 == 0.0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

/// One `[D1..Dr]` plane of an input, with its padding rule.
struct Plane<'a> {
    data: &'a [f64],
    dims: &'a [usize],
    strides: &'a [usize],
    pad: Padding,
    /// Border region per axis (for reflection of integer taps).
    lo: &'a [f64],
    hi: &'a [f64],
}

impl Plane<'_> {
    /// The value at integer position `idx` (one entry per axis). The plane
    /// is non-empty (checked by the callers).
    fn at(&self, idx: &[i64]) -> f64 {
        let mut flat = 0;
        for (a, &i) in idx.iter().enumerate() {
            let n = self.dims[a] as i64;
            let i = match self.pad {
                Padding::Zeros if i < 0 || i >= n => return 0.0,
                Padding::Zeros => i,
                Padding::Border => i.clamp(0, n - 1),
                Padding::Reflection => {
                    (reflect(i as f64, self.lo[a], self.hi[a]) as i64).clamp(0, n - 1)
                }
            };
            flat += i as usize * self.strides[a];
        }
        self.data[flat]
    }

    /// Separable interpolation at pixel coordinates `x`.
    fn sample(&self, x: &[f64], mode: ResizeMode) -> f64 {
        let r = x.len();
        let (taps, first): (usize, i64) = match mode {
            ResizeMode::Nearest => {
                let idx: Vec<i64> = x.iter().map(|&v| v as i64).collect();
                return self.at(&idx);
            }
            ResizeMode::Linear => (2, 0),
            ResizeMode::Cubic => (4, -1),
        };
        let mut base = Vec::with_capacity(r);
        let mut weights = Vec::with_capacity(r);
        for &v in x {
            let b = v.floor();
            let t = v - b;
            base.push(b as i64);
            weights.push(match mode {
                ResizeMode::Cubic => cubic(t).to_vec(),
                _ => vec![1.0 - t, t],
            });
        }
        let mut k = vec![0usize; r];
        let mut idx = vec![0i64; r];
        let mut acc = 0.0;
        for corner in 0..taps.pow(r as u32) {
            unravel(corner, &vec![taps; r], &mut k);
            let mut w = 1.0;
            for a in 0..r {
                idx[a] = base[a] + first + k[a] as i64;
                w *= weights[a][k[a]];
            }
            acc += w * self.at(&idx);
        }
        acc
    }
}

/// Keys cubic convolution weights (a = -0.75) for taps at `-1, 0, 1, 2`
/// around a point at fraction `t` past tap 0.
fn cubic(t: f64) -> [f64; 4] {
    let a = -0.75;
    let far = |x: f64| ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    let near = |x: f64| ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

pub(super) fn grid_sample(
    x: &Tensor,
    grid: &Tensor,
    mode: ResizeMode,
    padding_mode: &str,
    align_corners: bool,
) -> Result<Tensor, String> {
    let pad = padding(padding_mode)?;
    float(x, "x")?;
    float(grid, "grid")?;
    let (xs, gs) = (x.shape(), grid.shape());
    let r = xs.len().saturating_sub(2);
    if r == 0 || gs.len() != r + 2 || gs[0] != xs[0] || gs[r + 1] != r {
        return Err(format!(
            "x {xs:?} and grid {gs:?} do not fit: need x [N,C,D1..Dr] and grid [N,H1..Hr,r]"
        ));
    }
    let (n, c) = (xs[0], xs[1]);
    let dims = &xs[2..];
    let out_sp = &gs[1..=r];
    let mut out_shape = vec![n, c];
    out_shape.extend_from_slice(out_sp);
    let mut out = buffer(&out_shape)?;
    if out.is_empty() {
        return Tensor::from_f64s(x.dtype(), &out_shape, &out).map_err(terr);
    }
    let plane_len: usize = dims.iter().product();
    if plane_len == 0 {
        return Err(format!("x {xs:?} has an empty spatial axis to sample from"));
    }
    let (lo, hi): (Vec<f64>, Vec<f64>) = dims
        .iter()
        .map(|&d| {
            if align_corners {
                (0.0, d as f64 - 1.0)
            } else {
                (-0.5, d as f64 - 0.5)
            }
        })
        .unzip();
    let xv = x.to_f64s();
    let gv = grid.to_f64s();
    let st = strides(dims);
    let npos: usize = out_sp.iter().product();
    let mut coord = vec![0.0; r];
    for b in 0..n {
        for p in 0..npos {
            let g = &gv[(b * npos + p) * r..][..r];
            for (a, cv) in coord.iter_mut().enumerate() {
                let len = dims[a] as f64;
                let nv = g[r - 1 - a];
                let v = if align_corners {
                    (nv + 1.0) / 2.0 * (len - 1.0)
                } else {
                    ((nv + 1.0) * len - 1.0) / 2.0
                };
                // The reference keeps pixel coordinates in f32.
                let mut v = f64::from(v as f32);
                if mode == ResizeMode::Nearest {
                    v = v.round_ties_even();
                }
                if v < lo[a] || v > hi[a] {
                    match pad {
                        Padding::Border => v = v.clamp(0.0, len - 1.0),
                        Padding::Reflection => v = reflect(v, lo[a], hi[a]),
                        Padding::Zeros => {}
                    }
                }
                *cv = v;
            }
            for ch in 0..c {
                let plane = Plane {
                    data: &xv[(b * c + ch) * plane_len..][..plane_len],
                    dims,
                    strides: &st,
                    pad,
                    lo: &lo,
                    hi: &hi,
                };
                out[(b * c + ch) * npos + p] = plane.sample(&coord, mode);
            }
        }
    }
    Tensor::from_f64s(x.dtype(), &out_shape, &out).map_err(terr)
}

/// The normalized coordinate of position `i` of `d` along one axis.
fn base_coord(i: usize, d: usize, align_corners: bool) -> f64 {
    if align_corners {
        if d <= 1 {
            -1.0
        } else {
            -1.0 + i as f64 * (2.0 / (d as f64 - 1.0))
        }
    } else {
        let step = 2.0 / d as f64;
        -1.0 + step / 2.0 + i as f64 * step
    }
}

pub(super) fn affine_grid(
    theta: &Tensor,
    size_t: &Tensor,
    align_corners: bool,
) -> Result<Tensor, String> {
    float(theta, "theta")?;
    let sz = ints(size_t, "size")?;
    let ts = theta.shape();
    let r = sz.len().saturating_sub(2);
    if !matches!(r, 2 | 3) || ts.len() != 3 || ts[1] != r || ts[2] != r + 1 {
        return Err(format!(
            "theta {ts:?} and size {sz:?} do not fit: need size [N,C,H,W] with theta [N,2,3], \
             or size [N,C,D,H,W] with theta [N,3,4]"
        ));
    }
    let n = ts[0];
    if sz[0] != n as i64 {
        return Err(format!("size {sz:?} has N = {} but theta has {n}", sz[0]));
    }
    let dims = sz[2..]
        .iter()
        .map(|&d| size(d, "a spatial size"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut shape = vec![n];
    shape.extend_from_slice(&dims);
    shape.push(r);
    let mut out = buffer(&shape)?;
    out.clear();
    let th = theta.to_f64s();
    let npos: usize = dims.iter().product();
    let mut idx = vec![0usize; r];
    let mut c = vec![0.0; r + 1];
    for b in 0..n {
        let t = &th[b * r * (r + 1)..][..r * (r + 1)];
        for p in 0..npos {
            unravel(p, &dims, &mut idx);
            // Homogeneous coordinates (x, y[, z], 1): innermost axis first.
            for k in 0..r {
                c[k] = base_coord(idx[r - 1 - k], dims[r - 1 - k], align_corners);
            }
            c[r] = 1.0;
            for j in 0..r {
                out.push((0..=r).map(|k| t[j * (r + 1) + k] * c[k]).sum());
            }
        }
    }
    Tensor::from_f64s(theta.dtype(), &shape, &out).map_err(terr)
}

/// DeformConv's attributes.
pub(super) struct ConvGeom<'a> {
    pub strides: &'a [i64],
    pub pads: &'a [i64],
    pub dilations: &'a [i64],
    pub group: i64,
    pub offset_group: i64,
}

pub(super) fn deform_conv(
    x: &Tensor,
    w: &Tensor,
    offset: &Tensor,
    bias: Option<&Tensor>,
    mask: Option<&Tensor>,
    g: &ConvGeom,
) -> Result<Tensor, String> {
    for (t, what) in [(x, "x"), (w, "w"), (offset, "offset")] {
        float(t, what)?;
    }
    let (xs, ws, os) = (x.shape(), w.shape(), offset.shape());
    let r = xs.len().saturating_sub(2);
    if r == 0 || ws.len() != r + 2 || os.len() != r + 2 || os[0] != xs[0] {
        return Err(format!(
            "x {xs:?}, w {ws:?} and offset {os:?} do not fit: need x [N,C,D..], \
             w [OC,C/group,K..], offset [N,offset_group*prod(K)*r,O..]"
        ));
    }
    let (n, ic, oc) = (xs[0], xs[1], ws[0]);
    let group = size(g.group, "group")?;
    let og = size(g.offset_group, "offset_group")?;
    let kdims = &ws[2..];
    let kn: usize = kdims.iter().product();
    if group == 0 || og == 0 || ic != ws[1] * group || oc % group != 0 || ic % og != 0 {
        return Err(format!(
            "x {xs:?} and w {ws:?} do not fit group {group} and offset_group {og}"
        ));
    }
    if os[1] != og * kn * r {
        return Err(format!(
            "offset {os:?} needs {} channels (offset_group * kernel taps * {r})",
            og * kn * r
        ));
    }
    let strides_v = full(g.strides, r, 1, "strides")?;
    let dil = full(g.dilations, r, 1, "dilations")?;
    let pads = full(g.pads, 2 * r, 0, "pads")?;
    let osp = &os[2..];
    for a in 0..r {
        let span = (kdims[a] as i64 - 1) * dil[a] + 1;
        let expect =
            (xs[2 + a] as i64 + pads[a] + pads[r + a] - span).div_euclid(strides_v[a].max(1)) + 1;
        if strides_v[a] < 1 || dil[a] < 1 || expect != osp[a] as i64 {
            return Err(format!(
                "offset {os:?}: spatial axis {a} is {}, but the kernel, strides, pads and \
                 dilations give {expect}",
                osp[a]
            ));
        }
    }
    let npos: usize = osp.iter().product();
    let mut expect_mask = vec![n, og * kn];
    expect_mask.extend_from_slice(osp);
    if let Some(m) = mask {
        float(m, "mask")?;
        if m.shape() != expect_mask.as_slice() {
            return Err(format!("mask is {:?}; expected {expect_mask:?}", m.shape()));
        }
    }
    if let Some(b) = bias {
        float(b, "bias")?;
        if b.shape() != [oc] {
            return Err(format!("bias is {:?}; expected [{oc}]", b.shape()));
        }
    }
    let mut shape = vec![n, oc];
    shape.extend_from_slice(osp);
    let mut out = buffer(&shape)?;
    let xv = x.to_f64s();
    let wv = w.to_f64s();
    let ov = offset.to_f64s();
    let mv = mask.map(Tensor::to_f64s);
    let bv = bias.map(Tensor::to_f64s);
    let dims = &xs[2..];
    let plane_len: usize = dims.iter().product();
    let st = strides(dims);
    let zeros = vec![0.0; r];
    let (icg, ocg, ico) = (ws[1], oc / group, ic / og);
    let mut opos = vec![0usize; r];
    let mut kpos = vec![0usize; r];
    let mut at = vec![0.0; r];
    for b in 0..n {
        for p in 0..npos {
            unravel(p, osp, &mut opos);
            for o in 0..oc {
                let mut acc = bv.as_ref().map_or(0.0, |bv| bv[o]);
                let gi = o / ocg;
                for ci in gi * icg..(gi + 1) * icg {
                    let ogi = ci / ico;
                    let plane = Plane {
                        data: &xv[(b * ic + ci) * plane_len..][..plane_len],
                        dims,
                        strides: &st,
                        pad: Padding::Zeros,
                        lo: &zeros,
                        hi: &zeros,
                    };
                    for k in 0..kn {
                        unravel(k, kdims, &mut kpos);
                        for a in 0..r {
                            let ch = (ogi * kn + k) * r + a;
                            let off = ov[(b * os[1] + ch) * npos + p];
                            at[a] = (opos[a] as i64 * strides_v[a] - pads[a]
                                + kpos[a] as i64 * dil[a])
                                as f64
                                + off;
                        }
                        let m = mv
                            .as_ref()
                            .map_or(1.0, |m| m[(b * og * kn + ogi * kn + k) * npos + p]);
                        let wt = wv[(o * icg + (ci - gi * icg)) * kn + k];
                        acc += plane.sample(&at, ResizeMode::Linear) * wt * m;
                    }
                }
                out[(b * oc + o) * npos + p] = acc;
            }
        }
    }
    Tensor::from_f64s(x.dtype(), &shape, &out).map_err(terr)
}
