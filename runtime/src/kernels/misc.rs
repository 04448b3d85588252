//! Cast (every dtype pair) and Where (numpy broadcasting), for nodes the
//! JIT leaves alone.
//!
//! Cast is bit-exact with the interpreter's definition
//! (`interp/elementwise/data.rs`): floats are read exactly as f64, integers
//! as i64, bools as "byte != 0"; then float → f32 is `as`, float → f16/bf16
//! is rounded once correctly (round to odd through f32, then to nearest
//! even), integer → f16/bf16 goes through `half`'s `from_f64` (as
//! `Elem::from_i64` does), float → integer truncates and saturates (NaN → 0),
//! integer → integer wraps, anything → bool is "nonzero" (NaN is true).
//!
//! Both are elementwise, so the result may be the very buffer of an operand
//! (same pointer, same size): each element is read before it is written and
//! only raw pointers are used.

use super::movement::strided::by_size;
use super::movement::{arity, expect_out, par_ranges, SendPtr};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::half::{bf16, f16};
use ingot_ir::{DType, Op, TensorType};

/// Build Cast and Where kernels; `None` for other ops.
pub(crate) fn kernel(
    op: &Op,
    in_types: &[TensorType],
    out_types: &[TensorType],
) -> Option<Result<Box<dyn Kernel>, String>> {
    let _ = out_types;
    match op {
        Op::Cast { to, .. } => {
            let from = in_types.first()?.dtype;
            Some(Ok(Box::new(Cast {
                from,
                to: *to,
                f: cast_fn(from, *to),
            })))
        }
        Op::Where => Some(Ok(Box::new(Where))),
        _ => None,
    }
}

/// An element in the interpreter's working form.
#[derive(Clone, Copy)]
enum V {
    F(f64),
    I(i64),
    B(bool),
}

/// Marker for bool elements (one byte, nonzero is true).
struct BoolT;

trait Elt {
    const SIZE: usize;
    /// # Safety
    /// `p` points to one readable element.
    unsafe fn load(p: *const u8) -> V;
    /// # Safety
    /// `p` points to one writable element.
    unsafe fn store(p: *mut u8, v: V);
}

/// `v` rounded to f32 toward zero with the last bit set when inexact; the
/// interpreter's route to a correctly rounded f16/bf16.
fn round_to_odd_f32(v: f64) -> f32 {
    let r = v as f32;
    if !r.is_finite() || f64::from(r) == v {
        return r;
    }
    let mut bits = r.to_bits();
    if f64::from(r).abs() > v.abs() {
        bits -= 1;
    }
    f32::from_bits(bits | 1)
}

macro_rules! float_elt {
    ($t:ty, $to_f64:expr, $from_f64:expr, $from_i64:expr) => {
        impl Elt for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            unsafe fn load(p: *const u8) -> V {
                V::F($to_f64((p as *const $t).read_unaligned()))
            }
            #[inline(always)]
            unsafe fn store(p: *mut u8, v: V) {
                let x: $t = match v {
                    V::F(f) => $from_f64(f),
                    V::I(i) => $from_i64(i),
                    V::B(b) => $from_i64(i64::from(b)),
                };
                (p as *mut $t).write_unaligned(x)
            }
        }
    };
}
float_elt!(f32, f64::from, |f| f as f32, |i| i as f32);
float_elt!(f64, |x| x, |f| f, |i| i as f64);
float_elt!(
    f16,
    f16::to_f64,
    |f| f16::from_f32(round_to_odd_f32(f)),
    |i| f16::from_f64(i as f64)
);
float_elt!(
    bf16,
    bf16::to_f64,
    |f| bf16::from_f32(round_to_odd_f32(f)),
    |i| bf16::from_f64(i as f64)
);

macro_rules! int_elt {
    ($($t:ty),*) => {$(
        impl Elt for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            unsafe fn load(p: *const u8) -> V {
                V::I((p as *const $t).read_unaligned() as i64)
            }
            #[inline(always)]
            unsafe fn store(p: *mut u8, v: V) {
                let x = match v {
                    V::F(f) => f as $t,
                    V::I(i) => i as $t,
                    V::B(b) => b as $t,
                };
                (p as *mut $t).write_unaligned(x)
            }
        }
    )*};
}
int_elt!(i8, u8, i16, i32, i64);

impl Elt for BoolT {
    const SIZE: usize = 1;
    #[inline(always)]
    unsafe fn load(p: *const u8) -> V {
        V::B(p.read() != 0)
    }
    #[inline(always)]
    unsafe fn store(p: *mut u8, v: V) {
        let b = match v {
            V::F(f) => f != 0.0,
            V::I(i) => i != 0,
            V::B(b) => b,
        };
        p.write(u8::from(b))
    }
}

/// Converts `n` elements; src and dst may be the same buffer.
type CastFn = unsafe fn(*const u8, *mut u8, usize);

unsafe fn cast_n<S: Elt, D: Elt>(src: *const u8, dst: *mut u8, n: usize) {
    for i in 0..n {
        // SAFETY: the caller's buffers hold `n` elements; element `i` is read
        // before it is written.
        D::store(dst.add(i * D::SIZE), S::load(src.add(i * S::SIZE)));
    }
}

macro_rules! for_dtype {
    ($dt:expr, $T:ident, $body:expr) => {
        match $dt {
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::F16 => {
                type $T = f16;
                $body
            }
            DType::BF16 => {
                type $T = bf16;
                $body
            }
            DType::F64 => {
                type $T = f64;
                $body
            }
            DType::I8 => {
                type $T = i8;
                $body
            }
            DType::U8 => {
                type $T = u8;
                $body
            }
            DType::I16 => {
                type $T = i16;
                $body
            }
            DType::I32 => {
                type $T = i32;
                $body
            }
            DType::I64 => {
                type $T = i64;
                $body
            }
            DType::Bool => {
                type $T = BoolT;
                $body
            }
        }
    };
}

fn cast_fn(from: DType, to: DType) -> CastFn {
    for_dtype!(from, S, for_dtype!(to, D, cast_n::<S, D> as CastFn))
}

pub struct Cast {
    from: DType,
    to: DType,
    f: CastFn,
}

impl Kernel for Cast {
    fn describe(&self) -> String {
        format!("cast {} -> {}", self.from, self.to)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("cast", ins, outs, 1, 1, 1)?;
        let (x, y) = (&ins[0], &outs[0]);
        if x.dtype != self.from {
            return Err(KernelError(format!(
                "cast: built for {} operands, given {}{:?}",
                self.from, x.dtype, x.shape
            )));
        }
        expect_out("cast", y, self.to, x.shape)?;
        let (src, dst, f) = (SendPtr(x.ptr), SendPtr(y.ptr), self.f);
        let (a, b) = (self.from.size(), self.to.size());
        par_ranges(x.numel(), x.bytes() + y.bytes(), cx.threads, |r| {
            // SAFETY: disjoint element ranges of both buffers.
            f(
                src.get().add(r.start * a),
                dst.get().add(r.start * b),
                r.len(),
            );
        });
        Ok(())
    }
}

/// `where %cond, %x, %y` with numpy broadcasting.
pub struct Where;

impl Kernel for Where {
    fn describe(&self) -> String {
        "where".into()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        arity("where", ins, outs, 3, 3, 1)?;
        let (c, x, y, o) = (&ins[0], &ins[1], &ins[2], &outs[0]);
        let r = c.shape.len().max(x.shape.len()).max(y.shape.len());
        let dim = |s: &[usize], a: usize| {
            if a + s.len() >= r {
                s[a + s.len() - r]
            } else {
                1
            }
        };
        let mut shape = Vec::with_capacity(r);
        for a in 0..r {
            let ds = [dim(c.shape, a), dim(x.shape, a), dim(y.shape, a)];
            let d = ds.iter().copied().find(|&d| d != 1).unwrap_or(1);
            if ds.iter().any(|&e| e != 1 && e != d) {
                return Err(KernelError(format!(
                    "where: shapes {:?}, {:?} and {:?} do not broadcast",
                    c.shape, x.shape, y.shape
                )));
            }
            shape.push(d);
        }
        if c.dtype != DType::Bool || x.dtype != y.dtype {
            return Err(KernelError(format!(
                "where: needs a bool condition and equal value dtypes, given {}, {}, {}",
                c.dtype, x.dtype, y.dtype
            )));
        }
        expect_out("where", o, x.dtype, &shape)?;
        if o.numel() == 0 {
            return Ok(());
        }
        // Per-operand strides over the result (0 where broadcast), then merge
        // axes that stay contiguous in all of them.
        let st = |s: &[usize]| super::movement::strides(s);
        let bs = |s: &[usize]| -> Vec<isize> {
            let full = st(s);
            (0..r)
                .map(|a| match (a + s.len()).checked_sub(r) {
                    Some(k) if s[k] != 1 => full[k],
                    _ => 0,
                })
                .collect()
        };
        let all = [bs(c.shape), bs(x.shape), bs(y.shape), st(&shape)];
        let (mut dims, mut ss): (Vec<usize>, Vec<[isize; 4]>) = (vec![], vec![]);
        for a in 0..r {
            if shape[a] == 1 {
                continue;
            }
            let cur = [all[0][a], all[1][a], all[2][a], all[3][a]];
            let n = shape[a] as isize;
            if let (Some(d), Some(p)) = (dims.last_mut(), ss.last_mut()) {
                if (0..4).all(|k| p[k] == cur[k] * n) {
                    *d *= shape[a];
                    *p = cur;
                    continue;
                }
            }
            dims.push(shape[a]);
            ss.push(cur);
        }
        if dims.is_empty() {
            dims.push(1);
            ss.push([0, 0, 0, 1]);
        }
        let k = dims.len() - 1;
        let (w, inner) = (dims[k], ss[k]);
        let rows: usize = dims[..k].iter().product();
        let es = x.dtype.size();
        let p = [
            SendPtr(c.ptr),
            SendPtr(x.ptr),
            SendPtr(y.ptr),
            SendPtr(o.ptr),
        ];
        par_ranges(rows, o.bytes(), cx.threads, |range| {
            for row in range {
                let (mut rest, mut off) = (row, [0isize; 4]);
                for a in (0..k).rev() {
                    let i = (rest % dims[a]) as isize;
                    rest /= dims[a];
                    (0..4).for_each(|q| off[q] += i * ss[a][q]);
                }
                by_size!(es, T, {
                    let cp = p[0].get().offset(off[0]) as *const u8;
                    let xp = (p[1].get() as *const T).offset(off[1]);
                    let yp = (p[2].get() as *const T).offset(off[2]);
                    let op = (p[3].get() as *mut T).offset(off[3]);
                    for j in 0..w as isize {
                        // SAFETY: offsets stay inside each operand (broadcast
                        // strides); element j is read before it is written.
                        let pick = cp.offset(j * inner[0]).read() != 0;
                        let v = if pick {
                            xp.offset(j * inner[1]).read_unaligned()
                        } else {
                            yp.offset(j * inner[2]).read_unaligned()
                        };
                        op.offset(j).write_unaligned(v);
                    }
                });
            }
        });
        Ok(())
    }
}
