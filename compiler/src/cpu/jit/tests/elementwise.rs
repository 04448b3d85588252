//! Elementwise kernels vs the interpreter.

use super::*;
use crate::cpu::jit::{compile_elementwise, single_op_body};
use ingot_ir::{Op, TensorType};

#[test]
fn smoke_add_relu() {
    let t = TensorType::fixed(DType::F32, &[4101]);
    let body = single_op_body(&Op::Add, &[t.clone(), t.clone()], &t);
    let k = compile_elementwise(&body).unwrap();
    let mut rng = Rng(7);
    let ins = vec![
        random(&mut rng, DType::F32, &[4101], -1.0, 1.0),
        random(&mut rng, DType::F32, &[4101], -1.0, 1.0),
    ];
    let want = reference(&body, &ins);
    let got = run(&*k, &ins, &want, 1);
    assert_close(&got, &want, 0.0, 0.0, "add");
}
