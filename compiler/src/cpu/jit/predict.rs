//! The access patterns a body's types predict, compiled ahead of any run.

use super::prog::Prog;
use super::reduce_gen::Pattern;
use super::reduce_lower::{ReduceProg, Space};
use ingot_ir::{Dim, Graph};

/// The contiguous/splat pattern the body's types imply for the innermost
/// merged axis: an input is splat when its dim on the innermost non-1
/// output axis is 1 (or missing).
pub(crate) fn elementwise(body: &Graph, prog: &Prog) -> Vec<bool> {
    let out = body
        .outputs()
        .first()
        .map(|&v| body.ty(v).shape.clone())
        .unwrap_or_default();
    let inner = out.iter().rposition(|d| *d != Dim::Known(1));
    body.inputs()
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let (Some(a), Some(_)) = (inner, prog.inputs[k]) else {
                return true;
            };
            let s = &body.ty(v).shape;
            let off = out.len() as isize - s.len() as isize;
            let ia = a as isize - off;
            ia >= 0 && s[ia as usize] != Dim::Known(1)
        })
        .collect()
}

/// The pattern the body's types imply: an input is per-row when its dims
/// on the trailing axes are all 1 (or it feeds per-row values only); an
/// output is full when its type is S.
pub(crate) fn reduce(body: &Graph, rp: &ReduceProg) -> Pattern {
    let (r, k) = (rp.s.len(), rp.k);
    let contig = body
        .inputs()
        .iter()
        .zip(&rp.in_space)
        .map(|(&v, sp)| {
            let sh = &body.ty(v).shape;
            *sp == Space::Row && sh.iter().rev().take(r - k).any(|d| *d != Dim::Known(1))
        })
        .collect();
    Pattern {
        contig,
        full: rp.out_space.iter().map(|o| o.1).collect(),
        spill: true,
    }
}
