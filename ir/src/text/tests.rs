//! Unit tests for the text format: documented examples parse, print back
//! unchanged, and malformed text gives errors at the right place.
//! (Random round trips and robustness are property tests in
//! `tests/tests/text_props.rs`.)

use super::*;
use crate::{DType, Dim, Graph, Op, Tensor};

/// Parse, check the print is `text` again (a fixed point), and return the graph.
fn round_trip(text: &str) -> Graph {
    let g = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(print(&g), text);
    assert_eq!(parse(&print(&g)).unwrap(), g);
    g
}

fn err(text: &str) -> (usize, usize, String) {
    let e = parse(text).expect_err("should not parse");
    assert_eq!(
        e.to_string(),
        format!("{}:{}: {}", e.line, e.column, e.message)
    );
    (e.line, e.column, e.message)
}

#[test]
fn the_documented_example_round_trips() {
    let g = round_trip(
        "graph @mlp(%x: f32[batch,784], %w: f32[784,128], %b: f32[128]) -> f32[batch,128] {
  %3 = matmul %x, %w : f32[batch,128]
  %4 = add %3, %b : f32[batch,128]
  %5 = relu %4 : f32[batch,128]
  return %5
}
",
    );
    assert_eq!(g.name, "mlp");
    assert_eq!(g.order().len(), 3);
    assert_eq!(g.ty(g.outputs()[0]).shape[0], Dim::var("batch"));
}

#[test]
fn symbolic_dims_multiple_results_quotes_and_locs() {
    let g = round_trip(
        "graph @\"my graph\"(%\"onnx::x\": f32[batch*128,seq+1,floor(h/2),ceil(h+1/3),?,-2]) -> (f32[1], f32[2]) {
  %y, %\"z.1\" = split %\"onnx::x\" {axis=0, splits=[1, 2]} : f32[1], f32[2] loc(\"Split_0 \\\"a\\\"\\n\")
  %3 = leaky_relu %y {alpha=0.01} : f32[1]
  return %3, %\"z.1\"
}
",
    );
    let x = g.inputs()[0];
    let h = Dim::var("h");
    assert_eq!(
        g.ty(x).shape[3],
        h.add(&Dim::Known(1)).ceil_div(&Dim::Known(3))
    );
    assert_eq!(g.ty(x).shape[5], Dim::Known(-2));
    assert_eq!(g.node(g.order()[0]).loc.as_deref(), Some("Split_0 \"a\"\n"));
    // Other spellings of the same dims parse to the same canonical dims.
    let g2 = parse(
        "graph @g(%x: f32[128 * batch, (1 + seq), floor((h)/2), ceil((1+h)/3), ?, 0-2]) -> f32[] {
           %0 = const f32[] [1] return %0 }",
    )
    .unwrap();
    assert_eq!(g2.ty(g2.inputs()[0]), g.ty(x));
}

#[test]
fn constants_and_attribute_kinds() {
    let g = round_trip(
        "graph @c() -> (f32[2], i64[], u8[0], bool[2], bf16[1], f64[2]) {
  %0 = const f32[2] [1.0, -0.0]
  %1 = const i64[] [-9223372036854775808]
  %2 = const u8[0] []
  %3 = const bool[2] [true, false]
  %4 = const bf16[1] [0.100097656]
  %5 = const f64[2] [nan, -inf]
  %6 = cast %0 {to=i64, saturate=true} : i64[2]
  %7 = constant_of_shape %6 {value=f32[1] [0.5]} : f32[?,?]
  %8 = resize %7, %2, %2, %2 {mode=\"linear\", coordinate_transformation_mode=\"half_pixel\", nearest_mode=\"floor\", cubic_coeff_a=-0.75, exclude_outside=false, extrapolation_value=0.0, antialias=false, keep_aspect_ratio_policy=\"stretch\", axes=[]} : f32[?,?]
  %9 = shape %8 {start=0} : i64[2]
  %10 = hard_sigmoid %0 {alpha=1e-5, beta=inf} : f32[2]
  return %0, %1, %2, %3, %4, %5
}
",
    );
    assert_eq!(
        g.const_value(g.outputs()[1]).unwrap().to_i64s(),
        vec![i64::MIN]
    );
    // Ints are accepted where floats are expected; they print back as floats.
    let g =
        parse("graph @f(%x: f32[2]) -> f32[2] { %0 = leaky_relu %x {alpha=1} : f32[2] return %0 }")
            .unwrap();
    assert_eq!(g.node(g.order()[0]).op, Op::LeakyRelu { alpha: 1.0 });
    assert!(print(&g).contains("{alpha=1.0}"));
}

#[test]
fn subgraphs_nest_and_indent() {
    round_trip(
        "graph @main(%c: bool[], %x: f32[3]) -> f32[3] {
  %2 = if %c, %x {then_branch=graph @then(%a: f32[3]) -> f32[3] {
    %1 = neg %a : f32[3]
    return %1
  }, else_branch=graph @else(%a: f32[3]) -> f32[3] {
    return %a
  }} : f32[3]
  loop {body=graph @body(%i: i64[], %k: bool[]) -> bool[] {
    return %k
  }, num_carried=0} : ()
  return %2
}
",
    );
}

#[test]
fn weights_by_reference() {
    let mut g = Graph::new("w");
    let t = Tensor::from_vec(&[3, 7], (0..21).map(|i| i as f32 * 0.25).collect()).unwrap();
    let v = g.add_const(t.clone());
    g.set_name(v, "onnx::W").unwrap();
    g.set_outputs(vec![v]);
    let (text, table) = Printer::default().print_with_weights(&g);
    assert!(
        text.contains("%\"onnx::W\" = const f32[3,7] @\"onnx::W\""),
        "{text}"
    );
    assert_eq!(parse_with_weights(&text, &table).unwrap(), g);
    let (_, _, m) = err(&text);
    assert!(m.contains("no weights given for `@\"onnx::W\"`"), "{m}");
    let mut wrong = table.clone();
    wrong.insert("onnx::W".into(), Tensor::zeros(DType::F32, &[21]).unwrap());
    let e = parse_with_weights(&text, &wrong).unwrap_err();
    assert!(e.message.contains("but the text says f32[3,7]"), "{e}");
}

#[test]
fn error_positions_and_messages() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        (
            "graph @f(%x: f32[2]) -> f32[2] {\n  %0 = relu %x\n  return %0\n}",
            (3, 3),
            "expected `:` after operands, found `return`",
        ),
        (
            "graph @f(%x: f32[2]) -> f32[2] {\n  %0 = relu %y : f32[2]\n  return %0\n}",
            (2, 13),
            "use of undefined value `%y`",
        ),
        (
            "graph @f(%x: f32[2]) -> f32[2] {\n  %x = relu %x : f32[2]\n  return %x\n}",
            (2, 3),
            "redefinition of `%x`",
        ),
        (
            "graph @f(%x: f32[2]) -> f32[2] {\n  %0 = frob %x : f32[2]\n  return %0\n}",
            (2, 8),
            "unknown op `frob`",
        ),
        (
            "graph @f(%x: f32[2]) -> f32[2] {\n  %0 = leaky_relu %x : f32[2]\n  return %0\n}",
            (2, 8),
            "attribute `alpha` of `leaky_relu`: missing",
        ),
        (
            "graph @f(%x: f32[2]) -> f32[3] {\n  return %x\n}",
            (2, 10),
            "has type f32[2] but the signature declares f32[3]",
        ),
        (
            "graph @f() -> u8[1] {\n  %0 = const u8[1] [300]\n  return %0\n}",
            (2, 21),
            "out of range for u8",
        ),
        (
            "graph @f() -> f32[2] {\n  %0 = const f32[2] [1.0]\n  return %0\n}",
            (2, 21),
            "needs 2 value(s) but 1 are given",
        ),
        (
            "graph @f() -> f32[1] {\n  %0 = const f32[1] [1.0, 2.0]\n  return %0\n}",
            (2, 27),
            "too many values",
        ),
        (
            "graph @f() -> f32[1000000000000] {\n  %0 = const f32[1000000000000] @w\n  return %0\n}",
            (2, 33),
            "no weights given for `@w`",
        ),
        (
            "graph @f(%x: f32[floor(n/m)]) -> () { return }",
            (1, 26),
            "divisor in `floor(...)` must be a positive integer",
        ),
        (
            "graph @f(%x: f32[9223372036854775807+1]) -> () { return }",
            (1, 18),
            "overflows",
        ),
        (
            "graph @f(%x: f32[2]) -> (f32[2], f32[2]) { return %x }",
            (1, 44),
            "returns 1 value(s) but its signature declares 2",
        ),
        (
            "graph @f(%0: f32[2]) -> () { return }",
            (1, 10),
            "must be named",
        ),
        (
            "graph @f() -> () { %0 = relu : f32[1], f32[1] return }",
            (1, 32),
            "names 1 result(s) but gives 2 type(s)",
        ),
        ("graph @f() -> () { return } x", (1, 29), "expected end of input"),
        ("", (1, 1), "expected `graph`, found end of input"),
    ];
    for (text, (line, col), msg) in cases {
        let (l, c, m) = err(text);
        assert!(m.contains(msg), "{text}\n got {l}:{c}: {m}\nwant {msg}");
        assert_eq!((l, c), (*line, *col), "{text}\n{m}");
    }
}

#[test]
fn nesting_and_expansion_are_bounded() {
    let deep = format!(
        "graph @f(%x: f32[{}n{}]) -> () {{ return }}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(err(&deep).2.contains("nesting deeper than"));
    let blowup = format!(
        "graph @f(%x: f32[{}]) -> () {{ return }}",
        vec!["(a+b)"; 40].join("*")
    );
    assert!(err(&blowup).2.contains("too large"));
    let long = format!(
        "graph @f(%x: f32[{}]) -> () {{ return }}",
        vec!["a"; 100_000].join("*")
    );
    assert!(err(&long).2.contains("too large"));
    let mut nested = String::new();
    for _ in 0..100 {
        nested.push_str("graph @g() -> () { %0 = loop {num_carried=0, body=");
    }
    assert!(err(&nested).2.contains("nesting deeper than"));
}
