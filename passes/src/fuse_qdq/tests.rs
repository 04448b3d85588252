//! Tests of the `fuse-qdq` rewrites on small QDQ graphs.

use super::*;
use ingot_ir::attr::AutoPad;
use ingot_ir::{interp, verify, TensorType};

fn scalar(g: &mut Graph, dt: DType, v: f64) -> Value {
    g.add_const(Tensor::from_f64s(dt, &[], &[v]).unwrap())
}

fn q(g: &mut Graph, x: Value, s: f64, z: f64) -> Value {
    let (s, z) = (scalar(g, DType::F32, s), scalar(g, DType::U8, z));
    let op = Op::QuantizeLinear {
        axis: 1,
        block_size: 0,
        saturate: true,
    };
    g.add_node(op, &[x, s, z]).unwrap()[0]
}

fn dq(g: &mut Graph, x: Value, s: Value, z: Value, axis: i64) -> Value {
    let op = Op::DequantizeLinear {
        axis,
        block_size: 0,
    };
    g.add_node(op, &[x, s, z]).unwrap()[0]
}

/// `x -> q -> dq -> conv(dq(w), dq(b)) [-> relu] -> q -> dq -> out`, with
/// per-channel weight scales and the bias quantized at `sx * sw`.
fn conv_qdq(relu: bool, y_zp: f64, w_zp: i64) -> Graph {
    let mut g = Graph::new("c");
    let x = g
        .add_input("x", TensorType::fixed(DType::F32, &[1, 2, 5, 5]))
        .unwrap();
    let (sx, zx) = (0.02f32, 128.0);
    let xq = q(&mut g, x, sx.into(), zx);
    let (s1, z1) = (
        scalar(&mut g, DType::F32, sx.into()),
        scalar(&mut g, DType::U8, zx),
    );
    let xd = dq(&mut g, xq, s1, z1, 1);
    let wq: Vec<i64> = (0..3 * 2 * 9).map(|i| (i * 37 % 255) - 127).collect();
    let wq = g.add_const(Tensor::from_i64s(DType::I8, &[3, 2, 3, 3], &wq).unwrap());
    let sw = [0.01f32, 0.02, 0.005];
    let ws = g.add_const(Tensor::from_vec(&[3], sw.to_vec()).unwrap());
    let wz = g.add_const(Tensor::from_i64s(DType::I8, &[3], &[w_zp; 3]).unwrap());
    let wd = dq(&mut g, wq, ws, wz, 0);
    let bq = g.add_const(Tensor::from_i64s(DType::I32, &[3], &[100, -2000, 7]).unwrap());
    let bs: Vec<f32> = sw.iter().map(|&s| sx * s).collect();
    let bs = g.add_const(Tensor::from_vec(&[3], bs).unwrap());
    let bz = g.add_const(Tensor::from_i64s(DType::I32, &[3], &[0; 3]).unwrap());
    let bd = dq(&mut g, bq, bs, bz, 0);
    let conv = Op::Conv {
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
        auto_pad: AutoPad::NotSet,
    };
    let mut y = g.add_node(conv, &[xd, wd, bd]).unwrap()[0];
    if relu {
        y = g.add_node(Op::Relu, &[y]).unwrap()[0];
    }
    let yq = q(&mut g, y, 0.05, y_zp);
    let (s2, z2) = (
        scalar(&mut g, DType::F32, 0.05),
        scalar(&mut g, DType::U8, y_zp),
    );
    let out = dq(&mut g, yq, s2, z2, 1);
    g.set_outputs(vec![out]);
    g
}

/// The pass, then DCE (as in the pipeline) for what it left unread.
fn fuse(g: &mut Graph) -> bool {
    let changed = fuse_qdq(g);
    crate::dce::dce(g);
    changed
}

fn ops(g: &Graph) -> Vec<&'static str> {
    g.order()
        .iter()
        .map(|&n| g.node(n).op.name())
        .filter(|&o| o != "const")
        .collect()
}

fn input() -> Tensor {
    Tensor::from_vec(
        &[1, 2, 5, 5],
        (0..50)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) * 0.2)
            .collect(),
    )
    .unwrap()
}

/// The rewritten graph verifies and agrees with the QDQ graph run op by
/// op within one output quantization step.
fn check_within_a_step(before: &Graph, after: &Graph, step: f64) {
    assert!(verify(after).is_ok(), "{:?}", verify(after));
    let x = input();
    let a = interp::run(before, std::slice::from_ref(&x))
        .unwrap()
        .remove(0)
        .to_f64s();
    let b = interp::run(after, &[x]).unwrap().remove(0).to_f64s();
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() <= step * 1.0001, "{u} vs {v}");
    }
}

#[test]
fn conv_group_becomes_qlinear_conv_and_relu_folds_into_the_clamp() {
    for relu in [false, true] {
        let g0 = conv_qdq(relu, 0.0, 0);
        let mut g = g0.clone();
        assert!(fuse(&mut g));
        assert_eq!(
            ops(&g),
            ["quantize_linear", "qlinear_conv", "dequantize_linear"]
        );
        check_within_a_step(&g0, &g, 0.05);
        // Idempotent.
        assert!(!fuse(&mut g));
    }
}

#[test]
fn relu_stays_when_the_zero_point_is_not_the_minimum() {
    let g0 = conv_qdq(true, 10.0, 0);
    let mut g = g0.clone();
    fuse(&mut g);
    // The conv keeps its float form (the weight folded to f32).
    assert!(
        ops(&g).contains(&"conv") && ops(&g).contains(&"relu"),
        "{:?}",
        ops(&g)
    );
    assert!(!ops(&g).contains(&"qlinear_conv"));
    check_within_a_step(&g0, &g, 0.0);
}

#[test]
fn asymmetric_weights_are_left_in_float_with_the_weight_folded() {
    let g0 = conv_qdq(false, 0.0, 3);
    let mut g = g0.clone();
    assert!(fuse(&mut g));
    let o = ops(&g);
    assert!(o.contains(&"conv") && !o.contains(&"qlinear_conv"), "{o:?}");
    // Only the activation's quantize/dequantize remain; the weight and
    // bias dequantizes are constants now.
    assert_eq!(o.iter().filter(|&&n| n == "dequantize_linear").count(), 2);
    check_within_a_step(&g0, &g, 0.0);
}

#[test]
fn requantize_of_a_dequantize_cancels_only_with_equal_parameters() {
    for (s2, cancels) in [(0.02, true), (0.03, false)] {
        let mut g = Graph::new("r");
        let x = g
            .add_input("x", TensorType::fixed(DType::U8, &[4]))
            .unwrap();
        let (s, z) = (
            scalar(&mut g, DType::F32, 0.02),
            scalar(&mut g, DType::U8, 3.0),
        );
        let d = dq(&mut g, x, s, z, 1);
        let y = q(&mut g, d, s2, 3.0);
        g.set_outputs(vec![y]);
        let before = g.clone();
        fuse(&mut g);
        assert_eq!(ops(&g).is_empty(), cancels, "{:?}", ops(&g));
        let t = Tensor::from_i64s(DType::U8, &[4], &[0, 3, 200, 255]).unwrap();
        assert_eq!(
            interp::run(&before, std::slice::from_ref(&t)).unwrap(),
            interp::run(&g, &[t]).unwrap()
        );
    }
}

#[test]
fn float_gemm_of_dequantized_operands_becomes_an_f32_qgemm() {
    let mut g = Graph::new("m");
    let x = g
        .add_input("x", TensorType::fixed(DType::F32, &[3, 4]))
        .unwrap();
    let xq = q(&mut g, x, 0.1, 128.0);
    let (s, z) = (
        scalar(&mut g, DType::F32, 0.1),
        scalar(&mut g, DType::U8, 128.0),
    );
    let xd = dq(&mut g, xq, s, z, 1);
    let wq =
        g.add_const(Tensor::from_i64s(DType::I8, &[2, 4], &[1, -2, 3, -4, 5, 6, -7, 8]).unwrap());
    let ws = g.add_const(Tensor::from_vec(&[2], vec![0.5f32, 0.25]).unwrap());
    let wz = g.add_const(Tensor::from_i64s(DType::I8, &[2], &[0, 0]).unwrap());
    let wd = dq(&mut g, wq, ws, wz, 0);
    let b = g.add_const(Tensor::from_vec(&[2], vec![0.3f32, -0.1]).unwrap());
    let gemm = Op::Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b: true,
    };
    let y = g.add_node(gemm, &[xd, wd, b]).unwrap()[0];
    g.set_outputs(vec![y]);
    let before = g.clone();
    fuse(&mut g);
    assert_eq!(ops(&g), ["quantize_linear", "qgemm"]);
    assert!(verify(&g).is_ok());
    let t = Tensor::from_vec(&[3, 4], (0..12).map(|i| i as f32 * 0.3 - 1.5).collect()).unwrap();
    let a = interp::run(&before, std::slice::from_ref(&t))
        .unwrap()
        .remove(0)
        .to_f64s();
    let c = interp::run(&g, &[t]).unwrap().remove(0).to_f64s();
    // The float bias is requantized at x_scale * w_scale: within half
    // of that unit (0.1 * 0.25 / 2), plus f32 rounding.
    for (u, v) in a.iter().zip(&c) {
        assert!((u - v).abs() <= 0.0126, "{u} vs {v}");
    }
}

#[test]
fn residual_add_group_becomes_qlinear_add_bit_exactly() {
    for relu in [false, true] {
        let mut g = Graph::new("r");
        let ty = TensorType::fixed(DType::U8, &[2, 8]);
        let a = g.add_input("a", ty.clone()).unwrap();
        let b = g.add_input("b", ty).unwrap();
        let (sa, za) = (
            scalar(&mut g, DType::F32, 0.031),
            scalar(&mut g, DType::U8, 3.0),
        );
        let (sb, zb) = (
            scalar(&mut g, DType::F32, 0.017),
            scalar(&mut g, DType::U8, 200.0),
        );
        let da = dq(&mut g, a, sa, za, 1);
        let db = dq(&mut g, b, sb, zb, 1);
        let mut y = g.add_node(Op::Add, &[da, db]).unwrap()[0];
        if relu {
            y = g.add_node(Op::Relu, &[y]).unwrap()[0];
        }
        let out = q(&mut g, y, 0.045, 0.0);
        g.set_outputs(vec![out]);
        let before = g.clone();
        assert!(fuse(&mut g));
        assert_eq!(ops(&g), ["qlinear_add"]);
        let ta = Tensor::from_i64s(
            DType::U8,
            &[2, 8],
            &(0..16).map(|i| i * 17).collect::<Vec<_>>(),
        )
        .unwrap();
        let tb = Tensor::from_i64s(
            DType::U8,
            &[2, 8],
            &(0..16).map(|i| 255 - i * 13).collect::<Vec<_>>(),
        )
        .unwrap();
        let ins = [ta, tb];
        assert_eq!(
            interp::run(&before, &ins).unwrap(),
            interp::run(&g, &ins).unwrap()
        );
    }
}

/// `x (u8) -> dq -> global_average_pool [-> flatten] -> q -> dq -> out`.
fn gap_qdq(flatten: bool) -> Graph {
    let mut g = Graph::new("gap");
    let x = g
        .add_input("x", TensorType::fixed(DType::U8, &[4, 64, 7, 7]))
        .unwrap();
    let (sx, zx) = (
        scalar(&mut g, DType::F32, 0.023),
        scalar(&mut g, DType::U8, 131.0),
    );
    let xd = dq(&mut g, x, sx, zx, 1);
    let mut y = g.add_node(Op::GlobalAveragePool, &[xd]).unwrap()[0];
    if flatten {
        y = g.add_node(Op::Flatten { axis: 1 }, &[y]).unwrap()[0];
    }
    let yq = q(&mut g, y, 0.0071, 119.0);
    let (sy, zy) = (
        scalar(&mut g, DType::F32, 0.0071),
        scalar(&mut g, DType::U8, 119.0),
    );
    let out = dq(&mut g, yq, sy, zy, 1);
    g.set_outputs(vec![out]);
    g
}

/// Planes of random bytes, each skewed so the means spread over y's range.
fn gap_input() -> Tensor {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let v: Vec<i64> = (0..4 * 64 * 49)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let plane = (i / 49) as i64;
            (s >> 40) as i64 % 96 + plane * 3 % 160
        })
        .collect();
    Tensor::from_i64s(DType::U8, &[4, 64, 7, 7], &v).unwrap()
}

#[test]
fn global_average_pool_group_becomes_qlinear_global_average_pool() {
    for flatten in [false, true] {
        let before = gap_qdq(flatten);
        let mut g = before.clone();
        assert!(fuse(&mut g));
        assert!(verify(&g).is_ok(), "{:?}", verify(&g));
        let want: &[&str] = if flatten {
            &[
                "qlinear_global_average_pool",
                "flatten",
                "dequantize_linear",
            ]
        } else {
            &["qlinear_global_average_pool", "dequantize_linear"]
        };
        assert_eq!(ops(&g), want);
        // The integer sum requantized once vs the f32 mean quantized: at
        // most one step of y apart.
        let x = gap_input();
        let a = interp::run(&before, std::slice::from_ref(&x)).unwrap();
        let b = interp::run(&g, &[x]).unwrap();
        assert_eq!(a[0].shape(), b[0].shape());
        let (a, b) = (a[0].to_f64s(), b[0].to_f64s());
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() <= 0.0071 * 1.0001, "{u} vs {v}");
        }
        // The means are not all saturated (the comparison means something).
        assert!(b.iter().any(|&v| v.abs() > 0.1) && b.iter().any(|&v| v.abs() < 0.8));
    }
}

#[test]
fn global_average_pool_with_a_second_float_user_stays() {
    // The f32 mean is also a graph output: it must still be computed, so
    // the group is not rewritten.
    let mut g = gap_qdq(false);
    let gap = g
        .order()
        .iter()
        .find(|&&n| matches!(g.node(n).op, Op::GlobalAveragePool))
        .copied()
        .unwrap();
    let mean = g.node(gap).outputs[0];
    let mut outs = g.outputs().to_vec();
    outs.push(mean);
    g.set_outputs(outs);
    let before = ops(&g);
    fuse(&mut g);
    assert_eq!(ops(&g), before);
    // Nor through a flatten whose input another op also reads.
    let mut g = gap_qdq(true);
    let gap = g
        .order()
        .iter()
        .find(|&&n| matches!(g.node(n).op, Op::GlobalAveragePool))
        .copied()
        .unwrap();
    let mean = g.node(gap).outputs[0];
    let r = g.add_node(Op::Relu, &[mean]).unwrap()[0];
    let mut outs = g.outputs().to_vec();
    outs.push(r);
    g.set_outputs(outs);
    let before = ops(&g);
    fuse(&mut g);
    assert_eq!(ops(&g), before);
}
