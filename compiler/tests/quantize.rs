//! INT8 post-training quantization on `examples/digits` (a small CNN with
//! onnxruntime's own QDQ version beside it, see its README): accuracy of
//! every calibration method on the held-out set, parameters against
//! onnxruntime's `quantize_static`, the QDQ layout, the table round trip,
//! sensitivity and the accuracy budget, the `ingot quantize` command, and
//! the errors users meet.

use ingot_compiler::cpu::{compile, CompileOptions};
use ingot_compiler::quantize::{
    calibrate, quantize, quantize_measured, sqnr, CalibrationTable, Method, NoProgress,
    QuantizeError, QuantizeOptions,
};
use ingot_ir::{Graph, Op, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn digits(f: &str) -> PathBuf {
    root().join("examples/digits").join(f)
}

fn read_npy(p: &Path) -> Tensor {
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

fn model() -> Graph {
    ingot_compiler::onnx::import_onnx(&digits("digits_cnn.onnx")).unwrap()
}

/// The calibration samples, one `[1,1,8,8]` tensor per file, by name.
fn calib() -> Vec<Vec<Tensor>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(digits("calib"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| vec![read_npy(p)]).collect()
}

/// The table calibrated once for all tests (calibration is deterministic).
fn table() -> &'static CalibrationTable {
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

/// Held-out accuracy of `g`, the whole test set as one batch.
fn accuracy(g: &Graph) -> f64 {
    let (x, y) = (
        read_npy(&digits("test_x.npy")),
        read_npy(&digits("test_y.npy")),
    );
    let m = compile(g, &CompileOptions::default()).unwrap();
    let logits = m.run(&[x]).unwrap().remove(0);
    let l = logits.as_slice::<f32>().unwrap();
    let labels = y.as_slice::<i64>().unwrap();
    let right = labels
        .iter()
        .enumerate()
        .filter(|&(i, &label)| {
            let row = &l[i * 10..(i + 1) * 10];
            let best = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            best as i64 == label
        })
        .count();
    right as f64 / labels.len() as f64
}

fn op_counts(g: &Graph) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for &n in g.order() {
        let op = &g.node(n).op;
        if !matches!(op, Op::Const { .. }) {
            *m.entry(op.name()).or_default() += 1;
        }
    }
    m
}

fn opts(method: Method) -> QuantizeOptions {
    QuantizeOptions {
        method,
        ..QuantizeOptions::default()
    }
}

#[test]
fn f32_accuracy_is_as_trained() {
    let acc = accuracy(&model());
    eprintln!("f32 accuracy: {:.2}%", acc * 100.0);
    assert!((acc - 358.0 / 360.0).abs() < 1e-9, "{acc}");
}

#[test]
fn every_method_loses_at_most_half_a_point() {
    let f32_acc = accuracy(&model());
    for m in Method::ALL {
        let (g, report) = quantize(&model(), table(), &opts(m)).unwrap();
        ingot_ir::verify(&g).unwrap();
        let acc = accuracy(&g);
        eprintln!(
            "{:>10}: INT8 accuracy {:.2}% (f32 {:.2}%), {} layers",
            m.name(),
            acc * 100.0,
            f32_acc * 100.0,
            report.quantized()
        );
        assert!(
            acc >= f32_acc - 0.005,
            "{}: {acc} vs f32 {f32_acc}",
            m.name()
        );
        assert_eq!(report.quantized(), 6, "{report}");
    }
}
