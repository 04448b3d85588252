//! The closed set of operations.
//!
//! Every op is declared once in the table below: its Rust variant, its
//! text-format name, its group, and its attribute fields. The macro derives
//! the enum, `name()`, `group()`, the generic attribute list the printer
//! writes, and `Op::from_parts` that the parser and importer use — so the text
//! format, the verifier and the interpreter can never disagree about which ops
//! exist or what they carry.
//!
//! Conventions (see `docs/ir.md` for each op's semantics):
//! - Operands that ONNX passes as tensors but a static compiler wants to see
//!   (Reshape's shape, Slice's starts/ends/axes/steps, Pad's pads, TopK's k)
//!   stay operands; shape inference reads them when they are constants or
//!   computed from shapes.
//! - Optional operands are trailing and may be left out. A missing middle
//!   operand is written as an empty constant (Resize's roi/scales/sizes).
//! - Axes in attributes may be negative (counted from the end), as in ONNX.
//! - Subgraphs (If, Loop, Fused) are closed: every outer value they use is an operand.

use crate::attr::*;
use crate::dtype::DType;
use crate::graph::Graph;
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// Which family an op belongs to; the interpreter and shape inference dispatch
/// on this, one file per group.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpGroup {
    /// Unary, binary and ternary elementwise ops with numpy broadcasting.
    Elementwise,
    /// Quantize/dequantize and integer contractions.
    Quant,
    /// MatMul, Gemm, Conv, ConvTranspose, Einsum.
    Contraction,
    /// Max/average/Lp pooling, local and global.
    Pool,
    /// Reductions, softmax family, arg-reductions, cumulative sum, top-k.
    Reduce,
    /// Batch/instance/layer/group/RMS/Lp normalization and LRN.
    Normalize,
    /// Shape and data movement: reshape, transpose, gather, pad, resize, ...
    Movement,
    /// Constants and control flow.
    Control,
    /// Spatial sampling and detection: grid_sample, roi_align, nms, ...
    Vision,
    /// Signal processing: DFT, STFT, window functions.
    Signal,
    /// Recurrent layers and sequence algorithms: LSTM, GRU, RNN, unique, ...
    Recurrent,
}

macro_rules! define_ops {
    (
        simple { $( [$sg:ident] $sv:ident = $sn:literal ),* $(,)? }
        with_attrs { $( [$ag:ident] $av:ident = $an:literal { $($f:ident : $ft:ty),+ $(,)? } ),* $(,)? }
    ) => {
        /// An operation. See `docs/ir.md` for the semantics of each.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Op {
            $( $sv, )*
            $( $av { $( $f: $ft ),+ }, )*
        }

        impl Op {
            /// Every op's text-format name.
            pub const NAMES: &'static [&'static str] = &[$($sn,)* $($an,)*];

            /// The text-format name (`add`, `conv`, `reduce_sum`).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Op::$sv => $sn, )*
                    $( Op::$av { .. } => $an, )*
                }
            }

            /// The family this op belongs to.
            pub fn group(&self) -> OpGroup {
                match self {
                    $( Op::$sv => OpGroup::$sg, )*
                    $( Op::$av { .. } => OpGroup::$ag, )*
                }
            }

            /// Attributes in declaration order; absent optional ones are left out.
            pub fn attrs(&self) -> Vec<(&'static str, AttrValue)> {
                match self {
                    $( Op::$sv => vec![], )*
                    $( Op::$av { $($f),+ } => {
                        let mut v = vec![];
                        $( if let Some(a) = Attr::to_attr($f) { v.push((stringify!($f), a)); } )+
                        v
                    } )*
                }
            }

            /// Build an op from its name and attributes. Every attribute must be
            /// known to the op, and every non-optional one present.
            pub fn from_parts(name: &str, attrs: BTreeMap<String, AttrValue>) -> Result<Op, String> {
                #[allow(unused_mut)]
                let mut attrs = attrs;
                let op = match name {
                    $( $sn => Op::$sv, )*
                    $( $an => Op::$av {
                        $( $f: <$ft as Attr>::from_attr(attrs.remove(stringify!($f)))
                            .map_err(|e| format!("attribute `{}` of `{}`: {}", stringify!($f), $an, e))?, )+
                    }, )*
                    _ => return Err(format!("unknown op `{name}`")),
                };
                if let Some(k) = attrs.keys().next() {
                    return Err(format!("op `{name}` has no attribute `{k}`"));
                }
                Ok(op)
            }
        }
    };
}

define_ops! {
    simple {
        // Unary elementwise.
        [Elementwise] Neg = "neg",
        [Elementwise] Abs = "abs",
        [Elementwise] Sign = "sign",
        [Elementwise] Exp = "exp",
        [Elementwise] Log = "log",
        [Elementwise] Sqrt = "sqrt",
        [Elementwise] Reciprocal = "reciprocal",
        [Elementwise] Floor = "floor",
        [Elementwise] Ceil = "ceil",
        [Elementwise] Round = "round",
        [Elementwise] Sin = "sin",
        [Elementwise] Cos = "cos",
        [Elementwise] Tan = "tan",
        [Elementwise] Asin = "asin",
        [Elementwise] Acos = "acos",
        [Elementwise] Atan = "atan",
        [Elementwise] Sinh = "sinh",
        [Elementwise] Cosh = "cosh",
        [Elementwise] Asinh = "asinh",
        [Elementwise] Acosh = "acosh",
        [Elementwise] Atanh = "atanh",
        [Elementwise] Tanh = "tanh",
        [Elementwise] Sigmoid = "sigmoid",
        [Elementwise] Relu = "relu",
        [Elementwise] Erf = "erf",
        [Elementwise] Softplus = "softplus",
        [Elementwise] Softsign = "softsign",
        [Elementwise] Mish = "mish",
        [Elementwise] HardSwish = "hard_swish",
        [Elementwise] Not = "not",
        [Elementwise] IsNaN = "is_nan",
        [Elementwise] BitwiseNot = "bitwise_not",
        // Binary elementwise, numpy broadcasting.
        [Elementwise] Add = "add",
        [Elementwise] Sub = "sub",
        [Elementwise] Mul = "mul",
        [Elementwise] Div = "div",
        [Elementwise] Pow = "pow",
        [Elementwise] Max = "max",
        [Elementwise] Min = "min",
        [Elementwise] Equal = "equal",
        [Elementwise] Less = "less",
        [Elementwise] LessOrEqual = "less_or_equal",
        [Elementwise] Greater = "greater",
        [Elementwise] GreaterOrEqual = "greater_or_equal",
        [Elementwise] And = "and",
        [Elementwise] Or = "or",
        [Elementwise] Xor = "xor",
        [Elementwise] BitwiseAnd = "bitwise_and",
        [Elementwise] BitwiseOr = "bitwise_or",
        [Elementwise] BitwiseXor = "bitwise_xor",
        [Elementwise] PRelu = "prelu",
        // Ternary elementwise: `where %cond, %x, %y`; `clip %x, %min, %max`.
        [Elementwise] Where = "where",
        [Elementwise] Clip = "clip",

        [Quant] DynamicQuantizeLinear = "dynamic_quantize_linear",
        [Quant] MatMulInteger = "matmul_integer",
        [Quant] QLinearMatMul = "qlinear_matmul",
        // `qlinear_add %a, %a_scale, %a_zp, %b, %b_scale, %b_zp, %c_scale, %c_zp`:
        // onnxruntime's com.microsoft QLinearAdd, defined as the QDQ group
        // it replaces, q(dq(a) + dq(b)).
        [Quant] QLinearAdd = "qlinear_add",

        [Contraction] MatMul = "matmul",

        [Pool] GlobalAveragePool = "global_average_pool",
        [Pool] GlobalMaxPool = "global_max_pool",

        [Movement] Expand = "expand",
        [Movement] Tile = "tile",
        [Movement] Slice = "slice",
        [Movement] Size = "size",
        [Movement] Range = "range",
        [Movement] NonZero = "non_zero",
        [Movement] Identity = "identity",
        // ---- Vision (simple) ----
        // ---- Signal (simple) ----
        // ---- Recurrent (simple) ----
        // `det %x`: determinant of each trailing square matrix.
        [Recurrent] Det = "det",
    }
    with_attrs {
        [Elementwise] Mod = "mod" { fmod: bool },
        [Elementwise] BitShift = "bit_shift" { direction: ShiftDirection },
        [Elementwise] LeakyRelu = "leaky_relu" { alpha: f32 },
        [Elementwise] Elu = "elu" { alpha: f32 },
        [Elementwise] Selu = "selu" { alpha: f32, gamma: f32 },
        [Elementwise] Celu = "celu" { alpha: f32 },
        [Elementwise] ThresholdedRelu = "thresholded_relu" { alpha: f32 },
        [Elementwise] HardSigmoid = "hard_sigmoid" { alpha: f32, beta: f32 },
        [Elementwise] Gelu = "gelu" { approximate: GeluApprox },
        [Elementwise] Shrink = "shrink" { bias: f32, lambd: f32 },
        [Elementwise] IsInf = "is_inf" { detect_negative: bool, detect_positive: bool },
        [Elementwise] Cast = "cast" { to: DType, saturate: bool },

        // `quantize_linear %x, %scale, %zero_point`: the result dtype is the
        // zero point's. `block_size = 0` means per-tensor or per-axis.
        [Quant] QuantizeLinear = "quantize_linear" { axis: i64, block_size: i64, saturate: bool },
        [Quant] DequantizeLinear = "dequantize_linear" { axis: i64, block_size: i64 },
        [Quant] ConvInteger = "conv_integer" {
            strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>, group: i64, auto_pad: AutoPad,
        },
        [Quant] QLinearConv = "qlinear_conv" {
            strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>, group: i64, auto_pad: AutoPad,
        },
        // `qgemm %a, %a_scale, %a_zp, %b, %b_scale, %b_zp[, %c[, %y_scale, %y_zp]]`:
        // onnxruntime's com.microsoft QGemm (quantized Gemm with an i32 bias;
        // u8/i8 result with y's scale, else f32).
        [Quant] QGemm = "qgemm" { alpha: f32, trans_a: bool, trans_b: bool },
        // `qlinear_global_average_pool %x, %x_scale, %x_zp, %y_scale, %y_zp`:
        // onnxruntime's com.microsoft QLinearGlobalAveragePool. The plane's
        // integer sum requantized with one f32 multiplier; x is [N, C, ..]
        // or, with `channels_last`, [N, .., C].
        [Quant] QLinearGlobalAveragePool = "qlinear_global_average_pool" { channels_last: bool },

        [Contraction] Gemm = "gemm" { alpha: f32, beta: f32, trans_a: bool, trans_b: bool },
        // `pads` is [begin_0, .., begin_n, end_0, .., end_n] as in ONNX; `strides`
        // and `dilations` have one entry per spatial axis.
        [Contraction] Conv = "conv" {
            strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>, group: i64, auto_pad: AutoPad,
        },
        [Contraction] ConvTranspose = "conv_transpose" {
            strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>, group: i64, auto_pad: AutoPad,
            output_padding: Vec<i64>, output_shape: Vec<i64>,
        },
        [Contraction] Einsum = "einsum" { equation: String },

        [Pool] MaxPool = "max_pool" {
            kernel_shape: Vec<i64>, strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>,
            ceil_mode: bool, auto_pad: AutoPad, storage_order: i64,
        },
        [Pool] AveragePool = "average_pool" {
            kernel_shape: Vec<i64>, strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>,
            ceil_mode: bool, auto_pad: AutoPad, count_include_pad: bool,
        },
        [Pool] LpPool = "lp_pool" {
            kernel_shape: Vec<i64>, strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>,
            ceil_mode: bool, auto_pad: AutoPad, p: i64,
        },
        [Pool] GlobalLpPool = "global_lp_pool" { p: i64 },

        // Reductions: an empty `axes` reduces over every axis.
        [Reduce] ReduceSum = "reduce_sum" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceMean = "reduce_mean" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceMax = "reduce_max" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceMin = "reduce_min" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceProd = "reduce_prod" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceL1 = "reduce_l1" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceL2 = "reduce_l2" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceLogSum = "reduce_log_sum" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceLogSumExp = "reduce_log_sum_exp" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ReduceSumSquare = "reduce_sum_square" { axes: Vec<i64>, keepdims: bool },
        [Reduce] ArgMax = "arg_max" { axis: i64, keepdims: bool, select_last_index: bool },
        [Reduce] ArgMin = "arg_min" { axis: i64, keepdims: bool, select_last_index: bool },
        [Reduce] Softmax = "softmax" { axis: i64 },
        [Reduce] LogSoftmax = "log_softmax" { axis: i64 },
        [Reduce] Hardmax = "hardmax" { axis: i64 },
        // `cum_sum %x, %axis`.
        [Reduce] CumSum = "cum_sum" { exclusive: bool, reverse: bool },
        // `top_k %x, %k` → values, indices (i64).
        [Reduce] TopK = "top_k" { axis: i64, largest: bool, sorted: bool },

        // `batch_norm %x, %scale, %bias, %mean, %var` (inference form).
        [Normalize] BatchNorm = "batch_norm" { epsilon: f32 },
        [Normalize] InstanceNorm = "instance_norm" { epsilon: f32 },
        // `layer_norm %x, %scale[, %bias]`: normalizes over axes `axis..rank`.
        [Normalize] LayerNorm = "layer_norm" { axis: i64, epsilon: f32 },
        [Normalize] GroupNorm = "group_norm" { epsilon: f32, num_groups: i64 },
        [Normalize] RmsNorm = "rms_norm" { axis: i64, epsilon: f32 },
        [Normalize] LpNorm = "lp_norm" { axis: i64, p: i64 },
        [Normalize] MeanVarianceNorm = "mean_variance_norm" { axes: Vec<i64> },
        [Normalize] Lrn = "lrn" { alpha: f32, beta: f32, bias: f32, size: i64 },

        // `reshape %x, %shape`: 0 copies the input dim unless `allowzero`; -1 infers.
        [Movement] Reshape = "reshape" { allowzero: bool },
        [Movement] Flatten = "flatten" { axis: i64 },
        [Movement] Transpose = "transpose" { perm: Vec<i64> },
        [Movement] Squeeze = "squeeze" { axes: Vec<i64> },
        [Movement] Unsqueeze = "unsqueeze" { axes: Vec<i64> },
        [Movement] Concat = "concat" { axis: i64 },
        // One result per entry of `splits`.
        [Movement] Split = "split" { axis: i64, splits: Vec<i64> },
        [Movement] Gather = "gather" { axis: i64 },
        [Movement] GatherElements = "gather_elements" { axis: i64 },
        [Movement] GatherNd = "gather_nd" { batch_dims: i64 },
        [Movement] ScatterElements = "scatter_elements" { axis: i64, reduction: ScatterReduction },
        [Movement] ScatterNd = "scatter_nd" { reduction: ScatterReduction },
        // `pad %x, %pads[, %constant_value]`; pads as ONNX (begins then ends, every axis).
        [Movement] Pad = "pad" { mode: PadMode },
        // `resize %x, %roi, %scales, %sizes`; unused ones are empty constants.
        [Movement] Resize = "resize" {
            mode: ResizeMode, coordinate_transformation_mode: CoordMode, nearest_mode: NearestMode,
            cubic_coeff_a: f32, exclude_outside: bool, extrapolation_value: f32, antialias: bool,
            keep_aspect_ratio_policy: AspectPolicy, axes: Vec<i64>,
        },
        [Movement] Shape = "shape" { start: i64, end: Option<i64> },
        [Movement] ConstantOfShape = "constant_of_shape" { value: Tensor },
        // `one_hot %indices, %depth, %values`.
        [Movement] OneHot = "one_hot" { axis: i64 },
        // `trilu %x[, %k]`.
        [Movement] Trilu = "trilu" { upper: bool },
        [Movement] DepthToSpace = "depth_to_space" { blocksize: i64, mode: DepthToSpaceMode },
        // Inverse of depth_to_space with the same `mode` (DCR: block offset
        // outer in the output channel; CRD: input channel outer).
        [Movement] SpaceToDepth = "space_to_depth" { blocksize: i64, mode: DepthToSpaceMode },
        // `compress %x, %condition`; no axis flattens first.
        [Movement] Compress = "compress" { axis: Option<i64> },
        [Movement] ReverseSequence = "reverse_sequence" { batch_axis: i64, time_axis: i64 },
        [Movement] EyeLike = "eye_like" { dtype: Option<DType>, k: i64 },

        [Control] Const = "const" { value: Tensor },
        // `if %cond, %captures...`: both branches take the captures as inputs
        // and return the same number of results.
        [Control] If = "if" { then_branch: Box<Graph>, else_branch: Box<Graph> },
        // `loop %max_trip, %cond, %carried..., %captures...`: the body takes
        // (iteration, cond, carried..., captures...) and returns
        // (cond, carried..., scan outputs...).
        [Control] Loop = "loop" { body: Box<Graph>, num_carried: i64 },
        // `fused %inputs...`: one fused kernel; the body takes the operands in
        // order and its outputs are the results. `kind` says what was fused
        // ("elementwise"; later "reduction", "contraction-epilogue").
        [Control] Fused = "fused" { kind: String, body: Box<Graph> },
        // ---- Vision (with attributes) ----
        // `grid_sample %x, %grid`: x [N,C,D1..Dr], grid [N,H1..Hr,r] (last axis
        // innermost-first: x, y, z) → [N,C,H1..Hr]. `padding_mode` is "zeros",
        // "border" or "reflection".
        [Vision] GridSample = "grid_sample" {
            mode: ResizeMode, padding_mode: String, align_corners: bool,
        },
        // `affine_grid %theta, %size`: theta [N,r,r+1], size = [N,C,D1..Dr]
        // (r = 2 or 3) → f[N,D1..Dr,r].
        [Vision] AffineGrid = "affine_grid" { align_corners: bool },
        // `non_max_suppression %boxes, %scores[, %max_output, %iou, %score_threshold]`
        // → i64[?,3] rows (batch, class, box). An empty operand is absent.
        [Vision] NonMaxSuppression = "non_max_suppression" { center_point_box: bool },
        // `roi_align %x, %rois, %batch_indices`; `mode` "avg" or "max",
        // `coordinate_transformation_mode` "half_pixel" or "output_half_pixel".
        [Vision] RoiAlign = "roi_align" {
            mode: String, coordinate_transformation_mode: String, output_height: i64,
            output_width: i64, sampling_ratio: i64, spatial_scale: f32,
        },
        // `deform_conv %x, %w, %offset[, %b[, %mask]]`; pads/strides/dilations
        // full length as for `conv`; the kernel shape is w's.
        [Vision] DeformConv = "deform_conv" {
            strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64>, group: i64, offset_group: i64,
        },
        // `col2im %x, %image_shape, %block_shape`: x [N, C*prod(block), L].
        [Vision] Col2Im = "col2im" { strides: Vec<i64>, pads: Vec<i64>, dilations: Vec<i64> },
        // `max_unpool %x, %indices[, %output_shape]`.
        [Vision] MaxUnpool = "max_unpool" {
            kernel_shape: Vec<i64>, strides: Vec<i64>, pads: Vec<i64>,
        },
        // ---- Signal (with attributes) ----
        // `dft %x[, %dft_length]`: x [..., 1|2] (real, or complex as re/im),
        // transformed along `axis` (not the last).
        [Signal] Dft = "dft" { axis: i64, inverse: bool, onesided: bool },
        // `stft %x, %frame_step[, %window[, %frame_length]]`: x [N, T, 1|2]
        // → [N, frames, bins, 2]; an empty window is absent.
        [Signal] Stft = "stft" { onesided: bool },
        // ---- Recurrent (with attributes) ----
        // `rnn|gru|lstm %x, %w, %r[, %b, %seq_lens, %h0(, %c0, %p)]`: a missing
        // middle operand is an empty constant. `direction` is "forward",
        // "reverse" or "bidirectional"; `activations` a comma-separated list
        // (one per gate function and direction, e.g. "sigmoid,tanh,tanh");
        // `activation_alpha`/`_beta` are empty (defaults) or one per activation;
        // `clip = inf` means no clipping; `layout` 1 is batch-major. Results:
        // Y, Y_h (and Y_c for LSTM).
        [Recurrent] Rnn = "rnn" {
            direction: String, activations: String, activation_alpha: Vec<f32>,
            activation_beta: Vec<f32>, clip: f32, layout: i64,
        },
        [Recurrent] Gru = "gru" {
            direction: String, activations: String, activation_alpha: Vec<f32>,
            activation_beta: Vec<f32>, clip: f32, layout: i64, linear_before_reset: bool,
        },
        [Recurrent] Lstm = "lstm" {
            direction: String, activations: String, activation_alpha: Vec<f32>,
            activation_beta: Vec<f32>, clip: f32, layout: i64, input_forget: bool,
        },
        // `unique %x` → values, first indices, inverse indices, counts (i64);
        // no axis flattens.
        [Recurrent] Unique = "unique" { axis: Option<i64>, sorted: bool },
        // `cum_prod %x, %axis`.
        [Recurrent] CumProd = "cum_prod" { exclusive: bool, reverse: bool },
        // `tf_idf_vectorizer %x`: n-gram counts of integer tokens → f32;
        // `mode` is "TF", "IDF" or "TFIDF"; the pool layout is ONNX's.
        [Recurrent] TfIdfVectorizer = "tf_idf_vectorizer" {
            mode: String, min_gram_length: i64, max_gram_length: i64, max_skip_count: i64,
            ngram_counts: Vec<i64>, ngram_indexes: Vec<i64>, pool: Vec<i64>, weights: Vec<f32>,
        },
    }
}

impl Op {
    /// A constant op holding `t`.
    pub fn constant(t: Tensor) -> Op {
        Op::Const { value: t }
    }

    /// Whether the op is elementwise (result element `i` depends only on
    /// operand elements at `i`, after broadcasting).
    pub fn is_elementwise(&self) -> bool {
        self.group() == OpGroup::Elementwise
    }

    /// The subgraphs an op carries, with the attribute that holds each
    /// (`then_branch`, `else_branch`, `body`). The one place that knows which
    /// ops nest graphs: passes and the verifier recurse through it.
    pub fn labeled_subgraphs(&self) -> Vec<(&'static str, &Graph)> {
        match self {
            Op::If {
                then_branch,
                else_branch,
            } => vec![("then_branch", then_branch), ("else_branch", else_branch)],
            Op::Loop { body, .. } | Op::Fused { body, .. } => vec![("body", body)],
            _ => vec![],
        }
    }

    /// The subgraphs an op carries (If, Loop, Fused).
    pub fn subgraphs(&self) -> Vec<&Graph> {
        self.labeled_subgraphs()
            .into_iter()
            .map(|(_, g)| g)
            .collect()
    }

    /// Mutable access to the subgraphs, for passes that rewrite inside them.
    pub fn subgraphs_mut(&mut self) -> Vec<&mut Graph> {
        match self {
            Op::If {
                then_branch,
                else_branch,
            } => vec![then_branch, else_branch],
            Op::Loop { body, .. } | Op::Fused { body, .. } => vec![body],
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names = Op::NAMES.to_vec();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate op name");
        let op = Op::LeakyRelu { alpha: 0.1 };
        let attrs: BTreeMap<String, AttrValue> = op
            .attrs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(Op::from_parts(op.name(), attrs).unwrap(), op);
    }

    #[test]
    fn from_parts_reports_bad_attributes() {
        let e = Op::from_parts("leaky_relu", BTreeMap::new()).unwrap_err();
        assert!(e.contains("alpha"), "{e}");
        let mut a = BTreeMap::new();
        a.insert("beta".to_string(), AttrValue::Float(1.0));
        assert!(Op::from_parts("relu", a)
            .unwrap_err()
            .contains("no attribute"));
        assert!(Op::from_parts("frobnicate", BTreeMap::new()).is_err());
    }
}
