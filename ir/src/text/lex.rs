//! The lexer: text to tokens with 1-based line/column positions.
//!
//! Tokens are few and context free: words, quoted strings (`\"`, `\\`, `\n`,
//! `\t`, `\r` escapes; other characters, control characters included, stand
//! for themselves), values (`%12`, `%name`, `%"quoted"`), labels (`@name`,
//! `@"quoted"`), numbers (an integer is digits; a float has a `.` or an
//! exponent), and punctuation. `-` is always its own token so that dim
//! expressions (`seq-1`) and negative literals share one rule. `;` starts a
//! comment that runs to the end of the line. Columns count characters.
//!
//! Guarantees: never panics; the token list is at most one token per input
//! character (plus the end marker), so its size is justified by the input.

use super::ParseError;

/// A position in the text, 1-based.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A value reference: `%12` or `%name` / `%"name"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ValueRef {
    Anon(u64),
    Named(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: keywords, op names, dtypes, attribute names, dim variables.
    Word(String),
    /// A quoted string, unescaped.
    Str(String),
    Value(ValueRef),
    /// `@name`: a graph name or a weight label.
    Label(String),
    /// Digits only (the sign is a separate `-`).
    Int(String),
    /// A number with `.` or an exponent.
    Float(String),
    /// One of `( ) [ ] { } , : = * + - / ?`.
    Punct(char),
    /// `->`
    Arrow,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Value(ValueRef::Anon(n)) => format!("`%{n}`"),
            Tok::Value(ValueRef::Named(n)) => format!("`%{}`", Quoted(n)),
            Tok::Label(l) => format!("`@{}`", Quoted(l)),
            Tok::Int(s) | Tok::Float(s) => format!("number `{s}`"),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Arrow => "`->`".to_string(),
            Tok::Eof => "end of input".to_string(),
        }
    }
}

/// A name as the text format writes it (bare or quoted).
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::dim::write_name(f, self.0)
    }
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Pos,
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn err(&self, at: Pos, msg: impl Into<String>) -> ParseError {
        ParseError::new(at.line, at.col, msg)
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            s.push(c);
            self.bump();
        }
        s
    }

    /// A quoted string; the opening `"` is next.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.bump();
        let mut s = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.err(start, "unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some(c) => {
                        return Err(self.err(
                            at,
                            format!("unknown escape `\\{}` in string", c.escape_debug()),
                        ))
                    }
                    None => return Err(self.err(start, "unterminated string")),
                },
                Some(c) => s.push(c),
            }
        }
    }

    /// A name after `%` or `@`: a word or a quoted string.
    fn name_after_sigil(&mut self, sigil: char, start: Pos) -> Result<(String, bool), ParseError> {
        match self.peek() {
            Some('"') => Ok((self.string()?, true)),
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => Ok((self.word(), false)),
            _ => Err(self.err(start, format!("expected a name or number after `{sigil}`"))),
        }
    }

    fn number(&mut self, start: Pos) -> Result<Tok, ParseError> {
        let mut s = String::new();
        let mut float = false;
        let digits = |l: &mut Self, s: &mut String| {
            while let Some(c) = l.peek().filter(char::is_ascii_digit) {
                s.push(c);
                l.bump();
            }
        };
        digits(self, &mut s);
        if self.peek() == Some('.') {
            float = true;
            s.push('.');
            self.bump();
            digits(self, &mut s);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            // Only an exponent if digits follow; `2e` is an error below.
            let mut look = self.chars.clone();
            look.next();
            let next = look.next();
            let after = look.next();
            let is_exp = match next {
                Some(c) if c.is_ascii_digit() => true,
                Some('+' | '-') => after.is_some_and(|c| c.is_ascii_digit()),
                _ => false,
            };
            if is_exp {
                float = true;
                s.push('e');
                self.bump();
                if let Some(c @ ('+' | '-')) = self.peek() {
                    s.push(c);
                    self.bump();
                }
                digits(self, &mut s);
            }
        }
        if let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            return Err(self.err(start, format!("invalid number: `{s}` is followed by `{c}`")));
        }
        Ok(if float { Tok::Float(s) } else { Tok::Int(s) })
    }

    fn next_token(&mut self) -> Result<Option<(Tok, Pos)>, ParseError> {
        // Skip whitespace and comments.
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some(';') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let tok = match c {
            '"' => Tok::Str(self.string()?),
            '%' => {
                self.bump();
                let (name, quoted) = self.name_after_sigil('%', start)?;
                if quoted {
                    Tok::Value(ValueRef::Named(name))
                } else if name.bytes().all(|b| b.is_ascii_digit()) {
                    let n = name.parse::<u64>().map_err(|_| {
                        self.err(start, format!("value number `%{name}` is too large"))
                    })?;
                    Tok::Value(ValueRef::Anon(n))
                } else if name.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(self.err(
                        start,
                        format!("invalid value name `%{name}` (quote names that are not identifiers: `%\"{name}\"`)"),
                    ));
                } else {
                    Tok::Value(ValueRef::Named(name))
                }
            }
            '@' => {
                self.bump();
                Tok::Label(self.name_after_sigil('@', start)?.0)
            }
            c if c.is_ascii_digit() => self.number(start)?,
            c if c.is_ascii_alphabetic() || c == '_' => Tok::Word(self.word()),
            '-' => {
                self.bump();
                if self.peek() == Some('>') {
                    self.bump();
                    Tok::Arrow
                } else {
                    Tok::Punct('-')
                }
            }
            '(' | ')' | '[' | ']' | '{' | '}' | ',' | ':' | '=' | '*' | '+' | '/' | '?' => {
                self.bump();
                Tok::Punct(c)
            }
            c => {
                return Err(self.err(
                    start,
                    format!("unexpected character `{}`", c.escape_debug()),
                ))
            }
        };
        Ok(Some((tok, start)))
    }
}

/// Split `text` into tokens, ending with [`Tok::Eof`].
pub(crate) fn lex(text: &str) -> Result<Vec<(Tok, Pos)>, ParseError> {
    let mut l = Lexer {
        chars: text.chars().peekable(),
        pos: Pos { line: 1, col: 1 },
    };
    let mut toks = vec![];
    while let Some(t) = l.next_token()? {
        toks.push(t);
    }
    toks.push((Tok::Eof, l.pos));
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn numbers_values_and_punctuation() {
        assert_eq!(
            kinds("%0 = %x, %\"a b\" 1.5e-3 -2 seq-1 ->"),
            vec![
                Tok::Value(ValueRef::Anon(0)),
                Tok::Punct('='),
                Tok::Value(ValueRef::Named("x".into())),
                Tok::Punct(','),
                Tok::Value(ValueRef::Named("a b".into())),
                Tok::Float("1.5e-3".into()),
                Tok::Punct('-'),
                Tok::Int("2".into()),
                Tok::Word("seq".into()),
                Tok::Punct('-'),
                Tok::Int("1".into()),
                Tok::Arrow,
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn comments_and_positions() {
        let t = lex("; hello\n  @g ; x\n\"a\\\"b\"").unwrap();
        assert_eq!(t[0], (Tok::Label("g".into()), Pos { line: 2, col: 3 }));
        assert_eq!(t[1], (Tok::Str("a\"b".into()), Pos { line: 3, col: 1 }));
        assert_eq!(t[2].0, Tok::Eof);
    }

    #[test]
    fn errors_have_positions() {
        let e = lex("a\n  $").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(lex("\"abc").unwrap_err().message.contains("unterminated"));
        assert!(lex("12ab").unwrap_err().message.contains("invalid number"));
        assert!(lex("%1x")
            .unwrap_err()
            .message
            .contains("invalid value name"));
        assert!(lex("%99999999999999999999999").is_err());
        assert!(lex("\"\\q\"").unwrap_err().message.contains("escape"));
        // `2e` is a number followed by a word: an error, not a float.
        assert!(lex("2e").is_err());
    }
}
