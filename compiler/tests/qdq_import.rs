//! Pre-quantized ONNX models (examples/digits, written by onnxruntime's
//! `quantize_static`) import onto the integer ops and match onnxruntime's
//! outputs, which the fixtures hold (`ort_*_logits.npy`, computed by
//! `examples/digits/make_digits.py`), so no Python runs here.
//!
//! - QDQ format: `fuse-qdq` rewrites every DequantizeLinear → Conv/Gemm →
//!   QuantizeLinear group into `qlinear_conv`/`qgemm`, and the Q/DQ pairs
//!   around max-pool and flatten into integer max-pool and flatten; only the
//!   input's quantize and the logits' dequantize remain. onnxruntime runs
//!   the same fused kernels, so the logits agree within one quantization
//!   step of the logits (0.2716; measured: identical).
//! - QOperator format (QLinearConv, com.microsoft QGemm, integer MaxPool):
//!   identical.
//! - examples/qgap (`make_qgap.py`): com.microsoft QLinearGlobalAveragePool
//!   (u8, i8, channels last) and the QDQ head `dq → global_average_pool →
//!   flatten → q`, which `fuse-qdq` turns into the integer op; within one
//!   quantization step of onnxruntime (measured: identical).

use ingot_compiler::cpu::{compile_onnx, CompileOptions};
use ingot_ir::{Op, Tensor};
use std::path::{Path, PathBuf};

fn digits(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/digits")
        .join(name)
}

fn qgap(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/qgap")
        .join(name)
}

/// An `.npy` fixture of examples/digits as a tensor.
fn npy(name: &str) -> Tensor {
    npy_at(&digits(name))
}

/// An `.npy` file as a tensor (f32, u8, i8 or i64, C order).
fn npy_at(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape: Vec<usize> = f.shape().iter().map(|&d| d as usize).collect();
    let npyz::DType::Plain(t) = f.dtype() else {
        panic!("{}: not a plain dtype", path.display());
    };
    match (t.type_char(), t.size_field()) {
        (npyz::TypeChar::Float, 4) => Tensor::from_vec(&shape, f.into_vec::<f32>().unwrap()),
        (npyz::TypeChar::Uint, 1) => Tensor::from_vec(&shape, f.into_vec::<u8>().unwrap()),
        (npyz::TypeChar::Int, 1) => Tensor::from_vec(&shape, f.into_vec::<i8>().unwrap()),
        _ => Tensor::from_vec(&shape, f.into_vec::<i64>().unwrap()),
    }
    .unwrap()
}

fn accuracy(logits: &Tensor, labels: &Tensor) -> f64 {
    let l = logits.as_slice::<f32>().unwrap();
    let y = labels.as_slice::<i64>().unwrap();
    let hits = y
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            let row = &l[i * 10..(i + 1) * 10];
            let best = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            best as i64 == c
        })
        .count();
    hits as f64 / y.len() as f64
}

fn count(m: &ingot_compiler::cpu::CompiledModel, pred: impl Fn(&Op) -> bool) -> usize {
    let g = m.graph();
    g.order().iter().filter(|&&n| pred(&g.node(n).op)).count()
}

/// Run `model` on the test set; return (logits, onnxruntime's logits).
fn run(
    model: &str,
    ort: &str,
    threads: usize,
) -> (Tensor, Tensor, ingot_compiler::cpu::CompiledModel) {
    let opts = CompileOptions {
        threads,
        ..CompileOptions::default()
    };
    let m = compile_onnx(&digits(model), &opts).unwrap();
    let out = m.run(&[npy("test_x.npy")]).unwrap().remove(0);
    (out, npy(ort), m)
}

#[test]
fn qdq_model_runs_on_integer_kernels_and_matches_onnxruntime() {
    for threads in [1, 2] {
        let (got, want, m) = run("digits_cnn.qdq.onnx", "ort_qdq_logits.npy", threads);
        assert_eq!(got.shape(), want.shape());
        let (g, w) = (
            got.as_slice::<f32>().unwrap(),
            want.as_slice::<f32>().unwrap(),
        );
        let step = 0.2716_f32 * 1.001;
        let off = g.iter().zip(w).filter(|(a, b)| a != b).count();
        let worst = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!(
            "QDQ, {threads} thread(s): {off} of {} logits differ, max {worst}",
            g.len()
        );
        assert!(worst <= step, "max difference {worst} exceeds one step");
        assert!(off * 100 <= g.len(), "{off} logits differ");
        let acc = accuracy(&got, &npy("test_y.npy"));
        assert!(acc >= 0.99, "accuracy {acc}");
        // Integer kernels, and no quantize/dequantize pair between them:
        // only the input's quantize and the logits' dequantize remain.
        assert_eq!(count(&m, |o| matches!(o, Op::QLinearConv { .. })), 4);
        assert_eq!(count(&m, |o| matches!(o, Op::QGemm { .. })), 2);
        assert_eq!(count(&m, |o| matches!(o, Op::QuantizeLinear { .. })), 1);
        assert_eq!(count(&m, |o| matches!(o, Op::DequantizeLinear { .. })), 1);
        assert_eq!(
            count(&m, |o| matches!(o, Op::Conv { .. } | Op::Gemm { .. })),
            0
        );
    }
}

#[test]
fn qoperator_model_with_ms_qgemm_matches_onnxruntime_exactly() {
    let (got, want, _) = run("digits_cnn.qop.onnx", "ort_qop_logits.npy", 1);
    assert_eq!(
        got.as_slice::<f32>().unwrap(),
        want.as_slice::<f32>().unwrap()
    );
}

#[test]
fn float_model_matches_onnxruntime() {
    let (got, want, _) = run("digits_cnn.onnx", "ort_f32_logits.npy", 1);
    let (g, w) = (
        got.as_slice::<f32>().unwrap(),
        want.as_slice::<f32>().unwrap(),
    );
    let worst = g
        .iter()
        .zip(w)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "max difference {worst}");
    assert!(accuracy(&got, &npy("test_y.npy")) >= 0.97);
}

#[test]
fn ms_qlinear_global_average_pool_matches_onnxruntime() {
    for threads in [1, 2] {
        let opts = CompileOptions {
            threads,
            ..CompileOptions::default()
        };
        let m = compile_onnx(&qgap("qgap_ms.onnx"), &opts).unwrap();
        let gaps = |cl: bool| {
            count(
                &m,
                |o| matches!(o, Op::QLinearGlobalAveragePool { channels_last } if *channels_last == cl),
            )
        };
        assert_eq!((gaps(false), gaps(true)), (2, 1));
        let ins: Vec<Tensor> = ["xu.npy", "xi.npy", "xl.npy"]
            .iter()
            .map(|n| npy_at(&qgap(n)))
            .collect();
        let outs = m.run(&ins).unwrap();
        for (got, name) in outs.iter().zip(["ort_yu.npy", "ort_yi.npy", "ort_yl.npy"]) {
            let want = npy_at(&qgap(name));
            assert_eq!((got.dtype(), got.shape()), (want.dtype(), want.shape()));
            let worst = got
                .to_i64s()
                .iter()
                .zip(want.to_i64s())
                .map(|(a, b)| (a - b).abs())
                .max()
                .unwrap();
            println!("{name}, {threads} thread(s): max difference {worst} steps");
            assert!(worst <= 1, "{name}: {worst} steps from onnxruntime");
        }
    }
}

#[test]
fn qdq_global_average_pool_head_fuses_and_matches_onnxruntime() {
    let m = compile_onnx(&qgap("qgap_qdq.onnx"), &CompileOptions::default()).unwrap();
    // The head is one integer op: only the input's quantize and the
    // output's dequantize remain around it.
    assert_eq!(
        count(&m, |o| matches!(o, Op::QLinearGlobalAveragePool { .. })),
        1
    );
    assert_eq!(count(&m, |o| matches!(o, Op::GlobalAveragePool)), 0);
    assert_eq!(count(&m, |o| matches!(o, Op::QuantizeLinear { .. })), 1);
    assert_eq!(count(&m, |o| matches!(o, Op::DequantizeLinear { .. })), 1);
    let got = m.run(&[npy_at(&qgap("x.npy"))]).unwrap().remove(0);
    let want = npy_at(&qgap("ort_y.npy"));
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (
        got.as_slice::<f32>().unwrap(),
        want.as_slice::<f32>().unwrap(),
    );
    let worst = g
        .iter()
        .zip(w)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!(
        "QDQ head: {} of {} differ, max {worst}",
        g.iter().zip(w).filter(|(a, b)| a != b).count(),
        g.len()
    );
    // One step of y (scale 0.004).
    assert!(worst <= 0.004 * 1.001, "max difference {worst}");
}
