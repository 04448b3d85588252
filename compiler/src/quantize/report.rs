//! What quantization did, per layer: parameters, sensitivity, and which
//! layers stayed f32; printed as a table ranked by sensitivity.

use super::range::ActParams;
use super::sites::Skipped;
use super::Method;
use std::fmt;

/// One quantizable layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReport {
    /// The ONNX node name (or its output's name).
    pub name: String,
    /// `conv`, `gemm`, `matmul`, `add` or `global_average_pool`.
    pub op: &'static str,
    /// The activation it reads and the tensor that quantizes its output.
    pub input: String,
    pub output: String,
    /// Parameters used (for a layer kept f32: those it would have had).
    pub input_params: ActParams,
    pub output_params: ActParams,
    /// Smallest and largest weight scale, and how many (channels); 0
    /// scales for an `add` or pool.
    pub weight_scale_min: f32,
    pub weight_scale_max: f32,
    pub weight_scales: usize,
    /// A ReLU after it was dropped (QuantizeLinear saturates instead).
    pub relu_dropped: bool,
    /// Bias values saturated to the i32 range (0 in sane models).
    pub bias_saturated: usize,
    /// Model output SQNR (dB) with only this layer quantized, if measured.
    pub sqnr_db: Option<f64>,
    /// Left in f32 (by the accuracy budget).
    pub kept_f32: bool,
}

/// The result of `quantize` / `quantize_measured`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantReport {
    pub method: Method,
    /// Quantizable layers in schedule order.
    pub layers: Vec<LayerReport>,
    /// Layers that could not be quantized, and why.
    pub skipped: Vec<Skipped>,
    /// SQNR (dB) of the returned graph's outputs, if measured.
    pub model_sqnr_db: Option<f64>,
    /// SQNR (dB) with every quantizable layer in INT8, if measured.
    pub all_int8_sqnr_db: Option<f64>,
    /// The minimum SQNR asked for.
    pub budget_db: Option<f64>,
    /// Samples the SQNRs were measured on.
    pub eval_samples: usize,
}

impl QuantReport {
    /// Layers, most sensitive (lowest SQNR alone) first; schedule order
    /// when nothing was measured.
    pub fn ranked(&self) -> Vec<&LayerReport> {
        let mut v: Vec<&LayerReport> = self.layers.iter().collect();
        v.sort_by(|a, b| {
            let k = |l: &LayerReport| l.sqnr_db.unwrap_or(f64::INFINITY);
            k(a).total_cmp(&k(b))
        });
        v
    }

    /// How many layers are in INT8.
    pub fn quantized(&self) -> usize {
        self.layers.iter().filter(|l| !l.kept_f32).count()
    }
}

/// `12.3 dB`, `inf dB`.
pub fn db(v: f64) -> String {
    if v.is_infinite() && v > 0.0 {
        "inf dB".into()
    } else {
        format!("{v:.1} dB")
    }
}

fn params(p: &ActParams) -> String {
    format!("{:.6}/{}", p.scale, p.zero_point)
}

impl fmt::Display for QuantReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let measured = self.layers.iter().any(|l| l.sqnr_db.is_some());
        let w = self
            .layers
            .iter()
            .map(|l| l.name.len())
            .max()
            .unwrap_or(5)
            .clamp(5, 64);
        let o = self
            .layers
            .iter()
            .map(|l| l.op.len())
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(
            f,
            "{:>4}  {:<w$}  {:<o$}  {:>10}  {:>14}  {:>14}  {:<24}  precision",
            if measured { "rank" } else { "#" },
            "layer",
            "op",
            "SQNR alone",
            "in scale/zp",
            "out scale/zp",
            "weight scales (count)",
        )?;
        for (i, l) in self.ranked().iter().enumerate() {
            let mut notes = vec![];
            if l.relu_dropped {
                notes.push("relu folded".to_string());
            }
            if l.bias_saturated > 0 {
                notes.push(format!("{} bias values saturated", l.bias_saturated));
            }
            writeln!(
                f,
                "{:>4}  {:<w$}  {:<o$}  {:>10}  {:>14}  {:>14}  {:<24}  {}{}",
                i + 1,
                l.name,
                l.op,
                l.sqnr_db.map_or("-".into(), db),
                params(&l.input_params),
                params(&l.output_params),
                if l.weight_scales == 0 {
                    "-".to_string()
                } else {
                    format!(
                        "{:.3e}..{:.3e} ({})",
                        l.weight_scale_min, l.weight_scale_max, l.weight_scales
                    )
                },
                if l.kept_f32 { "f32 (budget)" } else { "int8" },
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", notes.join(", "))
                }
            )?;
        }
        for s in &self.skipped {
            writeln!(
                f,
                "   -  {:<w$}  {:<o$}  not quantized: {}",
                s.name, s.op, s.why
            )?;
        }
        write!(
            f,
            "{} of {} layers in INT8 ({} calibration)",
            self.quantized(),
            self.layers.len(),
            self.method.name()
        )?;
        if measured {
            write!(
                f,
                "; model output SQNR {} on {} samples (all INT8: {}",
                self.model_sqnr_db.map_or("-".into(), db),
                self.eval_samples,
                self.all_int8_sqnr_db.map_or("-".into(), db),
            )?;
            match self.budget_db {
                Some(b) => write!(f, "; budget >= {})", db(b))?,
                None => write!(f, "; no budget)")?,
            }
        }
        writeln!(f)
    }
}
