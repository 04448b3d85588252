//! PTX generation: every supported op and a few fused bodies are generated
//! (scalar and, where the contract allows, 4-wide) and assembled with
//! `ptxas` for sm_80 and sm_90. No GPU is needed; without `ptxas` the
//! assembling tests print why and return.

use super::ptx::Layout;
use super::*;
use crate::cpu::jit::single_op_body;
use ingot_ir::attr::GeluApprox;
use ingot_ir::{DType, Graph, Op, Tensor, TensorType};
use std::path::PathBuf;
use std::process::Command;

/// `INGOT_PTXAS`, else `ptxas` on PATH, else the `nvidia-cuda-nvcc` wheel's
/// (CUDA 12 or 13 layout).
fn ptxas() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("INGOT_PTXAS") {
        return Some(PathBuf::from(p));
    }
    let works = |p: &PathBuf| Command::new(p).arg("--version").output().is_ok();
    let on_path = PathBuf::from("ptxas");
    if works(&on_path) {
        return Some(on_path);
    }
    // CUDA 12 wheels install `nvidia/cuda_nvcc/bin`, CUDA 13 ones `nvidia/cu13/bin`.
    let find = "import importlib\n\
                for m in ('nvidia.cuda_nvcc', 'nvidia.cu13'):\n\
                \ttry:\n\
                \t\tprint(list(importlib.import_module(m).__path__)[0]); break\n\
                \texcept ImportError: pass";
    let out = Command::new("python3").args(["-c", find]).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let p = PathBuf::from(dir.trim()).join("bin").join("ptxas");
    works(&p).then_some(p)
}

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("ingot-ptx-{}", std::process::id()))
}

/// Assemble `k` for `arch`; the error carries ptxas's output and the text.
fn assemble(ptxas: &PathBuf, k: &PtxKernel, arch: Arch) -> Result<(), String> {
    let dir = scratch();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let src = dir.join(format!("{}_{}.ptx", k.name, arch.name()));
    std::fs::write(&src, &k.text).map_err(|e| e.to_string())?;
    let out = Command::new(ptxas)
        .arg(format!("-arch={}", arch.name()))
        .arg(&src)
        .arg("-o")
        .arg(src.with_extension("cubin"))
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ptxas -arch={} rejected {}:\n{}{}\n--- text ---\n{}",
            arch.name(),
            k.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            k.text
        ))
    }
}

fn f32t(shape: &[usize]) -> TensorType {
    TensorType::fixed(DType::F32, shape)
}

fn t(d: DType, shape: &[usize]) -> TensorType {
    TensorType::fixed(d, shape)
}

/// Per-input layouts of `body` from its input and output shapes.
fn layouts(body: &Graph) -> Vec<Layout> {
    let out = body.ty(body.outputs()[0]).known_dims().unwrap();
    body.inputs()
        .iter()
        .map(|&v| {
            let d = body.ty(v).known_dims().unwrap();
            InputIndex::of(&d, &out)
                .unwrap_or_else(|| panic!("{d:?} does not broadcast to {out:?}"))
                .layout()
        })
        .collect()
}

/// Every body the assembling test checks, with a name.
fn bodies() -> Vec<(String, Graph)> {
    use Op::*;
    let mut v: Vec<(String, Graph)> = vec![];
    let mut single = |op: Op, ins: Vec<TensorType>, out: TensorType| {
        let g = single_op_body(&op, &ins, &out);
        v.push((op.name().to_string(), g));
    };
    let unary = [
        Neg,
        Abs,
        Sign,
        Sqrt,
        Reciprocal,
        Floor,
        Ceil,
        Round,
        Relu,
        LeakyRelu { alpha: 0.1 },
        ThresholdedRelu { alpha: 0.5 },
        HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        HardSwish,
        Softsign,
        Exp,
        Log,
        Tanh,
        Sigmoid,
        Erf,
        Softplus,
        Mish,
        Gelu {
            approximate: GeluApprox::None,
        },
        Gelu {
            approximate: GeluApprox::Tanh,
        },
        Elu { alpha: 1.5 },
        Selu {
            alpha: 1.67,
            gamma: 1.05,
        },
    ];
    for op in unary {
        for s in [&[37][..], &[2, 3, 5]] {
            single(op.clone(), vec![f32t(s)], f32t(s));
        }
    }
    let o = [2, 3, 5];
    for op in [Add, Sub, Mul, Div, Max, Min, PRelu, Pow] {
        single(op.clone(), vec![f32t(&[37]), f32t(&[37])], f32t(&[37]));
        // Splat and trailing-axis broadcast second operands.
        single(op.clone(), vec![f32t(&o), f32t(&[])], f32t(&o));
        single(op, vec![f32t(&o), f32t(&[5])], f32t(&o));
    }
    let b = |s: &[usize]| t(DType::Bool, s);
    for op in [Equal, Less, LessOrEqual, Greater, GreaterOrEqual] {
        single(op.clone(), vec![f32t(&[37]), f32t(&[37])], b(&[37]));
        for d in [DType::I32, DType::I64] {
            single(op.clone(), vec![t(d, &[37]), t(d, &[37])], b(&[37]));
        }
    }
    for op in [And, Or, Xor] {
        single(op, vec![b(&[37]), b(&[37])], b(&[37]));
    }
    single(Not, vec![b(&[37])], b(&[37]));
    single(IsNaN, vec![f32t(&[37])], b(&[37]));
    for (neg, pos) in [(true, true), (true, false), (false, true), (false, false)] {
        let op = IsInf {
            detect_negative: neg,
            detect_positive: pos,
        };
        single(op, vec![f32t(&[37])], b(&[37]));
    }
    for d in [DType::I32, DType::I64] {
        for op in [Add, Sub, Mul, Max, Min] {
            single(op, vec![t(d, &[37]), t(d, &[37])], t(d, &[37]));
        }
        single(Relu, vec![t(d, &[37])], t(d, &[37]));
        single(Neg, vec![t(d, &[37])], t(d, &[37]));
    }
    single(Where, vec![b(&o), f32t(&o), f32t(&o)], f32t(&o));
    single(
        Where,
        vec![b(&o), t(DType::I64, &o), t(DType::I64, &[])],
        t(DType::I64, &o),
    );
    single(Clip, vec![f32t(&o), f32t(&[]), f32t(&[])], f32t(&o));
    let tys = [DType::F32, DType::Bool, DType::I32, DType::I64];
    for from in tys {
        for to in tys {
            if from != to {
                let op = Cast { to, saturate: true };
                single(op, vec![t(from, &[37])], t(to, &[37]));
            }
        }
    }
    for c in [0.0, 0.5, -0.5, 2.0, 3.0, -1.0, 2.5] {
        v.push((format!("pow_c{c}"), const_body(Op::Pow, c)));
    }
    v.push(("gelu_erf_form".into(), gelu_erf_form()));
    v.push(("bias_relu".into(), bias_relu()));
    v.push(("cmp_where".into(), cmp_where()));
    v.push(("and_const_true".into(), and_const_true()));
    v
}

/// `op(x, c)` with `c` a scalar constant in the body.
fn const_body(op: Op, c: f32) -> Graph {
    let mut g = Graph::new("f");
    let x = g.add_input("x", f32t(&[37])).unwrap();
    let c = g.add_const(Tensor::scalar(c));
    let r = g.add_node(op, &[x, c]).unwrap()[0];
    g.set_outputs(vec![r]);
    g
}

/// `x * 0.5 * (1 + erf(x * 0.7071…))`.
fn gelu_erf_form() -> Graph {
    let mut g = Graph::new("gelu");
    let x = g.add_input("x", f32t(&[4, 64])).unwrap();
    let (h, s, one) = (
        g.add_const(Tensor::scalar(0.5f32)),
        g.add_const(Tensor::scalar(std::f32::consts::FRAC_1_SQRT_2)),
        g.add_const(Tensor::scalar(1.0f32)),
    );
    let xs = g.add_node(Op::Mul, &[x, s]).unwrap()[0];
    let e = g.add_node(Op::Erf, &[xs]).unwrap()[0];
    let e1 = g.add_node(Op::Add, &[one, e]).unwrap()[0];
    let xh = g.add_node(Op::Mul, &[x, h]).unwrap()[0];
    let r = g.add_node(Op::Mul, &[xh, e1]).unwrap()[0];
    g.set_outputs(vec![r]);
    g
}

/// `relu(x + b)` with `x: [8,16]`, `b: [16]`.
fn bias_relu() -> Graph {
    let mut g = Graph::new("bias_relu");
    let x = g.add_input("x", f32t(&[8, 16])).unwrap();
    let b = g.add_input("b", f32t(&[16])).unwrap();
    let s = g.add_node(Op::Add, &[x, b]).unwrap()[0];
    let r = g.add_node(Op::Relu, &[s]).unwrap()[0];
    g.set_outputs(vec![r]);
    g
}

/// `where(x > y, x - y, y * 2)`, and the mask as a second output.
fn cmp_where() -> Graph {
    let mut g = Graph::new("cmp_where");
    let x = g.add_input("x", f32t(&[3, 8])).unwrap();
    let y = g.add_input("y", f32t(&[3, 1])).unwrap();
    let two = g.add_const(Tensor::scalar(2.0f32));
    let m = g.add_node(Op::Greater, &[x, y]).unwrap()[0];
    let d = g.add_node(Op::Sub, &[x, y]).unwrap()[0];
    let y2 = g.add_node(Op::Mul, &[y, two]).unwrap()[0];
    let r = g.add_node(Op::Where, &[m, d, y2]).unwrap()[0];
    g.set_outputs(vec![r, m]);
    g
}

/// `(x > 0) and true`: a bool constant.
fn and_const_true() -> Graph {
    let mut g = Graph::new("and_true");
    let x = g.add_input("x", f32t(&[37])).unwrap();
    let z = g.add_const(Tensor::scalar(0.0f32));
    let tr = g.add_const(Tensor::from_bools(&[], &[true]).unwrap());
    let m = g.add_node(Op::Greater, &[x, z]).unwrap()[0];
    let r = g.add_node(Op::And, &[m, tr]).unwrap()[0];
    g.set_outputs(vec![r]);
    g
}

fn kernel_name(i: usize, what: &str) -> String {
    let s: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("k{i}_{s}")
}

/// Every generated kernel (scalar, and 4-wide where no input is `Bcast`).
fn kernels(arch: Arch) -> Vec<PtxKernel> {
    let mut ks = vec![];
    for (i, (what, body)) in bodies().iter().enumerate() {
        let ls = layouts(body);
        let name = kernel_name(i, what);
        let k =
            elementwise(body, &name, &ls, arch, false).unwrap_or_else(|e| panic!("{what}: {e}"));
        ks.push(k);
        if !ls.contains(&Layout::Bcast) {
            let k = elementwise(body, &format!("{name}_v4"), &ls, arch, true)
                .unwrap_or_else(|e| panic!("{what} (4-wide): {e}"));
            ks.push(k);
        }
    }
    ks
}

#[test]
fn every_kernel_assembles_for_sm80_and_sm90() {
    let Some(ptxas) = ptxas() else {
        eprintln!("skipping: no ptxas (pip install nvidia-cuda-nvcc)");
        return;
    };
    let mut failures = vec![];
    let mut accepted = 0;
    for arch in [Arch::Sm80, Arch::Sm90] {
        for k in kernels(arch) {
            match assemble(&ptxas, &k, arch) {
                Ok(()) => accepted += 1,
                Err(e) => failures.push(e),
            }
        }
    }
    // The check can fail: ptxas rejects a kernel with a broken instruction.
    let mut bad = kernels(Arch::Sm80).swap_remove(0);
    bad.text = bad.text.replace("ret;", "ret.bogus %f1;");
    assert!(assemble(&ptxas, &bad, Arch::Sm80).is_err());
    eprintln!("ptxas accepted {accepted} kernels");
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(scratch());
    }
    assert!(
        failures.is_empty(),
        "{} kernels rejected (accepted {accepted}):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn arithmetic_is_ieee_and_never_contracted() {
    // Explicit `.rn` on add/sub/mul/div forbids fma contraction; no
    // approximate or flush-to-zero forms anywhere.
    for k in kernels(Arch::Sm80) {
        for bad in [
            ".approx", ".ftz", "add.f32", "sub.f32", "mul.f32", "div.f32", "sqrt.f32",
        ] {
            assert!(!k.text.contains(bad), "{}: `{bad}` in\n{}", k.name, k.text);
        }
    }
}

#[test]
fn broadcast_index_parameters() {
    use InputIndex::*;
    let of = InputIndex::of;
    assert_eq!(of(&[2, 3, 5], &[2, 3, 5]), Some(Contig));
    assert_eq!(of(&[1, 3, 5], &[3, 5]), None, "more axes than the output");
    assert_eq!(of(&[3, 5], &[1, 3, 5]), Some(Contig));
    assert_eq!(of(&[], &[2, 3, 5]), Some(Splat));
    assert_eq!(of(&[1, 1], &[2, 3]), Some(Splat));
    // Bias [C] over [N, C]: element i % C.
    assert_eq!(of(&[5], &[2, 3, 5]), Some(Bcast { div: 1, modulo: 5 }));
    // [N, 1] over [N, C]: element i / C.
    assert_eq!(of(&[4, 1], &[4, 7]), Some(Bcast { div: 7, modulo: 4 }));
    // Per-channel [1, C, 1, 1] over [N, C, H, W].
    assert_eq!(
        of(&[1, 3, 1, 1], &[2, 3, 4, 5]),
        Some(Bcast { div: 20, modulo: 3 })
    );
    // [C, 1] over [N, C, W]; unit output axes do not break the run.
    assert_eq!(
        of(&[3, 1, 1], &[2, 3, 1, 4]),
        Some(Bcast { div: 4, modulo: 3 })
    );
    // Not one run of axes, or not broadcastable.
    assert_eq!(of(&[2, 1, 5], &[2, 3, 5]), None);
    assert_eq!(of(&[4], &[2, 3]), None);
    // Spot-check the formula against a direct broadcast index.
    let (inp, out) = ([1usize, 3, 1], [2usize, 3, 4]);
    let Some(Bcast { div, modulo }) = of(&inp, &out) else {
        panic!("expected a broadcast")
    };
    for i in 0..24u64 {
        let c = (i as usize / 4) % 3;
        assert_eq!((i / div) % modulo, c as u64);
    }
}

#[test]
fn params_follow_the_contract() {
    let body = cmp_where();
    let ls = layouts(&body);
    assert_eq!(ls, [Layout::Contig, Layout::Bcast]);
    let k = elementwise(&body, "cw", &ls, Arch::Sm80, false).unwrap();
    use Param::*;
    assert_eq!(k.params, [Out(0), Out(1), In(0), In(1), Div(1), Mod(1), N]);
    assert!(k.text.contains(".visible .entry cw("));
    assert!(k.text.contains(".target sm_80"));
    assert!(k.text.contains("div.u64") && k.text.contains("rem.u64"));
    // The 4-wide variant refuses broadcast inputs instead of miscomputing.
    let e = elementwise(&body, "cw4", &ls, Arch::Sm80, true).unwrap_err();
    assert!(matches!(e, GpuError::Unsupported { .. }), "{e}");
    let v = elementwise(&gelu_erf_form(), "g", &[Layout::Contig], Arch::Sm90, true).unwrap();
    assert!(v.text.contains("ld.global.v4.f32") && v.text.contains("st.global.v4.f32"));
    assert!(v.text.contains(".target sm_90"));
}

#[test]
fn unsupported_is_an_error() {
    let h = t(DType::F16, &[4]);
    let body = single_op_body(&Op::Exp, std::slice::from_ref(&h), &h);
    let e = elementwise(&body, "h", &[Layout::Contig], Arch::Sm80, false).unwrap_err();
    assert!(matches!(e, GpuError::Unsupported { .. }), "{e}");
    let body = single_op_body(&Op::Exp, &[f32t(&[4])], &f32t(&[4]));
    let e = elementwise(&body, "1bad", &[Layout::Contig], Arch::Sm80, false).unwrap_err();
    assert!(matches!(e, GpuError::Codegen(_)), "{e}");
}
