//! Property tests of the IR text format.
//!
//! - Round trip: every generated graph prints, parses back (with the printed
//!   weights table) to an equal graph, and prints to the same text again.
//! - Robustness: random bytes, random token soup and mutated printed graphs
//!   never make the parser panic; whatever parses prints to a fixed point.
//! - The parse filetests (`tests/filetests/parse/*.ir`) hold: good files
//!   round-trip, bad files fail at the stated `line:col` with the stated text.

use ingot_ir::{parse, parse_with_weights, print, Printer};
use ingot_tests::gen::{arb_syntax_graph, Rng};
use proptest::prelude::*;

/// Parse `text`; if it parses, its print must be a fixed point.
fn parse_never_panics(text: &str) -> Result<(), TestCaseError> {
    if let Ok(g) = parse(text) {
        let all = Printer {
            inline_limit: usize::MAX,
        };
        let once = all.print(&g);
        let again = parse(&once)
            .map_err(|e| TestCaseError::fail(format!("reparse failed: {e}\n{once}")))?;
        prop_assert_eq!(all.print(&again), once);
    }
    Ok(())
}

const TOKENS: &[&str] = &[
    "graph",
    "@f",
    "@\"q\"",
    "(",
    ")",
    "%x",
    "%0",
    "%\"a b\"",
    ":",
    ",",
    "=",
    "->",
    "{",
    "}",
    "[",
    "]",
    "f32",
    "i64",
    "bool",
    "u8",
    "?",
    "batch",
    "seq",
    "+",
    "-",
    "*",
    "/",
    "floor",
    "ceil",
    "1",
    "0",
    "2.5",
    "1e-5",
    "nan",
    "inf",
    "true",
    "return",
    "const",
    "add",
    "relu",
    "split",
    "if",
    "loop",
    "cast",
    "to",
    "axis",
    "splits",
    "alpha",
    "then_branch",
    "else_branch",
    "body",
    "num_carried",
    "loc",
    "\"s\"",
    ";",
    "\n",
    "9999999999999999999999",
];

/// A random edit of `text`: delete, insert, replace, duplicate, truncate.
fn mutate(text: &str, seed: u64, edits: usize) -> String {
    let mut r = Rng::new(seed);
    let mut cs: Vec<char> = text.chars().collect();
    for _ in 0..edits {
        let n = cs.len();
        let at = if n == 0 { 0 } else { r.below(n + 1) };
        let len = 1 + r.below(8);
        match r.below(6) {
            0 if n > 0 => {
                let end = (at + len).min(n);
                cs.drain(at..end);
            }
            1 => {
                let c = *r.pick(&[
                    '%', '"', '[', ']', '{', '}', '(', ')', ',', '-', '1', 'x', ' ', '\\',
                ]);
                cs.insert(at, c);
            }
            2 if at < n => cs[at] = *r.pick(&['%', ':', '?', '@', '0', '.', 'e', ';', '\n']),
            3 => {
                let end = (at + len * 4).min(n);
                let slice: Vec<char> = cs[at..end].to_vec();
                let to = r.below(n + 1);
                cs.splice(to..to, slice);
            }
            4 => {
                let tok: Vec<char> = format!(" {} ", r.pick(TOKENS)).chars().collect();
                cs.splice(at..at, tok);
            }
            _ => cs.truncate(at),
        }
    }
    cs.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn print_then_parse_is_identity(g in arb_syntax_graph(), limit in prop_oneof![
        Just(0usize), Just(4), Just(16), Just(usize::MAX)
    ]) {
        let printer = Printer { inline_limit: limit };
        let (text, table) = printer.print_with_weights(&g);
        let back = parse_with_weights(&text, &table)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(back == g, "parsed graph differs:\n{}\nreprinted:\n{}", text, printer.print(&back));
        let (again, table2) = printer.print_with_weights(&back);
        prop_assert_eq!(&again, &text);
        prop_assert_eq!(table2, table);
        if limit == 16 {
            prop_assert_eq!(g.to_string(), print(&g));
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        parse_never_panics(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn random_ascii_never_panics(s in "[ -~\n\t]{0,300}") {
        parse_never_panics(&s)?;
    }

    #[test]
    fn token_soup_never_panics(toks in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        let s = format!("graph @f() -> () {{ {} return }}", toks.join(" "));
        parse_never_panics(&s)?;
        parse_never_panics(&toks.join(" "))?;
    }

    #[test]
    fn mutated_graphs_never_panic(g in arb_syntax_graph(), seed in any::<u64>(), edits in 1usize..5) {
        let text = Printer { inline_limit: usize::MAX }.print(&g);
        parse_never_panics(&mutate(&text, seed, edits))?;
    }
}

/// Error expectations of a parse filetest: `; error: <line>:<col>: <text>`.
fn expected_error(file: &str) -> Option<(usize, usize, String)> {
    let rest = file.lines().find_map(|l| l.strip_prefix("; error: "))?;
    let mut parts = rest.splitn(3, ':');
    let line = parts.next()?.trim().parse().ok()?;
    let col = parts.next()?.trim().parse().ok()?;
    Some((line, col, parts.next()?.trim().to_string()))
}

#[test]
fn parse_filetests_hold() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("filetests/parse");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("filetests/parse exists") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ir") {
            continue;
        }
        n += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display();
        assert!(
            text.lines()
                .any(|l| l.starts_with("; test") && l.contains("parse")),
            "{name}: no `; test parse` header"
        );
        match (parse(&text), expected_error(&text)) {
            (Ok(g), None) => {
                let back =
                    parse(&print(&g)).unwrap_or_else(|e| panic!("{name}: reprint fails: {e}"));
                assert!(back == g, "{name}: reprint differs");
            }
            (Ok(_), Some(e)) => panic!("{name}: parsed, but expected error {e:?}"),
            (Err(e), None) => panic!("{name}: {e}"),
            (Err(e), Some((line, col, msg))) => {
                assert_eq!((e.line, e.column), (line, col), "{name}: {e}");
                assert!(e.message.contains(&msg), "{name}: {e}\nwanted: {msg}");
            }
        }
    }
    assert!(n >= 6, "only {n} parse filetests");
}
