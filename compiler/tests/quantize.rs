//! INT8 post-training quantization through the library on
//! `examples/digits` (a small CNN with onnxruntime's own QDQ version beside
//! it, see its README): accuracy of every calibration method on the
//! held-out set, parameters against onnxruntime's `quantize_static`, the
//! QDQ layout, the table round trip, sensitivity and the accuracy budget,
//! and the errors users meet. The `ingot quantize` command: `quantize_cli.rs`.

mod quant_support;

use ingot_compiler::cpu::{compile, CompileOptions};
use ingot_compiler::quantize::{
    calibrate, quantize, quantize_measured, sqnr, CalibrationTable, Method, NoProgress,
    QuantizeError, QuantizeOptions,
};
use ingot_ir::{Graph, Op, Tensor};
use quant_support::{calib, digits, model, read_npy, root, table, tmp};
use std::collections::BTreeMap;

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
        // The input is k/16 for k in 0..=16, half of it zeros: every
        // method keeps its whole range (a discrete input once fooled the
        // entropy search into clipping it at 1/8).
        let first = report
            .layers
            .iter()
            .find(|l| l.name == "/conv1/Conv")
            .unwrap();
        assert_eq!(first.input_params.scale, 1.0 / 255.0, "{}", m.name());
    }
}

/// The scale and zero point of the `quantize_linear` whose result is named
/// `name` (the constants it reads).
fn q_params(g: &Graph, name: &str) -> Option<(f32, i64)> {
    let v = g.value_named(name)?;
    let n = g.producer(v)?;
    let nd = g.node(n);
    if !matches!(nd.op, Op::QuantizeLinear { .. }) {
        return None;
    }
    let s = g.const_value(nd.inputs[1])?.as_slice::<f32>().unwrap()[0];
    let z = g.const_value(nd.inputs[2])?.to_i64s()[0];
    Some((s, z))
}

fn close(a: f32, b: f32, rel: f32) -> bool {
    (a - b).abs() <= rel * b.abs().max(a.abs())
}

/// onnxruntime's `quantize_static` (MinMax, per channel) made
/// `digits_cnn.qdq.onnx` from the same model and calibration files: our
/// min-max parameters must be its parameters (f32 runs differ in the last
/// bits, so scales agree to 1e-5, zero points exactly).
#[test]
fn minmax_parameters_are_onnxruntimes() {
    let ort = ingot_compiler::onnx::import_onnx(&digits("digits_cnn.qdq.onnx")).unwrap();
    let (ours, _) = quantize(&model(), table(), &opts(Method::MinMax)).unwrap();
    let mut compared = 0;
    for &n in ort.order() {
        let nd = ort.node(n);
        if !matches!(nd.op, Op::QuantizeLinear { .. }) {
            continue;
        }
        let name = ort.name_of(nd.outputs[0]).unwrap();
        let want = q_params(&ort, name).unwrap();
        let got = q_params(&ours, name).unwrap_or_else(|| panic!("no `{name}` in ours"));
        assert!(
            close(got.0, want.0, 1e-5) && got.1 == want.1,
            "{name}: ours {got:?}, onnxruntime {want:?}"
        );
        compared += 1;
    }
    assert_eq!(compared, 9);
    // Per-channel weight scales, and the i32 biases (±1 where the scales'
    // last bits differ).
    for w in [
        "dw.weight",
        "pw.weight",
        "conv3.weight",
        "fc1.weight",
        "fc2.weight",
    ] {
        let name = format!("{w}_scale");
        let a = ours.const_value(ours.value_named(&name).unwrap()).unwrap();
        let b = ort.const_value(ort.value_named(&name).unwrap()).unwrap();
        assert_eq!(a.shape(), b.shape(), "{name}");
        for (x, y) in a.to_f64s().iter().zip(b.to_f64s()) {
            assert!(close(*x as f32, y as f32, 1e-5), "{name}: {x} vs {y}");
        }
    }
    for b in ["dw.bias", "pw.bias", "conv3.bias", "fc1.bias", "fc2.bias"] {
        let name = format!("{b}_quantized");
        let a = ours.const_value(ours.value_named(&name).unwrap()).unwrap();
        let c = ort.const_value(ort.value_named(&name).unwrap()).unwrap();
        assert_eq!(a.dtype(), ingot_ir::DType::I32);
        for (x, y) in a.to_i64s().iter().zip(c.to_i64s()) {
            assert!((x - y).abs() <= 1, "{name}: {x} vs {y}");
        }
    }
}

/// Our min-max model computes what onnxruntime's QDQ model computes, to
/// one step of the output's scale (onnxruntime's own optimized and
/// unoptimized runs differ by that much, see the digits README).
#[test]
fn minmax_outputs_match_onnxruntimes_qdq_model() {
    let (g, report) = quantize(&model(), table(), &opts(Method::MinMax)).unwrap();
    let step = report.layers.last().unwrap().output_params.scale;
    let x = read_npy(&digits("test_x.npy"));
    let ours = compile(&g, &CompileOptions::default())
        .unwrap()
        .run(&[x])
        .unwrap()
        .remove(0);
    let want = read_npy(&digits("ort_qdq_logits.npy"));
    let (a, b) = (
        ours.as_slice::<f32>().unwrap(),
        want.as_slice::<f32>().unwrap(),
    );
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
    eprintln!(
        "vs onnxruntime: max |diff| {worst} ({differing} of {} differ)",
        a.len()
    );
    assert!(worst <= step * 1.001, "{worst} > one step {step}");
}

/// The layout onnxruntime writes (see the digits README): a pair on the
/// input, DQ(i8 weight, axis 0), DQ(i32 bias), the op, a pair on its output;
/// ReLUs gone; max pool and flatten between pairs with their input's
/// parameters.
#[test]
fn qdq_layout_is_onnxruntimes() {
    let (g, report) = quantize(&model(), table(), &opts(Method::MinMax)).unwrap();
    let want: BTreeMap<&str, usize> = [
        ("conv", 4),
        ("gemm", 2),
        ("max_pool", 1),
        ("flatten", 1),
        ("quantize_linear", 9),
        ("dequantize_linear", 21),
    ]
    .into_iter()
    .collect();
    assert_eq!(op_counts(&g), want);
    assert!(report.layers.iter().take(5).all(|l| l.relu_dropped));
    let users = g.users();
    let producer_op = |v| g.producer(v).map(|n| &g.node(n).op);
    for &n in g.order() {
        let nd = g.node(n);
        if !matches!(nd.op, Op::Conv { .. } | Op::Gemm { .. }) {
            continue;
        }
        let dq = |i: usize| {
            let p = g.producer(nd.inputs[i]).unwrap();
            assert!(
                matches!(g.node(p).op, Op::DequantizeLinear { .. }),
                "{n} operand {i}"
            );
            g.node(p)
        };
        // Activation: DQ of a u8 Q.
        let x = dq(0);
        assert!(matches!(
            producer_op(x.inputs[0]),
            Some(Op::QuantizeLinear { .. })
        ));
        assert_eq!(g.ty(x.inputs[0]).dtype, ingot_ir::DType::U8);
        // Weight: DQ of an i8 constant, per output channel along axis 0.
        let w = dq(1);
        let wq = g.const_value(w.inputs[0]).unwrap();
        assert_eq!(wq.dtype(), ingot_ir::DType::I8);
        assert_eq!(
            w.op,
            Op::DequantizeLinear {
                axis: 0,
                block_size: 0
            }
        );
        let ws = g.const_value(w.inputs[1]).unwrap();
        assert_eq!(ws.shape(), &[wq.shape()[0]]);
        assert!(g
            .const_value(w.inputs[2])
            .unwrap()
            .to_i64s()
            .iter()
            .all(|&z| z == 0));
        // Bias: DQ of an i32 constant, scale = s_x · s_w.
        let b = dq(2);
        assert_eq!(
            g.const_value(b.inputs[0]).unwrap().dtype(),
            ingot_ir::DType::I32
        );
        let s_x = g
            .const_value(x.inputs[1])
            .unwrap()
            .as_slice::<f32>()
            .unwrap()[0];
        let bs = g
            .const_value(b.inputs[1])
            .unwrap()
            .as_slice::<f32>()
            .unwrap();
        for (c, s_w) in ws.as_slice::<f32>().unwrap().iter().enumerate() {
            assert_eq!(bs[c], s_x * s_w);
        }
        // Output: its only user is a quantize_linear.
        let u = &users[&nd.outputs[0]];
        assert_eq!(u.len(), 1);
        assert!(matches!(g.node(u[0]).op, Op::QuantizeLinear { .. }));
    }
    // Max pool's pair reuses its input's parameters.
    let mp = q_params(&g, "/pool/MaxPool_output_0_QuantizeLinear_Output").unwrap();
    assert_eq!(
        mp,
        q_params(&g, "/Relu_2_output_0_QuantizeLinear_Output").unwrap()
    );
    // The graph's output keeps its name.
    assert_eq!(g.name_of(g.outputs()[0]), Some("logits"));

    // Keeping the ReLUs: same pairs, ReLUs before the output pairs.
    let keep = QuantizeOptions {
        fold_relu: false,
        ..QuantizeOptions::default()
    };
    let (g, _) = quantize(&model(), table(), &keep).unwrap();
    assert_eq!(op_counts(&g)["relu"], 5);
    assert_eq!(op_counts(&g)["quantize_linear"], 9);
    assert!(accuracy(&g) >= 0.99);
}

/// `per_channel: false`: one scale per weight tensor (a scalar scale, so
/// DequantizeLinear's axis does not matter).
#[test]
fn per_tensor_weights_have_one_scale() {
    let o = QuantizeOptions {
        per_channel: false,
        ..QuantizeOptions::default()
    };
    let (g, report) = quantize(&model(), table(), &o).unwrap();
    for name in [
        "dw.weight_scale",
        "fc1.weight_scale",
        "fc2.bias_quantized_scale",
    ] {
        let t = g.const_value(g.value_named(name).unwrap()).unwrap();
        let want: &[usize] = if name.contains("bias") { &[10] } else { &[] };
        assert_eq!(t.shape(), want, "{name}");
    }
    assert!(report.layers.iter().all(|l| l.weight_scales == 1));
    let acc = accuracy(&g);
    eprintln!("per-tensor weights: accuracy {:.2}%", acc * 100.0);
    assert!(acc >= 0.97, "{acc}");
}

#[test]
fn tables_round_trip_through_json_and_files() {
    let t = table();
    assert_eq!(t.samples, 100);
    assert_eq!(t.tensors.len(), 9);
    // (No assert_eq: a failure would print every histogram.)
    let back = CalibrationTable::from_json(&t.to_json()).unwrap();
    assert!(&back == t, "the JSON round trip changed the table");
    let d = tmp("table");
    let p = d.join("digits.calib.json");
    t.save(&p).unwrap();
    let loaded = CalibrationTable::load(&p).unwrap();
    assert!(&loaded == t, "the file round trip changed the table");
    // The same table gives the same graph.
    for m in [Method::Entropy, Method::Percentile] {
        let a = quantize(&model(), t, &opts(m)).unwrap().0;
        let b = quantize(&model(), &loaded, &opts(m)).unwrap().0;
        assert!(a == b, "{}", m.name());
    }
    // Foreign or damaged files are named as such.
    let e = CalibrationTable::from_json(r#"{"a": 1}"#).unwrap_err();
    assert!(e.to_string().contains("not a calibration table"), "{e}");
    let newer = t.to_json().replace(r#""version":1"#, r#""version":9"#);
    let e = CalibrationTable::from_json(&newer).unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
    std::fs::write(&p, "{").unwrap();
    let e = CalibrationTable::load(&p).unwrap_err();
    assert!(e.to_string().contains("digits.calib.json"), "{e}");
    // A table for another model names the first tensor it lacks.
    let mlp =
        ingot_ir::parse(&std::fs::read_to_string(root().join("examples/mlp.ir")).unwrap()).unwrap();
    let e = quantize(&mlp, t, &QuantizeOptions::default()).unwrap_err();
    assert!(
        matches!(&e, QuantizeError::Table(m) if m.contains("has no entry for tensor `act0`")),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn sensitivity_ranks_every_layer_and_the_budget_keeps_layers_f32() {
    let data = calib();
    let (g, report) = quantize_measured(
        &model(),
        table(),
        &data,
        &QuantizeOptions::default(),
        &NoProgress,
    )
    .unwrap();
    eprintln!("{report}");
    assert_eq!(report.layers.len(), 6);
    assert!(report
        .layers
        .iter()
        .all(|l| l.sqnr_db.is_some() && !l.kept_f32));
    let ranked = report.ranked();
    for w in ranked.windows(2) {
        assert!(w[0].sqnr_db.unwrap() <= w[1].sqnr_db.unwrap());
    }
    // Every layer quantized alone costs less than all of them together.
    let all = report.all_int8_sqnr_db.unwrap();
    assert!(all.is_finite() && all > 20.0, "{all}");
    assert!(ranked[0].sqnr_db.unwrap() > all);
    assert_eq!(report.model_sqnr_db, Some(all));
    // The measurement (simulated in f32 ops) is what the QDQ graph gives.
    let f32m = compile(&model(), &CompileOptions::default()).unwrap();
    let q = compile(&g, &CompileOptions::default()).unwrap();
    let reference: Vec<Vec<Tensor>> = data.iter().map(|s| f32m.run(s).unwrap()).collect();
    let got: Vec<Vec<Tensor>> = data.iter().map(|s| q.run(s).unwrap()).collect();
    let measured = sqnr(&reference, &got);
    assert!(
        (measured - all).abs() < 1e-6,
        "QDQ {measured} vs simulated {all}"
    );

    // A budget above the all-INT8 SQNR keeps the most sensitive layers f32.
    let budget = all + 3.0;
    let strict = QuantizeOptions {
        accuracy_budget: Some(budget),
        ..QuantizeOptions::default()
    };
    let (g, report) = quantize_measured(&model(), table(), &data, &strict, &NoProgress).unwrap();
    eprintln!("{report}");
    let kept: Vec<&str> = report
        .layers
        .iter()
        .filter(|l| l.kept_f32)
        .map(|l| l.name.as_str())
        .collect();
    assert!(!kept.is_empty());
    assert!(report.model_sqnr_db.unwrap() >= budget);
    assert_eq!(kept[0], ranked[0].name, "the most sensitive goes first");
    // A kept layer has no pairs of its own: its weight is f32 again.
    let conv_or_gemm = g
        .order()
        .iter()
        .filter(|&&n| g.node(n).loc.as_deref() == Some(kept[0]))
        .count();
    assert_eq!(conv_or_gemm, 1);
    assert!(op_counts(&g)["quantize_linear"] < 9);
    assert!(accuracy(&g) >= 0.99);

    // An unreachable budget leaves every layer f32.
    let impossible = QuantizeOptions {
        accuracy_budget: Some(1000.0),
        ..QuantizeOptions::default()
    };
    let (g, report) =
        quantize_measured(&model(), table(), &data[..10], &impossible, &NoProgress).unwrap();
    assert_eq!(report.quantized(), 0);
    assert_eq!(report.model_sqnr_db, Some(f64::INFINITY));
    assert!(!op_counts(&g).contains_key("quantize_linear"));
}

/// Gemm without transB and MatMul take per-channel scales along axis 1
/// (the output-channel axis of B); a matmul whose weight is an input is
/// not quantized.
#[test]
fn weight_axes_follow_the_output_channel() {
    let src = "graph @f(%x: f32[batch,4], %w: f32[3,5]) -> f32[batch,3], f32[batch,5] {
      %a = const f32[4,3] [0.5, -1.0, 0.25, 1.0, 0.5, -0.5, -0.25, 2.0, 1.0, 0.75, -0.75, 0.125]
      %b = const f32[3] [0.1, -0.2, 0.3]
      %c = const f32[3,3] [1.0, 0.0, 0.5, -0.5, 1.0, 0.0, 0.25, 0.25, 1.0]
      %y = gemm %x, %a, %b {alpha=1.0, beta=1.0, trans_a=false, trans_b=false} : f32[batch,3]
      %z = matmul %y, %c : f32[batch,3]
      %u = matmul %z, %w : f32[batch,5]
      return %z, %u
    }";
    let g = ingot_ir::parse(src).unwrap();
    let samples: Vec<Vec<Tensor>> = (0..8)
        .map(|k| {
            let x: Vec<f32> = (0..8)
                .map(|i| ((i * 7 + k * 3) % 11) as f32 / 5.0 - 1.0)
                .collect();
            let w: Vec<f32> = (0..15).map(|i| (i as f32 - 7.0) / 7.0).collect();
            vec![
                Tensor::from_vec(&[2, 4], x).unwrap(),
                Tensor::from_vec(&[3, 5], w).unwrap(),
            ]
        })
        .collect();
    let t = calibrate(
        &g,
        samples.clone(),
        &QuantizeOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let (q, report) =
        quantize_measured(&g, &t, &samples, &QuantizeOptions::default(), &NoProgress).unwrap();
    eprintln!("{report}");
    assert_eq!(report.layers.len(), 2);
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].why.contains("computed at run time"));
    assert!(report.model_sqnr_db.unwrap() > 30.0, "{report}");
    for (layer, name) in [("gemm", "a"), ("matmul", "c")] {
        let w = q.value_named(&format!("{name}_quantized")).unwrap();
        let dq = q.users()[&w][0];
        assert_eq!(
            q.node(dq).op,
            Op::DequantizeLinear {
                axis: 1,
                block_size: 0
            },
            "{layer}"
        );
        let scale = q.const_value(q.node(dq).inputs[1]).unwrap();
        assert_eq!(scale.shape(), &[3], "{layer}");
    }
}

#[test]
fn library_errors_name_the_problem() {
    let o = QuantizeOptions::default();
    let e = calibrate(&model(), Vec::<Vec<Tensor>>::new(), &o, &NoProgress).unwrap_err();
    assert!(matches!(e, QuantizeError::NoSamples), "{e}");
    let wrong = vec![vec![Tensor::from_vec(&[1, 8, 8], vec![0f32; 64]).unwrap()]];
    let e = calibrate(&model(), wrong, &o, &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("sample 0:") && msg.contains("`x`") && msg.contains("f32[batch,1,8,8]"),
        "{msg}"
    );
    let two = vec![vec![read_npy(&digits("calib/000.npy")); 2]];
    let e = calibrate(&model(), two, &o, &NoProgress).unwrap_err();
    assert!(
        e.to_string()
            .contains("2 tensor(s) given, the model takes 1"),
        "{e}"
    );
    let g = ingot_ir::parse(
        "graph @plain(%x: f32[2,3], %w: f32[3,3]) -> f32[2,3] {
           %y = matmul %x, %w : f32[2,3]
           %z = relu %y : f32[2,3]
           return %z
         }",
    )
    .unwrap();
    let e = calibrate(&g, vec![], &o, &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("`plain` has nothing to quantize") && msg.contains("computed at run time"),
        "{msg}"
    );
    let bad = QuantizeOptions {
        percentile: 120.0,
        ..o
    };
    let e = quantize(&model(), table(), &bad).unwrap_err();
    assert!(e.to_string().contains("percentile 120"), "{e}");
}
