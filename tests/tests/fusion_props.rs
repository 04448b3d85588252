//! Property tests of the fusion passes over random well-typed graphs.
//!
//! For each of `fuse-elementwise`, `fuse-reduce`, `fuse-contraction`, and
//! for the three in pipeline order: the verifier accepts the result; the
//! interpreter gives bit-identical outputs before and after (fusion keeps
//! every op and operand order, so nothing reassociates); a second run
//! changes nothing; every fused body keeps its kind's contract (checked here
//! independently of the passes' own code); the graph prints and parses back
//! to an equal graph. Elementwise fusion is also maximal: no producer →
//! consumer pair of unfused elementwise nodes with the same result shape
//! remains unless another path joins them.

use ingot_ir::{interp, parse_with_weights, verify, Dim, Graph, Node, Op, Printer, Tensor};
use ingot_passes::fusion::contraction::FuseContraction;
use ingot_passes::fusion::elementwise::FuseElementwise;
use ingot_passes::fusion::reduce::FuseReduce;
use ingot_passes::{Pass, PassCx};
use ingot_tests::typed_gen::{arb_typed_graph, Case};
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

/// The trailing axes `[k, r)` a row reduction reduces, from the op alone.
fn row_axes(op: &Op, r: usize) -> Option<usize> {
    let norm = |a: i64| (if a < 0 { a + r as i64 } else { a }) as usize;
    match op {
        Op::ReduceSum { axes, .. }
        | Op::ReduceMean { axes, .. }
        | Op::ReduceMax { axes, .. }
        | Op::ReduceMin { axes, .. }
        | Op::ReduceSumSquare { axes, .. }
        | Op::ReduceL2 { axes, .. } => {
            let mut a: Vec<usize> = axes.iter().map(|&x| norm(x)).collect();
            a.sort_unstable();
            let k = a.first().copied().unwrap_or(0);
            (a.is_empty() || a == (k..r).collect::<Vec<_>>()).then_some(k)
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => (norm(*axis) + 1 == r).then(|| r - 1),
        Op::LayerNorm { axis, .. } => Some(norm(*axis)),
        _ => None,
    }
}

/// Check the body contract of every fused node (COMMON2.md, docs/passes.md).
fn check_contracts(g: &Graph) -> Result<(), String> {
    for &n in g.order() {
        let Op::Fused { kind, body } = &g.node(n).op else {
            continue;
        };
        let nodes: Vec<Node> = body
            .order()
            .iter()
            .copied()
            .filter(|&b| !matches!(body.node(b).op, Op::Const { .. }))
            .collect();
        let shape = |b: Node| body.ty(body.node(b).outputs[0]).shape.clone();
        match kind.as_str() {
            "elementwise" => {
                let s = shape(nodes[0]);
                if nodes.len() < 2
                    || nodes
                        .iter()
                        .any(|&b| !body.node(b).op.is_elementwise() || shape(b) != s)
                {
                    return Err(format!("bad elementwise body at {n}"));
                }
            }
            "contraction" => {
                let first = body.node(body.order()[0]);
                let ok_first = matches!(
                    first.op,
                    Op::MatMul | Op::Gemm { .. } | Op::Conv { .. } | Op::ConvTranspose { .. }
                );
                let s = shape(body.order()[0]);
                let rest_ok = nodes[1..]
                    .iter()
                    .all(|&b| body.node(b).op.is_elementwise() && shape(b) == s);
                if !ok_first || !rest_ok || body.outputs().len() != 1 || nodes.len() < 2 {
                    return Err(format!("bad contraction body at {n}"));
                }
            }
            "reduce" => {
                let reds: Vec<Node> = nodes
                    .iter()
                    .copied()
                    .filter(|&b| !body.node(b).op.is_elementwise())
                    .collect();
                let Some(&r0) = reds.first() else {
                    return Err(format!("reduce body without a reduction at {n}"));
                };
                let s = body.ty(body.node(r0).inputs[0]).shape.clone();
                let k = row_axes(&body.node(r0).op, s.len())
                    .ok_or(format!("{n}: not a row reduction"))?;
                let mut keep = s.clone();
                keep[k..].fill(Dim::Known(1));
                let classes = [s.clone(), keep.clone(), s[..k].to_vec()];
                let made_inside = |v| {
                    body.producer(v)
                        .is_some_and(|p| !matches!(body.node(p).op, Op::Const { .. }))
                };
                for &b in &nodes {
                    let nd = body.node(b);
                    let y = shape(b);
                    // In-body operands are per-row values broadcast along
                    // the row, or have the result's shape.
                    let edges_ok = nd.inputs.iter().all(|&v| {
                        let ps = &body.ty(v).shape;
                        !made_inside(v) || *ps == y || (y == s && *ps == keep)
                    });
                    let ok = if nd.op.is_elementwise() {
                        classes.contains(&y) && edges_ok
                    } else {
                        body.ty(nd.inputs[0]).shape == s && row_axes(&nd.op, s.len()) == Some(k)
                    };
                    if !ok {
                        return Err(format!("{n}: {} breaks the row space", nd.op.name()));
                    }
                }
            }
            other => return Err(format!("unknown fused kind {other}")),
        }
    }
    Ok(())
}

fn run_passes(case: &Case, passes: &[&dyn Pass]) -> Result<Graph, TestCaseError> {
    let mut g = case.graph.clone();
    let mut cx = PassCx::default();
    for p in passes {
        let before = cx.fused;
        let changed = p
            .run(&mut g, &mut cx)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(changed, cx.fused > before);
        if let Err(e) = verify::verify(&g) {
            return Err(TestCaseError::fail(format!(
                "verifier rejects after {}:\n{e}\n{g}",
                p.name()
            )));
        }
    }
    let want = interp::run(&case.graph, &case.inputs)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{}", case.graph)))?;
    let got =
        interp::run(&g, &case.inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
    prop_assert!(
        bit_equal(&want, &got),
        "outputs differ\nbefore:\n{}\nafter:\n{g}",
        case.graph
    );
    check_contracts(&g).map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
    // Fused nodes print and parse back (the body is a graph attribute).
    let (text, table) = Printer { inline_limit: 16 }.print_with_weights(&g);
    let back = parse_with_weights(&text, &table)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert!(back == g, "round trip differs:\n{}", text);
    // Idempotent: running the passes again changes nothing.
    let once = g.clone();
    for p in passes {
        let again = p
            .run(&mut g, &mut PassCx::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!again, "second run of {} changed the graph", p.name());
    }
    prop_assert_eq!(once, g.clone());
    Ok(g)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn elementwise_fusion_is_exact_idempotent_and_maximal(case in arb_typed_graph()) {
        let g = run_passes(&case, &[&FuseElementwise])?;
        for &c in g.order() {
            let Some(shape) = fusable_shape(&g, c) else { continue };
            for &v in &g.node(c).inputs {
                let Some(p) = g.producer(v) else { continue };
                if fusable_shape(&g, p).as_ref() == Some(&shape) {
                    prop_assert!(indirect_path(&g, p, c), "{p} → {c} left unfused\n{g}");
                }
            }
        }
    }

    #[test]
    fn reduce_fusion_is_exact_and_idempotent(case in arb_typed_graph()) {
        let g = run_passes(&case, &[&FuseReduce])?;
        // Every row reduction of fully known shape ends up in a kernel.
        for &n in g.order() {
            let nd = g.node(n);
            let ty = g.ty(nd.outputs[0]);
            let known = nd.inputs.first().is_some_and(|&x| g.ty(x).shape.iter().all(Dim::is_known))
                && ty.shape.iter().all(Dim::is_known);
            let r = nd.inputs.first().map_or(0, |&x| g.ty(x).rank());
            prop_assert!(
                !(known && r > 0 && row_axes(&nd.op, r).is_some_and(|k| k < r)),
                "row reduction {n} left unfused\n{g}"
            );
        }
    }

    #[test]
    fn contraction_fusion_is_exact_and_idempotent(case in arb_typed_graph()) {
        run_passes(&case, &[&FuseContraction])?;
    }

    #[test]
    fn fusion_in_pipeline_order_is_exact_and_idempotent(case in arb_typed_graph()) {
        run_passes(&case, &[&FuseReduce, &FuseContraction, &FuseElementwise])?;
    }
}
