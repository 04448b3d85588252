//! Accuracy sweeps of the approximations in `math.rs` against f64: the
//! bounds the module header states.

use super::*;
use crate::cpu::jit::{compile_elementwise, single_op_body};
use ingot_ir::{Op, TensorType};

/// Inputs: a dense sweep of `[lo, hi]` plus random ones in it.
fn inputs(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    let mut rng = Rng(99);
    let mut v: Vec<f32> = (0..n)
        .map(|i| lo + (hi - lo) * (i as f32 / (n - 1) as f32))
        .collect();
    v.extend((0..n).map(|_| rng.f(lo, hi)));
    v
}

fn jit(op: &Op, x: &[f32]) -> Vec<f32> {
    let t = TensorType::fixed(DType::F32, &[x.len()]);
    let k = compile_elementwise(&single_op_body(op, std::slice::from_ref(&t), &t)).unwrap();
    let xs = Tensor::from_vec(&[x.len()], x.to_vec()).unwrap();
    let like = Tensor::zeros(DType::F32, &[x.len()]).unwrap();
    run(&*k, &[xs], &[like], 1)[0]
        .as_slice::<f32>()
        .unwrap()
        .to_vec()
}

/// Max error of `op` vs `f` over `x`: (absolute, relative where |f| ≥ floor).
fn errors(op: &Op, x: &[f32], f: impl Fn(f64) -> f64, floor: f64) -> (f64, f64) {
    let y = jit(op, x);
    let (mut abs, mut rel) = (0.0f64, 0.0f64);
    for (&xi, &yi) in x.iter().zip(&y) {
        let want = f(f64::from(xi));
        let d = (f64::from(yi) - want).abs();
        abs = abs.max(d);
        if want.abs() >= floor {
            rel = rel.max(d / want.abs());
        }
    }
    (abs, rel)
}

fn erf64(x: f64) -> f64 {
    // Through the interpreter: its erf is the definition.
    let t = Tensor::from_vec(&[1], vec![x]).unwrap();
    ingot_ir::interp::eval_op(&Op::Erf, &[&t]).unwrap()[0].to_f64s()[0]
}

#[test]
fn math_sweep() {
    let n = 1 << 20;
    let (_, r) = errors(&Op::Exp, &inputs(-87.0, 88.7, n), f64::exp, 1.2e-38);
    assert!(r <= 2e-7, "exp rel {r}");
    let (_, r) = errors(&Op::Log, &inputs(1e-30, 1e30, n), f64::ln, 0.0);
    assert!(r <= 2e-7, "log rel {r}");
    let (a, _) = errors(&Op::Log, &inputs(0.5, 2.0, n), f64::ln, 0.0);
    assert!(a <= 1e-7, "log abs near 1: {a}");
    let (a, _) = errors(&Op::Tanh, &inputs(-12.0, 12.0, n), f64::tanh, 0.0);
    assert!(a <= 3e-7, "tanh abs {a}");
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let (a, _) = errors(&Op::Sigmoid, &inputs(-30.0, 30.0, n), sig, 0.0);
    assert!(a <= 2e-7, "sigmoid abs {a}");
    let (a, _) = errors(&Op::Erf, &inputs(-6.0, 6.0, n / 4), erf64, 0.0);
    assert!(a <= 5e-7, "erf abs {a}");
    let (_, r) = errors(&Op::Erf, &inputs(-0.49, 0.49, n / 4), erf64, 1e-30);
    // One rational function for all x (no Taylor branch): ≈ 2.5 ulp.
    assert!(r <= 3e-7, "erf rel near 0: {r}");
}

#[test]
fn math_specials() {
    let x = [
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NAN,
        100.0,
        -200.0,
        0.0,
    ];
    let e = jit(&Op::Exp, &x);
    assert_eq!(&e[..2], &[0.0, f32::INFINITY]);
    assert!(e[2].is_nan());
    assert_eq!(e[3], f32::INFINITY);
    assert_eq!(e[4], 0.0);
    assert_eq!(e[5], 1.0);
    let l = jit(&Op::Log, &[0.0, -1.0, f32::INFINITY, f32::NAN, 1.0, 1e-45]);
    assert_eq!(l[0], f32::NEG_INFINITY);
    assert!(l[1].is_nan() && l[3].is_nan());
    assert_eq!(l[2], f32::INFINITY);
    assert_eq!(l[4], 0.0);
    assert!((f64::from(l[5]) - (1e-45f32 as f64).ln()).abs() < 1e-5);
    let t = jit(&Op::Tanh, &x);
    assert_eq!(&t[..2], &[-1.0, 1.0]);
    assert!(t[2].is_nan());
    let s = jit(&Op::Sigmoid, &x);
    assert_eq!(&s[..2], &[0.0, 1.0]);
    assert!(s[2].is_nan());
    let r = jit(&Op::Erf, &x);
    assert_eq!(&r[..2], &[-1.0, 1.0]);
    assert!(r[2].is_nan());
}
