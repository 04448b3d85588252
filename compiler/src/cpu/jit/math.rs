//! Vectorized f32 approximations of the transcendental functions, emitted
//! as Cranelift IR (the same code at scalar and f32x4 width, so a loop's
//! tail computes exactly what its vector body does).
//!
//! Measured maximum errors against f64 (`tests::math_sweep` asserts them
//! over 0.5–2M inputs per function; specials in `math_specials`):
//! - `exp`: range reduction `x = n ln2 + r` (Cody–Waite split of ln2, n by
//!   the 1.5·2^23 rounding trick), degree-6 Taylor/minimax on |r| ≤ ln2/2
//!   (Cephes coefficients), scaling by 2^n in two steps so subnormal results
//!   and overflow come out right: relative error ≤ 2e-7 (≈ 2 ulp) for
//!   results ≥ 2^-126; exp(-inf) = 0, exp(x > 88.73) = inf, NaN → NaN.
//! - `log`: frexp by bit manipulation (subnormals pre-scaled by 2^23),
//!   mantissa folded into [√½, √2), Cephes degree-8 polynomial: relative
//!   error ≤ 2e-7 away from x = 1 and absolute ≤ 1e-7 near it; log(0) = -inf,
//!   log(x < 0) = NaN, log(inf) = inf.
//! - `tanh`: odd polynomial for |x| < 0.625, `1 - 2/(e^{2|x|} + 1)` above:
//!   absolute error ≤ 3e-7. `sigmoid` = `1/(1 + e^-x)`: absolute ≤ 2e-7.
//! - `erf`: one rational function `a·P(a²)/Q(a²)` of degree 6/5 in a² on
//!   a = min(|x|, 3.92) (our own fit, [`ERF_P`]/[`ERF_Q`]), one division and
//!   no `exp`: absolute error ≤ 5e-7, relative ≤ 3e-7 for |x| < 0.5 (3.6e-7
//!   and 2.5e-7 measured).
//!   `gelu` inherits it times |x|/2.
//! - `softplus` = `max(x,0) + log1p(e^{-|x|})` with an exact-log1p trick:
//!   absolute ≤ 2e-7·max(1,|x|).
//! - `pow(x, y)` = `exp(y·log|x|)` with IEEE special cases (y = 0 → 1,
//!   x = 1 → 1, negative x: sign for odd integer y, NaN for non-integers):
//!   relative error ≤ (|y ln x| + 2)·1.5e-7. Constant exponents 0, ±0.5, 1,
//!   2, 3, -1 use exact(er) multiplies and square roots instead.

use super::emit::{Emitter, W};
use super::JitError;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5·2^23: adding it rounds an f32 of magnitude < 2^22 to an integer.
const MAGIC: f32 = 12_582_912.0;

/// `erf(a) ≈ a·P(a²)/Q(a²)` on [0, 3.92]: our weighted least-squares
/// rational fit (Lawson reweighting on Chebyshev nodes, P(0) pinned to
/// f32(2/√π)), highest degree first. Evaluated in f32 on a 1M-point grid:
/// absolute error ≤ 3.6e-7, relative ≤ 2.5e-7 for |x| < 0.5.
pub(crate) const ERF_P: [f32; 6] = [
    2.0681161e-06,
    2.8265803e-04,
    3.6668398e-03,
    5.24464e-2,
    1.8810348e-01,
    1.1283792e+00,
];
pub(crate) const ERF_Q: [f32; 6] = [
    3.816135e-05,
    1.1385212e-03,
    1.4772394e-02,
    1.131587e-01,
    5.000359e-01,
    1.0,
];
/// Beyond this |x|, erf is ±1 in f32.
pub(crate) const ERF_CLAMP: f32 = 3.92;

impl Emitter<'_, '_> {
    /// Horner's rule with fused steps: `c[0] + x(c[1] + x(...))` reversed,
    /// i.e. `cs` from the highest degree down.
    fn horner(&mut self, w: W, x: Value, cs: &[f32]) -> Value {
        let mut acc = self.cf(w, cs[0]);
        for &c in &cs[1..] {
            let c = self.cf(w, c);
            acc = self.fma(acc, x, c);
        }
        acc
    }

    /// `lo <= x <= hi` by compare+select, keeping NaN.
    fn clamp(&mut self, w: W, x: Value, lo: f32, hi: f32) -> Value {
        let (lo, hi) = (self.cf(w, lo), self.cf(w, hi));
        let lt = self.fcmp(FloatCC::LessThan, x, lo);
        let x = self.sel(w, lt, lo, x);
        let gt = self.fcmp(FloatCC::GreaterThan, x, hi);
        self.sel(w, gt, hi, x)
    }

    /// 2^n for integer lanes `n` in [-126, 127], as floats.
    fn exp2i(&mut self, w: W, n: Value) -> Value {
        let bias = self.ci(w, 127);
        let e = self.b.ins().iadd(n, bias);
        let bits = self.b.ins().ishl_imm_u(e, 23);
        self.as_float(w, bits)
    }

    pub(crate) fn exp(&mut self, w: W, x: Value) -> Value {
        // Beyond these every f32 result is 0 or inf; clamping keeps n small.
        let x = self.clamp(w, x, -104.0, 89.0);
        let (l2e, magic) = (self.cf(w, LOG2E), self.cf(w, MAGIC));
        let t = self.fma(x, l2e, magic);
        let nf = self.b.ins().fsub(t, magic);
        let tb = self.as_int(w, t);
        let mb = self.ci(w, MAGIC.to_bits() as i32);
        let n = self.b.ins().isub(tb, mb);
        // r = x - n ln2 with ln2 = C1 + C2, C1 exact in 9 bits.
        let (c1, c2) = (self.cf(w, -0.693_359_4), self.cf(w, 2.121_944_4e-4));
        let r = self.fma(nf, c1, x);
        let r = self.fma(nf, c2, r);
        let p = self.horner(
            w,
            r,
            &[
                1.987_569_1e-4,
                1.398_2e-3,
                8.333_452e-3,
                4.166_579_6e-2,
                1.666_666_5e-1,
                0.5,
            ],
        );
        let rr = self.b.ins().fmul(r, r);
        let one = self.cf(w, 1.0);
        let pr = self.fma(p, rr, r);
        let p = self.b.ins().fadd(pr, one);
        // n in [-151, 129]: scale in two halves so each power is normal.
        let n1 = self.b.ins().sshr_imm_u(n, 1);
        let n2 = self.b.ins().isub(n, n1);
        let (s1, s2) = (self.exp2i(w, n1), self.exp2i(w, n2));
        let y = self.b.ins().fmul(p, s1);
        self.b.ins().fmul(y, s2)
    }

    pub(crate) fn log(&mut self, w: W, x0: Value) -> Value {
        // Subnormals: scale into the normal range, remember 23 in the exponent.
        let tiny = self.cf(w, f32::MIN_POSITIVE);
        let is_sub = self.fcmp(FloatCC::LessThan, x0, tiny);
        let big = self.cf(w, 8_388_608.0);
        let xs = self.b.ins().fmul(x0, big);
        let x = self.sel(w, is_sub, xs, x0);
        let (f23, f0) = (self.cf(w, 23.0), self.cf(w, 0.0));
        let adj = self.sel(w, is_sub, f23, f0);
        // x = m 2^e with m in [0.5, 1).
        let bits = self.as_int(w, x);
        let sh = self.b.ins().ushr_imm_u(bits, 23);
        let ff = self.ci(w, 0xff);
        let ex = self.b.ins().band(sh, ff);
        let b126 = self.ci(w, 126);
        let ei = self.b.ins().isub(ex, b126);
        let e = match w {
            W::S => self
                .b
                .ins()
                .fcvt_from_sint(cranelift_codegen::ir::types::F32, ei),
            W::V => self
                .b
                .ins()
                .fcvt_from_sint(cranelift_codegen::ir::types::F32X4, ei),
        };
        let e = self.b.ins().fsub(e, adj);
        let mm = self.ci(w, 0x007f_ffff);
        let half = self.ci(w, 0x3f00_0000);
        let mant = self.b.ins().band(bits, mm);
        let mant = self.b.ins().bor(mant, half);
        let m = self.as_float(w, mant);
        // Fold m < √½ into [√½, 1) · 2 so the polynomial argument is small.
        let sqrth = self.cf(w, std::f32::consts::FRAC_1_SQRT_2);
        let small = self.fcmp(FloatCC::LessThan, m, sqrth);
        let one = self.cf(w, 1.0);
        let m2 = self.b.ins().fadd(m, m);
        let mf = self.sel(w, small, m2, m);
        let xm = self.b.ins().fsub(mf, one);
        let e1 = self.b.ins().fsub(e, one);
        let e = self.sel(w, small, e1, e);
        let z = self.b.ins().fmul(xm, xm);
        let p = self.horner(
            w,
            xm,
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
        let pxz = self.b.ins().fmul(p, xm);
        let y = self.b.ins().fmul(pxz, z);
        let c2 = self.cf(w, -2.121_944_4e-4);
        let y = self.fma(e, c2, y);
        let mh = self.cf(w, -0.5);
        let y = self.fma(z, mh, y);
        let r = self.b.ins().fadd(xm, y);
        let c1 = self.cf(w, 0.693_359_4);
        let r = self.fma(e, c1, r);
        // Specials: x < 0 or NaN → NaN, 0 → -inf, inf → inf.
        let (nan, ninf, inf) = (
            self.cf(w, f32::NAN),
            self.cf(w, f32::NEG_INFINITY),
            self.cf(w, f32::INFINITY),
        );
        let ok = self.fcmp(FloatCC::GreaterThanOrEqual, x0, f0);
        let r = self.sel(w, ok, r, nan);
        let z0 = self.fcmp(FloatCC::Equal, x0, f0);
        let r = self.sel(w, z0, ninf, r);
        let isinf = self.fcmp(FloatCC::Equal, x0, inf);
        self.sel(w, isinf, inf, r)
    }

    pub(crate) fn tanh(&mut self, w: W, x: Value) -> Value {
        let a = self.b.ins().fabs(x);
        // Large: 1 - 2/(e^{2a} + 1), sign restored from x.
        let two = self.cf(w, 2.0);
        let a2 = self.b.ins().fmul(a, two);
        let e = self.exp(w, a2);
        let one = self.cf(w, 1.0);
        let d = self.b.ins().fadd(e, one);
        let q = self.b.ins().fdiv(two, d);
        let big = self.b.ins().fsub(one, q);
        let signmask = self.cf(w, -0.0);
        let sign = self.b.ins().band(x, signmask);
        let big = self.b.ins().bor(big, sign);
        // Small: x + x z P(z), z = x².
        let z = self.b.ins().fmul(x, x);
        let p = self.horner(
            w,
            z,
            &[
                -5.704_988_7e-3,
                2.063_909e-2,
                -5.373_971_6e-2,
                1.333_144_2e-1,
                -3.333_328e-1,
            ],
        );
        let pz = self.b.ins().fmul(p, z);
        let small = self.fma(pz, x, x);
        let lim = self.cf(w, 0.625);
        let is_big = self.fcmp(FloatCC::GreaterThanOrEqual, a, lim);
        self.sel(w, is_big, big, small)
    }

    pub(crate) fn sigmoid(&mut self, w: W, x: Value) -> Value {
        let nx = self.b.ins().fneg(x);
        let e = self.exp(w, nx);
        let one = self.cf(w, 1.0);
        let d = self.b.ins().fadd(one, e);
        self.b.ins().fdiv(one, d)
    }

    pub(crate) fn erf(&mut self, w: W, x: Value) -> Value {
        // sign(x) · min(1, a·P(a²)/Q(a²)) with a = min(|x|, 3.92). The
        // comparisons are false for NaN, which therefore flows through.
        let a = self.b.ins().fabs(x);
        let lim = self.cf(w, ERF_CLAMP);
        let over = self.fcmp(FloatCC::GreaterThan, a, lim);
        let a = self.sel(w, over, lim, a);
        let z = self.b.ins().fmul(a, a);
        let p = self.horner(w, z, &ERF_P);
        let q = self.horner(w, z, &ERF_Q);
        let ap = self.b.ins().fmul(a, p);
        let r = self.b.ins().fdiv(ap, q);
        // Exactly 1 past the clamp (gelu(-inf) must be NaN, as -inf·0).
        let one = self.cf(w, 1.0);
        let above = self.fcmp(FloatCC::GreaterThan, r, one);
        let done = self.b.ins().bor(above, over);
        let r = self.sel(w, done, one, r);
        let signmask = self.cf(w, -0.0);
        let sign = self.b.ins().band(x, signmask);
        self.b.ins().bor(r, sign)
    }

    /// `log(1 + u)` for u ≥ 0, accurate for tiny u: `log(w)·u/(w-1)`.
    fn log1p_pos(&mut self, w: W, u: Value) -> Value {
        let one = self.cf(w, 1.0);
        let s = self.b.ins().fadd(one, u);
        let l = self.log(w, s);
        let sm1 = self.b.ins().fsub(s, one);
        let q = self.b.ins().fdiv(u, sm1);
        let r = self.b.ins().fmul(l, q);
        let exact = self.fcmp(FloatCC::Equal, s, one);
        self.sel(w, exact, u, r)
    }

    pub(crate) fn softplus(&mut self, w: W, x: Value) -> Value {
        let a = self.b.ins().fabs(x);
        let na = self.b.ins().fneg(a);
        let e = self.exp(w, na);
        let l = self.log1p_pos(w, e);
        let zero = self.cf(w, 0.0);
        let gt = self.fcmp(FloatCC::GreaterThan, x, zero);
        let m = self.sel(w, gt, x, zero);
        let r = self.b.ins().fadd(m, l);
        // NaN: the select above dropped it.
        let nan = self.fcmp(FloatCC::Unordered, x, x);
        self.sel(w, nan, x, r)
    }

    pub(crate) fn gelu(&mut self, w: W, x: Value) -> Value {
        let c = self.cf(w, std::f32::consts::FRAC_1_SQRT_2);
        let xs = self.b.ins().fmul(x, c);
        let e = self.erf(w, xs);
        let (one, half) = (self.cf(w, 1.0), self.cf(w, 0.5));
        let s = self.b.ins().fadd(one, e);
        let hx = self.b.ins().fmul(half, x);
        self.b.ins().fmul(hx, s)
    }

    pub(crate) fn gelu_tanh(&mut self, w: W, x: Value) -> Value {
        let c = self.cf(w, (2.0 / std::f64::consts::PI).sqrt() as f32);
        let k = self.cf(w, 0.044_715);
        let x2 = self.b.ins().fmul(x, x);
        let x3 = self.b.ins().fmul(x2, x);
        let kx3 = self.b.ins().fmul(k, x3);
        let inner = self.b.ins().fadd(x, kx3);
        let arg = self.b.ins().fmul(c, inner);
        let t = self.tanh(w, arg);
        let (one, half) = (self.cf(w, 1.0), self.cf(w, 0.5));
        let s = self.b.ins().fadd(one, t);
        let hx = self.b.ins().fmul(half, x);
        self.b.ins().fmul(hx, s)
    }

    pub(crate) fn pow_const(&mut self, w: W, x: Value, c: f32) -> Result<Value, JitError> {
        let one = self.cf(w, 1.0);
        Ok(match c {
            0.0 => one,
            1.0 => x,
            2.0 => self.b.ins().fmul(x, x),
            3.0 => {
                let x2 = self.b.ins().fmul(x, x);
                self.b.ins().fmul(x2, x)
            }
            -1.0 => self.b.ins().fdiv(one, x),
            0.5 | -0.5 => {
                // pow(-0, ½) = +0 and pow(-inf, ½) = inf, unlike sqrt.
                let zero = self.cf(w, 0.0);
                let s = self.b.ins().sqrt(x);
                let s = self.b.ins().fadd(s, zero);
                let ninf = self.cf(w, f32::NEG_INFINITY);
                let inf = self.cf(w, f32::INFINITY);
                let isninf = self.fcmp(FloatCC::Equal, x, ninf);
                let s = self.sel(w, isninf, inf, s);
                if c < 0.0 {
                    self.b.ins().fdiv(one, s)
                } else {
                    s
                }
            }
            _ => {
                let y = self.cf(w, c);
                self.pow(w, x, y)?
            }
        })
    }

    /// General `pow` through `exp(y log|x|)`, IEEE special cases kept.
    pub(crate) fn pow(&mut self, w: W, x: Value, y: Value) -> Result<Value, JitError> {
        if !self.feat.sse41 {
            return Err(JitError::Unsupported {
                op: "pow".into(),
                why: "needs SSE4.1 (floor)".into(),
            });
        }
        let a = self.b.ins().fabs(x);
        let l = self.log(w, a);
        let yl = self.b.ins().fmul(y, l);
        let r = self.exp(w, yl);
        // Negative base: integer y keeps the magnitude, odd y flips the sign;
        // a non-integer y gives NaN.
        let fy = self.b.ins().floor(y);
        let yint = self.fcmp(FloatCC::Equal, fy, y);
        let half = self.cf(w, 0.5);
        let hy = self.b.ins().fmul(y, half);
        let fhy = self.b.ins().floor(hy);
        let even = self.fcmp(FloatCC::Equal, fhy, hy);
        let nr = self.b.ins().fneg(r);
        let signed = self.sel(w, even, r, nr);
        // pow(-inf, y) for non-integer y is +inf (|x|^y), not NaN.
        let nan = self.cf(w, f32::NAN);
        let ninf = self.cf(w, f32::NEG_INFINITY);
        let isninf = self.fcmp(FloatCC::Equal, x, ninf);
        let other = self.sel(w, isninf, r, nan);
        let negv = self.sel(w, yint, signed, other);
        let zero = self.cf(w, 0.0);
        let neg = self.fcmp(FloatCC::LessThan, x, zero);
        let r = self.sel(w, neg, negv, r);
        let one = self.cf(w, 1.0);
        let y0 = self.fcmp(FloatCC::Equal, y, zero);
        let r = self.sel(w, y0, one, r);
        let x1 = self.fcmp(FloatCC::Equal, x, one);
        Ok(self.sel(w, x1, one, r))
    }
}
