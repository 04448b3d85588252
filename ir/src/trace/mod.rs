//! The tracer: build a graph by running ordinary Rust code on symbolic tensors.
//!
//! ```no_run
//! use ingot_ir::{trace::trace, DType, Dim, Tensor, TensorType};
//! # fn main() -> Result<(), ingot_ir::trace::TraceError> {
//! let w = Tensor::from_vec(&[4, 3], vec![0.5f32; 12])?;
//! let b = Tensor::from_vec(&[3], vec![0.1f32; 3])?;
//! let x_ty = TensorType::new(DType::F32, [Dim::var("batch"), 4.into()]);
//! let g = trace("layer", &[("x", x_ty)], |tr, ins| {
//!     let w = tr.weight("w", w); // shares `w`'s storage; never copied
//!     let b = tr.weight("b", b);
//!     let h = ins[0].matmul(&w)?.add(&b)?.relu();
//!     Ok(vec![(&h * 2.0)?])
//! })?;
//! # Ok(()) }
//! ```
//!
//! Design. A [`Traced`] handle is a [`Value`] plus a shared pointer to the
//! graph being built (`Rc<RefCell<..>>`), so ops are methods on handles and
//! no builder has to be threaded through user code. Every op goes through
//! [`Graph::add_node`], so result types come from the one shape-inference
//! function (`infer`) and a bad combination of operands is caught on the line
//! that wrote it: errors carry the op, every operand type and the caller's
//! source location (`#[track_caller]`).
//!
//! Two kinds of method, chosen by whether failure is plausible:
//! - Ops that can reject valid operands (binary ops broadcast, `matmul`
//!   contracts, axes may be out of range) return `Result<Traced, TraceError>`,
//!   and so do the binary operators: `(&a + &b)?`, `(&a * 2.0)?`. A failed
//!   fallible op adds nothing to the graph, so a caller may catch the error
//!   and try something else.
//! - Unary elementwise ops and `cast` return [`Traced`] directly so chains read
//!   well (`x.matmul(&w)?.relu().exp()`). They can still fail (`exp` of an
//!   `i64` tensor): then the error is *recorded* in the tracer and a
//!   *poisoned* handle is returned. Any op on a poisoned handle returns the
//!   recorded error, and [`trace`] / [`Tracer::finish`] always return the
//!   first recorded error even if the closure returned `Ok`. Nothing panics.
//!
//! Handles from different traces cannot be mixed ([`TraceError::Foreign`]);
//! a handle kept past [`Tracer::finish`] is refused ([`TraceError::Finished`]).
//! The tracer is single-threaded (`Rc`), like the closure it runs.

mod ops;
mod overload;
#[cfg(test)]
mod tests;

use crate::graph::{Graph, Value};
use crate::infer::InferError;
use crate::op::Op;
use crate::tensor::{Tensor, TensorError};
use crate::types::TensorType;
use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

pub use ops::reshape_operand;

/// Why tracing failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceError {
    /// Shape inference rejected an op's operands.
    Op {
        op: &'static str,
        operands: Vec<TensorType>,
        source: InferError,
        at: &'static Location<'static>,
    },
    /// A builder method was given arguments it cannot express as an op
    /// (e.g. a reshape target with two unknowable dims).
    Invalid {
        op: &'static str,
        msg: String,
        at: &'static Location<'static>,
    },
    /// An operand belongs to a different trace.
    Foreign {
        op: &'static str,
        at: &'static Location<'static>,
    },
    /// A handle was used after its trace finished.
    Finished {
        op: &'static str,
        at: &'static Location<'static>,
    },
    /// A graph input or value name is empty, all digits, or already taken.
    Name(String),
    /// A constant could not be built.
    Tensor(TensorError),
    /// An error raised by the traced code itself (see [`TraceError::msg`]).
    Other(String),
}

impl TraceError {
    /// An error of the traced code's own, to return from the closure.
    pub fn msg(m: impl Into<String>) -> TraceError {
        TraceError::Other(m.into())
    }
}

impl From<TensorError> for TraceError {
    fn from(e: TensorError) -> TraceError {
        TraceError::Tensor(e)
    }
}

/// The part of an inference error after the op name (which `TraceError`
/// prints itself, together with the operand types).
fn infer_reason(e: &InferError) -> String {
    match e {
        InferError::Invalid { msg, .. } => msg.clone(),
        InferError::Arity {
            expected, given, ..
        } => format!("takes {expected} operand(s) but was given {given}"),
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Op {
                op,
                operands,
                source,
                at,
            } => {
                write!(f, "`{op}` at {at} on ")?;
                if operands.is_empty() {
                    f.write_str("no operands")?;
                }
                for (i, t) in operands.iter().enumerate() {
                    write!(f, "{}{t}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ": {}", infer_reason(source))
            }
            TraceError::Invalid { op, msg, at } => write!(f, "`{op}` at {at}: {msg}"),
            TraceError::Foreign { op, at } => write!(
                f,
                "`{op}` at {at}: an operand belongs to a different trace \
                 (handles cannot be shared between traces; use `Tracer::weight` for shared constants)"
            ),
            TraceError::Finished { op, at } => write!(
                f,
                "`{op}` at {at}: the trace this handle belongs to has already finished"
            ),
            TraceError::Name(m) => f.write_str(m),
            TraceError::Tensor(e) => write!(f, "constant: {e}"),
            TraceError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceError::Op { source, .. } => Some(source),
            TraceError::Tensor(e) => Some(e),
            _ => None,
        }
    }
}

/// The graph under construction, shared by the tracer and every handle.
struct Builder {
    graph: Graph,
    /// The first error of an op that returned a handle directly.
    error: Option<TraceError>,
    finished: bool,
}

type Shared = Rc<RefCell<Builder>>;

/// Records ops into a graph. Given to the [`trace`] closure; also usable on
/// its own (`Tracer::new`, `input`, ..., `finish`).
pub struct Tracer {
    b: Shared,
}

/// A symbolic tensor: a value of the graph being traced.
///
/// Cloning a handle is cheap and refers to the same value. See the module
/// documentation for which methods return `Result` and what a *poisoned*
/// handle is.
#[derive(Clone)]
pub struct Traced {
    b: Shared,
    /// `None` for a poisoned handle (its op failed; the error is recorded).
    v: Option<Value>,
}

impl fmt::Debug for Traced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.v, self.ty()) {
            (Some(v), Some(ty)) => write!(f, "{v}: {ty}"),
            _ => f.write_str("<poisoned>"),
        }
    }
}

/// Trace `f` into a graph named `name` with the given inputs (name and type).
///
/// The closure receives the tracer (for constants, weights and multi-operand
/// ops) and one handle per input, and returns the output handles. The first
/// recorded error wins over the closure's own result (see the module docs).
#[track_caller]
pub fn trace<F>(name: &str, inputs: &[(&str, TensorType)], f: F) -> Result<Graph, TraceError>
where
    F: FnOnce(&Tracer, &[Traced]) -> Result<Vec<Traced>, TraceError>,
{
    let tr = Tracer::new(name);
    let ins = inputs
        .iter()
        .map(|(n, ty)| tr.input(n, ty.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let outs = f(&tr, &ins);
    tr.finish_with(outs)
}

impl Tracer {
    /// A tracer for an empty graph named `name`.
    pub fn new(name: &str) -> Tracer {
        Tracer {
            b: Rc::new(RefCell::new(Builder {
                graph: Graph::new(name),
                error: None,
                finished: false,
            })),
        }
    }

    /// Add a graph input.
    pub fn input(&self, name: &str, ty: TensorType) -> Result<Traced, TraceError> {
        let mut b = self.b.borrow_mut();
        if b.finished {
            return Err(TraceError::Name(format!(
                "input `{name}`: the trace has already finished"
            )));
        }
        let v = b
            .graph
            .add_input(name, ty)
            .map_err(|m| TraceError::Name(format!("input: {m}")))?;
        Ok(self.handle(v))
    }

    /// An anonymous constant. Its storage is shared with `t`, not copied.
    pub fn constant(&self, t: Tensor) -> Traced {
        let v = self.b.borrow_mut().graph.add_const(t);
        self.handle(v)
    }

    /// A named constant (a weight). Its storage is shared with `t`, not
    /// copied, so tracing a model with large weights costs no memory. A taken
    /// or malformed name is recorded and returned by `trace`.
    #[track_caller]
    pub fn weight(&self, name: &str, t: Tensor) -> Traced {
        let h = self.constant(t);
        let v = h.v.expect("a fresh constant is not poisoned");
        let named = self.b.borrow_mut().graph.set_name(v, name);
        match named {
            Ok(()) => h,
            Err(m) => poison(
                &self.b,
                TraceError::Name(format!("weight at {}: {m}", Location::caller())),
            ),
        }
    }

    /// A rank-0 constant of `dtype` holding `v` (converted as
    /// [`Tensor::from_f64s`]: rounded for floats, saturated for integers).
    pub fn scalar(&self, dtype: crate::DType, v: f64) -> Result<Traced, TraceError> {
        Ok(self.constant(Tensor::from_f64s(dtype, &[], &[v])?))
    }

    /// Apply any op to operands: the escape hatch for ops without a method
    /// (`conv`, `gemm`, `split`, ...). Returns one handle per result.
    #[track_caller]
    pub fn apply(&self, op: Op, operands: &[&Traced]) -> Result<Vec<Traced>, TraceError> {
        emit(&self.b, op, operands, Location::caller())
    }

    /// `concat` of `parts` along `axis`.
    #[track_caller]
    pub fn concat(&self, parts: &[&Traced], axis: i64) -> Result<Traced, TraceError> {
        let at = Location::caller();
        one(emit(&self.b, Op::Concat { axis }, parts, at)?, "concat", at)
    }

    /// Finish the trace: the graph with `outputs` as its outputs.
    #[track_caller]
    pub fn finish(self, outputs: Vec<Traced>) -> Result<Graph, TraceError> {
        self.finish_with(Ok(outputs))
    }

    #[track_caller]
    fn finish_with(self, outs: Result<Vec<Traced>, TraceError>) -> Result<Graph, TraceError> {
        let at = Location::caller();
        if let Some(e) = self.b.borrow().error.clone() {
            return Err(e);
        }
        let outs = outs?;
        let mut vals = Vec::with_capacity(outs.len());
        for o in &outs {
            vals.push(value_of(&self.b, o, "return", at)?);
        }
        let mut b = self.b.borrow_mut();
        b.finished = true;
        let mut g = std::mem::take(&mut b.graph);
        g.set_outputs(vals);
        Ok(g)
    }

    fn handle(&self, v: Value) -> Traced {
        Traced {
            b: self.b.clone(),
            v: Some(v),
        }
    }
}

impl Traced {
    /// The graph value, or `None` if this handle is poisoned.
    pub fn value(&self) -> Option<Value> {
        self.v
    }

    /// The value's type, or `None` if this handle is poisoned or its trace
    /// has finished.
    pub fn ty(&self) -> Option<TensorType> {
        let b = self.b.borrow();
        let v = self.v.filter(|_| !b.finished)?;
        Some(b.graph.ty(v).clone())
    }

    /// Name this value (it prints as `%name` and names the output of a graph).
    #[track_caller]
    pub fn named(self, name: &str) -> Result<Traced, TraceError> {
        let v = value_of(&self.b, &self, "named", Location::caller())?;
        self.b
            .borrow_mut()
            .graph
            .set_name(v, name)
            .map_err(TraceError::Name)?;
        Ok(self)
    }

    /// Run `f`, which may add several nodes (constant operands, then the op);
    /// if it fails, take them out again, so a failed fallible method leaves
    /// the graph as it was.
    fn atomic<T>(&self, f: impl FnOnce() -> Result<T, TraceError>) -> Result<T, TraceError> {
        let mark = self.b.borrow().graph.order().len();
        let r = f();
        if r.is_err() {
            let mut b = self.b.borrow_mut();
            if !b.finished && b.graph.order().len() > mark {
                let added = b.graph.order()[mark..].to_vec();
                b.graph.remove_nodes(&added);
            }
        }
        r
    }

    /// Emit `op` on `self` and `others`, expecting one result.
    fn op1(
        &self,
        op: Op,
        others: &[&Traced],
        at: &'static Location<'static>,
    ) -> Result<Traced, TraceError> {
        let mut operands = vec![self];
        operands.extend_from_slice(others);
        let name = op.name();
        one(emit(&self.b, op, &operands, at)?, name, at)
    }

    /// Like [`Traced::op1`] but records a failure and returns a poisoned handle.
    fn op1_direct(&self, op: Op, others: &[&Traced], at: &'static Location<'static>) -> Traced {
        match self.op1(op, others, at) {
            Ok(h) => h,
            Err(e) => poison(&self.b, e),
        }
    }

    /// A rank-0 constant of this handle's dtype (ONNX has no implicit
    /// promotion, so `x * 2.0` on an `i32` tensor multiplies by `2i32`).
    fn scalar_like(
        &self,
        v: f64,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Result<Traced, TraceError> {
        let dtype = self.dtype_for(op, at)?;
        let t = Tensor::from_f64s(dtype, &[], &[v])?;
        let val = self.b.borrow_mut().graph.add_const(t);
        Ok(Traced {
            b: self.b.clone(),
            v: Some(val),
        })
    }

    /// The dtype, or the error that explains why there is none.
    fn dtype_for(
        &self,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Result<crate::DType, TraceError> {
        Ok(self.ty_for(op, at)?.dtype)
    }

    fn ty_for(
        &self,
        op: &'static str,
        at: &'static Location<'static>,
    ) -> Result<TensorType, TraceError> {
        let v = value_of(&self.b, self, op, at)?;
        Ok(self.b.borrow().graph.ty(v).clone())
    }
}

/// The single result of an op that has one.
fn one(
    r: Vec<Traced>,
    op: &'static str,
    at: &'static Location<'static>,
) -> Result<Traced, TraceError> {
    let n = r.len();
    let mut it = r.into_iter();
    match (it.next(), it.next()) {
        (Some(h), None) => Ok(h),
        _ => Err(TraceError::Invalid {
            op,
            msg: format!("expected one result, inference gave {n}; use `Tracer::apply`"),
            at,
        }),
    }
}

/// The error recorded in `b` (a poisoned handle always has one).
fn recorded(b: &Shared) -> TraceError {
    b.borrow()
        .error
        .clone()
        .unwrap_or_else(|| TraceError::msg("internal: poisoned handle without a recorded error"))
}

/// Record `e` (unless an earlier error is recorded) and return a poisoned handle.
fn poison(b: &Shared, e: TraceError) -> Traced {
    let mut bb = b.borrow_mut();
    if bb.error.is_none() {
        bb.error = Some(e);
    }
    Traced {
        b: b.clone(),
        v: None,
    }
}

/// The value of handle `h` for use as an operand of `op` in builder `b`.
fn value_of(
    b: &Shared,
    h: &Traced,
    op: &'static str,
    at: &'static Location<'static>,
) -> Result<Value, TraceError> {
    if !Rc::ptr_eq(b, &h.b) {
        return Err(TraceError::Foreign { op, at });
    }
    if b.borrow().finished {
        return Err(TraceError::Finished { op, at });
    }
    h.v.ok_or_else(|| recorded(b))
}

/// Append `op` on `operands` to the graph of `b`.
fn emit(
    b: &Shared,
    op: Op,
    operands: &[&Traced],
    at: &'static Location<'static>,
) -> Result<Vec<Traced>, TraceError> {
    let name = op.name();
    let vals = operands
        .iter()
        .map(|h| value_of(b, h, name, at))
        .collect::<Result<Vec<_>, _>>()?;
    let mut bb = b.borrow_mut();
    let outs = bb
        .graph
        .add_node(op, &vals)
        .map_err(|source| TraceError::Op {
            op: name,
            operands: vals.iter().map(|&v| bb.graph.ty(v).clone()).collect(),
            source,
            at,
        })?;
    Ok(outs
        .into_iter()
        .map(|v| Traced {
            b: b.clone(),
            v: Some(v),
        })
        .collect())
}
