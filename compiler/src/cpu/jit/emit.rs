//! Width-generic code for one evaluation of a [`Prog`]: the same emitter
//! produces scalar code (`W::S`: f32, bools as 0/1 `i8`) for loop tails and
//! integer programs, and f32x4 code (`W::V`: bools as all-ones `i32x4` masks)
//! for the vector loops.
//!
//! Guarantees: basic arithmetic (`add sub mul div sqrt neg abs`, compares,
//! selects, min/max, clamps, casts) is bit-exact with the interpreter (IEEE
//! f32 operations equal the f64 ones rounded once); user `mul` + `add` is
//! never contracted into `fma`. Transcendentals come from `math.rs` with the
//! error bounds documented there. Anything not covered returns
//! [`JitError::Unsupported`].

use super::code::Features;
use super::prog::{Bin, Prog, Reg, Ty, Un, E};
use super::JitError;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// Scalar or four f32 lanes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum W {
    S,
    V,
}

/// Unaligned, non-trapping accesses (operands may be unaligned).
pub(crate) fn mem() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Flags for `bitcast` (the verifier wants an explicit byte order).
pub(crate) fn bits() -> MemFlagsData {
    MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little)
}

/// Emits instructions into one function.
pub(crate) struct Emitter<'a, 'b> {
    pub b: &'a mut FunctionBuilder<'b>,
    pub feat: Features,
}

fn bad(what: impl Into<String>) -> JitError {
    JitError::Unsupported {
        op: "jit".into(),
        why: what.into(),
    }
}

impl Emitter<'_, '_> {
    pub(crate) fn fty(w: W) -> Type {
        match w {
            W::S => types::F32,
            W::V => types::F32X4,
        }
    }

    /// The register type of `t` at width `w` (vectors only for f32/bool).
    pub(crate) fn rty(w: W, t: Ty) -> Type {
        match (w, t) {
            (W::S, Ty::F32) => types::F32,
            (W::S, Ty::Bool) => types::I8,
            (W::S, Ty::I32) => types::I32,
            (W::S, Ty::I64) => types::I64,
            (W::V, Ty::Bool) => types::I32X4,
            (W::V, _) => types::F32X4,
        }
    }

    /// An f32 constant at width `w`.
    pub(crate) fn cf(&mut self, w: W, c: f32) -> Value {
        let s = self.b.ins().f32const(c);
        self.splat(w, s)
    }

    /// An i32 constant at width `w` (vector: i32x4).
    pub(crate) fn ci(&mut self, w: W, c: i32) -> Value {
        let s = self.b.ins().iconst(types::I32, i64::from(c));
        match w {
            W::S => s,
            W::V => self.b.ins().splat(types::I32X4, s),
        }
    }

    pub(crate) fn splat(&mut self, w: W, s: Value) -> Value {
        match w {
            W::S => s,
            W::V => {
                let t = self.b.func.dfg.value_type(s);
                let vt = if t == types::F32 {
                    types::F32X4
                } else {
                    types::I32X4
                };
                self.b.ins().splat(vt, s)
            }
        }
    }

    /// Float bits as integers (f32 → i32, f32x4 → i32x4) and back.
    pub(crate) fn as_int(&mut self, w: W, x: Value) -> Value {
        let t = match w {
            W::S => types::I32,
            W::V => types::I32X4,
        };
        self.b.ins().bitcast(t, bits(), x)
    }

    pub(crate) fn as_float(&mut self, w: W, x: Value) -> Value {
        self.b.ins().bitcast(Self::fty(w), bits(), x)
    }

    /// `a*b + c`, fused when the host has FMA (only inside approximations).
    pub(crate) fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        if self.feat.fma {
            self.b.ins().fma(a, b, c)
        } else {
            let m = self.b.ins().fmul(a, b);
            self.b.ins().fadd(m, c)
        }
    }

    /// `mask ? a : b` where `mask` is a compare result at width `w`.
    pub(crate) fn sel(&mut self, w: W, mask: Value, a: Value, b: Value) -> Value {
        match w {
            W::S => self.b.ins().select(mask, a, b),
            W::V => {
                let at = self.b.func.dfg.value_type(a);
                let m = if self.b.func.dfg.value_type(mask) == at {
                    mask
                } else {
                    self.b.ins().bitcast(at, bits(), mask)
                };
                self.b.ins().bitselect(m, a, b)
            }
        }
    }

    pub(crate) fn fcmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(cc, a, b)
    }

    /// Evaluate instruction `e` (result type `t`) on the values of its
    /// operand registers in `vals`.
    pub(crate) fn eval(
        &mut self,
        w: W,
        p: &Prog,
        e: &E,
        t: Ty,
        vals: &[Option<Value>],
    ) -> Result<Value, JitError> {
        let v = |r: Reg| vals[r].ok_or_else(|| JitError::Codegen(format!("r{r} undefined")));
        Ok(match *e {
            E::ConstF(c) => self.cf(w, c),
            E::ConstB(c) => match w {
                W::S => self.b.ins().iconst(types::I8, i64::from(c)),
                W::V => self.ci(w, -i32::from(c)),
            },
            E::ConstI(c) if w == W::S => {
                let ty = Self::rty(w, t);
                self.b.ins().iconst(ty, c)
            }
            E::Un(u, x) => {
                let xt = p.ty(x);
                self.unary(w, u, xt, v(x)?)?
            }
            E::Bin(o, x, y) => {
                let xt = p.ty(x);
                self.binary(w, o, xt, v(x)?, v(y)?)?
            }
            E::Select(c, x, y) => {
                let (c, x, y) = (v(c)?, v(x)?, v(y)?);
                self.sel(w, c, x, y)
            }
            E::Cast(x) => self.cast(w, p.ty(x), t, v(x)?)?,
            _ => return Err(bad(format!("{e:?} at width {w:?}"))),
        })
    }

    fn unary(&mut self, w: W, u: Un, xt: Ty, x: Value) -> Result<Value, JitError> {
        if xt != Ty::F32 {
            return match (u, xt) {
                (Un::Not, Ty::Bool) => {
                    let one = match w {
                        W::S => self.b.ins().iconst(types::I8, 1),
                        W::V => self.ci(w, -1),
                    };
                    Ok(self.b.ins().bxor(x, one))
                }
                _ => Err(bad(format!("{u:?} on {xt:?}"))),
            };
        }
        let zero = self.cf(w, 0.0);
        Ok(match u {
            Un::Neg => self.b.ins().fneg(x),
            Un::Abs => self.b.ins().fabs(x),
            Un::Sqrt => self.b.ins().sqrt(x),
            Un::Recip => {
                let one = self.cf(w, 1.0);
                self.b.ins().fdiv(one, x)
            }
            Un::Floor | Un::Ceil | Un::Round if !self.feat.sse41 => {
                return Err(bad("floor/ceil/round need SSE4.1"))
            }
            Un::Floor => self.b.ins().floor(x),
            Un::Ceil => self.b.ins().ceil(x),
            Un::Round => self.b.ins().nearest(x),
            Un::Sign => {
                let (one, mone) = (self.cf(w, 1.0), self.cf(w, -1.0));
                let gt = self.fcmp(FloatCC::GreaterThan, x, zero);
                let lt = self.fcmp(FloatCC::LessThan, x, zero);
                let r = self.sel(w, lt, mone, x);
                self.sel(w, gt, one, r)
            }
            // `x < 0 ? 0 : x` keeps NaN and -0 (the interpreter's relu);
            // in lanes: x & !(x < 0).
            Un::Relu => {
                let lt = self.fcmp(FloatCC::LessThan, x, zero);
                match w {
                    W::S => self.sel(w, lt, zero, x),
                    W::V => {
                        let m = self.as_float(w, lt);
                        self.b.ins().band_not(x, m)
                    }
                }
            }
            Un::LeakyRelu(a) => {
                let a = self.cf(w, a);
                let ax = self.b.ins().fmul(a, x);
                let lt = self.fcmp(FloatCC::LessThan, x, zero);
                self.sel(w, lt, ax, x)
            }
            Un::ThresholdedRelu(a) => {
                let a = self.cf(w, a);
                // `x > a || NaN` keeps x: the negation is `x <= a` (ordered).
                let le = self.fcmp(FloatCC::LessThanOrEqual, x, a);
                self.sel(w, le, zero, x)
            }
            Un::HardSigmoid(a, b) => self.hard_sigmoid(w, x, a, b),
            Un::HardSwish => {
                let h = self.hard_sigmoid(w, x, 1.0 / 6.0, 0.5);
                self.b.ins().fmul(x, h)
            }
            Un::Softsign => {
                let one = self.cf(w, 1.0);
                let a = self.b.ins().fabs(x);
                let d = self.b.ins().fadd(one, a);
                self.b.ins().fdiv(x, d)
            }
            Un::IsNaN => self.fcmp(FloatCC::Unordered, x, x),
            Un::IsInf(neg, pos) => {
                let inf = self.cf(w, f32::INFINITY);
                let ninf = self.cf(w, f32::NEG_INFINITY);
                let p = self.fcmp(FloatCC::Equal, x, inf);
                let n = self.fcmp(FloatCC::Equal, x, ninf);
                match (neg, pos) {
                    (true, true) => self.b.ins().bor(p, n),
                    (false, true) => p,
                    (true, false) => n,
                    (false, false) => self.b.ins().band_not(p, p),
                }
            }
            Un::Not => return Err(bad("not on f32")),
            Un::Exp => self.exp(w, x),
            Un::Log => self.log(w, x),
            Un::Tanh => self.tanh(w, x),
            Un::Sigmoid => self.sigmoid(w, x),
            Un::Erf => self.erf(w, x),
            Un::Softplus => self.softplus(w, x),
            Un::Mish => {
                let s = self.softplus(w, x);
                let t = self.tanh(w, s);
                self.b.ins().fmul(x, t)
            }
            Un::Gelu => self.gelu(w, x),
            Un::GeluTanh => self.gelu_tanh(w, x),
            Un::Elu(a) => {
                let one = self.cf(w, 1.0);
                let e = self.exp(w, x);
                let em1 = self.b.ins().fsub(e, one);
                let a = self.cf(w, a);
                let neg = self.b.ins().fmul(a, em1);
                let lt = self.fcmp(FloatCC::LessThan, x, zero);
                self.sel(w, lt, neg, x)
            }
            Un::Selu(a, g) => {
                let e = self.exp(w, x);
                let (a, g) = (self.cf(w, a), self.cf(w, g));
                let ae = self.b.ins().fmul(a, e);
                let d = self.b.ins().fsub(ae, a);
                let neg = self.b.ins().fmul(g, d);
                let pos = self.b.ins().fmul(g, x);
                let le = self.fcmp(FloatCC::LessThanOrEqual, x, zero);
                self.sel(w, le, neg, pos)
            }
            Un::PowC(c) => self.pow_const(w, x, c)?,
        })
    }

    /// `max(0, min(1, a*x + b))`, NaN kept.
    fn hard_sigmoid(&mut self, w: W, x: Value, a: f32, b: f32) -> Value {
        let (a, b) = (self.cf(w, a), self.cf(w, b));
        let ax = self.b.ins().fmul(a, x);
        let y = self.b.ins().fadd(ax, b);
        let (zero, one) = (self.cf(w, 0.0), self.cf(w, 1.0));
        let lt = self.fcmp(FloatCC::LessThan, y, zero);
        let y = self.sel(w, lt, zero, y);
        let gt = self.fcmp(FloatCC::GreaterThan, y, one);
        self.sel(w, gt, one, y)
    }

    pub(crate) fn binary(
        &mut self,
        w: W,
        o: Bin,
        xt: Ty,
        x: Value,
        y: Value,
    ) -> Result<Value, JitError> {
        let int = matches!(xt, Ty::I32 | Ty::I64);
        if int && w == W::V {
            return Err(bad("integer lanes"));
        }
        let icc = |o: Bin| match o {
            Bin::Eq => Some(IntCC::Equal),
            Bin::Lt => Some(IntCC::SignedLessThan),
            Bin::Le => Some(IntCC::SignedLessThanOrEqual),
            Bin::Gt => Some(IntCC::SignedGreaterThan),
            Bin::Ge => Some(IntCC::SignedGreaterThanOrEqual),
            _ => None,
        };
        let fcc = |o: Bin| match o {
            Bin::Eq => Some(FloatCC::Equal),
            Bin::Lt => Some(FloatCC::LessThan),
            Bin::Le => Some(FloatCC::LessThanOrEqual),
            Bin::Gt => Some(FloatCC::GreaterThan),
            Bin::Ge => Some(FloatCC::GreaterThanOrEqual),
            _ => None,
        };
        Ok(match (o, xt) {
            (Bin::And, Ty::Bool) => self.b.ins().band(x, y),
            (Bin::Or, Ty::Bool) => self.b.ins().bor(x, y),
            (Bin::Xor, Ty::Bool) => self.b.ins().bxor(x, y),
            (_, Ty::Bool) => return Err(bad(format!("{o:?} on bool"))),
            (Bin::Add, _) if int => self.b.ins().iadd(x, y),
            (Bin::Sub, _) if int => self.b.ins().isub(x, y),
            (Bin::Mul, _) if int => self.b.ins().imul(x, y),
            (Bin::Max, _) if int => self.b.ins().smax(x, y),
            (Bin::Min, _) if int => self.b.ins().smin(x, y),
            (o, _) if int && icc(o).is_some() => self.b.ins().icmp(icc(o).unwrap(), x, y),
            (_, _) if int => return Err(bad(format!("{o:?} on integers"))),
            (o, _) if fcc(o).is_some() => self.fcmp(fcc(o).unwrap(), x, y),
            (Bin::Add, _) => self.b.ins().fadd(x, y),
            (Bin::Sub, _) => self.b.ins().fsub(x, y),
            (Bin::Mul, _) => self.b.ins().fmul(x, y),
            (Bin::Div, _) => self.b.ins().fdiv(x, y),
            // ONNX Max/Min: NaN if either is; the first operand on ties.
            (Bin::Max | Bin::Min, _) => {
                let cc = if o == Bin::Max {
                    FloatCC::GreaterThan
                } else {
                    FloatCC::LessThan
                };
                let better = self.fcmp(cc, y, x);
                let r = self.sel(w, better, y, x);
                let nan = self.fcmp(FloatCC::Unordered, x, y);
                let s = self.b.ins().fadd(x, y);
                self.sel(w, nan, s, r)
            }
            (Bin::ClampLo, _) => {
                let lt = self.fcmp(FloatCC::LessThan, x, y);
                self.sel(w, lt, y, x)
            }
            (Bin::ClampHi, _) => {
                let gt = self.fcmp(FloatCC::GreaterThan, x, y);
                self.sel(w, gt, y, x)
            }
            (Bin::PRelu, _) => {
                let zero = self.cf(w, 0.0);
                let sx = self.b.ins().fmul(y, x);
                let lt = self.fcmp(FloatCC::LessThan, x, zero);
                self.sel(w, lt, sx, x)
            }
            (Bin::Pow, _) => self.pow(w, x, y)?,
            (o, _) => return Err(bad(format!("{o:?} on {xt:?}"))),
        })
    }

    /// Cast's conversions: float → int truncates and saturates (NaN → 0),
    /// int → int wraps, → bool is "nonzero" (NaN true), bool → 0/1.
    fn cast(&mut self, w: W, from: Ty, to: Ty, x: Value) -> Result<Value, JitError> {
        Ok(match (from, to, w) {
            (a, b, _) if a == b => x,
            (Ty::F32, Ty::Bool, _) => {
                let zero = self.cf(w, 0.0);
                self.fcmp(FloatCC::NotEqual, x, zero)
            }
            (Ty::Bool, Ty::F32, _) => {
                let (one, zero) = (self.cf(w, 1.0), self.cf(w, 0.0));
                self.sel(w, x, one, zero)
            }
            (Ty::F32, it, W::S) => {
                let t = Self::rty(w, it);
                self.b.ins().fcvt_to_sint_sat(t, x)
            }
            (_, Ty::F32, W::S) => self.b.ins().fcvt_from_sint(types::F32, x),
            (Ty::I64, Ty::I32, W::S) => self.b.ins().ireduce(types::I32, x),
            (Ty::I32, Ty::I64, W::S) => self.b.ins().sextend(types::I64, x),
            (Ty::Bool, it, W::S) => {
                let t = Self::rty(w, it);
                self.b.ins().uextend(t, x)
            }
            (_, Ty::Bool, W::S) => self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0),
            _ => return Err(bad(format!("cast {from:?} -> {to:?} at {w:?}"))),
        })
    }
}
