//! Shape and data-movement ops.
//!
//! Opset differences resolved here: Reshape/Slice/Pad/TopK/Upsample inputs
//! that used to be attributes become constant operands; Squeeze/Unsqueeze/
//! Split inputs that the IR keeps as attributes must be constants. Identity and
//! Dropout (inference) alias their input: no IR node.

use super::{op_from, Cx};
use crate::onnx::tensor::tensor_from_proto;
use crate::onnx::OnnxError;
use ingot_ir::{AttrValue, Op, Tensor, Value};

pub(super) fn converter(op_type: &str) -> Option<super::Convert> {
    Some(match op_type {
        "Identity" | "Dropout" => identity,
        "Reshape" => reshape,
        "Flatten" => |cx| {
            let x = cx.req(0)?;
            let axis = cx.a(cx.attrs.int("axis", 1))?;
            cx.add(Op::Flatten { axis }, &[x])
        },
        "Transpose" => transpose,
        "Squeeze" | "Unsqueeze" => squeeze,
        "Concat" => |cx| {
            let axis = cx
                .a(cx.attrs.int_opt("axis"))?
                .ok_or_else(|| cx.err("missing attribute `axis`"))?;
            let ins = cx.all_inputs()?;
            cx.add(Op::Concat { axis }, &ins)
        },
        "Split" => split,
        "Gather" | "GatherElements" | "GatherND" | "Scatter" | "ScatterElements" | "ScatterND" => {
            gather_scatter
        }
        "Pad" => pad,
        "Resize" | "Upsample" => resize,
        "Shape" => |cx| {
            let x = cx.req(0)?;
            let start = cx.a(cx.attrs.int("start", 0))?;
            let end = cx.a(cx.attrs.int_opt("end"))?;
            cx.add(Op::Shape { start, end }, &[x])
        },
        "Size" | "NonZero" | "Expand" | "Tile" | "Range" => plain,
        "ConstantOfShape" => constant_of_shape,
        "OneHot" => |cx| {
            let ins = cx.all_inputs()?;
            let axis = cx.a(cx.attrs.int("axis", -1))?;
            cx.add(Op::OneHot { axis }, &ins)
        },
        "Trilu" => |cx| {
            let ins = cx.all_inputs()?;
            let upper = cx.a(cx.attrs.bool("upper", true))?;
            cx.add(Op::Trilu { upper }, &ins)
        },
        "DepthToSpace" | "SpaceToDepth" => depth_space,
        "Compress" => |cx| {
            let (x, c) = (cx.req(0)?, cx.req(1)?);
            let axis = cx.a(cx.attrs.int_opt("axis"))?;
            cx.add(Op::Compress { axis }, &[x, c])
        },
        "ReverseSequence" => |cx| {
            let (x, l) = (cx.req(0)?, cx.req(1)?);
            let op = Op::ReverseSequence {
                batch_axis: cx.a(cx.attrs.int("batch_axis", 1))?,
                time_axis: cx.a(cx.attrs.int("time_axis", 0))?,
            };
            cx.add(op, &[x, l])
        },
        "EyeLike" => |cx| {
            let x = cx.req(0)?;
            let dtype = match cx.a(cx.attrs.int_opt("dtype"))? {
                Some(c) => Some(cx.dtype(c)?),
                None => None,
            };
            let k = cx.a(cx.attrs.int("k", 0))?;
            cx.add(Op::EyeLike { dtype, k }, &[x])
        },
        "Slice" => slice,
        _ => return None,
    })
}

/// Identity, and Dropout whenever it keeps every element: the output is the
/// input and the mask output (all true) is built with `constant_of_shape`.
/// Dropout keeps everything in inference mode, and in training mode with
/// ratio 0; otherwise it draws a random mask, which no reference can
/// reproduce, so it is reported unsupported. Both flags must be
/// compile-time constants.
fn identity(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    if cx.op_type() == "Dropout" {
        let training = if cx.opset >= 12 {
            match cx.input(2)? {
                None => false,
                Some(t) => match cx.konst(t) {
                    Some(t) => t.to_bools().first().copied().unwrap_or(false),
                    None => return Err(cx.err("training_mode must be a compile-time constant")),
                },
            }
        } else {
            cx.opset < 7 && !cx.a(cx.attrs.bool("is_test", false))?
        };
        if training {
            let ratio = if cx.opset >= 12 {
                match cx.input(1)? {
                    None => 0.5,
                    Some(r) => match cx.konst(r) {
                        Some(t) => t.to_f64s().first().copied().unwrap_or(0.5),
                        None => {
                            return Err(
                                cx.err("training-mode Dropout needs a compile-time constant ratio")
                            )
                        }
                    },
                }
            } else {
                f64::from(cx.a(cx.attrs.float("ratio", 0.5))?)
            };
            if ratio != 0.0 {
                return Err(cx.unsupported(format!(
                    "training-mode Dropout with ratio {ratio} draws a random mask"
                )));
            }
        }
        if cx.wants_output(1) {
            let shape = cx.add1(
                Op::Shape {
                    start: 0,
                    end: None,
                },
                &[x],
            )?;
            let one = Tensor::from_bools(&[1], &[true]).expect("one element");
            let mask = cx.add1(Op::ConstantOfShape { value: one }, &[shape])?;
            return Ok(vec![x, mask]);
        }
    }
    Ok(vec![x])
}

fn plain(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let op = match cx.op_type() {
        "Size" => Op::Size,
        "NonZero" => Op::NonZero,
        "Expand" => Op::Expand,
        "Tile" => Op::Tile,
        _ => Op::Range,
    };
    let ins = cx.all_inputs()?;
    cx.add(op, &ins)
}

fn reshape(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let shape = cx.req(1)?;
    let allowzero = cx.a(cx.attrs.bool("allowzero", false))?;
    cx.add(Op::Reshape { allowzero }, &[x, shape])
}

fn transpose(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let perm = match cx.a(cx.attrs.ints_opt("perm"))? {
        Some(p) => p,
        None => (0..cx.rank(x) as i64).rev().collect(),
    };
    cx.add(Op::Transpose { perm }, &[x])
}

/// Squeeze/Unsqueeze: axes are an attribute before opset 13, a (constant)
/// input after.
fn squeeze(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let axes = if cx.opset >= 13 {
        cx.const_ints(1, "axes")?.unwrap_or_default()
    } else {
        cx.a(cx.attrs.ints("axes"))?
    };
    let op = if cx.op_type() == "Squeeze" {
        Op::Squeeze { axes }
    } else {
        Op::Unsqueeze { axes }
    };
    cx.add(op, &[x])
}

/// Split: explicit sizes (attribute < 13, constant input ≥ 13), or
/// `num_outputs` (≥ 18: chunks of ceil(d/n), the last smaller), or an even
/// split over the node's outputs.
fn split(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let axis = cx.a(cx.attrs.int("axis", 0))?;
    let given = if cx.opset >= 13 {
        cx.const_ints(1, "split")?
    } else {
        cx.a(cx.attrs.ints_opt("split"))?.filter(|v| !v.is_empty())
    };
    let splits = match given {
        Some(s) => s,
        None => {
            let n = match cx.a(cx.attrs.int_opt("num_outputs"))? {
                Some(n) => n,
                None => cx.node.output.len() as i64,
            };
            let rank = cx.rank(x);
            let ax = ingot_ir::infer::norm_axis(axis, rank).map_err(|e| cx.err(e))?;
            let d = cx.ty(x).shape[ax]
                .as_known()
                .ok_or_else(|| cx.err("an even Split needs a static size along the axis"))?;
            if n <= 0 {
                return Err(cx.err(format!("cannot split into {n} outputs")));
            }
            let chunk = (d + n - 1) / n;
            if cx.a(cx.attrs.int_opt("num_outputs"))?.is_none() && d % n != 0 {
                return Err(cx.err(format!("{d} does not split evenly into {n}")));
            }
            (0..n).map(|i| (d - i * chunk).clamp(0, chunk)).collect()
        }
    };
    cx.add(Op::Split { axis, splits }, &[x])
}

fn gather_scatter(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    use ingot_ir::attr::ScatterReduction;
    let ins = cx.all_inputs()?;
    let axis = cx.a(cx.attrs.int("axis", 0))?;
    let red = cx.a(cx.attrs.string("reduction", "none"))?;
    let reduction = ScatterReduction::from_name(&red)
        .ok_or_else(|| cx.err(format!("unknown reduction {red:?}")))?;
    let op = match cx.op_type() {
        "Gather" => Op::Gather { axis },
        "GatherElements" => Op::GatherElements { axis },
        "GatherND" => Op::GatherNd {
            batch_dims: cx.a(cx.attrs.int("batch_dims", 0))?,
        },
        "Scatter" | "ScatterElements" => Op::ScatterElements { axis, reduction },
        _ => Op::ScatterNd { reduction },
    };
    cx.add(op, &ins)
}

/// Pad: `pad %x, %pads[, %constant_value]`, pads for every axis.
fn pad(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let rank = cx.rank(x);
    let mode = cx.a(cx.attrs.string("mode", "constant"))?;
    let op = op_from(cx, "pad", vec![("mode", AttrValue::Str(mode))])?;
    let mut ins = vec![x];
    if cx.opset < 11 {
        let pads = cx.a(cx.attrs.ints("pads"))?;
        ins.push(cx.const_i64s(&pads));
        let value = cx.a(cx.attrs.float("value", 0.0))?;
        if value != 0.0 {
            let dt = cx.ty(x).dtype;
            ins.push(cx.const_scalar(dt, f64::from(value))?);
        }
        return cx.add(op, &ins);
    }
    let pads = cx.req(1)?;
    let axes = cx.const_ints(3, "axes")?;
    match axes {
        None => ins.push(pads),
        Some(axes) => {
            // Expand per-axis pads to every axis.
            let p = cx.const_ints(1, "pads (with axes)")?.unwrap_or_default();
            if p.len() != 2 * axes.len() {
                return Err(cx.err("pads must have two entries per axis"));
            }
            let mut full = vec![0i64; 2 * rank];
            for (k, &a) in axes.iter().enumerate() {
                let a = ingot_ir::infer::norm_axis(a, rank).map_err(|e| cx.err(e))?;
                full[a] = p[k];
                full[a + rank] = p[k + axes.len()];
            }
            ins.push(cx.const_i64s(&full));
        }
    }
    if let Some(v) = cx.input(2)? {
        ins.push(v);
    }
    cx.add(op, &ins)
}

/// Resize (opset 10: `x, scales`; 11+: `x, roi, scales, sizes`) and Upsample
/// (scales attribute at 7, input at 9) → `resize %x, %roi, %scales, %sizes`
/// with empty constants for the unused ones.
fn resize(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    let mode = cx.a(cx.attrs.string("mode", "nearest"))?;
    let empty_f = |cx: &mut Cx| cx.constant(Tensor::from_vec::<f32>(&[0], vec![]).expect("empty"));
    let legacy = cx.op_type() == "Upsample" || cx.opset < 11;
    let (roi, scales, sizes) = if legacy {
        let scales = if cx.op_type() == "Upsample" && cx.opset < 9 {
            let s = cx
                .a(cx.attrs.floats_opt("scales"))?
                .ok_or_else(|| cx.err("missing attribute `scales`"))?;
            let t = Tensor::from_vec(&[s.len()], s).map_err(|e| cx.err(e.to_string()))?;
            cx.constant(t)
        } else {
            cx.req(1)?
        };
        let roi = empty_f(cx);
        let sizes = cx.const_i64s(&[]);
        (roi, scales, sizes)
    } else {
        let roi = match cx.input(1)? {
            Some(r) => r,
            None => empty_f(cx),
        };
        let scales = match cx.input(2)? {
            Some(s) => s,
            None => empty_f(cx),
        };
        let sizes = match cx.input(3)? {
            Some(s) => s,
            None => cx.const_i64s(&[]),
        };
        (roi, scales, sizes)
    };
    let mode = match mode.as_str() {
        "bilinear" | "trilinear" => "linear".to_string(),
        m => m.to_string(),
    };
    let at = &cx.attrs;
    let (coord, nearest) = if legacy {
        ("asymmetric".to_string(), "floor".to_string())
    } else {
        (
            cx.a(at.string("coordinate_transformation_mode", "half_pixel"))?,
            cx.a(at.string("nearest_mode", "round_prefer_floor"))?,
        )
    };
    let attrs = vec![
        ("mode", AttrValue::Str(mode)),
        ("coordinate_transformation_mode", AttrValue::Str(coord)),
        ("nearest_mode", AttrValue::Str(nearest)),
        (
            "cubic_coeff_a",
            AttrValue::Float(cx.a(at.float("cubic_coeff_a", -0.75))?),
        ),
        (
            "exclude_outside",
            AttrValue::Bool(cx.a(at.bool("exclude_outside", false))?),
        ),
        (
            "extrapolation_value",
            AttrValue::Float(cx.a(at.float("extrapolation_value", 0.0))?),
        ),
        (
            "antialias",
            AttrValue::Bool(cx.a(at.bool("antialias", false))?),
        ),
        (
            "keep_aspect_ratio_policy",
            AttrValue::Str(cx.a(at.string("keep_aspect_ratio_policy", "stretch"))?),
        ),
        ("axes", AttrValue::Ints(cx.a(at.ints("axes"))?)),
    ];
    let op = op_from(cx, "resize", attrs)?;
    cx.add(op, &[x, roi, scales, sizes])
}

fn constant_of_shape(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let shape = cx.req(0)?;
    let value = match cx.a(cx.attrs.tensor_opt("value"))? {
        Some(t) => tensor_from_proto(t, None)?,
        None => Tensor::from_vec::<f32>(&[1], vec![0.0]).expect("one element"),
    };
    cx.add(Op::ConstantOfShape { value }, &[shape])
}

fn depth_space(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    use ingot_ir::attr::DepthToSpaceMode;
    let x = cx.req(0)?;
    let blocksize = cx
        .a(cx.attrs.int_opt("blocksize"))?
        .ok_or_else(|| cx.err("missing attribute `blocksize`"))?;
    // Both default to DCR; SpaceToDepth has `mode` since opset 26.
    let m = cx.a(cx.attrs.string("mode", "DCR"))?;
    let mode =
        DepthToSpaceMode::from_name(&m).ok_or_else(|| cx.err(format!("unknown mode {m:?}")))?;
    let op = if cx.op_type() == "DepthToSpace" {
        Op::DepthToSpace { blocksize, mode }
    } else {
        Op::SpaceToDepth { blocksize, mode }
    };
    cx.add(op, &[x])
}

/// Slice: `slice %x, %starts, %ends[, %axes[, %steps]]`. Before opset 10
/// starts/ends/axes are attributes. Missing axes before present steps are
/// filled with `0..len(starts)`.
fn slice(cx: &mut Cx) -> Result<Vec<Value>, OnnxError> {
    let x = cx.req(0)?;
    if cx.opset < 10 {
        let starts = cx.a(cx.attrs.ints("starts"))?;
        let ends = cx.a(cx.attrs.ints("ends"))?;
        let mut ins = vec![x, cx.const_i64s(&starts), cx.const_i64s(&ends)];
        if let Some(axes) = cx.a(cx.attrs.ints_opt("axes"))? {
            ins.push(cx.const_i64s(&axes));
        }
        return cx.add(Op::Slice, &ins);
    }
    let starts = cx.req(1)?;
    let mut ins = vec![x, starts, cx.req(2)?];
    let axes = cx.input(3)?;
    let steps = cx.input(4)?;
    match (axes, steps) {
        (Some(a), s) => {
            ins.push(a);
            ins.extend(s);
        }
        (None, Some(s)) => {
            let n = cx
                .ty(starts)
                .shape
                .first()
                .and_then(|d| d.as_known())
                .ok_or_else(|| {
                    cx.err("Slice with steps but no axes needs a static number of starts")
                })?;
            let dt = cx.ty(starts).dtype;
            let axes: Vec<i64> = (0..n).collect();
            let t =
                Tensor::from_i64s(dt, &[axes.len()], &axes).map_err(|e| cx.err(e.to_string()))?;
            ins.push(cx.constant(t));
            ins.push(s);
        }
        (None, None) => {}
    }
    cx.add(Op::Slice, &ins)
}
