//! Model → [`Graph`]: opsets, the unsupported-op scan, value types, scopes and
//! subgraphs.
//!
//! A [`Scope`] is one IR graph under construction plus the ONNX-name → value
//! map. Subgraphs (If branches, Loop bodies) are *closed* in the IR: before a
//! subgraph is converted we compute the outer names it uses (recursively
//! through its own subgraphs); outer constants are copied in as `const` nodes
//! (so shape inference still sees them), every other outer value becomes an
//! explicit input and an operand of the If/Loop ("captures").

use super::attrs::subgraphs;
use super::proto::{type_proto, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use super::{ops, tensor, ImportOptions, OnnxError, UnsupportedOp, MAX_OPSET, MIN_OPSET};
use ingot_ir::{Dim, Graph, Node, TensorType, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// One graph under construction.
pub(crate) struct Scope {
    pub g: Graph,
    names: HashMap<String, Value>,
}

pub(crate) struct Importer<'m> {
    base_dir: Option<&'m Path>,
    opts: &'m ImportOptions,
    /// The default domain's opset.
    pub opset: i64,
    pub scopes: Vec<Scope>,
    fresh_dims: usize,
}

pub(crate) fn import_model(
    model: &ModelProto,
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Graph, OnnxError> {
    let ir_version = model.ir_version.unwrap_or(0);
    if ir_version < 3 {
        return Err(OnnxError::Model(format!(
            "IR version {ir_version} is older than 3 (re-export the model with a newer exporter)"
        )));
    }
    let mut opsets: BTreeMap<String, i64> = BTreeMap::new();
    for o in &model.opset_import {
        let d = o.domain.clone().unwrap_or_default();
        let d = if d == "ai.onnx" { String::new() } else { d };
        opsets.insert(d, o.version.unwrap_or(0));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::Model("the model has no graph".into()))?;
    scan_unsupported(graph, &opsets)?;
    // Without a default-domain opset the scan has already rejected every
    // default-domain node, so any opset will do.
    let opset = opsets.get("").copied().unwrap_or(MAX_OPSET);
    let mut imp = Importer {
        base_dir,
        opts,
        opset,
        scopes: vec![],
        fresh_dims: 0,
    };
    imp.import_main(graph)
}

/// Collect every node whose (domain, op, opset) we cannot convert, in the
/// whole model including subgraphs, into one error.
fn scan_unsupported(g: &GraphProto, opsets: &BTreeMap<String, i64>) -> Result<(), OnnxError> {
    fn walk(
        g: &GraphProto,
        opsets: &BTreeMap<String, i64>,
        found: &mut BTreeMap<(String, String, i64), UnsupportedOp>,
    ) {
        for (i, n) in g.node.iter().enumerate() {
            let domain = n.domain.clone().unwrap_or_default();
            let domain = if domain == "ai.onnx" {
                String::new()
            } else {
                domain
            };
            let op_type = n.op_type.clone().unwrap_or_default();
            let opset = opsets.get(&domain).copied().unwrap_or(0);
            let reason = if !domain.is_empty() {
                ops::converter_in(&domain, &op_type)
                    .is_none()
                    .then_some(None)
            } else if !opset_ok(opset, &op_type) {
                Some(Some(format!(
                    "opsets {MIN_OPSET} to {MAX_OPSET} are supported"
                )))
            } else if ops::converter(&op_type).is_none() {
                Some(None)
            } else {
                None
            };
            if let Some(reason) = reason {
                found
                    .entry((domain.clone(), op_type.clone(), opset))
                    .or_insert_with(|| UnsupportedOp {
                        domain,
                        op_type,
                        opset,
                        nodes: vec![],
                        reason,
                    })
                    .nodes
                    .push(node_label(n, i));
            }
            for sg in subgraphs(n) {
                walk(sg, opsets, found);
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(g, opsets, &mut found);
    if found.is_empty() {
        Ok(())
    } else {
        Err(OnnxError::Unsupported(found.into_values().collect()))
    }
}

/// Opsets 7..=MAX; older ones only for ops defined the same way since 1.
fn opset_ok(opset: i64, op_type: &str) -> bool {
    (MIN_OPSET..=MAX_OPSET).contains(&opset)
        || ((1..MIN_OPSET).contains(&opset) && ops::stable_since_opset_1(op_type))
}

/// A node's name for diagnostics (`#index` when unnamed).
pub(crate) fn node_label(n: &NodeProto, index: usize) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("#{index} ({})", n.op_type.as_deref().unwrap_or("?")),
    }
}

/// The outer names a graph uses: node inputs and outputs not defined inside
/// it, including those of its nested subgraphs.
pub(crate) fn free_names(g: &GraphProto) -> Vec<String> {
    let mut defined: HashSet<&str> = HashSet::new();
    for i in &g.input {
        defined.insert(i.name.as_deref().unwrap_or(""));
    }
    for t in &g.initializer {
        defined.insert(t.name.as_deref().unwrap_or(""));
    }
    for n in &g.node {
        for o in &n.output {
            defined.insert(o);
        }
    }
    let mut seen = HashSet::new();
    let mut out = vec![];
    let mut use_name = |s: &str, out: &mut Vec<String>| {
        if !s.is_empty() && !defined.contains(s) && seen.insert(s.to_string()) {
            out.push(s.to_string());
        }
    };
    for n in &g.node {
        for i in &n.input {
            use_name(i, &mut out);
        }
        for sg in subgraphs(n) {
            for s in free_names(sg) {
                use_name(&s, &mut out);
            }
        }
    }
    for o in &g.output {
        use_name(o.name.as_deref().unwrap_or(""), &mut out);
    }
    out
}

impl<'m> Importer<'m> {
    pub fn scope(&mut self) -> &mut Scope {
        self.scopes.last_mut().expect("a scope is open")
    }

    pub fn g(&mut self) -> &mut Graph {
        &mut self.scope().g
    }

    pub fn graph(&self) -> &Graph {
        &self.scopes.last().expect("a scope is open").g
    }

    /// The value an ONNX name denotes in the current scope.
    pub fn lookup(&self, name: &str) -> Option<Value> {
        self.scopes.last()?.names.get(name).copied()
    }

    /// Bind an ONNX name; the value takes the name if it has none yet.
    pub fn bind(&mut self, name: &str, v: Value) {
        if name.is_empty() {
            return;
        }
        let s = self.scope();
        s.names.insert(name.to_string(), v);
        if s.g.name_of(v).is_none() {
            s.g.set_name_unique(v, name);
        }
    }

    fn import_main(&mut self, gp: &GraphProto) -> Result<Graph, OnnxError> {
        let name = gp.name.clone().unwrap_or_else(|| "main".into());
        self.scopes.push(Scope {
            g: Graph::new(if name.is_empty() { "main".into() } else { name }),
            names: HashMap::new(),
        });
        self.add_initializers(gp)?;
        let inits: HashSet<&str> = gp
            .initializer
            .iter()
            .filter_map(|t| t.name.as_deref())
            .collect();
        for vi in &gp.input {
            let name = vi.name.clone().unwrap_or_default();
            // Old exporters (IR < 4) list every weight as an input too; an input
            // with an initializer is a constant here.
            if inits.contains(name.as_str()) {
                continue;
            }
            if let Some(t) = self.opts.frozen_inputs.get(&name) {
                let ty = self.value_type(vi, true)?;
                if ty.dtype != t.dtype() || ty.rank() != t.rank() {
                    return Err(OnnxError::Model(format!(
                        "frozen input `{name}` is {}{:?} but declared {ty}",
                        t.dtype(),
                        t.shape()
                    )));
                }
                let v = self.g().add_const(t.clone());
                self.bind(&name, v);
                continue;
            }
            let ty = self.value_type(vi, true)?;
            let v = self
                .g()
                .add_input(&name, ty)
                .map_err(|e| OnnxError::Model(format!("graph input `{name}`: {e}")))?;
            self.scope().names.insert(name, v);
        }
        self.convert_body(gp)?;
        let s = self.scopes.pop().expect("main scope");
        Ok(s.g)
    }

    fn add_initializers(&mut self, gp: &GraphProto) -> Result<(), OnnxError> {
        for t in &gp.initializer {
            let name = t.name.clone().unwrap_or_default();
            let tensor = tensor::tensor_from_proto(t, self.base_dir)?;
            let v = self.g().add_const(tensor);
            self.bind(&name, v);
        }
        if let Some(s) = gp.sparse_initializer.first() {
            let name = s
                .values
                .as_ref()
                .and_then(|v| v.name.clone())
                .unwrap_or_default();
            return Err(OnnxError::UnsupportedType(format!(
                "sparse initializer `{name}`"
            )));
        }
        Ok(())
    }

    /// Convert the nodes of `gp` (in dependency order) and set the outputs.
    fn convert_body(&mut self, gp: &GraphProto) -> Result<(), OnnxError> {
        for i in topo_order(gp)? {
            self.convert_node(&gp.node[i], i)?;
        }
        if gp.output.is_empty() {
            return Err(OnnxError::Model(format!(
                "graph `{}` declares no outputs",
                gp.name.as_deref().unwrap_or("")
            )));
        }
        let mut outs = vec![];
        for o in &gp.output {
            let name = o.name.as_deref().unwrap_or("");
            let v = self.lookup(name).ok_or_else(|| {
                OnnxError::Model(format!("graph output `{name}` is never computed"))
            })?;
            outs.push(v);
        }
        self.g().set_outputs(outs);
        Ok(())
    }

    pub fn convert_node(&mut self, node: &NodeProto, index: usize) -> Result<(), OnnxError> {
        let first = self.graph().num_node_slots();
        let label = node_label(node, index);
        let results = ops::convert(self, node, &label)?;
        for k in first..self.graph().num_node_slots() {
            let n = Node::from_index(k);
            self.g().set_loc(n, Some(label.clone()));
        }
        for (k, name) in node.output.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let v = results.get(k).copied().ok_or_else(|| OnnxError::Node {
                node: label.clone(),
                op_type: node.op_type.clone().unwrap_or_default(),
                inputs: String::new(),
                msg: format!("output {k} (`{name}`) is not supported (inference form only)"),
            })?;
            self.bind(name, v);
        }
        Ok(())
    }

    /// Convert a subgraph into a closed IR graph. `fixed_inputs` are the
    /// types of the subgraph's own declared inputs (None: use the declared
    /// type). Returns the graph and the outer values to pass as captures
    /// (appended after the fixed inputs). `capture_names` are the outer names
    /// to make available, in order (at least [`free_names`] of `gp`; If passes
    /// the union over both branches so they take the same inputs).
    pub fn convert_subgraph(
        &mut self,
        gp: &GraphProto,
        name: &str,
        fixed_inputs: &[Option<TensorType>],
        capture_names: &[String],
    ) -> Result<(Graph, Vec<Value>), OnnxError> {
        if fixed_inputs.len() != gp.input.len() {
            return Err(OnnxError::Model(format!(
                "subgraph `{name}` declares {} inputs but {} are passed",
                gp.input.len(),
                fixed_inputs.len()
            )));
        }
        let mut sc = Scope {
            g: Graph::new(name),
            names: HashMap::new(),
        };
        for (vi, fixed) in gp.input.iter().zip(fixed_inputs) {
            let iname = vi.name.clone().unwrap_or_default();
            let ty = match fixed {
                Some(t) => t.clone(),
                None => self.value_type(vi, false)?,
            };
            let v = sc
                .g
                .add_input(&iname, ty)
                .map_err(|e| OnnxError::Model(format!("subgraph `{name}` input `{iname}`: {e}")))?;
            sc.names.insert(iname, v);
        }
        let mut captures = vec![];
        for f in capture_names.iter().cloned() {
            if sc.names.contains_key(&f) {
                continue;
            }
            let Some(outer) = self.lookup(&f) else {
                // Defined nowhere we can see; converting the node that uses it
                // reports the undefined name.
                continue;
            };
            if let Some(t) = self.graph().const_value(outer).cloned() {
                let v = sc.g.add_const(t);
                sc.g.set_name_unique(v, &f);
                sc.names.insert(f, v);
            } else {
                let ty = self.graph().ty(outer).clone();
                let v = sc.g.add_input(&f, ty).map_err(|e| {
                    OnnxError::Model(format!("subgraph `{name}` capture `{f}`: {e}"))
                })?;
                sc.names.insert(f, v);
                captures.push(outer);
            }
        }
        self.scopes.push(sc);
        let res = self
            .add_initializers(gp)
            .and_then(|()| self.convert_body(gp));
        let sc = self.scopes.pop().expect("subgraph scope");
        res?;
        Ok((sc.g, captures))
    }

    /// Convert a subgraph's nodes straight into the current graph (an If whose
    /// condition is known at compile time). Returns its output values.
    pub fn inline_subgraph(&mut self, gp: &GraphProto) -> Result<Vec<Value>, OnnxError> {
        if !gp.input.is_empty() {
            return Err(OnnxError::Model("an If branch takes no inputs".into()));
        }
        self.add_initializers(gp)?;
        for i in topo_order(gp)? {
            self.convert_node(&gp.node[i], i)?;
        }
        gp.output
            .iter()
            .map(|o| {
                let name = o.name.as_deref().unwrap_or("");
                self.lookup(name).ok_or_else(|| {
                    OnnxError::Model(format!("branch output `{name}` is never computed"))
                })
            })
            .collect()
    }

    /// The IR type of a declared value. Missing dims of top-level inputs get
    /// fresh symbolic names (so the interpreter binds them); elsewhere unknown.
    pub fn value_type(
        &mut self,
        vi: &ValueInfoProto,
        fresh: bool,
    ) -> Result<TensorType, OnnxError> {
        let name = vi.name.as_deref().unwrap_or("");
        let tt = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(tt)) => tt,
            Some(other) => {
                let kind = match other {
                    type_proto::Value::SequenceType(_) => "a sequence",
                    type_proto::Value::MapType(_) => "a map",
                    type_proto::Value::OptionalType(_) => "an optional",
                    type_proto::Value::SparseTensorType(_) => "a sparse tensor",
                    _ => "an opaque value",
                };
                return Err(OnnxError::UnsupportedType(format!("`{name}` is {kind}")));
            }
            None => {
                return Err(OnnxError::Model(format!("`{name}` has no type")));
            }
        };
        let dtype = tensor::dtype_of(tt.elem_type.unwrap_or(0)).map_err(|e| match e {
            OnnxError::UnsupportedType(m) => OnnxError::UnsupportedType(format!("`{name}`: {m}")),
            e => e,
        })?;
        let Some(shape) = &tt.shape else {
            return Err(OnnxError::UnsupportedType(format!(
                "`{name}` has no shape (unknown rank)"
            )));
        };
        let mut dims = vec![];
        for d in &shape.dim {
            use super::proto::tensor_shape_proto::dimension::Value as D;
            dims.push(match &d.value {
                Some(D::DimValue(v)) if *v >= 0 => Dim::Known(*v),
                Some(D::DimValue(v)) => {
                    return Err(OnnxError::Model(format!("`{name}` has a negative dim {v}")))
                }
                Some(D::DimParam(p)) if !p.is_empty() => Dim::var(p),
                _ if fresh => {
                    self.fresh_dims += 1;
                    Dim::var(&format!("unk__{}", self.fresh_dims))
                }
                _ => Dim::Unknown,
            });
        }
        Ok(TensorType::new(dtype, dims))
    }
}

/// The node indices of `gp` in an order where every node comes after the
/// producers of its inputs (ONNX requires topological order; some exporters
/// do not quite keep it). Names no node produces are inputs or outer values.
fn topo_order(gp: &GraphProto) -> Result<Vec<usize>, OnnxError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in gp.node.iter().enumerate() {
        for o in &n.output {
            if !o.is_empty() {
                producer.insert(o, i);
            }
        }
    }
    let deps: Vec<Vec<usize>> = gp
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut d: Vec<usize> = n
                .input
                .iter()
                .cloned()
                .chain(subgraphs(n).flat_map(free_names))
                .filter_map(|s| producer.get(s.as_str()).copied())
                .filter(|&p| p != i)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    if deps
        .iter()
        .enumerate()
        .all(|(i, d)| d.iter().all(|&p| p < i))
    {
        return Ok((0..gp.node.len()).collect());
    }
    // Depth-first topological sort, iterative (no recursion on user input).
    let mut state = vec![0u8; gp.node.len()]; // 0 new, 1 open, 2 done
    let mut order = vec![];
    for root in 0..gp.node.len() {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (n, ref mut k)) = stack.last_mut() {
            if let Some(&d) = deps[n].get(*k) {
                *k += 1;
                match state[d] {
                    0 => {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                    1 => {
                        return Err(OnnxError::Model(format!(
                            "the graph has a cycle through node {}",
                            node_label(&gp.node[d], d)
                        )))
                    }
                    _ => {}
                }
            } else {
                state[n] = 2;
                order.push(n);
                stack.pop();
            }
        }
    }
    Ok(order)
}
