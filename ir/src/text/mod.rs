//! The IR text format: [`print`] a graph, [`parse`] it back.
//!
//! The grammar is in `docs/ir.md` ("Text format"). Printing then parsing gives
//! back an equal graph (`==`, structural), and printing is a fixed point for
//! graphs whose values are numbered in definition order (what the parser and
//! [`Graph::compact`](crate::Graph::compact) produce) — property tests in
//! `tests/tests/text_props.rs` say so.
//!
//! Large constants print by reference (`const f32[784,128] @w0`); the printer
//! hands back the label → tensor table ([`weights_table`],
//! [`Printer::print_with_weights`]) and [`parse_with_weights`] takes it.
//!
//! The parser never panics, bounds its recursion (graph nesting and dim
//! parentheses, [`MAX_DEPTH`]) and allocates only what the text itself
//! justifies (a declared shape alone never allocates).

mod lex;
mod literal;
mod parse;
mod print;
#[cfg(test)]
mod tests;

pub use parse::{parse, parse_with_weights, MAX_DEPTH, MAX_DIM_DEGREE, MAX_DIM_TERMS};
pub use print::{print, weights_table, Printer, DEFAULT_INLINE_LIMIT};

/// A syntax or consistency error in IR text, at a 1-based line and column.
/// Displays as `<line>:<col>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}
