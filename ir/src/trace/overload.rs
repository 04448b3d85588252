//! Arithmetic operators on handles: `&a + &b`, `a * &b`, `&a * 2.0`,
//! `1.0 - &a`, `-&a`.
//!
//! Binary operators return `Result<Traced, TraceError>` because broadcasting
//! can fail, so user code reads `(&a + &b)?` — the `?` marks every place a
//! shape error can come from, with no panic hidden in an operator. Unary
//! minus cannot reject a valid handle of a numeric type, so it returns a
//! handle (a failure is recorded, as for `relu`).
//!
//! A Rust `f32` operand becomes a rank-0 constant of the other operand's
//! dtype. Only `f32` is accepted: with a second float impl, a literal in
//! `(&a * 2.0)?` would be ambiguous (the `?` needs the type before the
//! literal falls back to `f64`). For an exact `f64` scalar, use
//! `Tracer::scalar(DType::F64, v)` and a tensor operand.

use super::{TraceError, Traced};
use crate::op::Op;
use std::ops;
use std::panic::Location;

macro_rules! binop {
    ($Trait:ident, $method:ident, $op:expr) => {
        impl ops::$Trait<&Traced> for &Traced {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: &Traced) -> Self::Output {
                self.binary_at($op, rhs, Location::caller())
            }
        }
        impl ops::$Trait<Traced> for &Traced {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: Traced) -> Self::Output {
                self.binary_at($op, &rhs, Location::caller())
            }
        }
        impl ops::$Trait<&Traced> for Traced {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: &Traced) -> Self::Output {
                self.binary_at($op, rhs, Location::caller())
            }
        }
        impl ops::$Trait<Traced> for Traced {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: Traced) -> Self::Output {
                self.binary_at($op, &rhs, Location::caller())
            }
        }
        binop!(@scalar $Trait, $method, $op, f32);
    };
    (@scalar $Trait:ident, $method:ident, $op:expr, $s:ty) => {
        impl ops::$Trait<$s> for &Traced {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: $s) -> Self::Output {
                self.binary_scalar($op, f64::from(rhs), false, Location::caller())
            }
        }
        impl ops::$Trait<$s> for Traced {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: $s) -> Self::Output {
                self.binary_scalar($op, f64::from(rhs), false, Location::caller())
            }
        }
        impl ops::$Trait<&Traced> for $s {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: &Traced) -> Self::Output {
                rhs.binary_scalar($op, f64::from(self), true, Location::caller())
            }
        }
        impl ops::$Trait<Traced> for $s {
            type Output = Result<Traced, TraceError>;
            #[track_caller]
            fn $method(self, rhs: Traced) -> Self::Output {
                rhs.binary_scalar($op, f64::from(self), true, Location::caller())
            }
        }
    };
}

binop!(Add, add, Op::Add);
binop!(Sub, sub, Op::Sub);
binop!(Mul, mul, Op::Mul);
binop!(Div, div, Op::Div);

impl ops::Neg for &Traced {
    type Output = Traced;
    #[track_caller]
    fn neg(self) -> Traced {
        self.neg_at(Location::caller())
    }
}

impl ops::Neg for Traced {
    type Output = Traced;
    #[track_caller]
    fn neg(self) -> Traced {
        self.neg_at(Location::caller())
    }
}
