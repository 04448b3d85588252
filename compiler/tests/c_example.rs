//! The C example end to end: compile `examples/c/model.ir` to an object and
//! header, build `examples/c/main.c` against them and `libingot_capi.a` with
//! the system C compiler, run it, and check its printed outputs against the
//! model compiled in memory. Skips (saying why) without a C compiler.

use ingot_compiler::artifact::artifact_options;
use ingot_compiler::cobj;
use ingot_compiler::cpu::{compile, CompileOptions, CpuLevel};
use ingot_ir::Tensor;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn have_cc() -> bool {
    Command::new("cc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Build the static library with the profile this test was built with
/// (its dependencies are already compiled for it) and return its path.
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<dir>/deps/c_example-<hash>
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let profile = if dir.ends_with("release") {
        "release"
    } else {
        "test"
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(root())
        .args(["build", "-q", "--profile", profile, "-p", "ingot-capi"])
        .status()
        .unwrap();
    assert!(st.success(), "building ingot-capi failed");
    let lib = dir.join("libingot_capi.a");
    assert!(lib.exists(), "{} missing", lib.display());
    lib
}

#[test]
fn c_program_links_the_object_and_matches_the_api() {
    if !have_cc() {
        eprintln!("skipping: no C compiler (`cc`) on this machine");
        return;
    }
    let g = ingot_ir::parse(&std::fs::read_to_string(root().join("examples/c/model.ir")).unwrap())
        .unwrap();
    let opts = artifact_options(&CompileOptions::default(), CpuLevel::X86_64V3);
    let model = compile(&g, &opts).unwrap();
    let obj = cobj::emit(&model, "model").unwrap();
    assert!(obj.header.contains("IngotModel *model_create(int threads"));
    assert!(obj.header.contains("#define MODEL_INPUT_0_NUMEL 64"));
    let dir = std::env::temp_dir().join(format!("ingot-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.o"), &obj.object).unwrap();
    std::fs::write(dir.join("model.h"), &obj.header).unwrap();
    let exe = dir.join("c_example");
    let out = Command::new("cc")
        .args(["-O2", "-Wall", "-Werror", "-I"])
        .arg(&dir)
        .arg(root().join("examples/c/main.c"))
        .arg(dir.join("model.o"))
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(
        run.status.success(),
        "c_example failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: Vec<f32> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    // The same image main.c builds.
    let image: Vec<f32> = (0..64).map(|i| ((i * 37) % 17 - 8) as f32 / 8.0).collect();
    let x = Tensor::from_vec(&[1, 1, 8, 8], image).unwrap();
    let want = model.run(&[x]).unwrap();
    assert_eq!(got, want[0].as_slice::<f32>().unwrap(), "C and Rust differ");
    let sum: f32 = got.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "softmax sums to {sum}");
    std::fs::remove_dir_all(&dir).unwrap();
}
