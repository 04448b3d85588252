//! The CPU backend's contract, end to end: compile once, run at any batch
//! size, clear errors for wrong inputs, results equal to the reference
//! interpreter, and concurrent runs bit-identical to serial ones.

use ingot_compiler::cpu::{compile, CompileOptions};
use ingot_ir::trace::trace;
use ingot_ir::{interp, DType, Dim, Graph, Tensor, TensorType};
use std::sync::Arc;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn tensor(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(shape, values(n, seed)).unwrap()
}

/// x[batch,16] → matmul 16x32 + bias → relu → matmul 32x8 + bias → softmax.
fn mlp() -> Graph {
    let x_ty = TensorType::new(DType::F32, [Dim::var("batch"), 16.into()]);
    trace("mlp", &[("x", x_ty)], |tr, ins| {
        let w1 = tr.weight("w1", tensor(&[16, 32], 1));
        let b1 = tr.weight("b1", tensor(&[32], 2));
        let w2 = tr.weight("w2", tensor(&[32, 8], 3));
        let b2 = tr.weight("b2", tensor(&[8], 4));
        let h = ins[0].matmul(&w1)?.add(&b1)?.relu();
        let y = h.matmul(&w2)?.add(&b2)?;
        Ok(vec![y.softmax(-1)?.named("probs")?])
    })
    .unwrap()
}

fn close(a: &Tensor, b: &Tensor, tol: f64) -> Result<(), String> {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return Err(format!(
            "{}{:?} vs {}{:?}",
            a.dtype(),
            a.shape(),
            b.dtype(),
            b.shape()
        ));
    }
    for (i, (x, y)) in a.to_f64s().iter().zip(b.to_f64s()).enumerate() {
        if (x - y).abs() > tol * y.abs().max(1.0) {
            return Err(format!("element {i}: {x} vs {y}"));
        }
    }
    Ok(())
}

#[test]
fn one_compile_serves_every_batch_size() {
    let g = mlp();
    for threads in [1, 2] {
        let opts = CompileOptions {
            threads,
            ..Default::default()
        };
        let model = compile(&g, &opts).unwrap();
        for batch in [1, 3, 8, 33] {
            let x = tensor(&[batch, 16], 100 + batch as u64);
            let got = model.run(std::slice::from_ref(&x)).unwrap();
            let want = interp::run(&g, &[x]).unwrap();
            close(&got[0], &want[0], 1e-5).unwrap();
        }
    }
}

#[test]
fn wrong_inputs_are_clear_errors() {
    let model = compile(&mlp(), &CompileOptions::default()).unwrap();
    let e = model.run(&[]).unwrap_err().to_string();
    assert!(e.contains("takes 1 input"), "{e}");
    let wrong_dtype = Tensor::from_vec(&[2, 16], vec![0i64; 32]).unwrap();
    let e = model.run(&[wrong_dtype]).unwrap_err().to_string();
    assert!(e.contains("input 0 `x`") && e.contains("dtype i64"), "{e}");
    let wrong_rank = tensor(&[16], 1);
    let e = model.run(&[wrong_rank]).unwrap_err().to_string();
    assert!(e.contains("rank 1 is not 2"), "{e}");
    let wrong_dim = tensor(&[2, 15], 1);
    let e = model.run(&[wrong_dim]).unwrap_err().to_string();
    assert!(e.contains("axis 1 is 15, not 16"), "{e}");
}

#[test]
fn concurrent_runs_are_bit_identical_to_serial_runs() {
    let g = mlp();
    let model = Arc::new(
        compile(
            &g,
            &CompileOptions {
                threads: 2,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    // Different batch sizes per thread exercise the shared resolution cache
    // and arenas of different sizes.
    let inputs: Vec<Tensor> = (0..8).map(|t| tensor(&[1 + t % 3, 16], t as u64)).collect();
    let serial: Vec<Vec<Tensor>> = inputs
        .iter()
        .map(|x| model.run(std::slice::from_ref(x)).unwrap())
        .collect();
    std::thread::scope(|s| {
        for (t, x) in inputs.iter().enumerate() {
            let (model, want) = (model.clone(), &serial[t]);
            s.spawn(move || {
                for _ in 0..200 {
                    let got = model.run(std::slice::from_ref(x)).unwrap();
                    assert_eq!(got.len(), want.len());
                    for (a, b) in got.iter().zip(want) {
                        assert_eq!(a.shape(), b.shape());
                        assert_eq!(a.bytes(), b.bytes(), "thread {t} differs");
                    }
                }
            });
        }
    });
}

#[test]
fn interpreter_only_lowering_matches_native() {
    let g = mlp();
    let x = tensor(&[5, 16], 9);
    let native = compile(&g, &CompileOptions::default()).unwrap();
    let interp_only = compile(
        &g,
        &CompileOptions {
            native: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(interp_only.report().lower_stats.native, 0);
    let a = native.run(std::slice::from_ref(&x)).unwrap();
    let b = interp_only.run(&[x]).unwrap();
    close(&a[0], &b[0], 1e-5).unwrap();
}
