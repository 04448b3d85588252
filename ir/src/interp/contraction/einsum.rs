//! Einsum: the equation rules are in `einsum_eq.rs` (shared with shape
//! inference). Every output element is the sum, over all values of the
//! labels missing from the output, of the product of one element from each
//! operand; a size-1 ellipsis axis of an operand broadcasts (stride 0). An
//! empty sum is 0. Floats accumulate in f64, integers in wrapping i64.

use super::einsum_eq::plan;
use super::{checked_numel, dims, sizes, Num};
use crate::dim::Dim;
use crate::dtype::DType;
use crate::tensor::Tensor;

pub(crate) fn einsum<T: Num>(
    dt: DType,
    equation: &str,
    inputs: &[&Tensor],
) -> Result<Tensor, String> {
    let ranks: Vec<usize> = inputs.iter().map(|t| t.rank()).collect();
    let p = plan(equation, &ranks)?;
    let shapes: Vec<Vec<Dim>> = inputs.iter().map(|t| dims(t.shape())).collect();
    let shape_refs: Vec<&[Dim]> = shapes.iter().map(|s| s.as_slice()).collect();
    let label_size = sizes(&p.label_dims(&shape_refs)?)?;
    let out_shape: Vec<usize> = p.output.iter().map(|&l| label_size[l]).collect();
    let out_n = checked_numel(&out_shape)?;
    let summed: Vec<usize> = (0..label_size.len())
        .filter(|l| !p.output.contains(l))
        .collect();
    let sum_shape: Vec<usize> = summed.iter().map(|&l| label_size[l]).collect();
    // The iteration count is bounded by the sizes; empty sums leave zeros.
    let sum_n: usize = sum_shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("the summed labels span too many elements")?;
    // Per operand, the stride of each label (a repeated label adds its
    // axes' strides: that walks the diagonal; a broadcast axis adds 0).
    let values: Vec<Vec<T>> = inputs.iter().map(|t| T::read(t)).collect();
    let label_strides: Vec<Vec<usize>> = inputs
        .iter()
        .zip(&p.operands)
        .map(|(t, labels)| {
            let st = super::super::strides(t.shape());
            let mut ls = vec![0; label_size.len()];
            for (ax, &l) in labels.iter().enumerate() {
                if t.shape()[ax] != 1 || label_size[l] == 1 {
                    ls[l] += st[ax];
                }
            }
            ls
        })
        .collect();
    let mut idx = vec![0usize; label_size.len()];
    let mut out = Vec::with_capacity(out_n);
    for o in 0..out_n {
        set_digits(o, &p.output, &label_size, &mut idx);
        let mut acc = T::ZERO;
        for s in 0..sum_n {
            set_digits(s, &summed, &label_size, &mut idx);
            let mut prod: Option<T> = None;
            for (vals, ls) in values.iter().zip(&label_strides) {
                let off: usize = idx.iter().zip(ls).map(|(i, s)| i * s).sum();
                prod = Some(prod.map_or(vals[off], |q| q.mul(vals[off])));
            }
            acc = acc.add(prod.unwrap_or(T::ZERO));
        }
        out.push(acc);
    }
    T::write(dt, &out_shape, &out)
}

/// Write the row-major digits of `flat` over the given labels into `idx`.
fn set_digits(mut flat: usize, labels: &[usize], size: &[usize], idx: &mut [usize]) {
    for &l in labels.iter().rev() {
        idx[l] = flat % size[l];
        flat /= size[l];
    }
}

#[cfg(test)]
mod tests {
    use crate::op::Op;
    use crate::tensor::Tensor;

    fn run(eq: &str, ins: &[&Tensor]) -> Result<Tensor, String> {
        let op = Op::Einsum {
            equation: eq.to_string(),
        };
        super::super::eval(&op, ins).map(|mut v| v.remove(0))
    }

    fn seq(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
        Tensor::from_slice(shape, &v).unwrap()
    }

    #[test]
    fn transpose_trace_diagonal() {
        let m = seq(&[2, 3]);
        let r = run("ij->ji", &[&m]).unwrap();
        assert_eq!(
            (r.shape(), r.to_f64s()),
            (&[3, 2][..], vec![0., 3., 1., 4., 2., 5.])
        );
        // Implicit output of `ji` is `ij`, a transpose too.
        assert_eq!(run("ji", &[&m]).unwrap().shape(), &[3, 2]);
        let sq = seq(&[3, 3]);
        assert_eq!(run("ii", &[&sq]).unwrap().to_f64s(), vec![12.]);
        assert_eq!(run("ii->i", &[&sq]).unwrap().to_f64s(), vec![0., 4., 8.]);
        assert_eq!(run("ij->", &[&m]).unwrap().to_f64s(), vec![15.]);
    }

    #[test]
    fn batched_matmul_and_ellipsis() {
        let a = seq(&[2, 2, 3]);
        let b = seq(&[2, 3, 1]);
        let r = run("bij,bjk->bik", &[&a, &b]).unwrap();
        // batch 0: [[0,1,2],[3,4,5]] @ [0,1,2]; batch 1: [[6,7,8],[9,10,11]] @ [3,4,5].
        assert_eq!(r.to_f64s(), vec![5., 14., 86., 122.]);
        let r2 = run("...ij,...jk", &[&a, &b]).unwrap();
        assert_eq!(r2, r);
        // Ellipsis broadcasting: [2,1,3] with [4,3] -> [2,4].
        let x = seq(&[2, 1, 3]);
        let y = Tensor::from_slice(&[4, 3], &[1.0f64; 12]).unwrap();
        let r = run("...i,...i", &[&x, &y]).unwrap();
        assert_eq!(
            (r.shape(), r.to_f64s()),
            (&[2, 4][..], vec![3., 3., 3., 3., 12., 12., 12., 12.])
        );
        // Outer product of three vectors.
        let v = seq(&[2]);
        let w = Tensor::from_slice(&[2], &[2.0f64, 3.0]).unwrap();
        assert_eq!(
            run("i,j,k->ijk", &[&w, &v, &w]).unwrap().to_f64s(),
            vec![0., 0., 4., 6., 0., 0., 6., 9.]
        );
    }

    #[test]
    fn integers_empty_and_errors() {
        let a = Tensor::from_slice(&[2], &[100i8, 100]).unwrap();
        // 100*100*2 = 20000 wraps to 20000 mod 256 = 32.
        assert_eq!(run("i,i", &[&a, &a]).unwrap().to_i64s(), vec![32]);
        let e = Tensor::zeros(crate::DType::F64, &[0, 3]).unwrap();
        assert_eq!(run("ij->j", &[&e]).unwrap().to_f64s(), vec![0., 0., 0.]);
        let m = seq(&[2, 3]);
        assert!(run("ij,ij", &[&m, &seq(&[3, 2])])
            .unwrap_err()
            .contains("label `i`"));
        assert!(run("ij", &[&m, &m]).is_err());
    }
}
