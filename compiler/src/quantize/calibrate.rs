//! Calibration: run the f32 model on every sample and accumulate the
//! statistics of every activation a quantized layer reads or writes.
//!
//! The observed tensors become extra outputs of the prepared graph, which
//! is compiled once, so calibration runs at native speed (the interpreter
//! would take minutes on a ResNet). The statistics of the observed tensors
//! of one run are accumulated in parallel, one tensor per task.

use super::histogram::TensorStats;
use super::sites::{prepare, Site};
use super::table::CalibrationTable;
use super::{check_sample, compile_graph, Progress, QuantizeError, QuantizeOptions};
use ingot_ir::{Graph, Tensor, Value};
use rayon::prelude::*;

/// The distinct activations the sites read and write, in schedule order.
pub fn observed(sites: &[Site]) -> Vec<Value> {
    let mut vs: Vec<Value> = vec![];
    for s in sites {
        for v in s.inputs().into_iter().chain([s.out]) {
            if !vs.contains(&v) {
                vs.push(v);
            }
        }
    }
    vs
}

/// `g` with `vs` appended to its outputs (those not outputs already);
/// returns the output index of each of `vs`.
pub fn with_outputs(g: &Graph, vs: &[Value]) -> (Graph, Vec<usize>) {
    let mut g = g.clone();
    let mut outs = g.outputs().to_vec();
    let idx = vs
        .iter()
        .map(|v| match outs.iter().position(|o| o == v) {
            Some(i) => i,
            None => {
                outs.push(*v);
                outs.len() - 1
            }
        })
        .collect();
    g.set_outputs(outs);
    (g, idx)
}

pub fn calibrate(
    graph: &Graph,
    samples: impl IntoIterator<Item = Vec<Tensor>>,
    opts: &QuantizeOptions,
    progress: &dyn Progress,
) -> Result<CalibrationTable, QuantizeError> {
    opts.check()?;
    let (g, sites, skipped) = prepare(graph)?;
    if sites.is_empty() {
        return Err(QuantizeError::nothing_to_quantize(&g, &skipped));
    }
    let vs = observed(&sites);
    let (og, idx) = with_outputs(&g, &vs);
    let model = compile_graph(&og, opts, "the graph observing the activations")?;
    let samples = samples.into_iter();
    progress.start("calibrate", samples.size_hint().1.map(|n| n as u64));
    let mut stats = vec![TensorStats::default(); vs.len()];
    let mut n = 0;
    for (i, sample) in samples.enumerate() {
        check_sample(&g, i, &sample)?;
        let outs = model
            .run(&sample)
            .map_err(|e| QuantizeError::sample(i, e))?;
        stats
            .par_iter_mut()
            .zip(&idx)
            .try_for_each(|(s, &k)| -> Result<(), QuantizeError> {
                let xs = outs[k]
                    .as_slice::<f32>()
                    .map_err(|e| QuantizeError::Internal(format!("observed output: {e}")))?;
                s.add(xs);
                Ok(())
            })?;
        n += 1;
        progress.advance();
    }
    progress.finish();
    if n == 0 {
        return Err(QuantizeError::NoSamples);
    }
    let mut table = CalibrationTable::new(&g.name);
    table.samples = n;
    for (v, s) in vs.iter().zip(stats) {
        let name = g.name_of(*v).expect("prepare names every observed value");
        table.tensors.insert(name.to_string(), s);
    }
    Ok(table)
}
