//! The comment directives of a filetest: the `; test <kinds>` header,
//! `; run:` lines with their literals, and `; error:` lines.
//!
//! Everything here works on one line of text at a time and never panics on
//! malformed input: a bad directive is an `Err(String)` that the runner
//! reports at that line. Byte offsets recorded here (`rhs_start`) let the
//! bless mode rewrite the expected part of a line and keep the rest.

use ingot_ir::DType;

/// One kind named by the header.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Parse,
    Verify,
    Run,
    /// `; test pass a, b`: the named passes (run by the passes work).
    Pass(Vec<String>),
    /// A kind this runner does not know.
    Unknown(String),
}

/// `; test parse, verify, run` or `; test pass const-fold, dce`. `pass` takes
/// the rest of the line as its comma-separated pass names.
pub fn parse_header(rest: &str) -> Result<Vec<Kind>, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Err("`; test` names no kind (write e.g. `; test run`)".into());
    }
    let mut kinds = Vec::new();
    let mut items = rest.split(',').map(str::trim);
    while let Some(item) = items.next() {
        let (word, args) = match item.split_once(char::is_whitespace) {
            Some((w, a)) => (w, a.trim()),
            None => (item, ""),
        };
        let kind = match word {
            "parse" | "verify" | "run" if !args.is_empty() => {
                return Err(format!(
                    "test kind `{word}` takes no arguments, found `{args}`"
                ))
            }
            "parse" => Kind::Parse,
            "verify" => Kind::Verify,
            "run" => Kind::Run,
            "pass" => {
                let mut names = vec![args.to_string()];
                names.extend(items.by_ref().map(str::to_string));
                names.retain(|n| !n.is_empty());
                Kind::Pass(names)
            }
            "" => return Err(format!("empty test kind in `{rest}`")),
            other => Kind::Unknown(other.to_string()),
        };
        kinds.push(kind);
    }
    Ok(kinds)
}

/// A scalar written in a literal.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Scalar {
    Int(i64),
    /// Any number written with `.` or `e`, and `nan`, `inf`, `-inf`.
    Float(f64),
    Bool(bool),
}

/// A literal tensor: a flat row-major list, with its type when written
/// (`f32[2,2] [1, 2, 3, 4]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub ty: Option<(DType, Vec<usize>)>,
    pub vals: Vec<Scalar>,
}

/// What a `; run:` line expects.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// `== lit` or `== (lit, lit)`.
    Exact(Vec<Literal>),
    /// `~= ...`: |a-b| <= 1e-6 + 1e-5*|b|.
    Approx(Vec<Literal>),
    /// `error: <substring>` of the interpreter's error.
    Error(String),
}

/// A parsed `; run:` line.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLine {
    /// The graph called (`@f` → `f`).
    pub func: String,
    pub args: Vec<Literal>,
    pub expect: Expect,
    /// Byte offset in the text given to [`parse_run`] where the expected
    /// literal(s) start (after `==`/`~=` and spaces); bless rewrites from here.
    pub rhs_start: usize,
}

/// Parse the text after `run:` (`@f([1.0], f32[] [2]) == [3.0]`). `base` is
/// the offset of `text` in its line, added to `rhs_start`.
pub fn parse_run(text: &str, base: usize) -> Result<RunLine, String> {
    let mut c = Cursor { s: text, i: 0 };
    c.ws();
    if !c.eat("@") {
        return Err("a run line starts with the graph to call: `@f(...)`".into());
    }
    let func = c.ident().ok_or("expected a graph name after `@`")?;
    c.ws();
    if !c.eat("(") {
        return Err(format!("expected `(` after `@{func}`"));
    }
    let mut args = Vec::new();
    c.ws();
    if !c.eat(")") {
        loop {
            args.push(c.literal()?);
            c.ws();
            if c.eat(")") {
                break;
            }
            if !c.eat(",") {
                return Err(format!(
                    "expected `,` or `)` after argument {}, found {}",
                    args.len() - 1,
                    c.found()
                ));
            }
        }
    }
    c.ws();
    let expect_kind = if c.eat("==") {
        0
    } else if c.eat("~=") {
        1
    } else if c.eat("error:") {
        2
    } else {
        return Err(format!(
            "expected `==`, `~=` or `error:` after the call, found {}",
            c.found()
        ));
    };
    c.ws();
    let rhs_start = base + c.i;
    if expect_kind == 2 {
        let needle = c.rest().trim().to_string();
        if needle.is_empty() {
            return Err("`error:` needs a substring of the expected error".into());
        }
        return Ok(RunLine {
            func,
            args,
            expect: Expect::Error(needle),
            rhs_start,
        });
    }
    let mut lits = Vec::new();
    if c.eat("(") {
        loop {
            c.ws();
            lits.push(c.literal()?);
            c.ws();
            if c.eat(")") {
                break;
            }
            if !c.eat(",") {
                return Err(format!(
                    "expected `,` or `)` in the expected outputs, found {}",
                    c.found()
                ));
            }
        }
    } else {
        lits.push(c.literal()?);
    }
    c.ws();
    if !c.rest().is_empty() {
        return Err(format!(
            "unexpected text after the expected value: {}",
            c.found()
        ));
    }
    Ok(RunLine {
        func,
        args,
        expect: if expect_kind == 0 {
            Expect::Exact(lits)
        } else {
            Expect::Approx(lits)
        },
        rhs_start,
    })
}

/// `<line>:<col>: <substring>` of a parse test's `; error:` line.
pub fn parse_pos_error(text: &str) -> Result<(usize, usize, String), String> {
    let bad = || {
        format!("a parse test's error is written `<line>:<col>: <message substring>`, not `{text}`")
    };
    let (pos, msg) = text.split_once(": ").ok_or_else(bad)?;
    let (l, c) = pos.trim().split_once(':').ok_or_else(bad)?;
    let line = l.parse().map_err(|_| bad())?;
    let col = c.parse().map_err(|_| bad())?;
    Ok((line, col, msg.trim().to_string()))
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn ws(&mut self) {
        let r = self.rest();
        self.i += r.len() - r.trim_start().len();
    }
    fn eat(&mut self, tok: &str) -> bool {
        let hit = self.rest().starts_with(tok);
        if hit {
            self.i += tok.len();
        }
        hit
    }
    /// What comes next, for error messages.
    fn found(&self) -> String {
        let r = self.rest();
        if r.is_empty() {
            "the end of the line".into()
        } else {
            format!("`{}`", r.chars().take(12).collect::<String>())
        }
    }
    fn ident(&mut self) -> Option<String> {
        let s = self.s;
        let r = &s[self.i..];
        let n = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(r.len());
        (n > 0).then(|| {
            self.i += n;
            r[..n].to_string()
        })
    }
    /// A word of number characters (`-1.5e-3`, `nan`, `-inf`, `true`).
    fn word(&mut self) -> &'a str {
        let s = self.s;
        let r = &s[self.i..];
        let n = r
            .char_indices()
            .find(|&(k, c)| {
                let sign_ok = k == 0 || matches!(r.as_bytes()[k - 1], b'e' | b'E');
                !(c.is_ascii_alphanumeric() || c == '.' || ((c == '-' || c == '+') && sign_ok))
            })
            .map_or(r.len(), |(k, _)| k);
        self.i += n;
        &r[..n]
    }

    fn literal(&mut self) -> Result<Literal, String> {
        self.ws();
        let ty = if self.rest().starts_with('[') {
            None
        } else {
            let name = self.ident().ok_or_else(|| {
                format!(
                    "expected a literal (`[...]` or `f32[2] [...]`), found {}",
                    self.found()
                )
            })?;
            let dt = DType::from_name(&name).ok_or_else(|| format!("unknown dtype `{name}`"))?;
            if !self.eat("[") {
                return Err(format!("expected `[` and the shape after `{name}`"));
            }
            let mut dims = Vec::new();
            self.ws();
            if !self.eat("]") {
                loop {
                    self.ws();
                    let w = self.word().to_string();
                    let d = w.parse::<usize>().map_err(|_| {
                        format!("a literal's shape is static sizes; `{w}` is not one")
                    })?;
                    dims.push(d);
                    self.ws();
                    if self.eat("]") {
                        break;
                    }
                    if !self.eat(",") {
                        return Err(format!(
                            "expected `,` or `]` in a shape, found {}",
                            self.found()
                        ));
                    }
                }
            }
            self.ws();
            Some((dt, dims))
        };
        if !self.eat("[") {
            return Err(format!(
                "expected `[` to start the values, found {}",
                self.found()
            ));
        }
        let mut vals = Vec::new();
        self.ws();
        if !self.eat("]") {
            loop {
                self.ws();
                if self.rest().starts_with('[') {
                    return Err("literals are flat row-major lists; give the shape with a \
                         typed literal (`f32[2,2] [1, 2, 3, 4]`)"
                        .into());
                }
                let w = self.word().to_string();
                vals.push(scalar(&w)?);
                self.ws();
                if self.eat("]") {
                    break;
                }
                if !self.eat(",") {
                    return Err(format!(
                        "expected `,` or `]` in a list, found {}",
                        self.found()
                    ));
                }
            }
        }
        Ok(Literal { ty, vals })
    }
}

fn scalar(w: &str) -> Result<Scalar, String> {
    Ok(match w {
        "true" => Scalar::Bool(true),
        "false" => Scalar::Bool(false),
        "nan" | "-nan" | "+nan" => Scalar::Float(f64::NAN),
        "inf" | "+inf" => Scalar::Float(f64::INFINITY),
        "-inf" => Scalar::Float(f64::NEG_INFINITY),
        "" => return Err("expected a value".into()),
        _ if w.contains(['.', 'e', 'E']) => {
            Scalar::Float(w.parse().map_err(|_| format!("`{w}` is not a number"))?)
        }
        _ => Scalar::Int(
            w.parse()
                .map_err(|_| format!("`{w}` is not a number (or does not fit i64)"))?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header("run").unwrap(), vec![Kind::Run]);
        assert_eq!(
            parse_header(" parse, verify ,run").unwrap(),
            vec![Kind::Parse, Kind::Verify, Kind::Run]
        );
        assert_eq!(
            parse_header("pass const-fold, dce").unwrap(),
            vec![Kind::Pass(vec!["const-fold".into(), "dce".into()])]
        );
        assert_eq!(
            parse_header("verify, frobnicate").unwrap(),
            vec![Kind::Verify, Kind::Unknown("frobnicate".into())]
        );
        assert!(parse_header("").is_err());
        assert!(parse_header("run, ").unwrap_err().contains("empty"));
        assert!(parse_header("run fast")
            .unwrap_err()
            .contains("no arguments"));
    }

    #[test]
    fn run_lines() {
        let text = "@f([-1.0, 0, 2e3, nan], f32[2,1] [1, -2]) == [0.0, inf, -inf, true]";
        let r = parse_run(text, 10).unwrap();
        assert_eq!(r.func, "f");
        assert_eq!(r.args.len(), 2);
        assert_eq!(r.args[0].ty, None);
        assert_eq!(r.args[0].vals[1], Scalar::Int(0));
        assert_eq!(r.args[0].vals[2], Scalar::Float(2000.0));
        assert!(matches!(r.args[0].vals[3], Scalar::Float(x) if x.is_nan()));
        assert_eq!(r.args[1].ty, Some((DType::F32, vec![2, 1])));
        assert_eq!(r.args[1].vals, vec![Scalar::Int(1), Scalar::Int(-2)]);
        assert_eq!(&text[r.rhs_start - 10..], "[0.0, inf, -inf, true]");
        let Expect::Exact(e) = &r.expect else {
            panic!("{r:?}")
        };
        assert_eq!(
            e[0].vals,
            vec![
                Scalar::Float(0.0),
                Scalar::Float(f64::INFINITY),
                Scalar::Float(f64::NEG_INFINITY),
                Scalar::Bool(true)
            ]
        );

        let r = parse_run("@g() ~= (i64[] [3], [1e-3, -0.5])", 0).unwrap();
        assert!(r.args.is_empty());
        let Expect::Approx(e) = &r.expect else {
            panic!("{r:?}")
        };
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].ty, Some((DType::I64, vec![])));
        assert_eq!(e[1].vals, vec![Scalar::Float(0.001), Scalar::Float(-0.5)]);

        let r = parse_run("@f(f32[0] []) error:  divide by zero ", 0).unwrap();
        assert_eq!(r.expect, Expect::Error("divide by zero".into()));
        assert_eq!(r.args[0].vals, vec![]);
    }

    #[test]
    fn malformed_run_lines_say_what_is_wrong() {
        let err = |s: &str| parse_run(s, 0).unwrap_err();
        assert!(err("f([1]) == [1]").contains("`@f(...)`"));
        assert!(err("@f([1] == [1]").contains("`,` or `)`"));
        assert!(err("@f([1]) = [1]").contains("`==`, `~=` or `error:`"));
        assert!(err("@f([[1], [2]]) == [1]").contains("flat row-major"));
        assert!(err("@f(q8[2] [1, 2]) == [1]").contains("unknown dtype `q8`"));
        assert!(err("@f(f32[n] [1]) == [1]").contains("`n` is not one"));
        assert!(err("@f([1]) == [1] junk").contains("unexpected text"));
        assert!(err("@f([1]) error:").contains("needs a substring"));
        assert!(err("@f([1x]) == [1]").contains("`1x` is not a number"));
        assert!(err("@f([99999999999999999999]) == [1]").contains("does not fit"));
        assert!(err("@f([1, ]) == [1]").contains("expected a value"));
    }

    #[test]
    fn parse_test_positions() {
        assert_eq!(
            parse_pos_error("3:7: unknown op `frob`").unwrap(),
            (3, 7, "unknown op `frob`".into())
        );
        assert!(parse_pos_error("unknown op").is_err());
        assert!(parse_pos_error("x:7: y").is_err());
    }
}
