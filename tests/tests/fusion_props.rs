//! Property tests of elementwise fusion over random well-typed graphs.
//!
//! The verifier accepts the result; the interpreter gives bit-identical
//! outputs before and after (fusion keeps every op and operand order, so
//! nothing reassociates); a second run changes nothing; and no producer →
//! consumer pair of unfused elementwise nodes with the same result shape
//! remains unless fusing it would create a cycle (another path joins them).
//! The fused graph also prints and parses back to an equal graph.

use ingot_ir::{interp, parse_with_weights, verify, Dim, Graph, Node, Op, Printer, Tensor};
use ingot_passes::fuse_elementwise::FuseElementwise;
use ingot_passes::{Pass, PassCx};
use ingot_tests::typed_gen::arb_typed_graph;
use proptest::prelude::*;
use std::collections::HashSet;

fn bit_equal(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dtype() == y.dtype() && x.shape() == y.shape() && x.bytes() == y.bytes()
        })
}

fn fusable_shape(g: &Graph, n: Node) -> Option<Vec<Dim>> {
    let nd = g.node(n);
    let shape = &g.ty(*nd.outputs.first()?).shape;
    (nd.op.is_elementwise()
        && nd.outputs.len() == 1
        && !shape.iter().any(|d| matches!(d, Dim::Unknown)))
    .then(|| shape.to_vec())
}

/// Whether `to` is reachable from `from` other than by a direct edge.
fn indirect_path(g: &Graph, from: Node, to: Node) -> bool {
    let users = g.users();
    let succ = |n: Node| -> Vec<Node> {
        g.node(n)
            .outputs
            .iter()
            .flat_map(|v| users.get(v).cloned().unwrap_or_default())
            .collect()
    };
    let mut stack: Vec<Node> = succ(from).into_iter().filter(|&s| s != to).collect();
    let mut seen = HashSet::new();
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if seen.insert(x) {
            stack.extend(succ(x));
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fusion_is_exact_idempotent_and_maximal(case in arb_typed_graph()) {
        let mut g = case.graph.clone();
        let mut cx = PassCx::default();
        let changed = FuseElementwise.run(&mut g, &mut cx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(changed, cx.fused > 0);
        if let Err(e) = verify::verify(&g) {
            return Err(TestCaseError::fail(format!("verifier rejects:\n{e}\n{g}")));
        }
        let want = interp::run(&case.graph, &case.inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{}", case.graph)))?;
        let got = interp::run(&g, &case.inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
        prop_assert!(bit_equal(&want, &got), "outputs differ\nbefore:\n{}\nafter:\n{g}", case.graph);

        for &c in g.order() {
            let Some(shape) = fusable_shape(&g, c) else { continue };
            for &v in &g.node(c).inputs {
                let Some(p) = g.producer(v) else { continue };
                if fusable_shape(&g, p).as_ref() == Some(&shape) {
                    prop_assert!(indirect_path(&g, p, c), "{p} → {c} left unfused\n{g}");
                }
            }
            if let Op::Fused { body, .. } = &g.node(c).op {
                prop_assert!(body.order().len() >= 2);
            }
        }

        // Fused nodes print and parse back (the body is a graph attribute).
        let (text, table) = Printer { inline_limit: 16 }.print_with_weights(&g);
        let back = parse_with_weights(&text, &table).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(back == g, "round trip differs:\n{}", text);

        let once = g.clone();
        let again = FuseElementwise.run(&mut g, &mut PassCx::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!again, "second run changed the graph");
        prop_assert_eq!(once, g);
    }
}
