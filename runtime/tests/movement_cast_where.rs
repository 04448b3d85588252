//! Cast (every dtype pair, awkward values) and Where (broadcasting, every
//! element size) against the interpreter, byte for byte.

mod movement_support;

use ingot_ir::half::{bf16, f16};
use ingot_ir::{DType, Op, Tensor};
use movement_support::{check, run_kernel, tensor, Cmp};

/// Values that probe rounding, saturation and wrapping, as each dtype.
fn awkward(dt: DType) -> Tensor {
    let f = [
        0.0,
        -0.0,
        1.5,
        -2.5,
        2.5,
        -1.7,
        255.9,
        256.0,
        -129.0,
        300.0,
        65504.0,
        65520.0,
        1e10,
        -1e10,
        3.4e38,
        1.0 + 2f64.powi(-11),
        1.0 + 3.0 * 2f64.powi(-11),
        1.0 + 2f64.powi(-8),
        2f64.powi(-25),
        2f64.powi(-24) * 1.5,
        1e-40,
        16777217.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    match dt {
        DType::F64 => {
            // Values f32 cannot hold exactly, to probe the once-rounding.
            let mut v = f.to_vec();
            v.extend([1.0 + 2f64.powi(-11) + 2f64.powi(-40), 1e300, -1e-300, 0.1]);
            Tensor::from_vec(&[v.len()], v).unwrap()
        }
        DType::F32 => Tensor::from_vec(&[f.len()], f.iter().map(|&x| x as f32).collect()).unwrap(),
        DType::F16 => {
            Tensor::from_vec(&[f.len()], f.iter().map(|&x| f16::from_f64(x)).collect()).unwrap()
        }
        DType::BF16 => {
            Tensor::from_vec(&[f.len()], f.iter().map(|&x| bf16::from_f64(x)).collect()).unwrap()
        }
        DType::Bool => Tensor::from_bytes(DType::Bool, &[4], &[0, 1, 2, 255]).unwrap(),
        _ => {
            let i = [
                0i64,
                1,
                -1,
                127,
                128,
                -129,
                255,
                256 + 7,
                65535,
                -32769,
                i32::MAX as i64 + 1,
                i64::MAX,
                i64::MIN,
                (1 << 53) + 1,
                16777217,
            ];
            Tensor::from_i64s(dt, &[i.len()], &i).unwrap()
        }
    }
}

#[test]
fn cast_every_pair() {
    for from in DType::ALL {
        let x = awkward(from);
        for to in DType::ALL {
            check(&Op::Cast { to, saturate: true }, &[&x], Cmp::Exact);
        }
        let e = Tensor::zeros(from, &[0, 3]).unwrap();
        check(
            &Op::Cast {
                to: DType::F32,
                saturate: true,
            },
            &[&e],
            Cmp::Exact,
        );
    }
    let big = tensor(DType::F32, &[300, 517], 1);
    check(
        &Op::Cast {
            to: DType::F16,
            saturate: true,
        },
        &[&big],
        Cmp::Exact,
    );
    check(
        &Op::Cast {
            to: DType::I32,
            saturate: true,
        },
        &[&big],
        Cmp::Exact,
    );
}

#[test]
fn cast_in_place() {
    // The memory plan may give the result the operand's buffer (same size).
    let x = tensor(DType::F32, &[17], 3);
    let want = ingot_ir::interp::eval_op(
        &Op::Cast {
            to: DType::I32,
            saturate: true,
        },
        &[&x],
    )
    .unwrap();
    let mut buf = x.bytes().to_vec();
    let k = ingot_runtime::kernels::movement::movement_kernel(
        &Op::Cast {
            to: DType::I32,
            saturate: true,
        },
        &[x.ty()],
        &[None],
        &[want[0].ty()],
    )
    .unwrap()
    .unwrap();
    let p = buf.as_mut_ptr();
    let a_in = ingot_runtime::Arg {
        ptr: p,
        dtype: DType::F32,
        shape: &[17],
    };
    let a_out = ingot_runtime::Arg {
        ptr: p,
        dtype: DType::I32,
        shape: &[17],
    };
    // SAFETY: one live buffer of 17 4-byte elements.
    unsafe { k.run(&[a_in], &[a_out], &ingot_runtime::Ctx { threads: 1 }) }.unwrap();
    assert_eq!(&buf[..], want[0].bytes());
}

#[test]
fn where_broadcasts() {
    let cases: &[(&[usize], &[usize], &[usize])] = &[
        (&[], &[], &[]),
        (&[3, 17], &[3, 17], &[3, 17]),
        (&[3, 1], &[17], &[]),
        (&[1, 17], &[3, 1], &[3, 17]),
        (&[2, 1, 5], &[3, 1], &[1, 1, 1, 5]),
        (&[0, 3], &[3], &[1]),
        (&[1, 1, 1], &[1], &[1, 1]),
        (&[12, 1, 128, 128], &[1, 1, 128, 128], &[]),
    ];
    for dt in [DType::F32, DType::F16, DType::I64, DType::Bool] {
        for (c, x, y) in cases {
            let cond = tensor(DType::F32, c, 1);
            let cond = Tensor::from_bools(
                c,
                &cond.to_f64s().iter().map(|v| *v > 0.0).collect::<Vec<_>>(),
            )
            .unwrap();
            check(
                &Op::Where,
                &[&cond, &tensor(dt, x, 2), &tensor(dt, y, 3)],
                Cmp::Exact,
            );
        }
    }
    let bad = run_kernel(
        &Op::Where,
        &[
            &tensor(DType::Bool, &[2], 1),
            &tensor(DType::F32, &[3], 1),
            &tensor(DType::F32, &[], 1),
        ],
        &[(DType::F32, vec![3])],
        1,
    );
    assert!(bad.unwrap_err().0.contains("do not broadcast"));
}
