//! Vision and signal ops: GridSample, AffineGrid, NonMaxSuppression,
//! RoiAlign, DeformConv, Col2Im, MaxUnpool, CenterCropPad, DFT, STFT.
//!
//! Most map one-to-one onto IR ops of the `Vision`/`Signal` groups, after
//! filling ONNX defaults and resolving opset differences (GridSample-16's
//! `bilinear`/`bicubic` spellings, RoiAlign-10's implicit
//! `output_half_pixel`, DFT-20's `axis` input). A missing middle operand
//! becomes an empty constant, which the IR ops read as absent.
//! CenterCropPad decomposes into `slice` then `pad` (needs the input's dims
//! on the cropped axes and the target shape at compile time).

use super::{Convert, Cx};
use crate::onnx::OnnxError;
use ingot_ir::attr::{PadMode, ResizeMode};
use ingot_ir::{Op, Tensor, Value};

pub(super) fn converter(op_type: &str) -> Option<Convert> {
    Some(match op_type {
        "GridSample" => grid_sample,
        "AffineGrid" => |cx| {
            let align_corners = cx.a(cx.attrs.bool("align_corners", false))?;
            let ins = [cx.req(0)?, cx.req(1)?];
            cx.add(Op::AffineGrid { align_corners }, &ins)
        },
        "NonMaxSuppression" => nms,
        "RoiAlign" => roi_align,
        "DeformConv" => deform_conv,
        "Col2Im" => col2im,
        "MaxUnpool" => max_unpool,
        "CenterCropPad" => center_crop_pad,
        "DFT" => dft,
        "STFT" => stft,
        _ => return None,
    })
}

/// Inputs `0..n` with absent middle ones as empty constants of `dtypes[i]`'s
/// kind (trailing absent ones are left out).
fn padded_inputs(cx: &mut Cx, empties: &[Tensor]) -> Result<Vec<Value>, OnnxError> {
    let n = cx.n_inputs().min(empties.len());
    let last = (0..n).rev().find(|&i| cx.input(i).ok().flatten().is_some());
    let Some(last) = last else {
        return Ok(vec![]);
    };
    let mut v = Vec::with_capacity(last + 1);
    for (i, empty) in empties.iter().enumerate().take(last + 1) {
        match cx.input(i)? {
            Some(x) => v.push(x),
            None => v.push(cx.constant(empty.clone())),
        }
    }
    Ok(v)
}

fn empty(dtype: ingot_ir::DType) -> Tensor {
    Tensor::zeros(dtype, &[0]).expect("an empty tensor")
}

fn grid_sample(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let at = &cx.attrs;
    let default = if cx.opset < 20 { "bilinear" } else { "linear" };
    let mode = match cx.a(at.string("mode", default))?.as_str() {
        "bilinear" | "linear" => ResizeMode::Linear,
        "bicubic" | "cubic" => ResizeMode::Cubic,
        "nearest" => ResizeMode::Nearest,
        m => return Err(cx.err(format!("unknown mode {m:?}"))),
    };
    let op = Op::GridSample {
        mode,
        padding_mode: cx.a(at.string("padding_mode", "zeros"))?,
        align_corners: cx.a(at.bool("align_corners", false))?,
    };
    let ins = [cx.req(0)?, cx.req(1)?];
    cx.add(op, &ins)
}

fn nms(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let center_point_box = cx.a(cx.attrs.int("center_point_box", 0))? != 0;
    let f = cx.ty(cx.req(0)?).dtype;
    let ins = padded_inputs(
        cx,
        &[
            empty(f),
            empty(f),
            empty(ingot_ir::DType::I64),
            empty(f),
            empty(f),
        ],
    )?;
    cx.add(Op::NonMaxSuppression { center_point_box }, &ins)
}

fn roi_align(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let at = &cx.attrs;
    // RoiAlign-10 had no coordinate mode and behaved as `output_half_pixel`.
    let default_ctm = if cx.opset < 16 {
        "output_half_pixel"
    } else {
        "half_pixel"
    };
    let op = Op::RoiAlign {
        mode: cx.a(at.string("mode", "avg"))?,
        coordinate_transformation_mode: cx
            .a(at.string("coordinate_transformation_mode", default_ctm))?,
        output_height: cx.a(at.int("output_height", 1))?,
        output_width: cx.a(at.int("output_width", 1))?,
        sampling_ratio: cx.a(at.int("sampling_ratio", 0))?,
        spatial_scale: cx.a(at.float("spatial_scale", 1.0))?,
    };
    let ins = [cx.req(0)?, cx.req(1)?, cx.req(2)?];
    cx.add(op, &ins)
}

/// An int-list attribute with `n` entries, or empty (the IR default).
fn ints_of_len(cx: &Cx, name: &str, n: usize) -> Result<Vec<i64>, OnnxError> {
    let v = cx.a(cx.attrs.ints_opt(name))?.unwrap_or_default();
    if !v.is_empty() && v.len() != n {
        return Err(cx.err(format!(
            "attribute `{name}` has {} entries, expected {n}",
            v.len()
        )));
    }
    Ok(v)
}

fn deform_conv(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let w = cx.req(1)?;
    let r = cx.rank(x).saturating_sub(2);
    if let Some(k) = cx.a(cx.attrs.ints_opt("kernel_shape"))? {
        let wk: Vec<_> = cx
            .ty(w)
            .shape
            .iter()
            .skip(2)
            .map(|d| d.as_known())
            .collect();
        if k.len() != r || wk.iter().zip(&k).any(|(d, &k)| d.is_some_and(|d| d != k)) {
            return Err(cx.err(format!("kernel_shape {k:?} does not match the weights")));
        }
    }
    let op = Op::DeformConv {
        strides: ints_of_len(cx, "strides", r)?,
        pads: ints_of_len(cx, "pads", 2 * r)?,
        dilations: ints_of_len(cx, "dilations", r)?,
        group: cx.a(cx.attrs.int("group", 1))?,
        offset_group: cx.a(cx.attrs.int("offset_group", 1))?,
    };
    let f = cx.ty(x).dtype;
    let ins = padded_inputs(cx, &[empty(f), empty(f), empty(f), empty(f), empty(f)])?;
    cx.add(op, &ins)
}

fn col2im(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let ins = [cx.req(0)?, cx.req(1)?, cx.req(2)?];
    let r = cx
        .ty(ins[1])
        .shape
        .first()
        .and_then(|d| d.as_known())
        .unwrap_or(0) as usize;
    let op = Op::Col2Im {
        strides: ints_of_len(cx, "strides", r)?,
        pads: ints_of_len(cx, "pads", 2 * r)?,
        dilations: ints_of_len(cx, "dilations", r)?,
    };
    cx.add(op, &ins)
}

fn max_unpool(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let kernel_shape = cx.a(cx.attrs.ints("kernel_shape"))?;
    let r = kernel_shape.len();
    let op = Op::MaxUnpool {
        strides: ints_of_len(cx, "strides", r)?,
        pads: ints_of_len(cx, "pads", 2 * r)?,
        kernel_shape,
    };
    let mut ins = vec![cx.req(0)?, cx.req(1)?];
    ins.extend(cx.input(2)?);
    cx.add(op, &ins)
}

/// CenterCropPad → `slice` (crop the axes that shrink, centered, the extra
/// element on the end side) then constant `pad` with zeros (same rule).
fn center_crop_pad(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let ty = cx.ty(x);
    let rank = ty.rank();
    let target = cx
        .const_ints(1, "shape")?
        .ok_or_else(|| cx.err("input `shape` is required"))?;
    let axes = match cx.a(cx.attrs.ints_opt("axes"))? {
        Some(a) => a,
        None => (0..rank as i64).collect(),
    };
    if axes.len() != target.len() {
        return Err(cx.err(format!(
            "shape has {} entries but there are {} axes",
            target.len(),
            axes.len()
        )));
    }
    let (mut starts, mut ends, mut sl_axes) = (vec![], vec![], vec![]);
    let mut pads = vec![0i64; 2 * rank];
    for (&a, &want) in axes.iter().zip(&target) {
        let a = ingot_ir::infer::norm_axis(a, rank).map_err(|e| cx.err(e))?;
        let have = ty.shape[a]
            .as_known()
            .ok_or_else(|| cx.err(format!("axis {a} of {ty} must be static to crop or pad")))?;
        if want < 0 {
            return Err(cx.err(format!("target size {want} is negative")));
        }
        if want < have {
            let s = (have - want) / 2;
            starts.push(s);
            ends.push(s + want);
            sl_axes.push(a as i64);
        } else if want > have {
            let p = (want - have) / 2;
            pads[a] = p;
            pads[rank + a] = want - have - p;
        }
    }
    let mut y = x;
    if !sl_axes.is_empty() {
        let ins = [
            y,
            cx.const_i64s(&starts),
            cx.const_i64s(&ends),
            cx.const_i64s(&sl_axes),
        ];
        y = cx.add1(Op::Slice, &ins)?;
    }
    if pads.iter().any(|&p| p != 0) {
        let p = cx.const_i64s(&pads);
        y = cx.add1(
            Op::Pad {
                mode: PadMode::Constant,
            },
            &[y, p],
        )?;
    }
    if y == x {
        y = cx.add1(Op::Identity, &[x])?;
    }
    Ok(vec![y])
}

fn dft(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let inverse = cx.a(cx.attrs.bool("inverse", false))?;
    let onesided = cx.a(cx.attrs.bool("onesided", false))?;
    let axis = if cx.opset < 20 {
        cx.a(cx.attrs.int("axis", 1))?
    } else {
        match cx.const_ints(2, "axis")? {
            None => -2,
            Some(v) if v.len() == 1 => v[0],
            Some(v) => return Err(cx.err(format!("axis must be one value, not {v:?}"))),
        }
    };
    let mut ins = vec![cx.req(0)?];
    ins.extend(cx.input(1)?);
    cx.add(
        Op::Dft {
            axis,
            inverse,
            onesided,
        },
        &ins,
    )
}

fn stft(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let onesided = cx.a(cx.attrs.bool("onesided", true))?;
    let x = cx.req(0)?;
    let f = cx.ty(x).dtype;
    let i64e = empty(ingot_ir::DType::I64);
    let ins = padded_inputs(cx, &[empty(f), i64e.clone(), empty(f), i64e])?;
    cx.add(Op::Stft { onesided }, &ins)
}
