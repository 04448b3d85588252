//! Property tests of memory planning over random well-typed graphs.
//!
//! For each generated graph (and the same graph after `optimize`): a plan
//! exists (or, when some intermediate has a `?` dim, planning refuses with an
//! error naming it), the independent checker accepts it under several bindings of the
//! symbolic `batch` (including 0 and sizes the generator never uses), the
//! arena is at least the live-bytes lower bound and at most the sum of all
//! intermediate sizes, and planning is deterministic. The plan is data, so
//! the interpreter's results cannot change.

use ingot_passes::memory_plan::{check_plan, plan_memory, Bindings};
use ingot_passes::{optimize, PipelineOptions};
use ingot_tests::typed_gen::arb_typed_graph;
use proptest::prelude::*;

/// Whether some arena value has a `?` dim (its size is no function of the
/// inputs): planning must then refuse with an error naming it.
fn has_unknown_size(g: &ingot_ir::Graph) -> bool {
    g.order().iter().any(|&n| {
        let nd = g.node(n);
        !matches!(nd.op, ingot_ir::Op::Const { .. })
            && nd
                .outputs
                .iter()
                .any(|&v| g.ty(v).shape.contains(&ingot_ir::Dim::Unknown))
    })
}

fn check_all_bindings(g: &ingot_ir::Graph) -> Result<(), TestCaseError> {
    if has_unknown_size(g) {
        let e = plan_memory(g).expect_err("a `?` size cannot be planned");
        prop_assert!(e.contains("not a function of the input dims"), "{}", e);
        return Ok(());
    }
    let plan = plan_memory(g).map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
    prop_assert_eq!(
        &plan,
        &plan_memory(g).unwrap(),
        "planning is not deterministic"
    );
    for batch in [0, 1, 2, 3, 7, 64, 1001] {
        let b: Bindings = [("batch".to_string(), batch)].into_iter().collect();
        check_plan(g, &plan, &b)
            .map_err(|e| TestCaseError::fail(format!("batch={batch}: {e}\n{g}\n{plan:#?}")))?;
        let r = plan.report(&b).map_err(TestCaseError::fail)?;
        prop_assert!(
            r.lower_bound <= r.arena_bytes,
            "batch={}: {:?}\n{}",
            batch,
            r,
            g
        );
        prop_assert!(
            r.arena_bytes <= r.sum_bytes,
            "batch={}: {:?}\n{}",
            batch,
            r,
            g
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_plans_pass_the_checker(case in arb_typed_graph()) {
        check_all_bindings(&case.graph)?;
    }

    #[test]
    fn memory_plans_after_optimize_pass_the_checker(case in arb_typed_graph()) {
        let mut g = case.graph.clone();
        optimize(&mut g, &PipelineOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_all_bindings(&g)?;
    }
}
