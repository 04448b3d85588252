//! Unit tests of reduction fusion on small text graphs.

use super::*;
use ingot_ir::{interp, parse, verify, Tensor};

/// Parse, fuse, verify, compare with the interpreter bit for bit on a ramp
/// input, check idempotence; returns the fused graph.
fn fuse(src: &str) -> (Graph, usize) {
    let before = parse(src).unwrap();
    let mut g = before.clone();
    let n = fuse_reduce(&mut g).unwrap();
    verify(&g).unwrap_or_else(|e| panic!("{e}\n{g}"));
    let inputs: Vec<Tensor> = before
        .inputs()
        .iter()
        .map(|&v| {
            let dims = before.ty(v).known_dims().unwrap();
            let k: usize = dims.iter().product();
            let data = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
            Tensor::from_vec(&dims, data).unwrap()
        })
        .collect();
    let (p, q) = (
        interp::run(&before, &inputs).unwrap(),
        interp::run(&g, &inputs).unwrap(),
    );
    assert!(p.iter().zip(&q).all(|(a, b)| a.bytes() == b.bytes()), "{g}");
    let once = g.clone();
    assert_eq!(fuse_reduce(&mut g).unwrap(), 0);
    assert_eq!(g, once);
    (g, n)
}

fn kinds(g: &Graph) -> Vec<String> {
    g.order()
        .iter()
        .map(|&n| match &g.node(n).op {
            Op::Fused { kind, .. } => format!("fused:{kind}"),
            op => op.name().to_string(),
        })
        .collect()
}

#[test]
fn decomposed_layernorm_is_one_kernel() {
    let (g, n) = fuse(
        "graph @ln(%x: f32[2,3,4], %g: f32[4], %b: f32[4]) -> f32[2,3,4] {
  %m = reduce_mean %x {axes=[-1], keepdims=true} : f32[2,3,1]
  %d = sub %x, %m : f32[2,3,4]
  %two = const f32[] [2.0]
  %p = pow %d, %two : f32[2,3,4]
  %v = reduce_mean %p {axes=[-1], keepdims=true} : f32[2,3,1]
  %eps = const f32[] [1e-5]
  %ve = add %v, %eps : f32[2,3,1]
  %s = sqrt %ve : f32[2,3,1]
  %n = div %d, %s : f32[2,3,4]
  %y = mul %n, %g : f32[2,3,4]
  %z = add %y, %b : f32[2,3,4]
  return %z
}",
    );
    assert_eq!(n, 9);
    assert_eq!(kinds(&g), ["fused:reduce"]);
}

#[test]
fn safe_softmax_with_scale_and_mask_is_one_kernel() {
    let (g, n) = fuse(
        "graph @attn(%s: f32[2,3,5], %mask: f32[2,1,5]) -> f32[2,3,5] {
  %c = const f32[] [0.125]
  %a = mul %s, %c : f32[2,3,5]
  %b = add %a, %mask : f32[2,3,5]
  %mx = reduce_max %b {axes=[2], keepdims=true} : f32[2,3,1]
  %d = sub %b, %mx : f32[2,3,5]
  %e = exp %d : f32[2,3,5]
  %sum = reduce_sum %e {axes=[2], keepdims=true} : f32[2,3,1]
  %y = div %e, %sum : f32[2,3,5]
  return %y
}",
    );
    assert_eq!(n, 7);
    assert_eq!(kinds(&g), ["fused:reduce"]);
}

#[test]
fn lone_softmax_is_wrapped_and_rms_norm_with_dropped_axes_fuses() {
    let (g, _) = fuse(
        "graph @f(%x: f32[3,4]) -> f32[3,4] {
  %y = softmax %x {axis=-1} : f32[3,4]
  return %y
}",
    );
    assert_eq!(kinds(&g), ["fused:reduce"]);
    // keepdims=false: the per-row values have shape [3] and stay per-row.
    let (g, n) = fuse(
        "graph @f(%x: f32[3,4]) -> f32[3] {
  %q = reduce_sum_square %x {axes=[1], keepdims=false} : f32[3]
  %r = sqrt %q : f32[3]
  %t = relu %r : f32[3]
  return %t
}",
    );
    assert_eq!((n, kinds(&g)), (3, vec!["fused:reduce".to_string()]));
}

#[test]
fn leading_axis_and_mismatched_axes_do_not_fuse_together() {
    // Over axis 0 is not a row reduction: nothing fuses.
    let (g, n) = fuse(
        "graph @f(%x: f32[3,4]) -> f32[1,4] {
  %m = reduce_sum %x {axes=[0], keepdims=true} : f32[1,4]
  %r = relu %m : f32[1,4]
  return %r
}",
    );
    assert_eq!((n, kinds(&g).len()), (0, 2));
    // Two reductions with different k stay in different kernels.
    let (g, _) = fuse(
        "graph @f(%x: f32[2,3,4]) -> f32[2,1,1] {
  %a = reduce_sum %x {axes=[2], keepdims=true} : f32[2,3,1]
  %b = reduce_sum %a {axes=[1, 2], keepdims=true} : f32[2,1,1]
  return %b
}",
    );
    assert_eq!(kinds(&g), ["fused:reduce", "fused:reduce"]);
}

#[test]
fn per_row_value_may_not_broadcast_the_wrong_way() {
    // %m: [3] (keepdims=false) added to [3,3] broadcasts along columns, not
    // rows; it must not join the row kernel.
    let (g, _) = fuse(
        "graph @f(%x: f32[3,3]) -> f32[3,3] {
  %m = reduce_max %x {axes=[1], keepdims=false} : f32[3]
  %y = sub %x, %m : f32[3,3]
  return %y
}",
    );
    assert_eq!(kinds(&g), ["fused:reduce", "sub"]);
}

#[test]
fn conv_epilogue_is_not_taken_by_a_spatial_pool() {
    // conv → add residual → relu → mean over H, W: the chain stays the
    // conv's epilogue, the pool becomes its own kernel.
    let (g, _) = fuse(
        "graph @f(%x: f32[1,2,3,3], %w: f32[2,2,1,1]) -> f32[1,2,1,1] {
  %c = conv %x, %w {strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1], group=1, auto_pad=\"notset\"} : f32[1,2,3,3]
  %a = add %c, %x : f32[1,2,3,3]
  %r = relu %a : f32[1,2,3,3]
  %m = reduce_mean %r {axes=[2, 3], keepdims=true} : f32[1,2,1,1]
  return %m
}",
    );
    assert_eq!(kinds(&g), ["conv", "add", "relu", "fused:reduce"]);
    // Over the last axis alone, the same chain joins the reduction.
    let (g, _) = fuse(
        "graph @f(%x: f32[2,3], %w: f32[3,3]) -> f32[2,3] {
  %m = matmul %x, %w : f32[2,3]
  %a = add %m, %x : f32[2,3]
  %s = softmax %a {axis=1} : f32[2,3]
  return %s
}",
    );
    assert_eq!(kinds(&g), ["matmul", "fused:reduce"]);
}
