//! Semantics of the contraction ops.
//!
//! - `matmul %a, %b`: numpy matmul. A 1-D `a` is a row `[1,K]`, a 1-D `b` a
//!   column `[K,1]`, and the added axis is dropped from the result; leading
//!   (batch) axes broadcast.
//! - `gemm %a, %b[, %c]`: `alpha * op(a) @ op(b) + beta * c`, `op` transposing
//!   when `trans_a`/`trans_b`; `a`, `b` rank 2; `c` broadcasts one way to
//!   `[M, N]` and is not read when `beta == 0` (so NaN in an unused `c` does
//!   not leak); absent `c` is zero.
//! - `conv`, `conv_transpose`: see `conv.rs`. `einsum`: see `einsum.rs`.
//!
//! Numerics: float dtypes accumulate in f64 and round once to the element
//! type; integer dtypes accumulate in i64 with wrapping and wrap to the
//! element type. Integer Gemm needs integral `alpha` and `beta` (it computes
//! `alpha*acc + beta*c` in wrapping i64).

pub(crate) mod conv;
mod einsum;
// The window geometry and einsum rules are shared with shape inference.
pub(crate) use crate::infer::contraction::{einsum_eq, window};

use super::{broadcast_map, broadcast_shape};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

/// The arithmetic a contraction accumulates in: f64 for floats, wrapping i64
/// for integers.
pub(crate) trait Num: Copy + PartialEq {
    const ZERO: Self;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Every element of `t`, converted.
    fn read(t: &Tensor) -> Vec<Self>;
    /// A tensor of `dtype` (rounding or wrapping).
    fn write(dtype: DType, shape: &[usize], v: &[Self]) -> Result<Tensor, String>;
}

impl Num for f64 {
    const ZERO: f64 = 0.0;
    fn add(self, o: f64) -> f64 {
        self + o
    }
    fn mul(self, o: f64) -> f64 {
        self * o
    }
    fn read(t: &Tensor) -> Vec<f64> {
        t.to_f64s()
    }
    fn write(dtype: DType, shape: &[usize], v: &[f64]) -> Result<Tensor, String> {
        Tensor::from_f64s(dtype, shape, v).map_err(|e| e.to_string())
    }
}

impl Num for i64 {
    const ZERO: i64 = 0;
    fn add(self, o: i64) -> i64 {
        self.wrapping_add(o)
    }
    fn mul(self, o: i64) -> i64 {
        self.wrapping_mul(o)
    }
    fn read(t: &Tensor) -> Vec<i64> {
        t.to_i64s()
    }
    fn write(dtype: DType, shape: &[usize], v: &[i64]) -> Result<Tensor, String> {
        Tensor::from_i64s(dtype, shape, v).map_err(|e| e.to_string())
    }
}

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let numeric = |d: DType| d.is_numeric();
    let t = match op {
        Op::MatMul => {
            let dt = operands(inputs, 2, 2, numeric, "a numeric type")?;
            if dt.is_float() {
                matmul::<f64>(dt, inputs[0], inputs[1])?
            } else {
                matmul::<i64>(dt, inputs[0], inputs[1])?
            }
        }
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let dt = operands(inputs, 2, 3, numeric, "a numeric type")?;
            let (alpha, beta) = (f64::from(*alpha), f64::from(*beta));
            if dt.is_float() {
                gemm::<f64>(dt, inputs, (alpha, beta), (*trans_a, *trans_b))?
            } else {
                let int = |v: f64, name: &str| {
                    if v.fract() == 0.0 && v.abs() < 9.2e18 {
                        Ok(v as i64)
                    } else {
                        Err(format!("{name} = {v} must be an integer for {dt} operands"))
                    }
                };
                let (a, b) = (int(alpha, "alpha")?, int(beta, "beta")?);
                gemm::<i64>(dt, inputs, (a, b), (*trans_a, *trans_b))?
            }
        }
        Op::Conv { .. } | Op::ConvTranspose { .. } => {
            let dt = operands(inputs, 2, 3, DType::is_float, "a float type")?;
            conv::eval(op, dt, inputs)?
        }
        Op::Einsum { equation } => {
            let dt = operands(inputs, 1, usize::MAX, numeric, "a numeric type")?;
            if dt.is_float() {
                einsum::einsum::<f64>(dt, equation, inputs)?
            } else {
                einsum::einsum::<i64>(dt, equation, inputs)?
            }
        }
        _ => unreachable!("{} is not a contraction op", op.name()),
    };
    Ok(vec![t])
}

/// Check the operand count and that all operands share a dtype that `ok`
/// accepts; returns it.
fn operands(
    inputs: &[&Tensor],
    min: usize,
    max: usize,
    ok: fn(DType) -> bool,
    what: &str,
) -> Result<DType, String> {
    if inputs.len() < min || inputs.len() > max {
        let want = match (min, max) {
            (a, b) if a == b => a.to_string(),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        return Err(format!("takes {want} operand(s), given {}", inputs.len()));
    }
    let dt = inputs[0].dtype();
    if let Some((i, t)) = inputs.iter().enumerate().find(|(_, t)| t.dtype() != dt) {
        return Err(format!(
            "operand {i} is {} but operand 0 is {dt}; operands must share a dtype",
            t.dtype()
        ));
    }
    if !ok(dt) {
        return Err(format!("operands are {dt}; expected {what}"));
    }
    Ok(dt)
}

/// `shape` as static dims (for the shared geometry code).
pub(crate) fn dims(shape: &[usize]) -> Vec<Dim> {
    shape.iter().map(|&d| Dim::from(d)).collect()
}

/// A shape of static dims back to sizes; errors if one is not static.
pub(crate) fn sizes(shape: &[Dim]) -> Result<Vec<usize>, String> {
    shape
        .iter()
        .map(|d| {
            d.as_known()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| format!("result dim {d} is not a static size"))
        })
        .collect()
}

/// The element count of a result shape, refusing sizes a tensor could not
/// hold (before any buffer is allocated).
pub(crate) fn checked_numel(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize / 16)
        .ok_or_else(|| format!("result of shape {shape:?} is too large"))
}

fn matmul<T: Num>(dt: DType, a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
    let (sa, sb) = (a.shape(), b.shape());
    if sa.is_empty() || sb.is_empty() {
        return Err(format!("operands {sa:?} and {sb:?} must have rank >= 1"));
    }
    // Promote 1-D operands to matrices.
    let a2: Vec<usize> = if sa.len() == 1 {
        vec![1, sa[0]]
    } else {
        sa.to_vec()
    };
    let b2: Vec<usize> = if sb.len() == 1 {
        vec![sb[0], 1]
    } else {
        sb.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k, k2, n) = (a2[ra - 2], a2[ra - 1], b2[rb - 2], b2[rb - 1]);
    if k != k2 {
        return Err(format!(
            "inner dims differ: {sa:?} and {sb:?} ({k} vs {k2})"
        ));
    }
    let (ba, bb) = (&a2[..ra - 2], &b2[..rb - 2]);
    let batch = broadcast_shape(ba, bb).map_err(|e| format!("batch dims: {e}"))?;
    let mut shape = batch.clone();
    if sa.len() > 1 {
        shape.push(m);
    }
    if sb.len() > 1 {
        shape.push(n);
    }
    let total = checked_numel(&shape)?;
    let (av, bv) = (T::read(a), T::read(b));
    let (amap, bmap) = (broadcast_map(&batch, ba), broadcast_map(&batch, bb));
    let mut out = Vec::with_capacity(total);
    for (&ia, &ib) in amap.iter().zip(&bmap) {
        let (a0, b0) = (ia * m * k, ib * k * n);
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::ZERO;
                for p in 0..k {
                    acc = acc.add(av[a0 + i * k + p].mul(bv[b0 + p * n + j]));
                }
                out.push(acc);
            }
        }
    }
    T::write(dt, &shape, &out)
}

/// Gemm with `scale = (alpha, beta)` and `trans = (trans_a, trans_b)`.
fn gemm<T: Num>(
    dt: DType,
    inputs: &[&Tensor],
    (alpha, beta): (T, T),
    (ta, tb): (bool, bool),
) -> Result<Tensor, String> {
    let (a, b, c) = (inputs[0], inputs[1], inputs.get(2));
    let (sa, sb) = (a.shape(), b.shape());
    if sa.len() != 2 || sb.len() != 2 {
        return Err(format!("a {sa:?} and b {sb:?} must have rank 2"));
    }
    let (m, k) = if ta { (sa[1], sa[0]) } else { (sa[0], sa[1]) };
    let (k2, n) = if tb { (sb[1], sb[0]) } else { (sb[0], sb[1]) };
    if k != k2 {
        return Err(format!(
            "inner dims differ: a {sa:?} (trans_a={ta}) and b {sb:?} (trans_b={tb})"
        ));
    }
    let shape = [m, n];
    checked_numel(&shape)?;
    let cmap = match c {
        Some(c) if beta != T::ZERO => {
            let sc = c.shape();
            let ok = sc.len() <= 2
                && sc
                    .iter()
                    .zip(&shape[2 - sc.len()..])
                    .all(|(&x, &y)| x == 1 || x == y);
            if !ok {
                return Err(format!(
                    "c {sc:?} does not broadcast to the result {shape:?}"
                ));
            }
            Some((T::read(c), broadcast_map(&shape, sc)))
        }
        _ => None,
    };
    let (av, bv) = (T::read(a), T::read(b));
    let at = |i: usize, p: usize| if ta { av[p * m + i] } else { av[i * k + p] };
    let bt = |p: usize, j: usize| if tb { bv[j * k + p] } else { bv[p * n + j] };
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::ZERO;
            for p in 0..k {
                acc = acc.add(at(i, p).mul(bt(p, j)));
            }
            let mut y = alpha.mul(acc);
            if let Some((cv, map)) = &cmap {
                y = y.add(beta.mul(cv[map[i * n + j]]));
            }
            out.push(y);
        }
    }
    T::write(dt, &shape, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    fn run(op: &Op, ins: &[&Tensor]) -> Result<Tensor, String> {
        eval(op, ins).map(|mut v| v.remove(0))
    }

    #[test]
    fn matmul_promotes_one_d_operands() {
        let a = f32t(&[3], &[1., 2., 3.]);
        let m = f32t(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
        let r = run(&Op::MatMul, &[&a, &a]).unwrap();
        assert_eq!((r.shape(), r.to_f64s()), (&[][..], vec![14.0]));
        let r = run(&Op::MatMul, &[&a, &m]).unwrap();
        assert_eq!((r.shape(), r.to_f64s()), (&[2][..], vec![22.0, 28.0]));
        let mt = f32t(&[2, 3], &[1., 3., 5., 2., 4., 6.]);
        let r = run(&Op::MatMul, &[&mt, &a]).unwrap();
        assert_eq!((r.shape(), r.to_f64s()), (&[2][..], vec![22.0, 28.0]));
        // 1-D against a batch: [3] @ [2,3,2] -> [2,2].
        let bm = f32t(
            &[2, 3, 2],
            &[1., 2., 3., 4., 5., 6., 0., 1., 0., 1., 0., 1.],
        );
        let r = run(&Op::MatMul, &[&a, &bm]).unwrap();
        assert_eq!(
            (r.shape(), r.to_f64s()),
            (&[2, 2][..], vec![22., 28., 0., 6.])
        );
        assert!(run(&Op::MatMul, &[&a, &mt])
            .unwrap_err()
            .contains("inner dims"));
    }

    #[test]
    fn matmul_broadcasts_batches_and_wraps_integers() {
        let a = Tensor::from_slice(&[2, 1, 1, 2], &[1i8, 2, 3, 4]).unwrap();
        let b = Tensor::from_slice(&[3, 2, 1], &[1i8, 1, 10, 10, 100, 100]).unwrap();
        let r = run(&Op::MatMul, &[&a, &b]).unwrap();
        assert_eq!(r.shape(), &[2, 3, 1, 1]);
        // 3*100 + 4*100 = 700 wraps to 700 - 768 = -68 in i8.
        assert_eq!(r.to_i64s(), vec![3, 30, 300 - 256, 7, 70, 700 - 768]);
        let e = Tensor::zeros(DType::F32, &[0, 3]).unwrap();
        let w = f32t(&[3, 2], &[1.; 6]);
        assert_eq!(run(&Op::MatMul, &[&e, &w]).unwrap().shape(), &[0, 2]);
        // f16 rounds once, from an f64 sum: 2048 + 1 + 1 is exact there.
        let h = |v: &[f64]| Tensor::from_f64s(DType::F16, &[v.len()], v).unwrap();
        let r = run(&Op::MatMul, &[&h(&[2048., 1., 1.]), &h(&[1., 1., 1.])]).unwrap();
        assert_eq!(r.to_f64s(), vec![2050.0]);
    }

    #[test]
    fn gemm_transposes_and_broadcasts_c() {
        let g = |alpha, beta, ta, tb| Op::Gemm {
            alpha,
            beta,
            trans_a: ta,
            trans_b: tb,
        };
        // a^T is [[1,2,3],[4,5,6]]; b^T is [[1,0],[0,1],[1,1]].
        let a = f32t(&[3, 2], &[1., 4., 2., 5., 3., 6.]);
        let b = f32t(&[2, 3], &[1., 0., 1., 0., 1., 1.]);
        let c = f32t(&[2, 1], &[10., 20.]);
        let r = run(&g(2.0, 0.5, true, true), &[&a, &b, &c]).unwrap();
        // a^T b^T = [[4,5],[10,11]].
        assert_eq!(r.to_f64s(), vec![13., 15., 30., 32.]);
        let nan = f32t(&[1], &[f32::NAN]);
        let r = run(&g(1.0, 0.0, true, true), &[&a, &b, &nan]).unwrap();
        assert_eq!(r.to_f64s(), vec![4., 5., 10., 11.]);
        let bad = f32t(&[3], &[0.; 3]);
        let e = run(&g(1.0, 1.0, true, true), &[&a, &b, &bad]).unwrap_err();
        assert!(e.contains("does not broadcast"), "{e}");
        let ai = Tensor::from_slice(&[1, 1], &[3i32]).unwrap();
        assert_eq!(
            run(&g(2.0, 1.0, false, false), &[&ai, &ai])
                .unwrap()
                .to_i64s(),
            vec![18]
        );
        assert!(run(&g(0.5, 1.0, false, false), &[&ai, &ai])
            .unwrap_err()
            .contains("alpha"));
    }
}
