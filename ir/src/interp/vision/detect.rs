//! Detection ops: `non_max_suppression` and `roi_align`.
//!
//! NonMaxSuppression (after `op_non_max_suppression.py`): per batch and
//! class, candidates (score above `score_threshold` when one is given) are
//! visited by descending score, ties by ascending box index; a candidate is
//! kept unless its IoU with an already kept box is above `iou_threshold`,
//! until `max_output_boxes_per_class` are kept (absent: 0, so nothing is).
//! Boxes are `[y1, x1, y2, x2]` (any corner order) or, with
//! `center_point_box`, `[x_center, y_center, width, height]`. Degenerate
//! boxes (zero area) never suppress.
//!
//! RoiAlign (after `op_roi_align.py`): each output bin averages (or, in
//! `max` mode, takes the largest of the *weighted* bilinear corners, as the
//! reference does) a `sampling_ratio`² grid of bilinear samples (adaptive
//! `ceil(roi_size / output_size)` when the ratio is 0). `output_half_pixel`
//! shifts nothing and enlarges rois to at least 1x1; `half_pixel` shifts by
//! -0.5 pixel.

use super::{float, size, terr};
use crate::tensor::Tensor;

/// A scalar-or-1-element operand's value; `None` when it is empty (absent).
fn optional_scalar(t: Option<&&Tensor>, what: &str) -> Result<Option<f64>, String> {
    match t {
        None => Ok(None),
        Some(t) if t.numel() == 0 => Ok(None),
        Some(t) if t.numel() == 1 && t.rank() <= 1 => Ok(Some(t.to_f64s()[0])),
        Some(t) => Err(format!(
            "{what} must be a scalar or 1-element tensor, not {}{:?}",
            t.dtype(),
            t.shape()
        )),
    }
}

/// Min and max of two coordinates.
fn order(a: f64, b: f64) -> (f64, f64) {
    if a >= b {
        (b, a)
    } else {
        (a, b)
    }
}

/// Whether boxes `a` and `b` overlap with IoU above `threshold`.
fn suppresses(a: &[f64], b: &[f64], center: bool, threshold: f64) -> bool {
    // (x_min, x_max, y_min, y_max) of a box.
    let extent = |bx: &[f64]| {
        if center {
            let (hw, hh) = (bx[2] / 2.0, bx[3] / 2.0);
            (bx[0] - hw, bx[0] + hw, bx[1] - hh, bx[1] + hh)
        } else {
            let (x0, x1) = order(bx[1], bx[3]);
            let (y0, y1) = order(bx[0], bx[2]);
            (x0, x1, y0, y1)
        }
    };
    let (ax0, ax1, ay0, ay1) = extent(a);
    let (bx0, bx1, by0, by1) = extent(b);
    let (ix0, ix1) = (ax0.max(bx0), ax1.min(bx1));
    let (iy0, iy1) = (ay0.max(by0), ay1.min(by1));
    if ix1 <= ix0 || iy1 <= iy0 {
        return false;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    let area_a = (ax1 - ax0) * (ay1 - ay0);
    let area_b = (bx1 - bx0) * (by1 - by0);
    let union = area_a + area_b - inter;
    if inter <= 0.0 || area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    inter / union > threshold
}

pub(super) fn nms(x: &[&Tensor], center: bool) -> Result<Tensor, String> {
    let (boxes, scores) = (x[0], x[1]);
    float(boxes, "boxes")?;
    float(scores, "scores")?;
    let (bs, ss) = (boxes.shape(), scores.shape());
    if bs.len() != 3 || bs[2] != 4 || ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
        return Err(format!(
            "boxes {bs:?} and scores {ss:?} do not fit: need boxes [B,n,4] and scores [B,classes,n]"
        ));
    }
    let max_out = optional_scalar(x.get(2), "max_output_boxes_per_class")?.unwrap_or(0.0);
    let iou = optional_scalar(x.get(3), "iou_threshold")?.unwrap_or(0.0);
    let score_min = optional_scalar(x.get(4), "score_threshold")?;
    // Integral by construction when it came from an integer tensor.
    let max_out = if max_out > 0.0 { max_out as usize } else { 0 };
    let (nbatch, nclass, nbox) = (ss[0], ss[1], ss[2]);
    let bv = boxes.to_f64s();
    let sv = scores.to_f64s();
    let mut rows: Vec<i64> = vec![];
    for b in 0..nbatch {
        let bb = &bv[b * nbox * 4..][..nbox * 4];
        for c in 0..nclass {
            let cs = &sv[(b * nclass + c) * nbox..][..nbox];
            let mut cand: Vec<usize> = (0..nbox)
                .filter(|&i| score_min.is_none_or(|t| cs[i] > t))
                .collect();
            cand.sort_by(|&i, &j| cs[j].total_cmp(&cs[i]).then(i.cmp(&j)));
            let mut kept: Vec<usize> = vec![];
            for i in cand {
                if kept.len() >= max_out {
                    break;
                }
                let bi = &bb[i * 4..][..4];
                if !kept
                    .iter()
                    .any(|&k| suppresses(bi, &bb[k * 4..][..4], center, iou))
                {
                    kept.push(i);
                    rows.extend([b as i64, c as i64, i as i64]);
                }
            }
        }
    }
    Tensor::from_vec(&[rows.len() / 3, 3], rows).map_err(terr)
}

/// RoiAlign's attributes, decoded.
pub(super) struct RoiAttrs {
    pub max: bool,
    pub half_pixel: bool,
    pub out_h: i64,
    pub out_w: i64,
    pub sampling_ratio: i64,
    pub spatial_scale: f64,
}

pub(crate) fn roi_mode(s: &str) -> Result<bool, String> {
    match s {
        "avg" => Ok(false),
        "max" => Ok(true),
        _ => Err(format!("mode {s:?} must be \"avg\" or \"max\"")),
    }
}

pub(crate) fn roi_half_pixel(s: &str) -> Result<bool, String> {
    match s {
        "half_pixel" => Ok(true),
        "output_half_pixel" => Ok(false),
        _ => Err(format!(
            "coordinate_transformation_mode {s:?} must be \"half_pixel\" or \"output_half_pixel\""
        )),
    }
}

/// The finest sampling grid per bin axis we accept (beyond it, an error
/// rather than a loop that never ends).
const MAX_GRID: f64 = 65536.0;

/// One bilinear sample: four flat positions and their weights.
struct Tap {
    pos: [usize; 4],
    w: [f64; 4],
}

/// The bilinear tap for point (y, x) of an `h` x `w` plane, as the
/// reference's `pre_calc_for_bilinear_interpolate` (zero weights outside).
fn tap(y: f64, x: f64, h: usize, w: usize) -> Tap {
    let (hf, wf) = (h as f64, w as f64);
    if y < -1.0 || y > hf || x < -1.0 || x > wf || h == 0 || w == 0 {
        return Tap {
            pos: [0; 4],
            w: [0.0; 4],
        };
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let (mut y_lo, mut x_lo) = (y as usize, x as usize);
    let y_hi = if y_lo >= h - 1 {
        y_lo = h - 1;
        y = y_lo as f64;
        y_lo
    } else {
        y_lo + 1
    };
    let x_hi = if x_lo >= w - 1 {
        x_lo = w - 1;
        x = x_lo as f64;
        x_lo
    } else {
        x_lo + 1
    };
    let (ly, lx) = (y - y_lo as f64, x - x_lo as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    Tap {
        pos: [
            y_lo * w + x_lo,
            y_lo * w + x_hi,
            y_hi * w + x_lo,
            y_hi * w + x_hi,
        ],
        w: [hy * hx, hy * lx, ly * hx, ly * lx],
    }
}

pub(super) fn roi_align(
    x: &Tensor,
    rois: &Tensor,
    batch_indices: &Tensor,
    a: &RoiAttrs,
) -> Result<Tensor, String> {
    float(x, "x")?;
    float(rois, "rois")?;
    let (xs, rs, is) = (x.shape(), rois.shape(), batch_indices.shape());
    if xs.len() != 4 || rs.len() != 2 || rs[1] != 4 || is.len() != 1 || is[0] != rs[0] {
        return Err(format!(
            "x {xs:?}, rois {rs:?} and batch_indices {is:?} do not fit: need x [N,C,H,W], \
             rois [R,4] and batch_indices [R]"
        ));
    }
    if !batch_indices.dtype().is_int() {
        return Err(format!(
            "batch_indices must be integers, not {}",
            batch_indices.dtype()
        ));
    }
    let (c, h, w) = (xs[1], xs[2], xs[3]);
    let (ph, pw) = (
        size(a.out_h, "output_height")?,
        size(a.out_w, "output_width")?,
    );
    let nroi = rs[0];
    let shape = [nroi, c, ph, pw];
    let mut out = super::buffer(&shape)?;
    let xv = x.to_f64s();
    let rv = rois.to_f64s();
    let iv = batch_indices.to_i64s();
    let off = if a.half_pixel { 0.5 } else { 0.0 };
    for n in 0..nroi {
        let bi = usize::try_from(iv[n])
            .ok()
            .filter(|&b| b < xs[0])
            .ok_or_else(|| format!("batch index {} of roi {n} is out of [0, {})", iv[n], xs[0]))?;
        let roi = &rv[n * 4..][..4];
        let (sw, sh) = (
            roi[0] * a.spatial_scale - off,
            roi[1] * a.spatial_scale - off,
        );
        let (ew, eh) = (
            roi[2] * a.spatial_scale - off,
            roi[3] * a.spatial_scale - off,
        );
        let (mut rw, mut rh) = (ew - sw, eh - sh);
        if !a.half_pixel {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let (bh, bw) = (rh / ph as f64, rw / pw as f64);
        let grid = |adaptive: f64| -> Result<usize, String> {
            let g = if a.sampling_ratio > 0 {
                a.sampling_ratio as f64
            } else if adaptive > 0.0 {
                adaptive.ceil()
            } else {
                0.0
            };
            // A sampling grid this fine only comes from absurd rois.
            if g > MAX_GRID {
                return Err(format!(
                    "roi {n} needs a {g}-point sampling grid per bin axis"
                ));
            }
            Ok(g as usize)
        };
        let (gh, gw) = (grid(bh)?, grid(bw)?);
        let count = (gh * gw).max(1) as f64;
        for ch in 0..c {
            let plane = &xv[(bi * c + ch) * h * w..][..h * w];
            for py in 0..ph {
                for px in 0..pw {
                    let mut acc: Option<f64> = None;
                    for iy in 0..gh {
                        let y = sh + py as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                        for ix in 0..gw {
                            let xx = sw + px as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                            let t = tap(y, xx, h, w);
                            let vals = [0, 1, 2, 3]
                                .map(|k| t.w[k] * plane.get(t.pos[k]).copied().unwrap_or(0.0));
                            acc = Some(if a.max {
                                let m = vals.into_iter().fold(f64::NEG_INFINITY, f64::max);
                                acc.map_or(m, |v| v.max(m))
                            } else {
                                acc.unwrap_or(0.0) + vals.iter().sum::<f64>()
                            });
                        }
                    }
                    let v = acc.unwrap_or(0.0);
                    out[((n * c + ch) * ph + py) * pw + px] = if a.max { v } else { v / count };
                }
            }
        }
    }
    Tensor::from_f64s(x.dtype(), &shape, &out).map_err(terr)
}
