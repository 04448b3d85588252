//! Unit tests for the vision interpreter: edge cases the filetests do not
//! reach (reflection folding, error paths, degenerate inputs).

use super::eval;
use super::grid::padding;
use crate::attr::ResizeMode;
use crate::op::Op;
use crate::tensor::Tensor;

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}
fn i64s(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_slice(shape, v).unwrap()
}
fn one(op: &Op, x: &[&Tensor]) -> Result<Tensor, String> {
    eval(op, x).map(|mut v| v.remove(0))
}

fn gs(mode: ResizeMode, pad: &str, align_corners: bool) -> Op {
    Op::GridSample {
        mode,
        padding_mode: pad.into(),
        align_corners,
    }
}

#[test]
fn reflection_folds_far_coordinates_back() {
    // A 1-D row [10, 20, 30] sampled (nearest, align_corners) far outside:
    // the border region is [0, 2] and reflection about it has period 4.
    let x = f32s(&[1, 1, 3], &[10.0, 20.0, 30.0]);
    // normalized n -> pixel (n+1) with d = 3: pixels 5, -3, 6, 3.
    let g = f32s(&[1, 4, 1], &[4.0, -4.0, 5.0, 2.0]);
    let y = one(&gs(ResizeMode::Nearest, "reflection", true), &[&x, &g]).unwrap();
    // 5 -> 5 mod 4 = 1 -> 20; -3 -> 1 -> 20; 6 -> 2 -> 30; 3 -> 1 -> 20.
    assert_eq!(y.to_f64s(), vec![20.0, 20.0, 30.0, 20.0]);
    assert_eq!(y.shape(), &[1, 1, 4]);
    let y = one(&gs(ResizeMode::Nearest, "border", true), &[&x, &g]).unwrap();
    assert_eq!(y.to_f64s(), vec![30.0, 10.0, 30.0, 30.0]);
}

#[test]
fn grid_sample_rejects_bad_operands() {
    let x = f32s(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let g3 = f32s(&[1, 1, 1, 3], &[0.0; 3]);
    let e = one(&gs(ResizeMode::Linear, "zeros", false), &[&x, &g3]).unwrap_err();
    assert!(e.contains("do not fit"), "{e}");
    let g = f32s(&[1, 1, 1, 2], &[0.0; 2]);
    let e = one(&gs(ResizeMode::Linear, "mirror", false), &[&x, &g]).unwrap_err();
    assert!(e.contains("padding_mode"), "{e}");
    assert!(padding("zeros").is_ok());
    let empty = Tensor::zeros(crate::DType::F32, &[1, 1, 0, 2]).unwrap();
    let e = one(&gs(ResizeMode::Linear, "border", false), &[&empty, &g]).unwrap_err();
    assert!(e.contains("empty spatial axis"), "{e}");
    // An empty grid on an empty input is fine.
    let eg = Tensor::zeros(crate::DType::F32, &[1, 0, 1, 2]).unwrap();
    let y = one(&gs(ResizeMode::Linear, "border", false), &[&empty, &eg]).unwrap();
    assert_eq!(y.shape(), &[1, 1, 0, 1]);
    // NaN coordinates give a value (no panic).
    let gn = f32s(&[1, 1, 1, 2], &[f32::NAN, 0.0]);
    for pad in ["zeros", "border", "reflection"] {
        for mode in [ResizeMode::Nearest, ResizeMode::Linear, ResizeMode::Cubic] {
            one(&gs(mode, pad, false), &[&x, &gn]).unwrap();
        }
    }
}

#[test]
fn nms_orders_ties_by_index_and_survives_nan() {
    let op = Op::NonMaxSuppression {
        center_point_box: false,
    };
    // Three disjoint boxes; boxes 0 and 2 tie on score.
    let b = f32s(
        &[1, 3, 4],
        &[0., 0., 1., 1., 0., 2., 1., 3., 0., 4., 1., 5.],
    );
    let s = f32s(&[1, 1, 3], &[0.5, 0.2, 0.5]);
    let m = i64s(&[1], &[3]);
    let y = one(&op, &[&b, &s, &m]).unwrap();
    assert_eq!(y.to_i64s(), vec![0, 0, 0, 0, 0, 2, 0, 0, 1]);
    // No max_output: nothing.
    assert_eq!(one(&op, &[&b, &s]).unwrap().shape(), &[0, 3]);
    let sn = f32s(&[1, 1, 3], &[f32::NAN, 0.2, 0.5]);
    assert_eq!(one(&op, &[&b, &sn, &m]).unwrap().shape(), &[3, 3]);
    let bad = f32s(&[1, 1, 4], &[0.0; 4]);
    let e = one(&op, &[&b, &bad]).unwrap_err();
    assert!(e.contains("do not fit"), "{e}");
}

#[test]
fn roi_align_refuses_absurd_sampling_grids() {
    let op = Op::RoiAlign {
        mode: "avg".into(),
        coordinate_transformation_mode: "output_half_pixel".into(),
        output_height: 1,
        output_width: 1,
        sampling_ratio: 0,
        spatial_scale: 1.0,
    };
    let x = f32s(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let r = f32s(&[1, 4], &[0.0, 0.0, 1e30, 1e30]);
    let i = i64s(&[1], &[0]);
    let e = one(&op, &[&x, &r, &i]).unwrap_err();
    assert!(e.contains("sampling grid"), "{e}");
    let mut bad = op.clone();
    if let Op::RoiAlign { mode, .. } = &mut bad {
        *mode = "median".into();
    }
    let r = f32s(&[1, 4], &[0.0, 0.0, 1.0, 1.0]);
    assert!(one(&bad, &[&x, &r, &i]).unwrap_err().contains("mode"));
}

#[test]
fn deform_conv_in_1d_and_shape_errors() {
    let op = Op::DeformConv {
        strides: vec![1],
        pads: vec![0, 0],
        dilations: vec![1],
        group: 1,
        offset_group: 1,
    };
    // A 1-D kernel [1, 1] over [1, 2, 3]; the second output's first tap
    // moves by +0.5 (between 2 and 3), the first's second tap by +2 (outside).
    let x = f32s(&[1, 1, 3], &[1.0, 2.0, 3.0]);
    let w = f32s(&[1, 1, 2], &[1.0, 1.0]);
    let off = f32s(&[1, 2, 2], &[0.0, 0.5, 2.0, 0.0]);
    let y = one(&op, &[&x, &w, &off]).unwrap();
    assert_eq!(y.to_f64s(), vec![1.0, 2.5 + 3.0]);
    let off_bad = f32s(&[1, 2, 3], &[0.0; 6]);
    let e = one(&op, &[&x, &w, &off_bad]).unwrap_err();
    assert!(e.contains("dilations give 2"), "{e}");
}

#[test]
fn max_unpool_and_col2im_errors() {
    let op = Op::MaxUnpool {
        kernel_shape: vec![2],
        strides: vec![2],
        pads: vec![],
    };
    let x = f32s(&[1, 1, 2], &[5.0, 6.0]);
    let i = i64s(&[1, 1, 2], &[1, 2]);
    assert_eq!(
        one(&op, &[&x, &i]).unwrap().to_f64s(),
        vec![0.0, 5.0, 6.0, 0.0]
    );
    let small = i64s(&[3], &[1, 1, 3]);
    let e = one(&op, &[&x, &i, &small]).unwrap_err();
    assert!(e.contains("at least the inferred"), "{e}");
    let neg = i64s(&[1, 1, 2], &[-1, 2]);
    assert!(one(&op, &[&x, &neg]).unwrap_err().contains("out of"));

    let ci = Op::Col2Im {
        strides: vec![],
        pads: vec![],
        dilations: vec![],
    };
    let d = f32s(&[1, 3, 1], &[1.0, 2.0, 3.0]);
    let img = i64s(&[1], &[2]);
    let blk = i64s(&[1], &[2]);
    let e = one(&ci, &[&d, &img, &blk]).unwrap_err();
    assert!(e.contains("not a multiple"), "{e}");
    let blk0 = i64s(&[1], &[0]);
    assert!(one(&ci, &[&d, &img, &blk0]).is_err());
}

#[test]
fn affine_grid_checks_theta_against_size() {
    let op = Op::AffineGrid {
        align_corners: false,
    };
    let th = f32s(&[1, 2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let size = i64s(&[5], &[1, 1, 2, 2, 2]);
    assert!(one(&op, &[&th, &size]).unwrap_err().contains("do not fit"));
    let size = i64s(&[4], &[2, 1, 2, 2]);
    assert!(one(&op, &[&th, &size]).unwrap_err().contains("N = 2"));
    // A one-pixel grid sits at the centre.
    let size = i64s(&[4], &[1, 1, 1, 1]);
    assert_eq!(one(&op, &[&th, &size]).unwrap().to_f64s(), vec![0.0, 0.0]);
}
