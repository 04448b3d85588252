//! f32 transcendentals as PTX: line-for-line ports of `cpu/jit/math.rs`
//! (same range reductions, polynomials, constants and special cases), so
//! the GPU and CPU kernels agree within the same bounds. `math.rs` documents
//! and its tests measure the errors (vs f64): exp relative ≤ 2e-7 for normal
//! results, log relative ≤ 2e-7 (absolute ≤ 1e-7 near 1), tanh absolute
//! ≤ 3e-7, sigmoid ≤ 2e-7, erf ≤ 5e-7 absolute (gelu that times |x|/2),
//! softplus ≤ 2e-7·max(1,|x|), pow relative ≤ (|y ln x| + 2)·1.5e-7.
//!
//! The CPU uses `fma` only where the host has it; here every Horner step and
//! range-reduction step is `fma.rn.f32` (the CPU tests run with FMA on x86-64
//! v3 hosts, the same arithmetic). No `.approx` or `.ftz` instruction is
//! used. The bounds above are the CPU's measurements; no GPU run has
//! re-measured them yet.

use super::ptx::{imm, Asm, Class};
use crate::cpu::jit::math::{ERF_CLAMP, ERF_P, ERF_Q};

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5·2^23: adding it rounds an f32 of magnitude < 2^22 to an integer.
const MAGIC: f32 = 12_582_912.0;

impl Asm {
    fn f(&mut self, op: &str, args: &[&str]) -> String {
        self.op(Class::F32, op, args)
    }

    fn p(&mut self, op: &str, args: &[&str]) -> String {
        self.op(Class::Pred, op, args)
    }

    fn fma(&mut self, a: &str, b: &str, c: &str) -> String {
        self.f("fma.rn.f32", &[a, b, c])
    }

    fn sel(&mut self, p: &str, a: &str, b: &str) -> String {
        self.f("selp.f32", &[a, b, p])
    }

    /// `cs[0]` times `x` plus `cs[1]`, … (highest degree first).
    fn horner(&mut self, x: &str, cs: &[f32]) -> String {
        let mut acc = self.fma(x, &imm(cs[0]), &imm(cs[1]));
        for &c in &cs[2..] {
            acc = self.fma(&acc, x, &imm(c));
        }
        acc
    }

    /// `lo <= x <= hi` by compare+select, keeping NaN.
    fn clamp(&mut self, x: &str, lo: f32, hi: f32) -> String {
        let lt = self.p("setp.lt.f32", &[x, &imm(lo)]);
        let x = self.sel(&lt, &imm(lo), x);
        let gt = self.p("setp.gt.f32", &[&x, &imm(hi)]);
        self.sel(&gt, &imm(hi), &x)
    }

    /// 2^n for an integer `n` in [-126, 127] (a `.b32` register).
    fn exp2i(&mut self, n: &str) -> String {
        let e = self.op(Class::B32, "add.s32", &[n, "127"]);
        let bits = self.op(Class::B32, "shl.b32", &[&e, "23"]);
        self.f("mov.b32", &[&bits])
    }

    /// `x`'s sign bit moved onto the non-negative `v`.
    fn copy_sign(&mut self, v: &str, x: &str) -> String {
        let xb = self.op(Class::B32, "mov.b32", &[x]);
        let s = self.op(Class::B32, "and.b32", &[&xb, "0x80000000"]);
        let vb = self.op(Class::B32, "mov.b32", &[v]);
        let r = self.op(Class::B32, "or.b32", &[&vb, &s]);
        self.f("mov.b32", &[&r])
    }

    pub(crate) fn exp(&mut self, x: &str) -> String {
        let x = self.clamp(x, -104.0, 89.0);
        let t = self.fma(&x, &imm(LOG2E), &imm(MAGIC));
        let nf = self.f("sub.rn.f32", &[&t, &imm(MAGIC)]);
        let tb = self.op(Class::B32, "mov.b32", &[&t]);
        let n = self.op(
            Class::B32,
            "sub.s32",
            &[&tb, &(MAGIC.to_bits() as i32).to_string()],
        );
        // r = x - n ln2 with ln2 = C1 + C2, C1 exact in 9 bits.
        let r = self.fma(&nf, &imm(-0.693_359_4), &x);
        let r = self.fma(&nf, &imm(2.121_944_4e-4), &r);
        let p = self.horner(
            &r,
            &[
                1.987_569_1e-4,
                1.398_2e-3,
                8.333_452e-3,
                4.166_579_6e-2,
                1.666_666_5e-1,
                0.5,
            ],
        );
        let rr = self.f("mul.rn.f32", &[&r, &r]);
        let pr = self.fma(&p, &rr, &r);
        let p = self.f("add.rn.f32", &[&pr, &imm(1.0)]);
        // n in [-151, 129]: scale in two halves so each power is normal.
        let n1 = self.op(Class::B32, "shr.s32", &[&n, "1"]);
        let n2 = self.op(Class::B32, "sub.s32", &[&n, &n1]);
        let (s1, s2) = (self.exp2i(&n1), self.exp2i(&n2));
        let y = self.f("mul.rn.f32", &[&p, &s1]);
        self.f("mul.rn.f32", &[&y, &s2])
    }

    pub(crate) fn log(&mut self, x0: &str) -> String {
        // Subnormals: scale into the normal range, remember 23 in the exponent.
        let is_sub = self.p("setp.lt.f32", &[x0, &imm(f32::MIN_POSITIVE)]);
        let xs = self.f("mul.rn.f32", &[x0, &imm(8_388_608.0)]);
        let x = self.sel(&is_sub, &xs, x0);
        let adj = self.sel(&is_sub, &imm(23.0), &imm(0.0));
        // x = m 2^e with m in [0.5, 1).
        let bits = self.op(Class::B32, "mov.b32", &[&x]);
        let sh = self.op(Class::B32, "shr.u32", &[&bits, "23"]);
        let ex = self.op(Class::B32, "and.b32", &[&sh, "255"]);
        let ei = self.op(Class::B32, "sub.s32", &[&ex, "126"]);
        let e = self.f("cvt.rn.f32.s32", &[&ei]);
        let e = self.f("sub.rn.f32", &[&e, &adj]);
        let mant = self.op(Class::B32, "and.b32", &[&bits, "8388607"]);
        let mant = self.op(Class::B32, "or.b32", &[&mant, "1056964608"]);
        let m = self.f("mov.b32", &[&mant]);
        // Fold m < √½ into [√½, 1) · 2 so the polynomial argument is small.
        let small = self.p("setp.lt.f32", &[&m, &imm(std::f32::consts::FRAC_1_SQRT_2)]);
        let m2 = self.f("add.rn.f32", &[&m, &m]);
        let mf = self.sel(&small, &m2, &m);
        let xm = self.f("sub.rn.f32", &[&mf, &imm(1.0)]);
        let e1 = self.f("sub.rn.f32", &[&e, &imm(1.0)]);
        let e = self.sel(&small, &e1, &e);
        let z = self.f("mul.rn.f32", &[&xm, &xm]);
        let p = self.horner(
            &xm,
            &[
                7.037_683_6e-2,
                -1.151_461e-1,
                1.167_699_9e-1,
                -1.242_014_1e-1,
                1.424_932_3e-1,
                -1.666_805_8e-1,
                2.000_071_5e-1,
                -2.499_999_4e-1,
                3.333_333e-1,
            ],
        );
        let pxz = self.f("mul.rn.f32", &[&p, &xm]);
        let y = self.f("mul.rn.f32", &[&pxz, &z]);
        let y = self.fma(&e, &imm(-2.121_944_4e-4), &y);
        let y = self.fma(&z, &imm(-0.5), &y);
        let r = self.f("add.rn.f32", &[&xm, &y]);
        let r = self.fma(&e, &imm(0.693_359_4), &r);
        // Specials: x < 0 or NaN → NaN, 0 → -inf, inf → inf.
        let ok = self.p("setp.ge.f32", &[x0, &imm(0.0)]);
        let r = self.sel(&ok, &r, &imm(f32::NAN));
        let z0 = self.p("setp.eq.f32", &[x0, &imm(0.0)]);
        let r = self.sel(&z0, &imm(f32::NEG_INFINITY), &r);
        let isinf = self.p("setp.eq.f32", &[x0, &imm(f32::INFINITY)]);
        self.sel(&isinf, &imm(f32::INFINITY), &r)
    }

    pub(crate) fn tanh(&mut self, x: &str) -> String {
        let a = self.f("abs.f32", &[x]);
        // Large: 1 - 2/(e^{2a} + 1), sign restored from x.
        let a2 = self.f("mul.rn.f32", &[&a, &imm(2.0)]);
        let e = self.exp(&a2);
        let d = self.f("add.rn.f32", &[&e, &imm(1.0)]);
        let q = self.f("div.rn.f32", &[&imm(2.0), &d]);
        let big = self.f("sub.rn.f32", &[&imm(1.0), &q]);
        let big = self.copy_sign(&big, x);
        // Small: x + x z P(z), z = x².
        let z = self.f("mul.rn.f32", &[x, x]);
        let p = self.horner(
            &z,
            &[
                -5.704_988_7e-3,
                2.063_909e-2,
                -5.373_971_6e-2,
                1.333_144_2e-1,
                -3.333_328e-1,
            ],
        );
        let pz = self.f("mul.rn.f32", &[&p, &z]);
        let small = self.fma(&pz, x, x);
        let is_big = self.p("setp.ge.f32", &[&a, &imm(0.625)]);
        self.sel(&is_big, &big, &small)
    }

    pub(crate) fn sigmoid(&mut self, x: &str) -> String {
        let nx = self.f("neg.f32", &[x]);
        let e = self.exp(&nx);
        let d = self.f("add.rn.f32", &[&imm(1.0), &e]);
        self.f("div.rn.f32", &[&imm(1.0), &d])
    }

    pub(crate) fn erf(&mut self, x: &str) -> String {
        // As the CPU's: sign(x) · min(1, a·P(a²)/Q(a²)), a = min(|x|, 3.92);
        // NaN fails both comparisons and flows through.
        let a = self.f("abs.f32", &[x]);
        let over = self.p("setp.gt.f32", &[&a, &imm(ERF_CLAMP)]);
        let a = self.sel(&over, &imm(ERF_CLAMP), &a);
        let z = self.f("mul.rn.f32", &[&a, &a]);
        let p = self.horner(&z, &ERF_P);
        let q = self.horner(&z, &ERF_Q);
        let ap = self.f("mul.rn.f32", &[&a, &p]);
        let r = self.f("div.rn.f32", &[&ap, &q]);
        let above = self.p("setp.gt.f32", &[&r, &imm(1.0)]);
        let r = self.sel(&above, &imm(1.0), &r);
        // Exactly 1 past the clamp (gelu(-inf) must be NaN, as -inf·0).
        let r = self.sel(&over, &imm(1.0), &r);
        self.copy_sign(&r, x)
    }

    /// `log(1 + u)` for u ≥ 0, accurate for tiny u: `log(w)·u/(w-1)`.
    fn log1p_pos(&mut self, u: &str) -> String {
        let s = self.f("add.rn.f32", &[&imm(1.0), u]);
        let l = self.log(&s);
        let sm1 = self.f("sub.rn.f32", &[&s, &imm(1.0)]);
        let q = self.f("div.rn.f32", &[u, &sm1]);
        let r = self.f("mul.rn.f32", &[&l, &q]);
        let exact = self.p("setp.eq.f32", &[&s, &imm(1.0)]);
        self.sel(&exact, u, &r)
    }

    pub(crate) fn softplus(&mut self, x: &str) -> String {
        let a = self.f("abs.f32", &[x]);
        let na = self.f("neg.f32", &[&a]);
        let e = self.exp(&na);
        let l = self.log1p_pos(&e);
        let gt = self.p("setp.gt.f32", &[x, &imm(0.0)]);
        let m = self.sel(&gt, x, &imm(0.0));
        let r = self.f("add.rn.f32", &[&m, &l]);
        // NaN: the select above dropped it.
        let nan = self.p("setp.nan.f32", &[x, x]);
        self.sel(&nan, x, &r)
    }

    pub(crate) fn gelu(&mut self, x: &str) -> String {
        let xs = self.f("mul.rn.f32", &[x, &imm(std::f32::consts::FRAC_1_SQRT_2)]);
        let e = self.erf(&xs);
        let s = self.f("add.rn.f32", &[&imm(1.0), &e]);
        let hx = self.f("mul.rn.f32", &[&imm(0.5), x]);
        self.f("mul.rn.f32", &[&hx, &s])
    }

    pub(crate) fn gelu_tanh(&mut self, x: &str) -> String {
        let c = imm((2.0 / std::f64::consts::PI).sqrt() as f32);
        let x2 = self.f("mul.rn.f32", &[x, x]);
        let x3 = self.f("mul.rn.f32", &[&x2, x]);
        let kx3 = self.f("mul.rn.f32", &[&imm(0.044_715), &x3]);
        let inner = self.f("add.rn.f32", &[x, &kx3]);
        let arg = self.f("mul.rn.f32", &[&c, &inner]);
        let t = self.tanh(&arg);
        let s = self.f("add.rn.f32", &[&imm(1.0), &t]);
        let hx = self.f("mul.rn.f32", &[&imm(0.5), x]);
        self.f("mul.rn.f32", &[&hx, &s])
    }

    pub(crate) fn pow_const(&mut self, x: &str, c: f32) -> String {
        match c {
            0.0 => self.f("mov.f32", &[&imm(1.0)]),
            1.0 => x.to_string(),
            2.0 => self.f("mul.rn.f32", &[x, x]),
            3.0 => {
                let x2 = self.f("mul.rn.f32", &[x, x]);
                self.f("mul.rn.f32", &[&x2, x])
            }
            -1.0 => self.f("div.rn.f32", &[&imm(1.0), x]),
            0.5 | -0.5 => {
                // pow(-0, ½) = +0 and pow(-inf, ½) = inf, unlike sqrt.
                let s = self.f("sqrt.rn.f32", &[x]);
                let s = self.f("add.rn.f32", &[&s, &imm(0.0)]);
                let isninf = self.p("setp.eq.f32", &[x, &imm(f32::NEG_INFINITY)]);
                let s = self.sel(&isninf, &imm(f32::INFINITY), &s);
                if c < 0.0 {
                    self.f("div.rn.f32", &[&imm(1.0), &s])
                } else {
                    s
                }
            }
            _ => {
                let y = self.f("mov.f32", &[&imm(c)]);
                self.pow(x, &y)
            }
        }
    }

    /// General `pow` through `exp(y log|x|)`, IEEE special cases kept.
    pub(crate) fn pow(&mut self, x: &str, y: &str) -> String {
        let a = self.f("abs.f32", &[x]);
        let l = self.log(&a);
        let yl = self.f("mul.rn.f32", &[y, &l]);
        let r = self.exp(&yl);
        // Negative base: integer y keeps the magnitude, odd y flips the sign;
        // a non-integer y gives NaN.
        let fy = self.f("cvt.rmi.f32.f32", &[y]);
        let yint = self.p("setp.eq.f32", &[&fy, y]);
        let hy = self.f("mul.rn.f32", &[y, &imm(0.5)]);
        let fhy = self.f("cvt.rmi.f32.f32", &[&hy]);
        let even = self.p("setp.eq.f32", &[&fhy, &hy]);
        let nr = self.f("neg.f32", &[&r]);
        let signed = self.sel(&even, &r, &nr);
        // pow(-inf, y) for non-integer y is +inf (|x|^y), not NaN.
        let isninf = self.p("setp.eq.f32", &[x, &imm(f32::NEG_INFINITY)]);
        let other = self.sel(&isninf, &r, &imm(f32::NAN));
        let negv = self.sel(&yint, &signed, &other);
        let neg = self.p("setp.lt.f32", &[x, &imm(0.0)]);
        let r = self.sel(&neg, &negv, &r);
        let y0 = self.p("setp.eq.f32", &[y, &imm(0.0)]);
        let r = self.sel(&y0, &imm(1.0), &r);
        let x1 = self.p("setp.eq.f32", &[x, &imm(1.0)]);
        self.sel(&x1, &imm(1.0), &r)
    }

    /// `max(0, min(1, a*x + b))`, NaN kept.
    pub(crate) fn hard_sigmoid(&mut self, x: &str, a: f32, b: f32) -> String {
        let ax = self.f("mul.rn.f32", &[&imm(a), x]);
        let y = self.f("add.rn.f32", &[&ax, &imm(b)]);
        let lt = self.p("setp.lt.f32", &[&y, &imm(0.0)]);
        let y = self.sel(&lt, &imm(0.0), &y);
        let gt = self.p("setp.gt.f32", &[&y, &imm(1.0)]);
        self.sel(&gt, &imm(1.0), &y)
    }
}
