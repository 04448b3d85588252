//! Line rewrites that bless mode (`INGOT_BLESS=1`) collects while a file
//! runs and applies at the end: replaced or deleted lines by index, and
//! blocks inserted before a line (or at the end). Indices are 0-based lines
//! of the original file, so edits never shift each other.

/// Line rewrites requested by bless mode.
#[derive(Default)]
pub(super) struct Edits {
    /// 0-based line → new text (`None` deletes the line).
    lines: Vec<(usize, Option<String>)>,
    /// Lines inserted before a 0-based line index (`usize::MAX`: at the end).
    inserts: Vec<(usize, Vec<String>)>,
}

impl Edits {
    pub(super) fn replace_line(&mut self, idx: usize, text: String) {
        self.lines.push((idx, Some(text)));
    }

    /// Replace the `; error:` lines with `new`, where the first one was (or
    /// at the end of the file).
    pub(super) fn replace_errors(&mut self, old: &[(usize, String)], new: Vec<String>) {
        for (i, _) in old {
            self.lines.push((*i, None));
        }
        let at = old.first().map_or(usize::MAX, |(i, _)| *i);
        self.inserts.push((at, new));
    }

    pub(super) fn apply(&self, lines: &[&str]) -> Option<String> {
        if self.lines.is_empty() && self.inserts.is_empty() {
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        // A file ending in a newline splits into a last empty "line"; appended
        // lines go before it.
        let end = if lines.last() == Some(&"") {
            lines.len() - 1
        } else {
            lines.len()
        };
        for (i, l) in lines.iter().enumerate() {
            let at = if i == end { usize::MAX } else { i };
            for (_, ins) in self.inserts.iter().filter(|(k, _)| *k == at) {
                out.extend(ins.iter().cloned());
            }
            match self.lines.iter().find(|(k, _)| *k == i) {
                Some((_, None)) => {}
                Some((_, Some(t))) => out.push(t.clone()),
                None => out.push(l.to_string()),
            }
        }
        if end == lines.len() {
            for (_, ins) in self.inserts.iter().filter(|(k, _)| *k == usize::MAX) {
                out.extend(ins.iter().cloned());
            }
        }
        Some(out.join("\n"))
    }
}
