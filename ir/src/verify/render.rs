//! The graph listing that verifier errors point into.
//!
//! [`render_graph_lines`] writes a graph one statement per line, close to the
//! text format (`n3: %5 = relu %4 : f32[2]`, with the node id in front so a
//! location like `@main/n3` can be found at a glance), tagging each line with
//! the part of the graph it shows. It is the one place that knows how a graph
//! looks in an error report; it can be swapped for the text printer once that
//! printer can say which lines belong to which node.
//!
//! The listing never panics on a broken graph: values and nodes that do not
//! exist print as their ids with an `<invalid>` type, and large constants are
//! elided. It is not meant to be parsed back.

use super::{Location, VerifyError};
use crate::attr::AttrValue;
use crate::graph::{Graph, Node, Value};
use crate::op::Op;
use crate::tensor::Tensor;
use crate::DType;
use std::fmt::Write;

/// Constants with more elements than this are shown as `[...]`.
const MAX_SHOWN_ELEMS: usize = 16;

/// Which part of a graph a line of the listing shows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LinePart {
    /// `graph @name(inputs) -> types {`
    Header,
    /// One node's statement (its first line, when it carries subgraphs).
    Node(Node),
    /// `return ...`
    Return,
    /// A line that only continues or closes something (`}`, `}, else_branch=...`).
    Other,
}

/// A line's place: the subgraph path (as in [`VerifyError::path`]) and the part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineTag {
    pub path: Vec<(Node, &'static str)>,
    pub part: LinePart,
}

/// The listing of `g`, one tagged line per statement; subgraphs are written
/// inline in their node's attributes, indented.
pub fn render_graph_lines(g: &Graph) -> Vec<(LineTag, String)> {
    let mut out = Vec::new();
    graph_lines(g, &[], "", "", &mut out);
    out
}

/// The listing with each error written under the line it is about:
/// the line's text underlined with `^^^^`, then the message.
pub(crate) fn annotate(g: &Graph, errors: &[VerifyError]) -> String {
    let lines = render_graph_lines(g);
    let mut notes: Vec<Vec<&str>> = vec![vec![]; lines.len()];
    for e in errors {
        let part = match e.at {
            Location::Graph | Location::Input(_) => LinePart::Header,
            Location::Node(n) => LinePart::Node(n),
            Location::Output(_) => LinePart::Return,
        };
        let line = lines
            .iter()
            .position(|(t, _)| t.path == e.path && t.part == part)
            // A node the listing does not show (not in the schedule) is
            // reported under the graph's header.
            .or_else(|| {
                lines
                    .iter()
                    .position(|(t, _)| t.path == e.path && t.part == LinePart::Header)
            })
            .unwrap_or(0);
        if let Some(n) = notes.get_mut(line) {
            n.push(&e.message);
        }
    }
    let mut s = String::new();
    for ((_, text), msgs) in lines.iter().zip(notes) {
        s.push_str(text);
        s.push('\n');
        if msgs.is_empty() {
            continue;
        }
        let body = text.trim_start();
        let indent = &text[..text.len() - body.len()];
        let carets = "^".repeat(body.chars().count().clamp(1, 80));
        for m in msgs {
            let _ = writeln!(s, "{indent}{carets} error: {m}");
        }
    }
    s
}

fn graph_lines(
    g: &Graph,
    path: &[(Node, &'static str)],
    indent: &str,
    // Text written before `graph` on the header line (`then_branch=`).
    lead: &str,
    out: &mut Vec<(LineTag, String)>,
) {
    let tag = |part| LineTag {
        path: path.to_vec(),
        part,
    };
    let mut header = format!("{indent}{lead}graph @");
    let _ = crate::dim::write_name(&mut header, &g.name);
    header.push('(');
    for (i, &v) in g.inputs().iter().enumerate() {
        if i > 0 {
            header.push_str(", ");
        }
        let _ = write!(header, "{}: {}", vname(g, v), vty(g, v));
    }
    header.push_str(") -> ");
    let tys: Vec<String> = g.outputs().iter().map(|&v| vty(g, v)).collect();
    header.push_str(&tys.join(", "));
    header.push_str(" {");
    out.push((tag(LinePart::Header), header));
    let inner = format!("{indent}  ");
    for &n in g.order() {
        node_lines(g, n, path, &inner, out);
    }
    let rets: Vec<String> = g.outputs().iter().map(|&v| vname(g, v)).collect();
    out.push((
        tag(LinePart::Return),
        format!("{inner}return {}", rets.join(", ")),
    ));
    out.push((tag(LinePart::Other), format!("{indent}}}")));
}

fn node_lines(
    g: &Graph,
    n: Node,
    path: &[(Node, &'static str)],
    indent: &str,
    out: &mut Vec<(LineTag, String)>,
) {
    let tag = |part| LineTag {
        path: path.to_vec(),
        part,
    };
    if n.index() >= g.num_node_slots() {
        out.push((
            tag(LinePart::Node(n)),
            format!("{indent}{n}: <no such node>"),
        ));
        return;
    }
    let nd = g.node(n);
    let mut s = format!("{indent}{n}: ");
    let outs: Vec<String> = nd.outputs.iter().map(|&v| vname(g, v)).collect();
    if !outs.is_empty() {
        let _ = write!(s, "{} = ", outs.join(", "));
    }
    s.push_str(nd.op.name());
    if let Op::Const { value } = &nd.op {
        let _ = write!(s, " {}", tensor_text(value));
        out.push((tag(LinePart::Node(n)), s));
        return;
    }
    let ins: Vec<String> = nd.inputs.iter().map(|&v| vname(g, v)).collect();
    if !ins.is_empty() {
        let _ = write!(s, " {}", ins.join(", "));
    }
    let tys: Vec<String> = nd.outputs.iter().map(|&v| vty(g, v)).collect();
    let attrs = nd.op.attrs();
    let has_graph = attrs.iter().any(|(_, a)| matches!(a, AttrValue::Graph(_)));
    if !has_graph {
        if !attrs.is_empty() {
            let a: Vec<String> = attrs
                .iter()
                .map(|(name, a)| format!("{name}={}", attr_text(a)))
                .collect();
            let _ = write!(s, " {{{}}}", a.join(", "));
        }
        let _ = write!(s, " : {}", tys.join(", "));
        out.push((tag(LinePart::Node(n)), s));
        return;
    }
    // Subgraphs: one attribute per line, each subgraph indented below.
    s.push_str(" {");
    out.push((tag(LinePart::Node(n)), s));
    let inner = format!("{indent}  ");
    for (i, (name, a)) in attrs.iter().enumerate() {
        let sep = if i + 1 < attrs.len() { "," } else { "" };
        match a {
            AttrValue::Graph(sub) => {
                let mut sub_path = path.to_vec();
                sub_path.push((n, *name));
                graph_lines(sub, &sub_path, &inner, &format!("{name}="), out);
                if let Some(last) = out.last_mut() {
                    last.1.push_str(sep);
                }
            }
            other => out.push((
                tag(LinePart::Other),
                format!("{inner}{name}={}{sep}", attr_text(other)),
            )),
        }
    }
    out.push((
        tag(LinePart::Other),
        format!("{indent}}} : {}", tys.join(", ")),
    ));
}

/// `%name` for named values, `%12` otherwise.
pub(crate) fn vname(g: &Graph, v: Value) -> String {
    match g.contains_value(v).then(|| g.name_of(v)).flatten() {
        Some(name) => {
            let mut s = String::from("%");
            let _ = crate::dim::write_name(&mut s, name);
            s
        }
        None => v.to_string(),
    }
}

fn vty(g: &Graph, v: Value) -> String {
    if g.contains_value(v) {
        g.ty(v).to_string()
    } else {
        "<invalid>".to_string()
    }
}

/// A float as the text format writes it: always with `.` or `e`; `nan`, `inf`.
fn float_text(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

fn tensor_text(t: &Tensor) -> String {
    let mut s = t.ty().to_string();
    if t.numel() > MAX_SHOWN_ELEMS {
        s.push_str(" [...]");
        return s;
    }
    let vals: Vec<String> = match t.dtype() {
        DType::Bool => t.to_bools().iter().map(|b| b.to_string()).collect(),
        d if d.is_int() => t.to_i64s().iter().map(|v| v.to_string()).collect(),
        // f32 values print through f32 so `0.1` stays `0.1`.
        DType::F32 => t
            .as_slice::<f32>()
            .map(|v| v.iter().map(|&x| f32_text(x)).collect())
            .unwrap_or_default(),
        _ => t.to_f64s().into_iter().map(float_text).collect(),
    };
    let _ = write!(s, " [{}]", vals.join(", "));
    s
}

fn f32_text(x: f32) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else {
        float_text(f64::from(x))
    }
}

fn attr_text(a: &AttrValue) -> String {
    match a {
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Float(x) => f32_text(*x),
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Ints(v) => {
            let v: Vec<String> = v.iter().map(|i| i.to_string()).collect();
            format!("[{}]", v.join(", "))
        }
        AttrValue::Floats(v) => {
            let v: Vec<String> = v.iter().map(|&x| f32_text(x)).collect();
            format!("[{}]", v.join(", "))
        }
        AttrValue::Str(s) => format!("{s:?}"),
        AttrValue::DType(d) => d.to_string(),
        AttrValue::Tensor(t) => tensor_text(t),
        AttrValue::Graph(g) => format!("graph @{}", g.name),
    }
}
