//! Throughput of the contraction kernels on model-sized shapes.
//!
//! `cargo run --release -p ingot-runtime --example contract_bench [iters]`
//! prints, per shape and thread count, the best time over `iters` runs
//! (after a warm-up) and the GFLOP/s it implies. The best, not the mean, is
//! reported because the machine is shared.

use ingot_ir::attr::AutoPad;
use ingot_ir::{DType, Dim, Op, Tensor, TensorType};
use ingot_runtime::kernels::conv::ConvKernel;
use ingot_runtime::kernels::matmul::MatMulKernel;
use ingot_runtime::{Arg, Ctx, Kernel};
use std::time::Instant;

fn ty(shape: &[usize]) -> TensorType {
    TensorType::new(DType::F32, shape.iter().map(|&d| Dim::Known(d as i64)))
}

fn tensor(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    Tensor::from_vec(shape, v).unwrap()
}

/// Best seconds per run of `k` on `ins` into a result of `out`.
fn time(k: &dyn Kernel, ins: &[&Tensor], out: &[usize], threads: usize, iters: usize) -> f64 {
    let mut y = Tensor::zeros(DType::F32, out).unwrap();
    let args: Vec<Arg> = ins
        .iter()
        .map(|t| Arg {
            ptr: t.bytes().as_ptr() as *mut u8,
            dtype: t.dtype(),
            shape: t.shape(),
        })
        .collect();
    let ys = out.to_vec();
    let outs = [Arg {
        ptr: y.bytes_mut().as_mut_ptr(),
        dtype: DType::F32,
        shape: &ys,
    }];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let cx = Ctx { threads };
    pool.install(|| {
        let mut best = f64::INFINITY;
        for i in 0..iters + 3 {
            let t = Instant::now();
            // SAFETY: the args are live tensors of their shapes; the result
            // does not overlap the operands.
            unsafe { k.run(&args, &outs, &cx) }.unwrap();
            if i >= 3 {
                best = best.min(t.elapsed().as_secs_f64());
            }
        }
        best
    })
}

fn conv(group: i64, pad: i64) -> Op {
    Op::Conv {
        strides: vec![],
        pads: vec![pad; 4],
        dilations: vec![],
        group,
        auto_pad: AutoPad::NotSet,
    }
}

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    type Case = (&'static str, Box<dyn Kernel>, Vec<Tensor>, Vec<usize>, f64);
    let mut cases: Vec<Case> = Vec::new();
    for (m, k, n) in [
        (64, 784, 1024),
        (128, 128, 512),
        (1, 128, 128),
        (128, 128, 128),
        (197, 192, 192),
        (197, 192, 768),
    ] {
        let (a, b) = (tensor(&[m, k]), tensor(&[k, n]));
        let kern = MatMulKernel::new(&ty(&[m, k]), &ty(&[k, n]), Some(&b), None).unwrap();
        let name: &'static str = Box::leak(format!("matmul {m}x{k}x{n} const b").into_boxed_str());
        cases.push((
            name,
            Box::new(kern),
            vec![a, b],
            vec![m, n],
            2.0 * (m * k * n) as f64,
        ));
    }
    let convs = [
        (
            "resnet 3x3 64->64 56x56",
            [1, 64, 56, 56],
            [64, 64, 3, 3],
            1,
            1,
            [1, 64, 56, 56],
        ),
        (
            "mbv2 dw 3x3 32 112x112",
            [1, 32, 112, 112],
            [32, 1, 3, 3],
            32,
            1,
            [1, 32, 112, 112],
        ),
        (
            "mbv2 1x1 16->96 112x112",
            [1, 16, 112, 112],
            [96, 16, 1, 1],
            1,
            0,
            [1, 96, 112, 112],
        ),
        (
            "mbv2 1x1 144->24 56x56",
            [1, 144, 56, 56],
            [24, 144, 1, 1],
            1,
            0,
            [1, 24, 56, 56],
        ),
        (
            "1x1 64->256 56x56",
            [1, 64, 56, 56],
            [256, 64, 1, 1],
            1,
            0,
            [1, 256, 56, 56],
        ),
    ];
    for (name, xs, ws, g, p, ys) in convs {
        let (x, w, b) = (tensor(&xs), tensor(&ws), tensor(&[ws[0]]));
        let kern = ConvKernel::new(&conv(g, p), &ty(&xs), &w, Some(&b), None).unwrap();
        let flops = 2.0 * (ys.iter().product::<usize>() * ws[1..].iter().product::<usize>()) as f64;
        cases.push((name, Box::new(kern), vec![x, w, b], ys.to_vec(), flops));
    }
    println!(
        "{:<28} {:>8} {:>10} {:>9}",
        "shape", "threads", "best us", "GFLOP/s"
    );
    for (name, k, ins, out, flops) in &cases {
        let refs: Vec<&Tensor> = ins.iter().collect();
        for threads in [1, 2] {
            let s = time(k.as_ref(), &refs, out, threads, iters);
            println!(
                "{name:<28} {threads:>8} {:>10.1} {:>9.1}   [{}]",
                s * 1e6,
                flops / s / 1e9,
                k.describe()
            );
        }
    }
}
