//! Throughput measurements (ignored by default; run with
//! `cargo test -p ingot-compiler --lib jit::tests::bench -- --ignored --nocapture`).

use super::*;
use crate::cpu::jit::compile_elementwise;
use ingot_ir::{Op, TensorType};
use std::time::Instant;

fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore]
fn bench_fused_elementwise() {
    let n = 1 << 20;
    let t = TensorType::fixed(DType::F32, &[n]);
    let mut g = Graph::new("f");
    let x = g.add_input("x", t.clone()).unwrap();
    let y = g.add_input("y", t).unwrap();
    let m = g.add_node(Op::Mul, &[x, y]).unwrap()[0];
    let a = g.add_node(Op::Add, &[m, x]).unwrap()[0];
    let r = g.add_node(Op::Relu, &[a]).unwrap()[0];
    g.set_outputs(vec![r]);
    let t0 = Instant::now();
    let k = compile_elementwise(&g).unwrap();
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut rng = Rng(5);
    let ins = vec![
        random(&mut rng, DType::F32, &[n], -1.0, 1.0),
        random(&mut rng, DType::F32, &[n], -1.0, 1.0),
    ];
    let like = vec![Tensor::zeros(DType::F32, &[n]).unwrap()];
    let jit = best_of(20, || {
        run(&*k, &ins, &like, 1);
    });
    let (xs, ys) = (
        ins[0].as_slice::<f32>().unwrap(),
        ins[1].as_slice::<f32>().unwrap(),
    );
    let mut out = vec![0.0f32; n];
    let rust = best_of(20, || {
        for ((o, &a), &b) in out.iter_mut().zip(xs).zip(ys) {
            let v = a * b + a;
            *o = if v < 0.0 { 0.0 } else { v };
        }
        std::hint::black_box(&out);
    });
    let gb = (3 * 4 * n) as f64 / 1e9;
    println!(
        "relu(x*y+x) 1M f32: jit {:.2} GB/s ({:.0} us, incl. output alloc), rust loop {:.2} GB/s ({:.0} us); compile {compile_ms:.2} ms",
        gb / jit,
        jit * 1e6,
        gb / rust,
        rust * 1e6
    );
    let gelu = TensorType::fixed(DType::F32, &[n]);
    let body = crate::cpu::jit::single_op_body(
        &Op::Gelu {
            approximate: ingot_ir::attr::GeluApprox::None,
        },
        std::slice::from_ref(&gelu),
        &gelu,
    );
    let t0 = Instant::now();
    let k = compile_elementwise(&body).unwrap();
    let gelu_ms = t0.elapsed().as_secs_f64() * 1e3;
    let s = best_of(10, || {
        run(&*k, &ins[..1], &like, 1);
    });
    println!(
        "gelu 1M f32: {:.2} Gelem/s; compile {gelu_ms:.2} ms",
        n as f64 / s / 1e9
    );
}

/// Softmax [12·128, 128] and layer_norm [128, 768] (scale, bias): JIT vs a
/// plain Rust loop (two passes with `f32::exp`, two-pass mean/variance).
#[test]
#[ignore]
fn bench_row_reductions() {
    use crate::cpu::jit::compile_reduce;
    let mut rng = Rng(9);
    for (name, rows, len) in [("softmax", 12 * 128, 128), ("layer_norm", 128, 768)] {
        let t = TensorType::fixed(DType::F32, &[rows, len]);
        let p = TensorType::fixed(DType::F32, &[len]);
        let (op, tys) = if name == "softmax" {
            (Op::Softmax { axis: -1 }, vec![t.clone()])
        } else {
            let ln = Op::LayerNorm {
                axis: -1,
                epsilon: 1e-5,
            };
            (ln, vec![t.clone(), p.clone(), p])
        };
        let body = crate::cpu::jit::single_op_body(&op, &tys, &t);
        let t0 = Instant::now();
        let k = compile_reduce(&body).unwrap();
        let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
        let ins: Vec<Tensor> = tys
            .iter()
            .map(|t| random(&mut rng, DType::F32, &t.known_dims().unwrap(), -3.0, 3.0))
            .collect();
        let mut o = Tensor::zeros(DType::F32, &[rows, len]).unwrap();
        let a: Vec<Arg> = ins.iter().map(arg).collect();
        let oa = [Arg {
            ptr: o.bytes_mut().as_mut_ptr(),
            dtype: DType::F32,
            shape: &[rows, len],
        }];
        let time = |threads: usize| {
            best_of(100, || {
                // SAFETY: the args address live tensors of their shapes.
                unsafe { k.run(&a, &oa, &Ctx { threads }) }.unwrap();
            })
        };
        let (jit1, jit2) = (time(1), time(2));
        let x = ins[0].as_slice::<f32>().unwrap();
        let mut out = vec![0.0f32; rows * len];
        let rust = best_of(50, || {
            for (src, dst) in x.chunks(len).zip(out.chunks_mut(len)) {
                if name == "softmax" {
                    let m = src.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let s: f32 = src.iter().map(|&v| (v - m).exp()).sum();
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = (v - m).exp() / s;
                    }
                } else {
                    let mean = src.iter().sum::<f32>() / len as f32;
                    let var = src.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / len as f32;
                    let inv = 1.0 / (var + 1e-5).sqrt();
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = (v - mean) * inv;
                    }
                }
            }
            std::hint::black_box(&out);
        });
        let gb = (2 * 4 * rows * len) as f64 / 1e9;
        println!(
            "{name} [{rows}, {len}]: jit {:.2} GB/s ({:.0} us; 2 threads {:.0} us), rust loop {:.2} GB/s ({:.0} us); compile {compile_ms:.2} ms",
            gb / jit1,
            jit1 * 1e6,
            jit2 * 1e6,
            gb / rust,
            rust * 1e6
        );
    }
}
