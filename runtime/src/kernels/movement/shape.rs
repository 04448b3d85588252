//! Shape, size, constant_of_shape and range: ops whose result depends on
//! operand *shapes* or a few scalars, computed from the run-time `Arg`s.
//!
//! Range matches the interpreter exactly: integers in i128, wrapped to the
//! dtype; floats as `start + i * delta` in f64 rounded once (`Elem::from_f64`)
//! with `count = max(ceil((limit - start) / delta), 0)`.

use super::{arity, expect_out, fill, ints};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use ingot_ir::{with_dtype, DType, Elem, Tensor};

pub struct ShapeOf {
    pub start: i64,
    pub end: Option<i64>,
}

impl Kernel for ShapeOf {
    fn describe(&self) -> String {
        "shape".into()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], _cx: &Ctx) -> Result<(), KernelError> {
        arity("shape", ins, outs, 1, 1, 1)?;
        let s = ins[0].shape;
        let r = s.len() as i64;
        let clamp = |v: i64| {
            let v = if v < 0 { v.saturating_add(r) } else { v };
            v.clamp(0, r) as usize
        };
        let a = clamp(self.start);
        let b = clamp(self.end.unwrap_or(r)).max(a);
        expect_out("shape", &outs[0], DType::I64, &[b - a])?;
        let y = outs[0].ptr as *mut i64;
        for (k, &d) in s[a..b].iter().enumerate() {
            // SAFETY: the result holds b - a i64s.
            y.add(k).write_unaligned(d as i64);
        }
        Ok(())
    }
}

pub struct SizeOf;

impl Kernel for SizeOf {
    fn describe(&self) -> String {
        "size".into()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], _cx: &Ctx) -> Result<(), KernelError> {
        arity("size", ins, outs, 1, 1, 1)?;
        expect_out("size", &outs[0], DType::I64, &[])?;
        // SAFETY: the result is one i64.
        (outs[0].ptr as *mut i64).write_unaligned(ins[0].numel() as i64);
        Ok(())
    }
}

/// constant_of_shape: the value's bytes, repeated.
pub struct Fill {
    dtype: DType,
    value: [u8; 8],
}

impl Fill {
    pub fn new(value: &Tensor) -> Result<Fill, String> {
        if value.numel() != 1 {
            return Err(format!(
                "constant_of_shape: value must hold one element, not shape {:?}",
                value.shape()
            ));
        }
        let mut v = [0u8; 8];
        v[..value.bytes().len()].copy_from_slice(value.bytes());
        Ok(Fill {
            dtype: value.dtype(),
            value: v,
        })
    }
}

impl Kernel for Fill {
    fn describe(&self) -> String {
        format!("constant_of_shape {}", self.dtype)
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], _cx: &Ctx) -> Result<(), KernelError> {
        arity("constant_of_shape", ins, outs, 1, 1, 1)?;
        let dims = ints("constant_of_shape", "shape", &ins[0])?;
        let dims: Option<Vec<usize>> = dims.iter().map(|&d| usize::try_from(d).ok()).collect();
        let Some(dims) = dims else {
            return Err(KernelError(
                "constant_of_shape: the shape has a negative dim".into(),
            ));
        };
        expect_out("constant_of_shape", &outs[0], self.dtype, &dims)?;
        // SAFETY: the result holds numel elements of the value's dtype.
        fill(
            outs[0].ptr,
            outs[0].numel(),
            self.value.as_ptr(),
            self.dtype.size(),
        );
        Ok(())
    }
}

pub struct RangeOf;

/// One element of a scalar operand as f64 (floats) or i128 (integers).
unsafe fn scalar_f64(a: &Arg) -> f64 {
    with_dtype!(a.dtype, T, {
        (a.ptr as *const T).read_unaligned().to_f64()
    })
}

impl Kernel for RangeOf {
    fn describe(&self) -> String {
        "range".into()
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], _cx: &Ctx) -> Result<(), KernelError> {
        arity("range", ins, outs, 3, 3, 1)?;
        let dt = ins[0].dtype;
        for (t, what) in ins.iter().zip(["start", "limit", "delta"]) {
            if t.dtype != dt || t.numel() != 1 || !dt.is_numeric() {
                return Err(KernelError(format!(
                    "range: {what} must be a numeric scalar of dtype {dt}, not {}{:?}",
                    t.dtype, t.shape
                )));
            }
        }
        let y = &outs[0];
        if dt.is_int() {
            let [s, l, d] = [0, 1, 2].map(|k| {
                with_dtype!(dt, T, {
                    (ins[k].ptr as *const T).read_unaligned().to_i64() as i128
                })
            });
            if d == 0 {
                return Err(KernelError("range: delta is 0".into()));
            }
            let (q, m) = ((l - s) / d, (l - s) % d);
            let n = (q + i128::from(m != 0 && (m > 0) == (d > 0))).max(0);
            expect_out("range", y, dt, &[usize::try_from(n).unwrap_or(usize::MAX)])?;
            with_dtype!(dt, T, {
                let p = y.ptr as *mut T;
                for i in 0..n {
                    // SAFETY: the result holds n elements.
                    p.add(i as usize)
                        .write_unaligned(T::from_i64((s + i * d) as i64));
                }
            });
            return Ok(());
        }
        let [s, l, d] = [0, 1, 2].map(|k| scalar_f64(&ins[k]));
        if d == 0.0 {
            return Err(KernelError("range: delta is 0".into()));
        }
        let n = ((l - s) / d).ceil().max(0.0);
        if !n.is_finite() || n >= usize::MAX as f64 {
            return Err(KernelError(format!("range({s}, {l}, {d}) is not finite")));
        }
        let n = n as usize;
        expect_out("range", y, dt, &[n])?;
        with_dtype!(dt, T, {
            let p = y.ptr as *mut T;
            for i in 0..n {
                // SAFETY: the result holds n elements.
                p.add(i).write_unaligned(T::from_f64(s + i as f64 * d));
            }
        });
        Ok(())
    }
}
