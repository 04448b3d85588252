//! The pipeline: which passes run, in what order, in one readable function.
//!
//! Cleanup passes iterate to a fixed point (bounded). Every pass run is
//! recorded with its statistics; `dump_before`/`dump_after` keep copies of the
//! graph around the named passes, and `stop_after` ends the pipeline after
//! that many pass runs — together they make a bad rewrite bisectable.

use crate::const_fold::ConstFold;
use crate::cse::Cse;
use crate::dce::Dce;
use crate::fold_affine::FoldAffine;
use crate::fold_bn::FoldBn;
use crate::fuse_qdq::FuseQdq;
use crate::fusion::contraction::FuseContraction;
use crate::fusion::elementwise::FuseElementwise;
use crate::fusion::reduce::FuseReduce;
use crate::shape_consts::ShapeConsts;
use crate::shape_infer::ShapeInfer;
use crate::simplify::Simplify;
use crate::{Pass, PassCx, PassError, PassStat};
use ingot_ir::Graph;
use std::time::Instant;

/// How to run the pipeline.
#[derive(Clone, Debug, Default)]
pub struct PipelineOptions {
    /// Keep a copy of the graph before each run of these passes.
    pub dump_before: Vec<String>,
    /// Keep a copy of the graph after each run of these passes.
    pub dump_after: Vec<String>,
    /// Stop after this many pass runs (0 runs nothing).
    pub stop_after: Option<usize>,
    /// Run the verifier after every pass (always on in debug builds).
    pub verify_each: bool,
}

/// What the pipeline did.
#[derive(Clone, Debug, Default)]
pub struct PipelineReport {
    pub stats: Vec<PassStat>,
    /// `("before dce", graph)`, `("after cse", graph)`, in the order taken.
    pub dumps: Vec<(String, Graph)>,
    /// Whether `stop_after` cut the pipeline short.
    pub stopped: bool,
}

/// The names of the passes `optimize` runs, in first-run order.
pub const PASS_NAMES: [&str; 12] = [
    "shape-infer",
    "fuse-qdq",
    "simplify",
    "shape-consts",
    "const-fold",
    "cse",
    "dce",
    "fold-bn",
    "fold-affine",
    "fuse-reduce",
    "fuse-contraction",
    "fuse-elementwise",
];

/// Most rounds a fixed-point group runs before giving up on convergence.
const MAX_ROUNDS: usize = 8;

/// Optimize `g` in place.
pub fn optimize(g: &mut Graph, opts: &PipelineOptions) -> Result<PipelineReport, PassError> {
    let mut run = Runner {
        opts,
        report: PipelineReport::default(),
        cx: PassCx::default(),
    };
    // Types first: later passes read shapes.
    run.run(g, &ShapeInfer)?;
    if run.report.stopped {
        return Ok(run.report);
    }
    // Quantized (QDQ) graphs onto integer kernels, before constant folding
    // would turn their weights back into floats.
    run.run(g, &FuseQdq)?;
    if run.report.stopped {
        return Ok(run.report);
    }
    // Cleanup: algebraic rules, fold constants, merge duplicates, drop what
    // nothing uses, until nothing changes.
    run.fixed_point(
        g,
        &[&Simplify, &ShapeConsts, &ConstFold::default(), &Cse, &Dce],
    )?;
    if run.report.stopped {
        return Ok(run.report);
    }
    // Fold batch norms and per-channel scales/shifts into contraction
    // weights (computed in f64, rounded once), then clean up again.
    run.fixed_point(g, &[&FoldBn, &FoldAffine, &ConstFold::default(), &Dce])?;
    if run.report.stopped {
        return Ok(run.report);
    }
    // Fusion last, once shapes and weights are final; each pass takes only
    // unfused nodes, so the order decides who gets a contested neighbour:
    // 1. Row reductions first. A reduction kernel must stream whole rows
    //    anyway, so producers and consumers ride along for free, and the
    //    shapes around it (S, per-row R) are the most constrained: the
    //    attention scale and mask then join their softmax ("masked
    //    softmax"), and layernorm's residual add joins the layernorm.
    // 2. Contraction epilogues next: bias, activation and residual add are
    //    applied while the output tile is hot (every ResNet conv).
    // 3. Elementwise last, for the rest (GELU, SiLU, standalone chains). An
    //    elementwise tree with several consumers (GELU's x is used twice)
    //    cannot be an epilogue chain, so it becomes its own kernel.
    for p in [&FuseReduce as &dyn Pass, &FuseContraction, &FuseElementwise] {
        run.run(g, p)?;
        if run.report.stopped {
            return Ok(run.report);
        }
    }
    run.run(g, &Dce)?;
    Ok(run.report)
}

struct Runner<'a> {
    opts: &'a PipelineOptions,
    report: PipelineReport,
    cx: PassCx,
}

impl Runner<'_> {
    fn fixed_point(&mut self, g: &mut Graph, passes: &[&dyn Pass]) -> Result<bool, PassError> {
        let mut any = false;
        for _ in 0..MAX_ROUNDS {
            let mut changed = false;
            for p in passes {
                changed |= self.run(g, *p)?;
                if self.report.stopped {
                    return Ok(any | changed);
                }
            }
            any |= changed;
            if !changed {
                break;
            }
        }
        Ok(any)
    }

    fn run(&mut self, g: &mut Graph, p: &dyn Pass) -> Result<bool, PassError> {
        if self
            .opts
            .stop_after
            .is_some_and(|n| self.report.stats.len() >= n)
        {
            self.report.stopped = true;
            return Ok(false);
        }
        let name = p.name();
        if self.opts.dump_before.iter().any(|d| d == name) {
            self.report
                .dumps
                .push((format!("before {name}"), g.clone()));
        }
        let nodes_before = g.order().len();
        let fused_before = self.cx.fused;
        let t0 = Instant::now();
        let changed = p.run(g, &mut self.cx)?;
        self.report.stats.push(PassStat {
            pass: name,
            changed,
            nodes_before,
            nodes_after: g.order().len(),
            fused: self.cx.fused - fused_before,
            time: t0.elapsed(),
        });
        #[cfg(debug_assertions)]
        inject_fault(g, name);
        if self.opts.verify_each || cfg!(debug_assertions) {
            if let Err(e) = ingot_ir::verify(g) {
                return Err(PassError {
                    pass: name,
                    msg: format!("the graph no longer verifies:\n{e}"),
                });
            }
        }
        if self.opts.dump_after.iter().any(|d| d == name) {
            self.report.dumps.push((format!("after {name}"), g.clone()));
        }
        Ok(changed)
    }
}

/// Debug builds only: a deliberately broken pass, for testing `ingot
/// bisect`. With `INGOT_FAULT_AFTER=<pass>` set, the first run of that pass
/// also adds 1 to the first element of the graph's first f32 constant, a
/// wrong rewrite that keeps every type (so the verifier cannot see it).
#[cfg(debug_assertions)]
fn inject_fault(g: &mut Graph, pass: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    if std::env::var("INGOT_FAULT_AFTER").ok().as_deref() != Some(pass)
        || DONE.swap(true, Ordering::Relaxed)
    {
        return;
    }
    let target = g.order().iter().copied().find(|&n| {
        matches!(&g.node(n).op, ingot_ir::Op::Const { value }
            if value.dtype() == ingot_ir::DType::F32 && value.numel() > 0)
    });
    if let Some(n) = target {
        if let ingot_ir::Op::Const { value } = &mut g.node_mut(n).op {
            if let Ok(v) = value.as_mut_slice::<f32>() {
                v[0] += 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_ir::{DType, Op, TensorType};

    fn sample() -> Graph {
        let t = TensorType::fixed(DType::F32, &[2]);
        let mut g = Graph::new("f");
        let x = g.add_input("x", t.clone()).unwrap();
        let a = g.push_node(Op::Relu, vec![x], vec![t.clone()]);
        let b = g.push_node(Op::Relu, vec![x], vec![t.clone()]);
        let (a, b) = (g.node(a).outputs[0], g.node(b).outputs[0]);
        let s = g.push_node(Op::Add, vec![a, b], vec![t.clone()]);
        let s = g.node(s).outputs[0];
        g.set_outputs(vec![s]);
        g
    }

    #[test]
    fn records_stats_dumps_and_stops() {
        let mut g = sample();
        let opts = PipelineOptions {
            dump_after: vec!["cse".into()],
            ..Default::default()
        };
        let r = optimize(&mut g, &opts).unwrap();
        assert_eq!(r.stats[0].pass, "shape-infer");
        let cse = r.stats.iter().find(|s| s.pass == "cse").unwrap();
        assert_eq!((cse.nodes_before, cse.nodes_after), (3, 2));
        assert_eq!(r.dumps[0].0, "after cse");
        // The surviving relu and add then fuse into one kernel.
        assert_eq!(g.order().len(), 1);
        assert_eq!(g.node(g.order()[0]).op.name(), "fused");

        let mut g = sample();
        let opts = PipelineOptions {
            stop_after: Some(0),
            ..Default::default()
        };
        let r = optimize(&mut g, &opts).unwrap();
        assert!(r.stopped && r.stats.is_empty());
        assert_eq!(g.order().len(), 3);
    }
}

#[cfg(test)]
mod verify_tests {
    use super::*;
    use crate::Changed;
    use ingot_ir::{DType, Op, TensorType};

    /// A deliberately broken pass: retypes the first node's result.
    struct Breaker;
    impl Pass for Breaker {
        fn name(&self) -> &'static str {
            "breaker"
        }
        fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
            let v = g.node(g.order()[0]).outputs[0];
            g.set_ty(v, TensorType::fixed(DType::I64, &[2]));
            Ok(true)
        }
    }

    #[test]
    fn a_pass_that_breaks_the_graph_is_named() {
        let t = TensorType::fixed(DType::F32, &[2]);
        let mut g = Graph::new("f");
        let x = g.add_input("x", t.clone()).unwrap();
        let r = g.add_node(Op::Relu, &[x]).unwrap();
        g.set_outputs(r);
        let opts = PipelineOptions {
            verify_each: true,
            ..Default::default()
        };
        let mut run = Runner {
            opts: &opts,
            report: PipelineReport::default(),
            cx: PassCx::default(),
        };
        let e = run.run(&mut g, &Breaker).unwrap_err();
        assert_eq!(e.pass, "breaker");
        assert!(e.msg.contains("relu"), "{}", e.msg);
    }
}
