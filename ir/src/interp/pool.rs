//! Semantics of the pool ops, over `x: [N, C, D...]`, each channel alone.
//!
//! Window geometry (sizes, pads, `ceil_mode`, `auto_pad`) is the one in
//! `contraction/window.rs`. For output position `o` on axis `j` the window
//! taps input positions `o*s - pb + k*d`, `k < kernel`. A tap is *inside*
//! when it falls in the input, *padding* when it falls in the declared
//! padding, and neither when `ceil_mode` pushed it past the end padding.
//! - `max_pool` → `(values, indices)`: the largest inside value; NaN wins
//!   (first NaN). The index is the flat position in `x` — `(n*C + c) *
//!   prod(D)` plus the spatial offset, row-major (`storage_order=0`) or
//!   column-major over the spatial axes (`storage_order=1`); ties take the
//!   first tap in row-major kernel order. A window with no inside tap gives
//!   the type's lowest value (`-inf`, or `-128`/`0` for `i8`/`u8`) and index -1.
//! - `average_pool`: sum of inside taps divided by their count, or with
//!   `count_include_pad` by the inside + padding count (taps past the end
//!   padding never count). An empty window gives 0/0 = NaN.
//! - `lp_pool`: `(sum |x|^p)^(1/p)` over inside taps (padding adds 0).
//! - `global_*`: the same reductions over all spatial positions, giving
//!   `[N, C, 1, ...]` (no spatial axes: each element alone).
//!
//! Values are read as f64, reduced in f64 and rounded once to the dtype.

use super::contraction::window::{pool_geometry, PoolAttrs};
use super::contraction::{checked_numel, dims, sizes};
use crate::dtype::DType;
use crate::op::Op;
use crate::tensor::Tensor;

/// How a window's inside values are reduced.
#[derive(Clone, Copy)]
enum Reduce {
    Max { column_major: bool },
    Avg { count_include_pad: bool },
    Lp(i32),
}

pub(crate) fn eval(op: &Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let [x] = inputs else {
        return Err(format!("takes 1 operand, given {}", inputs.len()));
    };
    let dt = x.dtype();
    let max_ok = dt.is_float() || matches!(dt, DType::I8 | DType::U8);
    let ok = match op {
        Op::MaxPool { .. } => max_ok,
        _ => dt.is_float(),
    };
    if !ok {
        return Err(format!(
            "input is {dt}{:?}; not a supported dtype",
            x.shape()
        ));
    }
    let (attrs, how) = match op {
        Op::MaxPool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            storage_order,
        } => {
            if !matches!(storage_order, 0 | 1) {
                return Err(format!("storage_order {storage_order} must be 0 or 1"));
            }
            let a = PoolAttrs {
                kernel_shape,
                strides,
                pads,
                dilations,
                ceil_mode: *ceil_mode,
                auto_pad: *auto_pad,
            };
            let how = Reduce::Max {
                column_major: *storage_order == 1,
            };
            (a, how)
        }
        Op::AveragePool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            count_include_pad,
        } => {
            let a = PoolAttrs {
                kernel_shape,
                strides,
                pads,
                dilations,
                ceil_mode: *ceil_mode,
                auto_pad: *auto_pad,
            };
            let how = Reduce::Avg {
                count_include_pad: *count_include_pad,
            };
            (a, how)
        }
        Op::LpPool {
            kernel_shape,
            strides,
            pads,
            dilations,
            ceil_mode,
            auto_pad,
            p,
        } => {
            let a = PoolAttrs {
                kernel_shape,
                strides,
                pads,
                dilations,
                ceil_mode: *ceil_mode,
                auto_pad: *auto_pad,
            };
            (a, Reduce::Lp(lp_exponent(*p)?))
        }
        Op::GlobalMaxPool => {
            return global(
                x,
                Reduce::Max {
                    column_major: false,
                },
            )
        }
        Op::GlobalAveragePool => {
            let how = Reduce::Avg {
                count_include_pad: false,
            };
            return global(x, how);
        }
        Op::GlobalLpPool { p } => return global(x, Reduce::Lp(lp_exponent(*p)?)),
        _ => unreachable!("{} is not a pool op", op.name()),
    };
    let geom = pool_geometry(&dims(x.shape()), attrs)?;
    let shape = sizes(&geom.shape)?;
    let axes = geom.static_axes()?;
    let pads_begin: Vec<i64> = axes.iter().map(|a| a.1).collect();
    let pads_end: Vec<i64> = axes.iter().map(|a| a.2).collect();
    let kernel: Vec<usize> = attrs.kernel_shape.iter().map(|&k| k as usize).collect();
    let spec = Local {
        in_sp: &x.shape()[2..],
        out_sp: &shape[2..],
        kernel: &kernel,
        strides: &geom.window.strides,
        dilations: &geom.window.dilations,
        pads_begin: &pads_begin,
        pads_end: &pads_end,
    };
    let (vals, idx) = pool(
        &x.to_f64s(),
        x.shape()[0] * x.shape()[1],
        &spec,
        how,
        &shape,
    )?;
    finish(dt, &shape, &vals, idx)
}

fn lp_exponent(p: i64) -> Result<i32, String> {
    i32::try_from(p)
        .ok()
        .filter(|&p| p >= 1)
        .ok_or_else(|| format!("p = {p} must be a positive integer"))
}

/// The result tensors: values (rounded to `dt`) and, for MaxPool, indices.
fn finish(
    dt: DType,
    shape: &[usize],
    vals: &[f64],
    idx: Option<Vec<i64>>,
) -> Result<Vec<Tensor>, String> {
    let mut out = vec![Tensor::from_f64s(dt, shape, vals).map_err(|e| e.to_string())?];
    if let Some(idx) = idx {
        out.push(Tensor::from_slice(shape, &idx).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// Running reduction of one window.
struct Acc {
    how: Reduce,
    /// Max: best value and its index; Avg/Lp: running sum.
    val: f64,
    index: i64,
    inside: usize,
}

impl Acc {
    fn new(how: Reduce) -> Acc {
        let val = if matches!(how, Reduce::Max { .. }) {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        Acc {
            how,
            val,
            index: -1,
            inside: 0,
        }
    }

    fn push(&mut self, v: f64, index: i64) {
        match self.how {
            Reduce::Max { .. } => {
                // The first tap always wins, so a lone -inf still has an index.
                if self.inside == 0 || v > self.val || (v.is_nan() && !self.val.is_nan()) {
                    self.val = v;
                    self.index = index;
                }
            }
            Reduce::Avg { .. } => self.val += v,
            Reduce::Lp(p) => self.val += v.abs().powi(p),
        }
        self.inside += 1;
    }

    /// The result, given how many taps fell inside or in the padding.
    fn result(&self, padded: usize) -> f64 {
        match self.how {
            Reduce::Max { .. } => self.val,
            Reduce::Avg { count_include_pad } => {
                let n = if count_include_pad {
                    padded
                } else {
                    self.inside
                };
                self.val / n as f64
            }
            Reduce::Lp(p) => self.val.powf(1.0 / f64::from(p)),
        }
    }
}

/// A local pool's static geometry.
struct Local<'a> {
    in_sp: &'a [usize],
    out_sp: &'a [usize],
    kernel: &'a [usize],
    strides: &'a [i64],
    dilations: &'a [i64],
    /// Pads as resolved by the geometry (explicit or from `same_*`).
    pads_begin: &'a [i64],
    pads_end: &'a [i64],
}

/// Pool `planes` channel planes of `x`; returns values and (MaxPool) indices.
fn pool(
    x: &[f64],
    planes: usize,
    g: &Local,
    how: Reduce,
    shape: &[usize],
) -> Result<(Vec<f64>, Option<Vec<i64>>), String> {
    let total = checked_numel(shape)?;
    let in_n: usize = g.in_sp.iter().product();
    let out_n: usize = g.out_sp.iter().product();
    // kernel_shape is an attribute: its product is not bounded by any tensor.
    let k_n = g
        .kernel
        .iter()
        .try_fold(1usize, |a, &k| a.checked_mul(k))
        .ok_or_else(|| format!("kernel_shape {:?} is too large", g.kernel))?;
    let n_ax = g.in_sp.len();
    let row = super::strides(g.in_sp);
    // Column-major strides over the spatial axes (MaxPool storage_order=1).
    let mut col = vec![1usize; n_ax];
    for j in 1..n_ax {
        col[j] = col[j - 1] * g.in_sp[j - 1];
    }
    let (s, d, pb, pe) = (g.strides, g.dilations, g.pads_begin, g.pads_end);
    let mut vals = Vec::with_capacity(total);
    let mut idx = Vec::with_capacity(if matches!(how, Reduce::Max { .. }) {
        total
    } else {
        0
    });
    let (mut oi, mut ki) = (vec![0; n_ax], vec![0; n_ax]);
    for plane in 0..planes {
        let base = plane * in_n;
        for o in 0..out_n {
            unravel(o, g.out_sp, &mut oi);
            let mut acc = Acc::new(how);
            let mut padded = 0usize;
            for kf in 0..k_n {
                unravel(kf, g.kernel, &mut ki);
                let (mut inside, mut in_pad) = (true, true);
                let (mut r, mut c) = (0usize, 0usize);
                for j in 0..n_ax {
                    let q = oi[j] as i64 * s[j] - pb[j] + ki[j] as i64 * d[j];
                    let len = g.in_sp[j] as i64;
                    in_pad &= q >= -pb[j] && q < len + pe[j];
                    if q < 0 || q >= len {
                        inside = false;
                    } else {
                        r += q as usize * row[j];
                        c += q as usize * col[j];
                    }
                }
                if inside {
                    let flat = if matches!(how, Reduce::Max { column_major: true }) {
                        c
                    } else {
                        r
                    };
                    acc.push(x[base + r], (base + flat) as i64);
                }
                padded += usize::from(in_pad);
            }
            vals.push(acc.result(padded));
            if matches!(how, Reduce::Max { .. }) {
                idx.push(acc.index);
            }
        }
    }
    let idx = matches!(how, Reduce::Max { .. }).then_some(idx);
    Ok((vals, idx))
}

fn unravel(mut f: usize, shape: &[usize], idx: &mut [usize]) {
    for (i, &d) in shape.iter().enumerate().rev() {
        idx[i] = f % d;
        f /= d;
    }
}

/// Global pools: one window per channel plane covering every spatial
/// position.
fn global(x: &Tensor, how: Reduce) -> Result<Vec<Tensor>, String> {
    let dt = x.dtype();
    if !dt.is_float() {
        return Err(format!(
            "input is {dt}{:?}; expected a float type",
            x.shape()
        ));
    }
    if x.rank() < 2 {
        return Err(format!("input {:?} must have rank >= 2", x.shape()));
    }
    let mut shape = x.shape()[..2].to_vec();
    shape.resize(x.rank(), 1);
    let planes = shape[0] * shape[1];
    let plane: usize = x.shape()[2..].iter().product();
    let v = x.to_f64s();
    let vals: Vec<f64> = (0..planes)
        .map(|i| {
            let mut acc = Acc::new(how);
            for (k, &e) in v[i * plane..(i + 1) * plane].iter().enumerate() {
                acc.push(e, k as i64);
            }
            acc.result(plane)
        })
        .collect();
    finish(dt, &shape, &vals, None)
}

#[cfg(test)]
mod tests;
