//! Property tests of the `simplify` pass over random well-typed graphs.
//!
//! Random graphs from `typed_gen` rarely contain the patterns simplify
//! rewrites, so each case is first *decorated*: random values get wrapped in
//! chains the rules target (`* 1`, `+ -0.0`, `- 0.0`, `/ 1`, identity, cast
//! to the same dtype and through wider types, transpose pairs, reshape pairs,
//! one-operand concat, matmul of a transpose) and the results replace them as
//! outputs or feed a final add. Then: the verifier accepts the simplified
//! graph, the interpreter's outputs are bit-identical (NaN matching NaN), and
//! a second run changes nothing.

use ingot_ir::{interp, verify, DType, Graph, Op, Tensor, Value};
use ingot_passes::simplify::simplify;
use ingot_tests::typed_gen::{arb_typed_graph, Case};
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

fn scalar_like(g: &mut Graph, v: Value, x: f64) -> Value {
    let dt = g.ty(v).dtype;
    let t = Tensor::from_f64s(dt, &[], &[x]).expect("scalar");
    g.add_const(t)
}

/// Wrap `v` in the decoration `k` picks; returns the new value (or `v` when
/// the decoration does not apply to its type).
fn decorate(g: &mut Graph, v: Value, k: u8) -> Value {
    let ty = g.ty(v).clone();
    let rank = ty.rank();
    let float = ty.dtype.is_float();
    let add = |g: &mut Graph, op: Op, ins: &[Value]| g.add_node(op, ins).ok().map(|r| r[0]);
    let r = match k % 10 {
        0 => {
            let one = scalar_like(g, v, 1.0);
            add(g, Op::Mul, &[one, v])
        }
        1 if float => {
            let nz = scalar_like(g, v, -0.0);
            add(g, Op::Add, &[v, nz])
        }
        2 => {
            let z = scalar_like(g, v, 0.0);
            add(g, Op::Sub, &[v, z])
        }
        3 => {
            let one = scalar_like(g, v, 1.0);
            add(g, Op::Div, &[v, one])
        }
        4 => add(g, Op::Identity, &[v]),
        5 if ty.dtype == DType::F32 => {
            let cast = |to| Op::Cast { to, saturate: true };
            add(g, cast(DType::F64), &[v]).and_then(|w| add(g, cast(DType::F32), &[w]))
        }
        5 => add(
            g,
            Op::Cast {
                to: ty.dtype,
                saturate: true,
            },
            &[v],
        ),
        6 if rank >= 2 => {
            let perm: Vec<i64> = (0..rank as i64).rev().collect();
            let t = add(g, Op::Transpose { perm: perm.clone() }, &[v]);
            t.and_then(|t| add(g, Op::Transpose { perm }, &[t]))
        }
        7 => {
            let Some(n) = ty.known_numel() else { return v };
            let Some(dims) = ty.known_dims() else {
                return v;
            };
            let flat = g.add_const(Tensor::from_vec(&[1], vec![n as i64]).expect("shape"));
            let back: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            let back = g.add_const(Tensor::from_vec(&[back.len()], back).expect("shape"));
            let r = Op::Reshape { allowzero: false };
            add(g, r.clone(), &[v, flat]).and_then(|w| add(g, r, &[w, back]))
        }
        8 if rank >= 1 => add(g, Op::Concat { axis: 0 }, &[v]),
        9 if rank == 2 && float => {
            let t = add(g, Op::Transpose { perm: vec![1, 0] }, &[v]);
            t.and_then(|t| add(g, Op::MatMul, &[t, v]))
        }
        _ => None,
    };
    r.unwrap_or(v)
}

/// Decorate the outputs of `case` with the choices in `picks`.
fn decorated(case: &Case, picks: &[u8]) -> Graph {
    let mut g = case.graph.clone();
    let mut outs = g.outputs().to_vec();
    for (i, &k) in picks.iter().enumerate() {
        let j = i % outs.len();
        outs[j] = decorate(&mut g, outs[j], k);
    }
    g.set_outputs(outs);
    g
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn simplify_is_exact_verified_and_idempotent(
        case in arb_typed_graph(),
        picks in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let before = decorated(&case, &picks);
        prop_assert!(verify::verify(&before).is_ok(), "decoration broke the graph:\n{before}");
        let mut g = before.clone();
        simplify(&mut g);
        if let Err(e) = verify::verify(&g) {
            return Err(TestCaseError::fail(format!("verifier rejects the result:\n{e}\n{g}")));
        }
        let want = interp::run(&before, &case.inputs)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{before}")))?;
        let got = interp::run(&g, &case.inputs)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
        prop_assert!(bit_equal(&want, &got), "outputs differ\nbefore:\n{before}\nafter:\n{g}");
        let once = g.clone();
        prop_assert!(!simplify(&mut g), "second run changed the graph:\n{once}\n{g}");
    }
}

/// The decorations must actually give simplify something to do.
#[test]
fn decorations_are_simplified() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut removed = 0;
    for k in 0..40u8 {
        let case = arb_typed_graph().new_tree(&mut runner).unwrap().current();
        let mut g = decorated(&case, &[k, k.wrapping_add(3), k.wrapping_add(7)]);
        let n0 = g.order().len();
        simplify(&mut g);
        ingot_passes::dce::dce(&mut g);
        removed += n0.saturating_sub(g.order().len());
    }
    assert!(
        removed >= 40,
        "only {removed} nodes removed in 40 decorated graphs"
    );
}
