//! Property tests of `fold-bn` and `fold-affine` on their own generator.
//!
//! Random graphs from `typed_gen` rarely hold a batch norm, so this file
//! builds chains `contraction → follower*` itself: conv (groups, strides,
//! pads, odd sizes, with/without bias), conv_transpose (groups), gemm (both
//! `trans_a`/`trans_b`, alpha/beta, `c` absent, per-channel, scalar or varying
//! along M) and rank-2 matmul (bare or with a bias `add`), followed by 1–3 of
//! batch_norm (var > 0), `mul` and `add` by per-channel constants of every
//! broadcast spelling (scalar, `[C]`, `[C,1,1]`, `[1,C,1,1]`, `[1,C]`);
//! sometimes the contraction's result is also a graph output (no fold).
//!
//! Checked: the verifier accepts the result; no `batch_norm` remains; when
//! nothing blocks the fold, only the contraction (plus a matmul's bias `add`)
//! is left after `fold-bn`, `fold-affine`, `dce`; both passes are idempotent;
//! the interpreter agrees before/after within the stated tolerance. The
//! tolerance: folding moves one rounding (weights are rounded once to their
//! dtype) and cancellation can leave a small output next to large terms, so
//! `|a-b| <= rtol·|b| + atol·max(1, max|b|)` with (rtol, atol) = (1e-4,
//! 1e-5) for f32, (1e-10, 1e-12) for f64 and (2e-2, 2e-2) for f16.

use ingot_ir::attr::AutoPad;
use ingot_ir::{interp, verify, DType, Graph, Op, Tensor, TensorType, Value};
use ingot_passes::dce::dce;
use ingot_passes::fold_affine::fold_affine;
use ingot_passes::fold_bn::fold_bn;
use ingot_tests::gen::Rng;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Kind {
    Conv {
        transposed: bool,
        group: usize,
        k: usize,
        stride: usize,
        pad: usize,
    },
    Gemm {
        trans_a: bool,
        trans_b: bool,
        c: u8,
        beta_zero: bool,
    },
    MatMul {
        bias: bool,
    },
}

#[derive(Clone, Debug)]
struct Recipe {
    kind: Kind,
    dtype: DType,
    /// Batch (or M), per-group input channels (or K), per-group outputs (or N).
    n: usize,
    cin: usize,
    cout: usize,
    hw: (usize, usize),
    bias: bool,
    /// Followers: 0 batch_norm, 1 mul, 2 add; with a broadcast spelling.
    follow: Vec<(u8, u8)>,
    shared: bool,
    seed: u64,
}

fn uni(r: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn rand_t(r: &mut Rng, dt: DType, shape: &[usize], lo: f64, hi: f64) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| uni(r, lo, hi)).collect();
    Tensor::from_f64s(dt, shape, &v).unwrap()
}

/// Graph and inputs; the bool says whether a full fold is expected.
fn build(rc: &Recipe) -> (Graph, Vec<Tensor>, bool) {
    let mut r = Rng::new(rc.seed);
    let dt = rc.dtype;
    let mut g = Graph::new("f");
    let mut full = !rc.shared;
    let (xshape, y, c) = match rc.kind {
        Kind::Conv {
            transposed,
            group,
            k,
            stride,
            pad,
        } => {
            let (cin, cout) = (rc.cin * group, rc.cout * group);
            // Without padding the window must fit.
            let xs = vec![rc.n, cin, rc.hw.0.max(k), rc.hw.1.max(k)];
            let x = g.add_input("x", TensorType::fixed(dt, &xs)).unwrap();
            let ws = if transposed {
                [cin, rc.cout, k, k]
            } else {
                [cout, rc.cin, k, k]
            };
            let w = g.add_const(rand_t(&mut r, dt, &ws, -1.0, 1.0));
            let mut ins = vec![x, w];
            if rc.bias {
                ins.push(g.add_const(rand_t(&mut r, dt, &[cout], -1.0, 1.0)));
            }
            let (strides, dilations) = (vec![stride as i64; 2], vec![1; 2]);
            // A transposed conv may not crop its whole output.
            let pad = if transposed && k < 3 { 0 } else { pad };
            let pads = vec![pad as i64; 4];
            let (group, auto_pad) = (group as i64, AutoPad::NotSet);
            let op = if transposed {
                Op::ConvTranspose {
                    strides,
                    pads,
                    dilations,
                    group,
                    auto_pad,
                    output_padding: vec![],
                    output_shape: vec![],
                }
            } else {
                Op::Conv {
                    strides,
                    pads,
                    dilations,
                    group,
                    auto_pad,
                }
            };
            (xs, g.add_node(op, &ins).unwrap()[0], cout)
        }
        Kind::Gemm {
            trans_a,
            trans_b,
            c,
            beta_zero,
        } => {
            let (m, k, n) = (rc.n, rc.cin, rc.cout);
            let xs = if trans_a { vec![k, m] } else { vec![m, k] };
            let x = g.add_input("x", TensorType::fixed(dt, &xs)).unwrap();
            let ws = if trans_b { [n, k] } else { [k, n] };
            let w = g.add_const(rand_t(&mut r, dt, &ws, -1.0, 1.0));
            let mut ins = vec![x, w];
            let cs: Option<Vec<usize>> = match c % 5 {
                0 => None,
                1 => Some(vec![n]),
                2 => Some(vec![1, n]),
                3 => Some(vec![]),
                _ => Some(vec![m, n]),
            };
            if let Some(cs) = cs {
                full &= !(cs == [m, n] && m > 1 && !beta_zero);
                ins.push(g.add_const(rand_t(&mut r, dt, &cs, -1.0, 1.0)));
            }
            let beta = if beta_zero { 0.0 } else { 0.75 };
            let op = Op::Gemm {
                alpha: 1.5,
                beta,
                trans_a,
                trans_b,
            };
            (xs, g.add_node(op, &ins).unwrap()[0], n)
        }
        Kind::MatMul { bias } => {
            let xs = vec![rc.n, rc.cin];
            let x = g.add_input("x", TensorType::fixed(dt, &xs)).unwrap();
            let w = g.add_const(rand_t(&mut r, dt, &[rc.cin, rc.cout], -1.0, 1.0));
            let mut y = g.add_node(Op::MatMul, &[x, w]).unwrap()[0];
            if bias {
                let b = g.add_const(rand_t(&mut r, dt, &[rc.cout], -1.0, 1.0));
                y = g.add_node(Op::Add, &[b, y]).unwrap()[0];
            }
            (xs, y, rc.cout)
        }
    };
    let rank = g.ty(y).rank();
    let mut outs = vec![];
    if rc.shared {
        outs.push(y);
    }
    let mut v: Value = y;
    for &(f, sp) in &rc.follow {
        // A per-channel constant of shape [.., C, 1, ..] with `sp` choosing
        // how many leading axes are written.
        let mut shape = vec![c];
        shape.resize(rank - 1, 1);
        match sp % 3 {
            0 => shape.insert(0, 1),
            1 => {}
            _ => shape = vec![],
        }
        v = match f % 3 {
            0 => {
                let p = [(0.5, 1.5), (-1.0, 1.0), (-0.5, 0.5), (0.25, 2.0)];
                let mut ins = vec![v];
                for (i, (lo, hi)) in p.into_iter().enumerate() {
                    let mut t = rand_t(&mut r, dt, &[c], lo, hi);
                    if i == 0 && sp % 2 == 1 {
                        let neg: Vec<f64> = t.to_f64s().iter().map(|x| -x).collect();
                        t = Tensor::from_f64s(dt, &[c], &neg).unwrap();
                    }
                    ins.push(g.add_const(t));
                }
                g.add_node(Op::BatchNorm { epsilon: 1e-5 }, &ins).unwrap()[0]
            }
            1 => {
                let k = g.add_const(rand_t(&mut r, dt, &shape, 0.5, 2.0));
                g.add_node(Op::Mul, &[v, k]).unwrap()[0]
            }
            _ => {
                let k = g.add_const(rand_t(&mut r, dt, &shape, -1.0, 1.0));
                g.add_node(Op::Add, &[k, v]).unwrap()[0]
            }
        };
    }
    outs.push(v);
    g.set_outputs(outs);
    let x = rand_t(&mut r, dt, &xshape, -1.0, 1.0);
    (g, vec![x], full)
}

fn arb_recipe() -> impl Strategy<Value = Recipe> {
    let kind = prop_oneof![
        (
            any::<bool>(),
            1usize..=3,
            1usize..=3,
            1usize..=2,
            0usize..=1
        )
            .prop_map(|(transposed, group, k, stride, pad)| Kind::Conv {
                transposed,
                group,
                k,
                stride,
                pad
            }),
        (any::<bool>(), any::<bool>(), any::<u8>(), any::<bool>()).prop_map(
            |(trans_a, trans_b, c, beta_zero)| Kind::Gemm {
                trans_a,
                trans_b,
                c,
                beta_zero
            }
        ),
        any::<bool>().prop_map(|bias| Kind::MatMul { bias }),
    ];
    let dtype = prop_oneof![6 => Just(DType::F32), 3 => Just(DType::F64), 1 => Just(DType::F16)];
    let size = prop_oneof![Just(1usize), Just(2), Just(3), Just(5), Just(17)];
    (
        kind,
        dtype,
        (1usize..=3, size.clone(), size),
        (1usize..=5, 1usize..=5, any::<bool>()),
        prop::collection::vec((any::<u8>(), any::<u8>()), 1..=3),
        prop::bool::weighted(0.15),
        any::<u64>(),
    )
        .prop_map(
            |(kind, dtype, (n, cin, cout), (h, w, bias), follow, shared, seed)| {
                // Convs keep channel counts small: groups multiply them.
                let (cin, cout) = match kind {
                    Kind::Conv { .. } => (cin.min(3), cout.min(5)),
                    _ => (cin, cout),
                };
                Recipe {
                    kind,
                    dtype,
                    n,
                    cin,
                    cout,
                    hw: (h, w),
                    bias,
                    follow,
                    shared,
                    seed,
                }
            },
        )
}

fn tolerance(dt: DType) -> (f64, f64) {
    match dt {
        DType::F64 => (1e-10, 1e-12),
        DType::F16 => (2e-2, 2e-2),
        _ => (1e-4, 1e-5),
    }
}

fn close(want: &[Tensor], got: &[Tensor], dt: DType) -> Result<(), String> {
    let (rtol, atol) = tolerance(dt);
    for (a, b) in got.iter().zip(want) {
        if a.shape() != b.shape() || a.dtype() != b.dtype() {
            return Err(format!("type changed: {a:?} vs {b:?}"));
        }
        let bv = b.to_f64s();
        let big = bv.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for (i, (p, q)) in a.to_f64s().iter().zip(&bv).enumerate() {
            if !(p == q || (p - q).abs() <= rtol * q.abs() + atol * big) {
                return Err(format!("element {i}: {p} after vs {q} before"));
            }
        }
    }
    Ok(())
}

fn count(g: &Graph, f: impl Fn(&Op) -> bool) -> usize {
    g.order().iter().filter(|&&n| f(&g.node(n).op)).count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn folding_preserves_results(rc in arb_recipe()) {
        let (before, inputs, full) = build(&rc);
        prop_assert!(verify::verify(&before).is_ok(), "{before}");
        let want = interp::run(&before, &inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{before}")))?;
        let mut g = before.clone();
        fold_bn(&mut g);
        verify::verify(&g).map_err(|e| TestCaseError::fail(format!("fold-bn: {e}\n{g}")))?;
        prop_assert_eq!(count(&g, |op| matches!(op, Op::BatchNorm { .. })), 0, "{}", g);
        prop_assert!(!fold_bn(&mut g), "fold-bn is not idempotent\n{}", g);
        fold_affine(&mut g);
        verify::verify(&g).map_err(|e| TestCaseError::fail(format!("fold-affine: {e}\n{g}")))?;
        prop_assert!(!fold_affine(&mut g), "fold-affine is not idempotent\n{}", g);
        prop_assert!(!fold_bn(&mut g));
        dce(&mut g);
        let got = interp::run(&g, &inputs).map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
        close(&want, &got, rc.dtype)
            .map_err(|e| TestCaseError::fail(format!("{e}\nbefore:\n{before}\nafter:\n{g}")))?;
        if full {
            let left = count(&g, |op| !matches!(op, Op::Const { .. }));
            let allowed = if matches!(rc.kind, Kind::MatMul { .. }) { 2 } else { 1 };
            prop_assert!(left <= allowed, "not fully folded\nbefore:\n{}\nafter:\n{}", before, g);
        }
    }
}
