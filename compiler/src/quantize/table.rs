//! The calibration table: what calibration observed, saved as JSON so a
//! later `quantize` (another method, another budget) needs no rerun.
//!
//! It holds raw statistics (range and histogram per tensor), not chosen
//! ranges: every method computes its range from them. Tensors are keyed by
//! their value names in the prepared graph (ONNX tensor names, or `act<k>`
//! for the few unnamed ones), so a table applies to the model it was made
//! from; applying it to another model fails naming the first missing tensor.
//!
//! ```json
//! {"format": "ingot-calibration", "version": 1, "graph": "main_graph",
//!  "samples": 100,
//!  "tensors": {"x": {"min": 0.0, "max": 1.0, "count": 6400, "nonfinite": 0,
//!                    "hist": {"width": 0.000244, "first": 0, "counts": [...], "zeros": 0}}}}
//! ```

use super::histogram::TensorStats;
use super::QuantizeError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const FORMAT: &str = "ingot-calibration";
const VERSION: u32 = 1;

/// Per-tensor statistics of a model's activations over a calibration set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationTable {
    format: String,
    version: u32,
    /// The name of the graph it was made for.
    pub graph: String,
    /// How many calibration samples were run.
    pub samples: usize,
    /// By value name in the prepared graph.
    pub tensors: BTreeMap<String, TensorStats>,
}

impl CalibrationTable {
    pub fn new(graph: &str) -> CalibrationTable {
        CalibrationTable {
            format: FORMAT.into(),
            version: VERSION,
            graph: graph.into(),
            samples: 0,
            tensors: BTreeMap::new(),
        }
    }

    /// The statistics of `name`, or an error saying the table does not
    /// match the model.
    pub fn get(&self, name: &str) -> Result<&TensorStats, QuantizeError> {
        self.tensors.get(name).ok_or_else(|| {
            QuantizeError::Table(format!(
                "the table (made for graph `{}`) has no entry for tensor `{name}`; \
                 was it made for another model?",
                self.graph
            ))
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    pub fn from_json(s: &str) -> Result<CalibrationTable, QuantizeError> {
        // Check the header first, so a foreign JSON file is named as such
        // rather than as a missing field.
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| QuantizeError::Table(format!("not JSON: {e}")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(QuantizeError::Table(format!(
                "not a calibration table (no \"format\": \"{FORMAT}\")"
            )));
        }
        let version = v.get("version").and_then(|f| f.as_u64());
        if version != Some(u64::from(VERSION)) {
            return Err(QuantizeError::Table(format!(
                "table version {version:?}; this ingot reads version {VERSION}"
            )));
        }
        let t: CalibrationTable = serde_json::from_value(v)
            .map_err(|e| QuantizeError::Table(format!("malformed table: {e}")))?;
        t.check()?;
        Ok(t)
    }

    /// Reject statistics that would make the range code misbehave
    /// (a hand-edited or damaged file).
    fn check(&self) -> Result<(), QuantizeError> {
        for (name, s) in &self.tensors {
            let bad = |what: &str| Err(QuantizeError::Table(format!("tensor `{name}`: {what}")));
            if !(s.min.is_finite() && s.max.is_finite()) || s.min > s.max {
                return bad("min/max are not a finite range");
            }
            let h = &s.hist;
            if !(h.width.is_finite() && h.width >= 0.0) {
                return bad("histogram width is not a finite nonnegative number");
            }
            if h.counts.len() > super::histogram::MAX_BINS {
                return bad("histogram has too many bins");
            }
            if h.width == 0.0 && !h.counts.is_empty() {
                return bad("histogram has bins but no width");
            }
            // The stored span always includes bin 0 (ranges include zero).
            if h.width > 0.0 && !(-(h.counts.len() as i64) < h.first && h.first <= 0) {
                return bad("histogram bins do not include zero");
            }
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), QuantizeError> {
        std::fs::write(path, self.to_json()).map_err(|e| QuantizeError::Io {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<CalibrationTable, QuantizeError> {
        let s = std::fs::read_to_string(path).map_err(|e| QuantizeError::Io {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        CalibrationTable::from_json(&s).map_err(|e| match e {
            QuantizeError::Table(m) => QuantizeError::Table(format!("{}: {m}", path.display())),
            e => e,
        })
    }
}
