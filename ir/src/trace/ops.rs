//! Named op methods on [`Traced`] handles: the common ops of ML models, each
//! a thin wrapper that builds the [`Op`] (and any constant operands, such as
//! reshape's target shape) and records it. Everything else goes through
//! [`Tracer::apply`](super::Tracer::apply).
//!
//! Which methods return `Result` and which return a handle directly is
//! explained in the module documentation of `trace`.

use super::{TraceError, Traced};
use crate::attr::GeluApprox;
use crate::dim::Dim;
use crate::dtype::DType;
use crate::graph::Value;
use crate::op::Op;
use crate::tensor::Tensor;
use crate::types::ShapeDisplay;
use std::panic::Location;

type Loc = &'static Location<'static>;

/// Unary ops that return a handle directly (failure is recorded; see module docs).
macro_rules! unary_direct {
    ($( $(#[$m:meta])* $name:ident => $op:expr; )*) => {
        $(
            $(#[$m])*
            #[track_caller]
            pub fn $name(&self) -> Traced {
                self.op1_direct($op, &[], Location::caller())
            }
        )*
    };
}

/// Binary elementwise ops with numpy broadcasting; `Result` because shapes
/// may not broadcast.
macro_rules! binary {
    ($( $(#[$m:meta])* $name:ident => $op:expr; )*) => {
        $(
            $(#[$m])*
            #[track_caller]
            pub fn $name(&self, rhs: &Traced) -> Result<Traced, TraceError> {
                self.op1($op, &[rhs], Location::caller())
            }
        )*
    };
}

/// Reductions over `axes` (empty: every axis).
macro_rules! reduce {
    ($( $(#[$m:meta])* $name:ident => $variant:ident; )*) => {
        $(
            $(#[$m])*
            #[track_caller]
            pub fn $name(&self, axes: &[i64], keepdims: bool) -> Result<Traced, TraceError> {
                let op = Op::$variant { axes: axes.to_vec(), keepdims };
                self.op1(op, &[], Location::caller())
            }
        )*
    };
}

impl Traced {
    unary_direct! {
        /// `relu`: `max(x, 0)`.
        relu => Op::Relu;
        /// `sigmoid`: `1 / (1 + exp(-x))`.
        sigmoid => Op::Sigmoid;
        /// `tanh`.
        tanh => Op::Tanh;
        /// `exp`.
        exp => Op::Exp;
        /// `log` (natural).
        log => Op::Log;
        /// `sqrt`.
        sqrt => Op::Sqrt;
        /// `neg`: `-x` (also the unary `-` operator).
        neg => Op::Neg;
        /// `abs`.
        abs => Op::Abs;
        /// `erf`.
        erf => Op::Erf;
        /// `gelu` with the exact (erf) formula.
        gelu => Op::Gelu { approximate: GeluApprox::None };
        /// `gelu` with the tanh approximation.
        gelu_tanh => Op::Gelu { approximate: GeluApprox::Tanh };
    }

    binary! {
        /// `matmul` (numpy semantics: batched, 1-D operands promoted).
        matmul => Op::MatMul;
        /// `add` (also `&a + &b`).
        add => Op::Add;
        /// `sub` (also `&a - &b`).
        sub => Op::Sub;
        /// `mul` (also `&a * &b`).
        mul => Op::Mul;
        /// `div` (also `&a / &b`).
        div => Op::Div;
        /// `pow`.
        pow => Op::Pow;
        /// Elementwise `max`.
        max => Op::Max;
        /// Elementwise `min`.
        min => Op::Min;
    }

    reduce! {
        /// `reduce_sum`.
        reduce_sum => ReduceSum;
        /// `reduce_mean`.
        reduce_mean => ReduceMean;
        /// `reduce_max`.
        reduce_max => ReduceMax;
    }

    /// `cast {to, saturate=true}`. Returns a handle directly: every dtype
    /// casts to every other.
    #[track_caller]
    pub fn cast(&self, to: DType) -> Traced {
        self.op1_direct(Op::Cast { to, saturate: true }, &[], Location::caller())
    }

    /// `softmax` along `axis`.
    #[track_caller]
    pub fn softmax(&self, axis: i64) -> Result<Traced, TraceError> {
        self.op1(Op::Softmax { axis }, &[], Location::caller())
    }

    /// `log_softmax` along `axis`.
    #[track_caller]
    pub fn log_softmax(&self, axis: i64) -> Result<Traced, TraceError> {
        self.op1(Op::LogSoftmax { axis }, &[], Location::caller())
    }

    /// `transpose` by `perm`.
    #[track_caller]
    pub fn transpose(&self, perm: &[i64]) -> Result<Traced, TraceError> {
        let op = Op::Transpose {
            perm: perm.to_vec(),
        };
        self.op1(op, &[], Location::caller())
    }

    /// `flatten` to 2-D at `axis`.
    #[track_caller]
    pub fn flatten(&self, axis: i64) -> Result<Traced, TraceError> {
        self.op1(Op::Flatten { axis }, &[], Location::caller())
    }

    /// `squeeze` the given unit `axes`.
    #[track_caller]
    pub fn squeeze(&self, axes: &[i64]) -> Result<Traced, TraceError> {
        let op = Op::Squeeze {
            axes: axes.to_vec(),
        };
        self.op1(op, &[], Location::caller())
    }

    /// `unsqueeze`: insert unit `axes`.
    #[track_caller]
    pub fn unsqueeze(&self, axes: &[i64]) -> Result<Traced, TraceError> {
        let op = Op::Unsqueeze {
            axes: axes.to_vec(),
        };
        self.op1(op, &[], Location::caller())
    }

    /// `reshape` to `shape`, emitted with a constant `i64` shape operand.
    ///
    /// Each target dim is a [`Dim`] (or anything that converts, like `i64`):
    /// a static size is written as is, `-1` asks inference for that dim, a
    /// symbolic dim equal to the input's dim on the same axis is written as
    /// `0` (copy), and any other symbolic dim is written as `-1` — so at most
    /// one dim may be neither static nor copied. A literal `0` sets
    /// `allowzero`. The inferred result must agree with every requested dim
    /// (an unknown inferred dim is accepted).
    #[track_caller]
    pub fn reshape<D: Clone + Into<Dim>>(&self, shape: &[D]) -> Result<Traced, TraceError> {
        let at = Location::caller();
        let target: Vec<Dim> = shape.iter().cloned().map(Into::into).collect();
        self.atomic(|| self.reshape_to(&target, at))
    }

    fn reshape_to(&self, target: &[Dim], at: Loc) -> Result<Traced, TraceError> {
        let ty = self.ty_for("reshape", at)?;
        let (vals, allowzero) =
            reshape_operand(&ty.shape, target).map_err(|msg| TraceError::Invalid {
                op: "reshape",
                msg,
                at,
            })?;
        let s = self.i64s(&vals)?;
        let r = self.op1(Op::Reshape { allowzero }, &[&s], at)?;
        let got = r.ty_for("reshape", at)?;
        let agrees = got.rank() == target.len()
            && got
                .shape
                .iter()
                .zip(target)
                .all(|(g, t)| *t == Dim::Known(-1) || *g == Dim::Unknown || g == t);
        if !agrees {
            return Err(TraceError::Invalid {
                op: "reshape",
                msg: format!(
                    "reshaping {ty} to {} gives {got}, which does not match the request",
                    ShapeDisplay(target)
                ),
                at,
            });
        }
        Ok(r)
    }

    /// `slice` with constant `starts`, `ends`, `axes` and `steps` operands
    /// (ONNX order). Empty `axes` means `0..starts.len()`; empty `steps`
    /// means all 1.
    #[track_caller]
    pub fn slice(
        &self,
        starts: &[i64],
        ends: &[i64],
        axes: &[i64],
        steps: &[i64],
    ) -> Result<Traced, TraceError> {
        let at = Location::caller();
        self.ty_for("slice", at)?;
        self.atomic(|| {
            let mut operands = vec![self.i64s(starts)?, self.i64s(ends)?];
            if !axes.is_empty() || !steps.is_empty() {
                let default_axes: Vec<i64> = (0..starts.len() as i64).collect();
                operands.push(self.i64s(if axes.is_empty() { &default_axes } else { axes })?);
            }
            if !steps.is_empty() {
                operands.push(self.i64s(steps)?);
            }
            let refs: Vec<&Traced> = operands.iter().collect();
            self.op1(Op::Slice, &refs, at)
        })
    }

    /// `gather` rows of `self` along `axis` at `indices`.
    #[track_caller]
    pub fn gather(&self, indices: &Traced, axis: i64) -> Result<Traced, TraceError> {
        self.op1(Op::Gather { axis }, &[indices], Location::caller())
    }

    /// `where %self, %x, %y`: elements of `x` where `self` (a bool tensor)
    /// is true, else of `y`. (`where` is a Rust keyword, hence the name.)
    #[track_caller]
    pub fn select(&self, x: &Traced, y: &Traced) -> Result<Traced, TraceError> {
        self.op1(Op::Where, &[x, y], Location::caller())
    }

    /// `clip` to `[lo, hi]`, with both bounds as scalar constants of this
    /// handle's dtype (pass `f64::NEG_INFINITY` / `f64::INFINITY` for an open
    /// side; integer dtypes saturate them to their range).
    #[track_caller]
    pub fn clip(&self, lo: f64, hi: f64) -> Result<Traced, TraceError> {
        let at = Location::caller();
        self.atomic(|| {
            let lo = self.scalar_like(lo, "clip", at)?;
            let hi = self.scalar_like(hi, "clip", at)?;
            self.op1(Op::Clip, &[&lo, &hi], at)
        })
    }

    /// `layer_norm %self, %scale[, %bias] {axis, epsilon}`: normalizes over
    /// axes `axis..rank`.
    #[track_caller]
    pub fn layer_norm(
        &self,
        scale: &Traced,
        bias: Option<&Traced>,
        axis: i64,
        epsilon: f32,
    ) -> Result<Traced, TraceError> {
        let mut others = vec![scale];
        others.extend(bias);
        self.op1(Op::LayerNorm { axis, epsilon }, &others, Location::caller())
    }

    /// An `i64[n]` constant in this handle's graph.
    fn i64s(&self, vals: &[i64]) -> Result<Traced, TraceError> {
        let t = Tensor::from_vec(&[vals.len()], vals.to_vec())?;
        let v: Value = self.b.borrow_mut().graph.add_const(t);
        Ok(Traced {
            b: self.b.clone(),
            v: Some(v),
        })
    }

    /// `self <op> rhs` (or `rhs <op> self` when `scalar_left`) with `rhs` a
    /// scalar constant of this handle's dtype. Used by the operators.
    pub(super) fn binary_scalar(
        &self,
        op: Op,
        v: f64,
        scalar_left: bool,
        at: Loc,
    ) -> Result<Traced, TraceError> {
        self.atomic(|| {
            let s = self.scalar_like(v, op.name(), at)?;
            if scalar_left {
                s.op1(op, &[self], at)
            } else {
                self.op1(op, &[&s], at)
            }
        })
    }

    pub(super) fn binary_at(&self, op: Op, rhs: &Traced, at: Loc) -> Result<Traced, TraceError> {
        self.op1(op, &[rhs], at)
    }

    pub(super) fn neg_at(&self, at: Loc) -> Traced {
        self.op1_direct(Op::Neg, &[], at)
    }
}

/// The `i64` shape operand and `allowzero` flag for reshaping a tensor of
/// shape `input` to `target` (see [`Traced::reshape`]). Public so that the
/// ONNX importer and tests can use the same rule.
pub fn reshape_operand(input: &[Dim], target: &[Dim]) -> Result<(Vec<i64>, bool), String> {
    let zero = target.contains(&Dim::Known(0));
    let mut vals = Vec::with_capacity(target.len());
    let mut inferred = vec![];
    for (i, d) in target.iter().enumerate() {
        match d {
            Dim::Known(k) if *k >= 0 => vals.push(*k),
            Dim::Known(-1) => {
                inferred.push(i);
                vals.push(-1);
            }
            Dim::Known(k) => return Err(format!("target dim {i} is {k}; sizes are >= 0 or -1")),
            Dim::Sym(_) if input.get(i) == Some(d) && !zero => vals.push(0),
            _ => {
                inferred.push(i);
                vals.push(-1);
            }
        }
    }
    let shape = ShapeDisplay(target);
    if zero && !inferred.is_empty() {
        return Err(format!(
            "target {shape} mixes a literal 0 with dims that must be inferred; \
             ONNX reshape cannot express both (allowzero forbids -1)"
        ));
    }
    if inferred.len() > 1 {
        return Err(format!(
            "target {shape} has {} dims (axes {inferred:?}) that are neither static nor the \
             input's dim on the same axis (input {}); at most one can be inferred — \
             reshape in two steps or compute the shape with `shape`/`concat` via `Tracer::apply`",
            inferred.len(),
            ShapeDisplay(input)
        ));
    }
    Ok((vals, zero))
}
