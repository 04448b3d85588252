//! Dim expressions: `batch*128`, `seq+1`, `floor(h/2)`, `ceil((a+b)/3)`, `-2`.
//!
//! Parsed with ordinary precedence (`*` over `+`/`-`; `/` only inside
//! `floor(...)`/`ceil(...)`, where it separates numerator and divisor) and
//! rebuilt with the `Dim` arithmetic, so every spelling of a dim gives its
//! canonical form. Overflow (which `Dim` reports as unknown) is an error, and
//! a running bound on terms and degree stops expressions like
//! `(a+b)*(a+b)*...` from expanding without limit.

use super::Parser;
use crate::dim::Dim;
use crate::text::lex::{Pos, Tok};
use crate::text::literal::Scalar;
use crate::text::ParseError;

/// The most terms a dim expression may expand to.
pub const MAX_DIM_TERMS: u64 = 4096;
/// The highest degree a dim expression may have.
pub const MAX_DIM_DEGREE: u64 = 64;

/// An upper bound on a dim expression's size once expanded.
#[derive(Copy, Clone)]
pub(super) struct Size {
    terms: u64,
    degree: u64,
}

impl Parser<'_> {
    /// `[-] term (('+' | '-') term)*`.
    pub(super) fn dim_expr(&mut self) -> Result<(Dim, Size), ParseError> {
        let start = self.pos();
        let neg = self.eat('-');
        let (mut d, mut sz) = self.dim_term(neg)?;
        loop {
            let neg = if self.eat('+') {
                false
            } else if self.eat('-') {
                true
            } else {
                return Ok((d, sz));
            };
            let (t, ts) = self.dim_term(neg)?;
            sz = Size {
                terms: sz.terms.saturating_add(ts.terms),
                degree: sz.degree.max(ts.degree),
            };
            d = self.checked_dim(d.add(&t), sz, start)?;
        }
    }

    /// `factor ('*' factor)*`, negated if `neg`. The sign goes to the first
    /// integer factor when there is one, so `-x*9223372036854775808` (whose
    /// coefficient is `i64::MIN`) is in range.
    fn dim_term(&mut self, neg: bool) -> Result<(Dim, Size), ParseError> {
        let start = self.pos();
        let mut pending = neg;
        let (mut d, mut sz) = self.dim_factor(&mut pending)?;
        while self.eat('*') {
            let (f, fs) = self.dim_factor(&mut pending)?;
            sz = Size {
                terms: sz.terms.saturating_mul(fs.terms),
                degree: sz.degree.saturating_add(fs.degree),
            };
            d = self.checked_dim(d.mul(&f), sz, start)?;
        }
        if pending {
            d = self.checked_dim(Dim::Known(0).sub(&d), sz, start)?;
        }
        Ok((d, sz))
    }

    /// One factor; an integer takes the pending sign.
    fn dim_factor(&mut self, pending: &mut bool) -> Result<(Dim, Size), ParseError> {
        let start = self.pos();
        let atom = Size {
            terms: 1,
            degree: 1,
        };
        match self.peek().clone() {
            Tok::Int(digits) => {
                let s = Scalar::Int {
                    neg: std::mem::take(pending),
                    digits,
                };
                let v = s.to_i64().map_err(|e| self.err_at(start, e))?;
                self.bump();
                Ok((
                    Dim::Known(v),
                    Size {
                        terms: 1,
                        degree: 0,
                    },
                ))
            }
            Tok::Word(w) if (w == "floor" || w == "ceil") && *self.peek2() == Tok::Punct('(') => {
                self.bump();
                self.bump();
                self.enter()?;
                let (num, _) = self.dim_expr()?;
                self.expect('/', &format!("in `{w}(...)`"))?;
                let den_pos = self.pos();
                let (den, _) = self.dim_expr()?;
                self.expect(')', &format!("to close `{w}(...)`"))?;
                self.leave();
                if !matches!(den, Dim::Known(d) if d > 0) {
                    return Err(self.err_at(
                        den_pos,
                        format!(
                            "the divisor in `{w}(...)` must be a positive integer, found {den}"
                        ),
                    ));
                }
                let d = if w == "floor" {
                    num.floor_div(&den)
                } else {
                    num.ceil_div(&den)
                };
                Ok((self.checked_dim(d, atom, start)?, atom))
            }
            Tok::Word(w) | Tok::Str(w) => {
                self.bump();
                Ok((Dim::var(&w), atom))
            }
            Tok::Punct('(') => {
                self.bump();
                self.enter()?;
                let r = self.dim_expr()?;
                self.expect(')', "to close the dim expression")?;
                self.leave();
                Ok(r)
            }
            _ => Err(self.expected("a dim (an integer, a name, `?` or an expression)")),
        }
    }

    /// `d`, unless arithmetic overflowed (which `Dim` reports as unknown) or
    /// the expression grew too large.
    fn checked_dim(&self, d: Dim, sz: Size, p: Pos) -> Result<Dim, ParseError> {
        if sz.terms > MAX_DIM_TERMS || sz.degree > MAX_DIM_DEGREE {
            return Err(self.err_at(
                p,
                format!(
                    "dim expression too large (more than {MAX_DIM_TERMS} terms or degree {MAX_DIM_DEGREE})"
                ),
            ));
        }
        if d == Dim::Unknown {
            return Err(self.err_at(p, "dim expression overflows i64"));
        }
        Ok(d)
    }
}
