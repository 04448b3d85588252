//! `fold-bn` + `fold-affine` + `dce` on real exported CNNs (ResNet-18,
//! MobileNetV2 from `scripts/export_models.py`), in `.cache/models` at the
//! workspace root or the folder named by `INGOT_MODELS`; skipped (passes,
//! printing why) when none is there.
//!
//! `INGOT_FOLD_MODEL=<file.onnx>` adds one more model. (TorchScript exports
//! fold batch norms already; dynamo exports keep them.)
//!
//! Checked: no batch norm with constant parameters is left; the result verifies; folding is idempotent.
//! Counts are printed (`--nocapture`). With `INGOT_FOLD_RUN=1` the interpreter also runs
//! both graphs on one random input (slow in debug builds) and the outputs
//! must agree to `|a-b| <= 1e-4·max(1, max|b|)`.

use ingot_compiler::onnx::import_onnx;
use ingot_ir::{interp, verify, Graph, Op, Tensor};
use ingot_passes::dce::dce;
use ingot_passes::fold_affine::fold_affine;
use ingot_passes::fold_bn::fold_bn;
use std::path::PathBuf;

fn count(g: &Graph, name: &str) -> usize {
    g.order()
        .iter()
        .filter(|&&n| g.node(n).op.name() == name)
        .count()
}

#[test]
fn cnn_batch_norms_fold_away() {
    let dir = std::env::var_os("INGOT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/models"));
    let mut models: Vec<PathBuf> = ["resnet18_ts", "resnet18_dynamo", "mobilenet_v2_dynamo"]
        .iter()
        .map(|m| dir.join(m).join("model.onnx"))
        .collect();
    models.extend(std::env::var_os("INGOT_FOLD_MODEL").map(PathBuf::from));
    models.retain(|p| p.exists());
    if models.is_empty() {
        eprintln!(
            "skipping fold_bn_resnet: no CNN models in {}",
            dir.display()
        );
        return;
    }
    for path in models {
        let before = import_onnx(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut g = before.clone();
        let (bn0, nodes0) = (count(&g, "batch_norm"), g.order().len());
        let t = std::time::Instant::now();
        fold_bn(&mut g);
        fold_affine(&mut g);
        dce(&mut g);
        let took = t.elapsed();
        verify::verify(&g).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (bn1, nodes1) = (count(&g, "batch_norm"), g.order().len());
        let (mul, add) = (count(&g, "mul"), count(&g, "add"));
        println!(
            "{}: batch_norm {bn0} -> {bn1}, nodes {nodes0} -> {nodes1} (mul {mul}, add {add}), {took:?}",
            path.display()
        );
        // Only a batch norm whose parameters are not constants may remain
        // (e.g. initializers also listed as graph inputs, which can be fed).
        for &n in g.order() {
            let nd = g.node(n);
            if let Op::BatchNorm { .. } = nd.op {
                let all_const = nd.inputs[1..].iter().all(|&v| g.const_value(v).is_some());
                assert!(
                    !all_const,
                    "{}: foldable batch norm left at {n}",
                    path.display()
                );
            }
        }
        assert!(!fold_bn(&mut g) && !fold_affine(&mut g), "idempotent");
        if std::env::var_os("INGOT_FOLD_RUN").is_some() {
            compare(&before, &g);
        }
    }
}

fn compare(before: &Graph, after: &Graph) {
    let mut rng = ingot_tests::gen::Rng::new(7);
    let inputs: Vec<Tensor> = before
        .inputs()
        .iter()
        .map(|&v| {
            let ty = before.ty(v);
            let dims: Vec<usize> = ty
                .shape
                .iter()
                .map(|d| d.as_known().map_or(1, |k| k as usize))
                .collect();
            let n = dims.iter().product();
            let vals: Vec<f64> = (0..n)
                .map(|_| (rng.next_u64() % 2001) as f64 / 1000.0 - 1.0)
                .collect();
            Tensor::from_f64s(ty.dtype, &dims, &vals).unwrap()
        })
        .collect();
    let want = interp::run(before, &inputs).unwrap();
    let got = interp::run(after, &inputs).unwrap();
    for (a, b) in got.iter().zip(&want) {
        let bv = b.to_f64s();
        let big = bv.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        let worst = a
            .to_f64s()
            .iter()
            .zip(&bv)
            .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
        println!("max |diff| {worst:e} (max |out| {big})");
        assert!(worst <= 1e-4 * big, "outputs differ by {worst}");
    }
}
