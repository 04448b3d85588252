//! Lowering a `fused {kind="reduce"}` body (or one reduction op wrapped by
//! `single_op_body`) to a [`Prog`] with row reductions, plus the row space
//! the kernel object needs at run time.
//!
//! Contract (docs/passes.md, fuse-reduce): every reduction reduces the
//! trailing axes `[k, r)` of one row space S (rank r); every body value is
//! S-shaped, R-shaped (S with axes ≥ k set to 1) or R'-shaped (S without
//! them); external operands broadcast (numpy) against the value they feed.
//! This module checks that contract on the body's types and rejects what
//! breaks it, so a per-row value is always "one element per row of S".
//!
//! Reductions become `Reduce(Sum|Max|Min)` plus elementwise steps, in the
//! interpreter's formulas (so tolerances only come from f32 arithmetic and
//! summation order): mean = Σx / len; softmax = e / Σe with e = exp(x − max);
//! log_softmax = (x − max) − ln Σe (softmax multiplies by 1/Σe); layer_norm = (x − μ)·(1/√(σ² + ε))·γ + β
//! with σ² = Σ(x − μ)² / len (two passes, not E[x²] − μ²); rms_norm =
//! x / √(Σx²/len + ε)·γ.

use super::prog::{Bin, Lowerer, Prog, Red, Reg, Ty, Un, E};
use super::JitError;
use ingot_ir::{Dim, Graph, Op, Value};

pub(crate) use ingot_runtime::jit::Space;

/// A lowered reduce body.
#[derive(Clone, Debug)]
pub(crate) struct ReduceProg {
    pub prog: Prog,
    /// The first reduced axis.
    pub k: usize,
    /// S as the body's types spell it (rank r).
    pub s: Vec<Dim>,
    /// Per body input: the space it broadcasts against.
    pub in_space: Vec<Space>,
    /// Per body output: its space, and whether its type is S (full rows).
    pub out_space: Vec<(Space, bool)>,
}

fn unsupported(op: &Op, why: impl Into<String>) -> JitError {
    JitError::Unsupported {
        op: op.name().to_string(),
        why: why.into(),
    }
}

/// The first axis of `axes` when they are exactly `[k, rank)` (empty: all).
fn trailing(axes: &[i64], rank: usize) -> Option<usize> {
    let r = rank as i64;
    let mut a: Vec<i64> = axes
        .iter()
        .map(|&x| if x < 0 { x + r } else { x })
        .collect();
    if a.is_empty() {
        return Some(0);
    }
    a.sort_unstable();
    let k = a[0];
    (k >= 0 && a == (k..r).collect::<Vec<_>>()).then_some(k as usize)
}

fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    (0..rank as i64).contains(&a).then_some(a as usize)
}

/// The first reduced axis of a reduction node on an input of rank `r`, or
/// `None` if the node is not a reduction this kernel handles.
fn seed_axis(op: &Op, r: usize) -> Option<Result<usize, JitError>> {
    let k = match op {
        Op::ReduceSum { axes, .. }
        | Op::ReduceMean { axes, .. }
        | Op::ReduceMax { axes, .. }
        | Op::ReduceMin { axes, .. }
        | Op::ReduceSumSquare { axes, .. }
        | Op::ReduceL2 { axes, .. } => trailing(axes, r),
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            norm_axis(*axis, r).filter(|&a| a + 1 == r)
        }
        Op::LayerNorm { axis, .. } | Op::RmsNorm { axis, .. } => norm_axis(*axis, r),
        _ => return None,
    };
    Some(k.filter(|&k| k < r).ok_or_else(|| {
        unsupported(
            op,
            format!("reduces axes other than trailing ones of a rank-{r} input"),
        )
    }))
}

struct Low<'g> {
    l: Lowerer<'g>,
    k: usize,
    s: Vec<Dim>,
    in_space: Vec<Option<Space>>,
}

impl Low<'_> {
    fn push(&mut self, e: E) -> Reg {
        self.l.push(e, Ty::F32)
    }

    fn bin(&mut self, b: Bin, x: Reg, y: Reg) -> Reg {
        self.push(E::Bin(b, x, y))
    }

    fn un(&mut self, u: Un, x: Reg) -> Reg {
        self.push(E::Un(u, x))
    }

    fn red(&mut self, r: Red, x: Reg) -> Reg {
        self.push(E::Reduce(r, x))
    }

    /// Record that body input `v` (if it is one) broadcasts against `sp`.
    fn note_space(&mut self, op: &Op, v: Value, sp: Space) -> Result<(), JitError> {
        let g = self.l.g;
        let Some(k) = g.inputs().iter().position(|&i| i == v) else {
            return Ok(());
        };
        if g.ty(v).known_numel() == Some(1) {
            return Ok(()); // one element broadcasts the same way in both
        }
        match self.in_space[k] {
            Some(old) if old != sp => Err(unsupported(
                op,
                format!("operand {k} ({}) is used per element and per row", g.ty(v)),
            )),
            _ => {
                self.in_space[k] = Some(sp);
                Ok(())
            }
        }
    }

    /// The space a value of shape `shape` lives in, if it is S, R or R'.
    fn space_of(&self, shape: &[Dim]) -> Option<(Space, bool)> {
        if shape == self.s.as_slice() {
            return Some((Space::Row, true));
        }
        let r = self.s.len();
        let outer_ok = |n: usize| shape.len() >= n && shape[..n] == self.s[..n];
        if shape.len() == r
            && outer_ok(self.k)
            && shape[self.k..].iter().all(|d| *d == Dim::Known(1))
        {
            return Some((Space::Row, false));
        }
        (shape.len() == self.k && outer_ok(self.k)).then_some((Space::Dropped, false))
    }

    fn node(&mut self, op: &Op, ins: &[Value], outs: &[Value]) -> Result<(), JitError> {
        let g = self.l.g;
        let [out] = outs else {
            return Err(unsupported(op, "expected one result"));
        };
        if let Op::Const { value } = op {
            if value.numel() != 1 {
                return Err(unsupported(op, "constant with more than one element"));
            }
            return self.l.node(op, ins, outs);
        }
        let out_ty = g.ty(*out);
        let (sp, _) = self.space_of(&out_ty.shape).ok_or_else(|| {
            unsupported(
                op,
                format!("result {out_ty} is outside the row space {:?}", self.s),
            )
        })?;
        let r = self.s.len();
        if let Some(k) = seed_axis(op, g.ty(ins[0]).rank()) {
            if k? != self.k || g.ty(ins[0]).shape != self.s {
                return Err(unsupported(op, "reduces another row space than the body's"));
            }
            for &v in ins {
                self.note_space(op, v, Space::Row)?;
            }
            let y = self.seed(op, ins)?;
            self.l.regs.insert(*out, y);
            return Ok(());
        }
        // An operand made in the body must be in the result's space (or
        // per-row where the result is S); a dropped-axes value next to a
        // rank-r one would broadcast along the wrong axes.
        for &v in ins {
            let t = g.ty(v);
            let inside = !g.inputs().contains(&v);
            if inside && t.known_numel() != Some(1) && t.rank() != out_ty.rank() {
                return Err(unsupported(
                    op,
                    format!("operand {t} and result {out_ty} broadcast across the row space"),
                ));
            }
            self.note_space(op, v, sp)?;
        }
        debug_assert!(out_ty.rank() == r || out_ty.rank() == self.k);
        self.l.node(op, ins, outs)
    }

    fn f32_operand(&mut self, op: &Op, v: Value) -> Result<Reg, JitError> {
        let t = self.l.g.ty(v);
        if t.dtype != ingot_ir::DType::F32 {
            return Err(unsupported(op, format!("operand of type {t} (f32 only)")));
        }
        self.l.reg(v)
    }

    fn seed(&mut self, op: &Op, ins: &[Value]) -> Result<Reg, JitError> {
        let x = self.f32_operand(op, ins[0])?;
        let len = self.push(E::RowLen);
        Ok(match op {
            Op::ReduceSum { .. } => self.red(Red::Sum, x),
            Op::ReduceMean { .. } => {
                let s = self.red(Red::Sum, x);
                self.bin(Bin::Div, s, len)
            }
            Op::ReduceMax { .. } => self.red(Red::Max, x),
            Op::ReduceMin { .. } => self.red(Red::Min, x),
            Op::ReduceSumSquare { .. } | Op::ReduceL2 { .. } => {
                let xx = self.bin(Bin::Mul, x, x);
                let s = self.red(Red::Sum, xx);
                match op {
                    Op::ReduceL2 { .. } => self.un(Un::Sqrt, s),
                    _ => s,
                }
            }
            Op::Softmax { .. } | Op::LogSoftmax { .. } => {
                let m = self.red(Red::Max, x);
                let d = self.bin(Bin::Sub, x, m);
                let e = self.un(Un::Exp, d);
                let s = self.red(Red::Sum, e);
                if let Op::Softmax { .. } = op {
                    // One division per row; e·(1/s) is within 2 ulp of e/s.
                    let inv = self.un(Un::Recip, s);
                    self.bin(Bin::Mul, e, inv)
                } else {
                    let ls = self.un(Un::Log, s);
                    self.bin(Bin::Sub, d, ls)
                }
            }
            Op::LayerNorm { epsilon, .. } => {
                let s = self.red(Red::Sum, x);
                let mean = self.bin(Bin::Div, s, len);
                let d = self.bin(Bin::Sub, x, mean);
                let dd = self.bin(Bin::Mul, d, d);
                let ss = self.red(Red::Sum, dd);
                let var = self.bin(Bin::Div, ss, len);
                let eps = self.push(E::ConstF(*epsilon));
                let ve = self.bin(Bin::Add, var, eps);
                let sd = self.un(Un::Sqrt, ve);
                let inv = self.un(Un::Recip, sd);
                let y = self.bin(Bin::Mul, d, inv);
                let scale = self.f32_operand(op, ins[1])?;
                let y = self.bin(Bin::Mul, y, scale);
                match ins.get(2) {
                    Some(&b) => {
                        let b = self.f32_operand(op, b)?;
                        self.bin(Bin::Add, y, b)
                    }
                    None => y,
                }
            }
            Op::RmsNorm { epsilon, .. } => {
                let xx = self.bin(Bin::Mul, x, x);
                let s = self.red(Red::Sum, xx);
                let ms = self.bin(Bin::Div, s, len);
                let eps = self.push(E::ConstF(*epsilon));
                let me = self.bin(Bin::Add, ms, eps);
                let rms = self.un(Un::Sqrt, me);
                let y = self.bin(Bin::Div, x, rms);
                let scale = self.f32_operand(op, ins[1])?;
                self.bin(Bin::Mul, y, scale)
            }
            _ => return Err(unsupported(op, "not a row reduction")),
        })
    }
}

/// Lower a reduce body: find its row space from the reductions, lower every
/// node, and check the row-space contract.
pub(crate) fn lower_reduce(g: &Graph) -> Result<ReduceProg, JitError> {
    let mut space: Option<(usize, Vec<Dim>)> = None;
    for &n in g.order() {
        let nd = g.node(n);
        let Some(&x) = nd.inputs.first() else {
            continue;
        };
        let t = g.ty(x);
        if let Some(k) = seed_axis(&nd.op, t.rank()) {
            let k = k?;
            match &space {
                Some((k0, s0)) if (*k0, s0) != (k, &t.shape) => {
                    return Err(unsupported(
                        &nd.op,
                        format!("reduces {t} from axis {k}; the body's rows are {s0:?} from {k0}"),
                    ))
                }
                _ => space = Some((k, t.shape.clone())),
            }
        }
    }
    let Some((k, s)) = space else {
        return Err(JitError::Unsupported {
            op: "fused".into(),
            why: "a reduce body without a reduction".into(),
        });
    };
    let mut low = Low {
        l: Lowerer::new(g),
        k,
        s,
        in_space: vec![None; g.inputs().len()],
    };
    for &n in g.order() {
        let nd = g.node(n);
        low.node(&nd.op, &nd.inputs, &nd.outputs)?;
    }
    let mut out_space = vec![];
    for &v in g.outputs() {
        let t = g.ty(v);
        let sp = low
            .space_of(&t.shape)
            .ok_or_else(|| JitError::Unsupported {
                op: "fused".into(),
                why: format!("result {t} is outside the row space {:?}", low.s),
            })?;
        low.note_space(&Op::Identity, v, sp.0)?;
        out_space.push(sp);
        let r = low.l.reg(v)?;
        low.l.prog.outputs.push(r);
    }
    if !low.l.prog.vectorizable() {
        return Err(JitError::Unsupported {
            op: "fused".into(),
            why: "values other than f32 and bool".into(),
        });
    }
    Ok(ReduceProg {
        prog: low.l.prog,
        k: low.k,
        s: low.s,
        in_space: low
            .in_space
            .into_iter()
            .map(|s| s.unwrap_or(Space::Row))
            .collect(),
        out_space,
    })
}
