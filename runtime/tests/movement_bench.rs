//! Throughput of a few movement kernels (ignored by default; run with
//! `cargo test --release -p ingot-runtime --test movement_bench -- --ignored --nocapture`).
//! Reports GB/s of result bytes written, best of several runs, against a
//! naive nested loop and the interpreter.

use ingot_ir::{DType, Op, Tensor};
use ingot_runtime::kernels::movement::movement_kernel;
use ingot_runtime::{Arg, Ctx};
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

fn kernel_time(op: &Op, x: &Tensor, out: &[usize], threads: usize) -> (f64, Vec<f32>) {
    let k = movement_kernel(op, &[x.ty()], &[None], &[x.ty()])
        .unwrap()
        .unwrap();
    let mut y = vec![0f32; out.iter().product()];
    let a = Arg {
        ptr: x.bytes().as_ptr() as *mut u8,
        dtype: DType::F32,
        shape: x.shape(),
    };
    let b = Arg {
        ptr: y.as_mut_ptr() as *mut u8,
        dtype: DType::F32,
        shape: out,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let t = pool.install(|| {
        // SAFETY: live buffers of the stated shapes.
        best_of(50, || unsafe {
            k.run(&[a], &[b], &Ctx { threads }).unwrap()
        })
    });
    (t, y)
}

#[test]
#[ignore]
fn transpose_throughput() {
    let gb = |bytes: usize, t: f64| bytes as f64 / t / 1e9;
    // BERT's head split: [12,128,64] -> [128,12,64].
    let (a, b, c) = (12, 128, 64);
    let v: Vec<f32> = (0..a * b * c).map(|i| i as f32).collect();
    let x = Tensor::from_vec(&[a, b, c], v.clone()).unwrap();
    let op = Op::Transpose {
        perm: vec![1, 0, 2],
    };
    let (t1, y) = kernel_time(&op, &x, &[b, a, c], 1);
    let mut naive = vec![0f32; a * b * c];
    let tn = best_of(50, || {
        for i in 0..a {
            for j in 0..b {
                for k in 0..c {
                    naive[(j * a + i) * c + k] = v[(i * b + j) * c + k];
                }
            }
        }
        std::hint::black_box(&mut naive);
    });
    assert_eq!(y, naive);
    let ti = best_of(5, || {
        std::hint::black_box(ingot_ir::interp::eval_op(&op, &[&x]).unwrap());
    });
    let bytes = a * b * c * 4;
    println!(
        "transpose [12,128,64]->[128,12,64]: kernel {:.2} GB/s ({:.1} us), naive loop {:.2} GB/s, interpreter {:.3} GB/s",
        gb(bytes, t1),
        t1 * 1e6,
        gb(bytes, tn),
        gb(bytes, ti)
    );
    // A real 2-D transpose (tiled path): [1024, 1000] -> [1000, 1024].
    let (r, cc) = (1024, 1000);
    let v: Vec<f32> = (0..r * cc).map(|i| i as f32).collect();
    let x = Tensor::from_vec(&[r, cc], v.clone()).unwrap();
    let op = Op::Transpose { perm: vec![1, 0] };
    let (t1, y) = kernel_time(&op, &x, &[cc, r], 1);
    let (t4, _) = kernel_time(&op, &x, &[cc, r], 4);
    let mut naive = vec![0f32; r * cc];
    let tn = best_of(20, || {
        for i in 0..r {
            for j in 0..cc {
                naive[j * r + i] = v[i * cc + j];
            }
        }
        std::hint::black_box(&mut naive);
    });
    assert_eq!(y, naive);
    let bytes = r * cc * 4;
    println!(
        "transpose [1024,1000]->[1000,1024]: kernel {:.2} GB/s (1 thread), {:.2} GB/s (4 threads), naive loop {:.2} GB/s",
        gb(bytes, t1),
        gb(bytes, t4),
        gb(bytes, tn)
    );
}
