//! f32 reductions, softmax and normalizations against the interpreter,
//! within `|a - b| <= 1e-5 * max(1, |b|)`; arg-reductions exactly.

mod movement_support;

use ingot_ir::{DType, Op, Tensor};
use movement_support::{check, run_kernel, tensor, Cmp};

const TOL: Cmp = Cmp::Close(1e-5);

fn f32s(shape: &[usize], seed: u64) -> Tensor {
    tensor(DType::F32, shape, seed)
}

#[test]
fn reductions_over_any_axes() {
    let shapes: &[&[usize]] = &[
        &[],
        &[17],
        &[3, 17],
        &[2, 3, 1, 17],
        &[3, 1, 2, 5, 3],
        &[3, 0, 2],
    ];
    let axes_sets: &[&[i64]] = &[&[], &[0], &[-1], &[1, 2], &[0, -1], &[0, 2, 3]];
    for shape in shapes {
        let x = f32s(shape, 3);
        for axes in axes_sets {
            let r = shape.len() as i64;
            let norm: Vec<i64> = axes
                .iter()
                .map(|&a| if a < 0 { a + r } else { a })
                .collect();
            if axes.iter().any(|&a| a >= r || a < -r) || (norm.len() == 2 && norm[0] == norm[1]) {
                continue;
            }
            for keepdims in [true, false] {
                let a = axes.to_vec();
                for op in [
                    Op::ReduceSum {
                        axes: a.clone(),
                        keepdims,
                    },
                    Op::ReduceMean {
                        axes: a.clone(),
                        keepdims,
                    },
                    Op::ReduceMax {
                        axes: a.clone(),
                        keepdims,
                    },
                    Op::ReduceMin {
                        axes: a.clone(),
                        keepdims,
                    },
                    Op::ReduceProd {
                        axes: a.clone(),
                        keepdims,
                    },
                    Op::ReduceL1 {
                        axes: a.clone(),
                        keepdims,
                    },
                    Op::ReduceL2 {
                        axes: a.clone(),
                        keepdims,
                    },
                    Op::ReduceSumSquare {
                        axes: a.clone(),
                        keepdims,
                    },
                ] {
                    check(&op, &[&x], TOL);
                }
            }
        }
    }
    // Threaded: outer kept axis.
    let big = f32s(&[64, 128, 17], 1);
    check(
        &Op::ReduceMean {
            axes: vec![-1],
            keepdims: true,
        },
        &[&big],
        TOL,
    );
    check(
        &Op::ReduceSum {
            axes: vec![1],
            keepdims: false,
        },
        &[&big],
        TOL,
    );
    check(
        &Op::ReduceMax {
            axes: vec![0],
            keepdims: false,
        },
        &[&big],
        TOL,
    );
    // NaN sticks in max/min.
    let n = Tensor::from_vec(&[2, 3], vec![1.0f32, f32::NAN, 3.0, -1.0, 2.0, -5.0]).unwrap();
    check(
        &Op::ReduceMax {
            axes: vec![1],
            keepdims: false,
        },
        &[&n],
        TOL,
    );
    check(
        &Op::ReduceMin {
            axes: vec![0],
            keepdims: false,
        },
        &[&n],
        TOL,
    );
    let pos = Tensor::from_vec(&[2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    check(
        &Op::ReduceLogSum {
            axes: vec![1],
            keepdims: true,
        },
        &[&pos],
        TOL,
    );
}

#[test]
fn arg_max_and_min() {
    let mut v: Vec<f32> = (0..3 * 17 * 5).map(|i| ((i * 7) % 11) as f32).collect();
    v[3] = f32::NAN;
    v[40] = f32::NAN;
    v[41] = f32::NAN;
    let x = Tensor::from_vec(&[3, 17, 5], v).unwrap();
    for axis in [0, 1, -1] {
        for keepdims in [true, false] {
            for last in [true, false] {
                check(
                    &Op::ArgMax {
                        axis,
                        keepdims,
                        select_last_index: last,
                    },
                    &[&x],
                    Cmp::Exact,
                );
                check(
                    &Op::ArgMin {
                        axis,
                        keepdims,
                        select_last_index: last,
                    },
                    &[&x],
                    Cmp::Exact,
                );
            }
        }
    }
    let e = f32s(&[3, 0], 1);
    let err = run_kernel(
        &Op::ArgMax {
            axis: 1,
            keepdims: false,
            select_last_index: false,
        },
        &[&e],
        &[(DType::I64, vec![3])],
        1,
    );
    assert!(err.unwrap_err().0.contains("empty"));
    check(
        &Op::ArgMax {
            axis: 1,
            keepdims: false,
            select_last_index: false,
        },
        &[&f32s(&[0, 3], 1)],
        Cmp::Exact,
    );
}

#[test]
fn softmax_any_axis() {
    for shape in [
        &[17][..],
        &[3, 17],
        &[2, 3, 17],
        &[3, 1, 5],
        &[1],
        &[2, 0, 3],
    ] {
        let x = f32s(shape, 5);
        for axis in -(shape.len() as i64)..shape.len() as i64 {
            check(&Op::Softmax { axis }, &[&x], TOL);
            check(&Op::LogSoftmax { axis }, &[&x], TOL);
        }
    }
    // Masked attention rows (-inf), a NaN lane, an all -inf lane, big values.
    let ni = f32::NEG_INFINITY;
    let x = Tensor::from_vec(
        &[4, 4],
        vec![
            0.5,
            ni,
            1.0,
            ni,
            1.0,
            f32::NAN,
            0.0,
            2.0,
            ni,
            ni,
            ni,
            ni,
            80.0,
            -80.0,
            100.0,
            3.0,
        ],
    )
    .unwrap();
    check(&Op::Softmax { axis: 1 }, &[&x], TOL);
    check(&Op::LogSoftmax { axis: 1 }, &[&x], TOL);
    check(&Op::Softmax { axis: 0 }, &[&x], TOL);
    let big = f32s(&[12, 128, 128], 2);
    check(&Op::Softmax { axis: -1 }, &[&big], TOL);
}

#[test]
fn exp_is_accurate() {
    // Through softmax of [0, x]: the second element is e^x / (1 + e^x).
    let xs: Vec<f32> = (0..2000).map(|i| -87.0 + i as f32 * 0.0435).collect();
    let mut v = vec![];
    for &x in &xs {
        v.extend([0.0f32, x]);
    }
    let t = Tensor::from_vec(&[xs.len(), 2], v).unwrap();
    check(&Op::Softmax { axis: 1 }, &[&t], Cmp::Close(1e-6));
}

#[test]
fn normalizations() {
    for shape in [&[2, 3, 17][..], &[1, 3, 4, 5], &[3, 6], &[2, 6, 1, 1, 3]] {
        let x = f32s(shape, 1);
        let c = shape[1];
        let (s, b) = (f32s(&[c], 2), f32s(&[c], 3));
        let m = f32s(&[c], 4);
        let var = Tensor::from_vec(&[c], (0..c).map(|i| 0.5 + i as f32).collect()).unwrap();
        check(
            &Op::BatchNorm { epsilon: 1e-5 },
            &[&x, &s, &b, &m, &var],
            TOL,
        );
        check(&Op::InstanceNorm { epsilon: 1e-5 }, &[&x, &s, &b], TOL);
        for g in [1, 3] {
            check(
                &Op::GroupNorm {
                    epsilon: 1e-5,
                    num_groups: g,
                },
                &[&x, &s, &b],
                TOL,
            );
        }
        for axis in [-1, 1] {
            let a = if axis < 0 { shape.len() - 1 } else { 1 };
            let norm = &shape[a..];
            let (s, b) = (f32s(norm, 5), f32s(norm, 6));
            check(
                &Op::LayerNorm {
                    axis,
                    epsilon: 1e-5,
                },
                &[&x, &s, &b],
                TOL,
            );
            check(
                &Op::LayerNorm {
                    axis,
                    epsilon: 1e-5,
                },
                &[&x, &s],
                TOL,
            );
            // Scale broadcast from its last dim only.
            let s1 = f32s(&norm[norm.len() - 1..], 7);
            check(
                &Op::LayerNorm {
                    axis,
                    epsilon: 1e-5,
                },
                &[&x, &s1, &b],
                TOL,
            );
        }
    }
    let big = f32s(&[128, 768], 1);
    let (s, b) = (f32s(&[768], 2), f32s(&[768], 3));
    check(
        &Op::LayerNorm {
            axis: -1,
            epsilon: 1e-12,
        },
        &[&big, &s, &b],
        TOL,
    );
}
