//! Driver tests. The text parser is injected: each test's "parser" returns
//! a hand-built graph (or a parse error), so the whole runner — headers,
//! run lines, verify expectations, bless rewriting — is exercised without
//! depending on the text module.

use super::*;
use ingot_ir::{DType, Op, TensorType};

/// `@f(%c: bool[], %x: f32[2]) -> f32[2], f32[2]`: `if %c` returns `%x`,
/// else `[7, 8]`; the second output is `%x`.
fn if_graph() -> Graph {
    let f2 = TensorType::fixed(DType::F32, &[2]);
    let mut then = Graph::new("then");
    let a = then.add_input("a", f2.clone()).unwrap();
    then.set_outputs(vec![a]);
    let mut els = Graph::new("else");
    els.add_input("a", f2.clone()).unwrap();
    let k = els.add_const(Tensor::from_vec(&[2], vec![7.0f32, 8.0]).unwrap());
    els.set_outputs(vec![k]);
    let mut g = Graph::new("f");
    let c = g.add_input("c", TensorType::scalar(DType::Bool)).unwrap();
    let x = g.add_input("x", f2).unwrap();
    let op = Op::If {
        then_branch: Box::new(then),
        else_branch: Box::new(els),
    };
    let r = g.add_node(op, &[c, x]).unwrap();
    g.set_outputs(vec![r[0], x]);
    g
}

/// `@f() -> i64[2]` whose const is declared `i64[2]` but holds f32[2].
fn mistyped_graph() -> Graph {
    let mut g = Graph::new("f");
    let n = g.push_node(
        Op::constant(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap()),
        vec![],
        vec![TensorType::fixed(DType::I64, &[2])],
    );
    g.set_outputs(g.node(n).outputs.clone());
    g
}

fn run_with(src: &str, g: fn() -> Graph, bless: bool) -> (FileOutcome, Option<String>) {
    let parse = move |_: &str| Ok(g());
    run_source(Path::new("t.ir"), src, Some(&parse), bless)
}

fn failures(o: &FileOutcome) -> Vec<String> {
    o.failures.iter().map(|f| f.to_string()).collect()
}

const RUN_OK: &str = "\
; test run
graph @f(...) { the injected parser ignores this text }
; run: @f([true], [1.0, 2.5]) == ([1.0, 2.5], [1.0, 2.5])
; run: @f([false], f32[2] [1, 2]) == ([7.0, 8.0], f32[2] [1.0, 2.0])
; run: @f([false], [0.0, 0.0]) ~= ([7.000001, 8.0], [0.0, 0.0])
; run: @f([true], f32[3] [1, 2, 3]) error: expected f32[2]
";

#[test]
fn passing_run_lines() {
    let (o, new) = run_with(RUN_OK, if_graph, false);
    assert!(o.passed(), "{:#?}", failures(&o));
    assert_eq!(new, None);
}

#[test]
fn mismatches_name_the_line_index_and_values() {
    let src = RUN_OK.replace("([7.0, 8.0], f32[2]", "([7.0, 9.0], f32[2]");
    let (o, _) = run_with(&src, if_graph, false);
    let f = failures(&o);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].starts_with(
            "t.ir:4: output 0 (f32[2]) differs at index 1 [1]: expected 9.0, got 8.0\n  \
             expected: [7.0, 9.0]\n  actual:   [7.0, 8.0]"
        ),
        "{}",
        f[0]
    );

    let src = RUN_OK.replace("[7.000001, 8.0]", "[7.01, 8.0]");
    let f = failures(&run_with(&src, if_graph, false).0);
    assert!(f[0].starts_with("t.ir:5: output 0 (f32[2]) differs beyond tolerance at index 0"));

    let src = RUN_OK.replace("f32[2] [1.0, 2.0])", "f32[1,2] [1.0, 2.0])");
    let f = failures(&run_with(&src, if_graph, false).0);
    assert!(
        f[0].starts_with("t.ir:4: output 1: expected f32[1, 2], got f32[2]"),
        "{f:#?}"
    );

    let src = RUN_OK.replace("error: expected f32[2]", "error: no such thing");
    let f = failures(&run_with(&src, if_graph, false).0);
    assert!(f[0].starts_with(
        "t.ir:6: expected an error containing `no such thing`\n  but got: input 1 `x`"
    ));

    let src = RUN_OK.replace("== ([1.0, 2.5], [1.0, 2.5])", "== [1.0, 2.5]");
    let f = failures(&run_with(&src, if_graph, false).0);
    assert!(f[0].starts_with("t.ir:3: the graph returns 2 output(s) but 1 are expected"));
}

#[test]
fn bad_inputs_are_reported_not_run() {
    let run = |line: &str| {
        let src = format!("; test run\n{line}\n");
        failures(&run_with(&src, if_graph, false).0)
    };
    assert!(
        run("; run: @f([true]) == [1.0]")[0].contains("takes 2 input(s) but the run line gives 1")
    );
    assert!(run("; run: @g([true], [1.0, 2.0]) == [1.0]")[0]
        .contains("calls @g but the file's graph is @f"));
    assert!(
        run("; run: @f([true], [1.0]) == [1.0]")[0].contains("input 1: the literal has 1 value(s)")
    );
    assert!(
        run("; run: @f([true], i64[2] [1, 2]) == [1.0]")[0].contains("input 1 is declared f32[2]")
    );
    assert!(run("; run: @f([true], [1.0, 2.0) == [1.0]")[0].starts_with("t.ir:2: bad run line: "));
}

#[test]
fn bless_rewrites_mismatching_expectations_in_their_style() {
    let src = RUN_OK
        .replace(
            "([7.0, 8.0], f32[2] [1.0, 2.0])",
            "([0.0, 0.0], f32[2] [5.0, 5.0])",
        )
        .replace("~= ([7.000001, 8.0], [0.0, 0.0])", "~= [7.0]");
    let (o, new) = run_with(&src, if_graph, true);
    assert!(o.failures.is_empty() && o.blessed, "{:#?}", failures(&o));
    let new = new.unwrap();
    let lines: Vec<&str> = new.lines().collect();
    assert_eq!(
        lines[3],
        "; run: @f([false], f32[2] [1, 2]) == ([7.0, 8.0], f32[2] [1.0, 2.0])"
    );
    // A new output gets a typed literal; the existing one keeps its style.
    assert_eq!(
        lines[4],
        "; run: @f([false], [0.0, 0.0]) ~= ([7.0, 8.0], f32[2] [0.0, 0.0])"
    );
    assert_eq!(
        new.replace(lines[3], "").replace(lines[4], ""),
        src.replace(src.lines().nth(3).unwrap(), "")
            .replace(src.lines().nth(4).unwrap(), "")
    );
    // Blessed text passes as is.
    let (o, again) = run_with(&new, if_graph, false);
    assert!(o.passed() && again.is_none(), "{:#?}", failures(&o));
}

const VERIFY: &str = "\
; test verify
; The const's declared type disagrees with its value.
graph @f() -> i64[2] { }
; error: n0: result 0 %0 is declared i64[2]
; error: type mismatch
";

#[test]
fn verify_tests_expect_exactly_the_listed_errors() {
    let (o, _) = run_with(VERIFY, mistyped_graph, false);
    assert!(o.passed(), "{:#?}", failures(&o));

    let src = VERIFY.replace("type mismatch", "shape inconsistency");
    let f = failures(&run_with(&src, mistyped_graph, false).0);
    assert_eq!(
        f,
        vec!["t.ir:5: expected verifier error not reported: `shape inconsistency`"]
    );

    // An error nobody listed fails the test, showing the annotated listing.
    let src = "; test verify\n; error: n0: result 0\n";
    let (o, _) = run_with(src, mistyped_graph, false);
    assert!(o.passed(), "{:#?}", failures(&o));
    let f = failures(&run_with("; test verify\n", mistyped_graph, false).0);
    assert_eq!(f.len(), 1);
    assert!(f[0].starts_with("t.ir:1: unexpected verifier error(s):\n  @f/n0: result 0 %0"));
    assert!(
        f[0].contains("^^^ error: result 0 %0 is declared i64[2]"),
        "{}",
        f[0]
    );

    // A clean graph with expected errors fails too.
    let f = failures(&run_with(VERIFY, if_graph, false).0);
    assert_eq!(f.len(), 2);
}

#[test]
fn bless_rewrites_verify_errors() {
    let src = "; test verify\ngraph @f\n; error: stale one\n; error: stale two\n";
    let (o, new) = run_with(src, mistyped_graph, true);
    assert!(o.failures.is_empty() && o.blessed);
    assert_eq!(
        new.unwrap(),
        "; test verify\ngraph @f\n; error: @f/n0: result 0 %0 is declared i64[2] but `const` \
         gives f32[2]: type mismatch (dtype i64 vs f32)\n"
    );
    // No `; error:` lines yet: they are appended.
    let (_, new) = run_with("; test verify\ngraph @f\n", mistyped_graph, true);
    assert!(new.unwrap().ends_with("graph @f\n; error: @f/n0: result 0 %0 is declared i64[2] but `const` gives f32[2]: type mismatch (dtype i64 vs f32)\n"));
}

#[test]
fn parse_tests() {
    let fail = |_: &str| -> Result<Graph, ParseFailure> { Err((3, 5, "unknown op `frob`".into())) };
    let run = |src: &str, bless| run_source(Path::new("p.ir"), src, Some(&fail), bless);
    let src = "; test parse\ngraph @f() -> f32[] {\n  %0 = frob\n}\n; error: 3:5: unknown op\n";
    assert!(run(src, false).0.passed());
    let wrong = src.replace("3:5:", "3:6:");
    let f = failures(&run(&wrong, false).0);
    assert_eq!(
        f,
        vec![
            "p.ir:5: expected the parse error `3:6: unknown op`\n  but got: 3:5: unknown op `frob`"
        ]
    );
    let (o, new) = run(&wrong, true);
    assert!(o.blessed && o.failures.is_empty());
    assert_eq!(
        new.unwrap(),
        src.replace("unknown op\n", "unknown op `frob`\n")
    );
    // A parse error nobody expected names its line.
    let f = failures(&run("; test run\n; run: @f() == [1]\n", false).0);
    assert_eq!(f, vec!["p.ir:3: parse error at 3:5: unknown op `frob`"]);
    // An expected parse error that does not happen.
    let (o, _) = run_with("; test parse\n; error: 1:1: x\n", if_graph, false);
    assert!(failures(&o)[0].contains("but the file parsed"));
    let (o, _) = run_with("; test parse\n; error: oops\n", if_graph, false);
    assert!(failures(&o)[0].contains("`<line>:<col>: <message substring>`"));
}

#[test]
fn comment_lines_are_blanked_before_parsing() {
    let seen = std::cell::RefCell::new(String::new());
    let parse = |s: &str| {
        *seen.borrow_mut() = s.to_string();
        Ok(if_graph())
    };
    let src = "; test parse\n  ; indented comment\ngraph @f %x ; trailing stays\n";
    run_source(Path::new("c.ir"), src, Some(&parse), false);
    assert_eq!(*seen.borrow(), "\n\ngraph @f %x ; trailing stays\n");
}

#[test]
fn header_problems() {
    let f = |src: &str| failures(&run_with(src, if_graph, false).0);
    assert_eq!(
        f("graph\n"),
        vec!["t.ir:1: missing `; test <kinds>` header (e.g. `; test run`)"]
    );
    assert_eq!(
        f("\n; test frob\n"),
        vec!["t.ir:2: unknown test kind `frob` (known: parse, verify, run, pass)"]
    );
    assert!(f("; test pass dce, frob\n; check: x\n")[0]
        .contains("unknown pass `frob` (known: shape-infer, const-fold,"));
    assert!(f("; test run, pass dce\n; check: x\n")[0].contains("cannot be combined"));
    assert!(f(
        "; test run\n; test run\n; run: @f([true], [1.0, 2.0]) == ([1.0, 2.0], [1.0, 2.0])\n"
    )[0]
    .starts_with("t.ir:2: a second `; test` header (the first is on line 1)"));
    assert_eq!(
        f("; test run\n"),
        vec!["t.ir:1: `; test run` but the file has no `; run:` lines"]
    );
    assert_eq!(
        f("; test parse\n; run: @f() == [1]\n"),
        vec!["t.ir:2: a `; run:` line, but the header does not name `run`"]
    );
    assert!(f("; test run\n; run: @f() == [1]\n; error: x\n")[0]
        .starts_with("t.ir:3: an `; error:` line"));
    assert!(
        f("; test parse, run\n; run: @f() == [1]\n; error: 1:1: x\n")[0]
            .contains("cannot also verify or run")
    );
    assert!(f("; test parse\n; check: const\n")[0]
        .contains("`; check:`/`; nextln:`/`; not:` lines belong to `; test pass`"));
}

#[test]
fn without_a_parser_files_are_checked_then_skipped() {
    let (o, _) = run_source(Path::new("s.ir"), RUN_OK, None, false);
    assert!(o.failures.is_empty() && o.skipped.is_some());
    let (o, _) = run_source(Path::new("s.ir"), "; test run\n; run: @f(\n", None, false);
    assert!(o.skipped.is_none() && o.failures.len() == 1);
}

#[test]
fn run_dir_walks_and_summarizes() {
    let root = std::env::temp_dir().join(format!("ingot-filetest-{}", std::process::id()));
    let sub = root.join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let good = "; test run\ngraph @f(%x: f32[2]) -> f32[2] {\n  %0 = neg %x : f32[2]\n  return %0\n}\n; run: @f([1.0, -2.0]) == [-1.0, 2.0]\n";
    std::fs::write(sub.join("good.ir"), good).unwrap();
    std::fs::write(root.join("bad.ir"), "; test run\n; run: @f(\n").unwrap();
    std::fs::write(root.join("notes.txt"), "not a filetest").unwrap();
    let s = run_dir(&root);
    assert_eq!(s.failed, 1, "{s}");
    assert!(s.failures[0].path.ends_with("bad.ir"));
    assert_eq!(s.passed, 1, "{s}");
    let filtered = run_dir_filtered(&root, &["good".to_string()]);
    assert_eq!(filtered.failed, 0);
    assert!(s.to_string().contains("1 failed"));
    let missing = run_dir(&root.join("nope"));
    assert_eq!(missing.failed, 1);
    std::fs::remove_dir_all(&root).unwrap();
}
