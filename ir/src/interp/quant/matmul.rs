//! MatMulInteger and QLinearMatMul: integer matmul of zero-point-shifted
//! operands (numpy matmul shapes), accumulated in wrapping i64 and wrapped to
//! i32 as ONNX Runtime's i32 accumulator would, then (QLinearMatMul)
//! requantized.

use super::{pick, saturate};
use crate::dtype::DType;
use crate::interp::{broadcast_map, broadcast_shape};
use crate::tensor::Tensor;

/// How a (batched) matmul lines up: 1-D operands promoted, batch dims
/// broadcast.
struct Plan {
    out: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    /// Per batch index of the result, the batch index into a and into b.
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
}

fn plan(a: &[usize], b: &[usize]) -> Result<Plan, String> {
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    if a2.len() < 2 || b2.len() < 2 {
        return Err("matmul operands must have rank 1 or more".into());
    }
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k, n) = (a2[ra - 2], a2[ra - 1], b2[rb - 1]);
    if b2[rb - 2] != k {
        return Err(format!("inner dims differ: shapes {a:?} and {b:?}"));
    }
    let (ab, bb) = (&a2[..ra - 2], &b2[..rb - 2]);
    let batch = broadcast_shape(ab, bb)?;
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    let empty = out.contains(&0);
    if !empty
        && out
            .iter()
            .try_fold(1usize, |p, &d| p.checked_mul(d))
            .is_none()
    {
        return Err(format!("result shape {out:?} is too large"));
    }
    let (a_batch, b_batch) = if empty {
        (vec![], vec![])
    } else {
        (broadcast_map(&batch, ab), broadcast_map(&batch, bb))
    };
    Ok(Plan {
        out,
        m,
        k,
        n,
        a_batch,
        b_batch,
    })
}

/// The matmul of a and b (already shifted), row-major over `plan.out`.
fn matmul(p: &Plan, a: &[i64], b: &[i64]) -> Vec<i64> {
    let (m, k, n) = (p.m, p.k, p.n);
    let mut out = Vec::with_capacity(p.a_batch.len() * m * n);
    for (&ab, &bb) in p.a_batch.iter().zip(&p.b_batch) {
        let (ao, bo) = (ab * m * k, bb * k * n);
        for i in 0..m {
            for j in 0..n {
                let s = (0..k).fold(0i64, |s, l| {
                    s.wrapping_add(a[ao + i * k + l].wrapping_mul(b[bo + l * n + j]))
                });
                out.push(s);
            }
        }
    }
    out
}

/// x's elements minus its zero point: one element, one per row (`per_row`,
/// x's axis -2) or per column (axis -1), or an N-D tensor broadcasting to x.
fn shifted(x: &Tensor, zp: Option<&Tensor>, per_row: bool) -> Vec<i64> {
    let mut v = x.to_i64s();
    let Some(zp) = zp else { return v };
    let z = zp.to_i64s();
    let shape = x.shape();
    let r = shape.len();
    let idx: Box<dyn Fn(usize) -> usize> = if z.len() == 1 {
        Box::new(|_| 0)
    } else if zp.rank() == 1 && per_row {
        let (m, k) = (shape[r - 2], shape[r - 1]);
        Box::new(move |i| (i / k) % m)
    } else if zp.rank() == 1 {
        let n = shape[r - 1];
        Box::new(move |i| i % n)
    } else {
        let map = broadcast_map(shape, zp.shape());
        Box::new(move |i| map[i])
    };
    for (i, e) in v.iter_mut().enumerate() {
        *e -= z[idx(i)];
    }
    v
}

pub(super) fn matmul_integer(
    a: &Tensor,
    b: &Tensor,
    a_zp: Option<&Tensor>,
    b_zp: Option<&Tensor>,
) -> Result<Tensor, String> {
    let p = plan(a.shape(), b.shape())?;
    let acc = matmul(&p, &shifted(a, a_zp, true), &shifted(b, b_zp, false));
    Tensor::from_i64s(DType::I32, &p.out, &acc).map_err(|e| e.to_string())
}

/// `qlinear_matmul %a, %a_scale, %a_zp, %b, %b_scale, %b_zp, %y_scale, %y_zp`.
pub(super) fn qlinear_matmul(ins: &[&Tensor]) -> Result<Tensor, String> {
    let (a, b, y_zp) = (ins[0], ins[3], ins[7]);
    let p = plan(a.shape(), b.shape())?;
    let acc = matmul(
        &p,
        &shifted(a, Some(ins[2]), true),
        &shifted(b, Some(ins[5]), false),
    );
    let sa: Vec<f32> = ins[1].to_f64s().iter().map(|&v| v as f32).collect();
    let sb: Vec<f32> = ins[4].to_f64s().iter().map(|&v| v as f32).collect();
    let sy = ins[6].to_f64s()[0] as f32;
    let zy = y_zp.to_i64s()[0] as f32;
    let out_dt = y_zp.dtype();
    let y: Vec<i64> = acc
        .iter()
        .enumerate()
        .map(|(o, &s)| {
            let (row, col) = ((o / p.n) % p.m, o % p.n);
            let mult = pick(&sa, row) * pick(&sb, col) / sy;
            // The accumulator is i32 in ONNX Runtime; wrap as it would.
            let v = ((s as i32) as f32 * mult).round_ties_even() + zy;
            saturate(f64::from(v), out_dt)
        })
        .collect();
    Tensor::from_i64s(out_dt, &p.out, &y).map_err(|e| e.to_string())
}

/// `qgemm %a, %a_scale, %a_zp, %b, %b_scale, %b_zp[, %c[, %y_scale[, %y_zp]]]`.
pub(super) fn qgemm(
    alpha: f32,
    trans_a: bool,
    trans_b: bool,
    ins: &[&Tensor],
) -> Result<Tensor, String> {
    let (a, b) = (ins[0], ins[3]);
    let (ash, bsh) = (a.shape(), b.shape());
    let (m, k) = if trans_a {
        (ash[1], ash[0])
    } else {
        (ash[0], ash[1])
    };
    let n = if trans_b { bsh[0] } else { bsh[1] };
    let (av, bv) = (a.to_i64s(), b.to_i64s());
    let za = ins[2].to_i64s()[0];
    let zb = ins[5].to_i64s();
    let sa = ins[1].to_f64s()[0] as f32;
    let sb: Vec<f32> = ins[4].to_f64s().iter().map(|&v| v as f32).collect();
    let bias: Option<Vec<i64>> = ins.get(6).map(|c| {
        let map = broadcast_map(&[m, n], c.shape());
        let cv = c.to_i64s();
        map.iter().map(|&i| cv[i]).collect()
    });
    let mut acc = vec![0i64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0i64;
            for p in 0..k {
                let x = av[if trans_a { p * m + i } else { i * k + p }] - za;
                let w = bv[if trans_b { j * k + p } else { p * n + j }] - pick(&zb, j);
                s += x * w;
            }
            // An i32 accumulator, as onnxruntime's.
            let s = (s as i32).wrapping_add(bias.as_ref().map_or(0, |c| c[i * n + j]) as i32);
            acc[i * n + j] = i64::from(s);
        }
    }
    match (ins.get(7), ins.get(8)) {
        (Some(ys), zp) => {
            let sy = ys.to_f64s()[0] as f32;
            let (zy, out_dt) = match zp {
                Some(z) => (z.to_i64s()[0] as f32, z.dtype()),
                None => (0.0, DType::U8),
            };
            let y: Vec<i64> = acc
                .iter()
                .enumerate()
                .map(|(o, &s)| {
                    let mult = alpha * sa * pick(&sb, o % n) / sy;
                    let v = (s as f32 * mult).round_ties_even() + zy;
                    saturate(f64::from(v), out_dt)
                })
                .collect();
            Tensor::from_i64s(out_dt, &[m, n], &y).map_err(|e| e.to_string())
        }
        (None, _) => {
            let y: Vec<f32> = acc
                .iter()
                .enumerate()
                .map(|(o, &s)| s as f32 * (alpha * sa * pick(&sb, o % n)))
                .collect();
            Tensor::from_vec(&[m, n], y).map_err(|e| e.to_string())
        }
    }
}
