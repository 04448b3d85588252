//! Lowering a fused body to a small straight-line program the emitters
//! understand: typed registers, one instruction per elementwise step.
//!
//! Assumptions: body nodes are elementwise (reduce bodies add their own
//! instructions through [`Lowerer::push`]); scalar constants sit in the body
//! as one-element `const` nodes. Guarantees: every op, dtype combination or
//! operand form the emitters cannot compute exactly as the interpreter
//! defines it is rejected with [`JitError::Unsupported`] (the caller then
//! falls back to the interpreter kernel) — never lowered approximately
//! except for the documented transcendental approximations (`math.rs`).

use super::JitError;
use ingot_ir::attr::GeluApprox;
use ingot_ir::{DType, Graph, Op, TensorType, Value};
use std::collections::HashMap;

/// A register's element type. Bools are 0/1 bytes in memory and masks (or
/// 0/1 `i8` in scalar code) in registers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ty {
    F32,
    Bool,
    I32,
    I64,
}

impl Ty {
    pub(crate) fn of(d: DType) -> Option<Ty> {
        Some(match d {
            DType::F32 => Ty::F32,
            DType::Bool => Ty::Bool,
            DType::I32 => Ty::I32,
            DType::I64 => Ty::I64,
            _ => return None,
        })
    }

    pub(crate) fn size(self) -> usize {
        match self {
            Ty::Bool => 1,
            Ty::F32 | Ty::I32 => 4,
            Ty::I64 => 8,
        }
    }

    pub(crate) fn dtype(self) -> DType {
        match self {
            Ty::F32 => DType::F32,
            Ty::Bool => DType::Bool,
            Ty::I32 => DType::I32,
            Ty::I64 => DType::I64,
        }
    }
}

pub(crate) type Reg = usize;

/// Unary operations (float unless noted).
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Un {
    Neg,
    Abs,
    Sign,
    Exp,
    Log,
    Sqrt,
    Recip,
    Floor,
    Ceil,
    Round,
    Tanh,
    Sigmoid,
    Relu,
    Erf,
    Softplus,
    Softsign,
    Mish,
    HardSwish,
    Gelu,
    GeluTanh,
    LeakyRelu(f32),
    Elu(f32),
    Selu(f32, f32),
    HardSigmoid(f32, f32),
    ThresholdedRelu(f32),
    /// `pow(x, c)` with a constant exponent.
    PowC(f32),
    /// Bool → bool.
    Not,
    /// Float → bool.
    IsNaN,
    IsInf(bool, bool),
}

/// Binary operations; comparisons give bool.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
    PRelu,
    /// `x < lo ? lo : x` (Clip's lower bound; NaN x kept).
    ClampLo,
    /// `x > hi ? hi : x`.
    ClampHi,
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Xor,
}

/// A row reduction's combining operation (reduce bodies only).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Red {
    Sum,
    /// NaN-propagating (`reduce_max`'s semantics).
    Max,
    Min,
}

/// One instruction; its result type sits beside it in [`Prog::nodes`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum E {
    /// Element of kernel input `k`.
    Load(usize),
    ConstF(f32),
    ConstI(i64),
    ConstB(bool),
    Un(Un, Reg),
    Bin(Bin, Reg, Reg),
    /// `cond ? a : b`.
    Select(Reg, Reg, Reg),
    /// Conversion to the node's type (Cast's semantics).
    Cast(Reg),
    /// Reduce bodies: the reduction of `reg` over the current row (f32).
    Reduce(Red, Reg),
    /// Reduce bodies: the row length as an f32.
    RowLen,
}

/// A lowered body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prog {
    pub nodes: Vec<(E, Ty)>,
    /// Per kernel input, its type if the program reads it.
    pub inputs: Vec<Option<Ty>>,
    /// The register each kernel output takes.
    pub outputs: Vec<Reg>,
}

impl Prog {
    pub(crate) fn ty(&self, r: Reg) -> Ty {
        self.nodes[r].1
    }

    pub(crate) fn out_tys(&self) -> Vec<Ty> {
        self.outputs.iter().map(|&r| self.ty(r)).collect()
    }

    /// Whether the program runs in f32x4 lanes: only f32 and bool values.
    pub(crate) fn vectorizable(&self) -> bool {
        self.nodes
            .iter()
            .all(|(_, t)| matches!(t, Ty::F32 | Ty::Bool))
    }

    /// A rough cost in instructions, to pick the unroll factor.
    pub(crate) fn cost(&self) -> usize {
        self.nodes.iter().map(|(e, _)| node_cost(e)).sum()
    }
}

/// A rough cost of one instruction in machine instructions.
pub(crate) fn node_cost(e: &E) -> usize {
    match e {
        E::Un(Un::Erf | Un::Gelu | Un::Mish | Un::PowC(_), _) => 50,
        E::Un(Un::Exp | Un::Log | Un::Tanh | Un::Sigmoid | Un::Softplus, _) => 25,
        E::Un(Un::Elu(_) | Un::Selu(..) | Un::GeluTanh, _) => 30,
        E::Bin(Bin::Pow, ..) => 60,
        _ => 1,
    }
}

fn unsupported(op: &Op, why: impl Into<String>) -> JitError {
    JitError::Unsupported {
        op: op.name().to_string(),
        why: why.into(),
    }
}

/// Builds a [`Prog`] from body nodes.
pub(crate) struct Lowerer<'g> {
    pub g: &'g Graph,
    pub prog: Prog,
    pub regs: HashMap<Value, Reg>,
}

impl<'g> Lowerer<'g> {
    pub(crate) fn new(g: &'g Graph) -> Lowerer<'g> {
        Lowerer {
            g,
            prog: Prog {
                inputs: vec![None; g.inputs().len()],
                ..Prog::default()
            },
            regs: HashMap::new(),
        }
    }

    pub(crate) fn push(&mut self, e: E, t: Ty) -> Reg {
        self.prog.nodes.push((e, t));
        self.prog.nodes.len() - 1
    }

    /// The register holding body value `v` (loading a body input on first use).
    pub(crate) fn reg(&mut self, v: Value) -> Result<Reg, JitError> {
        if let Some(&r) = self.regs.get(&v) {
            return Ok(r);
        }
        let k = self
            .g
            .inputs()
            .iter()
            .position(|&i| i == v)
            .ok_or_else(|| JitError::Codegen(format!("{v} is used before it is defined")))?;
        let ty = self.g.ty(v);
        let t = Ty::of(ty.dtype).ok_or_else(|| JitError::Unsupported {
            op: "input".into(),
            why: format!("operand {k} has type {ty}"),
        })?;
        self.prog.inputs[k] = Some(t);
        let r = self.push(E::Load(k), t);
        self.regs.insert(v, r);
        Ok(r)
    }

    /// Lower one elementwise or `const` body node.
    pub(crate) fn node(&mut self, op: &Op, ins: &[Value], outs: &[Value]) -> Result<(), JitError> {
        let [out] = outs else {
            return Err(unsupported(op, "expected one result"));
        };
        let rt = Ty::of(self.g.ty(*out).dtype)
            .ok_or_else(|| unsupported(op, format!("result type {}", self.g.ty(*out))))?;
        let r = if let Op::Const { value } = op {
            if value.numel() != 1 {
                return Err(unsupported(op, "constant with more than one element"));
            }
            let e = match rt {
                Ty::F32 => E::ConstF(value.to_f64s()[0] as f32),
                Ty::Bool => E::ConstB(value.to_bools()[0]),
                Ty::I32 | Ty::I64 => E::ConstI(value.to_i64s()[0]),
            };
            self.push(e, rt)
        } else if op.is_elementwise() {
            self.elementwise(op, ins, rt)?
        } else {
            return Err(unsupported(op, "not an elementwise op"));
        };
        self.regs.insert(*out, r);
        Ok(())
    }

    fn elementwise(&mut self, op: &Op, ins: &[Value], rt: Ty) -> Result<Reg, JitError> {
        use Op::*;
        let tys: Vec<&TensorType> = ins.iter().map(|&v| self.g.ty(v)).collect();
        let f32_only = tys.iter().all(|t| t.dtype == DType::F32) && rt == Ty::F32;
        let un = |u: Un| (f32_only && ins.len() == 1).then_some(u);
        let unary = match op {
            Neg => un(Un::Neg),
            Abs => un(Un::Abs),
            Sign => un(Un::Sign),
            Exp => un(Un::Exp),
            Log => un(Un::Log),
            Sqrt => un(Un::Sqrt),
            Reciprocal => un(Un::Recip),
            Floor => un(Un::Floor),
            Ceil => un(Un::Ceil),
            Round => un(Un::Round),
            Tanh => un(Un::Tanh),
            Sigmoid => un(Un::Sigmoid),
            Relu => un(Un::Relu),
            Erf => un(Un::Erf),
            Softplus => un(Un::Softplus),
            Softsign => un(Un::Softsign),
            Mish => un(Un::Mish),
            HardSwish => un(Un::HardSwish),
            Gelu { approximate } => un(match approximate {
                GeluApprox::None => Un::Gelu,
                GeluApprox::Tanh => Un::GeluTanh,
            }),
            LeakyRelu { alpha } => un(Un::LeakyRelu(*alpha)),
            Elu { alpha } => un(Un::Elu(*alpha)),
            Selu { alpha, gamma } => un(Un::Selu(*alpha, *gamma)),
            HardSigmoid { alpha, beta } => un(Un::HardSigmoid(*alpha, *beta)),
            ThresholdedRelu { alpha } => un(Un::ThresholdedRelu(*alpha)),
            IsNaN if tys[0].dtype == DType::F32 => Some(Un::IsNaN),
            IsInf {
                detect_negative,
                detect_positive,
            } if tys[0].dtype == DType::F32 => Some(Un::IsInf(*detect_negative, *detect_positive)),
            Not if rt == Ty::Bool => Some(Un::Not),
            _ => None,
        };
        if let Some(u) = unary {
            let x = self.reg(ins[0])?;
            return Ok(self.push(E::Un(u, x), rt));
        }
        let int = |t: &&TensorType| matches!(t.dtype, DType::I32 | DType::I64);
        let same = tys.windows(2).all(|w| w[0].dtype == w[1].dtype);
        let bin = match op {
            Add if same => Some(Bin::Add),
            Sub if same => Some(Bin::Sub),
            Mul if same => Some(Bin::Mul),
            Div if f32_only => Some(Bin::Div),
            PRelu if f32_only => Some(Bin::PRelu),
            Equal if same && tys[0].dtype != DType::Bool => Some(Bin::Eq),
            Less if same => Some(Bin::Lt),
            LessOrEqual if same => Some(Bin::Le),
            Greater if same => Some(Bin::Gt),
            GreaterOrEqual if same => Some(Bin::Ge),
            And => Some(Bin::And),
            Or => Some(Bin::Or),
            Xor => Some(Bin::Xor),
            _ => None,
        };
        if let Some(b) = bin {
            let (x, y) = (self.reg(ins[0])?, self.reg(ins[1])?);
            return Ok(self.push(E::Bin(b, x, y), rt));
        }
        match op {
            Max | Min if same && (f32_only || tys.iter().all(int)) => {
                let b = if *op == Max { Bin::Max } else { Bin::Min };
                let mut acc = self.reg(ins[0])?;
                for &v in &ins[1..] {
                    let y = self.reg(v)?;
                    acc = self.push(E::Bin(b, acc, y), rt);
                }
                Ok(acc)
            }
            Relu | Neg if tys.iter().all(int) => {
                let x = self.reg(ins[0])?;
                let z = self.push(E::ConstI(0), rt);
                Ok(match op {
                    Relu => self.push(E::Bin(Bin::Max, x, z), rt),
                    _ => self.push(E::Bin(Bin::Sub, z, x), rt),
                })
            }
            Pow if rt == Ty::F32 && tys[0].dtype == DType::F32 => {
                let x = self.reg(ins[0])?;
                match self.g.const_value(ins[1]) {
                    Some(c) if c.numel() == 1 => {
                        let e = c.to_f64s()[0] as f32;
                        Ok(self.push(E::Un(Un::PowC(e), x), rt))
                    }
                    _ if tys[1].dtype == DType::F32 => {
                        let y = self.reg(ins[1])?;
                        Ok(self.push(E::Bin(Bin::Pow, x, y), rt))
                    }
                    _ => Err(unsupported(op, format!("exponent of type {}", tys[1]))),
                }
            }
            Where if tys[0].dtype == DType::Bool && tys[1].dtype == tys[2].dtype => {
                let c = self.reg(ins[0])?;
                let (x, y) = (self.reg(ins[1])?, self.reg(ins[2])?);
                Ok(self.push(E::Select(c, x, y), rt))
            }
            Clip if f32_only => {
                let mut x = self.reg(ins[0])?;
                for (k, b) in [(1, Bin::ClampLo), (2, Bin::ClampHi)] {
                    let Some(&v) = ins.get(k) else { continue };
                    match self.g.ty(v).known_numel() {
                        Some(0) => continue,
                        Some(1) => {
                            let bound = self.reg(v)?;
                            x = self.push(E::Bin(b, x, bound), rt);
                        }
                        _ => return Err(unsupported(op, "a bound of unknown size")),
                    }
                }
                Ok(x)
            }
            Cast { to, .. } if Ty::of(*to) == Some(rt) && Ty::of(tys[0].dtype).is_some() => {
                let x = self.reg(ins[0])?;
                if self.prog.ty(x) == rt {
                    return Ok(x);
                }
                Ok(self.push(E::Cast(x), rt))
            }
            _ => Err(unsupported(
                op,
                format!(
                    "on {}",
                    tys.iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

/// Lower a `fused {kind="elementwise"}` body.
pub(crate) fn lower_elementwise(g: &Graph) -> Result<Prog, JitError> {
    let mut l = Lowerer::new(g);
    for &n in g.order() {
        let nd = g.node(n);
        l.node(&nd.op, &nd.inputs, &nd.outputs)?;
    }
    for &v in g.outputs() {
        let r = l.reg(v)?;
        l.prog.outputs.push(r);
    }
    Ok(l.prog)
}
