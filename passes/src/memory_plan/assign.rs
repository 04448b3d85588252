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
//! Symbolic slots go above the static region (offset `S + x`), on an
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
    place_symbolic(slots, sym, top);
}

/// Greedy by size, best fit. Returns the top of the static region.
fn place_static(slots: &mut [Slot], mut order: Vec<usize>) -> i64 {
    let size = |s: &Slot| s.bytes.as_known().unwrap_or(0);
    order.sort_by_key(|&i| (std::cmp::Reverse(size(&slots[i])), slots[i].start, i));
    let mut placed: Vec<(usize, i64)> = vec![]; // (slot, offset)
    let mut top = 0;
    for &i in &order {
        let need = size(&slots[i]);
        let mut near: Vec<(i64, i64)> = placed
            .iter()
            .filter(|(j, _)| live_together(&slots[i], &slots[*j]))
            .map(|&(j, off)| (off, off + size(&slots[j])))
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
        slots[i].offset = Dim::Known(off);
        placed.push((i, off));
        top = top.max(off + need);
    }
    top
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

fn place_symbolic(slots: &mut [Slot], mut order: Vec<usize>, base: i64) {
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
        slots[i].offset = node.offset.add(&Dim::Known(base));
        tree.push(node);
    }
}
