//! ONNX importer tests: fixtures in `tests/onnx/` (made by
//! `scripts/make_onnx_fixtures.py`), robustness against damaged files,
//! the aggregated unsupported-op error, and external-data path checks.

use ingot_compiler::onnx::proto::tensor_proto::{DataLocation, DataType};
use ingot_compiler::onnx::proto::{
    type_proto, GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use ingot_compiler::onnx::{import_onnx, import_onnx_bytes, OnnxError};
use ingot_ir::{Op, Tensor};
use prost::Message;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("onnx")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture exists (scripts/make_onnx_fixtures.py)")
}

#[test]
fn constant_if_folds_and_runtime_if_is_compiled() {
    let g = import_onnx(&fixture("const_if.onnx")).unwrap();
    let ifs = g
        .order()
        .iter()
        .filter(|&&n| matches!(g.node(n).op, Op::If { .. }))
        .count();
    assert_eq!(ifs, 2, "the constant-condition If folds, the others stay");
    let x = Tensor::from_vec(&[2], vec![-1.5f32, 2.5]).unwrap();
    for (c, picked, captured) in [
        (true, [5.0, 6.0], [-1.5, 2.5]),
        (false, [7.0, 8.0], [9.0, 9.0]),
    ] {
        let cond = Tensor::from_bools(&[], &[c]).unwrap();
        let out = ingot_ir::interp::run(&g, &[cond, x.clone()]).unwrap();
        assert_eq!(out[0].to_f64s(), vec![1.0, 2.0]);
        assert_eq!(out[1].to_f64s(), picked.to_vec());
        assert_eq!(out[2].to_f64s(), captured.to_vec(), "nested capture of x");
    }
    let loc = g.order().iter().find_map(|&n| g.node(n).loc.clone());
    assert!(loc.is_some(), "nodes carry the ONNX node name as loc");
}

#[test]
fn tiny_mlp_imports_and_runs() {
    let g = import_onnx(&fixture("tiny_mlp.onnx")).unwrap();
    // W and b are listed as inputs too (old IR style): they are constants.
    assert_eq!(g.inputs().len(), 1);
    assert_eq!(g.name_of(g.inputs()[0]), Some("x"));
    assert_eq!(g.ty(g.inputs()[0]).to_string(), "f32[batch,4]");
    let x = Tensor::from_vec(&[2, 4], vec![1.0f32, 0.0, -1.0, 2.0, 0.5, 0.5, 0.5, 0.5]).unwrap();
    let y = ingot_ir::interp::run(&g, std::slice::from_ref(&x)).unwrap();
    let w: Vec<f32> = (0..12).map(|i| i as f32 / 10.0 - 0.5).collect();
    let b = [0.1f32, -0.2, 0.3];
    let xs = x.as_slice::<f32>().unwrap();
    let mut want = vec![];
    for r in 0..2 {
        for c in 0..3 {
            let s: f32 = (0..4).map(|k| xs[r * 4 + k] * w[k * 3 + c]).sum::<f32>() + b[c];
            want.push(f64::from(s.max(0.0)));
        }
    }
    let got = y[0].to_f64s();
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn unsupported_ops_are_listed_together() {
    let e = import_onnx(&fixture("unsupported.onnx")).unwrap_err();
    let OnnxError::Unsupported(list) = &e else {
        panic!("expected an Unsupported error, got {e}");
    };
    let msg = e.to_string();
    assert_eq!(list.len(), 3, "{msg}");
    let frob = list
        .iter()
        .find(|u| u.op_type == "Frobnicate")
        .expect("Frobnicate");
    assert_eq!(frob.domain, "com.example");
    assert_eq!(frob.opset, 1);
    assert_eq!(frob.nodes, vec!["frob_a", "frob_b"]);
    for needle in [
        "ai.onnx::StringNormalizer (opset 20)",
        "strnorm_1",
        "ImageDecoder",
        "decode",
    ] {
        assert!(msg.contains(needle), "{needle} missing from:\n{msg}");
    }
    assert!(!msg.contains("Relu"), "{msg}");
}

/// Import must return (Ok or Err) without panicking.
fn no_panic(what: &str, bytes: &[u8]) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(|| import_onnx_bytes(bytes, None))) {
        Ok(_) => None,
        Err(_) => Some(what.to_string()),
    }
}

#[test]
fn damaged_files_give_errors_not_panics() {
    let mut panics = vec![];
    for name in ["tiny_mlp.onnx", "const_if.onnx", "unsupported.onnx"] {
        let good = fixture_bytes(name);
        for len in 0..good.len() {
            panics.extend(no_panic(
                &format!("{name} truncated to {len}"),
                &good[..len],
            ));
        }
        for bit in 0..good.len() * 8 {
            let mut b = good.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            panics.extend(no_panic(&format!("{name} bit {bit} flipped"), &b));
        }
        for at in 0..good.len() {
            // A byte set to 0xff turns lengths and varints huge.
            let mut b = good.clone();
            b[at] = 0xff;
            panics.extend(no_panic(&format!("{name} byte {at} = 0xff"), &b));
        }
    }
    assert!(panics.is_empty(), "panicked on: {panics:?}");
    assert!(matches!(
        import_onnx_bytes(b"\x0a\xff\xff\xff\xff\x0f", None),
        Err(OnnxError::Decode(_))
    ));
}

#[test]
fn inflated_tensor_sizes_are_rejected_before_allocation() {
    let good = fixture_bytes("tiny_mlp.onnx");
    let model = ModelProto::decode(good.as_slice()).unwrap();
    for dims in [
        vec![1i64 << 40, 1 << 20],
        vec![i64::MAX, 2],
        vec![4, 3, 1 << 30],
        vec![-4, 3],
    ] {
        let mut m = model.clone();
        let g = m.graph.as_mut().unwrap();
        let w = g
            .initializer
            .iter_mut()
            .find(|t| t.name.as_deref() == Some("W"))
            .unwrap();
        w.dims = dims.clone();
        let e = import_onnx_bytes(&m.encode_to_vec(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tensor `W`"), "{dims:?}: {e}");
    }
}

// ---- External data -------------------------------------------------------

/// A model whose only output is a 4-element f32 initializer stored
/// externally at `location`.
fn external_model(location: &str, offset: Option<u64>, length: Option<u64>) -> Vec<u8> {
    let mut kv = vec![StringStringEntryProto {
        key: Some("location".into()),
        value: Some(location.into()),
    }];
    for (k, v) in [("offset", offset), ("length", length)] {
        if let Some(v) = v {
            kv.push(StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v.to_string()),
            });
        }
    }
    let w = TensorProto {
        name: Some("w".into()),
        data_type: Some(DataType::Float as i32),
        dims: vec![4],
        data_location: Some(DataLocation::External as i32),
        external_data: kv,
        ..Default::default()
    };
    let out = ValueInfoProto {
        name: Some("w".into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim: vec![] }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            name: Some("ext".into()),
            initializer: vec![w],
            output: vec![out],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A fresh folder under the target dir with `model/weights.bin` (8 floats)
/// and `outside.bin` beside `model/`.
fn external_dir(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("ingot-ext-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("model/sub")).unwrap();
    let data: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    std::fs::write(root.join("model/weights.bin"), &data).unwrap();
    std::fs::write(root.join("model/sub/w.bin"), &data).unwrap();
    std::fs::write(root.join("outside.bin"), &data).unwrap();
    root
}

fn import_in(dir: &Path, bytes: &[u8]) -> Result<ingot_ir::Graph, OnnxError> {
    std::fs::write(dir.join("model.onnx"), bytes).unwrap();
    import_onnx(&dir.join("model.onnx"))
}

#[test]
fn external_data_is_read_from_the_model_folder() {
    let root = external_dir("ok");
    let dir = root.join("model");
    let g = import_in(&dir, &external_model("weights.bin", Some(16), Some(16))).unwrap();
    let out = ingot_ir::interp::run(&g, &[]).unwrap();
    assert_eq!(out[0].to_f64s(), vec![4.0, 5.0, 6.0, 7.0]);
    let g = import_in(&dir, &external_model("sub/w.bin", None, None)).unwrap();
    let out = ingot_ir::interp::run(&g, &[]).unwrap();
    assert_eq!(out[0].to_f64s(), vec![0.0, 1.0, 2.0, 3.0]);
    // Without a folder there is nowhere to read from.
    let e = import_onnx_bytes(&external_model("weights.bin", None, None), None).unwrap_err();
    assert!(e.to_string().contains("tensor `w`"), "{e}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn external_data_outside_the_folder_is_rejected() {
    let root = external_dir("bad");
    let dir = root.join("model");
    let outside = root.join("outside.bin");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, dir.join("link.bin")).unwrap();
    let abs = outside.display().to_string();
    let mut cases = vec![
        (abs.as_str(), "absolute"),
        ("../outside.bin", ".."),
        ("sub/../../outside.bin", ".."),
        ("missing.bin", "cannot open"),
    ];
    if cfg!(unix) {
        cases.push(("link.bin", "outside the model folder"));
    }
    for (loc, why) in cases {
        let e = import_in(&dir, &external_model(loc, None, None)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, OnnxError::ExternalData { .. }), "{loc}: {msg}");
        assert!(
            msg.contains("tensor `w`") && msg.contains(loc),
            "{loc}: {msg}"
        );
        assert!(msg.contains(why), "{loc}: expected {why:?} in {msg}");
    }
    // Ranges past the end of the file, and lengths that disagree with the shape.
    for (off, len, why) in [
        (Some(24), None, "file holds 32"),
        (Some(u64::MAX - 4), None, "overflows"),
        (None, Some(12), "length 12"),
    ] {
        let e = import_in(&dir, &external_model("weights.bin", off, len)).unwrap_err();
        assert!(e.to_string().contains(why), "{off:?} {len:?}: {e}");
    }
    let _ = std::fs::remove_dir_all(root);
}

/// Found by the `onnx_import` fuzz target: a mutated model whose graph lists
/// no outputs used to import into a graph the verifier rejects.
#[test]
fn a_graph_without_outputs_is_an_error() {
    let e = import_onnx(&fixture("fuzz_no_outputs.onnx")).unwrap_err();
    assert!(e.to_string().contains("no outputs"), "{e}");
}
