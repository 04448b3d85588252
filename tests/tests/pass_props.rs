//! Property tests of the pass pipeline over random well-typed graphs.
//!
//! For each pass and for the whole pipeline: the verifier accepts the result,
//! and the interpreter gives the same outputs before and after — bit-exact
//! (NaN matching NaN) for the passes that only remove or merge pure
//! computations, and within rounding (1e-5 relative) for the whole pipeline,
//! whose weight folding (fold-bn, fold-affine: `matmul(x, w) * s` becomes
//! `matmul(x, w * s)`) reassociates float products — and running a
//! canonicalizing pass twice changes nothing the second time.

use ingot_ir::{interp, verify, Graph, Tensor};
use ingot_passes::cse::cse;
use ingot_passes::dce::dce;
use ingot_passes::{optimize, PipelineOptions};
use ingot_tests::typed_gen::arb_typed_graph;
use proptest::prelude::*;

fn bit_equal(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dtype() == y.dtype()
                && x.shape() == y.shape()
                && x.to_f64s()
                    .iter()
                    .zip(y.to_f64s())
                    .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        })
}

/// Equal up to rounding: floats within 1e-5·max(1, |b|), NaN matching NaN,
/// everything else exact.
fn close(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dtype() == y.dtype()
                && x.shape() == y.shape()
                && x.to_f64s().iter().zip(y.to_f64s()).all(|(p, q)| {
                    p.to_bits() == q.to_bits()
                        || (p.is_nan() && q.is_nan())
                        || (x.dtype().is_float() && (p - q).abs() <= 1e-5 * q.abs().max(1.0))
                })
        })
}

fn check(before: &Graph, after: &Graph, inputs: &[Tensor]) -> Result<(), TestCaseError> {
    check_with(before, after, inputs, bit_equal)
}

fn check_with(
    before: &Graph,
    after: &Graph,
    inputs: &[Tensor],
    same: fn(&[Tensor], &[Tensor]) -> bool,
) -> Result<(), TestCaseError> {
    if let Err(e) = verify::verify(after) {
        return Err(TestCaseError::fail(format!(
            "verifier rejects the result:\n{e}"
        )));
    }
    let want =
        interp::run(before, inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{before}")))?;
    let got =
        interp::run(after, inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{after}")))?;
    prop_assert!(
        same(&want, &got),
        "outputs differ\nbefore:\n{before}\nafter:\n{after}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_graphs_verify_and_run(case in arb_typed_graph()) {
        prop_assert!(verify::verify(&case.graph).is_ok(), "{}", case.graph);
        interp::run(&case.graph, &case.inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{}", case.graph)))?;
    }

    #[test]
    fn dce_preserves_results_and_is_idempotent(case in arb_typed_graph()) {
        let mut g = case.graph.clone();
        dce(&mut g);
        check(&case.graph, &g, &case.inputs)?;
        prop_assert!(!dce(&mut g), "second dce changed the graph");
    }

    #[test]
    fn cse_preserves_results_and_is_idempotent(case in arb_typed_graph()) {
        let mut g = case.graph.clone();
        cse(&mut g);
        check(&case.graph, &g, &case.inputs)?;
        prop_assert!(!cse(&mut g), "second cse changed the graph");
    }

    #[test]
    fn pipeline_preserves_results_and_is_idempotent(case in arb_typed_graph()) {
        let mut g = case.graph.clone();
        optimize(&mut g, &PipelineOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_with(&case.graph, &g, &case.inputs, close)?;
        let once = g.clone();
        optimize(&mut g, &PipelineOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(once, g);
    }
}
