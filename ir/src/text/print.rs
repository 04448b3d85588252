//! The printer: a [`Graph`] as IR text.
//!
//! Values print as `%name` (quoted when not an identifier) or `%N` with the
//! value's index, so a debug print of a `Value` matches the text. Attributes
//! print in [`Op::attrs`] order. A constant whose result type is its tensor's
//! type prints in the short form `const <type> [values]`; any other node,
//! a malformed const included, prints in the general form
//! `results = op operands {attrs} : types`, so nothing is lost.
//!
//! Tensors with more than `inline_limit` elements print by reference
//! (`@label`). Labels are the value's name, or `c<index>`; tensors in other
//! attributes add `_<attr>`; subgraphs prefix their graph's name and `_`. A
//! label already taken in this print gets `_1`, `_2`, ... — the table returned by
//! [`Printer::print_with_weights`] maps each printed label to its tensor.

use super::literal::{fmt_f32, write_elems};
use crate::attr::AttrValue;
use crate::dim::write_name;
use crate::graph::{Graph, Node, Value};
use crate::op::Op;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::fmt::{self, Write};

/// Constants with more elements than this print by reference by default.
pub const DEFAULT_INLINE_LIMIT: usize = 16;

/// Printing options.
#[derive(Clone, Debug)]
pub struct Printer {
    /// Tensors with more elements than this print as `@label`; `usize::MAX`
    /// inlines every tensor.
    pub inline_limit: usize,
}

impl Default for Printer {
    fn default() -> Printer {
        Printer {
            inline_limit: DEFAULT_INLINE_LIMIT,
        }
    }
}

/// `g` as text, with the default options.
pub fn print(g: &Graph) -> String {
    Printer::default().print(g)
}

/// The label → tensor table for the tensors that printing `g` with this
/// `inline_limit` writes by reference; give it to
/// [`parse_with_weights`](super::parse_with_weights).
pub fn weights_table(g: &Graph, inline_limit: usize) -> HashMap<String, Tensor> {
    Printer { inline_limit }.print_with_weights(g).1
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print(self))
    }
}

impl Printer {
    /// `g` as text.
    pub fn print(&self, g: &Graph) -> String {
        self.print_with_weights(g).0
    }

    /// `g` as text, and the tensors it refers to by label.
    pub fn print_with_weights(&self, g: &Graph) -> (String, HashMap<String, Tensor>) {
        self.run(g, &|_| None)
    }

    /// `g` as text with `note(n)` appended as a `; comment` after each
    /// top-level node's statement (the verifier marks offending nodes so).
    pub fn print_annotated(&self, g: &Graph, note: &dyn Fn(Node) -> Option<String>) -> String {
        self.run(g, note).0
    }

    fn run(
        &self,
        g: &Graph,
        note: &dyn Fn(Node) -> Option<String>,
    ) -> (String, HashMap<String, Tensor>) {
        let mut st = State {
            limit: self.inline_limit,
            out: String::new(),
            weights: HashMap::new(),
        };
        st.graph(g, 0, "", note);
        st.out.push('\n');
        (st.out, st.weights)
    }
}

struct State {
    limit: usize,
    out: String,
    weights: HashMap<String, Tensor>,
}

/// Write `s` always quoted, with the escapes the lexer reads.
fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_name(out: &mut String, s: &str) {
    let _ = write_name(out, s);
}

impl State {
    fn value(&mut self, g: &Graph, v: Value) {
        self.out.push('%');
        // A dangling reference (an invalid graph) still prints, as its number.
        match g.contains_value(v).then(|| g.name_of(v)).flatten() {
            Some(name) => push_name(&mut self.out, name),
            None => {
                let _ = write!(self.out, "{}", v.index());
            }
        }
    }

    fn ty_of(&mut self, g: &Graph, v: Value) {
        if g.contains_value(v) {
            let _ = write!(self.out, "{}", g.ty(v));
        } else {
            self.out.push_str("f32[?]");
        }
    }

    /// `()` for none, `t` for one; several are parenthesized if `paren`.
    fn types(&mut self, g: &Graph, vs: &[Value], paren: bool) {
        let paren = vs.is_empty() || (paren && vs.len() > 1);
        if paren {
            self.out.push('(');
        }
        for (i, &v) in vs.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.ty_of(g, v);
        }
        if paren {
            self.out.push(')');
        }
    }

    fn indent(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    fn graph(
        &mut self,
        g: &Graph,
        ind: usize,
        prefix: &str,
        note: &dyn Fn(Node) -> Option<String>,
    ) {
        self.out.push_str("graph @");
        push_name(&mut self.out, &g.name);
        self.out.push('(');
        for (i, &v) in g.inputs().iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.value(g, v);
            self.out.push_str(": ");
            self.ty_of(g, v);
        }
        self.out.push_str(") -> ");
        self.types(g, g.outputs(), true);
        self.out.push_str(" {\n");
        for &n in g.order() {
            self.indent(ind + 2);
            self.node(g, n, ind + 2, prefix);
            if let Some(msg) = note(n) {
                self.out.push_str("  ; ");
                self.out.push_str(&msg.replace('\n', " "));
            }
            self.out.push('\n');
        }
        self.indent(ind + 2);
        self.out.push_str("return");
        for (i, &v) in g.outputs().iter().enumerate() {
            self.out.push_str(if i > 0 { ", " } else { " " });
            self.value(g, v);
        }
        self.out.push('\n');
        self.indent(ind);
        self.out.push('}');
    }

    /// The label for a tensor printed by reference, made unique in this print.
    fn label(
        &mut self,
        g: &Graph,
        nd_first: Option<Value>,
        attr: Option<&str>,
        prefix: &str,
    ) -> String {
        let mut base = prefix.to_string();
        match nd_first {
            Some(v) if g.contains_value(v) => match g.name_of(v) {
                Some(name) => base.push_str(name),
                None => base.push_str(&format!("c{}", v.index())),
            },
            _ => base.push('c'),
        }
        if let Some(a) = attr {
            base.push('_');
            base.push_str(a);
        }
        let mut label = base.clone();
        let mut k = 1;
        while self.weights.contains_key(&label) {
            label = format!("{base}_{k}");
            k += 1;
        }
        label
    }

    fn tensor(
        &mut self,
        g: &Graph,
        t: &Tensor,
        first: Option<Value>,
        attr: Option<&str>,
        prefix: &str,
    ) {
        let _ = write!(self.out, "{}", t.ty());
        self.out.push(' ');
        if t.numel() > self.limit {
            let label = self.label(g, first, attr, prefix);
            self.out.push('@');
            push_name(&mut self.out, &label);
            self.weights.insert(label, t.clone());
        } else {
            write_elems(&mut self.out, t);
        }
    }

    fn node(&mut self, g: &Graph, n: Node, ind: usize, prefix: &str) {
        let nd = g.node(n);
        for (i, &v) in nd.outputs.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.value(g, v);
        }
        if !nd.outputs.is_empty() {
            self.out.push_str(" = ");
        }
        self.out.push_str(nd.op.name());
        let first = nd.outputs.first().copied();
        if let Op::Const { value } = &nd.op {
            let short = nd.inputs.is_empty()
                && nd.outputs.len() == 1
                && g.contains_value(nd.outputs[0])
                && *g.ty(nd.outputs[0]) == value.ty();
            if short {
                self.out.push(' ');
                self.tensor(g, value, first, None, prefix);
                self.loc(nd.loc.as_deref());
                return;
            }
        }
        for (i, &v) in nd.inputs.iter().enumerate() {
            self.out.push_str(if i > 0 { ", " } else { " " });
            self.value(g, v);
        }
        let attrs = nd.op.attrs();
        if !attrs.is_empty() {
            self.out.push_str(" {");
            for (i, (k, a)) in attrs.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.out.push_str(k);
                self.out.push('=');
                self.attr(g, a, first, k, ind, prefix);
            }
            self.out.push('}');
        }
        self.out.push_str(" : ");
        self.types(g, &nd.outputs, false);
        self.loc(nd.loc.as_deref());
    }

    fn loc(&mut self, loc: Option<&str>) {
        if let Some(l) = loc {
            self.out.push_str(" loc(");
            write_quoted(&mut self.out, l);
            self.out.push(')');
        }
    }

    fn attr(
        &mut self,
        g: &Graph,
        a: &AttrValue,
        first: Option<Value>,
        key: &str,
        ind: usize,
        prefix: &str,
    ) {
        match a {
            AttrValue::Int(i) => {
                let _ = write!(self.out, "{i}");
            }
            AttrValue::Float(x) => self.out.push_str(&fmt_f32(*x)),
            AttrValue::Bool(b) => {
                let _ = write!(self.out, "{b}");
            }
            AttrValue::Ints(v) => {
                let items: Vec<String> = v.iter().map(|i| i.to_string()).collect();
                let _ = write!(self.out, "[{}]", items.join(", "));
            }
            AttrValue::Floats(v) => {
                let items: Vec<String> = v.iter().map(|&x| fmt_f32(x)).collect();
                let _ = write!(self.out, "[{}]", items.join(", "));
            }
            AttrValue::Str(s) => write_quoted(&mut self.out, s),
            AttrValue::DType(d) => self.out.push_str(d.name()),
            AttrValue::Tensor(t) => self.tensor(g, t, first, Some(key), prefix),
            AttrValue::Graph(sub) => {
                let mut p = prefix.to_string();
                p.push_str(&sub.name);
                p.push('_');
                self.graph(sub, ind, &p, &|_| None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Dim, TensorType};

    fn mlp() -> Graph {
        let mut g = Graph::new("mlp");
        let b = Dim::var("batch");
        let x = g
            .add_input("x", TensorType::new(DType::F32, [b.clone(), 784.into()]))
            .unwrap();
        let w = g
            .add_input("w", TensorType::fixed(DType::F32, &[784, 128]))
            .unwrap();
        let t = TensorType::new(DType::F32, [b, 128.into()]);
        let n = g.push_node(Op::MatMul, vec![x, w], vec![t.clone()]);
        let m = g.node(n).outputs[0];
        let n2 = g.push_node(Op::Relu, vec![m], vec![t]);
        g.set_loc(n2, Some("relu \"1\"".into()));
        let r = g.node(n2).outputs[0];
        g.set_outputs(vec![r]);
        g
    }

    #[test]
    fn prints_the_documented_form() {
        assert_eq!(
            print(&mlp()),
            "graph @mlp(%x: f32[batch,784], %w: f32[784,128]) -> f32[batch,128] {\n  \
             %2 = matmul %x, %w : f32[batch,128]\n  \
             %3 = relu %2 : f32[batch,128] loc(\"relu \\\"1\\\"\")\n  \
             return %3\n}\n"
        );
    }

    #[test]
    fn large_constants_print_by_reference() {
        let mut g = Graph::new("c");
        let big = Tensor::zeros(DType::F32, &[4, 5]).unwrap();
        let v = g.add_const(big.clone());
        let small = g.add_const(Tensor::from_vec(&[2], vec![0.5f32, -1.0]).unwrap());
        g.set_name(small, "s").unwrap();
        g.set_outputs(vec![v, small]);
        let (text, w) = Printer::default().print_with_weights(&g);
        assert!(text.contains("%0 = const f32[4,5] @c0\n"), "{text}");
        assert!(text.contains("%s = const f32[2] [0.5, -1.0]\n"), "{text}");
        assert!(text.contains("-> (f32[4,5], f32[2])"), "{text}");
        assert_eq!(w.len(), 1);
        assert_eq!(w["c0"], big);
        let all = Printer {
            inline_limit: usize::MAX,
        }
        .print(&g);
        assert!(all.contains("[0.0, 0.0,"), "{all}");
        assert!(weights_table(&g, usize::MAX).is_empty());
    }

    #[test]
    fn colliding_labels_get_suffixes() {
        let mut g = Graph::new("g");
        let a = Tensor::zeros(DType::F32, &[20]).unwrap();
        let b = Tensor::zeros(DType::I8, &[20]).unwrap();
        let va = g.add_const(a.clone());
        g.set_name(va, "c1").unwrap();
        let vb = g.add_const(b.clone()); // anonymous %1: label `c1` is taken
        g.set_outputs(vec![va, vb]);
        let (text, w) = Printer::default().print_with_weights(&g);
        assert!(text.contains("%1 = const i8[20] @c1_1"), "{text}");
        assert_eq!((&w["c1"], &w["c1_1"]), (&a, &b));
        assert_eq!(crate::parse_with_weights(&text, &w).unwrap(), g);
    }

    #[test]
    fn annotations_follow_statements() {
        let g = mlp();
        let bad = g.order()[1];
        let s = Printer::default().print_annotated(&g, &|n| (n == bad).then(|| "here".into()));
        assert!(s.contains("loc(\"relu \\\"1\\\"\")  ; here\n"), "{s}");
    }
}
