//! Conv and ConvTranspose kernels against the interpreter.
//!
//! Tolerance: `|a-b| <= 1e-4 * max(1, |b|)` — f32 sums of at most a few
//! hundred products of values in [-1, 1) against the interpreter's f64.
//! Every case runs with 1 and 2 threads, with and without an epilogue.

mod contract_common;

use contract_common::*;
use ingot_ir::attr::AutoPad;
use ingot_ir::{Op, Tensor};
use ingot_runtime::kernels::conv::ConvKernel;
use ingot_runtime::kernels::Epilogue;
use ingot_runtime::Kernel;
use proptest::prelude::*;
use std::sync::Arc;

const TOL: f64 = 1e-4;

#[derive(Clone, Debug)]
struct Case {
    x: Vec<usize>,
    w: Vec<usize>,
    bias: bool,
    strides: Vec<i64>,
    pads: Vec<i64>,
    dilations: Vec<i64>,
    group: i64,
    auto_pad: AutoPad,
    transposed: bool,
    output_padding: Vec<i64>,
}

fn case(x: &[usize], w: &[usize]) -> Case {
    Case {
        x: x.to_vec(),
        w: w.to_vec(),
        bias: true,
        strides: vec![],
        pads: vec![],
        dilations: vec![],
        group: 1,
        auto_pad: AutoPad::NotSet,
        transposed: false,
        output_padding: vec![],
    }
}

impl Case {
    fn op(&self) -> Op {
        if self.transposed {
            Op::ConvTranspose {
                strides: self.strides.clone(),
                pads: self.pads.clone(),
                dilations: self.dilations.clone(),
                group: self.group,
                auto_pad: self.auto_pad,
                output_padding: self.output_padding.clone(),
                output_shape: vec![],
            }
        } else {
            Op::Conv {
                strides: self.strides.clone(),
                pads: self.pads.clone(),
                dilations: self.dilations.clone(),
                group: self.group,
                auto_pad: self.auto_pad,
            }
        }
    }

    /// Check against the interpreter; returns the kernel's description.
    fn check(&self, seed: u64) -> String {
        let op = self.op();
        let x = tensor(&self.x, seed);
        let w = tensor(&self.w, seed + 1);
        let m = if self.transposed {
            self.w[1] * self.group as usize
        } else {
            self.w[0]
        };
        let b = tensor(&[m], seed + 2);
        let mut ins: Vec<&Tensor> = vec![&x, &w];
        if self.bias {
            ins.push(&b);
        }
        let want = oracle(&op, &ins);
        let bias = self.bias.then_some(&b);
        let k = ConvKernel::new(&op, &ty(&self.x), &w, bias, None).unwrap();
        let r = tensor(want.shape(), seed + 3);
        let ep = Epilogue::new(Arc::new(ReluAdd), vec![ins.len()]);
        let ke = ConvKernel::new(&op, &ty(&self.x), &w, bias, Some(ep)).unwrap();
        let want_ep = relu_add(&want, &r);
        let mut ins_ep = ins.clone();
        ins_ep.push(&r);
        for threads in [1, 2] {
            let what = format!("{self:?} threads {threads} [{}]", k.describe());
            assert_close(&run(&k, &ins, want.shape(), threads), &want, TOL, &what);
            let got = run(&ke, &ins_ep, want.shape(), threads);
            assert_close(&got, &want_ep, TOL, &format!("{what} + epilogue"));
        }
        k.describe()
    }
}

#[test]
fn conv_3x3_pads_strides() {
    for (s, p) in [(1, 1), (2, 1), (1, 0), (2, 0), (3, 2)] {
        let mut c = case(&[1, 3, 17, 31], &[5, 3, 3, 3]);
        c.strides = vec![s, s];
        c.pads = vec![p, p, p, p];
        let d = c.check(1);
        // Strides 1 and 2 unfold implicitly on AVX-512 hosts.
        assert!(
            d.contains("im2col") || (s < 3 && d.contains("implicit")),
            "{d}"
        );
    }
    // Dilated 5x5 at stride 2 with asymmetric pads, batch 2, 40 channels
    // (the implicit path's phase planes and offsets), and a 7x7 plane.
    let mut c = case(&[2, 40, 23, 20], &[24, 40, 5, 5]);
    c.strides = vec![2, 2];
    c.dilations = vec![2, 1];
    c.pads = vec![3, 0, 1, 2];
    c.check(4);
    let mut c = case(&[1, 64, 7, 7], &[32, 64, 3, 3]);
    c.pads = vec![1, 1, 1, 1];
    c.check(5);
}

#[test]
fn conv_asymmetric_pads_dilations_batch() {
    let mut c = case(&[3, 4, 13, 9], &[6, 4, 3, 2]);
    c.pads = vec![0, 1, 2, 3];
    c.dilations = vec![2, 3];
    c.strides = vec![1, 2];
    c.check(2);
    c.bias = false;
    c.check(3);
}

#[test]
fn conv_auto_pad() {
    for ap in [AutoPad::SameUpper, AutoPad::SameLower, AutoPad::Valid] {
        for s in [1, 2] {
            let mut c = case(&[2, 3, 10, 7], &[4, 3, 4, 3]);
            c.auto_pad = ap;
            c.strides = vec![s, s];
            c.check(4);
        }
    }
}

#[test]
fn conv_grouped() {
    let mut c = case(&[2, 6, 11, 11], &[9, 2, 3, 3]);
    c.group = 3;
    c.pads = vec![1, 1, 1, 1];
    let d = c.check(5);
    assert!(d.contains("im2col") || d.contains("implicit"), "{d}");
    c.strides = vec![2, 2];
    c.check(6);
}

#[test]
fn conv_depthwise() {
    // Width 75: interior rows of several 16-wide vector steps plus a tail.
    for (s, d, wd) in [(1, 1, 19), (2, 1, 19), (1, 2, 19), (1, 1, 75), (2, 1, 75)] {
        let mut c = case(&[2, 8, 17, wd], &[8, 1, 3, 3]);
        c.group = 8;
        c.pads = vec![1, 1, 1, 1];
        c.strides = vec![s, s];
        c.dilations = vec![d, d];
        assert!(c.check(7).contains("depthwise"));
    }
    // MobileNet-like: many small planes; TF-style asymmetric padding;
    // a 1x1 stride-2 depthwise on an odd width (flat pitch = output width,
    // written in place).
    let mut c = case(&[1, 40, 7, 7], &[40, 1, 3, 3]);
    c.group = 40;
    c.pads = vec![1, 1, 1, 1];
    assert!(c.check(11).contains("depthwise"));
    let mut c = case(&[1, 5, 16, 15], &[5, 1, 3, 3]);
    c.group = 5;
    c.pads = vec![0, 0, 1, 1];
    c.strides = vec![2, 2];
    assert!(c.check(12).contains("depthwise"));
    let mut c = case(&[1, 4, 9, 13], &[4, 1, 1, 1]);
    c.group = 4;
    c.strides = vec![2, 2];
    assert!(c.check(13).contains("depthwise"));
    // Read in place a row at a time (stride 1, at least 14 wide): seven
    // vectors per row (groups of four and three); 5x5 with asymmetric pads
    // wider on the right than the window, channel multiplier 2, no bias.
    let mut c = case(&[1, 3, 6, 112], &[3, 1, 3, 3]);
    c.group = 3;
    c.pads = vec![1, 1, 1, 1];
    assert!(c.check(14).contains("depthwise"));
    let mut c = case(&[1, 3, 15, 20], &[6, 1, 5, 5]);
    c.group = 3;
    c.pads = vec![2, 0, 1, 5];
    c.bias = false;
    assert!(c.check(15).contains("depthwise"));
    // Channel multiplier 2, 5x5, no bias.
    let mut c = case(&[1, 3, 9, 8], &[6, 1, 5, 5]);
    c.group = 3;
    c.pads = vec![2, 1, 2, 1];
    c.bias = false;
    assert!(c.check(8).contains("depthwise"));
}

#[test]
fn conv_pointwise() {
    let c = case(&[2, 17, 7, 9], &[31, 17, 1, 1]);
    assert!(c.check(9).contains("pointwise"));
    let mut c = case(&[1, 8, 5, 5], &[4, 4, 1, 1]);
    c.group = 2;
    assert!(c.check(10).contains("pointwise"));
    // Strided 1x1 is not pointwise (it subsamples): goes through im2col.
    let mut c = case(&[1, 8, 5, 5], &[4, 8, 1, 1]);
    c.strides = vec![2, 2];
    assert!(c.check(11).contains("im2col"));
}

/// Small planes put the output channels along the vector lanes
/// (`chanvec.rs`, AVX-512 hosts, where it wastes fewer lanes): panel tails
/// (88 channels), 7- and
/// 8-position register tiles, rows of 7, 9 and 14, stride 2, dilation,
/// batch 2, no bias.
#[test]
fn conv_small_planes_channel_vectorized() {
    let avx512 = std::arch::is_x86_feature_detected!("avx512f");
    let mut cases = vec![];
    let c = case(&[2, 160, 7, 7], &[88, 160, 1, 1]);
    cases.push(c);
    let mut c = case(&[1, 200, 9, 8], &[96, 200, 1, 1]);
    c.bias = false;
    cases.push(c);
    for (plane, s, d) in [
        ([7, 7], 1, 1),
        ([14, 14], 1, 1),
        ([9, 11], 1, 2),
        ([14, 13], 2, 1),
    ] {
        let m = if plane == [14, 14] { 96 } else { 88 };
        let mut c = case(&[2, 48, plane[0], plane[1]], &[m, 48, 3, 3]);
        c.pads = vec![d, d, d, d];
        c.strides = vec![s, s];
        c.dilations = vec![d, d];
        cases.push(c);
    }
    // Unpadded windows read in place: ViT-style 16x16 patches at stride
    // 16, a 1x1 stride-2 shortcut, a dilated 3x3 without padding.
    let mut c = case(&[1, 3, 32, 48], &[64, 3, 16, 16]);
    c.strides = vec![16, 16];
    cases.push(c);
    let mut c = case(&[2, 64, 14, 13], &[96, 64, 1, 1]);
    c.strides = vec![2, 2];
    cases.push(c);
    let mut c = case(&[1, 40, 13, 12], &[64, 40, 3, 3]);
    c.dilations = vec![2, 1];
    c.bias = false;
    cases.push(c);
    for (i, c) in cases.iter().enumerate() {
        let d = c.check(40 + i as u64);
        assert_eq!(d.contains("channel-vectorized"), avx512, "{c:?}: {d}");
    }
}

#[test]
fn conv_1d_and_3d() {
    let mut c = case(&[2, 3, 31], &[4, 3, 5]);
    c.pads = vec![2, 1];
    c.strides = vec![2];
    c.check(12);
    let mut c = case(&[1, 2, 5, 6, 7], &[3, 2, 3, 2, 3]);
    c.pads = vec![1, 0, 1, 1, 1, 0];
    c.dilations = vec![1, 2, 1];
    c.check(13);
}

#[test]
fn conv_big_enough_to_split() {
    // Large enough that two threads split one image into column tiles.
    let mut c = case(&[1, 16, 40, 40], &[32, 16, 3, 3]);
    c.pads = vec![1, 1, 1, 1];
    c.check(14);
    let c = case(&[1, 64, 30, 30], &[64, 64, 1, 1]);
    c.check(15);
}

#[test]
fn conv_transpose() {
    let mut c = case(&[2, 4, 5, 6], &[4, 3, 3, 3]);
    c.transposed = true;
    c.strides = vec![2, 2];
    c.pads = vec![1, 0, 1, 1];
    c.output_padding = vec![1, 0];
    assert!(c.check(16).contains("col2im"));
    let mut c = case(&[1, 6, 7, 3], &[6, 2, 2, 3]);
    c.transposed = true;
    c.group = 3;
    c.dilations = vec![2, 1];
    c.check(17);
    let mut c = case(&[1, 2, 9], &[2, 3, 4]);
    c.transposed = true;
    c.auto_pad = AutoPad::SameUpper;
    c.strides = vec![2];
    c.check(18);
}

#[test]
fn conv_errors_are_clear() {
    let op = case(&[1, 3, 5, 5], &[4, 3, 3, 3]).op();
    let w = tensor(&[4, 3, 3, 3], 1);
    // Wrong channel count at run time.
    let k = ConvKernel::new(&op, &ty(&[1, 3, 5, 5]), &w, None, None).unwrap();
    let x = tensor(&[1, 2, 5, 5], 2);
    let e = try_run(&k, &[&x, &w], &[1, 4, 3, 3], 1).unwrap_err();
    assert!(e.contains("input [1, 2, 5, 5]"), "{e}");
    // Wrong result shape.
    let x = tensor(&[1, 3, 5, 5], 2);
    let e = try_run(&k, &[&x, &w], &[1, 4, 4, 4], 1).unwrap_err();
    assert!(e.contains("[1, 4, 3, 3]"), "{e}");
    // Non-f32 weight at construction.
    let wi = Tensor::from_vec(&[1, 1, 1, 1], vec![1i32]).unwrap();
    assert!(ConvKernel::new(&op, &ty(&[1, 1, 5, 5]), &wi, None, None).is_err());
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..4, 1usize..4, 1usize..4), // n, groups, cg, mg
        (1usize..4, 1usize..4, 3usize..12, 3usize..12), // kh, kw, h, w
        (1i64..3, 1i64..3, 0i64..3, any::<bool>(), 0usize..5),
    )
        .prop_map(|((n, g, cg, mg), (kh, kw, h, w), (s, d, p, bias, mode))| {
            let transposed = mode == 4;
            let wshape = if transposed {
                vec![g * cg, mg, kh, kw]
            } else {
                vec![g * mg, cg, kh, kw]
            };
            let mut c = case(&[n, g * cg, h, w], &wshape);
            c.group = g as i64;
            c.strides = vec![s, s];
            c.dilations = vec![d, 1];
            c.bias = bias;
            c.transposed = transposed;
            c.auto_pad = [
                AutoPad::NotSet,
                AutoPad::SameUpper,
                AutoPad::Valid,
                AutoPad::NotSet,
            ][mode % 4];
            if c.auto_pad == AutoPad::NotSet {
                c.pads = vec![p, 0, p.min(1), p];
            }
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn conv_matches_interpreter(c in arb_case(), seed in 0u64..1000) {
        // Skip windows larger than the padded input (the interpreter rejects them).
        let op = c.op();
        let x = tensor(&c.x, seed);
        let w = tensor(&c.w, seed + 1);
        prop_assume!(ingot_ir::interp::eval_op(&op, &[&x, &w]).is_ok());
        c.check(seed);
    }
}
