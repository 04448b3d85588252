//! Unit tests of liveness, in-place reuse, placement and the checker.

use super::*;

fn graph(text: &str) -> Graph {
    ingot_ir::parse(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

fn bind(batch: i64) -> Bindings {
    [("batch".to_string(), batch)].into_iter().collect()
}

/// Plan, check, and return the report under `b`.
fn planned(g: &Graph, b: &Bindings) -> (MemoryPlan, MemoryReport) {
    let p = plan_memory(g).unwrap();
    check_plan(g, &p, b).unwrap_or_else(|e| panic!("{e}\n{g}\n{p:#?}"));
    let r = p.report(b).unwrap();
    assert!(r.lower_bound <= r.arena_bytes, "{r:?}");
    assert!(r.arena_bytes <= r.sum_bytes, "{r:?}");
    (p, r)
}

fn offset_of(p: &MemoryPlan, v: &str, g: &Graph, b: &Bindings) -> usize {
    let v = g.value_named(v).unwrap();
    let i = p.buffers.iter().position(|x| x.value == v).unwrap();
    p.offsets_for(b).unwrap()[i]
}

#[test]
fn chain_of_non_elementwise_ops_ping_pongs() {
    // Each transpose reads its input while writing its result, so two
    // buffers of 4*17*4 = 272 -> 320 aligned bytes alternate.
    let g = graph(
        "graph @f(%x: f32[4,17]) -> f32[17,4] {
          %a = transpose %x {perm=[1, 0]} : f32[17,4]
          %b = transpose %a {perm=[1, 0]} : f32[4,17]
          %c = transpose %b {perm=[1, 0]} : f32[17,4]
          %d = transpose %c {perm=[1, 0]} : f32[4,17]
          %e = transpose %d {perm=[1, 0]} : f32[17,4]
          return %e
        }",
    );
    let (p, r) = planned(&g, &Bindings::new());
    assert_eq!(r.sum_bytes, 5 * 320);
    assert_eq!(r.lower_bound, 2 * 320);
    assert_eq!(r.arena_bytes, 2 * 320);
    assert!(p.in_place.is_empty());
    let e = g.value_named("e").unwrap();
    assert_eq!(p.buffers.iter().find(|b| b.value == e).unwrap().end, 5);
}

#[test]
fn elementwise_chain_runs_in_place() {
    let g = graph(
        "graph @f(%x: f32[3]) -> f32[3] {
          %a = neg %x : f32[3]
          %b = relu %a : f32[3]
          %c = abs %b : f32[3]
          return %c
        }",
    );
    let (p, r) = planned(&g, &Bindings::new());
    // %a is not in place (its input is a graph input); %b and %c reuse it.
    assert_eq!(p.in_place.len(), 2);
    assert_eq!(p.slots.len(), 1);
    assert_eq!((r.arena_bytes, r.lower_bound, r.sum_bytes), (64, 64, 192));
}

#[test]
fn in_place_needs_the_input_to_die_and_sizes_to_match() {
    let g = graph(
        "graph @f(%x: f32[3], %y: f32[2,3]) -> (f32[3], f32[2,3]) {
          %a = neg %x : f32[3]
          %b = relu %a : f32[3]
          %c = add %a, %y : f32[2,3]
          %d = exp %b : f32[3]
          return %d, %c
        }",
    );
    let (p, _) = planned(&g, &Bindings::new());
    let v = |n: &str| g.value_named(n).unwrap();
    // %b: %a is still used by %c. %c: broadcasting changes the size.
    // %d: %b dies there, same size.
    assert_eq!(p.in_place, vec![(v("b"), v("d"))]);
}

#[test]
fn diamond_keeps_both_branches_apart() {
    let g = graph(
        "graph @f(%x: f32[4,17], %w: f32[17,17]) -> f32[4,17] {
          %m = matmul %x, %w : f32[4,17]
          %l = relu %m : f32[4,17]
          %r = neg %m : f32[4,17]
          %s = add %l, %r : f32[4,17]
          return %s
        }",
    );
    let (p, r) = planned(&g, &Bindings::new());
    let b = Bindings::new();
    assert_ne!(offset_of(&p, "l", &g, &b), offset_of(&p, "r", &g, &b));
    // %r takes %m's buffer, %s takes %l's (or %r's): two buffers in all.
    assert_eq!(p.in_place.len(), 2);
    assert_eq!((r.arena_bytes, r.lower_bound), (2 * 320, 2 * 320));
}

#[test]
fn multiple_outputs_live_to_the_end_and_are_never_reused() {
    let g = graph(
        "graph @f(%x: f32[17]) -> (f32[17], f32[17]) {
          %a = neg %x : f32[17]
          %b = exp %a : f32[17]
          %c = transpose %b {perm=[0]} : f32[17]
          %d = relu %c : f32[17]
          return %a, %d
        }",
    );
    let (p, r) = planned(&g, &Bindings::new());
    let a = g.value_named("a").unwrap();
    assert!(p.in_place.iter().all(|(src, _)| *src != a));
    assert!(p.buffers.iter().filter(|b| b.end == 4).count() == 2);
    // %a lives throughout, %b and %c alternate with it: 3 buffers.
    assert_eq!(r.arena_bytes, 3 * 128);
}

#[test]
fn constants_and_inputs_are_not_in_the_arena() {
    let g = graph(
        "graph @f(%x: f32[2]) -> f32[2] {
          %k = const f32[2] [1.0, 2.0]
          %a = add %x, %k : f32[2]
          return %a
        }",
    );
    let (p, r) = planned(&g, &Bindings::new());
    assert_eq!(p.buffers.len(), 1);
    assert_eq!(r.arena_bytes, 64);
}

#[test]
fn symbolic_batch_plan_holds_for_every_binding() {
    let g = graph(
        "graph @f(%x: f32[batch,17], %w: f32[17,3]) -> f32[batch,3] {
          %m = matmul %x, %w : f32[batch,3]
          %t = transpose %m {perm=[1, 0]} : f32[3,batch]
          %u = transpose %t {perm=[1, 0]} : f32[batch,3]
          %k = reduce_sum %u {axes=[0], keepdims=true} : f32[1,3]
          %s = add %u, %k : f32[batch,3]
          %r = relu %s : f32[batch,3]
          return %r
        }",
    );
    let p = plan_memory(&g).unwrap();
    let mut arenas = vec![];
    for batch in [0, 1, 3, 5, 16, 1000] {
        let (_, r) = planned(&g, &bind(batch));
        arenas.push(r.arena_bytes);
        assert!(p.offsets_for(&bind(batch)).is_ok());
    }
    assert!(arenas.windows(2).all(|w| w[0] <= w[1]), "{arenas:?}");
    assert!(arenas[5] > arenas[1]);
    // An unbound dim is an error, not a panic.
    assert!(p.arena_bytes_for(&Bindings::new()).is_err());
}

#[test]
fn symbolic_sizes_are_aligned_polynomials() {
    let ty = TensorType::new(ingot_ir::DType::F32, [Dim::var("batch"), Dim::Known(16)]);
    // 64 * batch bytes: already aligned, so no ceil atom.
    assert_eq!(
        aligned_bytes(&ty),
        Some(Dim::var("batch").mul(&Dim::Known(64)))
    );
    let odd = TensorType::new(ingot_ir::DType::F32, [Dim::var("batch"), Dim::Known(3)]);
    let b = aligned_bytes(&odd).unwrap();
    for (n, want) in [(1, 64), (5, 64), (6, 128), (100, 1216)] {
        assert_eq!(b.eval(&|_| Some(n)), Some(want));
    }
    let unknown = TensorType::new(ingot_ir::DType::F32, [Dim::Unknown]);
    assert_eq!(aligned_bytes(&unknown), None);
}

#[test]
fn checker_rejects_overlap_misalignment_and_missing_buffers() {
    let g = graph(
        "graph @f(%x: f32[4,17]) -> f32[4,17] {
          %a = transpose %x {perm=[1, 0]} : f32[17,4]
          %b = transpose %a {perm=[1, 0]} : f32[4,17]
          return %b
        }",
    );
    let b = Bindings::new();
    let good = plan_memory(&g).unwrap();
    check_plan(&g, &good, &b).unwrap();

    let mut overlap = good.clone();
    for s in &mut overlap.slots {
        s.offset = Dim::Known(0);
    }
    let e = check_plan(&g, &overlap, &b).unwrap_err();
    assert!(e.contains("overlaps"), "{e}");

    let mut misaligned = good.clone();
    misaligned.slots[0].offset = misaligned.slots[0].offset.add(&Dim::Known(8));
    let e = check_plan(&g, &misaligned, &b).unwrap_err();
    assert!(e.contains("aligned"), "{e}");

    let mut missing = good.clone();
    missing.buffers.pop();
    let e = check_plan(&g, &missing, &b).unwrap_err();
    assert!(e.contains("no buffer"), "{e}");
}

#[test]
fn checker_rejects_in_place_when_the_input_lives_on() {
    let g = graph(
        "graph @f(%x: f32[3]) -> (f32[3], f32[3]) {
          %a = neg %x : f32[3]
          %b = relu %a : f32[3]
          return %a, %b
        }",
    );
    let b = Bindings::new();
    let mut p = plan_memory(&g).unwrap();
    assert!(p.in_place.is_empty());
    check_plan(&g, &p, &b).unwrap();
    for s in &mut p.slots {
        s.offset = Dim::Known(0);
    }
    assert!(check_plan(&g, &p, &b).unwrap_err().contains("overlaps"));
}

#[test]
fn greedy_by_size_fills_gaps() {
    // A big buffer dies early; two small ones later share its space.
    let g = graph(
        "graph @f(%x: f32[16,16]) -> f32[16] {
          %big = transpose %x {perm=[1, 0]} : f32[16,16]
          %s1 = reduce_sum %big {axes=[0], keepdims=false} : f32[16]
          %s2 = transpose %s1 {perm=[0]} : f32[16]
          %s3 = transpose %s2 {perm=[0]} : f32[16]
          return %s3
        }",
    );
    let (_, r) = planned(&g, &Bindings::new());
    assert_eq!(r.arena_bytes, r.lower_bound);
    assert_eq!(r.arena_bytes, 1024 + 64);
}
