//! Folding ops: `col2im` and `max_unpool`.
//!
//! Col2Im (after `op_col2im.py`): `x [N, C*prod(block), L]` holds, for each
//! channel and block tap `k`, one column per sliding-block position `b`
//! (row-major over the block grid, whose size per axis is
//! `(image + pad_begin + pad_end - (dilation*(block-1)+1)) / stride + 1`).
//! Each value is added to image position `b*stride - pad_begin + k*dilation`
//! when that lies inside the image. `L` must equal the number of positions.
//!
//! MaxUnpool (after `op_max_unpool.py`): scatters `x` into zeros of the
//! inferred shape `(in-1)*stride - pad_begin - pad_end + kernel` at the flat
//! `indices` (into the whole inferred tensor, as MaxPool produces), then
//! places that tensor at the origin of a zero tensor of `output_shape` when
//! given (each of its dims must be at least the inferred one).

use super::{buffer, float, full, ints, size, terr, unravel};
use crate::tensor::Tensor;

pub(super) fn col2im(
    x: &Tensor,
    image: &Tensor,
    block: &Tensor,
    strides: &[i64],
    pads: &[i64],
    dilations: &[i64],
) -> Result<Tensor, String> {
    let image = ints(image, "image_shape")?;
    let block = ints(block, "block_shape")?;
    let r = image.len();
    let xs = x.shape();
    if r == 0 || block.len() != r || xs.len() != 3 {
        return Err(format!(
            "x {xs:?}, image_shape {image:?} and block_shape {block:?} do not fit: need \
             x [N, C*prod(block), L] and equal-length shapes"
        ));
    }
    let img = image
        .iter()
        .map(|&v| size(v, "an image dim"))
        .collect::<Result<Vec<_>, _>>()?;
    let blk = block
        .iter()
        .map(|&v| {
            size(v, "a block dim").and_then(|b| {
                if b == 0 {
                    Err("a block dim is 0".into())
                } else {
                    Ok(b)
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let strides = full(strides, r, 1, "strides")?;
    let dil = full(dilations, r, 1, "dilations")?;
    let pads = full(pads, 2 * r, 0, "pads")?;
    if strides.iter().chain(&dil).any(|&v| v < 1) || pads.iter().any(|&p| p < 0) {
        return Err(format!(
            "strides {strides:?} and dilations {dil:?} must be positive, pads {pads:?} non-negative"
        ));
    }
    let kn: usize = blk.iter().product();
    if !xs[1].is_multiple_of(kn) {
        return Err(format!(
            "x {xs:?}: axis 1 is not a multiple of the block size {kn}"
        ));
    }
    let c = xs[1] / kn;
    let mut cols = Vec::with_capacity(r);
    for a in 0..r {
        let span = dil[a] * (blk[a] as i64 - 1) + 1;
        let n = (img[a] as i64 + pads[a] + pads[r + a] - span).div_euclid(strides[a]) + 1;
        if n < 1 {
            return Err(format!("axis {a}: the block grid would be empty ({n})"));
        }
        cols.push(n as usize);
    }
    let npos: usize = cols.iter().product();
    if xs[2] != npos {
        return Err(format!(
            "x {xs:?}: axis 2 must be the number of block positions {cols:?} = {npos}"
        ));
    }
    let mut shape = vec![xs[0], c];
    shape.extend_from_slice(&img);
    let mut out = buffer(&shape)?;
    let xv = x.to_f64s();
    let plane: usize = img.iter().product();
    let (mut k, mut b) = (vec![0usize; r], vec![0usize; r]);
    for nc in 0..xs[0] * c {
        for kk in 0..kn {
            unravel(kk, &blk, &mut k);
            for p in 0..npos {
                unravel(p, &cols, &mut b);
                let mut flat = 0usize;
                let mut inside = true;
                for a in 0..r {
                    let i = b[a] as i64 * strides[a] - pads[a] + k[a] as i64 * dil[a];
                    if i < 0 || i >= img[a] as i64 {
                        inside = false;
                        break;
                    }
                    flat = flat * img[a] + i as usize;
                }
                if inside {
                    out[nc * plane + flat] += xv[(nc * kn + kk) * npos + p];
                }
            }
        }
    }
    Tensor::from_f64s(x.dtype(), &shape, &out).map_err(terr)
}

pub(super) fn max_unpool(
    x: &Tensor,
    indices: &Tensor,
    output_shape: Option<&Tensor>,
    kernel_shape: &[i64],
    strides: &[i64],
    pads: &[i64],
) -> Result<Tensor, String> {
    float(x, "x")?;
    let xs = x.shape();
    let r = kernel_shape.len();
    if xs.len() != r + 2 || r == 0 || indices.shape() != xs || !indices.dtype().is_int() {
        return Err(format!(
            "x {xs:?} and indices {}{:?} do not fit: need x [N,C,D..] with one spatial axis per \
             kernel dim, and integer indices of the same shape",
            indices.dtype(),
            indices.shape()
        ));
    }
    let strides = full(strides, r, 1, "strides")?;
    let pads = full(pads, 2 * r, 0, "pads")?;
    let mut inferred = xs[..2].to_vec();
    for a in 0..r {
        let d = (xs[2 + a] as i64 - 1) * strides[a] - pads[a] - pads[r + a] + kernel_shape[a];
        inferred.push(size(d, "an inferred output dim")?);
    }
    let shape = match output_shape {
        None => inferred.clone(),
        Some(t) => {
            let v = ints(t, "output_shape")?;
            let s = v
                .iter()
                .map(|&d| size(d, "an output_shape dim"))
                .collect::<Result<Vec<_>, _>>()?;
            if s.len() != inferred.len() || s.iter().zip(&inferred).any(|(o, i)| o < i) {
                return Err(format!(
                    "output_shape {s:?} must have rank {} and be at least the inferred {inferred:?}",
                    inferred.len()
                ));
            }
            s
        }
    };
    let total: usize = inferred.iter().product();
    let mut out = buffer(&shape)?;
    let xv = x.to_f64s();
    let iv = indices.to_i64s();
    let ost = crate::interp::strides(&shape);
    let mut idx = vec![0usize; inferred.len()];
    for (&v, &i) in xv.iter().zip(&iv) {
        let i = usize::try_from(i)
            .ok()
            .filter(|&i| i < total)
            .ok_or_else(|| format!("index {i} is out of [0, {total}) for shape {inferred:?}"))?;
        unravel(i, &inferred, &mut idx);
        out[idx.iter().zip(&ost).map(|(a, s)| a * s).sum::<usize>()] = v;
    }
    Tensor::from_f64s(x.dtype(), &shape, &out).map_err(terr)
}
