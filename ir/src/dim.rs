//! Dimensions: static sizes, symbolic expressions, and unknowns.
//!
//! A symbolic dim is a small polynomial over named variables (`batch`, `seq`)
//! and atoms `floor(p/d)` / `ceil(p/d)`, kept in a canonical form so that two
//! spellings of the same size compare equal (`128*batch == batch*128`,
//! `floor(2*h/2) == h`). This covers the arithmetic that shape subgraphs
//! produce (products of dims, `seq+1`, pooling's `floor((h-k)/s)+1`).
//! Anything outside that arithmetic (division by a symbolic dim, data-dependent
//! sizes such as NonZero's output) is `Dim::Unknown`, printed `?`.
//!
//! Invariants: a `Dim::Sym` never holds a polynomial that is a plain constant
//! (that is `Dim::Known`), and its polynomial is canonical (see [`Poly`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One dimension of a tensor type.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dim {
    /// A size known at compile time.
    Known(i64),
    /// A symbolic size (canonical, never a constant).
    Sym(Arc<Poly>),
    /// A size the compiler cannot express (data dependent). Printed `?`.
    Unknown,
}

/// An indivisible factor of a monomial.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub enum Atom {
    /// A named size, bound when the model runs.
    Var(Arc<str>),
    /// `floor(p / d)` with `d >= 2`.
    Floor(Arc<Poly>, i64),
    /// `ceil(p / d)` with `d >= 2`.
    Ceil(Arc<Poly>, i64),
}

/// `sum(coeff * product(atoms)) + constant`, with monomials sorted, atoms
/// within a monomial sorted, and no zero coefficients.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub struct Poly {
    terms: Vec<(Vec<Atom>, i64)>,
    constant: i64,
}

impl Poly {
    fn from_map(map: BTreeMap<Vec<Atom>, i64>, constant: i64) -> Poly {
        Poly {
            terms: map.into_iter().filter(|(_, c)| *c != 0).collect(),
            constant,
        }
    }

    fn to_map(&self) -> BTreeMap<Vec<Atom>, i64> {
        self.terms.iter().cloned().collect()
    }

    fn constant(c: i64) -> Poly {
        Poly {
            terms: vec![],
            constant: c,
        }
    }

    fn atom(a: Atom) -> Poly {
        Poly {
            terms: vec![(vec![a], 1)],
            constant: 0,
        }
    }

    fn as_constant(&self) -> Option<i64> {
        self.terms.is_empty().then_some(self.constant)
    }

    fn add(&self, o: &Poly) -> Option<Poly> {
        let mut m = self.to_map();
        for (mono, c) in &o.terms {
            let e = m.entry(mono.clone()).or_insert(0);
            *e = e.checked_add(*c)?;
        }
        Some(Poly::from_map(m, self.constant.checked_add(o.constant)?))
    }

    fn scale(&self, k: i64) -> Option<Poly> {
        let mut m = BTreeMap::new();
        for (mono, c) in &self.terms {
            m.insert(mono.clone(), c.checked_mul(k)?);
        }
        Some(Poly::from_map(m, self.constant.checked_mul(k)?))
    }

    fn mul(&self, o: &Poly) -> Option<Poly> {
        let mut m: BTreeMap<Vec<Atom>, i64> = BTreeMap::new();
        let constant = self.constant.checked_mul(o.constant)?;
        // Treat the constants as the empty monomial while multiplying.
        let lhs: Vec<(Vec<Atom>, i64)> = self
            .terms
            .iter()
            .cloned()
            .chain(std::iter::once((vec![], self.constant)))
            .collect();
        let rhs: Vec<(Vec<Atom>, i64)> = o
            .terms
            .iter()
            .cloned()
            .chain(std::iter::once((vec![], o.constant)))
            .collect();
        for (ma, ca) in &lhs {
            for (mb, cb) in &rhs {
                if ma.is_empty() && mb.is_empty() {
                    continue;
                }
                let mut mono: Vec<Atom> = ma.iter().chain(mb.iter()).cloned().collect();
                mono.sort();
                let c = ca.checked_mul(*cb)?;
                let e = m.entry(mono).or_insert(0);
                *e = e.checked_add(c)?;
            }
        }
        Some(Poly::from_map(m, constant))
    }

    /// `floor(self / d)` (or ceil), simplified when every coefficient divides.
    fn div(&self, d: i64, ceil: bool) -> Option<Poly> {
        if d == 1 {
            return Some(self.clone());
        }
        if let Some(c) = self.as_constant() {
            return Some(Poly::constant(if ceil {
                c.div_euclid(d) + i64::from(c.rem_euclid(d) != 0)
            } else {
                c.div_euclid(d)
            }));
        }
        if self.terms.iter().all(|(_, c)| c % d == 0) {
            // floor((d*q + c)/d) = q + floor(c/d), exactly, for integer q.
            let mut m = BTreeMap::new();
            for (mono, c) in &self.terms {
                m.insert(mono.clone(), c / d);
            }
            let k = self.constant;
            let k = if ceil {
                k.div_euclid(d) + i64::from(k.rem_euclid(d) != 0)
            } else {
                k.div_euclid(d)
            };
            return Some(Poly::from_map(m, k));
        }
        let p = Arc::new(self.clone());
        Some(Poly::atom(if ceil {
            Atom::Ceil(p, d)
        } else {
            Atom::Floor(p, d)
        }))
    }

    /// Evaluate with the given variable bindings.
    pub fn eval(&self, env: &dyn Fn(&str) -> Option<i64>) -> Option<i64> {
        let mut acc = self.constant;
        for (mono, c) in &self.terms {
            let mut t = *c;
            for a in mono {
                t = t.checked_mul(a.eval(env)?)?;
            }
            acc = acc.checked_add(t)?;
        }
        Some(acc)
    }

    /// The variables this polynomial mentions (sorted, deduplicated).
    pub fn vars(&self, out: &mut Vec<Arc<str>>) {
        for (mono, _) in &self.terms {
            for a in mono {
                match a {
                    Atom::Var(v) => out.push(v.clone()),
                    Atom::Floor(p, _) | Atom::Ceil(p, _) => p.vars(out),
                }
            }
        }
    }
}

impl Atom {
    fn eval(&self, env: &dyn Fn(&str) -> Option<i64>) -> Option<i64> {
        match self {
            Atom::Var(v) => env(v),
            Atom::Floor(p, d) => Some(p.eval(env)?.div_euclid(*d)),
            Atom::Ceil(p, d) => {
                let n = p.eval(env)?;
                Some(n.div_euclid(*d) + i64::from(n.rem_euclid(*d) != 0))
            }
        }
    }
}

impl Dim {
    /// A named symbolic dim.
    pub fn var(name: &str) -> Dim {
        Dim::Sym(Arc::new(Poly::atom(Atom::Var(name.into()))))
    }

    fn from_poly(p: Option<Poly>) -> Dim {
        match p {
            None => Dim::Unknown,
            Some(p) => match p.as_constant() {
                Some(c) => Dim::Known(c),
                None => Dim::Sym(Arc::new(p)),
            },
        }
    }

    fn poly(&self) -> Option<Poly> {
        match self {
            Dim::Known(c) => Some(Poly::constant(*c)),
            Dim::Sym(p) => Some((**p).clone()),
            Dim::Unknown => None,
        }
    }

    /// The name, if this dim is a single symbol (`batch`, not `batch*2`).
    pub fn as_var(&self) -> Option<String> {
        let vs = self.vars();
        match vs.as_slice() {
            [v] if *self == Dim::var(v) => Some(v.to_string()),
            _ => None,
        }
    }

    /// The static size, if known.
    pub fn as_known(&self) -> Option<i64> {
        match self {
            Dim::Known(c) => Some(*c),
            _ => None,
        }
    }

    pub fn is_known(&self) -> bool {
        matches!(self, Dim::Known(_))
    }

    pub fn add(&self, o: &Dim) -> Dim {
        Dim::from_poly(self.poly().zip(o.poly()).and_then(|(a, b)| a.add(&b)))
    }

    pub fn sub(&self, o: &Dim) -> Dim {
        Dim::from_poly(
            self.poly()
                .zip(o.poly().and_then(|b| b.scale(-1)))
                .and_then(|(a, b)| a.add(&b)),
        )
    }

    pub fn mul(&self, o: &Dim) -> Dim {
        Dim::from_poly(self.poly().zip(o.poly()).and_then(|(a, b)| a.mul(&b)))
    }

    /// `floor(self / o)`. Division by a symbolic or non-positive dim gives `Unknown`,
    /// except that a dim divided by itself is 1.
    pub fn floor_div(&self, o: &Dim) -> Dim {
        self.div(o, false)
    }

    /// `ceil(self / o)`; see [`Dim::floor_div`].
    pub fn ceil_div(&self, o: &Dim) -> Dim {
        self.div(o, true)
    }

    fn div(&self, o: &Dim, ceil: bool) -> Dim {
        match o {
            Dim::Known(d) if *d > 0 => Dim::from_poly(self.poly().and_then(|p| p.div(*d, ceil))),
            Dim::Sym(_) if self == o => Dim::Known(1),
            _ => Dim::Unknown,
        }
    }

    /// The value of this dim given bindings for its variables.
    pub fn eval(&self, env: &dyn Fn(&str) -> Option<i64>) -> Option<i64> {
        match self {
            Dim::Known(c) => Some(*c),
            Dim::Sym(p) => p.eval(env),
            Dim::Unknown => None,
        }
    }

    /// Names of the variables this dim mentions.
    pub fn vars(&self) -> Vec<Arc<str>> {
        let mut v = vec![];
        if let Dim::Sym(p) = self {
            p.vars(&mut v);
        }
        v.sort();
        v.dedup();
        v
    }

    /// Whether two dims may be equal at run time (an unknown may be anything).
    pub fn compatible(&self, o: &Dim) -> bool {
        match (self, o) {
            (Dim::Unknown, _) | (_, Dim::Unknown) => true,
            (Dim::Known(a), Dim::Known(b)) => a == b,
            // Two different symbolic expressions can still coincide at run time
            // (`n` and `m` both bound to 3); the runtime checks bindings.
            _ => true,
        }
    }
}

impl From<i64> for Dim {
    fn from(v: i64) -> Dim {
        Dim::Known(v)
    }
}

impl From<i32> for Dim {
    fn from(v: i32) -> Dim {
        Dim::Known(v as i64)
    }
}

impl From<usize> for Dim {
    fn from(v: usize) -> Dim {
        Dim::Known(v as i64)
    }
}

impl From<&str> for Dim {
    fn from(v: &str) -> Dim {
        Dim::var(v)
    }
}

/// Whether `s` can be printed as a bare identifier (otherwise it is quoted).
pub fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(s, "floor" | "ceil")
}

/// Write `s` as an identifier, or as a quoted string with `\"` and `\\` escaped.
pub fn write_name(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    if is_ident(s) {
        f.write_str(s)
    } else {
        f.write_char('"')?;
        for c in s.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Var(v) => write_name(f, v),
            Atom::Floor(p, d) => write!(f, "floor({p}/{d})"),
            Atom::Ceil(p, d) => write!(f, "ceil({p}/{d})"),
        }
    }
}

impl fmt::Display for Poly {
    /// Terms as `atom*atom*coeff` joined by `+`/`-`, constant last: `batch*128`,
    /// `seq+1`, `floor(h/2)-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (mono, c) in &self.terms {
            let mag = c.unsigned_abs();
            if *c < 0 {
                f.write_str("-")?;
            } else if !first {
                f.write_str("+")?;
            }
            first = false;
            for (i, a) in mono.iter().enumerate() {
                if i > 0 {
                    f.write_str("*")?;
                }
                write!(f, "{a}")?;
            }
            if mag != 1 {
                write!(f, "*{mag}")?;
            }
        }
        if self.constant != 0 || first {
            if self.constant < 0 {
                write!(f, "-{}", self.constant.unsigned_abs())?;
            } else if !first {
                write!(f, "+{}", self.constant)?;
            } else {
                write!(f, "{}", self.constant)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(c) => write!(f, "{c}"),
            Dim::Sym(p) => write!(f, "{p}"),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

impl fmt::Debug for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Dim {
        Dim::var("batch")
    }

    #[test]
    fn canonical_forms_compare_equal() {
        let x = b().mul(&Dim::Known(128));
        let y = Dim::Known(128).mul(&b());
        assert_eq!(x, y);
        assert_eq!(x.to_string(), "batch*128");
        assert_eq!(b().add(&Dim::Known(1)).to_string(), "batch+1");
        assert_eq!(b().sub(&Dim::Known(1)).to_string(), "batch-1");
        assert_eq!(b().floor_div(&Dim::Known(2)).to_string(), "floor(batch/2)");
        assert_eq!(x.floor_div(&Dim::Known(2)).to_string(), "batch*64");
        assert_eq!(b().sub(&b()), Dim::Known(0));
        assert_eq!(b().floor_div(&b()), Dim::Known(1));
        assert_eq!(Dim::Known(7).ceil_div(&Dim::Known(2)), Dim::Known(4));
        assert_eq!(Dim::Known(-7).floor_div(&Dim::Known(2)), Dim::Known(-4));
        assert_eq!(Dim::Known(0).sub(&b()).to_string(), "-batch");
    }

    #[test]
    fn eval_binds_variables() {
        let d = b()
            .mul(&Dim::var("seq"))
            .add(&Dim::Known(3))
            .floor_div(&Dim::Known(2));
        let env = |n: &str| match n {
            "batch" => Some(3),
            "seq" => Some(5),
            _ => None,
        };
        assert_eq!(d.eval(&env), Some(9));
        assert_eq!(d.vars().len(), 2);
        assert_eq!(Dim::Unknown.eval(&env), None);
    }

    #[test]
    fn overflow_is_unknown_not_a_panic() {
        let big = Dim::Known(i64::MAX);
        assert_eq!(big.add(&Dim::Known(1)), Dim::Unknown);
        assert_eq!(big.mul(&b()).mul(&Dim::Known(2)), Dim::Unknown);
        assert_eq!(b().floor_div(&Dim::Known(0)), Dim::Unknown);
    }
}
