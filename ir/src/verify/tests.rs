//! Verifier tests on hand-built graphs. They use ops whose inference exists
//! in every build (const, if, loop) wherever the exact error list matters.

use super::*;
use crate::{DType, Tensor};

fn f32s(v: &[f32]) -> Tensor {
    Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
}

fn ty(d: DType, dims: &[usize]) -> TensorType {
    TensorType::fixed(d, dims)
}

/// The messages `verify` reports, as `location: message`.
fn errors(g: &Graph) -> Vec<String> {
    match verify(g) {
        Ok(()) => vec![],
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn assert_one(g: &Graph, needle: &str) {
    let es = errors(g);
    assert!(
        es.len() == 1 && es[0].contains(needle),
        "expected one error containing {needle:?}, got {es:#?}"
    );
}

/// `graph @<name>(%a: f32[2]) -> f32[2] { return %a }`
fn pass_through(name: &str) -> Graph {
    let mut g = Graph::new(name);
    let a = g.add_input("a", ty(DType::F32, &[2])).unwrap();
    g.set_outputs(vec![a]);
    g
}

/// `graph @<name>(%a: f32[2]) -> f32[2] { %0 = const [7, 8]; return %0 }`
fn const_branch(name: &str) -> Graph {
    let mut g = Graph::new(name);
    g.add_input("a", ty(DType::F32, &[2])).unwrap();
    let k = g.add_const(f32s(&[7.0, 8.0]));
    g.set_outputs(vec![k]);
    g
}

fn if_op(then: Graph, els: Graph) -> Op {
    Op::If {
        then_branch: Box::new(then),
        else_branch: Box::new(els),
    }
}

/// `@main(%c: bool[], %x: f32[2]) -> f32[2]`: `n0: %2 = if %c, %x`.
fn main_with_if(then: Graph, els: Graph, declared: TensorType) -> (Graph, Node) {
    let mut g = Graph::new("main");
    let c = g.add_input("c", TensorType::scalar(DType::Bool)).unwrap();
    let x = g.add_input("x", ty(DType::F32, &[2])).unwrap();
    let n = g.push_node(if_op(then, els), vec![c, x], vec![declared]);
    let r = g.node(n).outputs[0];
    g.set_outputs(vec![r]);
    (g, n)
}

#[test]
fn well_formed_graphs_verify() {
    let (g, _) = main_with_if(
        pass_through("then"),
        const_branch("else"),
        ty(DType::F32, &[2]),
    );
    assert_eq!(errors(&g), Vec::<String>::new());

    // A loop carrying %x through a body that returns it unchanged.
    let mut body = Graph::new("body");
    body.add_input("i", TensorType::scalar(DType::I64)).unwrap();
    let cond = body
        .add_input("cond", TensorType::scalar(DType::Bool))
        .unwrap();
    let a = body.add_input("a", ty(DType::F32, &[2])).unwrap();
    body.set_outputs(vec![cond, a]);
    let mut g = Graph::new("main");
    let c = g.add_input("c", TensorType::scalar(DType::Bool)).unwrap();
    let x = g.add_input("x", ty(DType::F32, &[2])).unwrap();
    let trip = g.add_const(Tensor::scalar(3i64));
    let op = Op::Loop {
        body: Box::new(body),
        num_carried: 1,
    };
    let r = g.add_node(op, &[trip, c, x]).unwrap();
    g.set_outputs(r);
    assert_eq!(errors(&g), Vec::<String>::new());
}

#[test]
fn use_before_def_names_the_later_definition() {
    let (mut g, n_if) = main_with_if(
        pass_through("then"),
        const_branch("else"),
        ty(DType::F32, &[2]),
    );
    let k = g.add_const(Tensor::from_bools(&[], &[true]).unwrap());
    let n_k = g.producer(k).unwrap();
    g.node_mut(n_if).inputs[0] = k;
    g.set_order(vec![n_if, n_k]);
    assert_one(
        &g,
        "@main/n0: operand 0 %3 is used before it is defined (by n1, later in the schedule)",
    );
}

#[test]
fn undefined_and_removed_values() {
    let (mut g, n_if) = main_with_if(
        pass_through("then"),
        const_branch("else"),
        ty(DType::F32, &[2]),
    );
    g.node_mut(n_if).inputs[1] = Value::from_index(999);
    assert_one(&g, "@main/n0: operand 1 %999 does not exist");

    let (mut g, n_if) = main_with_if(
        pass_through("then"),
        const_branch("else"),
        ty(DType::F32, &[2]),
    );
    let k = g.add_const(Tensor::from_bools(&[], &[true]).unwrap());
    let n_k = g.producer(k).unwrap();
    g.node_mut(n_if).inputs[0] = k;
    g.set_order(vec![n_k, n_if]);
    assert_eq!(errors(&g), Vec::<String>::new());
    g.remove_nodes(&[n_k]);
    assert_one(
        &g,
        "operand 0 %3 is a result of n1, which is not in the schedule",
    );
}

#[test]
fn declared_types_are_checked_against_inference() {
    let mut g = Graph::new("main");
    let n = g.push_node(
        Op::constant(f32s(&[1.0, 2.0])),
        vec![],
        vec![ty(DType::I64, &[2])],
    );
    g.set_outputs(g.node(n).outputs.clone());
    assert_one(
        &g,
        "@main/n0: result 0 %0 is declared i64[2] but `const` gives f32[2]: type mismatch (dtype",
    );

    g.set_ty(Value::from_index(0), ty(DType::F32, &[1, 2]));
    assert_one(&g, "type mismatch (rank 2 vs 1)");

    g.set_ty(Value::from_index(0), ty(DType::F32, &[3]));
    assert_one(&g, "shape inconsistency (axis 0: 3 vs 2)");

    g.set_ty(
        Value::from_index(0),
        TensorType::new(DType::F32, [Dim::var("n")]),
    );
    assert_one(&g, "shape inconsistency (axis 0: n vs 2)");

    // Declaring `?` where inference knows the size only loses information.
    g.set_ty(
        Value::from_index(0),
        TensorType::new(DType::F32, [Dim::Unknown]),
    );
    assert_eq!(errors(&g), Vec::<String>::new());
}

#[test]
fn a_declared_type_may_refine_an_unknown_dim() {
    // The branches give f32[2] and f32[3]: inference says f32[?].
    let mut els = Graph::new("else");
    els.add_input("a", ty(DType::F32, &[2])).unwrap();
    let k = els.add_const(f32s(&[1.0, 2.0, 3.0]));
    els.set_outputs(vec![k]);
    let (g, _) = main_with_if(pass_through("then"), els.clone(), ty(DType::F32, &[3]));
    assert_eq!(errors(&g), Vec::<String>::new());
    // ... but not change its rank.
    let (g, _) = main_with_if(pass_through("then"), els, ty(DType::F32, &[3, 1]));
    assert_one(&g, "type mismatch (rank 2 vs 1)");
}

#[test]
fn arity_and_result_count() {
    let mut g = Graph::new("main");
    let x = g.add_input("x", ty(DType::F32, &[2])).unwrap();
    let n = g.push_node(
        Op::constant(f32s(&[1.0, 2.0])),
        vec![x],
        vec![ty(DType::F32, &[2])],
    );
    g.set_outputs(g.node(n).outputs.clone());
    assert_one(&g, "@main/n0: `const` takes 0 operand(s) but was given 1");

    let mut g = Graph::new("main");
    let n = g.push_node(
        Op::constant(f32s(&[1.0, 2.0])),
        vec![],
        vec![ty(DType::F32, &[2]), ty(DType::F32, &[2])],
    );
    g.set_outputs(vec![g.node(n).outputs[0]]);
    assert_one(&g, "@main/n0: declares 2 result(s) but `const` gives 1");
}

#[test]
fn inference_errors_are_located_at_the_node() {
    // Whether relu's inference is written yet or not, two operands are wrong.
    let mut g = Graph::new("main");
    let x = g.add_input("x", ty(DType::F32, &[2])).unwrap();
    let n = g.push_node(Op::Relu, vec![x, x], vec![ty(DType::F32, &[2])]);
    g.set_outputs(g.node(n).outputs.clone());
    assert_one(&g, "@main/n0: `relu`");
}

#[test]
fn outputs_must_exist_and_be_defined() {
    let mut g = Graph::new("main");
    g.add_input("x", ty(DType::F32, &[2])).unwrap();
    assert_one(&g, "@main: the graph has no outputs");

    g.set_outputs(vec![Value::from_index(7)]);
    assert_one(&g, "@main/output 0: output 0 %7 does not exist");

    let k = g.add_const(f32s(&[1.0, 2.0]));
    g.set_outputs(vec![k]);
    assert_eq!(errors(&g), Vec::<String>::new());
    let n_k = g.producer(k).unwrap();
    g.remove_nodes(&[n_k]);
    assert_one(
        &g,
        "@main/output 0: output 0 %1 is a result of n0, which is not in the schedule",
    );
}

#[test]
fn schedule_and_definition_structure() {
    let mut g = Graph::new("main");
    let k = g.add_const(f32s(&[1.0, 2.0]));
    let n = g.producer(k).unwrap();
    g.set_outputs(vec![k]);
    g.set_order(vec![n, n]);
    assert_one(&g, "@main/n0: n0 appears more than once in the schedule");

    g.set_order(vec![n, Node::from_index(5)]);
    assert_one(&g, "@main/n5: the schedule lists n5, which does not exist");

    // A node claiming a graph input as its result defines it a second time.
    let mut g = Graph::new("main");
    let x = g.add_input("x", ty(DType::F32, &[2])).unwrap();
    let k = g.add_const(f32s(&[1.0, 2.0]));
    let n = g.producer(k).unwrap();
    g.node_mut(n).outputs = vec![x];
    g.set_outputs(vec![x]);
    assert_one(
        &g,
        "@main/n0: result 0 %x is already defined by graph input 0",
    );
    g.node_mut(n).outputs = vec![k, k];
    let es = errors(&g);
    assert!(
        es.iter()
            .any(|e| e.contains("result 1 %1 is already defined by n0")),
        "{es:#?}"
    );
}

#[test]
fn subgraph_errors_carry_their_path() {
    let mut then = Graph::new("then");
    then.add_input("a", ty(DType::F32, &[2])).unwrap();
    let n = then.push_node(
        Op::constant(f32s(&[1.0, 2.0])),
        vec![],
        vec![ty(DType::F32, &[5])],
    );
    then.set_outputs(then.node(n).outputs.clone());
    let mut els = pass_through("else");
    els.set_outputs(vec![Value::from_index(42)]);
    let (g, _) = main_with_if(then, els, ty(DType::F32, &[2]));
    // The else branch's dangling output keeps `if` from being inferred (no
    // panic reading its type); both branch errors are reported.
    let es = errors(&g);
    assert_eq!(es.len(), 2, "{es:#?}");
    assert!(es[0].starts_with("@main/n0.then_branch/n0: result 0 %1 is declared f32[5]"));
    assert!(es[1].starts_with("@main/n0.else_branch/output 0: output 0 %42 does not exist"));
}

#[test]
fn all_errors_are_reported_and_the_listing_marks_them() {
    let mut g = Graph::new("main");
    let x = g.add_input("x", ty(DType::F32, &[2])).unwrap();
    let k = g.push_node(
        Op::constant(f32s(&[1.0, 2.0])),
        vec![x],
        vec![ty(DType::I64, &[2])],
    );
    let r = g.node(k).outputs[0];
    g.set_outputs(vec![r, Value::from_index(9)]);
    let e = verify(&g).unwrap_err();
    let msgs: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        vec![
            "@main/n0: `const` takes 0 operand(s) but was given 1",
            "@main/output 1: output 1 %9 does not exist (the graph has 2 values)",
        ]
    );
    let shown = e.to_string();
    let expected = "\
error: @main/n0: `const` takes 0 operand(s) but was given 1
error: @main/output 1: output 1 %9 does not exist (the graph has 2 values)

graph @main(%x: f32[2]) -> i64[2], <invalid> {
  n0: %1 = const f32[2] [1.0, 2.0]
  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ error: `const` takes 0 operand(s) but was given 1
  return %1, %9
  ^^^^^^^^^^^^^ error: output 1 %9 does not exist (the graph has 2 values)
}
";
    assert_eq!(shown, expected, "\n{shown}");
}

#[test]
fn listing_shows_subgraphs_with_their_tags() {
    let (g, n) = main_with_if(
        pass_through("then"),
        const_branch("else"),
        ty(DType::F32, &[2]),
    );
    let lines = render_graph_lines(&g);
    let text: Vec<&str> = lines.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        text,
        vec![
            "graph @main(%c: bool[], %x: f32[2]) -> f32[2] {",
            "  n0: %2 = if %c, %x {",
            "    then_branch=graph @then(%a: f32[2]) -> f32[2] {",
            "      return %a",
            "    },",
            "    else_branch=graph @else(%a: f32[2]) -> f32[2] {",
            "      n0: %1 = const f32[2] [7.0, 8.0]",
            "      return %1",
            "    }",
            "  } : f32[2]",
            "  return %2",
            "}",
        ]
    );
    assert_eq!(lines[1].0.part, LinePart::Node(n));
    assert_eq!(lines[6].0.path, vec![(n, "else_branch")]);
    assert_eq!(lines[6].0.part, LinePart::Node(Node::from_index(0)));
}
