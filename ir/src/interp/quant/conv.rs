//! ConvInteger and QLinearConv, by way of the contraction group's `conv`.
//!
//! The zero points are subtracted exactly, the shifted operands (and bias)
//! become f64 tensors, and `conv` computes the sums; with 8-bit operands they
//! are exact integers far below 2^53. ConvInteger wraps the sums to i32;
//! QLinearConv requantizes them per output channel as ONNX Runtime does
//! (see the module header of `quant`).

use super::{pick, saturate};
use crate::dtype::DType;
use crate::interp::eval_op;
use crate::op::Op;
use crate::tensor::Tensor;

/// x minus its (single) zero point, as f64.
fn shift_x(x: &Tensor, zp: Option<&Tensor>) -> Result<Tensor, String> {
    let z = zp.map_or(0, |z| z.to_i64s()[0]);
    let v: Vec<f64> = x.to_i64s().iter().map(|&e| (e - z) as f64).collect();
    Tensor::from_vec(x.shape(), v).map_err(|e| e.to_string())
}

/// w minus its zero point (single, or one per output channel), as f64.
fn shift_w(w: &Tensor, zp: Option<&Tensor>) -> Result<Tensor, String> {
    let z = zp.map_or_else(|| vec![0], Tensor::to_i64s);
    let per_channel: usize = w.shape()[1..].iter().product();
    let v: Vec<f64> = w
        .to_i64s()
        .iter()
        .enumerate()
        .map(|(i, &e)| (e - pick(&z, i / per_channel.max(1))) as f64)
        .collect();
    Tensor::from_vec(w.shape(), v).map_err(|e| e.to_string())
}

fn run_conv(conv: &Op, ins: &[&Tensor]) -> Result<Tensor, String> {
    let mut out = eval_op(conv, ins).map_err(|e| format!("in its conv: {e}"))?;
    if out.len() != 1 {
        return Err(format!("its conv returned {} results", out.len()));
    }
    Ok(out.remove(0))
}

/// `conv_integer %x, %w[, %x_zp[, %w_zp]]` → i32.
pub(super) fn conv_integer(conv: &Op, ins: &[&Tensor]) -> Result<Tensor, String> {
    let x = shift_x(ins[0], ins.get(2).copied())?;
    let w = shift_w(ins[1], ins.get(3).copied())?;
    let acc = run_conv(conv, &[&x, &w])?;
    let v: Vec<i64> = acc.to_f64s().iter().map(|&s| s.round() as i64).collect();
    Tensor::from_i64s(DType::I32, acc.shape(), &v).map_err(|e| e.to_string())
}

/// `qlinear_conv %x, %x_scale, %x_zp, %w, %w_scale, %w_zp, %y_scale, %y_zp[, %bias]`.
pub(super) fn qlinear_conv(conv: &Op, ins: &[&Tensor]) -> Result<Tensor, String> {
    let x = shift_x(ins[0], Some(ins[2]))?;
    let w = shift_w(ins[3], Some(ins[5]))?;
    let acc = match ins.get(8) {
        Some(b) => {
            let bias = Tensor::from_vec(b.shape(), b.to_f64s()).map_err(|e| e.to_string())?;
            run_conv(conv, &[&x, &w, &bias])?
        }
        None => run_conv(conv, &[&x, &w])?,
    };
    let sx = ins[1].to_f64s()[0] as f32;
    let sw: Vec<f32> = ins[4].to_f64s().iter().map(|&v| v as f32).collect();
    let sy = ins[6].to_f64s()[0] as f32;
    let zy = ins[7].to_i64s()[0] as f32;
    let out_dt = ins[7].dtype();
    let shape = acc.shape().to_vec();
    let channels = shape.get(1).copied().unwrap_or(1).max(1);
    let spatial: usize = shape.iter().skip(2).product::<usize>().max(1);
    let y: Vec<i64> = acc
        .to_f64s()
        .iter()
        .enumerate()
        .map(|(o, &s)| {
            let m = (o / spatial) % channels;
            let mult = sx * pick(&sw, m) / sy;
            let v = ((s.round() as i64 as i32) as f32 * mult).round_ties_even() + zy;
            saturate(f64::from(v), out_dt)
        })
        .collect();
    Tensor::from_i64s(out_dt, &shape, &y).map_err(|e| e.to_string())
}
