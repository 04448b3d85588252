//! `ingot inspect` end to end: the binary on the example models, its JSON
//! checked against the library's own compile of the same graph, the SVG
//! parsed as XML with one kernel element per node, and the user errors.

use ingot_compiler::cpu::{compile, CompileOptions};
use ingot_ir::{Graph, Op};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MLP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/mlp.ir");
const CNN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/c/model.ir");

/// `ingot inspect ARGS...`
fn ingot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ingot"))
        .arg("inspect")
        .args(args)
        .output()
        .expect("the ingot binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = ingot(args);
    assert!(
        out.status.success(),
        "ingot inspect {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json(args: &[&str]) -> Json {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(&all)).expect("--json prints one JSON object")
}

fn parse(path: &str) -> Graph {
    ingot_ir::text::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("inspect-{name}"))
}

fn non_const_nodes(g: &Graph) -> usize {
    g.order()
        .iter()
        .filter(|&&n| !matches!(g.node(n).op, Op::Const { .. }))
        .count()
}

fn usize_at(j: &Json, path: &str) -> usize {
    j.pointer(path)
        .and_then(Json::as_u64)
        .unwrap_or_else(|| panic!("{path} is not a number in {j:#}")) as usize
}

/// Histogram counts add up to the node count.
fn histogram_total(h: &Json) -> usize {
    let ops = h["ops"].as_object().expect("ops is an object");
    let total = ops.values().map(|c| c.as_u64().unwrap() as usize).sum();
    assert_eq!(total, usize_at(h, "/nodes"), "{h}");
    total
}

#[test]
fn json_matches_the_compiled_plan() {
    for path in [MLP, CNN] {
        let j = json(&[path]);
        let g = parse(path);
        let model = compile(&g, &CompileOptions::default()).unwrap();
        let steps = &model.runtime().program().steps;
        assert_eq!(j["steps"].as_array().unwrap().len(), steps.len(), "{path}");
        assert_eq!(
            usize_at(&j, "/native_steps") + usize_at(&j, "/interpreter_steps"),
            steps.len()
        );
        assert_eq!(histogram_total(&j["ops_before"]), g.order().len());
        assert_eq!(
            histogram_total(&j["ops_after"]),
            model.graph().order().len()
        );
        // The fused list is the graph's fused nodes, each with its body and kernel.
        let fused = j["fused"].as_array().unwrap();
        let want = j["ops_after"]["ops"]["fused"].as_u64().unwrap_or(0) as usize;
        assert_eq!(fused.len(), want, "{path}");
        assert!(!fused.is_empty(), "{path}: the examples fuse something");
        for f in fused {
            assert!(!f["body"].as_array().unwrap().is_empty(), "{f}");
            assert!(!f["kernel"].as_str().unwrap().is_empty(), "{f}");
        }
        let m = &j["memory"];
        let (lb, arena, sum) = (
            usize_at(m, "/lower_bound"),
            usize_at(m, "/arena_bytes"),
            usize_at(m, "/sum_bytes"),
        );
        assert!(lb > 0 && lb <= arena && arena <= sum, "{m}");
        let consts: usize = model.parts().consts.iter().map(|t| t.bytes().len()).sum();
        assert_eq!(usize_at(&j, "/weights/bytes"), consts);
        assert_eq!(
            usize_at(&j, "/weights/constants"),
            model.parts().consts.len()
        );
        assert_eq!(
            j["passes"].as_array().unwrap().len(),
            model.report().pipeline.stats.len()
        );
    }
}

#[test]
fn unbound_dims_default_to_one_and_say_so() {
    let j = json(&[MLP]);
    assert_eq!(j["defaulted_dims"], serde_json::json!(["batch"]));
    assert_eq!(j["dims"]["batch"], 1);
    let j8 = json(&[MLP, "--dim", "batch=8"]);
    assert_eq!(j8["defaulted_dims"], serde_json::json!([]));
    assert_eq!(j8["dims"]["batch"], 8);
    assert!(
        usize_at(&j8, "/memory/sum_bytes") > usize_at(&j, "/memory/sum_bytes"),
        "sizes grow with the batch"
    );
    let text = ok(&[MLP]);
    assert!(text.contains("defaulted to 1"), "{text}");
    for section in [
        "ops before",
        "passes",
        "fused kernels",
        "plan:",
        "memory plan",
        "weights",
    ] {
        assert!(text.contains(section), "no `{section}` in:\n{text}");
    }
    assert!(!ok(&[MLP, "--dim", "batch=8"]).contains("defaulted"));
}

#[test]
fn svg_has_one_kernel_per_node_and_dot_is_graphviz() {
    for (name, path) in [("mlp", MLP), ("cnn", CNN)] {
        let (svg, dot) = (tmp(&format!("{name}.svg")), tmp(&format!("{name}.dot")));
        ok(&[
            path,
            "--svg",
            svg.to_str().unwrap(),
            "--dot",
            dot.to_str().unwrap(),
        ]);
        let text = std::fs::read_to_string(&svg).unwrap();
        let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let kernels: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("kernel"))
            .collect();
        let model = compile(&parse(path), &CompileOptions::default()).unwrap();
        assert_eq!(kernels.len(), non_const_nodes(model.graph()), "{name}");
        for k in &kernels {
            assert!(k.attribute("data-kind").is_some_and(|s| !s.is_empty()));
        }
        // The example CNN's conv + relu is one contraction kernel.
        if name == "cnn" {
            assert!(kernels.iter().any(|k| {
                k.attribute("data-kind") == Some("contraction")
                    && k.attribute("data-fused") == Some("contraction")
            }));
        }
        let dot = std::fs::read_to_string(&dot).unwrap();
        assert!(dot.starts_with("digraph"), "{dot}");
        assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    }
}

#[test]
fn after_stops_the_pipeline_at_that_pass() {
    let early = json(&[MLP, "--after", "simplify"]);
    let late = json(&[MLP, "--after", "fuse-elementwise"]);
    assert_ne!(early["ops_after"], late["ops_after"]);
    assert_eq!(early["stop_after"], "simplify");
    let passes = early["passes"].as_array().unwrap();
    assert_eq!(
        passes.len(),
        3,
        "shape-infer, fuse-qdq, then simplify: {passes:?}"
    );
    assert_eq!(passes.last().unwrap()["pass"], "simplify");
    assert_eq!(
        late["passes"].as_array().unwrap().last().unwrap()["pass"],
        "fuse-elementwise"
    );
    // Before fusion nothing is fused; the plan is of that graph.
    assert_eq!(early["fused"].as_array().unwrap().len(), 0);
    assert_eq!(
        early["steps"].as_array().unwrap().len(),
        non_const_nodes(&parse(MLP))
    );
}

fn user_error(args: &[&str], mentions: &str) {
    let out = ingot(args);
    assert_eq!(out.status.code(), Some(1), "ingot inspect {args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error:") && l.contains(mentions)),
        "{err}"
    );
    assert!(lines.iter().any(|l| l.starts_with("hint:")), "{err}");
}

#[test]
fn bad_input_is_a_user_error() {
    user_error(&["no/such/model.ir"], "no/such/model.ir");
    user_error(&[MLP, "--after", "fuse-everything"], "fuse-everything");
    user_error(&[MLP, "--dim", "seq=3"], "seq");
}

/// An `.ingot` artifact shows the plan it holds: the same steps and
/// kernels as inspecting its source model.
#[test]
fn artifacts_show_their_plan() {
    let art = tmp("mlp.ingot");
    let out = Command::new(env!("CARGO_BIN_EXE_ingot"))
        .args(["compile", MLP, "-o", art.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = art.to_str().unwrap();
    let from_artifact = json(&[a]);
    let from_source = json(&[MLP]);
    assert_eq!(
        from_artifact["steps"], from_source["steps"],
        "{from_artifact:#}"
    );
    assert!(usize_at(&from_artifact, "/native_steps") > 0);
    let text = ok(&[a]);
    assert!(
        text.starts_with("artifact ") && text.contains("\nplan: "),
        "{text}"
    );
    user_error(&[a, "--svg", "x.svg"], "source model");
    // A truncated artifact is named, not a panic.
    let bytes = std::fs::read(&art).unwrap();
    let cut = tmp("cut.ingot");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    user_error(&[cut.to_str().unwrap()], "cut.ingot");
}
