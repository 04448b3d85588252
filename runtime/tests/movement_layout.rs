//! Differential tests: native data-movement kernels vs the interpreter,
//! byte for byte, on odd shapes (1, 3, 17), ranks 0..5, negative axes,
//! empty tensors, several dtypes, serial and on 4 threads.

mod movement_support;

use ingot_ir::attr::PadMode;
use ingot_ir::{DType, Op, Tensor};
use movement_support::{check, i64s, run_kernel, tensor, vec_i64, Cmp};

const DTYPES: [DType; 5] = [DType::F32, DType::F16, DType::I64, DType::U8, DType::Bool];

#[test]
fn reshape_family_copies() {
    for dt in DTYPES {
        let x = tensor(dt, &[3, 1, 17], 1);
        check(
            &Op::Reshape { allowzero: false },
            &[&x, &vec_i64(&[17, -1])],
            Cmp::Exact,
        );
        check(&Op::Flatten { axis: -1 }, &[&x], Cmp::Exact);
        check(&Op::Squeeze { axes: vec![1] }, &[&x], Cmp::Exact);
        check(&Op::Unsqueeze { axes: vec![0, -1] }, &[&x], Cmp::Exact);
        check(&Op::Identity, &[&x], Cmp::Exact);
    }
    let e = tensor(DType::F32, &[0, 3], 2);
    check(
        &Op::Reshape { allowzero: true },
        &[&e, &vec_i64(&[3, 0])],
        Cmp::Exact,
    );
    // Big enough to split the memcpy across threads.
    let big = tensor(DType::F32, &[300, 517], 3);
    check(&Op::Flatten { axis: 1 }, &[&big], Cmp::Exact);
}

#[test]
fn transpose_every_perm_kind() {
    let cases: &[(&[usize], &[i64])] = &[
        (&[], &[]),
        (&[17], &[0]),
        (&[3, 17], &[1, 0]),
        (&[3, 17], &[]),
        (&[2, 3, 17], &[0, 2, 1]),
        (&[2, 3, 17], &[2, 0, 1]),
        (&[2, 3, 17], &[1, 0, 2]),
        (&[1, 3, 1, 17], &[3, 2, 0, 1]),
        (&[2, 3, 1, 5, 4], &[4, 0, 3, 1, 2]),
        (&[2, 0, 3], &[2, 1, 0]),
        (&[3, 17, 5], &[-1, 0, 1]),
        // Big: tiled and threaded.
        (&[67, 301], &[1, 0]),
        (&[12, 128, 64], &[1, 0, 2]),
        (&[4, 100, 130], &[0, 2, 1]),
    ];
    for dt in [DType::F32, DType::F64, DType::F16, DType::U8] {
        for (shape, perm) in cases {
            let x = tensor(dt, shape, 7);
            check(
                &Op::Transpose {
                    perm: perm.to_vec(),
                },
                &[&x],
                Cmp::Exact,
            );
        }
    }
}

#[test]
fn expand_and_tile() {
    for dt in DTYPES {
        let x = tensor(dt, &[3, 1], 4);
        check(&Op::Expand, &[&x, &vec_i64(&[2, 1, 17])], Cmp::Exact);
        check(&Op::Expand, &[&x, &vec_i64(&[1])], Cmp::Exact);
        check(&Op::Expand, &[&x, &vec_i64(&[3, 0])], Cmp::Exact);
        let s = tensor(dt, &[], 5);
        check(&Op::Expand, &[&s, &vec_i64(&[5, 3])], Cmp::Exact);
        check(
            &Op::Tile,
            &[&tensor(dt, &[3, 1, 2], 6), &vec_i64(&[2, 17, 1])],
            Cmp::Exact,
        );
        check(
            &Op::Tile,
            &[&tensor(dt, &[3, 2], 6), &vec_i64(&[0, 3])],
            Cmp::Exact,
        );
    }
    check(
        &Op::Expand,
        &[&tensor(DType::F32, &[1, 1000], 1), &vec_i64(&[300, 1])],
        Cmp::Exact,
    );
    let bad = run_kernel(
        &Op::Expand,
        &[&tensor(DType::F32, &[3], 1), &vec_i64(&[2])],
        &[(DType::F32, vec![3])],
        1,
    );
    assert!(bad.unwrap_err().0.contains("cannot expand"));
}

#[test]
fn concat_and_split() {
    for dt in DTYPES {
        let a = tensor(dt, &[2, 3, 17], 1);
        let b = tensor(dt, &[2, 1, 17], 2);
        let c = tensor(dt, &[2, 0, 17], 3);
        check(&Op::Concat { axis: 1 }, &[&a, &b, &c, &a], Cmp::Exact);
        check(&Op::Concat { axis: -2 }, &[&a, &b], Cmp::Exact);
        check(&Op::Concat { axis: 0 }, &[&a, &a], Cmp::Exact);
        check(&Op::Concat { axis: 2 }, &[&a, &a], Cmp::Exact);
        check(
            &Op::Split {
                axis: -1,
                splits: vec![1, 0, 16],
            },
            &[&a],
            Cmp::Exact,
        );
        check(
            &Op::Split {
                axis: 1,
                splits: vec![2, 1],
            },
            &[&a],
            Cmp::Exact,
        );
        check(
            &Op::Split {
                axis: 0,
                splits: vec![2],
            },
            &[&a],
            Cmp::Exact,
        );
    }
    let big = tensor(DType::F32, &[300, 400], 1);
    check(&Op::Concat { axis: 1 }, &[&big, &big], Cmp::Exact);
    check(
        &Op::Split {
            axis: 1,
            splits: vec![100, 300],
        },
        &[&big],
        Cmp::Exact,
    );
}

/// starts, ends, axes, steps.
type Window<'a> = (&'a [i64], &'a [i64], &'a [i64], &'a [i64]);

#[test]
fn slice_clamps_and_steps() {
    let x = tensor(DType::F32, &[3, 17, 5], 9);
    let cases: &[Window] = &[
        (&[0], &[2], &[0], &[1]),
        (&[1, -3], &[100, -1], &[0, 1], &[1, 1]),
        (&[-1], &[i64::MIN], &[1], &[-1]),
        (&[15, 4], &[0, -100], &[-2, -1], &[-3, -2]),
        (&[0], &[i64::MAX], &[2], &[2]),
        (&[5], &[2], &[1], &[1]),
        (&[2, 0, 0], &[3, 17, 5], &[0, 1, 2], &[1, 5, 4]),
    ];
    for dt in DTYPES {
        let x = tensor(dt, x.shape(), 9);
        for (s, e, a, st) in cases {
            let ops = [vec_i64(s), vec_i64(e), vec_i64(a), vec_i64(st)];
            check(
                &Op::Slice,
                &[&x, &ops[0], &ops[1], &ops[2], &ops[3]],
                Cmp::Exact,
            );
        }
        // Starts/ends only (axes 0.., steps 1), i32 indices.
        let s32 = Tensor::from_vec(&[2], vec![1i32, 2]).unwrap();
        let e32 = Tensor::from_vec(&[2], vec![3i32, -2]).unwrap();
        check(&Op::Slice, &[&x, &s32, &e32], Cmp::Exact);
    }
    let big = tensor(DType::F32, &[600, 600], 1);
    let ops = [
        vec_i64(&[-1, 1]),
        vec_i64(&[0, 599]),
        vec_i64(&[0, 1]),
        vec_i64(&[-1, 1]),
    ];
    check(
        &Op::Slice,
        &[&big, &ops[0], &ops[1], &ops[2], &ops[3]],
        Cmp::Exact,
    );
}

#[test]
fn gather_axes_and_index_forms() {
    for dt in DTYPES {
        let x = tensor(dt, &[3, 17, 5], 2);
        let idx = i64s(&[2, 2], &[0, -1, 16, 3]);
        check(&Op::Gather { axis: 1 }, &[&x, &idx], Cmp::Exact);
        check(
            &Op::Gather { axis: -1 },
            &[&x, &i64s(&[3], &[4, -5, 2])],
            Cmp::Exact,
        );
        check(
            &Op::Gather { axis: 0 },
            &[&x, &Tensor::scalar(-2i64)],
            Cmp::Exact,
        );
        let i32s = Tensor::from_vec(&[0], Vec::<i32>::new()).unwrap();
        check(&Op::Gather { axis: 0 }, &[&x, &i32s], Cmp::Exact);
        let i32s = Tensor::from_vec(&[1, 3], vec![2i32, 0, -3]).unwrap();
        check(&Op::Gather { axis: 0 }, &[&x, &i32s], Cmp::Exact);
    }
    // Embedding lookup, threaded.
    let table = tensor(DType::F32, &[1000, 768], 1);
    let ids: Vec<i64> = (0..128).map(|i| (i * 37) % 1000).collect();
    check(
        &Op::Gather { axis: 0 },
        &[&table, &i64s(&[1, 128], &ids)],
        Cmp::Exact,
    );
    // Out of range: an error naming the index.
    let x = tensor(DType::F32, &[3, 4], 1);
    let e = run_kernel(
        &Op::Gather { axis: 1 },
        &[&x, &vec_i64(&[1, 4])],
        &[(DType::F32, vec![3, 2])],
        1,
    )
    .unwrap_err();
    assert!(e.0.contains("index 4") && e.0.contains("indices[1]"), "{e}");
}

#[test]
fn pad_modes() {
    for mode in [
        PadMode::Constant,
        PadMode::Edge,
        PadMode::Reflect,
        PadMode::Wrap,
    ] {
        for dt in [DType::F32, DType::I64, DType::U8] {
            let x = tensor(dt, &[3, 5, 4], 3);
            for pads in [
                vec![0, 1, 2, 0, 1, 2],
                vec![1, 0, 0, 2, 3, 1],
                vec![0, -1, 2, 0, 0, -2],
                vec![0, 0, 0, 0, 0, 0],
            ] {
                check(&Op::Pad { mode }, &[&x, &vec_i64(&pads)], Cmp::Exact);
            }
            let v = tensor(dt, &[], 11);
            check(
                &Op::Pad { mode },
                &[&x, &vec_i64(&[1, 1, 1, 1, 1, 1]), &v],
                Cmp::Exact,
            );
        }
    }
    let e = tensor(DType::F32, &[0, 3], 1);
    check(
        &Op::Pad {
            mode: PadMode::Constant,
        },
        &[&e, &vec_i64(&[1, 0, 1, 0])],
        Cmp::Exact,
    );
    let s = tensor(DType::F32, &[], 1);
    check(
        &Op::Pad {
            mode: PadMode::Constant,
        },
        &[&s, &vec_i64(&[])],
        Cmp::Exact,
    );
    let big = tensor(DType::F32, &[1, 64, 112, 112], 1);
    let p = vec_i64(&[0, 0, 1, 1, 0, 0, 1, 1]);
    check(
        &Op::Pad {
            mode: PadMode::Constant,
        },
        &[&big, &p],
        Cmp::Exact,
    );
    check(
        &Op::Pad {
            mode: PadMode::Reflect,
        },
        &[&big, &p],
        Cmp::Exact,
    );
}

#[test]
fn trilu_both_ways() {
    for dt in [DType::F32, DType::Bool] {
        for shape in [&[3, 17][..], &[2, 17, 3], &[1, 4, 4], &[0, 3, 3], &[3, 0]] {
            let x = tensor(dt, shape, 5);
            for upper in [true, false] {
                check(&Op::Trilu { upper }, &[&x], Cmp::Exact);
                for k in [-20, -1, 0, 2, 30] {
                    check(
                        &Op::Trilu { upper },
                        &[&x, &Tensor::scalar(k as i64)],
                        Cmp::Exact,
                    );
                }
            }
        }
    }
}

#[test]
fn shape_size_fill_range() {
    let x = tensor(DType::F32, &[3, 0, 17, 1], 1);
    for (start, end) in [
        (0, None),
        (1, Some(-1)),
        (-2, None),
        (3, Some(1)),
        (-9, Some(9)),
    ] {
        check(&Op::Shape { start, end }, &[&x], Cmp::Exact);
    }
    check(
        &Op::Shape {
            start: 0,
            end: None,
        },
        &[&tensor(DType::F32, &[], 1)],
        Cmp::Exact,
    );
    check(&Op::Size, &[&x], Cmp::Exact);
    check(&Op::Size, &[&tensor(DType::F32, &[3, 17], 1)], Cmp::Exact);
    for v in [
        Tensor::scalar(1.5f32),
        Tensor::scalar(-3i64),
        Tensor::from_bools(&[1], &[true]).unwrap(),
    ] {
        let op = Op::ConstantOfShape { value: v };
        check(&op, &[&vec_i64(&[3, 17])], Cmp::Exact);
        check(&op, &[&vec_i64(&[])], Cmp::Exact);
        check(&op, &[&vec_i64(&[2, 0])], Cmp::Exact);
    }
    for (s, l, d) in [(0i64, 17i64, 3i64), (5, -4, -2), (3, 3, 1), (10, 0, 1)] {
        check(
            &Op::Range,
            &[&Tensor::scalar(s), &Tensor::scalar(l), &Tensor::scalar(d)],
            Cmp::Exact,
        );
        let [a, b, c] = [s, l, d].map(|v| Tensor::scalar(v as i32));
        check(&Op::Range, &[&a, &b, &c], Cmp::Exact);
    }
    for (s, l, d) in [
        (0.5f32, 17.0f32, 0.3f32),
        (1.0, -1.0, -0.25),
        (0.0, 1.0, 0.1),
    ] {
        check(
            &Op::Range,
            &[&Tensor::scalar(s), &Tensor::scalar(l), &Tensor::scalar(d)],
            Cmp::Exact,
        );
    }
}
