//! Pictures of an optimized graph for `ingot inspect`: what is drawn and
//! how it is labelled (shared with `svg.rs`), and Graphviz DOT text.
//!
//! Both pictures show the top-level nodes that become steps, coloured by the
//! kind of kernel that runs them (contraction, reduction, elementwise,
//! pooling, data movement, other, or the interpreter when no native kernel
//! exists); fused kernels have a thick border and list their body's ops.
//! Constants are left out (every weight would be a box); graph inputs and
//! outputs are drawn as values.

use super::inspect::{body_ops, StepInfo};
use ingot_ir::{Graph, Node, Op, OpGroup, Value, ValueDef};
use std::collections::HashMap;
use std::fmt::Write;

/// Kernel kinds with their fill colour and legend text, in legend order.
pub(super) const KINDS: [(&str, &str, &str); 7] = [
    ("contraction", "#f4a261", "contraction (matmul, gemm, conv)"),
    ("reduce", "#8ecae6", "reduction, softmax, normalization"),
    ("elementwise", "#b5e48c", "elementwise"),
    ("pool", "#cdb4db", "pooling"),
    ("movement", "#dee2e6", "data movement"),
    ("other", "#ffe8a3", "other"),
    ("interpreter", "#ef476f", "interpreter fallback"),
];

/// The kind a node's kernel is drawn as.
pub(super) fn kind_of(op: &Op, native: bool) -> &'static str {
    if !native {
        return "interpreter";
    }
    match op {
        Op::Fused { kind, .. } => match kind.as_str() {
            "contraction" => "contraction",
            "reduce" => "reduce",
            "elementwise" => "elementwise",
            _ => "other",
        },
        _ => match op.group() {
            OpGroup::Contraction => "contraction",
            OpGroup::Reduce | OpGroup::Normalize => "reduce",
            OpGroup::Elementwise => "elementwise",
            OpGroup::Pool => "pool",
            OpGroup::Movement => "movement",
            _ => "other",
        },
    }
}

pub(super) fn colour(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|k| k.0 == kind)
        .map_or("#ffffff", |k| k.1)
}

/// What a drawn node says: title line, type line, tooltip.
pub(super) struct Label {
    pub kind: &'static str,
    /// The fused kind (`contraction`), for a fused node.
    pub fused: Option<String>,
    /// The op, or a fused body's ops joined by `+`.
    pub title: String,
    /// The first result's type.
    pub ty: String,
    /// Node, results, kernel, constant operands, source location.
    pub tip: String,
}

pub(super) fn label(g: &Graph, n: Node, steps: &HashMap<Node, StepInfo>) -> Label {
    let nd = g.node(n);
    let step = steps.get(&n);
    let kind = kind_of(&nd.op, step.is_none_or(|s| s.native));
    let (title, fused) = match &nd.op {
        Op::Fused { kind, body } => (body_ops(body).join("+"), Some(kind.clone())),
        op => (op.name().to_string(), None),
    };
    let mut ty = nd
        .outputs
        .first()
        .map_or_else(String::new, |&v| g.ty(v).to_string());
    if nd.outputs.len() > 1 {
        let _ = write!(ty, " +{}", nd.outputs.len() - 1);
    }
    // Anonymous values go unnamed: their numbers differ in printed text.
    let mut tip = format!("{n}");
    for &v in &nd.outputs {
        match g.name_of(v) {
            Some(name) => write!(tip, " %{name}: {}", g.ty(v)),
            None => write!(tip, " {}", g.ty(v)),
        }
        .expect("writing to a String");
    }
    let _ = write!(tip, "\n{}", nd.op.name());
    if let Some(k) = &fused {
        let _ = write!(tip, " {k}: {title}");
    }
    if let Some(s) = step {
        let _ = write!(tip, "\nkernel: {}", s.kernel);
    }
    let weights = nd
        .inputs
        .iter()
        .filter(|&&v| g.const_value(v).is_some())
        .count();
    if weights > 0 {
        let _ = write!(tip, "\n{weights} constant operand(s)");
    }
    if let Some(loc) = &nd.loc {
        let _ = write!(tip, "\nat {loc}");
    }
    Label {
        kind,
        fused,
        title,
        ty,
        tip,
    }
}

pub(super) fn value_name(g: &Graph, v: Value) -> String {
    g.name_of(v)
        .map_or_else(|| v.to_string(), |s| format!("%{s}"))
}

/// What a vertex of the drawing stands for.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Vx {
    Input(usize),
    Node(Node),
    Output(usize),
    /// A bend point of long edges (added by the SVG layout).
    Dummy,
}

/// The drawn vertices of `g` and the edges between them, with no layout:
/// inputs, non-constant nodes in schedule order, outputs.
pub(super) struct Skeleton {
    pub vx: Vec<Vx>,
    /// Distinct predecessors of each vertex, in operand order.
    pub preds: Vec<Vec<usize>>,
}

pub(super) fn skeleton(g: &Graph) -> Skeleton {
    let mut vx: Vec<Vx> = (0..g.inputs().len()).map(Vx::Input).collect();
    let mut of_node: HashMap<Node, usize> = HashMap::new();
    for &n in g.order() {
        if !matches!(g.node(n).op, Op::Const { .. }) {
            of_node.insert(n, vx.len());
            vx.push(Vx::Node(n));
        }
    }
    let source = |v: Value| match g.value(v).def {
        ValueDef::Input(i) => Some(i),
        ValueDef::Result(n, _) => of_node.get(&n).copied(),
    };
    let mut preds: Vec<Vec<usize>> = vec![vec![]; vx.len()];
    for (i, p) in preds.iter_mut().enumerate() {
        if let Vx::Node(n) = vx[i] {
            for &v in &g.node(n).inputs {
                if let Some(s) = source(v) {
                    if !p.contains(&s) {
                        p.push(s);
                    }
                }
            }
        }
    }
    for (i, &v) in g.outputs().iter().enumerate() {
        vx.push(Vx::Output(i));
        preds.push(source(v).into_iter().collect());
    }
    Skeleton { vx, preds }
}

/// Graphviz DOT of `g` (`dot -Tsvg` draws it).
pub(super) fn dot(g: &Graph, steps: &HashMap<Node, StepInfo>) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let sk = skeleton(g);
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", q(&g.name));
    s.push_str(
        "  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n  edge [color=\"#555555\"];\n",
    );
    let id = |i: usize| match sk.vx[i] {
        Vx::Input(k) => format!("in{k}"),
        Vx::Node(n) => format!("{n}"),
        Vx::Output(k) => format!("out{k}"),
        Vx::Dummy => unreachable!("the skeleton has no dummies"),
    };
    for (i, &v) in sk.vx.iter().enumerate() {
        let line = match v {
            Vx::Input(k) | Vx::Output(k) => {
                let val = if matches!(v, Vx::Input(_)) {
                    g.inputs()[k]
                } else {
                    g.outputs()[k]
                };
                format!(
                    "[label=\"{}\\n{}\", shape=ellipse, fillcolor=white]",
                    q(&value_name(g, val)),
                    g.ty(val)
                )
            }
            Vx::Node(n) => {
                let l = label(g, n, steps);
                format!(
                    "[label=\"{}\\n{}\", fillcolor=\"{}\"{}, tooltip=\"{}\"]",
                    q(&l.title),
                    q(&l.ty),
                    colour(l.kind),
                    if l.fused.is_some() {
                        ", penwidth=2.5"
                    } else {
                        ""
                    },
                    q(&l.tip).replace('\n', "\\n")
                )
            }
            Vx::Dummy => continue,
        };
        let _ = writeln!(s, "  {} {line};", id(i));
    }
    for (i, ps) in sk.preds.iter().enumerate() {
        for &p in ps {
            let _ = writeln!(s, "  {} -> {};", id(p), id(i));
        }
    }
    s.push_str("}\n");
    s
}
