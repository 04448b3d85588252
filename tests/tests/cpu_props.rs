//! Differential property test: the CPU backend (full pipeline, native
//! kernels, memory plan, symbolic batch) against the reference interpreter
//! on random well-typed graphs.
//!
//! Integers and booleans must match exactly; floats within
//! `|a-b| <= 1e-4 * max(1, |b|)` (kernels reassociate sums and use
//! polynomial approximations of exp/erf/tanh); NaN matches NaN and
//! infinities must match in sign. Runs at 1 and 2 threads.

use ingot_compiler::cpu::{compile, CompileOptions};
use ingot_ir::{interp, DType, Tensor};
use ingot_tests::typed_gen::arb_typed_graph;
use proptest::prelude::*;

fn agree(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!(
            "got {}{:?}, want {}{:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    if !want.dtype().is_float() {
        return if got.bytes() == want.bytes() {
            Ok(())
        } else {
            Err(format!("{:?} vs {:?}", got.to_f64s(), want.to_f64s()))
        };
    }
    let tol = if want.dtype() == DType::F32 || want.dtype() == DType::F64 {
        1e-4
    } else {
        1e-2
    };
    for (i, (a, b)) in got.to_f64s().into_iter().zip(want.to_f64s()).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else if b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= tol * b.abs().max(1.0)
        };
        if !ok {
            return Err(format!("element {i}: got {a}, want {b}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cpu_backend_matches_the_interpreter(case in arb_typed_graph(), threads in 1usize..=2) {
        let want = interp::run(&case.graph, &case.inputs);
        let opts = CompileOptions { threads, ..Default::default() };
        let model = compile(&case.graph, &opts)
            .map_err(|e| TestCaseError::fail(format!("compile: {e}\n{}", case.graph)))?;
        let got = model.run(&case.inputs);
        match (got, want) {
            (Ok(got), Ok(want)) => {
                prop_assert_eq!(got.len(), want.len());
                for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                    if let Err(e) = agree(a, b) {
                        return Err(TestCaseError::fail(format!(
                            "output {k}: {e}\ninput graph:\n{}\noptimized:\n{}",
                            case.graph, model.graph()
                        )));
                    }
                }
            }
            // The interpreter rejecting the inputs (e.g. a gather index out of
            // range) must be an error on the backend too, not a result.
            (Err(_), Err(_)) => {}
            (Ok(_), Err(e)) => {
                return Err(TestCaseError::fail(format!("interpreter failed ({e}) but the backend ran\n{}", case.graph)));
            }
            (Err(e), Ok(_)) => {
                return Err(TestCaseError::fail(format!("backend failed: {e}\n{}", case.graph)));
            }
        }
    }
}
