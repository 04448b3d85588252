//! The `ingot quantize` command end to end on `examples/digits`: an
//! artifact that runs and keeps the accuracy, saved and reused tables,
//! samples in one subfolder per input, and the errors users meet.

mod quant_support;

use ingot_compiler::quantize::CalibrationTable;
use quant_support::{digits, read_npy, root, table, tmp};
use std::path::Path;
use std::process::{Command, Output};

fn ingot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ingot"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn user_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("error:") && err.contains("hint:"), "{err}");
    assert!(err.contains(needle), "`{needle}` not in:\n{err}");
}

fn write_npy(p: &Path, shape: &[u64], v: &[f32]) {
    use npyz::WriterBuilder;
    let f = std::fs::File::create(p).unwrap();
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(shape)
        .writer(f)
        .begin_nd()
        .unwrap();
    w.extend(v.iter().copied()).unwrap();
    w.finish().unwrap();
}

#[test]
fn cli_quantizes_to_an_artifact_that_runs() {
    let d = tmp("cli");
    let art = d.join("digits.int8.ingot");
    let tab = d.join("digits.calib.json");
    let out = ok(&ingot(&[
        "quantize",
        "examples/digits/digits_cnn.onnx",
        "--calib",
        "examples/digits/calib",
        "--save-table",
        tab.to_str().unwrap(),
        "-o",
        art.to_str().unwrap(),
    ]));
    eprintln!("{out}");
    for layer in [
        "/conv1/Conv",
        "/dw/Conv",
        "/pw/Conv",
        "/conv3/Conv",
        "/fc1/Gemm",
        "/fc2/Gemm",
    ] {
        assert!(out.contains(layer), "{layer} not in:\n{out}");
    }
    assert!(
        out.contains("6 of 6 layers in INT8") && out.contains("model output SQNR"),
        "{out}"
    );
    assert_eq!(CalibrationTable::load(&tab).unwrap().samples, 100);
    // Run the artifact on the test set.
    let dir = d.join("out");
    ok(&ingot(&[
        "run",
        art.to_str().unwrap(),
        "--input",
        "x=examples/digits/test_x.npy",
        "--output-dir",
        dir.to_str().unwrap(),
    ]));
    let logits = read_npy(&dir.join("logits.npy"));
    let labels = read_npy(&digits("test_y.npy"));
    let (l, y) = (
        logits.as_slice::<f32>().unwrap(),
        labels.as_slice::<i64>().unwrap(),
    );
    let right = (0..y.len())
        .filter(|&i| {
            let row = &l[i * 10..(i + 1) * 10];
            (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap() as i64 == y[i]
        })
        .count();
    eprintln!("artifact accuracy: {right}/360");
    assert!(right >= 357, "{right}/360");
    // The saved table, another method, the IR text out; the text runs.
    let ir = d.join("digits.int8.ir");
    ok(&ingot(&[
        "quantize",
        "examples/digits/digits_cnn.onnx",
        "--table",
        tab.to_str().unwrap(),
        "--method",
        "mse",
        "-o",
        ir.to_str().unwrap(),
    ]));
    let s = ok(&ingot(&[
        "run",
        ir.to_str().unwrap(),
        "--input",
        "x=examples/digits/calib/000.npy",
    ]));
    assert!(
        s.contains("output 0 %logits: f32[batch,10] = f32[1,10]"),
        "{s}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A two-input model reads its samples from one subfolder per input.
#[test]
fn cli_reads_one_subfolder_per_input() {
    let d = tmp("two");
    let model = d.join("two.ir");
    std::fs::write(
        &model,
        "graph @two(%a: f32[1,4], %b: f32[1,4]) -> f32[1,3] {
  %w = const f32[4,3] [0.5, -1.0, 0.25, 1.0, 0.5, -0.5, -0.25, 2.0, 1.0, 0.75, -0.75, 0.125]
  %s = add %a, %b : f32[1,4]
  %y = matmul %s, %w : f32[1,3]
  return %y
}
",
    )
    .unwrap();
    let calib = d.join("calib");
    for input in ["a", "b"] {
        std::fs::create_dir_all(calib.join(input)).unwrap();
        for k in 0..4 {
            let v: Vec<f32> = (0..4).map(|i| (i * 3 + k) as f32 / 7.0 - 0.5).collect();
            write_npy(&calib.join(input).join(format!("{k:03}.npy")), &[1, 4], &v);
        }
    }
    let (m, c) = (model.to_str().unwrap(), calib.to_str().unwrap());
    let out = d.join("two.ingot");
    let s = ok(&ingot(&[
        "quantize",
        m,
        "--calib",
        c,
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(
        s.contains("1 of 1 layers in INT8") && s.contains("on 4 samples"),
        "{s}"
    );
    // Unequal counts, and a folder without subfolders, are named.
    std::fs::remove_file(calib.join("b/003.npy")).unwrap();
    user_error(
        &ingot(&["quantize", m, "--calib", c, "-o", out.to_str().unwrap()]),
        "the subfolder of input `b` holds 3 samples, that of `a` 4",
    );
    user_error(
        &ingot(&[
            "quantize",
            m,
            "--calib",
            calib.join("a").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]),
        "needs a subfolder per input",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn cli_errors_name_the_problem() {
    let d = tmp("errors");
    let model = "examples/digits/digits_cnn.onnx";
    let out = d.join("x.ingot");
    let out = out.to_str().unwrap();
    // An empty calibration folder.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    user_error(
        &ingot(&[
            "quantize",
            model,
            "--calib",
            empty.to_str().unwrap(),
            "-o",
            out,
        ]),
        "no .npy files in",
    );
    // A sample of the wrong shape names its file and the expected type.
    let bad = d.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(digits("calib/000.npy"), bad.join("000.npy")).unwrap();
    write_npy(&bad.join("001.npy"), &[1, 8, 8], &[0.5; 64]);
    let o = ingot(&[
        "quantize",
        model,
        "--calib",
        bad.to_str().unwrap(),
        "-o",
        out,
    ]);
    user_error(&o, "001.npy");
    user_error(&o, "expected f32[batch,1,8,8]");
    // A model with nothing to quantize.
    let plain = d.join("plain.ir");
    std::fs::write(
        &plain,
        "graph @plain(%x: f32[1,1,8,8]) -> f32[1,1,8,8] {\n  %y = relu %x : f32[1,1,8,8]\n  return %y\n}\n",
    )
    .unwrap();
    user_error(
        &ingot(&[
            "quantize",
            plain.to_str().unwrap(),
            "--calib",
            "examples/digits/calib",
            "-o",
            out,
        ]),
        "nothing to quantize",
    );
    // Neither samples nor a table; a budget without samples; a bad output.
    user_error(&ingot(&["quantize", model, "-o", out]), "--calib");
    let tab = d.join("t.json");
    std::fs::write(&tab, table().to_json()).unwrap();
    user_error(
        &ingot(&[
            "quantize",
            model,
            "--table",
            tab.to_str().unwrap(),
            "--accuracy-budget",
            "30",
            "-o",
            out,
        ]),
        "--accuracy-budget needs --calib",
    );
    user_error(
        &ingot(&[
            "quantize",
            model,
            "--calib",
            "examples/digits/calib",
            "-o",
            "x.onnx",
        ]),
        "must end in .ingot or .ir",
    );
    std::fs::remove_dir_all(&d).unwrap();
}
