//! INT8 post-training quantization: calibrate an f32 graph on sample
//! inputs, then rewrite it into the QDQ form onnxruntime's
//! `quantize_static` writes, so our calibrated models and onnxruntime's QDQ
//! models reach the rest of the pipeline in the same shape.
//!
//! ```no_run
//! use ingot_compiler::quantize::{calibrate, quantize, NoProgress, QuantizeOptions};
//! # let graph = ingot_ir::Graph::new("g");
//! # let samples: Vec<Vec<ingot_ir::Tensor>> = vec![];
//! let opts = QuantizeOptions::default();
//! let table = calibrate(&graph, samples.iter().cloned(), &opts, &NoProgress)?;
//! table.save("model.calib.json".as_ref())?;
//! let (int8, report) = quantize(&graph, &table, &opts)?;
//! println!("{report}");
//! # Ok::<(), ingot_compiler::quantize::QuantizeError>(())
//! ```
//!
//! The steps (one file each):
//! - `sites`: fold the f32 graph (batch norms into convs, constants) and
//!   find the layers to quantize — `conv`, `gemm` and `matmul` with a
//!   constant weight.
//! - `calibrate`: run it compiled, with every activation those layers read
//!   or write as an extra output, accumulating ranges and histograms
//!   (`histogram`) into a [`CalibrationTable`] (`table`, JSON).
//! - `range`: a [`Method`] turns each tensor's statistics into a range,
//!   and the range into u8 parameters.
//! - `rewrite`: insert the QuantizeLinear/DequantizeLinear pairs.
//! - `sensitivity`: with evaluation data, the output SQNR of each layer
//!   quantized alone, and the accuracy budget (`report` prints it).
//!
//! Choices, and why:
//! - Activations are per-tensor **u8 asymmetric**, the range always
//!   including 0: the INT8 kernels take u8 activations × i8 weights
//!   (the `vpdpbusd` shape), as onnxruntime's x86 kernels do.
//! - Weights are **i8 symmetric** (zero point 0, values in [-127, 127]),
//!   per output channel by default: Conv's axis 0 (`[M, C/g, kh, kw]`),
//!   Gemm's axis 0 with `transB` and 1 without, MatMul's last axis.
//! - Biases are **i32** with scale `s_x · s_w[c]` and zero point 0, so an
//!   integer kernel adds them to its i32 accumulator unchanged.

mod calibrate;
pub mod histogram;
pub mod range;
mod report;
mod rewrite;
mod sensitivity;
mod sites;
mod table;

pub use histogram::{Histogram, TensorStats};
pub use range::ActParams;
pub use report::{LayerReport, QuantReport};
pub use rewrite::quantize_weight;
pub use sensitivity::sqnr;
pub use sites::Skipped;
pub use table::CalibrationTable;

use crate::cpu::{compile, CompileOptions, CompiledModel};
use ingot_ir::{Graph, Tensor, Value};
use rewrite::{Form, Plan};
use sites::Site;
use std::collections::HashMap;
use std::path::PathBuf;

/// How a tensor's range is chosen from its calibration statistics (see
/// `range.rs` for the exact definitions).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// The smallest and largest value seen.
    MinMax,
    /// Drop `100 - percentile` percent of the values from each tail.
    Percentile,
    /// Minimize KL divergence between the clipped and the quantized
    /// histogram (TensorRT's entropy calibration).
    Entropy,
    /// Minimize the expected squared quantization error.
    Mse,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::MinMax,
        Method::Percentile,
        Method::Entropy,
        Method::Mse,
    ];

    /// `minmax`, `percentile`, `entropy`, `mse`.
    pub fn name(self) -> &'static str {
        match self {
            Method::MinMax => "minmax",
            Method::Percentile => "percentile",
            Method::Entropy => "entropy",
            Method::Mse => "mse",
        }
    }

    pub fn from_name(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// How to quantize.
#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    pub method: Method,
    /// For [`Method::Percentile`]: the percentile kept, in (0, 100].
    pub percentile: f64,
    /// For [`Method::Percentile`]: one threshold on |x| for both signs
    /// instead of one per tail.
    pub symmetric: bool,
    /// Weights per output channel (else one scale per weight tensor).
    pub per_channel: bool,
    /// The minimum output SQNR in dB the quantized model must keep
    /// against the f32 model on the evaluation data (see `sensitivity.rs`);
    /// layers go back to f32, most sensitive first, until it holds. Only
    /// [`quantize_measured`] applies it (it needs data).
    pub accuracy_budget: Option<f64>,
    /// Drop a ReLU after a quantized layer when the output's zero point
    /// is 0 (its QuantizeLinear saturates at 0), as onnxruntime does.
    pub fold_relu: bool,
    /// Worker threads for the compiled runs (0 = one per core).
    pub threads: usize,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            method: Method::MinMax,
            percentile: 99.999,
            symmetric: false,
            per_channel: true,
            accuracy_budget: None,
            fold_relu: true,
            threads: 0,
        }
    }
}

impl QuantizeOptions {
    fn check(&self) -> Result<(), QuantizeError> {
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(QuantizeError::Options(format!(
                "percentile {} is outside (0, 100]",
                self.percentile
            )));
        }
        if let Some(b) = self.accuracy_budget {
            if !b.is_finite() {
                return Err(QuantizeError::Options(format!(
                    "accuracy budget {b} dB is not a finite number"
                )));
            }
        }
        Ok(())
    }
}

/// Why quantization failed.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error("no calibration samples were given")]
    NoSamples,
    #[error("sample {index}: {msg}")]
    Sample { index: usize, msg: String },
    #[error("graph `{graph}` has nothing to quantize: no conv, gemm or matmul with a constant weight{why}")]
    NothingToQuantize { graph: String, why: String },
    #[error("compiling {what}: {msg}")]
    Compile { what: String, msg: String },
    #[error("calibration table: {0}")]
    Table(String),
    #[error("{}: {msg}", path.display())]
    Io { path: PathBuf, msg: String },
    #[error("preparing the graph: {0}")]
    Prepare(ingot_passes::PassError),
    #[error("options: {0}")]
    Options(String),
    /// A bug in this module (e.g. a rewritten graph that does not verify).
    #[error("internal error: {0}")]
    Internal(String),
}

impl QuantizeError {
    fn sample(index: usize, e: impl std::fmt::Display) -> QuantizeError {
        QuantizeError::Sample {
            index,
            msg: e.to_string(),
        }
    }

    fn nothing_to_quantize(g: &Graph, skipped: &[Skipped]) -> QuantizeError {
        let why = skipped
            .iter()
            .map(|s| format!("; {} `{}`: {}", s.op, s.name, s.why))
            .collect::<String>();
        QuantizeError::NothingToQuantize {
            graph: g.name.clone(),
            why,
        }
    }
}

/// Reports progress of the long steps (a progress bar in the CLI).
pub trait Progress {
    /// A phase begins, with its number of steps if known.
    fn start(&self, _phase: &str, _total: Option<u64>) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

impl Progress for indicatif::ProgressBar {
    fn start(&self, phase: &str, total: Option<u64>) {
        self.reset();
        self.set_length(total.unwrap_or(0));
        self.set_message(phase.to_string());
    }
    fn advance(&self) {
        self.inc(1);
    }
    fn finish(&self) {
        self.finish_and_clear();
    }
}

/// Run the f32 graph on every sample (one run each, graph input order)
/// and collect the statistics of every activation a quantizable layer
/// reads or writes.
pub fn calibrate(
    graph: &Graph,
    samples: impl IntoIterator<Item = Vec<Tensor>>,
    opts: &QuantizeOptions,
    progress: &dyn Progress,
) -> Result<CalibrationTable, QuantizeError> {
    calibrate::calibrate(graph, samples, opts, progress)
}

/// Quantize every quantizable layer with the ranges `opts.method` picks
/// from `table`. The report has parameters but no SQNR (no data); the
/// accuracy budget needs [`quantize_measured`].
pub fn quantize(
    graph: &Graph,
    table: &CalibrationTable,
    opts: &QuantizeOptions,
) -> Result<(Graph, QuantReport), QuantizeError> {
    opts.check()?;
    let s = Setup::new(graph, table, opts)?;
    let all = vec![true; s.sites.len()];
    let (g, applied) = rewrite::rewrite(&s.g, &s.plan(&all), Form::Qdq)?;
    let report = s.report(&all, &applied, None, None, 0)?;
    Ok((g, report))
}

/// [`quantize`], measuring on `data` (samples as for [`calibrate`]; often
/// the calibration set itself) each layer's sensitivity and the model's
/// output SQNR, and keeping layers in f32 as `opts.accuracy_budget` asks.
pub fn quantize_measured(
    graph: &Graph,
    table: &CalibrationTable,
    data: &[Vec<Tensor>],
    opts: &QuantizeOptions,
    progress: &dyn Progress,
) -> Result<(Graph, QuantReport), QuantizeError> {
    opts.check()?;
    let s = Setup::new(graph, table, opts)?;
    let ev = sensitivity::Evaluator::new(&s.g, data, opts)?;
    let out = sensitivity::analyze(
        &ev,
        &|q| s.plan(q),
        s.sites.len(),
        opts.accuracy_budget,
        progress,
    )?;
    let (g, applied) = rewrite::rewrite(&s.g, &s.plan(&out.quantized), Form::Qdq)?;
    let mut report = s.report(
        &out.quantized,
        &applied,
        Some(&out.alone),
        Some(out.fin),
        data.len(),
    )?;
    report.all_int8_sqnr_db = Some(out.all);
    report.budget_db = opts.accuracy_budget;
    Ok((g, report))
}

/// The prepared graph, its sites and their activation parameters.
struct Setup<'a> {
    g: Graph,
    sites: Vec<Site>,
    skipped: Vec<Skipped>,
    params: HashMap<Value, ActParams>,
    opts: &'a QuantizeOptions,
}

impl<'a> Setup<'a> {
    fn new(
        graph: &Graph,
        table: &CalibrationTable,
        opts: &'a QuantizeOptions,
    ) -> Result<Setup<'a>, QuantizeError> {
        let (g, sites, skipped) = sites::prepare(graph)?;
        if sites.is_empty() {
            return Err(QuantizeError::nothing_to_quantize(&g, &skipped));
        }
        let mut params = HashMap::new();
        for v in calibrate::observed(&sites) {
            let name = g.name_of(v).expect("prepare names every observed value");
            let stats = table.get(name)?;
            let (lo, hi) = range::choose(stats, opts.method, opts.percentile, opts.symmetric);
            params.insert(v, ActParams::from_range(lo, hi));
        }
        Ok(Setup {
            g,
            sites,
            skipped,
            params,
            opts,
        })
    }

    fn plan(&self, quantized: &[bool]) -> Plan<'_> {
        Plan {
            sites: &self.sites,
            quantized: quantized.to_vec(),
            params: &self.params,
            per_channel: self.opts.per_channel,
            fold_relu: self.opts.fold_relu,
        }
    }

    fn report(
        &self,
        wanted: &[bool],
        applied: &[Option<rewrite::Applied>],
        alone: Option<&[f64]>,
        fin: Option<f64>,
        eval_samples: usize,
    ) -> Result<QuantReport, QuantizeError> {
        let mut layers = vec![];
        let mut skipped = self.skipped.clone();
        for (i, (s, a)) in self.sites.iter().zip(applied).enumerate() {
            if a.is_none() && wanted[i] {
                // An add or pool whose operands stayed f32.
                skipped.push(Skipped {
                    name: s.name.clone(),
                    op: s.op,
                    why: "no operand is quantized (alone it would only add a quantize/dequantize pair)".into(),
                });
                continue;
            }
            let name = |v: Value| self.g.name_of(v).unwrap_or("?").to_string();
            let (input_params, output_params, ws, relu_dropped, bias_saturated) = match a {
                Some(a) => (
                    a.input,
                    a.output,
                    a.weight_scales,
                    a.relu_dropped,
                    a.bias_saturated,
                ),
                None => {
                    let ws = match s.weight() {
                        Some((w, axis)) => {
                            let w = self.g.const_value(w).expect("constant weight");
                            let (_, sc) = quantize_weight(w, axis, self.opts.per_channel)?;
                            (
                                sc.iter().copied().fold(f32::INFINITY, f32::min),
                                sc.iter().copied().fold(0.0, f32::max),
                                sc.len(),
                            )
                        }
                        None => (0.0, 0.0, 0),
                    };
                    (self.params[&s.x], self.params[&s.out], ws, false, 0)
                }
            };
            layers.push(LayerReport {
                name: s.name.clone(),
                op: s.op,
                input: name(s.x),
                output: name(s.out),
                input_params,
                output_params,
                weight_scale_min: ws.0,
                weight_scale_max: ws.1,
                weight_scales: ws.2,
                relu_dropped,
                bias_saturated,
                // An add or pool alone changes nothing (it is quantized
                // only after a quantized operand): no SQNR of its own.
                sqnr_db: alone.map(|a| a[i]).filter(|_| s.weight().is_some()),
                kept_f32: a.is_none(),
            });
        }
        Ok(QuantReport {
            method: self.opts.method,
            layers,
            skipped,
            model_sqnr_db: fin,
            all_int8_sqnr_db: None,
            budget_db: None,
            eval_samples,
        })
    }
}

/// Compile for the quantizer's own runs.
fn compile_graph(
    g: &Graph,
    opts: &QuantizeOptions,
    what: &str,
) -> Result<CompiledModel, QuantizeError> {
    let co = CompileOptions {
        threads: opts.threads,
        ..CompileOptions::default()
    };
    compile(g, &co).map_err(|e| QuantizeError::Compile {
        what: what.into(),
        msg: e.to_string(),
    })
}

/// A sample must give one tensor per graph input; dtypes and shapes are
/// checked by the run itself, which names the input.
fn check_sample(g: &Graph, index: usize, sample: &[Tensor]) -> Result<(), QuantizeError> {
    let n = g.inputs().len();
    if sample.len() != n {
        let names: Vec<String> = g
            .inputs()
            .iter()
            .map(|&v| format!("`{}`", g.name_of(v).unwrap_or("?")))
            .collect();
        return Err(QuantizeError::sample(
            index,
            format!(
                "{} tensor(s) given, the model takes {n} ({})",
                sample.len(),
                names.join(", ")
            ),
        ));
    }
    Ok(())
}
