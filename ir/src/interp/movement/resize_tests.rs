//! Resize against the ONNX reference (`onnx.reference.ReferenceEvaluator`,
//! opset 19); expected values were printed by a one-node model per case.

use super::tests::{err, f, iv, run1, vals};
use crate::attr::*;
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

fn resize_op(mode: ResizeMode) -> Op {
    Op::Resize {
        mode,
        coordinate_transformation_mode: CoordMode::HalfPixel,
        nearest_mode: NearestMode::RoundPreferFloor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        keep_aspect_ratio_policy: AspectPolicy::Stretch,
        axes: vec![],
    }
}

fn with(op: Op, edit: impl FnOnce(&mut Op)) -> Op {
    let mut op = op;
    edit(&mut op);
    op
}

fn empty_f() -> Tensor {
    Tensor::zeros(DType::F32, &[0]).unwrap()
}
fn empty_i() -> Tensor {
    Tensor::zeros(DType::I64, &[0]).unwrap()
}

fn check_resize(
    op: Op,
    x: &Tensor,
    roi: &[f32],
    scales: &[f32],
    sizes: &[i64],
    shape: &[usize],
    want: &[f64],
) {
    let roi = if roi.is_empty() {
        empty_f()
    } else {
        f(&[roi.len()], roi)
    };
    let sc = if scales.is_empty() {
        empty_f()
    } else {
        f(&[scales.len()], scales)
    };
    let sz = if sizes.is_empty() {
        empty_i()
    } else {
        iv(sizes)
    };
    let y = run1(op, &[x, &roi, &sc, &sz]);
    assert_eq!(y.shape(), shape);
    for (k, (a, b)) in vals(&y).iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 + 1e-5 * b.abs(),
            "element {k}: {a} vs {b}"
        );
    }
}

fn x4() -> Tensor {
    Tensor::from_vec(&[1, 1, 4, 4], (1..=16).map(|i| i as f32).collect()).unwrap()
}
fn x22() -> Tensor {
    f(&[1, 1, 2, 2], &[1., 2., 3., 4.])
}

#[test]
fn resize_nearest_and_linear() {
    let op = with(resize_op(ResizeMode::Nearest), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            nearest_mode,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::Asymmetric;
            *nearest_mode = NearestMode::Floor;
        }
    });
    let want = [
        1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2., 3., 3., 3., 4., 4., 4., 3., 3., 3., 4., 4.,
        4.,
    ];
    check_resize(
        op,
        &x22(),
        &[],
        &[1., 1., 2., 3.],
        &[],
        &[1, 1, 4, 6],
        &want,
    );
    let want = [
        1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
    ];
    check_resize(
        resize_op(ResizeMode::Linear),
        &x22(),
        &[],
        &[],
        &[1, 1, 4, 4],
        &[1, 1, 4, 4],
        &want,
    );
    let op = with(resize_op(ResizeMode::Linear), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::PytorchHalfPixel;
        }
    });
    let want = [1.1666666269302368, 2.5, 3.8333332538604736];
    check_resize(op, &x4(), &[], &[], &[1, 1, 1, 3], &[1, 1, 1, 3], &want);
    let op = with(resize_op(ResizeMode::Linear), |o| {
        if let Op::Resize { antialias, .. } = o {
            *antialias = true;
        }
    });
    let want = [
        2.3636362552642822,
        3.590909004211426,
        4.818181991577148,
        7.2727274894714355,
        8.5,
        9.727272987365723,
        12.181818008422852,
        13.409090995788574,
        14.636363983154297,
    ];
    check_resize(op, &x4(), &[], &[], &[1, 1, 3, 3], &[1, 1, 3, 3], &want);
    // u8 rounds half to even and saturates.
    let xi = Tensor::from_slice(&[1, 4], &[0u8, 10, 255, 3]).unwrap();
    let y = run1(
        resize_op(ResizeMode::Linear),
        &[&xi, &empty_f(), &f(&[2], &[1., 1.5]), &empty_i()],
    );
    assert_eq!(y.to_i64s(), [0, 5, 51, 214, 129, 3]);
}

#[test]
fn resize_cubic_crop_and_aspect() {
    let op = with(resize_op(ResizeMode::Cubic), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::AlignCorners;
        }
    });
    let want = [1.0, 3.199707508087158, 9.79883098602295, 11.998536109924316];
    check_resize(
        op,
        &x4(),
        &[],
        &[1., 1., 0.6, 0.6],
        &[],
        &[1, 1, 2, 2],
        &want,
    );
    let want = [
        0.68359375, 1.015625, 1.5625, 1.89453125, 1.34765625, 1.6796875, 2.2265625, 2.55859375,
        2.44140625, 2.7734375, 3.3203125, 3.65234375, 3.10546875, 3.4375, 3.984375, 4.31640625,
    ];
    check_resize(
        resize_op(ResizeMode::Cubic),
        &x22(),
        &[],
        &[1., 1., 2., 2.],
        &[],
        &[1, 1, 4, 4],
        &want,
    );
    let op = with(resize_op(ResizeMode::Cubic), |o| {
        if let Op::Resize { antialias, .. } = o {
            *antialias = true;
        }
    });
    let want = [
        2.110241651535034,
        4.129773139953613,
        7.490234851837158,
        9.509766578674316,
        12.870226860046387,
        14.889758110046387,
    ];
    check_resize(op, &x4(), &[], &[], &[1, 1, 3, 2], &[1, 1, 3, 2], &want);
    let op = with(resize_op(ResizeMode::Cubic), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            cubic_coeff_a,
            exclude_outside,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::HalfPixelSymmetric;
            *cubic_coeff_a = -0.5;
            *exclude_outside = true;
        }
    });
    let want = [
        1.6868788003921509,
        2.219301462173462,
        2.8774149417877197,
        3.465650796890259,
        4.1237640380859375,
        4.656187057495117,
        7.015346050262451,
        7.547768592834473,
        8.20588207244873,
        8.79411792755127,
        9.452231407165527,
        9.984654426574707,
        12.343812942504883,
        12.876235961914062,
        13.53434944152832,
        14.12258529663086,
        14.780698776245117,
        15.31312084197998,
    ];
    check_resize(
        op,
        &x4(),
        &[],
        &[1., 1., 0.8, 1.7],
        &[],
        &[1, 1, 3, 6],
        &want,
    );
    let op = with(resize_op(ResizeMode::Linear), |o| {
        if let Op::Resize {
            coordinate_transformation_mode,
            extrapolation_value,
            ..
        } = o
        {
            *coordinate_transformation_mode = CoordMode::TfCropAndResize;
            *extrapolation_value = 10.0;
        }
    });
    let want = [
        7.600000381469727,
        7.75,
        7.900000095367432,
        12.40000057220459,
        12.550000190734863,
        12.700000762939453,
        10.0,
        10.0,
        10.0,
    ];
    let roi = [0., 0., 0.4, 0.6, 1., 1., 1.2, 0.7];
    check_resize(op, &x4(), &roi, &[], &[1, 1, 3, 3], &[1, 1, 3, 3], &want);
    let aspect = |policy, nearest| {
        with(resize_op(ResizeMode::Nearest), |o| {
            if let Op::Resize {
                keep_aspect_ratio_policy,
                nearest_mode,
                axes,
                ..
            } = o
            {
                *keep_aspect_ratio_policy = policy;
                *nearest_mode = nearest;
                *axes = vec![2, -1];
            }
        })
    };
    let want = [1.0, 3.0, 4.0, 9.0, 11.0, 12.0, 13.0, 15.0, 16.0];
    let op = aspect(AspectPolicy::NotLarger, NearestMode::RoundPreferCeil);
    check_resize(op, &x4(), &[], &[], &[3, 5], &[1, 1, 3, 3], &want);
    let want = [
        1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0, 7.0, 8.0, 5.0, 6.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0,
        11.0, 12.0, 13.0, 14.0, 14.0, 15.0, 16.0,
    ];
    let op = aspect(AspectPolicy::NotSmaller, NearestMode::RoundPreferFloor);
    check_resize(op, &x4(), &[], &[], &[3, 5], &[1, 1, 5, 5], &want);
}

#[test]
fn resize_errors() {
    let x = x22();
    let op = resize_op(ResizeMode::Linear);
    let both = [
        &x,
        &empty_f(),
        &f(&[4], &[1., 1., 2., 2.]),
        &iv(&[1, 1, 4, 4]),
    ];
    assert!(err(op.clone(), &both).contains("not both"));
    assert!(err(op.clone(), &[&x, &empty_f(), &empty_f(), &empty_i()]).contains("non-empty"));
    assert!(err(op.clone(), &[&x, &empty_f(), &f(&[2], &[1., 2.])]).contains("one entry per axis"));
    assert!(err(op, &[&x, &empty_f(), &f(&[4], &[1., 1., 0., 2.])]).contains("positive"));
}
