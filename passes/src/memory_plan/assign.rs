//! Slot placement: give every slot an offset (a `Dim`) so that slots live at
//! the same time never overlap, for every binding of the symbolic dims.
//!
//! Static slots (size known) go first, at the bottom of the arena, by
//! "greedy by size" with best fit (TFLite's `GreedyBySize`, XLA's heap
//! simulator): largest first, each into the smallest gap between the slots it
//! is live with that holds it, else on top of them. Greedy by size is not
//! optimal (the problem is NP-hard) but is typically within a few percent of
//! the live-bytes lower bound on CNN-shaped graphs.
//!
//! Symbolic slots go above the static region. Those whose size is a
//! constant multiple `c_i * M` of the monomial `M` of the largest one (e.g.
//! `batch` in a CNN with a symbolic batch) are placed by the same greedy
//! algorithm on the constants, offsets scaled by `M` — valid for every
//! binding and as tight as a static plan. The rest go above those, on an
//! *offset tree*: a slot's offset is either 0, the top (offset + size) of an
//! earlier slot (its parent), or the sum of the sizes of every slot placed so
//! far (a "floating" root). Sizes are never negative, so a slot lies above
//! all its ancestors, and a floating root lies above every slot placed before
//! it — for every binding, with no symbolic comparison needed. A position is
//! allowed when every already-placed slot live at the same time lies below it
//! in one of those two ways; a floating root is always allowed. Among allowed
//! positions the lowest at a reference binding (every dim = [`REFERENCE`]) is
//! taken. Limits: a symbolic slot never goes into a gap under another slot
//! (that would need proving `gap >= size` for all bindings), and the static
//! region is reserved for the whole run, so symbolic plans can be further
//! from the bound than static ones. Every offset is a sum of sizes of other
//! slots, so the arena never exceeds the sum of all sizes.

use super::Slot;
use ingot_ir::Dim;

/// The value every symbolic dim takes when ranking sizes and positions. Only
/// plan quality depends on it, never validity.
const REFERENCE: i64 = 16;

fn at_reference(d: &Dim) -> i64 {
    d.eval(&|_| Some(REFERENCE)).unwrap_or(0)
}

fn live_together(a: &Slot, b: &Slot) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// Set every slot's offset.
pub(super) fn assign(slots: &mut [Slot]) {
    let (stat, sym): (Vec<usize>, Vec<usize>) =
        (0..slots.len()).partition(|&i| slots[i].bytes.is_known());
    let top = place_static(slots, stat);
    let (scaled, rest) = split_scaled(slots, &sym);
    let base = match scaled {
        Some((m, coeffs, members)) => place_scaled(slots, &members, &coeffs, &m, top),
        None => Dim::Known(top),
    };
    place_symbolic(slots, rest, base);
}

/// Greedy by size, best fit, over sizes given by `size(slot)`. Returns each
/// slot's offset (in the same units) and the top.
fn greedy(
    slots: &[Slot],
    mut order: Vec<usize>,
    size: &dyn Fn(usize) -> i64,
) -> (Vec<(usize, i64)>, i64) {
    order.sort_by_key(|&i| (std::cmp::Reverse(size(i)), slots[i].start, i));
    let mut placed: Vec<(usize, i64)> = vec![]; // (slot, offset)
    let mut top = 0;
    for &i in &order {
        let need = size(i);
        let mut near: Vec<(i64, i64)> = placed
            .iter()
            .filter(|(j, _)| live_together(&slots[i], &slots[*j]))
            .map(|&(j, off)| (off, off + size(j)))
            .collect();
        near.sort();
        let (mut best, mut best_gap, mut prev_end) = (None, i64::MAX, 0);
        for (lo, hi) in near {
            let gap = lo - prev_end;
            if gap >= need && gap < best_gap {
                best = Some(prev_end);
                best_gap = gap;
            }
            prev_end = prev_end.max(hi);
        }
        let off = best.unwrap_or(prev_end);
        placed.push((i, off));
        top = top.max(off + need);
    }
    (placed, top)
}

/// Greedy by size for the static slots. Returns the top of the static region.
fn place_static(slots: &mut [Slot], order: Vec<usize>) -> i64 {
    let sizes: Vec<i64> = slots
        .iter()
        .map(|s| s.bytes.as_known().unwrap_or(0))
        .collect();
    let (placed, top) = greedy(slots, order, &|i| sizes[i]);
    for (i, off) in placed {
        slots[i].offset = Dim::Known(off);
    }
    top
}

/// Picks the monomial `M` of the largest symbolic slot (at the reference
/// binding) and splits the symbolic slots into those whose size is exactly
/// `c * M` for a constant `c` (returned with their `c`s) and the rest.
type Scaled = (Dim, Vec<i64>, Vec<usize>);
fn split_scaled(slots: &[Slot], sym: &[usize]) -> (Option<Scaled>, Vec<usize>) {
    let as_multiple = |d: &Dim| -> Option<(Dim, i64)> {
        let mono = d
            .vars()
            .iter()
            .fold(Dim::Known(1), |acc, v| acc.mul(&Dim::var(v)));
        let c = d.eval(&|_| Some(1))?;
        (c > 0 && c % super::ALIGN == 0 && mono.mul(&Dim::Known(c)) == *d).then_some((mono, c))
    };
    let Some(&largest) = sym
        .iter()
        .max_by_key(|&&i| (at_reference(&slots[i].bytes), std::cmp::Reverse(i)))
    else {
        return (None, vec![]);
    };
    let Some((m, _)) = as_multiple(&slots[largest].bytes) else {
        return (None, sym.to_vec());
    };
    let mut coeffs = vec![0; slots.len()];
    let (mut members, mut rest) = (vec![], vec![]);
    for &i in sym {
        match as_multiple(&slots[i].bytes) {
            Some((mono, c)) if mono == m => {
                coeffs[i] = c;
                members.push(i);
            }
            _ => rest.push(i),
        }
    }
    (Some((m, coeffs, members)), rest)
}

/// Sizes `c_i * M` scale with one monomial, so a static greedy plan over the
/// `c_i` scaled by `M` is valid for every binding (disjoint intervals stay
/// disjoint when multiplied by `M >= 0`) and exactly as tight at every `M`.
/// Offsets stay 64-byte aligned because every `c_i` is a multiple of
/// [`super::ALIGN`]. Returns the top of the region, where the next region
/// starts.
fn place_scaled(slots: &mut [Slot], members: &[usize], coeffs: &[i64], m: &Dim, base: i64) -> Dim {
    let (placed, top) = greedy(slots, members.to_vec(), &|i| coeffs[i]);
    for (i, off) in placed {
        slots[i].offset = m.mul(&Dim::Known(off)).add(&Dim::Known(base));
    }
    m.mul(&Dim::Known(top)).add(&Dim::Known(base))
}

/// One placed symbolic slot in the offset tree.
struct TreeNode {
    slot: usize,
    parent: Option<usize>,
    /// Every tree node with a smaller index than this lies below this one
    /// (set by the nearest floating root on the path).
    floor: usize,
    /// Offset relative to the symbolic region.
    offset: Dim,
}

fn place_symbolic(slots: &mut [Slot], mut order: Vec<usize>, base: Dim) {
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(at_reference(&slots[i].bytes)),
            slots[i].start,
            i,
        )
    });
    let mut tree: Vec<TreeNode> = vec![];
    let mut total = Dim::Known(0);
    for &i in &order {
        let overlapping: Vec<usize> = (0..tree.len())
            .filter(|&t| live_together(&slots[i], &slots[tree[t].slot]))
            .collect();
        // Candidates: the root (offset 0), then on top of each node; the
        // floating root (offset `total`) when nothing else is allowed.
        let mut best: Option<(i64, Option<usize>)> = None;
        let allowed = |parent: Option<usize>| {
            let (mut path, floor) = (vec![], parent.map_or(0, |p| tree[p].floor));
            let mut cur = parent;
            while let Some(p) = cur {
                path.push(p);
                cur = tree[p].parent;
            }
            overlapping.iter().all(|o| *o < floor || path.contains(o))
        };
        for cand in std::iter::once(None).chain((0..tree.len()).map(Some)) {
            let off = cand.map_or(0, |p| {
                at_reference(&tree[p].offset) + at_reference(&slots[tree[p].slot].bytes)
            });
            if best.is_some_and(|(b, _)| b <= off) || !allowed(cand) {
                continue;
            }
            best = Some((off, cand));
        }
        let node = match best {
            Some((_, None)) => TreeNode {
                slot: i,
                parent: None,
                floor: 0,
                offset: Dim::Known(0),
            },
            Some((_, Some(p))) => TreeNode {
                slot: i,
                parent: Some(p),
                floor: tree[p].floor,
                offset: tree[p].offset.add(&slots[tree[p].slot].bytes),
            },
            None => TreeNode {
                slot: i,
                parent: None,
                floor: tree.len(),
                offset: total.clone(),
            },
        };
        total = total.add(&slots[i].bytes);
        slots[i].offset = node.offset.add(&base);
        tree.push(node);
    }
}
