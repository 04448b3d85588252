//! Real exported models (torchvision ResNet/MobileNet, HuggingFace BERT and
//! GPT-2, each exported with TorchScript and dynamo) on the reference
//! interpreter vs onnxruntime, through the `model_check` binary.
//!
//! The models are made by `scripts/export_models.py` (needs torch,
//! torchvision, transformers, onnxscript, onnxruntime) into `.cache/models`
//! at the workspace root, or the folder named by `INGOT_MODELS`. When that
//! folder is missing the test prints why and passes: the Rust-only CI leg
//! cannot make the models. `INGOT_REQUIRE_MODELS=1` turns the skip into a
//! failure (for the CI leg that ran the export).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn real_models_match_onnxruntime() {
    let dir = std::env::var_os("INGOT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".cache")
                .join("models")
        });
    let has_models = std::fs::read_dir(&dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| e.path().join("model.onnx").exists())
    });
    if !has_models {
        let why = format!(
            "no exported models in {} (run `python3 scripts/export_models.py`)",
            dir.display()
        );
        assert!(
            std::env::var_os("INGOT_REQUIRE_MODELS").is_none(),
            "INGOT_REQUIRE_MODELS is set but there are {why}"
        );
        eprintln!("skipping real_models: {why}");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_model_check"))
        .arg(&dir)
        .output()
        .expect("model_check runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "model_check failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("PASS"), "no model was checked:\n{stdout}");
}
