//! `.ingot` artifacts end to end: what a loaded artifact computes is
//! bit-identical to the model it was written from (at every batch size),
//! and every kind of bad file is a clear error — never a panic, never code
//! run without its checks.

use ingot_compiler::artifact::{artifact_options, to_bytes};
use ingot_compiler::cpu::{compile, CompileOptions, CompiledModel, CpuLevel};
use ingot_ir::{parse, Graph, Tensor};
use ingot_runtime::artifact::{
    load, load_shared, restamp, ArtifactError, CpuLevel as RtLevel, FORMAT_VERSION,
};
use std::fmt::Write;
use std::sync::Arc;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `%name = const f32[shape] [...]` with seeded values scaled by `scale`.
fn weight(out: &mut String, name: &str, shape: &[usize], seed: u64, scale: f32) {
    let n = shape.iter().product();
    let vals: Vec<String> = values(n, seed)
        .iter()
        .map(|v| format!("{:?}", v * scale))
        .collect();
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(
        out,
        "  %{name} = const f32[{}] [{}]",
        dims.join(","),
        vals.join(", ")
    );
}

/// A small CNN with a symbolic batch: conv+relu, max pool, depthwise conv
/// with a residual add, global average pool, gemm, softmax.
fn cnn() -> Graph {
    let mut t = String::from("graph @cnn(%x: f32[n,3,16,16]) -> f32[n,10] {\n");
    weight(&mut t, "w1", &[8, 3, 3, 3], 1, 0.4);
    weight(&mut t, "b1", &[8], 2, 0.1);
    weight(&mut t, "wd", &[8, 1, 3, 3], 3, 0.4);
    weight(&mut t, "bd", &[8], 4, 0.1);
    weight(&mut t, "wf", &[10, 8], 5, 0.5);
    weight(&mut t, "bf", &[10], 6, 0.1);
    t.push_str(concat!(
        "  %c1 = conv %x, %w1, %b1 {strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1, auto_pad=\"notset\"} : f32[n,8,16,16]\n",
        "  %r1 = relu %c1 : f32[n,8,16,16]\n",
        "  %p, %pi = max_pool %r1 {kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], dilations=[1, 1], ceil_mode=false, auto_pad=\"notset\", storage_order=0} : f32[n,8,8,8], i64[n,8,8,8]\n",
        "  %d = conv %p, %wd, %bd {strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=8, auto_pad=\"notset\"} : f32[n,8,8,8]\n",
        "  %a = add %d, %p : f32[n,8,8,8]\n",
        "  %r2 = relu %a : f32[n,8,8,8]\n",
        "  %g = global_average_pool %r2 : f32[n,8,1,1]\n",
        "  %f = flatten %g {axis=1} : f32[n,8]\n",
        "  %y = gemm %f, %wf, %bf {alpha=1.0, beta=1.0, trans_a=false, trans_b=true} : f32[n,10]\n",
        "  %s = softmax %y {axis=-1} : f32[n,10]\n",
        "  return %s\n}\n"
    ));
    parse(&t).unwrap()
}

/// An encoder-ish block: layer norm, matmul + bias + erf-GELU, softmax
/// over a transpose, and a data-dependent `non_zero` (interpreter step,
/// dynamic result).
fn block() -> Graph {
    let mut t = String::from("graph @block(%x: f32[n,6,16]) -> f32[n,16,6], i64[3,?] {\n");
    weight(&mut t, "gamma", &[16], 7, 1.0);
    weight(&mut t, "beta", &[16], 8, 0.2);
    weight(&mut t, "w", &[16, 16], 9, 0.3);
    weight(&mut t, "b", &[16], 10, 0.1);
    t.push_str(concat!(
        "  %ln = layer_norm %x, %gamma, %beta {axis=-1, epsilon=1e-05} : f32[n,6,16]\n",
        "  %m = matmul %ln, %w : f32[n,6,16]\n",
        "  %mb = add %m, %b : f32[n,6,16]\n",
        "  %half = const f32[] [0.5]\n",
        "  %one = const f32[] [1.0]\n",
        "  %rs2 = const f32[] [0.70710677]\n",
        "  %u = mul %mb, %rs2 : f32[n,6,16]\n",
        "  %e = erf %u : f32[n,6,16]\n",
        "  %e1 = add %e, %one : f32[n,6,16]\n",
        "  %h = mul %mb, %e1 : f32[n,6,16]\n",
        "  %gl = mul %h, %half : f32[n,6,16]\n",
        "  %tr = transpose %gl {perm=[0, 2, 1]} : f32[n,16,6]\n",
        "  %sm = softmax %tr {axis=-1} : f32[n,16,6]\n",
        "  %pos = relu %x : f32[n,6,16]\n",
        "  %nz = non_zero %pos : i64[3,?]\n",
        "  return %sm, %nz\n}\n"
    ));
    parse(&t).unwrap()
}

fn mlp() -> Graph {
    parse(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/mlp.ir"))
            .unwrap(),
    )
    .unwrap()
}

fn input(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(shape, values(shape.iter().product(), seed)).unwrap()
}

fn aot(g: &Graph, threads: usize) -> CompiledModel {
    let opts = CompileOptions {
        threads,
        ..CompileOptions::default()
    };
    compile(g, &artifact_options(&opts, CpuLevel::best_supported())).unwrap()
}

fn same(a: &[Tensor], b: &[Tensor], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(
            (x.dtype(), x.shape()),
            (y.dtype(), y.shape()),
            "{what}: output {i}"
        );
        assert_eq!(x.bytes(), y.bytes(), "{what}: output {i} differs");
    }
}

#[test]
fn loaded_artifacts_compute_what_the_compiled_model_computes() {
    // Each graph and its input shape after the batch dim.
    let cases: Vec<(Graph, Vec<usize>)> = vec![
        (mlp(), vec![4]),
        (cnn(), vec![3, 16, 16]),
        (block(), vec![6, 16]),
    ];
    for (g, rest) in &cases {
        let shape = |n: usize| [&[n][..], rest].concat();
        for threads in [1, 2] {
            let model = aot(g, threads);
            let bytes = to_bytes(&model).unwrap();
            let loaded = load_shared(Arc::new(bytes), threads).unwrap();
            assert_eq!(loaded.meta.model, g.name);
            for n in [1, 3] {
                let x = input(&shape(n), n as u64 + 17);
                let want = model.run(std::slice::from_ref(&x)).unwrap();
                let got = loaded.model.run(std::slice::from_ref(&x)).unwrap();
                same(
                    &got,
                    &want,
                    &format!("{} batch {n} threads {threads}", g.name),
                );
                // And the interpreter agrees with both (tolerance: JIT math).
                let reference = ingot_ir::interp::run(g, std::slice::from_ref(&x)).unwrap();
                for (a, b) in got.iter().zip(&reference) {
                    for (p, q) in a.to_f64s().iter().zip(b.to_f64s()) {
                        assert!(
                            (p - q).abs() <= 1e-5 * q.abs().max(1.0),
                            "{}: {p} vs {q}",
                            g.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn artifacts_round_trip_through_files_and_keep_weights_mapped() {
    let g = cnn();
    let model = aot(&g, 1);
    let dir = std::env::temp_dir().join(format!("ingot-artifact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cnn.ingot");
    let size = ingot_compiler::artifact::write(&model, &path).unwrap();
    let loaded = load(&path, 1).unwrap();
    let weights: usize = model.parts().consts.iter().map(|t| t.bytes().len()).sum();
    assert!(loaded.weight_bytes >= weights);
    assert!(size as usize > weights);
    let x = input(&[2, 3, 16, 16], 5);
    same(
        &loaded.model.run(std::slice::from_ref(&x)).unwrap(),
        &model.run(std::slice::from_ref(&x)).unwrap(),
        "from file",
    );
    // Wrong inputs are the executor's usual clear errors.
    let e = loaded
        .model
        .run(&[input(&[2, 3, 16, 15], 1)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("axis 3 is 15, not 16"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn err_of(bytes: Vec<u8>) -> ArtifactError {
    match load_shared(Arc::new(bytes), 1) {
        Ok(_) => panic!("a bad artifact loaded"),
        Err(e) => e,
    }
}

fn good_bytes() -> Vec<u8> {
    to_bytes(&aot(&cnn(), 1)).unwrap()
}

#[test]
fn wrong_magic_is_not_an_artifact() {
    let mut b = good_bytes();
    b[0] ^= 0xff;
    assert!(matches!(err_of(b), ArtifactError::NotAnArtifact));
    assert!(matches!(
        err_of(b"PK\x03\x04 a zip file".to_vec()),
        ArtifactError::NotAnArtifact
    ));
    assert!(matches!(err_of(vec![]), ArtifactError::NotAnArtifact));
    let e = err_of(vec![0; 3]).to_string();
    assert!(e.contains("not an Ingot artifact"), "{e}");
}

#[test]
fn truncated_files_say_so() {
    let b = good_bytes();
    let step = (b.len() / 97).max(1);
    for len in (8..b.len()).step_by(step).chain([b.len() - 1]) {
        let e = err_of(b[..len].to_vec());
        assert!(
            matches!(e, ArtifactError::Truncated { .. }),
            "length {len} of {}: {e}",
            b.len()
        );
        assert!(e.to_string().contains("truncated"));
    }
}

#[test]
fn bit_flips_are_checksum_errors() {
    let b = good_bytes();
    let step = (b.len() / 301).max(1);
    for pos in (8..b.len()).step_by(step) {
        let mut m = b.clone();
        m[pos] ^= 1 << (pos % 8);
        let e = err_of(m);
        // A flip in the version field reads as a newer format; in the file
        // length as truncation or trailing bytes; in padding as malformed;
        // anywhere else as a checksum mismatch. Every byte is checked.
        let ok = matches!(
            e,
            ArtifactError::Checksum(_)
                | ArtifactError::NewerFormat { .. }
                | ArtifactError::Truncated { .. }
                | ArtifactError::Malformed(_)
        );
        assert!(ok, "flip at {pos}: {e}");
    }
    let mut m = b.clone();
    let last = m.len() - 1;
    m[last] ^= 0x10; // inside the weights section
    let e = err_of(m);
    assert!(
        e.to_string()
            .contains("checksum mismatch in the weights section"),
        "{e}"
    );
}

#[test]
fn newer_format_versions_are_refused_by_name() {
    let mut b = good_bytes();
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = err_of(b);
    assert!(matches!(e, ArtifactError::NewerFormat { .. }), "{e}");
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn code_for_missing_cpu_features_is_never_run() {
    let b = restamp(&good_bytes(), |m| {
        m.features.push("avx512f".into());
        m.features.push("amx-imaginary".into());
    })
    .unwrap();
    let e = err_of(b);
    match &e {
        ArtifactError::CpuFeatures { missing, .. } => {
            assert!(missing.contains(&"amx-imaginary".to_string()), "{e}")
        }
        _ => panic!("{e}"),
    }
    assert!(e.to_string().contains("recompile with `--cpu`"), "{e}");
    let b = restamp(&good_bytes(), |m| m.arch = "riscv64".into()).unwrap();
    assert!(matches!(err_of(b), ArtifactError::Arch { .. }));
    // The restamped file with an unchanged meta still loads.
    let b = restamp(&good_bytes(), |_| {}).unwrap();
    assert!(load_shared(Arc::new(b), 1).is_ok());
}

#[test]
fn random_mutations_never_panic() {
    let b = good_bytes();
    let mut s = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let x = input(&[1, 3, 16, 16], 3);
    for _ in 0..300 {
        let mut m = b.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % m.len();
            match next() % 3 {
                0 => m[at] = next() as u8,
                1 => m.truncate(at.max(1)),
                _ => m.insert(at, next() as u8),
            }
        }
        let r = std::panic::catch_unwind(|| {
            if let Ok(l) = load_shared(Arc::new(m), 1) {
                // Only a mutation that changed nothing can load; it must run.
                l.model.run(std::slice::from_ref(&x)).map(|_| ()).ok();
            }
        });
        assert!(r.is_ok(), "a mutated artifact panicked");
    }
}

#[test]
fn cpu_levels_have_names_and_this_machine_runs_its_best() {
    for l in [RtLevel::Host, RtLevel::X86_64V3, RtLevel::X86_64V4] {
        assert_eq!(RtLevel::from_name(l.name()), Some(l));
    }
    let best = RtLevel::best_supported();
    assert!(ingot_runtime::artifact::missing_features(&best.features()).is_empty());
}
