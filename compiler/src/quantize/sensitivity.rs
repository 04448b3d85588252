//! Sensitivity analysis and the accuracy budget.
//!
//! The error measure is the signal-to-quantization-noise ratio of the
//! model's outputs against the f32 model on the evaluation samples:
//!
//! ```text
//! SQNR = 10·log10( Σ y_f32² / Σ (y_f32 − y_int8)² )   [dB]
//! ```
//!
//! summed over every element of every float output of every sample
//! (non-float outputs and non-finite pairs are left out). Each layer's
//! sensitivity is the SQNR with only that layer quantized; the lowest is
//! the most sensitive. With a budget of B dB, layers are returned to f32,
//! most sensitive first, until the whole model's SQNR is at least B (or no
//! layer is left quantized). Greedy by single-layer SQNR, so it is not
//! guaranteed to keep the fewest layers f32, but it never goes below the
//! budget when it reports success, because each step is measured.
//!
//! The runs use the simulated form of the rewrite (f32 ops with the same
//! arithmetic, compiled to native code): the QDQ form runs its activation
//! pairs on the interpreter, too slow for N+1 passes over a ResNet.

use super::rewrite::{rewrite, Form, Plan};
use super::{compile_graph, Progress, QuantizeError, QuantizeOptions};
use ingot_ir::{Graph, Tensor};

/// Runs a plan on the evaluation samples and measures its SQNR.
pub struct Evaluator<'a> {
    pub graph: &'a Graph,
    pub opts: &'a QuantizeOptions,
    pub data: &'a [Vec<Tensor>],
    reference: Vec<Vec<Tensor>>,
}

impl<'a> Evaluator<'a> {
    /// Runs the f32 graph once for the reference outputs.
    pub fn new(
        graph: &'a Graph,
        data: &'a [Vec<Tensor>],
        opts: &'a QuantizeOptions,
    ) -> Result<Evaluator<'a>, QuantizeError> {
        if data.is_empty() {
            return Err(QuantizeError::NoSamples);
        }
        let reference = run_all(graph, data, opts, "the f32 graph")?;
        let floats = reference[0].iter().any(|t| t.dtype().is_float());
        if !floats {
            return Err(QuantizeError::Options(
                "the model has no float outputs to compare, so no SQNR can be measured; \
                 quantize without evaluation data (no sensitivity analysis or budget)"
                    .into(),
            ));
        }
        Ok(Evaluator {
            graph,
            opts,
            data,
            reference,
        })
    }

    /// The output SQNR (dB) with the sites `plan.quantized` marks in INT8.
    pub fn sqnr(&self, plan: &Plan) -> Result<f64, QuantizeError> {
        if !plan.quantized.contains(&true) {
            return Ok(f64::INFINITY);
        }
        let (g, applied) = rewrite(self.graph, plan, Form::Simulated)?;
        if applied.iter().all(Option::is_none) {
            // Only adds or pools whose operands stay f32: nothing changed.
            return Ok(f64::INFINITY);
        }
        let outs = run_all(&g, self.data, self.opts, "a quantized variant")?;
        Ok(sqnr(&self.reference, &outs))
    }
}

fn run_all(
    g: &Graph,
    data: &[Vec<Tensor>],
    opts: &QuantizeOptions,
    what: &str,
) -> Result<Vec<Vec<Tensor>>, QuantizeError> {
    let m = compile_graph(g, opts, what)?;
    data.iter()
        .enumerate()
        .map(|(i, s)| {
            super::check_sample(g, i, s)?;
            m.run(s).map_err(|e| QuantizeError::sample(i, e))
        })
        .collect()
}

/// SQNR in dB of `got` against `reference` (see the module header);
/// infinite when they are equal.
pub fn sqnr(reference: &[Vec<Tensor>], got: &[Vec<Tensor>]) -> f64 {
    let (mut signal, mut noise) = (0.0, 0.0);
    for (r, o) in reference.iter().zip(got) {
        for (a, b) in r.iter().zip(o) {
            if !a.dtype().is_float() {
                continue;
            }
            for (x, y) in a.to_f64s().iter().zip(b.to_f64s()) {
                if x.is_finite() && y.is_finite() {
                    signal += x * x;
                    noise += (x - y) * (x - y);
                }
            }
        }
    }
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// What the analysis found: per-site SQNR alone, the all-INT8 SQNR, and
/// the final selection with its SQNR.
pub struct Outcome {
    pub alone: Vec<f64>,
    pub all: f64,
    pub quantized: Vec<bool>,
    pub fin: f64,
}

/// Measure every site alone, then everything, then apply the budget.
pub fn analyze<'p>(
    ev: &Evaluator,
    plan_for: &dyn Fn(&[bool]) -> Plan<'p>,
    n: usize,
    budget: Option<f64>,
    progress: &dyn Progress,
) -> Result<Outcome, QuantizeError> {
    progress.start("sensitivity", Some(n as u64 + 1));
    let mut alone = Vec::with_capacity(n);
    for i in 0..n {
        let mut q = vec![false; n];
        q[i] = true;
        alone.push(ev.sqnr(&plan_for(&q))?);
        progress.advance();
    }
    let mut quantized = vec![true; n];
    let all = ev.sqnr(&plan_for(&quantized))?;
    progress.advance();
    progress.finish();
    let mut fin = all;
    if let Some(b) = budget {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| alone[a].total_cmp(&alone[b]));
        let mut next = order.into_iter();
        progress.start("budget", None);
        while fin < b {
            let Some(i) = next.next() else { break };
            quantized[i] = false;
            fin = ev.sqnr(&plan_for(&quantized))?;
            progress.advance();
        }
        progress.finish();
    }
    Ok(Outcome {
        alone,
        all,
        quantized,
        fin,
    })
}
