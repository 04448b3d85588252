//! Convolution (`conv`) and transposed convolution (`conv_transpose`) on
//! f32 NCHW tensors with 1 to 3 spatial axes, strides, pads (explicit or
//! `auto_pad`, resolved from run-time shapes), dilations and groups.
//!
//! The algorithm is chosen at construction from the weight's shape:
//! - **pointwise** (all kernel sizes 1, strides 1, no padding): the image is
//!   already the `[C, H*W]` GEMM operand, so `y = W . x` directly;
//! - **depthwise** (one input channel per group): a direct loop per channel
//!   whose inner loop runs along an output row (vectorized, in L1);
//! - **implicit gemm** (2-D, equal strides 1 or 2, AVX-512): the input
//!   copied once into zero-bordered (stride 2: de-interleaved) planes whose
//!   shifted windows are the unfolded rows, read in place by the GEMM;
//! - **im2col** (everything else): per image and group, column tiles of the
//!   unfolded input (at most one image's columns of scratch, usually far
//!   less) multiplied by the `[M/group, C/group * taps]` weight;
//! - **col2im** (transposed): `W^T . x` per column tile, scattered and added
//!   into the output.
//!
//! The bias initializes the output tile and the GEMM accumulates onto it;
//! the epilogue then runs on that tile while it is in cache. Results are in
//! f32 with the GEMM's summation order (tolerance vs the f64 interpreter:
//! see the tests).

#[cfg(target_arch = "x86_64")]
mod chanvec;
mod direct;
pub(crate) mod geom;
mod im2col;

use super::pack::{self, arg_f32, err, want_f32, Epilogue, F32Buf};
use crate::kernel::{Arg, Ctx, Kernel, KernelError};
use geom::{Geom, Spec};
use ingot_ir::{Op, Tensor, TensorType};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Algo {
    Pointwise,
    Depthwise,
    Im2col,
    Col2im,
}

/// A convolution with a constant weight (and bias).
pub struct ConvKernel {
    spec: Spec,
    algo: Algo,
    group: usize,
    /// Input channels, output channels, and their per-group counts.
    c: usize,
    m: usize,
    cg: usize,
    mg: usize,
    /// Forward: `[M, C/group * taps]` (the ONNX layout). Transposed:
    /// per group `[M/group * taps, C/group]` (transposed once here).
    weight: F32Buf,
    bias: Option<Vec<f32>>,
    /// ConvTranspose's `output_padding` and whether `output_shape` is set.
    out_padding: Vec<i64>,
    has_output_shape: bool,
    epilogue: Option<Epilogue>,
    /// The weight as 32-channel panels for the channel-vectorized path
    /// (`chanvec.rs`), built when the input's plane is known and small, and
    /// the input plane (`Geom::i`) it was chosen for.
    wt: Option<(Vec<f32>, [usize; 3])>,
}

impl ConvKernel {
    /// `op` is `Op::Conv` or `Op::ConvTranspose`; `x` the input's type;
    /// `weight` and `bias` the constant operands. Errors name what is not
    /// supported (non-f32, more than 3 spatial axes, inconsistent shapes), so
    /// the caller can fall back to the interpreter.
    pub fn new(
        op: &Op,
        x: &TensorType,
        weight: &Tensor,
        bias: Option<&Tensor>,
        epilogue: Option<Epilogue>,
    ) -> Result<ConvKernel, KernelError> {
        let name = op.name();
        let (strides, pads, dilations, group, auto_pad, transposed) = match op {
            Op::Conv {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
            } => (strides, pads, dilations, *group, *auto_pad, None),
            Op::ConvTranspose {
                strides,
                pads,
                dilations,
                group,
                auto_pad,
                output_padding,
                output_shape,
            } => (
                strides,
                pads,
                dilations,
                *group,
                *auto_pad,
                Some((output_padding.clone(), !output_shape.is_empty())),
            ),
            _ => return err(format!("ConvKernel built from {name}")),
        };
        want_f32(name, "input", x)?;
        let ws = weight.shape();
        let w = F32Buf::shared(name, "weight", weight)?;
        if ws.len() < 3 || x.shape.len() != ws.len() {
            return err(format!(
                "{name}: weight {ws:?} and input of rank {} must both have rank 3 to 5",
                x.shape.len()
            ));
        }
        if group < 1 {
            return err(format!("{name}: group {group} must be >= 1"));
        }
        let g = group as usize;
        let taps: usize = ws[2..].iter().product();
        let (c, m, cg, mg) = if transposed.is_some() {
            if !ws[0].is_multiple_of(g) {
                return err(format!("{name}: weight {ws:?} not divisible by group {g}"));
            }
            (ws[0], ws[1] * g, ws[0] / g, ws[1])
        } else {
            if !ws[0].is_multiple_of(g) {
                return err(format!(
                    "{name}: weight {ws:?} has output channels not divisible by group {g}"
                ));
            }
            (ws[1] * g, ws[0], ws[1], ws[0] / g)
        };
        if let Some(cx) = x.shape[1].as_known().filter(|&cx| cx as usize != c) {
            return err(format!(
                "{name}: input has {cx} channels, weight {ws:?} with group {g} expects {c}"
            ));
        }
        let bias = match bias {
            Some(b) => {
                let v = pack::tensor_f32(name, "bias", b)?;
                if v.len() != m {
                    return err(format!(
                        "{name}: bias {:?} must have {m} entries",
                        b.shape()
                    ));
                }
                Some(v)
            }
            None => None,
        };
        let spec = Spec::new(name, &ws[2..], strides, pads, dilations, auto_pad, false)?;
        let no_pad =
            auto_pad != ingot_ir::attr::AutoPad::NotSet || spec.pads.iter().all(|&p| p == 0);
        let algo = if transposed.is_some() {
            Algo::Col2im
        } else if taps == 1 && spec.s == [1; 3] && no_pad {
            Algo::Pointwise
        } else if cg == 1 {
            Algo::Depthwise
        } else {
            Algo::Im2col
        };
        let weight = if algo == Algo::Col2im {
            // [C, Mg, taps] -> per group [Mg*taps, Cg].
            let rows = mg * taps;
            let mut t = vec![0.0; w.len()];
            for gi in 0..g {
                for ci in 0..cg {
                    for r in 0..rows {
                        t[gi * rows * cg + r * cg + ci] = w[(gi * cg + ci) * rows + r];
                    }
                }
            }
            F32Buf::Owned(t)
        } else {
            w
        };
        let (out_padding, has_output_shape) = transposed.unwrap_or_default();
        let mut k = ConvKernel {
            spec,
            algo,
            group: g,
            c,
            m,
            cg,
            mg,
            weight,
            bias,
            out_padding,
            has_output_shape,
            epilogue,
            wt: None,
        };
        #[cfg(target_arch = "x86_64")]
        let plane: Option<Vec<usize>> = x.shape[2..]
            .iter()
            .map(|d| d.as_known().map(|v| v as usize))
            .collect();
        if let Some(g) = plane.and_then(|p| k.spec.forward(name, &p).ok()) {
            if chanvec::eligible(&k, &g) {
                let panels = chanvec::pack_weight(&k.weight, k.m, k.cg * g.taps());
                k.wt = Some((panels, g.i));
            }
        }
        Ok(k)
    }

    /// Whether runs take the implicit-im2col path (AVX-512 hosts, 2-D,
    /// equal strides 1 or 2, more than one tap; see `im2col::Implicit`),
    /// padded inputs permitting.
    fn implicit_eligible(&self) -> bool {
        let sp = &self.spec;
        crate::kernels::sgemm::available()
            && sp.nsp == 2
            && sp.s[1] == sp.s[2]
            && (sp.s[2] == 1 || sp.s[2] == 2)
            && sp.k[1] * sp.k[2] > 1
    }

    fn name(&self) -> &'static str {
        if self.algo == Algo::Col2im {
            "conv_transpose"
        } else {
            "conv"
        }
    }
}

impl Kernel for ConvKernel {
    fn describe(&self) -> String {
        let k: Vec<String> = self.spec.k[3 - self.spec.nsp..]
            .iter()
            .map(|k| k.to_string())
            .collect();
        let algo = match self.algo {
            _ if self.wt.is_some() => "channel-vectorized gemm",
            Algo::Pointwise => "pointwise gemm",
            Algo::Depthwise => "depthwise direct",
            Algo::Im2col if self.implicit_eligible() => "implicit gemm",
            Algo::Im2col => "im2col+gemm",
            Algo::Col2im => "gemm+col2im",
        };
        let ep = match &self.epilogue {
            Some(e) => format!(" + {}", e.kernel.describe()),
            None => String::new(),
        };
        format!(
            "{} {} {}->{} g{} {algo}{ep}",
            self.name(),
            k.join("x"),
            self.c,
            self.m,
            self.group
        )
    }

    unsafe fn run(&self, ins: &[Arg], outs: &[Arg], cx: &Ctx) -> Result<(), KernelError> {
        let name = self.name();
        let (Some(x), Some(out)) = (ins.first(), outs.first()) else {
            return err(format!("{name}: needs an input and one result"));
        };
        arg_f32(name, "input", x)?;
        arg_f32(name, "result", out)?;
        let (xs, ys) = (x.shape, out.shape);
        if xs.len() != self.spec.nsp + 2 || xs[1] != self.c {
            return err(format!(
                "{name}: input {xs:?} must be [N, {}, {} spatial axes]",
                self.c, self.spec.nsp
            ));
        }
        let geom = if self.algo == Algo::Col2im {
            if ys.len() != xs.len() {
                return err(format!("{name}: result {ys:?} has the wrong rank"));
            }
            self.spec.transposed(
                name,
                &xs[2..],
                &self.out_padding,
                self.has_output_shape,
                &ys[2..],
            )?
        } else {
            self.spec.forward(name, &xs[2..])?
        };
        let mut want = vec![xs[0], self.m];
        want.extend_from_slice(&geom.o[3 - self.spec.nsp..]);
        if ys != want.as_slice() {
            return err(format!(
                "{name}: input {xs:?} gives result {want:?}, but the result is {ys:?}"
            ));
        }
        if out.numel() == 0 {
            return Ok(());
        }
        let ep = pack::bind(&self.epilogue, ins, *out)?;
        let job = Job {
            k: self,
            g: geom,
            x: x.ptr as *const f32,
            y: out.ptr as *mut f32,
            n: xs[0],
        };
        #[cfg(target_arch = "x86_64")]
        if let Some((wt, plane)) = &self.wt {
            if *plane == job.g.i && chanvec::run(&job, ep.as_ref(), cx.threads, wt) {
                return Ok(());
            }
        }
        match self.algo {
            Algo::Pointwise | Algo::Im2col => im2col::run(&job, ep.as_ref(), cx.threads),
            Algo::Depthwise => direct::depthwise(&job, ep.as_ref(), cx.threads),
            Algo::Col2im => direct::transposed(&job, ep.as_ref(), cx.threads),
        }
        Ok(())
    }
}

/// Scatter `n` input floats into the even and odd columns of a padded
/// row: element `xi` sits at padded column `pc + xi` and goes to
/// `dst[(pc + xi) % 2][(pc + xi) / 2]`. 32 at a time, two masked loads and
/// two lane permutes per step (stride-2 convolutions read de-interleaved
/// rows with unit stride).
///
/// # Safety
/// The host has AVX-512F; `src` holds `n` floats; each `dst` holds the
/// positions it receives.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn deinterleave(src: *const f32, n: usize, pc: usize, dst: [*mut f32; 2]) {
    use std::arch::x86_64::*;
    let lanes = |k: usize| -> __mmask16 {
        if k >= 16 {
            0xffff
        } else {
            ((1u32 << k) - 1) as u16
        }
    };
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // Elements xi, xi+2, .. land on parity pc % 2 from position pc / 2;
    // elements xi+1, xi+3, .. on the other parity from (pc + 1) / 2.
    let first = dst[pc % 2].add(pc / 2);
    let second = dst[(pc + 1) % 2].add(pc.div_ceil(2));
    let mut xi = 0;
    while xi < n {
        let cnt = (n - xi).min(32);
        let lo = _mm512_maskz_loadu_ps(lanes(cnt), src.add(xi));
        let hi = _mm512_maskz_loadu_ps(lanes(cnt.saturating_sub(16)), src.add(xi + 16));
        let k = xi / 2;
        _mm512_mask_storeu_ps(
            first.add(k),
            lanes(cnt.div_ceil(2)),
            _mm512_permutex2var_ps(lo, evens, hi),
        );
        _mm512_mask_storeu_ps(
            second.add(k),
            lanes(cnt / 2),
            _mm512_permutex2var_ps(lo, odds, hi),
        );
        xi += 32;
    }
}

/// One call's resolved problem, shared by the algorithm files.
pub(crate) struct Job<'a> {
    k: &'a ConvKernel,
    g: Geom,
    x: *const f32,
    y: *mut f32,
    /// Batch size.
    n: usize,
}

// SAFETY: the pointers are the call's buffers, alive for the whole call;
// tiles write disjoint parts of `y`.
unsafe impl Send for Job<'_> {}
unsafe impl Sync for Job<'_> {}

impl Job<'_> {
    /// Fill rows `r0..r1`, columns `c0..c1` of image `b`'s output with the
    /// bias; returns whether there is a bias (else the rows are untouched).
    unsafe fn init_bias(&self, b: usize, r0: usize, r1: usize, c0: usize, c1: usize) -> bool {
        let Some(bias) = &self.k.bias else {
            return false;
        };
        let hw = self.g.out_size();
        for (r, &v) in bias.iter().enumerate().take(r1).skip(r0) {
            let row = self.y.add((b * self.k.m + r) * hw + c0);
            std::slice::from_raw_parts_mut(row, c1 - c0).fill(v);
        }
        true
    }
}
