//! `; test pass <names>` files: run named passes on the graph and check the
//! printed result.
//!
//! - The passes run in the header's order, each standalone with a fresh
//!   `PassCx`; the verifier runs after each one and a failure names the pass.
//! - `; check: <text>` lines must appear in the printed result in order, each
//!   after the end of the previous match (FileCheck's CHECK). `; nextln:
//!   <text>` must appear on the line right after the previous match's line.
//!   `; not: <text>` must appear nowhere in the result.
//! - `; run:` lines run on the graph before and after the passes; both must
//!   give the expected outputs.
//!
//! Pass names resolve through [`PASSES`], one line per pass. In bless mode,
//! failing check lines are replaced by one `; check:` per line of the actual
//! result body, and run lines are blessed from the graph before the passes
//! (the graph after must then give bit-identical outputs — a pass's mistake is
//! never blessed).

use super::{check_run, input_tensors, Directives, Edits, Failure, Report};
use ingot_ir::Graph;
use ingot_passes::{Changed, Pass, PassCx, PassError, PipelineOptions};

/// Builds a pass.
pub type MakePass = fn() -> Box<dyn Pass>;

/// The passes a `; test pass` header may name. Adding one is one line.
pub const PASSES: &[(&str, MakePass)] = &[
    ("shape-infer", || {
        Box::new(ingot_passes::shape_infer::ShapeInfer)
    }),
    ("const-fold", || {
        Box::<ingot_passes::const_fold::ConstFold>::default()
    }),
    ("cse", || Box::new(ingot_passes::cse::Cse)),
    ("dce", || Box::new(ingot_passes::dce::Dce)),
    ("fuse-elementwise", || {
        Box::new(ingot_passes::fusion::elementwise::FuseElementwise)
    }),
    ("fuse-reduce", || {
        Box::new(ingot_passes::fusion::reduce::FuseReduce)
    }),
    ("fuse-contraction", || {
        Box::new(ingot_passes::fusion::contraction::FuseContraction)
    }),
    ("simplify", || Box::new(ingot_passes::simplify::Simplify)),
    ("shape-consts", || {
        Box::new(ingot_passes::shape_consts::ShapeConsts)
    }),
    ("fold-bn", || Box::new(ingot_passes::fold_bn::FoldBn)),
    ("fold-affine", || {
        Box::new(ingot_passes::fold_affine::FoldAffine)
    }),
    ("pipeline", || Box::new(Pipeline)),
];

/// The pass named `name`, if the registry has it.
pub fn pass_by_name(name: &str) -> Option<Box<dyn Pass>> {
    PASSES.iter().find(|(n, _)| *n == name).map(|(_, mk)| mk())
}

/// `ingot_passes::optimize` with default options, as one pass.
struct Pipeline;

impl Pass for Pipeline {
    fn name(&self) -> &'static str {
        "pipeline"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassCx) -> Result<Changed, PassError> {
        let r = ingot_passes::optimize(g, &PipelineOptions::default())?;
        Ok(r.stats.iter().any(|s| s.changed))
    }
}

/// A check directive: 0-based line, what it asks, its text.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum CheckKind {
    Check,
    NextLn,
    Not,
}

/// Run a pass test on the parsed graph `g`.
pub(super) fn check_pass_file(
    g: Graph,
    (hl, names): (usize, &[String]),
    lines: &[&str],
    d: &Directives,
    bless: bool,
    r: &mut Report,
    edits: &mut Edits,
) {
    if names.is_empty() {
        return r.at(
            hl,
            "`; test pass` names no pass (e.g. `; test pass cse, dce`)",
        );
    }
    let mut passes = Vec::new();
    for n in names {
        match pass_by_name(n) {
            Some(p) => passes.push(p),
            None => {
                let known: Vec<&str> = PASSES.iter().map(|(n, _)| *n).collect();
                r.at(
                    hl,
                    format!("unknown pass `{n}` (known: {})", known.join(", ")),
                );
            }
        }
    }
    if d.checks.is_empty() && d.runs.is_empty() {
        r.at(
            hl,
            "a pass test needs `; check:`, `; not:` or `; run:` lines",
        );
    }
    if !r.failures.is_empty() {
        return;
    }
    if let Err(e) = ingot_ir::verify(&g) {
        return r.at(
            hl,
            format!("the graph does not verify before the passes:\n{e}"),
        );
    }
    let mut after = g.clone();
    let mut cx = PassCx::default();
    for p in &passes {
        if let Err(e) = p.run(&mut after, &mut cx) {
            return r.at(hl, format!("{e}"));
        }
        if let Err(e) = ingot_ir::verify(&after) {
            let text = ingot_ir::text::print(&after);
            return r.at(
                hl,
                format!(
                    "after pass `{}` the graph does not verify:\n{e}\n{text}",
                    p.name()
                ),
            );
        }
    }
    let text = ingot_ir::text::print(&after);
    check_texts(&text, d, bless, r, edits);
    for (i, run) in &d.runs {
        // Before: the expected values (blessable).
        check_run(&g, lines[*i], *i, run, bless, r, edits);
        // After: the same expectation, never blessed; in bless mode compared
        // with the before graph's outputs, which bless just wrote.
        let mut sub = Report {
            path: r.path,
            failures: vec![],
        };
        if bless {
            after_matches_before(&g, &after, *i, run, &mut sub);
        } else {
            check_run(
                &after,
                lines[*i],
                *i,
                run,
                false,
                &mut sub,
                &mut Edits::default(),
            );
        }
        r.failures.extend(sub.failures.into_iter().map(|f| Failure {
            message: format!("after the passes: {}\n{text}", f.message),
            ..f
        }));
    }
}

fn after_matches_before(
    g: &Graph,
    after: &Graph,
    idx: usize,
    run: &super::directive::RunLine,
    r: &mut Report,
) {
    let Ok(inputs) = input_tensors(g, &run.args) else {
        return; // reported by the before run
    };
    let a = ingot_ir::interp::run(g, &inputs).map_err(|e| e.to_string());
    let b = ingot_ir::interp::run(after, &inputs).map_err(|e| e.to_string());
    match (a, b) {
        (Ok(a), Ok(b)) => {
            let same = a.len() == b.len()
                && a.iter().zip(&b).all(|(x, y)| {
                    x.dtype() == y.dtype()
                        && x.shape() == y.shape()
                        && super::values::first_mismatch(y, x, false).is_none()
                });
            if !same {
                r.at(idx, "the outputs differ from those before the passes");
            }
        }
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => r.at(idx, format!("the run failed: {e}")),
        (Err(_), Ok(_)) => r.at(idx, "the run succeeded but failed before the passes"),
    }
}

/// Match the `; check:`/`; nextln:`/`; not:` lines against `text`.
fn check_texts(text: &str, d: &Directives, bless: bool, r: &mut Report, edits: &mut Edits) {
    let mut problems: Vec<(usize, String)> = Vec::new();
    let mut pos = 0usize;
    let mut last_line_end: Option<usize> = None;
    for (i, kind, want) in &d.checks {
        match kind {
            CheckKind::Not => {
                if text.contains(want.as_str()) {
                    problems.push((*i, format!("`{want}` must not appear but does")));
                }
            }
            CheckKind::Check => match text[pos..].find(want.as_str()) {
                Some(at) => {
                    let start = pos + at;
                    pos = start + want.len();
                    last_line_end = Some(line_end(text, start));
                }
                None => {
                    let shown = if pos == 0 {
                        ""
                    } else {
                        " after the previous match"
                    };
                    problems.push((*i, format!("`{want}` not found{shown}")));
                }
            },
            CheckKind::NextLn => {
                let Some(end) = last_line_end else {
                    problems.push((*i, "`; nextln:` needs a `; check:` before it".into()));
                    continue;
                };
                let next_start = (end + 1).min(text.len());
                let next_end = line_end(text, next_start);
                match text[next_start..next_end].find(want.as_str()) {
                    Some(at) => {
                        pos = next_start + at + want.len();
                        last_line_end = Some(next_end);
                    }
                    None => problems.push((
                        *i,
                        format!(
                            "`{want}` not found on the next line `{}`",
                            text[next_start..next_end].trim()
                        ),
                    )),
                }
            }
        }
    }
    if problems.is_empty() {
        return;
    }
    let not_failed = problems
        .iter()
        .any(|(i, _)| d.checks.iter().any(|c| c.0 == *i && c.1 == CheckKind::Not));
    if bless && !not_failed {
        // Replace the positive checks with the whole actual body; `; not:`
        // lines held, so they stay.
        let old: Vec<(usize, String)> = d
            .checks
            .iter()
            .filter(|c| c.1 != CheckKind::Not)
            .map(|c| (c.0, c.2.clone()))
            .collect();
        let body = text
            .lines()
            .map(|l| format!("; check: {}", l.trim()))
            .collect();
        edits.replace_errors(&old, body);
        return;
    }
    for (i, p) in problems {
        r.at(i, format!("{p}\n  result:\n{text}"));
    }
}

/// The byte index of the end of the line containing `at`.
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |k| at + k)
}

#[cfg(test)]
mod tests {
    use super::super::{run_source, text_parser, FileOutcome};
    use std::path::Path;

    const GRAPH: &str = "\
graph @f(%x: f32[2]) -> f32[2] {
  %a = relu %x : f32[2]
  %b = relu %x : f32[2]
  %dead = exp %x : f32[2]
  %s = add %a, %b : f32[2]
  return %s
}
";

    fn run(header: &str, directives: &str, bless: bool) -> (FileOutcome, Option<String>) {
        let src = format!("{header}\n{GRAPH}{directives}");
        run_source(Path::new("p.ir"), &src, text_parser(), bless)
    }

    fn failures(header: &str, directives: &str) -> Vec<String> {
        let o = run(header, directives, false).0;
        o.failures.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn checks_in_order_nextln_and_not() {
        let ok = "; check: %a = relu %x\n; nextln: add %a, %a\n; not: exp\n; not: %b\n\
                  ; run: @f([-1.0, 2.0]) == [0.0, 4.0]\n";
        assert!(failures("; test pass cse, dce", ok).is_empty());
        // Without dce the dead exp stays, between the relu and the add.
        let f = failures("; test pass cse", ok);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert!(f[0].starts_with("p.ir:10: `add %a, %a` not found on the next line `%dead = exp"));
        assert!(
            f[1].starts_with("p.ir:11: `exp` must not appear"),
            "{}",
            f[1]
        );
        // Order matters: `relu` is not found after `add`.
        let f = failures("; test pass cse, dce", "; check: add\n; check: relu\n");
        assert!(f[0].starts_with("p.ir:10: `relu` not found after the previous match"));
        // nextln looks at the next line only.
        let f = failures("; test pass cse, dce", "; check: relu\n; nextln: return\n");
        assert!(f[0].starts_with("p.ir:10: `return` not found on the next line"));
    }

    #[test]
    fn run_lines_check_before_and_after() {
        let f = failures("; test pass dce", "; run: @f([-1.0, 2.0]) == [0.0, 5.0]\n");
        assert_eq!(f.len(), 2, "{f:#?}");
        assert!(f[0].starts_with("p.ir:9: output 0"));
        assert!(f[1].starts_with("p.ir:9: after the passes: output 0"));
        let f = failures("; test pass", "; run: @f([1.0, 2.0]) == [2.0, 4.0]\n");
        assert!(f[0].contains("names no pass"), "{f:#?}");
        let f = failures("; test pass dce", "");
        assert!(f[0].contains("needs `; check:`"), "{f:#?}");
    }

    #[test]
    fn bless_rewrites_checks_and_runs() {
        let (o, new) = run(
            "; test pass cse, dce",
            "; check: nothing like this\n; not: exp\n; run: @f([1.0, 1.0]) == [0.0, 0.0]\n",
            true,
        );
        assert!(o.failures.is_empty(), "{:#?}", o.failures);
        let new = new.expect("blessed");
        assert!(new.contains("; check: %a = relu %x : f32[2]\n; check: %s = add %a, %a"));
        assert!(new.contains("; not: exp\n; run: @f([1.0, 1.0]) == [2.0, 2.0]"));
        let (o, again) = run_source(Path::new("p.ir"), &new, text_parser(), false);
        assert!(o.passed() && again.is_none(), "{:#?}", o.failures);
    }
}
