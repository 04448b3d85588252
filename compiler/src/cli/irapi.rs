//! The CLI's only calls into the IR's text format, verifier and interpreter.
//!
//! Kept in one small file so that a rename in `ingot-ir` is one edit here.
//! Every error is flattened to the text the user will see.

use ingot_ir::Graph;

/// Parse a text-format graph. The message carries the line and column.
pub fn parse(src: &str) -> Result<Graph, String> {
    ingot_ir::text::parse(src).map_err(|e| e.to_string())
}

/// The graph in the text format; constants larger than the printer's
/// default limit print by reference (`@w1`) unless `inline_all`.
pub fn print(g: &Graph, inline_all: bool) -> String {
    let mut p = ingot_ir::text::Printer::default();
    if inline_all {
        p.inline_limit = usize::MAX;
    }
    p.print(g)
}

/// Verify a graph; on failure, the verifier's report of every error.
pub fn verify(g: &Graph) -> Result<(), String> {
    ingot_ir::verify::verify(g).map_err(|e| e.to_string())
}
