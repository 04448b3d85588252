//! The filetest runner: `tests/filetests/**/*.ir` files, each a text-format
//! graph plus comment directives saying what to check (format in
//! `tests/filetests/README.md`).
//!
//! - `; test parse`: the file parses; with `; error: <line>:<col>: <text>`
//!   lines, it fails to parse at that position with that message.
//! - `; test verify`: the graph parses and the verifier reports exactly the
//!   errors listed in `; error: <substring>` lines (each expected line
//!   matches some error, each error some line); none listed means clean.
//! - `; test run`: the graph parses and verifies, and each `; run:` line's
//!   call gives the expected outputs (`==`, `~=`) or error (`error:`).
//! - `; test pass <names>`: run the named passes and match `; check:`,
//!   `; nextln:`, `; not:` lines against the printed result; `; run:` lines
//!   hold before and after (`pass.rs`).
//!
//! Whole-line comments are blanked (not removed) before parsing, so parse
//! errors point at file lines. Every problem is a [`Failure`] at a file line;
//! one file's failures never hide another's. With `INGOT_BLESS=1` the runner
//! rewrites expected values in place: `==`/`~=` literals of mismatching run
//! lines (keeping typed or untyped style), and the `; error:` lines of verify
//! tests and of parse tests that expect an error.
//!
//! The text parser (`ingot_ir::text::parse`) is used behind the `text` cargo
//! feature until the text module is merged; without it, files get their
//! directives checked and are then counted as skipped.

pub mod directive;
mod edits;
pub mod pass;
pub mod values;

use directive::{parse_header, parse_pos_error, parse_run, Expect, Kind, Literal, RunLine};
use edits::Edits;
use ingot_ir::{Graph, Tensor};
use std::fmt;
use std::path::{Path, PathBuf};

/// A parse error as (line, column, message), both 1-based.
pub type ParseFailure = (usize, usize, String);

/// Parses a graph from text.
pub type ParseFn<'a> = &'a dyn Fn(&str) -> Result<Graph, ParseFailure>;

/// The text parser, if this build has it.
pub fn text_parser() -> Option<ParseFn<'static>> {
    Some(&parse_graph)
}

fn parse_graph(src: &str) -> Result<Graph, ParseFailure> {
    ingot_ir::text::parse(src).map_err(|e| (e.line, e.column, e.message))
}

/// One problem found in a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub path: PathBuf,
    /// 1-based line the problem is about (the directive, or the header).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// What running one file found.
#[derive(Clone, Debug, Default)]
pub struct FileOutcome {
    pub failures: Vec<Failure>,
    /// Why the file was not run (no parser in this build).
    pub skipped: Option<String>,
    /// Whether bless mode rewrote the file.
    pub blessed: bool,
}

impl FileOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.skipped.is_none()
    }
}

/// The result of a directory of filetests.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub failures: Vec<Failure>,
    pub blessed: Vec<PathBuf>,
    /// Why files were skipped (one line per distinct reason).
    pub skip_reasons: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fl in &self.failures {
            writeln!(f, "{fl}\n")?;
        }
        for p in &self.blessed {
            writeln!(f, "blessed {}", p.display())?;
        }
        for r in &self.skip_reasons {
            writeln!(f, "skipped: {r}")?;
        }
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// Whether `INGOT_BLESS=1` asks to rewrite expected output.
pub fn bless_requested() -> bool {
    std::env::var("INGOT_BLESS").is_ok_and(|v| v == "1")
}

/// Run one file with the build's parser, blessing if `INGOT_BLESS=1`.
pub fn run_file(path: &Path) -> std::io::Result<FileOutcome> {
    let src = std::fs::read_to_string(path)?;
    let bless = bless_requested();
    let (outcome, rewritten) = run_source(path, &src, text_parser(), bless);
    if let Some(new) = rewritten {
        std::fs::write(path, new)?;
    }
    Ok(outcome)
}

/// Run every `.ir` file under `root` (recursively, in path order) whose path
/// contains one of `filters` (all files when `filters` is empty).
pub fn run_dir_filtered(root: &Path, filters: &[String]) -> Summary {
    let mut s = Summary::default();
    let mut files = Vec::new();
    if let Err(e) = collect(root, &mut files) {
        s.failed += 1;
        s.failures.push(Failure {
            path: root.to_path_buf(),
            line: 0,
            message: format!("cannot list filetests: {e}"),
        });
        return s;
    }
    files.sort();
    for p in files {
        let shown = p.to_string_lossy();
        if !filters.is_empty() && !filters.iter().any(|f| shown.contains(f.as_str())) {
            continue;
        }
        match run_file(&p) {
            Err(e) => {
                s.failed += 1;
                s.failures.push(Failure {
                    path: p.clone(),
                    line: 0,
                    message: format!("cannot read or write: {e}"),
                });
            }
            Ok(o) => {
                if o.blessed {
                    s.blessed.push(p.clone());
                }
                if !o.failures.is_empty() {
                    s.failed += 1;
                    s.failures.extend(o.failures);
                } else if let Some(r) = o.skipped {
                    s.skipped += 1;
                    if !s.skip_reasons.contains(&r) {
                        s.skip_reasons.push(r);
                    }
                } else {
                    s.passed += 1;
                }
            }
        }
    }
    s
}

/// Run every `.ir` file under `root`.
pub fn run_dir(root: &Path) -> Summary {
    run_dir_filtered(root, &[])
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "ir") {
            out.push(p);
        }
    }
    Ok(())
}

/// The directives of one file, with 0-based line indices.
#[derive(Default)]
struct Directives {
    header: Option<(usize, Vec<Kind>)>,
    runs: Vec<(usize, RunLine)>,
    errors: Vec<(usize, String)>,
    /// `; check:`, `; nextln:`, `; not:` lines of pass tests.
    checks: Vec<(usize, pass::CheckKind, String)>,
}

/// Collects failures for one file.
struct Report<'a> {
    path: &'a Path,
    failures: Vec<Failure>,
}

impl Report<'_> {
    /// A failure at 0-based line `idx`.
    fn at(&mut self, idx: usize, message: impl Into<String>) {
        self.failures.push(Failure {
            path: self.path.to_path_buf(),
            line: idx + 1,
            message: message.into(),
        });
    }
}

/// The text of a directive line after `;` (trimmed), if it is a comment line.
fn comment(line: &str) -> Option<&str> {
    line.trim().strip_prefix(';').map(str::trim)
}

fn directives(lines: &[&str], r: &mut Report) -> Directives {
    let mut d = Directives::default();
    for (i, raw) in lines.iter().enumerate() {
        let Some(c) = comment(raw) else { continue };
        if let Some(rest) = c.strip_prefix("test ").or((c == "test").then_some("")) {
            if let Some((first, _)) = &d.header {
                r.at(
                    i,
                    format!(
                        "a second `; test` header (the first is on line {})",
                        first + 1
                    ),
                );
                continue;
            }
            match parse_header(rest) {
                Ok(k) => d.header = Some((i, k)),
                Err(e) => r.at(i, e),
            }
        } else if let Some(rest) = c.strip_prefix("run:") {
            // Offsets in `rest` are kept relative to the raw line for bless.
            let base = raw.trim_end().len() - rest.len();
            match parse_run(rest, base) {
                Ok(run) => d.runs.push((i, run)),
                Err(e) => r.at(i, format!("bad run line: {e}")),
            }
        } else if let Some(rest) = c.strip_prefix("error:") {
            d.errors.push((i, rest.trim().to_string()));
        } else if let Some(rest) = c.strip_prefix("check:") {
            d.checks
                .push((i, pass::CheckKind::Check, rest.trim().to_string()));
        } else if let Some(rest) = c.strip_prefix("nextln:") {
            d.checks
                .push((i, pass::CheckKind::NextLn, rest.trim().to_string()));
        } else if let Some(rest) = c.strip_prefix("not:") {
            d.checks
                .push((i, pass::CheckKind::Not, rest.trim().to_string()));
        }
    }
    d
}

/// Run one file's text. Returns the outcome and, in bless mode, the
/// rewritten text when it differs.
pub fn run_source(
    path: &Path,
    src: &str,
    parser: Option<ParseFn>,
    bless: bool,
) -> (FileOutcome, Option<String>) {
    let lines: Vec<&str> = src.split('\n').collect();
    let mut r = Report {
        path,
        failures: vec![],
    };
    let d = directives(&lines, &mut r);
    let mut edits = Edits::default();
    check_file(&lines, &d, parser, bless, &mut r, &mut edits);
    let mut outcome = FileOutcome {
        failures: r.failures,
        ..FileOutcome::default()
    };
    if parser.is_none() && outcome.failures.is_empty() {
        outcome.skipped =
            Some("the text parser is not built (enable the `text` feature of ingot-tests)".into());
    }
    let rewritten = edits.apply(&lines).filter(|new| new != src);
    outcome.blessed = rewritten.is_some();
    (outcome, rewritten)
}

fn check_file(
    lines: &[&str],
    d: &Directives,
    parser: Option<ParseFn>,
    bless: bool,
    r: &mut Report,
    edits: &mut Edits,
) {
    let Some((hl, kinds)) = &d.header else {
        r.at(0, "missing `; test <kinds>` header (e.g. `; test run`)");
        return;
    };
    let hl = *hl;
    let mut pass_names = None;
    for k in kinds {
        match k {
            Kind::Unknown(w) => {
                r.at(
                    hl,
                    format!("unknown test kind `{w}` (known: parse, verify, run, pass)"),
                );
            }
            Kind::Pass(names) => pass_names = Some(names),
            _ => {}
        }
    }
    if let Some(names) = pass_names {
        if kinds.len() > 1 {
            r.at(
                hl,
                "`pass` takes the rest of the header and cannot be combined with other kinds",
            );
        }
        for (i, _) in &d.errors {
            r.at(*i, "an `; error:` line in a pass test");
        }
        if !r.failures.is_empty() {
            return;
        }
        let Some(parser) = parser else { return };
        let g = match parser(&blank_comments(lines)) {
            Ok(g) => g,
            Err((line, col, msg)) => {
                return r.at(
                    line.saturating_sub(1),
                    format!("parse error at {line}:{col}: {msg}"),
                )
            }
        };
        pass::check_pass_file(g, (hl, names), lines, d, bless, r, edits);
        return;
    }
    let has = |k: Kind| kinds.contains(&k);
    let (parse, verify, run) = (has(Kind::Parse), has(Kind::Verify), has(Kind::Run));
    if !r.failures.is_empty() {
        return;
    }
    if !run {
        for (i, _) in &d.runs {
            r.at(*i, "a `; run:` line, but the header does not name `run`");
        }
    } else if d.runs.is_empty() {
        r.at(hl, "`; test run` but the file has no `; run:` lines");
    }
    if !parse && !verify {
        for (i, _) in &d.errors {
            r.at(
                *i,
                "an `; error:` line, but the header names neither `parse` nor `verify`",
            );
        }
    }
    for (i, _, _) in &d.checks {
        r.at(
            *i,
            "`; check:`/`; nextln:`/`; not:` lines belong to `; test pass` files",
        );
    }
    // A parse test that expects an error is only that.
    let expect_parse_error = parse && !d.errors.is_empty();
    if expect_parse_error && (verify || run) {
        r.at(
            hl,
            "a parse test that expects a parse error cannot also verify or run",
        );
    }
    let mut pos_errors = Vec::new();
    if expect_parse_error {
        for (i, text) in &d.errors {
            match parse_pos_error(text) {
                Ok(p) => pos_errors.push((*i, p)),
                Err(e) => r.at(*i, e),
            }
        }
    }
    if !r.failures.is_empty() {
        return;
    }
    let Some(parser) = parser else { return };

    // Blank whole-line comments so positions stay file positions.
    let g = match parser(&blank_comments(lines)) {
        Err((line, col, msg)) => {
            if !expect_parse_error {
                r.at(
                    line.saturating_sub(1),
                    format!("parse error at {line}:{col}: {msg}"),
                );
                return;
            }
            let mut all_match = true;
            for (i, (el, ec, needle)) in &pos_errors {
                if (*el, *ec) != (line, col) || !msg.contains(needle.as_str()) {
                    all_match = false;
                    if !bless {
                        r.at(
                            *i,
                            format!(
                                "expected the parse error `{el}:{ec}: {needle}`\n  but got: {line}:{col}: {msg}"
                            ),
                        );
                    }
                }
            }
            if bless && !all_match {
                edits.replace_errors(&d.errors, vec![format!("; error: {line}:{col}: {msg}")]);
            }
            return;
        }
        Ok(g) => g,
    };
    if expect_parse_error {
        for (i, (el, ec, needle)) in &pos_errors {
            r.at(
                *i,
                format!("expected the parse error `{el}:{ec}: {needle}` but the file parsed"),
            );
        }
        return;
    }
    if !verify && !run {
        // A parse-only test: the text must survive printing and re-parsing.
        let text = ingot_ir::text::Printer {
            inline_limit: usize::MAX,
        }
        .print(&g);
        match ingot_ir::text::parse(&text) {
            Ok(g2) if g2 == g => {}
            Ok(_) => r.at(
                hl,
                format!("printing and re-parsing changes the graph:\n{text}"),
            ),
            Err(e) => r.at(hl, format!("the printed graph does not parse: {e}\n{text}")),
        }
        return;
    }
    let verified = check_verify(&g, verify, d, bless, r, edits, hl);
    if run && verified {
        for (i, line) in &d.runs {
            check_run(&g, lines[*i], *i, line, bless, r, edits);
        }
    }
}

/// The file with whole-line comments blanked, so positions stay file positions.
fn blank_comments(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| if comment(l).is_some() { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Verify `g`; for verify tests compare with the `; error:` lines. Returns
/// whether the graph verified cleanly (run lines need that).
fn check_verify(
    g: &Graph,
    verify_test: bool,
    d: &Directives,
    bless: bool,
    r: &mut Report,
    edits: &mut Edits,
    hl: usize,
) -> bool {
    let res = ingot_ir::verify(g);
    if !verify_test {
        if let Err(e) = &res {
            r.at(hl, format!("the graph does not verify:\n{e}"));
        }
        return res.is_ok();
    }
    let actual: Vec<String> = match &res {
        Ok(()) => vec![],
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    };
    let missing: Vec<&(usize, String)> = d
        .errors
        .iter()
        .filter(|(_, want)| !actual.iter().any(|a| a.contains(want.as_str())))
        .collect();
    let unexpected: Vec<&String> = actual
        .iter()
        .filter(|a| !d.errors.iter().any(|(_, want)| a.contains(want.as_str())))
        .collect();
    if missing.is_empty() && unexpected.is_empty() {
        return res.is_ok();
    }
    if bless {
        let new = actual.iter().map(|a| format!("; error: {a}")).collect();
        edits.replace_errors(&d.errors, new);
        return res.is_ok();
    }
    for (i, want) in missing {
        r.at(
            *i,
            format!("expected verifier error not reported: `{want}`"),
        );
    }
    if !unexpected.is_empty() {
        let list: Vec<String> = unexpected.iter().map(|a| format!("  {a}")).collect();
        let shown = match &res {
            Err(e) => format!("\n{e}"),
            Ok(()) => String::new(),
        };
        r.at(
            hl,
            format!("unexpected verifier error(s):\n{}{shown}", list.join("\n")),
        );
    }
    res.is_ok()
}

/// Run one `; run:` line (at 0-based `idx`, text `raw`).
fn check_run(
    g: &Graph,
    raw: &str,
    idx: usize,
    run: &RunLine,
    bless: bool,
    r: &mut Report,
    edits: &mut Edits,
) {
    if run.func != g.name {
        r.at(
            idx,
            format!(
                "the run line calls @{} but the file's graph is @{}",
                run.func, g.name
            ),
        );
        return;
    }
    let inputs = match input_tensors(g, &run.args) {
        Ok(t) => t,
        Err(e) => return r.at(idx, e),
    };
    let result = ingot_ir::interp::run(g, &inputs);
    let (expected, approx) = match (&run.expect, result) {
        (Expect::Error(needle), Err(e)) => {
            let shown = e.to_string();
            if !shown.contains(needle.as_str()) {
                r.at(
                    idx,
                    format!("expected an error containing `{needle}`\n  but got: {shown}"),
                );
            }
            return;
        }
        (Expect::Error(needle), Ok(outs)) => {
            let got: Vec<String> = outs.iter().map(|t| values::literal_text(t, true)).collect();
            r.at(
                idx,
                format!(
                    "expected an error containing `{needle}` but the run gave ({})",
                    got.join(", ")
                ),
            );
            return;
        }
        (_, Err(e)) => return r.at(idx, format!("the run failed: {e}")),
        (Expect::Exact(l), Ok(outs)) => ((l, outs), false),
        (Expect::Approx(l), Ok(outs)) => ((l, outs), true),
    };
    let (lits, outs) = expected;
    let problems = compare_outputs(&outs, lits, approx);
    if problems.is_empty() {
        return;
    }
    if bless {
        let texts: Vec<String> = outs
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let typed = lits.get(k).is_none_or(|l| l.ty.is_some());
                values::literal_text(t, typed)
            })
            .collect();
        let rhs = if texts.len() == 1 {
            texts[0].clone()
        } else {
            format!("({})", texts.join(", "))
        };
        let keep = raw.get(..run.rhs_start).unwrap_or(raw);
        edits.replace_line(idx, format!("{keep}{rhs}"));
        return;
    }
    r.at(idx, problems.join("\n"));
}

/// Tensors for the call's arguments, typed by the graph's inputs.
fn input_tensors(g: &Graph, args: &[Literal]) -> Result<Vec<Tensor>, String> {
    if args.len() != g.inputs().len() {
        return Err(format!(
            "@{} takes {} input(s) but the run line gives {}",
            g.name,
            g.inputs().len(),
            args.len()
        ));
    }
    let mut out = Vec::new();
    for (i, (lit, &v)) in args.iter().zip(g.inputs()).enumerate() {
        let decl = g.ty(v);
        let (dtype, dims) = match &lit.ty {
            Some((dt, dims)) => {
                if *dt != decl.dtype || dims.len() != decl.rank() {
                    return Err(format!(
                        "input {i} is declared {decl} but the literal is {dt}{dims:?}"
                    ));
                }
                (*dt, dims.clone())
            }
            None => match decl.known_dims() {
                Some(d) => (decl.dtype, d),
                None => {
                    return Err(format!(
                        "input {i} has the symbolic type {decl}; give its shape with a typed literal (`{}[...] [...]`)",
                        decl.dtype
                    ))
                }
            },
        };
        out.push(values::to_tensor(lit, dtype, &dims).map_err(|e| format!("input {i}: {e}"))?);
    }
    Ok(out)
}

/// Each disagreement between outputs and expected literals, as a message.
fn compare_outputs(outs: &[Tensor], lits: &[Literal], approx: bool) -> Vec<String> {
    if outs.len() != lits.len() {
        let got: Vec<String> = outs.iter().map(|t| values::literal_text(t, true)).collect();
        return vec![format!(
            "the graph returns {} output(s) but {} are expected\n  actual: ({})",
            outs.len(),
            lits.len(),
            got.join(", ")
        )];
    }
    let mut problems = Vec::new();
    for (k, (t, lit)) in outs.iter().zip(lits).enumerate() {
        let actual_ty = format!("{}{:?}", t.dtype(), t.shape());
        if let Some((dt, dims)) = &lit.ty {
            if *dt != t.dtype() || dims.as_slice() != t.shape() {
                problems.push(format!(
                    "output {k}: expected {dt}{dims:?}, got {actual_ty}\n  actual: {}",
                    values::literal_text(t, true)
                ));
                continue;
            }
        }
        let want = match values::to_tensor(lit, t.dtype(), t.shape()) {
            Ok(w) => w,
            Err(e) => {
                problems.push(format!(
                    "output {k} is {actual_ty}: expected value: {e}\n  actual: {}",
                    values::literal_text(t, lit.ty.is_some())
                ));
                continue;
            }
        };
        if let Some(at) = values::first_mismatch(t, &want, approx) {
            let w = values::elem_texts(&want);
            let a = values::elem_texts(t);
            problems.push(format!(
                "output {k} ({actual_ty}) differs{} at index {at} {:?}: expected {}, got {}\n  expected: {}\n  actual:   {}",
                if approx { " beyond tolerance" } else { "" },
                values::unravel(at, t.shape()),
                w[at],
                a[at],
                values::window_text(&want, at),
                values::window_text(t, at),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests;
