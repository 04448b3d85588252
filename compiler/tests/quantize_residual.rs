//! `ingot quantize` on a residual CNN (conv, relu, max pool, two convs
//! joined by an add, relu, global average pool, flatten, gemm — ResNet's
//! block in small): the adds and the pool are quantized with the
//! contractions, so after `fuse-qdq` the compiled plan holds integer kernels
//! from the input's quantize to the output's dequantize, with no
//! dequantize/quantize pair between them; and the INT8 model stays close to
//! the f32 one.

use ingot_compiler::cpu::{compile, CompileOptions};
use ingot_compiler::quantize::{
    calibrate, quantize, quantize_measured, sqnr, NoProgress, QuantizeOptions,
};
use ingot_ir::{Graph, Op, Tensor};

/// Deterministic values in [-1, 1) (a 64-bit LCG).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn konst(name: &str, shape: &[usize], seed: u64, scale: f32) -> String {
    let n: usize = shape.iter().product();
    let vals: Vec<String> = values(seed, n)
        .iter()
        .map(|v| format!("{:?}", v * scale))
        .collect();
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!(
        "  %{name} = const f32[{}] [{}]\n",
        dims.join(","),
        vals.join(", ")
    )
}

const CONV: &str =
    r#"{strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1, auto_pad="notset"}"#;

/// x[1,4,16,16] → conv 4→8 + relu → max pool 2x2 → [conv 8→8 + relu →
/// conv 8→8] + identity → relu → global average pool → flatten → gemm 8→5.
fn model() -> Graph {
    let mut t = String::from("graph @residual(%x: f32[1,4,16,16]) -> f32[1,5] {\n");
    t += &konst("w1", &[8, 4, 3, 3], 1, 0.4);
    t += &konst("b1", &[8], 2, 0.1);
    t += &konst("w2", &[8, 8, 3, 3], 3, 0.3);
    t += &konst("b2", &[8], 4, 0.1);
    t += &konst("w3", &[8, 8, 3, 3], 5, 0.3);
    t += &konst("b3", &[8], 6, 0.1);
    t += &konst("wf", &[8, 5], 7, 0.5);
    t += &konst("bf", &[5], 8, 0.1);
    t += &format!("  %c1 = conv %x, %w1, %b1 {CONV} : f32[1,8,16,16]\n");
    t += "  %r1 = relu %c1 : f32[1,8,16,16]\n";
    t += "  %p, %pi = max_pool %r1 {kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], dilations=[1, 1], ceil_mode=false, auto_pad=\"notset\", storage_order=0} : f32[1,8,8,8], i64[1,8,8,8]\n";
    t += &format!("  %c2 = conv %p, %w2, %b2 {CONV} : f32[1,8,8,8]\n");
    t += "  %r2 = relu %c2 : f32[1,8,8,8]\n";
    t += &format!("  %c3 = conv %r2, %w3, %b3 {CONV} : f32[1,8,8,8]\n");
    t += "  %s = add %c3, %p : f32[1,8,8,8]\n";
    t += "  %r3 = relu %s : f32[1,8,8,8]\n";
    t += "  %g = global_average_pool %r3 : f32[1,8,1,1]\n";
    t += "  %f = flatten %g {axis=1} : f32[1,8]\n";
    t +=
        "  %y = gemm %f, %wf, %bf {alpha=1.0, beta=1.0, trans_a=false, trans_b=false} : f32[1,5]\n";
    t += "  return %y\n}\n";
    ingot_ir::text::parse(&t).unwrap_or_else(|e| panic!("{e}\n{t}"))
}

fn samples(n: usize, seed: u64) -> Vec<Vec<Tensor>> {
    (0..n)
        .map(|k| vec![Tensor::from_vec(&[1, 4, 16, 16], values(seed + k as u64, 1024)).unwrap()])
        .collect()
}

fn opts() -> QuantizeOptions {
    QuantizeOptions {
        threads: 1,
        ..QuantizeOptions::default()
    }
}

/// The ops of the compiled plan, in order (constants left out).
fn plan_ops(g: &Graph) -> Vec<&'static str> {
    let m = compile(g, &CompileOptions::default()).unwrap();
    let og = m.graph();
    og.order()
        .iter()
        .map(|&n| &og.node(n).op)
        .filter(|op| !matches!(op, Op::Const { .. }))
        .map(Op::name)
        .collect()
}

#[test]
fn adds_and_the_pool_are_quantized_and_the_plan_is_integer_throughout() {
    let g = model();
    let table = calibrate(&g, samples(16, 100), &opts(), &NoProgress).unwrap();
    let (q, report) = quantize(&g, &table, &opts()).unwrap();
    let ops: Vec<(&str, bool)> = report.layers.iter().map(|l| (l.op, l.kept_f32)).collect();
    assert_eq!(
        ops,
        [
            ("conv", false),
            ("conv", false),
            ("conv", false),
            ("add", false),
            ("global_average_pool", false),
            ("gemm", false)
        ],
        "{report}"
    );
    let add = &report.layers[3];
    assert!(
        add.relu_dropped && add.output_params.zero_point == 0,
        "{report}"
    );
    assert_eq!(add.weight_scales, 0);
    assert!(report.skipped.is_empty(), "{report}");

    let ops = plan_ops(&q);
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(**o, "quantize_linear" | "dequantize_linear"))
            .count(),
        2,
        "{ops:?}"
    );
    assert_eq!(ops.first(), Some(&"quantize_linear"), "{ops:?}");
    assert_eq!(ops.last(), Some(&"dequantize_linear"), "{ops:?}");
    for want in ["qlinear_add", "qlinear_global_average_pool", "qgemm"] {
        assert!(ops.contains(&want), "no {want} in {ops:?}");
    }

    // Close to f32 on held-out inputs.
    let held = samples(8, 900);
    let (mf, mq) = (
        compile(&g, &CompileOptions::default()).unwrap(),
        compile(&q, &CompileOptions::default()).unwrap(),
    );
    let run = |m: &ingot_compiler::cpu::CompiledModel| -> Vec<Vec<Tensor>> {
        held.iter().map(|s| m.run(s).unwrap()).collect()
    };
    let db = sqnr(&run(&mf), &run(&mq));
    assert!(db > 25.0, "INT8 output SQNR {db:.1} dB");
}

/// An add of two activations no quantized layer produced stays f32 (it
/// would only gain a quantize/dequantize pair), and the report says why.
#[test]
fn an_add_of_f32_operands_stays_f32() {
    let t = format!(
        "graph @a(%a: f32[1,4], %b: f32[1,4]) -> f32[1,3] {{\n{}  %s = add %a, %b : f32[1,4]\n  %y = matmul %s, %w : f32[1,3]\n  return %y\n}}\n",
        konst("w", &[4, 3], 11, 1.0)
    );
    let g = ingot_ir::text::parse(&t).unwrap();
    let data: Vec<Vec<Tensor>> = (0..4)
        .map(|k| {
            vec![
                Tensor::from_vec(&[1, 4], values(20 + k, 4)).unwrap(),
                Tensor::from_vec(&[1, 4], values(40 + k, 4)).unwrap(),
            ]
        })
        .collect();
    let table = calibrate(&g, data.iter().cloned(), &opts(), &NoProgress).unwrap();
    let (q, report) = quantize_measured(&g, &table, &data, &opts(), &NoProgress).unwrap();
    assert_eq!(report.layers.len(), 1, "{report}");
    assert_eq!(report.skipped.len(), 1, "{report}");
    assert!(
        report.skipped[0].why.contains("no operand is quantized"),
        "{report}"
    );
    let ops = plan_ops(&q);
    assert!(
        ops.contains(&"add") && !ops.contains(&"qlinear_add"),
        "{ops:?}"
    );
}
