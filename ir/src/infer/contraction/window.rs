//! Sliding-window geometry shared by convolution, transposed convolution and
//! pooling (and, through them, by the quantized convolutions).
//!
//! Each output size has exactly one formula, written over [`Dim`], so shape
//! inference (symbolic sizes) and the interpreter (static sizes, passed as
//! `Dim::Known`) cannot disagree. For that reason this file is compiled twice:
//! as `infer::contraction::window` and, through `#[path]`, as
//! `interp::contraction::window` — the two module trees cannot see each
//! other's private modules. Quant's ConvInteger/QLinearConv reach it as
//! `super::contraction::window` from either tree.
//!
//! Conventions (ONNX, newest opset): `pads` is `[begin_0.., end_0..]`; empty
//! `strides`/`dilations` mean ones and empty `pads` zeros; a window of `k`
//! taps with dilation `d` spans `(k-1)*d+1` elements.
//! - Explicit pads: `out = floor((in + pb + pe - span) / s) + 1`; with
//!   `ceil_mode` the division rounds up, but a last window that would start
//!   in the right padding is dropped.
//! - `same_upper`/`same_lower`: `out = ceil(in / s)`; the total padding
//!   `max(0, (out-1)*s + span - in)` is split evenly, the odd element going to
//!   the end (upper) or the beginning (lower). `ceil_mode` is ignored.
//! - `valid`: no padding, `out = floor((in - span) / s) + 1`.
//!
//! Guarantees: a window wider than the padded input is an error naming the
//! axis and sizes; pads are reported (`Axis::pads`) whenever the input and
//! kernel sizes are static, which is always the case in the interpreter.

use crate::attr::AutoPad;
use crate::dim::Dim;
use crate::types::ShapeDisplay;

/// The window attributes of a conv or pool op, checked and normalized: one
/// stride and dilation per spatial axis, `2 * n` explicit pads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Window {
    pub strides: Vec<i64>,
    pub dilations: Vec<i64>,
    /// Explicit pads, begins then ends; zeros under `same_*`/`valid`.
    pub pads: Vec<i64>,
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
}

/// The geometry of one spatial axis.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis {
    /// Output size.
    pub out: Dim,
    /// Padding `(begin, end)`, known whenever input and kernel sizes are.
    /// For a transposed convolution these are the pads cropped from the full
    /// output.
    pub pads: Option<(i64, i64)>,
}

/// Shape and per-axis geometry of a conv or pool result. Shape inference
/// reads only `shape`; the interpreter also reads the pads.
#[derive(Clone, Debug)]
pub(crate) struct Geometry {
    /// The full result shape `[N, C_out, spatial...]`.
    pub shape: Vec<Dim>,
    pub axes: Vec<Axis>,
    pub window: Window,
}

impl Geometry {
    /// Static `(out, pad_begin, pad_end)` per axis (for the interpreter).
    pub(crate) fn static_axes(&self) -> Result<Vec<(usize, i64, i64)>, String> {
        self.axes
            .iter()
            .enumerate()
            .map(|(i, a)| match (a.out.as_known(), a.pads) {
                (Some(o), Some((pb, pe))) if o >= 0 => Ok((o as usize, pb, pe)),
                _ => Err(format!(
                    "spatial axis {i}: output size {} is not a static size",
                    a.out
                )),
            })
            .collect()
    }
}

fn known(v: i64) -> Dim {
    Dim::Known(v)
}

/// `(k-1)*d+1`: how many input elements a window of `k` taps covers.
fn span(k: &Dim, d: i64) -> Dim {
    k.sub(&known(1)).mul(&known(d)).add(&known(1))
}

/// Split a total padding; the odd element goes to the end when `upper`.
fn split(total: i64, upper: bool) -> (i64, i64) {
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

impl Window {
    /// Check and normalize window attributes for `n` spatial axes.
    pub(crate) fn new(
        n: usize,
        strides: &[i64],
        pads: &[i64],
        dilations: &[i64],
        auto_pad: AutoPad,
        ceil_mode: bool,
    ) -> Result<Window, String> {
        let per_axis = |name: &str, v: &[i64]| -> Result<Vec<i64>, String> {
            if v.is_empty() {
                return Ok(vec![1; n]);
            }
            if v.len() != n {
                return Err(format!(
                    "`{name}` {v:?} has {} entries but there are {n} spatial axes",
                    v.len()
                ));
            }
            if let Some(bad) = v.iter().find(|&&x| x < 1) {
                return Err(format!("`{name}` {v:?} has entry {bad}; must be >= 1"));
            }
            Ok(v.to_vec())
        };
        let strides = per_axis("strides", strides)?;
        let dilations = per_axis("dilations", dilations)?;
        let pads = if pads.is_empty() {
            vec![0; 2 * n]
        } else {
            pads.to_vec()
        };
        if pads.len() != 2 * n {
            return Err(format!(
                "`pads` {pads:?} has {} entries but {n} spatial axes need {}",
                pads.len(),
                2 * n
            ));
        }
        if let Some(bad) = pads.iter().find(|&&p| p < 0) {
            return Err(format!("`pads` {pads:?} has entry {bad}; must be >= 0"));
        }
        if auto_pad != AutoPad::NotSet && pads.iter().any(|&p| p != 0) {
            return Err(format!(
                "`pads` {pads:?} cannot be combined with auto_pad=\"{auto_pad}\""
            ));
        }
        Ok(Window {
            strides,
            dilations,
            pads,
            auto_pad,
            ceil_mode,
        })
    }

    fn n(&self) -> usize {
        self.strides.len()
    }

    /// Geometry of a forward (conv or pool) window over `input` with `kernel`
    /// taps, both spatial only.
    pub(crate) fn forward(&self, input: &[Dim], kernel: &[Dim]) -> Result<Vec<Axis>, String> {
        (0..self.n())
            .map(|i| self.forward_axis(i, &input[i], &kernel[i]))
            .collect()
    }

    fn forward_axis(&self, i: usize, x: &Dim, k: &Dim) -> Result<Axis, String> {
        let (s, d) = (self.strides[i], self.dilations[i]);
        if let Some(kv) = k.as_known().filter(|&kv| kv < 1) {
            return Err(format!(
                "spatial axis {i}: kernel size {kv} must be at least 1"
            ));
        }
        let ext = span(k, d);
        let (pb, pe, ceil) = match self.auto_pad {
            AutoPad::SameUpper | AutoPad::SameLower => {
                let out = x.ceil_div(&known(s));
                let total = out.sub(&known(1)).mul(&known(s)).add(&ext).sub(x);
                let pads = total
                    .as_known()
                    .map(|t| split(t.max(0), self.auto_pad == AutoPad::SameUpper));
                return Ok(Axis { out, pads });
            }
            AutoPad::Valid => (0, 0, false),
            AutoPad::NotSet => (self.pads[i], self.pads[self.n() + i], self.ceil_mode),
        };
        // How far the window can slide: padded input minus the window span.
        let padded = x.add(&known(pb)).add(&known(pe));
        let room = padded.sub(&ext);
        if room.as_known().is_some_and(|r| r < 0) {
            return Err(format!(
                "spatial axis {i}: the window spans {ext} but the padded input is only \
                 {padded} ({x} + pads {pb}, {pe})"
            ));
        }
        let out = if !ceil || s == 1 {
            room.floor_div(&known(s)).add(&known(1))
        } else if let (Some(r), Some(xv)) = (room.as_known(), x.as_known()) {
            // Round up, then drop a last window starting in the right padding.
            let o = r.div_euclid(s) + i64::from(r.rem_euclid(s) != 0) + 1;
            match (o - 1).checked_mul(s) {
                Some(start) if start >= xv.saturating_add(pb) => known(o - 1),
                Some(_) => known(o),
                None => Dim::Unknown,
            }
        } else if ext.as_known().is_some_and(|e| pe.saturating_add(s) <= e) {
            // The rounded-up last window then always starts before the end of
            // the input, so no correction is needed even symbolically.
            room.ceil_div(&known(s)).add(&known(1))
        } else {
            Dim::Unknown
        };
        Ok(Axis {
            out,
            pads: Some((pb, pe)),
        })
    }

    /// Geometry of a transposed convolution: `output_padding` (empty = zeros)
    /// and `output_shape` (empty = absent; spatial sizes, or a full shape
    /// whose last `n` entries are used) as in ONNX ConvTranspose. The pads
    /// returned are those cropped from the full (uncropped) output; a
    /// negative total padding (an `output_shape` larger than the full output)
    /// is clamped to zero, so the extra elements hold only the bias.
    pub(crate) fn transposed(
        &self,
        input: &[Dim],
        kernel: &[Dim],
        output_padding: &[i64],
        output_shape: &[i64],
    ) -> Result<Vec<Axis>, String> {
        let n = self.n();
        let out_pad = if output_padding.is_empty() {
            vec![0; n]
        } else {
            output_padding.to_vec()
        };
        if out_pad.len() != n || out_pad.iter().any(|&p| p < 0) {
            return Err(format!(
                "`output_padding` {output_padding:?} must have {n} non-negative entries"
            ));
        }
        let out_shape: Option<&[i64]> = match output_shape.len() {
            0 => None,
            l if l == n => Some(output_shape),
            l if l == n + 2 => Some(&output_shape[2..]),
            l => {
                return Err(format!(
                    "`output_shape` {output_shape:?} has {l} entries; expected {n} spatial sizes"
                ))
            }
        };
        if let Some(bad) = out_shape.and_then(|o| o.iter().find(|&&v| v < 0)) {
            return Err(format!(
                "`output_shape` {output_shape:?} has negative entry {bad}"
            ));
        }
        (0..n)
            .map(|i| {
                let (x, k, s) = (&input[i], &kernel[i], self.strides[i]);
                if let Some(kv) = k.as_known().filter(|&kv| kv < 1) {
                    return Err(format!(
                        "spatial axis {i}: kernel size {kv} must be at least 1"
                    ));
                }
                // The uncropped output: s*(in-1) + output_padding + span.
                let full = known(s)
                    .mul(&x.sub(&known(1)))
                    .add(&known(out_pad[i]))
                    .add(&span(k, self.dilations[i]));
                let upper = self.auto_pad == AutoPad::SameUpper;
                let auto = |out: Dim| {
                    let pads = full.sub(&out).as_known().map(|t| split(t.max(0), upper));
                    Axis { out, pads }
                };
                Ok(match (out_shape, self.auto_pad) {
                    (Some(o), _) => auto(known(o[i])),
                    (None, AutoPad::SameUpper | AutoPad::SameLower) => auto(x.mul(&known(s))),
                    (None, AutoPad::Valid) => Axis {
                        out: full,
                        pads: Some((0, 0)),
                    },
                    (None, AutoPad::NotSet) => {
                        let (pb, pe) = (self.pads[i], self.pads[n + i]);
                        let out = full.sub(&known(pb)).sub(&known(pe));
                        if let Some(o) = out.as_known().filter(|&o| o < 0) {
                            return Err(format!(
                                "spatial axis {i}: pads {pb}, {pe} crop more than the \
                                 full output {full} (gives {o})"
                            ));
                        }
                        Axis {
                            out,
                            pads: Some((pb, pe)),
                        }
                    }
                })
            })
            .collect()
    }
}

/// The checked attributes of a conv op (Conv, ConvInteger, QLinearConv,
/// ConvTranspose), borrowed from the op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvAttrs<'a> {
    pub strides: &'a [i64],
    pub pads: &'a [i64],
    pub dilations: &'a [i64],
    pub group: i64,
    pub auto_pad: AutoPad,
}

/// Common rank and group checks; returns the number of spatial axes.
fn conv_ranks(x: &[Dim], w: &[Dim], group: i64) -> Result<usize, String> {
    if x.len() < 3 {
        return Err(format!(
            "input {} must have rank >= 3 (N, C, spatial...)",
            ShapeDisplay(x)
        ));
    }
    if w.len() != x.len() {
        return Err(format!(
            "weight {} must have the input's rank {} (input {})",
            ShapeDisplay(w),
            x.len(),
            ShapeDisplay(x)
        ));
    }
    if group < 1 {
        return Err(format!("group {group} must be at least 1"));
    }
    Ok(x.len() - 2)
}

fn check_bias(bias: Option<&[Dim]>, m: &Dim, w: &[Dim]) -> Result<(), String> {
    if let Some(b) = bias {
        if b.len() != 1 || !b[0].compatible(m) {
            return Err(format!(
                "bias {} must be [{m}], one per output channel of weight {}",
                ShapeDisplay(b),
                ShapeDisplay(w)
            ));
        }
    }
    Ok(())
}

/// Result shape and geometry of `conv x, w[, b]`: `x` is `[N, C, D...]`, `w`
/// is `[M, C/group, k...]`, `b` is `[M]`; the result is `[N, M, out...]`.
pub(crate) fn conv_geometry(
    x: &[Dim],
    w: &[Dim],
    bias: Option<&[Dim]>,
    a: ConvAttrs,
) -> Result<Geometry, String> {
    let n = conv_ranks(x, w, a.group)?;
    let (c, m, cg) = (&x[1], &w[0], &w[1]);
    if let (Some(c), Some(cg)) = (c.as_known(), cg.as_known()) {
        if cg.checked_mul(a.group) != Some(c) {
            return Err(format!(
                "input {} has {c} channels but weight {} expects {cg} per group x group {} = {}",
                ShapeDisplay(x),
                ShapeDisplay(w),
                a.group,
                cg.saturating_mul(a.group)
            ));
        }
    }
    if let Some(mv) = m.as_known().filter(|mv| mv % a.group != 0) {
        return Err(format!(
            "weight {} has {mv} output channels, not divisible by group {}",
            ShapeDisplay(w),
            a.group
        ));
    }
    check_bias(bias, m, w)?;
    let window = Window::new(n, a.strides, a.pads, a.dilations, a.auto_pad, false)?;
    let axes = window.forward(&x[2..], &w[2..]).map_err(|e| {
        format!(
            "input {} with weight {}: {e}",
            ShapeDisplay(x),
            ShapeDisplay(w)
        )
    })?;
    let mut shape = vec![x[0].clone(), m.clone()];
    shape.extend(axes.iter().map(|a| a.out.clone()));
    Ok(Geometry {
        shape,
        axes,
        window,
    })
}

/// Result shape and geometry of `conv_transpose x, w[, b]`: `x` is
/// `[N, C, D...]`, `w` is `[C, M/group, k...]`, `b` is `[M]`; the result is
/// `[N, M, out...]`.
pub(crate) fn conv_transpose_geometry(
    x: &[Dim],
    w: &[Dim],
    bias: Option<&[Dim]>,
    a: ConvAttrs,
    output_padding: &[i64],
    output_shape: &[i64],
) -> Result<Geometry, String> {
    let n = conv_ranks(x, w, a.group)?;
    let (c, wc) = (&x[1], &w[0]);
    if let (Some(c), Some(wc)) = (c.as_known(), wc.as_known()) {
        if c != wc {
            return Err(format!(
                "input {} has {c} channels but weight {} expects {wc}",
                ShapeDisplay(x),
                ShapeDisplay(w)
            ));
        }
    }
    if let Some(cv) = c.as_known().filter(|cv| cv % a.group != 0) {
        return Err(format!(
            "input {} has {cv} channels, not divisible by group {}",
            ShapeDisplay(x),
            a.group
        ));
    }
    let m = w[1].mul(&known(a.group));
    check_bias(bias, &m, w)?;
    let window = Window::new(n, a.strides, a.pads, a.dilations, a.auto_pad, false)?;
    let axes = window
        .transposed(&x[2..], &w[2..], output_padding, output_shape)
        .map_err(|e| {
            format!(
                "input {} with weight {}: {e}",
                ShapeDisplay(x),
                ShapeDisplay(w)
            )
        })?;
    let mut shape = vec![x[0].clone(), m];
    shape.extend(axes.iter().map(|a| a.out.clone()));
    Ok(Geometry {
        shape,
        axes,
        window,
    })
}

/// The checked attributes of a local pool op, borrowed from the op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolAttrs<'a> {
    pub kernel_shape: &'a [i64],
    pub strides: &'a [i64],
    pub pads: &'a [i64],
    pub dilations: &'a [i64],
    pub ceil_mode: bool,
    pub auto_pad: AutoPad,
}

/// Result shape and geometry of a local pool over `x` (`[N, C, D...]`): the
/// result is `[N, C, out...]`.
pub(crate) fn pool_geometry(x: &[Dim], a: PoolAttrs) -> Result<Geometry, String> {
    if x.len() < 3 {
        return Err(format!(
            "input {} must have rank >= 3 (N, C, spatial...)",
            ShapeDisplay(x)
        ));
    }
    let n = x.len() - 2;
    if a.kernel_shape.len() != n {
        return Err(format!(
            "kernel_shape {:?} must have one entry per spatial axis of input {}",
            a.kernel_shape,
            ShapeDisplay(x)
        ));
    }
    let window = Window::new(n, a.strides, a.pads, a.dilations, a.auto_pad, a.ceil_mode)?;
    let kernel: Vec<Dim> = a.kernel_shape.iter().map(|&k| known(k)).collect();
    let axes = window.forward(&x[2..], &kernel).map_err(|e| {
        format!(
            "input {} with kernel_shape {:?}: {e}",
            ShapeDisplay(x),
            a.kernel_shape
        )
    })?;
    let mut shape = x[..2].to_vec();
    shape.extend(axes.iter().map(|a| a.out.clone()));
    Ok(Geometry {
        shape,
        axes,
        window,
    })
}
