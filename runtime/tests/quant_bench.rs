//! Throughput of the quantized convolution and matmul kernels (ignored by
//! default; run with `cargo test --release -p ingot-runtime --test
//! quant_bench -- --ignored --nocapture`). Best of several runs, 1 thread
//! unless `INGOT_BENCH_THREADS` says more; `INGOT_BENCH_ONLY=text` keeps
//! the cases whose name contains it. Compare with `conv_bench`.

mod quant_common;

use ingot_ir::{DType, Tensor};
use ingot_runtime::{Arg, Ctx, Kernel};
use quant_common::*;

/// GOPS (2 * MACs / s, best of several runs) of QLinearConv on ResNet-18's
/// 3x3 layers (and a few MobileNetV2 ones) and of a QLinearMatMul, u8
/// activations and i8 per-channel weights, 1 thread unless `INGOT_BENCH_THREADS` says more;
/// `INGOT_BENCH_ONLY=text` keeps the cases whose name contains it.
#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn quant_bench() {
    use std::time::Instant;
    let threads: usize = std::env::var("INGOT_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let only = std::env::var("INGOT_BENCH_ONLY").unwrap_or_default();
    let time = |k: &dyn Kernel, ins: &[&Tensor], like: &Tensor, ops: f64| -> f64 {
        let mut out = like.clone();
        let args: Vec<Arg> = ins
            .iter()
            .map(|t| Arg {
                ptr: t.bytes().as_ptr() as *mut u8,
                dtype: t.dtype(),
                shape: t.shape(),
            })
            .collect();
        let shape = out.shape().to_vec();
        let outs = [Arg {
            ptr: out.bytes_mut().as_mut_ptr(),
            dtype: like.dtype(),
            shape: &shape,
        }];
        let reps = ((4e9 / ops) as usize).clamp(5, 400);
        pool.install(|| {
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    // SAFETY: live buffers of the stated shapes.
                    unsafe { k.run(&args, &outs, &Ctx { threads }).unwrap() };
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        })
    };
    // (name, input channels, input size, output channels, kernel, stride,
    // group)
    for (name, c, hw, m, ks, s, g) in [
        ("resnet 3x3 64 @56", 64, 56, 64, 3, 1, 1),
        ("resnet 3x3 128 @28", 128, 28, 128, 3, 1, 1),
        ("resnet 3x3 256 @14", 256, 14, 256, 3, 1, 1),
        ("resnet 3x3 512 @7", 512, 7, 512, 3, 1, 1),
        ("resnet 3x3 64->128 s2", 64, 56, 128, 3, 2, 1),
        ("mbv2 1x1 24->144 @56", 24, 56, 144, 1, 1, 1),
        ("mbv2 dw 3x3 144 @56", 144, 56, 144, 3, 1, 144),
    ] {
        if !name.contains(only.as_str()) {
            continue;
        }
        let mut q = conv(&[1, c, hw, hw], &[m, c / g, ks, ks]);
        let p = (ks / 2) as i64;
        q.pads = vec![p; 4];
        q.strides = vec![s as i64; 2];
        q.group = g as i64;
        let ops = q.operands(1);
        let refs: Vec<&Tensor> = ops.iter().collect();
        let k = build(&q.op(), &refs).unwrap();
        let o = hw.div_ceil(s);
        let like = Tensor::zeros(DType::U8, &[1, m, o, o]).unwrap();
        let gops = 2.0 * (m * (c / g) * ks * ks * o * o) as f64;
        let best = time(&*k, &refs, &like, gops);
        println!(
            "{name:26} {:8.1} us {:7.1} GOPS  [{}]",
            best * 1e6,
            gops / best / 1e9,
            k.describe()
        );
    }
    if !"qlinear_matmul".contains(only.as_str()) {
        return;
    }
    let q = mat(&[64, 784], 1024);
    let ops = q.operands(2);
    let refs: Vec<&Tensor> = ops.iter().collect();
    let k = build(&q.op(), &refs).unwrap();
    let like = Tensor::zeros(DType::U8, &[64, 1024]).unwrap();
    let gops = 2.0 * (64 * 784 * 1024) as f64;
    let best = time(&*k, &refs, &like, gops);
    println!(
        "{:26} {:8.1} us {:7.1} GOPS  [{}]",
        "qlinear_matmul 64x784x1024",
        best * 1e6,
        gops / best / 1e9,
        k.describe()
    );
}
