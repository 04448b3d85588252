//! The graph: SSA values, nodes in schedule order, inputs and outputs.
//!
//! Values and nodes are `u32` entities into dense arenas (after Cranelift).
//! Each value is defined exactly once — by a graph input or by one result of a
//! node — and carries its type. `order` is the schedule: a topological order
//! of the live nodes. Removing a node takes it out of `order`; its arena slot
//! stays (so entity numbers are stable while passes run) until [`Graph::compact`].
//!
//! Two graphs are equal (`==`) when they are the same computation written in
//! the same order: same name, input types and names, ops, operand wiring,
//! result types and value names, and outputs — whatever the entity numbers.

use crate::op::Op;
use crate::types::TensorType;
use std::collections::HashMap;
use std::fmt;

/// A value in a graph; prints as `%12` (or `%name` when named).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(u32);

/// A node (one op application) in a graph; prints as `n12`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node(u32);

impl Value {
    pub fn index(self) -> usize {
        self.0 as usize
    }
    pub fn from_index(i: usize) -> Value {
        Value(u32::try_from(i).expect("more than u32::MAX values"))
    }
}

impl Node {
    pub fn index(self) -> usize {
        self.0 as usize
    }
    pub fn from_index(i: usize) -> Node {
        Node(u32::try_from(i).expect("more than u32::MAX nodes"))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}
impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Where a value comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ValueDef {
    /// The `i`th graph input.
    Input(usize),
    /// The `i`th result of a node.
    Result(Node, usize),
}

/// What the graph knows about a value.
#[derive(Clone, Debug)]
pub struct ValueData {
    pub ty: TensorType,
    pub def: ValueDef,
    /// A human name (graph inputs, ONNX tensor names); unique within a graph.
    pub name: Option<String>,
}

/// One op application.
#[derive(Clone, Debug)]
pub struct NodeData {
    pub op: Op,
    pub inputs: Vec<Value>,
    pub outputs: Vec<Value>,
    /// Where the node came from (e.g. the ONNX node name), for diagnostics.
    pub loc: Option<String>,
}

/// A computation graph in SSA form.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    values: Vec<ValueData>,
    nodes: Vec<NodeData>,
    order: Vec<Node>,
    inputs: Vec<Value>,
    outputs: Vec<Value>,
    names: HashMap<String, Value>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    // ---- Reading -------------------------------------------------------

    pub fn inputs(&self) -> &[Value] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[Value] {
        &self.outputs
    }

    /// The live nodes in schedule order.
    pub fn order(&self) -> &[Node] {
        &self.order
    }

    pub fn node(&self, n: Node) -> &NodeData {
        &self.nodes[n.index()]
    }

    pub fn node_mut(&mut self, n: Node) -> &mut NodeData {
        &mut self.nodes[n.index()]
    }

    pub fn value(&self, v: Value) -> &ValueData {
        &self.values[v.index()]
    }

    pub fn ty(&self, v: Value) -> &TensorType {
        &self.values[v.index()].ty
    }

    /// Set a value's type (shape inference refines types in place).
    pub fn set_ty(&mut self, v: Value, ty: TensorType) {
        self.values[v.index()].ty = ty;
    }

    pub fn name_of(&self, v: Value) -> Option<&str> {
        self.values[v.index()].name.as_deref()
    }

    /// The value with this name, if any.
    pub fn value_named(&self, name: &str) -> Option<Value> {
        self.names.get(name).copied()
    }

    /// Number of value slots (including values of removed nodes).
    pub fn num_values(&self) -> usize {
        self.values.len()
    }

    /// Number of node slots (including removed nodes).
    pub fn num_node_slots(&self) -> usize {
        self.nodes.len()
    }

    /// Whether `v` is a valid entity of this graph.
    pub fn contains_value(&self, v: Value) -> bool {
        v.index() < self.values.len()
    }

    /// The node defining `v`, if it is not a graph input.
    pub fn producer(&self, v: Value) -> Option<Node> {
        match self.values[v.index()].def {
            ValueDef::Result(n, _) => Some(n),
            ValueDef::Input(_) => None,
        }
    }

    /// The constant tensor `v` holds, if it is the result of a `const` node.
    pub fn const_value(&self, v: Value) -> Option<&crate::Tensor> {
        match &self.node(self.producer(v)?).op {
            Op::Const { value } => Some(value),
            _ => None,
        }
    }

    /// For every value, the live nodes that use it (in schedule order).
    pub fn users(&self) -> HashMap<Value, Vec<Node>> {
        let mut m: HashMap<Value, Vec<Node>> = HashMap::new();
        for &n in &self.order {
            for &v in &self.nodes[n.index()].inputs {
                let e = m.entry(v).or_default();
                if e.last() != Some(&n) {
                    e.push(n);
                }
            }
        }
        m
    }

    // ---- Building -------------------------------------------------------

    /// Add a graph input. Names must be unique; a taken name is an error.
    pub fn add_input(&mut self, name: &str, ty: TensorType) -> Result<Value, String> {
        let v = self.new_value(ty, ValueDef::Input(self.inputs.len()));
        self.set_name(v, name)?;
        self.inputs.push(v);
        Ok(v)
    }

    /// Append a node whose result types are given (the parser and passes that
    /// already know types use this; the verifier checks them). Returns the
    /// node; its results are `node(n).outputs`.
    pub fn push_node(&mut self, op: Op, inputs: Vec<Value>, result_types: Vec<TensorType>) -> Node {
        let n = Node::from_index(self.nodes.len());
        let outputs = result_types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| self.new_value(ty, ValueDef::Result(n, i)))
            .collect();
        self.nodes.push(NodeData {
            op,
            inputs,
            outputs,
            loc: None,
        });
        self.order.push(n);
        n
    }

    /// Append a node, computing its result types from its operands. Errors
    /// name the op and the operand types.
    pub fn add_node(&mut self, op: Op, inputs: &[Value]) -> Result<Vec<Value>, crate::InferError> {
        let tys = crate::infer::infer_node(self, &op, inputs)?;
        let n = self.push_node(op, inputs.to_vec(), tys);
        Ok(self.nodes[n.index()].outputs.clone())
    }

    /// Append a constant node.
    pub fn add_const(&mut self, t: crate::Tensor) -> Value {
        let ty = t.ty();
        let n = self.push_node(Op::constant(t), vec![], vec![ty]);
        self.nodes[n.index()].outputs[0]
    }

    pub fn set_outputs(&mut self, outputs: Vec<Value>) {
        self.outputs = outputs;
    }

    /// Name a value. Names are unique within a graph and may not be all
    /// digits (those print as anonymous values).
    pub fn set_name(&mut self, v: Value, name: &str) -> Result<(), String> {
        if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "`{name}` cannot name a value (empty or all digits)"
            ));
        }
        if let Some(&other) = self.names.get(name) {
            if other != v {
                return Err(format!("value name `{name}` is already used by {other}"));
            }
            return Ok(());
        }
        if let Some(old) = self.values[v.index()].name.take() {
            self.names.remove(&old);
        }
        self.values[v.index()].name = Some(name.to_string());
        self.names.insert(name.to_string(), v);
        Ok(())
    }

    /// Name a value with `base`, or `base.1`, `base.2`, ... if taken.
    pub fn set_name_unique(&mut self, v: Value, base: &str) {
        let base = if base.is_empty() || base.bytes().all(|b| b.is_ascii_digit()) {
            format!("v{base}")
        } else {
            base.to_string()
        };
        let mut name = base.clone();
        let mut k = 1;
        while self.names.get(&name).is_some_and(|&o| o != v) {
            name = format!("{base}.{k}");
            k += 1;
        }
        self.set_name(v, &name).expect("fresh name is free");
    }

    pub fn set_loc(&mut self, n: Node, loc: Option<String>) {
        self.nodes[n.index()].loc = loc;
    }

    fn new_value(&mut self, ty: TensorType, def: ValueDef) -> Value {
        let v = Value::from_index(self.values.len());
        self.values.push(ValueData {
            ty,
            def,
            name: None,
        });
        v
    }

    // ---- Rewriting ------------------------------------------------------

    /// Replace every use of `old` (node operands and graph outputs) by `new`.
    pub fn replace_uses(&mut self, old: Value, new: Value) {
        for &n in &self.order {
            for v in &mut self.nodes[n.index()].inputs {
                if *v == old {
                    *v = new;
                }
            }
        }
        for v in &mut self.outputs {
            if *v == old {
                *v = new;
            }
        }
    }

    /// Take nodes out of the schedule. Their values must be unused.
    pub fn remove_nodes(&mut self, dead: &[Node]) {
        let dead: std::collections::HashSet<Node> = dead.iter().copied().collect();
        self.order.retain(|n| !dead.contains(n));
        for &n in &dead {
            for i in 0..self.nodes[n.index()].outputs.len() {
                let v = self.nodes[n.index()].outputs[i];
                if let Some(name) = self.values[v.index()].name.take() {
                    self.names.remove(&name);
                }
            }
        }
    }

    /// Replace the schedule (e.g. after a pass reorders or inserts nodes).
    /// The caller keeps it topological; the verifier checks.
    pub fn set_order(&mut self, order: Vec<Node>) {
        self.order = order;
    }

    /// Rebuild the arenas with only live entities, numbered in definition
    /// order (inputs first, then node results in schedule order).
    pub fn compact(&self) -> Graph {
        let mut g = Graph::new(self.name.clone());
        let mut map: HashMap<Value, Value> = HashMap::new();
        for &v in &self.inputs {
            let d = self.value(v);
            let nv = g.new_value(d.ty.clone(), ValueDef::Input(g.inputs.len()));
            g.inputs.push(nv);
            if let Some(name) = &d.name {
                g.set_name(nv, name).expect("names were unique");
            }
            map.insert(v, nv);
        }
        for &n in &self.order {
            let nd = self.node(n);
            let inputs = nd
                .inputs
                .iter()
                .map(|v| map.get(v).copied().unwrap_or(*v))
                .collect();
            let tys = nd.outputs.iter().map(|&v| self.ty(v).clone()).collect();
            let nn = g.push_node(nd.op.clone(), inputs, tys);
            g.nodes[nn.index()].loc = nd.loc.clone();
            for (i, &v) in nd.outputs.iter().enumerate() {
                let nv = g.nodes[nn.index()].outputs[i];
                if let Some(name) = &self.value(v).name {
                    g.set_name(nv, name).expect("names were unique");
                }
                map.insert(v, nv);
            }
        }
        g.outputs = self
            .outputs
            .iter()
            .map(|v| map.get(v).copied().unwrap_or(*v))
            .collect();
        g
    }
}

impl PartialEq for Graph {
    fn eq(&self, o: &Graph) -> bool {
        if self.name != o.name
            || self.inputs.len() != o.inputs.len()
            || self.order.len() != o.order.len()
            || self.outputs.len() != o.outputs.len()
        {
            return false;
        }
        let same_value = |a: Value, b: Value| {
            let (x, y) = (self.value(a), o.value(b));
            x.ty == y.ty && x.name == y.name
        };
        let mut map: HashMap<Value, Value> = HashMap::new();
        for (&a, &b) in self.inputs.iter().zip(&o.inputs) {
            if !same_value(a, b) {
                return false;
            }
            map.insert(a, b);
        }
        for (&na, &nb) in self.order.iter().zip(&o.order) {
            let (x, y) = (self.node(na), o.node(nb));
            if x.op != y.op
                || x.loc != y.loc
                || x.inputs.len() != y.inputs.len()
                || x.outputs.len() != y.outputs.len()
            {
                return false;
            }
            if x.inputs
                .iter()
                .zip(&y.inputs)
                .any(|(a, b)| map.get(a) != Some(b))
            {
                return false;
            }
            for (&a, &b) in x.outputs.iter().zip(&y.outputs) {
                if !same_value(a, b) {
                    return false;
                }
                map.insert(a, b);
            }
        }
        self.outputs
            .iter()
            .zip(&o.outputs)
            .all(|(a, b)| map.get(a) == Some(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Tensor};

    fn t2() -> TensorType {
        TensorType::fixed(DType::F32, &[2])
    }

    #[test]
    fn equality_ignores_entity_numbers_but_not_wiring() {
        let mut a = Graph::new("f");
        let x = a.add_input("x", t2()).unwrap();
        let dead = a.add_const(Tensor::scalar(1.0f32));
        let n = a.push_node(Op::Relu, vec![x], vec![t2()]);
        let y = a.node(n).outputs[0];
        a.set_outputs(vec![y]);
        a.remove_nodes(&[a.producer(dead).unwrap()]);
        let b = a.compact();
        assert_eq!(a, b);
        assert!(b.num_values() < a.num_values());

        let mut c = Graph::new("f");
        let x = c.add_input("x", t2()).unwrap();
        let n = c.push_node(Op::Relu, vec![x], vec![t2()]);
        let y = c.node(n).outputs[0];
        c.set_outputs(vec![x]);
        assert_ne!(a, c, "outputs differ");
        c.set_outputs(vec![y]);
        assert_eq!(a, c);
        c.set_loc(n, Some("relu_1".into()));
        assert_ne!(a, c, "locations are part of the graph");
    }

    #[test]
    fn names_are_unique() {
        let mut g = Graph::new("f");
        let x = g.add_input("x", t2()).unwrap();
        assert!(g.add_input("x", t2()).is_err());
        let c = g.add_const(Tensor::scalar(1.0f32));
        assert!(g.set_name(c, "x").is_err());
        assert!(g.set_name(c, "12").is_err());
        g.set_name_unique(c, "x");
        assert_eq!(g.name_of(c), Some("x.1"));
        assert_eq!(g.value_named("x"), Some(x));
        g.remove_nodes(&[g.producer(c).unwrap()]);
        assert_eq!(g.value_named("x.1"), None);
    }

    #[test]
    fn replace_uses_rewires_operands_and_outputs() {
        let mut g = Graph::new("f");
        let x = g.add_input("x", t2()).unwrap();
        let z = g.add_input("z", t2()).unwrap();
        let n = g.push_node(Op::Relu, vec![x], vec![t2()]);
        g.set_outputs(vec![x, g.node(n).outputs[0]]);
        g.replace_uses(x, z);
        assert_eq!(g.node(n).inputs, vec![z]);
        assert_eq!(g.outputs()[0], z);
        assert_eq!(g.users()[&z], vec![n]);
    }
}
