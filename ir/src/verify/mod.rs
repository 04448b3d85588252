//! The verifier: checks that a graph is well formed and well typed, and
//! reports *every* problem it finds, each with its location.
//!
//! Checks, per graph (and recursively per If/Loop/Fused subgraph, each verified as
//! its own closed graph):
//! - structure: inputs, node results and outputs name values that exist;
//!   each value is defined once, by the definition its record names
//!   (`ValueDef`); no node appears twice in the schedule; value names are
//!   unique; the graph has at least one output;
//! - SSA order: every operand and every graph output is defined before use in
//!   schedule order (not later, not by a removed node, not at all);
//! - types: each node's arity, operand types and declared result types agree
//!   with [`crate::infer::infer`]. A declared dim may be more specific than the
//!   inferred one only where inference says `?`; a different known or symbolic
//!   dim is a shape inconsistency, a different dtype or rank a type mismatch.
//!
//! Assumes nothing about the graph: it never panics, whatever the arenas hold
//! (values and nodes are checked to exist before they are read). Inference
//! errors are verifier errors located at the node. Inference of a node with
//! subgraphs runs only when those subgraphs' inputs and outputs exist, since
//! inference reads their types.
//!
//! [`VerifyErrors`] displays each error as `error: <location>: <message>` and
//! then a listing of the graph with the offending lines marked.

mod render;

use render::vname;
pub use render::{render_graph_lines, LinePart, LineTag};

use crate::graph::{Graph, Node, Value, ValueDef};
use crate::infer::{const_dims, infer, InferInput};
use crate::op::Op;
use crate::types::TensorType;
use crate::Dim;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Which part of a graph an error is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The graph as a whole (e.g. it has no outputs).
    Graph,
    /// The `i`th graph input.
    Input(usize),
    /// A node (one statement).
    Node(Node),
    /// The `i`th graph output (the `return` statement).
    Output(usize),
}

/// One verifier finding.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    /// The name of the graph `verify` was called on.
    pub graph: String,
    /// The subgraphs leading to the graph the error is in, outermost first:
    /// the node carrying each subgraph and the attribute holding it.
    pub path: Vec<(Node, &'static str)>,
    pub at: Location,
    pub message: String,
}

impl VerifyError {
    /// The location as text: `@main/n3.then_branch/n1`, `@main/input 0`,
    /// `@main/output 1`, or `@main` for the graph as a whole.
    pub fn location(&self) -> String {
        let mut s = String::from("@");
        crate::dim::write_name(&mut s, &self.graph).expect("writing to a String");
        for (n, field) in &self.path {
            s.push_str(&format!("/{n}.{field}"));
        }
        match self.at {
            Location::Graph => {}
            Location::Input(i) => s.push_str(&format!("/input {i}")),
            Location::Node(n) => s.push_str(&format!("/{n}")),
            Location::Output(i) => s.push_str(&format!("/output {i}")),
        }
        s
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)
    }
}

/// Everything wrong with a graph, and the graph listing they refer to.
#[derive(Clone, Debug)]
pub struct VerifyErrors {
    /// Every error, in the order found (inputs, then nodes in schedule order
    /// with their subgraphs, then outputs).
    pub errors: Vec<VerifyError>,
    /// The graph's listing with each offending line followed by its errors.
    pub listing: String,
}

impl fmt::Display for VerifyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        write!(f, "\n{}", self.listing)
    }
}

impl std::error::Error for VerifyErrors {}

/// Check `g`; on failure return every error found.
pub fn verify(g: &Graph) -> Result<(), VerifyErrors> {
    let mut errors = Vec::new();
    check_graph(g, &g.name, &[], &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        let listing = render::annotate(g, &errors);
        Err(VerifyErrors { errors, listing })
    }
}

/// Where a value was defined, as seen while walking the schedule.
#[derive(Copy, Clone)]
enum Site {
    Input(usize),
    Node(Node),
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Input(i) => write!(f, "graph input {i}"),
            Site::Node(n) => write!(f, "{n}"),
        }
    }
}

/// The walk over one (sub)graph.
struct Checker<'a> {
    g: &'a Graph,
    top: &'a str,
    path: &'a [(Node, &'static str)],
    errors: &'a mut Vec<VerifyError>,
    /// Values defined so far, and by what.
    defined: HashMap<Value, Site>,
    /// First position of each node in the schedule.
    pos: HashMap<Node, usize>,
}

fn check_graph(g: &Graph, top: &str, path: &[(Node, &'static str)], errors: &mut Vec<VerifyError>) {
    let mut pos = HashMap::new();
    for (i, &n) in g.order().iter().enumerate() {
        pos.entry(n).or_insert(i);
    }
    let mut c = Checker {
        g,
        top,
        path,
        errors,
        defined: HashMap::new(),
        pos,
    };
    c.inputs();
    let mut seen = HashSet::new();
    for &n in g.order() {
        if n.index() >= g.num_node_slots() {
            c.err(
                Location::Node(n),
                format!(
                    "the schedule lists {n}, which does not exist (the graph has {} node slots)",
                    g.num_node_slots()
                ),
            );
        } else if !seen.insert(n) {
            c.err(
                Location::Node(n),
                format!("{n} appears more than once in the schedule"),
            );
        } else {
            c.node(n);
        }
    }
    c.outputs();
    c.names();
}

impl Checker<'_> {
    fn err(&mut self, at: Location, message: String) {
        self.errors.push(VerifyError {
            graph: self.top.to_string(),
            path: self.path.to_vec(),
            at,
            message,
        });
    }

    /// How a recorded definition reads in a message.
    fn recorded(&self, v: Value) -> String {
        match self.g.value(v).def {
            ValueDef::Input(i) => format!("graph input {i}"),
            ValueDef::Result(n, k) => format!("result {k} of {n}"),
        }
    }

    fn inputs(&mut self) {
        let g = self.g;
        for (i, &v) in g.inputs().iter().enumerate() {
            let at = Location::Input(i);
            if !g.contains_value(v) {
                let msg = format!("input {i} {} does not exist", vname(g, v));
                self.err(at, msg);
                continue;
            }
            if let Some(site) = self.defined.get(&v) {
                let msg = format!("input {i} {} is already defined as {site}", vname(g, v));
                self.err(at, msg);
                continue;
            }
            if g.value(v).def != ValueDef::Input(i) {
                let msg = format!(
                    "input {i} {} is recorded as {}",
                    vname(g, v),
                    self.recorded(v)
                );
                self.err(at, msg);
            }
            self.defined.insert(v, Site::Input(i));
        }
    }

    /// Why `v`, used at schedule position `at_pos`, is not available there;
    /// `None` if it is.
    fn undefined_reason(&self, v: Value, at_pos: usize) -> Option<String> {
        let g = self.g;
        if !g.contains_value(v) {
            return Some(format!(
                "does not exist (the graph has {} values)",
                g.num_values()
            ));
        }
        if self.defined.contains_key(&v) {
            return None;
        }
        Some(match g.value(v).def {
            ValueDef::Result(m, _) => match self.pos.get(&m) {
                Some(&p) if p >= at_pos => {
                    format!("is used before it is defined (by {m}, later in the schedule)")
                }
                // Scheduled earlier but the value was not recorded: the node's
                // result list does not hold it.
                Some(_) => format!("is not among the results of {m}, which its record names"),
                None => format!("is a result of {m}, which is not in the schedule (removed?)"),
            },
            ValueDef::Input(i) => {
                format!("is not defined (recorded as graph input {i}, which is another value)")
            }
        })
    }

    fn node(&mut self, n: Node) {
        let g = self.g;
        let nd = g.node(n);
        let at = Location::Node(n);
        let here = self.pos[&n];
        let mut operands_exist = true;
        for (k, &v) in nd.inputs.iter().enumerate() {
            operands_exist &= g.contains_value(v);
            if let Some(why) = self.undefined_reason(v, here) {
                self.err(at, format!("operand {k} {} {why}", vname(g, v)));
            }
        }
        let mut results_exist = true;
        for (k, &v) in nd.outputs.iter().enumerate() {
            if !g.contains_value(v) {
                results_exist = false;
                self.err(at, format!("result {k} {v} does not exist"));
                continue;
            }
            if let Some(site) = self.defined.get(&v) {
                let msg = format!("result {k} {} is already defined by {site}", vname(g, v));
                self.err(at, msg);
                continue;
            }
            if g.value(v).def != ValueDef::Result(n, k) {
                let msg = format!(
                    "result {k} {} is recorded as {}",
                    vname(g, v),
                    self.recorded(v)
                );
                self.err(at, msg);
            }
            self.defined.insert(v, Site::Node(n));
        }
        let subgraphs_sound = self.subgraphs(n, &nd.op);
        if operands_exist && results_exist && subgraphs_sound {
            self.types(n);
        }
    }

    /// Verify the node's subgraphs; whether their inputs and outputs exist
    /// (which inference of the node needs).
    fn subgraphs(&mut self, n: Node, op: &Op) -> bool {
        let subs = op.labeled_subgraphs();
        let mut sound = true;
        for (field, sub) in subs {
            let mut path = self.path.to_vec();
            path.push((n, field));
            check_graph(sub, self.top, &path, self.errors);
            sound &= sub
                .inputs()
                .iter()
                .chain(sub.outputs())
                .all(|&v| sub.contains_value(v));
        }
        sound
    }

    /// Compare the node's declared result types with inference.
    fn types(&mut self, n: Node) {
        let g = self.g;
        let nd = g.node(n);
        let at = Location::Node(n);
        let dims: Vec<Option<Vec<Dim>>> = nd
            .inputs
            .iter()
            .map(|&v| g.const_value(v).and_then(const_dims))
            .collect();
        let ins: Vec<InferInput> = nd
            .inputs
            .iter()
            .zip(&dims)
            .map(|(&v, d)| InferInput {
                ty: g.ty(v),
                konst: g.const_value(v),
                dims: d.as_deref(),
            })
            .collect();
        let inferred = match infer(&nd.op, &ins) {
            Ok(t) => t,
            Err(e) => return self.err(at, e.to_string()),
        };
        let op = nd.op.name();
        if inferred.len() != nd.outputs.len() {
            let msg = format!(
                "declares {} result(s) but `{op}` gives {}",
                nd.outputs.len(),
                inferred.len()
            );
            return self.err(at, msg);
        }
        for (k, (&v, want)) in nd.outputs.iter().zip(&inferred).enumerate() {
            let decl = g.ty(v);
            if let Some(why) = type_disagreement(decl, want) {
                let msg = format!(
                    "result {k} {} is declared {decl} but `{op}` gives {want}: {why}",
                    vname(g, v)
                );
                self.err(at, msg);
            }
        }
    }

    fn outputs(&mut self) {
        let g = self.g;
        if g.outputs().is_empty() {
            self.err(Location::Graph, "the graph has no outputs".to_string());
        }
        let end = g.order().len();
        for (i, &v) in g.outputs().iter().enumerate() {
            if let Some(why) = self.undefined_reason(v, end) {
                let msg = format!("output {i} {} {why}", vname(g, v));
                self.err(Location::Output(i), msg);
            }
        }
    }

    /// Value names are unique among the live values.
    fn names(&mut self) {
        let g = self.g;
        let mut live: Vec<(Value, Site)> = self.defined.iter().map(|(&v, &s)| (v, s)).collect();
        live.sort_by_key(|(v, _)| *v);
        let mut owner: HashMap<&str, Value> = HashMap::new();
        for (v, site) in live {
            if let Some(name) = g.name_of(v) {
                if let Some(&other) = owner.get(name) {
                    let at = match site {
                        Site::Input(i) => Location::Input(i),
                        Site::Node(n) => Location::Node(n),
                    };
                    self.err(
                        at,
                        format!("value name `{name}` is used by both {other} and {v}"),
                    );
                } else {
                    owner.insert(name, v);
                }
            }
        }
    }
}

/// Why a declared type disagrees with the inferred one, if it does.
fn type_disagreement(decl: &TensorType, inferred: &TensorType) -> Option<String> {
    if decl.dtype != inferred.dtype {
        return Some(format!(
            "type mismatch (dtype {} vs {})",
            decl.dtype, inferred.dtype
        ));
    }
    if decl.rank() != inferred.rank() {
        return Some(format!(
            "type mismatch (rank {} vs {})",
            decl.rank(),
            inferred.rank()
        ));
    }
    for (axis, (d, i)) in decl.shape.iter().zip(&inferred.shape).enumerate() {
        // A declared dim may refine an unknown one; declaring `?` where
        // inference knows more only loses information, which is sound.
        if *i == Dim::Unknown || *d == Dim::Unknown || d == i {
            continue;
        }
        return Some(format!("shape inconsistency (axis {axis}: {d} vs {i})"));
    }
    None
}

#[cfg(test)]
mod tests;
