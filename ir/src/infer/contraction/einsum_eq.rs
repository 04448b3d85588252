//! Einsum equations: parsing and the label plan, shared by shape inference
//! and the interpreter (compiled twice, like `window.rs`, so both read an
//! equation the same way).
//!
//! Accepted (numpy/ONNX): operand terms of ASCII letters separated by `,`,
//! at most one `...` per term, optional `->` and output term; spaces are
//! ignored. Letters are case sensitive.
//! - A letter repeated within one operand takes that operand's diagonal.
//! - Without `->`, the output is the ellipsis axes, then every letter that
//!   occurs exactly once in the whole equation, in ASCII order (`A` < `a`).
//! - Letters absent from the output are summed over.
//! - The ellipsis of each operand stands for its axes beyond its letters;
//!   those axes are right-aligned and broadcast numpy-style. An explicit
//!   output that omits `...` while some operand's ellipsis covers axes is an
//!   error (as numpy).
//! - A letter must have the same size everywhere it occurs (no size-1
//!   broadcasting of lettered axes).
//!
//! Guarantees: every label id of the plan occurs in some operand, and the
//! output never repeats a label.

use crate::dim::Dim;
use crate::types::ShapeDisplay;

/// An einsum equation resolved against operand ranks. Labels are numbered:
/// first the ellipsis (broadcast) axes, then the letters.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    /// For each operand, the label of each of its axes.
    pub operands: Vec<Vec<usize>>,
    /// The label of each result axis.
    pub output: Vec<usize>,
    /// A printable name for each label (`i`, or `...0` for ellipsis axes).
    pub names: Vec<String>,
    /// How many of the labels are ellipsis axes (ids `0..n_broadcast`).
    pub n_broadcast: usize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    Letter(u8),
    Ellipsis,
}

fn parse_term(t: &str) -> Result<Vec<Tok>, String> {
    let b = t.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_alphabetic() => {
                out.push(Tok::Letter(c));
                i += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                if out.contains(&Tok::Ellipsis) {
                    return Err(format!("term `{t}` has more than one `...`"));
                }
                out.push(Tok::Ellipsis);
                i += 3;
            }
            _ => {
                return Err(format!(
                    "term `{t}` has an invalid character at byte {i} (letters and `...` only)"
                ))
            }
        }
    }
    Ok(out)
}

/// Resolve `equation` for operands of the given ranks.
pub(crate) fn plan(equation: &str, ranks: &[usize]) -> Result<Plan, String> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((_, r)) if r.contains("->") => {
            return Err(format!("equation `{equation}` has more than one `->`"))
        }
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms: Vec<Vec<Tok>> = lhs.split(',').map(parse_term).collect::<Result<_, _>>()?;
    if terms.len() != ranks.len() {
        return Err(format!(
            "equation `{equation}` has {} operand term(s) but {} operand(s) are given",
            terms.len(),
            ranks.len()
        ));
    }
    // How many axes each operand's ellipsis covers.
    let mut ell = Vec::with_capacity(terms.len());
    for (i, (t, &r)) in terms.iter().zip(ranks).enumerate() {
        let letters = t.iter().filter(|k| **k != Tok::Ellipsis).count();
        let has_ell = t.contains(&Tok::Ellipsis);
        if (has_ell && letters > r) || (!has_ell && letters != r) {
            return Err(format!(
                "term {i} `{}` does not fit operand {i} of rank {r}",
                lhs.split(',').nth(i).unwrap_or("")
            ));
        }
        ell.push(r - letters);
    }
    let nb = ell.iter().copied().max().unwrap_or(0);
    let mut names: Vec<String> = (0..nb).map(|k| format!("...{k}")).collect();
    let mut letter_id = [usize::MAX; 128];
    let mut count = [0usize; 128];
    let mut operands = Vec::with_capacity(terms.len());
    for (t, &e) in terms.iter().zip(&ell) {
        let mut labels = vec![];
        for tok in t {
            match *tok {
                Tok::Ellipsis => labels.extend(nb - e..nb),
                Tok::Letter(c) => {
                    let c = usize::from(c);
                    if letter_id[c] == usize::MAX {
                        letter_id[c] = names.len();
                        names.push(char::from(c as u8).to_string());
                    }
                    count[c] += 1;
                    labels.push(letter_id[c]);
                }
            }
        }
        operands.push(labels);
    }
    let output = match rhs {
        None => {
            let mut out: Vec<usize> = (0..nb).collect();
            out.extend((0..128).filter(|&c| count[c] == 1).map(|c| letter_id[c]));
            out
        }
        Some(r) => {
            let toks = parse_term(r)?;
            if nb > 0 && !toks.contains(&Tok::Ellipsis) {
                return Err(format!(
                    "output `{r}` has no `...` but the operands' ellipsis covers {nb} axes"
                ));
            }
            let mut out = vec![];
            for tok in toks {
                match tok {
                    Tok::Ellipsis => out.extend(0..nb),
                    Tok::Letter(c) => {
                        let id = letter_id[usize::from(c)];
                        if id == usize::MAX {
                            return Err(format!(
                                "output label `{}` does not occur in any operand",
                                char::from(c)
                            ));
                        }
                        if out.contains(&id) {
                            return Err(format!(
                                "output label `{}` occurs more than once",
                                char::from(c)
                            ));
                        }
                        out.push(id);
                    }
                }
            }
            out
        }
    };
    Ok(Plan {
        operands,
        output,
        names,
        n_broadcast: nb,
    })
}

impl Plan {
    /// The size of every label, from the operand shapes (ranks as planned).
    /// Lettered labels must agree (symbolic sizes are assumed equal);
    /// ellipsis labels broadcast against 1.
    pub(crate) fn label_dims(&self, shapes: &[&[Dim]]) -> Result<Vec<Dim>, String> {
        let mut dims: Vec<Option<(Dim, usize)>> = vec![None; self.names.len()];
        for (op, (labels, shape)) in self.operands.iter().zip(shapes).enumerate() {
            for (&l, d) in labels.iter().zip(shape.iter()) {
                let bcast = l < self.n_broadcast;
                let merged = match &dims[l] {
                    None => d.clone(),
                    Some((cur, _)) if cur == d => cur.clone(),
                    Some((cur, _)) if bcast && *cur == Dim::Known(1) => d.clone(),
                    Some((cur, _)) if bcast && *d == Dim::Known(1) => cur.clone(),
                    Some((cur, first)) if cur.is_known() && d.is_known() => {
                        return Err(format!(
                            "label `{}` is {cur} in operand {first} {} but {d} in operand {op} {}",
                            self.names[l],
                            ShapeDisplay(shapes[*first]),
                            ShapeDisplay(shape)
                        ))
                    }
                    Some((Dim::Unknown, _)) => d.clone(),
                    Some((cur, _)) => cur.clone(),
                };
                let first = dims[l].as_ref().map_or(op, |(_, f)| *f);
                dims[l] = Some((merged, first));
            }
        }
        Ok(dims
            .into_iter()
            .map(|d| d.map_or(Dim::Known(1), |(d, _)| d))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_output_is_sorted_singletons() {
        let p = plan("ba,Ab", &[2, 2]).unwrap();
        // b=0, a=1, A=2: output is `Aa` in ASCII order.
        assert_eq!(p.output, vec![2, 1]);
        let p = plan("ii", &[2]).unwrap();
        assert!(p.output.is_empty());
        let p = plan("...ij,...jk", &[3, 2]).unwrap();
        assert_eq!(p.n_broadcast, 1);
        assert_eq!(p.operands, vec![vec![0, 1, 2], vec![2, 3]]);
        assert_eq!(p.output, vec![0, 1, 3]);
    }

    #[test]
    fn bad_equations_are_errors() {
        assert!(plan("ij,jk", &[2]).unwrap_err().contains("1 operand"));
        assert!(plan("ij->ii", &[2]).unwrap_err().contains("more than once"));
        assert!(plan("ij->k", &[2]).unwrap_err().contains("`k`"));
        assert!(plan("ij", &[3]).unwrap_err().contains("rank 3"));
        assert!(plan("...ij->ij", &[3]).unwrap_err().contains("no `...`"));
        assert!(plan("i.j", &[2]).unwrap_err().contains("invalid"));
        assert!(plan("i->i->i", &[1]).is_err());
        // An ellipsis covering nothing may be left out of the output.
        assert!(plan("...ij->ij", &[2]).is_ok());
    }

    #[test]
    fn label_sizes_must_agree() {
        let p = plan("ij,jk->ik", &[2, 2]).unwrap();
        let (a, b) = ([2.into(), 3.into()], [4.into(), 5.into()]);
        let e = p.label_dims(&[&a, &b]).unwrap_err();
        assert!(e.contains("label `j` is 3") && e.contains("[4,5]"), "{e}");
        let p = plan("...i,...i", &[3, 2]).unwrap();
        let (a, b) = ([2.into(), 1.into(), 3.into()], [4.into(), 3.into()]);
        let d = p.label_dims(&[&a, &b]).unwrap();
        assert_eq!(d, vec![Dim::Known(2), Dim::Known(4), Dim::Known(3)]);
    }
}
