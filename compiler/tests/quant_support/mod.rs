//! What the INT8 tests share: the `examples/digits` fixtures (model,
//! calibration samples, `.npy` reader) and the table calibrated once per
//! test binary.
#![allow(dead_code)]

use ingot_compiler::quantize::{calibrate, CalibrationTable, NoProgress, QuantizeOptions};
use ingot_ir::{Graph, Tensor};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn digits(f: &str) -> PathBuf {
    root().join("examples/digits").join(f)
}

pub fn read_npy(p: &Path) -> Tensor {
    let bytes = std::fs::read(p).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape: Vec<usize> = f.shape().iter().map(|&d| d as usize).collect();
    let dtype = match f.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        d => panic!("{}: unexpected dtype {d:?}", p.display()),
    };
    match dtype.as_str() {
        "<f4" => Tensor::from_vec(&shape, f.into_vec::<f32>().unwrap()).unwrap(),
        "<i8" => Tensor::from_vec(&shape, f.into_vec::<i64>().unwrap()).unwrap(),
        d => panic!("{}: unexpected dtype {d}", p.display()),
    }
}

pub fn model() -> Graph {
    ingot_compiler::onnx::import_onnx(&digits("digits_cnn.onnx")).unwrap()
}

/// The calibration samples, one `[1,1,8,8]` tensor per file, by name.
pub fn calib() -> Vec<Vec<Tensor>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(digits("calib"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| vec![read_npy(p)]).collect()
}

/// The table calibrated once for all tests (calibration is deterministic).
pub fn table() -> &'static CalibrationTable {
    static T: OnceLock<CalibrationTable> = OnceLock::new();
    T.get_or_init(|| {
        let t0 = std::time::Instant::now();
        let t = calibrate(&model(), calib(), &QuantizeOptions::default(), &NoProgress).unwrap();
        eprintln!(
            "calibration: {} samples, {} tensors in {:.1} ms",
            t.samples,
            t.tensors.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        t
    })
}

/// A fresh folder under the system temp dir for this process.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ingot-quantize-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
