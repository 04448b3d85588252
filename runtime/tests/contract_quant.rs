//! The quantized contraction kernels (`qlinear_conv`, `conv_integer`,
//! `qlinear_matmul`, `matmul_integer`) and the integer global average pool
//! (`qlinear_global_average_pool`) against the interpreter, built through
//! `contraction_kernel` / `movement_kernel` as the compiler builds them.
//!
//! Every result is integer and must be bit-identical to the interpreter's
//! (no tolerance); every case runs with 1 and 2 threads, into a result
//! pre-filled with garbage so unwritten elements show. Unsupported
//! configurations must be refused with an error, never a panic.
//! The case builders are in `quant_common.rs`; the benchmark is
//! `quant_bench.rs`.

mod quant_common;

use ingot_ir::attr::AutoPad;
use ingot_ir::{DType, Op, Tensor};
use ingot_runtime::kernels::contraction_kernel;
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::Arg;
use proptest::prelude::*;
use quant_common::*;

#[test]
fn qconv_3x3_pads_strides() {
    for (s, p) in [(1, 1), (2, 1), (1, 0), (2, 0), (3, 2)] {
        let mut c = conv(&[1, 3, 17, 31], &[5, 3, 3, 3]);
        c.strides = vec![s, s];
        c.pads = vec![p, p, p, p];
        assert!(c.check(1).contains("im2col"));
    }
    // Dilated 5x5 at stride 2 with asymmetric pads, batch 2, 40 channels.
    let mut c = conv(&[2, 40, 23, 20], &[24, 40, 5, 5]);
    c.strides = vec![2, 2];
    c.dilations = vec![2, 1];
    c.pads = vec![3, 0, 1, 2];
    c.check(4);
    // A 7x7 plane with 64 channels (depth 576), batch 3.
    let mut c = conv(&[3, 64, 7, 7], &[32, 64, 3, 3]);
    c.pads = vec![1, 1, 1, 1];
    c.check(5);
}

#[test]
fn qconv_asymmetric_pads_dilations_auto_pad() {
    let mut c = conv(&[3, 4, 13, 9], &[6, 4, 3, 2]);
    c.pads = vec![0, 1, 2, 3];
    c.dilations = vec![2, 3];
    c.strides = vec![1, 2];
    c.check(2);
    c.bias = false;
    c.check(3);
    for ap in [AutoPad::SameUpper, AutoPad::SameLower, AutoPad::Valid] {
        for s in [1, 2] {
            let mut c = conv(&[2, 3, 10, 7], &[4, 3, 4, 3]);
            c.auto_pad = ap;
            c.strides = vec![s, s];
            c.check(4);
        }
    }
}

/// Every combination of input/output type, per-tensor or per-channel
/// scales, bias, and zero points at the ends of their ranges; padding
/// taps must read as the input's zero point.
#[test]
fn qconv_types_zero_points_scales() {
    for x_dt in [DType::U8, DType::I8] {
        for y_dt in [DType::U8, DType::I8] {
            let x_zps: &[i64] = if x_dt == DType::U8 {
                &[0, 128, 255]
            } else {
                &[-128, 0, 127]
            };
            let y_zps: &[i64] = if y_dt == DType::U8 {
                &[0, 128, 255]
            } else {
                &[-128, 0, 127]
            };
            for (i, (&xz, &yz)) in x_zps.iter().zip(y_zps).enumerate() {
                for per_channel in [false, true] {
                    let mut c = conv(&[2, 5, 9, 11], &[7, 5, 3, 3]);
                    c.pads = vec![2, 1, 1, 2];
                    (c.x_dt, c.y_dt, c.x_zp, c.y_zp) = (x_dt, y_dt, xz, yz);
                    c.per_channel = per_channel;
                    c.bias = i != 1;
                    c.check(10 + i as u64);
                }
            }
        }
    }
}

#[test]
fn qconv_grouped_pointwise_depthwise() {
    let mut c = conv(&[2, 6, 11, 11], &[9, 2, 3, 3]);
    c.group = 3;
    c.pads = vec![1, 1, 1, 1];
    assert!(c.check(5).contains("im2col"));
    c.strides = vec![2, 2];
    c.x_dt = DType::I8;
    c.x_zp = -5;
    c.check(6);
    // Pointwise: plain GEMM, also grouped, also with i8 input.
    let mut c = conv(&[2, 17, 7, 9], &[31, 17, 1, 1]);
    assert!(c.check(9).contains("pointwise"));
    c.x_dt = DType::I8;
    c.x_zp = 100;
    c.y_dt = DType::I8;
    c.y_zp = -7;
    c.check(10);
    let mut c = conv(&[1, 8, 5, 5], &[4, 4, 1, 1]);
    c.group = 2;
    assert!(c.check(10).contains("pointwise"));
    // Strided or padded 1x1 goes through im2col.
    let mut c = conv(&[1, 8, 5, 5], &[4, 8, 1, 1]);
    c.strides = vec![2, 2];
    assert!(c.check(11).contains("im2col"));
    // Depthwise: strides, dilations, widths with vector tails, a channel
    // multiplier of 2, i8 in and out, no bias.
    for (s, d, wd) in [(1, 1, 19), (2, 1, 19), (1, 2, 19), (1, 1, 75), (2, 1, 75)] {
        let mut c = conv(&[2, 8, 17, wd], &[8, 1, 3, 3]);
        c.group = 8;
        c.pads = vec![1, 1, 1, 1];
        c.strides = vec![s, s];
        c.dilations = vec![d, d];
        assert!(c.check(7).contains("depthwise"));
    }
    let mut c = conv(&[1, 3, 9, 8], &[6, 1, 5, 5]);
    c.group = 3;
    c.pads = vec![2, 1, 2, 1];
    c.bias = false;
    c.x_dt = DType::I8;
    c.x_zp = 127;
    c.y_dt = DType::I8;
    c.y_zp = -128;
    assert!(c.check(8).contains("depthwise"));
    let mut c = conv(&[1, 40, 7, 7], &[40, 1, 3, 3]);
    c.group = 40;
    c.pads = vec![1, 1, 1, 1];
    c.per_channel = false;
    c.x_zp = 255;
    assert!(c.check(12).contains("depthwise"));
}

#[test]
fn qconv_1d_3d_and_batches() {
    let mut c = conv(&[2, 3, 31], &[4, 3, 5]);
    c.pads = vec![2, 1];
    c.strides = vec![2];
    c.check(12);
    let mut c = conv(&[1, 2, 5, 6, 7], &[3, 2, 3, 2, 3]);
    c.pads = vec![1, 0, 1, 1, 1, 0];
    c.dilations = vec![1, 2, 1];
    c.check(13);
    let mut c = conv(&[1, 4, 5, 6, 7], &[4, 1, 3, 3, 3]);
    c.group = 4;
    c.pads = vec![1; 6];
    assert!(c.check(14).contains("depthwise"));
}

/// Big enough that two threads split one image (by columns, and by
/// channels on a small plane).
#[test]
fn qconv_big_enough_to_split() {
    let mut c = conv(&[1, 16, 40, 40], &[32, 16, 3, 3]);
    c.pads = vec![1, 1, 1, 1];
    c.check(14);
    let c = conv(&[1, 64, 30, 30], &[64, 64, 1, 1]);
    c.check(15);
    let mut c = conv(&[1, 128, 7, 7], &[128, 128, 3, 3]);
    c.pads = vec![1, 1, 1, 1];
    c.x_dt = DType::I8;
    c.x_zp = 0;
    c.check(16);
    let mut c = conv(&[1, 64, 28, 28], &[64, 1, 3, 3]);
    c.group = 64;
    c.pads = vec![1, 1, 1, 1];
    c.check(17);
}

#[test]
fn conv_integer_i32_results() {
    for (x_dt, zp) in [
        (DType::U8, 0),
        (DType::U8, 255),
        (DType::I8, -128),
        (DType::I8, 9),
    ] {
        let mut c = conv(&[2, 6, 10, 9], &[8, 3, 3, 3]);
        c.integer = true;
        c.group = 2;
        c.pads = vec![1, 0, 2, 1];
        (c.x_dt, c.x_zp) = (x_dt, zp);
        assert!(c.check(20).contains("im2col"));
        let mut c = conv(&[1, 5, 6, 7], &[5, 1, 3, 3]);
        c.integer = true;
        c.group = 5;
        c.pads = vec![1; 4];
        (c.x_dt, c.x_zp) = (x_dt, zp);
        assert!(c.check(21).contains("depthwise"));
        let mut c = conv(&[1, 9, 6, 7], &[5, 9, 1, 1]);
        c.integer = true;
        (c.x_dt, c.x_zp) = (x_dt, zp);
        assert!(c.check(22).contains("pointwise"));
    }
}

/// Symmetric u8 weights (zero point 128), per tensor and per channel, and
/// i8 weights with small nonzero per-channel zero points: shifted to i8
/// once at construction.
#[test]
fn qconv_shiftable_weight_zero_points() {
    for per_channel in [false, true] {
        let mut c = conv(&[1, 4, 8, 8], &[6, 4, 3, 3]);
        c.u8_weight = true;
        c.per_channel = per_channel;
        c.pads = vec![1; 4];
        c.check(30);
        c.integer = true;
        c.check(31);
    }
    let mut c = conv(&[1, 4, 8, 8], &[3, 4, 3, 3]);
    c.pads = vec![1; 4];
    let mut ops = c.operands(32);
    // Weights in -100..=100 with zero points -20, 0, 27.
    let w: Vec<i64> = ops[3].to_i64s().iter().map(|v| v * 100 / 128).collect();
    ops[3] = ints(DType::I8, &c.w, &w);
    ops[5] = ints(DType::I8, &[3], &[-20, 0, 27]);
    let refs: Vec<&Tensor> = ops.iter().collect();
    check(&c.op(), &refs, "i8 weights, per-channel zero points");
}

/// With multiplier 0.5 every odd sum is a tie: rounding must go to even
/// exactly as the interpreter does.
#[test]
fn qconv_rounds_ties_to_even() {
    let mut c = conv(&[1, 3, 6, 6], &[4, 3, 2, 2]);
    c.bias = false;
    let mut ops = c.operands(40);
    // Small weights keep sums inside the output range.
    let w: Vec<i64> = ops[3].to_i64s().iter().map(|v| v % 3).collect();
    ops[3] = ints(DType::I8, &c.w, &w);
    ops[1] = scalar(DType::F32, 0.5);
    ops[4] = scalar(DType::F32, 1.0);
    ops[5] = scalar(DType::I8, 0.0);
    ops[6] = scalar(DType::F32, 1.0);
    let refs: Vec<&Tensor> = ops.iter().collect();
    check(&c.op(), &refs, "ties");
}

#[test]
fn qmatmul_shapes_types_zero_points() {
    for (a_dt, zps) in [(DType::U8, [0, 128, 255]), (DType::I8, [-128, 0, 127])] {
        for (y_dt, yzps) in [(DType::U8, [0, 128, 255]), (DType::I8, [-128, 0, 127])] {
            for i in 0..3 {
                for per_column in [false, true] {
                    let mut c = mat(&[2, 3, 37], 45);
                    (c.a_dt, c.y_dt, c.a_zp, c.y_zp) = (a_dt, y_dt, zps[i], yzps[i]);
                    c.per_column = per_column;
                    c.check(50 + i as u64);
                }
            }
        }
    }
    // 1-D a (one row, axis dropped); odd sizes; more than one column block
    // of b; k = 1; k = 0 (every sum empty).
    for (a, n) in [
        (vec![19], 5),
        (vec![1, 1], 1),
        (vec![7, 300], 600),
        (vec![33, 1], 17),
        (vec![3, 0], 5),
    ] {
        mat(&a, n).check(60);
    }
}

#[test]
fn matmul_integer_i32_results() {
    for (a_dt, zp) in [
        (DType::U8, 0),
        (DType::U8, 200),
        (DType::I8, -128),
        (DType::I8, 5),
    ] {
        let mut c = mat(&[3, 5, 41], 70);
        c.integer = true;
        (c.a_dt, c.a_zp) = (a_dt, zp);
        c.check(70);
        let mut c = mat(&[41], 300);
        c.integer = true;
        (c.a_dt, c.a_zp) = (a_dt, zp);
        c.check(71);
    }
}

/// Big enough that two threads split it: by rows, and (one row) by
/// column blocks.
#[test]
fn qmatmul_big_enough_to_split() {
    mat(&[64, 784], 1024).check(80);
    let mut c = mat(&[1, 2048], 1000);
    c.a_dt = DType::I8;
    c.a_zp = -3;
    c.check(81);
    let mut c = mat(&[4, 50, 96], 200);
    c.integer = true;
    c.check(82);
}

fn refused(op: &Op, ins: &[&Tensor], consts: &[bool]) -> String {
    let types: Vec<_> = ins.iter().map(|t| t.ty()).collect();
    let cs: Vec<Option<Tensor>> = ins
        .iter()
        .zip(consts)
        .map(|(t, &c)| c.then(|| (*t).clone()))
        .collect();
    match contraction_kernel(op, &types, &cs, 1, None).expect("a contraction") {
        Ok(k) => panic!("{} was built for an unsupported case", k.describe()),
        Err(e) => e,
    }
}

#[test]
fn unsupported_configurations_are_refused() {
    let c = conv(&[1, 4, 8, 8], &[6, 4, 3, 3]);
    let op = c.op();
    let ops = c.operands(90);
    let refs: Vec<&Tensor> = ops.iter().collect();
    let all = [true; 9];
    // A weight, scale, zero point or bias computed at run time.
    for (i, what) in [
        (3, "weight"),
        (4, "scale"),
        (5, "zero point"),
        (1, "scale"),
        (7, "zero point"),
        (8, "bias"),
    ] {
        let mut cs = all;
        cs[i] = false;
        let e = refused(&op, &refs, &cs);
        assert!(e.contains(what) && e.contains("not a constant"), "{e}");
    }
    // Asymmetric u8 weights (values minus the zero point leave i8).
    let mut ops2 = ops.clone();
    ops2[3] = q_tensor(DType::U8, &c.w, 91);
    ops2[5] = scalar(DType::U8, 10.0);
    let refs2: Vec<&Tensor> = ops2.iter().collect();
    let e = refused(&op, &refs2, &all);
    assert!(e.contains("outside i8"), "{e}");
    // A zero y scale: an infinite multiplier.
    let mut ops3 = ops.clone();
    ops3[6] = scalar(DType::F32, 0.0);
    let refs3: Vec<&Tensor> = ops3.iter().collect();
    assert!(refused(&op, &refs3, &all).contains("not finite"));
    // An f32 input.
    let mut ops4 = ops.clone();
    ops4[0] = Tensor::zeros(DType::F32, &c.x).unwrap();
    let refs4: Vec<&Tensor> = ops4.iter().collect();
    assert!(refused(&op, &refs4, &all).contains("u8 or i8"));
    // An epilogue.
    let types: Vec<_> = refs.iter().map(|t| t.ty()).collect();
    let cs: Vec<Option<Tensor>> = ops.iter().map(|t| Some(t.clone())).collect();
    struct Nop;
    impl ingot_runtime::RangeKernel for Nop {
        fn describe(&self) -> String {
            "nop".into()
        }
        unsafe fn run_range(&self, _: &[Arg], _: &[Arg], _: usize, _: usize) {}
    }
    let ep = ingot_runtime::kernels::Epilogue::new(std::sync::Arc::new(Nop), vec![]);
    let e = contraction_kernel(&op, &types, &cs, 1, Some(ep)).unwrap();
    assert!(e.err().unwrap().contains("epilogue"));

    // Matmul: a batched or runtime b, a per-row a scale or zero point.
    let m = mat(&[4, 6], 5);
    let mops = m.operands(92);
    let mrefs: Vec<&Tensor> = mops.iter().collect();
    let mut cs = [true; 8];
    cs[3] = false;
    assert!(refused(&m.op(), &mrefs, &cs).contains("not a constant"));
    let mut m3 = mops.clone();
    m3[3] = q_tensor(DType::I8, &[2, 6, 5], 93);
    m3[0] = q_tensor(DType::U8, &[2, 4, 6], 94);
    let r3: Vec<&Tensor> = m3.iter().collect();
    assert!(refused(&m.op(), &r3, &[true; 8]).contains("2-D b"));
    let mut mr = mops.clone();
    mr[1] = Tensor::from_vec(&[4], vec![0.1f32, 0.2, 0.3, 0.4]).unwrap();
    let rr: Vec<&Tensor> = mr.iter().collect();
    assert!(refused(&m.op(), &rr, &[true; 8]).contains("one value"));
    let mut mz = mops.clone();
    mz[2] = ints(DType::U8, &[4], &[1, 2, 3, 4]);
    let rz: Vec<&Tensor> = mz.iter().collect();
    assert!(refused(&m.op(), &rz, &[true; 8]).contains("one value"));
}

/// Run-time operands that disagree with the kernel give errors.
#[test]
fn run_time_mismatches_are_errors() {
    let c = conv(&[1, 4, 8, 8], &[6, 4, 3, 3]);
    let ops = c.operands(95);
    let refs: Vec<&Tensor> = ops.iter().collect();
    let k = build(&c.op(), &refs).unwrap();
    let want = ingot_ir::interp::eval_op(&c.op(), &refs).unwrap().remove(0);
    let x = q_tensor(DType::U8, &[1, 3, 8, 8], 1);
    let mut bad = refs.clone();
    bad[0] = &x;
    assert!(run(&*k, &bad, &want, 1)
        .unwrap_err()
        .contains("input [1, 3, 8, 8]"));
    let xi = q_tensor(DType::I8, &[1, 4, 8, 8], 1);
    bad[0] = &xi;
    assert!(run(&*k, &bad, &want, 1)
        .unwrap_err()
        .contains("built for u8"));
    let wrong = Tensor::zeros(DType::U8, &[1, 6, 7, 7]).unwrap();
    assert!(run(&*k, &refs, &wrong, 1)
        .unwrap_err()
        .contains("[1, 6, 6, 6]"));
}

fn arb_conv() -> impl Strategy<Value = QConv> {
    (
        (1usize..3, 1usize..4, 1usize..4, 1usize..4), // n, groups, cg, mg
        (1usize..4, 1usize..4, 3usize..12, 3usize..12), // kh, kw, h, w
        (1i64..3, 1i64..3, 0i64..3, 0usize..4),       // s, d, p, auto_pad mode
        (0usize..4, any::<u8>(), any::<u8>(), 0usize..8), // types, zps, flags
    )
        .prop_map(
            |((n, g, cg, mg), (kh, kw, h, w), (s, d, p, mode), (types, xz, yz, flags))| {
                let mut c = conv(&[n, g * cg, h, w], &[g * mg, cg, kh, kw]);
                c.group = g as i64;
                c.strides = vec![s, s];
                c.dilations = vec![d, 1];
                c.auto_pad = [
                    AutoPad::NotSet,
                    AutoPad::SameUpper,
                    AutoPad::Valid,
                    AutoPad::NotSet,
                ][mode];
                if c.auto_pad == AutoPad::NotSet {
                    c.pads = vec![p, 0, p.min(1), p];
                }
                c.x_dt = [DType::U8, DType::I8][types % 2];
                c.y_dt = [DType::U8, DType::I8][types / 2];
                c.x_zp = if c.x_dt == DType::U8 {
                    xz as i64
                } else {
                    xz as i8 as i64
                };
                c.y_zp = if c.y_dt == DType::U8 {
                    yz as i64
                } else {
                    yz as i8 as i64
                };
                c.per_channel = flags & 1 != 0;
                c.bias = flags & 2 != 0;
                c.integer = flags & 4 != 0;
                c
            },
        )
}

fn arb_mat() -> impl Strategy<Value = QMat> {
    (
        prop::collection::vec(1usize..5, 0..3),
        1usize..300,
        1usize..80,
        (0usize..4, any::<u8>(), any::<u8>(), 0usize..4),
    )
        .prop_map(|(lead, k, n, (types, az, yz, flags))| {
            let mut a = lead;
            a.push(k);
            let mut c = mat(&a, n);
            c.a_dt = [DType::U8, DType::I8][types % 2];
            c.y_dt = [DType::U8, DType::I8][types / 2];
            c.a_zp = if c.a_dt == DType::U8 {
                az as i64
            } else {
                az as i8 as i64
            };
            c.y_zp = if c.y_dt == DType::U8 {
                yz as i64
            } else {
                yz as i8 as i64
            };
            c.per_column = flags & 1 != 0;
            c.integer = flags & 2 != 0;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn qconv_matches_interpreter(c in arb_conv(), seed in 0u64..1000) {
        // Skip windows larger than the padded input (the interpreter
        // rejects them).
        let ops = c.operands(seed);
        let refs: Vec<&Tensor> = ops.iter().collect();
        prop_assume!(ingot_ir::interp::eval_op(&c.op(), &refs).is_ok());
        c.check(seed);
    }

    #[test]
    fn qmatmul_matches_interpreter(c in arb_mat(), seed in 0u64..1000) {
        c.check(seed);
    }
}

#[test]
fn qgap_shapes_types_zero_points() {
    for channels_last in [false, true] {
        for x_dt in [DType::U8, DType::I8] {
            for y_dt in [DType::U8, DType::I8] {
                let (xz, yz) = (
                    if x_dt == DType::U8 { 128 } else { 0 },
                    if y_dt == DType::U8 { 120 } else { -7 },
                );
                for shape in [
                    &[1, 512, 7, 7][..],
                    &[2, 3, 1, 1],
                    &[3, 5, 17],
                    &[2, 4, 3, 5, 2],
                    &[1, 1, 33, 31],
                ] {
                    let mut c = gap(shape);
                    (c.channels_last, c.x_dt, c.y_dt, c.x_zp, c.y_zp) =
                        (channels_last, x_dt, y_dt, xz, yz);
                    let d = c.check(shape.len() as u64);
                    let layout = if channels_last { "nhwc" } else { "nchw" };
                    assert!(d.contains("qlinear_global_average_pool") && d.contains(layout));
                }
                // Zero points at the ends of their ranges: mostly saturated.
                let mut c = gap(&[2, 6, 5, 5]);
                (c.channels_last, c.x_dt, c.y_dt) = (channels_last, x_dt, y_dt);
                for (xz, yz) in [(-128, 127), (127, -128), (0, 255), (255, 0)] {
                    (c.x_zp, c.y_zp) = (xz, yz);
                    let ok = |v: i64, dt: DType| {
                        (dt == DType::U8 && (0..=255).contains(&v))
                            || (dt == DType::I8 && (-128..=127).contains(&v))
                    };
                    if ok(xz, x_dt) && ok(yz, y_dt) {
                        c.check(7);
                    }
                }
            }
        }
    }
}

#[test]
fn qgap_rounds_ties_to_even_and_handles_empty_planes() {
    // M = 1 / (0.125 · 16) = 0.5 exactly: every odd sum is a tie.
    let mut c = gap(&[3, 40, 4, 4]);
    (c.y_scale, c.y_scale_exact) = (0.125 * 0.05, true);
    c.check(3);
    c.channels_last = true;
    c.check(4);
    // Empty planes (and no planes) are written as the interpreter's.
    for shape in [&[2, 3, 0, 4][..], &[0, 3, 4, 4], &[2, 0, 4, 4]] {
        for channels_last in [false, true] {
            let mut c = gap(shape);
            c.channels_last = channels_last;
            c.check(5);
        }
    }
}

#[test]
fn qgap_big_enough_to_split() {
    // 1 MB of planes: split across the pool; a 4096-element plane; one
    // batch of channels-last.
    gap(&[8, 256, 16, 32]).check(11);
    gap(&[2, 64, 64, 64]).check(12);
    let mut c = gap(&[4, 32, 32, 256]);
    c.channels_last = true;
    c.check(13);
}

#[test]
fn qgap_run_time_parameters_stay_on_the_interpreter() {
    let c = gap(&[1, 4, 3, 3]);
    let ops = c.operands(1);
    let types: Vec<_> = ops.iter().map(|t| t.ty()).collect();
    for runtime in 1..5 {
        let cs: Vec<Option<Tensor>> = ops
            .iter()
            .enumerate()
            .map(|(i, t)| (i != 0 && i != runtime).then(|| t.clone()))
            .collect();
        assert!(movement_kernel(&c.op(), &types, &cs, &[]).is_none());
    }
    // Run-time shapes or dtypes that disagree with the kernel are errors.
    let refs: Vec<&Tensor> = ops.iter().collect();
    let k = build(&c.op(), &refs).unwrap();
    let want = ingot_ir::interp::eval_op(&c.op(), &refs).unwrap().remove(0);
    let xi = q_tensor(DType::I8, &[1, 4, 3, 3], 1);
    let mut bad = refs.clone();
    bad[0] = &xi;
    assert!(run(&*k, &bad, &want, 1).unwrap_err().contains("want u8 x"));
    let wrong = Tensor::zeros(DType::U8, &[1, 4, 3, 1]).unwrap();
    assert!(run(&*k, &refs, &wrong, 1)
        .unwrap_err()
        .contains("[1, 4, 1, 1]"));
    let x2 = q_tensor(DType::U8, &[4, 9], 1);
    bad[0] = &x2;
    assert!(run(&*k, &bad, &want, 1).unwrap_err().contains("rank 3"));
}

fn arb_gap() -> impl Strategy<Value = QGap> {
    (
        prop::collection::vec(
            prop_oneof![
                Just(1usize),
                Just(2),
                Just(3),
                Just(7),
                Just(17),
                1usize..40
            ],
            3..=5,
        ),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        -128i64..=255,
        -128i64..=255,
        prop_oneof![Just(1.0f64), Just(0.1), Just(10.0), 0.01f64..5.0],
    )
        .prop_map(|(x, channels_last, xi8, yi8, xz, yz, y_scale)| {
            let x_dt = if xi8 { DType::I8 } else { DType::U8 };
            let y_dt = if yi8 { DType::I8 } else { DType::U8 };
            let fit = |v: i64, dt: DType| {
                if dt == DType::U8 {
                    v.rem_euclid(256)
                } else {
                    (v + 128).rem_euclid(256) - 128
                }
            };
            QGap {
                x,
                channels_last,
                x_dt,
                y_dt,
                x_zp: fit(xz, x_dt),
                y_zp: fit(yz, y_dt),
                y_scale,
                y_scale_exact: false,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn qgap_matches_interpreter(c in arb_gap(), seed in 0u64..1000) {
        c.check(seed);
    }
}
