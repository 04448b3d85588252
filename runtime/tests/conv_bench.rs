//! Throughput of the convolution kernel on the layer shapes of ResNet-18,
//! MobileNetV2 and a ViT's patch embedding at batch 1 (ignored by default; run with
//! `cargo test --release -p ingot-runtime --test conv_bench -- --ignored --nocapture`).
//! Best of several runs, 1 thread unless `INGOT_BENCH_THREADS` says more;
//! `INGOT_BENCH_ONLY=text` keeps the layers whose name contains it.

mod contract_common;

use contract_common::*;
use ingot_ir::attr::AutoPad;
use ingot_ir::{DType, Op, Tensor};
use ingot_runtime::kernels::conv::ConvKernel;
use ingot_runtime::{Arg, Ctx, Kernel};
use std::time::Instant;

/// (name, input [C, H, W], output channels, kernel, stride, pad, group)
type Layer = (&'static str, [usize; 3], usize, usize, usize, usize, usize);

#[test]
#[ignore]
fn conv_layer_throughput() {
    let threads: usize = std::env::var("INGOT_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let layers: &[Layer] = &[
        ("resnet stem 7x7 s2", [3, 224, 224], 64, 7, 2, 3, 1),
        ("resnet 3x3 64", [64, 56, 56], 64, 3, 1, 1, 1),
        ("resnet 3x3 64->128 s2", [64, 56, 56], 128, 3, 2, 1, 1),
        ("resnet 3x3 128", [128, 28, 28], 128, 3, 1, 1, 1),
        ("resnet 3x3 256", [256, 14, 14], 256, 3, 1, 1, 1),
        ("resnet 3x3 512", [512, 7, 7], 512, 3, 1, 1, 1),
        ("resnet 1x1 256->512 s2", [256, 14, 14], 512, 1, 2, 0, 1),
        ("mbv2 stem 3x3 s2", [3, 224, 224], 32, 3, 2, 1, 1),
        ("mbv2 1x1 16->96", [16, 112, 112], 96, 1, 1, 0, 1),
        ("mbv2 1x1 24->144", [24, 56, 56], 144, 1, 1, 0, 1),
        ("mbv2 1x1 144->24", [144, 56, 56], 24, 1, 1, 0, 1),
        ("mbv2 1x1 96->576", [96, 14, 14], 576, 1, 1, 0, 1),
        ("mbv2 1x1 64->384", [64, 14, 14], 384, 1, 1, 0, 1),
        ("mbv2 1x1 384->64", [384, 14, 14], 64, 1, 1, 0, 1),
        ("mbv2 1x1 160->960", [160, 7, 7], 960, 1, 1, 0, 1),
        ("mbv2 1x1 32->192", [32, 28, 28], 192, 1, 1, 0, 1),
        ("mbv2 1x1 960->320", [960, 7, 7], 320, 1, 1, 0, 1),
        ("mbv2 1x1 320->1280", [320, 7, 7], 1280, 1, 1, 0, 1),
        ("mbv2 dw 3x3 96 s2", [96, 112, 112], 96, 3, 2, 1, 96),
        ("mbv2 dw 3x3 144", [144, 56, 56], 144, 3, 1, 1, 144),
        ("mbv2 dw 3x3 960", [960, 7, 7], 960, 3, 1, 1, 960),
        ("vit patches 16x16 s16", [3, 224, 224], 192, 16, 16, 0, 1),
    ];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let only = std::env::var("INGOT_BENCH_ONLY").unwrap_or_default();
    for &(name, [c, h, w], m, k, s, p, g) in layers {
        if !name.contains(only.as_str()) {
            continue;
        }
        let x = tensor(&[1, c, h, w], 1);
        let wt = tensor(&[m, c / g, k, k], 2);
        let bias = tensor(&[m], 3);
        let op = Op::Conv {
            strides: vec![s as i64; 2],
            pads: vec![p as i64; 4],
            dilations: vec![],
            group: g as i64,
            auto_pad: AutoPad::NotSet,
        };
        let kern = ConvKernel::new(&op, &ty(x.shape()), &wt, Some(&bias), None).unwrap();
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let mut y = Tensor::zeros(DType::F32, &[1, m, oh, ow]).unwrap();
        let yshape = y.shape().to_vec();
        let a = Arg {
            ptr: x.bytes().as_ptr() as *mut u8,
            dtype: DType::F32,
            shape: x.shape(),
        };
        let b = Arg {
            ptr: y.bytes_mut().as_mut_ptr(),
            dtype: DType::F32,
            shape: &yshape,
        };
        let flops = 2.0 * (m * oh * ow * (c / g) * k * k) as f64;
        let reps = ((2e9 / flops) as usize).clamp(5, 400) * if only.is_empty() { 1 } else { 10 };
        let best = pool.install(|| {
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    // SAFETY: live buffers of the stated shapes.
                    unsafe { kern.run(&[a], &[b], &Ctx { threads }).unwrap() };
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        });
        println!(
            "{name:26} {:8.1} us {:7.1} GFLOP/s  [{}]",
            best * 1e6,
            flops / best / 1e9,
            kern.describe()
        );
    }
}
