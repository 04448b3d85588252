//! Unit tests for vision and signal shape inference.

use crate::attr::ResizeMode;
use crate::dim::Dim;
use crate::dtype::DType;
use crate::infer::{infer, InferInput};
use crate::op::Op;
use crate::types::TensorType;

fn f32t(dims: &[Dim]) -> TensorType {
    TensorType::new(DType::F32, dims.iter().cloned())
}
fn i64t(dims: &[Dim]) -> TensorType {
    TensorType::new(DType::I64, dims.iter().cloned())
}
fn k(v: i64) -> Dim {
    Dim::Known(v)
}
fn v(name: &str) -> Dim {
    Dim::var(name)
}

/// Result types as text, or the error message.
fn run(op: Op, ins: &[(TensorType, Option<Vec<Dim>>)]) -> Result<String, String> {
    let inputs: Vec<InferInput> = ins
        .iter()
        .map(|(t, d)| InferInput {
            ty: t,
            konst: None,
            dims: d.as_deref(),
        })
        .collect();
    infer(&op, &inputs)
        .map(|ts| {
            ts.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .map_err(|e| e.to_string())
}

fn gs(padding: &str) -> Op {
    Op::GridSample {
        mode: ResizeMode::Linear,
        padding_mode: padding.into(),
        align_corners: false,
    }
}

#[test]
fn grid_sample_keeps_symbolic_dims_and_checks_the_grid() {
    let x = f32t(&[v("n"), k(3), v("h"), v("w")]);
    let g = f32t(&[v("n"), k(5), v("q"), k(2)]);
    assert_eq!(
        run(gs("zeros"), &[(x.clone(), None), (g, None)]).unwrap(),
        "f32[n,3,5,q]"
    );
    let bad = f32t(&[v("n"), k(5), v("q"), k(3)]);
    let e = run(gs("zeros"), &[(x.clone(), None), (bad, None)]).unwrap_err();
    assert!(e.contains("spatial rank"), "{e}");
    let g = f32t(&[k(1), k(5), k(5), k(2)]);
    let e = run(gs("wrap"), &[(x, None), (g, None)]).unwrap_err();
    assert!(e.contains("padding_mode"), "{e}");
}

#[test]
fn affine_grid_reads_size_values() {
    let theta = f32t(&[v("n"), k(2), k(3)]);
    let size = i64t(&[k(4)]);
    let op = Op::AffineGrid {
        align_corners: true,
    };
    let known = Some(vec![v("n"), k(3), v("h"), k(8)]);
    assert_eq!(
        run(op.clone(), &[(theta.clone(), None), (size.clone(), known)]).unwrap(),
        "f32[n,h,8,2]"
    );
    assert_eq!(
        run(op.clone(), &[(theta, None), (size.clone(), None)]).unwrap(),
        "f32[n,?,?,2]"
    );
    let theta3 = f32t(&[k(1), k(3), k(4)]);
    let e = run(op, &[(theta3, None), (size, None)]).unwrap_err();
    assert!(e.contains("theta's axis 1"), "{e}");
}

#[test]
fn nms_is_data_dependent() {
    let op = Op::NonMaxSuppression {
        center_point_box: false,
    };
    let b = f32t(&[v("b"), v("n"), k(4)]);
    let s = f32t(&[v("b"), k(2), v("n")]);
    let m = i64t(&[k(1)]);
    assert_eq!(
        run(
            op.clone(),
            &[(b.clone(), None), (s.clone(), None), (m, None)]
        )
        .unwrap(),
        "i64[?,3]"
    );
    let fm = f32t(&[k(1)]);
    let e = run(op.clone(), &[(b, None), (s, None), (fm, None)]).unwrap_err();
    assert!(e.contains("max_output_boxes_per_class"), "{e}");
    let b5 = f32t(&[k(1), k(6), k(5)]);
    let s = f32t(&[k(1), k(1), k(6)]);
    assert!(run(op, &[(b5, None), (s, None)]).is_err());
}

#[test]
fn roi_align_deform_conv_col2im_max_unpool() {
    let roi = Op::RoiAlign {
        mode: "avg".into(),
        coordinate_transformation_mode: "half_pixel".into(),
        output_height: 3,
        output_width: 4,
        sampling_ratio: 0,
        spatial_scale: 1.0,
    };
    let x = f32t(&[k(1), k(7), v("h"), v("w")]);
    let r = f32t(&[v("r"), k(4)]);
    let i = i64t(&[v("r")]);
    assert_eq!(
        run(roi, &[(x.clone(), None), (r, None), (i, None)]).unwrap(),
        "f32[r,7,3,4]"
    );

    let dc = Op::DeformConv {
        strides: vec![],
        pads: vec![],
        dilations: vec![],
        group: 1,
        offset_group: 1,
    };
    let w = f32t(&[k(5), k(7), k(2), k(2)]);
    let off = f32t(&[k(1), k(8), v("oh"), v("ow")]);
    assert_eq!(
        run(
            dc.clone(),
            &[(x.clone(), None), (w.clone(), None), (off, None)]
        )
        .unwrap(),
        "f32[1,5,oh,ow]"
    );
    let off9 = f32t(&[k(1), k(9), v("oh"), v("ow")]);
    let e = run(dc, &[(x, None), (w, None), (off9, None)]).unwrap_err();
    assert!(e.contains("offset's channels"), "{e}");

    let ci = Op::Col2Im {
        strides: vec![],
        pads: vec![],
        dilations: vec![],
    };
    let cx = f32t(&[v("n"), k(12), k(6)]);
    let shp = i64t(&[k(2)]);
    assert_eq!(
        run(
            ci.clone(),
            &[
                (cx.clone(), None),
                (shp.clone(), Some(vec![v("h"), k(4)])),
                (shp.clone(), Some(vec![k(2), k(2)]))
            ]
        )
        .unwrap(),
        "f32[n,3,h,4]"
    );
    let e = run(
        ci,
        &[
            (cx, None),
            (shp.clone(), None),
            (shp, Some(vec![k(5), k(1)])),
        ],
    )
    .unwrap_err();
    assert!(e.contains("not a multiple"), "{e}");

    let mu = Op::MaxUnpool {
        kernel_shape: vec![2, 3],
        strides: vec![2, 2],
        pads: vec![0, 1, 0, 0],
    };
    let ux = f32t(&[v("n"), k(2), v("h"), k(4)]);
    let ui = i64t(&[v("n"), k(2), v("h"), k(4)]);
    assert_eq!(
        run(mu, &[(ux, None), (ui, None)]).unwrap(),
        "f32[n,2,h*2,8]"
    );
}

#[test]
fn dft_and_stft_shapes() {
    let dft = |inverse, onesided| Op::Dft {
        axis: -2,
        inverse,
        onesided,
    };
    let x = f32t(&[k(3), v("n"), k(1)]);
    assert_eq!(
        run(dft(false, false), &[(x.clone(), None)]).unwrap(),
        "f32[3,n,2]"
    );
    assert_eq!(
        run(dft(false, true), &[(x.clone(), None)]).unwrap(),
        "f32[3,floor(n/2)+1,2]"
    );
    assert_eq!(
        run(dft(true, true), &[(x.clone(), None)]).unwrap(),
        "f32[3,n*2-2,1]"
    );
    let len = i64t(&[]);
    assert_eq!(
        run(
            dft(false, true),
            &[(x.clone(), None), (len.clone(), Some(vec![k(9)]))]
        )
        .unwrap(),
        "f32[3,5,2]"
    );
    assert_eq!(
        run(dft(false, false), &[(x.clone(), None), (len, None)]).unwrap(),
        "f32[3,?,2]"
    );
    let bad = Op::Dft {
        axis: -1,
        inverse: false,
        onesided: false,
    };
    assert!(run(bad, &[(x, None)]).unwrap_err().contains("complex axis"));
    let x3 = f32t(&[k(3), k(4), k(3)]);
    assert!(run(dft(false, false), &[(x3, None)]).is_err());

    let stft = Op::Stft { onesided: true };
    let sig = f32t(&[k(2), v("t"), k(1)]);
    let step = i64t(&[]);
    let win = f32t(&[k(16)]);
    assert_eq!(
        run(stft, &[(sig, None), (step, Some(vec![k(4)])), (win, None)]).unwrap(),
        "f32[2,floor(t-16/4)+1,9,2]"
    );
}
