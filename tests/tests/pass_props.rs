//! Property tests of the pass pipeline over random well-typed graphs.
//!
//! For each pass and for the whole pipeline: the verifier accepts the result,
//! and the interpreter gives the same outputs before and after — bit-exact
//! (NaN matching NaN) for the passes that only remove or merge pure
//! computations — and running a canonicalizing pass twice changes nothing
//! the second time.

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

fn check(before: &Graph, after: &Graph, inputs: &[Tensor]) -> Result<(), TestCaseError> {
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
        bit_equal(&want, &got),
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
        check(&case.graph, &g, &case.inputs)?;
        let once = g.clone();
        optimize(&mut g, &PipelineOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(once, g);
    }
}
