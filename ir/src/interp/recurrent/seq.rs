//! Sequence algorithms: `unique`, `cum_prod`, `det`.
//!
//! - `unique %x {axis, sorted}`: the distinct slices of `x` along `axis`
//!   (elements of the flattened `x` without one). Slices compare element by
//!   element in row-major order, numerically (`-0.0 == 0.0`; NaN equals NaN
//!   and orders after every number). `sorted` lists them ascending, otherwise
//!   in order of first occurrence. Results: the slices (copied bit for bit
//!   from the first occurrence), each one's first index, for every input
//!   slice the index of its value in the results, and each value's count (all
//!   i64).
//! - `cum_prod %x, %axis`: running products (f64 for floats, rounded per
//!   element; wrapping for integers); `exclusive` leaves out the element
//!   itself (the first is 1), `reverse` multiplies from the end.
//! - `det %x`: the determinant of each trailing `M×M` matrix, by LU
//!   decomposition with partial pivoting in f64 (1 for `M = 0`).

use super::super::norm_axis;
use crate::tensor::Tensor;
use std::cmp::Ordering;

/// `(outer, len, inner)` of a shape around `axis`.
fn split_at(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Numeric total order: NaN equals NaN and is above every number.
fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).expect("neither is NaN"),
    }
}

pub(super) fn unique(x: &Tensor, axis: Option<i64>, sorted: bool) -> Result<Vec<Tensor>, String> {
    let flat = [x.numel()];
    let (shape, a) = match axis {
        None => (&flat[..], 0),
        Some(a) => (x.shape(), norm_axis(a, x.rank())?),
    };
    let (outer, len, inner) = split_at(shape, a);
    // Integers compare exactly as i64 (f64 would merge large ones).
    let (fs, is) = if x.dtype().is_float() {
        (x.to_f64s(), vec![])
    } else {
        (vec![], x.to_i64s())
    };
    let at = |k: usize, o: usize, i: usize| (o * len + k) * inner + i;
    let cmp_slices = |p: usize, q: usize| -> Ordering {
        for o in 0..outer {
            for i in 0..inner {
                let (u, v) = (at(p, o, i), at(q, o, i));
                let c = if is.is_empty() {
                    cmp_f64(fs[u], fs[v])
                } else {
                    is[u].cmp(&is[v])
                };
                if c != Ordering::Equal {
                    return c;
                }
            }
        }
        Ordering::Equal
    };
    // A stable sort keeps each value's first occurrence first in its group.
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&p, &q| cmp_slices(p, q));
    let mut groups: Vec<(usize, i64)> = vec![]; // (first index, count)
    let mut group_of = vec![0usize; len];
    for (n, &k) in order.iter().enumerate() {
        if n == 0 || cmp_slices(order[n - 1], k) != Ordering::Equal {
            groups.push((k, 0));
        }
        let g = groups.len() - 1;
        groups[g].1 += 1;
        group_of[k] = g;
    }
    // Position of each group in the result.
    let mut pos: Vec<usize> = (0..groups.len()).collect();
    if !sorted {
        let mut by_first: Vec<usize> = (0..groups.len()).collect();
        by_first.sort_by_key(|&g| groups[g].0);
        for (p, &g) in by_first.iter().enumerate() {
            pos[g] = p;
        }
    }
    let mut firsts = vec![0i64; groups.len()];
    let mut counts = vec![0i64; groups.len()];
    for (g, &(first, count)) in groups.iter().enumerate() {
        firsts[pos[g]] = first as i64;
        counts[pos[g]] = count;
    }
    let inverse: Vec<i64> = group_of.iter().map(|&g| pos[g] as i64).collect();
    // Copy the chosen slices' bytes.
    let size = x.dtype().size();
    let src = x.bytes();
    let u = groups.len();
    let mut bytes = Vec::with_capacity(outer * u * inner * size);
    for o in 0..outer {
        for &k in &firsts {
            let start = at(k as usize, o, 0) * size;
            bytes.extend_from_slice(&src[start..start + inner * size]);
        }
    }
    let mut out_shape = shape.to_vec();
    out_shape[a] = u;
    let err = |e: crate::tensor::TensorError| e.to_string();
    Ok(vec![
        Tensor::from_bytes(x.dtype(), &out_shape, &bytes).map_err(err)?,
        Tensor::from_vec(&[u], firsts).map_err(err)?,
        Tensor::from_vec(&[len], inverse).map_err(err)?,
        Tensor::from_vec(&[u], counts).map_err(err)?,
    ])
}

pub(super) fn cum_prod(
    x: &Tensor,
    axis: &Tensor,
    exclusive: bool,
    reverse: bool,
) -> Result<Vec<Tensor>, String> {
    let a = match axis.to_i64s().as_slice() {
        [a] => norm_axis(*a, x.rank())?,
        v => return Err(format!("axis must hold one element, holds {}", v.len())),
    };
    let (outer, len, inner) = split_at(x.shape(), a);
    // Visit each lane in scan order, calling `f(flat index)`.
    let lanes = |f: &mut dyn FnMut(usize, bool)| {
        for o in 0..outer {
            for i in 0..inner {
                for s in 0..len {
                    let k = if reverse { len - 1 - s } else { s };
                    f((o * len + k) * inner + i, s == 0);
                }
            }
        }
    };
    let t = if x.dtype().is_float() {
        let v = x.to_f64s();
        let mut out = vec![0.0; v.len()];
        let mut acc = 1.0;
        lanes(&mut |n, start| {
            if start {
                acc = 1.0;
            }
            if exclusive {
                out[n] = acc;
                acc *= v[n];
            } else {
                acc *= v[n];
                out[n] = acc;
            }
        });
        Tensor::from_f64s(x.dtype(), x.shape(), &out)
    } else {
        let v = x.to_i64s();
        let mut out = vec![0i64; v.len()];
        let mut acc = 1i64;
        lanes(&mut |n, start| {
            if start {
                acc = 1;
            }
            if exclusive {
                out[n] = acc;
                acc = acc.wrapping_mul(v[n]);
            } else {
                acc = acc.wrapping_mul(v[n]);
                out[n] = acc;
            }
        });
        Tensor::from_i64s(x.dtype(), x.shape(), &out)
    };
    Ok(vec![t.map_err(|e| e.to_string())?])
}

pub(super) fn det(x: &Tensor) -> Result<Vec<Tensor>, String> {
    let r = x.rank();
    let m = x.shape()[r - 1];
    if x.shape()[r - 2] != m {
        return Err(format!("matrices of shape {:?} are not square", x.shape()));
    }
    let v = x.to_f64s();
    let batch: usize = x.shape()[..r - 2].iter().product();
    let out: Vec<f64> = (0..batch)
        .map(|n| lu_det(&v[n * m * m..(n + 1) * m * m], m))
        .collect();
    Ok(vec![Tensor::from_f64s(
        x.dtype(),
        &x.shape()[..r - 2],
        &out,
    )
    .map_err(|e| e.to_string())?])
}

/// Determinant of a row-major `m×m` matrix by Gaussian elimination with
/// partial pivoting.
fn lu_det(a: &[f64], m: usize) -> f64 {
    let mut a = a.to_vec();
    let mut det = 1.0;
    for col in 0..m {
        // The row with the largest magnitude in this column (NaN first, so it
        // propagates).
        let piv = (col..m)
            .max_by(|&p, &q| {
                let (x, y) = (a[p * m + col].abs(), a[q * m + col].abs());
                cmp_f64(x, y).then(q.cmp(&p))
            })
            .expect("col < m");
        if a[piv * m + col] == 0.0 {
            return 0.0;
        }
        if piv != col {
            for j in 0..m {
                a.swap(piv * m + j, col * m + j);
            }
            det = -det;
        }
        let p = a[col * m + col];
        det *= p;
        for row in col + 1..m {
            let f = a[row * m + col] / p;
            for j in col..m {
                a[row * m + j] -= f * a[col * m + j];
            }
        }
    }
    det
}

/// `tf_idf_vectorizer`'s attributes, as the interpreter needs them.
pub(super) struct TfIdf<'a> {
    pub mode: &'a str,
    pub min_gram: usize,
    pub max_gram: usize,
    pub max_skip: usize,
    pub ngram_counts: &'a [i64],
    pub ngram_indexes: &'a [i64],
    pub pool: &'a [i64],
    pub weights: &'a [f32],
}

/// Counts, for each row of `x`, every pool n-gram of a size in
/// `min_gram..=max_gram` found at some start `p` with some skip distance `s`
/// in `1..=max_skip + 1` (tokens `x[p], x[p+s], ..., x[p+(n-1)s]`); unigrams
/// count once (skip distance 1 only). A pool n-gram listed twice counts in the
/// column of its last listing. TF gives the counts; IDF `weights[col]` (or 1)
/// where the count is nonzero; TFIDF `weights[col] * count` (or the count).
pub(super) fn tf_idf(x: &Tensor, a: &TfIdf) -> Result<Vec<Tensor>, String> {
    use std::collections::HashMap;
    // Pool n-gram → output column (inference checked the layout).
    let mut columns: HashMap<&[i64], usize> = HashMap::new();
    let mut id = 0;
    for (i, &start) in a.ngram_counts.iter().enumerate() {
        let end = a
            .ngram_counts
            .get(i + 1)
            .map_or(a.pool.len(), |&e| e as usize);
        let size = i + 1;
        for g in (start as usize..end).step_by(size) {
            if (a.min_gram..=a.max_gram).contains(&size) {
                columns.insert(&a.pool[g..g + size], a.ngram_indexes[id] as usize);
            }
            id += 1;
        }
    }
    let width = a.ngram_indexes.iter().max().map_or(0, |&m| m as usize + 1);
    let (rows, len) = match x.shape() {
        [c] => (1, *c),
        s => (s[0], s[1]),
    };
    let mut shape = x.shape()[..x.rank() - 1].to_vec();
    shape.push(width);
    let mut out = Tensor::zeros(crate::dtype::DType::F32, &shape).map_err(|e| e.to_string())?;
    let y = out.as_mut_slice::<f32>().map_err(|e| e.to_string())?;
    let tokens = x.to_i64s();
    let mut gram = Vec::with_capacity(len);
    // A skip distance of `len` or more fits no n-gram longer than 1.
    let max_skip = a.max_skip.min(len);
    for r in 0..rows {
        let row = &tokens[r * len..(r + 1) * len];
        let counts = &mut y[r * width..(r + 1) * width];
        for skip in 1..=max_skip + 1 {
            let min = if skip > 1 {
                a.min_gram.max(2)
            } else {
                a.min_gram
            };
            for p in 0..len {
                for n in min..=a.max_gram {
                    let last = p + (n - 1) * skip;
                    if last >= len {
                        break;
                    }
                    gram.clear();
                    gram.extend((0..n).map(|k| row[p + k * skip]));
                    if let Some(&c) = columns.get(gram.as_slice()) {
                        counts[c] += 1.0;
                    }
                }
            }
        }
        for (c, v) in counts.iter_mut().enumerate() {
            let w = a.weights.get(c).copied();
            *v = match a.mode {
                "TF" => *v,
                "IDF" if *v > 0.0 => w.unwrap_or(1.0),
                "IDF" => 0.0,
                _ => w.unwrap_or(1.0) * *v,
            };
        }
    }
    Ok(vec![out])
}
